# SPDX-License-Identifier: MIT
"""acquire (waiting, leases, reacquiring), renew, break_lock, history and
the lock-delay of the real daemon, through Python's xmlrpc.client: the
contract PROTOCOL states, and the configuration that shapes it."""
import datetime
import os
import pwd
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xmlrpc.client

from harness import (CALL_TIMEOUT, HOST, Daemon, LockdTestCase, _Transport,
                     http_request, main)
from harness import (FAULT_AUTH, FAULT_DELAYED, FAULT_FORBIDDEN, FAULT_HELD,
                     FAULT_NOT_LOCKED, FAULT_NOT_OWNER, FAULT_NOT_PERMITTED,
                     FAULT_NO_LEASE, FAULT_PARAMS, FAULT_STALE_TOKEN,
                     FAULT_STORAGE, FAULT_WAITERS)
from test_access import write_users

WAIT_SLACK = 3.0        # seconds a wait may overrun on a loaded machine
LATENCY_ROUNDS = 10
# The median wake-up shows that an unlock wakes its waiter (< 50 ms); the
# slowest may meet a busy machine but stays below the 1 s fallback poll.
MAX_WAKEUP = 0.9
DELAYED_RE = re.compile(r'Resource held off until \S+ after an? '
                        r'(break|expired lease) \(lock-delay\)')


def parse_dt(v):
    """A DateTime member as an aware UTC datetime."""
    return datetime.datetime.strptime(v.value, '%Y%m%dT%H:%M:%S').replace(
        tzinfo=datetime.timezone.utc)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class ConfDaemon:
    """A Daemon with a configuration file of TEXT."""

    @staticmethod
    def make(text, lockdir=None):
        fd, path = tempfile.mkstemp(prefix='lockd-features-', suffix='.conf')
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        d = Daemon(lockdir=lockdir, args=['--config', path])
        d.conf_path = path
        return d


