/* SPDX-License-Identifier: MIT */
/*
 * The etcd backend: locks kept in an etcd v3 cluster, shared by every
 * lockd that uses the same cluster and prefix (key layout in etcd.h).
 *
 * A lock is one transaction: if the lock key, the metadata key and the
 * lock-delay key of the resource do not exist (create_revision == 0), put
 * the holder and the metadata; otherwise read them, for the documented
 * message.  The token is the revision of that transaction: etcd's
 * revisions grow with every change of the cluster, so a later grant of
 * any resource has a larger one.  No lease is attached to a plain lock:
 * it stays until unlocked or broken, whatever happens to lockd.
 *
 * An unlock is one transaction: if the lock key still has the token as
 * create_revision, delete it (and a lease holding's metadata) and write
 * the history record (etcd_end.c).  Holder and token come from this
 * lockd's own grant (etcd_hint.c), or from a read when it has none.
 *
 * Unknown outcomes: when a request timed out or its connection broke
 * after it went out, etcd may have applied it; etcd_post() then sends it
 * again (to the next endpoint) and says so.  A lock whose repeat finds
 * the client itself holding, with the metadata of this very attempt (a
 * nonce in it), is the client's own grant: a success; a holding that the
 * client had before stays "held by itself".  An unlock whose repeat finds
 * the holding gone is a success if the history record carries this
 * call's nonce, or, for a holding it had read as the client's, unless
 * the history says it was broken or expired.  Answers without such doubt stay exact: a second plain
 * unlock is "Resource not locked".
 */
#include "config.h"

#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "etcd.h"

/* Fills G with a holding of TOKEN whose metadata is MD. */
void
etcd_grant(struct lockstore_grant *g, unsigned long long token,
    const struct etcd_meta *md)
{
	g->token = token;
	g->since = md->since;
	g->ttl_ms = md->ttl_ms;
	g->expires_ms = md->expires_ms;
}

/* Not locked; records the end of an expired lease first. */
enum lockstore_status
etcd_not_locked(struct etcd *e, const char *resource,
    const struct etcd_kv *meta, struct lockstore_error *err)
{
	enum lockstore_status	st;

	if (meta->key != NULL && (st = etcd_end_expired(e, resource, meta,
	    NULL, err)) != LOCKSTORE_OK)
		return st;
	return store_error_not_locked(err);
}

/*
 * The answer to a lock attempt that found the resource held (LOCK, with
 * metadata META): HELD, or for CLIENT itself our own grant whose answer
 * was lost (its metadata carries NONCE, the attempt's), or a reacquire
 * (ACQUIRE; a TTL_MS then renews the lease), or ETCD_CHANGED.
 */
static int
held(struct etcd *e, const char *resource, const char *client, int acquire,
    unsigned int ttl_ms, const char *nonce, const struct etcd_kv *lock,
    const struct etcd_kv *meta, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct etcd_meta	md;
	int			ours;

	if (strcmp(lock->value, client) != 0)
		return store_error_held(err, lock->value);
	ours = etcd_holding_meta(lock, meta, &md) &&
	    strcmp(md.nonce, nonce) == 0;
	if (!acquire && !ours)
		return store_error_held(err, lock->value);
	if (acquire && !ours && ttl_ms > 0)
		return etcd_lease_move(e, resource, client, lock, meta, ttl_ms,
		    g, err);
	etcd_grant(g, lock->create_rev, &md);
	g->reacquired = !ours;
	etcd_hint_put(e, resource, client, g->token, &md);
	return LOCKSTORE_OK;
}

/* The state of one etcd_take(). */
struct take {
	struct etcd_keys	 k;
	struct etcd_meta	 md;		/* of the last attempt */
	unsigned long long	 lease;		/* ours, 0: none or in use */
};

