# SPDX-License-Identifier: MIT
"""Slow, idle and greedy clients, against a daemon with default limits.

- 500 idle TCP connections (connected, sending nothing) and 50 slowloris
  clients (one byte every 0.5 s, half of them still in the request
  headers, half in the body) stay open while a normal client makes 20
  lock/unlock calls on fresh connections: each must be answered within
  3 seconds (milliseconds when the machine is quiet; a starved call would
  wait for a 5 s timeout).  Connections the daemon closes are replaced at once, so the
  crowd stays 550 strong for the whole test.

  What makes this true (lockd.conf(5) defaults): max-connections 1024
  connection slots, one Abyss thread each, so 550 leave room; the open-file
  limit raised by lockd to 4 * max-connections + 64 (a socket and a pipe
  per connection); keepalive-timeout 5 s, after which a connection that
  sends nothing is closed; timeout 10 s, an absolute deadline for a
  request's headers.  A body sent slowly is only bounded per read (Abyss),
  so a body slowloris holds its slot as long as it trickles: what keeps it
  from starving others is the number of slots, not a timeout.

- A flood of maximum-size requests from 32 threads: a valid lock call with
  a 60 KiB resource name (fault 11) and bodies just over the 64 KiB
  request limit (HTTP 500, or a reset when the daemon closes before
  reading what the client sent).  The daemon's peak RSS (VmHWM) must stay
  under a bound and must not grow between the two halves of the flood.

  The bound: a build without AddressSanitizer peaked at 11 MiB (32
  threads, 10 s); the limit is 64 MiB.  The ASan build peaked at 355 MiB,
  reached within 2 s and flat afterwards: ASan keeps freed memory in a
  quarantine of 256 MiB by default (quarantine_size_mb) plus per-thread
  caches and shadow memory, so its limit is 512 MiB.  Under
  LOCKD_WRAPPER (valgrind) the absolute bound is not checked.  Growth
  between the halves is limited to 32 MiB in every build: a leak of even
  a few bytes per request would exceed it (tens of thousands of requests).

LOCKD_FLOOD_SECONDS (default 20) sets the length of the flood.
"""
import os
import resource
import select
import socket
import sys
import threading
import time
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Daemon, LockdTestCase, http_request,  # noqa: E402
                     main, parse_http)
from harness import FAULT_RESOURCE  # noqa: E402

HOST = '127.0.0.1'
IDLE = 500
SLOW = 50
DRIP = 0.5              # s between two bytes of a slowloris client
CALLS = 20
CALL_INTERVAL = 0.6     # s: the calls span 12 s, past both daemon timeouts
CALL_BUDGET = 3.0       # s per call of the normal client
FLOOD_THREADS = 32
FLOOD_SECONDS = float(os.environ.get('LOCKD_FLOOD_SECONDS', '20'))
LIMIT = 64 * 1024
MiB = 1024 * 1024
BOUND_PLAIN = 64 * MiB
BOUND_ASAN = 512 * MiB
MAX_GROWTH = 32 * MiB


def raise_nofile(want):
    """Lets this process open WANT descriptors if the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_status(pid):
    """{'VmHWM': bytes, 'VmRSS': bytes, 'Threads': n} of process PID."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            if k in ('VmHWM', 'VmRSS'):
                out[k] = int(v.split()[0]) * 1024
            elif k == 'Threads':
                out[k] = int(v)
    return out


def open_files(pid):
    """(descriptors open in process PID, its soft RLIMIT_NOFILE)."""
    n = len(os.listdir('/proc/%d/fd' % pid))
    soft = None
    with open('/proc/%d/limits' % pid) as f:
        for line in f:
            if line.startswith('Max open files'):
                soft = line.split()[3]
    return n, soft


def is_asan(path):
    with open(path, 'rb') as f:
        return b'__asan_init' in f.read()


def call_body(method, *params):
    return xmlrpc.client.dumps(params, method, allow_none=True).encode()


