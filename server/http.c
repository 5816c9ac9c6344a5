/* SPDX-License-Identifier: MIT */
/*
 * The Abyss HTTP server: the low-level API, because only it lets lockd
 * serve two paths, check every request before parsing, and set limits
 * that keep idle and slow clients from starving others.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server_abyss.h>
#include <xmlrpc-c/abyss.h>

#include "http.h"

static TServer			 server;
static TChanSwitch		*chan_switch;
static volatile sig_atomic_t	 initialized;
static volatile sig_atomic_t	 terminating;

/* Sets up the server on FD; see http.h. */
int
http_init(int fd, const struct lockd_conf *conf, struct rpc *rpc, char *err,
    size_t errsize)
{
	xmlrpc_env	 env;
	const char	*error = NULL;

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
	ChanSwitchUnixCreateFd(fd, &chan_switch, &error);
	if (error != NULL)
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
	if (rpc_attach(rpc, &server, err, errsize) == -1) {
		ServerFree(&server);
		ChanSwitchDestroy(chan_switch);
		xmlrpc_server_abyss_global_term();
		return -1;
	}
	ServerInit2(&server, &error);
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

/* Serves until http_terminate(); see http.h. */
int
http_run(void)
{
	ServerRun(&server);
	return terminating;
}

/* Asks the server to stop; async-signal-safe in practice. */
void
http_terminate(void)
{
	terminating = 1;
	if (initialized)
		ServerTerminate(&server);
}

/* Frees the server. */
void
http_free(void)
{
	if (!initialized)
		return;
	initialized = 0;
	ServerFree(&server);
	ChanSwitchDestroy(chan_switch);
	xmlrpc_server_abyss_global_term();
}
