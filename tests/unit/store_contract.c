/* SPDX-License-Identifier: MIT */
/*
 * The store contract: assertions on lockstore.h calls, and the tests every
 * backend passes, run by each backend's program through a fixture.
 */
#include "config.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockstore.h"
#include "store_contract.h"
#include "tu.h"

static const struct contract_fixture	*fx;

/* Runs lock (UNLOCK 0) or unlock; checks the outcome as told by LINE. */
enum lockstore_status
call(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    enum lockstore_status also, struct lockstore_error *err)
{
	enum lockstore_status	st;
	char			got[160];

	memset(err, 0, sizeof(*err));
	st = unlock ? lockstore_unlock(s, resource, client, err) :
	    lockstore_lock(s, resource, client, err);
	if (st == want || st == also) {
		CU_PASS("expected outcome");
		if (st != LOCKSTORE_OK)
			tu_check_int(err->status, st, 0, line, file,
			    "err.status");
		return st;
	}
	if (st == LOCKSTORE_OK)
		snprintf(got, sizeof(got), "ok");
	else
		snprintf(got, sizeof(got), "%s (%.120s)",
		    lockstore_status_name(st), err->msg);
	tu_check_str(got, lockstore_status_name(want), 0, line, file,
	    unlock ? "unlock" : "lock");
	return st;
}

/* Checks the outcome and, unless MSG is NULL, the exact message. */
void
expect(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    const char *msg)
{
	struct lockstore_error	err;

	if (call(file, line, s, unlock, resource, client, want, want, &err) ==
	    want && msg != NULL)
		tu_check_str(err.msg, msg, 0, line, file, "message");
}

/* Checks a failure of kind WANT whose message starts with PREFIX. */
void
expect_failure(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    const char *prefix)
{
	struct lockstore_error	err;
	size_t			n = strlen(prefix);

	if (call(file, line, s, unlock, resource, client, want, want, &err) !=
	    want)
		return;
	if (strncmp(err.msg, prefix, n) != 0 || strlen(err.msg) == n)
		tu_check_str(err.msg, prefix, 0, line, file,
		    "message prefix");
	if (want == LOCKSTORE_STORAGE)
		tu_check_int(err.sys_errno != 0, 1, 0, line, file,
		    "err.sys_errno != 0");
}

/* The message of a refused lock of a resource HOLDER holds. */
char *
held_msg(const char *holder)
{
	char	*m;

	if (asprintf(&m, "Resource already locked by '%s'", holder) == -1)
		abort();
	return m;
}

/* Counts history entries and keeps the first (the newest). */
int
history_fn(const struct lockstore_history_entry *he, void *arg)
{
	struct last_entry	*l = arg;

	if (l->n++ == 0)
		l->first = *he;
	return 0;
}

/* --- the tests --------------------------------------------------------- */

/* Monotonic milliseconds. */
static long long
now_ms(void)
{
	return (long long)(tu_now() * 1000);
}

static void
seed_scenario_gives_documented_outcomes_and_messages(void)
{
	struct lockstore	*s;

	s = fx->open();
	LOCK(s, "vm1", "host1", LOCKSTORE_OK, NULL);
	LOCK(s, "vm1", "host2", LOCKSTORE_HELD,
	    "Resource already locked by 'host1'");
	/* The holder itself is refused too, as gocept.lockd did. */
	LOCK(s, "vm1", "host1", LOCKSTORE_HELD,
	    "Resource already locked by 'host1'");
	UNLOCK(s, "vm1", "host2", LOCKSTORE_NOT_OWNER,
	    "Resource locked by 'host1' cannot be unlocked by 'host2'");
	if (fx->holding != NULL)
		fx->holding("vm1", "host1");
	UNLOCK(s, "vm1", "host1", LOCKSTORE_OK, NULL);
	if (fx->released != NULL)
		fx->released("vm1");
	UNLOCK(s, "vm1", "host1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	UNLOCK(s, "vm1", "host2", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	UNLOCK(s, "never", "host2", LOCKSTORE_NOT_LOCKED,
	    "Resource not locked");
	LOCK(s, "vm1", "host2", LOCKSTORE_OK, NULL);
	LOCK(s, "vm2", "host1", LOCKSTORE_OK, NULL);
	UNLOCK(s, "vm1", "host2", LOCKSTORE_OK, NULL);
	UNLOCK(s, "vm2", "host1", LOCKSTORE_OK, NULL);
	if (fx->empty != NULL)
		fx->empty();
	lockstore_close(s);
}

