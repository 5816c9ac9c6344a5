/* SPDX-License-Identifier: MIT */
/*
 * The listing of the etcd backend: held locks in key order (the bytes of
 * the resource names), one page at a time, read in chunks of
 * ETCD_LIST_CHUNK lock keys, each joined with its metadata keys read at
 * the same revision.
 *
 * The cursor names the last resource of a page: "x" and the hex of its
 * name when that fits (names up to 250 bytes), else "t", the hex of its
 * first ETCD_CURSOR_HEAD bytes, "-" and the hex of its SHA-256.  The next
 * page starts after that name; for a long name that was released in
 * between, it starts at the first name sharing those first bytes, so
 * locks may then be listed twice, never skipped.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "etcd.h"
#include "sha256.h"

#define ETCD_CURSOR_SHORT	250
#define ETCD_CURSOR_HEAD	200

/* Names in a cursor: lower-case hex, never a NUL byte. */
#define NAME_HEX		(CODEC_LOWER | CODEC_NO_NUL)

/* The cursor of the RLEN bytes of resource name R. */
static void
cursor_of(const char *r, size_t rlen, char next[LOCKSTORE_CURSOR_SIZE])
{
	uint8_t	d[SHA256_DIGEST_SIZE];

	if (rlen <= ETCD_CURSOR_SHORT) {
		next[0] = 'x';
		*codec_hex(next + 1, r, rlen, CODEC_LOWER) = '\0';
		return;
	}
	next[0] = 't';
	codec_hex(next + 1, r, ETCD_CURSOR_HEAD, CODEC_LOWER);
	next[1 + 2 * ETCD_CURSOR_HEAD] = '-';
	sha256(r, rlen, d);
	*codec_hex(next + 2 + 2 * ETCD_CURSOR_HEAD, d, sizeof(d),
	    CODEC_LOWER) = '\0';
}

/* A parsed cursor: the name, or its head and digest. */
struct cursor {
	unsigned char	name[ETCD_CURSOR_SHORT + 1];
	size_t		len;
	int		truncated;
	uint8_t		digest[SHA256_DIGEST_SIZE];
};

static int
cursor_parse(const char *s, struct cursor *c)
{
	size_t	len = strlen(s);

	memset(c, 0, sizeof(*c));
	if (s[0] == 'x' && len % 2 == 1 && len > 1 &&
	    (len - 1) / 2 <= ETCD_CURSOR_SHORT) {
		c->len = (len - 1) / 2;
		return codec_unhex(c->name, s + 1, c->len, NAME_HEX);
	}
	if (s[0] == 't' && len == 2 + 2 * ETCD_CURSOR_HEAD +
	    2 * SHA256_DIGEST_SIZE && s[1 + 2 * ETCD_CURSOR_HEAD] == '-') {
		c->len = ETCD_CURSOR_HEAD;
		c->truncated = 1;
		if (codec_unhex(c->name, s + 1, c->len, NAME_HEX) == -1)
			return -1;
		return codec_unhex(c->digest, s + 2 + 2 * ETCD_CURSOR_HEAD,
		    SHA256_DIGEST_SIZE, CODEC_LOWER);
	}
	return -1;
}

/* Byte order of two keys. */
static int
keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int	c;

	c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/*
 * Where a page after the long name of cursor C starts: after the lock key
 * whose name has C's head and digest, or at the first key with that head
 * if it is gone.  Sets *FROM (malloc'd).
 */
