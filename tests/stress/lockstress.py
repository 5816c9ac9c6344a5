#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lockstress: load M lockd daemons sharing one lock directory with N
clients, then prove from the recorded history that the locks were exclusive
and that no acknowledged operation was lost.

    lockstress.py --daemons 2 --clients 8 --seconds 10 --resources 4
    lockstress.py --daemons 3 --clients 16 --seconds 10 --resources 8 \\
        --no-sync --lockd _build/test/server/lockd --json
    lockstress.py --self-test

The daemon is $LOCKD or --lockd.  Every daemon runs on 127.0.0.1 on a port
of its own (--port 0) and the same temporary lock directory; each client has
its own client name and sends every operation to a daemon picked at random.
Exit status 0 only if overlaps, lost operations, errors, inconsistent
refusals, daemon disagreements, stray files and daemon failures are all 0.

What is recorded
----------------
Every operation: client, resource, lock, unlock or status, the
CLOCK_MONOTONIC time just before the request was sent (invocation) and just
after the response was read (response), and the outcome:
    granted       lock returned nil
    held          lock refused, fault 1 "Resource already locked by 'X'"
    released      unlock returned nil
    not_owner     unlock refused, fault 2 "... locked by 'X' cannot be ..."
    not_locked    unlock refused, fault 3 "Resource not locked"
    s_held        status answered held by X
    s_free        status answered not held
    error         anything else: another fault, an HTTP error, a timeout, a
                  broken connection.  Its effect is unknown: it may or may
                  not have happened (and may still happen after the client
                  gave up).
Clients run as threads or as processes (--mode); CLOCK_MONOTONIC is one
clock for every process of the machine, so the times are comparable.
The client never retries a request by itself (xmlrpc.client's transport
re-sends once on a stale keep-alive connection, which could apply a lock
twice); it reopens a keep-alive connection that has been idle for 2 s,
well below lockd's keepalive-timeout (5 s).

About 15% of the operations are status(resource) calls when the daemon
has one (system.listMethods tells); with a lockd without status() the mix
is lock and unlock only, and the output says so.  Status never changes a
lock; it is checked like a refusal.


How the history is checked
--------------------------
An operation takes effect at one instant somewhere between its invocation
and its response (the usual linearizability assumption); which instant is
unknown, so every rule below is chosen so that it can only report a real
violation, never one that some choice of instants would explain away.

Each client is sequential, so for each (client, resource) the client's own
operations, in order, define what it knows about its own lock:
    HELD      after granted, or after a "held by <itself>" refusal;
    FREE      at the start, after released, not_owner, not_locked or a
              "held by <someone else>" refusal;
    UNKNOWN   after an error that may have changed it.
Only the client itself can create or remove its own lock, so its knowledge
is exact wherever it is not UNKNOWN.

(a) Exclusivity.  A client CERTAINLY holds a resource from the RESPONSE of
    the grant (the grant took effect before it) until the INVOCATION of its
    next unlock that can have released it (released, or an error), or the
    end of the run.  Starting at the grant's invocation, or ending at the
    release's response, would count intervals in which the client merely
    might hold the lock, and two such intervals may overlap legitimately
    (B's grant may be in flight while A's release is).  Two certain
    intervals of different clients on one resource that intersect are a
    violation: whatever the instants, both held at once.  Equivalently:
    grant(A) and grant(B) were both acknowledged before the other client
    sent the unlock that ended its hold.  This is "overlaps".

(b) Refusals.  A client POSSIBLY holds a resource from the INVOCATION of a
    lock that granted it (or failed with an error) until the RESPONSE of
    its next operation proving it no longer does (released, not_owner,
    not_locked, held by another), or the end.  A refusal "held by X" or
    "locked by X" answered in [inv, resp] is consistent only if X is a
    client of this run, X possibly held the resource at some instant in
    [inv, resp], and no third client certainly held it during all of
    [inv, resp].  A "not locked" answer is inconsistent if some client
    certainly held the resource during all of [inv, resp].  A client
    being refused because it holds the lock itself, or being told that it
    holds the lock it cannot unlock, is judged by its own knowledge above.
    A status answer "held by X" is checked like a "held by X" refusal, a
    status answer "not held" like "not locked"; a status about the asking
    client's own lock must match what it knows exactly.

(c) Nothing acknowledged is lost.  During the run: an answer that
    contradicts what the client knows exactly (it HELD the lock and is
    granted it again, or told it is not locked or held by someone else; it
    was FREE and is told it holds it or releases it) means an acknowledged
    grant or release was undone.  At the end, once every client stopped
    and every request was answered: each resource must be held, in the
    lock directory (first line of <dir>/<resource>.resource.lock), by
    exactly the client whose last acknowledged operation left it HELD, and
    be free if none did; and each daemon must agree, which a probe client
    checks with a lock attempt (fault 1 naming the expected holder, or a
    grant where the resource should be free, released again at once).
    A resource whose state is UNKNOWN for some client accepts either.
    With status() and list(), every daemon's status of every resource, and
    its list() of held locks, must match the lock directory too.
    The lock directory must contain nothing else (no temporary files).

