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

/* Applies a valid new configuration beyond the settings reload.c knows
 * (access rules); 0, or -1 after logging why it kept the old ones. */
typedef int	(*reload_applier)(const struct lockd_conf *conf);

/*
 * Starts the reload thread for the running configuration RUNNING, which
 * it updates in place where a setting can change live (verbose); other
 * changes are logged as needing a restart, and an invalid file is logged
 * and ignored.  0, or -1 with errno.
 */
int	reload_start(struct lockd_conf *running, reload_loader load,
	    reload_applier apply);

/* Asks for a reload; async-signal-safe (writes one byte to a pipe). */
void	reload_request(void);

/* Stops and joins the reload thread. */
void	reload_stop(void);

#endif /* RELOAD_H */
