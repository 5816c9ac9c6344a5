# SPDX-License-Identifier: MIT
"""Black-box tests of lockcmd(1)'s commands for acquire, renew, break_lock
and history: lock --wait/--ttl, renew, break, history, status of leases and
lock-delays.

Drives $LOCKCMD against the real lockd ($LOCKD, through harness.Daemon,
configured with "break-lock yes" and "lock-delay 1"), against a scripted
HTTP server (what goes on the wire, answers and faults lockd does not give
on demand) and against a refused port (usage errors).  Every lockcmd run
has a timeout; every wait loop is bounded in count and time.
"""
import datetime
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

import harness
import test_lockcmd as tl
from harness import Daemon, main
from harness import (EXIT_FAILED, EXIT_HELD, EXIT_NOPERM, EXIT_NOT_LOCKED,
                     EXIT_NOT_OWNER, EXIT_OK, EXIT_REFUSED, EXIT_SOFTWARE,
                     EXIT_UNREACHABLE, EXIT_USAGE, FAULT_DELAYED, FAULT_HELD,
                     FAULT_NOT_LOCKED, FAULT_NOT_OWNER, FAULT_NOT_PERMITTED,
                     FAULT_NO_LEASE, FAULT_STALE_TOKEN, FAULT_WAITERS)
from scripted import ScriptedServer

HOST = '127.0.0.1'
TIME = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'
# Seconds of lock-delay: the tests that see one must run within it, so a
# daemon under LOCKD_WRAPPER (valgrind) gets longer.
LOCK_DELAY = 5 if harness.WRAPPER else 1
CONF = 'break-lock yes\nlock-delay %d\n' % LOCK_DELAY
NO_ERR = tl.NO_ERR          # assertRun: nothing on stderr