--self-test feeds the checker synthetic histories (a clean one, one with an
overlap, one with a lost release, one with an inconsistent refusal, ...)
and asserts it reports exactly those, so the checker is known to be able
to fail.
"""
import argparse
import atexit
import bisect
import collections
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

# lockd's fault codes, read from lib/protocol.h (tests/rpc/codes.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'rpc'))
from codes import FAULT_HELD, FAULT_NOT_LOCKED, FAULT_NOT_OWNER  # noqa: E402

HOST = '127.0.0.1'
LISTEN_RE = re.compile(r'^lockd: listening on http://127\.0\.0\.1:(\d+)/$',
                       re.M)
HELD_RE = re.compile(r"Resource already locked by '(.*)'", re.S)
NOT_OWNER_RE = re.compile(r"Resource locked by '(.*)' cannot be unlocked by "
                          r"'(.*)'", re.S)
NOT_LOCKED_MSG = 'Resource not locked'
SUFFIX = '.resource.lock'
PROBE = 'lockstress-probe'
START_TIMEOUT = 30.0        # s for a daemon to print its listening line
STOP_TIMEOUT = 30.0         # s for a daemon to exit after SIGTERM
IDLE_REOPEN = 2.0           # s: reopen a keep-alive connection idle so long
MAX_OPS_PER_CLIENT = 2000000
INF = 1 << 62               # "end of the run" in nanoseconds

# outcomes
GRANTED, HELD, RELEASED = 'granted', 'held', 'released'
NOT_OWNER, NOT_LOCKED, ERROR = 'not_owner', 'not_locked', 'error'
S_HELD, S_FREE = 's_held', 's_free'
STATUS_SHARE = 0.15         # of the operations, when lockd has status()
METHOD = {'L': 'lock', 'U': 'unlock', 'S': 'status'}

# Processes this module started, by PID, killed at exit whatever happens.
_children = {}
_children_lock = threading.Lock()


def _kill_children():
    with _children_lock:
        procs = list(_children.values())
        _children.clear()
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


atexit.register(_kill_children)


def _track(p):
    with _children_lock:
        _children[p.pid] = p


def _untrack(p):
    with _children_lock:
        _children.pop(p.pid, None)


def resource_name(i):
    return 'stress-res-%d' % i


def client_name(i):
    return 'stress-client-%02d' % i


# --- daemons -----------------------------------------------------------------
class LockdProcess:
    """One lockd on 127.0.0.1, a free port, lock directory LOCKDIR."""

    def __init__(self, lockd, lockdir, workdir, index, no_sync):
        self.index = index
        self.stderr_path = os.path.join(workdir, 'lockd%d.stderr' % index)
        conf = os.path.join(workdir, 'empty.conf')
        open(conf, 'a').close()
        cmd = [lockd, '--foreground', '--listen', HOST, '--port', '0',
               '--lockdir', lockdir, '--config', conf]
        if os.geteuid() == 0:
            cmd += ['--user', 'root']
        if no_sync:
            cmd.append('--no-sync')
        with open(self.stderr_path, 'wb') as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err, close_fds=True)
        _track(self.proc)
        self.pid = self.proc.pid
        self.port = None
        self.status = None

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(self.stderr())
            if m:
                self.port = int(m.group(1))
                return self.port
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError('lockd #%d (pid %d) did not start; stderr:\n%s'
                           % (self.index, self.pid, self.stderr()[-3000:]))

    def stderr(self):
        try:
            with open(self.stderr_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait; the exit status (SIGKILL and 'timeout' if it
        does not exit within STOP_TIMEOUT)."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.status = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.status = 'timeout'
        _untrack(self.proc)
        return self.status


# --- the client --------------------------------------------------------------
class RpcConnection:
    """A keep-alive HTTP connection to one daemon; one XML-RPC call at a
    time, never re-sent."""

    def __init__(self, port, timeout, path):
        self.port = port
        self.timeout = timeout
        self.path = path
        self.conn = None
        self.last = 0.0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, body):
        """(status, response body) or an exception; the connection is
        closed after any failure."""
        if self.conn is not None and time.monotonic() - self.last > \
                IDLE_REOPEN:
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port,
                                                   timeout=self.timeout)
        try:
            self.conn.request('POST', self.path, body,
                              {'Content-Type': 'text/xml'})
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
        except BaseException:
            self.close()
            raise
        self.last = time.monotonic()
        return resp.status, data


def _name(v):
    """A name from an answer: a string, or base64 of its UTF-8 bytes."""
    if isinstance(v, xmlrpc.client.Binary):
        return v.data.decode('utf-8', 'replace')
    return v


def classify(kind, client, status, data, resource=None):
    """(outcome, holder, detail) of a response."""
    if status != 200:
        return ERROR, None, 'HTTP %d' % status
    try:
        params, _ = xmlrpc.client.loads(data)
        if kind == 'S':
            v = params[0] if len(params) == 1 else None
            if not isinstance(v, dict) or \
                    _name(v.get('resource')) != resource or \
                    v.get('held') not in (True, False) or \
                    (v['held'] and not isinstance(_name(v.get('holder')),
                                                  str)):
                return ERROR, None, 'bad status answer %r' % (params,)
            if v['held']:
                return S_HELD, _name(v['holder']), None
            return S_FREE, None, None
    except xmlrpc.client.Fault as f:
        code, msg = f.faultCode, f.faultString
        if kind == 'L' and code == FAULT_HELD:
            m = HELD_RE.fullmatch(msg)
            if m:
                return HELD, m.group(1), None
        elif kind == 'U' and code == FAULT_NOT_OWNER:
            m = NOT_OWNER_RE.fullmatch(msg)
            if m and m.group(2) == client:
                return NOT_OWNER, m.group(1), None
        elif kind == 'U' and code == FAULT_NOT_LOCKED and \
                msg == NOT_LOCKED_MSG:
            return NOT_LOCKED, None, None
        return ERROR, None, 'fault %s: %s' % (code, msg[:200])
    except Exception as e:      # not XML-RPC at all
        return ERROR, None, 'bad response: %s' % e
    if len(params) != 1 or params[0] is not None:
        return ERROR, None, 'unexpected result %r' % (params,)
    return (GRANTED if kind == 'L' else RELEASED), None, None


def client_loop(cidx, ports, nres, start_ns, deadline_ns, seed, timeout,
                use_status=False):
    """Runs one client until DEADLINE_NS; returns its operation records
    [cidx, seq, res, kind, inv_ns, resp_ns, outcome, holder, daemon,
    detail]."""
    rng = random.Random(seed)
    name = client_name(cidx)
    conns = [RpcConnection(p, timeout, '/RPC2' if (cidx + i) % 2 else '/')
             for i, p in enumerate(ports)]
    state = {}          # res -> True (holds) / False / None (unknown)
    out = []
    now = time.monotonic_ns()
    if start_ns > now:
        time.sleep((start_ns - now) / 1e9)
    try:
        for seq in range(MAX_OPS_PER_CLIENT):
            if time.monotonic_ns() >= deadline_ns:
                break
            held = [r for r, h in state.items() if h]
            if held and rng.random() < 0.5:
                res = rng.choice(held)     # turn the locks over
            else:
                res = rng.randrange(nres)
            holds = state.get(res, False)
            if use_status and rng.random() < STATUS_SHARE:
                kind = 'S'
            elif holds is None:
                kind = rng.choice('LU')
            elif holds:
                kind = 'U' if rng.random() < 0.9 else 'L'
            else:
                kind = 'L' if rng.random() < 0.85 else 'U'
            d = rng.randrange(len(ports))
            params = (resource_name(res),) if kind == 'S' else \
                (resource_name(res), name)
            body = xmlrpc.client.dumps(params, METHOD[kind]).encode()
            inv = time.monotonic_ns()
            try:
                status, data = conns[d].call(body)
                resp = time.monotonic_ns()
                outcome, holder, detail = classify(kind, name, status, data,
                                                   resource_name(res))
            except Exception as e:
                resp = time.monotonic_ns()
                outcome, holder = ERROR, None
                detail = '%s: %s' % (type(e).__name__, e)
            out.append([cidx, seq, res, kind, inv, resp, outcome, holder, d,
                        detail])
            if kind == 'S':
                pass                    # changes nothing
            elif outcome == GRANTED or (outcome == HELD and holder == name):
                state[res] = True
            elif outcome == ERROR:
                if state.get(res, False) or kind == 'L':
                    state[res] = None
            else:
                state[res] = False
    finally:
        for c in conns:
            c.close()
    return out


def _worker_main(cfg_path):
    """--worker: one client in a process of its own."""
    with open(cfg_path) as f:
        cfg = json.load(f)
    recs = client_loop(cfg['cidx'], cfg['ports'], cfg['resources'],
                       cfg['start_ns'], cfg['deadline_ns'], cfg['seed'],
                       cfg['timeout'], cfg['status'])
    tmp = cfg['out'] + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(recs, f)
    os.rename(tmp, cfg['out'])
    return 0


def run_clients(mode, nclients, ports, nres, seconds, seed, timeout, workdir,
                use_status=False):
    """Runs the load; returns (records, load start ns, load end ns)."""
    lead = 0.3 if mode == 'thread' else 1.0 + 0.05 * nclients
    start_ns = time.monotonic_ns() + int(lead * 1e9)
    deadline_ns = start_ns + int(seconds * 1e9)
    # a client stops sending at the deadline; its last call may take up to
    # TIMEOUT more, and a process needs time to start and to write
    hard_limit = time.monotonic() + lead + seconds + timeout + 60
    records = []
    if mode == 'thread':
        results = [None] * nclients
        errors = []

        def body(i):
            try:
                results[i] = client_loop(i, ports, nres, start_ns,
                                         deadline_ns, seed * 1000 + i,
                                         timeout, use_status)
            except BaseException as e:     # reported, never silent
                errors.append('client %d: %r' % (i, e))
        threads = [threading.Thread(target=body, args=(i,), daemon=True)
                   for i in range(nclients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, hard_limit - time.monotonic()))
        if any(t.is_alive() for t in threads) or errors:
            raise RuntimeError('client threads failed or hung: %s'
                               % (errors or 'timeout'))
        for r in results:
            records.extend(r)
    else:
        procs = []
        try:
            for i in range(nclients):
                cfg = {'cidx': i, 'ports': ports, 'resources': nres,
                       'start_ns': start_ns, 'deadline_ns': deadline_ns,
                       'seed': seed * 1000 + i, 'timeout': timeout,
                       'status': use_status,
                       'out': os.path.join(workdir, 'client%d.json' % i)}
                cfg_path = os.path.join(workdir, 'client%d.cfg' % i)
                with open(cfg_path, 'w') as f:
                    json.dump(cfg, f)
                p = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), '--worker',
                     cfg_path], stdin=subprocess.DEVNULL, close_fds=True)
                _track(p)
                procs.append((p, cfg['out']))
            for p, out in procs:
                try:
                    st = p.wait(timeout=max(0.1, hard_limit -
                                            time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise RuntimeError('client process %d hung' % p.pid)
                _untrack(p)
                if st != 0:
                    raise RuntimeError('client process %d exited with %s'
                                       % (p.pid, st))
                with open(out) as f:
                    records.extend(json.load(f))
        finally:
            for p, _ in procs:
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(timeout=10)
                _untrack(p)
    return records, start_ns, deadline_ns


# --- the checker -------------------------------------------------------------
Op = collections.namedtuple(
    'Op', 'client seq resource kind inv resp outcome holder daemon detail')


def _fmt_op(op):
    return ('%s %s(%s) [%.6f, %.6f] -> %s%s%s'
            % (op.client, METHOD[op.kind],
               op.resource, op.inv / 1e9, op.resp / 1e9, op.outcome,
               ' %r' % op.holder if op.holder is not None else '',
               ' (%s)' % op.detail if op.detail else ''))


def check(history, clients, resources, final_dir=None, probes=None,
          stray=None, max_examples=10):
    """Checks HISTORY (Ops) of CLIENTS (names) on RESOURCES (names).

    final_dir: {resource: holder or None} read from the lock directory
    after the load (None: skip the final check).  probes: [(daemon,
    resource, observed holder or None, error or None)].  stray: names of
    unexpected files in the lock directory.  Returns a dict of figures;
    see the module documentation for the rules.
    """
    clientset = set(clients)
    ex = collections.defaultdict(list)

    def note(kind, msg):
        if len(ex[kind]) < max_examples:
            ex[kind].append(msg)

    counts = collections.Counter(op.outcome for op in history)
    by_cr = collections.defaultdict(list)
    for op in history:
        by_cr[(op.client, op.resource)].append(op)
    cert = collections.defaultdict(list)    # res -> [(start, end, client)]
    poss = {}                               # (client, res) -> [(s, e)]
    final = {}                              # (client, res) -> state
    lost = 0
    lost_mid = 0
    inconsistent = 0
    # (1) each client's own knowledge, per resource, in program order
    for (c, r), ops in by_cr.items():
        ops.sort(key=lambda o: o.seq)
        state = 'FREE'
        cstart = None           # certain hold since
        pstart = None           # possible hold since
        released_once = False
        plist = []

        def close_cert(end):
            nonlocal cstart
            if cstart is not None:
                cert[r].append((cstart, end, c))
                cstart = None

        def close_poss(end):
            nonlocal pstart
            if pstart is not None:
                plist.append((pstart, end))
                pstart = None

        for op in ops:
            o = op.outcome
            if op.kind == 'S':
                # changes nothing; must match what the client knows
                if o == S_HELD and op.holder == c and state == 'FREE':
                    lost_mid += 1
                    note('lost', 'status says the client holds it, which '
                         'it does not: ' + _fmt_op(op))
                elif state == 'HELD' and (o == S_FREE or (
                        o == S_HELD and op.holder != c)):
                    lost_mid += 1
                    note('lost', 'the client held it, but: ' + _fmt_op(op))
                continue
            if op.kind == 'L' and o == GRANTED:
                if state == 'HELD':
                    lost_mid += 1
                    note('lost', 'granted while already holding it: the '
                         'earlier grant was lost: ' + _fmt_op(op))
                close_cert(op.inv)
                state = 'HELD'
                cstart = op.resp
                if pstart is None:
                    pstart = op.inv
            elif op.kind == 'L' and o == HELD and op.holder == c:
                if state == 'FREE':
                    lost_mid += 1
                    note('lost', ('refused as held by itself after its '
                                  'release was acknowledged: '
                                  if released_once else
                                  'refused as held by itself, never '
                                  'granted: ') + _fmt_op(op))
                if state != 'HELD':
                    cstart = op.resp
                    if pstart is None:
                        pstart = op.inv
                state = 'HELD'
            elif op.kind == 'L' and o == HELD:
                if state == 'HELD':
                    lost_mid += 1
                    note('lost', 'held by another while the client held '
                         'it: ' + _fmt_op(op))
                close_cert(op.inv)
                close_poss(op.resp)
                state = 'FREE'
            elif op.kind == 'L':                # error
                if state != 'HELD':
                    state = 'UNKNOWN'
                    if pstart is None:
                        pstart = op.inv
            elif o == RELEASED:
                if state == 'FREE':
                    lost_mid += 1
                    note('lost', 'released a lock the client did not '
                         'hold: ' + _fmt_op(op))
                close_cert(op.inv)
                close_poss(op.resp)
                state = 'FREE'
                released_once = True
            elif o in (NOT_OWNER, NOT_LOCKED):
                if o == NOT_OWNER and op.holder == c:
                    inconsistent += 1
                    note('inconsistent', 'told it holds the lock it cannot '
                         'unlock: ' + _fmt_op(op))
                if state == 'HELD':
                    lost_mid += 1
                    note('lost', 'the client held it, but: ' + _fmt_op(op))
                close_cert(op.inv)
                close_poss(op.resp)
                state = 'FREE'
            else:                               # unlock error
                if state == 'HELD':
                    close_cert(op.inv)
                    state = 'UNKNOWN'
        close_cert(INF)
        close_poss(INF)
        poss[(c, r)] = plist
        final[(c, r)] = state

    # (a) exclusivity: certain intervals of different clients never meet
    overlaps = 0
    prefix = {}         # res -> (starts, prefix max end, its client)
    for r, ivs in cert.items():
        ivs.sort()
        max_end, max_c = -1, None
        starts, pmax, pcli = [], [], []
        for s, e, c in ivs:
            if s < max_end and c != max_c:
                overlaps += 1
                note('overlap', '%s: %s certainly held it until %s, %s '
                     'certainly held it from %.6f' % (
                         r, max_c, 'the end' if max_end == INF else
                         '%.6f' % (max_end / 1e9), c, s / 1e9))
            if e > max_end:
                max_end, max_c = e, c
            starts.append(s)
            pmax.append(max_end)
            pcli.append(max_c)
        prefix[r] = (starts, pmax, pcli)

    def certain_holder(r, inv, resp):
        """A client that certainly held R during all of [inv, resp]."""
        if r not in prefix:
            return None
        starts, pmax, pcli = prefix[r]
        i = bisect.bisect_right(starts, inv) - 1
        if i >= 0 and pmax[i] >= resp:
            return pcli[i]
        return None

    def possibly_held(x, r, inv, resp):
        plist = poss.get((x, r), [])
        i = bisect.bisect_right(plist, (resp, INF)) - 1
        return i >= 0 and plist[i][1] >= inv

    # (b) refusals
    for op in history:
        if op.outcome in (HELD, NOT_OWNER, S_HELD) and \
                op.holder != op.client:
            x = op.holder
            why = None
            if x not in clientset:
                why = 'names a client that is not part of the run'
            elif not possibly_held(x, op.resource, op.inv, op.resp):
                why = '%s cannot have held it then' % x
            else:
                y = certain_holder(op.resource, op.inv, op.resp)
                if y is not None and y not in (x, op.client):
                    why = '%s held it during the whole call' % y
            if why:
                inconsistent += 1
                note('inconsistent', '%s: %s' % (why, _fmt_op(op)))
        elif op.outcome in (NOT_LOCKED, S_FREE):
            y = certain_holder(op.resource, op.inv, op.resp)
            if y is not None and y != op.client:
                inconsistent += 1
                note('inconsistent', '%s held it during the whole call: '
                     '%s' % (y, _fmt_op(op)))
    lost += lost_mid

    # (c) the final state
    lost_final = 0
    disagree = 0
    expected = {}
    if final_dir is not None:
        for r in resources:
            holders = sorted(c for c in clients
                             if final.get((c, r), 'FREE') == 'HELD')
            unknown = {c for c in clients
                       if final.get((c, r), 'FREE') == 'UNKNOWN'}
            expected[r] = holders[0] if len(holders) == 1 else \
                (None if not holders else holders)
            got = final_dir.get(r)
            if len(holders) > 1:
                continue                # an overlap, counted in (a)
            if holders:
                ok = got == holders[0]
            else:
                ok = got is None or got in unknown
            if not ok:
                lost_final += 1
                note('lost', '%s: the acknowledged operations leave it %s, '
                     'the lock directory says %s' % (
                         r, 'held by %r' % holders[0] if holders else
                         'free', 'held by %r' % got if got is not None
                         else 'free'))
        for d, r, got, err in probes or []:
            want = final_dir.get(r)
            if err is not None or got != want:
                disagree += 1
                note('disagree', 'daemon %s on %s: %s, the lock directory '
                     'says %s' % (d, r, err or ('held by %r' % got
                                                if got else 'free'),
                                  'held by %r' % want if want else 'free'))
    lost += lost_final
    for name in stray or []:
        note('stray', name)
    # list() may name resources that are not in RESOURCES: compared to
    # final_dir, which has no entry for them, they are disagreements
    for op in history:
        if op.outcome == ERROR:
            note('error', _fmt_op(op))
    return {
        'operations': len(history),
        'locks': sum(1 for op in history if op.kind == 'L'),
        'unlocks': sum(1 for op in history if op.kind == 'U'),
        'grants': counts[GRANTED],
        'releases': counts[RELEASED],
        'refused_held': counts[HELD],
        'refused_not_owner': counts[NOT_OWNER],
        'refused_not_locked': counts[NOT_LOCKED],
        'status_calls': sum(1 for op in history if op.kind == 'S'),
        'status_held': counts[S_HELD],
        'status_free': counts[S_FREE],
        'errors': counts[ERROR],
        'hold_intervals': sum(len(v) for v in cert.values()),
        'overlaps': overlaps,
        'lost': lost,
        'lost_midrun': lost_mid,
        'lost_final': lost_final,
        'inconsistent_refusals': inconsistent,
        'disagreements': disagree,
        'stray_files': len(stray or []),
        'expected_final': expected,
        'examples': dict(ex),
    }


# --- the final state ---------------------------------------------------------
def read_lockdir(lockdir, resources):
    """({resource: holder or None}, [stray file names])."""
    state, stray = {}, []
    names = {r + SUFFIX: r for r in resources}
    for fn in sorted(os.listdir(lockdir)):
        # The token counter and the history are lockd's own files, and
        # a running daemon keeps its journal (".journal.<boot>.<pid>.*";
        # its removal at a clean stop is checked after the stop).
        if fn not in names and fn not in ('.token', '.history',
                                          '.history.1', '.checkpoint') and \
                not fn.startswith('.journal.'):
            stray.append(fn)
    for r in resources:
        try:
            with open(os.path.join(lockdir, r + SUFFIX), 'rb') as f:
                first = f.read().split(b'\n', 1)[0]
            state[r] = first.decode('utf-8', 'replace')
        except FileNotFoundError:
            state[r] = None
    return state, stray


def probe(daemons, resources, timeout, use_status=False):
    """[(daemon and how, resource, holder or None, error or None)] of every
    daemon's view: a lock attempt by PROBE (a probe lock that is granted
    is released at once) and, with use_status, status() of every resource
    and the pages of list()."""
    out = []
    for d in daemons:
        conn = RpcConnection(d.port, timeout, '/')

        def call(method, *params):
            return conn.call(xmlrpc.client.dumps(params, method).encode())
        try:
            for r in resources:
                try:
                    o, holder, detail = classify('L', PROBE,
                                                 *call('lock', r, PROBE))
                    if o == GRANTED:
                        o2, _, detail2 = classify('U', PROBE,
                                                  *call('unlock', r, PROBE))
                        out.append(('%d lock' % d.index, r, None,
                                    None if o2 == RELEASED else
                                    'probe unlock: %s' % (detail2 or o2)))
                    elif o == HELD:
                        out.append(('%d lock' % d.index, r, holder, None))
                    else:
                        out.append(('%d lock' % d.index, r, None,
                                    'probe lock: %s' % detail))
                except Exception as e:
                    out.append(('%d lock' % d.index, r, None,
                                'probe: %r' % e))
            if not use_status:
                continue
            for r in resources:
                try:
                    o, holder, detail = classify('S', PROBE,
                                                 *call('status', r), r)
                    out.append(('%d status' % d.index, r, holder,
                                detail if o == ERROR else None))
                except Exception as e:
                    out.append(('%d status' % d.index, r, None,
                                'status: %r' % e))
            listed, after, err = {}, '', None
            try:
                for _ in range(1000):
                    st, data = call('list', {'after': after, 'limit': 1000})
                    if st != 200:
                        raise RuntimeError('HTTP %d' % st)
                    v = xmlrpc.client.loads(data)[0][0]
                    for lk in v['locks']:
                        listed[_name(lk['resource'])] = _name(lk['holder'])
                    after = v['next']
                    if not after:
                        break
                else:
                    err = 'list: more than 1000 pages'
            except Exception as e:
                err = 'list: %r' % e
            for r in list(resources) + sorted(set(listed) - set(resources)):
                out.append(('%d list' % d.index, r, listed.get(r), err))
        finally:
            conn.close()
    return out


# --- a whole run -------------------------------------------------------------
def _percentile(sorted_vals, q):
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, int(q * len(sorted_vals)))
    return sorted_vals[i]


def has_status(port, timeout):
    """Whether the daemon on PORT offers status() and list()."""
    conn = RpcConnection(port, timeout, '/')
    try:
        st, data = conn.call(xmlrpc.client.dumps((), 'system.listMethods')
                             .encode())
        methods = xmlrpc.client.loads(data)[0][0] if st == 200 else []
    finally:
        conn.close()
    return 'status' in methods and 'list' in methods


def auto_mode():
    """Threads or processes for the clients.  Measured on a 2-CPU VM
    against the ASan build (2 daemons, 8 clients, sync: threads 850-935
    ops/s, processes 600-745; 3 daemons, 16 clients, no sync: threads
    1240-1330, processes 615-850): with few CPUs the daemons and the
    clients share them and one Python process costs the least; the GIL
    only limits the client side once there are cores to spare."""
    return 'process' if (os.cpu_count() or 1) > 4 else 'thread'


def _cpu_self_and_children():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _cpu_of(pid):
    """CPU seconds used so far by process PID (0 if unknown)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / \
            os.sysconf('SC_CLK_TCK')
    except (OSError, IndexError, ValueError):
        return 0.0


