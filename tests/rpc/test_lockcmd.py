# SPDX-License-Identifier: MIT
"""Black-box tests of lockcmd(1): exit status, messages and wire format.

Drives $LOCKCMD against the real lockd ($LOCKD, through harness.Daemon),
against canned HTTP servers (faults and broken answers lockd never gives)
and against ports where nobody answers.  Every lockcmd run has a timeout.
"""
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest
import xmlrpc.client

from harness import Daemon, main

RUN_TIMEOUT = 20            # seconds for any one lockcmd run
HOST = '127.0.0.1'

# The exit status table of lockcmd(1).
EXIT_OK, EXIT_HELD, EXIT_NOT_OWNER, EXIT_NOT_LOCKED = 0, 1, 2, 3
EXIT_REFUSED, EXIT_FAILED = 4, 5
EXIT_USAGE, EXIT_UNREACHABLE, EXIT_SOFTWARE = 64, 69, 70
ALL_CODES = {0, 1, 2, 3, 4, 5, 64, 69, 70, 77}

# Environment variables that would change where lockcmd connects.
_NET_ENV = ('LOCKD_URL', 'http_proxy', 'HTTP_PROXY', 'https_proxy',
            'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY')


def lockcmd_path():
    path = os.environ.get('LOCKCMD')
    if not path:
        raise RuntimeError('LOCKCMD is not set: export LOCKCMD=/abs/path/to/'
                           'client/lockcmd (make check does this)')
    if not os.access(path, os.X_OK):
        raise RuntimeError('LOCKCMD=%s is not an executable file' % path)
    return path


