/* SPDX-License-Identifier: MIT */
/*
 * Finding the socket of a connection among the process's descriptors,
 * for Abyss's own channels, which do not tell it (xmlrpc-c 1.33).
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "procfd.h"

/*
 * Whether socket address GOT is WANT (WANTLEN bytes, possibly cut short
 * like Abyss's 16-byte peer address): same family, port and as much of
 * the address as WANT holds.  WILDCARD: an unspecified WANT address
 * matches any.
 */
static int
addr_match(const struct sockaddr_storage *got, const struct sockaddr *want,
    size_t wantlen, int wildcard)
{
	struct sockaddr_storage	 w;
	const struct sockaddr_in	*g4, *w4;
	const struct sockaddr_in6	*g6, *w6;
	size_t			 n;

	memset(&w, 0, sizeof(w));
	memcpy(&w, want, wantlen < sizeof(w) ? wantlen : sizeof(w));
	if (wantlen < offsetof(struct sockaddr_in, sin_addr) ||
	    got->ss_family != w.ss_family)
		return 0;
	if (w.ss_family == AF_INET) {
		g4 = (const struct sockaddr_in *)got;
		w4 = (const struct sockaddr_in *)&w;
		return g4->sin_port == w4->sin_port &&
		    ((wildcard && w4->sin_addr.s_addr == htonl(INADDR_ANY)) ||
		    g4->sin_addr.s_addr == w4->sin_addr.s_addr);
	}
	if (w.ss_family == AF_INET6) {
		g6 = (const struct sockaddr_in6 *)got;
		w6 = (const struct sockaddr_in6 *)&w;
		if (g6->sin6_port != w6->sin6_port)
			return 0;
		n = wantlen > offsetof(struct sockaddr_in6, sin6_addr) ?
		    wantlen - offsetof(struct sockaddr_in6, sin6_addr) : 0;
		if (n > sizeof(w6->sin6_addr))
			n = sizeof(w6->sin6_addr);
		if (wildcard && n == sizeof(w6->sin6_addr) &&
		    IN6_IS_ADDR_UNSPECIFIED(&w6->sin6_addr))
			return 1;
		return memcmp(&g6->sin6_addr, &w6->sin6_addr, n) == 0;
	}
	return 0;
}

/* The descriptor of the connection from PEER to LISTENER, or -1. */
int
procfd_find(const struct sockaddr *peer_addr, size_t plen,
    const struct sockaddr *listener, size_t llen)
{
	struct sockaddr_storage		 peer, local;
	struct dirent			*de;
	socklen_t			 len;
	DIR				*d;
	char				*end;
	long				 n;
	int				 found = -1, matches = 0;

	if (llen == 0)
		return -1;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		errno = 0;
		n = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || end == de->d_name ||
		    n < 0 || n > INT_MAX || n == dirfd(d))
			continue;
		len = sizeof(peer);
		if (getpeername((int)n, (struct sockaddr *)&peer, &len) == -1 ||
		    !addr_match(&peer, peer_addr, plen, 0))
			continue;
		len = sizeof(local);
		if (getsockname((int)n, (struct sockaddr *)&local, &len) ==
		    -1 || !addr_match(&local, listener, llen, 1))
			continue;
		found = (int)n;
		matches++;
	}
	closedir(d);
	/* Two candidates (a truncated IPv6 peer address): trust neither. */
	return matches == 1 ? found : -1;
}
