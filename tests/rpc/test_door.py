# SPDX-License-Identifier: MIT
"""The front door of the real daemon: authentication that does not tell
which user names exist and backs off from a peer that guesses passwords;
refused requests leave a rate-limited audit line; gzip request bodies
and replies."""
import gzip
import os
import re
import statistics
import sys
import time
import xmlrpc.client

from harness import CALL_TIMEOUT, HOST, ConfTestCase, Daemon, LockdTestCase, _Transport, main
from harness import FAULT_AUTH, FAULT_REFUSED, http_request, parse_http
from harness import raw_http, xmlrpc_post, xmlrpc_result
from test_access import write_users

# lockd's back-off (server/backoff.h): failures that start one, and the
# seconds of the first.
BACKOFF_FAILURES = 10
BACKOFF_FIRST = 5


class DoorTest(ConfTestCase):

    def auth_daemon(self):
        users = os.path.join(self.tmp, 'users')
        write_users(users, {'alice': ('right pw', 'client', '*')})
        return self.daemon('auth-file %s\n' % users)

    def proxy(self, d, user, password):
        return xmlrpc.client.ServerProxy(
            'http://%s:%s@%s:%d/' % (user, password, HOST, d.port),
            allow_none=True, transport=_Transport(CALL_TIMEOUT))

    def failed_call(self, d, user, password):
        """Seconds a call with these credentials took to fail (fault 41)."""
        p = self.proxy(d, user, password)
        t0 = time.monotonic()
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            p.ping()
        dt = time.monotonic() - t0
        self.assertEqual(cm.exception.faultCode, FAULT_AUTH)
        self.assertEqual(cm.exception.faultString,
                         'Authentication failed: wrong user name or password')
        return dt

    def test_unknown_user_costs_what_a_wrong_password_costs(self):
        with self.auth_daemon() as d:
            # Fewer failures than start a back-off; interleaved, so that
            # a load burst hits both kinds alike.
            unknown, known = [], []
            for i in range((BACKOFF_FAILURES - 1) // 2):
                unknown.append(self.failed_call(d, 'nobody%d' % i, 'x'))
                known.append(self.failed_call(d, 'alice', 'wrong%d' % i))
            ratio = statistics.median(unknown) / statistics.median(known)
            # Before: 0.3 ms against 21-28 ms (ratio ~0.01).
            self.assertGreater(ratio, 0.4, (unknown, known))
            self.assertLess(ratio, 2.5, (unknown, known))

    def test_back_off_after_failures_ends_after_its_time(self):
        with self.auth_daemon() as d:
            good = self.proxy(d, 'alice', 'right pw')
            self.assertIsNone(good.ping())
            for i in range(BACKOFF_FAILURES):
                self.failed_call(d, 'alice' if i % 2 else 'bob', 'guess%d' % i)
            started = time.monotonic()
            # Now even the right password is refused, cheaply, until the
            # back-off ends.
            self.assertFault(FAULT_AUTH, re.compile(
                r'Authentication failed: too many failed attempts from '
                r'your address; wait [1-%d] seconds' % BACKOFF_FIRST),
                good.ping)
            text = d.stderr_text()
            self.assertIn('authentication: 127.0.0.1 failed %d times'
                          % BACKOFF_FAILURES, text)
            self.assertIn('refused for %d s' % BACKOFF_FIRST, text)
            deadline = started + BACKOFF_FIRST + 10
            while True:
                try:
                    self.assertIsNone(good.ping())
                    break
                except xmlrpc.client.Fault as e:
                    self.assertIn('wait', e.faultString)
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.5)
            self.assertGreaterEqual(time.monotonic() - started,
                                    BACKOFF_FIRST - 1.5)


DOCTYPE = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'
           b'<methodCall><methodName>ping</methodName></methodCall>')
REFUSED_LINE = re.compile(r'request from 127\.0\.0\.1:\d+: refused: (.*?)'
                          r'(?: \(and (\d+) more refused from this address, '
                          r'not logged\))?$', re.M)


