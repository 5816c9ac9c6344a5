#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Several lockd daemons on one etcd, and etcd losing members.

- Two lockd daemons on different ports sharing one etcd member: many
  clients race through both; tests/stress/lockstress.py's checker proves
  from the recorded history that no lock had two holders, no refusal was
  inconsistent and no acknowledged operation was lost (final state read
  from etcd itself).  A listing under churn reports every stable lock once.
- A 3-member etcd cluster on loopback: sustained locking through two lockd
  daemons while the etcd leader is killed (SIGKILL): the same checks, and
  the time until service resumes is measured and printed.
- With 2 of 3 members down, lockd answers a storage fault (20) and
  /healthz 503, never a grant; with a quorum again it serves again.
- etcd over TLS with client certificates (--client-cert-auth): lockd
  with etcd-cacert, etcd-cert and etcd-key works; without its certificate
  it answers storage faults.

etcd is started here (tests/etcd/etcdrun.py) on free ports with temporary
data directories and stopped by PID.  Skips when etcd is not installed.
"""
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'rpc'))
sys.path.insert(0, os.path.join(HERE, '..', 'stress'))

import etcdrun                                          # noqa: E402
import harness                                          # noqa: E402
import lockstress                                       # noqa: E402
from harness import Daemon, LockdTestCase, main         # noqa: E402
from harness import FAULT_HELD, FAULT_STORAGE  # noqa: E402

HAVE_ETCD = etcdrun.etcd_binary() is not None
CALL_TIMEOUT = 30.0
# "Within a few seconds": an etcd election takes about one (election
# timeout 1 s), lockd's per-request timeout is 2 s.  Generous for a
# loaded CI machine.
RESUME_LIMIT = 15.0


def lockd_on(endpoints, prefix, extra=()):
    """A Daemon keeping its locks in etcd ENDPOINTS under PREFIX."""
    return Daemon(args=['--backend', 'etcd', '--etcd-endpoints', endpoints,
                        '--etcd-prefix', prefix] + list(extra))


def etcd_holders(endpoint, prefix, resources):
    """{resource: holder or None}, read from etcd itself."""
    key = (prefix + 'l/').encode()
    end = key[:-1] + bytes([key[-1] + 1])
    r = etcdrun.post(endpoint, '/v3/kv/range',
                     {'key': base64.b64encode(key).decode(),
                      'range_end': base64.b64encode(end).decode()},
                     timeout=10)
    held = {}
    for kv in r.get('kvs', []):
        name = base64.b64decode(kv['key'])[len(key):].decode()
        # The holder's name; a plain lock's metadata follows a NUL.
        value = base64.b64decode(kv.get('value', ''))
        held[name] = value.split(b'\0', 1)[0].decode()
    return {res: held.get(res) for res in resources}


class _Probe:
    """What lockstress.probe() needs of a daemon."""

    def __init__(self, index, daemon):
        self.index = index
        self.port = daemon.port


def stress(test, daemons, endpoint, prefix, clients, seconds, resources,
           during=None):
    """Runs lockstress's clients against DAEMONS for SECONDS, running
    DURING() in a thread meanwhile; checks the history, the final state
    in etcd (at ENDPOINT, or what the function ENDPOINT returns after the
    load) and every daemon's view.  Returns (result, history)."""
    workdir = tempfile.mkdtemp(prefix='lockd-etcd-stress-')
    harness._tmpdirs.add(workdir)
    ports = [d.port for d in daemons]
    seed = int(time.time())
    res_names = [lockstress.resource_name(i) for i in range(resources)]
    cli_names = [lockstress.client_name(i) for i in range(clients)]
    helper = None
    if during is not None:
        helper = threading.Thread(target=during, daemon=True)
        helper.start()
    recs, _, _ = lockstress.run_clients('thread', clients, ports, resources,
                                        seconds, seed, CALL_TIMEOUT,
                                        workdir, use_status=True)
    if helper is not None:
        helper.join(60)
        test.assertFalse(helper.is_alive(), 'the fault thread hung')
    history = [lockstress.Op(lockstress.client_name(c), seq,
                             lockstress.resource_name(r), k, inv, resp, o,
                             h, d, det)
               for c, seq, r, k, inv, resp, o, h, d, det in recs]
    final = etcd_holders(endpoint() if callable(endpoint) else endpoint,
                         prefix, res_names)
    probes = lockstress.probe([_Probe(i, d) for i, d in enumerate(daemons)],
                              res_names, CALL_TIMEOUT, use_status=True)
    result = lockstress.check(history, cli_names, res_names, final, probes,
                              [])
    sys.stderr.write('%d operations: %d grants, %d releases, %d errors; '
                     'overlaps %d, lost %d, inconsistent refusals %d, '
                     'disagreements %d\n'
                     % (len(history), result.get('grants', 0),
                        result.get('releases', 0), result.get('errors', 0),
                        result['overlaps'], result['lost'],
                        result['inconsistent_refusals'],
                        result['disagreements']))
    for kind, examples in result.get('examples', {}).items():
        for e in examples:
            sys.stderr.write('  %s: %s\n' % (kind, e))
    test.assertEqual(result['overlaps'], 0, 'two holders at once')
    test.assertEqual(result['lost'], 0, 'an acknowledged operation lost')
    test.assertEqual(result['inconsistent_refusals'], 0)
    test.assertEqual(result['disagreements'], 0)
    test.assertGreater(result.get('grants', 0), 0)
    return result, history


