/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target, differential: the fast path against xmlrpc-c.  Each
 * input goes into rpc_process() of two daemons' worth of state -- one
 * with the fast path, one without (rpc_set_fastpath) -- on lock stores of
 * their own, emptied after every input.  Both must answer with the same
 * bytes.  And whenever the scanner takes an input, xmlrpc-c's parser must
 * read the same method and the same strings from it.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "fastpath.h"
#include "dir/lockdir.h"
#include "lockstore.h"
#include "log.h"
#include "dir/fname.h"
#include "rpc.h"

/* The daemon's default max-request-size. */
#define REQUEST_MAX	65536

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct side {
	char			 dir[PATH_MAX];
	struct lockstore	*store;
	struct rpc		*rpc;
	int			 fault;		/* no response */
	int			 code;
	char			*out;
	size_t			 outlen;
};

static char		 base[PATH_MAX];
static struct side	 sides[2];	/* 0: fast path, 1: xmlrpc-c */

static sem_t		 job_start, job_done;
static const char	*job_xml;
static size_t		 job_len;

static void __attribute__((noreturn))
fail(const char *what, const char *detail, size_t len)
{
	fprintf(stderr, "fuzz_fastpath: %s\n", what);
	if (detail != NULL)
		fprintf(stderr, "  %.*s\n", (int)(len > 2000 ? 2000 : len),
		    detail);
	abort();
}

/* Removes the lock files of directory DIR (LOCKS_ONLY) or everything. */
static void
empty_dir(const char *dir, int locks_only)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n, sn = strlen(NAME_SUFFIX);

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 || (locks_only &&
		    (n < sn || strcmp(de->d_name + n - sn, NAME_SUFFIX) != 0)))
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static void
cleanup(void)
{
	int	i;

	for (i = 0; i < 2; i++) {
		rpc_free(sides[i].rpc);
		lockstore_close(sides[i].store);
		if (sides[i].dir[0] != '\0') {
			empty_dir(sides[i].dir, 0);
			rmdir(sides[i].dir);
		}
	}
	if (base[0] != '\0')
		rmdir(base);
}

/* One request to one side, as the HTTP layer makes it. */
static void
run_side(struct side *s, const char *xml, size_t len)
{
	xmlrpc_env		 env;
	xmlrpc_mem_block	*out = NULL;

	free(s->out);
	s->out = NULL;
	s->outlen = 0;
	xmlrpc_env_init(&env);
	rpc_process(&env, s->rpc, xml, len, NULL, &out);
	s->fault = env.fault_occurred;
	s->code = env.fault_code;
	if (!env.fault_occurred) {
		if (out == NULL)
			fail("no response and no fault", xml, len);
		s->outlen = XMLRPC_MEMBLOCK_SIZE(char, out);
		if ((s->out = malloc(s->outlen + 1)) == NULL)
			abort();
		memcpy(s->out, XMLRPC_MEMBLOCK_CONTENTS(char, out), s->outlen);
		s->out[s->outlen] = '\0';
	}
	if (out != NULL)
		XMLRPC_MEMBLOCK_FREE(char, out);
	xmlrpc_env_clean(&env);
}

/*
 * What the scanner took must be what xmlrpc-c's parser reads: the method
 * and, for the lock calls, exactly two strings equal to the scanner's.
 */
static void
check_scan(const char *xml, size_t len)
{
	static const char	*names[] = { "", "ping", "lock", "lock_token",
				    "unlock" };
	struct fastpath_call	 fc;
	xmlrpc_env		 env;
	xmlrpc_value		*params = NULL, *v;
	const char		*method = NULL, *str, *want[2];
	size_t			 slen;
	int			 i, n;

	if (!fastpath_scan(xml, len, &fc))
		return;
	xmlrpc_env_init(&env);
	xmlrpc_parse_call(&env, xml, len, &method, &params);
	if (env.fault_occurred)
		fail("the scanner took a call xmlrpc-c cannot parse", xml, len);
	if (strcmp(method, names[fc.method]) != 0)
		fail("the scanner read another method", xml, len);
	n = xmlrpc_array_size(&env, params);
	if (env.fault_occurred || n != (fc.method == FASTPATH_PING ? 0 : 2))
		fail("the scanner read another number of parameters", xml,
		    len);
	want[0] = fc.resource;
	want[1] = fc.client;
	for (i = 0; i < n; i++) {
		xmlrpc_array_read_item(&env, params, i, &v);
		if (env.fault_occurred ||
		    xmlrpc_value_type(v) != XMLRPC_TYPE_STRING)
			fail("the scanner read a string xmlrpc-c does not", xml,
			    len);
		xmlrpc_read_string_lp(&env, v, &slen, &str);
		if (env.fault_occurred || slen != strlen(want[i]) ||
		    memcmp(str, want[i], slen) != 0)
			fail("the scanner read another string", xml, len);
		free((char *)str);
		xmlrpc_DECREF(v);
	}
	xmlrpc_DECREF(params);
	free((char *)method);
	xmlrpc_env_clean(&env);
	fastpath_call_clear(&fc);
}

