/* SPDX-License-Identifier: MIT */
/*
 * How holdings end in the etcd backend: unlocks, breaks, leases that etcd
 * expired, the lock-delay after the last two, the history of ended
 * holdings, and the sweep that finds expired leases.
 *
 * Each end is one transaction that compares the holding it ends (the lock
 * key's create_revision and value, or the metadata key left behind by an
 * expired lease) and, if it still stands, deletes it, writes the history
 * record and puts the lock-delay key: an end is recorded exactly once,
 * by whichever lockd gets there first (for an expired lease: a lock
 * attempt, an unlock or the sweep of any lockd).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

/* The history record: {"h":b64,"s":since,"u":until_ms,"w":how,"b":b64,
 * "r":b64,"n":nonce}; the nonce of the call that ended the holding
 * ("": the expiry sweep) tells that call its own record. */
static char *
history_value(const char *holder, long long since, enum lockstore_end how,
    const char *by, const char *reason, const char *nonce)
{
	const char	*w;
	char		*h, *b, *r, *out = NULL;

	w = how == LOCKSTORE_END_UNLOCK ? "unlock" :
	    how == LOCKSTORE_END_BREAK ? "break" : "expiry";
	h = etcd_b64(holder, strlen(holder));
	b = etcd_b64(by, strlen(by));
	r = etcd_b64(reason, strlen(reason));
	if (h != NULL && b != NULL && r != NULL &&
	    asprintf(&out, "{\"h\":\"%s\",\"s\":%lld,\"u\":%lld,\"w\":\"%s\","
	    "\"b\":\"%s\",\"r\":\"%s\",\"n\":\"%s\"}", h, since, clock_wall_ms(),
	    w, b, r, nonce) == -1)
		out = NULL;
	free(h);
	free(b);
	free(r);
	return out;
}

/* The range of RESOURCE's history keys: P "h/" R "\0" to P "h/" R "\1". */
static int
history_range(const struct etcd *e, const char *resource, char **start,
    size_t *slen, char **end)
{
	size_t	len;

	*end = NULL;
	if ((*start = etcd_key(e, ETCD_NS_HISTORY, resource, &len)) == NULL ||
	    (*end = etcd_key_after(*start, len, slen)) == NULL) {
		free(*start);
		return -1;
	}
	/* the NUL after the name belongs to it */
	(*end)[len] = '\1';
	return 0;
}

/* Whether the policy keeps a history now. */
static int
history_on(struct etcd *e)
{
	struct lockstore_policy	pol;

	store_policy(e->store, &pol);
	return pol.history_bytes > 0;
}

/*
 * Puts the history record of an ended holding into the transaction's
 * success list (when history is ON) and a count of RESOURCE's records;
 * returns the index of the count, or -1 (history off, or ENOMEM: then
 * t->failed is set).
 */
static int
history_ops(struct etcd *e, struct etcd_txn *t, int on, const char *resource,
    unsigned long long token, const char *holder, long long since,
    enum lockstore_end how, const char *by, const char *reason,
    const char *nonce)
{
	char			*key, *val, *start, *end;
	size_t			 klen, slen;

	if (!on)
		return -1;
	key = etcd_history_key(e, resource, token, &klen);
	val = history_value(holder, since, how, by, reason, nonce);
	if (key == NULL || val == NULL ||
	    history_range(e, resource, &start, &slen, &end) == -1)
		t->failed = 1;
	else {
		etcd_op_put(t, t->success, key, klen, val, strlen(val), 0);
		etcd_op_range(t, t->success, start, slen, end, slen,
		    ETCD_RANGE_COUNT, 0);
		free(start);
		free(end);
	}
	free(key);
	free(val);
	return t->failed ? -1 : (int)t->success->n - 1;
}

/* Drops RESOURCE's oldest records beyond ETCD_HISTORY_KEEP when the count
 * op of history_ops() (response I of R, -1: none) found too many.  Best
 * effort. */
