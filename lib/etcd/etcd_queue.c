/* SPDX-License-Identifier: MIT */
/*
 * The waiters' queue across lockd hosts, kept in etcd as its own
 * concurrency mutex keeps one: a wait key per waiter, ordered by its
 * create_revision; a waiter's take grants only when no older key exists.
 *
 * Wait keys are attached to one session lease per lockd (ETCD_QUEUE_TTL_S,
 * kept alive by the expiry thread), so the keys of a lockd that crashed
 * vanish within that TTL and do not block the queue.  Should the lease be
 * lost (etcd out of reach for longer), a new one is granted and the live
 * waiters' keys are put again: they keep their order among themselves.
 * A wait key whose delete failed is retried by the expiry thread.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

/* How often the session lease is kept alive; after a failure, sooner. */
#define QUEUE_KEEP_MS		(ETCD_QUEUE_TTL_S * 1000 / 3)
#define QUEUE_KEEP_RETRY_MS	500

/* A waiter's place: its wait key P "q/" R "\0" <nonce>. */
struct etcd_ticket {
	TAILQ_ENTRY(etcd_ticket) entry;		/* live, or orphans */
	char			*key;
	size_t			 keylen, rlen;	/* rlen: P "q/" R */
	unsigned long long	 rev;		/* atomic: create_revision */
	unsigned int		 puts;		/* atomic: its key's puts */
	unsigned int		 seen;		/* PUTS when its take was
						   built */
	int			 off;		/* off the live list */
	int			 spent;		/* deleted by its grant */
};

TAILQ_HEAD(ticket_list, etcd_ticket);

struct etcd_queue {
	pthread_mutex_t		 lock;
	unsigned long long	 lease;		/* 0: none yet, or lost */
	long long		 keep_next;	/* monotonic ms */
	struct ticket_list	 live;		/* waiting now */
	struct ticket_list	 orphans;	/* their delete failed */
};

/* An empty queue, or NULL (ENOMEM). */
struct etcd_queue *
etcd_queue_new(void)
{
	struct etcd_queue	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	pthread_mutex_init(&q->lock, NULL);
	TAILQ_INIT(&q->live);
	TAILQ_INIT(&q->orphans);
	return q;
}

static void
ticket_free(struct etcd_ticket *t)
{
	if (t != NULL)
		free(t->key);
	free(t);
}

/*
 * Frees Q (no waiter remains).  Its lease is left to run out: a revoke
 * would only speed up the end of orphaned keys, whose delete failed
 * because etcd was out of reach, and would hold up a stop then.
 */
