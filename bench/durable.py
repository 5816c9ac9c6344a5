#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""durable.py -- lockd durable against its --no-sync, an old build and Redis.

    bench/durable.py --new NEW/server/lockd --old OLD/server/lockd
                     [--reps 5] [--clients 16] [--p99-clients 64]
                     [--duration S] [--redis-server PATH]

The figures of issue 15, in one run: lock+unlock pairs on distinct
resources, C keep-alive clients, of NEW durable, NEW --no-sync, OLD durable
(e.g. a build of 3d92d0d) and Redis with appendfsync always (started here
on a free 127.0.0.1 port, driven by bench/redisload.c: SET NX and a
compare-and-delete script), the phases interleaved, every other repetition
in the opposite order.  Then the p99 of lock and of unlock at --p99-clients
for NEW durable, OLD durable and Redis.  Prints the medians, the ratios
taken rep by rep and the targets.  Uses run.py's daemons and loadgen; stops
all it starts, by PID.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

import run

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = ('NEW durable', 'NEW no-sync', 'OLD durable', 'Redis')
P99_SYSTEMS = ('NEW durable', 'OLD durable', 'Redis')
# (numerator, denominator, wanted ratio, what the issue calls it)
RATIOS = (('NEW durable', 'NEW no-sync', 0.8, '>= 0.8x'),
          ('NEW durable', 'OLD durable', 2.0, '>= 2x'),
          ('NEW durable', 'Redis', 1.0, '>= 1.0x (goal)'))
P99_TARGET_US = 10000


