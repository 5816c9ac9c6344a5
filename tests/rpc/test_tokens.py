# SPDX-License-Identifier: MIT
"""Fencing tokens: lock_token(resource, client) -> i8, check(resource,
client, token) -> boolean and the "token" member of status(), through
Python's xmlrpc.client, raw XML (<i8>) and lockcmd(1).

Tokens must be positive, strictly increasing for the whole lock directory
(across resources, lock/unlock cycles, plain lock(), kill -9 and restarts,
and two daemons sharing the directory); check() is true only for the
current holder under the current grant's token.  Lock files without a
token (gocept.lockd's, or lockd's before tokens) have none: status() shows
none and check() is always false.
"""
import http.client
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import xmlrpc.client

from harness import (CALL_TIMEOUT, Daemon, LockdTestCase, SharedDaemon, main,
                     xmlrpc_post, xmlrpc_result)
from harness import (FAULT_CLIENT, FAULT_HELD, FAULT_PARAMS, FAULT_RESOURCE,
                     FAULT_STATE, FAULT_STORAGE)

SUFFIX = '.resource.lock'
TOKEN_FILE = '.token'       # the counter, "%020llu\n" (lib/dir/token.c)
MAXINT = 2 ** 31 - 1
RUN_TIMEOUT = 20            # seconds for any one lockcmd run
JOIN_TIMEOUT = 60           # seconds for a load thread to finish

# Environment variables that would change where lockcmd connects.
_NET_ENV = ('LOCKD_URL', 'http_proxy', 'HTTP_PROXY', 'https_proxy',
            'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY')


def write_lock(lockdir, fname, content):
    """Writes lock file FNAME (without SUFFIX) in LOCKDIR by hand."""
    with open(os.path.join(lockdir, fname + SUFFIX), 'w') as f:
        f.write(content)


def check_call_xml(resource, client, token_xml):
    """A raw check() call whose token is TOKEN_XML (e.g. '<i8>5</i8>')."""
    esc = xmlrpc.client.escape
    return ('<?xml version="1.0"?><methodCall><methodName>check'
            '</methodName><params>'
            '<param><value><string>%s</string></value></param>'
            '<param><value><string>%s</string></value></param>'
            '<param><value>%s</value></param>'
            '</params></methodCall>'
            % (esc(resource), esc(client), token_xml)).encode('utf-8')


