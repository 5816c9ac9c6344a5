# SPDX-License-Identifier: MIT
"""Starts and stops etcd for the tests: one member, or a 3-member cluster,
on 127.0.0.1 with free non-default ports and a temporary data directory.

    from etcdrun import Etcd
    with Etcd(members=3) as e:
        e.endpoints            # "http://127.0.0.1:P1,http://...:P2,..."
        e.kill(e.leader())     # SIGKILL one member by PID

As a command (for shell drivers and by hand):
    etcdrun.py start DIR [N]   start N members (default 1) under DIR (made
                               if missing), wait until healthy, print the
                               endpoints; the members keep running
    etcdrun.py stop DIR        stop the members started under DIR, by PID

Every process is tracked by PID and killed at exit; every wait is bounded.
"""
import atexit
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HOST = '127.0.0.1'
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

_live = {}      # pid -> Popen of members started by this process


def _kill_live():
    for pid, p in list(_live.items()):
        try:
            os.kill(pid, signal.SIGKILL)
            p.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        _live.pop(pid, None)


atexit.register(_kill_live)


def etcd_binary():
    """The etcd server binary ($ETCD, else etcd in PATH), or None."""
    path = os.environ.get('ETCD') or shutil.which('etcd')
    if path and os.access(path, os.X_OK):
        return path
    return None


