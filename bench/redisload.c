/* SPDX-License-Identifier: MIT */
/*
 * redisload -- Redis as a lock service, the durable peer in bench/durable.py:
 * lock = SET key client NX, unlock = compare-and-delete (EVALSHA of a Lua
 * script loaded once with SCRIPT LOAD).  Like bench/loadgen.c (options,
 * warm-up, window, alarm, output): C connections to 127.0.0.1:PORT, a thread
 * each, lock+unlock pairs on their own 16 keys; a nil lock (held), an unlock
 * answering 0 (not the owner) and error replies are errors.
 * Build: cc -O2 -pthread -o redisload redisload.c
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"

enum phase { P_WARMUP, P_MEASURE, P_STOP };
enum outcome { OK, REFUSED, FAILED };
enum { H_CALL, H_LOCK, H_UNLOCK, NHIST };	/* latency kinds */
/* Counts in the window; OUTSIDE: errors in warm-up or after the window. */
enum { CALLS, PAIRS, ERRORS, OUTSIDE, NCOUNT };

#define UNLOCK_LUA	"if redis.call('get',KEYS[1])==ARGV[1] then " \
			"return redis.call('del',KEYS[1]) else return 0 end"

static int			port, conns = 1;
static double			duration = 5, warmup = 1, call_timeout = 10;
static const char		*label = "redis";
static volatile int		phase = P_WARMUP;
static struct sockaddr_in	server_addr;
static struct timeval		timeout;	/* of a call: call_timeout */
static char			sha[41];	/* of UNLOCK_LUA */
static char			prefix[32];	/* bench-<pid>: per run */
static char			first_error[512];

struct worker {
	pthread_t	tid;
	int		id, fd;
	uint64_t	n[NCOUNT];
	struct hist	lat[NHIST];
	char		buf[4096];	/* the last reply */
};

/* Keeps the first error of the run; read after the threads are joined. */
static void
note_error(const char *fmt, ...)
{
	static int	noted;
	va_list		ap;

	if (__atomic_exchange_n(&noted, 1, __ATOMIC_SEQ_CST) == 0) {
		va_start(ap, fmt);
		vsnprintf(first_error, sizeof(first_error), fmt, ap);
		va_end(ap);
	}
}

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Sends the command ARGV (N words) and returns its reply, whole and
 * NUL-terminated ("+OK\r\n", "$-1\r\n", "$40\r\n<sha>\r\n"), or NULL on a
 * transport or protocol failure (the connection is then closed).  One
 * command is in flight per connection: nothing follows a reply.
 */