def run(daemons=2, clients=8, seconds=10.0, resources=4, lockd=None,
        no_sync=False, seed=None, mode='auto', timeout=10.0, log=None,
        split_brain=False):
    """Starts the daemons, runs the load, stops it, checks.  Returns the
    figures (a dict; 'ok' is the verdict).  split_brain: give each daemon
    a lock directory of its own, a deliberately broken setup in which the
    checker must find overlaps (the final state is read from daemon 0's
    directory)."""
    if mode == 'auto':
        mode = auto_mode()
    lockd = lockd or os.environ.get('LOCKD')
    if not lockd or not os.access(lockd, os.X_OK):
        raise RuntimeError('no lockd: set $LOCKD or pass --lockd '
                           '(got %r)' % lockd)
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 30)
    log = log or (lambda msg: None)
    workdir = tempfile.mkdtemp(prefix='lockstress-')
    lockdir = os.path.join(workdir, 'locks')
    os.mkdir(lockdir, 0o700)
    res_names = [resource_name(i) for i in range(resources)]
    cli_names = [client_name(i) for i in range(clients)]
    procs = []
    result = {'daemons': daemons, 'clients': clients, 'resources': resources,
              'seconds': seconds, 'sync': not no_sync, 'seed': seed,
              'mode': mode, 'lockd': lockd, 'split_brain': split_brain}
    try:
        for i in range(daemons):
            d = lockdir
            if split_brain and i > 0:
                d = os.path.join(workdir, 'locks%d' % i)
                os.mkdir(d, 0o700)
            procs.append(LockdProcess(lockd, d, workdir, i, no_sync))
        ports = [p.wait_ready() for p in procs]
        use_status = has_status(ports[0], timeout)
        result['status_call'] = (
            'status() in the mix (%d%% of the operations); status() and '
            'list() of every daemon checked at the end' %
            (STATUS_SHARE * 100) if use_status else
            'none in this lockd: final state read from the lock directory '
            'and by probe locks only')
        log('lockstress: %d daemon(s) on ports %s, lock directory %s, '
            'seed %d, %s clients' % (daemons, ports, lockdir, seed, mode))
        cpu0 = _cpu_self_and_children()
        dcpu0 = [_cpu_of(p.pid) for p in procs]
        recs, t0, t1 = run_clients(mode, clients, ports, resources, seconds,
                                   seed, timeout, workdir, use_status)
        result['client_cpu_s'] = round(_cpu_self_and_children() - cpu0, 2)
        result['daemon_cpu_s'] = round(sum(_cpu_of(p.pid) for p in procs) -
                                       sum(dcpu0), 2)
        history = [Op(client_name(c), seq, resource_name(r), k, inv, resp,
                      o, h, d, det)
                   for c, seq, r, k, inv, resp, o, h, d, det in recs]
        dead = [p.index for p in procs if not p.alive()]
        final_dir, stray = read_lockdir(lockdir, res_names)
        probes = probe([p for p in procs if p.alive()], res_names, timeout,
                       use_status)
        result.update(check(history, cli_names, res_names, final_dir,
                            probes, stray))
        result['final_dir'] = final_dir
        if history:
            first = min(op.inv for op in history)
            last = max(op.resp for op in history)
            span = max(1e-9, (last - first) / 1e9)
        else:
            span = seconds
        lat = sorted((op.resp - op.inv) / 1e6 for op in history)
        result['elapsed'] = round(span, 3)
        result['ops_per_s'] = round(len(history) / span, 1)
        result['latency_ms'] = {'p50': round(_percentile(lat, .5), 2),
                                'p99': round(_percentile(lat, .99), 2),
                                'max': round(lat[-1] if lat else 0, 2)}
        result['per_daemon_ops'] = [sum(1 for op in history
                                        if op.daemon == i)
                                    for i in range(daemons)]
        result['died_during_run'] = dead
    finally:
        statuses = [p.stop() for p in procs]
        result['daemon_exit'] = statuses
        result['daemon_failures'] = sum(1 for s in statuses if s != 0)
        # A daemon that stopped cleanly leaves no journal.
        clean = [str(p.pid) for p, s in zip(procs, statuses) if s == 0]
        try:
            left = [fn for fn in os.listdir(lockdir)
                    if fn.startswith('.journal.') and
                    fn.split('.')[3:4] and fn.split('.')[3] in clean]
        except OSError:
            left = []
        if left:
            result['stray_files'] = result.get('stray_files', 0) + len(left)
            for fn in left[:10]:
                log('lockstress: left after a clean stop: %s' % fn)
        if result['daemon_failures']:
            result['daemon_stderr'] = {p.index: p.stderr()[-3000:]
                                       for p in procs if p.status != 0}
        shutil.rmtree(workdir, ignore_errors=True)
    result['ok'] = all(result.get(k, 1) == 0 for k in (
        'overlaps', 'lost', 'errors', 'inconsistent_refusals',
        'disagreements', 'stray_files', 'daemon_failures'))
    return result


