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
import tempfile
import time
import unittest
import xmlrpc.client

from harness import Daemon, SharedDaemon, main
from harness import (EXIT_FAILED, EXIT_HELD, EXIT_NOPERM, EXIT_NOT_LOCKED,
                     EXIT_NOT_OWNER, EXIT_OK, EXIT_REFUSED, EXIT_SOFTWARE,
                     EXIT_UNREACHABLE, EXIT_USAGE, FAULT_AUTH, FAULT_CLIENT,
                     FAULT_DELAYED, FAULT_DENIED, FAULT_HELD, FAULT_NOT_LOCKED,
                     FAULT_NOT_OWNER, FAULT_PARAMS, FAULT_REFUSED,
                     FAULT_RESOURCE, FAULT_STATE, FAULT_STORAGE)
from scripted import ScriptedServer, fault_xml, result_xml

RUN_TIMEOUT = 20            # seconds for any one lockcmd run
HOST = '127.0.0.1'

# The exit status table of lockcmd(1).
ALL_CODES = {EXIT_OK, EXIT_HELD, EXIT_NOT_OWNER, EXIT_NOT_LOCKED,
             EXIT_REFUSED, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE,
             EXIT_SOFTWARE, EXIT_NOPERM}

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

    def lockcmd(self, *args):
        """Runs lockcmd ARGS against self.url."""
        return run(args, url=self.url)