static const char *
command(struct worker *w, int n, const char **argv)
{
	char	req[1024], *eol;
	size_t	len, have = 0;
	long	blen;
	ssize_t	r;
	int	i, one = 1;

	len = (size_t)snprintf(req, sizeof(req), "*%d\r\n", n);
	for (i = 0; i < n && len < sizeof(req); i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len,
		    "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
	if (len >= sizeof(req))
		return NULL;
	/* Connect when needed; a failure waits 20 ms (no hammering). */
	if (w->fd == -1 && ((w->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1 || setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1 || setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO,
	    &timeout, sizeof(timeout)) == -1 || setsockopt(w->fd, SOL_SOCKET,
	    SO_SNDTIMEO, &timeout, sizeof(timeout)) == -1 || connect(w->fd,
	    (struct sockaddr *)&server_addr, sizeof(server_addr)) == -1)) {
		note_error("connect: %s", strerror(errno));
		usleep(20000);
		goto fail;
	}
	/* A blocking send() queues all of it, or fails (SO_SNDTIMEO). */
	if (send(w->fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		note_error("%s: send: %s", argv[0], strerror(errno));
		goto fail;
	}
	/* Until a whole line, or a bulk header and its bytes; each recv()
	 * adds bytes or ends the call (EOF, error, SO_RCVTIMEO). */
	for (;;) {
		eol = memmem(w->buf, have, "\r\n", 2);
		blen = eol != NULL && w->buf[0] == '$' ?
		    strtol(w->buf + 1, NULL, 10) : -1;
		if (eol != NULL && have >= (size_t)(eol - w->buf) + 2 +
		    (blen >= 0 ? (size_t)blen + 2 : 0))
			return w->buf;
		r = have + 1 < sizeof(w->buf) ? recv(w->fd, w->buf + have,
		    sizeof(w->buf) - 1 - have, 0) : 0;
		if (r <= 0) {
			note_error("%s: %s before the whole reply", argv[0],
			    r == 0 ? "EOF (or overflow)" : strerror(errno));
			goto fail;
		}
		have += (size_t)r;
		w->buf[have] = '\0';
	}
fail:
	close(w->fd);	/* -1 after a failed socket(): EBADF, harmless */
	w->fd = -1;
	return NULL;
}

/* One timed command expecting the reply WANT; its latency goes to lat[H]. */
static enum outcome
timed(struct worker *w, int n, const char **argv, const char *want, int h)
{
	enum outcome	 o;
	uint64_t	 t0 = now_ns();
	const char	*rep = command(w, n, argv);
	uint64_t	 elapsed = now_ns() - t0;

	o = rep == NULL ? FAILED : strcmp(rep, want) == 0 ? OK : REFUSED;
	if (o == REFUSED)
		note_error("%s: answered %.*s", argv[0],
		    (int)strcspn(rep, "\r"), rep);
	if (phase == P_MEASURE) {
		w->n[CALLS]++;
		if (o != FAILED) {
			hist_add(&w->lat[H_CALL], elapsed);
			hist_add(&w->lat[h], elapsed);
		}
		w->n[ERRORS] += o != OK;
	} else
		w->n[OUTSIDE] += o != OK;
	return o;
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	char		 key[256], client[128];
	const char	*lock[] = { "SET", key, client, "NX" };
	const char	*unlock[] = { "EVALSHA", sha, "1", key, client };
	long		 i;
	int		 tries;
	enum outcome	 o;

	w->fd = -1;
	snprintf(client, sizeof(client), "%s-client-%d", prefix, w->id);
	for (i = 0; phase != P_STOP; i++) {
		snprintf(key, sizeof(key), "%s-%d-%ld", prefix, w->id, i % 16);
		if (timed(w, 4, lock, "+OK\r\n", H_LOCK) != OK) {
			/* State unknown: release it, uncounted. */
			command(w, 5, unlock);
			continue;
		}
		for (tries = 0; tries < 3; tries++)
			if ((o = timed(w, 5, unlock, ":1\r\n", H_UNLOCK)) != FAILED)
				break;
		w->n[PAIRS] += o == OK && phase == P_MEASURE;
	}
	if (w->fd != -1)
		close(w->fd);
	return NULL;
}

/* Sums the workers into WS[0]; one line on stderr, one JSON line. */
static void
report(struct worker *ws, double secs)
{
	static const char	*name[NCOUNT] = { "calls", "pairs", "errors",
	    "errors_outside_window" };
	struct worker		*t = &ws[0];
	int			 i, j;

	for (i = 1; i < conns; i++) {
		for (j = 0; j < NCOUNT; j++)
			t->n[j] += ws[i].n[j];
		for (j = 0; j < NHIST; j++)
			hist_merge(&t->lat[j], &ws[i].lat[j]);
	}
	fprintf(stderr, "redisload %s c=%d: %.0f pairs/s, call p99 %.3f ms, "
	    "errors %llu (+%llu outside the window)%s%s\n", label, conns,
	    (double)t->n[PAIRS] / secs, hist_q(&t->lat[H_CALL], 0.99) / 1000,
	    (unsigned long long)t->n[ERRORS], (unsigned long long)t->n[OUTSIDE],
	    first_error[0] ? "; first error: " : "", first_error);
	printf("{\"label\":\"%s\",\"mode\":\"distinct\",\"conns\":%d,"
	    "\"seconds\":%.3f,\"pairs_per_s\":%.1f,", label, conns,
	    secs, (double)t->n[PAIRS] / secs);
	for (j = 0; j < NCOUNT; j++)
		printf("\"%s\":%llu,", name[j], (unsigned long long)t->n[j]);
	printf("\"lat_us\":{");
	print_hist("call", &t->lat[H_CALL], 1);
	print_hist("lock", &t->lat[H_LOCK], 1);
	print_hist("unlock", &t->lat[H_UNLOCK], 0);
	printf("}}\n");	/* the first error is on stderr only */
}

int
main(int argc, char **argv)
{
	static const struct option	longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "call-timeout", required_argument, NULL, 't' },
		{ "label", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	static struct worker	 setup = { .fd = -1 };
	const char		*load[] = { "SCRIPT", "LOAD", UNLOCK_LUA }, *rep;
	struct worker		*ws;
	uint64_t		 t0;
	double			 secs;
	int			 ch, i;

	while ((ch = getopt_long(argc, argv, "p:c:d:w:t:l:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'c': conns = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 't': call_timeout = atof(optarg); break;
		case 'l': label = optarg; break;
		default: goto usage;
		}
	}
	if (port <= 0 || port > 65535 || conns < 1 || conns > 4096 ||
	    duration <= 0 || warmup < 0 || call_timeout <= 0)
		goto usage;
	timeout.tv_sec = (time_t)call_timeout;
	timeout.tv_usec = (suseconds_t)((call_timeout - (double)timeout.tv_sec) *
	    1e6);
	/* As in loadgen: a key a lost reply left behind never meets a later
	 * run. */
	snprintf(prefix, sizeof(prefix), "bench-%ld", (long)getpid());
	server_addr.sin_family = AF_INET;
	server_addr.sin_port = htons((uint16_t)port);
	server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	signal(SIGPIPE, SIG_IGN);
	/* SIGALRM's default action ends a run that hangs. */
	alarm((unsigned)(warmup + duration + call_timeout + 30));
	if ((rep = command(&setup, 3, load)) == NULL ||
	    sscanf(rep, "$40\r\n%40[0-9a-f]", sha) != 1)
		errx(2, "SCRIPT LOAD: %s", rep != NULL ? rep : first_error);
	close(setup.fd);
	if ((ws = calloc((size_t)conns, sizeof(*ws))) == NULL)
		err(2, "calloc");
	for (i = 0; i < conns; i++) {
		ws[i].id = i;
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0)
			errx(2, "cannot start thread %d", i);
	}
	usleep((useconds_t)(warmup * 1e6));	/* glibc: > 1 s is fine */
	t0 = now_ns();
	__atomic_store_n(&phase, P_MEASURE, __ATOMIC_SEQ_CST);
	usleep((useconds_t)(duration * 1e6));
	__atomic_store_n(&phase, P_STOP, __ATOMIC_SEQ_CST);
	secs = (double)(now_ns() - t0) / 1e9;
	for (i = 0; i < conns; i++)
		pthread_join(ws[i].tid, NULL);
	report(ws, secs);
	free(ws);
	return 0;
usage:
	fprintf(stderr, "usage: redisload --port PORT [-c CONNS] [-d SECONDS] "
	    "[-w WARMUP]\n\t[--call-timeout S] [--label TEXT]\n");
	return 64;
}