class Crowd:
    """IDLE silent connections and SLOW slowloris clients on PORT, kept at
    full strength by one driver thread until stop()."""

    def __init__(self, port, idle, slow, max_seconds=120):
        self.port = port
        self.nidle = idle
        self.nslow = slow
        self.max_seconds = max_seconds
        self.request = http_request('POST', '/',
                                    call_body('lock', 'slowloris', 'slow'))
        self.head_end = self.request.index(b'\r\n\r\n') + 4
        self.idle = []              # [sock, opened_at]
        self.slow = []              # [sock, opened_at, kind, sent]
        self.stats = {'idle_closed': 0, 'slow_cut_head': 0,
                      'slow_cut_body': 0, 'reconnect_failures': 0,
                      'idle_close_after': [], 'slow_cut_after': []}
        self._stop = threading.Event()
        self._thread = None
        self.error = None

    def _connect(self):
        return socket.create_connection((HOST, self.port), timeout=5)

    def _open_slow(self, i):
        s = self._connect()
        kind = 'head' if i % 2 == 0 else 'body'
        sent = 0 if kind == 'head' else self.head_end
        if sent:
            s.sendall(self.request[:sent])
        return [s, time.monotonic(), kind, sent]

    def start(self):
        for _ in range(self.nidle):
            self.idle.append([self._connect(), time.monotonic()])
        for i in range(self.nslow):
            self.slow.append(self._open_slow(i))
        self._thread = threading.Thread(target=self._drive, daemon=True)
        self._thread.start()

    def _closed_by_peer(self, socks):
        """The sockets among SOCKS that are readable (EOF, an answer or an
        error: the daemon is done with them)."""
        p = select.poll()
        by_fd = {}
        for s in socks:
            by_fd[s.fileno()] = s
            p.register(s, select.POLLIN | select.POLLERR | select.POLLHUP)
        return {by_fd[fd] for fd, _ in p.poll(0)}

    def _drive(self):
        deadline = time.monotonic() + self.max_seconds
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                now = time.monotonic()
                done = self._closed_by_peer([e[0] for e in self.idle])
                for e in self.idle:
                    if e[0] in done:
                        self.stats['idle_closed'] += 1
                        self.stats['idle_close_after'].append(now - e[1])
                        e[0].close()
                        e[0], e[1] = self._reopen(), time.monotonic()
                done = self._closed_by_peer([e[0] for e in self.slow])
                for i, e in enumerate(self.slow):
                    cut = e[0] in done
                    if not cut:
                        try:
                            e[0].send(self.request[e[3]:e[3] + 1])
                            e[3] += 1
                        except OSError:
                            cut = True
                    if cut or e[3] >= len(self.request):
                        self.stats['slow_cut_' + e[2]] += 1
                        self.stats['slow_cut_after'].append(now - e[1])
                        e[0].close()
                        self.slow[i] = self._open_slow(i)
                self._stop.wait(DRIP)
        except BaseException as e:          # reported by stop()
            self.error = e

    def _reopen(self):
        try:
            return self._connect()
        except OSError:
            self.stats['reconnect_failures'] += 1
            raise

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        for e in self.idle + self.slow:
            e[0].close()
        self.idle, self.slow = [], []
        if self._thread is not None and self._thread.is_alive():
            raise AssertionError('the crowd driver did not stop')
        if self.error is not None:
            raise AssertionError('crowd driver failed: %r' % self.error)


def flood_request(kind):
    """'valid': a lock call just under the limit with a 60 KiB resource
    name; 'over': a body just over the limit."""
    if kind == 'valid':
        body = call_body('lock', 'x' * (60 * 1024), 'flood')
        assert len(body) < LIMIT
    else:
        body = (b'<?xml version="1.0"?><methodCall><methodName>lock'
                b'</methodName><params><param><value><string>')
        body += b'y' * (LIMIT + 256 - len(body))
    return http_request('POST', '/', body)


def read_response(s):
    buf = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk
        end = buf.find(b'\r\n\r\n')
        if end >= 0:
            _, headers, body = parse_http(buf)
            if 'content-length' in headers and \
                    len(body) >= int(headers['content-length']):
                return buf