static void
history_prune(struct etcd *e, const char *resource,
    const struct etcd_resp *r, int i)
{
	struct lockstore_error	*err;
	struct etcd_resp	 rr;
	struct etcd_kv		 kv;
	json_object		*range;
	unsigned long long	 count;
	char			*start = NULL, *end = NULL, *last = NULL;
	char			*req = NULL;
	size_t			 slen, lastlen;

	if (i < 0 || (range = etcd_resp_range(r, (size_t)i)) == NULL ||
	    (count = etcd_num(range, "count")) <=
	    ETCD_HISTORY_KEEP + ETCD_HISTORY_SLACK)
		return;
	/* The newest of the records to drop. */
	if ((err = malloc(sizeof(*err))) == NULL ||
	    history_range(e, resource, &start, &slen, &end) == -1 ||
	    etcd_range_post(e, start, slen, end, slen, ETCD_RANGE_KEYS,
	    (long long)(count - ETCD_HISTORY_KEEP), &rr, "history", resource,
	    err) != LOCKSTORE_OK)
		goto out;
	if (etcd_range_kv(rr.root, count - ETCD_HISTORY_KEEP - 1, &kv) == 1) {
		/* just after it */
		if ((last = etcd_key_after(kv.key, kv.keylen, &lastlen)) !=
		    NULL)
			req = etcd_range_req(start, slen, last, lastlen, 0, 0);
		etcd_kv_free(&kv);
	}
	etcd_resp_free(&rr);
	if (req != NULL && etcd_post(e, "/v3/kv/deleterange", req, &rr, NULL,
	    "history", resource, err) == LOCKSTORE_OK)
		etcd_resp_free(&rr);
out:
	free(req);
	free(start);
	free(end);
	free(last);
	free(err);
}

/* A lock-delay for a holding that ends now, when the policy has one:
 * its lease and value, {"u":until_ms,"c":"break"|"expiry"}. */
static enum lockstore_status
delay_prepare(struct etcd *e, const char *resource, enum lockstore_end cause,
    unsigned long long *lease, char **val, struct lockstore_error *err)
{
	struct lockstore_policy	pol;
	enum lockstore_status	st;
	unsigned int		granted;

	*lease = 0;
	*val = NULL;
	store_policy(e->store, &pol);
	if (pol.lock_delay_ms == 0)
		return LOCKSTORE_OK;
	if ((st = etcd_lease_grant(e, pol.lock_delay_ms, lease, &granted,
	    resource, err)) != LOCKSTORE_OK)
		return st;
	/* The key lives for the whole granted TTL: say so. */
	if (asprintf(val, "{\"u\":%lld,\"c\":\"%s\"}", clock_wall_ms() +
	    granted, cause == LOCKSTORE_END_BREAK ? "break" : "expiry") == -1) {
		*val = NULL;
		etcd_lease_revoke(e, *lease);
		*lease = 0;
		return store_error_nomem(err);
	}
	return LOCKSTORE_OK;
}

/* Records the end of a lease etcd expired; see etcd.h. */
enum lockstore_status
etcd_end_expired(struct etcd *e, const char *resource,
    const struct etcd_kv *meta, int *ended, struct lockstore_error *err)
{
	struct etcd_meta	 md;
	struct etcd_keys	 k;
	struct etcd_txn		 t;
	struct etcd_resp	 r;
	enum lockstore_status	 st;
	unsigned long long	 dlease;
	json_object		*o;
	char			*dval, *holder;
	size_t			 n;
	int			 hi = -1;

	if (ended != NULL)
		*ended = 0;
	if ((st = delay_prepare(e, resource, LOCKSTORE_END_EXPIRY, &dlease,
	    &dval, err)) != LOCKSTORE_OK)
		return st;
	/* The lock key is gone: the holder is in the metadata. */
	etcd_meta_parse(meta->value, &md);
	o = meta->value != NULL ? json_tokener_parse(meta->value) : NULL;
	holder = etcd_member_bytes(o, "h", &n);
	json_object_put(o);
	etcd_txn_init(&t);
	if (etcd_keys_make(e, resource, &k) == -1)
		t.failed = 1;
	else {
		etcd_cmp(&t, "CREATE", k.l, k.llen, 0);
		etcd_cmp(&t, "MOD", meta->key, meta->keylen, meta->mod_rev);
		etcd_op_delete(&t, t.success, meta->key, meta->keylen, 0);
		etcd_op_delete(&t, t.success, k.x, k.xlen, 0);
		if (dval != NULL)
			etcd_op_put(&t, t.success, k.d, k.dlen, dval,
			    strlen(dval), dlease);
		/* A lease moved onto a plain lock wrote m/ later: "k". */
		hi = history_ops(e, &t, history_on(e), resource,
		    md.token != 0 ? md.token : meta->create_rev,
		    holder != NULL ? holder : "", md.since,
		    LOCKSTORE_END_EXPIRY, "", "", "");
		etcd_keys_free(&k);
	}
	st = etcd_txn_post(e, &t, &r, NULL, "expiry", resource, err);
	if (st == LOCKSTORE_OK) {
		if (r.succeeded) {
			STORE_COUNT(e->stats, expiries, 1);
			history_prune(e, resource, &r, hi);
			if (ended != NULL)
				*ended = 1;
			dlease = 0;
		}
		etcd_resp_free(&r);
	}
	etcd_lease_revoke(e, dlease);
	free(dval);
	free(holder);
	return st;
}

