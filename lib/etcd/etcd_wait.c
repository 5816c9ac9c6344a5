/* SPDX-License-Identifier: MIT */
/*
 * Waiting in the etcd backend: the waiters of this process queue per
 * resource in arrival order, and only the head of a queue looks at etcd.
 * The head waits on an etcd watch of the key that refused it (the lock,
 * or the lock-delay), started at the revision right after its look, so a
 * release by any lockd sharing the cluster wakes it as soon as etcd tells
 * of it, and none is missed between the look and the watch.
 *
 * The watch is a streaming POST to /v3/watch, driven by a curl multi
 * handle in slices of ETCD_CANCEL_MS, so that the caller's cancel test
 * and the deadline are honoured while nothing arrives.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "etcd.h"
#include "store_impl.h"

struct etcd_waiter {
	TAILQ_ENTRY(etcd_waiter) entry;
	char			*resource;
};

TAILQ_HEAD(waiter_list, etcd_waiter);

struct etcd_fifo {
	pthread_mutex_t		lock;
	pthread_cond_t		changed;	/* CLOCK_MONOTONIC */
	struct waiter_list	waiters;	/* all resources, arrival order */
	unsigned int		count;
};

/* A FIFO for the waiters of one store; NULL when out of memory. */
struct etcd_fifo *
etcd_fifo_new(void)
{
	struct etcd_fifo	*f;
	pthread_condattr_t	 ca;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->changed, &ca);
	pthread_condattr_destroy(&ca);
	TAILQ_INIT(&f->waiters);
	return f;
}