class SlowClients(LockdTestCase):

    @classmethod
    def setUpClass(cls):
        cls.nofile = raise_nofile(4096)

    def test_idle_and_slowloris_do_not_starve(self):
        need = IDLE + SLOW + 64
        if self.nofile < need:
            self.fail('this test needs %d open files, RLIMIT_NOFILE allows '
                      '%d' % (need, self.nofile))
        with Daemon() as d:
            base = proc_status(d.pid)['Threads']
            crowd = Crowd(d.port, IDLE, SLOW)
            t0 = time.monotonic()
            try:
                crowd.start()
                opened = time.monotonic() - t0
                # until the daemon has taken every connection (a thread each)
                deadline = time.monotonic() + 10
                threads = 0
                while time.monotonic() < deadline:
                    threads = proc_status(d.pid)['Threads']
                    if threads >= base + IDLE + SLOW:
                        break
                    time.sleep(0.05)
                accepted = time.monotonic() - t0
                fds, fd_limit = open_files(d.pid)
                lat, when, max_threads = [], [], threads
                for i in range(CALLS):
                    p = d.proxy(timeout=10)     # a new connection each time
                    c0 = time.monotonic()
                    if i % 2 == 0:
                        self.assertIsNone(p.lock('slow-normal', 'normal'))
                    else:
                        self.assertIsNone(p.unlock('slow-normal', 'normal'))
                    lat.append(time.monotonic() - c0)
                    when.append(c0 - t0)
                    p('close')()
                    max_threads = max(max_threads,
                                      proc_status(d.pid)['Threads'])
                    time.sleep(CALL_INTERVAL)
                held = time.monotonic() - t0
            finally:
                crowd.stop()
            st = crowd.stats
            self.assertTrue(d.alive(), 'lockd exited with the crowd '
                            'connected (open-file limit %s?)' % fd_limit)
            ica = sorted(st['idle_close_after'])
            sca = sorted(st['slow_cut_after'])
            print('slow clients: %d idle + %d slowloris held for %.1f s '
                  '(opened in %.2f s, all accepted after %.2f s); daemon '
                  'threads: %d at rest, %d with the crowd (max %d)'
                  % (IDLE, SLOW, held, opened, accepted, base, threads,
                     max_threads))
            print('slow clients: daemon descriptors with the crowd %d, '
                  'open-file limit %s' % (fds, fd_limit))
            print('slow clients: %d calls, latency max %.1f ms, mean %.1f '
                  'ms; at s: ms %s' % (
                      len(lat), max(lat) * 1000, sum(lat) / len(lat) * 1000,
                      ' '.join('%.1f:%.0f' % (w, x * 1000)
                               for w, x in zip(when, lat))))
            print('slow clients: the daemon closed %d idle connections '
                  '(after %s s) and cut %d header + %d body slowloris '
                  '(after %s s); all were replaced at once'
                  % (st['idle_closed'],
                     '%.1f-%.1f' % (ica[0], ica[-1]) if ica else '-',
                     st['slow_cut_head'], st['slow_cut_body'],
                     '%.1f-%.1f' % (sca[0], sca[-1]) if sca else '-'),
                  flush=True)
            self.assertGreaterEqual(threads, base + IDLE + SLOW,
                                    'the daemon did not take all %d '
                                    'connections within 10 s'
                                    % (IDLE + SLOW))
            self.assertEqual(len(lat), CALLS)
            self.assertLess(max(lat), CALL_BUDGET,
                            'latencies: %s' % ['%.3f' % x for x in lat])
            self.assertEqual(st['reconnect_failures'], 0)

    def test_flood_of_maximum_size_requests(self):
        with Daemon() as d:
            p = d.proxy(timeout=10)
            self.assertIsNone(p.lock('flood-warm', 'c'))
            self.assertIsNone(p.unlock('flood-warm', 'c'))
            before = proc_status(d.pid)
            reqs = {'valid': flood_request('valid'),
                    'over': flood_request('over')}
            counts = {}
            bad = []
            lock = threading.Lock()
            stop = threading.Event()

            def worker(i):
                n = 0
                while not stop.is_set() and n < 1000000:
                    kind = 'valid' if (n + i) % 2 == 0 else 'over'
                    n += 1
                    outcome = None
                    try:
                        s = socket.create_connection((HOST, d.port),
                                                     timeout=15)
                        try:
                            s.sendall(reqs[kind])
                            resp = read_response(s)
                        finally:
                            s.close()
                        status, _, body = parse_http(resp)
                        if kind == 'valid' and status == 200:
                            try:
                                xmlrpc.client.loads(body)
                            except xmlrpc.client.Fault as f:
                                if f.faultCode == FAULT_RESOURCE:
                                    outcome = 'fault 11'
                        elif kind == 'over' and status == 500:
                            outcome = 'HTTP 500'
                        if outcome is None:
                            outcome = 'unexpected %d' % status
                    except (ConnectionResetError, BrokenPipeError) as e:
                        outcome = 'reset' if kind == 'over' else \
                            'unexpected %s' % type(e).__name__
                    except Exception as e:
                        outcome = 'unexpected %r' % e
                    with lock:
                        key = (kind, outcome)
                        counts[key] = counts.get(key, 0) + 1
                        if outcome.startswith('unexpected') and \
                                len(bad) < 10:
                            bad.append(key)

            threads = [threading.Thread(target=worker, args=(i,),
                                        daemon=True)
                       for i in range(FLOOD_THREADS)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            try:
                time.sleep(FLOOD_SECONDS / 2)
                half = proc_status(d.pid)
                time.sleep(FLOOD_SECONDS / 2)
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
            took = time.monotonic() - t0
            self.assertFalse(any(t.is_alive() for t in threads))
            after = proc_status(d.pid)
            self.assertTrue(d.alive())
            # an over-limit request is refused on its headers alone
            s = socket.create_connection((HOST, d.port), timeout=10)
            try:
                r = reqs['over']
                s.sendall(r[:r.index(b'\r\n\r\n') + 4])
                status = parse_http(read_response(s))[0]
            finally:
                s.close()
            self.assertEqual(status, 500)
            self.assertIsNone(p.lock('flood-after', 'c'))
            self.assertIsNone(p.unlock('flood-after', 'c'))

            total = sum(counts.values())
            asan = is_asan(harness.lockd_path())
            bound = None if harness.WRAPPER else \
                (BOUND_ASAN if asan else BOUND_PLAIN)
            print('flood: %d threads, %.1f s, %d requests (%.0f/s): %s'
                  % (FLOOD_THREADS, took, total, total / took,
                     ', '.join('%s %s: %d' % (k[0], k[1], v)
                               for k, v in sorted(counts.items()))))
            print('flood: daemon VmHWM %.1f MiB before, %.1f MiB at half '
                  'time, %.1f MiB after (VmRSS after %.1f MiB); bound %s '
                  '(%s build), growth in the second half %.1f MiB (limit '
                  '%d MiB)'
                  % (before['VmHWM'] / MiB, half['VmHWM'] / MiB,
                     after['VmHWM'] / MiB, after['VmRSS'] / MiB,
                     '%d MiB' % (bound // MiB) if bound else 'not checked',
                     'ASan' if asan else 'plain',
                     (after['VmHWM'] - half['VmHWM']) / MiB,
                     MAX_GROWTH // MiB), flush=True)
            self.assertEqual(bad, [], counts)
            self.assertGreater(counts.get(('valid', 'fault 11'), 0), 100)
            self.assertGreater(counts.get(('over', 'HTTP 500'), 0) +
                               counts.get(('over', 'reset'), 0), 100)
            if bound is not None:
                self.assertLess(after['VmHWM'], bound)
            self.assertLess(after['VmHWM'] - half['VmHWM'], MAX_GROWTH)


if __name__ == '__main__':
    sys.exit(main())