def parse_time(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ')


def popen(args, url):
    """Starts lockcmd ARGS in the background (as tl.run, without waiting)."""
    env = {k: v for k, v in os.environ.items() if k not in tl._NET_ENV}
    env['LOCKD_URL'] = url
    return subprocess.Popen([tl.lockcmd_path()] + list(args), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def finish(proc, timeout=tl.RUN_TIMEOUT):
    """Waits for a popen() process: (status, stdout, stderr) as text."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise
    return (proc.returncode, out.decode('utf-8', 'replace'),
            err.decode('utf-8', 'replace'))


def daemon_with(conf_text):
    """A Daemon (not started) whose configuration file holds CONF_TEXT."""
    fd, path = tempfile.mkstemp(prefix='lockd-conf-', suffix='.conf')
    with os.fdopen(fd, 'w') as f:
        f.write(conf_text)
    d = Daemon(args=['--config', path])
    d.conf_path = path
    return d


def close_daemon(d):
    d.__exit__(None, None, None)
    os.unlink(d.conf_path)


class FeatureDaemonTest(tl.LockcmdTestCase):
    """The new commands against the real lockd (one daemon for the class;
    every test uses resource names of its own)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.daemon = daemon_with(CONF)
        try:
            cls.daemon.start()
        except BaseException:
            close_daemon(cls.daemon)
            raise

    @classmethod
    def tearDownClass(cls):
        close_daemon(cls.daemon)
        super().tearDownClass()

    def setUp(self):
        self.url = self.daemon.url
        self.py = self.daemon.proxy()

    def name(self, suffix=''):
        return '%s%s' % (self.id().rsplit('.', 1)[-1], suffix)

    def take_token(self, *args):
        """Runs lock --token ARGS...; returns the token (int)."""
        code, out, err = self.lockcmd('lock', '--token', *args)
        self.assertEqual(code, EXIT_OK, err)
        self.assertRegex(out, r'^[1-9]\d*\n$')
        return int(out)

    def status_line(self, resource):
        code, out, err = self.lockcmd('status', resource)
        self.assertIn(code, (EXIT_OK, EXIT_NOT_LOCKED), err)
        self.assertEqual(err, '')
        return code, out

    def wait_not_held(self, resource, seconds=15):
        """Polls status until RESOURCE is not held; returns the line."""
        deadline = time.monotonic() + seconds
        for _ in range(1000):
            code, line = self.status_line(resource)
            if code == EXIT_NOT_LOCKED:
                return line
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.fail('%s still held after %g s: %r' % (resource, seconds, line))

    # -- lock --wait / --ttl -------------------------------------------------
    def test_lock_ttl_prints_expiry_and_status_shows_the_lease(self):
        r = self.name()
        code, out, err = self.lockcmd('lock', '--token', '--ttl', '30', r,
                                      'c')
        self.assertEqual(code, EXIT_OK, err)
        token = int(out)
        m = re.fullmatch(r"lockcmd: lease on '%s' expires at (%s) "
                         r"\(ttl 30 s\)\n" % (re.escape(r), TIME), err)
        self.assertIsNotNone(m, err)
        code, line = self.status_line(r)
        self.assertEqual(code, EXIT_OK)
        m2 = re.fullmatch(r"%s is locked by 'c' since (%s) \(token %d\), "
                          r"lease expires (%s) \(ttl 30 s\)\n"
                          % (re.escape(r), TIME, token, TIME), line)
        self.assertIsNotNone(m2, line)
        self.assertEqual(m2.group(2), m.group(1))
        span = parse_time(m2.group(2)) - parse_time(m2.group(1))
        self.assertTrue(datetime.timedelta(seconds=29) <= span <=
                        datetime.timedelta(seconds=31), span)
        # Without --ttl, lock is silent, and status shows no lease.
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))
        self.assertRun(self.lockcmd('lock', '--wait', '0', r, 'c'), EXIT_OK,
                       NO_ERR)
        code, line = self.status_line(r)
        self.assertRegex(line, r"^%s is locked by 'c' since %s \(token \d+\)"
                         r"\n$" % (re.escape(r), TIME))
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))

    def test_fractional_ttl(self):
        r = self.name()
        code, out, err = self.lockcmd('lock', '--ttl', '2.5', r, 'c')
        self.assertEqual((code, out), (EXIT_OK, ''), err)
        self.assertRegex(err, r"^lockcmd: lease on '%s' expires at %s "
                         r"\(ttl 2\.5 s\)\n$" % (re.escape(r), TIME))
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))

    def test_reacquire_exits_0_and_says_so(self):
        r = self.name()
        token = self.take_token('--wait', '0', r, 'c')
        self.assertRun(self.lockcmd('lock', '--wait', '0', r, 'c'), EXIT_OK,
                       "'%s' was already held by 'c' (token %d)"
                       % (r, token))
        code, out, err = self.lockcmd('lock', '--token', '--ttl', '20', r,
                                      'c')
        self.assertEqual((code, out), (EXIT_OK, '%d\n' % token), err)
        self.assertRegex(err, r"^lockcmd: '%s' was already held by 'c' "
                         r"\(token %d\)\nlockcmd: lease on '%s' expires at "
                         r"%s \(ttl 20 s\)\n$"
                         % (re.escape(r), token, re.escape(r), TIME))
        # Plain lock still refuses it, as gocept.lockd did.
        self.assertRun(self.lockcmd('lock', r, 'c'), EXIT_HELD,
                       "Resource already locked by 'c'")
        # Another client is refused at once without --wait.
        self.assertRun(self.lockcmd('lock', '--ttl', '5', r, 'd'),
                       EXIT_HELD, "Resource already locked by 'c'")
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))

    def test_wait_succeeds_when_holder_unlocks_meanwhile(self):
        r = self.name()
        self.assertIsNone(self.py.lock(r, 'other'))
        proc = popen(['lock', '--token', '--wait', '15', r, 'c'], self.url)
        try:
            time.sleep(0.5)
            # Still waiting: the lock is held.
            self.assertIsNone(proc.poll())
            self.assertIsNone(self.py.unlock(r, 'other'))
            code, out, err = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        self.assertEqual((code, err), (EXIT_OK, ''))
        token = int(out)
        self.assertTrue(self.py.check(r, 'c', str(token)))
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))

    def test_wait_times_out_with_exit_1(self):
        r = self.name()
        self.assertIsNone(self.py.lock(r, 'other'))
        for wait in ('1', '0.5'):
            start = time.monotonic()
            self.assertRun(self.lockcmd('lock', '--wait', wait, r, 'c'),
                           EXIT_HELD, "Resource already locked by 'other'")
            self.assertGreaterEqual(time.monotonic() - start,
                                    float(wait) - 0.1)
        # The call's time-out is the wait plus --timeout: a wait longer
        # than -t still gets the daemon's answer, not 69.
        start = time.monotonic()
        self.assertRun(tl.run(['-t', '1', 'lock', '--wait', '2', r, 'c'],
                              url=self.url), EXIT_HELD,
                       "Resource already locked by 'other'")
        self.assertGreaterEqual(time.monotonic() - start, 1.9)
        self.assertIsNone(self.py.unlock(r, 'other'))

    # -- renew ---------------------------------------------------------------
    def test_renew_extends_the_lease(self):
        r = self.name()
        token = self.take_token('--ttl', '30', r, 'c')
        code, out, err = self.lockcmd('renew', '--ttl', '60', r, 'c',
                                      str(token))
        self.assertEqual((code, out), (EXIT_OK, ''), err)
        self.assertRegex(err, r"^lockcmd: lease on '%s' expires at %s "
                         r"\(ttl 60 s\)\n$" % (re.escape(r), TIME))
        code, line = self.status_line(r)
        self.assertRegex(line, r"\(token %d\), lease expires %s \(ttl 60 s\)"
                         r"\n$" % (token, TIME))
        # Without --ttl: the lease's own TTL; the token stays.
        code, out, err = self.lockcmd('renew', r, 'c', str(token))
        self.assertEqual((code, out), (EXIT_OK, ''), err)
        self.assertRegex(err, r"^lockcmd: lease on '%s' expires at %s "
                         r"\(ttl \d+ s\)\n$" % (re.escape(r), TIME))
        self.assertTrue(self.py.check(r, 'c', str(token)))
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))

    def test_renew_refusals(self):
        r = self.name()
        old = self.take_token('--ttl', '30', r, 'c')
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))
        new = self.take_token('--ttl', '30', r, 'c')
        # Stale token: CLIENT holds it under a newer one.
        self.assertRun(self.lockcmd('renew', r, 'c', str(old)), EXIT_HELD,
                       "Token %d is not the current holding of '%s' by 'c' "
                       "(current token %d)" % (old, r, new))
        # Another client's lease.
        self.assertRun(self.lockcmd('renew', r, 'd', str(new)),
                       EXIT_NOT_OWNER, re.compile(r"lockcmd: .*'c'.*\n"))
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))
        # Not held.
        self.assertRun(self.lockcmd('renew', r, 'c', str(new)),
                       EXIT_NOT_LOCKED, 'Resource not locked')
        # Not a lease.
        plain = self.take_token(r, 'c')
        self.assertRun(self.lockcmd('renew', r, 'c', str(plain)),
                       EXIT_REFUSED, 'Resource was locked without a TTL: '
                       'nothing to renew')
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))

    def test_expired_lease_cannot_be_renewed_and_is_in_history(self):
        r = self.name()
        token = self.take_token('--ttl', '0.3', r, 'c')
        line = self.wait_not_held(r)
        self.assertTrue(line.startswith('%s is not locked' % r), line)
        self.assertRun(self.lockcmd('renew', r, 'c', str(token)),
                       EXIT_NOT_LOCKED, 'Resource not locked')
        code, out, err = self.lockcmd('history', r)
        self.assertEqual((code, err), (EXIT_OK, ''))
        fields = out.split('\n')[0].split('\t')
        self.assertEqual(fields[0:2], [r, 'c'])
        self.assertEqual(fields[4:], [str(token), 'expiry', '-', '-'])

    def test_expiry_is_followed_by_lock_delay(self):
        r = self.name()
        self.take_token('--ttl', '0.3', r, 'c')
        line = self.wait_not_held(r)
        # Polled every 50 ms, a one-second lock-delay cannot be missed.
        self.assertRegex(line, r'^%s is not locked, held off until %s after '
                         r'an expired lease\n$' % (re.escape(r), TIME))
        code, out, err = self.lockcmd('lock', r, 'd')
        if code == EXIT_OK:     # the machine was slower than the delay
            self.assertSilentSuccess(self.lockcmd('unlock', r, 'd'))
            self.skipTest('lock-delay over before lock ran')
        self.assertEqual((code, out), (EXIT_HELD, ''), err)
        self.assertRegex(err, r'^lockcmd: Resource held off until \S+ after '
                         r'an expired lease \(lock-delay\)\n$')

    # -- break ---------------------------------------------------------------
    def test_break_with_reason(self):
        r = self.name()
        token = self.take_token(r, 'c')
        reason = 'host c powered off, ticket 4711'
        code, out, err = self.lockcmd('break', '--reason', reason, r)
        self.assertEqual((code, err), (EXIT_OK, ''))
        m = re.fullmatch(r"%s was locked by 'c' since %s \(token %d\): "
                         r"broken, new token (\d+), held off until (%s)\n"
                         % (re.escape(r), TIME, token, TIME), out)
        self.assertIsNotNone(m, out)
        self.assertGreater(int(m.group(1)), token)
        # Held off: status says so, lock exits 1 with the daemon's words.
        code, line = self.status_line(r)
        self.assertEqual(code, EXIT_NOT_LOCKED)
        self.assertEqual(line, '%s is not locked, held off until %s after '
                         'a break\n' % (r, m.group(2)))
        code, out, err = self.lockcmd('lock', r, 'd')
        self.assertEqual((code, out), (EXIT_HELD, ''), err)
        self.assertRegex(err, r'^lockcmd: Resource held off until \S+ after '
                         r'a break \(lock-delay\)\n$')
        # The old holder's token is dead.
        self.assertRun(self.lockcmd('check', r, 'c', str(token)), EXIT_HELD,
                       'c does not hold %s under token %d' % (r, token))
        # lock --wait waits the lock-delay out.
        code, out, err = self.lockcmd('lock', '--token', '--wait', '10', r,
                                      'd')
        self.assertEqual((code, err), (EXIT_OK, ''))
        self.assertGreater(int(out), int(m.group(1)))
        # The history shows the break, newest first.
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'd'))
        code, out, err = self.lockcmd('history', r)
        self.assertEqual((code, err), (EXIT_OK, ''))
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        d_fields = lines[0].split('\t')
        self.assertEqual(d_fields[0:2], [r, 'd'])
        self.assertEqual(d_fields[5:], ['unlock', '-', '-'])
        fields = lines[1].split('\t')
        self.assertEqual(len(fields), 8, lines[1])
        self.assertEqual(fields[0:2], [r, 'c'])
        self.assertRegex(fields[2], '^%s$' % TIME)
        self.assertRegex(fields[3], '^%s$' % TIME)
        self.assertEqual(fields[4:6], [str(token), 'break'])
        self.assertIn('127.0.0.1', fields[6])
        self.assertEqual(fields[7], reason)

    def test_break_refusals(self):
        r = self.name()
        self.assertRun(self.lockcmd('break', '--reason', 'why', r),
                       EXIT_NOT_LOCKED, 'Resource not locked')
        # A reason lockd refuses (control character): 4.
        self.take_token(r, 'c')
        code, out, err = self.lockcmd('break', '--reason', 'a\x01b', r)
        self.assertEqual((code, out), (EXIT_REFUSED, ''), err)
        self.assertTrue(tl.no_control_bytes(err), repr(err))
        self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))

    # -- history -------------------------------------------------------------
    def test_history_format(self):
        r = self.name('\tx\\y')
        clients = ['c1', 'cliënt 2', 'c3']
        tokens = []
        for c in clients:
            tokens.append(self.take_token(r, c))
            self.assertSilentSuccess(self.lockcmd('unlock', r, c))
        code, out, err = self.lockcmd('history', r)
        self.assertEqual((code, err), (EXIT_OK, ''))
        lines = out.split('\n')
        self.assertEqual(lines[-1], '')
        lines = lines[:-1]
        self.assertEqual(len(lines), 3, out)
        shown = self.name('\\tx\\\\y')
        for line, c, t in zip(lines, reversed(clients), reversed(tokens)):
            fields = line.split('\t')
            self.assertEqual(len(fields), 8, line)
            self.assertEqual(fields[0], shown)
            self.assertEqual(fields[1], c)
            self.assertRegex(fields[2], '^%s$' % TIME)
            self.assertRegex(fields[3], '^%s$' % TIME)
            self.assertLessEqual(fields[2], fields[3])
            self.assertEqual(fields[4:], [str(t), 'unlock', '-', '-'])
        # Newest first; --limit takes the newest.
        self.assertEqual(tokens, sorted(tokens))
        code, out, err = self.lockcmd('history', '--limit', '2', r)
        self.assertEqual((code, err), (EXIT_OK, ''))
        self.assertEqual(out.splitlines(), lines[:2])
        code, out, err = self.lockcmd('history', '--limit=1', r)
        self.assertEqual(out.splitlines(), lines[:1])

    def test_history_of_unknown_resource_is_empty(self):
        self.assertRun(self.lockcmd('history', self.name()), EXIT_OK,
                       NO_ERR)
        self.assertRun(self.lockcmd('history', ''), EXIT_REFUSED,
                       re.compile(r'lockcmd: Invalid resource name: .+\n'))

    def test_resource_named_like_an_option(self):
        for r in ('--wait', '--token'):
            args = ['lock', '--', r, 'c'] if r == '--wait' else \
                ['lock', '--token', '--token', 'c']
            code, out, err = self.lockcmd(*args)
            self.assertEqual(code, EXIT_OK, err)
            self.assertSilentSuccess(self.lockcmd('unlock', r, 'c'))
        code, out, err = self.lockcmd('lock', '--ttl', '5', '--', '--ttl',
                                      'c')
        self.assertEqual(code, EXIT_OK, err)
        self.assertIn("lease on '--ttl'", err)
        self.assertSilentSuccess(self.lockcmd('unlock', '--ttl', 'c'))


