/* SPDX-License-Identifier: MIT */
/*
 * gzip bodies (Content-Encoding: gzip) of requests and replies, with zlib.
 */
#ifndef GZIP_H
#define GZIP_H

#include <stddef.h>

#define GZIP_REPLY_THRESHOLD	1400	/* larger replies are compressed,
					   as by Python's xmlrpc.server */

enum gzip_status { GZIP_OK, GZIP_INVALID, GZIP_TOO_LARGE, GZIP_NOMEM };

/*
 * Decompresses the gzip data IN (LEN bytes) into *OUT (malloc'd, free it;
 * *OUTLEN bytes, NUL-terminated) of at most MAX bytes: GZIP_OK, or
 * GZIP_INVALID (not one whole gzip member), GZIP_TOO_LARGE (more than MAX
 * bytes: stopped there), GZIP_NOMEM.
 */
enum gzip_status gzip_inflate(const char *in, size_t len, size_t max,
		    char **out, size_t *outlen);

/* Compresses IN (LEN bytes) into *OUT (malloc'd) of *OUTLEN bytes: 0, or
 * -1 on failure (nothing to free). */
int		 gzip_deflate(const char *in, size_t len, char **out,
		    size_t *outlen);

/* Whether the Accept-Encoding value HEADER (may be NULL) accepts gzip. */
int		 gzip_accepted(const char *header);

#endif /* GZIP_H */
