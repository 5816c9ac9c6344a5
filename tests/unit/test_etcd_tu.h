/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the etcd store tests: a real etcd started by the test
 * program, stores with a prefix of their own per test, and a small HTTP
 * proxy that can lose the answers etcd gives (unknown outcomes).
 */
#ifndef TEST_ETCD_TU_H
#define TEST_ETCD_TU_H

#include "lockstore.h"
#include "etcd/lockstore_etcd.h"

/* Exit status of a test program that skips (automake's SKIP). */
#define ETU_SKIP	77

/*
 * Starts one etcd member on 127.0.0.1 with free ports and a temporary
 * data directory, killed when this process ends (or uses the first of
 * $LOCKD_TEST_ETCD_ENDPOINTS when it is healthy).  Returns 0 and its
 * endpoint in ETU_ENDPOINT; ETU_SKIP (after printing "SKIP: no etcd")
 * when no etcd binary is installed; -1 on failure.
 */
int	 etu_start(void);
extern char	etu_endpoint[64];

/* Stops it by PID (also done at exit). */
void	 etu_stop(void);

/* A fresh key prefix for one test. */
const char	*etu_prefix(void);

/* Opens a store on ENDPOINTS (NULL: etu_endpoint) with PREFIX and
 * TIMEOUT_MS (0: the default); fails the test fatally if it cannot. */
struct lockstore	*etu_open(const char *endpoints, const char *prefix,
			    unsigned int timeout_ms);

/* A loopback port nothing listens on (for dead endpoints). */
int	 etu_dead_port(void);

/* What the proxy does with requests that change something (a txn with a
 * put or a delete): pass them, or forward them and then drop the answer
 * (the connection closes) or deliver it only after DELAY_MS. */
enum etu_mode { ETU_PASS, ETU_DROP_ANSWER, ETU_DELAY_ANSWER };

/* Starts the proxy in front of etu_endpoint; returns its port or -1. */
int	 etu_proxy_start(void);

/* Sets the mode for the next COUNT changing requests (then PASS). */
void	 etu_proxy_mode(enum etu_mode mode, int count, unsigned int delay_ms);

/* Only changing requests that contain NEEDLE (NULL: all) get the mode. */
void	 etu_proxy_filter(const char *needle);

/* How many changing requests the proxy forwarded so far. */
int	 etu_proxy_changes(void);

void	 etu_proxy_stop(void);

/* Monotonic milliseconds. */
long long	etu_now_ms(void);

#endif /* TEST_ETCD_TU_H */
