# SPDX-License-Identifier: MIT
"""The XML-RPC contract (PROTOCOL) through Python's xmlrpc.client: the
gocept.lockd seed scenario, argument checks, names and their lock files,
legacy lock files, introspection, multicall and concurrency."""
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, LockdTestCase, main  # noqa: E402
from harness import (FAULT_CLIENT, FAULT_HELD, FAULT_NOT_LOCKED,  # noqa: E402
                     FAULT_NOT_OWNER, FAULT_PARAMS, FAULT_RESOURCE)

Fault = xmlrpc.client.Fault
SUFFIX = '.resource.lock'


def held(holder):
    return "Resource already locked by '%s'" % holder


def not_owner(holder, client):
    return ("Resource locked by '%s' cannot be unlocked by '%s'"
            % (holder, client))


NOT_LOCKED = 'Resource not locked'


def lock_files(lockdir):
    return sorted(n for n in os.listdir(lockdir) if n.endswith(SUFFIX))


def read_lock_file(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8')


class SeedScenario(LockdTestCase):
    """gocept.lockd's documented session, word for word, on a fresh
    lock directory, for both ServerProxy URL forms."""

    def run_scenario(self, path):
        with Daemon() as d:
            p = d.proxy(path)
            self.assertIsNone(p.lock('resource1', 'client1'))
            self.assertFault(FAULT_HELD,
                             "Resource already locked by 'client1'",
                             p.lock, 'resource1', 'client2')
            self.assertIsNone(p.lock('resource2', 'client2'))
            self.assertFault(FAULT_NOT_OWNER,
                             "Resource locked by 'client1' cannot be "
                             "unlocked by 'client2'",
                             p.unlock, 'resource1', 'client2')
            self.assertIsNone(p.unlock('resource1', 'client1'))
            self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked',
                             p.unlock, 'resource1', 'client1')
            self.assertEqual(lock_files(d.lockdir),
                             ['resource2.resource.lock'])
            first = read_lock_file(os.path.join(
                d.lockdir, 'resource2.resource.lock')).split('\n')[0]
            self.assertEqual(first, 'client2')

    def test_seed_scenario_slash(self):
        self.run_scenario('/')

    def test_seed_scenario_rpc2(self):
        # ServerProxy('http://host:port') posts to /RPC2.
        self.run_scenario('')

    def test_explicit_rpc2_path(self):
        with Daemon() as d:
            p = d.proxy('/RPC2')
            self.assertIsNone(p.lock('r', 'c'))
            self.assertFault(FAULT_HELD, held('c'), d.proxy('/').lock, 'r',
                             'x')
            self.assertIsNone(p.unlock('r', 'c'))