class Call(threading.Thread):
    """FN(*ARGS) in a thread: .result or .fault, .done_at (monotonic)."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.fault = self.error = None
        self.done_at = None

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except xmlrpc.client.Fault as f:
            self.fault = f
        except Exception as e:          # reported by the test
            self.error = e
        self.done_at = time.monotonic()

    def finish(self, timeout=CALL_TIMEOUT):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError('call %r did not return within %g s'
                                 % (self.args, timeout))
        if self.error is not None:
            raise self.error
        return self


class FeaturesCase(LockdTestCase):
    """One daemon for the class, configured by CONF."""
    CONF = 'lock-delay 1\nbreak-lock yes\n'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.daemon = ConfDaemon.make(cls.CONF)
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)
        os.unlink(cls.daemon.conf_path)
        super().tearDownClass()

    def setUp(self):
        self.p = self.daemon.proxy()
        self.n = 0

    def name(self):
        self.n += 1
        return '%s-%d' % (self.id().rsplit('.', 1)[-1], self.n)

    def wait_until(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.02)
        self.fail('not within %g s: %s' % (timeout, what))

    def start_waiter(self, r, client, wait, daemon=None):
        """An acquire with WAIT in a thread, returned once it waits."""
        d = daemon or self.daemon
        n = d.waiting()
        c = Call(d.proxy().acquire, r, client, {'wait': wait})
        c.start()
        d.wait_waiting(n + 1)
        return c


class AcquireTest(FeaturesCase):

    def test_result_members(self):
        r = self.name()
        before = utcnow().replace(microsecond=0)
        g = self.p.acquire(r, 'c', {})
        self.assertEqual(set(g), {'token', 'reacquired', 'since', 'waited'})
        self.assertIsInstance(g['token'], int)
        self.assertGreater(g['token'], 0)
        self.assertIs(g['reacquired'], False)
        self.assertEqual(g['waited'], 0.0)
        self.assertLessEqual(before, parse_dt(g['since']))
        self.assertIs(self.p.check(r, 'c', str(g['token'])), True)
        st = self.p.status(r)
        self.assertEqual((st['holder'], st['token']), ('c', g['token']))
        self.assertNotIn('ttl', st)
        self.assertIsNone(self.p.unlock(r, 'c'))
        lease = self.p.acquire(r, 'c', {'ttl': 30, 'wait': 0})
        self.assertEqual(set(lease), {'token', 'reacquired', 'since',
                                      'waited', 'ttl', 'expires'})
        self.assertEqual(lease['ttl'], 30.0)
        left = (parse_dt(lease['expires']) - utcnow()).total_seconds()
        self.assertTrue(27 <= left <= 31, left)
        self.assertGreater(lease['token'], g['token'])
        self.assertIsNone(self.p.unlock(r, 'c'))

    def test_reacquire_keeps_the_token_and_lock_still_refuses(self):
        r = self.name()
        g = self.p.acquire(r, 'c', {})
        again = self.p.acquire(r, 'c', {})
        self.assertIs(again['reacquired'], True)
        self.assertEqual(again['token'], g['token'])
        self.assertEqual(again['since'].value, g['since'].value)
        # The original behaviour of lock() is untouched.
        self.assertFault(FAULT_HELD, "Resource already locked by 'c'",
                         self.p.lock, r, 'c')
        self.assertFault(FAULT_HELD, "Resource already locked by 'c'",
                         self.p.acquire, r, 'other', {})
        self.assertIs(self.p.check(r, 'c', g['token']), True)
        self.assertIsNone(self.p.unlock(r, 'c'))

    def test_wait_times_out_with_fault_1_not_earlier(self):
        r = self.name()
        self.p.lock(r, 'holder')
        t0 = time.monotonic()
        self.assertFault(FAULT_HELD, "Resource already locked by 'holder'",
                         self.p.acquire, r, 'w', {'wait': 0.6})
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.6)
        self.assertLess(took, 0.6 + WAIT_SLACK)
        self.assertEqual(self.p.status(r)['holder'], 'holder')
        self.assertIsNone(self.p.unlock(r, 'holder'))

    def measure_wakeups(self, waiter_daemon, unlock_daemon):
        """Latency from the unlock reply to the waiter's reply, rounds."""
        r = self.name()
        unlocker = unlock_daemon.proxy()
        lat = []
        for i in range(LATENCY_ROUNDS):
            unlocker.lock(r, 'holder')
            c = self.start_waiter(r, 'w%d' % i, 10, daemon=waiter_daemon)
            self.assertTrue(c.is_alive(), 'the waiter did not wait')
            unlocker.unlock(r, 'holder')
            replied = time.monotonic()
            c.finish()
            self.assertIsNone(c.fault)
            self.assertIs(c.result['reacquired'], False)
            self.assertGreater(c.result['waited'], 0.0)
            lat.append(max(0.0, c.done_at - replied))
            waiter_daemon.proxy().unlock(r, 'w%d' % i)
        return lat

    @staticmethod
    def report(what, lat):
        """Puts the measured wake-ups into the test log."""
        sys.stderr.write('[wake-up after an unlock %s: median %.1f ms, '
                         'max %.1f ms, %d rounds] ' % (
                             what, statistics.median(lat) * 1000,
                             max(lat) * 1000, len(lat)))

    def test_waiter_woken_fast_by_unlock_on_same_daemon(self):
        lat = self.measure_wakeups(self.daemon, self.daemon)
        self.report('through the same daemon', lat)
        self.assertLess(statistics.median(lat), 0.050, lat)
        self.assertLess(max(lat), MAX_WAKEUP, lat)

    def test_waiter_woken_fast_by_unlock_on_another_daemon(self):
        with Daemon(lockdir=self.daemon.lockdir) as other:
            lat = self.measure_wakeups(self.daemon, other)
        self.report('through another daemon', lat)
        self.assertLess(statistics.median(lat), 0.050, lat)
        self.assertLess(max(lat), MAX_WAKEUP, lat)

    def test_waiters_are_served_in_arrival_order(self):
        r = self.name()
        self.p.lock(r, 'holder')
        order, lock = [], threading.Lock()

        def take_and_pass(client):
            g = self.daemon.proxy().acquire(r, client, {'wait': 15})
            with lock:
                order.append(client)
            self.daemon.proxy().unlock(r, client)
            return g

        calls = []
        n0 = self.daemon.waiting()
        for i in range(5):
            calls.append(Call(take_and_pass, 'w%d' % i))
            calls[-1].start()
            self.daemon.wait_waiting(n0 + i + 1)
        self.assertEqual(order, [])
        self.p.unlock(r, 'holder')
        for c in calls:
            c.finish()
            self.assertIsNone(c.fault)
        self.assertEqual(order, ['w%d' % i for i in range(5)])
        self.assertIs(self.p.status(r)['held'], False)

    def gone_waiter(self, r, client):
        """A raw connection whose acquire waits; close it to leave.  The
        waiters then are self.n0 + 1."""
        self.n0 = self.daemon.waiting()
        body = xmlrpc.client.dumps((r, client, {'wait': 15}), 'acquire',
                                   allow_none=True).encode()
        s = socket.create_connection((HOST, self.daemon.port), timeout=10)
        s.sendall(http_request('POST', '/RPC2', body))
        self.daemon.wait_waiting(self.n0 + 1)
        return s

    def test_disconnected_waiter_is_dropped_for_the_next(self):
        r = self.name()
        self.p.lock(r, 'holder')
        gone = self.gone_waiter(r, 'gone')
        nxt = self.start_waiter(r, 'next', 15)
        gone.close()
        self.daemon.wait_waiting(self.n0 + 1)   # noticed within ~100 ms
        self.assertIsNone(self.p.unlock(r, 'holder'))
        nxt.finish()
        self.assertIsNone(nxt.fault)
        self.assertEqual(self.p.status(r)['holder'], 'next')
        self.assertIsNone(self.p.unlock(r, 'next'))
        said = re.compile(r"acquire '%s' client 'gone' from [^:]+:\d+: "
                          r"refused \(cancelled\)" % re.escape(r))
        self.wait_until(lambda: said.search(self.daemon.stderr_text()), 5,
                        'the log says the gone waiter was cancelled')

    def test_disconnected_only_waiter_gets_nothing(self):
        r = self.name()
        self.p.lock(r, 'holder')
        gone = self.gone_waiter(r, 'gone')
        gone.close()
        self.daemon.wait_waiting(self.n0)
        self.assertIsNone(self.p.unlock(r, 'holder'))
        time.sleep(0.3)
        self.assertIs(self.p.status(r)['held'], False)

    def test_lease_expires_renews_and_is_recorded(self):
        r = self.name()
        g = self.p.acquire(r, 'c', {'ttl': 2})
        t0 = time.monotonic()
        st = self.p.status(r)
        self.assertEqual(st['ttl'], 2.0)
        self.assertIn('expires', st)
        time.sleep(0.8)
        rn = self.p.renew(r, 'c', str(g['token']), 3)
        self.assertEqual((rn['token'], rn['reacquired'], rn['waited'],
                          rn['ttl']), (g['token'], True, 0.0, 3.0))
        # Past the first TTL (0.4 s after it), 1.4 s before the renewed
        # one ends: slack for a busy machine.
        time.sleep(max(0.0, 2.4 - (time.monotonic() - t0)))
        self.assertEqual(self.p.status(r).get('holder'), 'c')
        self.assertIs(self.p.check(r, 'c', g['token']), True)
        self.wait_until(lambda: not self.p.status(r)['held'], 5,
                        'the lease expires')
        self.assertIs(self.p.check(r, 'c', g['token']), False)
        # The record may trail status() by one sweep of the expiry thread.
        self.wait_until(lambda: self.p.history(r), 3,
                        'the expiry is in the history')
        h = self.p.history(r)
        self.assertEqual((h[0]['ended'], h[0]['holder'], h[0]['token']),
                         ('expiry', 'c', g['token']))
        self.assertNotIn('by', h[0])
        # The lock-delay (1 s) follows the expiry.
        st = self.p.status(r)
        self.assertEqual(st.get('delay_cause'), 'expiry', st)
        self.assertFault(FAULT_DELAYED, DELAYED_RE, self.p.acquire, r, 'd', {})
        t0 = time.monotonic()
        g2 = self.p.acquire(r, 'd', {'wait': 5})
        self.assertLess(time.monotonic() - t0, 1 + WAIT_SLACK)
        self.assertGreater(g2['token'], g['token'])
        self.assertIsNone(self.p.unlock(r, 'd'))
        # The expired holder cannot renew any more.
        self.assertFault(FAULT_NOT_LOCKED, None, self.p.renew, r, 'c',
                         g['token'])

    def test_renew_faults(self):
        r = self.name()
        g = self.p.acquire(r, 'c', {'ttl': 30})
        self.assertFault(FAULT_STALE_TOKEN,
                         re.compile(r'Token \d+ is not the current '
                                       r'holding of .*'),
                         self.p.renew, r, 'c', g['token'] - 1)
        self.assertFault(FAULT_NOT_OWNER, None, self.p.renew, r, 'other',
                         g['token'])
        self.assertIsNone(self.p.unlock(r, 'c'))
        self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked', self.p.renew,
                         r, 'c', g['token'])
        t = self.p.lock_token(r, 'c')
        self.assertFault(FAULT_NO_LEASE,
                         'Resource was locked without a TTL: nothing '
                         'to renew', self.p.renew, r, 'c', t)
        self.assertIsNone(self.p.unlock(r, 'c'))

    def test_break_lock(self):
        r = self.name()
        t0 = self.p.lock_token(r, 'h')
        b = self.p.break_lock(r, 'stuck since Monday')
        self.assertEqual((b['resource'], b['holder'], b['token']),
                         (r, 'h', t0))
        self.assertGreater(b['new_token'], t0)
        self.assertIn('since', b)
        self.assertIn('delay_until', b)
        self.assertIs(self.p.check(r, 'h', t0), False)
        st = self.p.status(r)
        self.assertEqual((st['held'], st.get('delay_cause')),
                         (False, 'break'), st)
        self.assertFault(FAULT_DELAYED, DELAYED_RE, self.p.acquire, r, 'n', {})
        self.assertFault(FAULT_DELAYED, DELAYED_RE, self.p.lock, r, 'n')
        g = self.p.acquire(r, 'n', {'wait': 5})
        self.assertGreater(g['token'], b['new_token'])
        h = self.p.history(r)
        self.assertEqual((h[0]['ended'], h[0]['holder'], h[0]['token'],
                          h[0]['reason']),
                         ('break', 'h', t0, 'stuck since Monday'))
        self.assertRegex(h[0]['by'], r'^127\.0\.0\.1:\d+$')
        self.assertIsNone(self.p.unlock(r, 'n'))
        self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked',
                         self.p.break_lock, r, 'again')
        self.assertRegex(self.daemon.stderr_text(),
                         r"break_lock '%s' from [^:]+:\d+: broken: "
                         r".*reason: stuck since Monday" % re.escape(r))

    def test_break_reason_is_checked(self):
        r = self.name()
        self.p.lock(r, 'h')
        for reason in ('', 'two\nlines', 'tab\there', 'x' * 1001, 5, None):
            with self.subTest(reason=reason):
                self.assertFault(FAULT_PARAMS,
                                 re.compile(r'break_lock: .*reason.*'),
                                 self.p.break_lock, r, reason)
        self.assertFault(FAULT_PARAMS, re.compile('break_lock takes .*'),
                         self.p.break_lock, r)
        self.assertEqual(self.p.status(r)['holder'], 'h')
        b = self.p.break_lock(r, 'x' * 1000)
        self.assertEqual(b['holder'], 'h')

    def test_history_newest_first_with_limit(self):
        r = self.name()
        tokens = []
        for c in ('c1', 'c2', 'c3'):
            tokens.append(self.p.lock_token(r, c))
            self.assertIsNone(self.p.unlock(r, c))
        h = self.p.history(r)
        self.assertEqual([e['holder'] for e in h], ['c3', 'c2', 'c1'])
        self.assertEqual([e['token'] for e in h], tokens[::-1])
        for e in h:
            self.assertEqual((e['resource'], e['ended']), (r, 'unlock'))
            self.assertLessEqual(parse_dt(e['since']), parse_dt(e['until']))
            self.assertNotIn('reason', e)
        self.assertEqual([e['holder'] for e in
                          self.p.history(r, {'limit': 2})], ['c3', 'c2'])
        self.assertEqual(self.p.history(self.name()), [])

    def test_bad_options_name_the_parameter(self):
        r = self.name()
        p = self.p
        cases = [
            (p.acquire, (r, 'c'), 'acquire takes 3 parameters'),
            (p.acquire, (r, 'c', {}, 1), 'acquire takes 3 parameters'),
            (p.acquire, (5, 'c', {}), r'parameter 1 \(resource\)'),
            (p.acquire, (r, None, {}), r'parameter 2 \(client\)'),
            (p.acquire, (r, 'c', 5), r'parameter 3 \(options\)'),
            (p.acquire, (r, 'c', {'wait': -1}), "option 'wait'"),
            (p.acquire, (r, 'c', {'wait': 3601}), "option 'wait'"),
            (p.acquire, (r, 'c', {'wait': float('nan')}), "option 'wait'"),
            (p.acquire, (r, 'c', {'wait': 'x'}), "option 'wait'"),
            (p.acquire, (r, 'c', {'ttl': -0.5}), "option 'ttl'"),
            (p.acquire, (r, 'c', {'ttl': 86401}), "option 'ttl'"),
            (p.acquire, (r, 'c', {'ttl': float('inf')}), "option 'ttl'"),
            (p.acquire, (r, 'c', {'ttl': True}), "option 'ttl'"),
            (p.acquire, (r, 'c', {'tll': 5}), "unknown option 'tll'"),
            (p.renew, (r, 'c'), 'renew takes 3 or 4 parameters'),
            (p.renew, (r, 'c', 0), r'parameter 3 \(token\)'),
            (p.renew, (r, 'c', 'abc'), r'parameter 3 \(token\)'),
            (p.renew, (r, 'c', 1, -1), r'parameter 4 \(ttl\)'),
            (p.renew, (r, 'c', 1, 'x'), r'parameter 4 \(ttl\)'),
            (p.renew, (r, 5, 1), r'parameter 2 \(client\)'),
            (p.break_lock, (r, 'x', 'y'), 'break_lock takes 2'),
            (p.break_lock, (5, 'x'), r'parameter 1 \(resource\)'),
            (p.history, (), 'history takes 1 or 2 parameters'),
            (p.history, (5,), r'parameter 1 \(resource\)'),
            (p.history, (r, []), r'parameter 2 \(options\)'),
            (p.history, (r, {'limit': 0}), "option 'limit'"),
            (p.history, (r, {'limit': 1001}), "option 'limit'"),
            (p.history, (r, {'limit': '5'}), "option 'limit'"),
            (p.history, (r, {'limt': 5}), "unknown option 'limt'"),
        ]
        for fn, args, pattern in cases:
            with self.subTest(args=args, pattern=pattern):
                f = self.assertFault(FAULT_PARAMS, None, fn, *args)
                self.assertRegex(f.faultString, pattern)
        self.assertIs(self.p.status(r)['held'], False)

    def test_introspection(self):
        methods = self.p.system.listMethods()
        for m in ('acquire', 'renew', 'break_lock', 'history'):
            self.assertIn(m, methods)
            self.assertIn(m + '(', self.p.system.methodHelp(m))
        self.assertEqual(self.p.system.methodSignature('acquire'),
                         [['struct', 'string', 'string', 'struct']])


