/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the etcd store tests: etcd started and stopped by PID, a
 * prefix per test, and a fault-injecting HTTP proxy.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "test_etcd_tu.h"
#include "tu.h"

#define START_TIMEOUT_MS	30000
#define IO_TIMEOUT_MS		10000

char		 etu_endpoint[64];
static pid_t	 etcd_pid = -1;
static char	 etcd_dir[256];
static unsigned int prefixes;

long long
etu_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A loopback port free a moment ago. */
static int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			s, port = -1;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(s);
	return port;
}

/* A port nothing listens on. */
int
etu_dead_port(void)
{
	return free_port();
}

/* The etcd binary: $ETCD, or etcd in PATH. */
static char *
find_etcd(void)
{
	const char	*env = getenv("ETCD"), *path = getenv("PATH");
	char		*copy, *dir, *save, buf[4096];

	if (env != NULL && *env != '\0')
		return access(env, X_OK) == 0 ? strdup(env) : NULL;
	if (path == NULL || (copy = strdup(path)) == NULL)
		return NULL;
	for (dir = strtok_r(copy, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		snprintf(buf, sizeof(buf), "%s/etcd", dir);
		if (access(buf, X_OK) == 0) {
			free(copy);
			return strdup(buf);
		}
	}
	free(copy);
	return NULL;
}

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	char	*buf = arg;
	size_t	 len = strlen(buf), m = size * n;

	if (len + m < 256) {
		memcpy(buf + len, p, m);
		buf[len + m] = '\0';
	}
	return size * n;
}

/* Whether etcd answers /health with true. */
static int
healthy(void)
{
	char	 url[128], body[256] = "";
	CURL	*c;
	int	 ok = 0;

	if ((c = curl_easy_init()) == NULL)
		return 0;
	snprintf(url, sizeof(url), "%s/health", etu_endpoint);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, (void *)body);
	if (curl_easy_perform(c) == CURLE_OK &&
	    strstr(body, "\"health\":\"true\"") != NULL)
		ok = 1;
	curl_easy_cleanup(c);
	return ok;
}

static void
stop_at_exit(void)
{
	etu_stop();
}

