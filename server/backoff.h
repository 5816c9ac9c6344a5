/* SPDX-License-Identifier: MIT */
/*
 * The back-off after failed authentications, per peer address; it
 * outlives reloads of the access rules.
 */
#ifndef BACKOFF_H
#define BACKOFF_H

#include <sys/socket.h>

#include <stddef.h>

#define BACKOFF_FAILURES	10	/* failures that start a back-off */
#define BACKOFF_WINDOW		60	/* ... within these seconds */
#define BACKOFF_FIRST		5	/* seconds of the first; each doubles */
#define BACKOFF_MAX		300	/* the longest, in seconds */

/* Seconds PEER (SALEN bytes; NULL: none) must still wait, or 0. */
long	backoff_wait(const struct sockaddr *peer, size_t salen);

/* Counts one failed authentication of PEER; may start its back-off. */
void	backoff_failed(const struct sockaddr *peer, size_t salen);

#endif /* BACKOFF_H */