class MaxWaitersTest(FeaturesCase):
    CONF = 'max-waiters 2\nmax-connections 16\n'

    def test_one_more_waiter_gets_fault_50_at_once(self):
        r = self.name()
        self.p.lock(r, 'holder')
        w = [self.start_waiter(r, 'w%d' % i, 15) for i in range(2)]
        t0 = time.monotonic()
        self.assertFault(FAULT_WAITERS, re.compile(r'Too many waiters: .*'),
                         self.p.acquire, r, 'w2', {'wait': 15})
        self.assertLess(time.monotonic() - t0, WAIT_SLACK)
        # Not waiting is still fine.
        self.assertFault(FAULT_HELD, None, self.p.acquire, r, 'w3', {})
        self.p.unlock(r, 'holder')
        w[0].finish()
        self.p.unlock(r, 'w0')
        w[1].finish()
        self.p.unlock(r, 'w1')
        self.assertEqual([c.fault for c in w], [None, None])

    def test_break_lock_is_off_by_default(self):
        r = self.name()
        self.p.lock(r, 'h')
        self.assertFault(FAULT_NOT_PERMITTED,
                         'Not permitted: break_lock is disabled on '
                         'this server', self.p.break_lock, r, 'why')
        self.assertEqual(self.p.status(r)['holder'], 'h')