/* One start on two free ports; 0, or -1 when etcd did not come up. */
static int
start_once(const char *etcd)
{
	char		 client[64], peer[64], cluster[96], data[300], log[300];
	long long	 end;
	int		 cport, pport, fd, status;
	struct timespec	 ts = { 0, 50 * 1000000L };

	cport = free_port();
	pport = free_port();
	if (cport == -1 || pport == -1 || cport == pport)
		return -1;
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", cport);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "t=%s", peer);
	snprintf(data, sizeof(data), "%s/data", etcd_dir);
	snprintf(log, sizeof(log), "%s/etcd.log", etcd_dir);
	snprintf(etu_endpoint, sizeof(etu_endpoint), "%s", client);
	if ((etcd_pid = fork()) == -1)
		return -1;
	if (etcd_pid == 0) {
		/* Dies with the test program, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) !=
		    -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(etcd, etcd, "--name", "t", "--data-dir", data,
		    "--listen-client-urls", client,
		    "--advertise-client-urls", client,
		    "--listen-peer-urls", peer,
		    "--initial-advertise-peer-urls", peer,
		    "--initial-cluster", cluster,
		    "--auto-compaction-mode", "revision",
		    "--auto-compaction-retention", "1000",
		    "--logger", "zap", "--log-outputs", "stderr",
		    "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	end = etu_now_ms() + START_TIMEOUT_MS;
	while (etu_now_ms() < end) {
		if (waitpid(etcd_pid, &status, WNOHANG) == etcd_pid) {
			etcd_pid = -1;
			return -1;
		}
		if (healthy())
			return 0;
		nanosleep(&ts, NULL);
	}
	etu_stop();
	return -1;
}

/* Starts etcd; see test_etcd_tu.h. */
int
etu_start(void)
{
	const char	*given = getenv("LOCKD_TEST_ETCD_ENDPOINTS");
	char		*etcd, *dir;
	int		 i;

	/* CI's etcd (.ci/run): its first endpoint. */
	if (given != NULL && strncmp(given, "http://", 7) == 0 &&
	    strcspn(given, ",") < sizeof(etu_endpoint)) {
		snprintf(etu_endpoint, sizeof(etu_endpoint), "%.*s",
		    (int)strcspn(given, ","), given);
		curl_global_init(CURL_GLOBAL_DEFAULT);
		if (healthy())
			return 0;
		fprintf(stderr, "LOCKD_TEST_ETCD_ENDPOINTS=%s: not healthy; "
		    "starting an etcd of our own\n", given);
	}
	if ((etcd = find_etcd()) == NULL) {
		printf("SKIP: no etcd (install etcd-server)\n"
		    "suite-result: 0 passed, 0 failed\n");
		return ETU_SKIP;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(etcd_dir, sizeof(etcd_dir), "%s/lockd-etcd-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if ((dir = mkdtemp(etcd_dir)) == NULL) {
		free(etcd);
		return -1;
	}
	atexit(stop_at_exit);
	for (i = 0; i < 3; i++)
		if (start_once(etcd) == 0) {
			free(etcd);
			return 0;
		}
	free(etcd);
	fprintf(stderr, "etcd did not start; see %s/etcd.log\n", etcd_dir);
	return -1;
}

/* Stops etcd by PID and removes its directory. */
void
etu_stop(void)
{
	long long	end;
	int		status;
	struct timespec	ts = { 0, 20 * 1000000L };

	if (etcd_pid > 0) {
		kill(etcd_pid, SIGTERM);
		end = etu_now_ms() + 10000;
		while (waitpid(etcd_pid, &status, WNOHANG) == 0) {
			if (etu_now_ms() > end) {
				kill(etcd_pid, SIGKILL);
				waitpid(etcd_pid, &status, 0);
				break;
			}
			nanosleep(&ts, NULL);
		}
		etcd_pid = -1;
	}
	if (etcd_dir[0] != '\0') {
		tu_rmtree(etcd_dir);
		etcd_dir[0] = '\0';
	}
}

/* A prefix no other test (or run) uses. */
const char *
etu_prefix(void)
{
	static char	buf[64];

	snprintf(buf, sizeof(buf), "/lockd-test-%ld-%u/", (long)getpid(),
	    ++prefixes);
	return buf;
}

/* Opens a store or fails the test. */
struct lockstore *
etu_open(const char *endpoints, const char *prefix, unsigned int timeout_ms)
{
	struct lockstore_etcd_config	cfg;
	struct lockstore_error		err;
	struct lockstore		*s = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.endpoints = endpoints != NULL ? endpoints : etu_endpoint;
	cfg.prefix = prefix;
	cfg.timeout_ms = timeout_ms;
	if (lockstore_open_etcd(&s, &cfg, &err) != LOCKSTORE_OK)
		fprintf(stderr, "lockstore_open_etcd: %s\n", err.msg);
	CU_ASSERT_FATAL(s != NULL);
	return s;
}

/* --- the proxy -------------------------------------------------------- */

static struct {
	pthread_mutex_t	lock;
	int		listen_fd;
	int		stop;
	pthread_t	thread;
	enum etu_mode	mode;
	int		count;
	unsigned int	delay_ms;
	int		changes;
	int		upstream_port;
} px = { PTHREAD_MUTEX_INITIALIZER, -1, 0, 0, ETU_PASS, 0, 0, 0, 0 };
static const char	*px_filter;	/* only changes that contain it */

/* Only changes whose request contains NEEDLE (NULL: all) are dropped or
 * delayed from now on. */
void
etu_proxy_filter(const char *needle)
{
	__atomic_store_n(&px_filter, needle, __ATOMIC_SEQ_CST);
}

/* Reads one HTTP message (headers and Content-Length body) from FD into
 * BUF; its length, or -1. */
static ssize_t
read_message(int fd, char *buf, size_t size)
{
	struct pollfd	 p = { fd, POLLIN, 0 };
	size_t		 len = 0, need = 0;
	ssize_t		 n;
	char		*hdr_end, *cl;

	for (;;) {
		if (len + 1 >= size)
			return -1;
		if (poll(&p, 1, IO_TIMEOUT_MS) != 1)
			return -1;
		if ((n = read(fd, buf + len, size - len - 1)) <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if ((hdr_end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		need = (size_t)(hdr_end - buf) + 4;
		if ((cl = strcasestr(buf, "\r\ncontent-length:")) != NULL &&
		    cl < hdr_end)
			need += strtoul(cl + 17, NULL, 10);
		if (len >= need)
			return (ssize_t)len;
	}
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, p, len)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Forwards REQ to etcd and reads its answer into BUF. */
static ssize_t
upstream(const char *req, size_t rlen, char *buf, size_t size)
{
	struct sockaddr_in	sin;
	ssize_t			n = -1;
	int			s;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)px.upstream_port);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    write_all(s, req, rlen) == 0)
		n = read_message(s, buf, size);
	close(s);
	return n;
}

/* Serves one client connection until it closes or an answer is lost. */
static void *
serve(void *arg)
{
	int		 fd = (int)(intptr_t)arg;
	char		*req, *resp;
	const char	*filter;
	ssize_t		 rlen, alen;
	enum etu_mode	 mode;
	unsigned int	 delay;
	struct timespec	 ts;

	req = malloc(1 << 20);
	resp = malloc(1 << 20);
	while (req != NULL && resp != NULL &&
	    (rlen = read_message(fd, req, 1 << 20)) > 0) {
		mode = ETU_PASS;
		delay = 0;
		if (strstr(req, "POST /v3/kv/txn") == req &&
		    (strstr(req, "request_put") != NULL ||
		    strstr(req, "request_delete_range") != NULL) &&
		    ((filter = __atomic_load_n(&px_filter, __ATOMIC_SEQ_CST)) ==
		    NULL || strstr(req, filter) != NULL)) {
			pthread_mutex_lock(&px.lock);
			px.changes++;
			if (px.count > 0) {
				px.count--;
				mode = px.mode;
				delay = px.delay_ms;
			}
			pthread_mutex_unlock(&px.lock);
		}
		if ((alen = upstream(req, (size_t)rlen, resp, 1 << 20)) <= 0)
			break;
		if (mode == ETU_DROP_ANSWER)
			break;		/* applied, but the client never knows */
		if (mode == ETU_DELAY_ANSWER) {
			ts.tv_sec = delay / 1000;
			ts.tv_nsec = (long)(delay % 1000) * 1000000L;
			nanosleep(&ts, NULL);
		}
		if (write_all(fd, resp, (size_t)alen) == -1)
			break;
	}
	free(req);
	free(resp);
	close(fd);
	return NULL;
}

static void *
accept_loop(void *arg)
{
	struct pollfd	p;
	pthread_t	t;
	int		fd;

	(void)arg;
	p.fd = px.listen_fd;
	p.events = POLLIN;
	while (!__atomic_load_n(&px.stop, __ATOMIC_RELAXED)) {
		if (poll(&p, 1, 100) != 1)
			continue;
		if ((fd = accept(px.listen_fd, NULL, NULL)) == -1)
			continue;
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) !=
		    0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

/* Starts the proxy; its port, or -1. */
int
etu_proxy_start(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	const char		*colon;

	if ((colon = strrchr(etu_endpoint, ':')) == NULL)
		return -1;
	px.upstream_port = atoi(colon + 1);
	px.stop = 0;
	px.mode = ETU_PASS;
	px.count = 0;
	px.changes = 0;
	if ((px.listen_fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(px.listen_fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(px.listen_fd, 64) == -1 ||
	    getsockname(px.listen_fd, (struct sockaddr *)&sin, &len) == -1 ||
	    pthread_create(&px.thread, NULL, accept_loop, NULL) != 0) {
		close(px.listen_fd);
		px.listen_fd = -1;
		return -1;
	}
	return ntohs(sin.sin_port);
}

void
etu_proxy_mode(enum etu_mode mode, int count, unsigned int delay_ms)
{
	pthread_mutex_lock(&px.lock);
	px.mode = mode;
	px.count = count;
	px.delay_ms = delay_ms;
	pthread_mutex_unlock(&px.lock);
}

int
etu_proxy_changes(void)
{
	int	n;

	pthread_mutex_lock(&px.lock);
	n = px.changes;
	pthread_mutex_unlock(&px.lock);
	return n;
}

/* Stops accepting; connections being served end on their own. */
void
etu_proxy_stop(void)
{
	if (px.listen_fd == -1)
		return;
	__atomic_store_n(&px.stop, 1, __ATOMIC_RELAXED);
	pthread_join(px.thread, NULL);
	close(px.listen_fd);
	px.listen_fd = -1;
}
