#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""startup.py -- how long lockd takes to start with N held locks: after a
clean stop, after a crash of the daemon, after a power loss (issue 15).

    bench/startup.py [--held N] [--lockd PATH] [--workdir DIR] [--reps R]
                     [--cold] [--keep]

Fills a lock directory with N held locks (bench/mkheld.c), then, --reps
times, times lockd from exec to its "listening on" line in three cases:

  clean     the daemon before was stopped with SIGTERM: no journal left
  crash     the daemon before did a lock+unlock and was killed (-9) in
            this boot: its journal is covered by a checkpoint and removed
  power     the same, but the daemon ran under another boot id (a mount
            namespace with a bind-mounted boot_id, as
            tests/powerloss/test_powerloss.py does): its journal is of an
            earlier boot, so it is replayed and every lock file is read
            (--cold drops the page cache before this start)

Each timed daemon is stopped with SIGTERM; then the journal and checkpoint
files left and the lock files are counted (all N must still be there).
Root only for the power case (mount --bind).  127.0.0.1 only; every wait
is bounded; the directory is removed in the background unless --keep.
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BOOT_SCRIPT = 'mount --bind "$0" /proc/sys/kernel/random/boot_id && exec "$@"'
SUFFIX = '.resource.lock'


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


class Daemon:
    """One lockd, started by us, its start timed to the listening line."""
    n, live = 0, []

    def __init__(self, a, wrapper=()):
        Daemon.n += 1
        self.errpath = os.path.join(a.workdir, 'lockd-%d.log' % Daemon.n)
        cmd = list(wrapper) + [a.lockd, '--foreground', '--port', '0',
                               '--config', '/dev/null', '--lockdir', a.dir]
        if os.geteuid() == 0:
            cmd += ['--user', 'root']
        with open(self.errpath, 'wb') as errf:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=errf)
        Daemon.live.append(self)
        self.port, buf, deadline = None, b'', t0 + a.timeout
        with open(self.errpath, 'rb') as f:
            while self.port is None and time.monotonic() < deadline:
                buf += f.read()
                i = buf.find(b'listening on http://127.0.0.1:')
                if i >= 0 and b'\n' in buf[i:]:
                    line = buf[i:buf.index(b'\n', i)]
                    self.port = int(line.rsplit(b':', 1)[1].strip(b'/'))
                elif self.proc.poll() is not None:
                    break
                else:
                    time.sleep(0.001)
        self.seconds = time.monotonic() - t0
        if self.port is None:
            self.kill()
            raise RuntimeError('lockd did not start:\n%s'
                               % buf.decode(errors='replace')[-2000:])

    def lock_unlock(self):
        p = xmlrpc.client.ServerProxy('http://127.0.0.1:%d/' % self.port)
        p.lock('startup-bench', 'startup-client')
        p.unlock('startup-bench', 'startup-client')

    def stop(self, timeout=600):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log('lockd %d ignored SIGTERM for %d s: killed'
                    % (self.proc.pid, timeout))
                self.kill()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)


def short(meta):
    """META's names with boot ids as <this boot> or <other boot>."""
    boot = open('/proc/sys/kernel/random/boot_id').read().strip()
    out = []
    for name in meta:
        parts = name.split('.')
        if name.startswith('.journal.') and len(parts) == 5:
            parts[2] = '<this boot>' if parts[2] == boot else '<other boot>'
            parts[3] = '<pid>'
        out.append('.'.join(parts))
    return ' '.join(out) or '-'


def scan(d):
    """(lock files, sorted names of journal/checkpoint files) in D."""
    held, meta = 0, []
    with os.scandir(d) as it:
        for e in it:
            if e.name.endswith(SUFFIX):
                held += 1
            elif e.name.startswith(('.journal.', '.checkpoint')):
                meta.append(e.name)
    return held, sorted(meta)


def enough_room(a):
    """Refuses (a message) unless the workdir's file system has room."""
    st = os.statvfs(a.workdir)
    need_inodes = a.held + a.held // 10 + 10000
    need_bytes = a.held * 4096 + (1 << 30)
    if st.f_favail < need_inodes:
        return ('not enough free inodes on %s: %d free, %d needed for %d '
                'lock files (df -i)' % (a.workdir, st.f_favail, need_inodes,
                                        a.held))
    if st.f_bavail * st.f_frsize < need_bytes:
        return ('not enough free space on %s: %.1f GB free, %.1f GB needed '
                '(df -h)' % (a.workdir, st.f_bavail * st.f_frsize / 1e9,
                             need_bytes / 1e9))
    return None


