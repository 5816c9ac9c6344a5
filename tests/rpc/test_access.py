# SPDX-License-Identifier: MIT
"""Access control of the real daemon: allow-list, HTTP Basic
authentication against crypt(3) hashes, identity binding, SIGHUP reload,
and lockcmd with credentials."""
import ctypes
import ctypes.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import xmlrpc.client

from harness import CALL_TIMEOUT, HOST, Daemon, LockdTestCase, _Transport, main
from harness import FAULT_AUTH, FAULT_DENIED, FAULT_FORBIDDEN, FAULT_HELD


def crypt_hash(password, prefix):
    """A crypt(3) hash from libxcrypt itself: PREFIX b'$y$' (yescrypt) or
    b'$6$' (sha512-crypt)."""
    lib = ctypes.CDLL(ctypes.util.find_library('crypt') or 'libcrypt.so.1')
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                  ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    setting = lib.crypt_gensalt(prefix, 0, None, 0)
    assert setting, 'crypt_gensalt failed for %r' % prefix
    h = lib.crypt(password.encode(), setting)
    assert h and h.startswith(prefix), h
    return h.decode()


USERS = {
    # name: (password, role, clients)
    'host3': ('s3cret:with colon', 'client', 'host3,host3-bis'),
    'host4': ('pw4', 'client', 'host4'),
    'ops': ('admin pw', 'admin', '*'),
}


def write_users(path, users, prefix=b'$y$'):
    with open(path, 'w') as f:
        f.write('# test users\n')
        for name, (pw, role, clients) in users.items():
            f.write('%s:%s:%s:%s\n' % (name, crypt_hash(pw, prefix), role,
                                       clients))