/* Sends one lock transaction for CLIENT and fills R with its answer. */
static enum lockstore_status
take_txn(struct etcd *e, struct take *tk, const char *resource,
    const char *client, unsigned int ttl_ms, const struct store_block *blk,
    struct etcd_resp *r, struct lockstore_error *err)
{
	struct etcd_keys	*k = &tk->k;
	struct etcd_txn		 t;
	enum lockstore_status	 st;
	long long		 at;
	char			*val;
	size_t			 vlen;

	/* The lease's TTL runs from its grant: so does "expires". */
	if (ttl_ms > 0 && tk->lease == 0) {
		at = clock_wall_ms();
		if ((st = etcd_lease_grant(e, ttl_ms, &tk->lease,
		    &tk->md.ttl_ms, resource, err)) != LOCKSTORE_OK)
			return st;
		tk->md.expires_ms = at + tk->md.ttl_ms;
	}
	tk->md.since = (long long)time(NULL);
	/* Tells this attempt's grant from any other, should its answer be
	 * lost. */
	etcd_nonce(e, tk->md.nonce);
	/* A plain lock keeps its metadata in its own value; a lease's must
	 * outlive the lock key, which etcd deletes when the lease ends. */
	val = tk->lease != 0 ? etcd_meta_encode(&tk->md, client) :
	    etcd_lock_value(&tk->md, client, &vlen);
	if (val == NULL)
		return store_error_nomem(err);
	etcd_txn_init(&t);
	etcd_cmp(&t, "CREATE", k->l, k->llen, 0);
	etcd_cmp(&t, "CREATE", k->m, k->mlen, 0);
	etcd_cmp(&t, "CREATE", k->d, k->dlen, 0);
	if (tk->lease != 0) {
		etcd_op_put(&t, t.success, k->l, k->llen, client,
		    strlen(client), tk->lease);
		etcd_op_put(&t, t.success, k->m, k->mlen, val, strlen(val), 0);
		etcd_op_put(&t, t.success, k->x, k->xlen, "", 0, 0);
	} else
		etcd_op_put(&t, t.success, k->l, k->llen, val, vlen, 0);
	etcd_op_range(&t, t.failure, k->l, k->llen, NULL, 0, 0, 0);
	etcd_op_range(&t, t.failure, k->m, k->mlen, NULL, 0, 0, 0);
	etcd_op_range(&t, t.failure, k->d, k->dlen, NULL, 0, 0, 0);
	/* A waiting call is served in the order of etcd's queue. */
	if (blk->fifo || blk->ticket != NULL)
		etcd_queue_txn(e, &t, resource, blk);
	st = etcd_txn_post(e, &t, r, NULL, "lock", resource, err);
	free(val);
	return st;
}

/*
 * The answer to a lock transaction whose compares failed, from what R
 * read: a grant (ours, its answer lost; or a reacquire), HELD or DELAYED
 * (filling BLK), or ETCD_CHANGED to look again.
 */
static int
take_refused(struct etcd *e, struct take *tk, const char *resource,
    const char *client, int acquire, unsigned int ttl_ms,
    const struct etcd_resp *r, struct lockstore_grant *g,
    struct store_block *blk, struct lockstore_error *err)
{
	struct etcd_kv		 lock, meta, delay;
	struct etcd_kv		*kvs[] = { &lock, &meta, &delay };
	enum lockstore_end	 cause;
	long long		 until;
	int			 st, free_lock;

