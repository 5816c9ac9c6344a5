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
 * An unlock reads the holding (the holder and its token) and then is one
 * transaction: if the lock key still has value == client and the token as
 * create_revision, delete the lock and metadata and write the history
 * record.
 *
 * Unknown outcomes: when a request timed out or its connection broke
 * after it went out, etcd may have applied it; etcd_post() then sends it
 * again (to the next endpoint) and says so.  A lock whose repeat finds
 * the client itself holding, with the metadata of this very attempt (a
 * nonce in it), is the client's own grant: a success; a holding that the
 * client had before stays "held by itself".  An unlock whose repeat finds
 * the holding gone is a success (unless the history says it was broken
 * or expired).  Answers without such doubt stay exact: a second plain
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
#include "store_impl.h"

/* "Storage error: out of memory". */
enum lockstore_status
etcd_nomem(struct lockstore_error *err)
{
	return store_error(err, LOCKSTORE_STORAGE, ENOMEM,
	    "Storage error: out of memory");
}

/* The wall clock in milliseconds since the epoch. */
long long
etcd_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The monotonic clock in milliseconds. */
long long
etcd_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The policy in force. */
void
etcd_policy(struct etcd *e, struct lockstore_policy *p)
{
	pthread_mutex_lock(&e->polock);
	*p = e->policy;
	pthread_mutex_unlock(&e->polock);
}

static void
etcd_set_policy(void *impl, const struct lockstore_policy *p)
{
	struct etcd	*e = impl;

	pthread_mutex_lock(&e->polock);
	e->policy = *p;
	pthread_mutex_unlock(&e->polock);
}

/* The refusal during a lock-delay, worded as the directory's. */
enum lockstore_status
etcd_delayed(struct lockstore_error *err, long long until_ms,
    enum lockstore_end cause)
{
	struct tm	tm;
	time_t		secs = (time_t)((until_ms + 999) / 1000);
	char		when[64];

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return store_error(err, LOCKSTORE_DELAYED, 0, "Resource held off "
	    "until %s after %s (lock-delay)", when,
	    cause == LOCKSTORE_END_BREAK ? "a break" : "an expired lease");
}

/* The keys of one resource. */
struct lockkeys {
	char	*l, *m, *x, *d;
	size_t	 llen, mlen, xlen, dlen;
};

static int
keys_make(const struct etcd *e, const char *resource, struct lockkeys *k)
{
	memset(k, 0, sizeof(*k));
	k->l = etcd_key(e, ETCD_NS_LOCK, resource, &k->llen);
	k->m = etcd_key(e, ETCD_NS_META, resource, &k->mlen);
	k->x = etcd_key(e, ETCD_NS_LEASED, resource, &k->xlen);
	k->d = etcd_key(e, ETCD_NS_DELAY, resource, &k->dlen);
	return k->l != NULL && k->m != NULL && k->x != NULL && k->d != NULL ?
	    0 : -1;
}

static void
keys_free(struct lockkeys *k)
{
	free(k->l);
	free(k->m);
	free(k->x);
	free(k->d);
}

/*
 * The answer to a lock attempt that found the resource held (LOCK, with
 * metadata META): HELD, or for CLIENT itself our own grant whose answer
 * was lost (its metadata carries NONCE, the attempt's), or a reacquire
 * (ACQUIRE; a TTL_MS then renews the lease).
 */
static enum lockstore_status
held(struct etcd *e, const char *resource, const char *client, int acquire,
    unsigned int ttl_ms, const char *nonce, const struct etcd_kv *lock,
    const struct etcd_kv *meta, struct lockstore_grant *g,
    struct lockstore_error *err, int *again)
{
	struct etcd_meta	md;
	int			rc, ours;