def run(cmd, env=None, timeout=20):
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class AccessTest(LockdTestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='lockd-access-')
        self.users = os.path.join(self.tmp, 'users')
        self.conf = os.path.join(self.tmp, 'lockd.conf')

    def tearDown(self):
        subprocess.run(['rm', '-rf', self.tmp], timeout=20)

    def daemon(self, conf_text):
        with open(self.conf, 'w') as f:
            f.write(conf_text)
        return Daemon(args=['--config', self.conf])

    def proxy(self, d, user=None, password=None, path='/'):
        cred = ''
        if user is not None:
            q = xmlrpc.client.urllib.parse.quote
            cred = '%s:%s@' % (q(user, safe=''), q(password, safe=''))
        return xmlrpc.client.ServerProxy(
            'http://%s%s:%d%s' % (cred, HOST, d.port, path),
            allow_none=True, transport=_Transport(CALL_TIMEOUT))

    def test_allow_list_refuses_other_networks(self):
        with self.daemon('allow 10.0.0.0/8, 192.168.0.0/16\n') as d:
            self.assertFault(FAULT_DENIED, re.compile('Access denied: .*'),
                             d.proxy().lock, 'r', 'c')
            self.assertFault(FAULT_DENIED, None, d.proxy('').unlock, 'r', 'c')
            self.assertIn('denied: Access denied', d.stderr_text())
            self.assertEqual([n for n in os.listdir(d.lockdir)
                              if n not in ('.token', '.checkpoint') and
                              not n.startswith('.journal.')], [])

    def test_allow_list_admits_listed_network(self):
        with self.daemon('allow 10.0.0.0/8\nallow 127.0.0.0/8\n') as d:
            self.assertIsNone(d.proxy().lock('r', 'c'))
            self.assertIsNone(d.proxy().unlock('r', 'c'))

    def test_check_reports_bad_networks_by_line(self):
        with open(self.conf, 'w') as f:
            f.write('# networks\nallow 10.0.0.0/33\nallow fd00::/72\n'
                    'allow not-an-address\nauth-file relative/users\n')
        r = run([os.environ['LOCKD'], '--check', '--config', self.conf])
        self.assertEqual(r.returncode, 1, r.stderr)
        for line in (2, 3, 4, 5):
            self.assertIn('%s:%d:' % (self.conf, line), r.stderr)
        self.assertIn('/64', r.stderr)   # why long IPv6 prefixes fail

    def test_authentication_and_identity_binding(self):
        write_users(self.users, USERS)
        with self.daemon('auth-file %s\n' % self.users) as d:
            no_auth = d.proxy()
            self.assertFault(FAULT_AUTH,
                             re.compile('Authentication required.*'),
                             no_auth.lock, 'vm1', 'host3')
            self.assertFault(FAULT_AUTH, re.compile('Authentication failed.*'),
                             self.proxy(d, 'host3', 'wrong').lock,
                             'vm1', 'host3')
            self.assertFault(FAULT_AUTH, None,
                             self.proxy(d, 'nobody', 'x').lock,
                             'vm1', 'host3')
            h3 = self.proxy(d, 'host3', USERS['host3'][0])
            self.assertIsNone(h3.lock('vm1', 'host3'))
            self.assertIsNone(h3.lock('vm2', 'host3-bis'))
            # host4 cannot release host3's lock by claiming its name.
            h4 = self.proxy(d, 'host4', 'pw4', path='')
            self.assertFault(FAULT_FORBIDDEN,
                             "Not permitted: user 'host4' may not act "
                             "as client 'host3'", h4.unlock, 'vm1', 'host3')
            self.assertFault(FAULT_HELD, "Resource already locked by 'host3'",
                             h4.lock, 'vm1', 'host4')
            # The admin may act as anyone.
            ops = self.proxy(d, 'ops', USERS['ops'][0])
            self.assertIsNone(ops.unlock('vm1', 'host3'))
            self.assertIsNone(h3.unlock('vm2', 'host3-bis'))
            # Cached verification must not admit a wrong password later.
            self.assertFault(FAULT_AUTH, None, self.proxy(d, 'host3',
                                                          'wrong').lock,
                             'vm1', 'host3')
            text = d.stderr_text()
            self.assertIn("lock 'vm1' client 'host3' from 127.0.0.1", text)
            self.assertIn("user 'host3': granted", text)
            self.assertIn("user 'host4': denied: Not permitted", text)
            self.assertNotIn(USERS['host3'][0], text)

    def test_sha512_crypt_hashes_work(self):
        write_users(self.users, {'h': ('pw', 'client', '*')}, prefix=b'$6$')
        with self.daemon('auth-file %s\n' % self.users) as d:
            self.assertIsNone(self.proxy(d, 'h', 'pw').lock('r', 'any'))
            self.assertFault(FAULT_AUTH, None, self.proxy(d, 'h', 'pW').lock,
                             'r', 'any')

    def test_bad_users_file_refuses_start(self):
        with open(self.users, 'w') as f:
            f.write('ok:%s:client:*\nbroken line\n'
                    'bad:plain:client:*\nr:$6$x$y:root:*\n'
                    % crypt_hash('x', b'$6$'))
        with open(self.conf, 'w') as f:
            f.write('auth-file %s\n' % self.users)
        r = run([os.environ['LOCKD'], '--foreground', '--port', '0',
                 '--config', self.conf, '--lockdir', self.tmp]
                + (['--user', 'root'] if os.geteuid() == 0 else []))
        self.assertEqual(r.returncode, 1, r.stderr)
        for line in (2, 3, 4):
            self.assertIn('%s:%d:' % (self.users, line), r.stderr)
        self.assertNotIn('listening', r.stderr)
        r = run([os.environ['LOCKD'], '--check', '--config', self.conf])
        self.assertEqual(r.returncode, 1, r.stderr)
        for line in (2, 3, 4):
            self.assertIn('%s:%d:' % (self.users, line), r.stderr)

    def test_sighup_reloads_users_and_keeps_them_when_broken(self):
        write_users(self.users, {'a': ('pa', 'client', '*')})
        with self.daemon('auth-file %s\n' % self.users) as d:
            self.assertIsNone(self.proxy(d, 'a', 'pa').lock('r', 'x'))
            write_users(self.users, {'b': ('pb', 'client', '*')})
            os.kill(d.pid, signal.SIGHUP)
            self.wait_for(d, 'access rules (allow, auth-file) applied')
            self.assertFault(FAULT_AUTH, None, self.proxy(d, 'a', 'pa').unlock,
                             'r', 'x')
            self.assertIsNone(self.proxy(d, 'b', 'pb').unlock('r', 'x'))
            with open(self.users, 'w') as f:
                f.write('garbage\n')
            os.kill(d.pid, signal.SIGHUP)
            self.wait_for(d, 'keeping the running access rules')
            self.assertIsNone(self.proxy(d, 'b', 'pb').lock('r', 'x'))

    def wait_for(self, d, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in d.stderr_text():
                return
            time.sleep(0.05)
        self.fail('daemon did not log %r:\n%s' % (text, d.stderr_text()))

    def test_lockcmd_with_credentials(self):
        write_users(self.users, {'h': ('p@ss:w/rd', 'client', 'h')})
        lockcmd = os.environ['LOCKCMD']
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ('http_proxy', 'https_proxy',
                                    'all_proxy', 'lockd_url')}
        with self.daemon('auth-file %s\n' % self.users) as d:
            good = 'http://h:p%%40ss%%3Aw%%2Frd@%s:%d/' % (HOST, d.port)
            bad = 'http://h:nope@%s:%d/' % (HOST, d.port)
            r = run([lockcmd, '--server', good, 'lock', 'vm', 'h'], env)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, '', ''))
            r = run([lockcmd, '--server', bad, 'unlock', 'vm', 'h'], env)
            self.assertEqual(r.returncode, 77, r.stderr)
            self.assertIn('Authentication failed', r.stderr)
            r = run([lockcmd, '--server', good, 'unlock', 'vm', 'other'],
                    env)
            self.assertEqual(r.returncode, 77, r.stderr)
            r = run([lockcmd, 'unlock', 'vm', 'h'],
                    dict(env, LOCKD_URL=good))
            self.assertEqual((r.returncode, r.stderr), (0, ''))
        # An unreachable daemon: the message shows no password.
        r = run([lockcmd, '--server', good, 'lock', 'vm', 'h'], env)
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertNotIn('p%40ss', r.stderr)
        self.assertNotIn('p@ss', r.stderr)


if __name__ == '__main__':
    sys.exit(main())