def run(args, url=None, timeout=RUN_TIMEOUT):
    """Runs lockcmd ARGS with LOCKD_URL=URL (None: unset) and no proxy.

    Returns (exit status, stdout, stderr) as text; arguments may be str or
    bytes.
    """
    env = {k: v for k, v in os.environ.items() if k not in _NET_ENV}
    if url is not None:
        env['LOCKD_URL'] = url
    p = subprocess.run([lockcmd_path()] + list(args), env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return (p.returncode, p.stdout.decode('utf-8', 'replace'),
            p.stderr.decode('utf-8', 'replace'))


def refused_port():
    """A socket bound to a loopback port but not listening: connections to
    the port are refused, and no other process can take it meanwhile."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    return s, s.getsockname()[1]


def no_control_bytes(text):
    """Whether TEXT has no control characters besides newlines."""
    return re.search(r'[\x00-\x09\x0b-\x1f\x7f-\x9f]', text) is None


class LockcmdTestCase(unittest.TestCase):

    def assertRun(self, result, status, stderr=None, stdout=''):
        """RESULT of run() has STATUS; STDERR None: anything, str: exactly
        'lockcmd: STDERR\\n', compiled regex: fullmatch."""
        got_status, got_out, got_err = result
        self.assertEqual(got_status, status,
                         'exit status; stderr: %r' % got_err)
        self.assertEqual(got_out, stdout)
        if isinstance(stderr, str):
            self.assertEqual(got_err, 'lockcmd: %s\n' % stderr)
        elif stderr is not None:
            self.assertTrue(stderr.fullmatch(got_err),
                            '%r does not match %r' % (got_err,
                                                      stderr.pattern))

    def assertSilentSuccess(self, result):
        self.assertRun(result, EXIT_OK, stderr=re.compile(''))


class DaemonTest(LockcmdTestCase):
    """lockcmd against the real lockd (one daemon for the class: every test
    uses resource names of its own)."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    def setUp(self):
        self.url = self.daemon.url
        self.py = self.daemon.proxy()

    def name(self, suffix=''):
        return '%s%s' % (self.id().rsplit('.', 1)[-1], suffix)

    def lockcmd(self, *args):
        return run(args, url=self.url)

    def test_seed_scenario_exit_codes_and_messages(self):
        r1, r2 = self.name('-r1'), self.name('-r2')
        self.assertSilentSuccess(self.lockcmd('lock', r1, 'c1'))
        self.assertRun(self.lockcmd('lock', r1, 'c2'), EXIT_HELD,
                       "Resource already locked by 'c1'")
        self.assertSilentSuccess(self.lockcmd('lock', r2, 'c2'))
        self.assertRun(self.lockcmd('unlock', r1, 'c2'), EXIT_NOT_OWNER,
                       "Resource locked by 'c1' cannot be unlocked by 'c2'")
        self.assertSilentSuccess(self.lockcmd('unlock', r1, 'c1'))
        self.assertRun(self.lockcmd('unlock', r1, 'c1'), EXIT_NOT_LOCKED,
                       'Resource not locked')
        self.assertSilentSuccess(self.lockcmd('unlock', r2, 'c2'))

    def test_lock_held_by_same_client_is_refused(self):
        r = self.name()
        self.assertSilentSuccess(self.lockcmd('lock', r, 'c1'))
        self.assertRun(self.lockcmd('lock', r, 'c1'), EXIT_HELD,
                       "Resource already locked by 'c1'")
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c1'))

    def test_lockd_url_forms(self):
        base = self.url.rstrip('/')
        for url in (base, base + '/', base + '/RPC2'):
            r = self.name(url[len(base):].replace('/', '_'))
            self.assertSilentSuccess(run(['lock', r, 'c'], url=url))
            self.assertRun(run(['lock', r, 'd'], url=url), EXIT_HELD,
                           "Resource already locked by 'c'")
            self.assertSilentSuccess(run(['unlock', r, 'c'], url=url))

    def test_server_option_forms(self):
        base = self.url.rstrip('/')
        sock, port = refused_port()
        dead = 'http://%s:%d/' % (HOST, port)
        try:
            for i, url in enumerate((base, base + '/', base + '/RPC2')):
                r = self.name(str(i))
                # The option wins over LOCKD_URL.
                self.assertSilentSuccess(
                    run(['--server', url, 'lock', r, 'c'], url=dead))
                self.assertSilentSuccess(
                    run(['-s', url, '-t', '5', 'unlock', r, 'c'], url=dead))
                self.assertSilentSuccess(
                    run(['--server=' + url, '--timeout=5', 'lock', r, 'c']))
                self.assertSilentSuccess(
                    run(['-s' + url, 'unlock', r, 'c']))
        finally:
            sock.close()

    def test_lock_taken_with_lockcmd_is_visible_to_python(self):
        r = self.name()
        self.assertSilentSuccess(self.lockcmd('lock', r, 'shell'))
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            self.py.lock(r, 'python')
        self.assertEqual(cm.exception.faultCode, 1)
        self.assertEqual(cm.exception.faultString,
                         "Resource already locked by 'shell'")
        self.assertIsNone(self.py.unlock(r, 'shell'))
        self.assertRun(self.lockcmd('unlock', r, 'shell'), EXIT_NOT_LOCKED,
                       'Resource not locked')

    def test_lock_taken_with_python_is_visible_to_lockcmd(self):
        r = self.name()
        self.assertIsNone(self.py.lock(r, 'python'))
        self.assertRun(self.lockcmd('lock', r, 'shell'), EXIT_HELD,
                       "Resource already locked by 'python'")
        self.assertRun(self.lockcmd('unlock', r, 'shell'), EXIT_NOT_OWNER,
                       "Resource locked by 'python' cannot be unlocked by "
                       "'shell'")
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'python'))
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            self.py.unlock(r, 'python')
        self.assertEqual(cm.exception.faultCode, 3)

    def test_names_round_trip(self):
        names = ['vm/42 é', 'with  two spaces', 'quo\'te"s', '../../etc',
                 '/abs/path/', 'tab\there', '<&>', 'ü€中文', ' ', '%s%n',
                 'x' * 4096]
        for i, res in enumerate(names):
            client = 'cliënt %d/é' % i
            self.assertSilentSuccess(self.lockcmd('lock', res, client))
            # Python sees exactly this name, held by exactly this client.
            with self.assertRaises(xmlrpc.client.Fault) as cm:
                self.py.lock(res, 'other')
            self.assertEqual(cm.exception.faultString,
                             "Resource already locked by '%s'" % client)
            # lockcmd prints the UTF-8 holder intact.
            self.assertRun(self.lockcmd('lock', res, 'other'), EXIT_HELD,
                           "Resource already locked by '%s'" % client)
            self.assertIsNone(self.py.unlock(res, client))
            self.assertRun(self.lockcmd('unlock', res, client),
                           EXIT_NOT_LOCKED, 'Resource not locked')

    def test_resource_may_start_with_dash(self):
        for args in (['lock', '-x', 'c'], ['--', 'lock', '--y', 'c']):
            self.assertSilentSuccess(self.lockcmd(*args))
        self.assertIsNone(self.py.unlock('-x', 'c'))
        self.assertIsNone(self.py.unlock('--y', 'c'))

    def test_empty_resource_is_refused_by_daemon(self):
        self.assertRun(self.lockcmd('lock', '', 'c'), EXIT_REFUSED,
                       re.compile(r"lockcmd: Invalid resource name: .+\n"))
        self.assertRun(self.lockcmd('unlock', '', 'c'), EXIT_REFUSED,
                       re.compile(r"lockcmd: Invalid resource name: .+\n"))

    def test_bad_client_is_refused_by_daemon(self):
        r = self.name()
        self.assertRun(self.lockcmd('lock', r, ''), EXIT_REFUSED,
                       re.compile(r"lockcmd: Invalid client name: .+\n"))
        self.assertRun(self.lockcmd('lock', r, 'x' * 4097), EXIT_REFUSED,
                       re.compile(r"lockcmd: Invalid client name: .+\n"))
        # XML cannot carry \x01: refused (fault 12, 30 or -503), and the
        # message reaches the terminal without control bytes.
        code, out, err = self.lockcmd('lock', r, 'a\x01b')
        self.assertEqual((code, out), (EXIT_REFUSED, ''), err)
        self.assertTrue(err.startswith('lockcmd: '), err)
        self.assertTrue(err.endswith('\n') and err.count('\n') == 1, err)
        self.assertTrue(no_control_bytes(err), repr(err))
        self.assertRun(self.lockcmd('unlock', r, 'c'), EXIT_NOT_LOCKED,
                       'Resource not locked')

    def test_too_long_resource_is_refused_by_daemon(self):
        self.assertRun(self.lockcmd('lock', 'x' * 4097, 'c'), EXIT_REFUSED,
                       re.compile(r"lockcmd: Invalid resource name: .+\n"))

    def test_characters_beyond_bmp_are_a_usage_error(self):
        # xmlrpc-c 1.33 cannot encode them (nor lockd's parser decode them).
        self.assertRun(self.lockcmd('lock', 'smile \U0001F600', 'c'),
                       EXIT_USAGE, re.compile(r'lockcmd: .*U\+FFFF.*\n'))
        self.assertRun(self.lockcmd('lock', b'bad \xff utf-8', 'c'),
                       EXIT_USAGE, re.compile(r'lockcmd: .*UTF-8.*\n'))

    def test_wrong_path_is_an_http_error(self):
        code, out, err = run(['lock', self.name(), 'c'],
                             url=self.url + 'nope')
        self.assertEqual((code, out), (EXIT_UNREACHABLE, ''), err)
        self.assertTrue(err.startswith('lockcmd: cannot reach lockd at %s'
                                       'nope: ' % self.url), err)
        self.assertIn('404', err)


