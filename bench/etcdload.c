/* SPDX-License-Identifier: MIT */
/*
 * etcdload -- the raw-etcd baseline of bench/etcd.py: what a lock+unlock
 * pair costs etcd itself, through its v3 JSON gateway, with libcurl.
 *
 * N threads, one keep-alive curl easy handle each (thread i talks to
 * endpoint i % the number of endpoints), each looping pairs on its own keys
 * "<prefix>/<thread>/<i % keys>":
 *
 *   lock    POST /v3/kv/txn: if the key's create_revision == 0 (it does not
 *           exist), put it.  An answer without "succeeded":true (the key
 *           existed) is an error.
 *   unlock  POST /v3/kv/deleterange of the key; an answer other than
 *           "deleted":"1" is an error.
 *
 * A lock whose outcome is unknown (transport failure) is followed by an
 * uncounted delete, as in bench/loadgen.c.  --http2 speaks HTTP/2 instead
 * of HTTP/1.1: h2c with prior knowledge on http://, negotiated (ALPN) on
 * https:// (--cacert, --cert, --key: the client's TLS files); an answer
 * in the other version is an error.  --as-lockd sends lockd's own
 * transactions for a plain lock and its unlock instead (the lock, the
 * unlock by token with its history record; see lockd_bodies()): etcd's
 * part of a lockd pair, without lockd.  Warm-up, window, --count, the alarm
 * and the output (one human line on stderr, one JSON line on stdout with
 * loadgen's field names) are as in bench/loadgen.c.
 *
 * Build: cc -O2 -pthread -o etcdload etcdload.c -lcurl
 */
#define _GNU_SOURCE
#include <curl/curl.h>
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

#include "hist.h"

enum phase { P_WARMUP, P_MEASURE, P_STOP };
/* REFUSED: etcd answered, but not as a free key would (txn not succeeded,
 * nothing deleted). */
enum outcome { OK, REFUSED, FAILED };

#define MAX_ENDPOINTS	16

static struct {
	char		*endpoints[MAX_ENDPOINTS];
	int		nendpoints;
	int		conns, keys, http2, as_lockd;
	double		duration, warmup, call_timeout;
	long		count;		/* pairs per thread; 0: timed */
	const char	*prefix, *label, *cacert, *cert, *key;
} opt = {
	.conns = 1, .keys = 16, .duration = 5, .warmup = 1,
	.call_timeout = 10, .label = "",
};

static volatile int	phase = P_WARMUP;
static pthread_mutex_t	err_lock = PTHREAD_MUTEX_INITIALIZER;
static char		first_error[512];

struct worker {
	pthread_t	tid;
	int		id;
	CURL		*h;
	const char	*endpoint;
	/* counted in the measurement window */
	uint64_t	calls, pairs, errors, refused, timeouts, connects;
	uint64_t	errors_outside;	/* in warm-up or after the window */
	struct hist	lat_call, lat_lock, lat_unlock, lat_pair;
	char		resp[4096];
	size_t		have;
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
counting(void)
{
	return opt.count > 0 || phase == P_MEASURE;
}

/* Base64 of the N bytes at IN (NULs included) into OUT, the JSON
 * gateway's form of keys and values. */
static void
b64n(const char *in, size_t n, char *out)
{
	static const char	abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 i, o = 0;
	uint32_t		 v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

/* ---- one call ------------------------------------------------------------- */
static size_t
on_data(char *data, size_t size, size_t n, void *arg)
{
	struct worker	*w = arg;
	size_t		 len = size * n, room = sizeof(w->resp) - 1 - w->have;

	/* A longer answer is cut: only its start is looked at. */
	memcpy(w->resp + w->have, data, len < room ? len : room);
	w->have += len < room ? len : room;
	return len;
}

static int
worker_init(struct worker *w)
{
	static struct curl_slist	*hdrs;
	static pthread_mutex_t		 hdr_lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&hdr_lock);
	if (hdrs == NULL) {
		/* No "Expect: 100-continue" wait, ever. */
		hdrs = curl_slist_append(NULL, "Content-Type: application/json");
		hdrs = curl_slist_append(hdrs, "Expect:");
	}
	pthread_mutex_unlock(&hdr_lock);
	if (hdrs == NULL || (w->h = curl_easy_init()) == NULL)
		return -1;
	w->endpoint = opt.endpoints[w->id % opt.nendpoints];
	curl_easy_setopt(w->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS,
	    (long)(opt.call_timeout * 1000));
	curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->h, CURLOPT_HTTP_VERSION, opt.http2 ?
	    CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1);
	if (opt.cacert != NULL)
		curl_easy_setopt(w->h, CURLOPT_CAINFO, opt.cacert);
	if (opt.cert != NULL)
		curl_easy_setopt(w->h, CURLOPT_SSLCERT, opt.cert);
	if (opt.key != NULL)
		curl_easy_setopt(w->h, CURLOPT_SSLKEY, opt.key);
	return 0;
}

