#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lockd's requests to etcd per call, counted by etcd itself.

etcd's metrics (grpc_server_handled_total by grpc_method) tell how many
transactions a call cost.  The hot path is one round trip per call: a
lock (or an acquire that is granted at once) is one Txn, the unlock of a lock this lockd granted is one Txn (the
history record in it), so a lock+unlock pair is two; an unlock through
another lockd of the same cluster reads the holding in its first Txn's
failure branch, so it costs two and never more.  An unlock by the wrong
client, or of nothing, is answered from the same single Txn.

etcd is started here on free ports and stopped by PID; skips without it.
"""
import os
import re
import sys
import unittest
import urllib.request
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'rpc'))

import etcdrun                                          # noqa: E402
from harness import Daemon, LockdTestCase, main         # noqa: E402
from harness import FAULT_NOT_LOCKED, FAULT_NOT_OWNER   # noqa: E402

HAVE_ETCD = etcdrun.etcd_binary() is not None
METRIC = re.compile(r'^grpc_server_handled_total\{(?P<labels>[^}]*)\} '
                    r'(?P<value>\S+)$')


def handled(endpoint):
    """{grpc method: requests handled so far} of the etcd member."""
    with urllib.request.urlopen(endpoint + '/metrics', timeout=10) as r:
        text = r.read().decode()
    counts = {}
    for line in text.splitlines():
        m = METRIC.match(line)
        if m is None:
            continue
        method = re.search(r'grpc_method="(\w+)"', m.group('labels'))
        if method is not None:
            counts[method.group(1)] = (counts.get(method.group(1), 0) +
                                       int(float(m.group('value'))))
    return counts


@unittest.skipUnless(HAVE_ETCD, 'no etcd (install etcd-server)')
class Rounds(etcdrun.OneEtcd, LockdTestCase):
    """Requests per call, on one etcd member, through two lockd."""

    N = 20

    def daemon(self):
        prefix = '/lockd-rounds/%d/%s/' % (os.getpid(), self.id())
        return Daemon(args=['--backend', 'etcd', '--etcd-endpoints',
                            self.etcd.endpoints, '--etcd-prefix', prefix])

    def cost(self, calls):
        """The transactions CALLS() made, per N.  (The expiry sweep's
        background Range requests, at most one a second, are not
        counted; it sends no Txn while no lease is held.)"""
        before = handled(self.etcd.endpoints)
        calls()
        after = handled(self.etcd.endpoints)
        return (after.get('Txn', 0) - before.get('Txn', 0)) / self.N

    def test_lock_unlock_is_two_transactions(self):
        with self.daemon() as d:
            s = d.proxy()

            def pairs():
                for i in range(self.N):
                    self.assertIsNone(s.lock('pair-%d' % i, 'c'))
                    self.assertIsNone(s.unlock('pair-%d' % i, 'c'))
            self.assertEqual(self.cost(pairs), 2.0)

    def test_acquire_granted_at_once_is_two_transactions(self):
        # A waiting acquire of a free resource: one Txn (which also checks
        # that no other lockd's waiter queues for it), and the unlock.
        with self.daemon() as d:
            s = d.proxy()

            def pairs():
                for i in range(self.N):
                    s.acquire('acq-%d' % i, 'c', {'wait': 5})
                    self.assertIsNone(s.unlock('acq-%d' % i, 'c'))
            self.assertEqual(self.cost(pairs), 2.0)

    def test_failed_unlocks_cost_one_transaction(self):
        with self.daemon() as d:
            s = d.proxy()
            for i in range(self.N):
                s.lock('held-%d' % i, 'owner')

            def refused():
                for i in range(self.N):
                    with self.assertRaises(xmlrpc.client.Fault) as cm:
                        s.unlock('held-%d' % i, 'other')
                    self.assertEqual(cm.exception.faultCode,
                                     FAULT_NOT_OWNER)
                    with self.assertRaises(xmlrpc.client.Fault) as cm:
                        s.unlock('free-%d' % i, 'c')
                    self.assertEqual(cm.exception.faultCode,
                                     FAULT_NOT_LOCKED)
            self.assertEqual(self.cost(refused), 2.0)

    def test_unlock_through_another_lockd_is_at_most_two(self):
        prefix = '/lockd-rounds/%d/shared/' % os.getpid()
        args = ['--backend', 'etcd', '--etcd-endpoints',
                self.etcd.endpoints, '--etcd-prefix', prefix]
        with Daemon(args=args) as a, Daemon(args=args) as b:
            sa, sb = a.proxy(), b.proxy()
            for i in range(self.N):
                sa.lock('moved-%d' % i, 'c')

            def unlocks():
                for i in range(self.N):
                    self.assertIsNone(sb.unlock('moved-%d' % i, 'c'))
            self.assertEqual(self.cost(unlocks), 2.0)
            for i in range(self.N):     # released for both daemons
                self.assertIsNone(sa.lock('moved-%d' % i, 'd'))


if __name__ == '__main__':
    raise SystemExit(main())
