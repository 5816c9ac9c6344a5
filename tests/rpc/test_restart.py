# SPDX-License-Identifier: MIT
"""Durability and restarts: locks survive SIGKILL, acknowledged operations
survive a kill in the middle of a load, SIGTERM ends a load cleanly, and two
daemons on one lock directory never grant the same resource twice."""
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, LockdTestCase, main, free_port  # noqa: E402
from harness import FAULT_HELD, FAULT_NOT_LOCKED, FAULT_NOT_OWNER  # noqa: E402

Fault = xmlrpc.client.Fault
SUFFIX = '.resource.lock'

# Connection-level failures a client may see when the daemon goes away.
GONE = (ConnectionRefusedError, ConnectionResetError, BrokenPipeError)


def held(holder):
    return "Resource already locked by '%s'" % holder


def not_owner(holder, client):
    return ("Resource locked by '%s' cannot be unlocked by '%s'"
            % (holder, client))


def lock_files(lockdir):
    return sorted(n for n in os.listdir(lockdir) if n.endswith(SUFFIX))


def tmp_files(lockdir):
    return sorted(n for n in os.listdir(lockdir) if n.startswith('.tmp.'))


def first_line(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8').split('\n')[0]


class Load:
    """Threads doing lock/unlock pairs on fresh resources, recording what
    the daemon acknowledged.  state[r] = (client, what) with what one of
    'held' (lock acknowledged, or unlock refused with an HTTP error),
    'released' (unlock acknowledged, or lock refused), 'unknown' (a call
    was in flight when the daemon went away)."""

    def __init__(self, daemon, tag, nthreads, strict_errors):
        self.d = daemon
        self.tag = tag
        self.state = {}
        self.errors = []
        self.gone = []
        self.refused = []
        self.ops = 0
        self.stop = threading.Event()
        self.strict = strict_errors
        self.threads = [threading.Thread(target=self.run, args=(t,))
                        for t in range(nthreads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout=60):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def call(self, fn, r, c):
        """'ok' if acknowledged; 'refused' if the daemon answered with an
        HTTP error (the call must then have had no effect); 'gone' if the
        daemon went away without an answer (the outcome is unknown)."""
        try:
            res = fn(r, c)
        except Fault as f:
            self.errors.append('%s(%r): unexpected fault %d %r'
                               % (fn._Method__name, r, f.faultCode,
                                  f.faultString))
            return 'gone'
        except GONE as e:
            self.gone.append(repr(e))
            return 'gone'
        except xmlrpc.client.ProtocolError as e:
            # Shutting down, Abyss answers requests it has not started to
            # read with 408; such a call was not carried out.
            if self.strict and e.errcode not in (408, 503):
                self.errors.append('%s(%r): %r' % (fn._Method__name, r, e))
            self.refused.append('%s(%r): %d' % (fn._Method__name, r,
                                                e.errcode))
            return 'refused' if self.strict else 'gone'
        except Exception as e:      # noqa: BLE001
            # a cut-off response is normal after SIGKILL, not after SIGTERM
            if self.strict:
                self.errors.append('%s(%r): %r' % (fn._Method__name, r, e))
            self.gone.append(repr(e))
            return 'gone'
        if res is not None:
            self.errors.append('%r returned %r' % (r, res))
        self.ops += 1
        return 'ok'

    def run(self, t):
        p = self.d.proxy(timeout=20)
        c = '%s-client-%d' % (self.tag, t)
        i = 0
        while not self.stop.is_set():
            r = '%s-%d-%d' % (self.tag, t, i)
            self.state[r] = (c, 'unknown')
            res = self.call(p.lock, r, c)
            if res != 'ok':
                if res == 'refused':
                    self.state[r] = (c, 'released')     # never taken
                return
            self.state[r] = (c, 'held')
            if i % 2 == 0:
                self.state[r] = (c, 'unknown')
                res = self.call(p.unlock, r, c)
                if res != 'ok':
                    if res == 'refused':
                        self.state[r] = (c, 'held')     # still held
                    return
                self.state[r] = (c, 'released')
            i += 1


class Restart(LockdTestCase):

    def setUp(self):
        self.lockdir = tempfile.mkdtemp(prefix='lockd-restart-')
        self.addCleanup(shutil.rmtree, self.lockdir, True)

    def daemon(self, **kw):
        d = Daemon(lockdir=self.lockdir, **kw)
        self.addCleanup(d.close)
        return d

    def verify(self, p, state, known=None):
        """Every acknowledged lock in STATE is held, every acknowledged
        unlock is released, in-flight ones are one or the other; the lock
        files are exactly those of the held resources of KNOWN (verified
        before) and STATE.  Resolves the in-flight ones in STATE and returns
        it."""
        intruder = 'intruder'
        for r, (c, what) in sorted(state.items()):
            if what == 'held':
                self.assertFault(FAULT_HELD, held(c), p.lock, r, intruder)
            elif what == 'released':
                self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked',
                                 p.unlock, r, c)
            else:
                try:
                    p.lock(r, intruder)
                except Fault as f:
                    self.assertEqual((f.faultCode, f.faultString),
                                     (FAULT_HELD, held(c)), r)
                    state[r] = (c, 'held')
                else:
                    self.assertIsNone(p.unlock(r, intruder))
                    state[r] = (c, 'released')
        every = dict(known or {})
        every.update(state)
        clients = {c for c, _ in every.values()}
        for n in lock_files(self.lockdir):
            self.assertIn(first_line(os.path.join(self.lockdir, n)), clients,
                          'lock file %s' % n)
        self.assertEqual(len(lock_files(self.lockdir)),
                         sum(w == 'held' for _, w in every.values()))
        return state

    def test_locks_survive_sigkill(self):
        d = self.daemon()
        d.start()
        p = d.proxy()
        names = {}
        for i in range(50):
            r = 'dur-%d' % i if i % 5 else 'dur/%d/..%%' % i
            names[r] = 'host-%d' % (i % 7)
            self.assertIsNone(p.lock(r, names[r]))
        self.assertEqual(d.kill(), -9)
        d.start()
        p = d.proxy()
        for r, c in names.items():
            self.assertFault(FAULT_HELD, held(c), p.lock, r, 'other')
            self.assertFault(FAULT_NOT_OWNER, not_owner(c, 'other'), p.unlock,
                             r, 'other')
        self.assertEqual(len(lock_files(self.lockdir)), 50)
        for r, c in names.items():
            self.assertIsNone(p.unlock(r, c))
        self.assertEqual(lock_files(self.lockdir), [])
        self.assertEqual(tmp_files(self.lockdir), [])
        self.assertEqual(d.stop(), 0)

    def test_sigkill_during_load(self):
        d = self.daemon()
        rng = random.Random(4711)
        total = 0
        everything = {}     # all rounds: earlier rounds must stay intact
        for rnd in range(5):
            d.start()
            load = Load(d, 'k%d' % rnd, 3, strict_errors=False).start()
            # The first answer (bounded: a busy machine), then the kill at
            # a random moment.
            deadline = time.monotonic() + 30
            while load.ops == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.3, 0.8))
            self.assertEqual(d.kill(), -9)
            self.assertTrue(load.join(), 'load threads hung')
            self.assertEqual(load.errors, [])
            self.assertGreater(load.ops, 0, 'no call succeeded in round %d'
                               % rnd)
            total += load.ops
            d.start()
            p = d.proxy()
            # One lock call after the restart, then no temporary file.
            self.assertIsNone(p.lock('probe-%d' % rnd, 'probe'))
            self.assertEqual(tmp_files(self.lockdir), [])
            self.assertIsNone(p.unlock('probe-%d' % rnd, 'probe'))
            everything.update(self.verify(p, load.state, everything))
            self.assertEqual(d.stop(), 0)
        # After five kills, the earlier rounds are still intact.
        d.start()
        self.verify(d.proxy(), everything)
        self.assertEqual(d.stop(), 0)
        sys.stderr.write('[%d acknowledged calls] ' % total)

    def test_sigterm_ends_load_cleanly(self):
        d = self.daemon()
        d.start()
        load = Load(d, 'term', 8, strict_errors=True).start()
        time.sleep(1.0)
        t0 = time.monotonic()
        status = d.stop()
        took = time.monotonic() - t0
        self.assertTrue(load.join(), 'load threads hung')
        self.assertEqual(status, 0, d.stderr_text()[-3000:])
        self.assertEqual(load.errors, [])
        self.assertGreater(load.ops, 0)
        sys.stderr.write('[SIGTERM to exit %.2f s, %d calls, refused: %s] '
                         % (took, load.ops, load.refused))
        # The client side never saw a half answer; now the disk side.
        d.start()
        p = d.proxy()
        self.verify(p, load.state)
        self.assertIsNone(p.lock('probe', 'probe'))
        self.assertEqual(tmp_files(self.lockdir), [])
        self.assertIsNone(p.unlock('probe', 'probe'))
        self.assertEqual(d.stop(), 0)

    def test_restart_on_same_port(self):
        # A kill with connections still open must not keep the port from
        # being bound again (SO_REUSEADDR).
        port = free_port()
        d = self.daemon(port=port)
        d.start()
        self.assertEqual(d.port, port)
        p = d.proxy()
        self.assertIsNone(p.lock('port', 'c'))
        self.assertFault(FAULT_HELD, held('c'), p.lock, 'port', 'd')
        self.assertEqual(d.kill(), -9)
        d.start()
        self.assertEqual(d.port, port)
        self.assertFault(FAULT_HELD, held('c'), d.proxy().lock, 'port', 'd')
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(d.port, port)
        self.assertIsNone(d.proxy().unlock('port', 'c'))
        self.assertEqual(d.stop(), 0)

    def test_two_daemons_one_lockdir(self):
        hot = ['hot-%d' % i for i in range(8)]
        daemons = [self.daemon(), self.daemon()]
        for d in daemons:
            d.start()
        self.assertNotEqual(daemons[0].port, daemons[1].port)
        mu = threading.Lock()
        owner = dict.fromkeys(hot)
        violations, errors = [], []
        grants = [0, 0]
        duration = 3.0
        end = [0.0]         # set once all 64 threads are up

        def go():
            end[0] = time.monotonic() + duration
        start = threading.Barrier(64, action=go, timeout=60)
        name_re = re.compile(r"Resource already locked by '(d[01]-t\d+)'")

        def worker(k, t):
            me = 'd%d-t%d' % (k, t)
            p = daemons[k].proxy(timeout=30)
            rng = random.Random(k * 100 + t)
            try:
                start.wait()
                while time.monotonic() < end[0]:
                    r = rng.choice(hot)
                    try:
                        p.lock(r, me)
                    except Fault as f:
                        m = name_re.fullmatch(f.faultString)
                        if f.faultCode != FAULT_HELD or m is None or \
                                m.group(1) == me:
                            errors.append('%s lock %s: %d %r' % (
                                me, r, f.faultCode, f.faultString))
                            return
                        continue
                    with mu:
                        if owner[r] is not None:
                            violations.append('%s granted to %s while %s '
                                              'held it' % (r, me, owner[r]))
                        owner[r] = me
                        grants[k] += 1
                    time.sleep(rng.uniform(0, 0.004))
                    if time.monotonic() >= end[0] and t % 2 == 0:
                        return          # keep it: part of the final state
                    with mu:
                        if owner[r] == me:
                            owner[r] = None
                    res = p.unlock(r, me)
                    if res is not None:
                        errors.append('%s unlock %s returned %r'
                                      % (me, r, res))
            except Exception as e:      # noqa: BLE001
                errors.append('%s: %r' % (me, e))

        threads = [threading.Thread(target=worker, args=(k, t))
                   for k in (0, 1) for t in range(32)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        self.assertFalse(any(th.is_alive() for th in threads), 'hung')
        self.assertEqual(violations, [])
        self.assertEqual(errors, [])
        sys.stderr.write('[grants %d + %d] ' % tuple(grants))
        self.assertGreater(grants[0], 0)
        self.assertGreater(grants[1], 0)
        # The directory says what the clients believe, and so does each
        # daemon.
        for r in hot:
            path = os.path.join(self.lockdir, r + SUFFIX)
            if owner[r] is None:
                self.assertFalse(os.path.exists(path), r)
            else:
                self.assertEqual(first_line(path), owner[r])
            for d in daemons:
                p = d.proxy()
                if owner[r] is None:
                    self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked',
                                     p.unlock, r, 'probe')
                else:
                    self.assertFault(FAULT_HELD, held(owner[r]), p.lock, r,
                                     'probe')
        self.assertEqual(len(lock_files(self.lockdir)),
                         sum(v is not None for v in owner.values()))
        # Release through the other daemon than the one that granted.
        for r in hot:
            if owner[r] is not None:
                k = 1 - int(owner[r][1])
                self.assertIsNone(daemons[k].proxy().unlock(r, owner[r]))
        self.assertEqual(lock_files(self.lockdir), [])
        for d in daemons:
            self.assertTrue(d.alive())
            self.assertEqual(d.stop(), 0)


if __name__ == '__main__':
    sys.exit(main())
