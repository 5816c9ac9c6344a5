/* SPDX-License-Identifier: MIT */
/* Unit tests of waitq and the lock directory's watch: FIFO order, wake-ups
 * by this and other processes. */
#include "config.h"

#include <CUnit/CUnit.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tu.h"
#include "dir/watch.h"
#include "waitq.h"

#define KEY		"res.lock"
#define FIFO_THREADS	8
#define ROUNDS		12	/* latency measurements per test */
#define WAKE_MEDIAN	0.050	/* seconds: the 50 ms of the spec */
#define WAKE_MAX	0.250
#define WAKE_SLOWEST	0.900	/* the slowest of many wake-ups: a busy
				   machine, below the 1 s fallback poll */
#define STRESS_THREADS	8
#define STRESS_CYCLES	100

/* The watch of the queue under test (one at a time), as the lock
 * directory's store makes it. */
static struct dirwatch	*watch;

/* A queue woken by releases in DIR too; NULL on failure. */
static struct waitq *
queue_new(const char *dir)
{
	struct waitq	*q;

	if ((q = waitq_new()) == NULL)
		return NULL;
	if ((watch = dirwatch_new(dir, q)) == NULL) {
		waitq_free(q);
		return NULL;
	}
	return q;
}

/* Joins KEY, and routes the directory's events of file KEY to it. */
static struct waiter *
join(struct waitq *q, const char *key, unsigned int max)
{
	struct waiter	*w;

	if ((w = waitq_join(q, key, max)) != NULL)
		dirwatch_arm(watch, w, key);
	return w;
}

/* Frees Q and its watch. */
static void
queue_free(struct waitq *q)
{
	dirwatch_free(watch);
	watch = NULL;
	waitq_free(q);
}