/*
 * POSTs BODY to PATH; OK when the answer (HTTP 200) contains WANT,
 * REFUSED when it does not, FAILED on a transport or HTTP failure.
 */
static enum outcome
call(struct worker *w, const char *path, const char *body, const char *want)
{
	char		url[512];
	long		status = 0, nconn = 0, version = 0;
	CURLcode	rc;

	snprintf(url, sizeof(url), "%s%s", w->endpoint, path);
	w->have = 0;
	curl_easy_setopt(w->h, CURLOPT_URL, url);
	curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(w->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	rc = curl_easy_perform(w->h);
	w->resp[w->have] = '\0';
	if (curl_easy_getinfo(w->h, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK &&
	    counting())
		w->connects += (uint64_t)nconn;
	if (rc != CURLE_OK) {
		note_error("%s: %s", path, curl_easy_strerror(rc));
		if (rc == CURLE_OPERATION_TIMEDOUT && counting())
			w->timeouts++;
		return FAILED;
	}
	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(w->h, CURLINFO_HTTP_VERSION, &version);
	if ((version == CURL_HTTP_VERSION_2_0) != opt.http2) {
		note_error("%s: answered over HTTP version code %ld", path,
		    version);
		return FAILED;
	}
	if (status != 200) {
		note_error("%s: HTTP status %ld: %.200s", path, status, w->resp);
		return FAILED;
	}
	if (strstr(w->resp, want) == NULL) {
		note_error("%s: no %s in %.200s", path, want, w->resp);
		return REFUSED;
	}
	return OK;
}

/* One timed call; its latency goes to H and the all-calls histogram. */
static enum outcome
timed_call(struct worker *w, const char *path, const char *body,
    const char *want, struct hist *h, uint64_t *elapsed)
{
	enum outcome	o;
	uint64_t	t0;

	t0 = now_ns();
	o = call(w, path, body, want);
	*elapsed = now_ns() - t0;
	if (!counting()) {
		if (o != OK)
			w->errors_outside++;
		return o;
	}
	w->calls++;
	if (o != FAILED) {
		hist_add(&w->lat_call, *elapsed);
		hist_add(h, *elapsed);
	}
	if (o != OK)
		w->errors++;
	if (o == REFUSED)
		w->refused++;
	return o;
}

/* The base64 of PREFIX NS "/" NAME, then LEN more bytes at TAIL. */
static void
lockd_key(char ns, const char *name, const char *tail, size_t len,
    char *out)
{
	char	k[300];
	int	n;

	n = snprintf(k, sizeof(k) - len, "%s%c/%s", opt.prefix, ns, name);
	memcpy(k + n, tail, len);
	b64n(k, (size_t)n + len, out);
}

/*
 * --as-lockd: lockd's own transactions for a plain lock+unlock (lib/etcd:
 * etcd.c take_txn, etcd_end.c end_txn with a hint), sent straight to
 * etcd: what etcd's part of a lockd pair costs without lockd.  LOCK gets
 * the lock, UNLOCK (after the lock answered revision REV) the unlock.
 */
static void
lockd_bodies(const char *name, unsigned long long rev, char *lock,
    char *unlock, size_t size)
{
	static const char	meta[] = "{\"s\":1700000000,"
	    "\"n\":\"0123456789abcdef0123456789abcdef\"}";
	static const char	hist[] = "{\"h\":\"Y2xpZW50\",\"s\":1700000000,"
	    "\"u\":1700000000000,\"w\":\"unlock\",\"b\":\"\",\"r\":\"\","
	    "\"n\":\"0123456789abcdef0123456789abcdef\"}";
	char	l[420], m[420], d[420], h[420], hs[420], he[420];
	char	val[300], v64[400], hv64[400], tok[24];
	size_t	vlen;

	lockd_key('l', name, "", 0, l);
	lockd_key('m', name, "", 0, m);
	lockd_key('d', name, "", 0, d);
	vlen = (size_t)snprintf(val, sizeof(val), "client%c%s", 0, meta);
	b64n(val, vlen, v64);
	b64n(hist, sizeof(hist) - 1, hv64);
	snprintf(lock, size, "{\"compare\":[{\"target\":\"CREATE\",\"key\":"
	    "\"%s\",\"create_revision\":\"0\"},{\"target\":\"CREATE\",\"key\":"
	    "\"%s\",\"create_revision\":\"0\"},{\"target\":\"CREATE\",\"key\":"
	    "\"%s\",\"create_revision\":\"0\"}],\"success\":[{\"request_put\":"
	    "{\"key\":\"%s\",\"value\":\"%s\"}}],\"failure\":[{\"request_range\":"
	    "{\"key\":\"%s\"}},{\"request_range\":{\"key\":\"%s\"}},"
	    "{\"request_range\":{\"key\":\"%s\"}}]}", l, m, d, l, v64, l, m, d);
	snprintf(tok, sizeof(tok), "%c%020llu", 0, rev);
	lockd_key('h', name, tok, 21, h);
	lockd_key('h', name, "", 1, hs);
	lockd_key('h', name, "\1", 1, he);
	snprintf(unlock, size, "{\"compare\":[{\"target\":\"CREATE\",\"key\":"
	    "\"%s\",\"create_revision\":\"%llu\"}],\"success\":["
	    "{\"request_delete_range\":{\"key\":\"%s\",\"prev_kv\":true}},"
	    "{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}},"
	    "{\"request_range\":{\"key\":\"%s\",\"range_end\":\"%s\","
	    "\"count_only\":true}}],\"failure\":[]}", l, rev, l, h, hv64, hs,
	    he);
}

static void *
worker_main(void *arg)
{
	static const char	 txn_ok[] = "\"succeeded\":true";
	static const char	 del_ok[] = "\"deleted\":\"1\"";
	struct worker		*w = arg;
	char			 key[200], k64[420], v64[420], txn[8192];
	char			 del[8192];
	const char		*rp;
	uint64_t		 e1, e2;
	enum outcome		 o;
	long			 i;
	int			 tries;

	snprintf(key, sizeof(key), "%s-client-%d", opt.prefix, w->id);
	b64n(key, strlen(key), v64);
	for (i = 0; opt.count > 0 ? i < opt.count : phase != P_STOP; i++) {
		snprintf(key, sizeof(key), "%s/%d/%ld", opt.prefix, w->id,
		    i % opt.keys);
		b64n(key, strlen(key), k64);
		snprintf(txn, sizeof(txn), "{\"compare\":[{\"key\":\"%s\","
		    "\"target\":\"CREATE\",\"create_revision\":\"0\"}],"
		    "\"success\":[{\"request_put\":{\"key\":\"%s\","
		    "\"value\":\"%s\"}}]}", k64, k64, v64);
		snprintf(del, sizeof(del), "{\"key\":\"%s\"}", k64);
		if (opt.as_lockd)
			lockd_bodies(key, 0, txn, del, sizeof(txn));
		o = timed_call(w, "/v3/kv/txn", txn, txn_ok, &w->lat_lock,
		    &e1);
		if (o != OK) {
			/* Unknown, or left by a lost call: delete, uncounted;
			 * after a failure a pause, not a busy loop. */
			if (o == FAILED)
				usleep(10000);
			if (opt.as_lockd)
				lockd_key('l', key, "", 0, k64);
			snprintf(del, sizeof(del), "{\"key\":\"%s\"}", k64);
			call(w, "/v3/kv/deleterange", del, "");
			continue;
		}
		/* lockd's unlock compares the token: the lock's revision. */
		if (opt.as_lockd && (rp = strstr(w->resp, "\"revision\":\"")) !=
		    NULL)
			lockd_bodies(key, strtoull(rp + 12, NULL, 10), txn, del,
			    sizeof(del));
		tries = 0;
		do {
			o = timed_call(w, opt.as_lockd ? "/v3/kv/txn" :
			    "/v3/kv/deleterange", del, opt.as_lockd ? txn_ok :
			    del_ok, &w->lat_unlock, &e2);
		} while (o == FAILED && ++tries < 3);
		if (o == OK && counting()) {
			w->pairs++;
			hist_add(&w->lat_pair, e1 + e2);
		}
	}
	return NULL;
}

/* ---- main --------------------------------------------------------------------- */
static void
usage(void)
{
	fprintf(stderr,
	    "usage: etcdload -e URL[,URL...] [-c CONNS] [-d SECONDS] "
	    "[-w WARMUP]\n"
	    "                [-n PAIRS_PER_CONN] [--keys K] [--prefix P] "
	    "[--http2] [--as-lockd]\n"
	    "                [--call-timeout S] [--label TEXT]\n"
	    "                [--cacert FILE --cert FILE --key FILE]\n");
	exit(64);
}

static void
on_alarm(int sig)
{
	static const char msg[] = "etcdload: run took too long, giving up\n";

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

static void
parse_args(int argc, char **argv)
{
	static const struct option	longopts[] = {
		{ "endpoints", required_argument, NULL, 'e' },
		{ "conns", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "keys", required_argument, NULL, 'k' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "http2", no_argument, NULL, '2' },
		{ "as-lockd", no_argument, NULL, 'L' },
		{ "call-timeout", required_argument, NULL, 't' },
		{ "label", required_argument, NULL, 'l' },
		{ "cacert", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static char	prefix[32];
	char		*p;
	int		ch;

	while ((ch = getopt_long(argc, argv, "e:c:d:w:n:k:x:2t:l:h",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			for (p = strtok(optarg, ","); p != NULL &&
			    opt.nendpoints < MAX_ENDPOINTS; p = strtok(NULL, ","))
				opt.endpoints[opt.nendpoints++] = p;
			break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'n': opt.count = atol(optarg); break;
		case 'k': opt.keys = atoi(optarg); break;
		case 'x': opt.prefix = optarg; break;
		case '2': opt.http2 = 1; break;
		case 'L': opt.as_lockd = 1; break;
		case 't': opt.call_timeout = atof(optarg); break;
		case 'l': opt.label = optarg; break;
		case 'A': opt.cacert = optarg; break;
		case 'C': opt.cert = optarg; break;
		case 'K': opt.key = optarg; break;
		default: usage();
		}
	}
	if (opt.prefix == NULL) {
		/* Per run: a key a lost request left never meets a later run. */
		snprintf(prefix, sizeof(prefix), "etcdload-%ld",
		    (long)getpid());
		opt.prefix = prefix;
	}
	if (opt.nendpoints == 0 || opt.conns < 1 || opt.conns > 4096 ||
	    opt.keys < 1 || opt.duration <= 0 || opt.warmup < 0 ||
	    opt.call_timeout <= 0 || strlen(opt.prefix) > 100)
		usage();
}

/* Starts the workers, runs the phases, joins; the window in seconds. */
static double
run(struct worker *ws)
{
	pthread_attr_t	attr;
	uint64_t	t0, t1 = 0;
	int		i;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	phase = (opt.count > 0 || opt.warmup == 0) ? P_MEASURE : P_WARMUP;
	t0 = now_ns();
	for (i = 0; i < opt.conns; i++) {
		ws[i].id = i;
		if (worker_init(&ws[i]) == -1 || pthread_create(&ws[i].tid,
		    &attr, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "etcdload: cannot start thread %d\n", i);
			exit(2);
		}
	}
	if (opt.count == 0) {
		if (opt.warmup > 0) {
			sleep_s(opt.warmup);
			t0 = now_ns();
			__atomic_store_n(&phase, P_MEASURE, __ATOMIC_SEQ_CST);
		}
		sleep_s(opt.duration);
		__atomic_store_n(&phase, P_STOP, __ATOMIC_SEQ_CST);
		t1 = now_ns();
	}
	for (i = 0; i < opt.conns; i++) {
		pthread_join(ws[i].tid, NULL);
		curl_easy_cleanup(ws[i].h);
	}
	if (opt.count > 0)
		t1 = now_ns();
	return (double)(t1 - t0) / 1e9;
}

/* The human line on stderr and the JSON line on stdout. */
static void
report(struct worker *s, const struct hist *h, double secs)
{
	const char	*mode = opt.http2 ? "http2" : "http1.1";

	fprintf(stderr, "etcdload %s%s%s c=%d: %.0f pairs/s, %.0f calls/s, "
	    "call p50 %.3f p99 %.3f p99.9 %.3f ms, pair p50 %.3f ms, "
	    "errors %llu (refused %llu), connects %llu\n", mode,
	    opt.label[0] ? " " : "", opt.label, opt.conns,
	    (double)s->pairs / secs, (double)s->calls / secs,
	    hist_q(&h[0], 0.5) / 1000, hist_q(&h[0], 0.99) / 1000,
	    hist_q(&h[0], 0.999) / 1000, hist_q(&h[3], 0.5) / 1000,
	    (unsigned long long)s->errors, (unsigned long long)s->refused,
	    (unsigned long long)s->connects);
	if (s->errors_outside > 0)
		fprintf(stderr, "etcdload: %llu errors outside the measured "
		    "window (warm-up, wind-down)\n",
		    (unsigned long long)s->errors_outside);
	if (first_error[0] != '\0')
		fprintf(stderr, "etcdload: first error: %s\n", first_error);
	printf("{\"label\":\"%s\",\"mode\":\"%s\",\"conns\":%d,"
	    "\"seconds\":%.3f,\"calls\":%llu,\"calls_per_s\":%.1f,"
	    "\"pairs\":%llu,\"pairs_per_s\":%.1f,\"errors\":%llu,"
	    "\"refused\":%llu,\"timeouts\":%llu,\"connects\":%llu,"
	    "\"errors_outside_window\":%llu,\"lat_us\":{", opt.label, mode,
	    opt.conns, secs, (unsigned long long)s->calls,
	    (double)s->calls / secs, (unsigned long long)s->pairs,
	    (double)s->pairs / secs, (unsigned long long)s->errors,
	    (unsigned long long)s->refused, (unsigned long long)s->timeouts,
	    (unsigned long long)s->connects,
	    (unsigned long long)s->errors_outside);
	print_hist("call", &h[0], 1);
	print_hist("lock", &h[1], 1);
	print_hist("unlock", &h[2], 1);
	print_hist("pair", &h[3], 0);
	printf("},\"first_error\":\"");
	for (const char *p = first_error; *p != '\0'; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p >= 0x20)
			putchar(*p);
	printf("\"}\n");
}

int
main(int argc, char **argv)
{
	struct worker	*ws, sum;
	struct hist	*h;
	double		 secs;
	int		 i;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(opt.count > 0 ? 600 :
	    (unsigned)(opt.warmup + opt.duration + 3 * opt.call_timeout + 30));
	if (curl_global_init(CURL_GLOBAL_ALL) != 0 ||
	    (ws = calloc((size_t)opt.conns, sizeof(*ws))) == NULL ||
	    (h = calloc(4, sizeof(*h))) == NULL) {
		fprintf(stderr, "etcdload: cannot initialise\n");
		return 2;
	}
	secs = run(ws);
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < opt.conns; i++) {
		struct worker *w = &ws[i];

		sum.calls += w->calls; sum.pairs += w->pairs;
		sum.errors += w->errors; sum.refused += w->refused;
		sum.timeouts += w->timeouts; sum.connects += w->connects;
		sum.errors_outside += w->errors_outside;
		hist_merge(&h[0], &w->lat_call);
		hist_merge(&h[1], &w->lat_lock);
		hist_merge(&h[2], &w->lat_unlock);
		hist_merge(&h[3], &w->lat_pair);
	}
	report(&sum, h, secs);
	free(h);
	free(ws);
	curl_global_cleanup();
	return 0;
}
