# SPDX-License-Identifier: MIT
"""A waiter that disconnects just before the lock is released never gets it:
the grant is undone and passes to the live waiter queued behind it
(lockd.8: "never to a client that is gone")."""
import re
import socket
import struct
import sys
import threading
import time
import xmlrpc.client

from harness import (HOST, LockdTestCase, SharedDaemon, http_request, main)

# Every round must pass.  A daemon that looks for a gone caller only on its
# 100 ms schedule notices the disconnect before the release in at most
# about GAP / 100 ms of the rounds (a few percent here), so it passes all
# ROUNDS with a chance well below 1e-6.
ROUNDS = 10
GAP = 0.005             # seconds between the disconnect and the unlock
LIVE_WAIT = 3           # the live waiter's wait, seconds


class Waiter(threading.Thread):
    """acquire(r, client, {'wait': W}) in a thread: .result or .fault."""

    def __init__(self, daemon, r, client, wait):
        super().__init__(daemon=True)
        self.args = (daemon.proxy(), r, client, wait)
        self.result = self.fault = None

    def run(self):
        p, r, client, wait = self.args
        try:
            self.result = p.acquire(r, client, {'wait': wait})
        except xmlrpc.client.Fault as f:
            self.fault = f


class GoneWaiter(SharedDaemon, LockdTestCase):

    def gone_waiter(self, r, client):
        """A raw connection whose acquire waits; close it to leave."""
        body = xmlrpc.client.dumps((r, client, {'wait': 15}), 'acquire',
                                   allow_none=True).encode()
        s = socket.create_connection((HOST, self.daemon.port), timeout=10)
        s.sendall(http_request('POST', '/RPC2', body))
        return s

    def one_round(self, i, reset):
        """Holder, gone waiter A, live waiter B; A leaves GAP before the
        release.  Returns what went wrong, or None; counts in self.undone
        the rounds where A was granted and the grant undone (history)."""
        p = self.daemon.proxy()
        r = 'gone-waiter-%d-%s' % (i, 'rst' if reset else 'fin')
        gone, live = 'gone-%d' % i, 'live-%d' % i
        p.lock(r, 'holder')
        a = self.gone_waiter(r, gone)
        self.daemon.wait_waiting(1)
        b = Waiter(self.daemon, r, live, LIVE_WAIT)
        b.start()
        self.daemon.wait_waiting(2)
        if reset:               # abrupt: RST instead of FIN
            a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack('ii', 1, 0))
        a.close()
        time.sleep(GAP)
        p.unlock(r, 'holder')
        b.join(LIVE_WAIT + 30)
        holder = p.status(r).get('holder')
        if b.fault is not None or b.result is None:
            return ('round %d: the live waiter got %r; held by %r'
                    % (i, b.fault, holder))
        if holder != live:
            return 'round %d: held by %r, not %r' % (i, holder, live)
        p.unlock(r, live)
        if any(e['holder'] == gone for e in p.history(r)):
            self.undone += 1
        return None

    def test_gone_waiter_never_holds_the_lock(self):
        bad = []
        self.undone = 0
        for i in range(ROUNDS):
            why = self.one_round(i, reset=i % 2 == 1)
            if why is not None:
                bad.append(why)
        sys.stderr.write('[%d of %d rounds went to the live waiter, %d '
                         'of them after undoing a grant to the gone one] '
                         % (ROUNDS - len(bad), ROUNDS, self.undone))
        self.assertEqual(bad, [])
        # The gone waiters were all answered as cancelled (the last line
        # may still be on its way).
        said = re.compile(r"acquire 'gone-waiter-\d+-\w+' client "
                          r"'gone-\d+' from [^:]+:\d+: refused \(cancelled\)")
        deadline = time.monotonic() + 10
        while (len(said.findall(self.daemon.stderr_text())) < ROUNDS
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertEqual(len(said.findall(self.daemon.stderr_text())),
                         ROUNDS)


if __name__ == '__main__':
    sys.exit(main())