	*again = 0;
	if (strcmp(lock->value, client) != 0)
		return store_error_held(err, lock->value);
	etcd_meta_decode(meta, &md);
	ours = meta->key != NULL && meta->create_rev == lock->create_rev &&
	    strcmp(md.nonce, nonce) == 0;
	if (!acquire && !ours)
		return store_error_held(err, lock->value);
	if (acquire && !ours && ttl_ms > 0) {
		rc = etcd_lease_move(e, resource, client, lock, meta, ttl_ms,
		    g, err);
		if (rc == ETCD_CHANGED)
			*again = 1;
		return rc == ETCD_CHANGED ? LOCKSTORE_OK :
		    (enum lockstore_status)rc;
	}
	g->token = lock->create_rev;
	g->since = md.since;
	g->ttl_ms = md.ttl_ms;
	g->expires_ms = md.expires_ms;
	g->reacquired = !ours;
	return LOCKSTORE_OK;
}

/* One lock attempt; see etcd.h. */
enum lockstore_status
etcd_take(struct etcd *e, const char *resource, const char *client,
    int acquire, unsigned int ttl_ms, struct lockstore_grant *g,
    struct etcd_block *blk, struct lockstore_error *err)
{
	struct lockkeys		 k;
	struct etcd_txn		 t;
	struct etcd_resp	 r;
	struct etcd_meta	 md;
	struct etcd_kv		 lock, meta, delay;
	enum lockstore_status	 st = LOCKSTORE_STORAGE;
	enum lockstore_end	 cause;
	unsigned long long	 lease = 0;
	unsigned int		 granted = 0;
	long long		 lease_at = 0;
	char			*mval = NULL;
	int			 tries, again;

	memset(blk, 0, sizeof(*blk));
	memset(&lock, 0, sizeof(lock));
	memset(&meta, 0, sizeof(meta));
	memset(&delay, 0, sizeof(delay));
	if (keys_make(e, resource, &k) == -1) {
		keys_free(&k);
		return etcd_nomem(err);
	}
	for (tries = 0; tries < ETCD_RETRIES; tries++) {
		/* The lease's TTL runs from its grant: so does "expires". */
		if (ttl_ms > 0 && lease == 0) {
			lease_at = etcd_wall_ms();
			if ((st = etcd_lease_grant(e, ttl_ms, &lease, &granted,
			    resource, err)) != LOCKSTORE_OK)
				goto out;
		}
		md.since = (long long)time(NULL);
		md.ttl_ms = ttl_ms > 0 ? granted : 0;
		md.expires_ms = ttl_ms > 0 ? lease_at + granted : 0;
		/* Tells this attempt's grant from any other, should its
		 * answer be lost. */
		etcd_nonce(e, md.nonce);
		free(mval);
		if ((mval = etcd_meta_encode(&md, client)) == NULL) {
			st = etcd_nomem(err);
			goto out;
		}
		etcd_txn_init(&t);
		etcd_cmp_create(&t, k.l, k.llen, 0);
		etcd_cmp_create(&t, k.m, k.mlen, 0);
		etcd_cmp_create(&t, k.d, k.dlen, 0);
		etcd_op_put(&t, t.success, k.l, k.llen, client, strlen(client),
		    lease);
		etcd_op_put(&t, t.success, k.m, k.mlen, mval, strlen(mval), 0);
		if (lease != 0)
			etcd_op_put(&t, t.success, k.x, k.xlen, "", 0, 0);
		etcd_op_range(&t, t.failure, k.l, k.llen, NULL, 0, 0, 0);
		etcd_op_range(&t, t.failure, k.m, k.mlen, NULL, 0, 0, 0);
		etcd_op_range(&t, t.failure, k.d, k.dlen, NULL, 0, 0, 0);
		st = t.failed ? etcd_nomem(err) : etcd_post(e, "/v3/kv/txn",
		    t.req, &r, NULL, "lock", resource, err);
		etcd_txn_free(&t);
		if (st != LOCKSTORE_OK)
			goto out;
		if (r.succeeded) {
			g->token = r.revision;
			g->since = md.since;
			g->ttl_ms = md.ttl_ms;
			g->expires_ms = md.expires_ms;
			lease = 0;	/* in use */
			etcd_resp_free(&r);
			st = LOCKSTORE_OK;
			goto out;
		}
		if (etcd_range_kv(etcd_resp_range(&r, 0), 0, &lock) == -1 ||
		    etcd_range_kv(etcd_resp_range(&r, 1), 0, &meta) == -1 ||
		    etcd_range_kv(etcd_resp_range(&r, 2), 0, &delay) == -1) {
			etcd_resp_free(&r);
			st = store_error(err, LOCKSTORE_STORAGE, EIO, "Storage "
			    "error: etcd lock for '%s': a malformed answer",
			    resource);
			goto out;
		}
		blk->revision = r.revision;
		etcd_resp_free(&r);
		if (lock.key != NULL && lease != 0 && lock.lease == lease) {
			/* Our own grant, whose answer was lost. */
			lease = 0;
			g->token = lock.create_rev;
			g->since = md.since;
			g->ttl_ms = md.ttl_ms;
			g->expires_ms = md.expires_ms;
			st = LOCKSTORE_OK;
			goto out;
		}
		if (lock.key != NULL) {
			st = held(e, resource, client, acquire, ttl_ms,
			    md.nonce, &lock, &meta, g, err, &again);
			if (again)
				goto retry;
			if (st == LOCKSTORE_HELD) {
				blk->key = lock.key;
				blk->keylen = lock.keylen;
				lock.key = NULL;
			}
			goto out;
		}
		if (meta.key != NULL) {
			/* A lease etcd expired: record its end, look again. */
			if ((st = etcd_end_expired(e, resource, &meta, NULL,
			    err)) != LOCKSTORE_OK)
				goto out;
			goto retry;
		}
		if (delay.key != NULL) {
			etcd_delay_decode(&delay, &blk->delay_until_ms, &cause);
			st = etcd_delayed(err, blk->delay_until_ms, cause);
			blk->key = delay.key;
			blk->keylen = delay.keylen;
			delay.key = NULL;
			goto out;
		}
retry:
		etcd_kv_free(&lock);
		etcd_kv_free(&meta);
		etcd_kv_free(&delay);
	}
	st = store_error(err, LOCKSTORE_STORAGE, EAGAIN, "Storage error: the "
	    "lock for '%s' changes too fast to be taken", resource);
out:
	if (lease != 0)
		etcd_lease_revoke(e, lease);
	etcd_kv_free(&lock);
	etcd_kv_free(&meta);
	etcd_kv_free(&delay);
	free(mval);
	keys_free(&k);
	return st;
}

