#!/usr/bin/env python3
"""profile.py -- where lockd's instructions go per request.

    bench/profile.py [--lockd PATH] [--before PATH] [--pairs 2000]
                     [--pings 2000] [--out bench/profile-YYYY-MM-DD.txt]

With --before, profiles that lockd too (an older build) and puts the two
side by side: where the CPU goes per request before and after a change.

Runs lockd --no-sync under valgrind --tool=callgrind (instrumentation
switched on only while the load runs, so start-up and shutdown are not
counted) twice: once for --pairs lock+unlock pairs at one connection, once
for --pings ping() calls.  Summarises each with callgrind_annotate: the
instructions per call, grouped (Abyss/HTTP, xmlrpc-c XML parser, xmlrpc-c
XML-RPC layer, lockd server, lockd lock store, malloc, libc printf family,
libc syscall wrappers, other libc), the top 15 functions by their own
instructions, and the inclusive cost of the stages of a request.  Then,
without valgrind, counts the system calls per call (strace -c -f) and
measures the kernel share of the daemon's CPU time (/proc/PID/stat) and,
with perf, where in the kernel it goes, which callgrind cannot see; the
same once more for the durable default at 16 connections, where group
commit and the syncs show.  Writes a small text summary.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)

LINE = re.compile(r'^\s*([\d,]+) \(\s*[\d.]+%\)\s+(?:\*\s+)?(\S.*?)'
                  r'(?: \[([^\]]*)\])?(?: \(\d+x\))?\s*$')


def category(fn, obj):
    obj = obj or ''
    base = os.path.basename(obj)
    if 'libxmlrpc_abyss' in base or 'libxmlrpc_server_abyss' in base:
        return 'Abyss/HTTP (incl. xmlrpc-c abyss glue)'
    if 'libxmlrpc_xmlparse' in base or 'libxmlrpc_xmltok' in base:
        return 'xmlrpc-c XML parser (bundled expat)'
    if base.startswith('libxmlrpc'):
        return 'xmlrpc-c XML-RPC (values, parse tree, serialize, registry)'
    if '/lib/' in fn and ('lockd' in base or not base):
        return 'lockd lock store (lib/)'
    if '/server/' in fn and ('lockd' in base or not base):
        return 'lockd server (rpc, log, access)'
    if 'ld-linux' in base:
        return 'dynamic linker'
    if '/malloc/' in fn or re.search(r':(_int_)?(malloc|free|calloc|realloc'
                                     r'|malloc_consolidate|unlink_chunk.*'
                                     r'|tcache.*|cfree)$', fn):
        return 'malloc/free'
    if ('/stdio-common/' in fn or '/libio/' in fn or 'printf' in fn or
            'scanf' in fn or '_itoa' in fn):
        return 'libc printf/scanf/stdio'
    if '/sysv/linux/' in fn or '/nptl/' in fn:
        return 'libc syscall wrappers, pthreads'
    if 'libc.so' in base or fn.startswith('./'):
        return 'libc other (string, time, random, getenv)'
    return 'other'


def annotate(outfile, inclusive):
    p = subprocess.run(['callgrind_annotate', '--threshold=100', '--auto=no',
                        '--inclusive=%s' % ('yes' if inclusive else 'no'),
                        outfile], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, check=True)
    total = None
    rows = []
    for line in p.stdout.decode(errors='replace').splitlines():
        m = LINE.match(line)
        if not m:
            continue
        n = int(m.group(1).replace(',', ''))
        if m.group(2) == 'PROGRAM TOTALS':
            total = n
            continue
        rows.append((n, m.group(2), m.group(3) or ''))
    return total, rows


def start_lockd(cmd_prefix, lockd, lockdir, errpath, timeout, sync=False):
    cmd = cmd_prefix + [lockd, '--foreground', '--port', '0', '--lockdir',
                        lockdir, '--config', '/dev/null']
    if not sync:
        cmd.append('--no-sync')
    if os.geteuid() == 0:
        cmd += ['--user', 'root']
    err = open(errpath, 'wb')
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(errpath, 'rb') as f:
            m = re.search(rb'listening on http://127\.0\.0\.1:(\d+)/',
                          f.read())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError('lockd did not start: %s' % open(errpath).read())


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def traced_child(pid):
    """The first child process of PID (lockd under strace), or None."""
    try:
        for tid in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, tid)) as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
    except OSError:
        pass
    return None


def loadgen(args, port, mode, n, pid=None, conns=1):
    cmd = [args.loadgen, '--port', str(port), '-c', str(conns), '-n',
           str(max(1, n // conns)), '--call-timeout', '30']
    if mode == 'ping':
        cmd += ['--method', 'ping']
    if pid:
        cmd += ['--pid', str(pid)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=900)
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def callgrind(args, work, mode, n):
    """Runs one workload under callgrind; returns (calls, self, incl)."""
    ldir = os.path.join(work, 'locks-' + mode)
    os.makedirs(ldir, mode=0o700)
    out = os.path.join(work, 'callgrind.%s.out' % mode)
    proc, port = start_lockd(
        ['valgrind', '--tool=callgrind', '--instr-atstart=no',
         '--callgrind-out-file=' + out], args.cur, ldir,
        os.path.join(work, 'err-cg-' + mode), 120)
    try:
        # A warm-up call outside the window: lazy binding, first malloc.
        loadgen(args, port, mode, 10)
        subprocess.run(['callgrind_control', '-i', 'on', str(proc.pid)],
                       stdout=subprocess.DEVNULL, check=True)
        r = loadgen(args, port, mode, n)
        subprocess.run(['callgrind_control', '-i', 'off', str(proc.pid)],
                       stdout=subprocess.DEVNULL, check=True)
    finally:
        stop(proc)
    total, selfrows = annotate(out, False)
    _, inclrows = annotate(out, True)
    return r['calls'], r['errors'], total, selfrows, inclrows


PERF_SYMS = [
    ('__x64_sys_sendto', 'sendto (Abyss\'s channel: one per header line)'),
    ('__sys_sendmsg', 'sendmsg (lockd\'s channel: one per reply)'),
    ('__x64_sys_recvfrom', 'recvfrom'),
    ('__x64_sys_poll', 'poll'),
    ('__x64_sys_openat', 'openat'),
    ('__ext4_new_inode', '  of which ext4 inode allocation'),
    ('recently_deleted', '  of which recently_deleted() (no journal)'),
    ('rwsem_down_write_slowpath', 'waiting for the directory\'s lock '
     '(i_rwsem; create, link, unlink)'),
    ('__x64_sys_linkat', 'linkat'),
    ('__x64_sys_unlinkat', 'unlinkat'),
    ('__x64_sys_close', 'close'),
    ('__x64_sys_write', 'write (audit line, lock file)'),
    ('__x64_sys_newfstatat', 'stat family'),
    ('__x64_sys_flock', 'flock'),
    ('__x64_sys_pread64', 'pread'),
    ('__x64_sys_getpeername', 'getpeername'),
    ('__x64_sys_fsync', 'fsync (directory, token counter, history)'),
    ('__x64_sys_fdatasync', 'fdatasync (lock file)'),
    ('__x64_sys_futex', 'futex (group commit waits, mutexes)'),
]


def perf_profile(pid, seconds, out):
    """Kernel call-graph shares (children %) of the daemon, or None."""
    if not shutil.which('perf'):
        return None
    rec = subprocess.Popen(['perf', 'record', '-q', '-F', '999', '-g', '-p',
                            str(pid), '-o', out, '--', 'sleep',
                            str(seconds)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return rec


def perf_report(out):
    p = subprocess.run(['perf', 'report', '-i', out, '--children',
                        '--sort', 'sym', '--stdio'], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    shares = {}
    for line in p.stdout.decode(errors='replace').splitlines():
        m = re.match(r'^\s+([\d.]+)%\s+([\d.]+)%\s+\[([k.])\]\s+(\S+)',
                     line)
        if m and m.group(4) not in shares:
            shares[m.group(4)] = float(m.group(1))
    return shares


def syscalls(args, work, mode, n):
    """System calls per call, and the kernel share, without valgrind.
    Mode 'durable': lock+unlock with the syncs on, 16 connections."""
    res = {}
    sync = mode == 'durable'
    conns = 16 if sync else 1
    lmode = 'distinct' if sync else mode
    ldir = os.path.join(work, 'locks-cpu-' + mode)
    os.makedirs(ldir, mode=0o700)
    proc, port = start_lockd([], args.cur, ldir,
                             os.path.join(work, 'err-cpu-' + mode), 30,
                             sync=sync)
    try:
        loadgen(args, port, lmode, 200, conns=conns)
        r = loadgen(args, port, lmode, n * 5, pid=proc.pid, conns=conns)
        res['user'] = r.get('server_user_s')
        res['sys'] = r.get('server_sys_s')
        res['cpu_per_call'] = r.get('server_cpu_us_per_call')
        for attempt in range(2):     # perf record now and then gets
            pout = os.path.join(work, 'perf.%s.%d' % (mode, attempt))
            rec = perf_profile(proc.pid, 4, pout)   # nothing: once more
            if rec is None:
                break
            cmd = [args.loadgen, '--port', str(port), '-c', str(conns),
                   '-d', '4', '-w', '0']
            if mode == 'ping':
                cmd += ['--method', 'ping']
            subprocess.run(cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
            rec.wait(timeout=60)
            if os.path.exists(pout):
                res['perf'] = perf_report(pout)
                if 'entry_SYSCALL_64_after_hwframe' in res['perf']:
                    break
    finally:
        stop(proc)
    if not shutil.which('strace'):
        return res, None
    ldir = os.path.join(work, 'locks-strace-' + mode)
    os.makedirs(ldir, mode=0o700)
    sout = os.path.join(work, 'strace.' + mode)
    proc, port = start_lockd(['strace', '-f', '-c', '-o', sout], args.cur,
                             ldir, os.path.join(work, 'err-st-' + mode), 30,
                             sync=sync)
    try:
        r = loadgen(args, port, lmode, n, conns=conns)
    finally:
        # Stop lockd itself (strace's child): strace then writes its
        # summary and exits.
        child = traced_child(proc.pid)
        if child:
            os.kill(child, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        stop(proc)
    counts = {}
    with open(sout) as f:
        for line in f:
            parts = line.split()
            if (len(parts) >= 5 and parts[0][0].isdigit() and
                    parts[-1] != 'total'):
                name = parts[-1]
                counts[name] = int(parts[3])
    return res, (r['calls'], counts)


def per(x, calls):
    return x / calls if calls else 0


def summarise(mode, desc, calls, errors, total, selfrows, inclrows):
    out = []
    out.append('== %s: %d calls (%s), %d errors' % (mode, calls, desc,
                                                     errors))
    out.append('instructions per call: %s (user space only; %s in all)'
               % ('{:,.0f}'.format(per(total, calls)),
                  '{:,}'.format(total)))
    cats = {}
    for n, fn, obj in selfrows:
        c = category(fn, obj)
        cats[c] = cats.get(c, 0) + n
    out.append('')
    out.append('  by group (own instructions)          per call     share')
    for c, n in sorted(cats.items(), key=lambda kv: -kv[1]):
        out.append('  %-58s %9s %6.1f%%' % (c, '{:,.0f}'.format(
            per(n, calls)), 100.0 * n / total))
    out.append('')
    out.append('  top 15 functions (own instructions)  per call     share  '
               'group')
    merged = {}
    for n, fn, obj in selfrows:
        key = (fn.split(':', 1)[-1] if not fn.startswith('???') else fn,
               os.path.basename(obj))
        merged[key] = merged.get(key, (0, fn, obj))
        merged[key] = (merged[key][0] + n, fn, obj)
    top = sorted(merged.values(), key=lambda t: -t[0])[:15]
    for n, fn, obj in top:
        name = fn.split(':', 1)[-1]
        if fn.startswith('???:'):
            name = fn[4:]
        name = '%s [%s]' % (name, os.path.basename(obj)) if obj else name
        out.append('  %-44s %9s %6.1f%%  %s' % (
            name[:44], '{:,.0f}'.format(per(n, calls)), 100.0 * n / total,
            category(fn, obj).split(' (')[0]))
    out.append('')
    out.append('  stages of a request (inclusive)      per call     share')
    incl = stage_costs(inclrows)
    for name, desc2 in STAGES:
        if name in incl:
            n = incl[name]
            out.append('  %-36s %9s %6.1f%%  %s' % (
                name, '{:,.0f}'.format(per(n, calls)),
                100.0 * n / total, desc2))
    return out


def stage_costs(inclrows):
    """Inclusive instructions by function name."""
    incl = {}
    for n, fn, obj in inclrows:
        name = fn.split(':', 1)[-1]
        if name not in incl:
            incl[name] = n
    return incl


STAGES = [
    ('RequestRead', 'Abyss: read + parse the HTTP request'),
    ('rpc_process', 'lockd: the XML-RPC request (checks, parse, method, '
     'serialize)'),
    ('fastpath_scan', 'lockd: strict scan of a hot call'),
    ('xmlrpc_parse_call', 'xmlrpc-c: parse the XML-RPC call'),
    ('xmlrpc_dispatchCall', 'xmlrpc-c: dispatch, incl. the method'),
    ('call_store', 'lockd: lock/unlock method (params, store, audit)'),
    ('store_call', 'lockd: lock/unlock core (identity, store, audit)'),
    ('lockstore_lock', 'lockd: store lock'),
    ('lockstore_lock_token', 'lockd: store lock (with fencing token)'),
    ('lockstore_unlock', 'lockd: store unlock'),
    ('rpc_audit', 'lockd: audit line (format + write)'),
    ('xmlrpc_serialize_response2', 'xmlrpc-c: serialize the response'),
    ('ResponseWriteStart', 'Abyss: response headers (asprintf, '
     'date; one send per line unless lockd\'s channel gathers them)'),
    ('SessionLog', 'Abyss: access-log line, formatted although no '
     'log file is set'),
    ('RequestFree', 'Abyss: free the request'),
    ('xmlrpc_DECREF', 'xmlrpc-c: free values'),
]


def revision():
    """The checkout's revision, and whether lib/ or server/ differ."""
    try:
        rev = subprocess.run(['git', '-C', TOP, 'rev-parse', '--short',
                              'HEAD'], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode()
        dirty = subprocess.run(['git', '-C', TOP, 'status', '--porcelain',
                                '--untracked-files=no', '--', 'lib',
                                'server'], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL).stdout.strip()
        return 'git %s%s' % (rev.strip() or '?',
                             ' + uncommitted changes in lib/ server/'
                             if dirty else '')
    except OSError:
        return '?'


def profile_one(a, work, lockd, tag):
    """Profiles LOCKD; returns (report lines, numbers for the comparison)."""
    a.cur = lockd
    sub = os.path.join(work, tag)
    os.makedirs(sub)
    nums = {}
    lines = ['lockd %s (%s)' % (lockd, tag), '']
    for mode, n, desc in (('distinct', a.pairs, '%d lock+unlock pairs'
                           % a.pairs),
                          ('ping', a.pings // 2, '%d ping() calls'
                           % a.pings)):
        log('%s: %s under callgrind' % (tag, mode))
        calls, errors, total, srows, irows = callgrind(a, sub, mode, n)
        label = 'lock+unlock' if mode == 'distinct' else 'ping'
        lines += summarise(label, desc, calls, errors, total, srows, irows)
        lines.append('')
        nums[(label, 'instructions per call')] = per(total, calls)
        for name, n2 in stage_costs(irows).items():
            if name in dict(STAGES):
                nums[(label, name)] = per(n2, calls)
    lines.append('== the kernel side: system calls per call (strace -c '
                 '-f), kernel share of server CPU, perf')
    for mode, n in (('distinct', 1000), ('ping', 1000), ('durable', 1000)):
        log('%s: %s system calls and CPU' % (tag, mode))
        cpu, st = syscalls(a, sub, mode, n)
        label = {'distinct': 'lock+unlock', 'ping': 'ping',
                 'durable': 'durable lock+unlock, 16 connections'}[mode]
        if cpu.get('user') is not None and cpu.get('sys') is not None:
            tot = cpu['user'] + cpu['sys']
            lines.append('%s: server CPU %.0f us per call, %.0f%% of it '
                         'in the kernel (/proc/PID/stat, %d calls, '
                         'no valgrind)' % (label, cpu['cpu_per_call'],
                                           100.0 * cpu['sys'] / tot
                                           if tot else 0, n * 10))
            nums[(label, 'server CPU us per call')] = cpu['cpu_per_call']
            nums[(label, 'kernel share %')] = (100.0 * cpu['sys'] / tot
                                               if tot else 0)
        shares = cpu.get('perf')
        if shares and 'entry_SYSCALL_64_after_hwframe' in shares:
            lines.append('%s: perf (cpu-clock, call graphs), share of '
                         'the daemon\'s samples: all system calls '
                         '%.0f%%' % (label, shares[
                             'entry_SYSCALL_64_after_hwframe']))
            for sym, what in PERF_SYMS:
                if shares.get(sym, 0) >= 0.5:
                    lines.append('    %5.1f%%  %s' % (shares[sym], what))
        if st:
            calls, counts = st
            tot = sum(counts.values())
            nums[(label, 'system calls per call')] = per(tot, calls)
            lines.append('%s: %.1f system calls per call: %s' % (
                label, per(tot, calls), ', '.join(
                    '%s %.2f' % (k, per(v, calls)) for k, v in sorted(
                        counts.items(), key=lambda kv: -kv[1])
                    if per(v, calls) >= 0.1)))
    lines.append('')
    return lines, nums


def log(msg):
    sys.stderr.write('[%s] profile: %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--lockd', default=os.path.join(
        TOP, '_build', 'bench', 'server', 'lockd'))
    ap.add_argument('--before', default=None,
                    help='also profile this (older) lockd and compare')
    ap.add_argument('--pairs', type=int, default=2000)
    ap.add_argument('--pings', type=int, default=2000)
    ap.add_argument('--out', default=os.path.join(
        HERE, 'profile-%s.txt' % datetime.date.today().isoformat()))
    ap.add_argument('--keep', action='store_true',
                    help='keep the callgrind output files')
    a = ap.parse_args(argv)
    for tool in ('valgrind', 'callgrind_annotate', 'callgrind_control'):
        if not shutil.which(tool):
            sys.exit('profile.py: %s is missing (apt-get install valgrind)'
                     % tool)
    work = tempfile.mkdtemp(prefix='lockd-profile.')
    a.loadgen = os.path.join(work, 'loadgen')
    subprocess.run([os.environ.get('CC', 'cc'), '-O2', '-pthread', '-o',
                    a.loadgen, os.path.join(HERE, 'loadgen.c')], check=True)
    with open('/proc/loadavg') as f:
        load0 = ' '.join(f.read().split()[:3])
    head = ['lockd profile, %s: instructions per request under '
            'valgrind --tool=callgrind'
            % datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
            'source %s; lockd --no-sync, one keep-alive connection'
            % revision(),
            '(bench/loadgen.c), audit lines to a file on stderr.',
            'Made by bench/profile.py.  callgrind counts user-space '
            'instructions only; the kernel part',
            '(system calls) is given after it: strace counts, the CPU '
            'split, and perf\'s', 'kernel call graph (no valgrind there, '
            '4-5 s of load; the durable default at 16 connections).',
            'Load average at the start: %s (the CPU figures move with it; '
            'the instruction counts do not).' % load0, '']
    runs = []
    try:
        if a.before:
            runs.append(('before',) + profile_one(a, work, a.before,
                                                  'before'))
        runs.append(('after' if a.before else 'this build',) +
                    profile_one(a, work, a.lockd, 'after' if a.before
                                else 'this build'))
    finally:
        if a.keep:
            sys.stderr.write('profile: files kept in %s\n' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    lines = list(head)
    if len(runs) == 2:
        b, c = runs[0][2], runs[1][2]
        lines.append('== before -> after, per call')
        keys = list(b) + [k for k in c if k not in b]
        for k in keys:
            x, y = b.get(k), c.get(k)
            lines.append('  %-36s %-34s %10s -> %10s' % (
                k[0], k[1], '-' if x is None else '{:,.1f}'.format(x),
                '-' if y is None else '{:,.1f}'.format(y)))
        lines.append('')
    for tag, body, _ in runs:
        lines.append('=' * 30 + ' %s ' % tag + '=' * 30)
        lines += body
    text = '\n'.join(lines) + '\n'
    with open(a.out, 'w') as f:
        f.write(text)
    sys.stdout.write(text)
    sys.stderr.write('profile: written to %s\n' % a.out)


if __name__ == '__main__':
    main()