void
etcd_queue_free(struct etcd_queue *q)
{
	struct etcd_ticket	*t;

	if (q == NULL)
		return;
	while ((t = TAILQ_FIRST(&q->orphans)) != NULL) {
		TAILQ_REMOVE(&q->orphans, t, entry);
		ticket_free(t);
	}
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* The queue's session lease, granted when there is none. */
static enum lockstore_status
session_lease(struct etcd *e, unsigned long long *lease, const char *resource,
    struct lockstore_error *err)
{
	struct etcd_queue	*q = e->queue;
	enum lockstore_status	 st;
	unsigned long long	 id, spare = 0;
	unsigned int		 granted;

	pthread_mutex_lock(&q->lock);
	*lease = q->lease;
	pthread_mutex_unlock(&q->lock);
	if (*lease != 0)
		return LOCKSTORE_OK;
	if ((st = etcd_lease_grant(e, ETCD_QUEUE_TTL_S * 1000, &id, &granted,
	    resource, err)) != LOCKSTORE_OK)
		return st;
	pthread_mutex_lock(&q->lock);
	if (q->lease == 0) {
		q->lease = id;
		q->keep_next = clock_mono_ms() + QUEUE_KEEP_MS;
	} else
		spare = id;	/* another thread was faster */
	*lease = q->lease;
	pthread_mutex_unlock(&q->lock);
	etcd_lease_revoke(e, spare);
	return LOCKSTORE_OK;
}

/* Forgets LEASE, which etcd no longer knows. */
static void
session_lost(struct etcd *e, unsigned long long lease)
{
	pthread_mutex_lock(&e->queue->lock);
	if (e->queue->lease == lease)
		e->queue->lease = 0;
	pthread_mutex_unlock(&e->queue->lock);
}

/*
 * Puts T's wait key with LEASE, unless it exists, and sets T's revision
 * to the key's create_revision (a repeat after a lost answer finds the
 * key of the first).  Errors as etcd_post()'s.
 */
static enum lockstore_status
put_key(struct etcd *e, struct etcd_ticket *t, unsigned long long lease,
    const char *resource, struct lockstore_error *err)
{
	struct etcd_txn		 txn;
	struct etcd_resp	 r;
	struct etcd_kv		 kv;
	enum lockstore_status	 st;
	unsigned long long	 rev = 0;

	etcd_txn_init(&txn);
	etcd_cmp(&txn, "CREATE", t->key, t->keylen, 0);
	etcd_op_put(&txn, txn.success, t->key, t->keylen, "", 0, lease);
	etcd_op_range(&txn, txn.failure, t->key, t->keylen, NULL, 0,
	    ETCD_RANGE_KEYS, 0);
	if ((st = etcd_txn_post(e, &txn, &r, NULL, "enqueue", resource,
	    err)) != LOCKSTORE_OK)
		return st;
	if (r.succeeded)
		rev = r.revision;
	else if (etcd_range_kv(etcd_resp_range(&r, 0), 0, &kv) == 1) {
		rev = kv.create_rev;
		etcd_kv_free(&kv);
	}
	etcd_resp_free(&r);
	if (rev == 0)
		return store_error(err, LOCKSTORE_STORAGE, EIO, "Storage "
		    "error: etcd enqueue for '%s': a malformed answer",
		    resource);
	__atomic_store_n(&t->rev, rev, __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->puts, 1, __ATOMIC_RELAXED);
	return LOCKSTORE_OK;
}

/* Whether ERR, of put_key() for RESOURCE, is etcd's "requested lease not
 * found" (looked for after the resource's name, which may hold anything). */
static int
lease_not_found(const struct lockstore_error *err, const char *resource)
{
	static const char	head[] = "Storage error: etcd enqueue for '";
	size_t			skip, len = strlen(err->msg);

	skip = sizeof(head) - 1 + (resource != NULL ? strlen(resource) : 0);
	return skip < len &&
	    strstr(err->msg + skip, "requested lease not found") != NULL;
}

/* put_key() with the session lease, granting a new one if etcd lost it. */
static enum lockstore_status
queue_put(struct etcd *e, struct etcd_ticket *t, const char *resource,
    struct lockstore_error *err)
{
	enum lockstore_status	st;
	unsigned long long	lease;
	int			tries;

	for (tries = 0; tries < 2; tries++) {
		if ((st = session_lease(e, &lease, resource, err)) !=
		    LOCKSTORE_OK)
			return st;
		st = put_key(e, t, lease, resource, err);
		if (st == LOCKSTORE_OK || !lease_not_found(err, resource))
			break;
		session_lost(e, lease);
	}
	return st;
}

/* Queues a waiter for RESOURCE; see store_enqueue_fn. */
enum lockstore_status
etcd_enqueue(void *impl, const char *resource, void **ticketp,
    struct lockstore_error *err)
{
	struct etcd		*e = impl;
	struct etcd_ticket	*t;
	enum lockstore_status	 st;
	char			*base = NULL, id[ETCD_NONCE_SIZE];
	size_t			 blen = 0;

	*ticketp = NULL;
	etcd_nonce(e, id);
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (base = etcd_key(e, ETCD_NS_QUEUE, resource, &blen)) == NULL ||
	    (t->key = malloc(blen + 1 + sizeof(id))) == NULL) {
		free(base);
		ticket_free(t);
		return store_error_nomem(err);
	}
	memcpy(t->key, base, blen);
	t->key[blen] = '\0';
	memcpy(t->key + blen + 1, id, sizeof(id));
	t->keylen = blen + 1 + strlen(id);
	t->rlen = blen;
	free(base);
	if ((st = queue_put(e, t, resource, err)) != LOCKSTORE_OK) {
		/* A put whose answer was lost may have been applied: its
		 * key must not stay behind to block the queue. */
		t->off = 1;
		etcd_dequeue(e, t);
		return st;
	}
	pthread_mutex_lock(&e->queue->lock);
	TAILQ_INSERT_TAIL(&e->queue->live, t, entry);
	pthread_mutex_unlock(&e->queue->lock);
	*ticketp = t;
	return LOCKSTORE_OK;
}

/* Deletes T's wait key: 0, or -1 when etcd could not be asked. */
static int
delete_key(struct etcd *e, struct etcd_ticket *t)
{
	struct lockstore_error	*err;
	struct etcd_txn		 txn;
	struct etcd_resp	 r;
	int			 rc = -1;

	if ((err = malloc(sizeof(*err))) == NULL)
		return -1;
	etcd_txn_init(&txn);
	etcd_op_delete(&txn, txn.success, t->key, t->keylen, 0);
	if (etcd_txn_post(e, &txn, &r, NULL, "dequeue", NULL, err) ==
	    LOCKSTORE_OK) {
		etcd_resp_free(&r);
		rc = 0;
	}
	free(err);
	return rc;
}

