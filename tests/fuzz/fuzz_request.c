/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the whole request path.  Bytes go into rpc_process(),
 * the function the HTTP layer calls for every request body, over a lock
 * store on a temporary directory; a response that any XML parser accepts
 * must come out, and the directory must hold only consistent lock files.
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

#include "dir/history.h"
#include "dir/lockdir.h"
#include "dir/lockfile.h"
#include "lockstore.h"
#include "log.h"
#include "dir/fname.h"
#include "name.h"
#include "rpc.h"

/* The daemon's default max-request-size. */
#define REQUEST_MAX	65536

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char		 base[PATH_MAX];	/* mkdtemp directory */
static char		 lockdir[PATH_MAX];	/* base/locks */
static struct lockstore	*store;
static struct rpc	*rpc;
static unsigned long	 clean_every = 1, runs;

/* The worker thread that runs requests on the daemon's stack size. */
static sem_t		 job_start, job_done;
static const char	*job_xml;
static size_t		 job_len;

static void __attribute__((noreturn))
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_request: %s\n", what);
	if (detail != NULL)
		fprintf(stderr, "  %.2000s\n", detail);
	abort();
}

/* Removes everything under the directory open at FD. */
static void
remove_tree_at(int fd)
{
	DIR		*d;
	struct dirent	*de;
	int		 sub;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			continue;
		sub = openat(dirfd(d), de->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub != -1) {
			remove_tree_at(sub);
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		}
	}
	closedir(d);
}

static void
cleanup(void)
{
	int	fd;

	rpc_free(rpc);
	rpc = NULL;
	lockstore_close(store);
	store = NULL;
	if (base[0] == '\0')
		return;
	if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		remove_tree_at(fd);
	rmdir(base);
	base[0] = '\0';
}

/*
 * Checks lock file NAME in the directory open at DFD: a regular file that
 * lockd can read, recording a valid holder and the resource whose encoded
 * name it has.  A temporary file must never outlive its request.
 */
static void
check_lock_file(int dfd, const char *name)
{
	static struct lockstore_error	 err;
	static struct lockfile		 lf;
	static char			 buf[LOCKFILE_MAX + 1];
	char				 fname[NAME_FILE_SIZE];
	struct stat			 st;
	ssize_t				 n;
	int				 fd;

	if (strncmp(name, LOCKDIR_TMP_PREFIX,
	    sizeof(LOCKDIR_TMP_PREFIX) - 1) == 0)
		fail("temporary file left in the lock directory", name);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode))
		fail("lock directory entry is not a regular file", name);
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		fail("cannot open a lock file", name);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || (size_t)n > LOCKFILE_MAX)
		fail("lock file unreadable or too large", name);
	if (lockfile_parse(buf, (size_t)n, &lf) == -1 || !lf.has_resource)
		fail("lock file lockd cannot parse or without its resource",
		    name);
	if (name_check_client(lf.holder, &err) != LOCKSTORE_OK)
		fail("lock file with an invalid holder", name);
	if (name_check_resource(lf.resource, &err) != LOCKSTORE_OK)
		fail("lock file with an invalid resource", name);
	name_encode(lf.resource, fname);
	if (strcmp(fname, name) != 0)
		fail("lock file not under its resource's encoded name", name);
}

/*
 * Checks and empties the lock directory, and checks that nothing appeared
 * beside it: a name that escaped the directory would land there.
 */
static void
check_and_clean(void)
{
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(lockdir)) == NULL)
		fail("cannot open the lock directory", lockdir);
	while ((de = readdir(d)) != NULL) {
		/* The fencing token counter and the history stay: tokens
		 * only grow, records only accumulate; so do the store's spare
		 * inodes (at most LOCKDIR_POOL_MAX). */
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, LOCKDIR_TOKEN_FILE) == 0 ||
		    strcmp(de->d_name, HISTORY_FILE) == 0 ||
		    strcmp(de->d_name, HISTORY_FILE_OLD) == 0 ||
		    strncmp(de->d_name, LOCKDIR_POOL_PREFIX,
		    sizeof(LOCKDIR_POOL_PREFIX) - 1) == 0)
			continue;
		check_lock_file(dirfd(d), de->d_name);
		if (unlinkat(dirfd(d), de->d_name, 0) == -1)
			fail("cannot remove a lock file", de->d_name);
	}
	closedir(d);
	if ((d = opendir(base)) == NULL)
		fail("cannot open the temporary directory", base);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "locks") != 0)
			fail("file outside the lock directory", de->d_name);
	closedir(d);
}