class LimitsDaemonTest(tl.LockcmdTestCase):
    """A daemon without break-lock and with one waiter at most."""

    @staticmethod
    def wait_quietly(d, resource, client):
        """acquire() with a 10 s wait, whatever the outcome (fault 50, or
        the daemon gone when the test failed)."""
        try:
            d.proxy().acquire(resource, client, {'wait': 10})
        except (xmlrpc.client.Error, OSError):
            pass

    def test_break_disabled_and_too_many_waiters(self):
        d = daemon_with('max-waiters 1\n')
        try:
            d.start()
            url = d.url
            self.assertIsNone(d.proxy().lock('r', 'other'))
            code, out, err = tl.run(['break', '--reason', 'x', 'r'],
                                    url=url)
            self.assertEqual((code, out), (EXIT_NOPERM, ''), err)
            self.assertTrue(err.startswith('lockcmd: Not permitted: '),
                            err)
            # A Python waiter takes the one slot; lockcmd, one more, gets
            # fault 50.  Should lockcmd come first (the waiter's thread not
            # yet waiting), it waits itself and ends with 1: try again.
            waiters = []
            for _ in range(20):
                if not any(t.is_alive() for t in waiters):
                    waiters.append(threading.Thread(
                        target=self.wait_quietly, args=(d, 'r', 'c1')))
                    waiters[-1].start()
                    time.sleep(0.3)
                code, out, err = tl.run(['lock', '--wait', '0.2', 'r',
                                         'c2'], url=url)
                if code != EXIT_HELD:
                    break
            self.assertEqual((code, out), (EXIT_FAILED, ''), err)
            self.assertRegex(err, r'^lockcmd: Too many waiters: \d+ '
                             r'requests wait already \(max-waiters\)\n$')
            self.assertIsNone(d.proxy().unlock('r', 'other'))
            for t in waiters:
                t.join(30)
                self.assertFalse(t.is_alive())
            d.__exit__(None, None, None)
        except BaseException:
            d.__exit__(*sys.exc_info())
            raise
        finally:
            os.unlink(d.conf_path)


