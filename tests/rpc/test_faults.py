# SPDX-License-Identifier: MIT
"""Fault injection: a full disk (blocks and inodes), a read-only, an
inaccessible or a vanished lock directory, and lock files replaced by a
directory, a symbolic link or a FIFO.  Each fault must be answered with its
documented fault code (20 storage error, 21 invalid lock state, see
PROTOCOL), must leave no partial lock file or temporary file behind, must
not disturb the locks already held, and the daemon must keep serving and
recover once the fault is gone.

The disk-full and read-only tests need root (they mount tmpfs file
systems) and skip themselves otherwise; the EACCES test runs lockd as
"nobody" when it is root, as the current user otherwise.  Every mount is
undone, also on failure (cleanups, and atexit as a last resort).
"""
import atexit
import errno
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, LockdTestCase, main  # noqa: E402
from harness import (FAULT_HELD, FAULT_NOT_LOCKED,  # noqa: E402
                     FAULT_NOT_OWNER, FAULT_STATE, FAULT_STORAGE)

Fault = xmlrpc.client.Fault
SUFFIX = '.resource.lock'
TMP_PREFIX = '.tmp.'
CMD_TIMEOUT = 30            # every mount/umount subprocess
ROOT = os.geteuid() == 0
NEEDS_ROOT = 'needs root: mounts a tmpfs'


def held(holder):
    return "Resource already locked by '%s'" % holder


def storage_re(resource, reason):
    """faultString of a storage error for RESOURCE caused by REASON (the
    strerror text): "Storage error: <what> for '<r>': <reason>"."""
    return re.compile(r"Storage error: [a-z ]+ for '%s': %s"
                      % (re.escape(resource), re.escape(reason)))


def invalid_re(resource):
    return re.compile(r"Invalid lock state: the lock file for '%s' .+"
                      % re.escape(resource))


def lock_path(lockdir, resource):
    return os.path.join(lockdir, resource + SUFFIX)


def lock_files(lockdir):
    return sorted(n for n in os.listdir(lockdir) if n.endswith(SUFFIX))


def tmp_files(lockdir):
    return sorted(n for n in os.listdir(lockdir) if n.startswith(TMP_PREFIX))


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def snapshot(lockdir):
    """{name: content} of every lock file (the holder is line one)."""
    return {n: read_bytes(os.path.join(lockdir, n))
            for n in lock_files(lockdir)}


# -- mounts ----------------------------------------------------------------
_mounts = []                    # mount points not yet unmounted


def _mounted(path):
    path = os.path.realpath(path)
    with open('/proc/self/mounts') as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and \
                    fields[1].replace('\\040', ' ') == path:
                return True
    return False


def _run(cmd):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=CMD_TIMEOUT)


def _umount(path):
    """Unmounts PATH (lazily if it is busy) and removes the directory."""
    if path in _mounts:
        _mounts.remove(path)
    if _mounted(path):
        r = _run(['umount', path])
        if r.returncode != 0 and _mounted(path):
            _run(['umount', '-l', path])
    for d in (path, os.path.dirname(path)):     # the mount point, its base
        try:
            os.rmdir(d)
        except OSError:
            pass


def _umount_all():
    for path in list(_mounts):
        _umount(path)


def _umount_all_at_exit():
    # Daemons first: a daemon holding its lock directory open keeps the
    # mount busy.  (Runs before harness's own atexit handler.)
    harness._kill_all_live()
    _umount_all()


atexit.register(_umount_all_at_exit)

# The harness's suite watchdog ends the process with os._exit() after its
# cleanup, which skips atexit: hook the unmounting into that cleanup too.
_harness_cleanup = harness._cleanup_at_exit


def _cleanup_with_mounts():
    _harness_cleanup()          # kills the daemons first
    _umount_all()


harness._cleanup_at_exit = _cleanup_with_mounts


def mount_tmpfs(test, options):
    """A fresh tmpfs mounted with OPTIONS (mode 0700, owned by root) on a
    new directory; unmounted and removed by a cleanup of TEST."""
    base = tempfile.mkdtemp(prefix='lockd-faults-')
    test.addCleanup(shutil.rmtree, base, True)
    path = os.path.join(base, 'mnt')
    os.mkdir(path, 0o700)
    r = _run(['mount', '-t', 'tmpfs', '-o', 'mode=0700,' + options,
              'tmpfs', path])
    if r.returncode != 0:
        raise unittest.SkipTest('cannot mount a tmpfs here: %s'
                                % r.stdout.decode(errors='replace').strip())
    _mounts.append(path)
    test.addCleanup(_umount, path)
    return path


