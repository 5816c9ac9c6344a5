/* SPDX-License-Identifier: MIT */
/*
 * loadgen -- a keep-alive XML-RPC load generator for lockd (and for any
 * server that speaks its lock/unlock protocol, like the Python reference).
 *
 * N connections to 127.0.0.1:PORT, one thread each, HTTP/1.1 keep-alive,
 * hand-written XML-RPC bodies, Content-Length framing.  Modes:
 *
 *   distinct   (default) each connection does lock+unlock pairs on its own
 *              resources "<prefix>-<conn>-<i % keys>" as client
 *              "<prefix>-client-<conn>"; any fault is an error.  The prefix
 *              is "bench-<pid>" unless --prefix says otherwise, so that a
 *              lock left behind by a lost request never meets a later run.
 *   contended  every connection fights for ONE resource "<prefix>-contended":
 *              lock, and unlock only when granted.  Fault 1 "...already
 *              locked..." to a lock is the expected refusal; any other fault
 *              is an error.  A "pair" is a granted lock and its unlock.
 *   ping       the no-op method ping(); a "pair" is two consecutive calls
 *              (the same number of round trips as lock+unlock).
 *
 * Runs for --warmup seconds (not counted), then --duration seconds
 * (counted: calls that complete inside the window), or --count pairs per
 * connection (no warm-up; everything counted).  Everything is bounded in
 * time: each call times out after --call-timeout seconds, and the whole run
 * is killed by an alarm after warm-up + duration + 30 s.
 *
 * With --pid PID it reads the server's utime+stime (/proc/PID/stat) at the
 * start and end of the window, and its peak and current RSS
 * (/proc/PID/status VmHWM, VmRSS) at the end.
 *
 * Output: one human line on stderr, one JSON line on stdout.
 * Build: cc -O2 -pthread -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { M_DISTINCT, M_CONTENDED, M_PING };
enum phase { P_WARMUP, P_MEASURE, P_STOP };

#include "hist.h"

/* ---- configuration and shared state ------------------------------------ */
static struct {
	int		port;
	int		conns;
	enum mode	mode;
	double		duration, warmup, call_timeout;
	long		count;		/* pairs per connection; 0: timed */
	int		keys;
	const char	*prefix, *path, *label;
	pid_t		pid;
} opt = {
	.port = 0, .conns = 1, .mode = M_DISTINCT, .duration = 5,
	.warmup = 1, .call_timeout = 10, .count = 0, .keys = 16,
	.prefix = NULL, .path = "/RPC2", .label = "", .pid = 0,
};

static volatile int	phase = P_WARMUP;
static struct sockaddr_in	server_addr;
static pthread_mutex_t	err_lock = PTHREAD_MUTEX_INITIALIZER;
static char		first_error[512];

struct worker {
	pthread_t	tid;
	int		id;
	int		fd;
	int		requests_on_conn;
	char		client[64];
	/* counted in the measurement window */
	uint64_t	calls, pairs, grants, refusals, errors, faults;
	uint64_t	resets, reconnects, timeouts, connects;
	uint64_t	errors_outside;	/* in warm-up or after the window */
	struct hist	lat_call, lat_lock, lat_unlock, lat_pair;
	char		buf[65536];
	size_t		have;		/* bytes buffered past the last reply */
};

