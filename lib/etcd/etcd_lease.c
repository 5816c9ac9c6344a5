/* SPDX-License-Identifier: MIT */
/*
 * The etcd backend's leases: granting, revoking and moving a holding onto
 * a new lease (a renew, or a reacquire with a TTL).
 *
 * A lease holding is an etcd lease attached to the lock key: the etcd
 * leader measures its TTL (whole seconds, at least the cluster's minimum,
 * so never shorter than asked) and deletes the lock key when it runs out,
 * whatever happens to lockd.  A renew moves the holding onto a new lease
 * in one transaction that compares the holder, the token and the old
 * lease.  The end of an expired lease is recorded in etcd_end.c.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

/* A new etcd lease of at least TTL_MS. */
enum lockstore_status
etcd_lease_grant(struct etcd *e, unsigned int ttl_ms, unsigned long long *id,
    unsigned int *granted_ms, const char *resource,
    struct lockstore_error *err)
{
	struct etcd_resp	 r;
	enum lockstore_status	 st;
	char			 buf[24];
	unsigned long long	 ttl;

	*id = 0;
	snprintf(buf, sizeof(buf), "%u", (ttl_ms + 999) / 1000);
	st = etcd_post_member(e, "/v3/lease/grant", "TTL", buf, &r,
	    "lease grant", resource, err);
	if (st != LOCKSTORE_OK)
		return st;
	*id = etcd_num(r.root, "ID");
	ttl = etcd_num(r.root, "TTL");
	etcd_resp_free(&r);
	if (*id == 0 || ttl == 0)
		return store_error(err, LOCKSTORE_STORAGE, EIO, "Storage error: "
		    "etcd lease grant for '%s': no lease in the answer",
		    resource);
	*granted_ms = ttl > 4294967 ? 4294967000u : (unsigned int)ttl * 1000u;
	return LOCKSTORE_OK;
}

/* Revokes lease ID, best effort. */
void
etcd_lease_revoke(struct etcd *e, unsigned long long id)
{
	struct lockstore_error	*err;
	struct etcd_resp	 r;
	char			 buf[24];

	if (id == 0 || (err = malloc(sizeof(*err))) == NULL)
		return;
	snprintf(buf, sizeof(buf), "%llu", id);
	if (etcd_post_member(e, "/v3/lease/revoke", "ID", buf, &r,
	    "lease revoke", NULL, err) == LOCKSTORE_OK)
		etcd_resp_free(&r);
	free(err);
}

/* Moves a holding onto a new lease; see etcd.h. */
int
etcd_lease_move(struct etcd *e, const char *resource, const char *client,
    const struct etcd_kv *lock, const struct etcd_kv *meta,
    unsigned int ttl_ms, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct etcd_meta	 md;
	struct etcd_keys	 k;
	struct etcd_txn		 t;
	struct etcd_resp	 r;
	struct etcd_kv		 now;
	enum lockstore_status	 st;
	unsigned long long	 lease;
	unsigned int		 granted;
	long long		 at;
	char			*mval;
	int			 rc;

	at = clock_wall_ms();
	if ((st = etcd_lease_grant(e, ttl_ms, &lease, &granted, resource,
	    err)) != LOCKSTORE_OK)
		return st;
	etcd_holding_meta(lock, meta, &md);
	/* m/ may be new (a plain lock's first lease): it names the token. */
	md.token = lock->create_rev;
	md.ttl_ms = granted;
	md.expires_ms = at + granted;
	mval = etcd_meta_encode(&md, client);
	etcd_txn_init(&t);
	if (mval == NULL || etcd_keys_make(e, resource, &k) == -1)
		t.failed = 1;
	else {
		etcd_cmp(&t, "CREATE", lock->key, lock->keylen,
		    lock->create_rev);
		etcd_cmp_value(&t, lock->key, lock->keylen, lock->value,
		    lock->vallen);
		etcd_cmp(&t, "LEASE", lock->key, lock->keylen, lock->lease);
		etcd_op_put(&t, t.success, lock->key, lock->keylen, client,
		    strlen(client), lease);
		etcd_op_put(&t, t.success, k.m, k.mlen, mval, strlen(mval), 0);
		etcd_op_put(&t, t.success, k.x, k.xlen, "", 0, 0);
		etcd_op_range(&t, t.failure, lock->key, lock->keylen, NULL, 0,
		    0, 0);
		etcd_keys_free(&k);
	}
	rc = etcd_txn_post(e, &t, &r, NULL, "renew", resource, err);
	free(mval);
	/* A repeat after a lost answer finds our own new lease. */
	if (rc == LOCKSTORE_OK && !r.succeeded) {
		rc = ETCD_CHANGED;
		if (etcd_range_kv(etcd_resp_range(&r, 0), 0, &now) == 1 &&
		    now.lease == lease && now.create_rev == lock->create_rev)
			rc = LOCKSTORE_OK;
		etcd_kv_free(&now);
	}
	etcd_resp_free(&r);
	if (rc != LOCKSTORE_OK) {
		etcd_lease_revoke(e, lease);
		return rc;
	}
	etcd_lease_revoke(e, lock->lease);
	etcd_grant(g, lock->create_rev, &md);
	g->reacquired = 1;
	etcd_hint_put(e, resource, client, g->token, &md);
	return LOCKSTORE_OK;
}

/* Extends the lease CLIENT holds on RESOURCE under TOKEN. */
enum lockstore_status
etcd_renew(void *impl, const char *resource, const char *client,
    unsigned long long token, unsigned int ttl_ms, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct etcd		*e = impl;
	struct etcd_meta	 md;
	struct etcd_kv		 lock, meta;
	enum lockstore_status	 st = LOCKSTORE_OK;
	int			 tries, rc;

	for (tries = 0; tries < ETCD_RETRIES; tries++) {
		if ((st = etcd_read(e, resource, NULL, 0, &lock, &meta, NULL,
		    "renew", err)) != LOCKSTORE_OK)
			return st;
		etcd_holding_meta(&lock, &meta, &md);
		if (lock.key == NULL)
			st = etcd_not_locked(e, resource, &meta, err);
		else if (strcmp(lock.value, client) != 0)
			st = store_error(err, LOCKSTORE_NOT_OWNER, 0,
			    "Resource locked by '%s' cannot be renewed by "
			    "'%s'", lock.value, client);
		else if (lock.create_rev != token)
			st = store_error(err, LOCKSTORE_STALE_TOKEN, 0,
			    "Token %llu is not the current holding of '%s' by "
			    "'%s' (current token %llu)", token, resource,
			    client, lock.create_rev);
		else if (lock.lease == 0)
			st = store_error(err, LOCKSTORE_NO_LEASE, 0,
			    "Resource was locked without a TTL: nothing to "
			    "renew");
		else {
			if (ttl_ms == 0)
				ttl_ms = md.ttl_ms > 0 ? md.ttl_ms : 1000;
			rc = etcd_lease_move(e, resource, client, &lock, &meta,
			    ttl_ms, g, err);
			etcd_kv_free(&lock);
			etcd_kv_free(&meta);
			if (rc == ETCD_CHANGED)
				continue;	/* look again */
			return (enum lockstore_status)rc;
		}
		etcd_kv_free(&lock);
		etcd_kv_free(&meta);
		return st;
	}
	return store_error(err, LOCKSTORE_STORAGE, EAGAIN, "Storage error: the "
	    "lock for '%s' changes too fast to be renewed", resource);
}
