/* SPDX-License-Identifier: MIT */
/*
 * Questions to the lock directory: who holds one resource (inspect),
 * which locks are held (list, paged in lock file name order), and who held
 * one before (history).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "lockdir.h"

#define SUFFIX_LEN	(sizeof(NAME_SUFFIX) - 1)

/* Names kept per directory scan: bounds memory with a million locks. */
#define SCAN_BATCH	4096

/* Fills INFO from LF; 1 if LF is a live holding, 0 if it is none (a
 * lock-delay marker, described in INFO, or a lease that has expired). */
static int
fill_info(struct lockdir *ld, struct lockstore_lock_info *info,
    const char *resource, const struct lockfile *lf)
{
	long long	now = clock_mono_ms();

	memset(info, 0, sizeof(*info));
	/* Names were checked or parsed to at most LOCKSTORE_NAME_MAX. */
	snprintf(info->resource, sizeof(info->resource), "%s", resource);
	if (lf->is_delay) {
		if (lockdir_delay_state(ld, lf, now) == LOCKDIR_LIVE) {
			info->delay_until_ms = lf->delay_wall_ms;
			info->delay_cause = (enum lockstore_end)lf->delay_cause;
		}
		return 0;
	}
	switch (lockdir_lease_state(ld, lf, now)) {
	case LOCKDIR_EXPIRED:
		return 0;
	case LOCKDIR_OTHER_BOOT:
		/* Restarts at the sweep: at least a whole TTL from now. */
		info->expires_ms = clock_wall_ms() + lf->ttl_ms;
		break;
	case LOCKDIR_LIVE:
		if (lf->ttl_ms > 0)
			info->expires_ms = clock_wall_ms() +
			    (lf->deadline_ms - now);
		break;
	}
	snprintf(info->holder, sizeof(info->holder), "%s", lf->holder);
	info->since = lf->since;
	info->token = lf->token;
	info->ttl_ms = lf->ttl_ms;
	return 1;
}

/* Whether RESOURCE is held, and by whom. */
enum lockstore_status
lockdir_inspect(void *impl, const char *resource, int *held,
    struct lockstore_lock_info *info, struct lockstore_error *err)
{
	struct lockdir	*ld = impl;
	struct lockfile	*lf;
	enum name_form	 form;
	char		 fname[NAME_FILE_SIZE], legacy[NAME_FILE_SIZE];
	int		 st;

	*held = 0;
	if ((st = lockdir_check_dir(ld, resource, err)) != LOCKSTORE_OK)
		return st;
	if ((lf = malloc(sizeof(*lf))) == NULL)
		return store_error_nomem(err);
	form = name_encode(resource, fname);
	st = lockdir_read_lock(ld, fname, resource, 1, lf, err);
	if (st == LOCKSTORE_OK)
		st = lockdir_check_owner(lf, resource, form, err);
	/* An expired lease ends now, so that the answer shows what follows
	 * it (the lock-delay), as a lock call would find it. */
	if (st == LOCKSTORE_OK && !lf->is_delay &&
	    lockdir_lease_state(ld, lf, clock_mono_ms()) == LOCKDIR_EXPIRED) {
		st = lockdir_expire_one(ld, fname, resource, err);
		if (st == LOCKSTORE_OK || st == LOCKDIR_AGAIN ||
		    st == LOCKDIR_ABSENT)
			st = lockdir_read_lock(ld, fname, resource, 1, lf, err);
	}
	if (st == LOCKDIR_ABSENT &&
	    lockdir_legacy_name(resource, form, legacy, sizeof(legacy))) {
		st = lockdir_read_lock(ld, legacy, resource, 1, lf, err);
		if (st == LOCKSTORE_OK && lf->has_resource)
			st = LOCKDIR_ABSENT;	/* another resource's file */
		else if (st == LOCKSTORE_INVALID_STATE)
			st = LOCKDIR_ABSENT;
	}
	if (st == LOCKSTORE_OK)
		*held = fill_info(ld, info, resource, lf);
	else if (st == LOCKDIR_ABSENT) {
		memset(info, 0, sizeof(*info));
		st = LOCKSTORE_OK;
	}
	free(lf);
	return st;
}

