/* SPDX-License-Identifier: MIT */
/*
 * The lock directory's watch: a watcher thread that turns inotify events
 * of the lock directory (releases by other processes) into wake-ups of
 * the store's wait queue.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/inotify.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "watch.h"

#define WATCH_RETRY_MS	100	/* after a failed poll() */
#define WATCH_MASK	(IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
			    IN_CLOSE_WRITE | IN_ONLYDIR)

struct dirwatch {
	pthread_mutex_t	 lock;		/* wd, running, stopping */
	struct waitq	*q;
	int		 infd;		/* inotify, -1: none */
	int		 wd;		/* the watch, -1: none */
	int		 kickfd;	/* eventfd to the watcher */
	int		 running;	/* the watcher thread exists */
	int		 stopping;
	pthread_t	 thread;
	char		 path[];
};

/* Handles the N bytes of inotify events in BUF; D is locked. */
static void
watch_events(struct dirwatch *d, const char *buf, size_t n)
{
	const struct inotify_event	*ev;
	size_t				 off;
	int				 all = 0;

	for (off = 0; off + sizeof(*ev) <= n; off += sizeof(*ev) + ev->len) {
		ev = (const struct inotify_event *)(const void *)(buf + off);
		if (ev->mask & (IN_Q_OVERFLOW | IN_UNMOUNT))
			all = 1;
		else if (ev->mask & IN_IGNORED) {
			/*
			 * Ours was lost (a watch dropped while idle had
			 * another wd): watch again at once, before every
			 * head looks, so that no release falls between.
			 */
			if (ev->wd == d->wd) {
				d->wd = inotify_add_watch(d->infd, d->path,
				    WATCH_MASK);
				all = 1;
			}
		} else if (ev->len > 0)
			waitq_notify_tag(d->q, ev->name);
	}
	if (all)
		waitq_notify_all(d->q);
	/*
	 * Nobody waits: drop the watch, so that the lock traffic of an idle
	 * daemon does not run through the watcher.  The next waiter adds it
	 * again (dirwatch_arm()).
	 */
	if (d->wd != -1 && waitq_count(d->q) == 0) {
		inotify_rm_watch(d->infd, d->wd);
		d->wd = -1;
	}
}

/* The watcher thread: reads inotify events until dirwatch_free(). */
static void *
watch_main(void *arg)
{
	struct dirwatch	*d = arg;
	struct pollfd	 pfd[2];
	char		 buf[8192] __attribute__((aligned(
			    __alignof__(struct inotify_event))));
	uint64_t	 kicks;
	ssize_t		 n;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		if (d->stopping) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		pthread_mutex_unlock(&d->lock);
		pfd[0].fd = d->kickfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = d->infd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno != EINTR)
				poll(NULL, 0, WATCH_RETRY_MS);
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			n = read(d->kickfd, &kicks, sizeof(kicks));
			(void)n;
		}
		/* Read outside the lock, handle each batch under it. */
		while ((n = read(d->infd, buf, sizeof(buf))) > 0) {
			pthread_mutex_lock(&d->lock);
			watch_events(d, buf, (size_t)n);
			pthread_mutex_unlock(&d->lock);
		}
	}
	return NULL;
}

/*
 * Starts inotify and the watcher thread; D is locked.  On failure nothing
 * is left open and waiting falls back to polling; a later waiter tries
 * again, so a passing shortage of descriptors does not last.
 */
static void
watch_start(struct dirwatch *d)
{
	sigset_t	all, old;
	int		rc;

	if ((d->infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return;
	if ((d->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	/* Signals are for the daemon's own threads, never the watcher. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&d->thread, NULL, watch_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		goto fail;
	d->running = 1;
	return;
fail:
	close(d->infd);
	d->infd = -1;
	if (d->kickfd != -1)
		close(d->kickfd);
	d->kickfd = -1;
}

/* A watch of PATH for Q; see watch.h. */
struct dirwatch *
dirwatch_new(const char *path, struct waitq *q)
{
	struct dirwatch	*d;
	size_t		 len;

	if (path == NULL || q == NULL) {
		errno = EINVAL;
		return NULL;
	}
	len = strlen(path);
	if ((d = calloc(1, sizeof(*d) + len + 1)) == NULL)
		return NULL;
	memcpy(d->path, path, len + 1);
	d->q = q;
	d->infd = d->wd = d->kickfd = -1;
	if (pthread_mutex_init(&d->lock, NULL) != 0) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

/* Routes FNAME's events to W; see watch.h. */
int
dirwatch_arm(struct dirwatch *d, struct waiter *w, const char *fname)
{
	int	fresh = 0, tagged;

	pthread_mutex_lock(&d->lock);
	if (!d->running)
		watch_start(d);
	if (d->running && d->wd == -1) {
		d->wd = inotify_add_watch(d->infd, d->path, WATCH_MASK);
		fresh = d->wd != -1;
	}
	/* Tagged under D's lock: no event batch is handled meanwhile. */
	tagged = d->wd != -1 ? waitq_tag(d->q, w, fname) : 0;
	pthread_mutex_unlock(&d->lock);
	return fresh || tagged == 1;
}

/* Stops the watcher and frees D. */
void
dirwatch_free(struct dirwatch *d)
{
	uint64_t	one = 1;
	ssize_t		n;

	if (d == NULL)
		return;
	if (d->running) {
		pthread_mutex_lock(&d->lock);
		d->stopping = 1;
		pthread_mutex_unlock(&d->lock);
		n = write(d->kickfd, &one, sizeof(one));
		(void)n;
		pthread_join(d->thread, NULL);
		close(d->kickfd);
	}
	if (d->infd != -1)
		close(d->infd);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