def lockcmd_run(args, url, timeout=RUN_TIMEOUT):
    """Runs $LOCKCMD ARGS against URL: (exit status, stdout, stderr)."""
    path = os.environ.get('LOCKCMD')
    if not path:
        raise unittest.SkipTest('LOCKCMD is not set')
    env = {k: v for k, v in os.environ.items() if k not in _NET_ENV}
    env['LOCKD_URL'] = url
    p = subprocess.run([path] + list(args), env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return (p.returncode, p.stdout.decode('utf-8', 'replace'),
            p.stderr.decode('utf-8', 'replace'))


class TokenTestCase(LockdTestCase):

    def assertToken(self, token):
        self.assertIsInstance(token, int)
        self.assertNotIsInstance(token, bool)
        self.assertGreater(token, 0)
        self.assertLess(token, 2 ** 63)

    def check_int(self, proxy, r, c, token):
        """check() with TOKEN as an XML-RPC int, or as <i8> raw XML when
        Python's xmlrpc.client cannot send it as int."""
        if token <= MAXINT:
            return proxy.check(r, c, token)
        return self.check_i8(r, c, token)

    def check_i8(self, r, c, token, port=None):
        status, body = xmlrpc_post(port or self.daemon.port,
                                   check_call_xml(r, c, '<i8>%d</i8>'
                                                  % token),
                                   timeout=CALL_TIMEOUT)
        self.assertEqual(status, 200, body[:300])
        return xmlrpc_result(body)

    def check_all_forms(self, proxy, r, c, token):
        """check() as int, string and i8; all three must agree."""
        got = {self.check_int(proxy, r, c, token),
               proxy.check(r, c, str(token)),
               self.check_i8(r, c, token)}
        self.assertEqual(len(got), 1, 'int, string and i8 disagree for '
                         '%r %r %r: %r' % (r, c, token, got))
        value = got.pop()
        self.assertIsInstance(value, bool)
        return value


class TokenTest(SharedDaemon, TokenTestCase):
    """lock_token, check and status on one daemon; names per test."""

    def setUp(self):
        self.p = self.daemon.proxy()
        self.lockdir = self.daemon.lockdir

    def name(self, suffix=''):
        return 'tk-%s%s' % (self.id().rsplit('.', 1)[-1], suffix)

    def test_lock_token_is_positive_and_locks(self):
        r = self.name()
        t = self.p.lock_token(r, 'host1')
        self.assertToken(t)
        self.assertFault(FAULT_HELD, "Resource already locked by 'host1'",
                         self.p.lock_token, r, 'host2')
        self.assertFault(FAULT_HELD, "Resource already locked by 'host1'",
                         self.p.lock_token, r, 'host1')
        self.assertFault(FAULT_HELD, "Resource already locked by 'host1'",
                         self.p.lock, r, 'host2')
        self.assertIsNone(self.p.unlock(r, 'host1'))

    def test_lock_token_faults_as_lock(self):
        self.assertFault(FAULT_RESOURCE, None, self.p.lock_token, '', 'c')
        self.assertFault(FAULT_CLIENT, None, self.p.lock_token, self.name(),
                         '')
        self.assertFault(FAULT_PARAMS, None, self.p.lock_token, self.name())
        self.assertFault(FAULT_PARAMS, None, self.p.lock_token, self.name(), 5)

    def test_tokens_increase_across_resources_and_cycles(self):
        tokens = []
        for i in range(20):
            r = self.name(str(i % 3))
            tokens.append(self.p.lock_token(r, 'c%d' % i))
            self.assertIsNone(self.p.unlock(r, 'c%d' % i))
        for a, b in zip(tokens, tokens[1:]):
            self.assertLess(a, b, tokens)

    def test_plain_lock_takes_a_token(self):
        r1, r2 = self.name('1'), self.name('2')
        t1 = self.p.lock_token(r1, 'c')
        self.assertIsNone(self.p.lock(r2, 'c'))
        t2 = self.p.status(r2)['token']
        self.assertToken(t2)
        self.assertGreater(t2, t1)
        self.assertTrue(self.check_all_forms(self.p, r2, 'c', t2))
        t3 = self.p.lock_token(self.name('3'), 'c')
        self.assertGreater(t3, t2)
        for r in (r1, r2, self.name('3')):
            self.assertIsNone(self.p.unlock(r, 'c'))

    def test_status_shows_token(self):
        r = self.name()
        self.assertEqual(self.p.status(r), {'resource': r, 'held': False})
        t = self.p.lock_token(r, 'host1')
        st = self.p.status(r)
        self.assertEqual(set(st), {'resource', 'held', 'holder', 'since',
                                   'token'})
        self.assertEqual((st['held'], st['holder'], st['token']),
                         (True, 'host1', t))
        # list() shows it too (each entry is a status struct).
        page = self.p.list({'prefix': r})
        self.assertEqual([(e['resource'], e.get('token'))
                          for e in page['locks']], [(r, t)])
        self.assertIsNone(self.p.unlock(r, 'host1'))
        self.assertEqual(self.p.status(r), {'resource': r, 'held': False})

    def test_status_token_arrives_as_i4(self):
        # PROTOCOL "Tokens in answers": <i4> up to 2^31-1 (test_replies).
        r = self.name()
        t = self.p.lock_token(r, 'c')
        body = ('<?xml version="1.0"?><methodCall><methodName>status'
                '</methodName><params><param><value><string>%s</string>'
                '</value></param></params></methodCall>' % r).encode()
        status, rbody = xmlrpc_post(self.daemon.port, body,
                                    timeout=CALL_TIMEOUT)
        self.assertEqual(status, 200)
        self.assertIn(b'<i4>%d</i4>' % t, rbody)
        body = ('<?xml version="1.0"?><methodCall><methodName>lock_token'
                '</methodName><params><param><value><string>%s</string>'
                '</value></param><param><value><string>c</string></value>'
                '</param></params></methodCall>' % self.name('2')).encode()
        status, rbody = xmlrpc_post(self.daemon.port, body,
                                    timeout=CALL_TIMEOUT)
        self.assertEqual(status, 200)
        self.assertRegex(rbody, rb'<i4>[1-9][0-9]*</i4>')
        self.assertIsNone(self.p.unlock(r, 'c'))
        self.assertIsNone(self.p.unlock(self.name('2'), 'c'))

    def test_check_true_for_holder_with_current_token(self):
        r = self.name()
        t = self.p.lock_token(r, 'host1')
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t), True)
        self.assertIsNone(self.p.unlock(r, 'host1'))

    def test_check_false_for_another_client(self):
        r = self.name()
        t = self.p.lock_token(r, 'host1')
        self.assertIs(self.check_all_forms(self.p, r, 'host2', t), False)
        self.assertIsNone(self.p.unlock(r, 'host1'))

    def test_check_false_for_wrong_token_of_holder(self):
        r = self.name()
        t = self.p.lock_token(r, 'host1')
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t + 1),
                      False)
        if t > 1:
            self.assertIs(self.check_all_forms(self.p, r, 'host1', t - 1),
                          False)
        self.assertIs(self.p.check(r, 'host1', str(2 ** 63 - 1)), False)
        self.assertIsNone(self.p.unlock(r, 'host1'))

    def test_check_false_after_unlock_and_relock(self):
        r = self.name()
        t1 = self.p.lock_token(r, 'host1')
        self.assertIsNone(self.p.unlock(r, 'host1'))
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t1), False)
        # Another client takes it: the old token is stale.
        t2 = self.p.lock_token(r, 'host2')
        self.assertGreater(t2, t1)
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t1), False)
        self.assertIs(self.check_all_forms(self.p, r, 'host2', t1), False)
        self.assertIs(self.check_all_forms(self.p, r, 'host2', t2), True)
        self.assertIsNone(self.p.unlock(r, 'host2'))
        # The same client again: its old token is stale too.
        t3 = self.p.lock_token(r, 'host1')
        self.assertGreater(t3, t2)
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t1), False)
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t2), False)
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t3), True)
        self.assertIsNone(self.p.unlock(r, 'host1'))
        # Relocked with plain lock(): still stale.
        self.assertIsNone(self.p.lock(r, 'host1'))
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t3), False)
        self.assertIs(self.check_all_forms(self.p, r, 'host1',
                                           self.p.status(r)['token']), True)
        self.assertIsNone(self.p.unlock(r, 'host1'))

    def test_check_false_for_unheld_resource(self):
        r = self.name()
        self.assertIs(self.check_all_forms(self.p, r, 'host1', 1), False)
        t = self.p.lock_token(self.name('other'), 'host1')
        self.assertIs(self.check_all_forms(self.p, r, 'host1', t), False)
        self.assertIsNone(self.p.unlock(self.name('other'), 'host1'))

    def test_check_false_for_token_of_another_resource(self):
        r1, r2 = self.name('1'), self.name('2')
        t1 = self.p.lock_token(r1, 'host1')
        t2 = self.p.lock_token(r2, 'host1')
        self.assertIs(self.check_all_forms(self.p, r1, 'host1', t2), False)
        self.assertIs(self.check_all_forms(self.p, r2, 'host1', t1), False)
        self.assertIs(self.check_all_forms(self.p, r1, 'host1', t1), True)
        self.assertIs(self.check_all_forms(self.p, r2, 'host1', t2), True)
        self.assertIsNone(self.p.unlock(r1, 'host1'))
        self.assertIsNone(self.p.unlock(r2, 'host1'))

    def test_bad_tokens_are_fault_10(self):
        r = self.name()
        t = self.p.lock_token(r, 'host1')
        for bad in (0, -1, 'abc', '', 1.5, '1' * 25, '0', '-1', True,
                    [t], {'t': t}, None):
            with self.subTest(token=bad):
                self.assertFault(FAULT_PARAMS, None, self.p.check, r, 'host1',
                                 bad)
        for xml in ('<i8>0</i8>', '<i8>-1</i8>', '<i8>-%d</i8>' % t,
                    '<int>0</int>', '<double>%d.0</double>' % t):
            with self.subTest(token=xml):
                status, body = xmlrpc_post(
                    self.daemon.port, check_call_xml(r, 'host1', xml),
                    timeout=CALL_TIMEOUT)
                self.assertEqual(status, 200)
                with self.assertRaises(xmlrpc.client.Fault) as cm:
                    xmlrpc_result(body)
                self.assertEqual(cm.exception.faultCode, FAULT_PARAMS,
                                 cm.exception.faultString)
        # The lock is untouched.
        self.assertIs(self.p.check(r, 'host1', str(t)), True)
        self.assertIsNone(self.p.unlock(r, 'host1'))

    def test_check_parameter_count_and_names(self):
        r = self.name()
        self.assertFault(FAULT_PARAMS, None, self.p.check, r, 'host1')
        self.assertFault(FAULT_PARAMS, None, self.p.check, r, 'host1', '1',
                         '2')
        self.assertFault(FAULT_PARAMS, None, self.p.check, r, 5, '1')
        self.assertFault(FAULT_RESOURCE, None, self.p.check, '', 'host1', '1')
        self.assertFault(FAULT_CLIENT, None, self.p.check, r, '', '1')

    def test_legacy_lock_files_have_no_token(self):
        now = int(time.time())
        cases = {self.name('gocept'): 'host7',
                 self.name('gocept-nl'): 'host7\n',
                 self.name('old'): 'host7\nresource %s\nsince %d\n'
                 % (self.name('old'), now)}
        for r, content in cases.items():
            with self.subTest(r=r):
                write_lock(self.lockdir, r, content)
                st = self.p.status(r)
                self.assertEqual((st['held'], st['holder']),
                                 (True, 'host7'))
                self.assertNotIn('token', st)
                for t in (1, 2, 12345, 2 ** 63 - 1):
                    self.assertIs(self.p.check(r, 'host7', str(t)), False)
                self.assertIs(self.check_i8(r, 'host7', 1), False)
                self.assertIs(self.p.check(r, 'other', '1'), False)
                # Relocking after release hands out a token as usual.
                self.assertIsNone(self.p.unlock(r, 'host7'))
                t = self.p.lock_token(r, 'host7')
                self.assertToken(t)
                self.assertEqual(self.p.status(r)['token'], t)
                self.assertIs(self.p.check(r, 'host7', str(t)), True)
                self.assertIsNone(self.p.unlock(r, 'host7'))


