/* SPDX-License-Identifier: MIT */
/*
 * The lock-directory backend's take (one lock attempt) and its ops table.
 * A held lock is the file <dir>/<name>.resource.lock; every change is
 * atomic, exclusive across threads and processes, and journalled
 * (journal.c) before it is reported.
 *
 * Protocol shared by every process that uses a directory:
 * - lock writes the complete file under a temporary name and renames it
 *   to the lock name with RENAME_NOREPLACE (or, where the file system
 *   cannot, link()s it there and unlinks the temporary name).  Both fail
 *   with EEXIST when the lock is held, so exactly one creator wins.  The
 *   token is taken, the file written and renamed while the token counter
 *   is locked (lockdir_token_then()): so names are won in token order,
 *   and a resource's tokens grow with its holdings, whichever process
 *   grants them; the journal's recovery relies on that.  The creator
 *   keeps an flock() on the new inode until its journal record is
 *   durable, so nobody can remove a lock that is not.
 * - unlock opens the lock file, takes flock(LOCK_EX) on it, checks that the
 *   name still refers to that very inode, checks the holder, and only then
 *   journals the end and removes the name.  Every removal of a lock name
 *   happens under that flock and after that check, so a compare-and-delete
 *   can never remove a lock that another client took in between.
 *
 * Durability: see journal.c.  A grant whose journal record cannot be
 * synced does not stand: its name is removed again (we still hold its
 * flock) and the client gets a storage fault.  The temporary name of a
 * crashed writer is removed at the next open.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockdir.h"

#define storage(err, e, what, resource) \
	lockdir_storage((err), (e), (what), (resource))

/* Removes lock file FNAME if it is still an expired lock-delay marker. */
static int
remove_stale(struct lockdir *ld, const char *fname, const char *resource,
    struct lockstore_error *err)
{
	struct lockfile	*lf;
	int		 fd, st;

	st = lockdir_open_locked(ld, fname, resource, &fd, &lf, err);
	if (st == LOCKSTORE_OK) {
		if (lf->is_delay && lockdir_delay_state(ld, lf,
		    clock_mono_ms()) != LOCKDIR_LIVE &&
		    unlinkat(ld->dirfd, fname, 0) == -1)
			st = storage(err, errno, "cannot remove a stale lock "
			    "file", resource);
		close(fd);
	}
	free(lf);
	return st == LOCKDIR_ABSENT ? LOCKSTORE_OK : st;
}

/* The reply to CLIENT asking again for the lock LF it holds: the holding
 * goes on, a TTL renews its lease. */
static int
reacquire(struct lockdir *ld, const char *fname, const char *resource,
    const char *client, unsigned int ttl_ms, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct lockfile	*lf;
	int		 fd, st;

	st = lockdir_open_locked(ld, fname, resource, &fd, &lf, err);
	if (st != LOCKSTORE_OK)
		return st == LOCKDIR_ABSENT ? LOCKDIR_AGAIN : st;
	if (lf->is_delay || strcmp(lf->holder, client) != 0 ||
	    lockdir_lease_state(ld, lf, clock_mono_ms()) == LOCKDIR_EXPIRED) {
		st = LOCKDIR_AGAIN;	/* changed meanwhile */
		goto out;
	}
	if (ttl_ms > 0) {
		lf->ttl_ms = ttl_ms;
		lf->deadline_ms = clock_mono_ms() + ttl_ms;
		snprintf(lf->boot, sizeof(lf->boot), "%s", ld->boot);
		if (!lf->has_resource) {
			snprintf(lf->resource, sizeof(lf->resource), "%s",
			    resource);
			lf->has_resource = 1;
		}
		if ((st = lockdir_replace(ld, fname, lf, resource, err)) !=
		    LOCKSTORE_OK)
			goto out;
		lockdir_note_lease(ld, resource, lf->deadline_ms);
	}
	g->token = lf->token;
	g->since = lf->since;
	g->reacquired = 1;
	g->ttl_ms = lf->ttl_ms;
	if (lf->ttl_ms > 0)
		g->expires_ms = clock_wall_ms() + (lf->deadline_ms -
		    clock_mono_ms());
	st = LOCKSTORE_OK;
out:
	close(fd);
	free(lf);
	return st;
}

