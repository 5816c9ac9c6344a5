/* SPDX-License-Identifier: MIT */
/*
 * The wait queue of acquire(): a FIFO of waiters per key (a resource name)
 * in a small hash table, one condition variable per waiter so that exactly
 * the head is woken.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "waitq.h"

#define WAITQ_BUCKETS		256	/* keys are few: at most max-waiters */
#define WAITQ_POLL_MS		1000	/* fallback poll of a head */
#define WAITQ_CANCEL_MS		100	/* how often the cancel test runs */

struct waitq_key;

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	struct waitq_key	*key;
	pthread_cond_t		 cv;
	int			 pending;	/* head, and told to retry */
	struct timespec		 cancel_at;	/* next run of the cancel test */
};

TAILQ_HEAD(waiter_list, waiter);

/* A key with waiters; it exists only while its FIFO is not empty. */
struct waitq_key {
	struct waitq_key	*next;		/* hash chain */
	LIST_ENTRY(waitq_key)	 tagged;	/* on q->tagged when tag set */
	char			*tag;		/* the backend's name, or NULL */
	uint32_t		 tag_hash;	/* of tag: events compare it first */
	uint32_t		 hash;
	size_t			 len;
	struct waiter_list	 fifo;
	char			 name[];
};

struct waitq {
	pthread_mutex_t		 lock;
	pthread_condattr_t	 cattr;		/* CLOCK_MONOTONIC */
	struct waitq_key	*buckets[WAITQ_BUCKETS];
	LIST_HEAD(, waitq_key)	 tagged;
	unsigned int		 count;		/* waiters, all keys */
};

/* The bucket hash of the LEN bytes at S. */
static uint32_t
waitq_hash(const char *s, size_t len)
{
	return (uint32_t)codec_fnv1a(s, len);
}

/* The key NAME, or NULL; Q is locked. */
static struct waitq_key *
waitq_find(struct waitq *q, const char *name)
{
	struct waitq_key	*k;
	size_t			 len = strlen(name);
	uint32_t		 h = waitq_hash(name, len);

	for (k = q->buckets[h % WAITQ_BUCKETS]; k != NULL; k = k->next)
		if (k->hash == h && k->len == len &&
		    memcmp(k->name, name, len) == 0)
			return k;
	return NULL;
}

/* Tells the head of K, if any, to retry. */
static void
waitq_wake_head(struct waitq_key *k)
{
	struct waiter	*w;

	if ((w = TAILQ_FIRST(&k->fifo)) != NULL) {
		w->pending = 1;
		pthread_cond_signal(&w->cv);
	}
}

/* Makes an empty queue; see waitq.h. */
struct waitq *
waitq_new(void)
{
	struct waitq	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	LIST_INIT(&q->tagged);
	if (pthread_condattr_init(&q->cattr) != 0)
		goto fail;
	if (pthread_condattr_setclock(&q->cattr, CLOCK_MONOTONIC) != 0 ||
	    pthread_mutex_init(&q->lock, NULL) != 0) {
		pthread_condattr_destroy(&q->cattr);
		goto fail;
	}
	return q;
fail:
	free(q);
	errno = ENOMEM;
	return NULL;
}

/* The key KEY, made when missing; NULL: ENOMEM.  Q is locked. */
static struct waitq_key *
waitq_key_get(struct waitq *q, const char *key)
{
	struct waitq_key	*k;
	size_t			 len;

	if ((k = waitq_find(q, key)) != NULL)
		return k;
	len = strlen(key);
	if ((k = malloc(sizeof(*k) + len + 1)) == NULL)
		return NULL;
	k->hash = waitq_hash(key, len);
	k->len = len;
	k->tag = NULL;
	memcpy(k->name, key, len + 1);
	TAILQ_INIT(&k->fifo);
	k->next = q->buckets[k->hash % WAITQ_BUCKETS];
	q->buckets[k->hash % WAITQ_BUCKETS] = k;
	return k;
}

