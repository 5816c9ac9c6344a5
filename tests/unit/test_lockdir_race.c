/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the lock-directory store: one holder at a time, whatever
 * processes and threads race for a lock.
 */
#include "config.h"

#include <sys/types.h>

#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir_tu.h"
#include "lockstore.h"
#include "tu.h"

#define LOOP_SECONDS	15.0	/* wall time bound of every stress loop */

#define RACE_CHILDREN	8
#define RACE_ROUNDS	50
#define CYCLE_CHILDREN	4
#define CYCLE_COUNT	200
#define CYCLE_RES	4
#define THREADS		16
#define THREAD_CYCLES	200
#define HOT_RES		2

static const char held_prefix[] = "Resource already locked by '";

/* --- exclusion across processes and threads ---------------------------- */

/* What one racing child saw; small enough for one atomic pipe write. */
struct race_report {
	int	idx;
	int	status;
	char	msg[128];
};

/* A racing child: open, wait for the start signal, lock, report. */
static void
race_child(const char *dir, int idx, int start, int out)
{
	struct race_report	 rep;
	struct lockstore	*s;
	struct lockstore_error	 err;
	char			 me[32], c;

	alarm(TU_CHILD_TIMEOUT);
	memset(&rep, 0, sizeof(rep));
	rep.idx = idx;
	snprintf(me, sizeof(me), "child-%d", idx);
	if (lockstore_open_dir(&s, dir, LOCKSTORE_NOSYNC, &err) !=
	    LOCKSTORE_OK)
		_exit(1);
	while (read(start, &c, 1) == -1 && errno == EINTR)
		;
	rep.status = lockstore_lock(s, "hot", me, &err);
	if (rep.status != LOCKSTORE_OK)
		snprintf(rep.msg, sizeof(rep.msg), "%.*s",
		    (int)sizeof(rep.msg) - 1, err.msg);
	if (write(out, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(1);
	lockstore_close(s);
	_exit(0);
}

/* One round; returns the number of problems found (and asserted). */
static int
race_round(struct lockstore *s, const char *dir)
{
	struct race_report	rep, reps[RACE_CHILDREN];
	pid_t			pids[RACE_CHILDREN];
	char			winner[32], holder[64], *m;
	int			start[2], out[2], i, n = 0, oks = 0;
	int			problems = 0;

	CU_ASSERT_FATAL(pipe(start) == 0 && pipe(out) == 0);
	fflush(stdout);
	for (i = 0; i < RACE_CHILDREN; i++) {
		if ((pids[i] = fork()) == 0) {
			close(start[1]);
			close(out[0]);
			race_child(dir, i, start[0], out[1]);
		}
		CU_ASSERT_FATAL(pids[i] > 0);
	}
	close(start[0]);
	close(out[1]);
	close(start[1]);	/* go */
	winner[0] = '\0';
	while (n < RACE_CHILDREN && read(out[0], &rep, sizeof(rep)) ==
	    (ssize_t)sizeof(rep)) {
		reps[n++] = rep;
		if (rep.status == LOCKSTORE_OK) {
			oks++;
			snprintf(winner, sizeof(winner), "child-%d", rep.idx);
		}
	}
	close(out[0]);
	for (i = 0; i < RACE_CHILDREN; i++)
		if (tu_wait(pids[i]) != 0)
			problems++;
	problems += (n != RACE_CHILDREN) + (oks != 1);
	TU_ASSERT_INT_EQ(n, RACE_CHILDREN);
	TU_ASSERT_INT_EQ(oks, 1);
	if (oks != 1)
		return problems + 1;
	m = held_msg(winner);
	for (i = 0; i < n; i++) {
		if (reps[i].status == LOCKSTORE_OK)
			continue;
		if (reps[i].status != LOCKSTORE_HELD ||
		    strcmp(reps[i].msg, m) != 0) {
			problems++;
			TU_ASSERT_STR_EQ(reps[i].msg, m);
		}
	}
	free(m);
	if (read_holder(dir, "hot", holder, sizeof(holder)) != 0 ||
	    strcmp(holder, winner) != 0) {
		problems++;
		TU_ASSERT_STR_EQ(holder, winner);
	}
	UNLOCK(s, "hot", winner, LOCKSTORE_OK, NULL);
	return problems;
}

static void
racing_processes_get_exactly_one_winner(void)
{
	struct lockstore	*s;
	char			*dir;
	double			 deadline;
	int			 round, problems = 0;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	deadline = tu_now() + LOOP_SECONDS;
	for (round = 0; round < RACE_ROUNDS && problems == 0 &&
	    tu_now() < deadline; round++)
		problems += race_round(s, dir);
	TU_ASSERT_INT_EQ(problems, 0);
	CU_ASSERT(round >= 10);		/* enough rounds to mean something */
	/* No temporary file survives the losers. */
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(s);
}

/* What a cycling child found, as its exit status. */
#define CYCLE_OK		0
#define CYCLE_TWO_HOLDERS	1
#define CYCLE_ERROR		2
#define CYCLE_NEVER_LOCKED	3

static const char *cycle_res[CYCLE_RES] = { "r0", "r/1", ".r2", "r3" };

/* One cycling child: lock, check the file is ours, unlock, again. */
static int
cycle_child(const char *dir, int idx)
{
	struct lockstore	*s;
	struct lockstore_error	 err;
	enum lockstore_status	 st;
	char			 me[32], holder[64];
	const char		*r;
	unsigned int		 seed = (unsigned int)idx * 7919u + 1;
	double			 deadline = tu_now() + LOOP_SECONDS;
	int			 i, oks = 0;

	snprintf(me, sizeof(me), "child-%d", idx);
	if (lockstore_open_dir(&s, dir, LOCKSTORE_NOSYNC, &err) !=
	    LOCKSTORE_OK)
		return CYCLE_ERROR;
	for (i = 0; i < CYCLE_COUNT && tu_now() < deadline; i++) {
		r = cycle_res[rand_r(&seed) % CYCLE_RES];
		st = lockstore_lock(s, r, me, &err);
		if (st == LOCKSTORE_HELD) {
			if (strncmp(err.msg, held_prefix,
			    sizeof(held_prefix) - 1) != 0)
				return CYCLE_ERROR;
			continue;
		}
		if (st != LOCKSTORE_OK) {
			fprintf(stderr, "%s: lock %s: %s\n", me, r, err.msg);
			return CYCLE_ERROR;
		}
		oks++;
		/* Ours until we let go: nobody else's name, never gone. */
		if (read_holder(dir, r, holder, sizeof(holder)) != 0 ||
		    strcmp(holder, me) != 0)
			return CYCLE_TWO_HOLDERS;
		sched_yield();
		if (read_holder(dir, r, holder, sizeof(holder)) != 0 ||
		    strcmp(holder, me) != 0)
			return CYCLE_TWO_HOLDERS;
		if ((st = lockstore_unlock(s, r, me, &err)) != LOCKSTORE_OK) {
			fprintf(stderr, "%s: unlock %s: %s\n", me, r, err.msg);
			return st == LOCKSTORE_NOT_OWNER ||
			    st == LOCKSTORE_NOT_LOCKED ? CYCLE_TWO_HOLDERS :
			    CYCLE_ERROR;
		}
	}
	lockstore_close(s);
	return oks > 0 ? CYCLE_OK : CYCLE_NEVER_LOCKED;
}

static void
cycling_processes_never_see_two_holders(void)
{
	char		*dir;
	int		 i;
	pid_t		 pids[CYCLE_CHILDREN];

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	fflush(stdout);
	for (i = 0; i < CYCLE_CHILDREN; i++) {
		if ((pids[i] = fork()) == 0) {
			alarm(TU_CHILD_TIMEOUT);
			_exit(cycle_child(dir, i));
		}
		CU_ASSERT_FATAL(pids[i] > 0);
	}
	for (i = 0; i < CYCLE_CHILDREN; i++)
		TU_ASSERT_INT_EQ(tu_wait(pids[i]), CYCLE_OK);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
}

/* Shared by the threads of one test. */
struct hot {
	struct lockstore	*stores[2];
	const char		*dir;
	atomic_int		 holders[HOT_RES];
	atomic_int		 max_holders;
	atomic_int		 oks;
	atomic_int		 errors;
};

struct worker {
	struct hot	*hot;
	int		 idx;
	pthread_t	 tid;
};

static void *
hot_thread(void *arg)
{
	struct worker		*w = arg;
	struct hot		*h = w->hot;
	struct lockstore	*s = h->stores[w->idx % 2];
	struct lockstore_error	 err;
	enum lockstore_status	 st;
	static const char	*res[HOT_RES] = { "hot-a", "hot/b" };
	char			 me[32];
	double			 deadline = tu_now() + LOOP_SECONDS;
	int			 i, r, n, m;

	snprintf(me, sizeof(me), "thread-%d", w->idx);
	for (i = 0; i < THREAD_CYCLES && tu_now() < deadline; i++) {
		r = (i + w->idx) % HOT_RES;
		st = lockstore_lock(s, res[r], me, &err);
		if (st == LOCKSTORE_HELD)
			continue;
		if (st != LOCKSTORE_OK) {
			atomic_fetch_add(&h->errors, 1);
			continue;
		}
		atomic_fetch_add(&h->oks, 1);
		n = atomic_fetch_add(&h->holders[r], 1) + 1;
		m = atomic_load(&h->max_holders);
		while (n > m &&
		    !atomic_compare_exchange_weak(&h->max_holders, &m, n))
			;
		sched_yield();
		atomic_fetch_sub(&h->holders[r], 1);
		if (lockstore_unlock(s, res[r], me, &err) != LOCKSTORE_OK)
			atomic_fetch_add(&h->errors, 1);
	}
	return NULL;
}

static void
threads_on_hot_resources_never_exceed_one_holder(void)
{
	struct hot	h;
	struct worker	w[THREADS];
	char		*dir;
	int		 i;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	memset(&h, 0, sizeof(h));
	h.dir = dir;
	/* Threads share one store, and half of them a second one. */
	h.stores[0] = open_store(dir, LOCKSTORE_NOSYNC);
	h.stores[1] = open_store(dir, LOCKSTORE_NOSYNC);
	for (i = 0; i < THREADS; i++) {
		w[i].hot = &h;
		w[i].idx = i;
		CU_ASSERT_FATAL(pthread_create(&w[i].tid, NULL, hot_thread,
		    &w[i]) == 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(w[i].tid, NULL);
	TU_ASSERT_INT_EQ(atomic_load(&h.max_holders), 1);
	TU_ASSERT_INT_EQ(atomic_load(&h.errors), 0);
	CU_ASSERT(atomic_load(&h.oks) > 0);
	TU_ASSERT_INT_EQ(tu_count_entries(dir), 0);
	lockstore_close(h.stores[0]);
	lockstore_close(h.stores[1]);
}

static const struct tu_test tests[] = {
	{ "racing_processes_get_exactly_one_winner",
	    racing_processes_get_exactly_one_winner },
	{ "cycling_processes_never_see_two_holders",
	    cycling_processes_never_see_two_holders },
	{ "threads_on_hot_resources_never_exceed_one_holder",
	    threads_on_hot_resources_never_exceed_one_holder },
	{ NULL, NULL }
};

int
main(void)
{
	return tu_run("lockdir_race", tests);
}