/*
 * Gives the temporary file TMP the lock name FNAME unless that name exists
 * (-1, EEXIST); TMP's name is gone afterwards.  One directory change where
 * the file system can rename without replacing, else link() and unlink().
 */
static int
place(struct lockdir *ld, const char *tmp, const char *fname)
{
#if defined(HAVE_RENAMEAT2) && defined(RENAME_NOREPLACE)
	if (!__atomic_load_n(&ld->no_rename2, __ATOMIC_RELAXED)) {
		if (renameat2(ld->dirfd, tmp, ld->dirfd, fname,
		    RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
			return -1;
		__atomic_store_n(&ld->no_rename2, 1, __ATOMIC_RELAXED);
	}
#endif
	if (linkat(ld->dirfd, tmp, ld->dirfd, fname, 0) == -1)
		return -1;
	unlinkat(ld->dirfd, tmp, 0);	/* a leftover is cleaned at open */
	return 0;
}

/* A lock attempt's new lock file, and what placing it did. */
struct mine {
	struct lockdir		*ld;
	struct lockfile		*lf;		/* its content */
	const char		*tmp, *fname;
	int			 fd;		/* TMP's, flock()ed */
	int			 e;		/* 0: placed, else errno */
};

/*
 * The answer for gocept.lockd's own lock of RESOURCE, if there is one:
 * HELD, or a reacquire; LOCKDIR_ABSENT when there is none.  Only a file
 * without a recorded name is the old lock; anything else there is some
 * other resource's business.
 */
static int
take_legacy(struct lockdir *ld, const char *resource, const char *client,
    int acquire, enum name_form form, struct lockfile *lf,
    struct lockstore_grant *grant, struct lockstore_error *err)
{
	char	legacy[NAME_FILE_SIZE];
	int	st;

	if (!lockdir_legacy_name(resource, form, legacy, sizeof(legacy)))
		return LOCKDIR_ABSENT;
	st = lockdir_read_lock(ld, legacy, resource, 1, lf, err);
	if (st == LOCKSTORE_OK && !lf->has_resource) {
		if (acquire && strcmp(lf->holder, client) == 0) {
			grant->reacquired = 1;
			return LOCKSTORE_OK;
		}
		return store_error_held(err, lf->holder);
	}
	return st == LOCKSTORE_STORAGE ? st : LOCKDIR_ABSENT;
}

/*
 * The answer of a lock attempt that found RESOURCE's lock file FNAME
 * with content LF: DELAYED (filling BLK), HELD, a reacquire, or
 * LOCKDIR_AGAIN once an expired lock-delay or lease is cleared.
 */
static int
take_found(struct lockdir *ld, const char *fname, const char *resource,
    const char *client, int acquire, unsigned int ttl_ms,
    const struct lockfile *lf, struct lockstore_grant *grant,
    struct store_block *blk, struct lockstore_error *err)
{
	long long	now = clock_mono_ms();
	int		st;

	if (lf->is_delay && lockdir_delay_state(ld, lf, now) == LOCKDIR_LIVE) {
		blk->delay_end_ms = lf->delay_until_ms;
		return store_error_delayed(err, lf->delay_wall_ms,
		    lf->delay_cause);
	}
	if (lf->is_delay) {
		st = remove_stale(ld, fname, resource, err);
		return st == LOCKSTORE_OK ? LOCKDIR_AGAIN : st;
	}
	if (lockdir_lease_state(ld, lf, now) == LOCKDIR_EXPIRED) {
		st = lockdir_expire_one(ld, fname, resource, err);
		return st == LOCKSTORE_OK || st == LOCKDIR_AGAIN ||
		    st == LOCKDIR_ABSENT ? LOCKDIR_AGAIN : st;
	}
	if (acquire && strcmp(lf->holder, client) == 0)
		return reacquire(ld, fname, resource, client, ttl_ms, grant,
		    err);
	return store_error_held(err, lf->holder);
}

/* Fills LF with a new holding but for its token and creates an empty
 * temporary file TMP (of SIZE) for it; its descriptor, or -1 with ERR
 * filled. */
static int
write_new(struct lockdir *ld, const char *resource, const char *client,
    unsigned int ttl_ms, struct lockfile *lf, char *tmp, size_t size,
    struct lockstore_error *err)
{
	memset(lf, 0, sizeof(*lf));
	snprintf(lf->holder, sizeof(lf->holder), "%s", client);
	snprintf(lf->resource, sizeof(lf->resource), "%s", resource);
	lf->has_resource = 1;
	lf->since = (long long)time(NULL);
	if (ttl_ms > 0) {
		lf->ttl_ms = ttl_ms;
		lf->deadline_ms = clock_mono_ms() + ttl_ms;
		snprintf(lf->boot, sizeof(lf->boot), "%s", ld->boot);
	}
	return lockdir_write_tmp(ld, NULL, resource, tmp, size, err);
}

/* Writes the new lock file with TOKEN and gives it its name; called
 * before any later token is handed out (lockdir_token_then()). */
static void
place_with(void *arg, unsigned long long token)
{
	struct mine	*m = arg;

	m->lf->token = token;
	m->e = 0;
	if (lockdir_write_content(m->fd, m->lf) == -1 ||
	    place(m->ld, m->tmp, m->fname) == -1)
		m->e = errno;
}

/*
 * Journals the new lock M->fname (its file open at M->fd, closed here) and
 * fills GRANT.  Should that fail, the grant must not stand: we still hold
 * the flock on the new inode, so nobody else can have removed or replaced
 * it.
 */
static enum lockstore_status
grant_new(struct lockdir *ld, const char *resource, struct mine *m,
    unsigned int ttl_ms, struct lockstore_grant *grant,
    struct lockstore_error *err)
{
	enum lockstore_status	st = LOCKSTORE_OK;
	uint64_t		mark;

	if (ld->durable) {
		journal_enter(&ld->journal);
		if (journal_put(&ld->journal, m->fname, m->lf) == -1)
			st = storage(err, errno, "cannot write the journal",
			    resource);
		mark = journal_leave(&ld->journal);
		if (st != LOCKSTORE_OK)
			journal_wait(&ld->journal, 0);
		else
			st = lockdir_journal_wait(ld, mark, resource, err);
		if (st != LOCKSTORE_OK) {
			unlinkat(ld->dirfd, m->fname, 0);
			close(m->fd);
			return st;
		}
	}
	close(m->fd);
	grant->token = m->lf->token;
	grant->since = m->lf->since;
	grant->ttl_ms = ttl_ms;
	if (ttl_ms > 0) {
		grant->expires_ms = clock_wall_ms() + ttl_ms;
		lockdir_note_lease(ld, resource, m->lf->deadline_ms);
	}
	return LOCKSTORE_OK;
}

/* One lock attempt; see store_take_fn in store_impl.h. */
static enum lockstore_status
lockdir_take(void *impl, const char *resource, const char *client,
    int acquire, unsigned int ttl_ms, struct lockstore_grant *grant,
    struct store_block *blk, struct lockstore_error *err)
{
	struct lockdir		*ld = impl;
	struct lockfile		*lf;
	struct mine		 m;
	enum name_form		 form;
	char			 fname[NAME_FILE_SIZE], tmp[96];
	unsigned long long	 token;
	int			 fd = -1, st, tries, held = 0;

	if ((st = lockdir_check_dir(ld, resource, err)) != LOCKSTORE_OK)
		return (enum lockstore_status)st;
	/* lf[0]: what is found; lf[1]: the new lock file */
	if ((lf = malloc(2 * sizeof(*lf))) == NULL)
		return storage(err, ENOMEM, "out of memory", resource);
	form = name_encode(resource, fname);
	m.ld = ld;
	m.lf = &lf[1];
	m.tmp = tmp;
	m.fname = fname;
	if ((st = take_legacy(ld, resource, client, acquire, form, lf, grant,
	    err)) != LOCKDIR_ABSENT)
		goto out;
	for (tries = 0; tries < LOCKDIR_RACE_RETRIES; tries++) {
		/* A held lock is answered without writing anything: cheaper,
		 * and "held" stays the answer even on a full disk. */
		st = lockdir_read_lock(ld, fname, resource, 1, lf, err);
		if (st == LOCKSTORE_OK)
			st = lockdir_check_owner(lf, resource, form, err);
		if (st == LOCKSTORE_OK) {
			st = take_found(ld, fname, resource, client, acquire,
			    ttl_ms, lf, grant, blk, err);
			if (st == LOCKDIR_AGAIN)
				continue;	/* cleared: look again */
			goto out;
		}
		if (st != LOCKDIR_ABSENT)
			goto out;
		if (fd == -1 && (fd = write_new(ld, resource, client, ttl_ms,
		    &lf[1], tmp, sizeof(tmp), err)) == -1) {
			st = err->status;
			goto out;
		}
		m.fd = fd;
		if (!held) {
			lockdir_token_hold(ld);
			held = 1;
		}
		if ((st = lockdir_token_then(ld, resource, &token, place_with,
		    &m, err)) != LOCKSTORE_OK)
			goto out;
		if (m.e == 0)
			break;
		if (m.e != EEXIST) {
			st = storage(err, m.e, "cannot create the lock file",
			    resource);
			goto out;
		}
		/* Taken meanwhile: look again. */
	}
	if (tries == LOCKDIR_RACE_RETRIES) {
		st = store_error(err, LOCKSTORE_STORAGE, EAGAIN,
		    "Storage error: the lock for '%s' changes too fast to be "
		    "taken", resource);
		goto out;
	}
	st = grant_new(ld, resource, &m, ttl_ms, grant, err);
	fd = -1;
out:
	if (fd != -1) {
		unlinkat(ld->dirfd, tmp, 0);
		close(fd);
	}
	if (held)
		lockdir_token_release(ld);
	free(lf);
	return (enum lockstore_status)st;
}

/* Sleeps as head until RESOURCE's lock file may have changed; see
 * store_wait_fn. */
static enum waitq_result
lockdir_wait(void *impl, const struct store_wait *w)
{
	struct lockdir	*ld = impl;
	struct timespec	 until;
	char		 fname[NAME_FILE_SIZE];

	name_encode(w->resource, fname);
	/* Changes before the watch routed them here were not seen. */
	if (dirwatch_arm(ld->watch, w->w, fname))
		return WAITQ_RETRY;
	until = clock_abs_in(w->until_ms - clock_mono_ms());
	return waitq_wait(w->q, w->w, &until, w->cancelled, w->cancel_arg);
}

/* Sizes the history by the new policy; see store_policy_changed_fn. */
static void
lockdir_policy_changed(void *impl, const struct lockstore_policy *p)
{
	struct lockdir	*ld = impl;

	history_set_segment(ld->history, p->history_bytes);
}

static const struct lockstore_ops lockdir_ops = {
	.take = lockdir_take,
	.wait = lockdir_wait,
	.unlock = lockdir_unlock,
	.inspect = lockdir_inspect,
	.list = lockdir_list,
	.renew = lockdir_renew,
	.brk = lockdir_break,
	.history = lockdir_history,
	.expire = lockdir_expire,
	.health = lockdir_health,
	.count_held = lockdir_count_held,
	.policy_changed = lockdir_policy_changed,
	.close = lockdir_close
};

/* A store of LD with this backend's calls. */
struct lockstore *
lockdir_store_new(struct lockdir *ld)
{
	return store_new(&lockdir_ops, ld);
}