class ConfigTest(LockdTestCase):

    def check(self, text):
        # --check also wants the user and lock directory to exist.
        with tempfile.NamedTemporaryFile('w', suffix='.conf') as f, \
                tempfile.TemporaryDirectory() as locks:
            f.write(text)
            f.flush()
            return subprocess.run([os.environ['LOCKD'], '--check',
                                   '--config', f.name, '--lockdir', locks,
                                   '--user', pwd.getpwuid(os.geteuid())[0]],
                                  capture_output=True, text=True,
                                  timeout=20, stdin=subprocess.DEVNULL)

    def test_defaults_are_printed(self):
        r = self.check('')
        self.assertEqual(r.returncode, 0, r.stderr)
        for line in ('lock-delay 15', 'break-lock no', 'history-size 4M',
                     'max-waiters 256', 'max-wait 3600', 'max-ttl 86400'):
            self.assertIn(line + '\n', r.stdout)

    def test_values_and_limits(self):
        r = self.check('lock-delay 0\nbreak-lock yes\nhistory-size 512K\n'
                       'max-waiters 10\nmax-wait 86400\nmax-ttl 60\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        for line in ('lock-delay 0', 'break-lock yes', 'history-size 512K',
                     'max-waiters 10', 'max-wait 86400', 'max-ttl 60'):
            self.assertIn(line + '\n', r.stdout)
        r = self.check('history-size 0\n')
        self.assertIn('history-size 0\n', r.stdout)
        bad = ['lock-delay 3601', 'lock-delay -1', 'break-lock maybe',
               'history-size 2G', 'history-size 1.5M', 'history-size M',
               'max-wait 86401', 'max-waiters x', 'max-ttl -5']
        r = self.check('\n'.join(bad) + '\n')
        self.assertEqual(r.returncode, 1, r.stderr)
        for i in range(len(bad)):
            self.assertIn(':%d: ' % (i + 1), r.stderr)

    def test_max_waiters_must_be_below_max_connections(self):
        r = self.check('max-connections 100\nmax-waiters 100\n')
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('max-waiters 100 must be less than max-connections',
                      r.stderr)
        self.assertEqual(self.check('max-connections 100\nmax-waiters '
                                    '99\n').returncode, 0)