static int
xml_char_ok(uint32_t c)
{
	return c == 0x9 || c == 0xa || c == 0xd ||
	    (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) ||
	    (c >= 0x10000 && c <= 0x10ffff);
}

/* Checks the character reference at S[I], just after its "&#". */
static void
check_char_ref(const unsigned char *s, size_t len, size_t i)
{
	unsigned long	ref = 0;
	size_t		digits = 0;
	int		hex = 0, d;

	if (i < len && s[i] == 'x') {
		hex = 1;
		i++;
	}
	for (; i < len && s[i] != ';'; i++, digits++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (hex && s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (hex && s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			fail("malformed character reference in the response",
			    (const char *)s);
		ref = ref * (hex ? 16 : 10) + (unsigned long)d;
		if (ref > 0x10ffff)
			fail("character reference out of range in the "
			    "response", (const char *)s);
	}
	if (i == len || digits == 0 || !xml_char_ok((uint32_t)ref))
		fail("response refers to a character XML forbids",
		    (const char *)s);
}

/*
 * Checks that the LEN bytes at S are well-formed UTF-8 holding only XML 1.0
 * characters, also through character references: what a client's XML
 * parser (Python's expat) insists on.
 */
static void
check_xml_text(const unsigned char *s, size_t len)
{
	size_t		i = 0, k, n;
	uint32_t	c, min;

	while (i < len) {
		c = s[i];
		if (c < 0x80)
			n = 1, min = 0;
		else if ((c & 0xe0) == 0xc0)
			n = 2, c &= 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			n = 3, c &= 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			n = 4, c &= 0x07, min = 0x10000;
		else
			fail("response is not UTF-8", (const char *)s);
		if (i + n > len)
			fail("response ends inside a UTF-8 sequence",
			    (const char *)s);
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				fail("response is not UTF-8", (const char *)s);
			c = c << 6 | (s[i + k] & 0x3f);
		}
		if (c < min || !xml_char_ok(c))
			fail("response holds a character XML forbids",
			    (const char *)s);
		if (c == '&' && i + 1 < len && s[i + 1] == '#')
			check_char_ref(s, len, i + 2);
		i += n;
	}
}

/*
 * The fault codes PROTOCOL documents for a store without access control,
 * or xmlrpc-c's own (-500 to -599).
 */
static void
check_fault_code(int code, const char *text)
{
	switch (code) {
	case LOCKD_FAULT_STORAGE:
	case LOCKD_FAULT_STATE:
		/* The directory is healthy and lockd alone writes to it. */
		fail("storage or lock state fault on a healthy store", text);
	case LOCKD_FAULT_HELD:
	case LOCKD_FAULT_NOT_OWNER:
	case LOCKD_FAULT_NOT_LOCKED:
	case LOCKD_FAULT_PARAMS:
	case LOCKD_FAULT_RESOURCE:
	case LOCKD_FAULT_CLIENT:
	case LOCKD_FAULT_REFUSED:
		return;
	}
	if (code <= -500 && code >= -599)
		return;
	fail("fault code outside PROTOCOL", text);
}

/*
 * Reads the response TEXT (LEN bytes and a NUL) back and checks its faults,
 * multicall's included.
 */
static void
check_response(const char *text, size_t len)
{
	xmlrpc_env	 env;
	xmlrpc_value	*result = NULL, *item, *code;
	const char	*fault_string = NULL;
	int		 fault_code = 0, i, n, c;

	check_xml_text((const unsigned char *)text, len);
	xmlrpc_env_init(&env);
	/* A response may echo names, so it may exceed the request limit. */
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, (size_t)-1);
	xmlrpc_parse_response2(&env, text, len, &result, &fault_code,
	    &fault_string);
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, REQUEST_MAX);
	if (env.fault_occurred)
		fail("response does not parse", env.fault_string);
	if (fault_string != NULL) {
		check_fault_code(fault_code, fault_string);
		free((char *)fault_string);
	}
	if (result != NULL && xmlrpc_value_type(result) == XMLRPC_TYPE_ARRAY) {
		n = xmlrpc_array_size(&env, result);
		for (i = 0; i < n && !env.fault_occurred; i++) {
			xmlrpc_array_read_item(&env, result, i, &item);
			if (env.fault_occurred)
				break;
			if (xmlrpc_value_type(item) == XMLRPC_TYPE_STRUCT) {
				xmlrpc_struct_find_value(&env, item,
				    "faultCode", &code);
				if (!env.fault_occurred && code != NULL) {
					xmlrpc_read_int(&env, code, &c);
					if (!env.fault_occurred)
						check_fault_code(c, text);
					xmlrpc_DECREF(code);
				}
			}
			xmlrpc_DECREF(item);
		}
		if (env.fault_occurred)
			fail("cannot walk the response", env.fault_string);
	}
	if (result != NULL)
		xmlrpc_DECREF(result);
	xmlrpc_env_clean(&env);
}

