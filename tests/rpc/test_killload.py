# SPDX-License-Identifier: MIT
"""kill -9 in the middle of sustained load, 20 times on one lock directory.

Eight client threads, each the only user of its own resources (so the
last acknowledged operation alone decides a resource's state), lock and
unlock as fast as the daemon answers.  After a short burst the daemon gets
SIGKILL and is restarted on the same directory.  Then every resource is
checked:

- acknowledged lock (last): held, and a lock by another client gets
  fault 1 naming the right holder;
- acknowledged unlock (last, or never locked): not held, so a probe client
  can lock it (and releases it again);
- a call whose answer was lost in the kill: either state is right; it is
  resolved with a probe lock (fault 1 naming the owner: held; success:
  released) before the next round, so that every round starts from a
  fully known state.

The lock files on disk must be exactly those of the held resources, and
no temporary file (".tmp.*") may remain once the restarted daemon has
printed its listening line: lockd removes the ones a killed daemon left at
startup.  The figures are printed at the end.
"""
import os
import random
import sys
import tempfile
import shutil
import threading
import time
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, LockdTestCase, main  # noqa: E402
from harness import FAULT_HELD  # noqa: E402

Fault = xmlrpc.client.Fault
SUFFIX = '.resource.lock'
TMP_PREFIX = '.tmp.'

ROUNDS = int(os.environ.get('LOCKD_KILL_ROUNDS', '20'))
THREADS = 8
PER_THREAD = 12                 # resources owned by each thread
LOAD_MIN, LOAD_MAX = 0.5, 1.0   # seconds of load before the kill
PROBE = 'probe'

HELD, RELEASED, UNKNOWN = 'held', 'released', 'unknown'


def held_msg(holder):
    return "Resource already locked by '%s'" % holder


def lock_files(lockdir):
    return sorted(n for n in os.listdir(lockdir) if n.endswith(SUFFIX))


def tmp_files(lockdir):
    return sorted(n for n in os.listdir(lockdir) if n.startswith(TMP_PREFIX))


def resource_name(t, j):
    # Mostly plain names; every fourth needs lockd's escaped encoding, so
    # both file-name forms go through the kills.
    if j % 4 == 3:
        return 'kill/%d/%d%%' % (t, j)
    return 'kill-%d-%d' % (t, j)


class Owner(threading.Thread):
    """One client: owns its resources and keeps their model.

    state[r]: HELD / RELEASED as acknowledged by the daemon, or UNKNOWN
    while a call is in flight (and after it, if the answer never came).
    acked counts the acknowledged calls; errors lists answers that must
    not happen (a fault, a non-nil result, a connection failure before the
    kill was sent)."""

    def __init__(self, t, daemon, state, rng, killed):
        super().__init__(name='owner-%d' % t, daemon=True)
        self.client = 'owner-%d' % t
        self.resources = [resource_name(t, j) for j in range(PER_THREAD)]
        self.d = daemon
        self.state = state
        self.rng = rng
        self.killed = killed      # Event: set just before SIGKILL
        self.acked = 0
        self.lost_calls = 0
        self.errors = []

    def run(self):
        p = self.d.proxy(timeout=15)
        while True:
            r = self.rng.choice(self.resources)
            before = self.state[r]
            if before == HELD:
                fn, after = p.unlock, RELEASED
            else:
                fn, after = p.lock, HELD
            self.state[r] = UNKNOWN
            try:
                res = fn(r, self.client)
            except Fault as f:
                self.state[r] = before      # a refusal changes nothing
                self.errors.append('%s %s(%r): fault %d %r' % (
                    self.client, fn._Method__name, r, f.faultCode,
                    f.faultString))
                return
            except Exception as e:      # noqa: BLE001
                # No answer: the call may or may not have happened.
                self.lost_calls += 1
                if not self.killed.is_set():
                    self.errors.append('%s %s(%r) failed before the kill: '
                                       '%r' % (self.client, fn._Method__name,
                                               r, e))
                return
            if res is not None:
                self.errors.append('%s %s(%r) returned %r'
                                   % (self.client, fn._Method__name, r, res))
                return
            self.state[r] = after
            self.acked += 1