/* Takes a waiter out of the queue; see store_dequeue_fn. */
void
etcd_dequeue(void *impl, void *ticket)
{
	struct etcd		*e = impl;
	struct etcd_ticket	*t = ticket;

	pthread_mutex_lock(&e->queue->lock);
	if (!t->off)
		TAILQ_REMOVE(&e->queue->live, t, entry);
	pthread_mutex_unlock(&e->queue->lock);
	if (t->spent || delete_key(e, t) == 0) {
		ticket_free(t);
		return;
	}
	/* The lease ends it at the latest; the sweep tries before. */
	pthread_mutex_lock(&e->queue->lock);
	TAILQ_INSERT_TAIL(&e->queue->orphans, t, entry);
	pthread_mutex_unlock(&e->queue->lock);
}

/* The queue's range of RESOURCE: P "q/" R "\0" up to P "q/" R "\1"
 * (END: the same length), malloc'd; NULL: ENOMEM. */
static char *
queue_range(struct etcd *e, const char *resource, size_t *lenp, char **end)
{
	char	*k, *b;
	size_t	 len;

	*end = NULL;
	if ((k = etcd_key(e, ETCD_NS_QUEUE, resource, &len)) == NULL)
		return NULL;
	/* etcd_key() left room for the NUL that ends the name. */
	if ((b = malloc(len + 1)) == NULL) {
		free(k);
		return NULL;
	}
	memcpy(b, k, len + 1);
	b[len] = '\1';
	*end = b;
	*lenp = len + 1;
	return k;
}

/* Adds the queue's part of a lock transaction; see etcd.h. */
void
etcd_queue_txn(struct etcd *e, struct etcd_txn *t, const char *resource,
    const struct store_block *blk)
{
	struct etcd_ticket	*tk = blk->ticket;
	unsigned long long	 rev = 0;
	char			*key, *end;
	size_t			 len;

	if (t->failed)
		return;
	if (tk != NULL) {
		tk->seen = __atomic_load_n(&tk->puts, __ATOMIC_RELAXED);
		rev = __atomic_load_n(&tk->rev, __ATOMIC_RELAXED);
	}
	if ((key = queue_range(e, resource, &len, &end)) == NULL) {
		t->failed = 1;
		return;
	}
	/* With a ticket of revision REV every key's create_revision is
	 * greater than REV - 1 (none is older; etcd applies a range compare
	 * to each key); without one it is 0: the range is empty (etcd
	 * compares an empty range as one key of revision 0). */
	etcd_cmp_created(t, key, len, end, len, rev > 0, rev > 0 ? rev - 1 : 0);
	/* The failure reads the waiter just before (the newest older
	 * one, or the newest of all): its key is the one to watch. */
	etcd_op_newest(t, t->failure, key, len, end, len,
	    rev > 0 ? rev - 1 : 0);
	if (tk != NULL)
		etcd_op_delete(t, t->success, tk->key, tk->keylen, 0);
	free(key);
	free(end);
}

/* A take with BLK's ticket was granted: its wait key went with it. */
void
etcd_queue_granted(struct etcd *e, struct store_block *blk)
{
	struct etcd_ticket	*t = blk->ticket;

	if (t == NULL)
		return;
	/* Off the live list, so that a requeue after a lost lease does not
	 * put the key again; one put after the take was built (a requeue
	 * then) may have come after the grant's delete: delete it again. */
	pthread_mutex_lock(&e->queue->lock);
	TAILQ_REMOVE(&e->queue->live, t, entry);
	t->off = 1;
	t->spent = __atomic_load_n(&t->puts, __ATOMIC_RELAXED) == t->seen;
	pthread_mutex_unlock(&e->queue->lock);
}

/* Judges a refused take's queue part; see etcd.h. */
int
etcd_queue_refused(struct etcd *e, const struct etcd_resp *r,
    const char *resource, int free_lock, struct store_block *blk, int st,
    struct lockstore_error *err)
{
	struct etcd_kv	pred;
	int		n;