	if (etcd_resp_kvs(r, 0, kvs, 3) == -1)
		return store_error(err, LOCKSTORE_STORAGE, EIO,
		    "Storage error: etcd lock for '%s': a malformed answer",
		    resource);
	blk->revision = r->revision;
	free_lock = lock.key == NULL && meta.key == NULL && delay.key == NULL;
	if (lock.key != NULL && tk->lease != 0 && lock.lease == tk->lease) {
		/* Our own grant, whose answer was lost. */
		tk->lease = 0;
		etcd_grant(g, lock.create_rev, &tk->md);
		etcd_hint_put(e, resource, client, g->token, &tk->md);
		st = LOCKSTORE_OK;
	} else if (lock.key != NULL) {
		st = held(e, resource, client, acquire, ttl_ms, tk->md.nonce,
		    &lock, &meta, g, err);
		if (st == LOCKSTORE_HELD) {
			blk->key = lock.key;
			blk->keylen = lock.keylen;
			lock.key = NULL;
		}
	} else if (meta.key != NULL) {
		/* A lease etcd expired: record its end, look again. */
		st = etcd_end_expired(e, resource, &meta, NULL, err);
		if (st == LOCKSTORE_OK)
			st = ETCD_CHANGED;
	} else if (delay.key != NULL) {
		etcd_delay_decode(&delay, &until, &cause);
		st = store_error_delayed(err, until, cause);
		blk->key = delay.key;
		blk->keylen = delay.keylen;
		delay.key = NULL;
	} else
		st = ETCD_CHANGED;
	if (blk->fifo || blk->ticket != NULL)
		st = etcd_queue_refused(e, r, resource, free_lock, blk, st,
		    err);
	etcd_kv_free(&lock);
	etcd_kv_free(&meta);
	etcd_kv_free(&delay);
	return st;
}

/* One lock attempt; see store_take_fn in store_impl.h. */
static enum lockstore_status
etcd_take(void *impl, const char *resource, const char *client,
    int acquire, unsigned int ttl_ms, struct lockstore_grant *g,
    struct store_block *blk, struct lockstore_error *err)
{
	struct etcd		*e = impl;
	struct take		 tk;
	struct etcd_resp	 r;
	int			 st, tries;

	memset(&tk, 0, sizeof(tk));
	if (etcd_keys_make(e, resource, &tk.k) == -1)
		return store_error_nomem(err);
	for (tries = 0; tries < ETCD_RETRIES; tries++) {
		if ((st = take_txn(e, &tk, resource, client, ttl_ms, blk, &r,
		    err)) != LOCKSTORE_OK)
			goto out;
		if (r.succeeded) {
			etcd_grant(g, r.revision, &tk.md);
			etcd_hint_put(e, resource, client, g->token, &tk.md);
			tk.lease = 0;	/* in use */
			etcd_queue_granted(e, blk);
			etcd_resp_free(&r);
			goto out;
		}
		st = take_refused(e, &tk, resource, client, acquire, ttl_ms,
		    &r, g, blk, err);
		etcd_resp_free(&r);
		if (st != ETCD_CHANGED)
			goto out;
	}
	st = store_error(err, LOCKSTORE_STORAGE, EAGAIN, "Storage error: the "
	    "lock for '%s' changes too fast to be taken", resource);
out:
	etcd_lease_revoke(e, tk.lease);
	etcd_keys_free(&tk.k);
	return (enum lockstore_status)st;
}

/* Reads RESOURCE's holding; see etcd.h. */
enum lockstore_status
etcd_read(struct etcd *e, const char *resource, const char *hkey,
    size_t hlen, struct etcd_kv *lock, struct etcd_kv *meta,
    struct etcd_kv *hist, const char *what, struct lockstore_error *err)
{
	struct etcd_kv		*kvs[] = { lock, meta, hist };
	struct etcd_keys	 k;
	struct etcd_txn		 t;
	struct etcd_resp	 r;
	enum lockstore_status	 st;

	memset(lock, 0, sizeof(*lock));
	memset(meta, 0, sizeof(*meta));
	if (hist != NULL)
		memset(hist, 0, sizeof(*hist));
	if (etcd_keys_make(e, resource, &k) == -1)
		return store_error_nomem(err);
	etcd_txn_init(&t);
	etcd_op_range(&t, t.success, k.l, k.llen, NULL, 0, 0, 0);
	etcd_op_range(&t, t.success, k.m, k.mlen, NULL, 0, 0, 0);
	if (hkey != NULL)
		etcd_op_range(&t, t.success, hkey, hlen, NULL, 0, 0, 0);
	st = etcd_txn_post(e, &t, &r, NULL, what, resource, err);
	etcd_keys_free(&k);
	if (st != LOCKSTORE_OK)
		return st;
	if (etcd_resp_kvs(&r, 0, kvs, hkey != NULL ? 3 : 2) == -1)
		st = store_error(err, LOCKSTORE_STORAGE, EIO, "Storage error: "
		    "etcd %s for '%s': a malformed answer", what, resource);
	etcd_resp_free(&r);
	return st;
}

