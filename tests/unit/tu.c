/* SPDX-License-Identifier: MIT */
/* A tiny harness shared by the CUnit test programs: one suite, temp dirs. */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tu.h"

/* Most tests one program may hold; CUnit test functions take no argument,
 * so each test runs through one of this many trampolines. */
#define TU_MAX_TESTS	64
#define TU_MAX_DIRS	64
#define TU_SHOW_MAX	160	/* bytes of a value shown in a failure */

static const struct tu_test	*tu_tests;
static char			*tu_dirs[TU_MAX_DIRS];
static size_t			 tu_ndirs;

/* Removes the directories made during the test that ran last. */
static void
tu_cleanup(void)
{
	while (tu_ndirs > 0) {
		tu_ndirs--;
		tu_rmtree(tu_dirs[tu_ndirs]);
		free(tu_dirs[tu_ndirs]);
		tu_dirs[tu_ndirs] = NULL;
	}
}

/*
 * A fatal assertion longjmp()s out of the test, past the cleanup after it,
 * so each trampoline also cleans up before it starts.
 */
static void
tu_trampoline(size_t i)
{
	tu_cleanup();
	alarm(TU_TEST_TIMEOUT);
	tu_tests[i].fn();
	alarm(0);
	tu_cleanup();
}

#define TU_T(i, j) \
	static void tu_t##i##j(void) { tu_trampoline(8 * (i) + (j)); }
#define TU_T8(i) TU_T(i, 0) TU_T(i, 1) TU_T(i, 2) TU_T(i, 3) \
	TU_T(i, 4) TU_T(i, 5) TU_T(i, 6) TU_T(i, 7)
TU_T8(0) TU_T8(1) TU_T8(2) TU_T8(3) TU_T8(4) TU_T8(5) TU_T8(6) TU_T8(7)
#define TU_P8(i) tu_t##i##0, tu_t##i##1, tu_t##i##2, tu_t##i##3, \
	tu_t##i##4, tu_t##i##5, tu_t##i##6, tu_t##i##7
static void (*const tu_trampolines[TU_MAX_TESTS])(void) = {
	TU_P8(0), TU_P8(1), TU_P8(2), TU_P8(3),
	TU_P8(4), TU_P8(5), TU_P8(6), TU_P8(7)
};

/* Whether NAME is one of the comma-separated names in $TU_TEST (all
 * tests when it is unset or empty). */
static int
tu_selected(const char *name)
{
	const char	*want = getenv("TU_TEST"), *end;
	size_t		 len = strlen(name);

	if (want == NULL || want[0] == '\0')
		return 1;
	for (; *want != '\0'; want = *end == ',' ? end + 1 : end) {
		end = strchr(want, ',');
		if (end == NULL)
			end = want + strlen(want);
		if ((size_t)(end - want) == len && strncmp(want, name, len) == 0)
			return 1;
	}
	return 0;
}

/* Runs TESTS as one CUnit suite; the exit status for main(). */
int
tu_run(const char *suite, const struct tu_test *tests)
{
	CU_pSuite	s;
	unsigned int	run, failed, failures;
	size_t		i, chosen = 0;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "%s: %s\n", suite, CU_get_error_msg());
		return 2;
	}
	if ((s = CU_add_suite(suite, NULL, NULL)) == NULL)
		goto fail;
	tu_tests = tests;
	for (i = 0; tests[i].name != NULL; i++) {
		if (i == TU_MAX_TESTS) {
			fprintf(stderr, "%s: more than %d tests\n", suite,
			    TU_MAX_TESTS);
			CU_cleanup_registry();
			return 2;
		}
		if (!tu_selected(tests[i].name))
			continue;
		chosen++;
		if (CU_add_test(s, tests[i].name, tu_trampolines[i]) == NULL)
			goto fail;
	}
	if (chosen == 0) {
		fprintf(stderr, "%s: no test named %s\n", suite,
		    getenv("TU_TEST"));
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	tu_cleanup();
	/* The counts are gone once the registry is cleaned up. */
	run = CU_get_number_of_tests_run();
	failed = CU_get_number_of_tests_failed();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	printf("\nsuite-result: %u passed, %u failed\n", run - failed, failed);
	fflush(stdout);
	return failures == 0 && failed == 0 ? 0 : 1;
fail:
	fprintf(stderr, "%s: %s\n", suite, CU_get_error_msg());
	CU_cleanup_registry();
	return 2;
}

/* Makes a fresh directory for the running test. */
char *
tu_tmpdir(void)
{
	const char	*base;
	char		*path;

	if (tu_ndirs == TU_MAX_DIRS)
		return NULL;
	if ((base = getenv("TMPDIR")) == NULL || base[0] == '\0')
		base = "/tmp";
	if (asprintf(&path, "%s/lockd-tu.XXXXXX", base) == -1)
		return NULL;
	if (mkdtemp(path) == NULL) {
		free(path);
		return NULL;
	}
	tu_dirs[tu_ndirs++] = path;
	return path;
}

static int
tu_unlock_dir(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	if (type == FTW_D || type == FTW_DNR)
		chmod(path, 0700);
	return 0;
}

static int
tu_remove(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP || type == FTW_D || type == FTW_DNR)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/*
 * Removes PATH recursively.  Tests make directories read-only, so a first
 * pass gives every directory back its permissions; symbolic links are
 * removed, never followed.
 */
