/* SPDX-License-Identifier: MIT */
/* A tiny harness shared by the CUnit test programs: one suite, temp dirs. */
#ifndef TU_H
#define TU_H

#include <sys/types.h>

#include <stddef.h>

/* One test; a table of them ends with { NULL, NULL }. */
struct tu_test {
	const char	*name;
	void		(*fn)(void);
};

/* Seconds any single test may take before the watchdog kills the program. */
#define TU_TEST_TIMEOUT	60

/*
 * Runs TESTS as the CUnit suite SUITE in verbose mode, prints CUnit's
 * summary and, as the last line on stdout, "suite-result: N passed, M
 * failed".  Returns the exit status for main(): 0 only if nothing failed.
 * Directories made by tu_tmpdir() are removed after each test.  With
 * $TU_TEST set to test names separated by commas, runs only those.
 */
int	 tu_run(const char *suite, const struct tu_test *tests);

/*
 * Makes a fresh empty directory under $TMPDIR (or /tmp) and returns its
 * path, or NULL.  The harness removes it and frees the path after the test.
 */
char	*tu_tmpdir(void);

/* Removes PATH and everything below it, whatever the permissions. */
void	 tu_rmtree(const char *path);

/* Joins DIR and NAME into BUF of SIZE bytes; -1 if it does not fit. */
int	 tu_join(char *buf, size_t size, const char *dir, const char *name);

/*
 * Reads the whole file PATH; returns a NUL-terminated buffer the caller
 * frees and sets *LENP (may be NULL), or NULL with errno set.
 */
char	*tu_read_file(const char *path, size_t *lenp);

/* Creates or replaces PATH with LEN bytes of DATA and MODE; 0 or -1. */
int	 tu_write_file(const char *path, const void *data, size_t len,
	    mode_t mode);

/* Number of entries in directory PATH besides ".", "..", the token
 * counter ".token" and the history ".history" and ".history.1", or -1. */
int	 tu_count_entries(const char *path);

/* A string of N copies of C; the caller frees it.  Never NULL. */
char	*tu_repeat(char c, size_t n);

/* Seconds a child started by the helpers below may run. */
#define TU_CHILD_TIMEOUT	20

/*
 * Runs FN(ARG) in a child process killed by alarm after TU_CHILD_TIMEOUT
 * seconds; returns what tu_wait() returns.  The child ends with _exit().
 */
int	 tu_in_child(int (*fn)(void *), void *arg);

/* Waits for child PID: its exit status, 128 + signal, or -1. */
int	 tu_wait(pid_t pid);

/* The pid of a process that has exited and been reaped, or -1. */
pid_t	 tu_dead_pid(void);

/*
 * Starts a child that lives until tu_end_child() (or its timeout); returns
 * its pid and sets *WFDP, or -1.
 */
pid_t	 tu_live_child(int *wfdp);
void	 tu_end_child(pid_t pid, int wfd);

/* Monotonic time in seconds. */
double	 tu_now(void);

/* Assertion helpers that print both values when they differ. */
void	 tu_check_str(const char *actual, const char *expected, int fatal,
	    unsigned int line, const char *file, const char *expr);
void	 tu_check_int(long long actual, long long expected, int fatal,
	    unsigned int line, const char *file, const char *expr);

#define TU_ASSERT_STR_EQ(actual, expected)				\
	tu_check_str((actual), (expected), 0, __LINE__, __FILE__,	\
	    "TU_ASSERT_STR_EQ(" #actual ", " #expected ")")
#define TU_ASSERT_STR_EQ_FATAL(actual, expected)			\
	tu_check_str((actual), (expected), 1, __LINE__, __FILE__,	\
	    "TU_ASSERT_STR_EQ_FATAL(" #actual ", " #expected ")")
#define TU_ASSERT_INT_EQ(actual, expected)				\
	tu_check_int((long long)(actual), (long long)(expected), 0,	\
	    __LINE__, __FILE__,						\
	    "TU_ASSERT_INT_EQ(" #actual ", " #expected ")")
#define TU_ASSERT_INT_EQ_FATAL(actual, expected)			\
	tu_check_int((long long)(actual), (long long)(expected), 1,	\
	    __LINE__, __FILE__,						\
	    "TU_ASSERT_INT_EQ_FATAL(" #actual ", " #expected ")")

#endif /* TU_H */
