/* SPDX-License-Identifier: MIT */
/*
 * gzip bodies: Python's xmlrpc.client sends them (Transport.encode_threshold)
 * and, like every client that says Accept-Encoding: gzip, takes them back.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "gzip.h"

#define GZIP_WINDOW	(15 + 16)	/* zlib: a gzip header and trailer */

/* Decompresses one gzip member, at most MAX bytes; see gzip.h. */
enum gzip_status
gzip_inflate(const char *in, size_t len, size_t max, char **out,
    size_t *outlen)
{
	z_stream	 z;
	char		*buf = NULL, *grown;
	size_t		 size = 0;
	int		 rc;

	*out = NULL;
	*outlen = 0;
	memset(&z, 0, sizeof(z));
	if (len > UINT32_MAX || inflateInit2(&z, GZIP_WINDOW) != Z_OK)
		return GZIP_NOMEM;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	do {
		if (z.total_out == size) {
			/* Grows up to MAX + 1, to see whether there is more. */
			if (size > max)
				break;
			size = size == 0 ? 4 * len + 4096 : 2 * size;
			if (size > max + 1)
				size = max + 1;
			if ((grown = realloc(buf, size + 1)) == NULL) {
				inflateEnd(&z);
				free(buf);
				return GZIP_NOMEM;
			}
			buf = grown;
		}
		z.next_out = (Bytef *)buf + z.total_out;
		z.avail_out = (uInt)(size - z.total_out);
		rc = inflate(&z, Z_NO_FLUSH);
	} while (rc == Z_OK);
	*outlen = z.total_out;
	inflateEnd(&z);
	if (*outlen > max) {
		free(buf);
		return GZIP_TOO_LARGE;
	}
	/* One whole member, nothing after it. */
	if (rc != Z_STREAM_END || z.avail_in != 0) {
		free(buf);
		return GZIP_INVALID;
	}
	buf[*outlen] = '\0';
	*out = buf;
	return GZIP_OK;
}

/* Compresses IN into a gzip member; see gzip.h. */
int
gzip_deflate(const char *in, size_t len, char **out, size_t *outlen)
{
	z_stream	 z;
	uLong		 bound;
	char		*buf;

	*out = NULL;
	memset(&z, 0, sizeof(z));
	if (len > UINT32_MAX || deflateInit2(&z, Z_DEFAULT_COMPRESSION,
	    Z_DEFLATED, GZIP_WINDOW, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&z, (uLong)len) + 32;	/* the gzip wrapper */
	if ((buf = malloc(bound)) == NULL) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(buf);
		return -1;
	}
	*outlen = z.total_out;
	deflateEnd(&z);
	*out = buf;
	return 0;
}

/* Whether HEADER lists gzip (or x-gzip) without q=0. */
int
gzip_accepted(const char *header)
{
	const char	*p = header, *q;
	size_t		 n;

	while (p != NULL && *p != '\0') {
		p += strspn(p, " \t,");
		n = strcspn(p, " \t,;");
		q = p + n;
		if ((n == 4 && strncasecmp(p, "gzip", 4) == 0) ||
		    (n == 6 && strncasecmp(p, "x-gzip", 6) == 0)) {
			q += strspn(q, " \t");
			if (*q != ';')
				return 1;
			q += 1 + strspn(q + 1, " \t");
			/* q=0, q=0.0, q=0.000: refused */
			if (strncasecmp(q, "q=", 2) != 0)
				return 1;
			for (q += 2; *q == '0' || *q == '.'; q++)
				;
			if (isdigit((unsigned char)*q))
				return 1;
		}
		p = strchr(p, ',');
	}
	return 0;
}
