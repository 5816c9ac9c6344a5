/* SPDX-License-Identifier: MIT */
/* Unit tests of name.h: which names are accepted, and lock file names. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dir/fname.h"
#include "name.h"
#include "tu.h"

#define SUFFIX_LEN	(sizeof(NAME_SUFFIX) - 1)

/* One encoded name, for the injectivity check. */
struct encoded {
	char	 file[NAME_FILE_SIZE];
	char	*resource;
};

/*
 * Encodes RESOURCE into a heap buffer of exactly NAME_FILE_SIZE bytes, so
 * that AddressSanitizer catches a write past it, and copies it to OUT.
 */
static enum name_form
encode(const char *resource, char out[NAME_FILE_SIZE])
{
	enum name_form	 form;
	char		*buf;

	if ((buf = malloc(NAME_FILE_SIZE)) == NULL)
		abort();
	form = name_encode(resource, buf);
	memcpy(out, buf, NAME_FILE_SIZE);
	out[NAME_FILE_SIZE - 1] = '\0';
	free(buf);
	return form;
}

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
	    (c >= 'a' && c <= 'f');
}

static void
check_resource_ok(const char *resource)
{
	struct lockstore_error	err;

	TU_ASSERT_INT_EQ(name_check_resource(resource, &err), LOCKSTORE_OK);
}

static void
check_resource_bad(const char *resource)
{
	struct lockstore_error	err;

	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ(name_check_resource(resource, &err),
	    LOCKSTORE_BAD_RESOURCE);
	TU_ASSERT_INT_EQ(err.status, LOCKSTORE_BAD_RESOURCE);
	CU_ASSERT(starts_with(err.msg, "Invalid resource name: "));
	CU_ASSERT(strlen(err.msg) > strlen("Invalid resource name: "));
}

static void
check_client_ok(const char *client)
{
	struct lockstore_error	err;

	TU_ASSERT_INT_EQ(name_check_client(client, &err), LOCKSTORE_OK);
}

static void
check_client_bad(const char *client)
{
	struct lockstore_error	err;

	memset(&err, 0, sizeof(err));
	TU_ASSERT_INT_EQ(name_check_client(client, &err),
	    LOCKSTORE_BAD_CLIENT);
	TU_ASSERT_INT_EQ(err.status, LOCKSTORE_BAD_CLIENT);
	CU_ASSERT(starts_with(err.msg, "Invalid client name: "));
	CU_ASSERT(strlen(err.msg) > strlen("Invalid client name: "));
}

static void
check_resource_accepts_any_nonempty_name_up_to_4096_bytes(void)
{
	static const char	*names[] = { "a", "vm1", "/", ".", "..",
	    "../../etc/passwd", "a\nb", "\x01", "\x7f", "%", "%2F",
	    "vm-\xc3\xa9", " ", "'", NULL };
	char			*s;
	size_t			 i;

	for (i = 0; names[i] != NULL; i++)
		check_resource_ok(names[i]);
	s = tu_repeat('x', LOCKSTORE_NAME_MAX);
	check_resource_ok(s);
	free(s);
	s = tu_repeat('\n', LOCKSTORE_NAME_MAX);
	check_resource_ok(s);
	free(s);
}

static void
check_resource_rejects_empty_name(void)
{
	check_resource_bad("");
}

static void
check_resource_rejects_4097_bytes(void)
{
	char	*s;

	s = tu_repeat('x', LOCKSTORE_NAME_MAX + 1);
	check_resource_bad(s);
	free(s);
	s = tu_repeat('x', 3 * LOCKSTORE_NAME_MAX);
	check_resource_bad(s);
	free(s);
}

static void
check_client_accepts_printable_and_utf8_names(void)
{
	static const char	*names[] = { "host7", "host 7", "vm-\xc3\xa9",
	    "\xe6\x97\xa5\xe6\x9c\xac", "'quoted'", "%", "/", "a:b@c", "~",
	    NULL };
	char			*s;
	size_t			 i;

	for (i = 0; names[i] != NULL; i++)
		check_client_ok(names[i]);
	s = tu_repeat('c', LOCKSTORE_NAME_MAX);
	check_client_ok(s);
	free(s);
}

static void
check_client_rejects_empty_name(void)
{
	check_client_bad("");
}

static void
check_client_rejects_4097_bytes(void)
{
	char	*s;

	s = tu_repeat('c', LOCKSTORE_NAME_MAX + 1);
	check_client_bad(s);
	free(s);
}