/* One request, as the HTTP layer makes it. */
static void
run_request(const char *xml, size_t len)
{
	xmlrpc_env		 env;
	xmlrpc_mem_block	*out = NULL;
	char			*text;
	size_t			 size;

	xmlrpc_env_init(&env);
	rpc_process(&env, rpc, xml, len, NULL, &out);
	if (!env.fault_occurred) {
		if (out == NULL)
			fail("no response and no fault", NULL);
		/* A terminated copy, so that messages can print it. */
		size = XMLRPC_MEMBLOCK_SIZE(char, out);
		if ((text = malloc(size + 1)) == NULL)
			abort();
		memcpy(text, XMLRPC_MEMBLOCK_CONTENTS(char, out), size);
		text[size] = '\0';
		check_response(text, size);
		free(text);
	}
	if (out != NULL)
		XMLRPC_MEMBLOCK_FREE(char, out);
	xmlrpc_env_clean(&env);
}

/*
 * Request threads of the daemon have RPC_STACK_SIZE bytes of stack; so has
 * this one, so that a stack overflow here is one in the daemon too.
 */
static void *
worker(void *arg)
{
	for (;;) {
		while (sem_wait(&job_start) == -1)
			;
		run_request(job_xml, job_len);
		sem_post(&job_done);
	}
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct lockstore_error	*err;
	pthread_attr_t		 attr;
	pthread_t		 tid;
	struct lockstore_policy	 policy = LOCKSTORE_POLICY_DEFAULT;
	const char		*tmp, *s;
	char			 msg[512];

	if ((tmp = getenv("TMPDIR")) == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(base, sizeof(base), "%s/lockd-fuzz.XXXXXX", tmp);
	if (mkdtemp(base) == NULL) {
		perror(base);
		exit(1);
	}
	atexit(cleanup);
	snprintf(lockdir, sizeof(lockdir), "%s/locks", base);
	if (mkdir(lockdir, 0700) == -1) {
		perror(lockdir);
		exit(1);
	}
	if ((s = getenv("FUZZ_CLEAN_EVERY")) != NULL &&
	    strtoul(s, NULL, 10) > 0)
		clean_every = strtoul(s, NULL, 10);

	/* Audit lines go to /dev/null, through lockd's own log code. */
	log_init(0);
	if (getenv("FUZZ_LOG_STDERR") == NULL &&
	    log_open("/dev/null", (uid_t)-1, (gid_t)-1) == -1) {
		perror("/dev/null");
		exit(1);
	}
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, REQUEST_MAX);

	if ((err = malloc(sizeof(*err))) == NULL)
		abort();
	if (lockstore_open_dir(&store, lockdir, LOCKSTORE_NOSYNC, err) !=
	    LOCKSTORE_OK) {
		fprintf(stderr, "fuzz_request: %s\n", err->msg);
		exit(1);
	}
	free(err);
	if ((rpc = rpc_new(store, msg, sizeof(msg))) == NULL) {
		fprintf(stderr, "fuzz_request: %s\n", msg);
		exit(1);
	}
	/* No request may wait (a held resource would stall the fuzzer for
	 * max-wait, and without a session a wait is never cancelled); with
	 * no lock-delay, break_lock is fuzzed too. */
	policy.max_wait_ms = 0;
	policy.lock_delay_ms = 0;
	rpc_set_policy(rpc, &policy, 1);

	if (sem_init(&job_start, 0, 0) == -1 ||
	    sem_init(&job_done, 0, 0) == -1 || pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setstacksize(&attr, RPC_STACK_SIZE) != 0 ||
	    pthread_create(&tid, &attr, worker, NULL) != 0) {
		fprintf(stderr, "fuzz_request: cannot start the worker\n");
		exit(1);
	}
	pthread_attr_destroy(&attr);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The HTTP layer refuses larger bodies before reading them. */
	if (size > REQUEST_MAX)
		return 0;
	job_xml = (const char *)data;
	job_len = size;
	sem_post(&job_start);
	while (sem_wait(&job_done) == -1)
		;
	if (++runs % clean_every == 0)
		check_and_clean();
	return 0;
}
