#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Waiters of several lockd hosts on one etcd are served in arrival order.

Two lockd daemons share one etcd member and one prefix.  Waiting acquires
arrive alternately on both (each only once the one before it has its wait
key in etcd, so that arrival order is defined); the grants follow that
order, and a waiting call never takes a free lock past a queued waiter
(a plain lock does).  A waiter that times out and one whose client
disconnects leave no wait key behind and do not block the next; the wait
keys of a lockd killed with SIGKILL vanish with its session lease, so the
other host's waiters are served within about that lease's TTL, while a
live lockd keeps its lease; a session lease that etcd lost is replaced
and its waiters are queued again.

etcd is started here (tests/etcd/etcdrun.py) on a free port and stopped
by PID.  Skips when etcd is not installed.
"""
import base64
import os
import socket
import sys
import threading
import time
import unittest
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'rpc'))

import etcdrun                                          # noqa: E402
from harness import Daemon, LockdTestCase, main         # noqa: E402
from harness import FAULT_HELD                          # noqa: E402

HAVE_ETCD = etcdrun.etcd_binary() is not None
SESSION_TTL = 10.0      # ETCD_QUEUE_TTL_S in lib/etcd/etcd.h
WAIT = 60               # seconds every waiter may wait
BOUND = 20.0            # any single wait of the test itself


def lockd_on(endpoints, prefix):
    """A Daemon keeping its locks in etcd ENDPOINTS under PREFIX."""
    return Daemon(args=['--backend', 'etcd', '--etcd-endpoints', endpoints,
                        '--etcd-prefix', prefix])


def b64(b):
    return base64.b64encode(b).decode()


def until(what, cond, bound=BOUND):
    """Polls COND() every 20 ms until true; fails after BOUND seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError('not within %g s: %s' % (bound, what))


class Waiter(threading.Thread):
    """acquire(RESOURCE, CLIENT, wait) on PROXY; on a grant appends CLIENT
    to ORDER and unlocks at once."""

    def __init__(self, daemon, resource, client, order, wait=WAIT):
        super().__init__(daemon=True)
        self.proxy = daemon.proxy(timeout=WAIT + 30)
        self.resource, self.client, self.order = resource, client, order
        self.wait = wait
        self.fault = None
        self.granted_at = None

    def run(self):
        try:
            self.proxy.acquire(self.resource, self.client,
                               {'wait': self.wait})
        except Exception as f:          # a fault, or a killed daemon
            self.fault = f
            return
        self.granted_at = time.monotonic()
        self.order.append(self.client)
        self.proxy.unlock(self.resource, self.client)