static enum lockstore_status
etcd_lock(void *impl, const char *resource, const char *client,
    unsigned long long *tokenp, struct lockstore_error *err)
{
	struct lockstore_grant	g;
	struct etcd_block	blk;
	enum lockstore_status	st;

	memset(&g, 0, sizeof(g));
	st = etcd_take(impl, resource, client, 0, 0, &g, &blk, err);
	free(blk.key);
	if (st == LOCKSTORE_OK && tokenp != NULL)
		*tokenp = g.token;
	return st;
}

/* Reads RESOURCE's holding; see etcd.h. */
enum lockstore_status
etcd_read(struct etcd *e, const char *resource, const char *hkey,
    size_t hlen, struct etcd_kv *lock, struct etcd_kv *meta,
    struct etcd_kv *hist, const char *what, struct lockstore_error *err)
{
	struct lockkeys		k;
	struct etcd_txn		t;
	struct etcd_resp	r;
	enum lockstore_status	st;

	memset(lock, 0, sizeof(*lock));
	memset(meta, 0, sizeof(*meta));
	if (hist != NULL)
		memset(hist, 0, sizeof(*hist));
	if (keys_make(e, resource, &k) == -1) {
		keys_free(&k);
		return etcd_nomem(err);
	}
	etcd_txn_init(&t);
	etcd_op_range(&t, t.success, k.l, k.llen, NULL, 0, 0, 0);
	etcd_op_range(&t, t.success, k.m, k.mlen, NULL, 0, 0, 0);
	if (hkey != NULL)
		etcd_op_range(&t, t.success, hkey, hlen, NULL, 0, 0, 0);
	st = t.failed ? etcd_nomem(err) : etcd_post(e, "/v3/kv/txn", t.req,
	    &r, NULL, what, resource, err);
	etcd_txn_free(&t);
	keys_free(&k);
	if (st != LOCKSTORE_OK)
		return st;
	if (etcd_range_kv(etcd_resp_range(&r, 0), 0, lock) == -1 ||
	    etcd_range_kv(etcd_resp_range(&r, 1), 0, meta) == -1 ||
	    (hkey != NULL &&
	    etcd_range_kv(etcd_resp_range(&r, 2), 0, hist) == -1))
		st = store_error(err, LOCKSTORE_STORAGE, EIO, "Storage error: "
		    "etcd %s for '%s': a malformed answer", what, resource);
	etcd_resp_free(&r);
	return st;
}

