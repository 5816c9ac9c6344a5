#!/usr/bin/env python3
"""pyload.py -- the load users actually run: Python's xmlrpc.client.

P processes (multiprocessing), each with one ServerProxy, do lock+unlock
pairs on their own resources for --warmup + --duration seconds; pairs that
complete inside the measured window are counted.  With --method ping a
"pair" is two ping() calls on the same ServerProxy (as loadgen's --method
ping): the same round trips with a server that does almost nothing, i.e.
the rate these Python clients can reach at all on this machine.

Each process also measures its own CPU time (user+system) over the measured
window; "client_cpu_us_per_pair" is their sum divided by the pairs, and
"client_cpus" the sum divided by the window (CPUs the clients kept busy).
With --pid the server's utime+stime over the window is reported as well
(/proc/PID/stat, 10 ms ticks).  Prints one human line on stderr and one
JSON line on stdout:

    {"method": "lock"|"ping", "procs": P, "seconds": T, "pairs": N,
     "pairs_per_s": R, "errors": E, "per_proc_pairs_per_s": [...],
     "lat_us": {"pair": {"p50":..,"p99":..}}, "client_cpu_s": C,
     "client_cpu_us_per_pair": U, "client_cpus": K,
     "server_cpu_us_per_pair": S (with --pid), "first_error": "..."}

    pyload.py --port PORT [--procs 16] [--duration 5] [--warmup 1]
              [--method lock|ping] [--keys 16] [--prefix pybench-PID]
              [--path /RPC2] [--pid SERVER-PID]

Connects to 127.0.0.1 only.  Every call has a socket timeout (10 s) and
every process is joined with a deadline, so a run is bounded in time.
"""
import argparse
import http.client
import json
import multiprocessing as mp
import os
import sys
import time
import xmlrpc.client


class TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, timeout):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


def worker(idx, a, start_at, q):
    url = 'http://127.0.0.1:%d%s' % (a.port, a.path)
    proxy = xmlrpc.client.ServerProxy(
        url, allow_none=True, transport=TimeoutTransport(a.call_timeout))
    client = '%s-client-%d' % (a.prefix, idx)
    t_measure = start_at + a.warmup
    t_end = t_measure + a.duration
    ping = a.method == 'ping'
    pairs = errors = 0
    lats = []
    first_error = ''
    i = 0
    cpu0 = None
    while time.time() < start_at:
        time.sleep(0.001)
    while True:
        now = time.time()
        if now >= t_end:
            break
        if cpu0 is None and now >= t_measure:
            cpu0 = time.process_time()
        res = '%s-%d-%d' % (a.prefix, idx, i % a.keys)
        i += 1
        t0 = time.perf_counter()
        try:
            if ping:
                proxy.ping()
                proxy.ping()
            else:
                proxy.lock(res, client)
                proxy.unlock(res, client)
        except (xmlrpc.client.Error, OSError, http.client.HTTPException) as e:
            if time.time() >= t_measure:
                errors += 1
                if not first_error:
                    first_error = '%s: %s' % (type(e).__name__, e)
            # Release whatever state is left; a new proxy reconnects.
            proxy = xmlrpc.client.ServerProxy(
                url, allow_none=True,
                transport=TimeoutTransport(a.call_timeout))
            if not ping:
                try:
                    proxy.unlock(res, client)
                except Exception:
                    pass
            continue
        t1 = time.perf_counter()
        if t_measure <= time.time() < t_end:
            pairs += 1
            lats.append(t1 - t0)
    cpu = time.process_time() - cpu0 if cpu0 is not None else 0.0
    q.put((idx, pairs, errors, lats, first_error, cpu))