class ReloadAndAuthTest(LockdTestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='lockd-features-')
        self.conf = os.path.join(self.tmp, 'lockd.conf')

    def tearDown(self):
        subprocess.run(['rm', '-rf', self.tmp], timeout=20)

    def daemon(self, text):
        with open(self.conf, 'w') as f:
            f.write(text)
        return Daemon(args=['--config', self.conf])

    def test_sighup_turns_break_lock_on(self):
        with self.daemon('lock-delay 0\n') as d:
            p = d.proxy()
            p.lock('r', 'h')
            self.assertFault(FAULT_NOT_PERMITTED, None, p.break_lock, 'r',
                             'why')
            with open(self.conf, 'w') as f:
                f.write('lock-delay 0\nbreak-lock yes\n')
            os.kill(d.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while 'max-ttl applied' not in d.stderr_text():
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            self.assertEqual(p.break_lock('r', 'why')['holder'], 'h')
            # lock-delay 0: free at once.
            self.assertIsNone(p.lock('r', 'n'))

    def wait_log(self, d, text, timeout=5):
        deadline = time.monotonic() + timeout
        while text not in d.stderr_text():
            self.assertLess(time.monotonic(), deadline,
                            'no %r in the log' % text)
            time.sleep(0.05)

    def test_reload_does_not_wait_for_waiters(self):
        with self.daemon('') as d:
            p = d.proxy()
            p.lock('r', 'h')
            w = Call(d.proxy().acquire, 'r', 'w', {'wait': 20})
            w.start()
            d.wait_waiting(1)
            os.kill(d.pid, signal.SIGHUP)
            self.wait_log(d, 'access rules (allow, auth-file) applied')
            self.assertTrue(w.is_alive())
            p.unlock('r', 'h')
            self.assertIsNone(w.finish().fault)
            self.assertEqual(p.status('r')['holder'], 'w')

    def test_stop_ends_waits_with_fault_20(self):
        with self.daemon('') as d:
            d.proxy().lock('r', 'h')
            w = Call(d.proxy().acquire, 'r', 'w', {'wait': 60})
            w.start()
            d.wait_waiting(1)
            t0 = time.monotonic()
            self.assertEqual(d.stop(timeout=10), 0)
            self.assertLess(time.monotonic() - t0, 6)
            w.finish()
            self.assertEqual((w.fault.faultCode, w.fault.faultString),
                             (FAULT_STORAGE,
                              'Request cancelled: lockd is stopping'))

    def test_break_lock_needs_role_admin(self):
        users = os.path.join(self.tmp, 'users')
        write_users(users, {'host3': ('pw3', 'client', 'host3'),
                            'ops': ('pwo', 'admin', '*')})
        with self.daemon('break-lock yes\nauth-file %s\n' % users) as d:
            def proxy(user, pw):
                return xmlrpc.client.ServerProxy(
                    'http://%s:%s@%s:%d/' % (user, pw, HOST, d.port),
                    allow_none=True, transport=_Transport(CALL_TIMEOUT))
            h3, ops = proxy('host3', 'pw3'), proxy('ops', 'pwo')
            g = h3.acquire('r', 'host3', {})
            self.assertFault(FAULT_FORBIDDEN, None, h3.acquire, 'r', 'ops', {})
            self.assertFault(FAULT_FORBIDDEN, None, h3.renew, 'r', 'ops',
                             g['token'])
            self.assertFault(FAULT_NOT_PERMITTED,
                             "Not permitted: user 'host3' needs role "
                             "admin for break_lock", h3.break_lock, 'r',
                             'mine')
            self.assertFault(FAULT_AUTH, None, d.proxy().break_lock, 'r',
                             'anon')
            b = ops.break_lock('r', 'host3 is dead')
            self.assertEqual((b['holder'], b['token']), ('host3', g['token']))
            h = ops.history('r', {'limit': 1})
            self.assertRegex(h[0]['by'], r"^user 'ops' from 127\.0\.0\.1:\d+$")
            self.assertEqual(h[0]['reason'], 'host3 is dead')


class TokenCrashTest(LockdTestCase):

    def test_tokens_stay_monotonic_across_kill_9(self):
        conf = ConfDaemon.make('break-lock yes\nlock-delay 0\n')
        try:
            with conf as d:
                p = d.proxy()
                seen = [p.lock_token('a', 'c'),
                        p.acquire('b', 'c', {})['token'],
                        p.acquire('c', 'c', {'ttl': 60})['token']]
                seen.append(p.break_lock('a', 'crash test')['new_token'])
                d.kill()
                d.start()
                p = d.proxy()
                fresh = [p.acquire('a', 'c', {})['token'],
                         p.lock_token('d', 'c')]
                self.assertGreater(min(fresh), max(seen), (seen, fresh))
                self.assertEqual(p.status('b')['token'], seen[1])
                seen += fresh
                seen.append(p.break_lock('b', 'again')['new_token'])
                d.kill()
                d.start()
                p = d.proxy()
                self.assertGreater(p.acquire('e', 'c', {})['token'],
                                   max(seen))
        finally:
            os.unlink(conf.conf_path)


if __name__ == '__main__':
    raise SystemExit(main())