/* Whether HIST ended its holding otherwise than by an unlock. */
int
etcd_ended_otherwise(const struct etcd_kv *hist)
{
	return hist->value != NULL &&
	    strstr(hist->value, "\"w\":\"unlock\"") == NULL;
}

static enum lockstore_status
etcd_unlock(void *impl, const char *resource, const char *client,
    struct lockstore_error *err)
{
	struct etcd		*e = impl;
	struct lockkeys		 k;
	struct etcd_txn		 t;
	struct etcd_resp	 r;
	struct etcd_meta	 md;
	struct etcd_kv		 lock, meta, hist;
	enum lockstore_status	 st;
	unsigned long long	 mine = 0;
	char			*hkey = NULL;
	size_t			 hlen = 0;
	int			 tries, doubt = 0, unknown, hi;

	memset(&lock, 0, sizeof(lock));
	memset(&meta, 0, sizeof(meta));
	memset(&hist, 0, sizeof(hist));
	if (keys_make(e, resource, &k) == -1) {
		keys_free(&k);
		return etcd_nomem(err);
	}
	for (tries = 0; tries < ETCD_RETRIES; tries++) {
		st = etcd_read(e, resource, doubt ? hkey : NULL, hlen, &lock,
		    &meta, &hist, "unlock", err);
		if (st != LOCKSTORE_OK)
			goto out;
		if (doubt && (lock.key == NULL ||
		    lock.create_rev != mine)) {
			/* Our holding is over: by our unknown attempt,
			 * unless the history tells of a break or expiry. */
			st = etcd_ended_otherwise(&hist) ?
			    store_error_not_locked(err) : LOCKSTORE_OK;
			goto out;
		}
		if (lock.key == NULL) {
			if (meta.key != NULL && (st = etcd_end_expired(e,
			    resource, &meta, NULL, err)) != LOCKSTORE_OK)
				goto out;
			st = store_error_not_locked(err);
			goto out;
		}
		if (strcmp(lock.value, client) != 0) {
			st = store_error_not_owner(err, lock.value, client);
			goto out;
		}
		mine = lock.create_rev;
		free(hkey);
		if ((hkey = etcd_history_key(e, resource, mine, &hlen)) ==
		    NULL) {
			st = etcd_nomem(err);
			goto out;
		}
		etcd_meta_decode(&meta, &md);
		etcd_txn_init(&t);
		etcd_cmp_value(&t, k.l, k.llen, client, strlen(client));
		etcd_cmp_create(&t, k.l, k.llen, mine);
		etcd_op_delete(&t, t.success, k.l, k.llen);
		etcd_op_delete(&t, t.success, k.m, k.mlen);
		etcd_op_delete(&t, t.success, k.x, k.xlen);
		hi = etcd_history_ops(e, &t, resource, mine, client,
		    meta.create_rev == mine ? md.since : 0,
		    LOCKSTORE_END_UNLOCK, "", "");
		st = t.failed ? etcd_nomem(err) : etcd_post(e, "/v3/kv/txn",
		    t.req, &r, &unknown, "unlock", resource, err);
		etcd_txn_free(&t);
		if (st != LOCKSTORE_OK)
			goto out;
		doubt |= unknown;
		if (r.succeeded) {
			etcd_history_prune(e, resource, &r, hi);
			etcd_resp_free(&r);
			if (lock.lease != 0)
				etcd_lease_revoke(e, lock.lease);
			goto out;
		}
		etcd_resp_free(&r);
		etcd_kv_free(&lock);
		etcd_kv_free(&meta);
		etcd_kv_free(&hist);
	}
	st = store_error(err, LOCKSTORE_STORAGE, EAGAIN, "Storage error: the "
	    "lock for '%s' changes too fast to be released", resource);
out:
	etcd_kv_free(&lock);
	etcd_kv_free(&meta);
	etcd_kv_free(&hist);
	free(hkey);
	keys_free(&k);
	return st;
}