/* The cursor is the hex of the last lock file name of a page. */
static void
cursor_of(const char *fname, char next[LOCKSTORE_CURSOR_SIZE])
{
	size_t	n = strlen(fname);

	if (n > (LOCKSTORE_CURSOR_SIZE - 1) / 2)
		n = (LOCKSTORE_CURSOR_SIZE - 1) / 2;
	*codec_hex(next, fname, n, CODEC_LOWER) = '\0';
}

/* Decodes cursor AFTER into a file name; -1 if it is not one of ours. */
static int
cursor_parse(const char *after, char fname[NAME_FILE_SIZE])
{
	size_t	len = strlen(after);

	if (len % 2 != 0 || len / 2 >= NAME_FILE_SIZE || codec_unhex(fname,
	    after, len / 2, CODEC_LOWER | CODEC_NO_NUL) == -1)
		return -1;
	fname[len / 2] = '\0';
	return 0;
}

/* A lock file name: ours never start with '.', but gocept.lockd's may
 * (".hidden.resource.lock"); temporary files have no suffix. */
static int
is_lock_name(const char *name)
{
	return name_has_suffix(name) && strncmp(name, LOCKDIR_TMP_PREFIX,
	    sizeof(LOCKDIR_TMP_PREFIX) - 1) != 0;
}

/* A plain lock file name that cannot match PREFIX (cheap pre-filter:
 * names with '%' are encoded and must be read to be judged). */
static int
plainly_excluded(const char *name, const char *prefix, size_t plen)
{
	size_t	rlen = strlen(name) - SUFFIX_LEN;

	if (plen == 0 || strchr(name, '%') != NULL)
		return 0;
	return rlen < plen || strncmp(name, prefix, plen) != 0;
}

/* File names, to keep the SCAN_BATCH smallest: twice as many are
 * gathered, then sorted and cut. */
struct batch {
	char	*names[2 * SCAN_BATCH];
	size_t	 n;
	int	 more;		/* names beyond those kept exist */
};

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts B and keeps its SCAN_BATCH smallest names. */
static void
batch_cut(struct batch *b)
{
	qsort(b->names, b->n, sizeof(b->names[0]), compare_names);
	if (b->n > SCAN_BATCH)
		b->more = 1;
	while (b->n > SCAN_BATCH)
		free(b->names[--b->n]);
}

static int
batch_add(struct batch *b, const char *name)
{
	/* After a cut, names past the largest kept cannot be kept. */
	if (b->more && strcmp(name, b->names[SCAN_BATCH - 1]) >= 0)
		return 0;
	if (b->n == 2 * SCAN_BATCH)
		batch_cut(b);
	if ((b->names[b->n] = strdup(name)) == NULL)
		return -1;
	b->n++;
	return 0;
}

static void
batch_free(struct batch *b)
{
	while (b->n > 0)
		free(b->names[--b->n]);
}