/* Queues a waiter for KEY; see waitq.h. */
struct waiter *
waitq_join(struct waitq *q, const char *key, unsigned int max)
{
	struct waiter		*w;
	struct waitq_key	*k;

	if (key == NULL || key[0] == '\0') {
		errno = EINVAL;
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if (pthread_cond_init(&w->cv, &q->cattr) != 0) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	/* cancel_at stays zero: the first wait runs the cancel test. */
	pthread_mutex_lock(&q->lock);
	if (q->count >= max) {
		errno = EAGAIN;
		goto fail;
	}
	if ((k = waitq_key_get(q, key)) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	TAILQ_INSERT_TAIL(&k->fifo, w, entry);
	w->key = k;
	q->count++;
	pthread_mutex_unlock(&q->lock);
	return w;
fail:
	pthread_mutex_unlock(&q->lock);
	pthread_cond_destroy(&w->cv);
	free(w);
	return NULL;
}

/* Whether W heads its key's FIFO. */
int
waitq_is_head(struct waitq *q, const struct waiter *w)
{
	int	head;

	pthread_mutex_lock(&q->lock);
	head = TAILQ_FIRST(&w->key->fifo) == w;
	pthread_mutex_unlock(&q->lock);
	return head;
}

/* <0, 0, >0 as A is before, at, after B. */
static int
waitq_ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* Lowers *WAKE to T, or sets it when *HAVE is 0. */
static void
waitq_ts_min(struct timespec *wake, int *have, const struct timespec *t)
{
	if (!*have || waitq_ts_cmp(t, wake) < 0)
		*wake = *t;
	*have = 1;
}

/* Sleeps until W should retry, times out or is cancelled; see waitq.h. */
enum waitq_result
waitq_wait(struct waitq *q, struct waiter *w, const struct timespec *deadline,
    lockstore_cancel_fn cancelled, void *arg)
{
	enum waitq_result	r;
	struct timespec		now, poll_at, wake;
	int			head, have, stop;

	clock_gettime(CLOCK_MONOTONIC, &now);
	poll_at = clock_abs_in(WAITQ_POLL_MS);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		/*
		 * The cancel test runs on its own schedule, kept across
		 * calls, so that frequent retries cannot starve it.
		 */
		if (cancelled != NULL &&
		    waitq_ts_cmp(&now, &w->cancel_at) >= 0) {
			w->cancel_at = clock_abs_in(WAITQ_CANCEL_MS);
			pthread_mutex_unlock(&q->lock);
			stop = cancelled(arg);
			pthread_mutex_lock(&q->lock);
			if (stop) {
				r = WAITQ_CANCELLED;
				break;
			}
			clock_gettime(CLOCK_MONOTONIC, &now);
		}
		/* Only a head is ever told to retry. */
		if (w->pending) {
			w->pending = 0;
			r = WAITQ_RETRY;
			break;
		}
		if (deadline != NULL && waitq_ts_cmp(&now, deadline) >= 0) {
			r = WAITQ_TIMEOUT;
			break;
		}
		head = TAILQ_FIRST(&w->key->fifo) == w;
		if (head && waitq_ts_cmp(&now, &poll_at) >= 0) {
			r = WAITQ_RETRY;
			break;
		}
		have = 0;
		if (deadline != NULL)
			waitq_ts_min(&wake, &have, deadline);
		if (cancelled != NULL)
			waitq_ts_min(&wake, &have, &w->cancel_at);
		if (head)
			waitq_ts_min(&wake, &have, &poll_at);
		if (have)
			pthread_cond_timedwait(&w->cv, &q->lock, &wake);
		else
			pthread_cond_wait(&w->cv, &q->lock);
		clock_gettime(CLOCK_MONOTONIC, &now);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

/* Takes W out of the queue and frees it; see waitq.h. */
void
waitq_leave(struct waitq *q, struct waiter *w)
{
	struct waitq_key	*k, **kp;
	int			 head;

	if (w == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	k = w->key;
	head = TAILQ_FIRST(&k->fifo) == w;
	TAILQ_REMOVE(&k->fifo, w, entry);
	if (head)
		waitq_wake_head(k);	/* the new head retries at once */
	if (TAILQ_EMPTY(&k->fifo)) {
		for (kp = &q->buckets[k->hash % WAITQ_BUCKETS]; *kp != k;
		    kp = &(*kp)->next)
			;
		*kp = k->next;
		if (k->tag != NULL) {
			LIST_REMOVE(k, tagged);
			free(k->tag);
		}
		free(k);
	}
	q->count--;
	pthread_mutex_unlock(&q->lock);
	pthread_cond_destroy(&w->cv);
	free(w);
}

/* Wakes the head of KEY after this process released it. */
void
waitq_notify(struct waitq *q, const char *key)
{
	struct waitq_key	*k;

	pthread_mutex_lock(&q->lock);
	if ((k = waitq_find(q, key)) != NULL)
		waitq_wake_head(k);
	pthread_mutex_unlock(&q->lock);
}

/* Tags W's key; see waitq.h. */
int
waitq_tag(struct waitq *q, struct waiter *w, const char *tag)
{
	struct waitq_key	*k;
	int			 rc = 0;

	pthread_mutex_lock(&q->lock);
	k = w->key;
	if (k->tag == NULL) {
		if ((k->tag = strdup(tag)) == NULL)
			rc = -1;
		else {
			k->tag_hash = waitq_hash(tag, strlen(tag));
			LIST_INSERT_HEAD(&q->tagged, k, tagged);
			rc = 1;
		}
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Wakes the heads of the keys tagged TAG. */
void
waitq_notify_tag(struct waitq *q, const char *tag)
{
	struct waitq_key	*k;
	uint32_t		 h = waitq_hash(tag, strlen(tag));

	/* Every event of the directory comes here while anyone waits. */
	pthread_mutex_lock(&q->lock);
	LIST_FOREACH(k, &q->tagged, tagged)
		if (k->tag_hash == h && strcmp(k->tag, tag) == 0)
			waitq_wake_head(k);
	pthread_mutex_unlock(&q->lock);
}

/* Wakes every head. */
void
waitq_notify_all(struct waitq *q)
{
	struct waitq_key	*k;
	size_t			 i;

	pthread_mutex_lock(&q->lock);
	for (i = 0; i < WAITQ_BUCKETS; i++)
		for (k = q->buckets[i]; k != NULL; k = k->next)
			waitq_wake_head(k);
	pthread_mutex_unlock(&q->lock);
}

/* The number of queued waiters. */
unsigned int
waitq_count(struct waitq *q)
{
	unsigned int	n;

	pthread_mutex_lock(&q->lock);
	n = q->count;
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* Whether KEY has waiters. */
int
waitq_has_waiters(struct waitq *q, const char *key)
{
	int	found;

	pthread_mutex_lock(&q->lock);
	found = waitq_find(q, key) != NULL;
	pthread_mutex_unlock(&q->lock);
	return found;
}

/* Frees Q. */
void
waitq_free(struct waitq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_condattr_destroy(&q->cattr);
	free(q);
}