/* Fills INFO from the lock and metadata keys. */
void
etcd_fill_info(struct lockstore_lock_info *info, const char *resource,
    size_t rlen, const struct etcd_kv *lock, const struct etcd_kv *meta)
{
	struct etcd_meta	md;

	memset(info, 0, sizeof(*info));
	snprintf(info->resource, sizeof(info->resource), "%.*s",
	    (int)(rlen > LOCKSTORE_NAME_MAX ? LOCKSTORE_NAME_MAX : rlen),
	    resource);
	snprintf(info->holder, sizeof(info->holder), "%s", lock->value);
	info->token = lock->create_rev;
	if (etcd_holding_meta(lock, meta, &md)) {
		info->since = md.since;
		info->ttl_ms = md.ttl_ms;
		info->expires_ms = md.expires_ms;
	}
}

/* Whether RESOURCE is held, and by whom. */
static enum lockstore_status
etcd_inspect(void *impl, const char *resource, int *heldp,
    struct lockstore_lock_info *info, struct lockstore_error *err)
{
	struct etcd		*e = impl;
	struct etcd_kv		 lock, meta, delay;
	enum lockstore_status	 st;
	struct lockstore_policy	 pol;
	char			*dkey;
	size_t			 dlen;

	*heldp = 0;
	memset(info, 0, sizeof(*info));
	if ((dkey = etcd_key(e, ETCD_NS_DELAY, resource, &dlen)) == NULL)
		return store_error_nomem(err);
	st = etcd_read(e, resource, dkey, dlen, &lock, &meta, &delay,
	    "status", err);
	free(dkey);
	if (st != LOCKSTORE_OK)
		return st;
	if (lock.key != NULL) {
		etcd_fill_info(info, resource, strlen(resource), &lock, &meta);
		*heldp = 1;
	} else {
		snprintf(info->resource, sizeof(info->resource), "%s",
		    resource);
		store_policy(e->store, &pol);
		if (delay.key != NULL)
			etcd_delay_decode(&delay, &info->delay_until_ms,
			    &info->delay_cause);
		else if (meta.key != NULL && pol.lock_delay_ms > 0) {
			/* A lease etcd expired, its end not yet recorded: the
			 * next taker records it and is held off from then. */
			info->delay_until_ms = clock_wall_ms() +
			    (pol.lock_delay_ms + 999) / 1000 * 1000;
			info->delay_cause = LOCKSTORE_END_EXPIRY;
		}
	}
	etcd_kv_free(&lock);
	etcd_kv_free(&meta);
	etcd_kv_free(&delay);
	return st;
}

static enum lockstore_status
etcd_health(void *impl, struct lockstore_error *err)
{
	struct etcd		*e = impl;
	struct etcd_resp	 r;
	enum lockstore_status	 st;
	json_object		*alarms, *a, *kind;
	char			*key;
	size_t			 klen;

	/* A linearizable read: only a member that reaches a quorum
	 * answers it. */
	if ((key = etcd_key(e, 'z', "health", &klen)) == NULL)
		return store_error_nomem(err);
	st = etcd_range_post(e, key, klen, NULL, 0, ETCD_RANGE_COUNT, 0, &r,
	    "health probe", NULL, err);
	free(key);
	if (st != LOCKSTORE_OK)
		return st;
	etcd_resp_free(&r);
	/* A cluster out of space or corrupt answers reads, not writes. */
	st = etcd_post_member(e, "/v3/maintenance/alarm", "action", "GET", &r,
	    "health probe", NULL, err);
	if (st != LOCKSTORE_OK)
		return st;
	if (json_object_object_get_ex(r.root, "alarms", &alarms) &&
	    json_object_is_type(alarms, json_type_array) &&
	    json_object_array_length(alarms) > 0) {
		a = json_object_array_get_idx(alarms, 0);
		st = store_error(err, LOCKSTORE_STORAGE, EIO, "Storage error: "
		    "etcd health probe: the cluster raised the alarm %s",
		    json_object_object_get_ex(a, "alarm", &kind) ?
		    json_object_get_string(kind) : "(unknown)");
	}
	etcd_resp_free(&r);
	return st;
}