@unittest.skipUnless(HAVE_ETCD, 'no etcd (install etcd-server)')
class FifoAcrossHosts(etcdrun.OneEtcd, LockdTestCase):

    def setUp(self):
        self.prefix = '/lockd-fifo-test/%d/%s/' % (os.getpid(), self.id())

    def wait_keys(self, resource):
        """The number of wait keys of RESOURCE in etcd."""
        key = (self.prefix + 'q/' + resource).encode()
        r = etcdrun.post(self.etcd.endpoints, '/v3/kv/range',
                         {'key': b64(key + b'\0'),
                          'range_end': b64(key + b'\1'),
                          'count_only': True}, timeout=10)
        return int(r.get('count', 0))

    def arrive(self, daemon, resource, client, order, wait=WAIT):
        """Starts a waiter and returns it once its wait key is in etcd."""
        n = self.wait_keys(resource)
        w = Waiter(daemon, resource, client, order, wait)
        w.start()
        until('%s queued' % client,
              lambda: self.wait_keys(resource) == n + 1)
        return w

    def test_grants_follow_arrival_order_across_hosts(self):
        with lockd_on(self.etcd.endpoints, self.prefix) as a, \
                lockd_on(self.etcd.endpoints, self.prefix) as b:
            a.proxy().lock('r', 'holder')
            order = []
            names = ['w%d' % i for i in range(6)]
            waiters = [self.arrive((a, b)[i % 2], 'r', name, order)
                       for i, name in enumerate(names)]
            # A plain lock() barges as ever: refused only while held.
            self.assertFault(FAULT_HELD,
                             "Resource already locked by 'holder'",
                             b.proxy().lock, 'r', 'barger')
            a.proxy().unlock('r', 'holder')
            for w in waiters:
                w.join(WAIT + 30)
                self.assertFalse(w.is_alive())
                self.assertIsNone(w.fault)
            self.assertEqual(order, names)
            self.assertEqual(self.wait_keys('r'), 0)
            # Shown, not asserted: a grant to the grant on the other host
            # (an unlock, the watch's event, one take).
            gaps = sorted((w2.granted_at - w1.granted_at) * 1000
                          for w1, w2 in zip(waiters, waiters[1:]))
            sys.stderr.write('hand-over between hosts: median %.1f ms, '
                             'max %.1f ms\n' % (gaps[len(gaps) // 2],
                                                gaps[-1]))

    def test_timeout_and_disconnect_leave_no_wait_key(self):
        with lockd_on(self.etcd.endpoints, self.prefix) as a, \
                lockd_on(self.etcd.endpoints, self.prefix) as b:
            a.proxy().lock('r', 'holder')
            # A waiter on B that runs out.
            self.assertFault(FAULT_HELD,
                             "Resource already locked by 'holder'",
                             b.proxy().acquire, 'r', 'late', {'wait': 1})
            self.assertEqual(self.wait_keys('r'), 0)
            # A waiter on A whose client goes away.
            body = xmlrpc.client.dumps(('r', 'gone', {'wait': WAIT}),
                                       'acquire').encode()
            s = socket.create_connection(('127.0.0.1', a.port), 10)
            s.sendall(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: '
                      b'text/xml\r\nContent-Length: %d\r\n\r\n' % len(body)
                      + body)
            until('the gone waiter queued', lambda: self.wait_keys('r') == 1)
            s.close()
            until('the gone waiter dequeued',
                  lambda: self.wait_keys('r') == 0, 5)
            # The next waiter is not blocked by either.
            order = []
            w = self.arrive(b, 'r', 'next', order)
            a.proxy().unlock('r', 'holder')
            w.join(BOUND)
            self.assertEqual(order, ['next'])

    def test_killed_lockd_does_not_block_the_queue(self):
        with lockd_on(self.etcd.endpoints, self.prefix) as a, \
                lockd_on(self.etcd.endpoints, self.prefix) as b:
            b.proxy().lock('r', 'holder')
            order = []
            early = [self.arrive(a, 'r', 'a%d' % i, order) for i in (1, 2)]
            w = self.arrive(b, 'r', 'b1', order)
            a.kill()
            for t in early:
                t.join(BOUND)
            b.proxy().unlock('r', 'holder')
            released = time.monotonic()
            w.join(SESSION_TTL + BOUND)
            self.assertEqual(order, ['b1'])
            waited = w.granted_at - released
            sys.stderr.write('served %.2f s after the release\n' % waited)
            self.assertLess(waited, SESSION_TTL + 5)
            self.assertEqual(self.wait_keys('r'), 0)

    def test_a_waiting_call_never_barges_a_plain_lock_does(self):
        with lockd_on(self.etcd.endpoints, self.prefix) as a:
            # A waiter of some other lockd, written into etcd by hand.
            ghost = (self.prefix + 'q/r').encode() + b'\0ghost'
            etcdrun.post(self.etcd.endpoints, '/v3/kv/put',
                         {'key': b64(ghost), 'value': ''}, timeout=10)
            self.assertFault(FAULT_HELD, 'Resource already locked (the '
                             'wait ran out behind other waiters)',
                             a.proxy().acquire, 'r', 'w', {'wait': 1})
            self.assertEqual(self.wait_keys('r'), 1)
            a.proxy().lock('r', 'plain')
            a.proxy().unlock('r', 'plain')
            order = []
            w = self.arrive(a, 'r', 'w', order)
            etcdrun.post(self.etcd.endpoints, '/v3/kv/deleterange',
                         {'key': b64(ghost)}, timeout=10)
            w.join(BOUND)
            self.assertEqual(order, ['w'])
            self.assertEqual(self.wait_keys('r'), 0)

    def test_session_lease_outlives_its_ttl_while_kept_alive(self):
        with lockd_on(self.etcd.endpoints, self.prefix) as a:
            a.proxy().lock('r', 'holder')
            order = []
            w = self.arrive(a, 'r', 'w', order)
            time.sleep(SESSION_TTL + 3)
            self.assertEqual(self.wait_keys('r'), 1)
            a.proxy().unlock('r', 'holder')
            w.join(BOUND)
            self.assertEqual(order, ['w'])

    def test_lost_session_lease_queues_its_waiters_again(self):
        with lockd_on(self.etcd.endpoints, self.prefix) as a, \
                lockd_on(self.etcd.endpoints, self.prefix) as b:
            b.proxy().lock('r', 'holder')
            order = []
            w1 = self.arrive(a, 'r', 'w1', order)
            w2 = self.arrive(b, 'r', 'w2', order)
            key = (self.prefix + 'q/r').encode()
            kvs = etcdrun.post(self.etcd.endpoints, '/v3/kv/range',
                               {'key': b64(key + b'\0'),
                                'range_end': b64(key + b'\1'),
                                'sort_target': 'CREATE'},
                               timeout=10)['kvs']
            # etcd forgets A's session lease: w1's key goes with it, and
            # A's next keep-alive puts it again, behind w2.
            etcdrun.post(self.etcd.endpoints, '/v3/lease/revoke',
                         {'ID': kvs[0]['lease']}, timeout=10)
            until('w1 queued again', lambda: self.wait_keys('r') == 2,
                  SESSION_TTL)
            b.proxy().unlock('r', 'holder')
            for w in (w1, w2):
                w.join(BOUND)
                self.assertIsNone(w.fault)
            self.assertEqual(order, ['w2', 'w1'])
            self.assertEqual(self.wait_keys('r'), 0)


if __name__ == '__main__':
    raise SystemExit(main())
