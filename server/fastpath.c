/* SPDX-License-Identifier: MIT */
/*
 * The fast path: a strict scanner for the calls that make up nearly all
 * of lockd's traffic, so that they skip xmlrpc-c's XML parser (a 2001
 * expat that seeds a random generator per document, and a tree of
 * values) -- over a third of the instructions of a request.  It is a
 * filter, not a parser: it takes a request only when its shape leaves no
 * room for interpretation, and everything else goes to xmlrpc-c as
 * before.  tests/rpc/test_fastpath.py and tests/fuzz/fuzz_fastpath.c
 * check that both give the same answer to what the scanner takes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fastpath.h"
#include "methods.h"

struct scan {
	const char	*p;
	const char	*end;
};

/* Takes the literal T if it comes next. */
static int
lit(struct scan *s, const char *t)
{
	size_t	n = strlen(t);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, t, n) != 0)
		return 0;
	s->p += n;
	return 1;
}

/* Skips blanks between elements: space, tab, newline (no CR, which XML
 * turns into newlines). */
static void
blanks(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n'))
		s->p++;
}

/*
 * The content of a <string>, up to its '<', as a new C string in *OUT.
 * Only printable ASCII, and of the entities only the three Python writes;
 * "]]>" is not well-formed XML.  0 when the content is anything else.
 */
static int
content(struct scan *s, char **out)
{
	const char	*p;
	char		*d;
	size_t		 n = 0;

	for (p = s->p; p < s->end && *p != '<'; n++) {
		if (*p == '&') {
			if ((size_t)(s->end - p) >= 5 &&
			    memcmp(p, "&amp;", 5) == 0)
				p += 5;
			else if ((size_t)(s->end - p) >= 4 &&
			    (memcmp(p, "&lt;", 4) == 0 ||
			    memcmp(p, "&gt;", 4) == 0))
				p += 4;
			else
				return 0;
			continue;
		}
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
		if (*p == ']' && s->end - p >= 3 && p[1] == ']' && p[2] == '>')
			return 0;
		p++;
	}
	if (p == s->end || (*out = malloc(n + 1)) == NULL)
		return 0;
	for (d = *out; s->p < p; d++) {
		if (*s->p != '&')
			*d = *s->p++;
		else if (s->p[1] == 'a') {
			*d = '&';
			s->p += 5;
		} else {
			*d = s->p[1] == 'l' ? '<' : '>';
			s->p += 4;
		}
	}
	*d = '\0';
	return 1;
}

/* One <param><value><string>...</string></value></param>. */
static int
param(struct scan *s, char **out)
{
	if (!lit(s, "<param>"))
		return 0;
	blanks(s);
	if (!lit(s, "<value><string>") || !content(s, out))
		return 0;
	if (!lit(s, "</string></value>"))
		return 0;
	blanks(s);
	return lit(s, "</param>");
}

/*
 * The method name and its end tag: one of the method table's rows with a
 * fast-path id, or NULL.
 */
static const struct method *
method_name(struct scan *s)
{
	const char	*start = s->p;
	size_t		 i;

	for (i = 0; i < methods_count; i++) {
		if (methods_table[i].fast == FASTPATH_NONE)
			continue;
		if (lit(s, methods_table[i].name) &&
		    lit(s, "</methodName>"))
			return &methods_table[i];
		s->p = start;
	}
	return NULL;
}

/* Scans a request; see fastpath.h. */
int
fastpath_scan(const char *xml, size_t len, struct fastpath_call *fc)
{
	struct scan	 s = { xml, xml + len };
	char		*strings[2] = { NULL, NULL };
	int		 n = 0;

	memset(fc, 0, sizeof(*fc));
	if (!lit(&s, "<?xml version='1.0'?>") &&
	    !lit(&s, "<?xml version=\"1.0\"?>"))
		return 0;
	blanks(&s);
	if (!lit(&s, "<methodCall>"))
		return 0;
	blanks(&s);
	if (!lit(&s, "<methodName>") || (fc->row = method_name(&s)) == NULL)
		return 0;
	fc->method = fc->row->fast;
	blanks(&s);
	if (!lit(&s, "<params>"))
		goto no;
	blanks(&s);
	while (n < 2 && s.end - s.p > 1 && s.p[1] == 'p') {
		if (!param(&s, &strings[n]))
			goto no;
		n++;
		blanks(&s);
	}
	if (!lit(&s, "</params>"))
		goto no;
	blanks(&s);
	if (!lit(&s, "</methodCall>"))
		goto no;
	blanks(&s);
	if (s.p != s.end || n != (fc->method == FASTPATH_PING ? 0 : 2))
		goto no;
	fc->resource = strings[0];
	fc->client = strings[1];
	return 1;
no:
	free(strings[0]);
	free(strings[1]);
	memset(fc, 0, sizeof(*fc));
	return 0;
}

/* Frees FC's strings. */
void
fastpath_call_clear(struct fastpath_call *fc)
{
	free(fc->resource);
	free(fc->client);
	memset(fc, 0, sizeof(*fc));
}