class Redis:
    """redis-server with appendfsync always on a free 127.0.0.1 port: an
    fdatasync of its append-only file before each batch of replies."""

    def __init__(self, a, datadir):
        os.makedirs(datadir, mode=0o700, exist_ok=True)
        self.port = run.free_port()
        self.logpath = os.path.join(datadir, 'redis.log')
        self.proc = subprocess.Popen(
            [a.redis_server, '--bind', '127.0.0.1', '--port', str(self.port),
             '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
             '--dir', datadir, '--daemonize', 'no', '--logfile',
             self.logpath], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        up, deadline = False, time.monotonic() + 30
        while (not up and self.proc.poll() is None and
               time.monotonic() < deadline):
            up = run.wait_connect(self.port, time.monotonic() + 0.1)
        if not up:
            self.stop()
            try:
                with open(self.logpath) as f:
                    tail = f.read()[-2000:]
            except OSError:
                tail = '(no log)'
            raise RuntimeError('redis-server did not start (exit status '
                               '%s): %s' % (self.proc.returncode, tail))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def build(a):
    """loadgen (run.py's build) and redisload, with cc into WORKDIR/bin."""
    run.build(a)
    src = os.path.join(HERE, 'redisload.c')
    a.redisload = os.path.join(a.build_dir, 'redisload')
    if (not os.path.exists(a.redisload) or
            os.path.getmtime(a.redisload) < os.path.getmtime(src)):
        subprocess.run([os.environ.get('CC', 'cc'), '-O2', '-g', '-Wall',
                        '-pthread', '-o', a.redisload, src], check=True)


def redis_phase(a, r, conns, label):
    """One redisload phase; its JSON line (pairs 0, errors -1 if none)."""
    cmd = [a.redisload, '--port', str(r.port), '-c', str(conns), '-d',
           str(a.duration), '-w', str(a.warmup), '--call-timeout',
           str(a.call_timeout), '--label', label]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=a.duration + a.warmup + a.call_timeout + 60)
    sys.stderr.write(p.stderr.decode(errors='replace'))
    try:
        return json.loads(p.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {'label': label, 'pairs_per_s': 0, 'errors': -1,
                'lat_us': {}}


def redis_version(a):
    p = subprocess.run([a.redis_server, '--version'], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    words = [w for w in p.stdout.decode().split() if w.startswith('v=')]
    return words[0][2:] if words else '?'


def measure(a, systems, bench):
    """The interleaved repetitions: {(system, clients): [result, ...]}."""
    got = {}

    def one(name, conns):
        kind, d = systems[name]
        if kind == 'redis':
            r = redis_phase(a, d, conns, name)
        else:
            r = bench.loadgen(d, conns, 'distinct', name)
        got.setdefault((name, conns), []).append(r)

    for rep in range(a.reps):
        run.log('repetition %d/%d, load average %s'
                % (rep + 1, a.reps, run.loadavg()))
        step = 1 if rep % 2 == 0 else -1
        for name in SYSTEMS[::step]:
            one(name, a.clients)
        for name in P99_SYSTEMS[::step]:
            one(name, a.p99_clients)
    return got


def report(a, got, load0):
    """The three tables and the targets, as text."""
    def pairs(name, c=a.clients):
        return [r.get('pairs_per_s') or 0 for r in got[(name, c)]]

    def errs(name, c):
        return sum(run.nerr(r) for r in got[(name, c)])

    def p99(name, which):
        return run.med([run.lat(r, which, 'p99')
                        for r in got[(name, a.p99_clients)]])

    def ms(us, nd=2):
        return run.fmt(None if us is None else us / 1000.0, nd)

    out = ['durable.py, %s; %d clients (p99 at %d), %d repetition(s) of '
           '%g s after %g s warm-up, interleaved; load average %s at start, '
           '%s at end' % (time.strftime('%Y-%m-%d %H:%M'), a.clients,
                          a.p99_clients, a.reps, a.duration, a.warmup, load0,
                          run.loadavg()),
           'machine: %s' % run.machine(),
           'NEW = %s\nOLD = %s\nRedis = %s %s, appendonly yes, appendfsync '
           'always, save ""' % (a.new, a.old, a.redis_server,
                                redis_version(a)), '']
    rows = [[n, run.fmt(statistics.median(pairs(n))),
             '%s-%s' % (run.fmt(min(pairs(n))), run.fmt(max(pairs(n)))),
             ' '.join(run.fmt(x) for x in pairs(n)), errs(n, a.clients)]
            for n in SYSTEMS]
    out += [run.table('pairs/s at %d clients (median, min-max, each '
                      'repetition in order)' % a.clients,
                      ('system', 'pairs/s', 'min-max', 'each', 'errors'),
                      rows), '']
    rows = []
    for num, den, want, wanted in RATIOS:
        rs = [x / y for x, y in zip(pairs(num), pairs(den)) if y]
        m = statistics.median(rs) if rs else None
        rows.append(['%s / %s' % (num, den), run.fmt(m, 2),
                     '%s-%s' % (run.fmt(min(rs), 2), run.fmt(max(rs), 2))
                     if rs else '-', ' '.join(run.fmt(x, 2) for x in rs),
                     wanted, '-' if m is None else
                     ('MET' if m >= want else 'NOT MET')])
    out += [run.table('ratios at %d clients, taken repetition by repetition'
                      % a.clients, ('ratio', 'median', 'min-max', 'each',
                                    'wanted', 'verdict'), rows), '']
    rows = []
    for n in P99_SYSTEMS:
        worst = max([x for x in (p99(n, 'lock'), p99(n, 'unlock'))
                     if x is not None] or [None])
        verdict = '-' if worst is None else (
            'MET' if worst < P99_TARGET_US else 'NOT MET')
        rows.append([n, ms(p99(n, 'lock')), ms(p99(n, 'unlock')),
                     run.fmt(statistics.median(pairs(n, a.p99_clients))),
                     errs(n, a.p99_clients),
                     verdict if n == 'NEW durable' else ''])
    out.append(run.table('p99 at %d clients, ms (medians over the '
                         'repetitions); target for NEW durable: lock and '
                         'unlock < %g ms' % (a.p99_clients,
                                             P99_TARGET_US / 1000),
                         ('system', 'lock p99', 'unlock p99', 'pairs/s',
                          'errors', 'verdict'), rows))
    return '\n'.join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--new', required=True, help='lockd binary under test')
    ap.add_argument('--old', required=True,
                    help='lockd binary to compare with (a build of 3d92d0d)')
    ap.add_argument('--redis-server', default=shutil.which('redis-server')
                    or '/usr/bin/redis-server')
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--clients', type=int, default=16)
    ap.add_argument('--p99-clients', type=int, default=64)
    ap.add_argument('--duration', type=float, default=3.0)
    ap.add_argument('--warmup', type=float, default=0.5)
    ap.add_argument('--call-timeout', type=float, default=5)
    ap.add_argument('--workdir', default=None,
                    help='scratch directory (default /tmp/lockd-durable.PID)')
    ap.add_argument('--json', default=None,
                    help='also write every phase\'s result here, one JSON '
                    'object a line')
    a = ap.parse_args(argv)
    a.new, a.old = os.path.abspath(a.new), os.path.abspath(a.old)
    for path in (a.new, a.old, a.redis_server):
        if not os.access(path, os.X_OK):
            sys.exit('durable.py: cannot run %s' % path)
    a.workdir = os.path.abspath(a.workdir or
                                '/tmp/lockd-durable.%d' % os.getpid())
    a.build_dir = os.path.join(a.workdir, 'bin')
    os.makedirs(a.workdir, exist_ok=True)
    build(a)
    bench = run.Bench(a)
    started = []
    try:
        systems = {}
        for name, path, sync in (('NEW durable', a.new, True),
                                 ('NEW no-sync', a.new, False),
                                 ('OLD durable', a.old, True)):
            a.lockd = path
            d = run.Daemon(a, 'lockd', os.path.join(
                a.workdir, name.replace(' ', '-')), sync=sync,
                name=name.replace(' ', '-'))
            started.append(d)
            systems[name] = ('lockd', d)
        r = Redis(a, os.path.join(a.workdir, 'redis'))
        started.append(r)
        systems['Redis'] = ('redis', r)
        load0 = run.loadavg()
        got = measure(a, systems, bench)
        text = report(a, got, load0)
        if a.json:
            with open(a.json, 'w') as f:
                for (name, conns), rs in sorted(got.items()):
                    for r in rs:
                        f.write(json.dumps(dict(r, system=name,
                                                conns=conns)) + '\n')
        print(text)
    finally:
        for d in started:
            d.stop()
        shutil.rmtree(a.workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