def free_ports(n):
    """N loopback ports that were free a moment ago, all distinct."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def post(endpoint, path, body, timeout=2.0, context=None):
    """POSTs BODY (a dict) as JSON to ENDPOINT+PATH; the decoded answer.
    CONTEXT: the ssl.SSLContext for https endpoints."""
    req = urllib.request.Request(endpoint + path,
                                 data=json.dumps(body).encode(),
                                 headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
        return json.loads(r.read().decode())


def make_certs(directory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate
    (CN lockd) in DIRECTORY, made with openssl(1): {name: path}."""
    def run(*args):
        subprocess.run(['openssl'] + list(args), cwd=directory, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=lockd-test-ca')
    with open(os.path.join(directory, 'san.ext'), 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1\n')
    for name, cn, ext in (('server', '127.0.0.1', True),
                          ('client', 'lockd', False)):
        run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', name + '.key',
            '-out', name + '.csr', '-subj', '/CN=' + cn)
        run('x509', '-req', '-in', name + '.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-out', name + '.pem', '-days', '2',
            *(['-extfile', 'san.ext'] if ext else []))
    return {n: os.path.join(directory, n) for n in (
        'ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key')}


class Member:
    def __init__(self, name, client_port, peer_port, datadir, log,
                 scheme='http'):
        self.scheme = scheme
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.datadir = datadir
        self.log = log
        self.proc = None

    @property
    def client_url(self):
        return '%s://%s:%d' % (self.scheme, HOST, self.client_port)

    @property
    def peer_url(self):
        return 'http://%s:%d' % (HOST, self.peer_port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Etcd:
    """MEMBERS etcd members (1 or 3) on loopback under a temporary
    directory (or BASE).  Auto-compaction is on, as ETCD requires.
    TLS: make_certs()'s files: clients then speak https and must present
    a certificate of that CA (--client-cert-auth)."""

    def __init__(self, members=1, base=None, tls=None):
        self.tls = tls
        self.context = None
        if tls is not None:
            self.context = ssl.create_default_context(cafile=tls['ca.pem'])
            self.context.load_cert_chain(tls['client.pem'],
                                         tls['client.key'])
        self.base = base or tempfile.mkdtemp(prefix='lockd-etcd-')
        self._own_base = base is None
        self.nmembers = members
        self.members = []
        self.token = 'lockd-test-%d-%d' % (os.getpid(), int(time.time()))

    @property
    def endpoints(self):
        return ','.join(m.client_url for m in self.members)

    def _spawn(self, m, state):
        binary = etcd_binary()
        if binary is None:
            raise RuntimeError('etcd not found: install etcd-server')
        cluster = ','.join('%s=%s' % (o.name, o.peer_url)
                           for o in self.members)
        cmd = [binary, '--name', m.name, '--data-dir', m.datadir,
               '--listen-client-urls', m.client_url,
               '--advertise-client-urls', m.client_url,
               '--listen-peer-urls', m.peer_url,
               '--initial-advertise-peer-urls', m.peer_url,
               '--initial-cluster', cluster,
               '--initial-cluster-state', state,
               '--initial-cluster-token', self.token,
               '--auto-compaction-mode', 'revision',
               '--auto-compaction-retention', '1000',
               '--logger', 'zap', '--log-outputs', 'stderr',
               '--log-level', 'warn']
        if self.tls is not None:
            cmd += ['--cert-file', self.tls['server.pem'],
                    '--key-file', self.tls['server.key'],
                    '--trusted-ca-file', self.tls['ca.pem'],
                    '--client-cert-auth']
        with open(m.log, 'ab') as log:
            m.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=log,
                                      close_fds=True)
        _live[m.proc.pid] = m.proc
        with open(os.path.join(self.base, '%s.pid' % m.name), 'w') as f:
            f.write('%d\n' % m.proc.pid)

    def start(self):
        """Starts every member and waits until each is healthy; a port
        taken meanwhile makes it start over (three times at most)."""
        last = None
        for _ in range(3):
            ports = free_ports(2 * self.nmembers)
            self.members = []
            for i in range(self.nmembers):
                name = 'm%d' % (i + 1)
                datadir = os.path.join(self.base, name)
                shutil.rmtree(datadir, ignore_errors=True)
                self.members.append(Member(
                    name, ports[2 * i], ports[2 * i + 1], datadir,
                    os.path.join(self.base, '%s.log' % name),
                    'https' if self.tls is not None else 'http'))
            for m in self.members:
                self._spawn(m, 'new')
            try:
                self.wait_healthy()
                with open(os.path.join(self.base, 'endpoints'), 'w') as f:
                    f.write(self.endpoints + '\n')
                return self
            except RuntimeError as e:
                last = e
                self.stop(remove=False)
        raise last

    def wait_healthy(self, timeout=START_TIMEOUT, members=None):
        """Waits until MEMBERS (default: every running member) answer
        /health with true."""
        deadline = time.monotonic() + timeout
        todo = [m for m in (members or self.members) if m.running()]
        while todo and time.monotonic() < deadline:
            for m in list(todo):
                if not m.running():
                    raise RuntimeError('etcd %s exited (status %s):\n%s'
                                       % (m.name, m.proc.returncode,
                                          self.log_tail(m)))
                try:
                    with urllib.request.urlopen(m.client_url + '/health',
                                                timeout=1,
                                                context=self.context) as r:
                        if json.loads(r.read().decode()).get(
                                'health') == 'true':
                            todo.remove(m)
                except (OSError, ValueError):
                    pass
            if todo:
                time.sleep(0.1)
        if todo:
            raise RuntimeError('etcd %s not healthy within %g s:\n%s'
                               % (todo[0].name, timeout,
                                  self.log_tail(todo[0])))

    def log_tail(self, m, n=3000):
        try:
            with open(m.log, 'rb') as f:
                return f.read().decode('utf-8', 'replace')[-n:]
        except OSError:
            return ''

    def leader(self):
        """The member that is leader now (None if no running member
        knows one)."""
        for m in self.members:
            if not m.running():
                continue
            try:
                st = post(m.client_url, '/v3/maintenance/status', {},
                          timeout=1, context=self.context)
            except (OSError, ValueError):
                continue
            lead = st.get('leader')
            for o in self.members:
                if o.running():
                    try:
                        ost = post(o.client_url, '/v3/maintenance/status',
                                   {}, timeout=1, context=self.context)
                    except (OSError, ValueError):
                        continue
                    if ost.get('header', {}).get('member_id') == lead:
                        return o
        return None

    def kill(self, m, sig=signal.SIGKILL):
        """Sends SIG to member M by PID and reaps it."""
        if m.running():
            os.kill(m.proc.pid, sig)
            try:
                m.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(m.proc.pid, signal.SIGKILL)
                m.proc.wait(timeout=5)
        _live.pop(m.proc.pid, None)

    def restart(self, m):
        """Starts member M again on its data directory and ports."""
        if m.running():
            raise RuntimeError('%s is running' % m.name)
        self._spawn(m, 'existing')

    def stop(self, remove=True):
        """SIGTERM every member by PID (SIGKILL after STOP_TIMEOUT)."""
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                os.kill(m.proc.pid, signal.SIGTERM)
        for m in self.members:
            if m.proc is None:
                continue
            try:
                m.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(m.proc.pid, signal.SIGKILL)
                m.proc.wait(timeout=5)
            _live.pop(m.proc.pid, None)
        if remove and self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class OneEtcd:
    """A test class's mixin (before its TestCase): one etcd member for the
    whole class, as cls.etcd, started and stopped around it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etcd = Etcd(members=1).start()

    @classmethod
    def tearDownClass(cls):
        cls.etcd.stop()
        super().tearDownClass()


def stop_dir(base):
    """Stops the members whose pid files are in BASE (started by another
    process), by PID, and removes BASE."""
    pids = []
    for name in sorted(os.listdir(base)):
        if name.endswith('.pid'):
            try:
                with open(os.path.join(base, name)) as f:
                    pids.append(int(f.read().strip()))
            except (OSError, ValueError):
                pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_TIMEOUT
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    shutil.rmtree(base, ignore_errors=True)


def main(argv):
    if len(argv) >= 2 and argv[0] == 'start':
        os.makedirs(argv[1], exist_ok=True)
        e = Etcd(members=int(argv[2]) if len(argv) > 2 else 1,
                 base=argv[1])
        e.start()
        # The members outlive this process: "stop" ends them by PID.
        for m in e.members:
            _live.pop(m.pid, None)
        print(e.endpoints)
        return 0
    if len(argv) == 2 and argv[0] == 'stop':
        stop_dir(argv[1])
        return 0
    sys.stderr.write('usage: etcdrun.py start DIR [N] | stop DIR\n')
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