def format_result(r):
    lines = [
        'lockstress: %d daemon(s), %d clients (%s), %d resources, %gs, %s, '
        'seed %s%s' % (r['daemons'], r['clients'], r['mode'],
                       r['resources'], r['seconds'],
                       'sync' if r['sync'] else 'NO SYNC', r['seed'],
                       ', SPLIT BRAIN (must fail)' if r['split_brain']
                       else ''),
        '  status call:          %s' % r.get('status_call', '?'),
        '  operations:           %d (%d lock, %d unlock, %d status) in '
        '%.2f s: %.1f ops/s' % (r.get('operations', 0), r.get('locks', 0),
                                r.get('unlocks', 0),
                                r.get('status_calls', 0),
                                r.get('elapsed', 0), r.get('ops_per_s', 0)),
        '  per daemon:           %s' % r.get('per_daemon_ops'),
        '  CPU seconds:          clients %s, daemons %s'
        % (r.get('client_cpu_s'), r.get('daemon_cpu_s')),
        '  latency ms:           p50 %(p50)s  p99 %(p99)s  max %(max)s'
        % r.get('latency_ms', {'p50': '-', 'p99': '-', 'max': '-'}),
        '  grants:               %d' % r.get('grants', 0),
        '  releases:             %d' % r.get('releases', 0),
        '  refusals:             %d held, %d not owner, %d not locked'
        % (r.get('refused_held', 0), r.get('refused_not_owner', 0),
           r.get('refused_not_locked', 0)),
        '  status calls:         %d (%d held, %d free)'
        % (r.get('status_calls', 0), r.get('status_held', 0),
           r.get('status_free', 0)),
        '  errors:               %s' % r.get('errors', '?'),
        '  hold intervals:       %s' % r.get('hold_intervals', '?'),
        '  overlaps:             %s' % r.get('overlaps', '?'),
        '  lost:                 %s (%s during the run, %s at the end)'
        % (r.get('lost', '?'), r.get('lost_midrun', '?'),
           r.get('lost_final', '?')),
        '  inconsistent answers: %s (refusals and status)'
        % r.get('inconsistent_refusals', '?'),
        '  daemon disagreements: %s' % r.get('disagreements', '?'),
        '  stray files:          %s' % r.get('stray_files', '?'),
        '  daemon exit statuses: %s' % r.get('daemon_exit'),
    ]
    for kind, msgs in sorted(r.get('examples', {}).items()):
        for m in msgs:
            lines.append('  %s: %s' % (kind, m))
    for i, text in sorted(r.get('daemon_stderr', {}).items()):
        lines.append('  --- lockd #%s stderr ---\n%s' % (i, text))
    lines.append('lockstress: %s' % ('PASS' if r['ok'] else 'FAIL'))
    return '\n'.join(lines)


