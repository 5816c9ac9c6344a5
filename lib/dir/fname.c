/* SPDX-License-Identifier: MIT */
/*
 * Lock file names: the injective mapping of a resource name to a lock file
 * name that stays in the lock directory, and gocept.lockd's old names.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "fname.h"
#include "sha256.h"

#define SUFFIX_LEN	(sizeof(NAME_SUFFIX) - 1)
#define FILE_NAME_MAX	(NAME_FILE_SIZE - 1)	/* NAME_MAX on Linux */

/* Whether byte C at offset I must be escaped in a file name. */
static int
must_escape(unsigned char c, size_t i)
{
	return c == '%' || c == '/' || c < 0x20 || c == 0x7f ||
	    (i == 0 && c == '.');
}

/*
 * Maps RESOURCE to its lock file name.  Three forms that cannot collide:
 * plain names contain no '%'; escaped names contain '%' followed by two
 * upper-case hex digits each time; hashed names start with "%Z", which no
 * escape produces.  Escaping '/' and a leading '.' keeps every name inside
 * the directory, and "." or ".." can never result.
 */
enum name_form
name_encode(const char *resource, char buf[NAME_FILE_SIZE])
{
	const unsigned char	*p = (const unsigned char *)resource;
	uint8_t			 digest[SHA256_DIGEST_SIZE];
	size_t			 i, len, out, escaped = 0;

	len = strlen(resource);
	for (i = 0; i < len; i++)
		escaped += must_escape(p[i], i);
	if (escaped == 0 && len + SUFFIX_LEN <= FILE_NAME_MAX) {
		memcpy(buf, resource, len);
		memcpy(buf + len, NAME_SUFFIX, SUFFIX_LEN + 1);
		return NAME_PLAIN;
	}
	if (len + 2 * escaped + SUFFIX_LEN <= FILE_NAME_MAX) {
		out = (size_t)(codec_percent(buf, resource, len, must_escape) -
		    buf);
		memcpy(buf + out, NAME_SUFFIX, SUFFIX_LEN + 1);
		return NAME_ESCAPED;
	}
	sha256(resource, len, digest);
	buf[0] = '%';
	buf[1] = 'Z';
	codec_hex(buf + 2, digest, SHA256_DIGEST_SIZE, CODEC_UPPER);
	memcpy(buf + 2 + 2 * SHA256_DIGEST_SIZE, NAME_SUFFIX, SUFFIX_LEN + 1);
	return NAME_HASHED;
}

/* Whether FNAME is RESOURCE's own lock file name. */
int
name_is_own(const char *resource, const char *fname)
{
	char	own[NAME_FILE_SIZE];

	name_encode(resource, own);
	return strcmp(own, fname) == 0;
}

/* Whether NAME may be a lock file's name. */
int
name_has_suffix(const char *name)
{
	size_t	len = strlen(name);

	return len > SUFFIX_LEN &&
	    strcmp(name + len - SUFFIX_LEN, NAME_SUFFIX) == 0;
}

/*
 * The name gocept.lockd used for RESOURCE when lockd encodes it (a '%' or
 * a leading '.'), if that was a valid file name.  Such a file without a
 * "resource" line is a lock the old daemon took, and it is honoured.
 */
int
lockdir_legacy_name(const char *resource, enum name_form form, char *buf,
    size_t size)
{
	int	n;

	if (form != NAME_ESCAPED || strchr(resource, '/') != NULL)
		return 0;
	n = snprintf(buf, size, "%s%s", resource, NAME_SUFFIX);
	return n > 0 && (size_t)n < size;
}