void
tu_rmtree(const char *path)
{
	nftw(path, tu_unlock_dir, 16, FTW_PHYS);
	nftw(path, tu_remove, 16, FTW_PHYS | FTW_DEPTH);
}

/* Joins DIR and NAME. */
int
tu_join(char *buf, size_t size, const char *dir, const char *name)
{
	int	n;

	n = snprintf(buf, size, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Reads the whole file PATH. */
char *
tu_read_file(const char *path, size_t *lenp)
{
	char	*buf = NULL, *nbuf;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;
	int	 fd, e;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC))
	    == -1)
		return NULL;
	for (;;) {
		if (cap - len < 4096 + 1) {
			cap = cap * 2 + 8192;
			if ((nbuf = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
fail:
	e = errno;
	free(buf);
	close(fd);
	errno = e;
	return NULL;
}

/* Creates or replaces PATH with DATA. */
int
tu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	const char	*p = data;
	ssize_t		 n;
	int		 fd, e;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, mode)) == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/* Counts the entries of directory PATH. */
int
tu_count_entries(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	/* ".token" (the fencing token counter) and ".history*" (the
	 * history of ended holdings) and ".checkpoint" (of the journals)
	 * are in every lock directory in use, ".journal.*" in one a store
	 * has open; they are neither locks nor debris. */
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, ".token") != 0 &&
		    strcmp(de->d_name, ".history") != 0 &&
		    strcmp(de->d_name, ".history.1") != 0 &&
		    strcmp(de->d_name, ".checkpoint") != 0 &&
		    strncmp(de->d_name, ".journal.", 9) != 0)
			n++;
	closedir(d);
	return n;
}

/* A string of N copies of C. */
char *
tu_repeat(char c, size_t n)
{
	char	*s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Runs FN(ARG) in a child process. */
int
tu_in_child(int (*fn)(void *), void *arg)
{
	pid_t	pid;

	/* Buffered output would be written twice. */
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		alarm(TU_CHILD_TIMEOUT);
		_exit(fn(arg));
	}
	return tu_wait(pid);
}

/* Waits for child PID. */
int
tu_wait(pid_t pid)
{
	int	status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* The pid of a process that has exited and been reaped. */
pid_t
tu_dead_pid(void)
{
	pid_t	pid;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0)
		_exit(0);
	if (pid == -1 || tu_wait(pid) != 0)
		return -1;
	return pid;
}

/* A child that lives until its pipe is closed. */
pid_t
tu_live_child(int *wfdp)
{
	int	p[2];
	char	c;
	pid_t	pid;

	if (pipe(p) == -1)
		return -1;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0) {
		close(p[1]);
		alarm(TU_CHILD_TIMEOUT);
		while (read(p[0], &c, 1) == -1 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	if (pid == -1) {
		close(p[1]);
		return -1;
	}
	*wfdp = p[1];
	return pid;
}

/* Ends a child started by tu_live_child(). */
void
tu_end_child(pid_t pid, int wfd)
{
	close(wfd);
	tu_wait(pid);
}

/* Monotonic time in seconds. */
double
tu_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Renders S for a failure report: escaped, and shortened when long. */
static void
tu_show(char *buf, size_t size, const char *s)
{
	const unsigned char	*p;
	size_t			 len, o = 0, i;

	if (s == NULL) {
		snprintf(buf, size, "NULL");
		return;
	}
	len = strlen(s);
	buf[o++] = '\'';
	for (p = (const unsigned char *)s, i = 0; *p != '\0' &&
	    i < TU_SHOW_MAX && o + 8 < size; p++, i++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x",
			    *p);
		else
			buf[o++] = (char)*p;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	if (i < len)
		snprintf(buf + o, size - o, "... (%zu bytes)", len);
}

/* Asserts that string ACTUAL is EXPECTED, showing both when not. */
void
tu_check_str(const char *actual, const char *expected, int fatal,
    unsigned int line, const char *file, const char *expr)
{
	char	a[TU_SHOW_MAX * 4 + 64], e[TU_SHOW_MAX * 4 + 64];
	char	msg[sizeof(a) + sizeof(e) + 512];
	int	ok;

	ok = actual != NULL && expected != NULL &&
	    strcmp(actual, expected) == 0;
	if (ok) {
		CU_assertImplementation(CU_TRUE, line, expr, file, "",
		    CU_FALSE);
		return;
	}
	tu_show(a, sizeof(a), actual);
	tu_show(e, sizeof(e), expected);
	snprintf(msg, sizeof(msg), "%s: got %s, expected %s", expr, a, e);
	/* CUnit copies the condition text into its failure record. */
	CU_assertImplementation(CU_FALSE, line, msg, file, "",
	    fatal ? CU_TRUE : CU_FALSE);
}

/* Asserts that ACTUAL is EXPECTED, showing both when not. */
void
tu_check_int(long long actual, long long expected, int fatal,
    unsigned int line, const char *file, const char *expr)
{
	char	msg[512];

	if (actual == expected) {
		CU_assertImplementation(CU_TRUE, line, expr, file, "",
		    CU_FALSE);
		return;
	}
	snprintf(msg, sizeof(msg), "%s: got %lld, expected %lld", expr,
	    actual, expected);
	CU_assertImplementation(CU_FALSE, line, msg, file, "",
	    fatal ? CU_TRUE : CU_FALSE);
}