/* One end of a holding being decided: the call, and what it compares. */
struct end {
	struct etcd_keys	 k;
	const char		*resource, *client, *by, *reason, *what;
	enum lockstore_end	 how;
	unsigned long long	 mine;		/* the token to end */
	const char		*holder;	/* its holder */
	int			 leased;	/* a lease holding: with its
						   metadata and lease keys */
	long long		 since;
	char			*hkey;		/* its history key */
	size_t			 hlen;
	unsigned long long	 dlease;	/* a break's lock-delay */
	char			*dval;
	struct etcd_kv		 lock, meta, hist;	/* as last read */
	char			 nonce[ETCD_NONCE_SIZE];	/* this call's */
	int			 confirmed;	/* MINE was read, not a hint */
	int			 history;	/* the policy keeps one: one
						   snapshot for the whole call */
	int			 doubt;		/* an attempt on MINE may
						   have been applied */
};

/*
 * Whether X's end is decided by what was read (X's lock, meta and hist)
 * without a change: when in doubt whether our earlier attempt ended the
 * holding X->mine, when nothing is held, or when X's client does not
 * hold it.  1 with *ST (and *NEW_TOKEN) set, else 0.
 */
static int
end_settled(struct etcd *e, struct end *x,
    unsigned long long *new_token, enum lockstore_status *st,
    struct lockstore_error *err)
{
	const char	*h = x->hist.value;
	char		 tag[ETCD_NONCE_SIZE + 8];
	int		 ours;

	if (x->doubt && (x->lock.key == NULL || x->lock.create_rev != x->mine)) {
		/* The holding is over: by our unknown attempt if its record
		 * carries our nonce.  Else, when we had read the holding as
		 * the client's: an unlock unless the record tells of a break
		 * or expiry (or there is none: history is off). */
		snprintf(tag, sizeof(tag), "\"n\":\"%s\"", x->nonce);
		if (h != NULL && strstr(h, tag) != NULL)
			ours = 1;
		else if (!x->confirmed) {
			/* Not applied (history is on: it would have left
			 * its record): judge what was read. */
			x->doubt = 0;
			return end_settled(e, x, new_token, st, err);
		} else if (x->how == LOCKSTORE_END_UNLOCK)
			ours = h == NULL || strstr(h, "\"w\":\"unlock\"") != NULL;
		else
			ours = h != NULL && strstr(h, "\"w\":\"break\"") != NULL;
		if (ours && x->how == LOCKSTORE_END_BREAK)
			*new_token = x->hist.mod_rev;
		*st = ours ? LOCKSTORE_OK : store_error_not_locked(err);
		return 1;
	}
	if (x->lock.key == NULL)
		*st = etcd_not_locked(e, x->resource, &x->meta, err);
	else if (x->how == LOCKSTORE_END_UNLOCK &&
	    strcmp(x->lock.value, x->client) != 0)
		*st = store_error_not_owner(err, x->lock.value, x->client);
	else
		return 0;
	return 1;
}

