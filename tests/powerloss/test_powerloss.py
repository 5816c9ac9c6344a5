# SPDX-License-Identifier: MIT
"""Power-loss test of the lock directory: two lockd on crashfs.py, clients
locking, unlocking, leasing and breaking, power cut at a random moment; the
directory a reboot finds must hold every acknowledged change.

Environment: LOCKD (as make check sets it); LOCKD_POWERLOSS_CUTS (default
20), _SEED (default random; printed), _MODES (default "strict,torn"),
_NONATOMIC=1 (torn renames may keep both names), _ARGS (extra arguments of
the daemons before the cut, e.g. --no-sync), _HISTORY (history-size of half
the cuts, default 2K: rotations; the other half keep every record, and
every acknowledged end must be in the history after the reboot), _KEEP=1
(keep the directories of a failed cut), _CUT_AT=NAME (cut right after the
first rename onto NAME, e.g. .history.1).  Exit 77 when FUSE cannot be
mounted.  See README in this directory.
"""
import atexit
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'rpc'))
import harness  # noqa: E402
from harness import FAULT_HELD, FAULT_NOT_OWNER, FAULT_NOT_LOCKED, \
    FAULT_STORAGE, FAULT_STATE  # noqa: E402

ENV = os.environ.get
CUTS = int(ENV('LOCKD_POWERLOSS_CUTS', '20'))
MODES = ENV('LOCKD_POWERLOSS_MODES', 'strict,torn').split(',')
NONATOMIC = ENV('LOCKD_POWERLOSS_NONATOMIC', '') == '1'
ARGS = ENV('LOCKD_POWERLOSS_ARGS', '').split()
HISTORY = ENV('LOCKD_POWERLOSS_HISTORY', '2K')
KEEP = ENV('LOCKD_POWERLOSS_KEEP', '') == '1'
CUT_AT = ENV('LOCKD_POWERLOSS_CUT_AT')
JOURNAL_SMALL = '8192'            # LOCKD_JOURNAL_SEGMENT of half the cuts
HISTORY_FULL = '16M'              # history-size of the other half: no
                                  # rotation, so no end may be missing
HOT = ['r%d' % i for i in range(5)]
COLD = ['q%d' % i for i in range(3)]   # changed seldom (see run_until_cut)
RESOURCES = HOT + COLD
CLIENTS_PER_DAEMON = 3
WEDGE_SECONDS = 3.0
SEMANTIC = (FAULT_HELD, FAULT_NOT_OWNER, FAULT_NOT_LOCKED)
USER_WRAPPER = list(harness.WRAPPER)     # LOCKD_WRAPPER (valgrind ...)
BOOT_SCRIPT = 'mount --bind "$0" /proc/sys/kernel/random/boot_id && exec "$@"'


_mounts = set()                 # every Mount not yet closed


@atexit.register
def _unmount_all():
    for m in list(_mounts):
        m.close()