/* Fills INFO from the lock and metadata keys. */
void
etcd_fill_info(struct lockstore_lock_info *info, const char *resource,
    size_t rlen, const struct etcd_kv *lock, const struct etcd_kv *meta)
{
	struct etcd_meta	md;

	memset(info, 0, sizeof(*info));
	if (rlen > LOCKSTORE_NAME_MAX)
		rlen = LOCKSTORE_NAME_MAX;
	memcpy(info->resource, resource, rlen);
	info->resource[rlen] = '\0';
	snprintf(info->holder, sizeof(info->holder), "%s", lock->value);
	info->token = lock->create_rev;
	if (meta != NULL && meta->key != NULL &&
	    meta->create_rev == lock->create_rev) {
		etcd_meta_decode(meta, &md);
		info->since = md.since;
		info->ttl_ms = md.ttl_ms;
		info->expires_ms = md.expires_ms;
	}
}

/* Whether RESOURCE is held, and by whom. */
enum lockstore_status
etcd_inspect(void *impl, const char *resource, int *heldp,
    struct lockstore_lock_info *info, struct lockstore_error *err)
{
	struct etcd		*e = impl;
	struct lockkeys		 k;
	struct etcd_txn		 t;
	struct etcd_resp	 r;
	struct etcd_kv		 lock, meta, delay;
	enum lockstore_status	 st;
	struct lockstore_policy	 pol;
	enum lockstore_end	 cause;
	long long		 until;

