/* SPDX-License-Identifier: MIT */
/*
 * Hex and percent codecs shared by the lock-file, history, file-name and
 * cursor formats (see codec.h); every format stays byte for byte its own.
 */
#include "config.h"

#include "codec.h"

static const char upper[] = "0123456789ABCDEF";
static const char lower[] = "0123456789abcdef";

/* The value of hex digit C of a case in FLAGS, or -1. */
static int
hexval(int c, int flags)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((flags & CODEC_UPPER) && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if ((flags & CODEC_LOWER) && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The hex of N bytes. */
char *
codec_hex(char *out, const void *in, size_t n, int flags)
{
	const unsigned char	*p = in;
	const char		*digits = (flags & CODEC_UPPER) ? upper : lower;
	size_t			 i;

	for (i = 0; i < n; i++) {
		*out++ = digits[p[i] >> 4];
		*out++ = digits[p[i] & 0xf];
	}
	return out;
}

/* N bytes from their hex. */
int
codec_unhex(void *out, const char *s, size_t n, int flags)
{
	unsigned char	*p = out;
	size_t		 i;
	int		 hi, lo;

	for (i = 0; i < n; i++) {
		if ((hi = hexval(s[2 * i], flags)) < 0 ||
		    (lo = hexval(s[2 * i + 1], flags)) < 0 ||
		    ((flags & CODEC_NO_NUL) && hi == 0 && lo == 0))
			return -1;
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* S percent-encoded where ESC says so. */
char *
codec_percent(char *out, const char *s, size_t n,
    int (*esc)(unsigned char c, size_t i))
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (esc(p[i], i)) {
			*out++ = '%';
			out = codec_hex(out, p + i, 1, CODEC_UPPER);
		} else
			*out++ = (char)p[i];
	}
	return out;
}

/* Bytes from their percent-encoding. */
int
codec_unpercent(char *out, size_t size, const char *s, size_t len,
    int flags, int (*esc)(unsigned char c, size_t i))
{
	unsigned char	c;
	size_t		i, o = 0;

	for (i = 0; i < len; i++) {
		if (o + 1 >= size)
			return -1;
		c = (unsigned char)s[i];
		if (c == '%') {
			if (len - i < 3 ||
			    codec_unhex(&c, s + i + 1, 1, flags) == -1 ||
			    (esc != NULL && !esc(c, o)))
				return -1;
			i += 2;
		} else if (esc != NULL && esc(c, o))
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* FNV-1a, 64 bits; see codec.h. */
uint64_t
codec_fnv1a(const void *buf, size_t len)
{
	return codec_fnv1a_more(0xcbf29ce484222325ULL, buf, len);
}

/* FNV-1a of more bytes after those that gave H; see codec.h. */
uint64_t
codec_fnv1a_more(uint64_t h, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
