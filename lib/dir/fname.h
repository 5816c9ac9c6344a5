/* SPDX-License-Identifier: MIT */
/*
 * Lock file names: the injective mapping of a resource name to the name of
 * its lock file inside the lock directory.
 */
#ifndef FNAME_H
#define FNAME_H

#include <stddef.h>

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

/*
 * Writes the lock file name of a valid RESOURCE into BUF, which has room
 * for NAME_FILE_SIZE bytes, and returns its form.  The mapping is injective
 * (hashed names are checked against the name recorded in the file), never
 * contains '/', never starts with '.', and always ends in NAME_SUFFIX.
 */
enum name_form		name_encode(const char *resource,
			    char buf[NAME_FILE_SIZE]);

/* Whether FNAME is lockd's own file name for RESOURCE (not gocept.lockd's
 * legacy one, nor another resource's). */
int			name_is_own(const char *resource, const char *fname);

/* Whether NAME ends in NAME_SUFFIX after at least one byte (and so may be
 * a lock file). */
int			name_has_suffix(const char *name);

/* Writes gocept.lockd's file name for a RESOURCE of FORM NAME_ESCAPED into
 * BUF; 0 if there is none. */
int			lockdir_legacy_name(const char *resource,
			    enum name_form form, char *buf, size_t size);

#endif /* FNAME_H */