class FeatureUsageTest(tl.LockcmdTestCase):
    """Command-line handling of the new commands; never reaches a daemon."""

    def setUp(self):
        # Any attempt to connect would end in 69, not in 64.
        self.sock, port = tl.refused_port()
        self.dead = 'http://%s:%d/' % (HOST, port)

    def tearDown(self):
        self.sock.close()

    def assertUsageError(self, args, message=None):
        code, out, err = tl.run(args, url=self.dead)
        self.assertEqual(code, EXIT_USAGE, 'args %r: %r' % (args, err))
        self.assertEqual(out, '')
        lines = err.split('\n')
        self.assertEqual(len(lines), 3, 'one reason, one hint: %r' % err)
        self.assertEqual(lines[1], "Try 'lockcmd --help'.")
        if message is not None:
            self.assertEqual(lines[0], 'lockcmd: ' + message)

    def assertReaches(self, args):
        code, out, err = tl.run(args, url=self.dead)
        self.assertEqual(code, EXIT_UNREACHABLE, 'args %r: %r' % (args, err))

    def test_break_needs_a_reason(self):
        msg = 'missing --reason TEXT: break needs a non-empty reason'
        self.assertUsageError(['break', 'r'], msg)
        self.assertUsageError(['break', '--reason', '', 'r'], msg)
        self.assertUsageError(['break', '--reason=', 'r'], msg)
        self.assertUsageError(['break', 'r', '--reason', 'x'], msg)
        self.assertUsageError(['break'], 'missing RESOURCE')
        self.assertUsageError(['break', '--reason', 'x'], 'missing RESOURCE')
        self.assertUsageError(['break', '--reason'],
                              "missing argument to option '--reason'")
        self.assertUsageError(['break', '--reason', 'x', 'r', 's'],
                              "too many arguments, from 's'")
        self.assertReaches(['break', '--reason', 'x', 'r'])
        self.assertReaches(['break', '--reason=x y', '--', '--r'])

    def test_bad_seconds(self):
        for value in ('-1', '+1', ' 1', '1 ', '1e3', 'nan', 'NaN', 'inf',
                      '-inf', '', '.', 'x', '0x10', '1,5', '1.2.3', '2592001',
                      '99999999999999999999', '1' * 40, '\u0661'):
            with self.subTest(value=value):
                self.assertUsageError(['lock', '--wait', value, 'r', 'c'])
                self.assertUsageError(['lock', '--ttl', value, 'r', 'c'])
                self.assertUsageError(['lock', '--ttl=' + value, 'r', 'c'])
                self.assertUsageError(['renew', '--ttl', value, 'r', 'c',
                                       '1'])
        self.assertUsageError(['lock', '--wait', '-5', 'r', 'c'],
                              "invalid --wait '-5': it must be a number of "
                              "seconds from 0 to 2592000, such as 30 or 2.5")
        self.assertUsageError(['renew', '--ttl', 'x\x1b', 'r', 'c', '1'],
                              "invalid --ttl 'x?': it must be a number of "
                              "seconds from 0 to 2592000, such as 30 or 2.5")

    def test_good_seconds_reach_the_daemon(self):
        for value in ('0', '30', '2.5', '.5', '5.', '0.001', '2592000',
                      '007'):
            with self.subTest(value=value):
                self.assertReaches(['lock', '--wait', value, 'r', 'c'])
                self.assertReaches(['lock', '--ttl', value, 'r', 'c'])
                self.assertReaches(['renew', '--ttl', value, 'r', 'c', '1'])

    def test_bad_limit(self):
        for value in ('0', '1001', '-1', '+5', '1.5', 'x', '', ' 5',
                      '99999999999999999999'):
            with self.subTest(value=value):
                self.assertUsageError(['history', '--limit', value, 'r'])
        self.assertUsageError(['history', '--limit', '0', 'r'],
                              "invalid --limit '0': it must be a whole "
                              "number from 1 to 1000")
        for value in ('1', '1000', '0100'):
            self.assertReaches(['history', '--limit', value, 'r'])

    def test_missing_and_extra_arguments(self):
        self.assertUsageError(['lock', '--wait', '5'],
                              'missing RESOURCE and CLIENT')
        self.assertUsageError(['lock', '--ttl', '5', 'r'], 'missing CLIENT')
        self.assertUsageError(['lock', '--wait'],
                              "missing argument to option '--wait'")
        self.assertUsageError(['lock', '--token', '--ttl'],
                              "missing argument to option '--ttl'")
        self.assertUsageError(['lock', '--wait', '1', 'r', 'c', 'x'],
                              "too many arguments, from 'x'")
        self.assertUsageError(['renew'], 'missing RESOURCE, CLIENT and '
                              'TOKEN')
        self.assertUsageError(['renew', 'r'], 'missing CLIENT and TOKEN')
        self.assertUsageError(['renew', '--ttl', '5', 'r', 'c'],
                              'missing TOKEN')
        self.assertUsageError(['renew', 'r', 'c', '1', 'x'],
                              "too many arguments, from 'x'")
        self.assertUsageError(['renew', 'r', 'c', '0'],
                              "invalid token '0': it must be a positive "
                              "whole number of at most 20 digits below 2^63")
        self.assertUsageError(['history'], 'missing RESOURCE')
        self.assertUsageError(['history', '--limit', '5'],
                              'missing RESOURCE')
        self.assertUsageError(['history', 'r', 'x'],
                              "too many arguments, from 'x'")
        # Options of a command come before its operands.
        self.assertUsageError(['history', 'r', '--limit', '5'],
                              "too many arguments, from '--limit'")
        self.assertUsageError(['lock', 'r', 'c', '--wait', '5'],
                              "too many arguments, from '--wait'")
        # ... and lockcmd's own options before the command.
        self.assertUsageError(['renew', '-t', '5', 'r', 'c', '1'])

    def test_usage_names_every_command(self):
        self.assertUsageError([], 'missing command (lock, unlock, check, '
                              'renew, status, list, history or break)')
        self.assertUsageError(['grab', 'r'], "unknown command 'grab' (lock, "
                              "unlock, check, renew, status, list, history "
                              "or break)")
        self.assertUsageError(['break_lock', '--reason', 'x', 'r'])
        self.assertUsageError(['acquire', 'r', 'c'])

    def test_names_xmlrpc_cannot_send(self):
        self.assertRun(tl.run(['break', '--reason', 'smile \U0001F600', 'r'],
                              url=self.dead), EXIT_USAGE,
                       'RESOURCE and REASON must be UTF-8 without '
                       'characters above U+FFFF')
        self.assertRun(tl.run(['history', b'bad \xff'], url=self.dead),
                       EXIT_USAGE, 'RESOURCE must be UTF-8 without '
                       'characters above U+FFFF')
        self.assertRun(tl.run(['lock', '--wait', '1', 'r', b'\xff'],
                              url=self.dead), EXIT_USAGE,
                       'RESOURCE and CLIENT must be UTF-8 without '
                       'characters above U+FFFF')

    def test_help(self):
        code, out, err = tl.run(['--help'], url=self.dead)
        self.assertEqual((code, err), (EXIT_OK, ''))
        for words in ('lock [--token] [--wait SECONDS] [--ttl SECONDS]',
                      'renew [--ttl SECONDS] RESOURCE CLIENT TOKEN',
                      'history [--limit N] RESOURCE',
                      'break --reason TEXT RESOURCE'):
            self.assertIn(words, out)
        self.assertEqual(tl.help_exit_codes(out), tl.ALL_CODES)
        self.assertTrue(all(len(line) <= 79 for line in out.split('\n')),
                        out)

    def test_man_page(self):
        page = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            '..', '..', 'client', 'lockcmd.1')
        with open(page, encoding='utf-8') as f:
            text = f.read()
        synopsis = text.split('.Sh SYNOPSIS', 1)[1].split('.Sh ', 1)[0]
        for cmd in ('renew', 'history', 'break'):
            self.assertIn('.Cm %s\n' % cmd, synopsis)
        for opt in ('wait', 'ttl', 'limit', 'reason'):
            self.assertIn('Fl \\-%s Ar' % opt, synopsis)
        section = text.split('.Sh EXIT STATUS', 1)[1].split('.Sh ', 1)[0]
        for fault in ('fault 4', 'fault 5', 'fault 6', '43', 'fault 50'):
            self.assertIn(fault, section)


