/* SPDX-License-Identifier: MIT */
/* Where one HTTP request ends in the bytes of a connection. */
#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>
#include <stdint.h>

/* The longest request head framed; a longer one turns framing off. */
#define FRAME_HEAD_MAX	8192

struct frame {
	int		 off;		/* framing given up: all bytes pass */
	int		 in_body;
	uint64_t	 left;		/* of the body */
	size_t		 hlen;
	char		 head[FRAME_HEAD_MAX];
};

/*
 * How many of the LEN bytes at BUF, the next ones of the connection,
 * belong to the request under way: all of them, or up to its end (then
 * F is ready for the next request).  LEN > 0 gives at least 1.
 */
size_t		 frame_take(struct frame *f, const char *buf, size_t len);

#endif /* FRAME_H */