class UsageTest(LockcmdTestCase):
    """Command-line handling; never reaches a daemon."""

    def setUp(self):
        # Any attempt to connect would end in 69, not in 64.
        self.sock, port = refused_port()
        self.dead = 'http://%s:%d/' % (HOST, port)

    def tearDown(self):
        self.sock.close()

    def assertUsageError(self, args, message=None):
        code, out, err = run(args, url=self.dead)
        self.assertEqual(code, EXIT_USAGE, 'args %r: %r' % (args, err))
        self.assertEqual(out, '')
        lines = err.split('\n')
        self.assertEqual(len(lines), 3, 'one reason, one hint: %r' % err)
        self.assertTrue(lines[0].startswith('lockcmd: '), err)
        self.assertEqual(lines[1], "Try 'lockcmd --help'.")
        if message is not None:
            self.assertEqual(lines[0], 'lockcmd: ' + message)

    def test_no_arguments(self):
        self.assertUsageError([], 'missing command (lock or unlock)')

    def test_unknown_command(self):
        self.assertUsageError(['grab', 'r', 'c'],
                              "unknown command 'grab' (lock or unlock)")
        self.assertUsageError(['LOCK', 'r', 'c'])

    def test_missing_arguments(self):
        self.assertUsageError(['lock'], 'missing RESOURCE and CLIENT')
        self.assertUsageError(['unlock', 'r'], 'missing CLIENT')
        self.assertUsageError(['-t', '5', 'lock', 'r'], 'missing CLIENT')

    def test_too_many_arguments(self):
        self.assertUsageError(['lock', 'r', 'c', 'extra'],
                              "too many arguments, from 'extra'")

    def test_bad_timeout(self):
        for value in ('0', '3601', '-5', '+5', ' 5', '5 ', '1.5', '5s', 'x',
                      '', '0x10', '99999999999999999999999'):
            self.assertUsageError(['-t', value, 'lock', 'r', 'c'])
            self.assertUsageError(['--timeout=' + value, 'lock', 'r', 'c'])
        self.assertUsageError(['-t', '0', 'lock', 'r', 'c'],
                              "invalid timeout '0': it must be a whole "
                              "number of seconds from 1 to 3600")

    def test_bounds_of_timeout_are_accepted(self):
        for value in ('1', '3600', '010'):
            code, out, err = run(['-t', value, 'lock', 'r', 'c'],
                                 url=self.dead)
            self.assertEqual(code, EXIT_UNREACHABLE, err)

    def test_unknown_option(self):
        self.assertUsageError(['-x', 'lock', 'r', 'c'],
                              "unknown option '-x'")
        self.assertUsageError(['--bogus', 'lock', 'r', 'c'],
                              "unknown option '--bogus'")

    def test_option_without_argument(self):
        self.assertUsageError(['lock', 'r', 'c', '-t'],
                              "too many arguments, from '-t'")
        self.assertUsageError(['-t'], "missing argument to option '-t'")
        self.assertUsageError(['--server'],
                              "missing argument to option '--server'")

    def test_url_must_be_http(self):
        for url in ('ftp://127.0.0.1/', 'file:///etc/passwd',
                    '127.0.0.1:8044', ''):
            self.assertUsageError(['-s', url, 'lock', 'r', 'c'])
        code, _, err = run(['lock', 'r', 'c'], url='gopher://x/')
        self.assertEqual(code, EXIT_USAGE, err)

    def test_usage_messages_are_sanitized(self):
        code, _, err = run(['lo\x1b[31mck', 'r', 'c'], url=self.dead)
        self.assertEqual(code, EXIT_USAGE)
        self.assertTrue(no_control_bytes(err), repr(err))
        self.assertIn("'lo?[31mck'", err)

    def test_help(self):
        for opt in ('-h', '--help'):
            code, out, err = run([opt], url=self.dead)
            self.assertEqual((code, err), (0, ''))
            self.assertTrue(out.startswith('usage: lockcmd '), out)
            for word in ('lock|unlock RESOURCE CLIENT', '--server URL',
                         '--timeout SECONDS', '--help', '--version',
                         'LOCKD_URL'):
                self.assertIn(word, out)
            self.assertRegex(out, r'http://127\.0\.0\.1:\d+/')
            self.assertEqual(help_exit_codes(out), ALL_CODES)
        # --help wins over the rest of the line.
        self.assertEqual(run(['--help', 'bogus'])[0], 0)

    def test_version(self):
        for opt in ('-V', '--version'):
            code, out, err = run([opt])
            self.assertEqual((code, err), (0, ''))
            self.assertRegex(out, r'^lockcmd \(lockd\) \d+\.\d+\.\d+\S*\n$')

    def test_man_page_lists_the_same_exit_codes(self):
        page = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            '..', '..', 'client', 'lockcmd.1')
        with open(page, encoding='utf-8') as f:
            text = f.read()
        section = text.split('.Sh EXIT STATUS', 1)[1].split('.Sh ', 1)[0]
        man_codes = {int(c) for c in re.findall(r'^\.It (\d+)$', section,
                                                re.M)}
        self.assertEqual(man_codes, ALL_CODES)


