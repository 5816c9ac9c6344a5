#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""etcd.py -- lockd on etcd next to etcd itself (the raw-etcd baseline).

    bench/etcd.py [--quick] [--lockd PATH] [--lockd-b PATH] [--workdir DIR]
                  [--conns 1,16,64] [--members 1,3] [--tls] [--reps N]
                  [--duration S] [--warmup S] [--wake-rounds N]

Measures lock+unlock pairs on distinct keys, interleaved so that drift
hits every system alike (each repetition runs the systems in the other
order), on one etcd member and on a 3-member cluster:

  * etcd     bench/etcdload.c: a txn (create_revision == 0 -> put) and a
             deleterange per pair, libcurl keep-alive on the JSON gateway:
             what the pair costs etcd itself
  * etcd-as-lockd  etcdload --as-lockd: lockd's own two transactions
             for a plain lock+unlock, sent straight to etcd: etcd's share
             of a lockd pair, so that the gap between etcd and lockd
             splits into lockd's requests and lockd itself
  * lockd    lockd --backend etcd (PATH of --lockd), with bench/loadgen.c
  * lockd-b  a second lockd build (--lockd-b, e.g. the commit before a
             change), measured in the same run

at 1, 16 and 64 clients.  Prints pairs/s (median and min-max over the
repetitions), the ratio to raw etcd, call latency p50/p99 and errors; the
etcd calls per pair from etcd's /metrics (grpc_server_handled_total, all
members, over a phase of a fixed number of pairs); and the wake-up
latency: a client holds a lock through one lockd, another waits for it
(acquire with "wait") through a second lockd (or the same one), the holder
unlocks: the time from sending the unlock to the waiter's grant.  Also
says whether etcd serves the JSON gateway over HTTP/2 without TLS (h2c);
--tls adds a TLS member, with raw etcd over HTTP/1.1 and HTTP/2 (etcd-h2).

etcd runs from tests/etcd/etcdrun.py (free ports, temporary data
directories) and is stopped by PID at the end; only 127.0.0.1 is used.
Every measurement goes to WORKDIR/etcd-results.json.  About 5 minutes,
--quick under 2 (--lockd-b and --tls add half as much again each).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, 'tests', 'etcd'))

import etcdrun                     # noqa: E402
import run as benchrun             # noqa: E402  (bench/run.py's helpers)

KV_METHODS = ('Txn', 'Range', 'Put', 'DeleteRange')