class RefusalAudit(LockdTestCase):

    def refused_lines(self, d):
        return REFUSED_LINE.findall(d.stderr_text())

    def post_refused(self, d):
        status, body = xmlrpc_post(d.port, DOCTYPE)
        self.assertEqual(status, 200)
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            xmlrpc_result(body)
        self.assertEqual(cm.exception.faultCode, FAULT_REFUSED)

    def test_refused_request_leaves_an_audit_line(self):
        with Daemon() as d:
            self.post_refused(d)
            lines = self.refused_lines(d)
            self.assertEqual(len(lines), 1, d.stderr_text())
            self.assertEqual(lines[0][0], 'fault 30: Request refused: '
                             'document type declarations (<!DOCTYPE>) are '
                             'not accepted')

    def test_http_refusal_leaves_an_audit_line(self):
        with Daemon() as d:
            st, _, _ = parse_http(raw_http(d.port, http_request(
                'POST', '/metrics', b'x')))
            self.assertEqual(st, 405)
            self.assertEqual([l[0] for l in self.refused_lines(d)],
                             ['HTTP 405: only GET and HEAD'])

    def test_a_burst_gives_a_bounded_number_of_lines(self):
        burst = 40
        with Daemon() as d:
            t0 = time.monotonic()
            for _ in range(burst):
                self.post_refused(d)
            seconds = time.monotonic() - t0
            lines = self.refused_lines(d)
            # At most one line per second of the burst (and its edges).
            self.assertGreaterEqual(len(lines), 1)
            self.assertLessEqual(len(lines), int(seconds) + 2,
                                 (seconds, lines))
            # The next line, a second later, counts the ones left out.
            time.sleep(1.1)
            self.post_refused(d)
            lines = self.refused_lines(d)
            self.assertNotEqual(lines[-1][1], '', lines)
            self.assertEqual(len(lines) + sum(int(n or 0) for _, n in lines),
                             burst + 1, lines)


def multicall_body(n):
    """A system.multicall of N pings: its reply is ~30 bytes per ping."""
    return xmlrpc.client.dumps(
        ([{'methodName': 'ping', 'params': []}] * n,),
        'system.multicall').encode()


class Gzip(LockdTestCase):

    def post(self, d, body, headers):
        status, h, rbody = parse_http(raw_http(d.port, http_request(
            'POST', '/RPC2', body, headers=headers)))
        self.assertEqual(status, 200, rbody)
        return h, rbody

    def test_python_client_with_encode_threshold_locks_and_unlocks(self):
        with Daemon() as d:
            t = _Transport(CALL_TIMEOUT)
            t.encode_threshold = 0     # every request body gzipped
            p = xmlrpc.client.ServerProxy(d.url, allow_none=True,
                                          transport=t)
            self.assertIsNone(p.lock('gz', 'c'))
            self.assertIsNone(p.unlock('gz', 'c'))
            # A large reply comes back gzipped; the client takes it.
            m = xmlrpc.client.MultiCall(p)
            for _ in range(100):
                m.ping()
            self.assertEqual(list(m()), [None] * 100)

    def test_large_reply_is_gzipped_when_the_client_accepts_it(self):
        body = multicall_body(100)
        with Daemon() as d:
            h, plain = self.post(d, body, ())
            self.assertNotIn('content-encoding', h)
            self.assertGreater(len(plain), 1400)
            h, gz = self.post(d, body, ('Accept-Encoding: gzip',))
            self.assertEqual(h.get('content-encoding'), 'gzip')
            self.assertEqual(gzip.decompress(gz), plain)
            h, _ = self.post(d, body, ('Accept-Encoding: gzip;q=0',))
            self.assertNotIn('content-encoding', h)
            # Small replies stay plain, as with Python's server.
            h, small = self.post(d, multicall_body(1),
                                 ('Accept-Encoding: gzip',))
            self.assertNotIn('content-encoding', h)
            self.assertEqual(xmlrpc_result(small), [[None]])

    def assertRefused(self, d, body, message):
        _, rbody = self.post(d, body, ('Content-Encoding: gzip',))
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            xmlrpc_result(rbody)
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString),
                         (FAULT_REFUSED, message))

    def test_gzip_bomb_and_broken_gzip_get_a_clear_fault(self):
        with Daemon() as d:      # max-request-size 64 KiB
            bomb = gzip.compress(multicall_body(1) + b' ' * (10 << 20))
            self.assertLess(len(bomb), 64 << 10)
            self.assertRefused(d, bomb, 'Request refused: the gzip body '
                               'decompresses to more than 65536 bytes '
                               '(max-request-size)')
            self.assertRefused(d, b'not gzip at all', 'Request refused: '
                               'the body is not valid gzip '
                               '(Content-Encoding: gzip)')
            self.assertRefused(d, gzip.compress(multicall_body(1))[:-4],
                               'Request refused: the body is not valid '
                               'gzip (Content-Encoding: gzip)')
            # Within the limit, gzip is fine.
            _, rbody = self.post(d, gzip.compress(multicall_body(1)),
                                 ('Content-Encoding: gzip',))
            self.assertEqual(xmlrpc_result(rbody), [[None]])
            self.assertIn('refused: Request refused: the gzip body',
                          d.stderr_text())


if __name__ == '__main__':
    sys.exit(main())