/* Takes the holding read into X (lock, meta) as the one to end. */
static enum lockstore_status
end_learn(struct etcd *e, struct end *x, struct lockstore_lock_info *broken,
    struct lockstore_error *err)
{
	struct etcd_meta	md;

	x->mine = x->lock.create_rev;
	x->holder = x->lock.value;	/* the name ends at the NUL */
	x->leased = x->lock.lease != 0 || x->meta.key != NULL;
	x->confirmed = 1;
	etcd_holding_meta(&x->lock, &x->meta, &md);
	x->since = md.since;
	if (broken != NULL)
		etcd_fill_info(broken, x->resource, strlen(x->resource),
		    &x->lock, &x->meta);
	if (x->how == LOCKSTORE_END_BREAK && x->dval == NULL)
		return delay_prepare(e, x->resource, x->how, &x->dlease,
		    &x->dval, err);
	return LOCKSTORE_OK;
}

/*
 * The transaction that ends X's holding if it still stands (its token is
 * the lock key's create_revision: no other holding has it, and a
 * holding's holder never changes): deletes it (the lock key with prev_kv,
 * for its lease), writes the history record and a break's lock-delay.
 * Posts it into R; *HI: the history count's index.  (No reads when it
 * finds the holding changed: they would make every request larger, and
 * etcd writes each one whole into its log.)
 */
static enum lockstore_status
end_txn(struct etcd *e, struct end *x, struct etcd_resp *r, int *hi,
    struct lockstore_error *err)
{
	struct etcd_keys	*k = &x->k;
	struct etcd_txn		 t;
	enum lockstore_status	 st;
	int			 unknown;

	free(x->hkey);
	if ((x->hkey = etcd_history_key(e, x->resource, x->mine, &x->hlen)) ==
	    NULL)
		return store_error_nomem(err);
	etcd_txn_init(&t);
	etcd_cmp(&t, "CREATE", k->l, k->llen, x->mine);
	etcd_op_delete(&t, t.success, k->l, k->llen, 1);
	if (x->leased) {
		etcd_op_delete(&t, t.success, k->m, k->mlen, 0);
		etcd_op_delete(&t, t.success, k->x, k->xlen, 0);
	}
	if (x->dval != NULL)
		etcd_op_put(&t, t.success, k->d, k->dlen, x->dval,
		    strlen(x->dval), x->dlease);
	*hi = history_ops(e, &t, x->history, x->resource, x->mine,
	    x->holder, x->since, x->how, x->by, x->reason, x->nonce);
	st = etcd_txn_post(e, &t, r, &unknown, x->what, x->resource, err);
	x->doubt |= unknown;
	return st;
}

/*
 * Ends RESOURCE's holding in one transaction that compares it: an unlock
 * by CLIENT, or a break by BY for REASON (filling BROKEN and *NEW_TOKEN,
 * and putting the lock-delay); WHAT names it in errors.  An unlock of a
 * holding this lockd granted to CLIENT knows its token (etcd_hint.c) and
 * sends the transaction at once; otherwise, and whenever the transaction
 * finds the holding changed, one read first.
 */