# --- self-test ---------------------------------------------------------------
def self_test(verbose=False):
    """Feeds the checker synthetic histories; returns a list of failures
    (empty: the checker detects what it must and nothing else)."""
    S = 1000000000
    A, B, C = 'A', 'B', 'C'
    R = 'r'
    failures = []
    seqs = collections.Counter()

    def op(c, kind, inv, resp, outcome, holder=None, r=R):
        seqs[c] += 1
        return Op(c, seqs[c], r, kind, int(inv * S), int(resp * S), outcome,
                  holder, 0, None)

    def expect(name, hist, want, final_dir=None, probes=None, stray=None):
        res = check(hist, [A, B, C], [R, 'q'], final_dir, probes, stray)
        got = {k: res[k] for k in want}
        if verbose:
            print('self-test %-28s %s' % (name, got))
        if got != want:
            failures.append('%s: want %s, got %s; examples %s'
                            % (name, want, got, res['examples']))

    seqs.clear()
    clean = [
        op(A, 'L', 0, 1, GRANTED),
        op(B, 'L', 1.5, 2, HELD, A),
        # B's grant overlaps A's release call in time: legitimate
        op(A, 'U', 3, 5, RELEASED),
        op(B, 'L', 2.5, 4, GRANTED),
        op(C, 'U', 4.5, 4.6, NOT_OWNER, B),
        op(C, 'L', 4.7, 4.8, HELD, B),
        op(B, 'U', 6, 7, RELEASED),
        op(B, 'S', 7.1, 7.4, S_FREE),
        op(C, 'U', 7.5, 8, NOT_LOCKED),
        op(C, 'L', 8, 9, GRANTED),
        op(A, 'L', 9.5, 10, HELD, C),
        op(A, 'S', 10.5, 11, S_HELD, C),
        op(C, 'S', 11, 11.5, S_HELD, C),
        op(B, 'S', 12, 13, S_HELD, C),
    ]
    zero = {'overlaps': 0, 'lost': 0, 'inconsistent_refusals': 0,
            'disagreements': 0, 'errors': 0}
    expect('clean', clean, zero, {R: C, 'q': None},
           [(0, R, C, None), (1, 'q', None, None)])
    # an overlap: B granted (acknowledged at 3) before A even asked to
    # release (at 5)
    seqs.clear()
    overlap = [
        op(A, 'L', 0, 1, GRANTED),
        op(B, 'L', 2, 3, GRANTED),
        op(A, 'U', 5, 6, RELEASED),
        op(B, 'U', 7, 8, RELEASED),
    ]
    expect('overlap', overlap, dict(zero, overlaps=1), {R: None, 'q': None})
    # a lost release: A's release was acknowledged, the lock is still there
    seqs.clear()
    lost_release = [
        op(A, 'L', 0, 1, GRANTED),
        op(A, 'U', 2, 3, RELEASED),
    ]
    expect('lost release (final)', lost_release, dict(zero, lost=1),
           {R: A, 'q': None})
    # both in one history, as the brief asks: an overlap and a lost release
    seqs.clear()
    both = [
        op(A, 'L', 0, 1, GRANTED),
        op(B, 'L', 2, 3, GRANTED),
        op(A, 'U', 5, 6, RELEASED),
        op(C, 'L', 0, 1, GRANTED, r='q'),
        op(C, 'U', 2, 3, RELEASED, r='q'),
    ]
    expect('overlap + lost release', both, dict(zero, overlaps=1, lost=1),
           {R: B, 'q': C})
    # a lost release seen during the run: A released, then is told it holds
    seqs.clear()
    lost_mid = [
        op(A, 'L', 0, 1, GRANTED),
        op(A, 'U', 2, 3, RELEASED),
        op(A, 'L', 4, 5, HELD, A),
        op(A, 'U', 6, 7, RELEASED),
    ]
    expect('lost release (mid-run)', lost_mid, dict(zero, lost=1),
           {R: None, 'q': None})
    # a lost grant: A holds it, the directory has nothing
    seqs.clear()
    expect('lost grant (final)', [op(A, 'L', 0, 1, GRANTED)],
           dict(zero, lost=1), {R: None, 'q': None})
    # a refusal naming a client that cannot hold the lock then
    seqs.clear()
    bad_refusal = [
        op(A, 'L', 0, 1, GRANTED),
        op(A, 'U', 2, 3, RELEASED),
        op(C, 'L', 4, 5, HELD, A),
        op(B, 'L', 6, 7, HELD, 'nobody'),
    ]
    expect('inconsistent refusal', bad_refusal,
           dict(zero, inconsistent_refusals=2), {R: None, 'q': None})
    # status answers that contradict what is certain
    seqs.clear()
    bad_status = [
        op(B, 'L', 0, 1, GRANTED),
        op(C, 'S', 2, 3, S_FREE),           # B held it all along
        op(C, 'S', 2, 3, S_HELD, A),        # A never asked for it
        op(B, 'S', 3.5, 3.6, S_FREE),       # B knows it holds it
        op(B, 'U', 4, 5, RELEASED),
        op(B, 'S', 6, 7, S_HELD, B),        # B knows it released it
    ]
    expect('inconsistent status', bad_status,
           dict(zero, inconsistent_refusals=2, lost=2),
           {R: None, 'q': None})
    # "not locked" while B certainly held it
    seqs.clear()
    bad_not_locked = [
        op(B, 'L', 0, 1, GRANTED),
        op(C, 'U', 2, 3, NOT_LOCKED),
        op(B, 'U', 4, 5, RELEASED),
    ]
    expect('inconsistent not-locked', bad_not_locked,
           dict(zero, inconsistent_refusals=1), {R: None, 'q': None})
    # an error makes the state unknown: either final state is accepted,
    # and an overlap cannot be built on an unacknowledged grant
    seqs.clear()
    errs = [
        op(A, 'L', 0, 1, ERROR),
        op(B, 'L', 2, 3, GRANTED),
        op(B, 'U', 4, 5, ERROR),
        op(C, 'L', 5.5, 6, HELD, B),
    ]
    expect('errors are ambiguous', errs, dict(zero, errors=2),
           {R: B, 'q': None})
    expect('errors are ambiguous 2', errs, dict(zero, errors=2),
           {R: None, 'q': None})
    # probes that disagree with the directory, and a stray file
    seqs.clear()
    expect('daemon disagreement', [op(A, 'L', 0, 1, GRANTED)],
           dict(zero, disagreements=2), {R: A, 'q': None},
           [(0, R, A, None), (1, R, None, None), (1, 'q', 'B', None)])
    return failures