class LockcmdTokenTest(SharedDaemon, TokenTestCase):
    """lockcmd lock --token, check and status against the real daemon."""

    def setUp(self):
        self.p = self.daemon.proxy()

    def name(self, suffix=''):
        return 'lc-%s%s' % (self.id().rsplit('.', 1)[-1], suffix)

    def lockcmd(self, *args):
        return lockcmd_run(args, self.daemon.url)

    def test_lock_token_prints_the_token(self):
        r = self.name()
        code, out, err = self.lockcmd('lock', '--token', r, 'host1')
        self.assertEqual((code, err), (0, ''))
        self.assertRegex(out, r'^[1-9][0-9]*\n$')
        t = int(out)
        self.assertEqual(self.p.status(r)['token'], t)
        # Held: exit 1 as for lock, nothing on stdout.
        self.assertEqual(self.lockcmd('lock', '--token', r, 'host2'),
                         (1, '', "lockcmd: Resource already locked by "
                          "'host1'\n"))
        # The next one is larger.
        code, out2, err = self.lockcmd('lock', '--token', self.name('2'),
                                       'host1')
        self.assertEqual((code, err), (0, ''))
        self.assertGreater(int(out2), t)
        # Plain lock is silent still.
        self.assertEqual(self.lockcmd('lock', self.name('3'), 'host1'),
                         (0, '', ''))
        self.assertGreater(self.p.status(self.name('3'))['token'],
                           int(out2))
        for res in (r, self.name('2'), self.name('3')):
            self.assertIsNone(self.p.unlock(res, 'host1'))

    def test_check_exit_status_and_message(self):
        r = self.name()
        t = self.p.lock_token(r, 'host1')
        self.assertEqual(self.lockcmd('check', r, 'host1', str(t)),
                         (0, '', ''))
        self.assertEqual(self.lockcmd('check', r, 'host2', str(t)),
                         (1, '', 'lockcmd: host2 does not hold %s under '
                          'token %d\n' % (r, t)))
        self.assertEqual(self.lockcmd('check', r, 'host1', str(t + 1)),
                         (1, '', 'lockcmd: host1 does not hold %s under '
                          'token %d\n' % (r, t + 1)))
        self.assertIsNone(self.p.unlock(r, 'host1'))
        self.assertEqual(self.lockcmd('check', r, 'host1', str(t))[0], 1)
        # Faults as today: a bad name is refused (4).
        code, out, err = self.lockcmd('check', '', 'host1', str(t))
        self.assertEqual((code, out), (4, ''), err)
        self.assertRegex(err, r'^lockcmd: Invalid resource name: .+\n$')

    def test_fencing_workflow_in_the_shell(self):
        r = self.name()
        script = ('token=$("$LOCKCMD" lock --token "$1" host3) || exit 9\n'
                  '"$LOCKCMD" check "$1" host3 "$token" && echo started\n'
                  'echo "$token"\n')
        env = {k: v for k, v in os.environ.items() if k not in _NET_ENV}
        env['LOCKD_URL'] = self.daemon.url
        p = subprocess.run(['/bin/sh', '-c', script, 'sh', r], env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(lines[0], 'started')
        self.assertEqual(int(lines[1]), self.p.status(r)['token'])
        self.assertIsNone(self.p.unlock(r, 'host3'))

    def test_status_prints_the_token(self):
        r = self.name()
        t = self.p.lock_token(r, 'host1')
        code, out, err = self.lockcmd('status', r)
        self.assertEqual((code, err), (0, ''))
        self.assertRegex(out, r"^%s is locked by 'host1' since "
                         r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(token %d\)\n$"
                         % (re.escape(r), t))
        # list keeps its three columns.
        code, out, err = self.lockcmd('list', '--prefix', r)
        self.assertEqual((code, err), (0, ''))
        self.assertEqual(len(out.split('\t')), 3, out)
        self.assertTrue(out.startswith(r + "\thost1\t"), out)
        self.assertIsNone(self.p.unlock(r, 'host1'))

    def test_bad_token_is_a_usage_error(self):
        for bad in ('0', '00', '-1', '+1', ' 1', '1 ', '1.5', 'abc', '',
                    '0x10', '1' * 21, '9223372036854775808',
                    '18446744073709551616', '١٢'):
            with self.subTest(token=bad):
                code, out, err = self.lockcmd('check', 'r', 'c', bad)
                self.assertEqual((code, out), (64, ''), err)
                self.assertTrue(err.startswith('lockcmd: invalid token '),
                                err)
        # Leading zeros and the largest i8 are fine (and reach lockd).
        for ok in ('007', '9223372036854775807', '0' * 19 + '1'):
            with self.subTest(token=ok):
                self.assertEqual(self.lockcmd('check', self.name(), 'c',
                                              ok)[0], 1)


class LargeTokenTest(TokenTestCase):
    """Tokens beyond what an XML-RPC int carries, and the i8 limit (the
    counter file is seeded by hand)."""

    def seeded(self, value):
        d = Daemon()
        with open(os.path.join(d.lockdir, TOKEN_FILE), 'w') as f:
            f.write('%020d\n' % value)
        return d

    def test_tokens_above_2_31(self):
        with self.seeded(MAXINT) as d:
            p = d.proxy()
            t = p.lock_token('r', 'c')
            self.assertEqual(t, MAXINT + 1)
            self.assertEqual(p.status('r')['token'], t)
            self.assertIs(p.check('r', 'c', str(t)), True)
            self.assertIs(self.check_i8('r', 'c', t, port=d.port), True)
            self.assertIs(p.check('r', 'c', str(t - 1)), False)
            # Python cannot send it as int: the reason for strings.
            self.assertRaises(OverflowError, p.check, 'r', 'c', t)
            code, out, err = lockcmd_run(['lock', '--token', 'r2', 'c'],
                                         d.url)
            self.assertEqual((code, out, err), (0, '%d\n' % (t + 1), ''))
            self.assertEqual(lockcmd_run(['check', 'r2', 'c', str(t + 1)],
                                         d.url), (0, '', ''))
            code, out, err = lockcmd_run(['status', 'r2'], d.url)
            self.assertEqual(code, 0, err)
            self.assertTrue(out.endswith(' (token %d)\n' % (t + 1)), out)

    def test_counter_at_the_i8_limit_refuses_grants(self):
        # PROTOCOL: a token is a positive 64-bit integer (i8).  Once the
        # counter reaches 2^63-1, a grant must fail (nothing locked)
        # rather than hand out a token that is not a positive i8.
        with self.seeded(2 ** 63 - 2) as d:
            p = d.proxy()
            t = p.lock_token('r1', 'c')
            self.assertEqual(t, 2 ** 63 - 1)
            self.assertIs(p.check('r1', 'c', str(t)), True)
            for fn in (p.lock_token, p.lock):
                with self.subTest(method=fn._Method__name):
                    try:
                        got = fn('r2', 'c')
                    except xmlrpc.client.Fault as f:
                        self.assertIn(f.faultCode, (FAULT_STORAGE,
                                                    FAULT_STATE), f)
                        self.assertEqual(p.status('r2'), {'resource': 'r2',
                                                          'held': False})
                    else:
                        st = p.status('r2')
                        p.unlock('r2', 'c')
                        self.fail('granted after token 2^63-1: answer %r, '
                                  'status %r' % (got, st))

    def test_malformed_i8_token_does_not_crash_lockd(self):
        # xmlrpc-c 1.33 crashes formatting its own fault message for an
        # <i8> that is not a 64-bit integer: lockd must not pass it on.
        # One daemon for each payload, so each one is judged alone.
        died = []
        for xml in ('<i8>9223372036854775808</i8>',
                    '<i8>-9223372036854775809</i8>',
                    '<i8>99999999999999999999</i8>', '<i8>x</i8>',
                    '<i8>1x</i8>', '<ex:i8>x</ex:i8>'):
            d = Daemon()
            try:
                d.start()
                t = d.proxy().lock_token('r', 'c')
                try:
                    status, body = xmlrpc_post(
                        d.port, check_call_xml('r', 'c', xml),
                        timeout=CALL_TIMEOUT)
                except (OSError, ValueError) as e:
                    status, body = None, repr(e)
                    try:        # a crash takes a moment to end it
                        d.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
                if not d.alive():
                    died.append(xml)
                    continue
                with self.subTest(token=xml):
                    self.assertEqual(status, 200, body)
                    with self.assertRaises(xmlrpc.client.Fault):
                        xmlrpc_result(body)
                    self.assertIs(d.proxy().check('r', 'c', str(t)), True)
            finally:
                d.kill()
                d.close()
        self.assertEqual(died, [], 'lockd died on these check() tokens')


def _hammer(proxy_factory, prefix, stop, record, errors):
    """Takes and releases tokens on PREFIX-named resources until STOP is
    set or the daemon goes away; appends every token received to RECORD."""
    p = proxy_factory()
    i = 0
    while not stop.is_set():
        r = '%s-%d' % (prefix, i % 8)
        i += 1
        try:
            t = p.lock_token(r, prefix)
        except xmlrpc.client.Fault as f:
            if f.faultCode != FAULT_HELD:
                errors.append('lock_token %r: %r' % (r, f))
                return
            continue
        except (OSError, xmlrpc.client.ProtocolError,
                http.client.HTTPException):
            return          # the daemon is gone
        record.append(t)
        try:
            p.unlock(r, prefix)
        except xmlrpc.client.Fault as f:
            errors.append('unlock %r: %r' % (r, f))
            return
        except (OSError, xmlrpc.client.ProtocolError,
                http.client.HTTPException):
            return


class CrashTest(TokenTestCase):
    """Tokens stay monotonic across kill -9 and restart."""

    def test_monotonic_across_kill_9_under_load(self):
        with Daemon() as d:
            seen = []
            for rnd in range(5):
                stop = threading.Event()
                record, errors = [], []
                threads = [threading.Thread(
                    target=_hammer,
                    args=(d.proxy, 'round%d-t%d' % (rnd, i), stop, record,
                          errors), daemon=True) for i in range(4)]
                for th in threads:
                    th.start()
                # Let the load build up, then kill mid-load.
                deadline = time.monotonic() + 10
                while len(record) < 40 and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.05 * rnd)
                self.assertEqual(d.kill(), -9)
                stop.set()
                for th in threads:
                    th.join(JOIN_TIMEOUT)
                    self.assertFalse(th.is_alive(), 'load thread hangs')
                self.assertEqual(errors, [])
                self.assertGreater(len(record), 0, 'no token under load')
                seen.extend(record)
                d.start()
                p = d.proxy()
                t = p.lock_token('after-round%d' % rnd, 'checker')
                self.assertGreater(t, max(seen),
                                   'round %d: token after restart %d is '
                                   'not above the largest received %d'
                                   % (rnd, t, max(seen)))
                seen.append(t)
                # Tokens received before the crash are distinct.
                self.assertEqual(len(seen), len(set(seen)))
                # status() shows the token lock_token answered.
                st = p.status('after-round%d' % rnd)
                self.assertEqual(st['token'], t)

    def test_monotonic_across_clean_restart(self):
        with Daemon() as d:
            p = d.proxy()
            t1 = p.lock_token('r', 'c')
            self.assertEqual(d.stop(), 0)
            d.start()
            p = d.proxy()
            self.assertIs(p.check('r', 'c', str(t1)), True)
            self.assertEqual(p.status('r')['token'], t1)
            t2 = p.lock_token('r2', 'c')
            self.assertGreater(t2, t1)