class KillLoad(LockdTestCase):

    def test_kill9_under_load_20_rounds(self):
        lockdir = tempfile.mkdtemp(prefix='lockd-killload-')
        self.addCleanup(shutil.rmtree, lockdir, True)
        d = Daemon(lockdir=lockdir)
        self.addCleanup(d.close)
        rng = random.Random(int(os.environ.get('LOCKD_KILL_SEED', '20')))
        owners = ['owner-%d' % t for t in range(THREADS)]
        state = {}                  # resource -> HELD / RELEASED / UNKNOWN
        holder = {}                 # resource -> its owner's client name
        for t in range(THREADS):
            for j in range(PER_THREAD):
                r = resource_name(t, j)
                state[r] = RELEASED
                holder[r] = owners[t]
        fig = dict(rounds=0, acked=0, checked=0, checked_held=0,
                   checked_released=0, lost=0, unknown=0,
                   unknown_held=0, unknown_released=0, tmp_left=0,
                   max_tmp_left=0, calls_cut=0)
        t_start = time.monotonic()

        d.start()
        for rnd in range(ROUNDS):
            # -- load, then SIGKILL in the middle of it -------------------
            killed = threading.Event()
            threads = [Owner(t, d, state, random.Random(rng.random()),
                             killed) for t in range(THREADS)]
            for th in threads:
                th.start()
            # Some calls answered first (bounded: a busy machine), then
            # the kill at a random moment.
            deadline = time.monotonic() + 30
            while (not any(th.acked for th in threads)
                   and time.monotonic() < deadline):
                time.sleep(0.01)
            time.sleep(rng.uniform(LOAD_MIN, LOAD_MAX))
            self.assertTrue(d.alive(), 'lockd died under load in round %d:'
                            '\n%s' % (rnd, d.stderr_text()[-3000:]))
            killed.set()
            self.assertEqual(d.kill(), -9)
            for th in threads:
                th.join(60)
            self.assertFalse(any(th.is_alive() for th in threads),
                             'client threads hung after the kill')
            errors = [e for th in threads for e in th.errors]
            self.assertEqual(errors, [], 'round %d' % rnd)
            acked = sum(th.acked for th in threads)
            self.assertGreater(acked, 0, 'nothing acknowledged in round %d'
                               % rnd)
            fig['acked'] += acked
            fig['calls_cut'] += sum(th.lost_calls for th in threads)

            # -- restart on the same directory ------------------------------
            left = len(tmp_files(lockdir))      # what the kill left behind
            fig['tmp_left'] += left
            fig['max_tmp_left'] = max(fig['max_tmp_left'], left)
            d.start()           # returns once lockd printed its listening line
            self.assertEqual(tmp_files(lockdir), [],
                             'temporary files after the restart of round %d'
                             % rnd)

            # -- every resource: known states checked, unknown resolved ----
            p = d.proxy(timeout=15)
            lost = []
            for r in sorted(state):
                what, owner = state[r], holder[r]
                if what == HELD:
                    fig['checked'] += 1
                    fig['checked_held'] += 1
                    try:
                        p.lock(r, PROBE)
                        lost.append('%s: acknowledged lock by %s lost '
                                    '(granted to the probe)' % (r, owner))
                        p.unlock(r, PROBE)
                    except Fault as f:
                        if (f.faultCode, f.faultString) != \
                                (FAULT_HELD, held_msg(owner)):
                            lost.append('%s: expected held by %s, got fault '
                                        '%d %r' % (r, owner, f.faultCode,
                                                   f.faultString))
                elif what == RELEASED:
                    fig['checked'] += 1
                    fig['checked_released'] += 1
                    try:
                        self.assertIsNone(p.lock(r, PROBE))
                    except Fault as f:
                        lost.append('%s: acknowledged unlock by %s lost: '
                                    'fault %d %r' % (r, owner, f.faultCode,
                                                     f.faultString))
                        continue
                    self.assertIsNone(p.unlock(r, PROBE))
                else:
                    fig['unknown'] += 1
                    try:
                        p.lock(r, PROBE)
                    except Fault as f:
                        self.assertEqual((f.faultCode, f.faultString),
                                         (FAULT_HELD, held_msg(owner)),
                                         'resolving %s' % r)
                        state[r] = HELD
                        fig['unknown_held'] += 1
                    else:
                        self.assertIsNone(p.unlock(r, PROBE))
                        state[r] = RELEASED
                        fig['unknown_released'] += 1
            fig['lost'] += len(lost)
            self.assertEqual(lost, [], 'round %d' % rnd)

            # The directory agrees: one lock file per held resource, each
            # naming its owner; nothing the probe took is left.
            files = lock_files(lockdir)
            self.assertEqual(len(files),
                             sum(s == HELD for s in state.values()),
                             'round %d: %r' % (rnd, files))
            for r, s in state.items():
                if s == HELD and '/' not in r:
                    with open(os.path.join(lockdir, r + SUFFIX), 'rb') as f:
                        self.assertEqual(f.read().split(b'\n')[0],
                                         holder[r].encode(), r)
            self.assertEqual(tmp_files(lockdir), [])
            fig['rounds'] += 1

        # A clean stop at the end: the ASan build reports leaks here.
        self.assertEqual(d.stop(), 0, d.stderr_text()[-3000:])
        fig['took'] = time.monotonic() - t_start
        sys.stderr.write(
            '\nkill-9 figures: %(rounds)d rounds survived, %(acked)d '
            'acknowledged operations, %(checked)d acknowledged states '
            'checked after restart (%(checked_held)d held, '
            '%(checked_released)d released), lost = %(lost)d, %(unknown)d '
            'unknown outcomes resolved (%(unknown_held)d had taken effect, '
            '%(unknown_released)d not), %(tmp_left)d temporary files left '
            'by the kills (at most %(max_tmp_left)d per kill), 0 after '
            'restart; %(took).1f s\n' % fig)
        self.assertEqual(fig['rounds'], ROUNDS)


if __name__ == '__main__':
    sys.exit(main())
