# SPDX-License-Identifier: MIT
"""A FUSE file system that can lose power: it passes a backing directory
through and keeps what was made durable apart from what was only written.

    python3 crashfs.py BACKING MOUNTPOINT CONTROL_SOCKET

The model (POSIX's promises, as ext4 with data=ordered keeps them, no more):
- The backing directory is the page cache: every process sees every write,
  rename and unlink at once, across processes (a kill -9 loses nothing).
- A file's data becomes durable with fsync() or fdatasync() of the file:
  its content as it was when the sync began.  A name (create, link, rename,
  unlink, mkdir, rmdir) becomes durable with fsync() of its directory: the
  directory's entries as they were when that sync began.  A file's fsync
  does not make its name durable (ext4 often does; POSIX does not promise
  it, and a careful program must not rely on it).
- Every sync takes SYNC_DELAY seconds, so that a cut can fall inside one;
  a sync that has not returned when power is cut made nothing durable.
- On a power cut (the "cut" command) the file system stops serving (every
  call fails with EIO) and writes the state a reboot would find into a
  fresh directory, in one of two modes:
  strict  everything not durable is lost: names are those of each
          directory's last sync, each file has the content of its last sync
          (empty if it never had one), a file whose name was never synced
          is gone (an orphan, as fsck frees it).
  torn    each change not yet durable is kept or dropped independently and
          at random (seeded): every name operation since the directory's
          last sync on its own, and every file's data on its own (old, new,
          or the new written over the old up to a random offset within
          the bytes that changed, with the old or the new size).  ext4's
          journal would keep a prefix of the name operations; torn allows
          any subset, as POSIX does.  With
          nonatomic, a kept rename may also keep its old name (both names
          of one inode, as fsck leaves it on ext2 or ext4 without journal).
- Names and inodes only; modes and times come back as they are now, which
  is more than a crash promises and nothing lockd relies on.

The control socket takes one JSON line per connection and answers one:
{"cmd": "cut", "out": DIR, "mode": "strict"|"torn", "seed": N,
"nonatomic": bool} -> {"ok": true, "stats": {...}}; {"cmd": "stats"}.
"""
import errno
import json
import os
import random
import socket
import stat
import sys
import threading
import time

try:
    from fusepy import FUSE, FuseOSError, Operations
except ImportError:         # a python3 other than Debian's (pyenv, venv)
    sys.path.append('/usr/lib/python3/dist-packages')
    from fusepy import FUSE, FuseOSError, Operations

# libfuse hides an open file it is asked to unlink or rename over under
# this name until it is closed (fstat() on it keeps working).
HIDDEN = '.fuse_hidden'
SYNC_DELAY = float(os.environ.get('CRASHFS_SYNC_DELAY', '0.001'))
# Cut power right after the first rename onto this name (the page cache
# has it, nothing more): a chosen moment instead of a random one.
CUT_AT = os.environ.get('CRASHFS_CUT_AT')


