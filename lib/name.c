/* SPDX-License-Identifier: MIT */
/*
 * Names: which resource and client names are accepted (the directory
 * backend maps them to file names in dir/fname.c).
 */
#include "config.h"

#include <string.h>

#include "name.h"
#include "store_impl.h"

/* Checks that NAME, a WHAT name, is not empty nor too long; STATUS if so. */
static enum lockstore_status
check_length(const char *name, const char *what, enum lockstore_status status,
    struct lockstore_error *err)
{
	if (name == NULL || name[0] == '\0')
		return store_error(err, status, 0,
		    "Invalid %s name: it is empty", what);
	if (strnlen(name, LOCKSTORE_NAME_MAX + 1) > LOCKSTORE_NAME_MAX)
		return store_error(err, status, 0,
		    "Invalid %s name: longer than %d bytes", what,
		    LOCKSTORE_NAME_MAX);
	return LOCKSTORE_OK;
}

/* Checks RESOURCE: any non-empty string of at most LOCKSTORE_NAME_MAX. */
enum lockstore_status
name_check_resource(const char *resource, struct lockstore_error *err)
{
	return check_length(resource, "resource", LOCKSTORE_BAD_RESOURCE, err);
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

	if (check_length(client, "client", LOCKSTORE_BAD_CLIENT, err) !=
	    LOCKSTORE_OK)
		return LOCKSTORE_BAD_CLIENT;
	for (p = (const unsigned char *)client; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return store_error(err, LOCKSTORE_BAD_CLIENT, 0,
			    "Invalid client name: it contains a control "
			    "character (byte 0x%02x at offset %zu)", *p,
			    (size_t)(p - (const unsigned char *)client));
	return LOCKSTORE_OK;
}