static void
check_client_rejects_control_bytes(void)
{
	static const char	*names[] = { "\n", "host7\n", "a\nb", "a\tb",
	    "a\rb", "\x7f", "host\x7f", "\x01", "a\x1f", "\x1b[31m", NULL };
	char			 one[4];
	int			 c;
	size_t			 i;

	for (i = 0; names[i] != NULL; i++)
		check_client_bad(names[i]);
	for (c = 1; c < 0x20; c++) {
		snprintf(one, sizeof(one), "h%c", c);
		check_client_bad(one);
	}
}

static void
encode_plain_name_is_the_legacy_file_name(void)
{
	static const char	*names[] = { "vm1", "A", "a b", "a..b", "a.",
	    "x.resource.lock", "host:disk", "-", "~x", "it's", "a\\b",
	    "vm-\xc3\xa9", "\xe3\x83\x87\xe3\x83\xbc\xe3\x82\xbf", NULL };
	char			 file[NAME_FILE_SIZE], want[NAME_FILE_SIZE];
	char			*s;
	size_t			 i;

	for (i = 0; names[i] != NULL; i++) {
		TU_ASSERT_INT_EQ(encode(names[i], file), NAME_PLAIN);
		snprintf(want, sizeof(want), "%s%s", names[i], NAME_SUFFIX);
		TU_ASSERT_STR_EQ(file, want);
	}
	/* The longest name that still fits NAME_MAX with the suffix. */
	s = tu_repeat('a', NAME_FILE_SIZE - 1 - SUFFIX_LEN);
	TU_ASSERT_INT_EQ(encode(s, file), NAME_PLAIN);
	snprintf(want, sizeof(want), "%s%s", s, NAME_SUFFIX);
	TU_ASSERT_STR_EQ(file, want);
	free(s);
}

/*
 * The escaped forms are part of the on-disk layout: a later lockd must
 * find the files an earlier one wrote, so they are pinned byte for byte.
 */
static void
encode_escapes_slash_percent_leading_dot_and_controls(void)
{
	static const struct {
		const char	*resource;
		const char	*file;
	} cases[] = {
		{ "a/b", "a%2Fb" },
		{ "/", "%2F" },
		{ "/etc/passwd", "%2Fetc%2Fpasswd" },
		{ "50%", "50%25" },
		{ "%", "%25" },
		{ "%2F", "%252F" },
		{ ".hidden", "%2Ehidden" },
		{ ".", "%2E" },
		{ "..", "%2E." },
		{ "...", "%2E.." },
		{ "../x", "%2E.%2Fx" },
		{ "a/../../b", "a%2F..%2F..%2Fb" },
		{ "a\nb", "a%0Ab" },
		{ "\t", "%09" },
		{ "\x01", "%01" },
		{ "\x1f", "%1F" },
		{ "\x7f", "%7F" },
		{ "vm-\xc3\xa9/0", "vm-\xc3\xa9%2F0" },
		{ NULL, NULL }
	};
	char	file[NAME_FILE_SIZE], want[NAME_FILE_SIZE];
	size_t	i;

	for (i = 0; cases[i].resource != NULL; i++) {
		TU_ASSERT_INT_EQ(encode(cases[i].resource, file), NAME_ESCAPED);
		snprintf(want, sizeof(want), "%s%s", cases[i].file,
		    NAME_SUFFIX);
		TU_ASSERT_STR_EQ(file, want);
	}
}

/* Builds the set of names the encoding properties are checked over. */
static char **
generated_names(size_t *np)
{
	static const char	 alpha[] = {
	    'a', '/', '%', '.', '2', 'F', '\n' };
	static const char	*tricky[] = { "%2F", "%252F", "%2E", "%%", "%Z",
	    "%Z00", "a%2Fb", "a/b", "...", "x.resource.lock",
	    "x.resource.lock.resource.lock", "%2Fetc", "/etc", "%7F", "\x7f",
	    "%0A", "%0a", "%2e", "%2f", ".resource.lock", "%2E.", "%2E..",
	    "%Z8FDED59C427B2E6809C810915AACA9635732A1DECC4BA2AC8E0A1D90FC109"
	    "2C9", "vm-\xc3\xa9", NULL };
	static const size_t	 lens[] = { 200, 237, 238, 239, 240, 241, 242,
	    243, 250, 254, 255, 256, 300, 1000, 4094, 4095, 4096 };
	const size_t		 na = sizeof(alpha);
	char			**v, *s;
	size_t			 n = 0, cap = 2048, len, i, k, x, total;

	if ((v = calloc(cap, sizeof(*v))) == NULL)
		abort();
	for (len = 1; len <= 3; len++) {
		for (total = 1, i = 0; i < len; i++)
			total *= na;
		for (k = 0; k < total; k++) {
			s = tu_repeat('?', len);
			for (i = 0, x = k; i < len; i++, x /= na)
				s[i] = alpha[x % na];
			v[n++] = s;
		}
	}
	for (i = 0; tricky[i] != NULL; i++)
		v[n++] = strdup(tricky[i]);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		v[n++] = tu_repeat('a', len);
		s = tu_repeat('a', len);
		s[len - 1] = 'b';
		v[n++] = s;
		s = tu_repeat('a', len);
		s[0] = 'b';
		v[n++] = s;
		v[n++] = tu_repeat('/', len);
		v[n++] = tu_repeat('%', len);
		v[n++] = tu_repeat('\n', len);
		s = tu_repeat('a', len);
		s[0] = '.';
		v[n++] = s;
		s = tu_repeat('a', len);
		s[len / 2] = '/';
		v[n++] = s;
	}
	for (i = 0; i < n; i++)
		if (v[i] == NULL)
			abort();
	*np = n;
	return v;
}

