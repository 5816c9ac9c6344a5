/* SPDX-License-Identifier: MIT */
/* Where one HTTP request ends in the bytes of a connection. */
#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>
#include <stdint.h>

/* The longest request head framed; a longer one turns framing off. */
#define FRAME_HEAD_MAX	8192

/* body_length()'s answers other than a length. */
#define FRAME_FOLLOW_NOT	(-1)
#define FRAME_BAD		(-2)
#define FRAME_CHUNKED		(-3)

/* The states of a chunked body's decoding (frame_dechunk). */
enum frame_chunk {
	FRAME_CHUNK_SIZE, FRAME_CHUNK_EXT, FRAME_CHUNK_DATA,
	FRAME_CHUNK_DATA_END, FRAME_CHUNK_TRAILER, FRAME_CHUNK_DONE,
	FRAME_CHUNK_BAD
};

struct frame {
	int		 off;		/* framing given up: all bytes pass */
	int		 bad;		/* the head is ambiguous: HTTP 400 */
	int		 chunked;	/* a head ended: its body in chunks */
	size_t		 withhold;	/* of what frame_take took: the head's
					   blank line, which chan.c replaces */
	enum frame_chunk cstate;
	uint64_t	 csize;		/* of the chunk read */
	size_t		 cline;		/* bytes of the line read */
	int		 in_body;
	uint64_t	 left;		/* of the body */
	size_t		 hlen;
	char		 head[FRAME_HEAD_MAX];
};

/*
 * How many of the LEN bytes at BUF, the next ones of the connection,
 * belong to the request under way: all of them, or up to its end (then
 * F is ready for the next request).  LEN > 0 gives at least 1.  A head
 * whose body length is ambiguous sets F->bad: it must not be served.
 */
size_t		 frame_take(struct frame *f, const char *buf, size_t len);

/*
 * Decodes LEN bytes of a chunked body at BUF: the bytes used; the body
 * data among them, if any, at *DATA (*DLEN bytes, one span per call).
 * F->cstate tells when the body ended (FRAME_CHUNK_DONE; F is then ready
 * for the next request) or was malformed (FRAME_CHUNK_BAD).
 */
size_t		 frame_dechunk(struct frame *f, const char *buf, size_t len,
		    const char **data, size_t *dlen);

#endif /* FRAME_H */
