# SPDX-License-Identifier: MIT
"""The README's TLS deployment, for real: stunnel terminates TLS in front
of lockd (which has no TLS of its own), with authentication, driven by
Python's xmlrpc.client over https and by lockcmd --cacert."""
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import xmlrpc.client

from harness import Daemon, LockdTestCase, free_port, main
from harness import FAULT_HELD
from test_access import crypt_hash, run

STUNNEL = shutil.which('stunnel4') or shutil.which('stunnel')

# The stunnel configuration shown in README, with test paths and ports.
STUNNEL_CONF = """\
foreground = yes
pid =
[lockd]
accept = 127.0.0.1:{tls_port}
connect = 127.0.0.1:{lockd_port}
cert = {cert}
key = {key}
sslVersionMin = TLSv1.2
"""


@unittest.skipIf(STUNNEL is None, 'stunnel4 is not installed')
class TlsTest(LockdTestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='lockd-tls-')
        self.cert = os.path.join(self.tmp, 'cert.pem')
        self.key = os.path.join(self.tmp, 'key.pem')
        r = run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                 '-days', '2', '-subj', '/CN=127.0.0.1', '-addext',
                 'subjectAltName=IP:127.0.0.1', '-keyout', self.key,
                 '-out', self.cert], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.users = os.path.join(self.tmp, 'users')
        with open(self.users, 'w') as f:
            f.write('host3:%s:client:host3\n' % crypt_hash('pw3', b'$y$'))
        self.conf = os.path.join(self.tmp, 'lockd.conf')
        with open(self.conf, 'w') as f:
            f.write('auth-file %s\n' % self.users)
        self.stunnel = None

    def tearDown(self):
        if self.stunnel is not None and self.stunnel.poll() is None:
            self.stunnel.terminate()
            try:
                self.stunnel.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.stunnel.kill()
                self.stunnel.wait(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_stunnel(self, lockd_port):
        tls_port = free_port()
        conf = os.path.join(self.tmp, 'stunnel.conf')
        with open(conf, 'w') as f:
            f.write(STUNNEL_CONF.format(tls_port=tls_port,
                                        lockd_port=lockd_port,
                                        cert=self.cert, key=self.key))
        log = open(os.path.join(self.tmp, 'stunnel.log'), 'wb')
        self.stunnel = subprocess.Popen([STUNNEL, conf], stdout=log,
                                        stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            self.assertIsNone(self.stunnel.poll(), 'stunnel exited')
            try:
                import socket
                socket.create_connection(('127.0.0.1', tls_port),
                                         timeout=1).close()
                return tls_port
            except OSError:
                time.sleep(0.05)
        self.fail('stunnel did not listen on %d' % tls_port)

    def test_python_and_lockcmd_over_tls(self):
        with Daemon(args=['--config', self.conf]) as d:
            port = self.start_stunnel(d.port)
            ctx = ssl.create_default_context(cafile=self.cert)
            url = 'https://host3:pw3@127.0.0.1:%d/' % port
            s = xmlrpc.client.ServerProxy(url, context=ctx, allow_none=True)
            self.assertIsNone(s.lock('vm42', 'host3'))
            self.assertFault(FAULT_HELD, "Resource already locked by 'host3'",
                             s.lock, 'vm42', 'host3')
            # A client that does not trust the certificate never talks.
            bad = xmlrpc.client.ServerProxy(url, allow_none=True)
            with self.assertRaises(ssl.SSLError):
                bad.unlock('vm42', 'host3')
            env = {k: v for k, v in os.environ.items()
                   if k.lower() not in ('http_proxy', 'https_proxy',
                                        'all_proxy', 'lockd_url')}
            lockcmd = os.environ['LOCKCMD']
            r = run([lockcmd, '--cacert', self.cert, '--server', url,
                     'unlock', 'vm42', 'host3'], env)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, '', ''))
            r = run([lockcmd, '--server', url, 'lock', 'vm42', 'host3'], env)
            self.assertEqual(r.returncode, 69, r.stderr)   # untrusted cert
            self.assertNotIn('pw3', r.stderr)
            self.assertIn("unlock 'vm42' client 'host3' from 127.0.0.1",
                          d.stderr_text())


if __name__ == '__main__':
    sys.exit(main())
