/* SPDX-License-Identifier: MIT */
/*
 * The lock store lockd serves from, as configured: the lock directory or
 * etcd.  The one place the daemon's startup tells the backends apart.
 */
#ifndef BACKEND_H
#define BACKEND_H

#include <sys/types.h>

#include <stddef.h>

#include "conf.h"
#include "lockstore.h"

/*
 * Checks, before anything is opened, what the backend needs of the user
 * UID lockd will run as (the lock directory: owned by UID, not writable
 * by others).  0, or -1 with ERR filled.
 */
int	backend_check(const struct lockd_conf *conf, uid_t uid, char *err,
	    size_t errsize);

/* Opens the store CONF names into *STORE; warns when sync is off. */
enum lockstore_status backend_open(const struct lockd_conf *conf,
	    struct lockstore **store, struct lockstore_error *err);

/*
 * Checks, as the user lockd runs as, what the backend reads later (etcd's
 * TLS files), and logs the line that says what is served at URL.  0, or
 * -1 with ERR filled.
 */
int	backend_ready(const struct lockd_conf *conf, struct lockstore *store,
	    const char *url, struct lockstore_error *err);

#endif /* BACKEND_H */
