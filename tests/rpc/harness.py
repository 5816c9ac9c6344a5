# SPDX-License-Identifier: MIT
"""Black-box test harness: starts the real lockd on a free loopback port.

    from harness import Daemon, main
    with Daemon() as d:
        d.proxy().lock('r', 'c')

The daemon binary is $LOCKD (set by `make check`).  Every process the
harness starts is tracked by PID and killed at exit, on a suite timeout and
on SIGTERM; every network call made through the helpers has a timeout.
"""
import atexit
import faulthandler
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest
import xmlrpc.client

# lockd's fault codes (FAULT_HELD ...) and lockcmd's exit statuses
# (EXIT_OK ...), read from lib/protocol.h.
from codes import *  # noqa: F401,F403

HOST = '127.0.0.1'
START_TIMEOUT = float(os.environ.get('LOCKD_START_TIMEOUT', '15'))
STOP_TIMEOUT = float(os.environ.get('LOCKD_STOP_TIMEOUT', '15'))
SUITE_TIMEOUT = float(os.environ.get('LOCKD_SUITE_TIMEOUT', '900'))
CALL_TIMEOUT = 30.0

# LOCKD_WRAPPER="valgrind --error-exitcode=99 ...": every daemon runs under
# this command (split like a shell would); it starts slower, so the start
# timeout is ten times longer.  A wrapper's own error status (99) makes the
# exit-status checks of the tests fail.
WRAPPER = shlex.split(os.environ.get('LOCKD_WRAPPER', ''))
if WRAPPER:
    START_TIMEOUT *= 10

# Safety net: no socket of the test process blocks forever, whoever made it.
socket.setdefaulttimeout(60)

LISTEN_RE = re.compile(r'^lockd: listening on http://127\.0\.0\.1:(\d+)/$',
                       re.M)

# Development hook, not used by `make check`: LOCKD_HARNESS_REF=path of
# ref_lockd.py runs the Python reference daemon instead of $LOCKD (it prints
# no listening line and uses fault code 1 for everything: smoke tests only).
_REF = os.environ.get('LOCKD_HARNESS_REF')

# LOCKD_TEST_BACKEND=etcd: every Daemon keeps its locks in etcd instead of
# its lock directory (--backend etcd), at LOCKD_TEST_ETCD_ENDPOINTS, or in
# one etcd this process starts (tests/etcd/etcdrun.py) when that is unset.
# The key prefix is derived from the Daemon's lock directory, so daemons
# that share a directory share their locks, as they would on disk.  Tests
# about the lock directory itself are skipped then (ETCD_SKIPS, main()).
BACKEND = os.environ.get('LOCKD_TEST_BACKEND', 'dir')
if BACKEND not in ('dir', 'etcd'):
    raise RuntimeError('LOCKD_TEST_BACKEND must be dir or etcd, not %r'
                       % BACKEND)
_etcd = {'endpoints': os.environ.get('LOCKD_TEST_ETCD_ENDPOINTS'),
         'cluster': None}

_live = {}                      # pid -> Popen of every running daemon
_live_lock = threading.Lock()
_tmpdirs = set()                # temporary directories not yet removed


def _kill_all_live():
    with _live_lock:
        procs = list(_live.values())
        _live.clear()
    for p in procs:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _cleanup_at_exit():
    _kill_all_live()
    for d in list(_tmpdirs):
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_at_exit)


def lockd_path():
    """Absolute path of the daemon under test ($LOCKD)."""
    path = os.environ.get('LOCKD')
    if not path:
        raise RuntimeError('LOCKD is not set: export LOCKD=/abs/path/to/'
                           'server/lockd (make check does this)')
    if not os.access(path, os.X_OK):
        raise RuntimeError('LOCKD=%s is not an executable file' % path)
    return path


class _Transport(xmlrpc.client.Transport):
    """xmlrpc.client transport whose connections have a timeout."""

    def __init__(self, timeout):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