static enum lockstore_status
end_holding(struct etcd *e, struct end *x, struct lockstore_lock_info *broken,
    unsigned long long *new_token, struct lockstore_error *err)
{
	struct etcd_meta	 md;
	struct etcd_resp	 r;
	enum lockstore_status	 st;
	int			 tries, hi = -1;

	if (etcd_keys_make(e, x->resource, &x->k) == -1)
		return store_error_nomem(err);
	etcd_nonce(e, x->nonce);
	/* A hint needs the history record to settle a doubt. */
	x->history = history_on(e);
	if (x->how == LOCKSTORE_END_UNLOCK && x->history &&
	    etcd_hint_get(e, x->resource, x->client, &x->mine, &md)) {
		x->holder = x->client;
		x->since = md.since;
		x->leased = md.ttl_ms > 0;
	} else if ((st = etcd_read(e, x->resource, NULL, 0, &x->lock,
	    &x->meta, NULL, x->what, err)) != LOCKSTORE_OK ||
	    end_settled(e, x, new_token, &st, err) ||
	    (st = end_learn(e, x, broken, err)) != LOCKSTORE_OK)
		goto out;
	for (tries = 0; tries < ETCD_RETRIES; tries++) {
		if ((st = end_txn(e, x, &r, &hi, err)) != LOCKSTORE_OK)
			goto out;
		if (r.succeeded) {
			if (new_token != NULL)
				*new_token = r.revision;
			x->dlease = 0;	/* in use */
			history_prune(e, x->resource, &r, hi);
			etcd_lease_revoke(e, etcd_resp_deleted_lease(&r, 0));
			etcd_resp_free(&r);
			etcd_hint_drop(e, x->resource, x->mine);
			goto out;
		}
		etcd_resp_free(&r);
		/* Changed (or a hint out of date): what is there now, and
		 * the record of the end of X's holding, in one read. */
		etcd_kv_free(&x->lock);
		etcd_kv_free(&x->meta);
		etcd_kv_free(&x->hist);
		if ((st = etcd_read(e, x->resource, x->hkey, x->hlen, &x->lock,
		    &x->meta, &x->hist, x->what, err)) != LOCKSTORE_OK ||
		    end_settled(e, x, new_token, &st, err) ||
		    (st = end_learn(e, x, broken, err)) != LOCKSTORE_OK)
			goto out;
	}
	st = store_error(err, LOCKSTORE_STORAGE, EAGAIN, "Storage error: the "
	    "lock for '%s' changes too fast to be %s", x->resource,
	    x->how == LOCKSTORE_END_UNLOCK ? "released" : "broken");
out:
	/* A hint that proved out of date goes. */
	if (x->lock.key == NULL || x->lock.create_rev != x->mine)
		etcd_hint_drop(e, x->resource, x->mine);
	etcd_kv_free(&x->lock);
	etcd_kv_free(&x->meta);
	etcd_kv_free(&x->hist);
	etcd_lease_revoke(e, x->dlease);
	free(x->dval);
	free(x->hkey);
	etcd_keys_free(&x->k);
	return st;
}

/* Releases CLIENT's lock on RESOURCE; see lockstore_unlock(). */
enum lockstore_status
etcd_unlock(void *impl, const char *resource, const char *client,
    struct lockstore_error *err)
{
	struct end	x = { .resource = resource, .client = client, .by = "",
			    .reason = "", .what = "unlock",
			    .how = LOCKSTORE_END_UNLOCK };

	return end_holding(impl, &x, NULL, NULL, err);
}

/* Breaks RESOURCE's lock for an operator; see lockstore_break(). */
enum lockstore_status
etcd_break(void *impl, const char *resource, const char *by,
    const char *reason, struct lockstore_lock_info *broken,
    unsigned long long *new_token, struct lockstore_error *err)
{
	struct end	x = { .resource = resource, .by = by,
			    .reason = reason, .what = "break",
			    .how = LOCKSTORE_END_BREAK };

	*new_token = 0;
	return end_holding(impl, &x, broken, new_token, err);
}

/* A base64 member of the history record O, decoded into BUF. */
static void
record_name(json_object *o, const char *member, char *buf, size_t size)
{
	char	*s;
	size_t	 n;

	s = etcd_member_bytes(o, member, &n);
	snprintf(buf, size, "%s", s != NULL ? s : "");
	free(s);
}

/* Fills E from history record KV; -1 if it is not one. */
static int
record_parse(const struct etcd_kv *kv, const char *resource,
    struct lockstore_history_entry *e)
{
	json_object	*o, *v;
	const char	*w;
	size_t		 len;