class _QuietServer(http.server.ThreadingHTTPServer):
    """Says nothing when lockcmd gave up before the answer (a time-out)."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FeatureScriptedTest(ScriptedServer, tl.LockcmdTestCase):
    """What lockcmd sends, and makes of answers and faults lockd does not
    give on demand."""
    server_class = _QuietServer

    def grant(self, **extra):
        value = {'token': 42, 'reacquired': False,
                 'since': xmlrpc.client.DateTime('20261127T07:30:00'),
                 'waited': 0.0}
        value.update(extra)
        return lambda m, p: value

    def test_acquire_on_the_wire(self):
        cases = [
            (['lock', '--wait', '2.5', 'vm/42 é', 'h "1"'],
             ('vm/42 é', 'h "1"', {'wait': 2.5})),
            (['lock', '--ttl', '30', '--token', 'r', 'c'],
             ('r', 'c', {'ttl': 30.0})),
            (['lock', '--wait=0', '--ttl=0', 'r', 'c'],
             ('r', 'c', {'wait': 0.0, 'ttl': 0.0})),
            (['lock', '--token', '--wait', '1', '--', '--token', 'c'],
             ('--token', 'c', {'wait': 1.0})),
        ]
        for args, params in cases:
            with self.subTest(args=args):
                code, out, err = self.answer(self.grant(), *args)
                self.assertEqual((code, err), (EXIT_OK, ''))
                self.assertEqual(out, '42\n' if '--token' in args[:4]
                                 else '')
                self.assertEqual(self.server.calls, [('acquire', params)])
                for v in params[2].values():
                    self.assertIsInstance(v, float)
        # Without --wait and --ttl: lock and lock_token as before.
        self.answer(lambda m, p: None, 'lock', 'r', 'c')
        self.assertEqual(self.server.calls, [('lock', ('r', 'c'))])
        self.answer(lambda m, p: 5, 'lock', '--token', 'r', 'c')
        self.assertEqual(self.server.calls, [('lock_token', ('r', 'c'))])

    def test_grant_answers(self):
        exp = xmlrpc.client.DateTime('20261127T07:31:00')
        self.assertRun(self.answer(self.grant(reacquired=True), 'lock',
                                   '--wait', '1', 'r\u202e', 'c'), EXIT_OK,
                       "'r?' was already held by 'c' (token 42)")
        self.assertRun(self.answer(self.grant(ttl=60.0, expires=exp), 'lock',
                                   '--token', '--ttl', '60', 'r', 'c'),
                       EXIT_OK, "lease on 'r' expires at "
                       "2026-11-27T07:31:00Z (ttl 60 s)", '42\n')
        self.assertRun(self.answer(self.grant(ttl=0.25, expires=exp), 'lock',
                                   '--ttl', '0.25', 'r', 'c'), EXIT_OK,
                       "lease on 'r' expires at 2026-11-27T07:31:00Z "
                       "(ttl 0.25 s)")
        bad = [None, 42, {}, {'reacquired': False}, {'token': 0,
               'reacquired': False}, {'token': 'x', 'reacquired': False},
               {'token': 1}, {'token': 1, 'reacquired': 'no'},
               {'token': 1, 'reacquired': False, 'expires': 'soon'},
               {'token': 1, 'reacquired': False, 'ttl': -1.0},
               {'token': 1, 'reacquired': False, 'ttl': 'x'}]
        for value in bad:
            with self.subTest(value=value):
                code, out, err = self.answer(lambda m, p: value, 'lock',
                                             '--token', '--wait', '1', 'r',
                                             'c')
                self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
                self.assertTrue(err.startswith('lockcmd: unexpected '
                                               'response'), err)

    def test_renew_on_the_wire(self):
        exp = xmlrpc.client.DateTime('20261127T07:31:00')
        answer = self.grant(reacquired=True, ttl=30.0, expires=exp)
        self.assertRun(self.answer(answer, 'renew', 'r', 'c', '0042'),
                       EXIT_OK, "lease on 'r' expires at "
                       "2026-11-27T07:31:00Z (ttl 30 s)")
        self.assertEqual(self.server.calls, [('renew', ('r', 'c', '42'))])
        self.answer(answer, 'renew', '--ttl', '1.5', 'r', 'c', '7')
        self.assertEqual(self.server.calls,
                         [('renew', ('r', 'c', '7', 1.5))])
        self.answer(answer, 'renew', '--ttl=0', 'r', 'c', '7')
        self.assertEqual(self.server.calls,
                         [('renew', ('r', 'c', '7', 0.0))])

    def test_break_on_the_wire(self):
        since = xmlrpc.client.DateTime('20261127T07:30:00')
        until = xmlrpc.client.DateTime('20261127T07:31:00')
        full = {'resource': 'vm42', 'holder': 'h\tx', 'since': since,
                'token': 41, 'new_token': 57, 'delay_until': until}
        self.assertRun(self.answer(lambda m, p: full, 'break', '--reason',
                                   'down, ticket 1', 'vm42'), EXIT_OK,
                       NO_ERR, "vm42 was locked by 'h\\tx' since "
                       "2026-11-27T07:30:00Z (token 41): broken, new token "
                       "57, held off until 2026-11-27T07:31:00Z\n")
        self.assertEqual(self.server.calls,
                         [('break_lock', ('vm42', 'down, ticket 1'))])
        bare = {'holder': '', 'new_token': 3}
        self.assertRun(self.answer(lambda m, p: bare, 'break', '--reason=x',
                                   '--', '--r'), EXIT_OK, NO_ERR,
                       "--r was locked by '': broken, new token 3\n")
        self.assertEqual(self.server.calls, [('break_lock', ('--r', 'x'))])
        for value in (None, [], {'new_token': 3}, {'holder': 'h'},
                      {'holder': 'h', 'new_token': 0},
                      {'holder': 'h', 'new_token': 3, 'since': 'x'},
                      {'holder': 'h', 'new_token': 3, 'delay_until': 1}):
            with self.subTest(value=value):
                code, out, err = self.answer(lambda m, p: value, 'break',
                                             '--reason', 'x', 'r')
                self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)
                self.assertTrue(err.startswith('lockcmd: unexpected '
                                               'response'), err)

    def test_history_on_the_wire(self):
        since = xmlrpc.client.DateTime('20261127T07:30:00')
        until = xmlrpc.client.DateTime('20261127T07:31:00')
        entries = [
            {'resource': 'r', 'holder': 'c2', 'token': 9, 'since': since,
             'until': until, 'ended': 'break', 'by': 'user admin from ::1',
             'reason': 'tab\there\\'},
            {'resource': xmlrpc.client.Binary(b'r\x01'), 'holder':
             xmlrpc.client.Binary(b'h\r\n'), 'until': until,
             'ended': 'unlock'},
        ]
        code, out, err = self.answer(lambda m, p: entries, 'history', 'r')
        self.assertEqual((code, err), (EXIT_OK, ''))
        self.assertEqual(out,
                         'r\tc2\t2026-11-27T07:30:00Z\t2026-11-27T07:31:00Z\t'
                         '9\tbreak\tuser admin from ::1\ttab\\there\\\\\n'
                         'r\\x01\th\\x0d\\n\t-\t2026-11-27T07:31:00Z\t-\t'
                         'unlock\t-\t-\n')
        self.assertEqual(self.server.calls, [('history', ('r',))])
        self.answer(lambda m, p: [], 'history', '--limit', '7', 'r')
        self.assertEqual(self.server.calls, [('history', ('r',
                                                          {'limit': 7}))])
        self.assertRun(self.answer(lambda m, p: [], 'history', 'r'),
                       EXIT_OK, NO_ERR)
        good = entries[0]
        for value in (None, {}, 'x', [None], [5],
                      [dict(good, until='x')],
                      [{k: v for k, v in good.items() if k != 'until'}],
                      [{k: v for k, v in good.items() if k != 'ended'}],
                      [{k: v for k, v in good.items() if k != 'holder'}],
                      [dict(good, token=0)], [dict(good, since=3)]):
            with self.subTest(value=value):
                code, out, err = self.answer(lambda m, p: value, 'history',
                                             'r')
                self.assertEqual(code, EXIT_SOFTWARE, err)
                self.assertTrue(err.startswith('lockcmd: unexpected '
                                               'response'), err)

    def test_status_of_leases_and_lock_delays(self):
        since = xmlrpc.client.DateTime('20261127T07:30:00')
        exp = xmlrpc.client.DateTime('20261127T07:30:30')
        held = {'resource': 'r', 'held': True, 'holder': 'h', 'since': since,
                'token': 42}
        cases = [
            (dict(held, ttl=30.0, expires=exp), EXIT_OK,
             "r is locked by 'h' since 2026-11-27T07:30:00Z (token 42), "
             "lease expires 2026-11-27T07:30:30Z (ttl 30 s)\n"),
            (dict(held, ttl=1.5, expires=exp), EXIT_OK,
             "r is locked by 'h' since 2026-11-27T07:30:00Z (token 42), "
             "lease expires 2026-11-27T07:30:30Z (ttl 1.5 s)\n"),
            ({'resource': 'r', 'held': False, 'delay_until': exp,
              'delay_cause': 'break'}, EXIT_NOT_LOCKED,
             'r is not locked, held off until 2026-11-27T07:30:30Z after a '
             'break\n'),
            ({'resource': 'r', 'held': False, 'delay_until': exp,
              'delay_cause': 'expiry'}, EXIT_NOT_LOCKED,
             'r is not locked, held off until 2026-11-27T07:30:30Z after an '
             'expired lease\n'),
            ({'resource': 'r', 'held': False, 'delay_until': exp},
             EXIT_NOT_LOCKED,
             'r is not locked, held off until 2026-11-27T07:30:30Z\n'),
        ]
        for value, status, line in cases:
            with self.subTest(value=value):
                self.assertRun(self.answer(lambda m, p: value, 'status', 'r'),
                               status, NO_ERR, line)
        for value in (dict(held, expires='x'), dict(held, ttl='x',
                                                    expires=exp),
                      {'resource': 'r', 'held': False, 'delay_until': 5}):
            with self.subTest(value=value):
                code, out, err = self.answer(lambda m, p: value, 'status',
                                             'r')
                self.assertEqual((code, out), (EXIT_SOFTWARE, ''), err)

    def test_new_faults_map_to_exit_status(self):
        cases = [(FAULT_HELD, EXIT_HELD), (FAULT_DELAYED, EXIT_HELD),
                 (FAULT_STALE_TOKEN, EXIT_HELD), (FAULT_NO_LEASE,
                                                  EXIT_REFUSED),
                 (FAULT_NOT_PERMITTED, EXIT_NOPERM),
                 (FAULT_WAITERS, EXIT_FAILED),
                 (FAULT_NOT_OWNER, EXIT_NOT_OWNER),
                 (FAULT_NOT_LOCKED, EXIT_NOT_LOCKED)]
        for code, status in cases:
            fault = xmlrpc.client.Fault(code, 'fault %d' % code)
            for args in (['lock', '--wait', '1', 'r', 'c'],
                         ['renew', 'r', 'c', '1'],
                         ['break', '--reason', 'x', 'r'],
                         ['history', 'r'], ['lock', 'r', 'c']):
                with self.subTest(code=code, args=args):
                    self.assertRun(self.answer(lambda m, p: fault, *args),
                                   status, 'fault %d' % code)

    def test_call_timeout_includes_the_wait(self):
        def slow(method, params):
            time.sleep(2)
            return self.grant()(method, params)
        start = time.monotonic()
        self.assertRun(self.answer(slow, '-t', '1', 'lock', '--wait', '1.5',
                                   'r', 'c'), EXIT_OK, NO_ERR)
        self.assertGreaterEqual(time.monotonic() - start, 1.9)
        # Without the wait, -t 1 gives up.
        code, out, err = self.answer(slow, '-t', '1', 'lock', '--ttl', '5',
                                     'r', 'c')
        self.assertEqual((code, out), (EXIT_UNREACHABLE, ''), err)
        self.assertIn('no answer within 1 second', err)


if __name__ == '__main__':
    sys.exit(main())
