/* SPDX-License-Identifier: MIT */
/*
 * Names: which resource and client names are accepted, and the injective
 * mapping of a resource name to a lock file name that stays in the lock
 * directory.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "name.h"
#include "sha256.h"
#include "store_impl.h"

#define SUFFIX_LEN	(sizeof(NAME_SUFFIX) - 1)
#define FILE_NAME_MAX	(NAME_FILE_SIZE - 1)	/* NAME_MAX on Linux */

static const char hex[] = "0123456789ABCDEF";

/* Checks RESOURCE: any non-empty string of at most LOCKSTORE_NAME_MAX. */
enum lockstore_status
name_check_resource(const char *resource, struct lockstore_error *err)
{
	size_t	len;

	if (resource == NULL || resource[0] == '\0')
		return store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid resource name: it is empty");
	len = strnlen(resource, LOCKSTORE_NAME_MAX + 1);
	if (len > LOCKSTORE_NAME_MAX)
		return store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid resource name: longer than %d bytes",
		    LOCKSTORE_NAME_MAX);
	return LOCKSTORE_OK;
}

/*
 * Checks CLIENT.  The client name is the first line of the lock file, so it
 * may hold no line break; other control bytes are refused with it because
 * no host or job name has them and they would garble every log and message.
 */
enum lockstore_status
name_check_client(const char *client, struct lockstore_error *err)
{
	const unsigned char	*p;
	size_t			 len;

	if (client == NULL || client[0] == '\0')
		return store_error(err, LOCKSTORE_BAD_CLIENT, 0,
		    "Invalid client name: it is empty");
	len = strnlen(client, LOCKSTORE_NAME_MAX + 1);
	if (len > LOCKSTORE_NAME_MAX)
		return store_error(err, LOCKSTORE_BAD_CLIENT, 0,
		    "Invalid client name: longer than %d bytes",
		    LOCKSTORE_NAME_MAX);
	for (p = (const unsigned char *)client; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return store_error(err, LOCKSTORE_BAD_CLIENT, 0,
			    "Invalid client name: it contains a control "
			    "character (byte 0x%02x at offset %zu)", *p,
			    (size_t)(p - (const unsigned char *)client));
	return LOCKSTORE_OK;
}

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
	size_t			 i, len, out = 0, escaped = 0;

	len = strlen(resource);
	for (i = 0; i < len; i++)
		escaped += must_escape(p[i], i);
	if (escaped == 0 && len + SUFFIX_LEN <= FILE_NAME_MAX) {
		memcpy(buf, resource, len);
		memcpy(buf + len, NAME_SUFFIX, SUFFIX_LEN + 1);
		return NAME_PLAIN;
	}
	if (len + 2 * escaped + SUFFIX_LEN <= FILE_NAME_MAX) {
		for (i = 0; i < len; i++) {
			if (must_escape(p[i], i)) {
				buf[out++] = '%';
				buf[out++] = hex[p[i] >> 4];
				buf[out++] = hex[p[i] & 0xf];
			} else
				buf[out++] = (char)p[i];
		}
		memcpy(buf + out, NAME_SUFFIX, SUFFIX_LEN + 1);
		return NAME_ESCAPED;
	}
	sha256(resource, len, digest);
	buf[out++] = '%';
	buf[out++] = 'Z';
	for (i = 0; i < SHA256_DIGEST_SIZE; i++) {
		buf[out++] = hex[digest[i] >> 4];
		buf[out++] = hex[digest[i] & 0xf];
	}
	memcpy(buf + out, NAME_SUFFIX, SUFFIX_LEN + 1);
	return NAME_HASHED;
}
