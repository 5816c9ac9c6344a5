/* SPDX-License-Identifier: MIT */
/*
 * Where one HTTP request ends, so that lockd's channels hand Abyss one
 * request at a time: Abyss 1.33 keeps what it read past a request in its
 * buffer and waits for the socket before it looks there again, so a
 * pipelined request was neither run nor answered.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "frame.h"

/*
 * The body length of the request head H (HLEN bytes, ending in an empty
 * line): its Content-Length, 0 without one; -1 when the head asks for
 * what framing does not follow (a chunked body, an unreadable length).
 */
static int64_t
body_length(const char *h, size_t hlen)
{
	const char	*line, *end = h + hlen, *eol, *p;
	int64_t		 len = 0;
	static const char	cl[] = "content-length:";
	static const char	te[] = "transfer-encoding:";

	for (line = h; line < end; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			break;
		if ((size_t)(eol - line) > sizeof(te) - 1 &&
		    strncasecmp(line, te, sizeof(te) - 1) == 0)
			return -1;
		if ((size_t)(eol - line) <= sizeof(cl) - 1 ||
		    strncasecmp(line, cl, sizeof(cl) - 1) != 0)
			continue;
		p = line + sizeof(cl) - 1;
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (p == eol || !isdigit((unsigned char)*p))
			return -1;
		for (len = 0; p < eol && isdigit((unsigned char)*p); p++) {
			if (len > (INT64_MAX - 9) / 10)
				return -1;
			len = len * 10 + (*p - '0');
		}
	}
	return len;
}

/* Takes head bytes of BUF (LEN > 0); see frame_take. */
static size_t
take_head(struct frame *f, const char *buf, size_t len)
{
	size_t	 n, from, i;
	int64_t	 body;

	/* Blank lines before a request are Abyss's to skip. */
	for (n = 0; f->hlen == 0 && n < len && (buf[n] == '\r' ||
	    buf[n] == '\n'); n++)
		;
	if (n > 0)
		return n;
	n = len < sizeof(f->head) - f->hlen ? len : sizeof(f->head) - f->hlen;
	from = f->hlen > 3 ? f->hlen - 3 : 0;
	memcpy(f->head + f->hlen, buf, n);
	f->hlen += n;
	for (i = from; i + 1 < f->hlen; i++) {
		if (f->head[i] != '\n')
			continue;
		if (f->head[i + 1] == '\n')
			i += 2;
		else if (i + 2 < f->hlen && f->head[i + 1] == '\r' &&
		    f->head[i + 2] == '\n')
			i += 3;
		else
			continue;
		/* The head ends at I. */
		n -= f->hlen - i;
		if ((body = body_length(f->head, i)) < 0)
			f->off = 1;
		f->in_body = body > 0;
		f->left = body > 0 ? (uint64_t)body : 0;
		f->hlen = 0;
		return n;
	}
	if (f->hlen == sizeof(f->head))
		f->off = 1;	/* Abyss refuses it; no framing needed */
	return n;
}

/* See frame.h. */
size_t
frame_take(struct frame *f, const char *buf, size_t len)
{
	size_t	n;

	if (f->off || len == 0)
		return len;
	if (!f->in_body)
		return take_head(f, buf, len);
	n = f->left < len ? (size_t)f->left : len;
	f->left -= n;
	f->in_body = f->left > 0;
	return n;
}
