/* SPDX-License-Identifier: MIT */
/*
 * The lease expiry thread: calls lockstore_expire() every 100 ms until
 * told to stop, and says when leases expired or the store fails.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "expire.h"
#include "log.h"

#define EXPIRE_INTERVAL_MS	100
#define EXPIRE_ERROR_EVERY	60	/* seconds between error lines */

struct expirer {
	struct lockstore	*store;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;
	int			 stop;
};

/*
 * Calls lockstore_expire() every EXPIRE_INTERVAL_MS until told to stop.
 * A failing store would fail ten times a second: one line a minute says
 * so, with the count of the failures not logged.
 */
static void *
expire_run(void *arg)
{
	struct expirer		*x = arg;
	struct lockstore_error	 err;
	struct timespec		 t;
	long long		 now, last_error = 0;
	unsigned long		 quiet = 0;
	int			 n;

	pthread_mutex_lock(&x->lock);
	while (!x->stop) {
		t = clock_abs_in(EXPIRE_INTERVAL_MS);
		pthread_cond_timedwait(&x->wake, &x->lock, &t);
		if (x->stop)
			break;
		pthread_mutex_unlock(&x->lock);
		n = lockstore_expire(x->store, &err);
		if (n > 0)
			log_info("%d lease%s expired", n, n == 1 ? "" : "s");
		if (n == -1) {
			now = clock_mono_ms() / 1000;
			if (last_error == 0 ||
			    now - last_error >= EXPIRE_ERROR_EVERY) {
				log_warnx("expiring leases: %s (%lu more "
				    "failures since the last report)", err.msg,
				    quiet);
				last_error = now;
				quiet = 0;
			} else
				quiet++;
		}
		pthread_mutex_lock(&x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* Starts the expiry thread on STORE. */
struct expirer *
expire_start(struct lockstore *store)
{
	struct expirer		*x;
	pthread_condattr_t	 ca;
	int			 e;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	x->store = store;
	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((e = pthread_create(&x->thread, NULL, expire_run, x)) != 0) {
		pthread_cond_destroy(&x->wake);
		pthread_mutex_destroy(&x->lock);
		free(x);
		errno = e;
		return NULL;
	}
	return x;
}

/* Stops, joins and frees the expiry thread. */
void
expire_stop(struct expirer *x)
{
	pthread_mutex_lock(&x->lock);
	x->stop = 1;
	pthread_cond_signal(&x->wake);
	pthread_mutex_unlock(&x->lock);
	pthread_join(x->thread, NULL);
	pthread_cond_destroy(&x->wake);
	pthread_mutex_destroy(&x->lock);
	free(x);
}