class Model:
    """What is durable: names per directory and content per inode, and the
    name operations since each directory's last sync (for torn)."""

    def __init__(self, backing):
        self.backing = backing
        self.lock = threading.RLock()
        self.ids = {}           # backing st_ino -> our inode id
        self.next_id = 1
        self.durable_names = {}  # dir id -> {name: id}
        self.pending = {}       # dir id -> [op, ...] since the last sync
        self.durable_data = {}  # file id -> bytes (absent: never synced)
        self.dirty = set()      # file ids written since their last sync
        self.is_dir = {}        # id -> bool
        self.cut = False
        self.stats = {'fsync': 0, 'fsyncdir': 0, 'ops': 0}
        self._adopt('')

    def _new_id(self, ino, is_dir):
        i = self.next_id
        self.next_id += 1
        self.ids[ino] = i
        self.is_dir[i] = is_dir
        return i

    def _adopt(self, rel):
        """Takes what the backing directory holds now as durable."""
        st = os.lstat(self.path(rel))
        i = self._new_id(st.st_ino, stat.S_ISDIR(st.st_mode)) \
            if st.st_ino not in self.ids else self.ids[st.st_ino]
        if stat.S_ISDIR(st.st_mode):
            self.durable_names[i] = {}
            self.pending[i] = []
            for name in os.listdir(self.path(rel)):
                c = self._adopt(os.path.join(rel, name))
                self.durable_names[i][name] = c
        elif stat.S_ISREG(st.st_mode):
            with open(self.path(rel), 'rb') as f:
                self.durable_data[i] = f.read()
        return i

    def path(self, rel):
        return os.path.join(self.backing, rel.lstrip('/'))

    def id_of(self, rel, created=False):
        st = os.lstat(self.path(rel))
        if created or st.st_ino not in self.ids:
            return self._new_id(st.st_ino, stat.S_ISDIR(st.st_mode))
        return self.ids[st.st_ino]

    def id_of_fd(self, fd):
        st = os.fstat(fd)
        return self.ids.get(st.st_ino) or self._new_id(st.st_ino, False)

    def dir_of(self, rel):
        return self.id_of(os.path.dirname(rel.rstrip('/')) or '/')

    def log(self, rel, op):
        """Records name operation OP in the directory of REL."""
        self.pending.setdefault(self.dir_of(rel), []).append(op)
        self.stats['ops'] += 1

    def live_names(self, rel):
        names = {}
        for name in os.listdir(self.path(rel)):
            if not name.startswith(HIDDEN):
                names[name] = self.id_of(os.path.join(rel, name))
        return names


