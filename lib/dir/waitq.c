/* SPDX-License-Identifier: MIT */
/*
 * The wait queue of acquire(): a FIFO of waiters per key (a lock file name)
 * in a small hash table, one condition variable per waiter so that exactly
 * the head is woken, and a watcher thread that turns inotify events of the
 * lock directory (releases by other processes) into wake-ups.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/queue.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "waitq.h"

#define WAITQ_BUCKETS		256	/* keys are few: at most max-waiters */
#define WAITQ_POLL_MS		1000	/* fallback poll of a head */
#define WAITQ_CANCEL_MS		100	/* how often the cancel test runs */
#define WAITQ_REWATCH_MS	1000	/* retry of a lost watch */
#define WAITQ_MASK		(IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
				    IN_CLOSE_WRITE | IN_ONLYDIR)

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
	uint32_t		 hash;
	size_t			 len;
	struct waiter_list	 fifo;
	char			 name[];
};

struct waitq {
	pthread_mutex_t		 lock;
	pthread_condattr_t	 cattr;		/* CLOCK_MONOTONIC */
	struct waitq_key	*buckets[WAITQ_BUCKETS];
	unsigned int		 count;		/* waiters, all keys */
	int			 infd;		/* inotify, -1: none */
	int			 wd;		/* the watch, -1: none */
	int			 kickfd;	/* eventfd to the watcher */
	int			 running;	/* the watcher thread exists */
	int			 stopping;
	pthread_t		 thread;
	char			 path[];
};

/* FNV-1a of the LEN bytes at S. */
static uint32_t
waitq_hash(const char *s, size_t len)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* The key NAME of LEN bytes and hash H, or NULL. */
static struct waitq_key *
waitq_find(struct waitq *q, const char *name, size_t len, uint32_t h)
{
	struct waitq_key	*k;

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

/* Tells every head to retry: events may have been missed. */
static void
waitq_wake_all(struct waitq *q)
{
	struct waitq_key	*k;
	size_t			 i;

	for (i = 0; i < WAITQ_BUCKETS; i++)
		for (k = q->buckets[i]; k != NULL; k = k->next)
			waitq_wake_head(k);
}

/* Wakes the watcher thread so that it looks at Q's state again. */
static void
waitq_kick(struct waitq *q)
{
	uint64_t	one = 1;
	ssize_t		n;

	/* Only EAGAIN (counter full, a kick is pending anyway) can fail. */
	n = write(q->kickfd, &one, sizeof(one));
	(void)n;
}

/* Handles the N bytes of inotify events in BUF; Q is locked. */
static void
waitq_events(struct waitq *q, const char *buf, size_t n)
{
	const struct inotify_event	*ev;
	struct waitq_key		*k;
	size_t				 off, len;
	int				 all = 0;

	for (off = 0; off + sizeof(*ev) <= n; off += sizeof(*ev) + ev->len) {
		ev = (const struct inotify_event *)(const void *)(buf + off);
		if (ev->mask & (IN_Q_OVERFLOW | IN_UNMOUNT))
			all = 1;
		else if (ev->mask & IN_IGNORED) {
			/* A watch removed by waitq_leave() has another wd. */
			if (ev->wd == q->wd) {
				q->wd = -1;
				all = 1;
			}
		} else if (ev->len > 0) {
			len = strnlen(ev->name, ev->len);
			k = waitq_find(q, ev->name, len,
			    waitq_hash(ev->name, len));
			if (k != NULL)
				waitq_wake_head(k);
		}
	}
	if (all)
		waitq_wake_all(q);
}

/*
 * Adds the watch when waiters need it and it is missing; Q is locked.
 * Whatever happened while there was no watch is unknown, so a watch added
 * for waiters already queued wakes every head.
 */
static void
waitq_rewatch(struct waitq *q)
{
	if (q->wd != -1 || q->count == 0 || q->infd == -1)
		return;
	q->wd = inotify_add_watch(q->infd, q->path, WAITQ_MASK);
	if (q->wd != -1)
		waitq_wake_all(q);
}

/* The watcher thread: reads inotify events until waitq_free(). */
static void *
waitq_watcher(void *arg)
{
	struct waitq	*q = arg;
	struct pollfd	 pfd[2];
	char		 buf[8192] __attribute__((aligned(
			    __alignof__(struct inotify_event))));
	uint64_t	 kicks;
	ssize_t		 n;
	int		 timeout;

	for (;;) {
		pthread_mutex_lock(&q->lock);
		if (q->stopping) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		waitq_rewatch(q);
		timeout = q->wd == -1 && q->count > 0 ? WAITQ_REWATCH_MS : -1;
		pthread_mutex_unlock(&q->lock);

		pfd[0].fd = q->kickfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = q->infd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, timeout) == -1) {
			if (errno != EINTR)
				poll(NULL, 0, WAITQ_CANCEL_MS);
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			n = read(q->kickfd, &kicks, sizeof(kicks));
			(void)n;
		}
		/* Read outside the lock, handle each batch under it. */
		while ((n = read(q->infd, buf, sizeof(buf))) > 0) {
			pthread_mutex_lock(&q->lock);
			waitq_events(q, buf, (size_t)n);
			pthread_mutex_unlock(&q->lock);
		}
	}
	return NULL;
}