def help_exit_codes(text):
    """The codes listed under 'Exit status:' in --help output."""
    part = text.split('Exit status:\n', 1)[1]
    return {int(m) for m in re.findall(r'^ +(\d+)  ', part, re.M)}


class UnreachableTest(LockcmdTestCase):
    """No daemon: lockcmd says so, with 69, within its timeout."""

    def test_connection_refused(self):
        sock, port = refused_port()
        url = 'http://%s:%d/' % (HOST, port)
        try:
            start = time.monotonic()
            code, out, err = run(['lock', 'r', 'c'], url=url)
            elapsed = time.monotonic() - start
        finally:
            sock.close()
        self.assertEqual((code, out), (EXIT_UNREACHABLE, ''), err)
        self.assertTrue(err.startswith('lockcmd: cannot reach lockd at %s: '
                                       % url), err)
        self.assertEqual(err.count('\n'), 1, err)
        self.assertLess(elapsed, 5)

    def test_stopped_daemon(self):
        with Daemon() as d:
            url = d.url
            self.assertSilentSuccess(run(['lock', 'r', 'c'], url=url))
            self.assertEqual(d.stop(), 0)
            code, out, err = run(['unlock', 'r', 'c'], url=url)
        self.assertEqual((code, out), (EXIT_UNREACHABLE, ''), err)

    def test_silent_server_times_out(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, 0))
            s.listen(8)         # accepted by the kernel, never answered
            url = 'http://%s:%d/' % (HOST, s.getsockname()[1])
            for seconds in (1, 2):
                start = time.monotonic()
                code, out, err = run(['-t', str(seconds), 'lock', 'r', 'c'],
                                     url=url)
                elapsed = time.monotonic() - start
                self.assertEqual((code, out), (EXIT_UNREACHABLE, ''), err)
                self.assertIn('cannot reach lockd at %s: ' % url, err)
                self.assertGreaterEqual(elapsed, seconds - 0.1)
                # xmlrpc-c alone would poll only every 3 s.
                self.assertLess(elapsed, seconds + 1.5)
        finally:
            s.close()

    def test_unknown_host(self):
        code, out, err = run(['-t', '5', 'lock', 'r', 'c'],
                             url='http://lockd.invalid/')
        self.assertEqual((code, out), (EXIT_UNREACHABLE, ''), err)
        self.assertTrue(err.startswith(
            'lockcmd: cannot reach lockd at http://lockd.invalid/: '), err)


