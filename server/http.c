/* SPDX-License-Identifier: MIT */
/*
 * The Abyss HTTP server: the low-level API, because only it lets lockd
 * serve two paths, check every request before parsing, and set limits
 * that keep idle and slow clients from starving others.  GET /metrics and
 * GET /healthz are answered here; XML-RPC in gate.c.
 */
#include "config.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server_abyss.h>
#include <xmlrpc-c/abyss.h>

#include "chan.h"
#include "http.h"
#include "metrics.h"
#include "refusal.h"

static TServer			 server;
static TChanSwitch		*chan_switch;
static volatile sig_atomic_t	 initialized;
static volatile sig_atomic_t	 terminating;

/*
 * Stopping without Abyss's 2-second naps: once stopping, Abyss waits for
 * the connections' threads by sleeping 2 s (usleep) between looks.  The
 * waker interrupts that sleep every WAKE_MS with a signal whose handler
 * does nothing, so that the server stops soon after its last connection.
 */
#define WAKE_MS		50
#define WAKE_SIGNAL	(SIGRTMIN + 3)

static pthread_t		 runner;	/* the thread in ServerRun */
static pthread_t		 waker;
static sem_t			 wake_sem;	/* posted: stopping or done */
static volatile sig_atomic_t	 run_done;

/*
 * Sends a whole response: STATUS, TYPE and LEN bytes of BODY (not sent for
 * HEAD, whose Content-Length still says what GET would send), and ALLOW,
 * if not NULL, as the Allow header.  Nothing of it may be cached: it
 * describes this moment.
 */
static void
respond(TSession *session, uint16_t status, const char *allow,
    const char *type, const char *body, size_t len)
{
	const TRequestInfo	*ri;

	SessionGetRequestInfo(session, &ri);
	ResponseStatus(session, status);
	ResponseContentType(session, type);
	ResponseContentLength(session, len);
	ResponseAddField(session, "Cache-Control", "no-store");
	if (allow != NULL)
		ResponseAddField(session, "Allow", allow);
	ResponseWriteStart(session);
	if (ri->method != m_head)
		ResponseWriteBody(session, body, (uint32_t)len);
	ResponseWriteEnd(session);
}

/* Sends a short text/plain response (ALLOW: see respond). */
static void
respond_text(TSession *session, uint16_t status, const char *allow,
    const char *text)
{
	respond(session, status, allow, "text/plain; charset=utf-8", text,
	    strlen(text));
}

/*
 * GET /healthz: 200 "ok" when the store takes a write and the server is
 * not stopping, else 503 with the reason (control bytes replaced: the
 * message may quote a path).
 */