static void
free_names(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
encode_output_is_a_safe_file_name_for_every_name(void)
{
	char			 file[NAME_FILE_SIZE];
	char			**v;
	const unsigned char	*p;
	size_t			 n, i, len, bad = 0;

	v = generated_names(&n);
	for (i = 0; i < n; i++) {
		encode(v[i], file);
		len = strnlen(file, NAME_FILE_SIZE);
		if (len > NAME_FILE_SIZE - 1 || len <= SUFFIX_LEN ||
		    strchr(file, '/') != NULL || file[0] == '.' ||
		    strcmp(file, ".") == 0 || strcmp(file, "..") == 0 ||
		    strcmp(file + len - SUFFIX_LEN, NAME_SUFFIX) != 0)
			bad++;
		for (p = (const unsigned char *)file; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				bad++;
		if (bad > 0) {
			TU_ASSERT_STR_EQ(file, "a safe file name");
			break;
		}
	}
	TU_ASSERT_INT_EQ(bad, 0);
	TU_ASSERT_INT_EQ(n, 7 + 49 + 343 + 24 + 17 * 8);
	free_names(v, n);
}

static int
cmp_encoded(const void *a, const void *b)
{
	const struct encoded	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->file, y->file)) != 0)
		return c;
	return strcmp(x->resource, y->resource);
}

static void
encode_is_injective_over_generated_names(void)
{
	struct encoded	*e;
	char		**v;
	size_t		 n, i, collisions = 0;

	v = generated_names(&n);
	if ((e = calloc(n, sizeof(*e))) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		encode(v[i], e[i].file);
		e[i].resource = v[i];
	}
	qsort(e, n, sizeof(*e), cmp_encoded);
	for (i = 1; i < n; i++) {
		if (strcmp(e[i - 1].file, e[i].file) != 0 ||
		    strcmp(e[i - 1].resource, e[i].resource) == 0)
			continue;
		if (collisions++ == 0) {
			/* Show the first pair. */
			TU_ASSERT_STR_EQ(e[i - 1].resource, e[i].resource);
			TU_ASSERT_STR_EQ(e[i].file, "a file name of its own");
		}
	}
	TU_ASSERT_INT_EQ(collisions, 0);
	free(e);
	free_names(v, n);
}

/* Checks that FILE is "%Z" + WANT_HEX (any case) + the suffix. */
static void
check_hashed(const char *file, const char *want_hex)
{
	size_t	i;

	TU_ASSERT_INT_EQ(strlen(file), 2 + 64 + SUFFIX_LEN);
	CU_ASSERT(starts_with(file, "%Z"));
	for (i = 2; i < 2 + 64 && file[i] != '\0'; i++)
		CU_ASSERT(is_hex(file[i]));
	CU_ASSERT(strcmp(file + 2 + 64, NAME_SUFFIX) == 0);
	if (want_hex != NULL)
		CU_ASSERT(strncasecmp(file + 2, want_hex, 64) == 0);
}

static void
encode_uses_sha256_when_escaped_form_is_too_long(void)
{
	char	file[NAME_FILE_SIZE];
	char	*s;

	/* One byte more than the longest plain name. */
	s = tu_repeat('a', NAME_FILE_SIZE - SUFFIX_LEN);
	TU_ASSERT_INT_EQ(encode(s, file), NAME_HASHED);
	check_hashed(file, "8FDED59C427B2E6809C810915AACA963"
	    "5732A1DECC4BA2AC8E0A1D90FC1092C9");
	free(s);
	s = tu_repeat('/', 100);
	TU_ASSERT_INT_EQ(encode(s, file), NAME_HASHED);
	check_hashed(file, "4AAECDD8A94CB7ABB5C9283A5825C5D2"
	    "817A1E4A4A78E542600CA7D6A5014F25");
	free(s);
	s = tu_repeat('x', LOCKSTORE_NAME_MAX);
	TU_ASSERT_INT_EQ(encode(s, file), NAME_HASHED);
	check_hashed(file, "A2E659DACB4691E887AC0139F8893D04"
	    "764EE197D70FB73D3190D56113D18E3E");
	free(s);
}

