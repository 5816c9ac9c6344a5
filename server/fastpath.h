/* SPDX-License-Identifier: MIT */
/* The strict scanner of the hot calls, in front of xmlrpc-c's parser. */
#ifndef FASTPATH_H
#define FASTPATH_H

#include <stddef.h>

enum fastpath_method {
	FASTPATH_NONE,
	FASTPATH_PING,
	FASTPATH_LOCK,
	FASTPATH_LOCK_TOKEN,
	FASTPATH_UNLOCK
};

struct method;

/* A call the scanner took: the method, its row of the method table and
 * its two strings (NULL for ping), decoded. */
struct fastpath_call {
	enum fastpath_method	 method;
	const struct method	*row;
	char			*resource;
	char			*client;
};

/*
 * Scans the request body XML (LEN bytes).  Takes only the methods with a
 * fast-path id in the method table (methods.c), ping(), lock(),
 * lock_token() and unlock(), in the shapes Python's xmlrpc.client
 * and bench/loadgen write: an XML declaration of version 1.0 without
 * encoding, elements without attributes or comments, blanks (space, tab,
 * newline) only between elements, string parameters of printable ASCII
 * with no entity but &amp; &lt; &gt;.  Anything else is for xmlrpc-c,
 * which answers it exactly as before.  Returns 1 with FC filled (free its
 * strings with fastpath_call_clear), 0 to leave the request to xmlrpc-c
 * (also when out of memory).
 */
int	fastpath_scan(const char *xml, size_t len, struct fastpath_call *fc);

/* Frees FC's strings; FC may then be scanned into again. */
void	fastpath_call_clear(struct fastpath_call *fc);

#endif /* FASTPATH_H */
