/* SPDX-License-Identifier: MIT */
/*
 * The etcd backend of the lock store: several lockd hosts share one etcd
 * v3 cluster (its JSON gateway, through libcurl) as their lock state.
 */
#ifndef LOCKSTORE_ETCD_H
#define LOCKSTORE_ETCD_H

#include "lockstore.h"

/* Defaults of struct lockstore_etcd_config. */
#define LOCKSTORE_ETCD_PREFIX		"/lockd/"
#define LOCKSTORE_ETCD_TIMEOUT_MS	2000

/* Most endpoints in a list, and the longest endpoint URL. */
#define LOCKSTORE_ETCD_ENDPOINTS_MAX	16
#define LOCKSTORE_ETCD_URL_MAX		512

/* Longest key prefix, in bytes. */
#define LOCKSTORE_ETCD_PREFIX_MAX	256

/* How lockstore_open_etcd() reaches the cluster. */
struct lockstore_etcd_config {
	const char	*endpoints;	/* "URL[,URL...]": http:// or https://
					   scheme, host, port, no path */
	const char	*prefix;	/* every key starts with it; NULL:
					   LOCKSTORE_ETCD_PREFIX */
	unsigned int	 timeout_ms;	/* one HTTP request to one endpoint;
					   0: LOCKSTORE_ETCD_TIMEOUT_MS */
	const char	*cacert;	/* NULL: the system's CA store */
	const char	*cert;		/* client certificate (PEM), or NULL */
	const char	*key;		/* its private key (PEM), or NULL */
};

/*
 * Checks CFG without contacting etcd: the endpoint list, the prefix and
 * the TLS files (readable, and cert and key only together).  Returns
 * LOCKSTORE_OK, or LOCKSTORE_BAD_ARGUMENT with ERR filled ("Invalid etcd
 * configuration: ...").
 */
enum lockstore_status	lockstore_etcd_check(
			    const struct lockstore_etcd_config *cfg,
			    struct lockstore_error *err);

/*
 * Opens the lock store kept in etcd under CFG->prefix.  Calls
 * curl_global_init(), so call it before the process starts threads.  Does
 * not contact etcd: an unreachable cluster shows in the first call (a
 * STORAGE error "Storage error: etcd ...: <reason>") and in
 * lockstore_health().  Returns LOCKSTORE_OK and sets *STOREP (free with
 * lockstore_close()), BAD_ARGUMENT for a bad CFG, or STORAGE.
 *
 * Every lockd sharing one cluster and prefix shares the locks.  What the
 * backend supports and where it differs from the lock directory is
 * described in the ETCD file of the source tree.
 */
enum lockstore_status	lockstore_open_etcd(struct lockstore **storep,
			    const struct lockstore_etcd_config *cfg,
			    struct lockstore_error *err);

#endif /* LOCKSTORE_ETCD_H */
