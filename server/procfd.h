/* SPDX-License-Identifier: MIT */
/* Finding a connection's socket among the process's descriptors. */
#ifndef PROCFD_H
#define PROCFD_H

#include <sys/socket.h>

#include <stddef.h>

/*
 * The descriptor of the one socket whose peer is PEER (PLEN bytes,
 * possibly cut short like Abyss's 16-byte peer address) and whose local
 * end is LISTENER (LLEN bytes; a wildcard address matches any), searched
 * in /proc/self/fd; -1 when there is none or more than one.  Costs a
 * system call per descriptor: for requests that wait, once per wait.
 */
int	procfd_find(const struct sockaddr *peer, size_t plen,
	    const struct sockaddr *listener, size_t llen);

#endif /* PROCFD_H */