	*heldp = 0;
	memset(info, 0, sizeof(*info));
	if (keys_make(e, resource, &k) == -1) {
		keys_free(&k);
		return etcd_nomem(err);
	}
	etcd_txn_init(&t);
	etcd_op_range(&t, t.success, k.l, k.llen, NULL, 0, 0, 0);
	etcd_op_range(&t, t.success, k.m, k.mlen, NULL, 0, 0, 0);
	etcd_op_range(&t, t.success, k.d, k.dlen, NULL, 0, 0, 0);
	st = t.failed ? etcd_nomem(err) : etcd_post(e, "/v3/kv/txn", t.req,
	    &r, NULL, "status", resource, err);
	etcd_txn_free(&t);
	keys_free(&k);
	if (st != LOCKSTORE_OK)
		return st;
	if (etcd_range_kv(etcd_resp_range(&r, 0), 0, &lock) == -1 ||
	    etcd_range_kv(etcd_resp_range(&r, 1), 0, &meta) == -1 ||
	    etcd_range_kv(etcd_resp_range(&r, 2), 0, &delay) == -1)
		st = store_error(err, LOCKSTORE_STORAGE, EIO, "Storage error: "
		    "etcd status for '%s': a malformed answer", resource);
	etcd_resp_free(&r);
	if (st == LOCKSTORE_OK && lock.key != NULL) {
		etcd_fill_info(info, resource, strlen(resource), &lock, &meta);
		*heldp = 1;
	} else if (st == LOCKSTORE_OK) {
		snprintf(info->resource, sizeof(info->resource), "%s",
		    resource);
		etcd_policy(e, &pol);
		if (delay.key != NULL) {
			etcd_delay_decode(&delay, &until, &cause);
			info->delay_until_ms = until;
			info->delay_cause = cause;
		} else if (meta.key != NULL && pol.lock_delay_ms > 0) {
			/* A lease etcd expired, its end not yet recorded: the
			 * next taker records it and is held off from then. */
			info->delay_until_ms = etcd_wall_ms() +
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
	json_object		*req, *alarms, *a, *kind;
	char			*key;
	size_t			 klen;

	/* A linearizable read: only a member that reaches a quorum
	 * answers it. */
	if ((key = etcd_key(e, 'z', "health", &klen)) == NULL)
		return etcd_nomem(err);
	req = etcd_range_req(key, klen, NULL, 0, ETCD_RANGE_COUNT, 0, 0);
	free(key);
	st = etcd_post(e, "/v3/kv/range", req, &r, NULL, "health probe",
	    NULL, err);
	json_object_put(req);
	if (st != LOCKSTORE_OK)
		return st;
	etcd_resp_free(&r);
	/* A cluster out of space or corrupt answers reads, not writes. */
	if ((req = json_object_new_object()) == NULL ||
	    json_object_object_add(req, "action",
	    json_object_new_string("GET")) != 0) {
		json_object_put(req);
		return etcd_nomem(err);
	}
	st = etcd_post(e, "/v3/maintenance/alarm", req, &r, NULL,
	    "health probe", NULL, err);
	json_object_put(req);
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

	etcd_fifo_free(e->fifo);
	etcd_http_free(e);
	pthread_mutex_destroy(&e->polock);
	pthread_mutex_destroy(&e->sweeplock);
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
	.lock = etcd_lock,
	.unlock = etcd_unlock,
	.inspect = etcd_inspect,
	.list = etcd_list,
	.acquire = etcd_acquire,
	.renew = etcd_renew,
	.brk = etcd_break,
	.history = etcd_history,
	.expire = etcd_expire,
	.health = etcd_health,
	.set_policy = etcd_set_policy,
	.close = etcd_close,
	.count_held = etcd_count_held
};

/* Opens the lock store kept in etcd. */
enum lockstore_status
lockstore_open_etcd(struct lockstore **storep,
    const struct lockstore_etcd_config *cfg, struct lockstore_error *err)
{
	const struct lockstore_policy	 def = LOCKSTORE_POLICY_DEFAULT;
	struct etcd			*e;
	enum lockstore_status		 st;
	const char			*prefix;

	*storep = NULL;
	if ((st = lockstore_etcd_check(cfg, err)) != LOCKSTORE_OK)
		return st;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return store_error(err, LOCKSTORE_STORAGE, EIO, "Storage "
		    "error: etcd: cannot initialize libcurl");
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return etcd_nomem(err);
	pthread_mutex_init(&e->polock, NULL);
	pthread_mutex_init(&e->sweeplock, NULL);
	e->policy = def;
	e->held = -1;
	if (getrandom(&e->nonce_base, sizeof(e->nonce_base), 0) !=
	    (ssize_t)sizeof(e->nonce_base))
		e->nonce_base = (unsigned long long)etcd_wall_ms() ^
		    ((unsigned long long)getpid() << 40);
	prefix = cfg->prefix != NULL ? cfg->prefix : LOCKSTORE_ETCD_PREFIX;
	e->prefix = strdup(prefix);
	e->prefixlen = strlen(prefix);
	e->fifo = etcd_fifo_new();
	if ((st = etcd_http_init(e, cfg, err)) != LOCKSTORE_OK ||
	    e->prefix == NULL || e->fifo == NULL ||
	    (*storep = store_new(&etcd_ops, e)) == NULL) {
		etcd_close(e);
		return st != LOCKSTORE_OK ? st : etcd_nomem(err);
	}
	e->stats = store_stats(*storep);
	return LOCKSTORE_OK;
}
