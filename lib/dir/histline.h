/* SPDX-License-Identifier: MIT */
/* One record of the lock history: the text line it is written as and read
 * back from (format in histline.c). */
#ifndef HISTLINE_H
#define HISTLINE_H

#include <stddef.h>

#include "lockstore.h"

#define HISTLINE_FIELDS	9
/* The longest record: numbers, keywords, separators and escaped names. */
#define HISTLINE_MAX	(3 + 3 * 21 + 7 + 4 + \
			3 * (2 * LOCKSTORE_NAME_MAX + 255 + 1023) + 1)

/* Bytes of the record of E, newline included (an upper bound: numbers
 * are counted at their widest).  E->how must be valid. */
size_t	histline_len(const struct lockstore_history_entry *e);

/* Renders E as a record into BUF of SIZE >= histline_len(E) bytes;
 * returns its length. */
size_t	histline_put(char *buf, size_t size,
	    const struct lockstore_history_entry *e);

/* Length of the escaped name S of at most MAX bytes, as a record holds
 * it; histline_name_put() writes it at P and returns its end. */
size_t	histline_name_len(const char *s, size_t max);
char	*histline_name_put(char *p, const char *s, size_t max);

/*
 * Finds the fields of a record in LINE of LEN bytes (no newline): the last
 * nine, the first of them ending in "v1" (torn remains may precede it).
 * Sets F and N to each field's start and length.  0, or -1 if it is no
 * record.
 */
int	histline_split(const char *line, size_t len,
	    const char *f[HISTLINE_FIELDS], size_t n[HISTLINE_FIELDS]);

/* Decodes the fields F, N of a record into E; -1 if one is bad. */
int	histline_decode(const char *f[HISTLINE_FIELDS],
	    const size_t n[HISTLINE_FIELDS],
	    struct lockstore_history_entry *e);

#endif /* HISTLINE_H */
