# SPDX-License-Identifier: MIT
"""Hostile and broken requests: each must be answered (or cut off) without
taking the daemon down or starving other clients.  Every test runs its own
daemon and ends by checking that the process still runs, that a normal
lock/unlock still works and that SIGTERM makes it exit with status 0."""
import os
import socket
import struct
import sys
import threading
import time
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, LockdTestCase, main, parse_http,  # noqa: E402
                     raw_http, http_request, xmlrpc_post, xmlrpc_result)
from harness import (FAULT_HELD, FAULT_NOT_LOCKED, FAULT_REFUSED,  # noqa: E402
                     FAULT_RESOURCE, WRAPPER)

Fault = xmlrpc.client.Fault
LIMIT = 64 * 1024
# Seconds for three calls while a hostile client is about; a daemon under
# LOCKD_WRAPPER (valgrind) is 20-50 times slower.
SERVE_WITHIN = 30.0 if WRAPPER else 2.0

BILLION_LAUGHS = b'''<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<methodCall><methodName>lock</methodName><params>
<param><value><string>&lol3;</string></value></param>
<param><value><string>laughs</string></value></param>
</params></methodCall>
'''

EXTERNAL_ENTITY = b'''<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>lock</methodName><params>
<param><value><string>&xxe;</string></value></param>
<param><value><string>xxe</string></value></param>
</params></methodCall>
'''

PLAIN_DOCTYPE = b'''<?xml version="1.0"?>
<!DOCTYPE methodCall>
<methodCall><methodName>lock</methodName><params>
<param><value><string>dt</string></value></param>
<param><value><string>dt</string></value></param>
</params></methodCall>
'''


def call_body(method, *params):
    return xmlrpc.client.dumps(params, method, allow_none=True).encode()


def wrap_value(value_xml):
    """A lock call whose first parameter is VALUE_XML (a <value>)."""
    return (b'<?xml version="1.0"?><methodCall><methodName>lock</methodName>'
            b'<params><param>' + value_xml + b'</param><param><value>'
            b'<string>deep</string></value></param></params></methodCall>')


def nested_arrays(levels, closed=True):
    inner = b'<value><i4>1</i4></value>' if closed else b''
    close = b'</data></array></value>' * levels if closed else b''
    return wrap_value(b'<value><array><data>' * levels + inner + close)


def nested_structs(levels):
    return wrap_value(b'<value><struct><member><name>a</name>' * levels
                      + b'<value><i4>1</i4></value>'
                      + b'</member></struct></value>' * levels)