def proc_cpu(pid):
    """utime+stime of PID in seconds, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read().rsplit(')', 1)[1].split()
        return (int(st[11]) + int(st[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError):
        return None


def quantile(xs, q):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--procs', type=int, default=16)
    ap.add_argument('--duration', type=float, default=5)
    ap.add_argument('--warmup', type=float, default=1)
    ap.add_argument('--method', choices=('lock', 'ping'), default='lock',
                    help='lock: lock+unlock pairs (default); ping: a pair '
                    'is two ping() calls')
    ap.add_argument('--pid', type=int, default=None,
                    help='the server\'s PID: report its CPU per pair')
    ap.add_argument('--keys', type=int, default=16)
    ap.add_argument('--prefix', default='pybench-%d' % os.getpid(),
                    help='resource name prefix (default: per run, so that a '
                    'lock a lost request left behind never meets a later '
                    'run)')
    ap.add_argument('--path', default='/RPC2')
    ap.add_argument('--call-timeout', type=float, default=10)
    ap.add_argument('--label', default='')
    a = ap.parse_args(argv)

    ctx = mp.get_context('fork')
    q = ctx.Queue()
    start_at = time.time() + 0.5 + 0.02 * a.procs
    procs = [ctx.Process(target=worker, args=(i, a, start_at, q))
             for i in range(a.procs)]
    for p in procs:
        p.start()
    deadline = start_at + a.warmup + a.duration + a.call_timeout + 20
    scpu0 = scpu1 = None
    if a.pid:
        # The server's CPU over the measured window.
        time.sleep(max(0.0, start_at + a.warmup - time.time()))
        scpu0 = proc_cpu(a.pid)
        time.sleep(max(0.0, start_at + a.warmup + a.duration - time.time()))
        scpu1 = proc_cpu(a.pid)
    results = []
    for _ in procs:
        try:
            results.append(q.get(timeout=max(0.1, deadline - time.time())))
        except Exception:
            break
    for p in procs:
        p.join(timeout=max(0.1, deadline - time.time()))
        if p.is_alive():
            p.kill()
            p.join()
    missing = a.procs - len(results)
    pairs = sum(r[1] for r in results)
    errors = sum(r[2] for r in results) + missing
    lats = [x for r in results for x in r[3]]
    first_error = next((r[4] for r in results if r[4]), '')
    if missing and not first_error:
        first_error = '%d processes did not report' % missing
    ccpu = sum(r[5] for r in results)
    out = {
        'label': a.label, 'mode': 'python-xmlrpc', 'method': a.method,
        'procs': a.procs, 'seconds': a.duration, 'pairs': pairs,
        'pairs_per_s': round(pairs / a.duration, 1), 'errors': errors,
        'per_proc_pairs_per_s': sorted(round(r[1] / a.duration, 1)
                                       for r in results),
        'lat_us': {'pair': {
            'n': len(lats),
            'p50': round(quantile(lats, 0.5) * 1e6, 1),
            'p99': round(quantile(lats, 0.99) * 1e6, 1),
            'p999': round(quantile(lats, 0.999) * 1e6, 1)}},
        'client_cpu_s': round(ccpu, 3),
        'client_cpu_us_per_pair': (round(ccpu / pairs * 1e6, 1) if pairs
                                   else None),
        'client_cpus': round(ccpu / a.duration, 2),
        'first_error': first_error,
    }
    if a.method == 'ping':
        out['pairs_note'] = 'pair = 2 ping calls'
    if scpu0 is not None and scpu1 is not None:
        out['server_cpu_us_per_pair'] = (
            round((scpu1 - scpu0) / pairs * 1e6, 1) if pairs else None)
    sys.stderr.write('pyload %s %s procs=%d: %.0f pairs/s, pair p50 %.3f ms '
                     'p99 %.3f ms, errors %d, client CPU %s us/pair (%.2f '
                     'CPUs)%s\n'
                     % (a.method, a.label, a.procs, out['pairs_per_s'],
                        out['lat_us']['pair']['p50'] / 1000,
                        out['lat_us']['pair']['p99'] / 1000, errors,
                        '%.0f' % out['client_cpu_us_per_pair']
                        if pairs else '-', out['client_cpus'],
                        ', server CPU %.0f us/pair'
                        % out['server_cpu_us_per_pair']
                        if out.get('server_cpu_us_per_pair') is not None
                        else ''))
    if first_error:
        sys.stderr.write('pyload: first error: %s\n' % first_error)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