def timed(a, case, before):
    """Prepares CASE with BEFORE (crash/power: the daemon to kill), times
    the next start, stops it; returns (seconds, left-before, after)."""
    left = []
    if before is not None:
        before.lock_unlock()
        before.kill()
        left = scan(a.dir)[1]
    if case == 'power' and a.cold:
        os.sync()
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
    d = Daemon(a)
    rc = d.stop()
    held, meta = scan(a.dir)
    log('%-5s %.3f s  left before: %s  after: %d lock files, %s, exit %s'
        % (case, d.seconds, short(left), held, short(meta), rc))
    return d.seconds, short(left), held, short(meta)


def run(a):
    os.makedirs(a.workdir, exist_ok=True)
    msg = enough_room(a)
    if msg:
        sys.exit('startup.py: refusing: ' + msg)
    mkheld = os.path.join(a.workdir, 'mkheld')
    subprocess.run([os.environ.get('CC', 'cc'), '-O2', '-Wall', '-pthread',
                    '-o', mkheld, os.path.join(HERE, 'mkheld.c')], check=True)
    os.makedirs(a.dir, mode=0o700, exist_ok=True)
    log('creating %d held lock files in %s' % (a.held, a.dir))
    t0 = time.monotonic()
    subprocess.run([mkheld, a.dir, str(a.held)], check=True,
                   timeout=a.timeout * 4)
    os.sync()
    mk_s = time.monotonic() - t0
    log('mkheld + sync: %.1f s' % mk_s)
    Daemon(a).stop()            # a first start: the directory lockd makes
    res = {c: [] for c in ('clean', 'crash', 'power')}
    for rep in range(a.reps):
        log('repetition %d/%d' % (rep + 1, a.reps))
        res['clean'].append(timed(a, 'clean', None))
        res['crash'].append(timed(a, 'crash', Daemon(a)))
        bootfile = os.path.join(a.workdir, 'boot_id')
        with open(bootfile, 'w') as f:
            f.write(str(uuid.uuid4()) + '\n')
        wrap = ['unshare', '--mount', '--propagation', 'private',
                'sh', '-c', BOOT_SCRIPT, bootfile]
        res['power'].append(timed(a, 'power', Daemon(a, wrap)))
    return mk_s, res


def report(a, mk_s, res):
    print('lockd startup with %d held locks (%s, %d reps, %s page cache '
          'for "power"); load average %s'
          % (a.held, a.lockd, a.reps, 'cold' if a.cold else 'warm',
             ' '.join(open('/proc/loadavg').read().split()[:3])))
    print('mkheld + sync: %.1f s\n' % mk_s)
    print('| case  | min s  | median s | max s  | lock files after | '
          'journal/checkpoint files after |')
    print('|-------|--------|----------|--------|------------------|'
          '--------------------------------|')
    lost = False
    for case, rows in res.items():
        t = [r[0] for r in rows]
        counts = sorted({r[2] for r in rows})
        metas = sorted({r[3] for r in rows})
        lost |= any(c != a.held for c in counts)
        print('| %-5s | %6.3f | %8.3f | %6.3f | %16s | %-30s |'
              % (case, min(t), statistics.median(t), max(t),
                 '/'.join('{:,}'.format(c) for c in counts),
                 ' / '.join(metas)))
    print('\nleft by the killed daemon before the timed start:')
    for case in ('crash', 'power'):
        print('  %-5s %s' % (case, ' / '.join(sorted(
            {r[1] for r in res[case]}))))
    if lost:
        print('\nLOCK FILES LOST: a count above is not %d' % a.held)
    return 1 if lost else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--held', type=int, default=1000000)
    p.add_argument('--lockd',
                   default=os.path.join(TOP, '_build/rel/server/lockd'))
    p.add_argument('--workdir', default='/tmp/lockd-startup.%d' % os.getpid())
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--cold', action='store_true',
                   help='drop the page cache before the power-loss start')
    p.add_argument('--keep', action='store_true')
    p.add_argument('--timeout', type=float, default=600,
                   help='seconds any start or stop may take')
    a = p.parse_args()
    a.lockd = os.path.abspath(a.lockd)
    socket.setdefaulttimeout(60)        # the XML-RPC calls
    a.dir = os.path.join(a.workdir, 'held')
    if os.geteuid() != 0:
        sys.exit('startup.py: the power-loss case needs root (mount --bind)')
    try:
        mk_s, res = run(a)
    finally:
        for d in Daemon.live:
            d.kill()
        if not a.keep and os.path.isdir(a.workdir):
            log('removing %s in the background' % a.workdir)
            subprocess.Popen(['rm', '-rf', a.workdir],
                             start_new_session=True)
    return report(a, mk_s, res)


if __name__ == '__main__':
    raise SystemExit(main())
