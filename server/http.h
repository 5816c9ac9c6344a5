/* SPDX-License-Identifier: MIT */
/* The Abyss HTTP server lockd runs: limits, start, run, stop. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include "conf.h"
#include "rpc.h"

/*
 * Sets up the HTTP server on the bound socket FD with the limits of CONF,
 * RPC's XML-RPC handlers and GET /metrics and /healthz (over RPC's store,
 * behind its allow-list), and starts listening.  0, or -1 with ERR filled.
 */
int	http_init(int fd, const struct lockd_conf *conf, struct rpc *rpc,
	    char *err, size_t errsize);

/*
 * Serves until http_terminate(); in-flight requests finish first.
 * Returns 1 after http_terminate(), 0 if Abyss gave up by itself (it does
 * when it cannot accept, e.g. out of file descriptors).
 */
int	http_run(void);

/* Asks the server to stop; safe in a signal handler (sets a flag and
 * writes a byte to Abyss's interrupt pipe). */
void	http_terminate(void);

/* Frees the server; after http_run() returned. */
void	http_free(void);

#endif /* HTTP_H */
