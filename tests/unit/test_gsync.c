/* SPDX-License-Identifier: MIT */
/* Unit tests of gsync: shared fsyncs that start after the caller's change. */
#include "config.h"

#include <CUnit/CUnit.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "dir/gsync.h"
#include "tu.h"

#define THREADS	16
#define ROUNDS	50

static struct gsync	g;
static int		violations, failures;
static pthread_mutex_t	count_lock = PTHREAD_MUTEX_INITIALIZER;

/* Each wait must return only after a sync that started after it began. */
static void *
waiter(void *arg)
{
	uint64_t	before, done;
	int		i, rc;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&g.lock);
		before = g.started;
		pthread_mutex_unlock(&g.lock);
		rc = gsync_wait(&g);
		pthread_mutex_lock(&g.lock);
		done = g.done;
		pthread_mutex_unlock(&g.lock);
		pthread_mutex_lock(&count_lock);
		if (done <= before)
			violations++;
		if (rc != 0)
			failures++;
		pthread_mutex_unlock(&count_lock);
	}
	return NULL;
}

static void
concurrent_waits_each_get_a_sync_that_began_later(void)
{
	pthread_t	t[THREADS];
	char		*dir = tu_tmpdir();
	int		fd, i;

	CU_ASSERT_FATAL(dir != NULL);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(fd != -1);
	gsync_init(&g, fd);
	violations = failures = 0;
	for (i = 0; i < THREADS; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, waiter, NULL) == 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(violations, 0);
	CU_ASSERT_EQUAL(failures, 0);
	/* Never more syncs than waits; every started sync finished. */
	CU_ASSERT(g.started <= THREADS * ROUNDS);
	CU_ASSERT_EQUAL(g.started, g.done);
	CU_ASSERT_FALSE(g.running);
	gsync_destroy(&g);
	close(fd);
}

static void
failed_sync_is_reported_to_its_waiters(void)
{
	gsync_init(&g, -1);	/* fsync(-1) fails with EBADF */
	errno = 0;
	CU_ASSERT_EQUAL(gsync_wait(&g), -1);
	CU_ASSERT_EQUAL(errno, EBADF);
	CU_ASSERT_EQUAL(gsync_wait(&g), -1);
	CU_ASSERT_EQUAL(g.failed, g.done);
	gsync_destroy(&g);
}

/*
 * A mark names the first sync to begin after it: a sync another caller
 * starts later covers it, a sync that had already begun does not.
 */
static void
mark_is_covered_by_a_later_sync_only(void)
{
	char		*dir = tu_tmpdir();
	uint64_t	 m1, m2;
	int		 fd;

	CU_ASSERT_FATAL(dir != NULL);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(fd != -1);
	gsync_init(&g, fd);
	m1 = gsync_mark(&g);
	CU_ASSERT_EQUAL(gsync_wait(&g), 0);	/* begins after m1 */
	TU_ASSERT_INT_EQ(g.started, 1);
	CU_ASSERT_EQUAL(gsync_wait_mark(&g, m1), 0);
	TU_ASSERT_INT_EQ(g.started, 1);		/* covered: no new sync */
	/* A mark taken while a sync runs needs the next one. */
	pthread_mutex_lock(&g.lock);
	g.running = 1;
	g.started++;
	pthread_mutex_unlock(&g.lock);
	m2 = gsync_mark(&g);
	TU_ASSERT_INT_EQ(m2, 3);
	pthread_mutex_lock(&g.lock);
	g.running = 0;
	g.done = g.started;
	pthread_mutex_unlock(&g.lock);
	CU_ASSERT_EQUAL(gsync_wait_mark(&g, m2), 0);
	TU_ASSERT_INT_EQ(g.done, 3);		/* it ran a sync of its own */
	gsync_destroy(&g);
	close(fd);
}

int
main(void)
{
	static const struct tu_test tests[] = {
		{ "concurrent_waits_each_get_a_sync_that_began_later",
		    concurrent_waits_each_get_a_sync_that_began_later },
		{ "failed_sync_is_reported_to_its_waiters",
		    failed_sync_is_reported_to_its_waiters },
		{ "mark_is_covered_by_a_later_sync_only",
		    mark_is_covered_by_a_later_sync_only },
		{ NULL, NULL }
	};

	return tu_run("gsync", tests);
}