class Lockd:
    """One lockd on 127.0.0.1 (port chosen by the kernel) on etcd
    ENDPOINTS under PREFIX; TLS: etcdrun.make_certs()'s files."""

    def __init__(self, args, binary, name, endpoints, prefix, tls=None):
        self.name = name
        lockdir = os.path.join(args.workdir, 'd-' + name)
        os.makedirs(lockdir, mode=0o700, exist_ok=True)
        self.errpath = os.path.join(args.workdir, 'log-%s.txt' % name)
        conf = '/dev/null'
        if tls is not None:
            conf = os.path.join(args.workdir, 'tls.conf')
            with open(conf, 'w') as f:
                f.write('etcd-cacert %s\netcd-cert %s\netcd-key %s\n' % (
                    tls['ca.pem'], tls['client.pem'], tls['client.key']))
        cmd = [binary, '--foreground', '--port', '0', '--lockdir',
               lockdir, '--config', conf, '--backend', 'etcd',
               '--etcd-endpoints', endpoints, '--etcd-prefix', prefix]
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

    def proxy(self):
        return xmlrpc.client.ServerProxy(
            'http://127.0.0.1:%d/RPC2' % self.port, transport=_Transport(),
            allow_none=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class _Transport(xmlrpc.client.Transport):
    """Keep-alive, and no call waits forever."""

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = 30
        return conn


def build(a):
    """loadgen (run.py's build) and etcdload, with cc into WORKDIR/bin."""
    benchrun.build(a)
    src = os.path.join(HERE, 'etcdload.c')
    a.etcdload = os.path.join(a.build_dir, 'etcdload')
    if (not os.path.exists(a.etcdload) or
            os.path.getmtime(a.etcdload) < os.path.getmtime(src)):
        subprocess.run([os.environ.get('CC', 'cc'), '-O2', '-g', '-Wall',
                        '-pthread', '-o', a.etcdload, src, '-lcurl'],
                       check=True)


def json_run(cmd, timeout):
    """Runs a loader; the JSON line it printed (errors -1 if none)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    try:
        return json.loads(p.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        sys.stderr.write(p.stderr.decode(errors='replace'))
        return {'pairs_per_s': 0, 'pairs': 0, 'errors': -1, 'lat_us': {}}


def phase(a, system, conns, count=None):
    """One load phase (timed, or COUNT pairs per client) against SYSTEM:
    {'kind': 'etcd', 'endpoint': URL, 'args': [etcdload options]} or
    {'kind': 'lockd', 'd': Lockd}."""
    load = (['-n', str(count)] if count else
            ['-d', str(a.duration), '-w', str(a.warmup)])
    load += ['-c', str(conns), '--call-timeout', '10']
    if system['kind'] == 'etcd':
        cmd = [a.etcdload, '-e', system['endpoint']] + load + system['args']
    else:
        d = system['d']
        cmd = [a.loadgen, '--port', str(d.port), '--pid', str(d.pid)] + load
    return json_run(cmd, a.duration + a.warmup + 180)


def kv_calls(cluster):
    """{method: grpc_server_handled_total} of etcd's KV service, summed
    over the members of CLUSTER."""
    total = dict.fromkeys(KV_METHODS, 0.0)
    for m in cluster.members:
        with urllib.request.urlopen(m.client_url + '/metrics', timeout=10,
                                    context=cluster.context) as f:
            for line in f.read().decode().splitlines():
                if (not line.startswith('grpc_server_handled_total{') or
                        'etcdserverpb.KV' not in line):
                    continue
                for meth in KV_METHODS:
                    if 'grpc_method="%s"' % meth in line:
                        total[meth] += float(line.rsplit(' ', 1)[1])
    return total


def calls_per_pair(a, cluster, system, conns=16, count=None):
    """etcd's KV calls per pair over a phase of COUNT pairs per client."""
    count = count or (25 if a.quick else 100)
    before = kv_calls(cluster)
    r = phase(a, system, conns, count=count)
    after = kv_calls(cluster)
    pairs = r.get('pairs', 0)
    out = {'pairs': pairs, 'errors': r.get('errors')}
    for meth in KV_METHODS:
        out[meth] = (after[meth] - before[meth]) / pairs if pairs else None
    return out


def wake(a, holder_d, waiter_d, rounds, tag):
    """ROUNDS times: lock through HOLDER_D, acquire with a wait through
    WAITER_D, unlock; the seconds from sending the unlock to the grant."""
    hold, wait = holder_d.proxy(), waiter_d.proxy()
    times, missed, errors = [], 0, []
    for i in range(rounds):
        res = 'wake-%s-%d-%d' % (tag, os.getpid(), i)
        got = {}

        def waiter():
            try:
                got['r'] = wait.acquire(res, 'waiter', {'wait': 10})
            except (OSError, xmlrpc.client.Error) as e:
                got['e'] = str(e)
            got['t'] = time.monotonic()
        try:
            hold.lock(res, 'holder')
            t = threading.Thread(target=waiter, daemon=True)
            t.start()
            time.sleep(0.1)          # the waiter reaches its wait
            t0 = time.monotonic()
            hold.unlock(res, 'holder')
            t.join(20)
            if t.is_alive():
                errors.append('no answer within 20 s')
                break
            if 'r' in got:
                wait.unlock(res, 'waiter')
                if got['r'].get('waited', 0) < 0.05:
                    missed += 1      # not waiting at the unlock
                else:
                    times.append(got['t'] - t0)
            else:
                errors.append(got.get('e', 'no answer within 20 s'))
        except (OSError, xmlrpc.client.Error) as e:
            errors.append(str(e))
    return {'rounds': rounds, 'times_s': times, 'not_waiting': missed,
            'errors': len(errors), 'first_error': errors[0] if errors
            else ''}


def http2_probe(a, endpoint):
    """Whether etcd serves the JSON gateway over h2c; etcdload's result."""
    r = json_run([a.etcdload, '-e', endpoint, '-c', '1', '-d', '1',
                  '-w', '0', '--http2'], 60)
    r['served'] = r.get('pairs', 0) > 0 and r.get('errors') == 0
    return r


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


def start(a, members, tls):
    """A cluster of MEMBERS (with TLS: an https one) and its systems: raw
    etcd (with TLS over HTTP/1.1 and HTTP/2), lockd (and its twin, the
    second host of the wake-up phase), lockd-b (and twin)."""
    label = '%d member%s%s' % (members, 's' if members > 1 else '',
                                ', TLS' if tls else '')
    base = os.path.join(a.workdir, 'etcd%d%s' % (members, 't' if tls else ''))
    os.makedirs(base, exist_ok=True)
    certs = None
    if tls:
        certs = etcdrun.make_certs(base)
    e = etcdrun.Etcd(members=members, base=base, tls=certs)
    a.clusters.append(e.start())
    first = e.members[0].client_url    # the endpoint lockd talks to
    systems = {'etcd': {'kind': 'etcd', 'endpoint': first, 'args': []},
               'etcd-as-lockd': {'kind': 'etcd', 'endpoint': first,
                                 'args': ['--as-lockd']}}
    if tls:
        args = ['--cacert', certs['ca.pem'], '--cert', certs['client.pem'],
                '--key', certs['client.key']]
        systems['etcd']['args'] = args
        systems['etcd-as-lockd']['args'] = args + ['--as-lockd']
        systems['etcd-h2'] = {'kind': 'etcd', 'endpoint': first,
                              'args': args + ['--http2']}
    for name, binary in (('lockd', a.lockd), ('lockd-b', a.lockd_b)):
        if binary is None:
            continue
        hosts = []
        for host in ('A', 'B'):
            d = Lockd(a, binary, '%s-%s-%d%s' % (name, host, members,
                                                 't' if tls else ''),
                      e.endpoints, '/bench-%s/' % name, certs)
            a.daemons.append(d)
            hosts.append(d)
        systems[name] = {'kind': 'lockd', 'd': hosts[0], 'twin': hosts[1]}
    return label, e, systems


def measure(a, clusters, conns, results):
    """The interleaved repetitions; each phase result into RESULTS."""
    for rep in range(a.reps):
        for label, (e, systems) in clusters.items():
            for c in conns:
                names = list(systems)
                for name in (names if rep % 2 == 0 else names[::-1]):
                    r = phase(a, systems[name], c)
                    r.update(system=name, etcd=label, conns=c, rep=rep)
                    results.append(r)
                    benchrun.log('rep %d, %s, %-7s %2d clients: '
                                 '%6.0f pairs/s%s' % (
                                     rep + 1, label, name, c,
                                     r.get('pairs_per_s', 0),
                                     ', ERRORS %d' % r['errors']
                                     if r.get('errors') else ''))


def throughput_table(a, clusters, results, conns):
    rows = []
    for label, (e, systems) in clusters.items():
        for c in conns:
            raw = {r['rep']: r.get('pairs_per_s') for r in results
                   if r['system'] == 'etcd' and r['etcd'] == label and
                   r['conns'] == c}
            for name in systems:
                rs = [r for r in results if r['system'] == name and
                      r['etcd'] == label and r['conns'] == c]
                pps = [r.get('pairs_per_s', 0) for r in rs]
                # Against raw etcd in the same repetition (the phases ran
                # next to each other): the median of those ratios.
                vs = benchrun.med([benchrun.ratio(r.get('pairs_per_s'),
                                                  raw.get(r['rep']))
                                   for r in rs])
                rows.append([
                    label, c, name, benchrun.fmt(benchrun.med(pps)),
                    '%s-%s' % (benchrun.fmt(min(pps)),
                               benchrun.fmt(max(pps))),
                    benchrun.fmt(vs, 2) + 'x',
                    benchrun.fmt(benchrun._ms(benchrun.med(
                        [benchrun.lat(r, 'call', 'p50') for r in rs])), 2),
                    benchrun.fmt(benchrun._ms(benchrun.med(
                        [benchrun.lat(r, 'call', 'p99') for r in rs])), 2),
                    benchrun.fmt(sum(benchrun.nerr(r) for r in rs))])
    return benchrun.table(
        'lock+unlock pairs/s on distinct keys, %d repetition(s) of %g s, '
        'interleaved (%s)' % (a.reps, a.duration, benchrun.revision()),
        ['etcd', 'clients', 'system', 'pairs/s', 'min-max', 'vs etcd',
         'p50 ms', 'p99 ms', 'errors'], rows)


def calls_table(calls):
    rows = []
    for c in calls:
        rows.append([c['etcd'], c['system'], benchrun.fmt(c['pairs'])] +
                    [benchrun.fmt(c[m], 2) for m in KV_METHODS] +
                    [benchrun.fmt(c['errors'])])
    return benchrun.table(
        "etcd's KV calls per pair (grpc_server_handled_total, all members; "
        '16 clients)', ['etcd', 'system', 'pairs'] +
        ['%s/pair' % m for m in KV_METHODS] + ['errors'], rows)


def wake_table(wakes):
    rows = []
    for w in wakes:
        ts = w['times_s']
        rows.append([w['etcd'], w['system'], w['waiter'], len(ts),
                     benchrun.fmt(pct(ts, 0.5) * 1e3 if ts else None, 1),
                     benchrun.fmt(pct(ts, 0.9) * 1e3 if ts else None, 1),
                     benchrun.fmt(max(ts) * 1e3 if ts else None, 1),
                     w['not_waiting'], w['errors']])
    return benchrun.table(
        'wake-up: unlock sent through lockd A -> the grant of a waiter '
        '(acquire, wait 10 s) arrives', ['etcd', 'system', 'waiter on',
                                         'rounds', 'median ms', 'p90 ms',
                                         'max ms', 'not waiting',
                                         'errors'], rows)


def options(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--lockd', default=os.path.join(
        TOP, '_build', 'bench', 'server', 'lockd'))
    ap.add_argument('--lockd-b', default=None,
                    help='a second lockd build, measured in the same run')
    ap.add_argument('--workdir', default=None)
    ap.add_argument('--conns', default='1,16,64')
    ap.add_argument('--members', default='1,3')
    ap.add_argument('--tls', action='store_true',
                    help='also one member with TLS: HTTP/1.1 and HTTP/2')
    ap.add_argument('--reps', type=int, default=None)
    ap.add_argument('--duration', type=float, default=None)
    ap.add_argument('--warmup', type=float, default=None)
    ap.add_argument('--wake-rounds', type=int, default=None)
    a = ap.parse_args(argv)
    # Quick: more and shorter repetitions, for a steadier median.
    a.duration = a.duration or (1.0 if a.quick else 5.0)
    a.warmup = a.warmup if a.warmup is not None else (0.3 if a.quick
                                                      else 1.0)
    a.reps = a.reps or (5 if a.quick else 3)
    a.wake_rounds = a.wake_rounds or (20 if a.quick else 50)
    a.members = [int(m) for m in a.members.split(',')]
    a.conns = [int(c) for c in a.conns.split(',')]
    a.workdir = os.path.abspath(a.workdir or tempfile.mkdtemp(
        prefix='lockd-bench-etcd.'))
    a.build_dir = os.path.join(a.workdir, 'bin')
    return a


