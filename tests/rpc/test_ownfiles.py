# SPDX-License-Identifier: MIT
"""lockd's own files in the lock directory (the /healthz probe file, .token,
.history) replaced by a FIFO, a symbolic or hard link or a directory: lockd
never hangs on them, never writes through them to a file outside, and
/healthz reports what would make locks or unlocks fail."""
import os
import shutil
import sys
import tempfile
import time
import xmlrpc.client

import harness
from harness import (Daemon, LockdTestCase, http_request, main, parse_http,
                     raw_http, skip_unless_dir)
from harness import FAULT_STATE, FAULT_STORAGE

# Seconds for /healthz and each call, and from SIGTERM to the exit (a
# daemon under LOCKD_WRAPPER, valgrind, is slower and checks leaks at exit).
ANSWER_WITHIN = 30.0 if harness.WRAPPER else 3.0
STOP_WITHIN = 60.0 if harness.WRAPPER else 2.0


@skip_unless_dir("lockd's own files in the lock directory")
class OwnFiles(LockdTestCase):

    def setUp(self):
        self.outside_dir = tempfile.mkdtemp(prefix='lockd-outside-')
        self.outside = os.path.join(self.outside_dir, 'precious')
        with open(self.outside, 'wb') as f:
            f.write(b'00000000000000000100\n')
        self.before = self.snapshot()
        self.d = Daemon()

    def tearDown(self):
        self.d.close()
        os.unlink(self.outside)
        os.rmdir(self.outside_dir)

    def snapshot(self):
        st = os.stat(self.outside)
        with open(self.outside, 'rb') as f:
            return f.read(), st.st_mtime_ns, st.st_size

    def path(self, name):
        return os.path.join(self.d.lockdir, name)

    def healthz(self):
        """(status, body) of GET /healthz, answered within ANSWER_WITHIN."""
        t0 = time.monotonic()
        status, _, body = parse_http(raw_http(
            self.d.port, http_request('GET', '/healthz'),
            timeout=ANSWER_WITHIN))
        self.assertLess(time.monotonic() - t0, ANSWER_WITHIN)
        return status, body.decode('utf-8', 'replace')

    def call(self, method, *args):
        """METHOD(*ARGS), answered within ANSWER_WITHIN, on a connection
        closed afterwards (an idle keep-alive connection would delay the
        stop: that is not what these tests are about)."""
        with self.d.proxy(timeout=ANSWER_WITHIN) as p:
            return getattr(p, method)(*args)

    def call_fault(self, code, regex, method, *args):
        """METHOD(*ARGS) answers fault CODE matching REGEX in time."""
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            self.call(method, *args)
        self.assertEqual(cm.exception.faultCode, code, cm.exception)
        self.assertRegex(cm.exception.faultString, regex)

    def stops_in_time(self):
        # Let the connections of the test end first: a SIGTERM in the
        # moment one is closing waits 2 s for it (not what is tested here).
        time.sleep(0.5)
        t0 = time.monotonic()
        self.assertEqual(self.d.stop(timeout=STOP_WITHIN), 0)
        self.assertLess(time.monotonic() - t0, STOP_WITHIN)
        self.assertEqual(self.snapshot(), self.before,
                         'a file outside the lock directory was written')

    def test_fifo_at_the_probe_name_neither_hangs_nor_stays(self):
        self.d.start()
        probe = self.path('.tmp.%d.health.0' % self.d.pid)
        os.mkfifo(probe, 0o600)
        # The name is lockd's own: what sits there is replaced.
        for _ in range(2):
            self.assertEqual(self.healthz(), (200, 'ok\n'))
        self.assertFalse(os.path.lexists(probe))
        self.assertIsNone(self.call('lock', 'r', 'c'))
        self.assertIsNone(self.call('unlock', 'r', 'c'))
        self.stops_in_time()

    def test_hard_linked_history_is_not_written(self):
        os.link(self.outside, self.path('.history'))
        self.d.start()
        status, body = self.healthz()
        self.assertEqual(status, 503, body)
        self.assertIn('cannot write the history', body)
        self.assertIsNone(self.call('lock', 'r', 'c'))
        self.call_fault(FAULT_STORAGE, 'in the history', 'unlock', 'r', 'c')
        self.call_fault(FAULT_STORAGE, 'cannot read the history',
                        'history', 'r')
        self.stops_in_time()

    def test_directory_at_history(self):
        os.mkdir(self.path('.history'))
        self.d.start()
        status, body = self.healthz()
        self.assertEqual(status, 503, body)
        self.assertIn('cannot write the history: Is a directory', body)
        self.assertIsNone(self.call('lock', 'r', 'c'))
        self.call_fault(FAULT_STORAGE, 'in the history', 'unlock', 'r', 'c')
        self.stops_in_time()

    def test_rotation_torn_into_two_names_is_finished(self):
        # A rotation cut between rename and directory sync, as fsck keeps
        # it where renames are not atomic: .history a second name of
        # .history.1.  Releases go on; old and new records are answered.
        conf_dir = tempfile.mkdtemp(prefix='lockd-conf-')
        self.addCleanup(shutil.rmtree, conf_dir, True)
        conf = os.path.join(conf_dir, 'lockd.conf')
        with open(conf, 'w') as f:
            f.write('history-size 1024\n')
        self.d.args += ['--config', conf]
        self.d.start()
        for _ in range(40):
            self.assertIsNone(self.call('lock', 'r', 'c'))
            self.assertIsNone(self.call('unlock', 'r', 'c'))
        self.assertEqual(self.d.stop(timeout=STOP_WITHIN), 0)
        with open(self.path('.history.1')) as f:
            old = [int(line.split()[1]) for line in f]
        self.assertGreater(len(old), 10)
        os.unlink(self.path('.history'))
        os.link(self.path('.history.1'), self.path('.history'))
        self.d.start()
        self.assertEqual(self.healthz(), (200, 'ok\n'))
        self.assertIsNone(self.call('lock', 'r', 'c'))
        self.assertIsNone(self.call('unlock', 'r', 'c'))
        got = [e['token'] for e in self.call('history', 'r', {'limit': 1000})]
        self.assertEqual(got[1:], old[::-1])
        self.assertGreater(got[0], old[-1])
        self.assertEqual(os.stat(self.path('.history')).st_nlink, 1)
        self.assertEqual(os.stat(self.path('.history.1')).st_nlink, 1)
        self.stops_in_time()

    def token_refused(self, code, regex):
        """/healthz and lock() both refuse the planted .token."""
        self.d.start()
        status, body = self.healthz()
        self.assertEqual(status, 503, body)
        self.assertIn('token counter', body)
        self.call_fault(code, regex, 'lock', 'r', 'c')
        self.assertIs(self.call('status', 'r')['held'], False)
        self.stops_in_time()

    def test_symlinked_token(self):
        os.symlink(self.outside, self.path('.token'))
        self.token_refused(FAULT_STORAGE, 'cannot open the token counter')

    def test_fifo_token(self):
        os.mkfifo(self.path('.token'), 0o600)
        self.token_refused(FAULT_STATE,
                           r'the token counter \S+ is not a regular file')

    def test_hard_linked_token(self):
        os.link(self.outside, self.path('.token'))
        self.token_refused(FAULT_STATE,
                           r'the token counter \S+ has another name')

    def test_healthy_directory_is_200_with_both_files_in_use(self):
        self.d.start()
        self.assertIsNone(self.call('lock', 'r', 'c'))
        self.assertIsNone(self.call('unlock', 'r', 'c'))
        self.assertTrue(os.path.isfile(self.path('.token')))
        self.assertTrue(os.path.isfile(self.path('.history')))
        self.assertEqual(self.healthz(), (200, 'ok\n'))
        self.stops_in_time()


if __name__ == '__main__':
    sys.exit(main())
