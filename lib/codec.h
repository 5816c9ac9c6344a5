/* SPDX-License-Identifier: MIT */
/*
 * Hex and percent codecs of the on-disk and cursor formats (one place for
 * the digits, while each format keeps its own rule of what is escaped),
 * and the one hash: FNV-1a.
 */
#ifndef CODEC_H
#define CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Flags: which hex digits to write or accept, and whether a decoded byte
 * may be 0. */
#define CODEC_UPPER	0x1	/* 'A'-'F' */
#define CODEC_LOWER	0x2	/* 'a'-'f' */
#define CODEC_NO_NUL	0x4	/* decoding "00" fails */

/* Writes the 2N hex digits (upper case with CODEC_UPPER, else lower) of
 * the N bytes at IN to OUT, without a NUL; returns the end. */
char	*codec_hex(char *out, const void *in, size_t n, int flags);

/* Decodes the 2N hex digits at S into the N bytes at OUT; -1 if one is
 * not a digit FLAGS accepts or, with CODEC_NO_NUL, a byte is 0. */
int	codec_unhex(void *out, const char *s, size_t n, int flags);

/* Copies the N bytes at S to OUT, writing each byte for which ESC(byte,
 * offset) holds as '%' and two upper-case hex digits; returns the end (OUT
 * has room for 3N bytes; no NUL is written). */
char	*codec_percent(char *out, const char *s, size_t n,
	    int (*esc)(unsigned char c, size_t i));

/* Decodes the percent-encoding S of LEN bytes into OUT of SIZE bytes, NUL
 * added: '%' and two hex digits FLAGS accepts stand for a byte.  With ESC
 * (as for codec_percent()) only the canonical encoding is accepted: a byte
 * is escaped exactly when ESC holds for it.  Returns 0, or -1 if S is not
 * such an encoding or does not fit. */
int	codec_unpercent(char *out, size_t size, const char *s, size_t len,
	    int flags, int (*esc)(unsigned char c, size_t i));

/* FNV-1a, 64 bits, of the LEN bytes at BUF: the check line of a lock
 * file (on disk: never change it) and the wait queue's buckets. */
uint64_t	codec_fnv1a(const void *buf, size_t len);

/* FNV-1a continued: H after the LEN bytes at BUF (H from a call before:
 * the hash of the bytes so far; a journal record's sum). */
uint64_t	codec_fnv1a_more(uint64_t h, const void *buf, size_t len);

#endif /* CODEC_H */