	memset(e, 0, sizeof(*e));
	len = strlen(resource);
	if (kv->keylen < 20 || (o = json_tokener_parse(kv->value)) == NULL)
		return -1;
	snprintf(e->resource, sizeof(e->resource), "%.*s",
	    (int)(len > LOCKSTORE_NAME_MAX ? LOCKSTORE_NAME_MAX : len),
	    resource);
	e->token = strtoull(kv->key + kv->keylen - 20, NULL, 10);
	record_name(o, "h", e->holder, sizeof(e->holder));
	record_name(o, "b", e->by, sizeof(e->by));
	record_name(o, "r", e->reason, sizeof(e->reason));
	e->since = (long long)etcd_num(o, "s");
	e->until_ms = (long long)etcd_num(o, "u");
	w = json_object_object_get_ex(o, "w", &v) ?
	    json_object_get_string(v) : "";
	e->how = strcmp(w, "break") == 0 ? LOCKSTORE_END_BREAK :
	    strcmp(w, "expiry") == 0 ? LOCKSTORE_END_EXPIRY :
	    LOCKSTORE_END_UNLOCK;
	json_object_put(o);
	return 0;
}

/* The ended holdings of RESOURCE, newest first. */
enum lockstore_status
etcd_history(void *impl, const char *resource, size_t limit,
    lockstore_history_fn fn, void *arg, struct lockstore_error *err)
{
	struct etcd			*e = impl;
	struct lockstore_history_entry	*he;
	struct etcd_resp		 r;
	struct etcd_kv			 kv;
	enum lockstore_status		 st;
	char				*start, *end;
	size_t				 slen, j;
	int				 rc;

	if (history_range(e, resource, &start, &slen, &end) == -1)
		return store_error_nomem(err);
	st = etcd_range_post(e, start, slen, end, slen, ETCD_RANGE_DESCEND,
	    (long long)limit, &r, "history", resource, err);
	free(start);
	free(end);
	if (st != LOCKSTORE_OK)
		return st;
	if ((he = malloc(sizeof(*he))) == NULL) {
		etcd_resp_free(&r);
		return store_error_nomem(err);
	}
	for (j = 0; j < limit; j++) {
		if ((rc = etcd_range_kv(r.root, j, &kv)) != 1) {
			if (rc == -1)
				st = store_error(err, LOCKSTORE_STORAGE, EIO,
				    "Storage error: etcd history for '%s': a "
				    "malformed answer", resource);
			break;
		}
		rc = record_parse(&kv, resource, he);
		etcd_kv_free(&kv);
		if (rc == 0 && fn(he, arg) != 0)
			break;
	}
	free(he);
	etcd_resp_free(&r);
	return st;
}

/*
 * One step of the sweep: the next ETCD_SWEEP_BATCH lease holdings (the
 * x/ keys after AFTER), and which of them etcd expired.  Returns the
 * number ended, or -1; sets *MORE when keys remain after *LAST (malloc'd).
 */
