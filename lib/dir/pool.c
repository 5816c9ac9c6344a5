/* SPDX-License-Identifier: MIT */
/*
 * Spare inodes for lock files.  On ext4 (without a journal most of all)
 * creating a file and freeing it again are the most expensive part of a
 * lock and an unlock: allocating an inode scans past the recently freed
 * ones, and freeing one truncates and releases its blocks.  So an unlock
 * renames the lock file to a private spare name instead of unlinking it,
 * and a later lock, of any resource, rewrites that inode and renames it
 * to its lock name.
 *
 * Why this is safe:
 * - A spare enters the pool only after the directory sync that made its
 *   release durable: no crash can bring back the old lock name pointing
 *   at the inode once it is rewritten.
 * - A lock rewrites a spare under LOCK_EX, then syncs its data, and only
 *   then renames it to the lock name (RENAME_NOREPLACE), exactly as a new
 *   file (lockdir.c); a crash before leaves a spare name, removed later.
 * - Whoever opened the inode under its old lock name before the release
 *   finds the name no longer refers to it: flock()ing changers check that
 *   after the flock (and rewrites hold LOCK_EX), lockless readers accept
 *   only content that ends in its own sum, names its file, and is still
 *   under that name afterwards (lockdir_read_lock(), lockfile.c).
 * - The pool keeps names and inode numbers, no descriptors (which would
 *   keep the file system from being remounted read-only, and be shared
 *   with a forked child): a spare is opened when taken, and used only if
 *   it is still the inode released.
 * Spare names are LOCKDIR_POOL_PREFIX<pid>.<boot>.<store>.<n>: removed by
 * the store's close, or at a later open once that process is gone (its
 * pid no longer runs, or the machine has booted since).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lockdir.h"

/* Takes a spare: its descriptor (read-write), name and size; -1: none. */
int
lockdir_pool_take(struct lockdir *ld, char *name, size_t size, off_t *len)
{
	struct lockdir_spare	 sp;
	struct stat		 st;
	int			 fd;

	for (;;) {
		pthread_mutex_lock(&ld->poollock);
		if (ld->npool == 0) {
			pthread_mutex_unlock(&ld->poollock);
			return -1;
		}
		sp = ld->pool[--ld->npool];
		pthread_mutex_unlock(&ld->poollock);
		fd = openat(ld->dirfd, sp.name, O_RDWR | O_NOFOLLOW |
		    O_NONBLOCK | O_CLOEXEC);
		if (fd == -1 && errno == ENOENT)
			continue;	/* removed by hand: the next */
		if (fd == -1) {
			/* Out of descriptors, say: keep it for later. */
			pthread_mutex_lock(&ld->poollock);
			if (ld->npool + ld->pool_coming < LOCKDIR_POOL_MAX)
				ld->pool[ld->npool++] = sp;
			pthread_mutex_unlock(&ld->poollock);
			return -1;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_ino == sp.ino && st.st_dev == sp.dev &&
		    st.st_nlink == 1) {
			*len = st.st_size;
			snprintf(name, size, "%s", sp.name);
			return fd;
		}
		close(fd);	/* not the inode released: not ours */
	}
}

/*
 * Moves the lock file FNAME, being released (its flock held by the
 * caller), to a fresh spare name if the pool has room: 1 if moved (the
 * caller then calls lockdir_pool_put(SP) after the directory sync), 0 if
 * the caller must unlink it as ever, -1 with errno when that failed.
 */
int
lockdir_pool_release(struct lockdir *ld, const char *fname,
    struct lockdir_spare *sp)
{
#if defined(HAVE_RENAMEAT2) && defined(RENAME_NOREPLACE)
	struct stat	st;
	unsigned long	seq;
	int		room, e = 0, tries;

	if (__atomic_load_n(&ld->no_rename2, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&ld->poollock);
	if ((room = ld->npool + ld->pool_coming < LOCKDIR_POOL_MAX))
		ld->pool_coming++;
	pthread_mutex_unlock(&ld->poollock);
	if (!room)
		return 0;
	if (fstatat(ld->dirfd, fname, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		e = errno;
		goto fail;
	}
	sp->ino = st.st_ino;
	sp->dev = st.st_dev;
	/* A process of an earlier boot with our pid may have left a name. */
	for (tries = 0; tries < 8; tries++) {
		seq = __atomic_fetch_add(&ld->seq, 1, __ATOMIC_RELAXED);
		snprintf(sp->name, sizeof(sp->name), "%s%ld.%.8s.%lu.%lu",
		    LOCKDIR_POOL_PREFIX, (long)getpid(), ld->boot,
		    ld->instance, seq);
		if (renameat2(ld->dirfd, fname, ld->dirfd, sp->name,
		    RENAME_NOREPLACE) == 0)
			return 1;
		if ((e = errno) != EEXIST)
			break;
	}
	if (e == EEXIST)
		e = 0;		/* then unlinked as ever */
	else if (e == EINVAL || e == ENOSYS || e == ENOTSUP) {
		__atomic_store_n(&ld->no_rename2, 1, __ATOMIC_RELAXED);
		e = 0;
	}
fail:
	pthread_mutex_lock(&ld->poollock);
	ld->pool_coming--;
	pthread_mutex_unlock(&ld->poollock);
	errno = e;
	return e == 0 ? 0 : -1;
#else
	(void)ld;
	(void)fname;
	(void)sp;
	return 0;
#endif
}

/*
 * Ends a lockdir_pool_release() that returned 1: with KEEP (the release
 * is durable) the spare SP joins the pool, else it is removed.
 */
void
lockdir_pool_put(struct lockdir *ld, const struct lockdir_spare *sp,
    int keep)
{
	pthread_mutex_lock(&ld->poollock);
	ld->pool_coming--;
	if (keep)
		ld->pool[ld->npool++] = *sp;
	pthread_mutex_unlock(&ld->poollock);
	if (!keep)
		unlinkat(ld->dirfd, sp->name, 0);
}

/* Whether S starts with decimal digits then '.': their end, else NULL. */
static const char *
digits_dot(const char *s)
{
	size_t	n = strspn(s, "0123456789");

	return n > 0 && s[n] == '.' ? s + n + 1 : NULL;
}

/*
 * Whether NAME is a spare of this lockd's making (PREFIX<pid>.<8 of a
 * boot id>.<store>.<n>, nothing else) left in an earlier boot: its
 * process is gone.  Anything else of that prefix is left alone (it may be
 * gocept.lockd's lock of a resource called so).
 */
int
lockdir_pool_other_boot(const struct lockdir *ld, const char *name)
{
	const char	*p, *boot;

	if ((boot = digits_dot(name + sizeof(LOCKDIR_POOL_PREFIX) - 1)) ==
	    NULL || strcspn(boot, ".") != 8 || boot[8] != '.' ||
	    (p = digits_dot(boot + 9)) == NULL || *p == '\0' ||
	    strspn(p, "0123456789") != strlen(p))
		return 0;
	return strncmp(boot, ld->boot, 8) != 0;
}

/* Removes every spare (at close). */
void
lockdir_pool_close(struct lockdir *ld)
{
	struct stat	st;
	int		i;

	for (i = 0; i < ld->npool; i++)
		if (fstatat(ld->dirfd, ld->pool[i].name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == ld->pool[i].ino &&
		    st.st_dev == ld->pool[i].dev)
			unlinkat(ld->dirfd, ld->pool[i].name, 0);
	ld->npool = 0;
}