/* Frees F; no waiter may remain.  Accepts NULL. */
void
etcd_fifo_free(struct etcd_fifo *f)
{
	if (f == NULL)
		return;
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Joins RESOURCE's queue unless MAX wait already. */
struct etcd_waiter *
etcd_fifo_join(struct etcd_fifo *f, const char *resource, unsigned int max)
{
	struct etcd_waiter	*w;

	pthread_mutex_lock(&f->lock);
	if (f->count >= max) {
		pthread_mutex_unlock(&f->lock);
		errno = EAGAIN;
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->resource = strdup(resource)) == NULL) {
		pthread_mutex_unlock(&f->lock);
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	TAILQ_INSERT_TAIL(&f->waiters, w, entry);
	f->count++;
	pthread_mutex_unlock(&f->lock);
	return w;
}

/* Whether no waiter of W's resource came before W; F locked. */
static int
is_head_locked(struct etcd_fifo *f, const struct etcd_waiter *w)
{
	struct etcd_waiter	*o;

	TAILQ_FOREACH(o, &f->waiters, entry) {
		if (o == w)
			return 1;
		if (strcmp(o->resource, w->resource) == 0)
			return 0;
	}
	return 0;
}

/* Whether W is first in its resource's queue. */
int
etcd_fifo_is_head(struct etcd_fifo *f, const struct etcd_waiter *w)
{
	int	head;

	pthread_mutex_lock(&f->lock);
	head = is_head_locked(f, w);
	pthread_mutex_unlock(&f->lock);
	return head;
}

/* Whether RESOURCE has waiters. */
int
etcd_fifo_has_waiters(struct etcd_fifo *f, const char *resource)
{
	struct etcd_waiter	*o;
	int			 found = 0;

	pthread_mutex_lock(&f->lock);
	TAILQ_FOREACH(o, &f->waiters, entry)
		if (strcmp(o->resource, resource) == 0) {
			found = 1;
			break;
		}
	pthread_mutex_unlock(&f->lock);
	return found;
}

/* Leaves the queue and frees W; the next waiter becomes head.  Accepts
 * NULL. */
void
etcd_fifo_leave(struct etcd_fifo *f, struct etcd_waiter *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	TAILQ_REMOVE(&f->waiters, w, entry);
	f->count--;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
	free(w->resource);
	free(w);
}

/* CLOCK_MONOTONIC milliseconds as an absolute timespec. */
static void
abs_time(struct timespec *ts, long long ms)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/* Sleeps until W is head, END_MS passes or CANCELLED says so. */
enum etcd_wake
etcd_fifo_wait(struct etcd_fifo *f, struct etcd_waiter *w, long long end_ms,
    lockstore_cancel_fn cancelled, void *arg)
{
	struct timespec	ts;
	long long	now, until;

	for (;;) {
		if (cancelled != NULL && cancelled(arg))
			return ETCD_WAKE_CANCELLED;
		now = etcd_mono_ms();
		pthread_mutex_lock(&f->lock);
		if (is_head_locked(f, w)) {
			pthread_mutex_unlock(&f->lock);
			return ETCD_WAKE_RETRY;
		}
		if (now >= end_ms) {
			pthread_mutex_unlock(&f->lock);
			return ETCD_WAKE_TIMEOUT;
		}
		until = now + ETCD_CANCEL_MS < end_ms ? now + ETCD_CANCEL_MS :
		    end_ms;
		abs_time(&ts, until);
		pthread_cond_timedwait(&f->changed, &f->lock, &ts);
		pthread_mutex_unlock(&f->lock);
	}
}

/* The state of one watch stream. */
struct stream {
	char	*buf;
	size_t	 len, cap;
	int	 fired;		/* an event (or a cancelled watch): look */
	int	 failed;	/* an error message, or too much data */
};

/* Judges one line of the stream: {"result":{...}} or {"error":...}. */
static void
stream_line(struct stream *s, const char *line)
{
	json_object	*o, *res, *v;

	if ((o = json_tokener_parse(line)) == NULL) {
		s->failed = 1;
		return;
	}
	if (!json_object_object_get_ex(o, "result", &res))
		s->failed = 1;
	else if ((json_object_object_get_ex(res, "events", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) > 0) ||
	    (json_object_object_get_ex(res, "canceled", &v) &&
	    json_object_get_boolean(v)))
		s->fired = 1;
	json_object_put(o);
}

static size_t
stream_write(char *p, size_t size, size_t n, void *arg)
{
	struct stream	*s = arg;
	size_t		 len = size * n, cap, i, startpos;
	char		*nb;

	if (s->len + len + 1 > ETCD_RESPONSE_MAX) {
		s->failed = 1;
		return 0;
	}
	if (s->len + len + 1 > s->cap) {
		cap = s->cap > 0 ? s->cap : 4096;
		while (cap < s->len + len + 1)
			cap *= 2;
		if ((nb = realloc(s->buf, cap)) == NULL) {
			s->failed = 1;
			return 0;
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->buf[s->len] = '\0';
	/* Complete lines are complete messages. */
	startpos = 0;
	for (i = 0; i < s->len; i++) {
		if (s->buf[i] != '\n')
			continue;
		s->buf[i] = '\0';
		if (i > startpos)
			stream_line(s, s->buf + startpos);
		startpos = i + 1;
	}
	memmove(s->buf, s->buf + startpos, s->len - startpos);
	s->len -= startpos;
	s->buf[s->len] = '\0';
	/* Stop the transfer once there is something to look at. */
	return s->fired || s->failed ? 0 : len;
}

/* Sleeps until END_MS or at most MS, testing CANCELLED. */
static enum etcd_wake
nap(long long ms, long long end_ms, lockstore_cancel_fn cancelled, void *arg)
{
	struct timespec	ts;
	long long	until = etcd_mono_ms() + ms, now, step;

	for (;;) {
		if (cancelled != NULL && cancelled(arg))
			return ETCD_WAKE_CANCELLED;
		now = etcd_mono_ms();
		if (now >= end_ms)
			return ETCD_WAKE_TIMEOUT;
		if (now >= until)
			return ETCD_WAKE_RETRY;
		step = until - now;
		if (step > ETCD_CANCEL_MS)
			step = ETCD_CANCEL_MS;
		if (end_ms - now < step)
			step = end_ms - now;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step * 1000000L;
		nanosleep(&ts, NULL);
	}
}

/* The body of a watch of KEY from revision REV on. */
static char *
watch_body(const char *key, size_t klen, unsigned long long rev)
{
	char	*k, *body;

	if ((k = etcd_b64(key, klen)) == NULL)
		return NULL;
	if (asprintf(&body, "{\"create_request\":{\"key\":\"%s\","
	    "\"start_revision\":\"%llu\"}}", k, rev) == -1)
		body = NULL;
	free(k);
	return body;
}

/* Watches BLOCK's key; see etcd.h. */
enum etcd_wake
etcd_watch(struct etcd *e, const struct etcd_block *block, long long end_ms,
    lockstore_cancel_fn cancelled, void *arg)
{
	struct stream	 s;
	enum etcd_wake	 r = ETCD_WAKE_RETRY;
	CURLM		*m = NULL;
	CURL		*c = NULL;
	char		*body = NULL;
	unsigned int	 idx;
	long long	 now, left;
	int		 running = 1, added = 0;

	memset(&s, 0, sizeof(s));
	if (block->key == NULL)
		return nap(ETCD_REWATCH_MS, end_ms, cancelled, arg);
	idx = __atomic_load_n(&e->current, __ATOMIC_RELAXED) % e->nendpoints;
	if ((body = watch_body(block->key, block->keylen,
	    block->revision + 1)) == NULL ||
	    (c = etcd_handle_get(e, idx, "/v3/watch", NULL)) == NULL ||
	    (m = curl_multi_init()) == NULL)
		goto failed;
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (curl_multi_add_handle(m, c) != CURLM_OK)
		goto failed;
	added = 1;
	for (;;) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			goto failed;
		if (s.fired)
			break;
		if (s.failed || running == 0) {
			/* The stream ended or broke: the member went away
			 * or refused; the next look will tell. */
			etcd_rotate(e, idx);
			goto failed;
		}
		if (cancelled != NULL && cancelled(arg)) {
			r = ETCD_WAKE_CANCELLED;
			break;
		}
		now = etcd_mono_ms();
		if (now >= end_ms) {
			r = ETCD_WAKE_TIMEOUT;
			break;
		}
		left = end_ms - now;
		if (left > ETCD_CANCEL_MS)
			left = ETCD_CANCEL_MS;
		if (curl_multi_poll(m, NULL, 0, (int)left, NULL) != CURLM_OK)
			goto failed;
	}
	goto out;
failed:
	r = nap(ETCD_REWATCH_MS, end_ms, cancelled, arg);
out:
	if (added)
		curl_multi_remove_handle(m, c);
	if (m != NULL)
		curl_multi_cleanup(m);
	if (c != NULL) {
		/* The stream's connection cannot serve another request. */
		curl_easy_cleanup(c);
	}
	free(body);
	free(s.buf);
	return r;
}