/* The absolute CLOCK_MONOTONIC time SEC seconds from now. */
static struct timespec
in_sec(double sec)
{
	struct timespec	ts;
	long long	ns;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (long long)ts.tv_nsec + (long long)(sec * 1e9);
	ts.tv_sec += (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	return ts;
}

/* Waits on S for at most SEC seconds; 0 or -1. */
static int
sem_wait_sec(sem_t *s, double sec)
{
	struct timespec	ts;
	long long	ns;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (long long)ts.tv_nsec + (long long)(sec * 1e9);
	ts.tv_sec += (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	while (sem_timedwait(s, &ts) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Sleeps MS milliseconds. */
static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* qsort() order of doubles. */
static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Asserts that the N latencies in LAT meet the wake-up bounds. */
static void
check_latencies(double *lat, int n)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("\n    wake-up latency: min %.1f ms, median %.1f ms, "
	    "max %.1f ms ", lat[0] * 1e3, lat[n / 2] * 1e3,
	    lat[n - 1] * 1e3);
	CU_ASSERT(lat[0] >= 0);
	CU_ASSERT(lat[n / 2] < WAKE_MEDIAN);
	CU_ASSERT(lat[n - 1] < WAKE_SLOWEST);
}

/*
 * A head waiter in its own thread: per round, waits for "go", then waits
 * in the queue and records when and how the wait returned.
 */
struct sleeper {
	struct waitq		*q;
	struct waiter		*w;
	sem_t			 go, done;
	int			 rounds;
	double			 ret[ROUNDS];
	enum waitq_result	 res[ROUNDS];
};

static void *
sleeper_main(void *arg)
{
	struct sleeper	*s = arg;
	struct timespec	 deadline;
	int		 i;

	for (i = 0; i < s->rounds; i++) {
		if (sem_wait_sec(&s->go, 10) == -1)
			break;
		deadline = in_sec(3);
		s->res[i] = waitq_wait(s->q, s->w, &deadline, NULL, NULL);
		s->ret[i] = tu_now();
		sem_post(&s->done);
	}
	return NULL;
}

/* Joins KEY and starts the sleeper thread T; 0 or -1. */
static int
sleeper_start(struct sleeper *s, pthread_t *t, struct waitq *q,
    const char *key)
{
	memset(s, 0, sizeof(*s));
	s->q = q;
	s->rounds = ROUNDS;
	if ((s->w = join(q, key, 16)) == NULL)
		return -1;
	sem_init(&s->go, 0, 0);
	sem_init(&s->done, 0, 0);
	if (pthread_create(t, NULL, sleeper_main, s) != 0) {
		waitq_leave(q, s->w);
		return -1;
	}
	return 0;
}

/* Ends the sleeper thread T and leaves the queue. */
static void
sleeper_end(struct sleeper *s, pthread_t t)
{
	int	i;

	/* Releases a thread that stopped early waiting for "go". */
	for (i = 0; i < ROUNDS; i++)
		sem_post(&s->go);
	pthread_join(t, NULL);
	waitq_leave(s->q, s->w);
	sem_destroy(&s->go);
	sem_destroy(&s->done);
}

/* The FIFO test: a simulated lock and the order of its grants. */
struct fifo {
	struct waitq	*q;
	pthread_mutex_t	 lock;
	int		 held;
	int		 order[FIFO_THREADS];
	int		 ngrant;
	int		 timeouts, errors;
	sem_t		 joined;
};

struct fifo_arg {
	struct fifo	*f;
	int		 id;
};

/* A waiter as acquire() runs it: try when head, else wait; then leave. */
static void *
fifo_main(void *arg)
{
	struct fifo_arg	*a = arg;
	struct fifo	*f = a->f;
	struct waiter	*w;
	struct timespec	 deadline = in_sec(20);
	int		 granted = 0;

	if ((w = join(f->q, KEY, FIFO_THREADS)) == NULL) {
		pthread_mutex_lock(&f->lock);
		f->errors++;
		pthread_mutex_unlock(&f->lock);
		sem_post(&f->joined);
		return NULL;
	}
	sem_post(&f->joined);
	while (!granted) {
		if (waitq_is_head(f->q, w)) {
			pthread_mutex_lock(&f->lock);
			if (!f->held) {
				f->held = 1;
				f->order[f->ngrant++] = a->id;
				granted = 1;
			}
			pthread_mutex_unlock(&f->lock);
			if (granted)
				break;
		}
		if (waitq_wait(f->q, w, &deadline, NULL, NULL) ==
		    WAITQ_TIMEOUT) {
			pthread_mutex_lock(&f->lock);
			f->timeouts++;
			pthread_mutex_unlock(&f->lock);
			break;
		}
	}
	waitq_leave(f->q, w);
	return NULL;
}

static void
waiters_are_granted_in_join_order(void)
{
	struct fifo	f;
	struct fifo_arg	a[FIFO_THREADS];
	pthread_t	t[FIFO_THREADS];
	double		end;
	int		i, n, started = 0, ngrant;

	memset(&f, 0, sizeof(f));
	f.q = queue_new("/nonexistent-waitq-dir");	/* notify only */
	CU_ASSERT_FATAL(f.q != NULL);
	pthread_mutex_init(&f.lock, NULL);
	sem_init(&f.joined, 0, 0);
	f.held = 1;		/* by this thread, the "holder" */
	for (i = 0; i < FIFO_THREADS; i++) {
		a[i].f = &f;
		a[i].id = i;
		if (pthread_create(&t[i], NULL, fifo_main, &a[i]) != 0)
			break;
		started++;
		/* Joins one by one, so the join order is known. */
		CU_ASSERT(sem_wait_sec(&f.joined, 5) == 0);
	}
	CU_ASSERT_EQUAL(started, FIFO_THREADS);
	CU_ASSERT_EQUAL(waitq_count(f.q), (unsigned int)started);
	for (n = 0; n < started; n++) {
		sleep_ms(20);	/* everyone is asleep again */
		pthread_mutex_lock(&f.lock);
		f.held = 0;
		pthread_mutex_unlock(&f.lock);
		waitq_notify(f.q, KEY);
		/* The next grant, then the holder takes the lock back. */
		end = tu_now() + 5;
		for (;;) {
			pthread_mutex_lock(&f.lock);
			ngrant = f.ngrant;
			if (ngrant == n + 1)
				f.held = 1;
			pthread_mutex_unlock(&f.lock);
			if (ngrant == n + 1 || tu_now() > end)
				break;
			sleep_ms(1);
		}
		CU_ASSERT_EQUAL(ngrant, n + 1);
	}
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(f.ngrant, FIFO_THREADS);
	CU_ASSERT_EQUAL(f.timeouts, 0);
	CU_ASSERT_EQUAL(f.errors, 0);
	for (i = 0; i < f.ngrant; i++)
		TU_ASSERT_INT_EQ(f.order[i], i);
	CU_ASSERT_EQUAL(waitq_count(f.q), 0);
	CU_ASSERT_FALSE(waitq_has_waiters(f.q, KEY));
	queue_free(f.q);
	sem_destroy(&f.joined);
	pthread_mutex_destroy(&f.lock);
}

static void
notify_wakes_the_head_within_50ms(void)
{
	struct sleeper	s;
	pthread_t	t;
	double		lat[ROUNDS], t0;
	int		i, n = 0;
	char		*dir = tu_tmpdir();
	struct waitq	*q;

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	CU_ASSERT_FATAL(sleeper_start(&s, &t, q, KEY) == 0);
	for (i = 0; i < ROUNDS; i++) {
		sem_post(&s.go);
		sleep_ms(30);	/* the sleeper is in waitq_wait() */
		t0 = tu_now();
		waitq_notify(q, KEY);
		if (sem_wait_sec(&s.done, 5) == -1)
			break;
		CU_ASSERT_EQUAL(s.res[i], WAITQ_RETRY);
		lat[n++] = s.ret[i] - t0;
	}
	sleeper_end(&s, t);
	CU_ASSERT_EQUAL(n, ROUNDS);
	if (n > 0)
		check_latencies(lat, n);
	queue_free(q);
}

/*
 * The other process: for each command byte read from RFD, does one kind of
 * release of KEY in DIRFD and writes the monotonic time just before it to
 * WFD.  Ends when RFD is closed.
 */
static void
releaser_main(int dirfd, int rfd, int wfd)
{
	double	t0;
	char	c;
	int	fd, rc;

	alarm(TU_CHILD_TIMEOUT);
	while (read(rfd, &c, 1) == 1) {
		t0 = tu_now();
		switch (c) {
		case 'u':
			rc = unlinkat(dirfd, KEY, 0);
			break;
		case 'f':
			rc = renameat(dirfd, KEY, dirfd, KEY ".moved");
			break;
		case 't':
			rc = renameat(dirfd, "incoming", dirfd, KEY);
			break;
		default:
			if ((rc = fd = openat(dirfd, KEY, O_WRONLY)) != -1)
				rc = close(fd);
			break;
		}
		if (rc == -1)
			_exit(2);
		if (write(wfd, &t0, sizeof(t0)) != sizeof(t0))
			_exit(3);
	}
	_exit(0);
}

/* Creates NAME in DIRFD if missing, without an event the queue watches. */
static int
touch_quietly(int dirfd, const char *name)
{
	int	fd;

	/* Opened read-only, so its close is IN_CLOSE_NOWRITE. */
	if ((fd = openat(dirfd, name, O_RDONLY | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	return close(fd);
}

static void
release_by_another_process_wakes_the_head_within_50ms(void)
{
	static const char	 ops[] = "uftw";	/* unlink, rename from,
						   rename to, write */
	struct sleeper		 s;
	struct waitq		*q;
	pthread_t		 t;
	double			 lat[ROUNDS], t0;
	char			*dir = tu_tmpdir();
	int			 dirfd, tochild[2], fromchild[2], i, n = 0;
	pid_t			 pid;

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((dirfd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1);
	CU_ASSERT_FATAL(pipe(tochild) == 0);
	CU_ASSERT_FATAL(pipe(fromchild) == 0);
	/* Forked before any thread of this test exists. */
	fflush(stdout);
	fflush(stderr);
	CU_ASSERT_FATAL((pid = fork()) != -1);
	if (pid == 0) {
		close(tochild[1]);
		close(fromchild[0]);
		releaser_main(dirfd, tochild[0], fromchild[1]);
	}
	close(tochild[0]);
	close(fromchild[1]);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	CU_ASSERT_FATAL(sleeper_start(&s, &t, q, KEY) == 0);
	for (i = 0; i < ROUNDS; i++) {
		/* Leftovers of the last round; none names KEY. */
		unlinkat(dirfd, KEY ".moved", 0);
		CU_ASSERT(touch_quietly(dirfd, KEY) == 0);
		CU_ASSERT(touch_quietly(dirfd, "incoming") == 0);
		sem_post(&s.go);
		sleep_ms(30);
		if (write(tochild[1], &ops[i % 4], 1) != 1 ||
		    read(fromchild[0], &t0, sizeof(t0)) != sizeof(t0)) {
			CU_FAIL("the releasing child failed");
			break;
		}
		if (sem_wait_sec(&s.done, 5) == -1)
			break;
		CU_ASSERT_EQUAL(s.res[i], WAITQ_RETRY);
		lat[n++] = s.ret[i] - t0;
	}
	sleeper_end(&s, t);
	close(tochild[1]);
	close(fromchild[0]);
	CU_ASSERT_EQUAL(tu_wait(pid), 0);
	CU_ASSERT_EQUAL(n, ROUNDS);
	if (n > 0)
		check_latencies(lat, n);
	queue_free(q);
	close(dirfd);
}

static void
wait_times_out_at_the_deadline_not_before(void)
{
	struct waitq		*q;
	struct waiter		*a, *b;
	struct timespec		 deadline;
	enum waitq_result	 r;
	double			 t0, el;
	char			*dir = tu_tmpdir();

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	CU_ASSERT_FATAL((a = join(q, KEY, 4)) != NULL);
	CU_ASSERT_FATAL((b = join(q, KEY, 4)) != NULL);

	/* A head, well before the fallback poll. */
	t0 = tu_now();
	deadline = in_sec(0.2);
	r = waitq_wait(q, a, &deadline, NULL, NULL);
	el = tu_now() - t0;
	CU_ASSERT_EQUAL(r, WAITQ_TIMEOUT);
	CU_ASSERT(el >= 0.2 && el < 0.2 + WAKE_MAX);

	/* Not head: no fallback poll at 1 s, only the deadline. */
	t0 = tu_now();
	deadline = in_sec(1.3);
	r = waitq_wait(q, b, &deadline, NULL, NULL);
	el = tu_now() - t0;
	CU_ASSERT_EQUAL(r, WAITQ_TIMEOUT);
	CU_ASSERT(el >= 1.3 && el < 1.3 + WAKE_MAX);

	/* A deadline already passed. */
	t0 = tu_now();
	deadline = in_sec(-1);
	CU_ASSERT_EQUAL(waitq_wait(q, a, &deadline, NULL, NULL),
	    WAITQ_TIMEOUT);
	CU_ASSERT(tu_now() - t0 < WAKE_MEDIAN);

	waitq_leave(q, b);
	waitq_leave(q, a);
	queue_free(q);
}

static void
head_retries_after_the_fallback_poll(void)
{
	struct waitq	*q;
	struct waiter	*w;
	double		 t0, el;
	char		*dir = tu_tmpdir();

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	CU_ASSERT_FATAL((w = join(q, KEY, 4)) != NULL);
	t0 = tu_now();
	CU_ASSERT_EQUAL(waitq_wait(q, w, NULL, NULL, NULL), WAITQ_RETRY);
	el = tu_now() - t0;
	CU_ASSERT(el >= 1.0 && el < 1.0 + WAKE_MAX);
	waitq_leave(q, w);
	queue_free(q);
}

/* Without inotify (the directory does not exist) waiting still works. */
static void
waiting_works_without_inotify(void)
{
	struct waitq	*q;
	struct waiter	*w;
	double		 t0, el;

	CU_ASSERT_FATAL((q = queue_new("/nonexistent-waitq-dir")) != NULL);
	CU_ASSERT_FATAL((w = join(q, KEY, 4)) != NULL);
	waitq_notify(q, KEY);
	t0 = tu_now();
	CU_ASSERT_EQUAL(waitq_wait(q, w, NULL, NULL, NULL), WAITQ_RETRY);
	CU_ASSERT(tu_now() - t0 < WAKE_MEDIAN);
	t0 = tu_now();
	CU_ASSERT_EQUAL(waitq_wait(q, w, NULL, NULL, NULL), WAITQ_RETRY);
	el = tu_now() - t0;
	CU_ASSERT(el >= 1.0 && el < 1.0 + WAKE_MAX);
	waitq_leave(q, w);
	t0 = tu_now();
	queue_free(q);
	CU_ASSERT(tu_now() - t0 < WAKE_MAX);
}

/* The cancel test: nonzero from WHEN on; counts its calls. */
struct cancel {
	double	when;
	int	calls;
};

/* The cancel test handed to waitq_wait(). */
static int
cancel_fn(void *arg)
{
	struct cancel	*c = arg;

	c->calls++;
	return tu_now() >= c->when;
}

static void
cancel_ends_the_wait_within_250ms(void)
{
	struct waitq	*q;
	struct waiter	*a, *b;
	struct timespec	 deadline;
	struct cancel	 c;
	double		 t0, el;
	char		*dir = tu_tmpdir();

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	CU_ASSERT_FATAL((a = join(q, KEY, 4)) != NULL);
	CU_ASSERT_FATAL((b = join(q, KEY, 4)) != NULL);

	/* Head and not head, cancelled after 300 ms. */
	c.when = tu_now() + 0.3;
	c.calls = 0;
	deadline = in_sec(5);
	CU_ASSERT_EQUAL(waitq_wait(q, a, &deadline, cancel_fn, &c),
	    WAITQ_CANCELLED);
	el = tu_now() - c.when;
	CU_ASSERT(el >= 0 && el < WAKE_MAX);
	CU_ASSERT(c.calls >= 2 && c.calls <= 10);

	c.when = tu_now() + 0.3;
	c.calls = 0;
	CU_ASSERT_EQUAL(waitq_wait(q, b, &deadline, cancel_fn, &c),
	    WAITQ_CANCELLED);
	el = tu_now() - c.when;
	CU_ASSERT(el >= 0 && el < WAKE_MAX);

	/* Cancelled already: the first wait asks at once. */
	waitq_leave(q, b);
	CU_ASSERT_FATAL((b = join(q, KEY, 4)) != NULL);
	c.when = 0;
	c.calls = 0;
	t0 = tu_now();
	CU_ASSERT_EQUAL(waitq_wait(q, b, &deadline, cancel_fn, &c),
	    WAITQ_CANCELLED);
	CU_ASSERT(tu_now() - t0 < WAKE_MEDIAN);
	TU_ASSERT_INT_EQ(c.calls, 1);

	waitq_leave(q, b);
	waitq_leave(q, a);
	queue_free(q);
}

static void
join_beyond_max_waiters_fails_with_eagain(void)
{
	struct waitq	*q;
	struct waiter	*a, *b, *c;

	CU_ASSERT_FATAL((q = queue_new("/nonexistent-waitq-dir")) != NULL);
	CU_ASSERT_FATAL((a = join(q, "a", 2)) != NULL);
	CU_ASSERT_FATAL((b = join(q, "b", 2)) != NULL);
	TU_ASSERT_INT_EQ(waitq_count(q), 2);
	errno = 0;
	CU_ASSERT_PTR_NULL(c = join(q, "c", 2));
	TU_ASSERT_INT_EQ(errno, EAGAIN);
	waitq_leave(q, c);
	errno = 0;
	CU_ASSERT_PTR_NULL(join(q, "a", 2));
	TU_ASSERT_INT_EQ(errno, EAGAIN);
	errno = 0;
	CU_ASSERT_PTR_NULL(join(q, "a", 0));
	TU_ASSERT_INT_EQ(errno, EAGAIN);
	errno = 0;
	CU_ASSERT_PTR_NULL(join(q, "", 8));
	TU_ASSERT_INT_EQ(errno, EINVAL);
	TU_ASSERT_INT_EQ(waitq_count(q), 2);
	CU_ASSERT_TRUE(waitq_has_waiters(q, "a"));
	CU_ASSERT_FALSE(waitq_has_waiters(q, "c"));
	waitq_leave(q, a);
	CU_ASSERT_FALSE(waitq_has_waiters(q, "a"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c = join(q, "c", 2));
	CU_ASSERT_TRUE(waitq_has_waiters(q, "c"));
	waitq_leave(q, b);
	waitq_leave(q, c);
	TU_ASSERT_INT_EQ(waitq_count(q), 0);
	queue_free(q);
	CU_ASSERT_PTR_NULL(dirwatch_new(NULL, NULL));
	dirwatch_free(NULL);
	waitq_free(NULL);
}

static void
notify_before_wait_is_not_lost(void)
{
	struct waitq	*q;
	struct waiter	*a, *b;
	struct timespec	 deadline;
	double		 t0;
	char		*dir = tu_tmpdir();

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	CU_ASSERT_FATAL((a = join(q, KEY, 4)) != NULL);
	CU_ASSERT_FATAL((b = join(q, KEY, 4)) != NULL);
	CU_ASSERT_TRUE(waitq_is_head(q, a));
	CU_ASSERT_FALSE(waitq_is_head(q, b));

	/* A release between the failed try and the wait. */
	waitq_notify(q, KEY);
	t0 = tu_now();
	deadline = in_sec(2);
	CU_ASSERT_EQUAL(waitq_wait(q, a, &deadline, NULL, NULL),
	    WAITQ_RETRY);
	CU_ASSERT(tu_now() - t0 < WAKE_MEDIAN);
	/* Used up: the next wait sleeps. */
	deadline = in_sec(0.2);
	CU_ASSERT_EQUAL(waitq_wait(q, a, &deadline, NULL, NULL),
	    WAITQ_TIMEOUT);
	/* Only the head is told; the second sleeps on. */
	waitq_notify(q, KEY);
	deadline = in_sec(0.2);
	CU_ASSERT_EQUAL(waitq_wait(q, b, &deadline, NULL, NULL),
	    WAITQ_TIMEOUT);
	/* The head leaves: the next one retries at once. */
	waitq_leave(q, a);
	CU_ASSERT_TRUE(waitq_is_head(q, b));
	t0 = tu_now();
	deadline = in_sec(2);
	CU_ASSERT_EQUAL(waitq_wait(q, b, &deadline, NULL, NULL),
	    WAITQ_RETRY);
	CU_ASSERT(tu_now() - t0 < WAKE_MEDIAN);
	waitq_leave(q, b);
	queue_free(q);
}

/* Releases of key B, by notify and in the directory, until told to stop. */
struct noise {
	struct waitq	*q;
	int		 dirfd;
	const char	*key;
	int		 stop, made;
	pthread_mutex_t	 lock;
};

static void *
noise_main(void *arg)
{
	struct noise	*n = arg;
	int		 fd, stop = 0;

	while (!stop) {
		waitq_notify(n->q, n->key);
		if ((fd = openat(n->dirfd, n->key, O_WRONLY | O_CREAT |
		    O_CLOEXEC, 0600)) != -1) {
			close(fd);
			unlinkat(n->dirfd, n->key, 0);
		}
		sleep_ms(5);
		pthread_mutex_lock(&n->lock);
		n->made++;
		stop = n->stop;
		pthread_mutex_unlock(&n->lock);
	}
	return NULL;
}

static void
release_of_another_key_does_not_wake(void)
{
	struct waitq	*q;
	struct waiter	*a, *b;
	struct timespec	 deadline;
	struct noise	 n;
	pthread_t	 t;
	double		 t0, el;
	char		*dir = tu_tmpdir();

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	memset(&n, 0, sizeof(n));
	n.q = q;
	n.key = KEY "2";	/* KEY is a prefix of it */
	pthread_mutex_init(&n.lock, NULL);
	CU_ASSERT_FATAL((n.dirfd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1);
	CU_ASSERT_FATAL((a = join(q, KEY, 4)) != NULL);
	CU_ASSERT_FATAL((b = join(q, n.key, 4)) != NULL);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, noise_main, &n) == 0);
	t0 = tu_now();
	deadline = in_sec(0.3);
	CU_ASSERT_EQUAL(waitq_wait(q, a, &deadline, NULL, NULL),
	    WAITQ_TIMEOUT);
	el = tu_now() - t0;
	CU_ASSERT(el >= 0.3);
	pthread_mutex_lock(&n.lock);
	n.stop = 1;
	CU_ASSERT(n.made >= 5);
	pthread_mutex_unlock(&n.lock);
	pthread_join(t, NULL);
	/* The noise did reach B's head. */
	deadline = in_sec(0.2);
	CU_ASSERT_EQUAL(waitq_wait(q, b, &deadline, NULL, NULL),
	    WAITQ_RETRY);
	waitq_leave(q, a);
	waitq_leave(q, b);
	queue_free(q);
	close(n.dirfd);
	pthread_mutex_destroy(&n.lock);
}

/* One wait in a thread, for a second head. */
struct one_wait {
	struct waitq		*q;
	struct waiter		*w;
	enum waitq_result	 res;
	double			 ret;
};

static void *
one_wait_main(void *arg)
{
	struct one_wait	*o = arg;
	struct timespec	 deadline = in_sec(3);

	o->res = waitq_wait(o->q, o->w, &deadline, NULL, NULL);
	o->ret = tu_now();
	return NULL;
}

static void
losing_the_watch_wakes_every_head(void)
{
	struct waitq	*q;
	struct waiter	*a;
	struct one_wait	 o;
	struct timespec	 deadline;
	pthread_t	 t;
	double		 t0;
	char		*dir = tu_tmpdir();

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	CU_ASSERT_FATAL((a = join(q, KEY, 4)) != NULL);
	memset(&o, 0, sizeof(o));
	o.q = q;
	CU_ASSERT_FATAL((o.w = join(q, "other", 4)) != NULL);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, one_wait_main, &o) == 0);
	sleep_ms(30);
	t0 = tu_now();
	CU_ASSERT(rmdir(dir) == 0);	/* IN_IGNORED: the watch is gone */
	deadline = in_sec(3);
	CU_ASSERT_EQUAL(waitq_wait(q, a, &deadline, NULL, NULL),
	    WAITQ_RETRY);
	CU_ASSERT(tu_now() - t0 < WAKE_MAX);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(o.res, WAITQ_RETRY);
	CU_ASSERT(o.ret - t0 < WAKE_MAX);
	waitq_leave(q, a);
	waitq_leave(q, o.w);
	t0 = tu_now();
	queue_free(q);
	CU_ASSERT(tu_now() - t0 < WAKE_MAX);
	mkdir(dir, 0700);	/* for the harness to remove */
}

static void
free_stops_the_watcher_promptly(void)
{
	struct waitq	*q;
	struct waiter	*w;
	double		 t0;
	char		*dir = tu_tmpdir();
	int		 fds;

	CU_ASSERT_FATAL(dir != NULL);
	fds = tu_count_entries("/proc/self/fd");
	/* Never joined: no thread. */
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	queue_free(q);
	/* The watcher running, idle and with a watch. */
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	CU_ASSERT_FATAL((w = join(q, KEY, 4)) != NULL);
	sleep_ms(20);
	waitq_leave(q, w);
	CU_ASSERT_FATAL((w = join(q, KEY, 4)) != NULL);
	waitq_leave(q, w);
	sleep_ms(20);
	t0 = tu_now();
	queue_free(q);
	CU_ASSERT(tu_now() - t0 < WAKE_MAX);
	/* The inotify and eventfd descriptors are closed. */
	TU_ASSERT_INT_EQ(tu_count_entries("/proc/self/fd"), fds);
}

/* Many short waits on a few keys from several threads. */
struct stress {
	struct waitq	*q;
	int		 id;
	int		 failures;
};

static void *
stress_main(void *arg)
{
	struct stress	*s = arg;
	struct waiter	*w;
	struct timespec	 deadline;
	char		 key[16], other[16];
	int		 i;

	for (i = 0; i < STRESS_CYCLES; i++) {
		snprintf(key, sizeof(key), "k%d", (s->id + i) % 3);
		snprintf(other, sizeof(other), "k%d", (s->id + i + 1) % 3);
		if ((w = join(s->q, key, 64)) == NULL) {
			s->failures++;
			continue;
		}
		if (i % 4 == 0) {
			deadline = in_sec(0.002);
			if (waitq_wait(s->q, w, &deadline, NULL, NULL) ==
			    WAITQ_CANCELLED)
				s->failures++;
		}
		waitq_notify(s->q, other);
		if (!waitq_has_waiters(s->q, key))
			s->failures++;
		waitq_leave(s->q, w);
	}
	return NULL;
}

static void
join_leave_cycles_from_threads_leave_nothing(void)
{
	struct stress	 s[STRESS_THREADS];
	pthread_t	 t[STRESS_THREADS];
	struct waitq	*q;
	char		*dir = tu_tmpdir();
	int		 i, started = 0;

	CU_ASSERT_FATAL(dir != NULL);
	CU_ASSERT_FATAL((q = queue_new(dir)) != NULL);
	for (i = 0; i < STRESS_THREADS; i++) {
		s[i].q = q;
		s[i].id = i;
		s[i].failures = 0;
		if (pthread_create(&t[i], NULL, stress_main, &s[i]) != 0)
			break;
		started++;
	}
	CU_ASSERT_EQUAL(started, STRESS_THREADS);
	for (i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(s[i].failures, 0);
	}
	TU_ASSERT_INT_EQ(waitq_count(q), 0);
	CU_ASSERT_FALSE(waitq_has_waiters(q, "k0"));
	CU_ASSERT_FALSE(waitq_has_waiters(q, "k1"));
	CU_ASSERT_FALSE(waitq_has_waiters(q, "k2"));
	queue_free(q);
}

static const struct tu_test tests[] = {
	{ "waiters_are_granted_in_join_order",
	    waiters_are_granted_in_join_order },
	{ "notify_wakes_the_head_within_50ms",
	    notify_wakes_the_head_within_50ms },
	{ "release_by_another_process_wakes_the_head_within_50ms",
	    release_by_another_process_wakes_the_head_within_50ms },
	{ "wait_times_out_at_the_deadline_not_before",
	    wait_times_out_at_the_deadline_not_before },
	{ "head_retries_after_the_fallback_poll",
	    head_retries_after_the_fallback_poll },
	{ "waiting_works_without_inotify", waiting_works_without_inotify },
	{ "cancel_ends_the_wait_within_250ms",
	    cancel_ends_the_wait_within_250ms },
	{ "join_beyond_max_waiters_fails_with_eagain",
	    join_beyond_max_waiters_fails_with_eagain },
	{ "notify_before_wait_is_not_lost", notify_before_wait_is_not_lost },
	{ "release_of_another_key_does_not_wake",
	    release_of_another_key_does_not_wake },
	{ "losing_the_watch_wakes_every_head",
	    losing_the_watch_wakes_every_head },
	{ "free_stops_the_watcher_promptly",
	    free_stops_the_watcher_promptly },
	{ "join_leave_cycles_from_threads_leave_nothing",
	    join_leave_cycles_from_threads_leave_nothing },
	{ NULL, NULL }
};

int
main(void)
{
	return tu_run("waitq", tests);
}
