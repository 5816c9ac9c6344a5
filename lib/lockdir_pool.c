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
 *   after the flock (and rewrites hold LOCK_EX), readers check it after
 *   reading, and content caught mid-rewrite fails its "check" line
 *   (lockdir_read_lock(), lockfile.c).
 * Spare names are LOCKDIR_POOL_PREFIX<pid>.<store>.<n>: removed by the
 * store's close, or by the next open once that pid has gone.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lockdir.h"

#if defined(HAVE_RENAMEAT2) && defined(RENAME_NOREPLACE)
/* Whether releases can go into the pool at all (renameat2 works). */
static int
pool_usable(struct lockdir *ld)
{
	return !__atomic_load_n(&ld->no_rename2, __ATOMIC_RELAXED);
}
#endif

/* Takes a spare: its descriptor (read-write), name and size; -1: none. */
int
lockdir_pool_take(struct lockdir *ld, char *name, size_t size, off_t *len)
{
	struct lockdir_spare	*sp;
	int			 fd = -1;

	pthread_mutex_lock(&ld->poollock);
	if (ld->npool > 0) {
		sp = &ld->pool[--ld->npool];
		fd = sp->fd;
		*len = sp->size;
		snprintf(name, size, "%s", sp->name);
	}
	pthread_mutex_unlock(&ld->poollock);
	return fd;
}

/*
 * Moves the lock file FNAME, being released, to a fresh spare name NAME
 * if the pool has room: 1 if moved (the caller then calls
 * lockdir_pool_put() after the directory sync), 0 if the caller must
 * unlink it as ever, -1 with errno when the rename failed.
 */
int
lockdir_pool_release(struct lockdir *ld, const char *fname, char *name,
    size_t size)
{
#if defined(HAVE_RENAMEAT2) && defined(RENAME_NOREPLACE)
	unsigned long	seq;
	int		room, e = 0, tries;

	if (!pool_usable(ld))
		return 0;
	pthread_mutex_lock(&ld->poollock);
	if ((room = ld->npool + ld->pool_coming < LOCKDIR_POOL_MAX))
		ld->pool_coming++;
	pthread_mutex_unlock(&ld->poollock);
	if (!room)
		return 0;
	/* A process of an earlier boot with our pid may have left a name. */
	for (tries = 0; tries < 8; tries++) {
		seq = __atomic_fetch_add(&ld->seq, 1, __ATOMIC_RELAXED);
		snprintf(name, size, "%s%ld.%lu.%lu", LOCKDIR_POOL_PREFIX,
		    (long)ld->pid, ld->instance, seq);
		if (renameat2(ld->dirfd, fname, ld->dirfd, name,
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
	pthread_mutex_lock(&ld->poollock);
	ld->pool_coming--;
	pthread_mutex_unlock(&ld->poollock);
	errno = e;
	return e == 0 ? 0 : -1;
#else
	(void)ld;
	(void)fname;
	(void)name;
	(void)size;
	return 0;
#endif
}

/*
 * Ends a lockdir_pool_release() that returned 1: with KEEP (the release
 * is durable) the spare NAME joins the pool, else it is removed.
 */
void
lockdir_pool_put(struct lockdir *ld, const char *name, int keep)
{
	struct lockdir_spare	*sp;
	struct stat		 st;
	int			 fd = -1;

	memset(&st, 0, sizeof(st));
	if (keep) {
		fd = openat(ld->dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
		if (fd != -1 && (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    st.st_nlink != 1)) {
			close(fd);
			fd = -1;
		}
	}
	pthread_mutex_lock(&ld->poollock);
	ld->pool_coming--;
	if (fd != -1) {
		sp = &ld->pool[ld->npool++];
		sp->fd = fd;
		sp->size = st.st_size;
		snprintf(sp->name, sizeof(sp->name), "%s", name);
	}
	pthread_mutex_unlock(&ld->poollock);
	if (fd == -1)
		unlinkat(ld->dirfd, name, 0);
}

/* Removes every spare (at close). */
void
lockdir_pool_close(struct lockdir *ld)
{
	int	i;

	for (i = 0; i < ld->npool; i++) {
		unlinkat(ld->dirfd, ld->pool[i].name, 0);
		close(ld->pool[i].fd);
	}
	ld->npool = 0;
}