static int
sweep_step(struct etcd *e, const char *after, size_t afterlen, char **last,
    size_t *lastlen, int *more, struct lockstore_error *err)
{
	struct etcd_keys	 k;
	struct etcd_txn		 t;
	struct etcd_resp	 r, rr;
	struct etcd_kv		 xk[ETCD_SWEEP_BATCH], lock, meta;
	struct etcd_kv		*kvs[] = { &lock, &meta };
	char			*base, *end, *from;
	size_t			 blen, elen, flen, n = 0, j;
	int			 ended, count = 0, failed = 0, rc;

	*last = NULL;
	*more = 0;
	if ((base = etcd_key(e, ETCD_NS_LEASED, "", &blen)) == NULL)
		return -1;
	end = etcd_prefix_end(base, blen, &elen);
	if (after != NULL)	/* just after it */
		from = etcd_key_after(after, afterlen, &flen);
	else {
		from = base;
		flen = blen;
		base = NULL;
	}
	rc = end == NULL || from == NULL ? store_error_nomem(err) :
	    etcd_range_post(e, from, flen, end, elen, ETCD_RANGE_KEYS,
	    ETCD_SWEEP_BATCH, &r, "expiry sweep", NULL, err);
	free(base);
	free(end);
	free(from);
	if (rc != LOCKSTORE_OK)
		return -1;
	/* The names follow P "x/" in the keys. */
	*more = etcd_range_more(r.root);
	for (n = 0; n < ETCD_SWEEP_BATCH &&
	    etcd_range_kv(r.root, n, &xk[n]) == 1; n++)
		;
	etcd_resp_free(&r);
	if (n == 0)
		return 0;
	/* One read of every lock and metadata key. */
	etcd_txn_init(&t);
	for (j = 0; j < n; j++) {
		if (etcd_keys_make(e, xk[j].key + e->prefixlen + 2, &k) == -1) {
			t.failed = 1;
			continue;
		}
		etcd_op_range(&t, t.success, k.l, k.llen, NULL, 0, 0, 0);
		etcd_op_range(&t, t.success, k.m, k.mlen, NULL, 0, 0, 0);
		etcd_keys_free(&k);
	}
	rc = etcd_txn_post(e, &t, &rr, NULL, "expiry sweep", NULL, err);
	for (j = 0; rc == LOCKSTORE_OK && j < n; j++) {
		if (etcd_resp_kvs(&rr, 2 * j, kvs, 2) == -1)
			continue;
		if (lock.key == NULL && meta.key != NULL) {
			if (etcd_end_expired(e, xk[j].key + e->prefixlen + 2,
			    &meta, &ended, err) != LOCKSTORE_OK)
				failed = 1;
			else
				count += ended;
		}
		etcd_kv_free(&lock);
		etcd_kv_free(&meta);
	}
	if (rc == LOCKSTORE_OK)
		etcd_resp_free(&rr);
	*last = xk[n - 1].key;
	*lastlen = xk[n - 1].keylen;
	xk[n - 1].key = NULL;
	for (j = 0; j < n; j++)
		etcd_kv_free(&xk[j]);
	return rc != LOCKSTORE_OK || (failed && count == 0) ? -1 : count;
}

/* Counts the lock keys (for metrics), at the start of a sweep pass. */
static void
count_held(struct etcd *e)
{
	struct lockstore_error	*err;
	struct etcd_resp	 r;
	char			*base, *end = NULL;
	size_t			 blen, elen;

	if ((err = malloc(sizeof(*err))) == NULL)
		return;
	if ((base = etcd_key(e, ETCD_NS_LOCK, "", &blen)) != NULL &&
	    (end = etcd_prefix_end(base, blen, &elen)) != NULL &&
	    etcd_range_post(e, base, blen, end, elen, ETCD_RANGE_COUNT, 0, &r,
	    "count", NULL, err) == LOCKSTORE_OK) {
		__atomic_store_n(&e->held, (long long)etcd_num(r.root, "count"),
		    __ATOMIC_RELAXED);
		etcd_resp_free(&r);
	}
	free(base);
	free(end);
	free(err);
}

/* Releases expired leases; see lockstore_expire(). */
int
etcd_expire(void *impl, struct lockstore_error *err)
{
	struct etcd	*e = impl;
	char		*after, *last = NULL;
	size_t		 afterlen, lastlen = 0;
	long long	 now = clock_mono_ms();
	int		 n, more = 0;

	pthread_mutex_lock(&e->sweeplock);
	if (e->sweeping || (e->sweep_after == NULL && now < e->sweep_next)) {
		pthread_mutex_unlock(&e->sweeplock);
		return 0;
	}
	e->sweeping = 1;
	after = e->sweep_after;
	afterlen = e->sweep_afterlen;
	e->sweep_after = NULL;
	pthread_mutex_unlock(&e->sweeplock);
	if (after == NULL && now >= e->count_next) {
		e->count_next = now + ETCD_COUNT_MS;
		count_held(e);
	}
	n = sweep_step(e, after, afterlen, &last, &lastlen, &more, err);
	free(after);
	pthread_mutex_lock(&e->sweeplock);
	if (n != -1 && more && last != NULL) {
		e->sweep_after = last;
		e->sweep_afterlen = lastlen;
		last = NULL;
	} else
		e->sweep_next = now + ETCD_SWEEP_MS;
	e->sweeping = 0;
	pthread_mutex_unlock(&e->sweeplock);
	free(last);
	return n;
}