static void
names_of_any_bytes_are_distinct_resources(void)
{
	struct lockstore	*s;
	char			*longname, *longclient;
	const char		*names[7];
	char			 msg[64];
	size_t			 i;

	longname = tu_repeat('x', LOCKSTORE_NAME_MAX);
	longclient = tu_repeat('c', LOCKSTORE_NAME_MAX);
	names[0] = "a/b";
	names[1] = "a\nb";
	names[2] = ".hidden";
	names[3] = "50%";
	names[4] = "\xc3\xa4\xe2\x82\xac";
	names[5] = longname;
	names[6] = NULL;
	s = fx->open();
	for (i = 0; names[i] != NULL; i++) {
		snprintf(msg, sizeof(msg), "host%zu", i);
		LOCK(s, names[i], msg, LOCKSTORE_OK, NULL);
	}
	for (i = 0; names[i] != NULL; i++) {
		struct lockstore_error	 e;
		char			 want[80];

		snprintf(want, sizeof(want),
		    "Resource already locked by 'host%zu'", i);
		TU_ASSERT_INT_EQ(lockstore_lock(s, names[i], "other", &e),
		    LOCKSTORE_HELD);
		TU_ASSERT_STR_EQ(e.msg, want);
	}
	/* "a" is none of them, nor is a prefix of the long name. */
	LOCK(s, "a", "host9", LOCKSTORE_OK, NULL);
	LOCK(s, "xxx", "host9", LOCKSTORE_OK, NULL);
	LOCK(s, "r", longclient, LOCKSTORE_OK, NULL);
	UNLOCK(s, "r", longclient, LOCKSTORE_OK, NULL);
	for (i = 0; names[i] != NULL; i++) {
		snprintf(msg, sizeof(msg), "host%zu", i);
		UNLOCK(s, names[i], msg, LOCKSTORE_OK, NULL);
	}
	lockstore_close(s);
	free(longname);
	free(longclient);
}

