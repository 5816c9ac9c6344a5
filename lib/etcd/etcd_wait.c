/* SPDX-License-Identifier: MIT */
/*
 * Waiting in the etcd backend: a waiter (each has its place in etcd's
 * queue, etcd_queue.c) waits on an etcd watch of the key that refused it
 * (the lock, the lock-delay, or the wait key of the waiter before it),
 * started at the revision right after its look, so a change by any lockd
 * sharing the cluster wakes it as soon as etcd tells of it, and none is
 * missed between the look and the watch.
 *
 * The watch is a streaming POST to /v3/watch, driven by a curl multi
 * handle in slices of ETCD_CANCEL_MS, so that the caller's cancel test
 * and the deadline are honoured while nothing arrives.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "etcd.h"

/* The state of one watch stream. */
struct stream {
	struct etcd_body b;
	int	 fired;		/* an event (or a cancelled watch): look */
	int	 failed;	/* an error message, or too much data */
};

/* Judges one line of the stream: {"result":{...}} or {"error":...}. */
static void
stream_line(struct stream *s, const char *line)
{
	json_object	*o, *res, *v;

	o = json_tokener_parse(line);	/* NULL: no "result" either */
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
	struct etcd_body *b = &s->b;
	size_t		 len = size * n, i, startpos;

	if (etcd_body_add(b, p, len) == -1) {
		s->failed = 1;
		return 0;
	}
	/* Complete lines are complete messages. */
	startpos = 0;
	for (i = 0; i < b->len; i++) {
		if (b->buf[i] != '\n')
			continue;
		b->buf[i] = '\0';
		if (i > startpos)
			stream_line(s, b->buf + startpos);
		startpos = i + 1;
	}
	memmove(b->buf, b->buf + startpos, b->len - startpos);
	b->len -= startpos;
	b->buf[b->len] = '\0';
	/* Stop the transfer once there is something to look at. */
	return s->fired || s->failed ? 0 : len;
}

/* Sleeps W in the queue for ETCD_REWATCH_MS at most: a failed watch's
 * pause (a release in this process ends it early). */
static enum waitq_result
pause_rewatch(const struct store_wait *w)
{
	struct timespec	ts;
	long long	left = w->until_ms - clock_mono_ms();

	ts = clock_abs_in(left < ETCD_REWATCH_MS ? left : ETCD_REWATCH_MS);
	return waitq_wait(w->q, w->w, &ts, w->cancelled, w->cancel_arg);
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

/* Watches the key of W's block; see store_wait_fn. */
enum waitq_result
etcd_wait(void *impl, const struct store_wait *w)
{
	struct etcd		*e = impl;
	long long		 now, left;
	struct stream		 s;
	enum waitq_result	 r = WAITQ_RETRY;
	CURLM			*m = NULL;
	CURL			*c = NULL;
	char			*body = NULL;
	unsigned int		 idx;
	int			 running = 1;

	memset(&s, 0, sizeof(s));
	if (w->block->key == NULL)
		return pause_rewatch(w);
	idx = __atomic_load_n(&e->current, __ATOMIC_RELAXED) % e->nendpoints;
	if ((body = watch_body(w->block->key, w->block->keylen,
	    w->block->revision + 1)) == NULL ||
	    (c = etcd_handle_get(e, idx, "/v3/watch", NULL)) == NULL ||
	    (m = curl_multi_init()) == NULL)
		goto failed;
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (curl_multi_add_handle(m, c) != CURLM_OK)
		goto failed;
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
		if (w->cancelled != NULL && w->cancelled(w->cancel_arg)) {
			r = WAITQ_CANCELLED;
			break;
		}
		now = clock_mono_ms();
		if (now >= w->until_ms) {
			r = WAITQ_TIMEOUT;
			break;
		}
		left = w->until_ms - now;
		if (left > ETCD_CANCEL_MS)
			left = ETCD_CANCEL_MS;
		if (curl_multi_poll(m, NULL, 0, (int)left, NULL) != CURLM_OK)
			goto failed;
	}
	goto out;
failed:
	r = pause_rewatch(w);
out:
	curl_multi_remove_handle(m, c);	/* not added: a harmless error */
	curl_multi_cleanup(m);	/* NULL: a no-op, as for the handle */
	/* The stream's connection cannot serve another request. */
	curl_easy_cleanup(c);
	free(body);
	free(s.b.buf);
	return r;
}