static void
note_error(const char *fmt, ...)
{
	va_list	ap;

	pthread_mutex_lock(&err_lock);
	if (first_error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(first_error, sizeof(first_error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&err_lock);
}

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
counting(struct worker *w)
{
	(void)w;
	return opt.count > 0 || phase == P_MEASURE;
}

/* ---- connections -------------------------------------------------------- */
static void
disconnect(struct worker *w)
{
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	w->have = 0;
	w->requests_on_conn = 0;
}

static int
do_connect(struct worker *w)
{
	struct timeval	tv;
	int		one = 1, tries;

	for (tries = 0; tries < 50; tries++) {
		/* After the window only a few tries: enough to release. */
		if (tries >= 3 && phase == P_STOP && opt.count == 0)
			return -1;
		w->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (w->fd == -1) {
			note_error("socket: %s", strerror(errno));
			return -1;
		}
		setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		tv.tv_sec = (time_t)opt.call_timeout;
		tv.tv_usec = (suseconds_t)((opt.call_timeout -
		    (double)tv.tv_sec) * 1e6);
		setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(w->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(w->fd, (struct sockaddr *)&server_addr,
		    sizeof(server_addr)) == 0) {
			w->have = 0;
			w->requests_on_conn = 0;
			w->connects++;
			return 0;
		}
		note_error("connect: %s", strerror(errno));
		close(w->fd);
		w->fd = -1;
		if (errno != ECONNREFUSED && errno != EAGAIN &&
		    errno != EINTR && errno != ETIMEDOUT)
			return -1;
		usleep(20000);
	}
	return -1;
}

/* ---- one XML-RPC call ---------------------------------------------------- */
/* HELD: fault 1 "...already locked..." to a lock in contended mode, the
 * expected refusal.  FAULT: any other fault. */
enum outcome { OK_NIL, HELD, FAULT, FAILED };

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	r;

	while (n > 0) {
		r = send(fd, p, n, MSG_NOSIGNAL);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static const char *
find_ci(const char *hay, size_t len, const char *needle)
{
	size_t	n = strlen(needle), i;

	for (i = 0; i + n <= len; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

/*
 * Sends METHOD(args) and reads one reply.  Returns OK_NIL, FAULT (code in
 * *CODE) or FAILED (transport or protocol failure: the connection is
 * closed, and *RESET says whether it was a reset/EOF/timeout).
 */
static enum outcome
call(struct worker *w, const char *method, const char *a1, const char *a2,
    int *code, int *reset, int *closed_by_server)
{
	char		req[2048], body[1536], *hdr_end, *p;
	const char	*h;
	int		blen, rlen, status, clen = -1, conn_close = 0;
	ssize_t		r;
	size_t		need, hlen;

	*reset = 0;
	*closed_by_server = 0;
	if (a1 != NULL)
		blen = snprintf(body, sizeof(body), "<?xml version=\"1.0\"?>\n"
		    "<methodCall><methodName>%s</methodName><params>"
		    "<param><value><string>%s</string></value></param>"
		    "<param><value><string>%s</string></value></param>"
		    "</params></methodCall>\n", method, a1, a2);
	else
		blen = snprintf(body, sizeof(body), "<?xml version=\"1.0\"?>\n"
		    "<methodCall><methodName>%s</methodName><params>"
		    "</params></methodCall>\n", method);
	rlen = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\nUser-Agent: lockd-loadgen\r\n"
	    "Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s",
	    opt.path, opt.port, blen, body);
	if (w->fd == -1 && do_connect(w) == -1) {
		*reset = 1;
		return FAILED;
	}
	if (write_all(w->fd, req, (size_t)rlen) == -1) {
		note_error("%s: send: %s", method, strerror(errno));
		*reset = 1;
		goto fail;
	}
	w->requests_on_conn++;
	/* Headers. */
	for (;;) {
		hdr_end = memmem(w->buf, w->have, "\r\n\r\n", 4);
		if (hdr_end != NULL)
			break;
		if (w->have >= sizeof(w->buf) - 1) {
			note_error("%s: reply header too long", method);
			goto fail;
		}
		r = recv(w->fd, w->buf + w->have, sizeof(w->buf) - 1 - w->have,
		    0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
				note_error("%s: reply timed out after %.1f s",
				    method, opt.call_timeout);
			else
				note_error("%s: %s before the reply (request %d "
				    "on the connection)", method, r == 0 ?
				    "EOF" : strerror(errno),
				    w->requests_on_conn);
			if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
				w->timeouts += counting(w);
			*reset = 1;
			goto fail;
		}
		w->have += (size_t)r;
	}
	hlen = (size_t)(hdr_end - w->buf) + 4;
	if (sscanf(w->buf, "HTTP/1.%*d %d", &status) != 1) {
		note_error("%s: bad status line", method);
		goto fail;
	}
	if ((h = find_ci(w->buf, hlen, "\r\nContent-Length:")) != NULL)
		clen = atoi(h + 17);
	if (find_ci(w->buf, hlen, "\r\nConnection: close") != NULL ||
	    strncmp(w->buf, "HTTP/1.0", 8) == 0)
		conn_close = 1;
	if (clen < 0) {
		note_error("%s: reply without Content-Length", method);
		goto fail;
	}
	need = hlen + (size_t)clen;
	if (need >= sizeof(w->buf)) {
		note_error("%s: reply too long", method);
		goto fail;
	}
	while (w->have < need) {
		r = recv(w->fd, w->buf + w->have, sizeof(w->buf) - 1 - w->have,
		    0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			note_error("%s: %s in the reply body", method,
			    r == 0 ? "EOF" : strerror(errno));
			*reset = 1;
			goto fail;
		}
		w->have += (size_t)r;
	}
	w->buf[need] = '\0';
	if (status != 200) {
		note_error("%s: HTTP status %d", method, status);
		goto fail;
	}
	p = w->buf + hlen;
	enum outcome res;
	if (strstr(p, "<fault>") != NULL) {
		const char *c = strstr(p, "faultCode");
		*code = -99999;
		if (c != NULL && (c = strstr(c, "<i")) != NULL &&
		    (c = strchr(c, '>')) != NULL)
			*code = atoi(c + 1);
		if (opt.mode == M_CONTENDED && strcmp(method, "lock") == 0 &&
		    *code == 1 && strstr(p, "already locked") != NULL)
			res = HELD;
		else {
			res = FAULT;
			const char *s = strstr(p, "faultString");
			if (s != NULL && (s = strstr(s, "<string>")) != NULL)
				note_error("%s: fault %d: %.200s", method,
				    *code, s + 8);
			else
				note_error("%s: fault %d", method, *code);
		}
	} else if (strstr(p, "<params>") != NULL && strstr(p, "<nil/>") != NULL)
		res = OK_NIL;
	else {
		note_error("%s: unexpected reply: %.200s", method, p);
		goto fail;
	}
	/* Keep bytes past this reply (there should be none). */
	memmove(w->buf, w->buf + need, w->have - need);
	w->have -= need;
	if (conn_close) {
		*closed_by_server = 1;
		disconnect(w);
	}
	return res;
fail:
	disconnect(w);
	return FAILED;
}

/* One timed call; adds its latency to H (and the all-calls histogram). */
static enum outcome
timed_call(struct worker *w, const char *method, const char *a1,
    const char *a2, int *code, struct hist *h, uint64_t *elapsed)
{
	enum outcome	o;
	uint64_t	t0;
	int		reset, closed;

	t0 = now_ns();
	o = call(w, method, a1, a2, code, &reset, &closed);
	*elapsed = now_ns() - t0;
	if (counting(w)) {
		w->calls++;
		if (o != FAILED) {
			hist_add(&w->lat_call, *elapsed);
			if (h != NULL)
				hist_add(h, *elapsed);
		}
		if (reset)
			w->resets++;
		if (closed)
			w->reconnects++;
		if (o == FAILED)
			w->errors++;
		else if (o == FAULT) {
			w->errors++;
			w->faults++;
		}
	} else if (o == FAILED || o == FAULT)
		w->errors_outside++;
	return o;
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	char		 res[256];
	uint64_t	 e1, e2;
	long		 i;
	int		 code, tries;
	enum outcome	 o;

	w->fd = -1;
	snprintf(w->client, sizeof(w->client), "%s-client-%d", opt.prefix,
	    w->id);
	if (opt.mode == M_CONTENDED)
		snprintf(res, sizeof(res), "%s-contended", opt.prefix);
	for (i = 0; opt.count > 0 ? i < opt.count : phase != P_STOP; i++) {
		switch (opt.mode) {
		case M_PING:
			o = timed_call(w, "ping", NULL, NULL, &code, NULL, &e1);
			if (o == OK_NIL)
				o = timed_call(w, "ping", NULL, NULL, &code,
				    NULL, &e2);
			if (o == OK_NIL && counting(w)) {
				w->pairs++;
				hist_add(&w->lat_pair, e1 + e2);
			}
			break;
		case M_DISTINCT:
			snprintf(res, sizeof(res), "%s-%d-%ld", opt.prefix,
			    w->id, i % opt.keys);
			o = timed_call(w, "lock", res, w->client, &code,
			    &w->lat_lock, &e1);
			if (o == FAILED) {
				/* State unknown: release it, uncounted. */
				int r, c;
				call(w, "unlock", res, w->client, &code, &r,
				    &c);
				break;
			}
			tries = 0;
			do {
				o = timed_call(w, "unlock", res, w->client,
				    &code, &w->lat_unlock, &e2);
			} while (o == FAILED && ++tries < 3);
			if (o == OK_NIL && counting(w)) {
				w->pairs++;
				hist_add(&w->lat_pair, e1 + e2);
			}
			break;
		case M_CONTENDED:
			o = timed_call(w, "lock", res, w->client, &code,
			    &w->lat_lock, &e1);
			if (o == HELD) {
				if (counting(w))
					w->refusals++;
				break;
			}
			if (o != OK_NIL) {
				int r, c;
				call(w, "unlock", res, w->client, &code, &r,
				    &c);
				break;
			}
			if (counting(w))
				w->grants++;
			/* A granted lock must be released, even after the
			 * window: else it blocks every later run. */
			tries = 0;
			do {
				o = timed_call(w, "unlock", res, w->client,
				    &code, &w->lat_unlock, &e2);
			} while (o == FAILED && (phase != P_STOP || ++tries < 3));
			if (o == OK_NIL && counting(w)) {
				w->pairs++;
				hist_add(&w->lat_pair, e1 + e2);
			}
			break;
		}
	}
	disconnect(w);
	return NULL;
}

/* ---- server statistics ---------------------------------------------------- */
/* utime+stime of PID in seconds (utime alone in *USER), or -1. */
static double
proc_cpu(pid_t pid, double *user)
{
	char		 path[64], buf[4096], *p;
	unsigned long	 ut, st;
	FILE		*f;
	size_t		 n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the ")" closing comm: state is field 3. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return -1;
	*user = (double)ut / (double)sysconf(_SC_CLK_TCK);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Vm...:" line of /proc/PID/status in KiB, or -1. */
static long
proc_status_kib(pid_t pid, const char *key)
{
	char	 path[64], line[256];
	size_t	 klen = strlen(key);
	long	 v = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* ---- main --------------------------------------------------------------------- */
static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen --port PORT [-c CONNS] [--contended | --method ping]\n"
	    "               [-d SECONDS] [-w WARMUP] [-n PAIRS_PER_CONN]\n"
	    "               [--keys K] [--prefix P] [--path /RPC2] [--pid PID]\n"
	    "               [--call-timeout S] [--label TEXT]\n");
	exit(64);
}

static void
on_alarm(int sig)
{
	static const char msg[] = "loadgen: run took too long, giving up\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	_exit(3);
}

static void
sleep_s(double s)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
main(int argc, char **argv)
{
	static const struct option	longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "conns", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "keys", required_argument, NULL, 'k' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "path", required_argument, NULL, 'P' },
		{ "pid", required_argument, NULL, 'i' },
		{ "contended", no_argument, NULL, 'C' },
		{ "method", required_argument, NULL, 'm' },
		{ "call-timeout", required_argument, NULL, 't' },
		{ "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct worker		*ws;
	struct hist		*call_h, *lock_h, *unlock_h, *pair_h;
	pthread_attr_t		 attr;
	uint64_t		 t0, t1 = 0, calls = 0, pairs = 0, grants = 0;
	uint64_t		 refusals = 0, errors = 0, faults = 0, resets = 0;
	uint64_t		 reconnects = 0, timeouts = 0, connects = 0;
	uint64_t		 errors_outside = 0;
	double			 cpu0 = -1, cpu1 = -1, secs, cpu, cpu_pair;
	double			 user0 = 0, user1 = 0;
	long			 hwm = -1, rss = -1;
	int			 ch, i;
	const char		*mname;

	while ((ch = getopt_long(argc, argv, "p:c:d:w:n:k:x:P:i:Cm:t:l:h",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': opt.port = atoi(optarg); break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'n': opt.count = atol(optarg); break;
		case 'k': opt.keys = atoi(optarg); break;
		case 'x': opt.prefix = optarg; break;
		case 'P': opt.path = optarg; break;
		case 'i': opt.pid = (pid_t)atoi(optarg); break;
		case 'C': opt.mode = M_CONTENDED; break;
		case 'm':
			if (strcmp(optarg, "ping") == 0)
				opt.mode = M_PING;
			else if (strcmp(optarg, "lock") == 0)
				opt.mode = M_DISTINCT;
			else
				usage();
			break;
		case 't': opt.call_timeout = atof(optarg); break;
		case 'l': opt.label = optarg; break;
		default: usage();
		}
	}
	if (opt.prefix == NULL) {
		/* Per run, so that a lock a lost request left behind never
		 * meets a later run. */
		static char	prefix[32];

		snprintf(prefix, sizeof(prefix), "bench-%ld", (long)getpid());
		opt.prefix = prefix;
	}
	if (opt.port <= 0 || opt.port > 65535 || opt.conns < 1 ||
	    opt.conns > 4096 || opt.keys < 1 || opt.duration <= 0 ||
	    opt.warmup < 0 || opt.call_timeout <= 0 || strlen(opt.prefix) > 100)
		usage();
	memset(&server_addr, 0, sizeof(server_addr));
	server_addr.sin_family = AF_INET;
	server_addr.sin_port = htons((uint16_t)opt.port);
	server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(opt.count > 0 ? 600 :
	    (unsigned)(opt.warmup + opt.duration + opt.call_timeout + 30));

	if ((ws = calloc((size_t)opt.conns, sizeof(*ws))) == NULL ||
	    (call_h = calloc(4, sizeof(struct hist))) == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 2;
	}
	lock_h = call_h + 1;
	unlock_h = call_h + 2;
	pair_h = call_h + 3;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);

	phase = (opt.count > 0 || opt.warmup == 0) ? P_MEASURE : P_WARMUP;
	if (phase == P_MEASURE && opt.pid > 0)
		cpu0 = proc_cpu(opt.pid, &user0);
	t0 = now_ns();
	for (i = 0; i < opt.conns; i++) {
		ws[i].id = i;
		if (pthread_create(&ws[i].tid, &attr, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "loadgen: cannot start thread %d\n", i);
			return 2;
		}
	}
	if (opt.count == 0) {
		if (opt.warmup > 0) {
			sleep_s(opt.warmup);
			if (opt.pid > 0)
				cpu0 = proc_cpu(opt.pid, &user0);
			t0 = now_ns();
			__atomic_store_n(&phase, P_MEASURE, __ATOMIC_SEQ_CST);
		}
		sleep_s(opt.duration);
		__atomic_store_n(&phase, P_STOP, __ATOMIC_SEQ_CST);
		t1 = now_ns();
		if (opt.pid > 0)
			cpu1 = proc_cpu(opt.pid, &user1);
	}
	for (i = 0; i < opt.conns; i++)
		pthread_join(ws[i].tid, NULL);
	if (opt.count > 0) {
		t1 = now_ns();
		if (opt.pid > 0)
			cpu1 = proc_cpu(opt.pid, &user1);
	}
	if (opt.pid > 0) {
		hwm = proc_status_kib(opt.pid, "VmHWM");
		rss = proc_status_kib(opt.pid, "VmRSS");
	}
	for (i = 0; i < opt.conns; i++) {
		struct worker *w = &ws[i];

		calls += w->calls; pairs += w->pairs; grants += w->grants;
		refusals += w->refusals; errors += w->errors;
		faults += w->faults; resets += w->resets;
		reconnects += w->reconnects; timeouts += w->timeouts;
		connects += w->connects;
		errors_outside += w->errors_outside;
		hist_merge(call_h, &w->lat_call);
		hist_merge(lock_h, &w->lat_lock);
		hist_merge(unlock_h, &w->lat_unlock);
		hist_merge(pair_h, &w->lat_pair);
	}
	secs = (double)(t1 - t0) / 1e9;
	cpu = (cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1;
	cpu_pair = (cpu >= 0 && pairs > 0) ? cpu / (double)pairs * 1e6 : -1;
	mname = opt.mode == M_PING ? "ping" : opt.mode == M_CONTENDED ?
	    "contended" : "distinct";

	fprintf(stderr, "loadgen %s%s%s c=%d: %.0f pairs/s, %.0f calls/s, "
	    "call p50 %.3f p99 %.3f p99.9 %.3f ms, pair p50 %.3f ms, "
	    "errors %llu, resets %llu, reconnects %llu",
	    mname, opt.label[0] ? " " : "", opt.label, opt.conns,
	    (double)pairs / secs, (double)calls / secs,
	    hist_q(call_h, 0.5) / 1000, hist_q(call_h, 0.99) / 1000,
	    hist_q(call_h, 0.999) / 1000, hist_q(pair_h, 0.5) / 1000,
	    (unsigned long long)errors, (unsigned long long)resets,
	    (unsigned long long)reconnects);
	if (opt.mode == M_CONTENDED)
		fprintf(stderr, ", grants %llu, refusals %llu",
		    (unsigned long long)grants, (unsigned long long)refusals);
	if (cpu_pair >= 0)
		fprintf(stderr, ", server CPU %.0f us/pair (%.0f%% kernel)",
		    cpu_pair, cpu > 0 ? 100 * (1 - (user1 - user0) / cpu) : 0.0);
	if (hwm >= 0)
		fprintf(stderr, ", server peak RSS %.1f MiB", hwm / 1024.0);
	fprintf(stderr, "\n");
	if (errors_outside > 0)
		fprintf(stderr, "loadgen: %llu errors outside the measured "
		    "window (warm-up, wind-down)\n",
		    (unsigned long long)errors_outside);
	if (first_error[0] != '\0' && (errors > 0 || errors_outside > 0))
		fprintf(stderr, "loadgen: first error: %s\n", first_error);

	printf("{\"label\":\"%s\",\"mode\":\"%s\",\"conns\":%d,\"seconds\":%.3f,"
	    "\"calls\":%llu,\"calls_per_s\":%.1f,\"pairs\":%llu,"
	    "\"pairs_per_s\":%.1f,", opt.label, mname, opt.conns, secs,
	    (unsigned long long)calls, (double)calls / secs,
	    (unsigned long long)pairs, (double)pairs / secs);
	if (opt.mode == M_PING)
		printf("\"pairs_note\":\"pair = 2 ping calls\",");
	printf("\"grants\":%llu,\"refusals\":%llu,\"errors\":%llu,"
	    "\"faults_unexpected\":%llu,\"resets\":%llu,\"timeouts\":%llu,"
	    "\"reconnects\":%llu,\"connects\":%llu,"
	    "\"errors_outside_window\":%llu,",
	    (unsigned long long)grants, (unsigned long long)refusals,
	    (unsigned long long)errors, (unsigned long long)faults,
	    (unsigned long long)resets, (unsigned long long)timeouts,
	    (unsigned long long)reconnects, (unsigned long long)connects,
	    (unsigned long long)errors_outside);
	printf("\"lat_us\":{");
	print_hist("call", call_h, 1);
	print_hist("lock", lock_h, 1);
	print_hist("unlock", unlock_h, 1);
	print_hist("pair", pair_h, 0);
	printf("},\"server_user_s\":%.3f,\"server_sys_s\":%.3f,",
	    cpu >= 0 ? user1 - user0 : -1.0,
	    cpu >= 0 ? cpu - (user1 - user0) : -1.0);
	printf("\"server_cpu_s\":%.3f,\"server_cpu_us_per_pair\":%.1f,"
	    "\"server_cpu_us_per_call\":%.1f,\"server_hwm_kib\":%ld,"
	    "\"server_rss_kib\":%ld,\"first_error\":\"",
	    cpu, cpu_pair, (cpu >= 0 && calls > 0) ?
	    cpu / (double)calls * 1e6 : -1.0, hwm, rss);
	for (const char *s = first_error; *s != '\0'; s++)
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s >= 0x20)
			putchar(*s);
	printf("\"}\n");
	free(call_h);
	free(ws);
	return 0;
}