/* Request threads of the daemon have RPC_STACK_SIZE bytes of stack. */
static void *
worker(void *arg)
{
	for (;;) {
		while (sem_wait(&job_start) == -1)
			;
		check_scan(job_xml, job_len);
		run_side(&sides[0], job_xml, job_len);
		run_side(&sides[1], job_xml, job_len);
		sem_post(&job_done);
	}
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct lockstore_policy	 policy = LOCKSTORE_POLICY_DEFAULT;
	struct lockstore_error	*err;
	pthread_attr_t		 attr;
	pthread_t		 tid;
	const char		*tmp;
	char			 msg[512];
	int			 i;

	if ((tmp = getenv("TMPDIR")) == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(base, sizeof(base), "%s/lockd-fuzzfp.XXXXXX", tmp);
	if (mkdtemp(base) == NULL) {
		perror(base);
		exit(1);
	}
	atexit(cleanup);
	log_init(0);
	if (getenv("FUZZ_LOG_STDERR") == NULL &&
	    log_open("/dev/null", (uid_t)-1, (gid_t)-1) == -1) {
		perror("/dev/null");
		exit(1);
	}
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, REQUEST_MAX);
	if ((err = malloc(sizeof(*err))) == NULL)
		abort();
	/* No waiting (a wait without a session is never cancelled). */
	policy.max_wait_ms = 0;
	policy.lock_delay_ms = 0;
	for (i = 0; i < 2; i++) {
		snprintf(sides[i].dir, sizeof(sides[i].dir), "%s/%s", base,
		    i == 0 ? "fast" : "xmlrpc-c");
		if (mkdir(sides[i].dir, 0700) == -1) {
			perror(sides[i].dir);
			exit(1);
		}
		if (lockstore_open_dir(&sides[i].store, sides[i].dir,
		    LOCKSTORE_NOSYNC, err) != LOCKSTORE_OK) {
			fprintf(stderr, "fuzz_fastpath: %s\n", err->msg);
			exit(1);
		}
		if ((sides[i].rpc = rpc_new(sides[i].store, msg,
		    sizeof(msg))) == NULL) {
			fprintf(stderr, "fuzz_fastpath: %s\n", msg);
			exit(1);
		}
		rpc_set_policy(sides[i].rpc, &policy, 1);
	}
	free(err);
	rpc_set_fastpath(sides[1].rpc, 0);
	if (sem_init(&job_start, 0, 0) == -1 ||
	    sem_init(&job_done, 0, 0) == -1 || pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setstacksize(&attr, RPC_STACK_SIZE) != 0 ||
	    pthread_create(&tid, &attr, worker, NULL) != 0) {
		fprintf(stderr, "fuzz_fastpath: cannot start the worker\n");
		exit(1);
	}
	pthread_attr_destroy(&attr);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int	i;

	/* The HTTP layer refuses larger bodies before reading them. */
	if (size > REQUEST_MAX)
		return 0;
	job_xml = (const char *)data;
	job_len = size;
	sem_post(&job_start);
	while (sem_wait(&job_done) == -1)
		;
	if (sides[0].fault != sides[1].fault ||
	    (sides[0].fault && sides[0].code != sides[1].code))
		fail("one side could not answer", (const char *)data, size);
	if (!sides[0].fault && (sides[0].outlen != sides[1].outlen ||
	    memcmp(sides[0].out, sides[1].out, sides[0].outlen) != 0)) {
		fprintf(stderr, "fast path:\n%s\nxmlrpc-c:\n%s\n", sides[0].out,
		    sides[1].out);
		fail("the fast path answered differently", (const char *)data,
		    size);
	}
	/* Every input starts from lock stores without locks (the token
	 * counters and histories grow alike on both sides). */
	for (i = 0; i < 2; i++)
		empty_dir(sides[i].dir, 1);
	return 0;
}