class Contract(LockdTestCase):
    """One daemon for the class; every test uses its own resource names.
    The lock directory lives inside a parent directory that is walked to
    prove no file ever lands outside it."""

    @classmethod
    def setUpClass(cls):
        cls.parent = tempfile.mkdtemp(prefix='lockd-proto-')
        cls.lockdir = os.path.join(cls.parent, 'locks')
        os.mkdir(cls.lockdir, 0o700)
        cls.d = Daemon(lockdir=cls.lockdir)
        try:
            cls.d.start()
        except BaseException:
            cls.d.close()
            shutil.rmtree(cls.parent, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            alive = cls.d.alive()
            status = cls.d.stop()
        finally:
            cls.d.close()
            shutil.rmtree(cls.parent, ignore_errors=True)
        assert alive, 'daemon died during the tests'
        assert status == 0, 'daemon exited with %r' % status

    def setUp(self):
        self.p = self.d.proxy()
        self.before = set(lock_files(self.lockdir))

    def take(self, resource, client):
        """lock() that must succeed; released after the test if still held
        (a failing test does not leave locks behind for the next one)."""
        self.assertIsNone(self.p.lock(resource, client), repr(resource))
        self.addCleanup(self.release, resource, client)

    def release(self, resource, client):
        try:
            self.d.proxy().unlock(resource, client)
        except (Fault, OSError):
            pass

    def assert_no_new_lock_files(self):
        self.assertEqual(set(lock_files(self.lockdir)) - self.before, set())

    def tearDown(self):
        self.assertTrue(self.d.alive(), 'daemon died; stderr:\n'
                        + self.d.stderr_text()[-3000:])

    def assert_nothing_outside(self):
        for top, dirs, files in os.walk(self.parent):
            for n in dirs:
                if top != self.parent or n != 'locks':
                    self.fail('directory %r appeared in %s' % (n, top))
            for n in files:
                self.assertEqual(top, self.lockdir,
                                 'file %r outside the lock dir' % n)

    # -- arguments ---------------------------------------------------------
    def test_wrong_arity(self):
        for method in ('lock', 'unlock'):
            fn = getattr(self.p, method)
            for args in ((), ('arity-r',), ('arity-r', 'c', 'x')):
                self.assertFault(
                    FAULT_PARAMS, '%s takes 2 string parameters (resource, '
                    'client), got %d' % (method, len(args)), fn, *args)
        self.assertFault(FAULT_NOT_LOCKED, NOT_LOCKED, self.p.unlock,
                         'arity-r', 'c')

    def test_non_string_params(self):
        # parameter numbering is not pinned down here: 0- or 1-based.
        cases = [((5, 'c'), 'resource', 'int'),
                 (('nonstr', 5), 'client', 'int'),
                 ((None, 'c'), 'resource', 'nil'),
                 (('nonstr', None), 'client', 'nil'),
                 ((['a'], 'c'), 'resource', 'array'),
                 (('nonstr', ['c']), 'client', 'array'),
                 (({'a': 'b'}, 'c'), 'resource', 'struct'),
                 (('nonstr', True), 'client', 'bool'),
                 ((b'bytes', 'c'), 'resource', 'base64')]
        for method in ('lock', 'unlock'):
            for args, name, typ in cases:
                f = self.assertFault(
                    FAULT_PARAMS,
                    re.compile(r'%s: parameter \d \(%s\) must be a '
                               r'string, not \S.*' % (method, name)),
                    getattr(self.p, method), *args)
                self.assertIn(typ, f.faultString.lower(),
                              'type name in %r' % f.faultString)
        self.assertFault(FAULT_NOT_LOCKED, NOT_LOCKED, self.p.unlock, 'nonstr',
                         'c')

    def test_empty_resource(self):
        for method in ('lock', 'unlock'):
            self.assertFault(FAULT_RESOURCE,
                             re.compile(r'Invalid resource name: .+'),
                             getattr(self.p, method), '', 'c')

    def test_resource_too_long(self):
        for method in ('lock', 'unlock'):
            self.assertFault(FAULT_RESOURCE,
                             re.compile(r'Invalid resource name: .+'),
                             getattr(self.p, method), 'x' * 4097, 'c')
            # 4097 bytes in UTF-8, 2049 characters
            self.assertFault(FAULT_RESOURCE,
                             re.compile(r'Invalid resource name: .+'),
                             getattr(self.p, method), 'é' * 2048 + 'x',
                             'c')
        self.assert_no_new_lock_files()

    def test_long_resources_work(self):
        names = ['L' * 1024, 'L' * 4096, '%' * 4096, '/' * 1024,
                 'é' * 2048, '.' * 4096, '\t' * 4096]
        for i, r in enumerate(names):
            c = 'long-%d' % i
            self.take(r, c)
            self.assertFault(FAULT_HELD, held(c), self.p.lock, r, 'other')
        for i, r in enumerate(names):
            self.assertIsNone(self.p.unlock(r, 'long-%d' % i), i)
        self.assert_no_new_lock_files()
        self.assert_nothing_outside()

    def test_long_client(self):
        c = 'C' * 4096
        self.take('long-client', c)
        self.assertFault(FAULT_HELD, held(c), self.p.lock, 'long-client', 'x')
        self.assertIsNone(self.p.unlock('long-client', c))
        self.assertFault(FAULT_CLIENT, re.compile(r'Invalid client name: .+'),
                         self.p.lock, 'long-client', 'C' * 4097)

    def test_bad_client(self):
        for method in ('lock', 'unlock'):
            for c in ('', 'a\nb', 'host\n', 'a\tb', 'a\x7fb'):
                self.assertFault(FAULT_CLIENT,
                                 re.compile(r'Invalid client name: .+'),
                                 getattr(self.p, method), 'badclient', c)
        self.assertFault(FAULT_NOT_LOCKED, NOT_LOCKED, self.p.unlock,
                         'badclient', 'c')
        self.assert_no_new_lock_files()

    def test_bad_resource_checked_with_bad_client(self):
        # Both bad: which check comes first is not specified; a fault, and
        # nothing on disk.
        with self.assertRaises(Fault) as cm:
            self.p.lock('', '')
        self.assertIn(cm.exception.faultCode, (FAULT_RESOURCE, FAULT_CLIENT))
        self.assert_no_new_lock_files()

    # -- names ---------------------------------------------------------------
    ODD_NAMES = ['a/b', '/abs', '../escape', '..', '.', '.hidden',
                 '...', 'x..', 'a%b', '%', '%2F', 'with space', ' ',
                 "quo'te", 'dq"uote', 'é€', 'tab\there', '\t', 'nl\nx',
                 'del\x7fx', 'back\\slash', 'a/b/../c', '*', '~', '-',
                 '<&>', 'a.resource.lock', '.tmp.1.2.3', '.tmp.',
                 'resource1.resource.lock.resource.lock']

    def test_odd_names_independent(self):
        names = self.ODD_NAMES
        for i, r in enumerate(names):
            self.take(r, 'odd-%d' % i)
        self.assertEqual(len(set(lock_files(self.lockdir)) - self.before),
                         len(names))
        for i, r in enumerate(names):
            self.assertFault(FAULT_HELD, held('odd-%d' % i), self.p.lock, r,
                             'x')
            self.assertFault(FAULT_NOT_OWNER, not_owner('odd-%d' % i, 'x'),
                             self.p.unlock, r, 'x')
        self.assert_nothing_outside()
        for i, r in enumerate(names):
            self.assertIsNone(self.p.unlock(r, 'odd-%d' % i), repr(r))
            self.assertFault(FAULT_NOT_LOCKED, NOT_LOCKED, self.p.unlock, r,
                             'odd-%d' % i)
        self.assert_no_new_lock_files()
        self.assert_nothing_outside()

    def test_encoding_is_injective(self):
        names = ['a/b', 'a%2Fb', 'a%252Fb', 'a%2fb', 'a%25252Fb', 'a_b']
        for i, r in enumerate(names):
            self.take(r, 'inj-%d' % i)
        for i, r in enumerate(names):
            self.assertFault(FAULT_HELD, held('inj-%d' % i), self.p.lock, r,
                             'x')
        for i, r in enumerate(reversed(names)):
            j = len(names) - 1 - i
            self.assertIsNone(self.p.unlock(r, 'inj-%d' % j))
            for k, r2 in enumerate(names[:j]):
                self.assertFault(FAULT_HELD, held('inj-%d' % k), self.p.lock,
                                 r2, 'x')
        self.assert_no_new_lock_files()

    def test_plain_name_layout(self):
        names = ['vm-01', 'with space', "quo'te\"s", 'é€', 'x..y',
                 'host.example.com', 'UPPER_lower-123']
        for i, r in enumerate(names):
            c = 'plain-%d' % i
            self.take(r, c)
            path = os.path.join(self.lockdir, r + SUFFIX)
            self.assertTrue(os.path.isfile(path), path)
            self.assertFalse(os.path.islink(path))
            text = read_lock_file(path)
            self.assertEqual(text.split('\n')[0], c)
            self.check_extra_lines(text, r)
            self.assertIsNone(self.p.unlock(r, c))
            self.assertFalse(os.path.exists(path))

    def check_extra_lines(self, text, resource):
        lines = text.split('\n')
        res = [ln for ln in lines[1:] if ln.startswith('resource ')]
        self.assertEqual(len(res), 1, text)
        self.assertEqual(urllib.parse.unquote_to_bytes(res[0][9:]),
                         resource.encode('utf-8'))
        since = [ln for ln in lines[1:] if ln.startswith('since ')]
        self.assertEqual(len(since), 1, text)
        self.assertLess(abs(int(since[0][6:]) - time.time()), 600)

    def test_unsafe_name_layout(self):
        names = ['a/b', '.hidden', '..', '50%', 'tab\tx', 'nl\nx',
                 'del\x7f', 'U' * 300]
        for i, r in enumerate(names):
            c = 'unsafe-%d' % i
            before = set(lock_files(self.lockdir))
            self.take(r, c)
            new = set(lock_files(self.lockdir)) - before
            self.assertEqual(len(new), 1, repr(r))
            fname = new.pop()
            self.assertIn('%', fname)
            self.assertFalse(fname.startswith('.'))
            self.assertLessEqual(len(fname.encode()), 255)
            text = read_lock_file(os.path.join(self.lockdir, fname))
            self.assertEqual(text.split('\n')[0], c)
            self.check_extra_lines(text, r)
            self.assertIsNone(self.p.unlock(r, c))
            self.assertEqual(set(lock_files(self.lockdir)), before)
        self.assert_nothing_outside()

    def test_no_temp_files_left(self):
        for i in range(5):
            self.take('tmpcheck-%d' % i, 'c')
            self.assertIsNone(self.p.unlock('tmpcheck-%d' % i, 'c'))
        self.assertEqual([n for n in os.listdir(self.lockdir)
                          if n.startswith('.tmp.')], [])

    # -- legacy lock files -------------------------------------------------
    def test_legacy_lock_files(self):
        with open(os.path.join(self.lockdir, 'vm1' + SUFFIX), 'w') as f:
            f.write('host7')
        with open(os.path.join(self.lockdir, 'vm2' + SUFFIX), 'w') as f:
            f.write('host8\n')
        self.assertFault(FAULT_HELD, "Resource already locked by 'host7'",
                         self.p.lock, 'vm1', 'host9')
        self.assertFault(FAULT_HELD, "Resource already locked by 'host7'",
                         self.p.lock, 'vm1', 'host7')
        self.assertFault(FAULT_HELD, "Resource already locked by 'host8'",
                         self.p.lock, 'vm2', 'host9')
        self.assertFault(FAULT_NOT_OWNER,
                         "Resource locked by 'host7' cannot be unlocked "
                         "by 'host8'", self.p.unlock, 'vm1', 'host8')
        self.assertFault(FAULT_NOT_OWNER,
                         "Resource locked by 'host8' cannot be unlocked "
                         "by 'host7'", self.p.unlock, 'vm2', 'host7')
        self.assertIsNone(self.p.unlock('vm1', 'host7'))
        self.assertFalse(os.path.exists(os.path.join(self.lockdir,
                                                     'vm1' + SUFFIX)))
        self.assertIsNone(self.p.unlock('vm2', 'host8'))
        self.assertFault(FAULT_NOT_LOCKED, NOT_LOCKED, self.p.unlock, 'vm1',
                         'host7')
        self.assertIsNone(self.p.lock('vm1', 'host9'))
        self.assertIsNone(self.p.unlock('vm1', 'host9'))

    # -- introspection and multicall ------------------------------------------
    def test_introspection(self):
        methods = self.p.system.listMethods()
        for m in ('lock', 'unlock', 'system.listMethods',
                  'system.methodHelp', 'system.methodSignature',
                  'system.multicall'):
            self.assertIn(m, methods)
        for m in ('lock', 'unlock'):
            help_text = self.p.system.methodHelp(m)
            self.assertIsInstance(help_text, str)
            self.assertTrue(help_text.strip(), m)
            self.assertEqual(self.p.system.methodSignature(m),
                             [['nil', 'string', 'string']])

    def test_help_for_every_method(self):
        for m in self.p.system.listMethods():
            self.assertTrue(self.p.system.methodHelp(m).strip(), m)

    def test_multicall(self):
        mc = xmlrpc.client.MultiCall(self.p)
        mc.lock('mc', 'c1')
        mc.lock('mc', 'c2')
        self.addCleanup(self.release, 'mc', 'c1')
        got = []
        with self.assertRaises(Fault) as cm:
            for r in mc():
                got.append(r)
        self.assertEqual(got, [None])
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString),
                         (FAULT_HELD, held('c1')))

        mc = xmlrpc.client.MultiCall(self.p)
        mc.unlock('mc', 'c2')
        mc.nosuchmethod('mc', 'c2')
        mc.lock('mc', 12)
        mc.unlock('mc', 'c1')
        mc.unlock('mc', 'c1')
        res = mc()
        for i, (code, msg) in enumerate([
                (FAULT_NOT_OWNER, not_owner('c1', 'c2')), (-506, None),
                (FAULT_PARAMS,
                 re.compile(r'lock: parameter \d \(client\) must be a '
                                r'string, not \S.*'))]):
            with self.assertRaises(Fault) as cm:
                res[i]
            self.assertEqual(cm.exception.faultCode, code)
            if isinstance(msg, str):
                self.assertEqual(cm.exception.faultString, msg)
            elif msg is not None:
                self.assertRegex(cm.exception.faultString, msg)
        self.assertIsNone(res[3])
        with self.assertRaises(Fault) as cm:
            res[4]
        self.assertEqual((cm.exception.faultCode, cm.exception.faultString),
                         (FAULT_NOT_LOCKED, NOT_LOCKED))

    def test_unknown_method(self):
        self.assertFault(-506, None, self.p.nosuchmethod, 'a', 'b')
        self.assertFault(-506, None, self.p.Lock, 'a', 'b')

    def test_ping_answers_nil_and_takes_no_parameters(self):
        self.assertIsNone(self.p.ping())
        self.assertEqual(self.p.system.methodSignature('ping'), [['nil']])
        self.assertTrue(self.p.system.methodHelp('ping'))
        self.assertFault(FAULT_PARAMS, 'ping takes no parameters', self.p.ping,
                         'x')

    def test_shutdown_disabled(self):
        self.assertFault(-507, None, self.p.system.shutdown, 'x')
        self.take('after-shutdown', 'c')
        self.assertIsNone(self.p.unlock('after-shutdown', 'c'))

    # -- concurrency ---------------------------------------------------------
    def test_race_one_winner(self):
        n = 64
        barrier = threading.Barrier(n, timeout=60)
        results = [None] * n

        def worker(i):
            p = self.d.proxy()
            try:
                barrier.wait()
                results[i] = ('ok', p.lock('hot', 'client-%d' % i))
            except Fault as f:
                results[i] = ('fault', f.faultCode, f.faultString)
            except Exception as e:      # noqa: BLE001
                results[i] = ('error', repr(e))

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), 'hung calls')
        winners = [i for i, r in enumerate(results) if r == ('ok', None)]
        for i in winners:
            self.addCleanup(self.release, 'hot', 'client-%d' % i)
        errors = [r for r in results if r[0] == 'error']
        self.assertEqual(errors, [])
        self.assertEqual(len(winners), 1, results)
        w = 'client-%d' % winners[0]
        losers = [r for r in results if r[0] == 'fault']
        self.assertEqual(len(losers), n - 1)
        for r in losers:
            self.assertEqual(r, ('fault', FAULT_HELD, held(w)))
        text = read_lock_file(os.path.join(self.lockdir, 'hot' + SUFFIX))
        self.assertEqual(text.split('\n')[0], w)
        self.assertIsNone(self.p.unlock('hot', w))

    def test_parallel_distinct(self):
        nthreads, iters = 16, 50
        errors = []

        def worker(t):
            p = self.d.proxy()
            c = 'par-%d' % t
            try:
                for i in range(iters):
                    r = 'par-%d-%d' % (t, i % 5)
                    if p.lock(r, c) is not None:
                        errors.append('lock %s: not None' % r)
                    if p.unlock(r, c) is not None:
                        errors.append('unlock %s: not None' % r)
            except Exception as e:      # noqa: BLE001
                errors.append('%s: %r' % (c, e))

        threads = [threading.Thread(target=worker, args=(t,))
                   for t in range(nthreads)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        self.assertFalse(any(t.is_alive() for t in threads),
                         'hung after %.1f s' % (time.monotonic() - t0))
        self.assertEqual(errors, [])
        self.assertEqual([n for n in lock_files(self.lockdir)
                          if n.startswith('par-')], [])
        # still serving
        self.take('par-after', 'c')
        self.assertFault(FAULT_HELD, held('c'), self.p.lock, 'par-after', 'd')
        self.assertIsNone(self.p.unlock('par-after', 'c'))


if __name__ == '__main__':
    sys.exit(main())
