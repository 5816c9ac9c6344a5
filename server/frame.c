/* SPDX-License-Identifier: MIT */
/*
 * Where one HTTP request ends, so that lockd's channels hand Abyss one
 * request at a time: Abyss 1.33 keeps what it read past a request in its
 * buffer and waits for the socket before it looks there again, so a
 * pipelined request was neither run nor answered.  Also the decoding of a
 * chunked body, which Abyss does not read.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "frame.h"

/* The value of a Content-Length line from P to EOL; -1: unreadable. */
static int64_t
length_value(const char *p, const char *eol)
{
	int64_t	len = 0;

	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	if (p == eol || !isdigit((unsigned char)*p))
		return -1;
	for (; p < eol && isdigit((unsigned char)*p); p++) {
		if (len > (INT64_MAX - 9) / 10)
			return -1;
		len = len * 10 + (*p - '0');
	}
	return len;
}

/*
 * The body length of the request head H (HLEN bytes, ending in an empty
 * line): its Content-Length, 0 without one; FRAME_CHUNKED for a body in
 * chunks; FRAME_FOLLOW_NOT when the head asks for what framing does not
 * follow (another transfer coding, an unreadable length: Abyss answers
 * those); FRAME_BAD when its length is ambiguous (RFC 9112 6.3: two
 * different Content-Lengths, or one with a Transfer-Encoding), which
 * smuggles requests past proxies.
 */
static int64_t
body_length(const char *h, size_t hlen)
{
	const char	*line, *end = h + hlen, *eol, *p;
	int64_t		 len = -1, v;
	int		 te = 0, chunked = 0;
	static const char	cl_name[] = "content-length:";
	static const char	te_name[] = "transfer-encoding:";

	for (line = h; line < end; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			break;
		if ((size_t)(eol - line) > sizeof(te_name) - 1 &&
		    strncasecmp(line, te_name, sizeof(te_name) - 1) == 0) {
			te++;
			for (p = line + sizeof(te_name) - 1; p < eol &&
			    (*p == ' ' || *p == '\t'); p++)
				;
			chunked = eol - p >= 7 && strncasecmp(p, "chunked", 7)
			    == 0 && (eol - p == 7 || p[7] == '\r');
		}
		if ((size_t)(eol - line) <= sizeof(cl_name) - 1 ||
		    strncasecmp(line, cl_name, sizeof(cl_name) - 1) != 0)
			continue;
		v = length_value(line + sizeof(cl_name) - 1, eol);
		if (v < 0)
			return FRAME_FOLLOW_NOT;
		if (len >= 0 && v != len)
			return FRAME_BAD;
		len = v;
	}
	if (te)
		return len >= 0 ? FRAME_BAD : te == 1 && chunked ?
		    FRAME_CHUNKED : FRAME_FOLLOW_NOT;
	return len < 0 ? 0 : len;
}

/*
 * The head of HEND bytes, of which the last N came in this time, asks for
 * a chunked body: chan.c is to withhold the head's blank line (when it
 * came in whole this time) and put a Content-Length before it.
 */
static void
chunked_head(struct frame *f, size_t hend, size_t n)
{
	size_t	blank = f->head[hend - 2] == '\r' ? 2 : 1;

	if (blank > n) {
		f->off = 1;	/* Abyss has part of it: it answers 411 */
		return;
	}
	f->chunked = 1;
	f->withhold = blank;
	f->cstate = FRAME_CHUNK_SIZE;
	f->csize = 0;
	f->cline = 0;
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
		if ((body = body_length(f->head, i)) == FRAME_BAD)
			f->bad = 1;
		else if (body == FRAME_CHUNKED)
			chunked_head(f, i, n);
		else if (body < 0)
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

/* One byte B of a chunked body outside the data; see frame_dechunk. */
static void
dechunk_byte(struct frame *f, char b)
{
	int	digit = isdigit((unsigned char)b) ? b - '0' :
		    isxdigit((unsigned char)b) ? tolower((unsigned char)b) -
		    'a' + 10 : -1;

	switch (f->cstate) {
	case FRAME_CHUNK_SIZE:
		if (digit >= 0 && f->csize <= UINT64_MAX >> 4) {
			f->csize = f->csize << 4 | (uint64_t)digit;
			f->cline++;
			return;
		}
		if (digit >= 0 || f->cline == 0) {
			f->cstate = FRAME_CHUNK_BAD;	/* too big, or none */
			return;
		}
		f->cstate = FRAME_CHUNK_EXT;	/* ';' or the line's end */
		/* FALLTHROUGH */
	case FRAME_CHUNK_EXT:
		if (b == '\n') {
			f->cstate = f->csize > 0 ? FRAME_CHUNK_DATA :
			    FRAME_CHUNK_TRAILER;
			f->cline = 0;
		} else
			f->cline++;
		return;
	case FRAME_CHUNK_DATA_END:
		if (b == '\n') {
			f->cstate = FRAME_CHUNK_SIZE;
			f->csize = 0;
			f->cline = 0;
		} else if (b != '\r')
			f->cstate = FRAME_CHUNK_BAD;
		return;
	case FRAME_CHUNK_TRAILER:
		if (b == '\n' && f->cline == 0) {
			f->cstate = FRAME_CHUNK_DONE;
			f->chunked = 0;
		} else if (b == '\n')
			f->cline = 0;
		else if (b != '\r')
			f->cline++;
		return;
	default:
		return;
	}
}

/* See frame.h. */
size_t
frame_dechunk(struct frame *f, const char *buf, size_t len,
    const char **data, size_t *dlen)
{
	size_t	i, n;

	*data = NULL;
	*dlen = 0;
	for (i = 0; i < len; i++) {
		if (f->cstate == FRAME_CHUNK_DONE ||
		    f->cstate == FRAME_CHUNK_BAD)
			return i;
		if (f->cstate == FRAME_CHUNK_DATA) {
			n = f->csize < len - i ? (size_t)f->csize : len - i;
			*data = buf + i;
			*dlen = n;
			f->csize -= n;
			if (f->csize == 0)
				f->cstate = FRAME_CHUNK_DATA_END;
			return i + n;
		}
		dechunk_byte(f, buf[i]);
		/* A size line or a trailer line, not a body. */
		if (f->cline > FRAME_HEAD_MAX)
			f->cstate = FRAME_CHUNK_BAD;
	}
	return len;
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