static void
tokens_grow_and_check_tells_the_current_holding(void)
{
	struct lockstore		*s;
	struct lockstore_error		 e;
	struct lockstore_lock_info	 info;
	unsigned long long		 t1 = 0, t2 = 0, t3 = 0;
	int				 valid = -1, held = 0;

	s = fx->open();
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "a", "c1", &t1, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "b", "c1", &t2, &e),
	    LOCKSTORE_OK);
	CU_ASSERT(t1 > 0);
	CU_ASSERT(t2 > t1);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "a", &held, &info, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(held, 1);
	TU_ASSERT_STR_EQ(info.holder, "c1");
	TU_ASSERT_INT_EQ(info.token, t1);
	CU_ASSERT(info.since > 0 && info.since <= (long long)time(NULL));
	TU_ASSERT_INT_EQ(lockstore_check(s, "a", "c1", t1, &valid, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(valid, 1);
	UNLOCK(s, "a", "c1", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(lockstore_check(s, "a", "c1", t1, &valid, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(valid, 0);
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "a", "c1", &t3, &e),
	    LOCKSTORE_OK);
	CU_ASSERT(t3 > t2);
	TU_ASSERT_INT_EQ(lockstore_check(s, "a", "c1", t1, &valid, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(valid, 0);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "zz", &held, &info, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(held, 0);
	lockstore_close(s);
}

static void
acquire_by_the_holder_is_a_reacquire_with_the_same_token(void)
{
	struct lockstore		*s;
	struct lockstore_acquire_opts	 o;
	struct lockstore_grant		 g1, g2;
	struct lockstore_error		 e;
	struct lockstore_stats		 st;

	memset(&o, 0, sizeof(o));
	s = fx->open();
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "r", "c1", &o, &g1, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(g1.reacquired, 0);
	CU_ASSERT(g1.token > 0);
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "r", "c1", &o, &g2, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(g2.reacquired, 1);
	TU_ASSERT_INT_EQ(g2.token, g1.token);
	TU_ASSERT_INT_EQ(g2.since, g1.since);
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "r", "c2", &o, &g2, &e),
	    LOCKSTORE_HELD);
	TU_ASSERT_STR_EQ(e.msg, "Resource already locked by 'c1'");
	lockstore_get_stats(s, &st);
	TU_ASSERT_INT_EQ(st.grants, 1);
	TU_ASSERT_INT_EQ(st.reacquires, 1);
	lockstore_close(s);
}

/* Collects listed resources. */
struct seen {
	char	names[64][32];
	int	n;
	int	overflow;
};

static int
collect(const struct lockstore_lock_info *info, void *arg)
{
	struct seen	*sn = arg;

	if (sn->n == 64) {
		sn->overflow = 1;
		return 0;
	}
	snprintf(sn->names[sn->n++], sizeof(sn->names[0]), "%.31s",
	    info->resource);
	return 0;
}

static void
list_pages_in_name_order_with_filters(void)
{
	struct lockstore		*s;
	struct lockstore_list_query	 q;
	struct lockstore_error		 e;
	struct seen			 sn;
	char				 next[LOCKSTORE_CURSOR_SIZE];
	char				 after[LOCKSTORE_CURSOR_SIZE];
	char				 name[32];
	int				 i, pages = 0;

	s = fx->open();
	for (i = 0; i < 23; i++) {
		snprintf(name, sizeof(name), "job/%02d", i);
		LOCK(s, name, i % 2 == 0 ? "even" : "odd", LOCKSTORE_OK, NULL);
	}
	LOCK(s, "other", "even", LOCKSTORE_OK, NULL);
	memset(&sn, 0, sizeof(sn));
	memset(&q, 0, sizeof(q));
	q.prefix = "job/";
	q.limit = 5;
	after[0] = '\0';
	do {
		q.after = after;
		TU_ASSERT_INT_EQ_FATAL(lockstore_list(s, &q, collect, &sn,
		    next, &e), LOCKSTORE_OK);
		snprintf(after, sizeof(after), "%s", next);
		pages++;
	} while (next[0] != '\0' && pages < 20);
	TU_ASSERT_INT_EQ(pages, 5);
	TU_ASSERT_INT_EQ(sn.n, 23);
	for (i = 0; i < sn.n; i++) {
		snprintf(name, sizeof(name), "job/%02d", i);
		TU_ASSERT_STR_EQ(sn.names[i], name);
	}
	/* Holder filter, whole listing in one page. */
	memset(&sn, 0, sizeof(sn));
	q.prefix = NULL;
	q.holder = "odd";
	q.after = NULL;
	q.limit = 100;
	TU_ASSERT_INT_EQ(lockstore_list(s, &q, collect, &sn, next, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(sn.n, 11);
	TU_ASSERT_STR_EQ(next, "");
	TU_ASSERT_STR_EQ(sn.names[0], "job/01");
	/* A cursor after a released lock still goes on after it. */
	memset(&sn, 0, sizeof(sn));
	q.holder = NULL;
	q.prefix = "job/";
	q.limit = 3;
	q.after = NULL;
	TU_ASSERT_INT_EQ(lockstore_list(s, &q, collect, &sn, next, &e),
	    LOCKSTORE_OK);
	UNLOCK(s, "job/02", "even", LOCKSTORE_OK, NULL);
	snprintf(after, sizeof(after), "%s", next);
	q.after = after;
	memset(&sn, 0, sizeof(sn));
	TU_ASSERT_INT_EQ(lockstore_list(s, &q, collect, &sn, next, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_STR_EQ(sn.names[0], "job/03");
	q.after = "not a cursor";
	TU_ASSERT_INT_EQ(lockstore_list(s, &q, collect, &sn, next, &e),
	    LOCKSTORE_BAD_RESOURCE);
	lockstore_close(s);
}

static int
count_fn(const struct lockstore_lock_info *info, void *arg)
{
	(void)info;
	(*(int *)arg)++;
	return 0;
}

static void
list_pages_over_long_names_report_each_once(void)
{
	struct lockstore		*s;
	struct lockstore_list_query	 q;
	struct lockstore_error		 e;
	char				 next[LOCKSTORE_CURSOR_SIZE];
	char				 after[LOCKSTORE_CURSOR_SIZE];
	char				*names[6];
	int				 i, n = 0, pages = 0;

	s = fx->open();
	for (i = 0; i < 6; i++) {
		names[i] = tu_repeat('L', 300 + (size_t)i);
		LOCK(s, names[i], "c", LOCKSTORE_OK, NULL);
	}
	memset(&q, 0, sizeof(q));
	q.limit = 2;
	after[0] = '\0';
	do {
		q.after = after;
		TU_ASSERT_INT_EQ_FATAL(lockstore_list(s, &q, count_fn, &n,
		    next, &e), LOCKSTORE_OK);
		CU_ASSERT(strlen(next) < LOCKSTORE_CURSOR_SIZE);
		snprintf(after, sizeof(after), "%s", next);
		pages++;
	} while (next[0] != '\0' && pages < 10);
	TU_ASSERT_INT_EQ(n, 6);
	TU_ASSERT_INT_EQ(pages, 3);
	for (i = 0; i < 6; i++)
		free(names[i]);
	lockstore_close(s);
}

/* Racing threads. */
struct racer {
	struct lockstore	*s;
	const char		*resource;
	char			 client[32];
	pthread_barrier_t	*start;
	enum lockstore_status	 st;
};

static void *
race(void *arg)
{
	struct racer		*r = arg;
	struct lockstore_error	 e;

	pthread_barrier_wait(r->start);
	r->st = lockstore_lock(r->s, r->resource, r->client, &e);
	return NULL;
}

static void
threads_racing_for_one_resource_have_one_winner(void)
{
	struct lockstore	*s1, *s2;
	struct racer		 r[16];
	pthread_t		 t[16];
	pthread_barrier_t	 b;
	char			 res[32];
	int			 round, i, winners;

	/* Two stores on one store: two lockd hosts. */
	s1 = fx->open();
	s2 = fx->open_again();
	for (round = 0; round < 5; round++) {
		snprintf(res, sizeof(res), "race%d", round);
		pthread_barrier_init(&b, NULL, 16);
		for (i = 0; i < 16; i++) {
			r[i].s = i % 2 == 0 ? s1 : s2;
			r[i].resource = res;
			snprintf(r[i].client, sizeof(r[i].client), "c%d", i);
			r[i].start = &b;
			CU_ASSERT_FATAL(pthread_create(&t[i], NULL, race,
			    &r[i]) == 0);
		}
		winners = 0;
		for (i = 0; i < 16; i++) {
			pthread_join(t[i], NULL);
			if (r[i].st == LOCKSTORE_OK)
				winners++;
			else
				TU_ASSERT_INT_EQ(r[i].st, LOCKSTORE_HELD);
		}
		pthread_barrier_destroy(&b);
		TU_ASSERT_INT_EQ(winners, 1);
	}
	lockstore_close(s1);
	lockstore_close(s2);
}

/* A thread that unlocks after a pause. */
struct releaser {
	struct lockstore	*s;
	const char		*resource, *client;
	unsigned int		 after_ms;
	long long		 at;
};

static void *
release_later(void *arg)
{
	struct releaser		*r = arg;
	struct lockstore_error	 e;
	struct timespec		 ts;

	ts.tv_sec = r->after_ms / 1000;
	ts.tv_nsec = (long)(r->after_ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
	r->at = now_ms();
	lockstore_unlock(r->s, r->resource, r->client, &e);
	return NULL;
}

static void
acquire_waits_until_another_store_releases(void)
{
	struct lockstore		*s1, *s2;
	struct lockstore_acquire_opts	 o;
	struct lockstore_grant		 g;
	struct lockstore_error		 e;
	struct releaser			 rel;
	pthread_t			 t;
	long long			 lag[3];
	int				 i;

	s1 = fx->open();
	s2 = fx->open_again();
	memset(&o, 0, sizeof(o));
	o.wait_ms = 10000;
	for (i = 0; i < 3; i++) {
		LOCK(s1, "w", "holder", LOCKSTORE_OK, NULL);
		rel.s = s1;
		rel.resource = "w";
		rel.client = "holder";
		rel.after_ms = 300;
		CU_ASSERT_FATAL(pthread_create(&t, NULL, release_later,
		    &rel) == 0);
		TU_ASSERT_INT_EQ(lockstore_acquire(s2, "w", "waiter", &o, &g,
		    &e), LOCKSTORE_OK);
		lag[i] = now_ms() - rel.at;
		pthread_join(t, NULL);
		CU_ASSERT(g.waited_ms >= 250);
		UNLOCK(s2, "w", "waiter", LOCKSTORE_OK, NULL);
	}
	/* Woken by the watch, not by a slow poll: generous bounds. */
	for (i = 0; i < 3; i++)
		CU_ASSERT(lag[i] < 1000);
	lockstore_close(s1);
	lockstore_close(s2);
}

static int
always(void *arg)
{
	(void)arg;
	return 1;
}

static void
acquire_wait_runs_out_or_is_cancelled(void)
{
	struct lockstore		*s;
	struct lockstore_acquire_opts	 o;
	struct lockstore_grant		 g;
	struct lockstore_error		 e;
	long long			 t0, took;

	s = fx->open();
	LOCK(s, "w", "holder", LOCKSTORE_OK, NULL);
	memset(&o, 0, sizeof(o));
	o.wait_ms = 500;
	t0 = now_ms();
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "w", "waiter", &o, &g, &e),
	    LOCKSTORE_HELD);
	took = now_ms() - t0;
	TU_ASSERT_STR_EQ(e.msg, "Resource already locked by 'holder'");
	CU_ASSERT(took >= 450 && took < 3000);
	o.wait_ms = 5000;
	o.cancelled = always;
	t0 = now_ms();
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "w", "waiter", &o, &g, &e),
	    LOCKSTORE_CANCELLED);
	CU_ASSERT(now_ms() - t0 < 2000);
	lockstore_close(s);
}

/* Waits until RESOURCE is no longer held (a lease ran out), sweeping. */
static int
wait_released(struct lockstore *s, const char *resource, int max_ms)
{
	struct lockstore_lock_info	info;
	struct lockstore_error		e;
	long long			end = now_ms() + max_ms;
	int				held = 1;
	struct timespec			ts = { 0, 100 * 1000000L };

	while (now_ms() < end) {
		lockstore_expire(s, &e);
		if (lockstore_inspect(s, resource, &held, &info, &e) ==
		    LOCKSTORE_OK && !held)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}


static void
lease_expires_is_recorded_and_held_off(void)
{
	struct lockstore		*s;
	struct lockstore_policy		 pol = LOCKSTORE_POLICY_DEFAULT;
	struct lockstore_acquire_opts	 o;
	struct lockstore_grant		 g;
	struct lockstore_lock_info	 info;
	struct lockstore_error		 e;
	struct lockstore_stats		 st;
	struct last_entry		*l;
	int				 held;

	CU_ASSERT_FATAL((l = calloc(1, sizeof(*l))) != NULL);
	s = fx->open();
	pol.lock_delay_ms = 1000;
	lockstore_set_policy(s, &pol);
	memset(&o, 0, sizeof(o));
	o.ttl_ms = 1000;
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "lease", "c1", &o, &g, &e),
	    LOCKSTORE_OK);
	/* A backend may round up (etcd: to seconds and its minimum TTL). */
	CU_ASSERT(g.ttl_ms >= 1000);
	CU_ASSERT(g.expires_ms > 0);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "lease", &held, &info, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(held, 1);
	TU_ASSERT_INT_EQ(info.ttl_ms, g.ttl_ms);
	CU_ASSERT_FATAL(wait_released(s, "lease", 15000));
	/* Right after the expiry: lock-delay. */
	TU_ASSERT_INT_EQ(lockstore_lock(s, "lease", "c2", &e),
	    LOCKSTORE_DELAYED);
	/* Worded as the lock directory words it (PROTOCOL, fault 4). */
	CU_ASSERT(strstr(e.msg, " after an expired lease (lock-delay)") !=
	    NULL);
	TU_ASSERT_INT_EQ(lockstore_history(s, "lease", 10, history_fn, l, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(l->n, 1);
	TU_ASSERT_INT_EQ(l->first.how, LOCKSTORE_END_EXPIRY);
	TU_ASSERT_STR_EQ(l->first.holder, "c1");
	TU_ASSERT_INT_EQ(l->first.token, g.token);
	lockstore_get_stats(s, &st);
	TU_ASSERT_INT_EQ(st.expiries, 1);
	free(l);
	lockstore_close(s);
}

static void
renew_checks_holder_token_and_lease(void)
{
	struct lockstore		*s;
	struct lockstore_acquire_opts	 o;
	struct lockstore_grant		 g, g2;
	struct lockstore_error		 e;
	unsigned long long		 t;

	s = fx->open();
	memset(&o, 0, sizeof(o));
	o.ttl_ms = 3000;
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "r", "c1", &o, &g, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(lockstore_renew(s, "r", "c2", g.token, 0, &g2, &e),
	    LOCKSTORE_NOT_OWNER);
	TU_ASSERT_STR_EQ(e.msg,
	    "Resource locked by 'c1' cannot be renewed by 'c2'");
	TU_ASSERT_INT_EQ(lockstore_renew(s, "r", "c1", g.token + 1000, 0, &g2,
	    &e), LOCKSTORE_STALE_TOKEN);
	TU_ASSERT_INT_EQ(lockstore_renew(s, "r", "c1", g.token, 5000, &g2, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(g2.token, g.token);
	TU_ASSERT_INT_EQ(g2.ttl_ms, 5000);
	CU_ASSERT(g2.expires_ms >= g.expires_ms);
	/* Renewed: still held well after the first TTL. */
	sleep(4);
	lockstore_expire(s, &e);
	LOCK(s, "r", "c2", LOCKSTORE_HELD, "Resource already locked by 'c1'");
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "plain", "c1", &t, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(lockstore_renew(s, "plain", "c1", t, 0, &g2, &e),
	    LOCKSTORE_NO_LEASE);
	TU_ASSERT_INT_EQ(lockstore_renew(s, "none", "c1", t, 0, &g2, &e),
	    LOCKSTORE_NOT_LOCKED);
	UNLOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	lockstore_close(s);
}

static void
break_records_history_takes_a_token_and_holds_off(void)
{
	struct lockstore		*s;
	struct lockstore_policy		 pol = LOCKSTORE_POLICY_DEFAULT;
	struct lockstore_lock_info	 broken, info;
	struct lockstore_error		 e;
	struct last_entry		*l;
	unsigned long long		 t, nt, t2;
	long long			 t0;
	int				 held, valid;

	CU_ASSERT_FATAL((l = calloc(1, sizeof(*l))) != NULL);
	s = fx->open();
	pol.lock_delay_ms = 1500;
	lockstore_set_policy(s, &pol);
	TU_ASSERT_INT_EQ(lockstore_break(s, "b", "op", "why", &broken, &nt,
	    &e), LOCKSTORE_NOT_LOCKED);
	TU_ASSERT_STR_EQ(e.msg, "Resource not locked");
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "b", "c1", &t, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(lockstore_break(s, "b", "op", "stuck job", &broken,
	    &nt, &e), LOCKSTORE_OK);
	TU_ASSERT_STR_EQ(broken.holder, "c1");
	TU_ASSERT_INT_EQ(broken.token, t);
	CU_ASSERT(nt > t);
	TU_ASSERT_INT_EQ(lockstore_check(s, "b", "c1", t, &valid, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(valid, 0);
	UNLOCK(s, "b", "c1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	TU_ASSERT_INT_EQ(lockstore_lock(s, "b", "c2", &e),
	    LOCKSTORE_DELAYED);
	CU_ASSERT(strncmp(e.msg, "Resource held off until ", 24) == 0);
	CU_ASSERT(strstr(e.msg, " after a break (lock-delay)") != NULL);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "b", &held, &info, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(held, 0);
	CU_ASSERT(info.delay_until_ms > 0);
	TU_ASSERT_INT_EQ(info.delay_cause, LOCKSTORE_END_BREAK);
	TU_ASSERT_INT_EQ(lockstore_history(s, "b", 10, history_fn, l, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(l->n, 1);
	TU_ASSERT_INT_EQ(l->first.how, LOCKSTORE_END_BREAK);
	TU_ASSERT_STR_EQ(l->first.by, "op");
	TU_ASSERT_STR_EQ(l->first.reason, "stuck job");
	TU_ASSERT_INT_EQ(l->first.token, t);
	/* The lock-delay ends by itself. */
	t0 = now_ms();
	while (lockstore_lock(s, "b", "c2", &e) == LOCKSTORE_DELAYED &&
	    now_ms() - t0 < 15000)
		usleep(100000);
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "b2", "c2", &t2, &e),
	    LOCKSTORE_OK);
	CU_ASSERT(t2 > nt);
	UNLOCK(s, "b", "c2", LOCKSTORE_OK, NULL);
	free(l);
	lockstore_close(s);
}
static void
health_is_ok_on_a_live_cluster(void)
{
	struct lockstore	*s;
	struct lockstore_error	 e;

	s = fx->open();
	TU_ASSERT_INT_EQ(lockstore_health(s, &e), LOCKSTORE_OK);
	lockstore_close(s);
}

static const struct tu_test contract_tests[] = {
	{ "seed_scenario_gives_documented_outcomes_and_messages",
	    seed_scenario_gives_documented_outcomes_and_messages },
	{ "names_of_any_bytes_are_distinct_resources",
	    names_of_any_bytes_are_distinct_resources },
	{ "tokens_grow_and_check_tells_the_current_holding",
	    tokens_grow_and_check_tells_the_current_holding },
	{ "acquire_by_the_holder_is_a_reacquire_with_the_same_token",
	    acquire_by_the_holder_is_a_reacquire_with_the_same_token },
	{ "list_pages_in_name_order_with_filters",
	    list_pages_in_name_order_with_filters },
	{ "list_pages_over_long_names_report_each_once",
	    list_pages_over_long_names_report_each_once },
	{ "threads_racing_for_one_resource_have_one_winner",
	    threads_racing_for_one_resource_have_one_winner },
	{ "acquire_waits_until_another_store_releases",
	    acquire_waits_until_another_store_releases },
	{ "acquire_wait_runs_out_or_is_cancelled",
	    acquire_wait_runs_out_or_is_cancelled },
	{ "lease_expires_is_recorded_and_held_off",
	    lease_expires_is_recorded_and_held_off },
	{ "renew_checks_holder_token_and_lease",
	    renew_checks_holder_token_and_lease },
	{ "break_records_history_takes_a_token_and_holds_off",
	    break_records_history_takes_a_token_and_holds_off },
	{ "health_is_ok_on_a_live_cluster",
	    health_is_ok_on_a_live_cluster },
	{ NULL, NULL }
};

/* Runs the contract tests against FIXTURE, then OWN, as one suite. */
int
contract_run(const char *suite, const struct contract_fixture *fixture,
    const struct tu_test *own)
{
	struct tu_test	*all;
	size_t		 n = 0, m = 0;
	int		 rc;

	while (contract_tests[n].name != NULL)
		n++;
	while (own[m].name != NULL)
		m++;
	if ((all = calloc(n + m + 1, sizeof(*all))) == NULL) {
		perror(suite);
		return 2;
	}
	memcpy(all, contract_tests, n * sizeof(*all));
	memcpy(all + n, own, m * sizeof(*all));
	fx = fixture;
	rc = tu_run(suite, all);
	free(all);
	return rc;
}
