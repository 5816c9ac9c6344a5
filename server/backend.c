/* SPDX-License-Identifier: MIT */
/*
 * Opening the configured lock store: the lock directory or etcd, with
 * the checks and log lines of each.
 */
#include "config.h"

#include "backend.h"
#include "dir/lockstore_dir.h"
#include "etcd/lockstore_etcd.h"
#include "log.h"
#include "priv.h"

/* Checks what the backend needs of the user UID. */
int
backend_check(const struct lockd_conf *conf, uid_t uid, char *err,
    size_t errsize)
{
	if (conf->backend != CONF_BACKEND_DIR)
		return 0;
	return priv_check_lockdir(conf->lockdir, uid, err, errsize);
}

/* Opens the store CONF names. */
enum lockstore_status
backend_open(const struct lockd_conf *conf, struct lockstore **store,
    struct lockstore_error *err)
{
	struct lockstore_etcd_config	cfg;
	enum lockstore_status		st;

	if (conf->backend == CONF_BACKEND_ETCD) {
		conf_etcd(conf, &cfg);
		return lockstore_open_etcd(store, &cfg, err);
	}
	st = lockstore_open_dir(store, conf->lockdir,
	    conf->sync ? 0 : LOCKSTORE_NOSYNC, err);
	if (st == LOCKSTORE_OK && !conf->sync)
		log_warnx("sync is off: acknowledged locks may be lost in a "
		    "crash (tests and benchmarks only)");
	return st;
}

/* Checks what the backend reads later, and says what is served. */
int
backend_ready(const struct lockd_conf *conf, struct lockstore *store,
    const char *url, struct lockstore_error *err)
{
	struct lockstore_etcd_config	cfg;

	if (conf->backend == CONF_BACKEND_DIR) {
		log_info("lockd %s serving %s with lock directory %s",
		    PACKAGE_VERSION, url, conf->lockdir);
		return 0;
	}
	/* libcurl reads the TLS files at each connection, as this user. */
	conf_etcd(conf, &cfg);
	if (lockstore_etcd_check(&cfg, err) != LOCKSTORE_OK)
		return -1;
	log_info("lockd %s serving %s with etcd %s, prefix %s",
	    PACKAGE_VERSION, url, conf->etcd_endpoints, conf->etcd_prefix);
	/* Not fatal: lockd answers storage errors until etcd is back, and
	 * /healthz says so. */
	if (lockstore_health(store, err) != LOCKSTORE_OK)
		log_warnx("%s", err->msg);
	return 0;
}