static void
serve_healthz(TSession *session, struct lockstore *store)
{
	struct lockstore_error	 lerr;
	char			 msg[LOCKSTORE_MSG_MAX + 1];
	size_t			 i;

	if (terminating) {
		respond_text(session, 503, NULL, "lockd is shutting down\n");
		return;
	}
	memset(&lerr, 0, sizeof(lerr));
	if (lockstore_health(store, &lerr) == LOCKSTORE_OK) {
		respond_text(session, 200, NULL, "ok\n");
		return;
	}
	snprintf(msg, sizeof(msg), "%s\n", lerr.msg[0] != '\0' ? lerr.msg :
	    "the lock directory does not take a write");
	for (i = 0; msg[i] != '\0' && msg[i + 1] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	respond_text(session, 503, NULL, msg);
}

/* GET /metrics: the Prometheus text of metrics_render(). */
static void
serve_metrics(TSession *session, struct lockstore *store)
{
	char	*text;
	size_t	 len;

	if ((text = metrics_render(store, &len)) == NULL) {
		respond_text(session, 500, NULL, "out of memory\n");
		return;
	}
	respond(session, 200, NULL, METRICS_CONTENT_TYPE, text, len);
	free(text);
}

/*
 * The Abyss handler of /metrics and /healthz, and of methods other than
 * POST and OPTIONS on the XML-RPC paths; every other request is left to
 * the XML-RPC handlers and the default 404.  The query string is not part
 * of ri->uri, so "/metrics?x" is served too (as "/RPC2?x" is).  Subject to
 * the allow-list, not to the auth-file (PROTOCOL); a peer not allowed gets
 * 403 whatever it asks, before the method is looked at.
 */
static void
handle_endpoint(void *arg, TSession *session, abyss_bool *handled)
{
	struct rpc		*rpc = arg;
	const TRequestInfo	*ri;
	int			 metrics;

	*handled = 0;
	SessionGetRequestInfo(session, &ri);
	if (ri->uri == NULL)
		return;
	/* xmlrpc-c's own 405 names no Allow header (RFC 9110 wants one). */
	if ((strcmp(ri->uri, "/") == 0 || strcmp(ri->uri, "/RPC2") == 0) &&
	    ri->method != m_post && ri->method != m_options) {
		*handled = 1;
		respond_text(session, 405, "POST", "POST is the only HTTP "
		    "method this server understands\n");
		return;
	}
	if (strcmp(ri->uri, "/metrics") == 0)
		metrics = 1;
	else if (strcmp(ri->uri, "/healthz") == 0)
		metrics = 0;
	else
		return;
	*handled = 1;
	if (!rpc_peer_allowed(rpc, session)) {
		refusal_log(session, "HTTP 403: not in the allow-list");
		respond_text(session, 403, NULL, "forbidden: this address is "
		    "not in the allow-list\n");
	} else if (ri->method != m_get && ri->method != m_head) {
		refusal_log(session, "HTTP 405: only GET and HEAD");
		respond_text(session, 405, "GET, HEAD", "only GET and HEAD "
		    "are allowed here\n");
	} else if (metrics)
		serve_metrics(session, rpc->store);
	else
		serve_healthz(session, rpc->store);
}

/*
 * Adds the /metrics and /healthz handler.  Abyss asks its handlers, last
 * added first, until one takes the request, so this one, added after the
 * XML-RPC handlers, is asked first; it takes only its two paths.
 */
static int
add_endpoints(struct rpc *rpc, char *err, size_t errsize)
{
	struct ServerReqHandler3	h;
	abyss_bool			ok = 0;

	metrics_init();
	memset(&h, 0, sizeof(h));
	h.handleReq = handle_endpoint;
	h.userdata = rpc;
	ServerAddHandler3(&server, &h, &ok);
	if (!ok) {
		snprintf(err, errsize, "cannot install the /metrics and "
		    "/healthz handler");
		return -1;
	}
	return 0;
}

/* Sets up the server on FD; see http.h. */
int
http_init(int fd, const struct lockd_conf *conf, struct rpc *rpc, char *err,
    size_t errsize)
{
	xmlrpc_env	 env;
	const char	*error = NULL, *env_value;

	xmlrpc_env_init(&env);
	xmlrpc_server_abyss_global_init(&env);
	if (env.fault_occurred) {
		snprintf(err, errsize, "%s", env.fault_string);
		xmlrpc_env_clean(&env);
		return -1;
	}
	xmlrpc_env_clean(&env);
	/* Checked on Content-Length, before the body is read. */
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID,
	    (size_t)conf->max_request_size);
	/*
	 * Abyss dates every response with mktime(), which without TZ stats
	 * /etc/localtime each time (glibc): a system call per request for
	 * nothing.  With TZ naming that file it is read once.
	 */
	if (getenv("TZ") == NULL)
		setenv("TZ", ":/etc/localtime", 0);
	if (chan_switch_create(fd, (unsigned int)conf->timeout,
	    (size_t)conf->max_request_size, &chan_switch, &error) == -1)
		goto fail;
	ServerCreateSwitch(&server, chan_switch, &error);
	if (error != NULL) {
		ChanSwitchDestroy(chan_switch);
		goto fail;
	}
	ServerSetAdvertise(&server, 0);
	ServerSetMaxConn(&server, (unsigned int)conf->max_connections);
	ServerSetMaxConnBacklog(&server, (unsigned int)conf->max_connections);
	ServerSetKeepaliveTimeout(&server, (uint32_t)conf->keepalive_timeout);
	ServerSetKeepaliveMaxConn(&server, (uint32_t)conf->keepalive_requests);
	ServerSetTimeout(&server, (uint32_t)conf->timeout);
	/* For the differential tests and benchmarks: LOCKD_FASTPATH=0 sends
	 * every request through xmlrpc-c. */
	if ((env_value = getenv("LOCKD_FASTPATH")) != NULL &&
	    strcmp(env_value, "0") == 0)
		rpc_set_fastpath(rpc, 0);
	if (rpc_attach(rpc, &server, err, errsize) == -1 ||
	    add_endpoints(rpc, err, errsize) == -1) {
		ServerFree(&server);
		ChanSwitchDestroy(chan_switch);
		xmlrpc_server_abyss_global_term();
		return -1;
	}
	ServerInit2(&server, &error);
	if (error == NULL && sem_init(&wake_sem, 0, 0) == -1)
		error = strdup("cannot make a semaphore");
	if (error != NULL) {
		ServerFree(&server);
		ChanSwitchDestroy(chan_switch);
		goto fail;
	}
	initialized = 1;
	return 0;
fail:
	snprintf(err, errsize, "cannot start the HTTP server: %s", error);
	free((void *)error);
	xmlrpc_server_abyss_global_term();
	return -1;
}

static void
on_wake(int sig)
{
	(void)sig;
}

/* The waker: from http_terminate() until ServerRun() returns. */
static void *
wake_runner(void *arg)
{
	struct timespec	ts = { 0, WAKE_MS * 1000000L };

	(void)arg;
	while (sem_wait(&wake_sem) == -1)
		;
	while (!run_done) {
		pthread_kill(runner, WAKE_SIGNAL);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Installs the waker; 0 or -1 (then ServerRun stops in 2 s steps). */
static int
start_waker(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_wake;
	runner = pthread_self();
	if (sigaction(WAKE_SIGNAL, &sa, NULL) == -1 ||
	    pthread_create(&waker, NULL, wake_runner, NULL) != 0)
		return -1;
	return 0;
}

/* Serves until http_terminate(); see http.h. */
int
http_run(void)
{
	int	waking = start_waker() == 0;

	ServerRun(&server);
	if (waking) {
		run_done = 1;
		sem_post(&wake_sem);
		pthread_join(waker, NULL);
	}
	return terminating;
}

/* Asks the server to stop; async-signal-safe in practice. */
void
http_terminate(void)
{
	terminating = 1;
	if (initialized) {
		ServerTerminate(&server);
		sem_post(&wake_sem);
	}
}

/* Frees the server. */
void
http_free(void)
{
	if (!initialized)
		return;
	initialized = 0;
	sem_destroy(&wake_sem);
	ServerFree(&server);
	ChanSwitchDestroy(chan_switch);
	xmlrpc_server_abyss_global_term();
}
