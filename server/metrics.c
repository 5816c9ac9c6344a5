/* SPDX-License-Identifier: MIT */
/*
 * Metrics in the Prometheus text format 0.0.4: the store's counters, read
 * at each scrape, and the XML-RPC request latency histogram kept here.
 */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

/* Upper bounds of the request latency buckets; "%g" prints each as
 * written here. */
static const double	 req_bound[] = { 0.0005, 0.001, 0.0025, 0.005,
			    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define REQ_BOUNDS	(sizeof(req_bound) / sizeof(req_bound[0]))

/*
 * Per-bucket (not cumulative) counts, the last one beyond every bound.
 * The count is their sum, so a scrape always sees a histogram whose +Inf
 * bucket equals its count, whatever requests end while it reads.
 */
static atomic_ullong	 req_buckets[REQ_BOUNDS + 1];
static atomic_ullong	 req_sum_ns;
static struct timespec	 start_time;

/* A growing text buffer; failed is set once an allocation failed. */
struct mbuf {
	char	*p;
	size_t	 len, cap;
	int	 failed;
};

/* Starts the clock of lockd_start_time_seconds. */
void
metrics_init(void)
{
	clock_gettime(CLOCK_REALTIME, &start_time);
}

/* Counts one request of SECONDS; lock-free. */
void
metrics_observe_request(double seconds)
{
	size_t	i;

	/* NaN fails every comparison; huge values must not overflow. */
	if (!(seconds >= 0))
		seconds = 0;
	if (seconds > 1e9)
		seconds = 1e9;
	for (i = 0; i < REQ_BOUNDS && seconds > req_bound[i]; i++)
		;
	atomic_fetch_add_explicit(&req_buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&req_sum_ns,
	    (unsigned long long)(seconds * 1e9), memory_order_relaxed);
}

/* Appends printf-formatted text to B. */
static void __attribute__((format(printf, 2, 3)))
mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 ncap;
	char	*np;
	int	 n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		ncap = b->cap * 2 > b->len + (size_t)n + 1 ? b->cap * 2 :
		    b->len + (size_t)n + 1;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

/* Appends the # HELP and # TYPE lines of a family. */
static void
family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends a counter family with its one sample. */
static void
counter(struct mbuf *b, const char *name, const char *help,
    unsigned long long v)
{
	family(b, name, "counter", help);
	mbuf_printf(b, "%s %llu\n", name, v);
}

/*
 * The label of a refusal by status ("not_owner"), into BUF (SIZE bytes),
 * or NULL for the statuses that are not refusals.
 */
static const char *
refusal_reason(enum lockstore_status st, char *buf, size_t size)
{
	char	*p;

	if (st == LOCKSTORE_OK || st == LOCKSTORE_STORAGE)
		return NULL;
	snprintf(buf, size, "%s", lockstore_status_name(st));
	for (p = buf; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	return buf;
}

/*
 * The store's counters.  Its wait buckets count each wait once, in the
 * first bucket whose bound it does not exceed; they are summed here into
 * the cumulative buckets of the format.
 */
static void
render_store(struct mbuf *b, const struct lockstore_stats *s)
{
	unsigned long long	cum;
	const char		*reason;
	char			 name[32];
	size_t			 i;

	counter(b, "lockd_grants_total", "Locks granted (lock, lock_token, "
	    "acquire); reacquires not counted.", s->grants);
	counter(b, "lockd_reacquires_total", "Acquires by the holder of the "
	    "lock, answered with its existing grant.", s->reacquires);
	counter(b, "lockd_releases_total", "Locks released by their holder.",
	    s->releases);
	family(b, "lockd_refusals_total", "counter", "Calls the lock store "
	    "refused, by reason.");
	for (i = 0; i < sizeof(s->refusals) / sizeof(s->refusals[0]); i++)
		if ((reason = refusal_reason((enum lockstore_status)i, name,
		    sizeof(name))) != NULL)
			mbuf_printf(b, "lockd_refusals_total{reason=\"%s\"} "
			    "%llu\n", reason, s->refusals[i]);
	counter(b, "lockd_waits_total", "Acquires that waited for a lock.",
	    s->waits);
	family(b, "lockd_waiting", "gauge", "Acquires waiting now.");
	mbuf_printf(b, "lockd_waiting %llu\n", s->waiting);
	family(b, "lockd_wait_seconds", "histogram", "Time acquires spent "
	    "waiting.");
	for (i = 0, cum = 0; i < LOCKSTORE_WAIT_BUCKETS; i++) {
		cum += s->wait_buckets[i];
		if (i < LOCKSTORE_WAIT_BUCKETS - 1)
			mbuf_printf(b, "lockd_wait_seconds_bucket{le=\"%g\"} "
			    "%llu\n", lockstore_wait_bucket_ms[i] / 1000.0,
			    cum);
		else
			mbuf_printf(b, "lockd_wait_seconds_bucket{le=\"+Inf\"} "
			    "%llu\n", cum);
	}
	mbuf_printf(b, "lockd_wait_seconds_sum %llu.%03llu\n",
	    s->wait_ms_sum / 1000, s->wait_ms_sum % 1000);
	mbuf_printf(b, "lockd_wait_seconds_count %llu\n", cum);
	counter(b, "lockd_breaks_total", "Locks broken by an operator.",
	    s->breaks);
	counter(b, "lockd_expiries_total", "Leases that expired.",
	    s->expiries);
	counter(b, "lockd_renewals_total", "Leases renewed.", s->renewals);
	counter(b, "lockd_storage_errors_total", "Calls that failed with a "
	    "storage error.", s->storage_errors);
	counter(b, "lockd_history_lost_total", "Holdings that ended without "
	    "a history record because the disk was full.", s->history_lost);
}

/* The request latency histogram. */
static void
render_requests(struct mbuf *b)
{
	unsigned long long	cum, sum;
	size_t			i;

	family(b, "lockd_request_duration_seconds", "histogram", "Time to "
	    "answer an XML-RPC request.");
	for (i = 0, cum = 0; i <= REQ_BOUNDS; i++) {
		cum += atomic_load_explicit(&req_buckets[i],
		    memory_order_relaxed);
		if (i < REQ_BOUNDS)
			mbuf_printf(b, "lockd_request_duration_seconds_bucket"
			    "{le=\"%g\"} %llu\n", req_bound[i], cum);
		else
			mbuf_printf(b, "lockd_request_duration_seconds_bucket"
			    "{le=\"+Inf\"} %llu\n", cum);
	}
	sum = atomic_load_explicit(&req_sum_ns, memory_order_relaxed);
	mbuf_printf(b, "lockd_request_duration_seconds_sum %llu.%09llu\n",
	    sum / 1000000000, sum % 1000000000);
	mbuf_printf(b, "lockd_request_duration_seconds_count %llu\n", cum);
}

/* The exposition text; see metrics.h. */
char *
metrics_render(struct lockstore *store, size_t *lenp)
{
	struct lockstore_stats	 stats;
	struct mbuf		 b;
	long long		 held;

	memset(&b, 0, sizeof(b));
	if ((b.p = malloc(b.cap = 8192)) == NULL)
		return NULL;
	memset(&stats, 0, sizeof(stats));
	lockstore_get_stats(store, &stats);
	family(&b, "lockd_up", "gauge", "1 while lockd serves.");
	mbuf_printf(&b, "lockd_up 1\n");
	family(&b, "lockd_start_time_seconds", "gauge", "Start time of "
	    "lockd, seconds since the epoch.");
	mbuf_printf(&b, "lockd_start_time_seconds %lld.%03ld\n",
	    (long long)start_time.tv_sec, start_time.tv_nsec / 1000000);
	/* Counted by the store's background scan: absent until the first
	 * full count, then at most a scan period (60 s) old. */
	if ((held = lockstore_count_held(store)) >= 0) {
		family(&b, "lockd_locks_held", "gauge", "Locks held in the "
		    "lock store by anyone, as of its last full count (at most "
		    "60 s old).");
		mbuf_printf(&b, "lockd_locks_held %lld\n", held);
	}
	render_store(&b, &stats);
	render_requests(&b);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*lenp = b.len;
	return b.p;
}