class DaemonTest(SharedDaemon, LockcmdTestCase):
    """lockcmd against the real lockd (one daemon for the class: every test
    uses resource names of its own)."""

    def setUp(self):
        self.url = self.daemon.url
        self.py = self.daemon.proxy()

    def name(self, suffix=''):
        return '%s%s' % (self.id().rsplit('.', 1)[-1], suffix)

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
        self.assertEqual(cm.exception.faultCode, FAULT_HELD)
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
        self.assertEqual(cm.exception.faultCode, FAULT_NOT_LOCKED)

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
        self.assertUsageError([], 'missing command (lock, unlock, check, '
                              'renew, status, list, history or break)')

    def test_unknown_command(self):
        self.assertUsageError(['grab', 'r', 'c'],
                              "unknown command 'grab' (lock, unlock, "
                              "check, renew, status, list, history or "
                              "break)")
        self.assertUsageError(['LOCK', 'r', 'c'])
        self.assertUsageError(['STATUS', 'r'])

    def test_missing_arguments(self):
        self.assertUsageError(['lock'], 'missing RESOURCE and CLIENT')
        self.assertUsageError(['unlock', 'r'], 'missing CLIENT')
        self.assertUsageError(['-t', '5', 'lock', 'r'], 'missing CLIENT')

    def test_too_many_arguments(self):
        self.assertUsageError(['lock', 'r', 'c', 'extra'],
                              "too many arguments, from 'extra'")

    def test_lock_token_arguments(self):
        self.assertUsageError(['lock', '--token'],
                              'missing RESOURCE and CLIENT')
        self.assertUsageError(['lock', '--token', 'r'], 'missing CLIENT')
        self.assertUsageError(['lock', '--token', 'r', 'c', 'x'],
                              "too many arguments, from 'x'")
        # The option follows the word lock, nowhere else.
        self.assertUsageError(['--token', 'lock', 'r', 'c'],
                              "unknown option '--token'")
        self.assertUsageError(['lock', 'r', 'c', '--token'],
                              "too many arguments, from '--token'")
        self.assertUsageError(['unlock', '--token', 'r', 'c'],
                              "too many arguments, from 'c'")

    def test_check_arguments(self):
        self.assertUsageError(['check'], 'missing RESOURCE, CLIENT and '
                              'TOKEN')
        self.assertUsageError(['check', 'r'], 'missing CLIENT and TOKEN')
        self.assertUsageError(['check', 'r', 'c'], 'missing TOKEN')
        self.assertUsageError(['check', 'r', 'c', '1', 'x'],
                              "too many arguments, from 'x'")

    def test_bad_token(self):
        for value in ('0', '000', '-1', '+1', ' 1', '1 ', '1.5', '1e3',
                      'abc', '', '0x10', '1' * 21, '9223372036854775808',
                      '18446744073709551615', '18446744073709551616',
                      '99999999999999999999', '\u0661'):
            self.assertUsageError(['check', 'r', 'c', value])
        self.assertUsageError(['check', 'r', 'c', '-5'],
                              "invalid token '-5': it must be a positive "
                              "whole number of at most 20 digits below "
                              "2^63")
        self.assertUsageError(['check', 'r', 'c', 'a\x1bb'],
                              "invalid token 'a?b': it must be a positive "
                              "whole number of at most 20 digits below "
                              "2^63")

    def test_good_tokens_reach_the_daemon(self):
        for value in ('1', '42', '007', '9223372036854775807',
                      '0' * 19 + '1'):
            code, out, err = run(['check', 'r', 'c', value], url=self.dead)
            self.assertEqual(code, EXIT_UNREACHABLE, err)

    def test_status_and_list_arguments(self):
        self.assertUsageError(['status'], 'missing RESOURCE')
        self.assertUsageError(['status', 'r', 'c'],
                              "too many arguments, from 'c'")
        self.assertUsageError(['list', 'x'], "too many arguments, from 'x'")
        self.assertUsageError(['list', '--prefix'],
                              "missing argument to option '--prefix'")
        self.assertUsageError(['list', '--prefix', 'p', '--holder'],
                              "missing argument to option '--holder'")
        self.assertUsageError(['list', '--bogus'], "unknown option "
                              "'--bogus' (list takes --prefix and --holder)")
        self.assertUsageError(['list', '-p', 'x'])
        self.assertUsageError(['list', '--prefixes', 'x'])
        self.assertUsageError(['list', '--prefix', 'p', 'extra'],
                              "too many arguments, from 'extra'")
        # Options of lockcmd itself come before the command.
        self.assertUsageError(['list', '-t', '5'])
        # Names xmlrpc-c cannot send: one line, no hint (as for lock).
        self.assertRun(run(['status', b'bad \xff utf-8'], url=self.dead),
                       EXIT_USAGE, 'RESOURCE must be UTF-8 without '
                       'characters above U+FFFF')
        self.assertRun(run(['list', '--holder', 'smile \U0001F600'],
                           url=self.dead), EXIT_USAGE, 'PREFIX and CLIENT '
                       'must be UTF-8 without characters above U+FFFF')

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
            self.assertEqual((code, err), (EXIT_OK, ''))
            self.assertTrue(out.startswith('usage: lockcmd '), out)
            for word in ('lock|unlock RESOURCE CLIENT', 'status RESOURCE',
                         'lock --token RESOURCE CLIENT',
                         'check RESOURCE CLIENT TOKEN', '(token',
                         'list [--prefix PREFIX] [--holder CLIENT]',
                         '--server URL', '--timeout SECONDS', '--help',
                         '--version', 'LOCKD_URL'):
                self.assertIn(word, out)
            self.assertRegex(out, r'http://127\.0\.0\.1:\d+/')
            self.assertEqual(help_exit_codes(out), ALL_CODES)
        # --help wins over the rest of the line.
        self.assertEqual(run(['--help', 'bogus'])[0], EXIT_OK)

    def test_version(self):
        for opt in ('-V', '--version'):
            code, out, err = run([opt])
            self.assertEqual((code, err), (EXIT_OK, ''))
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


