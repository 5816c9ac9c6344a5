#!/usr/bin/env python3
"""ab.py -- two lockd builds side by side: durable, no-sync and ping.

    bench/ab.py --a NEW/server/lockd --b OLD/server/lockd [--reps N]
                [--clients 16] [--duration S]

For a change that must not cost speed (a restructuring, a refactor): both
builds run at once, each as a durable daemon, a --no-sync daemon and the
ping() load of the latter, and the phases alternate A, B, A, B ... so that
the machine's drift hits both alike.  Prints, per figure, the medians of
each build's pairs/s and the median of the ratios A/B taken rep by rep.
Uses run.py's daemon and load generator; 127.0.0.1 only; stops all it
starts.
"""
import argparse
import os
import shutil
import statistics
import sys

import run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--a', required=True, help='lockd binary A (the new one)')
    ap.add_argument('--b', required=True, help='lockd binary B (the base)')
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--clients', type=int, default=16)
    ap.add_argument('--duration', type=float, default=2.0)
    ap.add_argument('--warmup', type=float, default=0.5)
    ap.add_argument('--call-timeout', type=float, default=5)
    ap.add_argument('--workdir', default=None)
    a = ap.parse_args(argv)
    a.workdir = os.path.abspath(a.workdir or
                                '/tmp/lockd-ab.%d' % os.getpid())
    a.build_dir = os.path.join(a.workdir, 'bin')
    os.makedirs(a.workdir, exist_ok=True)
    run.build(a)
    bench = run.Bench(a)
    daemons = []
    try:
        sides = {}
        for side, path in (('A', a.a), ('B', a.b)):
            a.lockd = os.path.abspath(path)
            d = run.Daemon(a, 'lockd', '%s/%s-durable' % (a.workdir, side),
                           sync=True, name=side + '-durable')
            daemons.append(d)
            n = run.Daemon(a, 'lockd', '%s/%s-nosync' % (a.workdir, side),
                           sync=False, name=side + '-nosync')
            daemons.append(n)
            sides[side] = ((('durable', d, 'distinct'),
                            ('no-sync', n, 'distinct'),
                            ('ping', n, 'ping')))
        got = {}
        run.log('load average %s' % run.loadavg())
        for rep in range(a.reps):
            run.log('repetition %d/%d' % (rep + 1, a.reps))
            for i in range(3):
                order = ('A', 'B') if rep % 2 == 0 else ('B', 'A')
                for side in order:
                    name, d, mode = sides[side][i]
                    r = bench.loadgen(d, a.clients, mode, side + ' ' + name)
                    got.setdefault((side, name), []).append(
                        (r.get('pairs_per_s') or 0, run.nerr(r)))
        run.log('load average %s' % run.loadavg())
        print('%d clients, %d reps of %.1f s, interleaved; A = %s, B = %s'
              % (a.clients, a.reps, a.duration, a.a, a.b))
        rows = []
        for name in ('durable', 'no-sync', 'ping'):
            pa = [x[0] for x in got[('A', name)]]
            pb = [x[0] for x in got[('B', name)]]
            errs = sum(x[1] for x in got[('A', name)] + got[('B', name)])
            ratios = [x / y for x, y in zip(pa, pb) if y]
            rows.append((name, run.fmt(statistics.median(pa)),
                         run.fmt(statistics.median(pb)),
                         run.fmt(statistics.median(ratios), 3)
                         if ratios else '-',
                         '%s-%s' % (run.fmt(min(ratios), 3),
                                    run.fmt(max(ratios), 3))
                         if ratios else '-', errs))
        print(run.table('pairs/s, medians', ('figure', 'A', 'B', 'A/B',
                                              'A/B min-max', 'errors'),
                        rows))
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(a.workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