def rst_close(s):
    """Closes S with a TCP reset (SO_LINGER 0)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()


def connect(port, timeout=5):
    return socket.create_connection(('127.0.0.1', port), timeout=timeout)


class Hostile(LockdTestCase):

    def setUp(self):
        self.d = Daemon()
        self.d.start()
        self.addCleanup(self.d.close)

    def tearDown(self):
        d = self.d
        self.assertTrue(d.alive(), 'daemon died; stderr:\n'
                        + d.stderr_text()[-4000:])
        self.assert_serving()
        status = d.stop()
        self.assertEqual(status, 0, 'exit status after SIGTERM; stderr:\n'
                         + d.stderr_text()[-4000:])

    def assert_serving(self, budget=10):
        """A normal lock/unlock works, each call within BUDGET seconds."""
        p = self.d.proxy(timeout=budget)
        t0 = time.monotonic()
        self.assertIsNone(p.lock('still-serving', 'normal'))
        self.assertFault(FAULT_HELD, "Resource already locked by 'normal'",
                         p.lock, 'still-serving', 'other')
        self.assertIsNone(p.unlock('still-serving', 'normal'))
        return time.monotonic() - t0

    def post(self, body, path='/', timeout=10):
        return xmlrpc_post(self.d.port, body, path=path, timeout=timeout)

    def assert_fault_response(self, body, codes, prefix=None):
        """POST BODY: HTTP 200 and a fault whose code is in CODES."""
        status, rbody = self.post(body)
        self.assertEqual(status, 200, rbody[:300])
        with self.assertRaises(Fault) as cm:
            xmlrpc_result(rbody)
        self.assertIn(cm.exception.faultCode, codes,
                      cm.exception.faultString)
        if prefix is not None:
            self.assertTrue(cm.exception.faultString.startswith(prefix),
                            cm.exception.faultString)
        return cm.exception

    # -- the hostile inputs, one helper each ---------------------------------
    def do_malformed(self):
        self.assert_fault_response(
            b'<?xml version="1.0"?><methodCall><methodName>lock'
            b'</methodName><params><param><value><string>x', (-503,))
        self.assert_fault_response(
            b'<?xml version="1.0"?><methodCall><methodName>lock</methodName>'
            b'<params></wrong></params></methodCall>', (-503,))
        # a control byte is not well-formed XML
        self.assert_fault_response(
            call_body('lock', 'ctl', 'c').replace(b'ctl', b'c\x01l'),
            (-503,))
        # XML, but not an XML-RPC call
        self.assert_fault_response(b'<?xml version="1.0"?><hello/>', (-503,))

    def do_not_xml(self):
        self.assert_fault_response(b'hello world', (-503,))
        # not UTF-8 either: unparseable, or refused up front (30)
        self.assert_fault_response(b'\x00\xff\xfe garbage \x00',
                                   (-503, 30))
        # an empty body: a fault or an HTTP error, but never a result
        status, rbody = self.post(b'')
        if status == 200:
            with self.assertRaises(Fault) as cm:
                xmlrpc_result(rbody)
            self.assertLess(cm.exception.faultCode, 0)
        else:
            self.assertGreaterEqual(status, 400)

    def do_doctype(self):
        for body in (BILLION_LAUGHS, EXTERNAL_ENTITY, PLAIN_DOCTYPE):
            self.assert_fault_response(body, (FAULT_REFUSED,),
                                       'Request refused: ')
        # nothing was locked by any of them
        p = self.d.proxy()
        self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked', p.unlock,
                         'dt', 'dt')
        self.assertEqual([n for n in os.listdir(self.d.lockdir)
                          if n.endswith('.resource.lock')], [])

    def do_doctype_utf16(self):
        # The same entity bomb in UTF-16: a byte search for "<!DOCTYPE"
        # misses it.  Refused as a DOCTYPE (30) or as unparseable (-503),
        # but never expanded and granted.
        body = BILLION_LAUGHS.replace(
            b'<?xml version="1.0"?>',
            b'<?xml version="1.0" encoding="UTF-16"?>').decode().encode(
                'utf-16')
        status, rbody = self.post(body)
        self.assertEqual(status, 200, rbody[:300])
        with self.assertRaises(Fault) as cm:
            xmlrpc_result(rbody)
        self.assertIn(cm.exception.faultCode, (FAULT_REFUSED, -503),
                      cm.exception.faultString)
        self.assertEqual([n for n in os.listdir(self.d.lockdir)
                          if n.endswith('.resource.lock')], [])

    def do_too_large(self):
        # by raw HTTP: a body over the limit
        body = call_body('lock', 'big' + 'x' * (LIMIT + 100), 'c')
        resp = raw_http(self.d.port, http_request('POST', '/', body),
                        timeout=10)
        self.assertEqual(parse_http(resp)[0], 500, resp[:300])
        # a Content-Length far over the limit, without sending the body:
        # refused from the header alone
        resp = raw_http(self.d.port, http_request(
            'POST', '/', b'', content_length=100 * 1024 * 1024), timeout=10)
        self.assertEqual(parse_http(resp)[0], 500, resp[:300])
        # through xmlrpc.client: ProtocolError, not Fault
        p = self.d.proxy()
        with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
            p.lock('big' + 'x' * (LIMIT + 100), 'c')
        self.assertEqual(cm.exception.errcode, 500)
        # just under the limit is parsed: the name is too long (fault 11)
        body = call_body('lock', 'y' * (LIMIT - 1024), 'c')
        self.assertLess(len(body), LIMIT)
        self.assert_fault_response(body, (FAULT_RESOURCE,),
                                   'Invalid resource name: ')

    def do_deep_nesting(self):
        for body in (nested_arrays(2000, closed=False),
                     nested_arrays(3200, closed=False),
                     nested_arrays(1400), nested_arrays(100),
                     nested_structs(1000)):
            self.assertLess(len(body), LIMIT)
            self.assert_fault_response(body, (-503, -509))
            self.assertTrue(self.d.alive())
        # 20,000 levels exceed the size limit: refused before parsing
        for body in (nested_arrays(20000, closed=False),
                     nested_arrays(20000)):
            resp = raw_http(self.d.port, http_request('POST', '/', body),
                            timeout=10)
            self.assertEqual(parse_http(resp)[0], 500, resp[:300])
            self.assertTrue(self.d.alive())

    def do_resets(self, n=20):
        full = http_request('POST', '/', call_body('lock', 'rst', 'rst'))
        cut = full.index(b'\r\n\r\n') + 4
        for i in range(n):
            s = connect(self.d.port)
            kind = i % 4
            if kind == 0:           # in the middle of the headers
                s.sendall(full[:20])
            elif kind == 1:         # headers, half of the body
                s.sendall(full[:cut + (len(full) - cut) // 2])
            elif kind == 2:         # the whole request, reset at once
                s.sendall(full)
            else:                   # reset while the answer is being made
                s.sendall(full)
                time.sleep(0.002 * i)
            rst_close(s)
        time.sleep(0.2)
        self.assertTrue(self.d.alive())
        p = self.d.proxy()
        try:                        # 'rst' may or may not have been locked
            p.unlock('rst', 'rst')
        except Fault as f:
            self.assertEqual(f.faultCode, FAULT_NOT_LOCKED, f.faultString)

    def do_methods_and_paths(self):
        cases = [(http_request('GET', '/'), 405),
                 (http_request('GET', '/RPC2'), 405),
                 (http_request('POST', '/other',
                               call_body('lock', 'path', 'c')), 404),
                 (http_request('POST', '/RPC2/x',
                               call_body('lock', 'path', 'c')), 404),
                 (http_request('POST', '/RPC', call_body('lock', 'path',
                                                         'c')), 404)]
        for req, want in cases:
            resp = raw_http(self.d.port, req, timeout=10)
            self.assertEqual(parse_http(resp)[0], want,
                             '%r -> %r' % (req[:30], resp[:200]))
        self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked',
                         self.d.proxy().unlock, 'path', 'c')

    def do_non_bmp(self):
        p = self.d.proxy()
        self.assertFault(-503, None, p.lock, 'emoji-\U0001F600', 'c')
        self.assertFault(-503, None, p.lock, 'emoji', 'c-\U0001F600')
        self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked', p.unlock,
                         'emoji', 'c')

    # -- tests ----------------------------------------------------------------
    def test_malformed_xml(self):
        self.do_malformed()

    def test_not_xml(self):
        self.do_not_xml()

    def test_doctype_refused(self):
        self.do_doctype()

    def test_doctype_utf16_not_expanded(self):
        self.do_doctype_utf16()

    def test_request_too_large(self):
        self.do_too_large()

    def test_deep_nesting(self):
        self.do_deep_nesting()

    def test_reset_mid_request(self):
        self.do_resets(20)

    def test_wrong_method_and_path(self):
        self.do_methods_and_paths()

    def test_non_bmp_character(self):
        self.do_non_bmp()

    def test_short_body(self):
        """Content-Length larger than the data sent: the daemon answers
        with an error or cuts the connection off; meanwhile others are
        served."""
        req = http_request('POST', '/', call_body('lock', 'short', 'c'),
                           content_length=1000)
        outcome = {}

        def slow():
            try:
                outcome['resp'] = raw_http(self.d.port, req, timeout=20)
            except (TimeoutError, ConnectionResetError) as e:
                outcome['exc'] = e

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)
        took = self.assert_serving()
        self.assertLess(took, SERVE_WITHIN)
        t.join(30)
        self.assertFalse(t.is_alive())
        if 'resp' in outcome and outcome['resp']:
            self.assertGreaterEqual(parse_http(outcome['resp'])[0], 400,
                                    outcome['resp'][:300])
        self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked',
                         self.d.proxy().unlock, 'short', 'c')
        # the same, but the client gives up (EOF) after the short body
        try:
            resp = raw_http(self.d.port, req, timeout=10, half_close=True)
            if resp:
                self.assertGreaterEqual(parse_http(resp)[0], 400, resp[:300])
        except (TimeoutError, ConnectionResetError):
            pass

    def test_garbage_http(self):
        """Broken HTTP of all kinds: any answer or none, but no crash."""
        reqs = [b'\r\n\r\n', b'GET\r\n\r\n', b'GET /\r\n\r\n',
                b'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\nabc',
                b'POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\nabc',
                b'POST / HTTP/1.1\r\nContent-Length: '
                b'99999999999999999999999\r\n\r\nabc',
                b'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
                b'5\r\nhello\r\n0\r\n\r\n',
                b'POST /\x00/ HTTP/1.1\r\nContent-Length: 1\r\n\r\nx',
                b'POST ' + b'/' * 8000 + b' HTTP/1.1\r\n\r\n',
                b'POST / HTTP/1.1\r\nX: ' + b'h' * 8000 + b'\r\n\r\n',
                bytes(range(256)) * 4,
                b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']
        for req in reqs:
            try:
                raw_http(self.d.port, req, timeout=3)
            except (TimeoutError, ConnectionResetError, BrokenPipeError):
                pass
            self.assertTrue(self.d.alive(), repr(req[:40]))
        self.assertLess(self.assert_serving(), SERVE_WITHIN)

    def test_header_block_too_large(self):
        """Many short header lines, together over Abyss's 4 KiB header
        buffer: 408.  (xmlrpc-c 1.33's RequestRead leaks a few bytes on this
        path; under LeakSanitizer that shows as a non-zero exit status at
        stop.  The leak is in libxmlrpc_abyss, not in lockd: suppress it
        with LSAN_OPTIONS=suppressions=... 'leak:RequestRead' if wanted.)"""
        req = b'POST / HTTP/1.1\r\n' + b'X: y\r\n' * 2000 + b'\r\n'
        try:
            resp = raw_http(self.d.port, req, timeout=5)
            self.assertGreaterEqual(parse_http(resp)[0], 400, resp[:200])
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            pass
        self.assertTrue(self.d.alive())

    def test_idle_connections_do_not_starve(self):
        socks = []
        try:
            for _ in range(200):
                socks.append(connect(self.d.port, timeout=5))
            time.sleep(0.5)
            took = self.assert_serving(budget=10)
            self.assertLess(took, 2.0 * 3,
                            'three calls took %.2f s' % took)
            p = self.d.proxy(timeout=10)
            t0 = time.monotonic()
            self.assertIsNone(p.lock('idle', 'c'))
            self.assertLess(time.monotonic() - t0, 2.0)
            t0 = time.monotonic()
            self.assertIsNone(p.unlock('idle', 'c'))
            self.assertLess(time.monotonic() - t0, 2.0)
        finally:
            for s in socks:
                s.close()
        self.assertTrue(self.d.alive())

    def test_half_sent_requests_do_not_starve(self):
        """Slow clients that sent part of their headers or body."""
        full = http_request('POST', '/', call_body('lock', 'half', 'c'))
        cut = full.index(b'\r\n\r\n') + 4
        socks = []
        try:
            for i in range(100):
                s = connect(self.d.port)
                s.sendall(full[:30] if i % 2 else full[:cut + 10])
                socks.append(s)
            time.sleep(0.5)
            p = self.d.proxy(timeout=10)
            t0 = time.monotonic()
            self.assertIsNone(p.lock('half-normal', 'c'))
            self.assertLess(time.monotonic() - t0, 2.0)
            self.assertIsNone(p.unlock('half-normal', 'c'))
        finally:
            for s in socks:
                s.close()
        self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked',
                         self.d.proxy().unlock, 'half', 'c')

    def test_everything_on_one_daemon(self):
        """All of the above in a row against one process: nothing that one
        request leaves behind (threads, descriptors, memory) breaks the
        next."""
        self.do_malformed()
        self.do_not_xml()
        self.do_doctype()
        self.do_too_large()
        self.do_deep_nesting()
        self.do_resets(8)
        self.do_methods_and_paths()
        self.do_non_bmp()
        self.do_malformed()
        self.assertTrue(self.d.alive())


if __name__ == '__main__':
    sys.exit(main())