/*
 * Starts inotify and the watcher thread; Q is locked.  On failure nothing
 * is left open and waiting falls back to polling; a later first waiter
 * tries again, so a passing shortage of descriptors does not last.
 */
static void
waitq_start(struct waitq *q)
{
	sigset_t	all, old;
	int		rc;

	if ((q->infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return;
	if ((q->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	/* Signals are for the daemon's own threads, never the watcher. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&q->thread, NULL, waitq_watcher, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		goto fail;
	q->running = 1;
	return;
fail:
	close(q->infd);
	q->infd = -1;
	if (q->kickfd != -1)
		close(q->kickfd);
	q->kickfd = -1;
}

/* Makes a queue for the lock directory PATH; see waitq.h. */
struct waitq *
waitq_new(const char *path)
{
	struct waitq	*q;
	size_t		 len;

	if (path == NULL) {
		errno = EINVAL;
		return NULL;
	}
	len = strlen(path);
	if ((q = calloc(1, sizeof(*q) + len + 1)) == NULL)
		return NULL;
	memcpy(q->path, path, len + 1);
	q->infd = q->wd = q->kickfd = -1;
	if (pthread_condattr_init(&q->cattr) != 0) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_condattr_setclock(&q->cattr, CLOCK_MONOTONIC) != 0 ||
	    pthread_mutex_init(&q->lock, NULL) != 0) {
		pthread_condattr_destroy(&q->cattr);
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	return q;
}

/* Queues a waiter for KEY; see waitq.h. */
struct waiter *
waitq_join(struct waitq *q, const char *key, unsigned int max)
{
	struct waiter		*w;
	struct waitq_key	*k;
	size_t			 len;
	uint32_t		 h;

	if (key == NULL || key[0] == '\0') {
		errno = EINVAL;
		return NULL;
	}
	len = strlen(key);
	h = waitq_hash(key, len);
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
	if ((k = waitq_find(q, key, len, h)) == NULL) {
		if ((k = malloc(sizeof(*k) + len + 1)) == NULL) {
			errno = ENOMEM;
			goto fail;
		}
		k->hash = h;
		k->len = len;
		memcpy(k->name, key, len + 1);
		TAILQ_INIT(&k->fifo);
		k->next = q->buckets[h % WAITQ_BUCKETS];
		q->buckets[h % WAITQ_BUCKETS] = k;
	}
	TAILQ_INSERT_TAIL(&k->fifo, w, entry);
	w->key = k;
	/*
	 * The first waiter starts the watch.  It is in place before the
	 * caller's first try, so a release after that try is seen.
	 */
	if (q->count++ == 0) {
		if (!q->running)
			waitq_start(q);
		if (q->running && q->wd == -1) {
			q->wd = inotify_add_watch(q->infd, q->path,
			    WAITQ_MASK);
			if (q->wd == -1)
				waitq_kick(q);	/* the watcher retries */
		}
	}
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

/* A + MS milliseconds. */
static struct timespec
waitq_ts_add(struct timespec a, long ms)
{
	a.tv_sec += ms / 1000;
	a.tv_nsec += (ms % 1000) * 1000000L;
	if (a.tv_nsec >= 1000000000L) {
		a.tv_sec++;
		a.tv_nsec -= 1000000000L;
	}
	return a;
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
	poll_at = waitq_ts_add(now, WAITQ_POLL_MS);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		/*
		 * The cancel test runs on its own schedule, kept across
		 * calls, so that frequent retries cannot starve it.
		 */
		if (cancelled != NULL &&
		    waitq_ts_cmp(&now, &w->cancel_at) >= 0) {
			w->cancel_at = waitq_ts_add(now, WAITQ_CANCEL_MS);
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
		free(k);
	}
	/*
	 * Nobody waits: drop the watch, so that the lock traffic of an idle
	 * daemon does not run through the watcher.  Its IN_IGNORED comes
	 * with a wd that is no longer ours and is ignored.
	 */
	if (--q->count == 0 && q->wd != -1) {
		inotify_rm_watch(q->infd, q->wd);
		q->wd = -1;
	}
	pthread_mutex_unlock(&q->lock);
	pthread_cond_destroy(&w->cv);
	free(w);
}

/* Wakes the head of KEY after this process released it. */
void
waitq_notify(struct waitq *q, const char *key)
{
	struct waitq_key	*k;
	size_t			 len = strlen(key);

	pthread_mutex_lock(&q->lock);
	if ((k = waitq_find(q, key, len, waitq_hash(key, len))) != NULL)
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
	size_t	len = strlen(key);
	int	found;

	pthread_mutex_lock(&q->lock);
	found = waitq_find(q, key, len, waitq_hash(key, len)) != NULL;
	pthread_mutex_unlock(&q->lock);
	return found;
}

/* Stops the watcher and frees Q. */
void
waitq_free(struct waitq *q)
{
	if (q == NULL)
		return;
	if (q->running) {
		pthread_mutex_lock(&q->lock);
		q->stopping = 1;
		pthread_mutex_unlock(&q->lock);
		waitq_kick(q);
		pthread_join(q->thread, NULL);
		close(q->kickfd);
	}
	if (q->infd != -1)
		close(q->infd);
	pthread_mutex_destroy(&q->lock);
	pthread_condattr_destroy(&q->cattr);
	free(q);
}