class TwoDaemonsTest(TokenTestCase):
    """Two daemons on one lock directory hand out one sequence."""

    def test_interleaved_lock_token_calls(self):
        with Daemon() as d1, Daemon(lockdir=d1.lockdir) as d2:
            calls = []          # (sent, received, token, daemon)
            calls_lock = threading.Lock()
            errors = []
            per_thread = 150

            def worker(d, name):
                p = d.proxy()
                local = []
                try:
                    for i in range(per_thread):
                        r = '%s-%d' % (name, i % 4)
                        sent = time.monotonic()
                        if i % 5 == 4:
                            p.lock(r, name)
                            t = None
                        else:
                            t = p.lock_token(r, name)
                        received = time.monotonic()
                        local.append((sent, received, t, d.port, r))
                        p.unlock(r, name)
                except Exception as e:      # reported below
                    errors.append('%s: %r' % (name, e))
                with calls_lock:
                    calls.extend(local)

            threads = [threading.Thread(target=worker,
                                        args=(d, 'd%d-t%d' % (n, i)),
                                        daemon=True)
                       for n, d in ((1, d1), (2, d2)) for i in range(3)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(JOIN_TIMEOUT * 3)
                self.assertFalse(th.is_alive(), 'worker hangs')
            self.assertEqual(errors, [])
            tokens = [c[2] for c in calls if c[2] is not None]
            self.assertEqual(len(tokens), 6 * per_thread * 4 // 5)
            self.assertEqual(len(tokens), len(set(tokens)),
                             'duplicate tokens across two daemons')
            for t in tokens:
                self.assertToken(t)
            self.assertEqual({c[3] for c in calls}, {d1.port, d2.port})
            # Real-time order: a call sent after another call's response
            # arrived got a larger token (whichever daemon answered).
            done = sorted((c for c in calls if c[2] is not None),
                          key=lambda c: c[1])
            by_sent = sorted((c for c in calls if c[2] is not None),
                             key=lambda c: c[0])
            j, best, best_call = 0, 0, None
            for c in by_sent:
                while j < len(done) and done[j][1] < c[0]:
                    if done[j][2] > best:
                        best, best_call = done[j][2], done[j]
                    j += 1
                self.assertGreater(c[2], best,
                                   'token %d (daemon %d, %r) sent after '
                                   'token %d (daemon %d, %r) was received'
                                   % (c[2], c[3], c[4], best,
                                      best_call[3], best_call[4])
                                   if best_call else '')
            # Each daemon sees the other's grants: check() agrees.
            r = 'shared'
            t = d1.proxy().lock_token(r, 'x')
            self.assertIs(d2.proxy().check(r, 'x', str(t)), True)
            self.assertEqual(d2.proxy().status(r)['token'], t)
            self.assertIsNone(d2.proxy().unlock(r, 'x'))
            self.assertIs(d1.proxy().check(r, 'x', str(t)), False)
            self.assertGreater(d2.proxy().lock_token(r, 'y'), t)


if __name__ == '__main__':
    sys.exit(main())