static void
encode_escapes_rather_than_hashes_while_the_name_fits(void)
{
	char	file[NAME_FILE_SIZE];
	char	*s;

	/* "%2F" + 238 bytes + suffix is exactly 255 bytes. */
	s = tu_repeat('a', 1 + NAME_FILE_SIZE - 1 - SUFFIX_LEN - 3);
	s[0] = '/';
	TU_ASSERT_INT_EQ(encode(s, file), NAME_ESCAPED);
	TU_ASSERT_INT_EQ(strlen(file), NAME_FILE_SIZE - 1);
	CU_ASSERT(starts_with(file, "%2Faaa"));
	free(s);
	/* One more byte does not fit. */
	s = tu_repeat('a', 1 + NAME_FILE_SIZE - SUFFIX_LEN - 3);
	s[0] = '/';
	TU_ASSERT_INT_EQ(encode(s, file), NAME_HASHED);
	check_hashed(file, NULL);
	free(s);
}

static void
encode_hashed_form_is_stable(void)
{
	char	a[NAME_FILE_SIZE], b[NAME_FILE_SIZE], c[NAME_FILE_SIZE];
	char	*s, *t;

	s = tu_repeat('q', 3000);
	t = strdup(s);
	CU_ASSERT_FATAL(t != NULL);
	TU_ASSERT_INT_EQ(encode(s, a), NAME_HASHED);
	TU_ASSERT_INT_EQ(encode(s, b), NAME_HASHED);
	TU_ASSERT_INT_EQ(encode(t, c), NAME_HASHED);
	TU_ASSERT_STR_EQ(a, b);
	TU_ASSERT_STR_EQ(a, c);
	/* One byte changed, another name. */
	t[2999] = 'r';
	encode(t, c);
	CU_ASSERT(strcmp(a, c) != 0);
	free(s);
	free(t);
}

static void
encode_keeps_utf8_bytes_readable(void)
{
	char	file[NAME_FILE_SIZE];

	TU_ASSERT_INT_EQ(encode("vm-\xc3\xa9", file), NAME_PLAIN);
	TU_ASSERT_STR_EQ(file, "vm-\xc3\xa9" NAME_SUFFIX);
	TU_ASSERT_INT_EQ(encode("\xc3\xbc/\xc3\xa9", file), NAME_ESCAPED);
	TU_ASSERT_STR_EQ(file, "\xc3\xbc%2F\xc3\xa9" NAME_SUFFIX);
}

static const struct tu_test tests[] = {
	{ "check_resource_accepts_any_nonempty_name_up_to_4096_bytes",
	    check_resource_accepts_any_nonempty_name_up_to_4096_bytes },
	{ "check_resource_rejects_empty_name",
	    check_resource_rejects_empty_name },
	{ "check_resource_rejects_4097_bytes",
	    check_resource_rejects_4097_bytes },
	{ "check_client_accepts_printable_and_utf8_names",
	    check_client_accepts_printable_and_utf8_names },
	{ "check_client_rejects_empty_name", check_client_rejects_empty_name },
	{ "check_client_rejects_4097_bytes", check_client_rejects_4097_bytes },
	{ "check_client_rejects_control_bytes",
	    check_client_rejects_control_bytes },
	{ "encode_plain_name_is_the_legacy_file_name",
	    encode_plain_name_is_the_legacy_file_name },
	{ "encode_escapes_slash_percent_leading_dot_and_controls",
	    encode_escapes_slash_percent_leading_dot_and_controls },
	{ "encode_output_is_a_safe_file_name_for_every_name",
	    encode_output_is_a_safe_file_name_for_every_name },
	{ "encode_is_injective_over_generated_names",
	    encode_is_injective_over_generated_names },
	{ "encode_uses_sha256_when_escaped_form_is_too_long",
	    encode_uses_sha256_when_escaped_form_is_too_long },
	{ "encode_escapes_rather_than_hashes_while_the_name_fits",
	    encode_escapes_rather_than_hashes_while_the_name_fits },
	{ "encode_hashed_form_is_stable", encode_hashed_form_is_stable },
	{ "encode_keeps_utf8_bytes_readable",
	    encode_keeps_utf8_bytes_readable },
	{ NULL, NULL }
};

int
main(void)
{
	return tu_run("name", tests);
}
