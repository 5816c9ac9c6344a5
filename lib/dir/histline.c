/* SPDX-License-Identifier: MIT */
/*
 * One record of the lock history (history.c): the text line it is
 * written as and read back from.
 *
 * Line format, version 1 (fields separated by one space, '\n' at the end):
 *
 *	v1 <token> <since> <until_ms> <how> <resource> <holder> <by> <reason>
 *
 * token is unsigned decimal (0: unknown); since (epoch seconds, 0: unknown)
 * and until_ms (epoch milliseconds) are signed decimal; how is "unlock",
 * "break" or "expiry".  The four names are escaped: each byte below 0x21,
 * 0x7f and '%' is written as '%' and two uppercase hex digits; every other
 * byte, UTF-8 included, stands for itself.  An empty name is "-", a name
 * that is exactly "-" is "%2D".  So no field holds a space, a newline or a
 * control byte, and the encoding is canonical: a reader rejects any other
 * escape, hence two names are equal exactly when their encodings are.
 *
 * A reader takes the last nine fields of a line; the first of them must be
 * "v1", possibly glued to the remains of a record that a crash (or a full
 * disk) cut short: such a torn record has no newline, so the next record
 * continues its line, and must not be lost with it, however long the
 * remains (a crash can leave a run of zeros).  A last line without a
 * newline is being written or was torn: it is skipped.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "histline.h"

static const char *const how_names[] = { "unlock", "break", "expiry" };

static int
needs_escape(unsigned char c, size_t i)
{
	(void)i;
	return c < 0x21 || c == 0x7f || c == '%';
}

/* Length of an escaped name; see histline.h. */
size_t
histline_name_len(const char *s, size_t max)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, n = strnlen(s, max), len = n;

	if (n == 0)
		return 1;
	if (n == 1 && s[0] == '-')
		return 3;
	for (i = 0; i < n; i++)
		if (needs_escape(p[i], i))
			len += 2;
	return len;
}

/* Writes an escaped name; see histline.h. */
char *
histline_name_put(char *p, const char *s, size_t max)
{
	size_t	n = strnlen(s, max);

	if (n == 0) {
		*p++ = '-';
		return p;
	}
	if (n == 1 && s[0] == '-') {
		memcpy(p, "%2D", 3);
		return p + 3;
	}
	return codec_percent(p, s, n, needs_escape);
}

/* Decodes the field F of LEN bytes into OUT of SIZE bytes (NUL included);
 * -1 unless it is a canonical encoding that fits. */
static int
field_get(const char *f, size_t len, char *out, size_t size)
{
	if (len == 1 && f[0] == '-') {
		out[0] = '\0';
		return 0;
	}
	if (len == 3 && memcmp(f, "%2D", 3) == 0) {
		memcpy(out, "-", 2);
		return 0;
	}
	return codec_unpercent(out, size, f, len, CODEC_UPPER | CODEC_NO_NUL,
	    needs_escape);
}

/* Parses LEN decimal digits at F into *V; -1 if empty, bad or too big. */
static int
get_ull(const char *f, size_t len, unsigned long long *v)
{
	unsigned long long	x = 0;
	size_t			i;
	unsigned int		d;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (f[i] < '0' || f[i] > '9')
			return -1;
		d = (unsigned int)(f[i] - '0');
		if (x > (ULLONG_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

/* The same for an optionally negative number. */
static int
get_ll(const char *f, size_t len, long long *v)
{
	unsigned long long	m;
	int			neg = (len > 0 && f[0] == '-');

	if (get_ull(f + neg, len - (size_t)neg, &m) == -1 ||
	    m > (unsigned long long)LLONG_MAX + (unsigned int)neg)
		return -1;
	*v = neg ? (m == 0 ? 0 : -(long long)(m - 1) - 1) : (long long)m;
	return 0;
}

/* Finds the fields of a record; see histline.h. */
int
histline_split(const char *line, size_t len, const char *f[HISTLINE_FIELDS],
    size_t n[HISTLINE_FIELDS])
{
	size_t	end = len, i, j;

	for (i = HISTLINE_FIELDS - 1; i > 0; i--) {
		for (j = end; j > 0 && line[j - 1] != ' '; j--)
			;
		if (j == 0 || j == end)
			return -1;
		f[i] = line + j;
		n[i] = end - j;
		end = j - 1;
	}
	if (end < 2 || memcmp(line + end - 2, "v1", 2) != 0)
		return -1;
	f[0] = line + end - 2;
	n[0] = 2;
	return 0;
}

/* Decodes the fields of a record; see histline.h. */
int
histline_decode(const char *f[HISTLINE_FIELDS],
    const size_t n[HISTLINE_FIELDS], struct lockstore_history_entry *e)
{
	size_t	i;

	if (get_ull(f[1], n[1], &e->token) == -1 ||
	    get_ll(f[2], n[2], &e->since) == -1 ||
	    get_ll(f[3], n[3], &e->until_ms) == -1)
		return -1;
	for (i = 0; i < 3; i++)
		if (strlen(how_names[i]) == n[4] &&
		    memcmp(how_names[i], f[4], n[4]) == 0)
			break;
	if (i == 3)
		return -1;
	e->how = (enum lockstore_end)i;
	if (field_get(f[5], n[5], e->resource, sizeof(e->resource)) == -1 ||
	    field_get(f[6], n[6], e->holder, sizeof(e->holder)) == -1 ||
	    field_get(f[7], n[7], e->by, sizeof(e->by)) == -1 ||
	    field_get(f[8], n[8], e->reason, sizeof(e->reason)) == -1)
		return -1;
	return 0;
}

/* Renders a record; see histline.h. */
size_t
histline_put(char *buf, size_t size, const struct lockstore_history_entry *e)
{
	char	*p;
	int	 n;

	n = snprintf(buf, size, "v1 %llu %lld %lld %s ", e->token, e->since,
	    e->until_ms, how_names[e->how]);
	p = buf + n;
	p = histline_name_put(p, e->resource, sizeof(e->resource) - 1);
	*p++ = ' ';
	p = histline_name_put(p, e->holder, sizeof(e->holder) - 1);
	*p++ = ' ';
	p = histline_name_put(p, e->by, sizeof(e->by) - 1);
	*p++ = ' ';
	p = histline_name_put(p, e->reason, sizeof(e->reason) - 1);
	*p++ = '\n';
	return (size_t)(p - buf);
}

/* The size of a record; see histline.h. */
size_t
histline_len(const struct lockstore_history_entry *e)
{
	return 3 + 3 * 21 + strlen(how_names[e->how]) + 4 + 1 +
	    histline_name_len(e->resource, sizeof(e->resource) - 1) +
	    histline_name_len(e->holder, sizeof(e->holder) - 1) +
	    histline_name_len(e->by, sizeof(e->by) - 1) +
	    histline_name_len(e->reason, sizeof(e->reason) - 1);
}
