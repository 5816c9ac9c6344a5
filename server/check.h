/* SPDX-License-Identifier: MIT */
/* lockd --check beyond the file: the service user and the lock directory. */
#ifndef CHECK_H
#define CHECK_H

#include "conf.h"

/*
 * Checks what a start with CONF would find on this host: that the user
 * exists and that the lock directory exists, belongs to the user lockd
 * would run as and is safe.  Reports each problem, with what to do about
 * it, through REPORT; returns the number of problems.
 */
int	check_host(const struct lockd_conf *conf, conf_reporter report);

#endif /* CHECK_H */