@unittest.skipUnless(HAVE_ETCD, 'no etcd (install etcd-server)')
class TwoDaemonsOneEtcd(etcdrun.OneEtcd, LockdTestCase):
    """Two lockd daemons, one etcd member."""

    def prefix(self):
        return '/lockd-cluster-test/%d/%s/' % (os.getpid(), self.id())

    def test_racing_clients_never_see_two_holders(self):
        prefix = self.prefix()
        with lockd_on(self.etcd.endpoints, prefix) as a, \
                lockd_on(self.etcd.endpoints, prefix) as b:
            result, _history = stress(self, [a, b], self.etcd.endpoints,
                                      prefix, clients=12, seconds=8,
                                      resources=3)
            self.assertEqual(result['errors'], 0)
            # Both daemons served.
            for i in (0, 1):
                self.assertTrue(any(op.daemon == i for op in _history))

    def test_one_resource_many_clients_one_winner_per_round(self):
        prefix = self.prefix()
        with lockd_on(self.etcd.endpoints, prefix) as a, \
                lockd_on(self.etcd.endpoints, prefix) as b:
            proxies = [a, b]
            for rnd in range(5):
                r = 'round%d' % rnd
                barrier = threading.Barrier(16)
                won = []

                def take(i):
                    p = proxies[i % 2].proxy()
                    barrier.wait(10)
                    try:
                        p.lock(r, 'c%d' % i)
                        won.append(i)
                    except xmlrpc.client.Fault as f:
                        self.assertEqual(f.faultCode, FAULT_HELD,
                                         f.faultString)
                threads = [threading.Thread(target=take, args=(i,))
                           for i in range(16)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(CALL_TIMEOUT)
                self.assertEqual(len(won), 1, won)
                # The other daemon sees the same winner.
                st = proxies[(won[0] + 1) % 2].proxy().status(r)
                self.assertEqual(st['holder'], 'c%d' % won[0])

    def test_listing_under_churn_reports_stable_locks_once(self):
        prefix = self.prefix()
        stable = ['s%04d' % i for i in range(0, 120, 2)]
        churn = ['s%04d' % i for i in range(1, 120, 2)]
        with lockd_on(self.etcd.endpoints, prefix) as a, \
                lockd_on(self.etcd.endpoints, prefix) as b:
            pa, pb = a.proxy(), b.proxy()
            for r in stable:
                pa.lock(r, 'keeper')
            stop = threading.Event()
            errors = []

            def churner():
                q = b.proxy()
                try:
                    while not stop.is_set():
                        for r in churn:
                            q.lock(r, 'churner')
                        for r in churn:
                            q.unlock(r, 'churner')
                except Exception as e:
                    errors.append(e)
            t = threading.Thread(target=churner, daemon=True)
            t.start()
            try:
                for _ in range(6):
                    names, after = [], ''
                    for _ in range(100):
                        page = pb.list({'limit': 7, 'after': after})
                        names += [lk['resource'] for lk in page['locks']]
                        after = page['next']
                        if not after:
                            break
                    self.assertEqual(len(names), len(set(names)),
                                     'a lock listed twice')
                    self.assertEqual(names, sorted(names))
                    self.assertTrue(set(stable) <= set(names))
                    self.assertTrue(set(names) <= set(stable) | set(churn))
            finally:
                stop.set()
                t.join(CALL_TIMEOUT)
            self.assertEqual(errors, [])


@unittest.skipUnless(HAVE_ETCD, 'no etcd (install etcd-server)')
class ThreeMembers(LockdTestCase):
    """Two lockd daemons on a 3-member etcd cluster that loses members."""

    def setUp(self):
        self.etcd = etcdrun.Etcd(members=3).start()
        self.addCleanup(self.etcd.stop)
        self.prefix = '/lockd-cluster-test/%d/%s/' % (os.getpid(), self.id())

    def surviving_endpoint(self):
        return next(m.client_url for m in self.etcd.members if m.running())

    def test_leader_killed_during_sustained_locking(self):
        leader = self.etcd.leader()
        self.assertIsNotNone(leader, 'no etcd leader')
        killed = {}

        def kill_leader():
            time.sleep(3)
            killed['at'] = time.monotonic_ns()
            self.etcd.kill(leader, signal.SIGKILL)
            sys.stderr.write('killed the etcd leader %s (pid %d)\n'
                             % (leader.name, leader.pid))
        with lockd_on(self.etcd.endpoints, self.prefix) as a, \
                lockd_on(self.etcd.endpoints, self.prefix) as b:
            result, history = stress(
                self, [a, b], self.surviving_endpoint, self.prefix,
                clients=8, seconds=12, resources=4, during=kill_leader)
            self.assertIn('at', killed)
            # Service resumes: the first grant or release acknowledged
            # after the kill that was also asked after it.
            done = sorted(op.resp for op in history
                          if op.outcome in (lockstress.GRANTED,
                                            lockstress.RELEASED) and
                          op.inv >= killed['at'])
            self.assertTrue(done, 'no grant or release after the kill')
            resumed = (done[0] - killed['at']) / 1e9
            stalled = [op for op in history
                       if op.inv < killed['at'] < op.resp]
            slowest = max([(op.resp - op.inv) / 1e9 for op in stalled] or
                          [0.0])
            sys.stderr.write('etcd leader killed: service resumed after '
                             '%.2f s (first grant or release asked after '
                             'the kill); calls in flight at the kill took '
                             'up to %.2f s; %d errors\n'
                             % (resumed, slowest, result['errors']))
            print('resume-after-leader-kill: %.2f s' % resumed)
            self.assertLess(resumed, RESUME_LIMIT)

    def test_no_quorum_is_a_storage_fault_never_a_grant(self):
        with lockd_on(self.etcd.endpoints, self.prefix) as a:
            p = a.proxy(timeout=60)
            p.lock('before', 'c1')
            down = [m for m in self.etcd.members][:2]
            for m in down:
                self.etcd.kill(m, signal.SIGKILL)
            t0 = time.monotonic()
            with self.assertRaises(xmlrpc.client.Fault) as cm:
                p.lock('during', 'c1')
            took = time.monotonic() - t0
            f = cm.exception
            self.assertEqual(f.faultCode, FAULT_STORAGE, f.faultString)
            self.assertRegex(f.faultString,
                             r"^Storage error: etcd lock for 'during': ")
            sys.stderr.write('2 of 3 members down: fault 20 after %.1f s: '
                             '%s\n' % (took, f.faultString))
            with self.assertRaises(xmlrpc.client.Fault) as cm:
                p.unlock('before', 'c1')
            self.assertEqual(cm.exception.faultCode, FAULT_STORAGE)
            status, _, body = harness.parse_http(harness.raw_http(
                a.port, harness.http_request('GET', '/healthz'),
                timeout=60))
            self.assertEqual(status, 503, body)
            self.assertIn(b'Storage error: etcd health probe', body)
            # A quorum again: service resumes; the refused lock may or may
            # not have been applied later (an unknown outcome), the old
            # one is still there.
            for m in down:
                self.etcd.restart(m)
            self.etcd.wait_healthy()
            deadline = time.monotonic() + 30
            while True:
                try:
                    st = p.status('before')
                    break
                except xmlrpc.client.Fault as e:
                    self.assertEqual(e.faultCode, FAULT_STORAGE)
                    self.assertLess(time.monotonic(), deadline, str(e))
                    time.sleep(0.2)
            self.assertEqual((st['held'], st['holder']), (True, 'c1'))
            self.assertIn(p.status('during').get('holder'), (None, 'c1'))
            self.assertIsNone(p.unlock('before', 'c1'))
            self.assertIsNone(p.lock('after', 'c2'))


@unittest.skipUnless(HAVE_ETCD and shutil.which('openssl'),
                     'no etcd or no openssl')
class Tls(LockdTestCase):
    """etcd over TLS, clients authenticated by certificate."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix='lockd-etcd-tls-')
        harness._tmpdirs.add(cls.dir)
        cls.certs = etcdrun.make_certs(cls.dir)
        cls.etcd = etcdrun.Etcd(members=1, tls=cls.certs).start()

    @classmethod
    def tearDownClass(cls):
        cls.etcd.stop()
        super().tearDownClass()

    def conf(self, lines):
        path = os.path.join(self.dir, '%s.conf' % self._testMethodName)
        with open(path, 'w') as f:
            f.write('backend etcd\netcd-endpoints %s\n%s'
                    % (self.etcd.endpoints, lines))
        return path

    def test_client_certificate_and_ca(self):
        c = self.certs
        conf = self.conf('etcd-cacert %s\netcd-cert %s\netcd-key %s\n'
                         % (c['ca.pem'], c['client.pem'], c['client.key']))
        with Daemon(args=['--config', conf]) as d:
            p = d.proxy()
            token = p.lock_token('tls', 'c1')
            st = p.status('tls')
            self.assertEqual((st['holder'], st['token']), ('c1', token))
            self.assertIsNone(p.unlock('tls', 'c1'))
            status, _, body = harness.parse_http(harness.raw_http(
                d.port, harness.http_request('GET', '/healthz')))
            self.assertEqual((status, body), (200, b'ok\n'))

    def test_without_the_client_certificate_nothing_is_granted(self):
        conf = self.conf('etcd-cacert %s\n' % self.certs['ca.pem'])
        with Daemon(args=['--config', conf]) as d:
            self.assertFault(FAULT_STORAGE, re.compile(
                r"Storage error: etcd lock for 'tls2': https://.*"),
                d.proxy().lock, 'tls2', 'c1')

    def test_check_refuses_unreadable_or_unpaired_files(self):
        r = subprocess.run(
            [harness.lockd_path(), '--check', '--config',
             self.conf('etcd-cert %s\n' % self.certs['client.pem'])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'a client certificate needs its key', r.stderr)
        r = subprocess.run(
            [harness.lockd_path(), '--check', '--config',
             self.conf('etcd-cacert /nonexistent/ca.pem\n')],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'cannot read the CA certificate /nonexistent/ca.pem',
                      r.stderr)


if __name__ == '__main__':
    sys.exit(main())