class _CannedHandler(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the server's canned (status, body)."""

    def do_POST(self):
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length)
        self.server.requests.append((self.path, body))
        status, reply = self.server.reply
        self.send_response(status)
        self.send_header('Content-Type', 'text/xml')
        self.send_header('Content-Length', str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def fault_xml(code, message):
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message),
                               methodresponse=True).encode('utf-8')


def result_xml(value):
    return xmlrpc.client.dumps((value,), methodresponse=True,
                               allow_none=True).encode('utf-8')


class CannedServerTest(LockcmdTestCase):
    """lockcmd against answers lockd does not give (or not on demand):
    every fault class, broken responses, and what lockcmd sends."""

    def setUp(self):
        self.server = http.server.HTTPServer((HOST, 0), _CannedHandler)
        self.server.requests = []
        self.server.reply = (200, result_xml(None))
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={'poll_interval': 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = 'http://%s:%d/' % (HOST, self.server.server_address[1])

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def reply(self, body, status=200):
        self.server.reply = (status, body)
        return run(['lock', 'r', 'c'], url=self.url)

    def test_request_on_the_wire(self):
        for cmd, url, path in (('lock', self.url, '/'),
                               ('unlock', self.url + 'RPC2', '/RPC2'),
                               ('lock', self.url.rstrip('/'), '/')):
            del self.server.requests[:]
            self.assertSilentSuccess(run([cmd, 'vm/42 é', 'host "1"'],
                                         url=url))
            self.assertEqual(len(self.server.requests), 1)
            got_path, body = self.server.requests[0]
            self.assertEqual(got_path, path)
            params, method = xmlrpc.client.loads(body)
            self.assertEqual(method, cmd)
            self.assertEqual(params, ('vm/42 é', 'host "1"'))

    def test_fault_codes_map_to_exit_status(self):
        cases = [(1, EXIT_HELD), (2, EXIT_NOT_OWNER), (3, EXIT_NOT_LOCKED),
                 (10, EXIT_REFUSED), (11, EXIT_REFUSED), (12, EXIT_REFUSED),
                 (30, EXIT_REFUSED), (-503, EXIT_REFUSED),
                 (-506, EXIT_REFUSED), (-509, EXIT_REFUSED),
                 (20, EXIT_FAILED), (21, EXIT_FAILED), (4, EXIT_FAILED),
                 (99, EXIT_FAILED), (0, EXIT_FAILED)]
        for code, status in cases:
            msg = 'message of fault %d' % code
            self.assertRun(self.reply(fault_xml(code, msg)), status, msg)

    def test_server_fault_is_not_a_transport_failure(self):
        # xmlrpc-c's own "network error" code, sent as a real <fault>.
        self.assertRun(self.reply(fault_xml(-504, 'fake network error')),
                       EXIT_REFUSED, 'fake network error')
        self.assertRun(self.reply(fault_xml(-505, 'fake timeout')),
                       EXIT_REFUSED, 'fake timeout')

    def test_fault_string_printed_exactly(self):
        msg = 'RPC failed at server.  Storage error: rename: No space left'
        self.assertRun(self.reply(fault_xml(20, msg)), EXIT_FAILED, msg)

    def test_fault_string_is_sanitized(self):
        msg = 'a\tb\nc\x7fd\x85e\u009bf\u202eg é中'
        self.assertRun(self.reply(fault_xml(1, msg)), EXIT_HELD,
                       'a?b?c?d?e?f?g é中')

    def test_non_nil_result_is_unexpected(self):
        for value in ('ok', 0, True, ['x'], {'a': 1}):
            code, out, err = self.reply(result_xml(value))
            self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
            self.assertTrue(err.startswith('lockcmd: unexpected response'),
                            err)

    def test_garbage_is_unexpected(self):
        for body in (b'', b'hello', b'<?xml version="1.0"?><x/>',
                     b'<methodResponse><params></params></methodResponse>',
                     b'<methodResponse><fault><value><struct></struct>'
                     b'</value></fault></methodResponse>'):
            code, out, err = self.reply(body)
            self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
            self.assertTrue(err.startswith('lockcmd: unexpected response'),
                            err)
            self.assertTrue(no_control_bytes(err), repr(err))

    def test_http_error_status_is_unreachable(self):
        for status in (404, 500, 503):
            code, out, err = self.reply(fault_xml(1, 'ignored'), status)
            self.assertEqual((code, out), (EXIT_UNREACHABLE, ''), err)
            self.assertIn(str(status), err)
            self.assertNotIn('ignored', err)


if __name__ == '__main__':
    sys.exit(main())