def main(argv=None):
    a = options(argv)
    if etcdrun.etcd_binary() is None:
        sys.exit('etcd not found: install etcd-server')
    build(a)
    benchrun.log('machine: %s; load %s' % (benchrun.machine(),
                                            benchrun.loadavg()))
    a.clusters, a.daemons = [], []
    clusters, results, calls, wakes = {}, [], [], []
    try:
        for members, tls in ([(m, False) for m in a.members] +
                             ([(1, True)] if a.tls else [])):
            label, e, systems = start(a, members, tls)
            clusters[label] = (e, systems)
        h2 = http2_probe(a, a.clusters[0].members[0].client_url)
        for label, (e, systems) in clusters.items():
            for name, s in systems.items():
                calls.append(dict(calls_per_pair(a, e, s), etcd=label,
                                  system=name))
        measure(a, clusters, a.conns, results)
        for label, (e, systems) in clusters.items():
            for name, s in systems.items():
                if s['kind'] != 'lockd':
                    continue
                for where, w in (('same lockd', s['d']),
                                 ('other lockd', s['twin'])):
                    r = wake(a, s['d'], w, a.wake_rounds, '%s-%d-%s' % (
                        name, len(wakes), where[0]))
                    r.update(system=name, etcd=label, waiter=where)
                    wakes.append(r)
    finally:
        for d in a.daemons:
            d.stop()
        for e in a.clusters:
            e.stop(remove=False)
    print(throughput_table(a, clusters, results, a.conns))
    print()
    print(calls_table(calls))
    print()
    print(wake_table(wakes))
    print()
    print('HTTP/2 without TLS (h2c, prior knowledge) to etcd %s: %s' % (
        etcd_version(), 'served, %s pairs/s at 1 client' % benchrun.fmt(
            h2.get('pairs_per_s')) if h2['served'] else
        'not served (%s)' % h2.get('first_error', '?')))
    print('machine: %s; load %s' % (benchrun.machine(), benchrun.loadavg()))
    out = os.path.join(a.workdir, 'etcd-results.json')
    with open(out, 'w') as f:
        json.dump({'throughput': results, 'wake': wakes, 'http2': h2,
                   'calls_per_pair': calls}, f, indent=1)
    benchrun.log('all measurements: %s' % out)
    for sub in os.listdir(a.workdir):
        p = os.path.join(a.workdir, sub)
        if sub.startswith(('d-', 'etcd')) and os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)


def etcd_version():
    try:
        out = subprocess.run([etcdrun.etcd_binary(), '--version'],
                             stdout=subprocess.PIPE, timeout=30).stdout
        return out.decode().split('\n')[0].split()[-1]
    except (OSError, IndexError, subprocess.SubprocessError):
        return '?'


if __name__ == '__main__':
    main()