class CannedServerTest(ScriptedServer, LockcmdTestCase):
    """lockcmd against answers lockd does not give (or not on demand):
    every fault class, broken responses, and what lockcmd sends."""
    server_class = http.server.HTTPServer
    handler_class = _CannedHandler

    def setUp(self):
        super().setUp()
        self.server.requests = []
        self.server.reply = (200, result_xml(None))

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
        cases = [(FAULT_HELD, EXIT_HELD), (FAULT_NOT_OWNER, EXIT_NOT_OWNER),
                 (FAULT_NOT_LOCKED, EXIT_NOT_LOCKED),
                 (FAULT_PARAMS, EXIT_REFUSED), (FAULT_RESOURCE, EXIT_REFUSED),
                 (FAULT_CLIENT, EXIT_REFUSED), (FAULT_REFUSED, EXIT_REFUSED),
                 (-503, EXIT_REFUSED), (-506, EXIT_REFUSED),
                 (-509, EXIT_REFUSED), (FAULT_STORAGE, EXIT_FAILED),
                 (FAULT_STATE, EXIT_FAILED), (FAULT_DELAYED, EXIT_HELD),
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
        self.assertRun(self.reply(fault_xml(FAULT_STORAGE, msg)), EXIT_FAILED,
                       msg)

    def test_fault_string_is_sanitized(self):
        msg = 'a\tb\nc\x7fd\x85e\u009bf\u202eg é中'
        self.assertRun(self.reply(fault_xml(FAULT_HELD, msg)), EXIT_HELD,
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
            code, out, err = self.reply(fault_xml(FAULT_HELD, 'ignored'),
                                        status)
            self.assertEqual((code, out), (EXIT_UNREACHABLE, ''), err)
            self.assertIn(str(status), err)
            self.assertNotIn('ignored', err)



# -- status and list ----------------------------------------------------------
SUFFIX = '.resource.lock'
NO_ERR = re.compile('')    # assertRun: nothing on stderr
ISO_RE = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'


def write_lock(lockdir, fname, content):
    """Writes lock file FNAME (str or bytes, without SUFFIX) in LOCKDIR."""
    if isinstance(fname, str):
        fname = fname.encode('utf-8')
    if isinstance(content, str):
        content = content.encode('utf-8')
    with open(os.path.join(os.fsencode(lockdir), fname + SUFFIX.encode()),
              'wb') as f:
        f.write(content)


def iso_seconds(text):
    """Seconds since the epoch of lockcmd's '2026-11-27T07:30:00Z'."""
    return time.mktime(time.strptime(text, '%Y-%m-%dT%H:%M:%SZ')) - \
        time.mktime(time.gmtime(0))


def run_bytes(args, url, timeout=RUN_TIMEOUT):
    """Like run(), but stdout as bytes (to see escapes exactly)."""
    env = {k: v for k, v in os.environ.items() if k not in _NET_ENV}
    env['LOCKD_URL'] = url
    p = subprocess.run([lockcmd_path()] + list(args), env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode('utf-8', 'replace')


class StatusCmdTest(SharedDaemon, LockcmdTestCase):
    """lockcmd status against the real lockd (one daemon, own names)."""

    def setUp(self):
        self.url = self.daemon.url
        self.py = self.daemon.proxy()

    def name(self, suffix=''):
        return '%s%s' % (self.id().rsplit('.', 1)[-1], suffix)

    def test_status_exit_codes_and_lines(self):
        r = self.name()
        self.assertRun(self.lockcmd('status', r), EXIT_NOT_LOCKED, NO_ERR,
                       '%s is not locked\n' % r)
        start = time.time()
        self.assertSilentSuccess(self.lockcmd('lock', r, 'host1'))
        end = time.time()
        code, out, err = self.lockcmd('status', r)
        self.assertEqual((code, err), (EXIT_OK, ''))
        m = re.fullmatch(r"%s is locked by 'host1' since (%s) "
                         r"\(token ([1-9][0-9]*)\)\n"
                         % (re.escape(r), ISO_RE), out)
        self.assertTrue(m, out)
        self.assertEqual(int(m.group(2)), self.py.status(r)['token'])
        since = iso_seconds(m.group(1))
        self.assertGreaterEqual(since, int(start) - 2)
        self.assertLessEqual(since, end + 2)
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'host1'))
        self.assertRun(self.lockcmd('status', r), EXIT_NOT_LOCKED, NO_ERR,
                       '%s is not locked\n' % r)

    def test_status_of_legacy_lock_has_no_since(self):
        r = self.name()
        write_lock(self.daemon.lockdir, r, 'host7')
        self.assertRun(self.lockcmd('status', r), EXIT_OK, NO_ERR,
                       "%s is locked by 'host7'\n" % r)
        self.assertIsNone(self.py.unlock(r, 'host7'))

    def test_status_since_is_utc(self):
        r = self.name()
        write_lock(self.daemon.lockdir, r,
                   'host2\nresource %s\nsince 1700000000\n' % r)
        self.assertRun(self.lockcmd('status', r), EXIT_OK, NO_ERR,
                       "%s is locked by 'host2' since 2023-11-14T22:13:20Z\n"
                       % r)
        self.assertIsNone(self.py.unlock(r, 'host2'))

    def test_status_names_are_escaped(self):
        cases = [('tab\there', r'tab\there'), ('new\nline', r'new\nline'),
                 ('back\\slash', r'back\\slash'), ('del\x7f', r'del\x7f'),
                 ('c1\x85', r'c1\xc2\x85'),
                 ('bidi\u202e', r'bidi\xe2\x80\xae'),
                 ('ü€中文 é', 'ü€中文 é'), ("quo'te", "quo'te")]
        for res, shown in cases:
            r = self.name('-' + res)
            want = self.name('-' + shown)
            with self.subTest(res=res):
                self.assertRun(self.lockcmd('status', r), EXIT_NOT_LOCKED,
                               NO_ERR, '%s is not locked\n' % want)
                self.assertIsNone(self.py.lock(r, 'c'))
                code, out, err = self.lockcmd('status', r)
                self.assertEqual((code, err), (EXIT_OK, ''))
                self.assertTrue(out.startswith("%s is locked by 'c' since "
                                               % want), out)
                self.assertEqual(out.count('\n'), 1)
                self.assertIsNone(self.py.unlock(r, 'c'))

    def test_status_holder_is_escaped(self):
        r = self.name()
        write_lock(self.daemon.lockdir, r, b'h\x1b[31m\\\xff')
        self.assertRun(self.lockcmd('status', r), EXIT_OK, NO_ERR,
                       "%s is locked by 'h\\x1b[31m\\\\\\xff'\n" % r)
        os.unlink(os.path.join(self.daemon.lockdir, r + SUFFIX))

    def test_status_refusals(self):
        self.assertRun(self.lockcmd('status', ''), EXIT_REFUSED,
                       'Invalid resource name: it is empty')
        self.assertRun(self.lockcmd('status', 'x' * 4097), EXIT_REFUSED,
                       'Invalid resource name: longer than 4096 bytes')
        link = os.path.join(self.daemon.lockdir, self.name() + SUFFIX)
        os.symlink('nowhere', link)
        try:
            self.assertRun(self.lockcmd('status', self.name()), EXIT_FAILED,
                           re.compile(r'lockcmd: Invalid lock state: .*\n'))
        finally:
            os.unlink(link)

    def test_status_resource_may_start_with_dash(self):
        self.assertRun(self.lockcmd('status', '-x'), EXIT_NOT_LOCKED,
                       NO_ERR, '-x is not locked\n')
        self.assertRun(self.lockcmd('--', 'status', '--y'), EXIT_NOT_LOCKED,
                       NO_ERR, '--y is not locked\n')


class ListCmdTest(LockcmdTestCase):
    """lockcmd list against the real lockd, a new lock directory each."""

    def setUp(self):
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.__exit__(None, None, None)

    def start(self, setup=None):
        self.daemon = Daemon()
        if setup is not None:
            setup(self.daemon.lockdir)
        self.daemon.start()
        self.url = self.daemon.url
        self.py = self.daemon.proxy()

    def lines(self, *args):
        """The stdout lines of a successful lockcmd list ARGS, split by
        tab."""
        code, out, err = self.lockcmd('list', *args)
        self.assertEqual((code, err), (EXIT_OK, ''))
        self.assertTrue(out == '' or out.endswith('\n'), out)
        return [line.split('\t') for line in out.splitlines()]

    def test_empty(self):
        self.start()
        self.assertRun(self.lockcmd('list'), EXIT_OK, NO_ERR, '')
        self.assertRun(self.lockcmd('list', '--prefix', 'x'), EXIT_OK,
                       NO_ERR, '')

    def test_lines_filters_and_legacy(self):
        def setup(lockdir):
            write_lock(lockdir, 'old', 'host7')
        self.start(setup)
        for r, c in (('vm1', 'hostA'), ('vm2', 'hostB'), ('db1', 'hostA')):
            self.assertSilentSuccess(self.lockcmd('lock', r, c))
        rows = self.lines()
        self.assertEqual([row[:2] for row in rows],
                         [['db1', 'hostA'], ['old', 'host7'],
                          ['vm1', 'hostA'], ['vm2', 'hostB']])
        self.assertTrue(all(len(row) == 3 for row in rows))
        self.assertEqual(rows[1][2], '-')
        for row in rows[:1] + rows[2:]:
            self.assertRegex(row[2], '^%s$' % ISO_RE)
            self.assertLess(abs(iso_seconds(row[2]) - time.time()), 60)
        self.assertEqual([r[0] for r in self.lines('--prefix', 'vm')],
                         ['vm1', 'vm2'])
        self.assertEqual([r[0] for r in self.lines('--prefix=db')], ['db1'])
        self.assertEqual([r[0] for r in self.lines('--holder', 'hostA')],
                         ['db1', 'vm1'])
        self.assertEqual([r[0] for r in self.lines('--holder=host7')],
                         ['old'])
        self.assertEqual([r[0] for r in self.lines('--prefix', 'vm',
                                                   '--holder', 'hostA')],
                         ['vm1'])
        self.assertEqual(self.lines('--holder', 'hostA', '--prefix', 'x'),
                         [])
        self.assertEqual(self.lines('--prefix', ''), rows)
        # The last one given counts.
        self.assertEqual([r[0] for r in self.lines('--prefix', 'db',
                                                   '--prefix', 'vm')],
                         ['vm1', 'vm2'])

    def test_names_are_escaped(self):
        def setup(lockdir):
            write_lock(lockdir, 'a%01b',
                       'h1\nresource a%01b\nsince 1700000000\n')
            write_lock(lockdir, b'caf\xe9', b'h\xe9\x02')
            write_lock(lockdir, '\U0001F600', 'h3')
        self.start(setup)
        self.assertIsNone(self.py.lock('x\ty\nz', 'h4'))
        self.assertIsNone(self.py.lock('back\\slash', 'h\\5'))
        self.assertIsNone(self.py.lock('c1\x85bidi\u202e', 'h6'))
        code, out, err = run_bytes(['list'], self.url)
        self.assertEqual((code, err), (EXIT_OK, ''))
        rows = [line.split(b'\t') for line in out.split(b'\n')[:-1]]
        self.assertTrue(out.endswith(b'\n'))
        self.assertEqual(len(rows), 6, out)
        self.assertTrue(all(len(row) == 3 for row in rows), out)
        got = {row[0]: row[1:] for row in rows}
        self.assertEqual(got[b'a\\x01b'], [b'h1', b'2023-11-14T22:13:20Z'])
        self.assertEqual(got[b'caf\\xe9'], [b'h\\xe9\\x02', b'-'])
        self.assertEqual(got['\U0001F600'.encode()], [b'h3', b'-'])
        self.assertEqual(got[b'x\\ty\\nz'][0], b'h4')
        self.assertEqual(got[b'back\\\\slash'][0], b'h\\\\5')
        self.assertEqual(got[b'c1\\xc2\\x85bidi\\xe2\\x80\\xae'][0], b'h6')
        # Only printable bytes, tabs and newlines.
        self.assertIsNone(re.search(rb'[\x00-\x08\x0b-\x1f\x7f]', out))

    def test_pages_through_2500_locks(self):
        now = int(time.time())
        names = ['lk%05d' % i for i in range(2500)]

        def setup(lockdir):
            for i, r in enumerate(names):
                write_lock(lockdir, r, 'h%d\nresource %s\nsince %d\n'
                           % (i % 2, r, now))
        self.start(setup)
        rows = self.lines()
        self.assertEqual([row[0] for row in rows], names)
        self.assertEqual({row[2] for row in rows},
                         {time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                        time.gmtime(now))})
        rows = self.lines('--holder', 'h1')
        self.assertEqual([row[0] for row in rows], names[1::2])
        rows = self.lines('--prefix', 'lk01')
        self.assertEqual([row[0] for row in rows], names[1000:2000])

    def test_closed_stdout_is_an_error(self):
        self.start()
        self.assertSilentSuccess(self.lockcmd('lock', 'r', 'c'))
        env = {k: v for k, v in os.environ.items() if k not in _NET_ENV}
        env['LOCKD_URL'] = self.url
        for cmd in ('list', 'status r'):
            p = subprocess.run(['/bin/sh', '-c', 'exec "$0" %s >&-' % cmd,
                                lockcmd_path()], env=env,
                               stdin=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
            self.assertEqual(p.returncode, EXIT_SOFTWARE, p.stderr)
            self.assertIn(b'cannot write to standard output', p.stderr)

    def test_access_denied(self):
        conf = os.path.join(self.daemon_tmp(), 'lockd.conf')
        with open(conf, 'w') as f:
            f.write('allow 10.0.0.0/8\n')
        with Daemon(args=['--config', conf]) as d:
            for args in (['status', 'r'], ['list']):
                code, out, err = run(args, url=d.url)
                self.assertEqual((code, out), (EXIT_NOPERM, ''), err)
                self.assertTrue(err.startswith('lockcmd: Access denied'),
                                err)

    def daemon_tmp(self):
        d = tempfile.mkdtemp(prefix='lockcmd-test-')
        self.addCleanup(subprocess.run, ['rm', '-rf', d], timeout=20)
        return d


class ScriptedServerTest(ScriptedServer, LockcmdTestCase):
    """status and list against answers lockd does not give on demand."""

    def pager(self, total, fmt='r%05d'):
        """A list() that serves TOTAL locks by integer cursors."""
        def script(method, params):
            options = params[0]
            start = int(options.get('after') or 0)
            end = min(start + options['limit'], total)
            return {'locks': [{'resource': fmt % i, 'held': True,
                               'holder': 'h'} for i in range(start, end)],
                    'next': str(end) if end < total else ''}
        return script

    def test_list_requests_on_the_wire(self):
        code, out, err = self.answer(self.pager(2500), 'list')
        self.assertEqual((code, err), (EXIT_OK, ''))
        self.assertEqual(len(out.splitlines()), 2500)
        self.assertEqual(self.server.calls, [
            ('list', ({'limit': 1000},)),
            ('list', ({'limit': 1000, 'after': '1000'},)),
            ('list', ({'limit': 1000, 'after': '2000'},))])
        self.answer(self.pager(0), 'list', '--prefix', 'vm/é',
                    '--holder=h"1')
        self.assertEqual(self.server.calls, [
            ('list', ({'prefix': 'vm/é', 'holder': 'h"1', 'limit': 1000},))])

    def test_status_request_on_the_wire(self):
        self.assertRun(self.answer(lambda m, p: {'resource': p[0],
                                                 'held': False},
                                   'status', 'vm/42 é'),
                       EXIT_NOT_LOCKED, NO_ERR, 'vm/42 é is not locked\n')
        self.assertEqual(self.server.calls, [('status', ('vm/42 é',))])

    def test_status_answers(self):
        since = xmlrpc.client.DateTime('20261127T07:30:00')
        cases = [
            ({'resource': 'r', 'held': True, 'holder': 'h', 'since': since},
             EXIT_OK, "r is locked by 'h' since 2026-11-27T07:30:00Z\n"),
            ({'resource': 'r', 'held': True, 'holder': 'h'},
             EXIT_OK, "r is locked by 'h'\n"),
            ({'resource': xmlrpc.client.Binary(b'r\x01'), 'held': True,
              'holder': xmlrpc.client.Binary(b'h\r\n')},
             EXIT_OK, "r\\x01 is locked by 'h\\x0d\\n'\n"),
            # The name lockd answers about is the one printed.
            ({'resource': 'other', 'held': False}, EXIT_NOT_LOCKED,
             'other is not locked\n'),
            ({'held': False}, EXIT_NOT_LOCKED, 'asked is not locked\n'),
        ]
        for value, status, line in cases:
            with self.subTest(value=value):
                self.assertRun(self.answer(lambda m, p: value, 'status',
                                           'asked'), status, NO_ERR,
                               line)

    def test_unexpected_status_answers(self):
        for value in (None, 'held', [], {}, {'held': 'yes'},
                      {'held': True, 'resource': 'r'},
                      {'held': True, 'resource': 'r', 'holder': 5},
                      {'held': True, 'resource': 'r', 'holder': 'h',
                       'since': '2026-11-27'}):
            with self.subTest(value=value):
                code, out, err = self.answer(lambda m, p: value, 'status',
                                             'r')
                self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
                self.assertTrue(err.startswith('lockcmd: unexpected '
                                               'response'), err)

    def test_unexpected_list_answers(self):
        good = {'resource': 'r', 'held': True, 'holder': 'h'}
        for value in (None, [], {}, {'locks': []}, {'next': ''},
                      {'locks': {}, 'next': ''}, {'locks': [], 'next': 5},
                      {'locks': ['r'], 'next': ''},
                      {'locks': [{'resource': 'r'}], 'next': ''},
                      {'locks': [{'holder': 'h'}], 'next': ''},
                      {'locks': [dict(good, since=1)], 'next': ''}):
            with self.subTest(value=value):
                code, out, err = self.answer(lambda m, p: value, 'list')
                self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
                self.assertTrue(err.startswith('lockcmd: unexpected '
                                               'response'), err)

    def test_repeated_cursor_stops_the_listing(self):
        page = {'locks': [{'resource': 'r', 'held': True, 'holder': 'h'}],
                'next': 'same'}
        code, out, err = self.answer(lambda m, p: page, 'list')
        self.assertEqual(code, EXIT_SOFTWARE, err)
        self.assertEqual(err, "lockcmd: unexpected response from lockd: "
                         "the same 'next' twice\n")
        self.assertEqual(len(self.server.calls), 2)
        # What came before the failure was printed.
        self.assertEqual(out, 'r\th\t-\nr\th\t-\n')

    def test_fault_on_a_later_page(self):
        first = self.pager(1500)

        def script(method, params):
            if params[0].get('after'):
                return xmlrpc.client.Fault(FAULT_STORAGE,
                                           'Storage error: gone')
            return first(method, params)
        code, out, err = self.answer(script, 'list')
        self.assertEqual((code, err), (EXIT_FAILED,
                                       'lockcmd: Storage error: gone\n'))
        self.assertEqual(len(out.splitlines()), 1000)

    def test_faults_map_to_exit_status(self):
        for code, status in ((FAULT_PARAMS, EXIT_REFUSED),
                             (FAULT_RESOURCE, EXIT_REFUSED),
                             (FAULT_STORAGE, EXIT_FAILED),
                             (FAULT_STATE, EXIT_FAILED),
                             (FAULT_DENIED, EXIT_NOPERM),
                             (FAULT_AUTH, EXIT_NOPERM), (-506, EXIT_REFUSED)):
            fault = xmlrpc.client.Fault(code, 'fault %d' % code)
            for args in (['status', 'r'], ['list']):
                self.assertRun(self.answer(lambda m, p: fault, *args),
                               status, 'fault %d' % code)

    def test_status_with_token(self):
        since = xmlrpc.client.DateTime('20261127T07:30:00')
        big = 2 ** 63 - 1
        cases = [
            ({'resource': 'r', 'held': True, 'holder': 'h', 'since': since,
              'token': 42}, "r is locked by 'h' since 2026-11-27T07:30:00Z "
             "(token 42)\n"),
            ({'resource': 'r', 'held': True, 'holder': 'h', 'token': 7},
             "r is locked by 'h' (token 7)\n"),
        ]
        for value, line in cases:
            with self.subTest(value=value):
                self.assertRun(self.answer(lambda m, p: value, 'status',
                                           'r'), EXIT_OK, NO_ERR, line)
        # An i8 beyond what Python's marshaller sends as int.
        body = ('<?xml version="1.0"?><methodResponse><params><param>'
                '<value><struct>'
                '<member><name>resource</name><value>r</value></member>'
                '<member><name>held</name><value><boolean>1</boolean>'
                '</value></member>'
                '<member><name>holder</name><value>h</value></member>'
                '<member><name>token</name><value><i8>%d</i8></value>'
                '</member></struct></value></param></params>'
                '</methodResponse>' % big).encode()
        self.assertRun(self.answer(lambda m, p: body, 'status', 'r'),
                       EXIT_OK, NO_ERR, "r is locked by 'h' (token %d)\n"
                       % big)
        for bad in (0, -1, 'x', 1.5):
            with self.subTest(token=bad):
                value = {'resource': 'r', 'held': True, 'holder': 'h',
                         'token': bad}
                code, out, err = self.answer(lambda m, p: value, 'status',
                                             'r')
                self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
                self.assertTrue(err.startswith('lockcmd: unexpected '
                                               'response'), err)

    def test_list_ignores_token(self):
        lock = {'resource': 'r', 'held': True, 'holder': 'h', 'token': 5}
        self.assertRun(self.answer(lambda m, p: {'locks': [lock],
                                                 'next': ''}, 'list'),
                       EXIT_OK, NO_ERR, 'r\th\t-\n')

    def i8_response(self, value):
        return ('<?xml version="1.0"?><methodResponse><params><param>'
                '<value><i8>%d</i8></value></param></params>'
                '</methodResponse>' % value).encode()

    def test_lock_token_on_the_wire(self):
        big = 2 ** 63 - 1
        self.assertRun(self.answer(lambda m, p: self.i8_response(big),
                                   'lock', '--token', 'vm/42 é', 'h "1"'),
                       EXIT_OK, NO_ERR, '%d\n' % big)
        self.assertEqual(self.server.calls,
                         [('lock_token', ('vm/42 é', 'h "1"'))])
        self.assertRun(self.answer(lambda m, p: 17, 'lock', '--token',
                                   'r', 'c'), EXIT_OK, NO_ERR, '17\n')
        # A resource named like the option, after it.
        self.assertRun(self.answer(lambda m, p: 3, 'lock', '--token',
                                   '--token', 'c'), EXIT_OK, NO_ERR, '3\n')
        self.assertEqual(self.server.calls,
                         [('lock_token', ('--token', 'c'))])
        # Without --token: lock, silent.
        self.assertRun(self.answer(lambda m, p: None, 'lock', 'r', 'c'),
                       EXIT_OK, NO_ERR)
        self.assertEqual(self.server.calls, [('lock', ('r', 'c'))])
        fault = xmlrpc.client.Fault(FAULT_HELD,
                                    "Resource already locked by 'x'")
        self.assertRun(self.answer(lambda m, p: fault, 'lock', '--token',
                                   'r', 'c'), EXIT_HELD,
                       "Resource already locked by 'x'")
        for value in (None, 0, -5, '5', True, self.i8_response(0),
                      self.i8_response(-1)):
            with self.subTest(value=value):
                code, out, err = self.answer(lambda m, p: value, 'lock',
                                             '--token', 'r', 'c')
                self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
                self.assertTrue(err.startswith('lockcmd: unexpected '
                                               'response'), err)

    def test_malformed_i8_is_unexpected(self):
        # xmlrpc-c 1.33 would crash on these; lockcmd refuses them first.
        for i8 in (b'<i8>x</i8>', b'<i8>9223372036854775808</i8>',
                   b'<i8></i8>', b'<i8 >5</i8>',
                   b'<ex:i8>-9223372036854775809</ex:i8>'):
            body = (b'<?xml version="1.0"?><methodResponse><params><param>'
                    b'<value>' + i8 + b'</value></param></params>'
                    b'</methodResponse>')
            for args in (['lock', '--token', 'r', 'c'], ['status', 'r'],
                         ['lock', 'r', 'c'], ['list']):
                with self.subTest(i8=i8, args=args):
                    self.assertRun(self.answer(lambda m, p: body, *args),
                                   EXIT_SOFTWARE, 'unexpected response '
                                   'from lockd: an <i8> that is not a '
                                   '64-bit integer')

    def test_check_on_the_wire(self):
        self.assertRun(self.answer(lambda m, p: True, 'check', 'vm/42 é',
                                   'h "1"', '0042'), EXIT_OK, NO_ERR)
        # TOKEN travels as a string of decimal digits, without zeros
        # in front.
        self.assertEqual(self.server.calls,
                         [('check', ('vm/42 é', 'h "1"', '42'))])
        self.assertRun(self.answer(lambda m, p: False, 'check', 'vm/42 é',
                                   'h "1"', '9223372036854775807'),
                       EXIT_HELD, 'h "1" does not hold vm/42 é under '
                       'token 9223372036854775807')
        # Names in the message are sanitized.
        self.assertRun(self.answer(lambda m, p: False, 'check',
                                   'r\u202e[1m', 'c\x7f', '5'), EXIT_HELD,
                       'c? does not hold r?[1m under token 5')
        for code, status in ((FAULT_PARAMS, EXIT_REFUSED),
                             (FAULT_RESOURCE, EXIT_REFUSED),
                             (FAULT_CLIENT, EXIT_REFUSED),
                             (FAULT_STORAGE, EXIT_FAILED),
                             (FAULT_STATE, EXIT_FAILED),
                             (FAULT_AUTH, EXIT_NOPERM)):
            fault = xmlrpc.client.Fault(code, 'fault %d' % code)
            self.assertRun(self.answer(lambda m, p: fault, 'check', 'r',
                                       'c', '1'), status,
                           'fault %d' % code)
        for value in (None, 1, 'true', [True]):
            with self.subTest(value=value):
                code, out, err = self.answer(lambda m, p: value, 'check',
                                             'r', 'c', '1')
                self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
                self.assertTrue(err.startswith('lockcmd: unexpected '
                                               'response'), err)

    def test_large_page(self):
        # Far beyond xmlrpc-c's default 512 KiB limit for a response.
        lock = {'resource': '<' * 4096, 'held': True, 'holder': '&' * 4096}
        code, out, err = self.answer(
            lambda m, p: {'locks': [lock] * 300, 'next': ''}, 'list')
        self.assertEqual((code, err), (EXIT_OK, ''))
        self.assertEqual(out, ('<' * 4096 + '\t' + '&' * 4096 + '\t-\n')
                         * 300)


if __name__ == '__main__':
    sys.exit(main())