	if (st != LOCKSTORE_HELD && st != LOCKSTORE_DELAYED && !free_lock)
		return st;
	if ((n = etcd_range_kv(etcd_resp_range(r, 3), 0, &pred)) == -1)
		return store_error(err, LOCKSTORE_STORAGE, EIO, "Storage "
		    "error: etcd lock for '%s': a malformed answer", resource);
	if (n == 1) {
		/* An older waiter: watch it (not the lock), so that one
		 * waiter is woken per change, as etcd's mutex does. */
		free(blk->key);
		blk->key = pred.key;
		blk->keylen = pred.keylen;
		blk->revision = r->revision;
		pred.key = NULL;
		if (free_lock)
			st = store_error_behind(err);
	} else if (free_lock && blk->ticket != NULL) {
		/* Refused with nobody before us: our key is gone with a
		 * lost session lease.  Queue again (behind whoever came
		 * meanwhile) and look again. */
		st = queue_put(e, blk->ticket, resource, err);
		if (st == LOCKSTORE_OK)
			st = ETCD_CHANGED;
	} else if (free_lock)
		st = ETCD_CHANGED;
	etcd_kv_free(&pred);
	return st;
}

/* Asks etcd to keep LEASE: 1 alive, 0 lost, -1 no answer. */
static int
keep_alive(struct etcd *e, unsigned long long lease)
{
	struct lockstore_error	*err;
	struct etcd_resp	 r;
	json_object		*res;
	char			 buf[24];
	int			 rc = -1;

	if ((err = malloc(sizeof(*err))) == NULL)
		return -1;
	snprintf(buf, sizeof(buf), "%llu", lease);
	if (etcd_post_member(e, "/v3/lease/keepalive", "ID", buf, &r,
	    "lease keepalive", NULL, err) == LOCKSTORE_OK) {
		rc = json_object_object_get_ex(r.root, "result", &res) &&
		    etcd_num(res, "TTL") > 0;
		etcd_resp_free(&r);
	}
	free(err);
	return rc;
}

/* After a lost lease: a new one, and every live wait key put again, in
 * the order of their old revisions (the list's). */
static void
requeue_all(struct etcd *e)
{
	struct etcd_queue	*q = e->queue;
	struct lockstore_error	*err;
	struct etcd_ticket	*t;
	unsigned long long	 lease;

	if ((err = malloc(sizeof(*err))) == NULL)
		return;
	/* Waiters that leave meanwhile wait for the queue's lock: this is
	 * the rare path of an etcd out of reach for ETCD_QUEUE_TTL_S. */
	if (session_lease(e, &lease, NULL, err) == LOCKSTORE_OK) {
		pthread_mutex_lock(&q->lock);
		TAILQ_FOREACH(t, &q->live, entry)
			if (put_key(e, t, lease, "(requeue)", err) !=
			    LOCKSTORE_OK)
				break;
		pthread_mutex_unlock(&q->lock);
	}
	free(err);
}

/* The queue's upkeep, from the expiry thread: keeps the session lease
 * alive (a lost one is replaced) and deletes the orphaned wait keys. */
static void
queue_tick(struct etcd *e)
{
	struct etcd_queue	*q = e->queue;
	struct ticket_list	 retry;
	struct etcd_ticket	*t;
	unsigned long long	 lease;
	long long		 now = clock_mono_ms();
	int			 due, alive = 1;

	TAILQ_INIT(&retry);
	pthread_mutex_lock(&q->lock);
	lease = q->lease;
	if ((due = lease != 0 && now >= q->keep_next))
		q->keep_next = now + QUEUE_KEEP_MS;
	TAILQ_CONCAT(&retry, &q->orphans, entry);
	pthread_mutex_unlock(&q->lock);
	if (due && (alive = keep_alive(e, lease)) == -1) {
		pthread_mutex_lock(&q->lock);
		q->keep_next = now + QUEUE_KEEP_RETRY_MS;
		pthread_mutex_unlock(&q->lock);
	}
	if (alive == 0) {
		session_lost(e, lease);
		requeue_all(e);
	}
	while ((t = TAILQ_FIRST(&retry)) != NULL) {
		TAILQ_REMOVE(&retry, t, entry);
		/* A lost lease took the key with it. */
		if (alive != 0 && delete_key(e, t) == -1) {
			pthread_mutex_lock(&q->lock);
			TAILQ_INSERT_TAIL(&q->orphans, t, entry);
			pthread_mutex_unlock(&q->lock);
		} else
			ticket_free(t);	/* deleted, or gone with the lease */
	}
}

/* The expiry thread's call: the queue's upkeep, then etcd_expire(). */
int
etcd_queue_expire(void *impl, struct lockstore_error *err)
{
	queue_tick(impl);
	return etcd_expire(impl, err);
}