static void
etcd_close(void *impl)
{
	struct etcd	*e = impl;
	size_t		 i;

	etcd_queue_free(e->queue);
	etcd_http_free(e);
	pthread_mutex_destroy(&e->sweeplock);
	for (i = 0; i < ETCD_HINT_LOCKS; i++)
		pthread_mutex_destroy(&e->hintlock[i]);
	etcd_hint_free(e);
	free(e->hints);
	free(e->sweep_after);
	free(e->prefix);
	free(e);
}

/* Locks held as of the expiry sweep's last count, or -1. */
static long long
etcd_count_held(void *impl)
{
	struct etcd	*e = impl;

	return __atomic_load_n(&e->held, __ATOMIC_RELAXED);
}

static const struct lockstore_ops etcd_ops = {
	.take = etcd_take,
	.wait = etcd_wait,
	.unlock = etcd_unlock,
	.inspect = etcd_inspect,
	.list = etcd_list,
	.enqueue = etcd_enqueue,
	.dequeue = etcd_dequeue,
	.renew = etcd_renew,
	.brk = etcd_break,
	.history = etcd_history,
	.expire = etcd_queue_expire,
	.health = etcd_health,
	.count_held = etcd_count_held,
	.close = etcd_close
};

/* Opens the lock store kept in etcd. */
enum lockstore_status
lockstore_open_etcd(struct lockstore **storep,
    const struct lockstore_etcd_config *cfg, struct lockstore_error *err)
{
	struct etcd			*e;
	enum lockstore_status		 st;
	const char			*prefix;
	size_t				 i;

	*storep = NULL;
	if ((st = lockstore_etcd_check(cfg, err)) != LOCKSTORE_OK)
		return st;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return store_error(err, LOCKSTORE_STORAGE, EIO, "Storage "
		    "error: etcd: cannot initialize libcurl");
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return store_error_nomem(err);
	pthread_mutex_init(&e->sweeplock, NULL);
	for (i = 0; i < ETCD_HINT_LOCKS; i++)
		pthread_mutex_init(&e->hintlock[i], NULL);
	e->held = -1;
	if (getrandom(&e->nonce_base, sizeof(e->nonce_base), 0) !=
	    (ssize_t)sizeof(e->nonce_base))
		e->nonce_base = (unsigned long long)clock_wall_ms() ^
		    ((unsigned long long)getpid() << 40);
	prefix = cfg->prefix != NULL ? cfg->prefix : LOCKSTORE_ETCD_PREFIX;
	e->prefix = strdup(prefix);
	e->prefixlen = strlen(prefix);
	e->hints = calloc(ETCD_HINT_SLOTS, sizeof(*e->hints));
	if ((st = etcd_http_init(e, cfg, err)) != LOCKSTORE_OK ||
	    e->prefix == NULL || e->hints == NULL ||
	    (e->queue = etcd_queue_new()) == NULL ||
	    (*storep = store_new(&etcd_ops, e)) == NULL) {
		etcd_close(e);
		return st != LOCKSTORE_OK ? st : store_error_nomem(err);
	}
	e->store = *storep;
	e->stats = store_stats(*storep);
	return LOCKSTORE_OK;
}