/* The smallest lock file names after CURSOR that may match PREFIX, sorted. */
static enum lockstore_status
scan(struct lockdir *ld, const char *cursor, const char *prefix,
    struct batch *b, struct lockstore_error *err)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 plen = prefix != NULL ? strlen(prefix) : 0;
	int		 fd, e;

	b->n = 0;
	b->more = 0;
	if ((fd = openat(ld->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		e = errno;
		if (fd != -1)
			close(fd);
		return store_error(err, LOCKSTORE_STORAGE, e, "Storage error: "
		    "cannot read the lock directory: %s", strerror(e));
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (!is_lock_name(de->d_name) ||
		    strcmp(de->d_name, cursor) <= 0 ||
		    plainly_excluded(de->d_name, prefix, plen))
			continue;
		if (batch_add(b, de->d_name) == -1)
			break;
	}
	e = errno;
	closedir(d);
	if (e != 0) {
		batch_free(b);
		return store_error(err, LOCKSTORE_STORAGE, e, "Storage error: "
		    "cannot read the lock directory: %s", strerror(e));
	}
	batch_cut(b);
	return LOCKSTORE_OK;
}

/*
 * The lock of file FNAME, if it is a valid lock matching Q.  Returns 1 and
 * fills INFO, 0 to skip it (gone, not a lock to trust, filtered out), or
 * -1 on a storage error.
 */
static int
judge(struct lockdir *ld, const char *fname,
    const struct lockstore_list_query *q, struct lockfile *lf,
    struct lockstore_lock_info *info, struct lockstore_error *err)
{
	char	resource[LOCKSTORE_NAME_MAX + 1];
	size_t	rlen = strlen(fname) - SUFFIX_LEN;
	int	st;

	st = lockdir_read_lock(ld, fname, fname, 1, lf, err);
	if (st == LOCKSTORE_STORAGE)
		return -1;
	if (st != LOCKSTORE_OK)
		return 0;	/* released meanwhile, or not a lock file */
	if (lf->has_resource) {
		/* It must sit under its resource's own name. */
		if (!name_is_own(lf->resource, fname))
			return 0;
		snprintf(resource, sizeof(resource), "%s", lf->resource);
	} else {
		/* gocept.lockd's: the file name is the resource name. */
		if (strncmp(fname, "%Z", 2) == 0)
			return 0;
		memcpy(resource, fname, rlen);
		resource[rlen] = '\0';
	}
	if (q->prefix != NULL &&
	    strncmp(resource, q->prefix, strlen(q->prefix)) != 0)
		return 0;
	if (q->holder != NULL && strcmp(lf->holder, q->holder) != 0)
		return 0;
	return fill_info(ld, info, resource, lf);
}

/* Lists held locks one page at a time; see lockstore.h. */
enum lockstore_status
lockdir_list(void *impl, const struct lockstore_list_query *q,
    lockstore_list_fn fn, void *arg, char next[LOCKSTORE_CURSOR_SIZE],
    struct lockstore_error *err)
{
	struct lockdir			*ld = impl;
	struct batch			*b;
	struct lockfile			*lf;
	struct lockstore_lock_info	*info;
	char				 cursor[NAME_FILE_SIZE];
	size_t				 count = 0, i;
	int				 st = LOCKSTORE_OK, r;

	next[0] = '\0';
	cursor[0] = '\0';
	if (q->after != NULL && *q->after != '\0' &&
	    cursor_parse(q->after, cursor) == -1)
		return store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid listing: 'after' is not a cursor this lockd "
		    "returned");
	if ((st = lockdir_check_dir(ld, "(listing)", err)) != LOCKSTORE_OK)
		return st;
	b = calloc(1, sizeof(*b));
	lf = malloc(sizeof(*lf));
	info = malloc(sizeof(*info));
	if (b == NULL || lf == NULL || info == NULL) {
		st = store_error_nomem(err);
		goto out;
	}
	for (;;) {
		if ((st = scan(ld, cursor, q->prefix, b, err)) != LOCKSTORE_OK)
			goto out;
		for (i = 0; i < b->n; i++) {
			r = judge(ld, b->names[i], q, lf, info, err);
			if (r == -1) {
				st = LOCKSTORE_STORAGE;
				goto out;
			}
			if (r == 0)
				continue;
			if (fn(info, arg) == -1) {
				st = store_error(err, LOCKSTORE_STORAGE,
				    ENOMEM, "Storage error: cannot build the "
				    "listing");
				goto out;
			}
			if (++count == q->limit) {
				if (i + 1 < b->n || b->more)
					cursor_of(b->names[i], next);
				goto out;
			}
		}
		if (!b->more)
			goto out;
		/* Continue after the last name of this batch. */
		snprintf(cursor, sizeof(cursor), "%s", b->names[b->n - 1]);
		batch_free(b);
	}
out:
	if (b != NULL)
		batch_free(b);
	free(b);
	free(lf);
	free(info);
	return st;
}

/* The ended holdings of RESOURCE. */
enum lockstore_status
lockdir_history(void *impl, const char *resource, size_t limit,
    lockstore_history_fn fn, void *arg, struct lockstore_error *err)
{
	struct lockdir	*ld = impl;

	return history_query(ld->history, resource, limit, fn, arg, err);
}