def free_port():
    """A loopback port that was free a moment ago (for fixed-port tests)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Daemon:
    """One lockd process (restartable) on a lock directory.

    lockdir None: a fresh temporary directory, removed by close()/__exit__.
    args: extra daemon arguments.  port: fixed port for every start
    (default: 0, the kernel picks a new one at each start).
    """

    def __init__(self, lockdir=None, args=(), port=None):
        self._own_lockdir = lockdir is None
        self.lockdir = tempfile.mkdtemp(prefix='lockd-dir-') \
            if lockdir is None else lockdir
        if self._own_lockdir:
            _tmpdirs.add(self.lockdir)
        self.args = list(args)
        self._fixed_port = port
        self._tmp = tempfile.mkdtemp(prefix='lockd-harness-')
        _tmpdirs.add(self._tmp)
        self._runs = 0
        self._stderr_path = None
        self._expected_exit = False
        self.proc = None
        self.port = None
        self.pid = None
        self.url = None

    # -- process ----------------------------------------------------------
    def start(self):
        """Starts the daemon and waits until it listens."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError('daemon already running (pid %d)'
                               % self.proc.pid)
        self._runs += 1
        self._stderr_path = os.path.join(self._tmp,
                                         'stderr.%d.log' % self._runs)
        stdout_path = os.path.join(self._tmp, 'stdout.%d.log' % self._runs)
        port = self._fixed_port or 0
        if _REF:
            port = port or free_port()
            cmd = [sys.executable, _REF, '--port', str(port), '--lockdir',
                   self.lockdir, '--quiet', '--threading',
                   '--lifetime', '300']
        else:
            cmd = [lockd_path(), '--foreground', '--listen', HOST,
                   '--port', str(port), '--lockdir', self.lockdir]
            cmd += self._isolation_args() + self._backend_args()
            cmd += self.args
            cmd = WRAPPER + cmd
        with open(self._stderr_path, 'wb') as err, \
                open(stdout_path, 'wb') as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err,
                                         close_fds=True)
        with _live_lock:
            _live[self.proc.pid] = self.proc
        self.pid = self.proc.pid
        self._expected_exit = False
        try:
            self.port = self._wait_ready(port)
        except BaseException:
            self._reap(signal.SIGKILL, 5)
            raise
        self.url = 'http://%s:%d/' % (HOST, self.port)
        return self

    def _isolation_args(self):
        """Keeps the host out of the test: an empty configuration file
        instead of the installed one, and, when the tests run as root, no
        switch to the service user (who could not use a root-owned
        temporary lock directory).  Not added when ARGS sets them."""
        extra = []
        given = {a.split('=', 1)[0] for a in self.args}
        if not given & {'-c', '--config'}:
            conf = os.path.join(self._tmp, 'empty.conf')
            open(conf, 'a').close()
            extra += ['--config', conf]
        if os.geteuid() == 0 and not given & {'-u', '--user'}:
            extra += ['--user', 'root']
        return extra

    def _backend_args(self):
        """--backend etcd and where, under LOCKD_TEST_BACKEND=etcd."""
        if BACKEND != 'etcd':
            return []
        return ['--backend', 'etcd', '--etcd-endpoints', etcd_endpoints(),
                '--etcd-prefix', etcd_prefix(self.lockdir)]

    def _wait_ready(self, port):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    'lockd exited with status %s before listening; '
                    'command %r; stderr:\n%s'
                    % (self.proc.returncode, self.proc.args,
                       self.stderr_text()))
            if _REF:
                try:
                    socket.create_connection((HOST, port), 0.5).close()
                    return port
                except OSError:
                    pass
            else:
                m = LISTEN_RE.search(self.stderr_text())
                if m:
                    got = int(m.group(1))
                    if port and got != port:
                        raise RuntimeError('asked for port %d, lockd says '
                                           'it listens on %d' % (port, got))
                    if got == 0:
                        raise RuntimeError('lockd reports port 0')
                    return got
            time.sleep(0.02)
        raise RuntimeError('lockd did not print its listening line within '
                           '%g s; stderr:\n%s'
                           % (START_TIMEOUT, self.stderr_text()))

    def _reap(self, sig, timeout):
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
            with _live_lock:
                _live.pop(p.pid, None)
            raise
        with _live_lock:
            _live.pop(p.pid, None)
        return p.returncode

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit status (0 expected).

        Fails (after SIGKILL) if the daemon does not exit within TIMEOUT.
        If the daemon had already exited, returns its status.
        """
        if self.proc is None:
            return None
        self._expected_exit = True
        try:
            return self._reap(signal.SIGTERM, timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError('lockd (pid %d) did not exit within %g s '
                                 'of SIGTERM; killed. stderr:\n%s'
                                 % (self.pid, timeout, self.stderr_text()))

    def kill(self):
        """SIGKILL and wait; returns the exit status (-9)."""
        if self.proc is None:
            return None
        self._expected_exit = True
        return self._reap(signal.SIGKILL, 10)

    def alive(self):
        """Whether the daemon process still runs (os.kill(pid, 0))."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            os.kill(self.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def close(self):
        """Kills a running daemon and removes the temporary directories."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self._tmp, ignore_errors=True)
        _tmpdirs.discard(self._tmp)
        if self._own_lockdir:
            shutil.rmtree(self.lockdir, ignore_errors=True)
            _tmpdirs.discard(self.lockdir)

    def __enter__(self):
        if self.proc is None or self.proc.poll() is not None:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, etype, exc, tb):
        """Stops the daemon.  Without an exception in flight this also
        fails if the daemon died unexpectedly or exits non-zero (sanitizer
        reports, leaks); with one, it prints the daemon's stderr tail."""
        problem = None
        text = ''
        try:
            if self.proc is not None:
                if self.proc.poll() is not None:
                    if not self._expected_exit:
                        problem = ('lockd died unexpectedly with status %s'
                                   % self.proc.returncode)
                    with _live_lock:
                        _live.pop(self.proc.pid, None)
                else:
                    try:
                        st = self.stop()
                        if st != 0 and not _REF:
                            problem = ('lockd exited with status %s after '
                                       'SIGTERM' % st)
                    except AssertionError as e:
                        problem = str(e)
            text = self.stderr_text(all_runs=True)[-4000:]
            if etype is not None:
                sys.stderr.write('--- lockd stderr (last 4000 chars) ---\n%s'
                                 '\n--- end ---\n' % text)
        finally:
            self.close()
        if problem and etype is None:
            raise AssertionError(problem + '; stderr:\n' + text)
        return False

    # -- output and clients ------------------------------------------------
    def stderr_text(self, all_runs=False):
        """What the daemon printed on stderr in its current (or last) run;
        all_runs=True: every run of this Daemon, in order."""
        paths = []
        if all_runs:
            paths = [os.path.join(self._tmp, 'stderr.%d.log' % i)
                     for i in range(1, self._runs + 1)]
        elif self._stderr_path:
            paths = [self._stderr_path]
        out = []
        for p in paths:
            try:
                with open(p, 'rb') as f:
                    out.append(f.read().decode('utf-8', 'replace'))
            except FileNotFoundError:
                pass
        return ''.join(out)

    def waiting(self):
        """Acquires waiting now (the lockd_waiting gauge of /metrics)."""
        _, _, body = parse_http(raw_http(self.port,
                                         http_request('GET', '/metrics')))
        m = re.search(rb'^lockd_waiting (\d+)$', body, re.M)
        if m is None:
            raise AssertionError('no lockd_waiting in /metrics')
        return int(m.group(1))

    def wait_waiting(self, n, timeout=START_TIMEOUT):
        """Waits until N acquires wait: a waiter has queued, not just been
        sent (a fixed sleep fails on a busy machine)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.waiting()
            if got == n:
                return
            time.sleep(0.01)
        raise AssertionError('%d waiters did not queue within %g s (%d)'
                             % (n, timeout, got))

    def proxy(self, path='/', timeout=CALL_TIMEOUT):
        """ServerProxy on PATH ('' posts to /RPC2), allow_none, timeout."""
        if self.port is None:
            raise RuntimeError('daemon not started')
        return xmlrpc.client.ServerProxy(
            'http://%s:%d%s' % (HOST, self.port, path), allow_none=True,
            transport=_Transport(timeout))


# -- the etcd backend --------------------------------------------------------
def etcd_endpoints():
    """The etcd the daemons use under LOCKD_TEST_BACKEND=etcd: the given
    one, else one started (once) for this process and stopped at exit."""
    if _etcd['endpoints'] is None:
        sys.path.insert(0, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), '..', 'etcd'))
        import etcdrun
        cluster = etcdrun.Etcd(members=1)
        cluster.start()
        atexit.register(cluster.stop)
        _etcd['cluster'] = cluster
        _etcd['endpoints'] = cluster.endpoints
    return _etcd['endpoints']


def etcd_prefix(lockdir):
    """The etcd key prefix standing for LOCKDIR: unique per directory (and
    per test process, so that reruns start empty)."""
    import hashlib
    digest = hashlib.sha256(os.path.realpath(lockdir).encode()).hexdigest()
    return '/lockd-test/%d-%s/' % (os.getpid(), digest[:16])


def skip_unless_dir(reason):
    """Decorator: the test is about the lock directory itself (its files,
    crashes between them, the filesystem) and is skipped on etcd."""
    return unittest.skipIf(BACKEND != 'dir', 'lock directory only: ' + reason)


# Tests of the shared suites that are about the lock directory itself,
# skipped under LOCKD_TEST_BACKEND=etcd: "module.Class.test" (or a prefix
# ending in '.') -> why.  Kept here so that the suites themselves run on
# both backends unchanged.
_FILES = 'checks or writes lock files on disk'
_LEGACY = "gocept.lockd's lock files (written by hand)"
_SETUP = 'its locks are written as files before lockd starts'
_WHOLE_SECONDS = ('etcd leases have whole seconds, at least etcd\'s '
                  'minimum TTL: a fractional TTL is rounded up')
ETCD_SKIPS = {
    'test_protocol.SeedScenario.': _FILES + ' (the seed scenario runs on '
    'etcd in tests/unit/test_etcd)',
    'test_protocol.Contract.test_race_one_winner': 'reads the winner from '
    'its lock file (the race runs on etcd in tests/unit/test_etcd and '
    'tests/etcd/test_etcd_cluster.py)',
    'test_protocol.Contract.test_legacy_lock_files': _LEGACY,
    'test_protocol.Contract.test_odd_names_independent': _FILES,
    'test_protocol.Contract.test_plain_name_layout': 'lock file names',
    'test_protocol.Contract.test_unsafe_name_layout': 'lock file names',
    'test_inspect.StatusTest.test_holder_with_control_character_comes_'
    'back_as_base64': 'only a hand-written lock file has such a holder',
    'test_inspect.StatusTest.test_since_is_utc': _SETUP,
    'test_inspect.StatusTest.test_empty_legacy_file_is_held_by_empty_name':
    _LEGACY,
    'test_inspect.StatusTest.test_invalid_lock_state': 'a symbolic link or '
    'directory in the lock directory',
    'test_inspect.StatusTest.test_legacy_file_of_a_name_lockd_escapes':
    _LEGACY,
    'test_inspect.StatusTest.test_legacy_lock_file': _LEGACY,
    'test_inspect.ListTest.test_default_limit_pages_two_thousand': _SETUP,
    'test_inspect.ListTest.test_legacy_file_of_a_name_lockd_escapes_is_'
    'listed': _LEGACY,
    'test_inspect.ListTest.test_legacy_file_with_leading_dot_is_listed':
    _LEGACY,
    'test_inspect.ListTest.test_legacy_files_are_listed': _LEGACY,
    'test_inspect.ListTest.test_listing_while_locks_change': _SETUP +
    ' (listing under churn on etcd: tests/etcd/test_etcd_cluster.py)',
    'test_inspect.ListTest.test_names_xml_cannot_carry_come_back_as_base64':
    _SETUP,
    'test_inspect.ListTest.test_not_lock_files_are_skipped': 'other files '
    'in the lock directory',
    'test_tokens.TokenTest.test_legacy_lock_files_have_no_token': _LEGACY,
    'test_tokens.LargeTokenTest.': 'seeds the token counter file (etcd '
    'revisions cannot be set)',
    'test_lockcmd.ListCmdTest.test_lines_filters_and_legacy': _LEGACY,
    'test_lockcmd.ListCmdTest.test_names_are_escaped': _SETUP,
    'test_lockcmd.ListCmdTest.test_pages_through_2500_locks': _SETUP,
    'test_lockcmd.StatusCmdTest.test_status_holder_is_escaped': _SETUP,
    'test_lockcmd.StatusCmdTest.test_status_of_legacy_lock_has_no_since':
    _LEGACY,
    'test_lockcmd.StatusCmdTest.test_status_refusals': 'a symbolic link in '
    'the lock directory',
    'test_lockcmd.StatusCmdTest.test_status_since_is_utc': _SETUP,
    'test_features.AcquireTest.test_lease_expires_renews_and_is_recorded':
    _WHOLE_SECONDS + ' (leases on etcd: tests/unit/test_etcd)',
    'test_lockcmd_features.FeatureDaemonTest.test_fractional_ttl':
    _WHOLE_SECONDS,
    'test_metrics.Health.': 'the health probe of the lock directory',
    'test_metrics.LocksHeld.test_counts_the_locks_in_the_directory': _SETUP,
}


def _apply_etcd_skips(suite, module):
    """Marks the tests of SUITE (from MODULE, a file name without .py)
    listed in ETCD_SKIPS as skipped."""
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            _apply_etcd_skips(test, module)
            continue
        tid = test.id()
        short = module + '.' + tid.split('.', 1)[1] \
            if tid.startswith('__main__.') else tid
        for key, why in ETCD_SKIPS.items():
            if short == key or (key.endswith('.') and
                                short.startswith(key)):
                method = getattr(type(test), test._testMethodName)
                method.__unittest_skip__ = True
                method.__unittest_skip_why__ = 'lock directory only: ' + why
                break


# -- raw HTTP ---------------------------------------------------------------
def _response_complete(buf):
    """Whether BUF holds a full HTTP response (by Content-Length)."""
    end = buf.find(b'\r\n\r\n')
    if end < 0:
        return False
    m = re.search(rb'(?im)^content-length:\s*(\d+)\s*$', buf[:end])
    if m is None:
        return False        # read to EOF
    return len(buf) >= end + 4 + int(m.group(1))


def raw_http(port, data, timeout=5, half_close=False):
    """Sends DATA to 127.0.0.1:PORT and returns the response bytes.

    Reads until the peer closes, or a complete response (by Content-Length)
    has arrived.  TIMEOUT bounds the whole call: TimeoutError if no complete
    response arrived by then (partial data is returned if any).  Errors
    while sending (the peer may answer early and close) are ignored; a reset
    returns what was received, or raises if nothing was.  half_close: shut
    down the sending side after DATA.
    """
    deadline = time.monotonic() + timeout
    s = socket.create_connection((HOST, port), timeout=timeout)
    buf = b''
    try:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if buf:
                    return buf
                raise TimeoutError('no response within %g s' % timeout)
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                if buf:
                    return buf
                raise TimeoutError('no response within %g s' % timeout)
            except ConnectionResetError:
                if buf:
                    return buf
                raise
            if not chunk:
                return buf
            buf += chunk
            if _response_complete(buf):
                return buf
    finally:
        s.close()


def http_request(method, path, body=b'', headers=(), content_length=None):
    """Bytes of an HTTP/1.1 request with Connection: close."""
    if content_length is None:
        content_length = len(body)
    lines = ['%s %s HTTP/1.1' % (method, path), 'Host: %s' % HOST,
             'Connection: close']
    if method == 'POST' or body:
        lines.append('Content-Type: text/xml')
        lines.append('Content-Length: %d' % content_length)
    lines.extend(headers)
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('ascii') + body


def parse_http(resp):
    """(status, {lower-case header: value}, body) of a response."""
    head, sep, body = resp.partition(b'\r\n\r\n')
    if not sep:
        raise ValueError('no complete HTTP header in %r' % resp[:200])
    lines = head.decode('latin-1').split('\r\n')
    m = re.match(r'HTTP/1\.[01] (\d{3})', lines[0])
    if m is None:
        raise ValueError('not an HTTP status line: %r' % lines[0])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers, body


def xmlrpc_post(port, body, path='/', timeout=5):
    """POSTs BODY (bytes) raw; returns (status, response body)."""
    status, _, rbody = parse_http(raw_http(
        port, http_request('POST', path, body), timeout=timeout))
    return status, rbody


def xmlrpc_result(rbody):
    """Decodes a methodResponse: the value, or raises xmlrpc.client.Fault."""
    params, _ = xmlrpc.client.loads(rbody, use_builtin_types=True)
    return params[0]


# -- unittest support ---------------------------------------------------------
class SharedDaemon:
    """Mixin: one daemon (cls.daemon) for the whole TestCase class, whose
    tests use resource names of their own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.daemon = Daemon()
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)
        super().tearDownClass()


