/* SPDX-License-Identifier: MIT */
/*
 * Resource and client names: what is accepted, and how a resource name maps
 * to the name of its lock file inside the lock directory.
 */
#ifndef NAME_H
#define NAME_H

#include <stddef.h>

#include "lockstore.h"

/* Suffix of every lock file, as gocept.lockd wrote them. */
#define NAME_SUFFIX		".resource.lock"

/* Size of a buffer that holds any lock file name, NUL included. */
#define NAME_FILE_SIZE		256

/* How a resource name became a file name. */
enum name_form {
	NAME_PLAIN,	/* "<resource>.resource.lock", the original layout */
	NAME_ESCAPED,	/* percent-encoded: '%', '/', controls, leading '.' */
	NAME_HASHED	/* "%Z<sha256 hex>": too long even when escaped */
};

/* Checks RESOURCE; LOCKSTORE_OK or LOCKSTORE_BAD_RESOURCE with err filled. */
enum lockstore_status	name_check_resource(const char *resource,
			    struct lockstore_error *err);

/* Checks CLIENT; LOCKSTORE_OK or LOCKSTORE_BAD_CLIENT with err filled. */
enum lockstore_status	name_check_client(const char *client,
			    struct lockstore_error *err);

/*
 * Writes the lock file name of a valid RESOURCE into BUF, which has room
 * for NAME_FILE_SIZE bytes, and returns its form.  The mapping is injective
 * (hashed names are checked against the name recorded in the file), never
 * contains '/', never starts with '.', and always ends in NAME_SUFFIX.
 */
enum name_form		name_encode(const char *resource,
			    char buf[NAME_FILE_SIZE]);

#endif /* NAME_H */