static enum lockstore_status
resume_long(struct etcd *e, const struct cursor *c, char **from,
    size_t *flen, struct lockstore_error *err)
{
	struct etcd_resp	 r;
	struct etcd_kv		 kv;
	enum lockstore_status	 st = LOCKSTORE_OK;
	uint8_t			 d[SHA256_DIGEST_SIZE];
	char			*head, *hend, *at = NULL;
	size_t			 hlen, hendlen, atlen = 0, j;
	int			 more = 1;

	/* The cursor's name (or head) has no NUL, and one after it. */
	*from = NULL;
	head = etcd_key(e, ETCD_NS_LOCK, (const char *)c->name, &hlen);
	if (head == NULL ||
	    (hend = etcd_prefix_end(head, hlen, &hendlen)) == NULL) {
		free(head);
		return store_error_nomem(err);
	}
	while (more && *from == NULL && st == LOCKSTORE_OK) {
		st = etcd_range_post(e, at != NULL ? at : head,
		    at != NULL ? atlen : hlen, hend, hendlen, ETCD_RANGE_KEYS,
		    ETCD_LIST_CHUNK, &r, "list", NULL, err);
		if (st != LOCKSTORE_OK)
			break;
		more = etcd_range_more(r.root);
		for (j = 0; *from == NULL &&
		    etcd_range_kv(r.root, j, &kv) == 1; j++) {
			sha256(kv.key + e->prefixlen + 2,
			    kv.keylen - e->prefixlen - 2, d);
			if (memcmp(d, c->digest, sizeof(d)) == 0 &&
			    (*from = etcd_key_after(kv.key, kv.keylen, flen)) ==
			    NULL)
				st = store_error_nomem(err);
			free(at);
			at = etcd_key_after(kv.key, kv.keylen, &atlen);
			etcd_kv_free(&kv);
			if (at == NULL) {
				st = store_error_nomem(err);
				break;
			}
		}
		etcd_resp_free(&r);
	}
	if (*from == NULL && st == LOCKSTORE_OK) {
		*from = head;	/* gone: from the first of its kind */
		*flen = hlen;
		head = NULL;
	}
	free(head);
	free(hend);
	free(at);
	return st;
}

/* The metadata keys of the lock keys LOCKS[0..N-1], read in one range. */
static enum lockstore_status
read_meta(struct etcd *e, struct etcd_kv *locks, size_t n, size_t lblen,
    struct etcd_resp *r, struct lockstore_error *err)
{
	enum lockstore_status	 st;
	char			*mstart, *mlast, *mend;
	size_t			 mslen, mllen, melen;

	mstart = etcd_key(e, ETCD_NS_META, locks[0].key + lblen, &mslen);
	mlast = etcd_key(e, ETCD_NS_META, locks[n - 1].key + lblen, &mllen);
	mend = mlast != NULL ? etcd_key_after(mlast, mllen, &melen) : NULL;
	st = mstart == NULL || mend == NULL ? store_error_nomem(err) :
	    etcd_range_post(e, mstart, mslen, mend, melen, 0, 0, r, "list",
	    NULL, err);
	free(mstart);
	free(mlast);
	free(mend);
	return st;
}

/* Where the listing starts: after cursor C (if AFTER), never before the
 * prefix key PFX.  Sets *FROM (malloc'd, also on an error) and *FLEN. */
static enum lockstore_status
list_start(struct etcd *e, const struct cursor *c, int after,
    const char *pfx, size_t pfxlen,
    char **from, size_t *flen, struct lockstore_error *err)
{
	enum lockstore_status	 st = LOCKSTORE_OK;

	*from = NULL;
	if (after && c->truncated)
		st = resume_long(e, c, from, flen, err);
	else if (after && (*from = etcd_key(e, ETCD_NS_LOCK,
	    (const char *)c->name, flen)) == NULL)
		st = store_error_nomem(err);
	else if (after)
		(*flen)++;	/* the lock key and the NUL after it */
	if (st != LOCKSTORE_OK)
		return st;
	if (*from == NULL || keycmp(*from, *flen, pfx, pfxlen) < 0) {
		free(*from);
		if ((*from = etcd_key_after(pfx, pfxlen, flen)) == NULL)
			return store_error_nomem(err);
		(*flen)--;	/* the prefix itself, without the NUL */
	}
	return LOCKSTORE_OK;
}

/* A listing under way. */
struct listing {
	const struct lockstore_list_query *q;
	lockstore_list_fn		 fn;
	void				*arg;
	struct lockstore_lock_info	*info;
	char				*next;	/* the cursor */
	size_t				 count;	/* locks listed */
};

/*
 * Hands the N lock keys LOCKS (names after LBLEN bytes), joined with their
 * metadata keys in MR, to L's callback.  MORE: keys follow.  Returns 1 when
 * the page is full or the callback failed (*ST set), 0 to go on.
 */
static int
list_chunk(struct etcd *e, struct listing *l, struct etcd_kv *locks,
    size_t n, size_t lblen, struct etcd_resp *mr, int more,
    enum lockstore_status *st, struct lockstore_error *err)
{
	struct etcd_kv	 meta;
	const char	*name;
	size_t		 i, mj = 0, nlen;
	int		 cmp, have = 0, done = 0;

