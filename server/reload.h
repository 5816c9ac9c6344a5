/* SPDX-License-Identifier: MIT */
/* SIGHUP: re-reading the configuration in a thread of its own. */
#ifndef RELOAD_H
#define RELOAD_H

#include "conf.h"

/*
 * Fills a configuration from scratch (defaults, file, command line) and
 * returns its number of errors, each already reported.
 */
typedef int	(*reload_loader)(struct lockd_conf *conf);

/*
 * Starts the reload thread for the running configuration RUNNING, which
 * it updates in place where a setting can change live (verbose); other
 * changes are logged as needing a restart, and an invalid file is logged
 * and ignored.  0, or -1 with errno.
 */
int	reload_start(struct lockd_conf *running, reload_loader load);

/* Asks for a reload; async-signal-safe (writes one byte to a pipe). */
void	reload_request(void);

/* Stops and joins the reload thread. */
void	reload_stop(void);

#endif /* RELOAD_H */