# -- the file system and the boots --------------------------------------------
class Mount:
    """crashfs.py serving BACKING at a fresh mount point."""

    def __init__(self, backing, tmp, cut_at=None):
        env = dict(os.environ, CRASHFS_CUT_AT=cut_at or '')
        self.mnt = tempfile.mkdtemp(prefix='mnt-', dir=tmp)
        self.ctl = os.path.join(tmp, 'ctl-%s.sock' % uuid.uuid4().hex[:8])
        self.log = open(os.path.join(tmp, 'crashfs.log'), 'ab')
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'crashfs.py'), backing,
             self.mnt, self.ctl], stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log, env=env)
        _mounts.add(self)
        deadline = time.monotonic() + 10
        while not (os.path.ismount(self.mnt) and os.path.exists(self.ctl)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise OSError('crashfs did not mount %s' % self.mnt)
            time.sleep(0.02)

    def call(self, req):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect(self.ctl)
        with s:
            s.sendall((json.dumps(req) + '\n').encode())
            return json.loads(s.makefile('r').readline())

    def close(self):
        _mounts.discard(self)
        subprocess.run(['umount', '-l', self.mnt], stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def boot(tmp):
    """A new boot id for the daemons started from now on: each runs in a
    mount namespace of its own whose boot_id is this one."""
    path = os.path.join(tmp, 'boot-%s' % uuid.uuid4().hex[:8])
    with open(path, 'w') as f:
        f.write(str(uuid.uuid4()) + '\n')
    harness.WRAPPER = ['unshare', '--mount', '--propagation', 'private',
                       'sh', '-c', BOOT_SCRIPT, path] + USER_WRAPPER


def daemons(lockdir, tmp, args=(), history=HISTORY):
    conf = os.path.join(tmp, 'lockd.conf')
    with open(conf, 'w') as f:
        f.write('break-lock yes\nlock-delay 0\nhistory-size %s\n' % history)
    return [harness.Daemon(lockdir, ['--config', conf] + list(args)).start()
            for _ in range(2)]


# -- the workload -------------------------------------------------------------
class Record:
    """Every call and its answer: (kind, resource, client, t0, t1, answer),
    answer a value, ('fault', code) or ('error', text)."""

    def __init__(self):
        self.ops = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.cut = float('inf')

    def call(self, kind, r, c, fn, *args):
        t0 = time.monotonic()
        try:
            ans = fn(*args)
        except xmlrpc.client.Fault as e:
            ans = ('fault', e.faultCode, e.faultString)
        except (OSError, xmlrpc.client.ProtocolError, EOFError) as e:
            ans = ('error', str(e))
        with self.lock:
            self.ops.append((kind, r, c, t0, time.monotonic(), ans))
        return ans


def client(rec, d, c, rng, pool=HOT, pause=0):
    """One client: lock or lease what it does not hold, unlock what it
    does, until stopped; its own view of what it holds may be stale after
    a break (then unlock answers 2 or 3)."""
    p = d.proxy(timeout=10)
    held = set()
    while not rec.stop.wait(rng.uniform(0, pause)):
        r = rng.choice(pool)
        if r in held:
            ans = rec.call('unlock', r, c, p.unlock, r, c)
            held.discard(r)
        elif rng.random() < 0.5:
            ans = rec.call('lock', r, c, p.lock_token, r, c)
            held.update([r] if isinstance(ans, int) else [])
        else:
            ans = rec.call('acquire', r, c, p.acquire, r, c, {'ttl': 600})
            held.update([r] if isinstance(ans, dict) else [])
        if isinstance(ans, tuple) and ans[0] == 'error':
            time.sleep(0.01)


def breaker(rec, ds, rng):
    while not rec.stop.wait(rng.uniform(0.02, 0.1)):
        r = rng.choice(HOT)
        p = rng.choice(ds).proxy(timeout=10)
        rec.call('break', r, None, p.break_lock, r, 'powerloss test')


def run_until_cut(rec, ds, rng, seconds):
    threads = [threading.Thread(target=client, args=(
        rec, d, 'c%d%d' % (k, i), random.Random(rng.random())))
        for k, d in enumerate(ds) for i in range(CLIENTS_PER_DAEMON)]
    threads.append(threading.Thread(target=breaker, args=(
        rec, ds, random.Random(rng.random()))))
    # one slow client per daemon on the cold resources: what it did last
    # is often covered by a checkpoint when power is cut
    threads += [threading.Thread(target=client, args=(
        rec, d, 's%d' % k, random.Random(rng.random()), COLD, 0.3))
        for k, d in enumerate(ds)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    return threads


# -- what the acknowledged answers promise ------------------------------------
def token_of(kind, ans):
    if kind == 'lock':
        return ans
    return ans['token'] if kind == 'acquire' else ans['new_token']


def history_of(rec):
    """Per resource: acknowledged grants {token: (client, t_ack)}, ended
    holdings {token}, break tokens, acknowledged ends {(how, token)}, the
    clients whose call on it is in doubt (no answer, or an error), and the
    largest token acknowledged."""
    res = {r: {'grants': {}, 'ended': set(), 'breaks': [], 'doubt': set(),
               'ends': set(), 'doubt_break': False} for r in RESOURCES}
    last = {}                           # (client, r) -> token held
    top = 0
    for kind, r, c, t0, t1, ans in sorted(rec.ops, key=lambda o: o[4]):
        h = res[r]
        if isinstance(ans, tuple):
            if ans[0] == 'error' or ans[1] not in SEMANTIC:
                if c:
                    h['doubt'].add(c)
                else:
                    h['doubt_break'] = True
            if kind == 'unlock':
                last.pop((c, r), None)
            continue
        if kind == 'unlock':
            tok = last.pop((c, r), None)
            h['ended'].add(tok)
            if tok is not None:
                h['ends'].add(('unlock', tok))
            continue
        tok = token_of(kind, ans)
        top = max(top, tok)
        if kind == 'break':
            h['breaks'].append((tok, ans['token'], t0, t1))
            h['ended'].add(ans['token'])
            h['ends'].add(('break', ans['token']))
        else:
            h['grants'][tok] = (c, t1)
            last[(c, r)] = tok
    return res, top


def overlaps(rec, res):
    """Double grants seen before the cut: B's grant acknowledged while A,
    granted under a smaller token, had not yet asked to unlock and no break
    came between.  When B had even released before A's grant was
    acknowledged, A's grant came later with the smaller token."""
    asks = {}                   # (client, r) -> [(unlock t0, t1), ...]
    for kind, r, c, t0, t1, ans in rec.ops:
        if kind == 'unlock':
            asks.setdefault((c, r), []).append((t0, t1))
    bad = []
    for r, h in res.items():
        g = sorted(h['grants'].items())
        for (ta, (a, ack_a)), (tb, (b, ack_b)) in zip(g, g[1:]):
            if a == b or h['doubt_break'] or any(
                    ta <= bt < tb for _, bt, _, _ in h['breaks']):
                continue
            if any(ack_a < u < ack_b for u, _ in asks.get((a, r), [])):
                continue
            if any(ack_b < u and v < ack_a for u, v in asks.get((b, r), [])):
                what = 'a later grant got a smaller token: %s released ' \
                    'token %d before %s got token %d' % (b, tb, a, ta)
            else:
                what = '%s (token %d) and %s (token %d) both held' % (
                    a, ta, b, tb)
            bad.append('%s: %s; the calls on it:%s'
                       % (r, what, trace(rec, r, ack_b)))
    return bad


def trace(rec, r, t):
    """The calls on R answered within 0.5 s of T, one a line."""
    out = ''
    for kind, res, c, t0, t1, ans in sorted(rec.ops, key=lambda o: o[3]):
        if isinstance(ans, dict):
            ans = {k: ans[k] for k in ('token', 'new_token') if k in ans}
        elif isinstance(ans, tuple):
            ans = ans[:2]
        if res == r and abs(t1 - t) < 0.5 and ans != ('fault', FAULT_HELD):
            out += '\n        %+.4f %+.4f %s %s %r' % (t0 - t, t1 - t, kind,
                                                     c, ans)
    return out


def expected(h):
    """(holder, token) the resource must show, or None when free; and the
    clients that may hold it instead (their call is in doubt)."""
    may = set(h['doubt'])
    if not h['grants']:
        return None, may
    tok = max(h['grants'])
    c = h['grants'][tok][0]
    ended = tok in h['ended'] or any(bt >= tok for _, bt, _, _ in
                                     h['breaks'])
    if ended:
        return None, may
    if c in h['doubt'] or h['doubt_break']:
        may.add(None)
    return (c, tok), may


# -- after the reboot ---------------------------------------------------------
def retry(fn, *args):
    """FN's answer, retried while it is fault 20 or 21; ('wedged', code)
    when it is that on every try for WEDGE_SECONDS."""
    deadline = time.monotonic() + WEDGE_SECONDS
    while True:
        try:
            return fn(*args)
        except xmlrpc.client.Fault as e:
            if e.faultCode not in (FAULT_STORAGE, FAULT_STATE):
                return ('fault', e.faultCode)
            if time.monotonic() > deadline:
                return ('wedged', e.faultCode, e.faultString)
        time.sleep(0.1)


def check_history(r, h, p):
    """The acknowledged ends of R missing from its history (read through
    P), when no record can have been rotated away."""
    got = retry(p.history, r, {'limit': 1000})
    if isinstance(got, tuple):
        return ['%s: history answers %r after the reboot' % (r, got)]
    if len(got) == 1000:
        return []               # the oldest may be beyond the limit
    missing = h['ends'] - {(e['ended'], e.get('token')) for e in got}
    return ['%s: acknowledged %s of token %d missing from the history'
            % (r, how, tok) for how, tok in sorted(missing)]


def check_resource(r, h, ps, top, full):
    """The problems of R after the reboot, through the proxies PS; with
    FULL, also the acknowledged ends missing from its history."""
    sts = [retry(p.status, r) for p in ps]
    if any(isinstance(s, tuple) for s in sts):
        return ['%s: status answers %r after the reboot' % (r, sts)]
    now = [(s['holder'], s.get('token')) if s['held'] else None for s in sts]
    bad = check_history(r, h, ps[0]) if full else []
    if now[0] != now[1]:
        bad.append('%s: the daemons disagree: %r' % (r, now))
    want, may = expected(h)
    got = now[0]
    if got != want and (want is not None and None not in may or
                        (got[0] if got else None) not in may):
        what = 'lost acknowledged lock' if want else 'lost acknowledged unlock'
        bad.append('%s: %s: expected %r, found %r' % (r, what, want, got))
    for p in ps:
        if got and retry(p.lock_token, r, 'probe') != ('fault', FAULT_HELD):
            bad.append('%s: held by %r, yet probe could lock it' % (r, got))
    if got:
        ans = retry(ps[0].unlock, r, got[0])
        if ans is not None:
            return bad + ['%s: wedged: its holder %r cannot unlock it: %r'
                          % (r, got[0], ans)]
    for p, q in (ps, ps[::-1]):
        tok = retry(p.lock_token, r, 'probe')
        if not isinstance(tok, int) or tok <= top:
            return bad + ['%s: a new grant answers %r (tokens up to %d were '
                          'acknowledged before the cut)' % (r, tok, top)]
        ans = retry(q.unlock, r, 'probe')
        if ans is not None:
            return bad + ['%s: unlock after the reboot answers %r'
                          % (r, ans)]
    return bad


def after_reboot(rec, after, tmp, remount, history):
    res, top = history_of(rec)
    bad = overlaps(rec, res)
    boot(tmp)
    m = Mount(after, tmp) if remount else None
    ds = []
    try:
        ds = daemons(m.mnt if m else after, tmp, history=history)
        ps = [d.proxy(timeout=10) for d in ds]
        for r in RESOURCES:
            bad += check_resource(r, res[r], ps, top,
                                  history == HISTORY_FULL)
    except RuntimeError as e:
        bad.append('lockd does not start after the reboot: %s' % e)
    finally:
        for d in ds:
            st = d.stop()
            if st != 0:
                bad.append('lockd exited with %s after the checks' % st)
            d.close()
        if m:
            m.close()
    return bad


# -- one cut ------------------------------------------------------------------
def one_cut(n, seed, mode):
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix='lockd-power-')
    backing, after = os.path.join(tmp, 'backing'), os.path.join(tmp, 'after')
    os.mkdir(backing)
    os.mkdir(after)
    remount = rng.random() < 0.5
    # Half the cuts with a small journal: checkpoints every few dozen
    # records, so that cuts fall inside them too.
    small = rng.random() < 0.5
    os.environ['LOCKD_JOURNAL_SEGMENT'] = JOURNAL_SMALL if small else ''
    history = HISTORY if CUT_AT or rng.random() < 0.5 else HISTORY_FULL
    boot(tmp)
    m = Mount(backing, tmp, CUT_AT)
    ds, threads, rec = [], [], Record()
    try:
        ds = daemons(m.mnt, tmp, ARGS, history)
        threads = run_until_cut(rec, ds, rng, rng.uniform(0.2, 1.5))
        rec.cut = time.monotonic()
        stats = m.call({'cmd': 'cut', 'out': after, 'mode': mode,
                        'seed': seed, 'nonatomic': NONATOMIC})['stats']
        for d in ds:
            d.kill()
    finally:
        rec.stop.set()
        for t in threads:
            t.join(timeout=30)
        for d in ds:
            d.close()
        m.close()
    bad = after_reboot(rec, after, tmp, remount, history)
    acks = sum(1 for o in rec.ops if not isinstance(o[5], tuple))
    print('cut %d seed %d %s%s%s%s%s: %d calls, %d acknowledged, %d syncs, '
          '%d dir syncs, restart on %s: %s'
          % (n, seed, mode, '+nonatomic' if NONATOMIC else '',
             ', small journal' if small else '',
             ', whole history' if history == HISTORY_FULL else '',
             ' at rename onto ' + stats['cut_at'] if 'cut_at' in stats
             else '', len(rec.ops),
             acks, stats.get('fsync', 0), stats.get('fsyncdir', 0),
             'crashfs' if remount else 'a plain directory',
             'ok' if not bad else '%d problems' % len(bad)), flush=True)
    early = [o[5][2] for o in rec.ops if isinstance(o[5], tuple) and
             o[5][0] == 'fault' and o[5][1] not in SEMANTIC and
             o[4] < rec.cut]
    if early and 'cut_at' not in stats:
        print('    %d faults before the cut, the first: %s'
              % (len(early), early[0]), flush=True)
    for b in bad:
        print('    ' + b, flush=True)
    if bad and KEEP:
        print('    kept: %s' % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return acks, bad


def can_mount():
    """None when crashfs can be mounted here, else why not."""
    if harness.BACKEND != 'dir':
        return 'LOCKD_TEST_BACKEND=%s: the test is about the lock ' \
            'directory' % harness.BACKEND
    if os.geteuid() != 0:
        return 'FUSE cannot be mounted: not root'
    if not os.path.exists('/dev/fuse'):
        return 'FUSE cannot be mounted: no /dev/fuse'
    try:
        sys.path.insert(0, HERE)
        __import__('crashfs')
    except ImportError:
        return 'FUSE cannot be mounted: no fusepy (apt-get install ' \
            'python3-fusepy fuse3)'
    tmp = tempfile.mkdtemp(prefix='lockd-power-probe-')
    try:
        os.mkdir(os.path.join(tmp, 'b'))
        Mount(os.path.join(tmp, 'b'), tmp).close()
        boot(tmp)
        if subprocess.run(harness.WRAPPER + ['true']).returncode != 0:
            return 'cannot give lockd the boot id of a new boot (unshare)'
    except OSError as e:
        return 'FUSE cannot be mounted: %s' % e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return None


def main():
    why = can_mount()
    if why:
        print('SKIP: %s' % why)
        print('suite-result: 0 passed, 0 failed')
        return 77
    seed = int(ENV('LOCKD_POWERLOSS_SEED') or random.randrange(1 << 30))
    print('seed %d (LOCKD_POWERLOSS_SEED=%d repeats this run), %d cuts'
          % (seed, seed, CUTS), flush=True)
    failed = acks = 0
    for n in range(CUTS):
        a, bad = one_cut(n, seed + n, MODES[n % len(MODES)])
        acks += a
        failed += bool(bad)
    print('%d cuts, %d acknowledged calls, %d cuts with problems'
          % (CUTS, acks, failed))
    print('suite-result: %d passed, %d failed' % (CUTS - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    raise SystemExit(main())