	memset(&meta, 0, sizeof(meta));
	for (i = 0; i < n && !done; i++) {
		name = locks[i].key + lblen;
		nlen = locks[i].keylen - lblen;
		/* Both ranges are in name order: merge them. */
		cmp = 1;
		while ((have || (have = etcd_range_kv(mr->root, mj, &meta) ==
		    1)) && (cmp = keycmp(meta.key + e->prefixlen + 2,
		    meta.keylen - e->prefixlen - 2, name, nlen)) < 0) {
			etcd_kv_free(&meta);
			have = 0;
			mj++;
		}
		if (l->q->holder != NULL &&
		    strcmp(locks[i].value, l->q->holder) != 0)
			continue;
		etcd_fill_info(l->info, name, nlen, &locks[i],
		    have && cmp == 0 ? &meta : NULL);
		if (l->fn(l->info, l->arg) == -1) {
			*st = store_error(err, LOCKSTORE_STORAGE, ENOMEM,
			    "Storage error: cannot build the listing");
			done = 1;
		} else if (++l->count == l->q->limit) {
			if (i + 1 < n || more)
				cursor_of(name, nlen, l->next);
			done = 1;
		}
	}
	etcd_kv_free(&meta);
	return done;
}

/* Lists held locks one page at a time; see lockstore_list(). */
enum lockstore_status
etcd_list(void *impl, const struct lockstore_list_query *q,
    lockstore_list_fn fn, void *arg, char next[LOCKSTORE_CURSOR_SIZE],
    struct lockstore_error *err)
{
	struct etcd		*e = impl;
	struct listing		 l = { q, fn, arg, NULL, next, 0 };
	struct etcd_kv		*locks = NULL;
	struct etcd_resp	 r, mr;
	struct cursor		 c;
	enum lockstore_status	 st = LOCKSTORE_OK;
	char			*pfx, *end, *from = NULL;
	size_t			 lblen = e->prefixlen + 2, pfxlen, endlen;
	size_t			 flen = 0, n, j;
	int			 more, after, done = 0;

	next[0] = '\0';
	after = q->after != NULL && *q->after != '\0';
	if (after && cursor_parse(q->after, &c) == -1)
		return store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid listing: 'after' is not a cursor this lockd "
		    "returned");
	pfx = etcd_key(e, ETCD_NS_LOCK, q->prefix != NULL ? q->prefix : "",
	    &pfxlen);
	end = pfx != NULL ? etcd_prefix_end(pfx, pfxlen, &endlen) : NULL;
	l.info = malloc(sizeof(*l.info));
	locks = calloc(ETCD_LIST_CHUNK, sizeof(*locks));
	if (pfx == NULL || end == NULL || l.info == NULL || locks == NULL) {
		st = store_error_nomem(err);
		goto out;
	}
	if ((st = list_start(e, &c, after, pfx, pfxlen, &from, &flen, err)) !=
	    LOCKSTORE_OK)
		goto out;
	while (!done) {
		st = etcd_range_post(e, from, flen, end, endlen, 0,
		    ETCD_LIST_CHUNK, &r, "list", NULL, err);
		if (st != LOCKSTORE_OK)
			goto out;
		more = etcd_range_more(r.root);
		for (n = 0; n < ETCD_LIST_CHUNK &&
		    etcd_range_kv(r.root, n, &locks[n]) == 1; n++)
			;
		etcd_resp_free(&r);
		if (n == 0)
			break;
		if ((st = read_meta(e, locks, n, lblen, &mr, err)) !=
		    LOCKSTORE_OK)
			goto out;
		done = list_chunk(e, &l, locks, n, lblen, &mr, more, &st, err);
		etcd_resp_free(&mr);
		free(from);
		from = etcd_key_after(locks[n - 1].key, locks[n - 1].keylen,
		    &flen);
		for (j = 0; j < n; j++)
			etcd_kv_free(&locks[j]);
		if (from == NULL && !done)
			st = store_error_nomem(err);
		if (from == NULL || !more)
			done = 1;
	}
out:
	if (locks != NULL)
		for (j = 0; j < ETCD_LIST_CHUNK; j++)
			etcd_kv_free(&locks[j]);
	free(locks);
	free(l.info);
	free(pfx);
	free(end);
	free(from);
	return st;
}