# --- command line ------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(
        description='Stress M lockd daemons on one lock directory with N '
        'clients and check exclusivity and durability of acknowledged '
        'operations.')
    ap.add_argument('--daemons', type=int, default=2, metavar='M')
    ap.add_argument('--clients', type=int, default=8, metavar='N')
    ap.add_argument('--seconds', type=float, default=10.0, metavar='T')
    ap.add_argument('--resources', type=int, default=4, metavar='K')
    ap.add_argument('--lockd', help='the daemon (default: $LOCKD)')
    ap.add_argument('--no-sync', action='store_true',
                    help='run the daemons with --no-sync')
    ap.add_argument('--seed', type=int)
    ap.add_argument('--mode', choices=('auto', 'thread', 'process'),
                    default='auto',
                    help='clients as threads or processes (default auto: '
                    'threads on up to 4 CPUs, where the daemons need the '
                    'CPUs too; processes on more, where the GIL would '
                    'limit the clients)')
    ap.add_argument('--timeout', type=float, default=10.0,
                    help='seconds per call (default 10)')
    ap.add_argument('--split-brain', action='store_true',
                    help='give each daemon its own lock directory: a '
                    'broken setup the checker must FAIL (checks the '
                    'checker on real traffic)')
    ap.add_argument('--json', action='store_true',
                    help='print the figures as one JSON object')
    ap.add_argument('--self-test', action='store_true',
                    help='check the checker on synthetic histories')
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return _worker_main(a.worker)
    if a.self_test:
        failures = self_test(verbose=not a.json)
        if a.json:
            print(json.dumps({'self_test': 'FAIL' if failures else 'PASS',
                              'failures': failures}))
        else:
            for f in failures:
                print('self-test FAILED: ' + f)
            print('lockstress self-test: %s' % ('FAIL' if failures
                                                 else 'PASS'))
        return 1 if failures else 0
    for name in ('daemons', 'clients', 'resources'):
        if not 1 <= getattr(a, name) <= 1000:
            ap.error('--%s must be from 1 to 1000' % name)
    if not 0 < a.seconds <= 3600:
        ap.error('--seconds must be from 0 to 3600')

    def on_term(signum, frame):
        raise KeyboardInterrupt('signal %d' % signum)
    signal.signal(signal.SIGTERM, on_term)
    r = run(a.daemons, a.clients, a.seconds, a.resources, a.lockd,
            a.no_sync, a.seed, a.mode, a.timeout,
            log=None if a.json else lambda m: print(m, flush=True),
            split_brain=a.split_brain)
    if a.json:
        print(json.dumps(r, sort_keys=True))
    else:
        print(format_result(r))
    return 0 if r['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