def remount(path, mode):
    r = _run(['mount', '-o', 'remount,' + mode, path])
    if r.returncode != 0:
        raise AssertionError('mount -o remount,%s %s: %s'
                             % (mode, path, r.stdout.decode(errors='replace')))


def fill_blocks(path):
    """Writes PATH until the file system says ENOSPC (page by page, then
    byte by byte).  Returns the number of bytes written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    total = 0
    try:
        for chunk in (b'x' * 65536, b'x' * 4096, b'x'):
            while True:
                try:
                    total += os.write(fd, chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return total


def fill_inodes(directory, prefix):
    """Creates empty files until ENOSPC; returns their paths."""
    made = []
    while True:
        p = os.path.join(directory, '%s%d' % (prefix, len(made)))
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            return made
        made.append(p)
        if len(made) > 100000:
            raise AssertionError('file system never full of inodes')


class FaultCase(LockdTestCase):
    """Common checks."""

    def setUp(self):
        self.seen_on_full = set()

    def assertServing(self, d, tag):
        """The daemon runs and a normal lock/unlock round trip works."""
        self.assertTrue(d.alive(), 'lockd died: ' + d.stderr_text()[-3000:])
        p = d.proxy()
        r = 'serving-' + tag
        self.assertIsNone(p.lock(r, 'checker'))
        self.assertFault(FAULT_HELD, held('checker'), p.lock, r, 'other')
        self.assertIsNone(p.unlock(r, 'checker'))

    def assertIntact(self, d, before, full=False):
        """The lock files of BEFORE ({file name: content}) are there with
        the same bytes, and lockd still reports their holders.  FULL: the
        file system is full, and lockd writes its new lock file before it
        looks for an existing one, so a lock call on a held resource may
        fail with the storage fault (20) instead of "held" (1): either is
        a refusal, a grant is not."""
        p = d.proxy()
        for name, content in sorted(before.items()):
            self.assertEqual(read_bytes(os.path.join(d.lockdir, name)),
                             content, name)
            resource = name[:-len(SUFFIX)]
            holder = content.split(b'\n')[0].decode()
            self.assertFault(FAULT_NOT_OWNER,
                             "Resource locked by '%s' cannot be unlocked "
                             "by 'intruder'" % holder, p.unlock, resource,
                             'intruder')
            if not full:
                self.assertFault(FAULT_HELD, held(holder), p.lock, resource,
                                 'intruder')
                continue
            with self.assertRaises(Fault) as cm:
                p.lock(resource, 'intruder')
            f = cm.exception
            if f.faultCode != FAULT_HELD:
                self.assertEqual(f.faultCode, FAULT_STORAGE, f.faultString)
            else:
                self.assertEqual(f.faultString, held(holder))
            self.seen_on_full.add(f.faultCode)
            self.assertEqual(read_bytes(os.path.join(d.lockdir, name)),
                             content, name)

    def assertNoDebris(self, lockdir, expected_locks):
        """Exactly EXPECTED_LOCKS (file names) are lock files, and no
        temporary file is left."""
        self.assertEqual(tmp_files(lockdir), [])
        self.assertEqual(lock_files(lockdir), sorted(expected_locks))
        for n in lock_files(lockdir):
            self.assertGreater(os.path.getsize(os.path.join(lockdir, n)), 0,
                               'empty lock file ' + n)


@unittest.skipUnless(ROOT, NEEDS_ROOT)
class DiskFull(FaultCase):

    def tearDown(self):
        if self.seen_on_full:
            sys.stderr.write('[lock of a held resource on a full disk: '
                             'fault %s] ' % sorted(self.seen_on_full))

    def test_no_space(self):
        mnt = mount_tmpfs(self, 'size=1m')
        with Daemon(lockdir=mnt) as d:
            p = d.proxy()
            for i in range(8):
                self.assertIsNone(p.lock('old-%d' % i, 'holder-%d' % i))
            before = snapshot(mnt)
            filler = os.path.join(mnt, 'filler')
            self.assertGreater(fill_blocks(filler), 0)

            # New locks fail with a storage fault, never with success.
            f = self.assertFault(FAULT_STORAGE, storage_re('new',
                                 'No space left on device'),
                                 p.lock, 'new', 'client')
            sys.stderr.write('[%s] ' % f.faultString)
            self.assertNoDebris(mnt, before)
            # Many attempts, also concurrent ones, leak nothing.
            errors = []

            def attempt(t):
                q = d.proxy()
                for i in range(5):
                    try:
                        res = q.lock('new-%d-%d' % (t, i), 'c%d' % t)
                        errors.append('granted on a full disk: %r' % res)
                    except Fault as e:
                        if e.faultCode != FAULT_STORAGE:
                            errors.append(e.faultString)
                    except Exception as e:      # noqa: BLE001
                        errors.append(repr(e))
            threads = [threading.Thread(target=attempt, args=(t,))
                       for t in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertFalse(any(t.is_alive() for t in threads), 'hung')
            self.assertEqual(errors, [])
            self.assertNoDebris(mnt, before)
            self.assertIntact(d, before, full=True)

            # Unlock needs no space (its history record is lost then,
            # and counted).
            self.assertIsNone(p.unlock('old-0', 'holder-0'))
            self.assertEqual(
                [h['ended'] for h in p.history('old-0')], [],
                'no room for the record on a full disk')
            del before['old-0' + SUFFIX]
            self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked', p.unlock,
                             'old-0', 'holder-0')
            # Taking a lock needs room for its file and journal record:
            # with the disk full again, it fails plainly and leaves
            # nothing behind.
            fill_blocks(filler)
            self.assertFault(FAULT_STORAGE, storage_re('old-0',
                             'No space left on device'),
                             p.lock, 'old-0', 'holder-0')
            self.assertNoDebris(mnt, before)
            self.assertIntact(d, before, full=True)

            # Space returns: so does service.
            os.unlink(filler)
            self.assertIsNone(p.lock('new', 'client'))
            self.assertFault(FAULT_HELD, held('client'), p.lock, 'new',
                             'other')
            self.assertIsNone(p.unlock('new', 'client'))
            self.assertIsNone(p.lock('old-0', 'holder-0'))
            before['old-0' + SUFFIX] = read_bytes(lock_path(mnt, 'old-0'))
            self.assertIntact(d, before)
            self.assertServing(d, 'space')
            self.assertNoDebris(mnt, before)

    def test_no_inodes(self):
        mnt = mount_tmpfs(self, 'size=1m,nr_inodes=64')
        with Daemon(lockdir=mnt) as d:
            p = d.proxy()
            for i in range(4):
                self.assertIsNone(p.lock('old-%d' % i, 'holder-%d' % i))
            before = snapshot(mnt)
            fillers = fill_inodes(mnt, 'filler-')
            self.assertGreater(len(fillers), 0)

            # No inode for the temporary file.
            self.assertFault(FAULT_STORAGE, storage_re('new',
                             'No space left on device'),
                             p.lock, 'new', 'client')
            self.assertNoDebris(mnt, before)
            self.assertIntact(d, before, full=True)

            # One inode free: the temporary file gets it, and the link to
            # the lock name fails where tmpfs accounts every hard link (it
            # does not always: then the lock is granted, whole).  Either
            # way nothing half-done is left behind.
            os.unlink(fillers.pop())
            try:
                self.assertIsNone(p.lock('new', 'client'))
                sys.stderr.write('[one free inode was enough] ')
                self.assertIsNone(p.unlock('new', 'client'))
            except Fault as f:
                self.assertEqual(f.faultCode, FAULT_STORAGE, f.faultString)
                self.assertRegex(f.faultString, storage_re(
                    'new', 'No space left on device'))
                sys.stderr.write('[%s] ' % f.faultString)
            self.assertNoDebris(mnt, before)
            self.assertIntact(d, before, full=True)

            # Unlock needs no inode.
            self.assertIsNone(p.unlock('old-0', 'holder-0'))
            del before['old-0' + SUFFIX]
            self.assertNoDebris(mnt, before)

            for path in fillers:
                os.unlink(path)
            self.assertIsNone(p.lock('new', 'client'))
            self.assertIsNone(p.unlock('new', 'client'))
            self.assertIntact(d, before)
            self.assertServing(d, 'inodes')
            self.assertNoDebris(mnt, before)


@unittest.skipUnless(ROOT, NEEDS_ROOT)
class ReadOnly(FaultCase):

    def test_read_only_remount(self):
        mnt = mount_tmpfs(self, 'size=1m')
        with Daemon(lockdir=mnt) as d:
            p = d.proxy()
            self.assertIsNone(p.lock('kept', 'holder'))
            before = snapshot(mnt)
            remount(mnt, 'ro')
            try:
                self.assertFault(FAULT_STORAGE, storage_re('new',
                                 'Read-only file system'),
                                 p.lock, 'new', 'client')
                self.assertFault(FAULT_STORAGE, storage_re('kept',
                                 'Read-only file system'),
                                 p.unlock, 'kept', 'holder')
                # Reading still works: ownership is still checked.
                self.assertFault(FAULT_NOT_OWNER,
                                 "Resource locked by 'holder' cannot be "
                                 "unlocked by 'other'", p.unlock, 'kept',
                                 'other')
                self.assertFault(FAULT_NOT_LOCKED, 'Resource not locked',
                                 p.unlock, 'new', 'client')
                self.assertTrue(d.alive())
                self.assertEqual(snapshot(mnt), before)
            finally:
                remount(mnt, 'rw')
            self.assertIntact(d, before)
            self.assertIsNone(p.lock('new', 'client'))
            self.assertIsNone(p.unlock('kept', 'holder'))
            self.assertIsNone(p.unlock('new', 'client'))
            self.assertServing(d, 'rw')
            self.assertNoDebris(mnt, [])


class Permission(FaultCase):

    def test_eacces(self):
        """The lock directory loses its write permission for lockd.

        As root: lockd runs as "nobody" on a directory nobody owns, and
        root (the test) takes the write bit away.  Otherwise lockd runs as
        the test's user, who takes the bit away from their own directory
        (and can give it back)."""
        base = tempfile.mkdtemp(prefix='lockd-faults-')
        self.addCleanup(shutil.rmtree, base, True)
        lockdir = os.path.join(base, 'locks')
        os.mkdir(lockdir, 0o700)
        self.addCleanup(os.chmod, lockdir, 0o700)   # rmtree needs it
        args = []
        uid = os.geteuid()
        if ROOT:
            try:
                nobody = pwd.getpwnam('nobody')
            except KeyError:
                self.skipTest('no user "nobody"')
            os.chmod(base, 0o755)       # nobody must reach its directory
            os.chown(lockdir, nobody.pw_uid, nobody.pw_gid)
            args = ['--user', 'nobody']
            uid = nobody.pw_uid
        with Daemon(lockdir=lockdir, args=args) as d:
            p = d.proxy()
            self.assertIsNone(p.lock('kept', 'holder'))
            before = snapshot(lockdir)
            self.assertEqual(os.stat(lock_path(lockdir, 'kept')).st_uid,
                             uid, 'lockd does not run as uid %d' % uid)
            os.chmod(lockdir, 0o500)
            try:
                f = self.assertFault(FAULT_STORAGE, storage_re(
                    'new', 'Permission denied'), p.lock, 'new', 'client')
                self.assertIn('ermission', f.faultString)
                self.assertFault(FAULT_STORAGE, storage_re(
                    'kept', 'Permission denied'), p.unlock, 'kept', 'holder')
                # Reading is still allowed: ownership is still checked.
                self.assertFault(FAULT_NOT_OWNER,
                                 "Resource locked by 'holder' cannot be "
                                 "unlocked by 'other'", p.unlock, 'kept',
                                 'other')
                self.assertTrue(d.alive())
                self.assertEqual(snapshot(lockdir), before)
                self.assertEqual(tmp_files(lockdir), [])
            finally:
                os.chmod(lockdir, 0o700)
            self.assertIntact(d, before)
            self.assertIsNone(p.lock('new', 'client'))
            self.assertIsNone(p.unlock('new', 'client'))
            self.assertIsNone(p.unlock('kept', 'holder'))
            self.assertServing(d, 'eacces')
            self.assertNoDebris(lockdir, [])


class Vanished(FaultCase):

    def test_lockdir_removed(self):
        """rmdir of the (empty) lock directory while lockd runs.

        lock and unlock: fault 20 naming the vanished lock directory (lockd
        checks before every change that its directory handle is still the
        configured path).  Files must never appear elsewhere: not in a
        directory created anew under the same name (lockd keeps refusing
        until it is restarted) and not in its parent."""
        parent = tempfile.mkdtemp(prefix='lockd-faults-')
        self.addCleanup(shutil.rmtree, parent, True)
        lockdir = os.path.join(parent, 'locks')
        os.mkdir(lockdir, 0o700)
        with Daemon(lockdir=lockdir) as d:
            p = d.proxy()
            self.assertIsNone(p.lock('gone', 'client'))
            self.assertIsNone(p.unlock('gone', 'client'))
            os.unlink(os.path.join(lockdir, '.token'))  # the token counter
            os.unlink(os.path.join(lockdir, '.history'))  # and the history
            for n in os.listdir(lockdir):       # and the journal
                if n.startswith('.journal.') or n == '.checkpoint':
                    os.unlink(os.path.join(lockdir, n))
            os.rmdir(lockdir)
            gone = re.compile(r"Storage error: the lock directory .*locks "
                              r"was removed or replaced .*'(new|gone)'")
            self.assertFault(FAULT_STORAGE, gone, p.lock, 'new', 'client')
            self.assertFault(FAULT_STORAGE, gone, p.unlock, 'gone', 'client')
            self.assertTrue(d.alive())
            self.assertEqual(os.listdir(parent), [])
            # A new directory under the old name: lockd must not write
            # anywhere else; it writes there or refuses.
            os.mkdir(lockdir, 0o700)
            try:
                p.lock('new', 'client')
            except Fault as e:
                self.assertEqual(e.faultCode, FAULT_STORAGE, e.faultString)
                self.assertEqual(os.listdir(lockdir), [])
                sys.stderr.write('[recreated directory: fault 20 until '
                                 'restart] ')
            else:
                self.assertEqual(lock_files(lockdir), ['new' + SUFFIX])
                self.assertIsNone(p.unlock('new', 'client'))
            self.assertEqual(os.listdir(parent), ['locks'])
            self.assertTrue(d.alive())
            self.assertEqual(d.stop(), 0)
            d.start()
            self.assertServing(d, 'restarted')
            self.assertNoDebris(lockdir, [])

    def test_lockdir_renamed(self):
        """The lock directory renamed away while lockd runs.

        Expected: lock fails with fault 20 and no file appears in the
        renamed directory (it is no longer the configured lock directory:
        a new directory or a second daemon on the configured path would
        not see that lock, and grant it again); unlock gives fault 20 (or
        3) and leaves the renamed directory alone: lockd checks before
        every change that its directory handle is still the configured
        path."""
        parent = tempfile.mkdtemp(prefix='lockd-faults-')
        self.addCleanup(shutil.rmtree, parent, True)
        lockdir = os.path.join(parent, 'locks')
        moved = os.path.join(parent, 'moved')
        os.mkdir(lockdir, 0o700)
        with Daemon(lockdir=lockdir) as d:
            p = d.proxy()
            self.assertIsNone(p.lock('kept', 'holder'))
            before = snapshot(lockdir)
            os.rename(lockdir, moved)
            try:
                try:
                    p.lock('new', 'client')
                    granted = True
                except Fault as e:
                    granted = False
                    self.assertEqual(e.faultCode, FAULT_STORAGE, e.faultString)
                self.assertEqual(lock_files(moved), sorted(before),
                                 'lock granted into the renamed directory')
                self.assertFalse(granted, 'lock granted after the lock '
                                 'directory was renamed away')
                try:
                    p.unlock('kept', 'holder')
                    released = True
                except Fault as e:
                    released = False
                    self.assertIn(e.faultCode,
                                  (FAULT_STORAGE, FAULT_NOT_LOCKED),
                                  e.faultString)
                self.assertFalse(released, 'unlock in the renamed directory')
                self.assertEqual(snapshot(moved), before)
                self.assertFalse(os.path.exists(lockdir))
                self.assertTrue(d.alive())
            finally:
                if os.path.exists(lockdir):
                    shutil.rmtree(lockdir)
                os.rename(moved, lockdir)
            self.assertIntact(d, before)
            self.assertIsNone(p.unlock('kept', 'holder'))
            self.assertServing(d, 'renamed-back')


class Replaced(FaultCase):
    """A lock file that is not a regular file lockd wrote: 21 for lock and
    unlock, nothing followed, nothing removed, the daemon keeps serving,
    and removing the intruder makes the resource usable again."""

    def setUp(self):
        self.outside = tempfile.mkdtemp(prefix='lockd-outside-')
        self.addCleanup(shutil.rmtree, self.outside, True)
        self.victim = os.path.join(self.outside, 'victim')
        with open(self.victim, 'w') as f:
            f.write('victim\n')
        os.utime(self.victim, (1000000000, 1000000000))

    def assertVictimUntouched(self):
        st = os.lstat(self.victim)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(read_bytes(self.victim), b'victim\n')
        self.assertEqual(st.st_mtime, 1000000000)
        self.assertEqual(st.st_nlink, 1)
        self.assertEqual(sorted(os.listdir(self.outside)), ['victim'])

    def assertRefused(self, d, r, holder, kind):
        """lock and unlock of R both give fault 21; the intruder stays."""
        p = d.proxy(timeout=10)
        path = lock_path(d.lockdir, r)
        t0 = time.monotonic()
        for client in ('client', holder):
            self.assertFault(FAULT_STATE, invalid_re(r), p.lock, r, client)
            self.assertFault(FAULT_STATE, invalid_re(r), p.unlock, r, client)
        took = time.monotonic() - t0
        self.assertLess(took, 5.0, 'lockd took %.1f s on a %s' % (took, kind))
        self.assertTrue(os.path.lexists(path), 'lockd removed the ' + kind)
        self.assertEqual(tmp_files(d.lockdir), [])
        self.assertTrue(d.alive())

    def restore(self, d, r):
        """Operator removes the intruder: R works again."""
        path = lock_path(d.lockdir, r)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        p = d.proxy()
        self.assertIsNone(p.lock(r, 'client'))
        self.assertFault(FAULT_HELD, held('client'), p.lock, r, 'other')
        self.assertIsNone(p.unlock(r, 'client'))

    def replace_held(self, d, r, make):
        """R is locked by 'holder', then its file is replaced by MAKE(path)."""
        self.assertIsNone(d.proxy().lock(r, 'holder'))
        path = lock_path(d.lockdir, r)
        os.unlink(path)
        make(path)

    def test_directory(self):
        with Daemon() as d:
            def make(path):
                os.mkdir(path, 0o700)
                with open(os.path.join(path, 'inside'), 'w') as f:
                    f.write('holder\n')
            self.replace_held(d, 'dir', make)
            self.assertRefused(d, 'dir', 'holder', 'directory')
            self.assertEqual(os.listdir(lock_path(d.lockdir, 'dir')),
                             ['inside'])
            # An empty directory, too (rmdir would succeed on it).
            os.mkdir(lock_path(d.lockdir, 'emptydir'), 0o700)
            self.assertRefused(d, 'emptydir', 'holder', 'directory')
            self.restore(d, 'dir')
            self.restore(d, 'emptydir')
            self.assertServing(d, 'dir')

    def test_symlink_to_file_outside(self):
        with Daemon() as d:
            # The victim's first line is a plausible holder: following the
            # link would report it held by 'victim' and let 'victim'
            # release it.
            self.replace_held(d, 'sym', lambda p: os.symlink(self.victim, p))
            f = self.assertFault(FAULT_STATE, invalid_re('sym'),
                                 d.proxy().unlock, 'sym', 'victim')
            self.assertIn('symbolic link', f.faultString)
            self.assertRefused(d, 'sym', 'victim', 'symbolic link')
            self.assertEqual(os.readlink(lock_path(d.lockdir, 'sym')),
                             self.victim)
            self.assertVictimUntouched()
            self.restore(d, 'sym')
            self.assertVictimUntouched()
            self.assertServing(d, 'sym')

    def test_symlink_to_directory_or_nowhere(self):
        with Daemon() as d:
            target = os.path.join(self.outside, 'would-be-created')
            os.symlink(self.outside, lock_path(d.lockdir, 'symdir'))
            os.symlink(target, lock_path(d.lockdir, 'dangling'))
            os.symlink('sym-loop' + SUFFIX, lock_path(d.lockdir, 'sym-loop'))
            self.assertRefused(d, 'symdir', 'holder', 'symbolic link')
            self.assertRefused(d, 'dangling', 'holder', 'symbolic link')
            self.assertRefused(d, 'sym-loop', 'holder', 'symbolic link')
            self.assertFalse(os.path.lexists(target), 'followed a dangling '
                             'symbolic link out of the lock directory')
            self.assertVictimUntouched()
            for r in ('symdir', 'dangling', 'sym-loop'):
                self.restore(d, r)
            self.assertVictimUntouched()
            self.assertServing(d, 'symdir')

    def test_fifo(self):
        with Daemon() as d:
            self.replace_held(d, 'fifo', lambda p: os.mkfifo(p, 0o600))
            self.assertRefused(d, 'fifo', 'holder', 'FIFO')
            self.assertTrue(stat.S_ISFIFO(
                os.lstat(lock_path(d.lockdir, 'fifo')).st_mode))
            self.restore(d, 'fifo')
            self.assertServing(d, 'fifo')


if __name__ == '__main__':
    sys.exit(main())
