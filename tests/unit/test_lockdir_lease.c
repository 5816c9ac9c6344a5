/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the lock directory beyond lock and unlock: acquire
 * (reacquire, wait, FIFO, cancel, limits), leases (expiry, renew, other
 * boots), break-lock, lock-delay, history, health and counters.
 */
#include "config.h"

#include <CUnit/CUnit.h>

#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir_tu.h"
#include "dir/lockfile.h"
#include "lockstore.h"
#include "tu.h"

static const struct lockstore_acquire_opts	no_opts;

/* A policy for tests: short lock-delay unless told. */
static void
set_delay(struct lockstore *s, unsigned int delay_ms)
{
	struct lockstore_policy	p = LOCKSTORE_POLICY_DEFAULT;

	p.lock_delay_ms = delay_ms;
	lockstore_set_policy(s, &p);
}

static enum lockstore_status
acquire(struct lockstore *s, const char *r, const char *c,
    unsigned int wait_ms, unsigned int ttl_ms, struct lockstore_grant *g,
    struct lockstore_error *err)
{
	struct lockstore_acquire_opts	o = no_opts;

	o.wait_ms = wait_ms;
	o.ttl_ms = ttl_ms;
	return lockstore_acquire(s, r, c, &o, g, err);
}

static int
held_by(struct lockstore *s, const char *r, const char *holder)
{
	struct lockstore_lock_info	*info = malloc(sizeof(*info));
	struct lockstore_error		 err;
	int				 held = 0, ok;

	ok = info != NULL && lockstore_inspect(s, r, &held, info, &err) ==
	    LOCKSTORE_OK && (holder == NULL ? !held :
	    held && strcmp(info->holder, holder) == 0);
	free(info);
	return ok;
}

/* History entries collected by a query. */
struct hist {
	struct lockstore_history_entry	e[8];
	int				n;
};

static int
collect(const struct lockstore_history_entry *e, void *arg)
{
	struct hist	*h = arg;

	if (h->n < 8)
		h->e[h->n++] = *e;
	return 0;
}

static void
acquire_grants_and_reacquire_keeps_the_holding(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct lockstore_grant	 g1, g2;
	struct lockstore_error	 err;

	TU_ASSERT_INT_EQ_FATAL(acquire(s, "vm1", "h1", 0, 0, &g1, &err),
	    LOCKSTORE_OK);
	CU_ASSERT(g1.token > 0);
	CU_ASSERT(!g1.reacquired);
	CU_ASSERT(g1.since > 0);
	TU_ASSERT_INT_EQ(g1.ttl_ms, 0);
	/* The same client again: the same holding, reported as such. */
	TU_ASSERT_INT_EQ(acquire(s, "vm1", "h1", 0, 0, &g2, &err),
	    LOCKSTORE_OK);
	CU_ASSERT(g2.reacquired);
	TU_ASSERT_INT_EQ(g2.token, g1.token);
	TU_ASSERT_INT_EQ(g2.since, g1.since);
	/* lock() keeps gocept.lockd's answer for its own holder. */
	LOCK(s, "vm1", "h1", LOCKSTORE_HELD,
	    "Resource already locked by 'h1'");
	/* Another client: held. */
	TU_ASSERT_INT_EQ(acquire(s, "vm1", "h2", 0, 0, &g2, &err),
	    LOCKSTORE_HELD);
	TU_ASSERT_STR_EQ(err.msg, "Resource already locked by 'h1'");
	UNLOCK(s, "vm1", "h1", LOCKSTORE_OK, NULL);
	lockstore_close(s);
}

