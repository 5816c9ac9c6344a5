/* SPDX-License-Identifier: MIT */
/* Client networks for the allow-list: parsing and matching CIDR blocks. */
#include "config.h"

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

/* Parses "ADDR" or "ADDR/BITS". */
int
cidr_parse(const char *s, struct cidr *out, char *err, size_t errsize)
{
	char	 buf[64], *slash, *end;
	long	 bits;
	int	 max;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf)) {
		snprintf(err, errsize, "'%.40s...' is not a network", s);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errsize, "'%s' is not an IPv4 or IPv6 address",
		    buf);
		return -1;
	}
	bits = max;
	if (slash != NULL) {
		errno = 0;
		bits = strtol(slash, &end, 10);
		if (*slash < '0' || *slash > '9' || errno != 0 ||
		    *end != '\0' || bits < 0 || bits > max) {
			snprintf(err, errsize, "'%s' is not a prefix length "
			    "from 0 to %d", slash, max);
			return -1;
		}
	}
	if (out->family == AF_INET6 && bits > CIDR_V6_MAX_BITS) {
		snprintf(err, errsize, "IPv6 prefixes longer than /%d cannot "
		    "be enforced (xmlrpc-c reports only the first %d bits of "
		    "an IPv6 peer): '%s'", CIDR_V6_MAX_BITS, CIDR_V6_MAX_BITS,
		    s);
		return -1;
	}
	out->bits = (int)bits;
	return 0;
}

static int
prefix_equal(const uint8_t *a, const uint8_t *b, int bits)
{
	int	full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

/* Whether the peer SA lies in BLOCK. */
int
cidr_match(const struct cidr *block, const struct sockaddr *sa, size_t salen)
{
	const struct sockaddr_in	*s4;
	const uint8_t			*v6;

	if (sa == NULL || sa->sa_family != block->family)
		return 0;
	if (block->family == AF_INET) {
		if (salen < sizeof(*s4))
			return 0;
		s4 = (const struct sockaddr_in *)sa;
		return prefix_equal((const uint8_t *)&s4->sin_addr,
		    block->addr, block->bits);
	}
	/* sin6_addr starts at byte 8; only bytes 8..15 may be present. */
	if (salen < 8 + CIDR_V6_MAX_BITS / 8)
		return 0;
	v6 = (const uint8_t *)sa + offsetof(struct sockaddr_in6, sin6_addr);
	return prefix_equal(v6, block->addr, block->bits);
}
