#!/usr/bin/env python3
"""etcd.py -- lockd on etcd next to lockd on its lock directory.

    bench/etcd.py [--quick] [--lockd PATH] [--workdir DIR] [--conns 1,4,16]
                  [--no-cluster] [--duration S] [--warmup S]

Measures, with bench/loadgen.c (lock+unlock pairs on distinct resources,
keep-alive C clients) and interleaved so that drift hits every system
alike:

  * lockd with its lock directory (durable: the default)
  * lockd on one etcd member (the JSON gateway over loopback)
  * lockd on a 3-member etcd cluster (loopback: no network latency, but
    every write is replicated to a quorum and synced by each member)
  * two lockd daemons sharing that cluster, the load split between them

at 1, 4 and 16 connections, plus every client fighting for one resource
(contended).  Prints pairs/s, call latency p50/p99 (ms) and errors per
system; everything also goes to WORKDIR/etcd-results.json.

etcd runs from tests/etcd/etcdrun.py (free ports, temporary data
directories, auto-compaction on) and is stopped by PID at the end; only
127.0.0.1 is used.  About 4 minutes, --quick about 1.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, 'tests', 'etcd'))

import etcdrun                     # noqa: E402
import run as benchrun             # noqa: E402  (bench/run.py's helpers)


class Lockd:
    """One lockd on 127.0.0.1 (port chosen by the kernel), on its lock
    directory or, with ENDPOINTS, on etcd under PREFIX."""

    def __init__(self, args, name, lockdir, endpoints=None, prefix=None):
        self.name = name
        os.makedirs(lockdir, mode=0o700, exist_ok=True)
        self.errpath = os.path.join(args.workdir, 'log-%s.txt' % name)
        cmd = [args.lockd, '--foreground', '--port', '0', '--lockdir',
               lockdir, '--config', '/dev/null']
        if endpoints:
            cmd += ['--backend', 'etcd', '--etcd-endpoints', endpoints,
                    '--etcd-prefix', prefix]
        if os.geteuid() == 0:
            cmd += ['--user', 'root']
        with open(self.errpath, 'wb') as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err)
        self.pid = self.proc.pid
        self.port = None
        deadline = time.monotonic() + 60
        while self.port is None and time.monotonic() < deadline:
            with open(self.errpath, 'rb') as f:
                for line in f:
                    if b'listening on http://127.0.0.1:' in line:
                        self.port = int(line.rsplit(b':', 1)[1]
                                        .strip(b'/\n'))
                        break
            if self.port is None:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.01)
        if self.port is None:
            self.stop()
            raise RuntimeError('lockd %s did not start: %s' % (
                name, open(self.errpath).read()[-2000:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def loadgen(args, d, conns, mode, label):
    """One loadgen phase against daemon D; its JSON result."""
    cmd = [args.loadgen, '--port', str(d.port), '-c', str(conns),
           '-d', str(args.duration), '-w', str(args.warmup),
           '--pid', str(d.pid), '--call-timeout', '10', '--label', label]
    if mode == 'contended':
        cmd.append('--contended')
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=args.duration + args.warmup + 120)
    try:
        r = json.loads(p.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        sys.stderr.write(p.stderr.decode(errors='replace'))
        r = {'pairs_per_s': 0, 'calls_per_s': 0, 'errors': -1,
             'lat_us': {}}
    r.update(system=label, conns=conns, mode=mode)
    return r


def split_load(args, daemons, conns, label):
    """CONNS connections split over DAEMONS at once; summed pairs/s, the
    worse latency."""
    half = max(1, conns // len(daemons))
    procs = []
    for d in daemons:
        cmd = [args.loadgen, '--port', str(d.port), '-c', str(half),
               '-d', str(args.duration), '-w', str(args.warmup),
               '--call-timeout', '10', '--label', label]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
    rs = []
    for p in procs:
        out, _ = p.communicate(timeout=args.duration + args.warmup + 120)
        try:
            rs.append(json.loads(out.decode().strip().splitlines()[-1]))
        except (ValueError, IndexError):
            rs.append({'pairs_per_s': 0, 'errors': -1, 'lat_us': {}})
    worst = max(rs, key=lambda r: benchrun.lat(r, 'call', 'p99') or 0)
    return {'system': label, 'conns': half * len(daemons),
            'mode': 'distinct',
            'pairs_per_s': sum(r.get('pairs_per_s', 0) for r in rs),
            'errors': sum(max(r.get('errors', 0), 0) for r in rs) +
            (1 if any(r.get('errors', 0) < 0 for r in rs) else 0),
            'lat_us': worst.get('lat_us', {})}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--lockd', default=os.path.join(
        TOP, '_build', 'bench', 'server', 'lockd'))
    ap.add_argument('--workdir', default=None)
    ap.add_argument('--conns', default='1,4,16')
    ap.add_argument('--no-cluster', action='store_true',
                    help='skip the 3-member cluster')
    ap.add_argument('--duration', type=float, default=None)
    ap.add_argument('--warmup', type=float, default=None)
    a = ap.parse_args(argv)
    a.duration = a.duration or (2.0 if a.quick else 5.0)
    a.warmup = a.warmup if a.warmup is not None else (0.5 if a.quick
                                                      else 1.0)
    a.workdir = os.path.abspath(a.workdir or tempfile.mkdtemp(
        prefix='lockd-bench-etcd.'))
    a.build_dir = os.path.join(a.workdir, 'bin')
    conns = [int(c) for c in a.conns.split(',')]
    if etcdrun.etcd_binary() is None:
        sys.exit('etcd not found: install etcd-server')
    benchrun.build(a)
    benchrun.log('machine: %s; load %s' % (benchrun.machine(),
                                            benchrun.loadavg()))
    clusters, daemons, results = [], {}, []
    try:
        one = etcdrun.Etcd(members=1, base=os.path.join(a.workdir,
                                                         'etcd1'))
        os.makedirs(one.base, exist_ok=True)
        clusters.append(one.start())
        daemons['dir'] = Lockd(a, 'dir', os.path.join(a.workdir, 'd-dir'))
        daemons['etcd 1 member'] = Lockd(a, 'etcd1', os.path.join(
            a.workdir, 'd-e1'), one.endpoints, '/bench/')
        if not a.no_cluster:
            three = etcdrun.Etcd(members=3, base=os.path.join(a.workdir,
                                                               'etcd3'))
            os.makedirs(three.base, exist_ok=True)
            clusters.append(three.start())
            daemons['etcd 3 members'] = Lockd(a, 'etcd3', os.path.join(
                a.workdir, 'd-e3'), three.endpoints, '/bench/')
            second = Lockd(a, 'etcd3b', os.path.join(a.workdir, 'd-e3b'),
                           three.endpoints, '/bench/')
            daemons['2 lockd, etcd 3 members'] = second
        for c in conns:
            for name, d in daemons.items():
                if name.startswith('2 lockd'):
                    r = split_load(a, [daemons['etcd 3 members'], d], c,
                                   name)
                else:
                    r = loadgen(a, d, c, 'distinct', name)
                benchrun.log('%-24s %3d conns: %8.0f pairs/s' % (
                    name, c, r.get('pairs_per_s', 0)))
                results.append(r)
        for name, d in daemons.items():
            if name.startswith('2 lockd'):
                continue
            r = loadgen(a, d, max(conns), 'contended', name)
            results.append(r)
    finally:
        for d in daemons.values():
            d.stop()
        for e in clusters:
            e.stop(remove=False)
    rows = []
    for r in results:
        rows.append([r['system'], r['mode'], r['conns'],
                     benchrun.fmt(r.get('pairs_per_s')),
                     benchrun.fmt(benchrun._ms(benchrun.lat(r, 'call',
                                                            'p50')), 2),
                     benchrun.fmt(benchrun._ms(benchrun.lat(r, 'call',
                                                            'p99')), 2),
                     benchrun.fmt(r.get('errors'))])
    print(benchrun.table(
        'lockd on etcd next to its lock directory (%s; %g s per phase)'
        % (benchrun.revision(), a.duration),
        ['system', 'load', 'conns', 'pairs/s', 'p50 ms', 'p99 ms',
         'errors'], rows))
    print('machine: %s' % benchrun.machine())
    with open(os.path.join(a.workdir, 'etcd-results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    benchrun.log('all measurements: %s' % os.path.join(
        a.workdir, 'etcd-results.json'))
    for sub in os.listdir(a.workdir):
        p = os.path.join(a.workdir, sub)
        if sub.startswith(('d-', 'etcd')):
            shutil.rmtree(p, ignore_errors=True)


if __name__ == '__main__':
    main()