static void
lease_expires_on_the_sweep_and_is_recorded(void)
{
	char				*dir = tu_tmpdir();
	struct lockstore		*s = open_store(dir, 0);
	struct lockstore_lock_info	*info = malloc(sizeof(*info));
	struct lockstore_grant		 g;
	struct lockstore_error		 err;
	struct lockstore_stats		 stats;
	struct hist			 h;
	double				 t0;
	int				 held, n = 0, valid;

	CU_ASSERT_FATAL(info != NULL);
	set_delay(s, 0);
	t0 = tu_now();		/* the TTL starts after this */
	TU_ASSERT_INT_EQ_FATAL(acquire(s, "vm1", "h1", 0, 300, &g, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(g.ttl_ms, 300);
	CU_ASSERT(g.expires_ms > 0);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "vm1", &held, info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT(held);
	TU_ASSERT_INT_EQ(info->ttl_ms, 300);
	CU_ASSERT(info->expires_ms > 0);
	/* Not yet. */
	TU_ASSERT_INT_EQ(lockstore_expire(s, &err), 0);
	while (tu_now() - t0 < 5 && n == 0) {
		usleep(20000);
		n = lockstore_expire(s, &err);
	}
	TU_ASSERT_INT_EQ(n, 1);
	CU_ASSERT(tu_now() - t0 >= 0.25);
	CU_ASSERT(held_by(s, "vm1", NULL));
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	TU_ASSERT_INT_EQ(lockstore_check(s, "vm1", "h1", g.token, &valid,
	    &err), LOCKSTORE_OK);
	CU_ASSERT(!valid);
	memset(&h, 0, sizeof(h));
	TU_ASSERT_INT_EQ(lockstore_history(s, "vm1", 10, collect, &h, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ_FATAL(h.n, 1);
	TU_ASSERT_INT_EQ(h.e[0].how, LOCKSTORE_END_EXPIRY);
	TU_ASSERT_STR_EQ(h.e[0].holder, "h1");
	TU_ASSERT_INT_EQ(h.e[0].token, g.token);
	lockstore_get_stats(s, &stats);
	TU_ASSERT_INT_EQ(stats.expiries, 1);
	TU_ASSERT_INT_EQ(stats.grants, 1);
	free(info);
	lockstore_close(s);
}

static void
expired_lease_is_released_by_the_next_call_without_a_sweep(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct lockstore_grant	 g;
	struct lockstore_error	 err;

	set_delay(s, 0);
	TU_ASSERT_INT_EQ_FATAL(acquire(s, "vm1", "h1", 0, 100, &g, &err),
	    LOCKSTORE_OK);
	usleep(150000);
	/* The old holder cannot release what has expired... */
	UNLOCK(s, "vm1", "h1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	TU_ASSERT_INT_EQ(acquire(s, "vm2", "h1", 0, 100, &g, &err),
	    LOCKSTORE_OK);
	usleep(150000);
	/* ...and another client takes it at once. */
	LOCK(s, "vm2", "h2", LOCKSTORE_OK, NULL);
	UNLOCK(s, "vm2", "h2", LOCKSTORE_OK, NULL);
	lockstore_close(s);
}

static void
renew_extends_only_the_current_holding(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct lockstore_grant	 g, r;
	struct lockstore_error	 err;
	unsigned long long	 plain;
	int			 i;

	set_delay(s, 0);
	TU_ASSERT_INT_EQ_FATAL(acquire(s, "vm1", "h1", 0, 600, &g, &err),
	    LOCKSTORE_OK);
	/* Renewed every 100 ms, it outlives its TTL several times (a busy
	 * machine may stall a round by up to 500 ms). */
	for (i = 0; i < 20; i++) {
		usleep(100000);
		TU_ASSERT_INT_EQ(lockstore_expire(s, &err), 0);
		TU_ASSERT_INT_EQ(lockstore_renew(s, "vm1", "h1", g.token, 0,
		    &r, &err), LOCKSTORE_OK);
		TU_ASSERT_INT_EQ(r.token, g.token);
		TU_ASSERT_INT_EQ(r.ttl_ms, 600);
	}
	CU_ASSERT(held_by(s, "vm1", "h1"));
	TU_ASSERT_INT_EQ(lockstore_renew(s, "vm1", "h1", g.token, 800, &r,
	    &err), LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(r.ttl_ms, 800);
	TU_ASSERT_INT_EQ(lockstore_renew(s, "vm1", "h1", g.token + 1, 0, &r,
	    &err), LOCKSTORE_STALE_TOKEN);
	TU_ASSERT_INT_EQ(lockstore_renew(s, "vm1", "h2", g.token, 0, &r,
	    &err), LOCKSTORE_NOT_OWNER);
	TU_ASSERT_INT_EQ(lockstore_renew(s, "vm9", "h1", 5, 0, &r, &err),
	    LOCKSTORE_NOT_LOCKED);
	TU_ASSERT_STR_EQ(err.msg, "Resource not locked");
	TU_ASSERT_INT_EQ(lockstore_renew(s, "vm1", "h1", 0, 0, &r, &err),
	    LOCKSTORE_BAD_ARGUMENT);
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "vm3", "h1", &plain, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(lockstore_renew(s, "vm3", "h1", plain, 0, &r, &err),
	    LOCKSTORE_NO_LEASE);
	/* A TTL over the policy's limit is refused. */
	TU_ASSERT_INT_EQ(acquire(s, "vm4", "h1", 0, 86400001, &r, &err),
	    LOCKSTORE_BAD_ARGUMENT);
	/* Reacquire with a TTL renews. */
	TU_ASSERT_INT_EQ(acquire(s, "vm1", "h1", 0, 900, &r, &err),
	    LOCKSTORE_OK);
	CU_ASSERT(r.reacquired);
	TU_ASSERT_INT_EQ(r.ttl_ms, 900);
	TU_ASSERT_INT_EQ(r.token, g.token);
	lockstore_close(s);
}

static void
break_advances_the_token_and_holds_takers_off(void)
{
	char				*dir = tu_tmpdir();
	struct lockstore		*s = open_store(dir, 0);
	struct lockstore_lock_info	*broken = malloc(sizeof(*broken));
	struct lockstore_grant		 g, g2;
	struct lockstore_error		 err;
	struct hist			 h;
	unsigned long long		 nt;
	double				 t0;
	int				 valid;

	CU_ASSERT_FATAL(broken != NULL);
	set_delay(s, 400);
	TU_ASSERT_INT_EQ_FATAL(acquire(s, "vm1", "h1", 0, 0, &g, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(lockstore_break(s, "vm1", "admin from 10.0.0.1:5",
	    "", broken, &nt, &err), LOCKSTORE_BAD_ARGUMENT);
	TU_ASSERT_INT_EQ(lockstore_break(s, "vm1", "x", "a\nb", broken, &nt,
	    &err), LOCKSTORE_BAD_ARGUMENT);
	t0 = tu_now();		/* the delay starts after this */
	TU_ASSERT_INT_EQ(lockstore_break(s, "vm1", "admin from 10.0.0.1:5",
	    "host h1 is dead", broken, &nt, &err), LOCKSTORE_OK);
	TU_ASSERT_STR_EQ(broken->holder, "h1");
	TU_ASSERT_INT_EQ(broken->token, g.token);
	CU_ASSERT(nt > g.token);
	TU_ASSERT_INT_EQ(lockstore_check(s, "vm1", "h1", g.token, &valid,
	    &err), LOCKSTORE_OK);
	CU_ASSERT(!valid);
	/* Held off: lock and acquire say so; unlock finds nothing held. */
	FAILS(s, 0, "vm1", "h2", LOCKSTORE_DELAYED, "Resource held off until ");
	TU_ASSERT_INT_EQ(acquire(s, "vm1", "h1", 0, 0, &g2, &err),
	    LOCKSTORE_DELAYED);
	CU_ASSERT(strstr(err.msg, "after a break (lock-delay)") != NULL);
	UNLOCK(s, "vm1", "h1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	TU_ASSERT_INT_EQ(lockstore_break(s, "vm1", "x", "again", broken, &nt,
	    &err), LOCKSTORE_NOT_LOCKED);
	CU_ASSERT(held_by(s, "vm1", NULL));
	/* A waiting acquire gets it once the delay is over. */
	TU_ASSERT_INT_EQ(acquire(s, "vm1", "h2", 3000, 0, &g2, &err),
	    LOCKSTORE_OK);
	CU_ASSERT(tu_now() - t0 >= 0.35);
	CU_ASSERT(tu_now() - t0 < 2.0);
	CU_ASSERT(g2.token > nt);
	memset(&h, 0, sizeof(h));
	TU_ASSERT_INT_EQ(lockstore_history(s, "vm1", 10, collect, &h, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ_FATAL(h.n, 1);
	TU_ASSERT_INT_EQ(h.e[0].how, LOCKSTORE_END_BREAK);
	TU_ASSERT_STR_EQ(h.e[0].holder, "h1");
	TU_ASSERT_STR_EQ(h.e[0].by, "admin from 10.0.0.1:5");
	TU_ASSERT_STR_EQ(h.e[0].reason, "host h1 is dead");
	TU_ASSERT_INT_EQ(h.e[0].token, g.token);
	UNLOCK(s, "vm1", "h2", LOCKSTORE_OK, NULL);
	memset(&h, 0, sizeof(h));
	TU_ASSERT_INT_EQ(lockstore_history(s, "vm1", 10, collect, &h, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ_FATAL(h.n, 2);
	TU_ASSERT_INT_EQ(h.e[0].how, LOCKSTORE_END_UNLOCK);
	TU_ASSERT_STR_EQ(h.e[0].holder, "h2");
	TU_ASSERT_INT_EQ(h.e[1].how, LOCKSTORE_END_BREAK);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	free(broken);
	lockstore_close(s);
}

static int	listed;

static int
count_listed(const struct lockstore_lock_info *info, void *arg)
{
	(void)info;
	(void)arg;
	listed++;
	return 0;
}

static void
lock_delay_follows_an_expiry_and_shows_in_inspect(void)
{
	char				*dir = tu_tmpdir();
	struct lockstore		*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct lockstore_lock_info	*info = malloc(sizeof(*info));
	struct lockstore_grant		 g;
	struct lockstore_error		 err;
	struct lockstore_list_query	 q = { NULL, NULL, NULL, 100 };
	char				 next[LOCKSTORE_CURSOR_SIZE];
	int				 held;

	CU_ASSERT_FATAL(info != NULL);
	LOCK(s, "other", "h9", LOCKSTORE_OK, NULL);
	set_delay(s, 300);
	TU_ASSERT_INT_EQ_FATAL(acquire(s, "vm1", "h1", 0, 50, &g, &err),
	    LOCKSTORE_OK);
	usleep(80000);
	TU_ASSERT_INT_EQ(lockstore_expire(s, &err), 1);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "vm1", &held, info, &err),
	    LOCKSTORE_OK);
	CU_ASSERT(!held);
	CU_ASSERT(info->delay_until_ms > 0);
	TU_ASSERT_INT_EQ(info->delay_cause, LOCKSTORE_END_EXPIRY);
	FAILS(s, 0, "vm1", "h2", LOCKSTORE_DELAYED, "Resource held off until ");
	/* Markers are not listed as held locks. */
	listed = 0;
	TU_ASSERT_INT_EQ(lockstore_list(s, &q, count_listed, NULL, next,
	    &err), LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(listed, 1);	/* "other" only */
	listed = 0;
	TU_ASSERT_INT_EQ(lockstore_list(s, &q, count_listed, NULL, next,
	    &err), LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(listed, 1);	/* "other" only */
	usleep(320000);
	LOCK(s, "vm1", "h2", LOCKSTORE_OK, NULL);
	UNLOCK(s, "vm1", "h2", LOCKSTORE_OK, NULL);
	free(info);
	lockstore_close(s);
}

/* A thread that waits for a lock and records when it got it. */
struct waiter_arg {
	struct lockstore	*s;
	const char		*resource;
	char			 client[16];
	unsigned int		 wait_ms;
	enum lockstore_status	 st;
	double			 granted;
	int			 order;
	lockstore_cancel_fn	 cancel;
	void			*cancel_arg;
};

static int		grant_seq;
static pthread_mutex_t	seq_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
wait_thread(void *p)
{
	struct waiter_arg		*a = p;
	struct lockstore_acquire_opts	 o = no_opts;
	struct lockstore_grant		 g;
	struct lockstore_error		 err;

	o.wait_ms = a->wait_ms;
	o.cancelled = a->cancel;
	o.cancel_arg = a->cancel_arg;
	a->st = lockstore_acquire(a->s, a->resource, a->client, &o, &g, &err);
	a->granted = tu_now();
	if (a->st == LOCKSTORE_OK) {
		pthread_mutex_lock(&seq_lock);
		a->order = grant_seq++;
		pthread_mutex_unlock(&seq_lock);
	}
	return NULL;
}

/* Waits until STATS shows N waiting (bounded). */
static void
until_waiting(struct lockstore *s, unsigned long long n)
{
	struct lockstore_stats	st;
	double			t0 = tu_now();

	do {
		lockstore_get_stats(s, &st);
		if (st.waiting >= n)
			return;
		usleep(2000);
	} while (tu_now() - t0 < 5);
	CU_FAIL("waiters did not queue");
}

static void
waiters_are_served_in_arrival_order(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct waiter_arg	 a[5];
	pthread_t		 t[5];
	int			 i;

	LOCK(s, "hot", "first", LOCKSTORE_OK, NULL);
	grant_seq = 0;
	for (i = 0; i < 5; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].s = s;
		a[i].resource = "hot";
		snprintf(a[i].client, sizeof(a[i].client), "w%d", i);
		a[i].wait_ms = 10000;
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, wait_thread,
		    &a[i]) == 0);
		until_waiting(s, (unsigned long long)i + 1);
	}
	UNLOCK(s, "hot", "first", LOCKSTORE_OK, NULL);
	for (i = 0; i < 5; i++) {
		/* Each in turn gets it and gives it on. */
		double t0 = tu_now();

		while (!held_by(s, "hot", a[i].client) && tu_now() - t0 < 5)
			usleep(2000);
		CU_ASSERT(held_by(s, "hot", a[i].client));
		pthread_join(t[i], NULL);
		TU_ASSERT_INT_EQ(a[i].st, LOCKSTORE_OK);
		TU_ASSERT_INT_EQ(a[i].order, i);
		UNLOCK(s, "hot", a[i].client, LOCKSTORE_OK, NULL);
	}
	lockstore_close(s);
}

#define ROUNDS	7

/* Prints the median and worst wake-up of LAT (sorted here) and checks
 * them: median under 50 ms, none over 900 ms (a busy machine, but below
 * the waiters' 1 s fallback poll). */
static void
check_wakeups(const char *how, double lat[ROUNDS])
{
	double	tmp;
	int	i, j;

	for (i = 0; i < ROUNDS; i++)
		for (j = i + 1; j < ROUNDS; j++)
			if (lat[j] < lat[i]) {
				tmp = lat[i];
				lat[i] = lat[j];
				lat[j] = tmp;
			}
	printf("\n    wake-up after a release %s: median %.1f ms, max %.1f "
	    "ms\n", how, lat[ROUNDS / 2] * 1000, lat[ROUNDS - 1] * 1000);
	CU_ASSERT(lat[ROUNDS / 2] < 0.050);
	CU_ASSERT(lat[ROUNDS - 1] < 0.900);
}

static void
a_waiter_wakes_within_50_ms_of_a_release(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct waiter_arg	 a;
	pthread_t		 t;
	double			 lat[ROUNDS], released;
	int			 i;

	for (i = 0; i < ROUNDS; i++) {
		LOCK(s, "r", "holder", LOCKSTORE_OK, NULL);
		memset(&a, 0, sizeof(a));
		a.s = s;
		a.resource = "r";
		snprintf(a.client, sizeof(a.client), "waiter");
		a.wait_ms = 5000;
		CU_ASSERT_FATAL(pthread_create(&t, NULL, wait_thread, &a) ==
		    0);
		until_waiting(s, 1);
		usleep(20000);
		released = tu_now();
		UNLOCK(s, "r", "holder", LOCKSTORE_OK, NULL);
		pthread_join(t, NULL);
		TU_ASSERT_INT_EQ(a.st, LOCKSTORE_OK);
		lat[i] = a.granted - released;
		UNLOCK(s, "r", "waiter", LOCKSTORE_OK, NULL);
	}
	check_wakeups("in this process", lat);
	lockstore_close(s);
}

/*
 * A child that waits for a byte on FD, then opens its own store on DIR and
 * unlocks "r" as "holder".  Forked before the parent starts any thread: a
 * fork while another thread allocates can leave the child's allocator
 * locked (seen with ASan).
 */
static pid_t
start_releaser(const char *dir, int *wfd)
{
	struct lockstore	*s = NULL;
	struct lockstore_error	 err;
	pid_t			 pid;
	char			 c;
	int			 p[2];

	if (pipe(p) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		close(p[1]);
		alarm(TU_CHILD_TIMEOUT);
		if (read(p[0], &c, 1) != 1)
			_exit(3);
		if (lockstore_open_dir(&s, dir, LOCKSTORE_NOSYNC, &err) !=
		    LOCKSTORE_OK)
			_exit(1);
		if (lockstore_unlock(s, "r", "holder", &err) != LOCKSTORE_OK)
			_exit(2);
		lockstore_close(s);
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

static void
a_release_by_another_process_wakes_within_50_ms(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct waiter_arg	 a;
	pthread_t		 t;
	double			 lat[ROUNDS], released;
	pid_t			 pid;
	int			 i, wfd;

	for (i = 0; i < ROUNDS; i++) {
		LOCK(s, "r", "holder", LOCKSTORE_OK, NULL);
		pid = start_releaser(dir, &wfd);
		CU_ASSERT_FATAL(pid > 0);
		memset(&a, 0, sizeof(a));
		a.s = s;
		a.resource = "r";
		snprintf(a.client, sizeof(a.client), "waiter");
		a.wait_ms = 5000;
		CU_ASSERT_FATAL(pthread_create(&t, NULL, wait_thread, &a) ==
		    0);
		until_waiting(s, 1);
		usleep(20000);
		released = tu_now();
		CU_ASSERT(write(wfd, "x", 1) == 1);
		close(wfd);
		TU_ASSERT_INT_EQ(tu_wait(pid), 0);
		pthread_join(t, NULL);
		TU_ASSERT_INT_EQ(a.st, LOCKSTORE_OK);
		/* From the go to the child: includes its opening the store. */
		lat[i] = a.granted - released;
		UNLOCK(s, "r", "waiter", LOCKSTORE_OK, NULL);
	}
	check_wakeups("by another process", lat);
	lockstore_close(s);
}

static int	cancel_now;

static int
cancel_fn(void *arg)
{
	(void)arg;
	return __atomic_load_n(&cancel_now, __ATOMIC_RELAXED);
}

static void
waits_time_out_cancel_and_are_bounded(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct lockstore_policy	 p = LOCKSTORE_POLICY_DEFAULT;
	struct lockstore_grant	 g;
	struct lockstore_error	 err;
	struct lockstore_stats	 stats;
	struct waiter_arg	 a, b;
	pthread_t		 ta, tb;
	double			 t0;

	p.max_waiters = 1;
	lockstore_set_policy(s, &p);
	LOCK(s, "r", "holder", LOCKSTORE_OK, NULL);
	t0 = tu_now();
	TU_ASSERT_INT_EQ(acquire(s, "r", "w", 300, 0, &g, &err),
	    LOCKSTORE_HELD);
	TU_ASSERT_STR_EQ(err.msg, "Resource already locked by 'holder'");
	CU_ASSERT(tu_now() - t0 >= 0.29);
	CU_ASSERT(tu_now() - t0 < 2.0);
	/* One waiter allowed: a second is refused at once. */
	memset(&a, 0, sizeof(a));
	a.s = s;
	a.resource = "r";
	snprintf(a.client, sizeof(a.client), "a");
	a.wait_ms = 10000;
	a.cancel = cancel_fn;
	cancel_now = 0;
	CU_ASSERT_FATAL(pthread_create(&ta, NULL, wait_thread, &a) == 0);
	until_waiting(s, 1);
	t0 = tu_now();
	TU_ASSERT_INT_EQ(acquire(s, "r", "b", 5000, 0, &g, &err),
	    LOCKSTORE_TOO_MANY_WAITERS);
	CU_ASSERT(tu_now() - t0 < 0.5);
	/* Its caller goes away: the waiter leaves, never gets the lock. */
	__atomic_store_n(&cancel_now, 1, __ATOMIC_RELAXED);
	t0 = tu_now();
	pthread_join(ta, NULL);
	TU_ASSERT_INT_EQ(a.st, LOCKSTORE_CANCELLED);
	CU_ASSERT(a.granted - t0 < 0.5);
	UNLOCK(s, "r", "holder", LOCKSTORE_OK, NULL);
	CU_ASSERT(held_by(s, "r", NULL));
	/* Room again. */
	memset(&b, 0, sizeof(b));
	b.s = s;
	b.resource = "r";
	snprintf(b.client, sizeof(b.client), "b");
	b.wait_ms = 1000;
	CU_ASSERT_FATAL(pthread_create(&tb, NULL, wait_thread, &b) == 0);
	pthread_join(tb, NULL);
	TU_ASSERT_INT_EQ(b.st, LOCKSTORE_OK);
	lockstore_get_stats(s, &stats);
	TU_ASSERT_INT_EQ(stats.waiting, 0);
	CU_ASSERT(stats.waits >= 2);
	TU_ASSERT_INT_EQ(stats.refusals[LOCKSTORE_TOO_MANY_WAITERS], 1);
	TU_ASSERT_INT_EQ(stats.refusals[LOCKSTORE_CANCELLED], 1);
	/* A wait over the policy's limit is refused. */
	TU_ASSERT_INT_EQ(acquire(s, "r2", "w", 3600001, 0, &g, &err),
	    LOCKSTORE_BAD_ARGUMENT);
	lockstore_close(s);
}

/* Writes DIR/vm1.resource.lock as a lease (or marker) of another boot. */
static void
put_other_boot(const char *dir, int marker, long long until)
{
	struct lockfile	lf;
	char		buf[LOCKFILE_MAX];
	int		n;

	memset(&lf, 0, sizeof(lf));
	snprintf(lf.holder, sizeof(lf.holder), "%s",
	    marker ? LOCKFILE_DELAY_HOLDER : "h1");
	snprintf(lf.resource, sizeof(lf.resource), "vm1");
	lf.has_resource = 1;
	lf.since = 1700000000;
	lf.token = 7;
	snprintf(lf.boot, sizeof(lf.boot), "00000000-0000-0000-0000-0000000000ff");
	if (marker) {
		lf.is_delay = 1;
		lf.delay_until_ms = until;
		lf.delay_cause = LOCKSTORE_END_BREAK;
		lf.delay_wall_ms = 1700000000000LL;
	} else {
		lf.ttl_ms = 200;
		lf.deadline_ms = until;
	}
	n = lockfile_render(buf, sizeof(buf), &lf);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	put_file(dir, "vm1.resource.lock", buf);
}

static void
deadlines_of_another_boot_are_never_cut_short(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s;
	struct lockstore_grant	 g;
	struct lockstore_error	 err;
	double			 t0;
	int			 n = 0;

	/* A lease from before a reboot: its deadline means nothing now, so
	 * it runs a whole TTL from when lockd first sees it. */
	put_other_boot(dir, 0, 1);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	set_delay(s, 0);
	CU_ASSERT(held_by(s, "vm1", "h1"));
	LOCK(s, "vm1", "h2", LOCKSTORE_HELD, "Resource already locked by 'h1'");
	t0 = tu_now();
	TU_ASSERT_INT_EQ(lockstore_expire(s, &err), 0);	/* restarted */
	CU_ASSERT(held_by(s, "vm1", "h1"));
	while (n == 0 && tu_now() - t0 < 5) {
		usleep(20000);
		n = lockstore_expire(s, &err);
	}
	TU_ASSERT_INT_EQ(n, 1);
	CU_ASSERT(tu_now() - t0 >= 0.18);
	lockstore_close(s);
	/* A lock-delay marker from before a reboot is over. */
	put_other_boot(dir, 1, 1LL << 50);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(acquire(s, "vm1", "h2", 0, 0, &g, &err),
	    LOCKSTORE_OK);
	CU_ASSERT(g.token > 0);
	CU_ASSERT(held_by(s, "vm1", "h2"));
	lockstore_close(s);
}

static void
lockfile_lease_and_delay_lines_round_trip(void)
{
	struct lockfile	a, b;
	char		buf[LOCKFILE_MAX];
	int		n;

	memset(&a, 0, sizeof(a));
	snprintf(a.holder, sizeof(a.holder), "h 1");
	snprintf(a.resource, sizeof(a.resource), "r\n%%");
	a.has_resource = 1;
	a.since = 5;
	a.token = 9;
	a.ttl_ms = 30000;
	a.deadline_ms = 123456789;
	snprintf(a.boot, sizeof(a.boot), "0123abcd-0000-0000-0000-00000000beef");
	n = lockfile_render(buf, sizeof(buf), &a);
	CU_ASSERT_FATAL(n > 0);
	TU_ASSERT_INT_EQ(lockfile_parse(buf, (size_t)n, &b), 0);
	TU_ASSERT_INT_EQ(b.ttl_ms, 30000);
	TU_ASSERT_INT_EQ(b.deadline_ms, 123456789);
	TU_ASSERT_STR_EQ(b.boot, a.boot);
	TU_ASSERT_INT_EQ(b.is_delay, 0);
	a.ttl_ms = 0;
	a.is_delay = 1;
	a.delay_until_ms = 77;
	a.delay_cause = LOCKSTORE_END_EXPIRY;
	a.delay_wall_ms = 1700000000123LL;
	n = lockfile_render(buf, sizeof(buf), &a);
	CU_ASSERT_FATAL(n > 0);
	TU_ASSERT_INT_EQ(lockfile_parse(buf, (size_t)n, &b), 0);
	TU_ASSERT_INT_EQ(b.is_delay, 1);
	TU_ASSERT_INT_EQ(b.delay_until_ms, 77);
	TU_ASSERT_INT_EQ(b.delay_cause, LOCKSTORE_END_EXPIRY);
	TU_ASSERT_INT_EQ(b.delay_wall_ms, 1700000000123LL);
	TU_ASSERT_INT_EQ(b.ttl_ms, 0);
	/* Damaged lines make the file untrustworthy, not silently a lock
	 * without a lease. */
	TU_ASSERT_INT_EQ(lockfile_parse("h\nlease 0 5 ab\n", 14, &b), -1);
	TU_ASSERT_INT_EQ(lockfile_parse("h\nlease 5 5 x!\n", 15, &b), -1);
	TU_ASSERT_INT_EQ(lockfile_parse("h\nlease -5 5 ab\n", 16, &b), -1);
	TU_ASSERT_INT_EQ(lockfile_parse("h\ndelay 5 ab later 5\n", 21, &b),
	    -1);
}

static void
health_probe_and_counters(void)
{
	char			*dir = tu_tmpdir();
	struct lockstore	*s = open_store(dir, LOCKSTORE_NOSYNC);
	struct lockstore_error	 err;
	struct lockstore_stats	 st;
	char			 moved[PATH_SIZE];

	TU_ASSERT_INT_EQ(lockstore_health(s, &err), LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	/* Counted by the background scan the sweep drives. */
	TU_ASSERT_INT_EQ(lockstore_count_held(s), -1);
	LOCK(s, "x", "c", LOCKSTORE_OK, NULL);
	LOCK(s, ".y/z", "c", LOCKSTORE_OK, NULL);
	put_file(dir, "legacy.resource.lock", "old-host");
	TU_ASSERT_INT_EQ(lockstore_expire(s, &err), 0);
	TU_ASSERT_INT_EQ(lockstore_count_held(s), 3);
	UNLOCK(s, "x", "c", LOCKSTORE_OK, NULL);
	UNLOCK(s, ".y/z", "c", LOCKSTORE_OK, NULL);
	UNLOCK(s, "legacy", "old-host", LOCKSTORE_OK, NULL);
	LOCK(s, "a", "c", LOCKSTORE_OK, NULL);
	LOCK(s, "a", "d", LOCKSTORE_HELD, NULL);
	UNLOCK(s, "a", "d", LOCKSTORE_NOT_OWNER, NULL);
	UNLOCK(s, "a", "c", LOCKSTORE_OK, NULL);
	UNLOCK(s, "a", "c", LOCKSTORE_NOT_LOCKED, NULL);
	lockstore_get_stats(s, &st);
	TU_ASSERT_INT_EQ(st.grants, 3);
	TU_ASSERT_INT_EQ(st.releases, 4);
	TU_ASSERT_INT_EQ(st.refusals[LOCKSTORE_HELD], 1);
	TU_ASSERT_INT_EQ(st.refusals[LOCKSTORE_NOT_OWNER], 1);
	TU_ASSERT_INT_EQ(st.refusals[LOCKSTORE_NOT_LOCKED], 1);
	/* A lock directory moved away is unhealthy. */
	snprintf(moved, sizeof(moved), "%s.moved", dir);
	CU_ASSERT_FATAL(rename(dir, moved) == 0);
	TU_ASSERT_INT_EQ(lockstore_health(s, &err), LOCKSTORE_STORAGE);
	CU_ASSERT(rename(moved, dir) == 0);
	TU_ASSERT_INT_EQ(lockstore_health(s, &err), LOCKSTORE_OK);
	lockstore_close(s);
}

static const struct tu_test tests[] = {
	{ "acquire_grants_and_reacquire_keeps_the_holding",
	    acquire_grants_and_reacquire_keeps_the_holding },
	{ "lease_expires_on_the_sweep_and_is_recorded",
	    lease_expires_on_the_sweep_and_is_recorded },
	{ "expired_lease_is_released_by_the_next_call_without_a_sweep",
	    expired_lease_is_released_by_the_next_call_without_a_sweep },
	{ "renew_extends_only_the_current_holding",
	    renew_extends_only_the_current_holding },
	{ "break_advances_the_token_and_holds_takers_off",
	    break_advances_the_token_and_holds_takers_off },
	{ "lock_delay_follows_an_expiry_and_shows_in_inspect",
	    lock_delay_follows_an_expiry_and_shows_in_inspect },
	{ "waiters_are_served_in_arrival_order",
	    waiters_are_served_in_arrival_order },
	{ "a_waiter_wakes_within_50_ms_of_a_release",
	    a_waiter_wakes_within_50_ms_of_a_release },
	{ "a_release_by_another_process_wakes_within_50_ms",
	    a_release_by_another_process_wakes_within_50_ms },
	{ "waits_time_out_cancel_and_are_bounded",
	    waits_time_out_cancel_and_are_bounded },
	{ "deadlines_of_another_boot_are_never_cut_short",
	    deadlines_of_another_boot_are_never_cut_short },
	{ "lockfile_lease_and_delay_lines_round_trip",
	    lockfile_lease_and_delay_lines_round_trip },
	{ "health_probe_and_counters", health_probe_and_counters },
	{ NULL, NULL }
};

int
main(void)
{
	return tu_run("lockdir_lease", tests);
}
