/* SPDX-License-Identifier: MIT */
/*
 * The etcd backend's entry points in a lockd built --without-etcd: they
 * refuse, so that "backend etcd" is a configuration error, not a link one.
 */
#include "config.h"

#include "etcd/lockstore_etcd.h"
#include "store_impl.h"

/* Refuses CFG: there is no etcd backend. */
enum lockstore_status
lockstore_etcd_check(const struct lockstore_etcd_config *cfg,
    struct lockstore_error *err)
{
	return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0, "Invalid etcd "
	    "configuration: this lockd was built without the etcd backend "
	    "(configure --without-etcd); use backend dir");
}

/* Refuses to open a store in etcd. */
enum lockstore_status
lockstore_open_etcd(struct lockstore **storep,
    const struct lockstore_etcd_config *cfg, struct lockstore_error *err)
{
	*storep = NULL;
	return lockstore_etcd_check(cfg, err);
}
