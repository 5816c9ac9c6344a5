/* SPDX-License-Identifier: MIT */
/*
 * lockcmd's messages on standard error and the untrusted text in its output:
 * names and fault strings from lockd, sanitized or escaped for a terminal.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockcmd.h"

static void
output_vwarnx(const char *fmt, va_list ap)
{
	(void)fputs("lockcmd: ", stderr);
	(void)vfprintf(stderr, fmt, ap);
	(void)fputc('\n', stderr);
}

/* Prints "lockcmd: MESSAGE" on stderr, printf-style. */
void
output_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	output_vwarnx(fmt, ap);
	va_end(ap);
}

/* Reports a usage error: one line of reason, one line of advice. */
int
output_usage(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	output_vwarnx(fmt, ap);
	va_end(ap);
	(void)fputs("Try 'lockcmd --help'.\n", stderr);
	return LOCKCMD_EXIT_USAGE;
}

/*
 * Decodes the UTF-8 sequence at P, of at most AVAIL bytes, into *cpp.
 * Returns its length, or 0 if it is not well formed (overlong forms and
 * surrogates included).
 */
static size_t
utf8_decode(const unsigned char *p, size_t avail, unsigned int *cpp)
{
	unsigned int	cp, min;
	size_t		len, i;

	if (p[0] < 0x80) {
		*cpp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	if (len > avail)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return len;
}

/*
 * Tells whether code point CP may reach a terminal as it is.  Not: C0 and
 * C1 controls and DEL (escape sequences), line separators and the bidi
 * controls that can make text read differently from what it is.
 */
static int
is_text(unsigned int cp)
{
	return !(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	    cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069));
}

/*
 * Returns a copy of the first LEN bytes of the untrusted string S fit for a
 * terminal: every character that is not text, and every byte that is not
 * UTF-8, becomes '?'.  The caller frees it; NULL when out of memory.
 */
char *
output_sanitize(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*end = p + len;
	unsigned int		 cp;
	char			*copy, *q;
	size_t			 n;

	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	for (q = copy; p < end && *p != '\0'; p += n) {
		if ((n = utf8_decode(p, (size_t)(end - p), &cp)) == 0) {
			*q++ = '?';
			n = 1;
		} else if (!is_text(cp))
			*q++ = '?';
		else {
			memcpy(q, p, n);
			q += n;
		}
	}
	*q = '\0';
	return copy;
}

/* Prints "lockcmd: PREFIX" followed by the untrusted TEXT, sanitized. */
void
output_warnx_untrusted(const char *prefix, const char *text)
{
	char	*clean;

	if ((clean = output_sanitize(text, strlen(text))) == NULL) {
		output_warnx("%s(message lost: out of memory)", prefix);
		return;
	}
	output_warnx("%s%s", prefix, clean);
	free(clean);
}

/* Reports a usage error about ARG, shown sanitized between quotes. */
int
output_usage_arg(const char *what, const char *arg, const char *why)
{
	char	*clean;

	if ((clean = output_sanitize(arg, strlen(arg))) == NULL)
		return output_usage("%s (out of memory)", what);
	(void)output_usage("%s '%s'%s", what, clean, why);
	free(clean);
	return LOCKCMD_EXIT_USAGE;
}

/* Reports an answer of lockd that is not what PROTOCOL promises. */
int
output_unexpected(const char *what)
{
	output_warnx("unexpected response from lockd: %s", what);
	return LOCKCMD_EXIT_SOFTWARE;
}

/*
 * Writes LEN bytes of the untrusted name S to F on one line and without
 * tabs, reversibly: '\' as "\\", tab as "\t", newline as "\n", and every
 * other character that is not text (is_text()) and every byte that is not
 * UTF-8 as "\xNN" (lower-case hex), one for each byte.
 */
void
output_put_name(FILE *f, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*end = p + len;
	unsigned int		 cp;
	size_t			 n, i;

	for (; p < end; p += n) {
		n = utf8_decode(p, (size_t)(end - p), &cp);
		if (n == 0) {
			(void)fprintf(f, "\\x%02x", *p);
			n = 1;
		} else if (cp == '\\')
			(void)fputs("\\\\", f);
		else if (cp == '\t')
			(void)fputs("\\t", f);
		else if (cp == '\n')
			(void)fputs("\\n", f);
		else if (!is_text(cp))
			for (i = 0; i < n; i++)
				(void)fprintf(f, "\\x%02x", p[i]);
		else
			(void)fwrite(p, 1, n, f);
	}
}

/* Flushes standard output; 0, or 70 after saying why it failed. */
int
output_flush(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		output_warnx("cannot write to standard output: %s",
		    strerror(errno));
		return LOCKCMD_EXIT_SOFTWARE;
	}
	return 0;
}
