/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the resource and client name checks, and the mapping
 * of a resource name to its lock file name (containment, round trip,
 * injectivity).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockstore.h"
#include "dir/fname.h"
#include "name.h"

#define SUFFIX_LEN	(sizeof(NAME_SUFFIX) - 1)

/* Two names of up to one byte past the limit, and the separator. */
#define INPUT_MAX	(2 * (LOCKSTORE_NAME_MAX + 1) + 1)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void __attribute__((noreturn))
fail(const char *what, const char *name, const char *fname)
{
	fprintf(stderr, "fuzz_name: %s\n  resource (%zu bytes): '%.300s'\n"
	    "  file name: '%s'\n", what, strlen(name), name,
	    fname != NULL ? fname : "-");
	abort();
}

/* Bytes name_encode must never leave as they are. */
static int
must_escape(unsigned char c, size_t i)
{
	return c == '%' || c == '/' || c < 0x20 || c == 0x7f ||
	    (i == 0 && c == '.');
}

static int
unhex_upper(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The checks the store relies on, against their specification. */
static void
check_names(const char *s)
{
	static struct lockstore_error	 err;
	const unsigned char		*p;
	size_t				 len = strlen(s);
	int				 control = 0;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			control = 1;
	memset(&err, 0, sizeof(err));
	if ((name_check_resource(s, &err) == LOCKSTORE_OK) !=
	    (len > 0 && len <= LOCKSTORE_NAME_MAX))
		fail("name_check_resource disagrees with its specification",
		    s, NULL);
	if (len == 0 || len > LOCKSTORE_NAME_MAX)
		if (err.status != LOCKSTORE_BAD_RESOURCE || err.msg[0] == '\0')
			fail("refused resource without a message", s, NULL);
	memset(&err, 0, sizeof(err));
	if ((name_check_client(s, &err) == LOCKSTORE_OK) !=
	    (len > 0 && len <= LOCKSTORE_NAME_MAX && !control))
		fail("name_check_client disagrees with its specification", s,
		    NULL);
}

/*
 * Encodes the valid resource NAME into FNAME (a heap buffer of exactly
 * NAME_FILE_SIZE bytes, so that ASan sees any overflow) and checks that the
 * result is one safe file name that decodes back to NAME.
 */
static void
encode_checked(const char *name, char *fname)
{
	enum name_form	 form;
	const char	*p;
	char		*dec;
	size_t		 len = strlen(name), escaped = 0, flen, base, i, o;
	int		 hi, lo;

	form = name_encode(name, fname);
	flen = strnlen(fname, NAME_FILE_SIZE);
	if (flen == NAME_FILE_SIZE)
		fail("file name not terminated", name, NULL);
	if (flen > 255)
		fail("file name longer than 255 bytes", name, fname);
	if (flen <= SUFFIX_LEN ||
	    strcmp(fname + flen - SUFFIX_LEN, NAME_SUFFIX) != 0)
		fail("file name without " NAME_SUFFIX, name, fname);
	if (fname[0] == '.')
		fail("file name starts with '.'", name, fname);
	if (strchr(fname, '/') != NULL)
		fail("file name contains '/'", name, fname);
	for (p = fname; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			fail("file name contains a control byte", name, fname);
	base = flen - SUFFIX_LEN;
	for (i = 0; i < len; i++)
		escaped += must_escape((unsigned char)name[i], i);

	switch (form) {
	case NAME_PLAIN:
		if (escaped != 0)
			fail("plain file name for a name that needs escapes",
			    name, fname);
		if (base != len || memcmp(fname, name, len) != 0)
			fail("plain file name is not the name", name, fname);
		return;
	case NAME_ESCAPED:
		if (escaped == 0)
			fail("escaped name without a byte to escape", name,
			    fname);
		/* Decodes strictly: the inverse of the encoding. */
		if ((dec = malloc(base + 1)) == NULL)
			abort();
		for (i = 0, o = 0; i < base; i++) {
			if (fname[i] != '%') {
				if (must_escape((unsigned char)fname[i], o))
					fail("byte left unescaped", name,
					    fname);
				dec[o++] = fname[i];
				continue;
			}
			if (i + 2 >= base ||
			    (hi = unhex_upper(fname[i + 1])) < 0 ||
			    (lo = unhex_upper(fname[i + 2])) < 0)
				fail("malformed escape", name, fname);
			if (!must_escape((unsigned char)(hi << 4 | lo), o))
				fail("escape of a byte that needs none", name,
				    fname);
			dec[o++] = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o != len || memcmp(dec, name, len) != 0)
			fail("escaped file name does not decode to the name",
			    name, fname);
		free(dec);
		return;
	case NAME_HASHED:
		if (len + 2 * escaped + SUFFIX_LEN <= 255)
			fail("hashed although the escaped name fits", name,
			    fname);
		if (base != 2 + 64 || fname[0] != '%' || fname[1] != 'Z')
			fail("hashed file name is not %Z<64 hex>", name, fname);
		for (i = 2; i < base; i++)
			if (unhex_upper(fname[i]) < 0)
				fail("hashed file name is not %Z<64 hex>", name,
				    fname);
		return;
	}
	fail("unknown name form", name, fname);
}

/* Distinct valid names A and B must have distinct file names FA and FB. */
static void
compare(const char *a, const char *fa, const char *b, const char *fb)
{
	if (strcmp(a, b) != 0 && strcmp(fa, fb) == 0) {
		fprintf(stderr, "fuzz_name: second resource (%zu bytes): "
		    "'%.300s'\n", strlen(b), b);
		fail(fa[1] == 'Z' ? "two names share a file name (SHA-256 "
		    "collision or a hashing bug)" : "two names share a file "
		    "name", a, fa);
	}
}

/* A is valid and encoded into FA; B, if valid, is encoded into FB. */
static void
check_distinct(const char *a, const char *fa, const char *b, char *fb)
{
	static struct lockstore_error	err;

	if (strcmp(a, b) == 0 || name_check_resource(b, &err) != LOCKSTORE_OK)
		return;
	encode_checked(b, fb);
	compare(a, fa, b, fb);
}

/*
 * Encodes NAME into FNAME if it is valid, and compares it with names the
 * fuzzer did not write but that sit next to it.  Returns whether it was.
 */
static int
check_neighbours(const char *name, char *fname, char *scratch)
{
	size_t	len = strlen(name), flen;
	char	*n;

	if (len == 0 || len > LOCKSTORE_NAME_MAX)
		return 0;
	encode_checked(name, fname);
	if ((n = malloc(LOCKSTORE_NAME_MAX + 1)) == NULL)
		abort();
	/* The file name itself read as a resource name ("a%2Fb"). */
	flen = strlen(fname) - SUFFIX_LEN;
	memcpy(n, fname, flen);
	n[flen] = '\0';
	check_distinct(name, fname, n, scratch);
	/* The last byte changed: catches hashing that stops early. */
	memcpy(n, name, len + 1);
	n[len - 1] ^= 1;
	if (n[len - 1] == '\0')
		n[len - 1] = 2;
	check_distinct(name, fname, n, scratch);
	/* The last byte dropped: catches hashing that ignores the length. */
	n[len - 1] = '\0';
	check_distinct(name, fname, n, scratch);
	free(n);
	return 1;
}

/*
 * The input is two names separated by the first NUL byte; further NUL
 * bytes are skipped.  Without a NUL the second name is empty.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*a, *b, *fa, *fb, *scratch;
	size_t	 i, na = 0, nb = 0;
	int	 second = 0, valid_a, valid_b;

	if (size > INPUT_MAX)
		return 0;
	if ((a = malloc(size + 1)) == NULL || (b = malloc(size + 1)) == NULL)
		abort();
	for (i = 0; i < size; i++) {
		if (data[i] == '\0') {
			second = 1;
			continue;
		}
		if (second)
			b[nb++] = (char)data[i];
		else
			a[na++] = (char)data[i];
	}
	a[na] = '\0';
	b[nb] = '\0';
	/* Buffers of exactly NAME_FILE_SIZE, so that ASan sees overflows. */
	if ((fa = malloc(NAME_FILE_SIZE)) == NULL ||
	    (fb = malloc(NAME_FILE_SIZE)) == NULL ||
	    (scratch = malloc(NAME_FILE_SIZE)) == NULL)
		abort();

	check_names(a);
	check_names(b);
	valid_a = check_neighbours(a, fa, scratch);
	valid_b = check_neighbours(b, fb, scratch);
	if (valid_a && valid_b)
		compare(a, fa, b, fb);

	free(a);
	free(b);
	free(fa);
	free(fb);
	free(scratch);
	return 0;
}
