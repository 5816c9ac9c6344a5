/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the etcd store, through lockstore.h, against a real etcd
 * started by this program: the store contract, the depth of history, a
 * lease moved onto a plain lock, and (through the backend's own calls)
 * the waiters' queue when its session lease is lost.
 */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockstore.h"
#include "etcd/etcd.h"
#include "etcd/lockstore_etcd.h"
#include "store_contract.h"
#include "test_etcd_tu.h"
#include "tu.h"

/* The store contract, each test on a prefix of its own. */
static char	contract_prefix[64];

static struct lockstore *
contract_open(void)
{
	snprintf(contract_prefix, sizeof(contract_prefix), "%s",
	    etu_prefix());
	return etu_open(NULL, contract_prefix, 0);
}

static struct lockstore *
contract_open_again(void)
{
	return etu_open(NULL, contract_prefix, 0);
}

static const struct contract_fixture	etcd_fixture = {
	.open = contract_open,
	.open_again = contract_open_again
};

static void
history_keeps_the_newest_holdings_newest_first(void)
{
	struct lockstore		*s;
	struct lockstore_error		 e;
	struct last_entry		*l;
	char				 client[16];
	int				 i;

	CU_ASSERT_FATAL((l = calloc(1, sizeof(*l))) != NULL);
	s = etu_open(NULL, etu_prefix(), 0);
	for (i = 0; i < 130; i++) {
		snprintf(client, sizeof(client), "c%d", i);
		LOCK(s, "h", client, LOCKSTORE_OK, NULL);
		UNLOCK(s, "h", client, LOCKSTORE_OK, NULL);
	}
	TU_ASSERT_INT_EQ(lockstore_history(s, "h", 1000, history_fn, l, &e),
	    LOCKSTORE_OK);
	CU_ASSERT(l->n >= 100 && l->n <= 125);
	TU_ASSERT_STR_EQ(l->first.holder, "c129");
	TU_ASSERT_INT_EQ(l->first.how, LOCKSTORE_END_UNLOCK);
	CU_ASSERT(l->first.since > 0);
	CU_ASSERT(l->first.until_ms >= l->first.since * 1000);
	/* Another resource has its own. */
	memset(l, 0, sizeof(*l));
	TU_ASSERT_INT_EQ(lockstore_history(s, "h2", 10, history_fn, l, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(l->n, 0);
	free(l);
	lockstore_close(s);
}

/* A plain lock reacquired with a TTL (its metadata now in a new m/ key)
 * shows its lease, renews it with its own TTL, and its history names the
 * token of the grant. */
static void
lease_moved_onto_a_plain_lock_keeps_its_metadata(void)
{
	struct lockstore_acquire_opts	 o;
	struct lockstore_lock_info	 info;
	struct lockstore_grant		 g;
	struct lockstore_error		 e;
	struct lockstore		*s;
	struct last_entry		*l;
	unsigned long long		 t = 0;
	int				 held;

	CU_ASSERT_FATAL((l = calloc(1, sizeof(*l))) != NULL);
	s = etu_open(NULL, etu_prefix(), 0);
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "r", "c1", &t, &e),
	    LOCKSTORE_OK);
	memset(&o, 0, sizeof(o));
	o.ttl_ms = 6000;
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "r", "c1", &o, &g, &e),
	    LOCKSTORE_OK);
	CU_ASSERT(g.reacquired);
	TU_ASSERT_INT_EQ(g.token, t);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "r", &held, &info, &e),
	    LOCKSTORE_OK);
	CU_ASSERT(held);
	TU_ASSERT_INT_EQ(info.ttl_ms, 6000);
	CU_ASSERT(info.expires_ms > 0 && info.since > 0);
	/* TTL 0: its own TTL again, not a default. */
	TU_ASSERT_INT_EQ(lockstore_renew(s, "r", "c1", t, 0, &g, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(g.ttl_ms, 6000);
	sleep(3);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "r", &held, &info, &e),
	    LOCKSTORE_OK);
	CU_ASSERT(held);
	UNLOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(lockstore_history(s, "r", 10, history_fn, l, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(l->first.token, t);
	free(l);
	lockstore_close(s);
}

/* The wait keys of RESOURCE in E's queue. */
static int
wait_keys(struct etcd *e, const char *resource, unsigned long long *lease)
{
	struct lockstore_error	 err;
	struct etcd_resp	 r;
	struct etcd_kv		 kv;
	char			*k, *end;
	size_t			 len, elen;
	int			 n = 0;

	k = etcd_key(e, ETCD_NS_QUEUE, resource, &len);
	end = etcd_prefix_end(k, len, &elen);
	CU_ASSERT_FATAL(etcd_range_post(e, k, len, end, elen, 0, 0, &r, "test",
	    NULL, &err) == LOCKSTORE_OK);
	while (etcd_range_kv(r.root, (size_t)n, &kv) == 1) {
		if (lease != NULL)
			*lease = kv.lease;
		etcd_kv_free(&kv);
		n++;
	}
	etcd_resp_free(&r);
	free(k);
	free(end);
	return n;
}

/* A session lease lost after a waiter's grant, before it left the queue:
 * the requeue must not put its wait key back (a waiter that nobody
 * serves would block every later one).  The threads' steps in order. */
static void
lost_session_lease_does_not_requeue_a_granted_waiter(void)
{
	struct lockstore_acquire_opts	 o;
	struct lockstore_grant		 g;
	struct lockstore_error		 err;
	struct store_block		 blk;
	struct lockstore		*s, *other;
	struct etcd			*e;
	unsigned long long		 lease = 0;
	const char			*prefix = etu_prefix();
	void				*ticket = NULL;

	s = etu_open(NULL, prefix, 0);
	other = etu_open(NULL, prefix, 0);
	e = s->impl;
	TU_ASSERT_INT_EQ(etcd_enqueue(e, "R", &ticket, &err), LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(wait_keys(e, "R", &lease), 1);
	memset(&blk, 0, sizeof(blk));
	blk.ticket = ticket;
	blk.fifo = 1;
	TU_ASSERT_INT_EQ(s->ops->take(e, "R", "c1", 1, 0, &g, &blk, &err),
	    LOCKSTORE_OK);
	free(blk.key);
	TU_ASSERT_INT_EQ(wait_keys(e, "R", NULL), 0);
	/* etcd loses the session lease; the upkeep finds out (a keep-alive
	 * is due after a third of its TTL) and requeues the live waiters. */
	etcd_lease_revoke(e, lease);
	sleep(ETCD_QUEUE_TTL_S / 3 + 1);
	etcd_queue_expire(e, &err);
	etcd_dequeue(e, ticket);
	TU_ASSERT_INT_EQ(wait_keys(e, "R", NULL), 0);
	UNLOCK(s, "R", "c1", LOCKSTORE_OK, NULL);
	memset(&o, 0, sizeof(o));
	o.wait_ms = 2000;
	TU_ASSERT_INT_EQ(lockstore_acquire(other, "R", "c2", &o, &g, &err),
	    LOCKSTORE_OK);
	lockstore_close(other);
	lockstore_close(s);
}

static const struct tu_test tests[] = {
	{ "history_keeps_the_newest_holdings_newest_first",
	    history_keeps_the_newest_holdings_newest_first },
	{ "lease_moved_onto_a_plain_lock_keeps_its_metadata",
	    lease_moved_onto_a_plain_lock_keeps_its_metadata },
	{ "lost_session_lease_does_not_requeue_a_granted_waiter",
	    lost_session_lease_does_not_requeue_a_granted_waiter },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	if ((rc = etu_start()) != 0)
		return rc == ETU_SKIP ? ETU_SKIP : 1;
	rc = contract_run("etcd store", &etcd_fixture, tests);
	etu_stop();
	return rc;
}
