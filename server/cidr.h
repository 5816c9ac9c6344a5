/* SPDX-License-Identifier: MIT */
/* Client networks for the allow-list: parsing and matching CIDR blocks. */
#ifndef CIDR_H
#define CIDR_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/*
 * xmlrpc-c 1.33 hands lockd a peer address cut to a struct sockaddr
 * (16 bytes): of an IPv6 peer only the first 64 bits survive, so longer
 * IPv6 prefixes cannot be enforced and are refused.
 */
#define CIDR_V6_MAX_BITS	64

struct cidr {
	int	family;		/* AF_INET or AF_INET6 */
	uint8_t	addr[16];
	int	bits;
};

/* Parses "ADDR" or "ADDR/BITS"; 0, or -1 with ERR filled. */
int	cidr_parse(const char *s, struct cidr *out, char *err, size_t errsize);

/* Whether the peer SA (SALEN bytes) lies in BLOCK. */
int	cidr_match(const struct cidr *block, const struct sockaddr *sa,
	    size_t salen);

#endif /* CIDR_H */