class LockdTestCase(unittest.TestCase):
    """TestCase with fault assertions."""

    def assertFault(self, code, message, fn, *args):
        """FN(*ARGS) raises Fault CODE; MESSAGE (str: exact, compiled
        regex: fullmatch, None: any).  Returns the Fault."""
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            fn(*args)
        f = cm.exception
        self.assertEqual(f.faultCode, code,
                         'fault code for %r: %r' % (args, f.faultString))
        if isinstance(message, str):
            self.assertEqual(f.faultString, message)
        elif message is not None:
            self.assertRegex(f.faultString, message)
            self.assertTrue(message.fullmatch(f.faultString),
                            '%r does not fully match %r'
                            % (f.faultString, message.pattern))
        return f


class ConfTestCase(LockdTestCase):
    """A test that starts daemons with a configuration file of its own,
    in a temporary directory (self.tmp) removed after the test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='lockd-conf-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def daemon(self, conf_text):
        conf = os.path.join(self.tmp, 'lockd.conf')
        with open(conf, 'w') as f:
            f.write(conf_text)
        return Daemon(args=['--config', conf])


class _CountingResult(unittest.TextTestResult):
    """Keeps running counts so a timeout can still report a summary."""
    current = None

    def startTest(self, test):
        _CountingResult.current = str(test)
        super().startTest(test)


def _failed(result):
    """Number of tests that failed or erred (a test that fails in its body
    and again in tearDown counts once; class fixtures count as one each)."""
    if result is None:
        return 0
    return len({str(t) for t, _ in result.failures + result.errors}
               | {str(t) for t in result.unexpectedSuccesses})


def _summary(run, bad, skipped=0):
    """The suite-result line; a skipped test is neither passed nor
    failed."""
    return 'suite-result: %d passed, %d failed' % (
        max(run - bad - skipped, 0), bad)


def _skipped(result):
    return len(result.skipped) if result is not None else 0


def main(argv=None):
    """Runs the tests of __main__; last stdout line is the suite-result
    summary.  Returns 0 if all passed, else 1.  argv: test names."""
    argv = sys.argv[1:] if argv is None else argv
    module = sys.modules['__main__']
    loader = unittest.TestLoader()
    if argv:
        suite = loader.loadTestsFromNames(argv, module)
    else:
        suite = loader.loadTestsFromModule(module)
    if BACKEND == 'etcd':
        _apply_etcd_skips(suite, os.path.splitext(os.path.basename(
            getattr(module, '__file__', '') or ''))[0])
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2,
                                     resultclass=_CountingResult)
    state = {'result': None}

    def on_timeout():
        sys.stderr.write('\n*** suite timeout (%g s) in %s; thread stacks:\n'
                         % (SUITE_TIMEOUT, _CountingResult.current))
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        _cleanup_at_exit()
        r = state['result']
        run = r.testsRun if r else 0
        sys.stdout.write(_summary(run, _failed(r) + 1, _skipped(r)) + '\n')
        sys.stdout.flush()
        os._exit(1)

    def on_term(signum, frame):
        raise KeyboardInterrupt('signal %d' % signum)

    watchdog = threading.Timer(SUITE_TIMEOUT, on_timeout)
    watchdog.daemon = True
    watchdog.start()
    old = signal.signal(signal.SIGTERM, on_term)
    orig_make = runner._makeResult

    def make_result():
        state['result'] = orig_make()
        return state['result']
    runner._makeResult = make_result
    try:
        result = runner.run(suite)
        bad = _failed(result)
        run = result.testsRun
        skipped = _skipped(result)
    except KeyboardInterrupt:
        traceback.print_exc()
        r = state['result']
        run = r.testsRun if r else 0
        bad = _failed(r) + 1
        skipped = _skipped(r)
    finally:
        watchdog.cancel()
        signal.signal(signal.SIGTERM, old)
        _kill_all_live()
    sys.stderr.flush()
    sys.stdout.write(_summary(run, bad, skipped) + '\n')
    sys.stdout.flush()
    return 0 if bad == 0 else 1