class CrashFS(Operations):
    """The pass-through; every change under Model.lock, so that the order
    of the name operations is the order the backing directory saw."""

    def __init__(self, model):
        self.m = model

    def __call__(self, op, *args):
        if self.m.cut:
            raise FuseOSError(errno.EIO)
        try:
            return getattr(self, op)(*args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO)

    # -- reading -----------------------------------------------------------
    def getattr(self, path, fh=None):
        st = os.fstat(fh) if fh is not None else os.lstat(self.m.path(path))
        return {k: getattr(st, k) for k in (
            'st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime',
            'st_nlink', 'st_size', 'st_uid', 'st_ino')}

    def readdir(self, path, fh):
        return ['.', '..'] + [n for n in os.listdir(self.m.path(path))
                              if not n.startswith(HIDDEN)]

    def readlink(self, path):
        return os.readlink(self.m.path(path))

    def statfs(self, path):
        sv = os.statvfs(self.m.path(path))
        return {k: getattr(sv, k) for k in (
            'f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail',
            'f_ffree', 'f_files', 'f_flag', 'f_frsize', 'f_namemax')}

    def access(self, path, mode):
        if not os.access(self.m.path(path), mode):
            raise FuseOSError(errno.EACCES)

    def open(self, path, flags):
        if flags & os.O_ACCMODE == os.O_WRONLY:
            flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
        return os.open(self.m.path(path), flags)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)

    def flush(self, path, fh):
        return 0

    # -- data --------------------------------------------------------------
    def write(self, path, data, offset, fh):
        with self.m.lock:
            self.m.dirty.add(self.m.id_of_fd(fh))
            return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        with self.m.lock:
            if fh is not None:
                self.m.dirty.add(self.m.id_of_fd(fh))
                os.ftruncate(fh, length)
            else:
                self.m.dirty.add(self.m.id_of(path))
                os.truncate(self.m.path(path), length)

    def fsync(self, path, datasync, fh):
        with self.m.lock:
            i = self.m.id_of_fd(fh)
            size = os.fstat(fh).st_size
            data = os.pread(fh, size, 0)
        time.sleep(SYNC_DELAY)
        with self.m.lock:
            if self.m.cut:
                raise FuseOSError(errno.EIO)
            self.m.durable_data[i] = data
            self.m.stats['fsync'] += 1
            if os.pread(fh, size + 1, 0) == data:
                self.m.dirty.discard(i)

    def fsyncdir(self, path, datasync, fh):
        with self.m.lock:
            d = self.m.id_of(path)
            names = self.m.live_names(path)
            n = len(self.m.pending.get(d, []))
        time.sleep(SYNC_DELAY)
        with self.m.lock:
            if self.m.cut:
                raise FuseOSError(errno.EIO)
            self.m.durable_names[d] = names
            self.m.pending[d] = self.m.pending.get(d, [])[n:]
            self.m.stats['fsyncdir'] += 1

    def chmod(self, path, mode):
        os.chmod(self.m.path(path), mode)

    def chown(self, path, uid, gid):
        os.lchown(self.m.path(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self.m.path(path), times, follow_symlinks=False)

    # -- names -------------------------------------------------------------
    def create(self, path, mode, fi=None):
        with self.m.lock:
            fd = os.open(self.m.path(path), os.O_RDWR | os.O_CREAT | os.O_EXCL,
                         mode)
            i = self.m.id_of(path, created=True)
            self.m.log(path, ('add', os.path.basename(path), i))
            return fd

    def mkdir(self, path, mode):
        with self.m.lock:
            os.mkdir(self.m.path(path), mode)
            i = self.m.id_of(path, created=True)
            self.m.durable_names[i] = {}
            self.m.pending[i] = []
            self.m.log(path, ('add', os.path.basename(path), i))

    def symlink(self, target, source):
        with self.m.lock:
            os.symlink(source, self.m.path(target))
            i = self.m.id_of(target, created=True)
            self.m.log(target, ('add', os.path.basename(target), i))

    def link(self, target, source):
        with self.m.lock:
            os.link(self.m.path(source), self.m.path(target))
            i = self.m.id_of(target)
            self.m.log(target, ('add', os.path.basename(target), i))

    def unlink(self, path):
        with self.m.lock:
            os.unlink(self.m.path(path))
            if not os.path.basename(path).startswith(HIDDEN):
                self.m.log(path, ('del', os.path.basename(path)))

    def rmdir(self, path):
        with self.m.lock:
            os.rmdir(self.m.path(path))
            self.m.log(path, ('del', os.path.basename(path)))

    def rename(self, old, new):
        with self.m.lock:
            i = self.m.id_of(old)
            os.rename(self.m.path(old), self.m.path(new))
            base = os.path.basename(new)
            if base.startswith(HIDDEN):     # an unlink, or a rename over it
                self.m.log(old, ('hide', os.path.basename(old),
                                 threading.get_ident()))
                return
            ops = self.m.pending.get(self.m.dir_of(new), [])
            for k in range(len(ops) - 1, -1, -1):
                if ops[k] == ('hide', base, threading.get_ident()):
                    del ops[k]      # part of this rename
                    break
            if self.m.dir_of(old) == self.m.dir_of(new):
                self.m.log(new, ('rename', os.path.basename(old),
                                 os.path.basename(new), i))
            else:
                self.m.log(old, ('del', os.path.basename(old)))
                self.m.log(new, ('add', os.path.basename(new), i))
            if base == CUT_AT:
                self.m.cut = True
                self.m.stats['cut_at'] = CUT_AT


# -- after the cut ------------------------------------------------------------
def torn_names(names, ops, rng, nonatomic):
    """NAMES with each of OPS kept or dropped at random."""
    names = dict(names)
    for op in ops:
        if rng.random() < 0.5:
            continue
        if op[0] == 'add':
            names[op[1]] = op[2]
        elif op[0] in ('del', 'hide'):
            names.pop(op[1], None)
        else:
            _, old, new, i = op
            names[new] = i
            if names.get(old) == i and not (nonatomic and rng.random() < 0.5):
                del names[old]
    return names


def changed(old, new):
    """The range [lo, hi) outside which OLD and NEW hold the same bytes."""
    n, step = min(len(old), len(new)), 4096
    lo = 0
    while lo < n and old[lo:lo + step] == new[lo:lo + step]:
        lo += step
    lo = min(lo, n)
    while lo < n and old[lo] == new[lo]:
        lo += 1
    if len(old) != len(new):
        return lo, max(len(old), len(new))
    hi = n
    while hi - step > lo and old[hi - step:hi] == new[hi - step:hi]:
        hi -= step
    while hi > lo and old[hi - 1] == new[hi - 1]:
        hi -= 1
    return lo, hi


def torn_data(old, new, rng):
    """Old, new, or the new written over the old up to a random offset
    within the bytes that changed (a file written with zeros first would
    else almost always keep all of it)."""
    pick = rng.randrange(3)
    if pick == 0 or new is None:
        return old
    if pick == 1:
        return new
    lo, hi = changed(old, new)
    k = rng.randint(min(lo, len(new)), min(hi, len(new)))
    data = new[:k] + old[k:]
    return data[:len(new)] if rng.random() < 0.5 else data


def live_contents(m):
    """id -> the content of each file now (the new data), by any name."""
    found = {}
    for top, dirs, files in os.walk(m.backing):
        for name in files:
            p = os.path.join(top, name)
            st = os.lstat(p)
            i = m.ids.get(st.st_ino)
            if i is not None and stat.S_ISREG(st.st_mode) and i not in found:
                with open(p, 'rb') as f:
                    found[i] = f.read()
    return found


def build(m, out, mode, rng, nonatomic):
    """Writes the state after the power cut into the empty directory OUT."""
    live = live_contents(m) if mode == 'torn' else {}
    made = {}               # id -> path in OUT (hard links)
    stats = {'files': 0, 'links': 0, 'dirs': 0, 'torn': 0}

    def names_of(d):
        base = m.durable_names.get(d, {})
        if mode == 'strict':
            return base
        return torn_names(base, m.pending.get(d, []), rng, nonatomic)

    def data_of(i):
        old = m.durable_data.get(i, b'')
        if mode == 'strict' or i not in m.dirty:
            return old
        stats['torn'] += 1
        return torn_data(old, live.get(i), rng)

    def fill(d, where):
        for name, i in sorted(names_of(d).items()):
            p = os.path.join(where, name)
            if m.is_dir.get(i):
                if i in made:
                    continue            # a directory has one name
                made[i] = p
                os.mkdir(p)
                stats['dirs'] += 1
                fill(i, p)
            elif i in made:
                os.link(made[i], p)
                stats['links'] += 1
            else:
                made[i] = p
                with open(p, 'wb') as f:
                    f.write(data_of(i))
                stats['files'] += 1

    fill(m.ids[os.lstat(m.backing).st_ino], out)
    return stats


def control(m, sock):
    """Serves the control socket: one JSON request per connection."""
    while True:
        conn, _ = sock.accept()
        with conn:
            req = json.loads(conn.makefile('r').readline())
            if req['cmd'] == 'cut':
                with m.lock:
                    m.cut = True
                    stats = build(m, req['out'], req['mode'],
                                  random.Random(req['seed']),
                                  req.get('nonatomic', False))
                reply = {'ok': True, 'stats': dict(m.stats, **stats)}
            else:
                with m.lock:
                    reply = {'ok': True, 'stats': dict(m.stats)}
            conn.sendall((json.dumps(reply) + '\n').encode())


def main(argv):
    backing, mountpoint, ctl = argv[1:4]
    m = Model(os.path.abspath(backing))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(ctl)
    sock.listen(4)
    threading.Thread(target=control, args=(m, sock), daemon=True).start()
    FUSE(CrashFS(m), mountpoint, foreground=True, nothreads=False,
         allow_other=True, default_permissions=False,
         use_ino=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv))
