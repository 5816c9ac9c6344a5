/* SPDX-License-Identifier: MIT */
/* Unit tests of lockfile.h: the content of a lock file, new and legacy. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir/lockfile.h"
#include "tu.h"

/*
 * Parses LEN bytes of S from a heap copy of exactly LEN bytes, without a
 * NUL after them, so that AddressSanitizer catches a read past the end.
 */
static int
parse(const char *s, size_t len, struct lockfile *lf)
{
	char	*copy;
	int	 rc;

	if ((copy = malloc(len == 0 ? 1 : len)) == NULL)
		abort();
	memcpy(copy, s, len);
	rc = lockfile_parse(copy, len, lf);
	free(copy);
	return rc;
}

static int
parse_str(const char *s, struct lockfile *lf)
{
	return parse(s, strlen(s), lf);
}

/* Formats, checks the result is a string of the returned length, parses. */
static void
round_trip(const char *resource, const char *client, long long since)
{
	struct lockfile	*lf;
	char		*buf;
	int		 len;

	if ((buf = malloc(LOCKFILE_MAX)) == NULL ||
	    (lf = malloc(sizeof(*lf))) == NULL)
		abort();
	len = lockfile_format(buf, LOCKFILE_MAX, resource, client, since);
	CU_ASSERT_FATAL(len > 0);
	TU_ASSERT_INT_EQ(strlen(buf), len);
	/* Line one is the client, as gocept.lockd wrote it. */
	CU_ASSERT(strncmp(buf, client, strlen(client)) == 0 &&
	    buf[strlen(client)] == '\n');
	TU_ASSERT_INT_EQ(parse(buf, (size_t)len, lf), 0);
	TU_ASSERT_STR_EQ(lf->holder, client);
	TU_ASSERT_INT_EQ(lf->has_resource, 1);
	TU_ASSERT_STR_EQ(lf->resource, resource);
	TU_ASSERT_INT_EQ(lf->since, since);
	free(lf);
	free(buf);
}

/* Splits BUF into at most MAX lines (dropping one final empty line). */
static size_t
split_lines(char *buf, char **lines, size_t max)
{
	size_t	n = 0;
	char	*p = buf, *nl;

	while (*p != '\0' && n < max) {
		lines[n++] = p;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return n;
}

static void
format_writes_holder_resource_and_since_lines(void)
{
	char	buf[LOCKFILE_MAX], *lines[8];
	int	len;

	len = lockfile_format(buf, sizeof(buf), "vm1", "host7", 1700000000LL);
	TU_ASSERT_INT_EQ_FATAL(len, strlen(buf));
	CU_ASSERT(buf[len - 1] == '\n');
	TU_ASSERT_INT_EQ_FATAL(split_lines(buf, lines, 8), 3);
	TU_ASSERT_STR_EQ(lines[0], "host7");
	TU_ASSERT_STR_EQ(lines[1], "resource vm1");
	TU_ASSERT_STR_EQ(lines[2], "since 1700000000");
}

static void
format_percent_encodes_newlines_and_percent_in_resource(void)
{
	char	buf[LOCKFILE_MAX], *lines[8];
	int	len;

	len = lockfile_format(buf, sizeof(buf), "a\nb%c\r", "h", 5);
	TU_ASSERT_INT_EQ_FATAL(len, strlen(buf));
	/* A resource never adds a line. */
	TU_ASSERT_INT_EQ_FATAL(split_lines(buf, lines, 8), 3);
	TU_ASSERT_STR_EQ(lines[0], "h");
	CU_ASSERT(strncmp(lines[1], "resource ", 9) == 0);
	CU_ASSERT(strchr(lines[1], '\r') == NULL);
	CU_ASSERT(strstr(lines[1], "%0A") != NULL ||
	    strstr(lines[1], "%0a") != NULL);
	CU_ASSERT(strstr(lines[1], "%25") != NULL);
	TU_ASSERT_STR_EQ(lines[2], "since 5");
}

static void
format_and_parse_round_trip(void)
{
	static const char	*resources[] = { "vm1", "a/b", "../x",
	    ".hidden", "a\nb", "\nresource evil\nsince 1\n", "50%", "%",
	    "%41", "%%2F", "a%", "\x01\x1f\x7f", "tab\there", "cr\r",
	    "vm-\xc3\xa9", "resource x", " ", NULL };
	size_t			 i;

	for (i = 0; resources[i] != NULL; i++) {
		round_trip(resources[i], "host7", 1700000000LL);
		round_trip(resources[i], "vm-\xc3\xa9 host", 0);
	}
	round_trip("r", "%41", 1);
	round_trip("r", "h%", 1);
	round_trip("r", "resource x", 1);
	round_trip("r", "h", 253402300799LL);
}

static void
format_and_parse_round_trip_4096_byte_names(void)
{
	char	*r, *c;

	r = tu_repeat('r', LOCKSTORE_NAME_MAX);
	c = tu_repeat('c', LOCKSTORE_NAME_MAX);
	round_trip(r, c, 1700000000LL);
	free(r);
	/* The worst case: every byte of the resource escaped. */
	r = tu_repeat('\n', LOCKSTORE_NAME_MAX);
	round_trip(r, c, 1700000000LL);
	free(r);
	r = tu_repeat('%', LOCKSTORE_NAME_MAX);
	round_trip(r, c, 1700000000LL);
	free(r);
	free(c);
}

static void
format_returns_minus_one_when_buffer_too_small(void)
{
	char	full[LOCKFILE_MAX], *buf;
	size_t	size;
	int	len, rc;

	len = lockfile_format(full, sizeof(full), "a\nresource", "host7",
	    1700000000LL);
	CU_ASSERT_FATAL(len > 0);
	/* Exact-size heap buffers: a write past SIZE is caught by ASan. */
	for (size = 1; size <= (size_t)len + 1; size++) {
		if ((buf = malloc(size)) == NULL)
			abort();
		rc = lockfile_format(buf, size, "a\nresource", "host7",
		    1700000000LL);
		if (size <= (size_t)len)
			TU_ASSERT_INT_EQ(rc, -1);
		else {
			TU_ASSERT_INT_EQ(rc, len);
			TU_ASSERT_STR_EQ(buf, full);
		}
		free(buf);
	}
	TU_ASSERT_INT_EQ(lockfile_format(full, 0, "r", "c", 1), -1);
}

static void
format_returns_minus_one_for_worst_case_in_small_buffer(void)
{
	char	*r, *c, *buf;

	r = tu_repeat('\n', LOCKSTORE_NAME_MAX);
	c = tu_repeat('c', LOCKSTORE_NAME_MAX);
	if ((buf = malloc(3 * LOCKSTORE_NAME_MAX)) == NULL)
		abort();
	TU_ASSERT_INT_EQ(lockfile_format(buf, 3 * LOCKSTORE_NAME_MAX, r, c, 1),
	    -1);
	free(buf);
	free(c);
	free(r);
}

static void
check_legacy(const char *content, size_t len, const char *holder)
{
	struct lockfile	lf;

	memset(&lf, 0x55, sizeof(lf));
	TU_ASSERT_INT_EQ(parse(content, len, &lf), 0);
	TU_ASSERT_STR_EQ(lf.holder, holder);
	TU_ASSERT_INT_EQ(lf.has_resource, 0);
	TU_ASSERT_INT_EQ(lf.since, 0);
}

static void
parse_legacy_holder_without_newline(void)
{
	check_legacy("host7", 5, "host7");
}

static void
parse_legacy_holder_with_newline(void)
{
	check_legacy("host7\n", 6, "host7");
}

static void
parse_legacy_empty_file_is_empty_holder(void)
{
	check_legacy("", 0, "");
}

static void
parse_legacy_holder_of_4096_bytes(void)
{
	char	*s;

	s = tu_repeat('h', LOCKSTORE_NAME_MAX);
	check_legacy(s, LOCKSTORE_NAME_MAX, s);
	free(s);
}

static void
parse_reads_only_len_bytes(void)
{
	struct lockfile	lf;

	/* The bytes after LEN are not part of the file. */
	TU_ASSERT_INT_EQ(lockfile_parse("host7\nresource x\n", 5, &lf), 0);
	TU_ASSERT_STR_EQ(lf.holder, "host7");
	TU_ASSERT_INT_EQ(lf.has_resource, 0);
}

static void
parse_ignores_unknown_keys(void)
{
	struct lockfile	lf;

	TU_ASSERT_INT_EQ(parse_str("host7\nresource vm1\nsince 12\n"
	    "fencing 42\nfuture 30\n", &lf), 0);
	TU_ASSERT_STR_EQ(lf.holder, "host7");
	TU_ASSERT_INT_EQ(lf.has_resource, 1);
	TU_ASSERT_STR_EQ(lf.resource, "vm1");
	TU_ASSERT_INT_EQ(lf.since, 12);
}

static void
parse_rejects_holder_longer_than_4096_bytes(void)
{
	struct lockfile	 lf;
	char		*s;
	size_t		 n = LOCKSTORE_NAME_MAX + 1;

	s = tu_repeat('h', n + 32);
	TU_ASSERT_INT_EQ(parse(s, n, &lf), -1);
	memcpy(s + n, "\nresource r\nsince 1\n", 20);
	TU_ASSERT_INT_EQ(parse(s, n + 20, &lf), -1);
	free(s);
}

static void
parse_rejects_resource_longer_than_4096_bytes(void)
{
	struct lockfile	 lf;
	char		*s;
	size_t		 n;

	n = strlen("h\nresource ");
	s = tu_repeat('r', n + LOCKSTORE_NAME_MAX + 1 + 1);
	memcpy(s, "h\nresource ", n);
	s[n + LOCKSTORE_NAME_MAX + 1] = '\n';
	TU_ASSERT_INT_EQ(parse(s, strlen(s), &lf), -1);
	/* Exactly 4096 bytes is fine. */
	s[n + LOCKSTORE_NAME_MAX] = '\n';
	s[n + LOCKSTORE_NAME_MAX + 1] = '\0';
	TU_ASSERT_INT_EQ(parse(s, strlen(s), &lf), 0);
	TU_ASSERT_INT_EQ(strlen(lf.resource), LOCKSTORE_NAME_MAX);
	free(s);
}

static void
parse_rejects_bad_percent_escapes(void)
{
	static const char	*bad[] = { "%", "%4", "a%4", "%zz", "%4g",
	    "%g4", "a%", "%%", "% 1", "%00", "a%00b", NULL };
	struct lockfile		 lf;
	char			 buf[64];
	size_t			 i;

	for (i = 0; bad[i] != NULL; i++) {
		snprintf(buf, sizeof(buf), "h\nresource %s\nsince 1\n",
		    bad[i]);
		TU_ASSERT_INT_EQ(parse_str(buf, &lf), -1);
		/* Also as the last bytes of the file. */
		snprintf(buf, sizeof(buf), "h\nresource %s", bad[i]);
		TU_ASSERT_INT_EQ(parse_str(buf, &lf), -1);
	}
}

static void
parse_rejects_empty_holder_in_lockd_format(void)
{
	struct lockfile	lf;

	/* lockfile.h: an empty first line before lockd's lines is garbage. */
	TU_ASSERT_INT_EQ(parse_str("\nresource vm1\nsince 1\n", &lf), -1);
}

/*
 * lockfile_render() ends with a "check" line over the bytes before it; a
 * file whose bytes change (a torn read of a rewritten inode), or that has
 * anything after that line, does not parse.
 */
static void
render_adds_a_check_line_that_parse_verifies(void)
{
	struct lockfile	*lf, *got;
	char		*buf, *mix;
	int		 len, i;

	if ((buf = malloc(LOCKFILE_MAX)) == NULL ||
	    (mix = malloc(LOCKFILE_MAX)) == NULL ||
	    (lf = calloc(1, sizeof(*lf))) == NULL ||
	    (got = malloc(sizeof(*got))) == NULL)
		abort();
	snprintf(lf->holder, sizeof(lf->holder), "host-a");
	snprintf(lf->resource, sizeof(lf->resource), "vm1");
	lf->has_resource = 1;
	lf->since = 1700000000;
	lf->token = 41;
	len = lockfile_render(buf, LOCKFILE_MAX, lf);
	CU_ASSERT_FATAL(len > 0);
	TU_ASSERT_INT_EQ(strlen(buf), len);
	CU_ASSERT(strncmp(buf + len - 23, "check ", 6) == 0);
	TU_ASSERT_INT_EQ(parse(buf, (size_t)len, got), 0);
	TU_ASSERT_STR_EQ(got->holder, "host-a");
	TU_ASSERT_INT_EQ(got->token, 41);
	/* Any byte changed before the check line: refused. */
	for (i = 0; i < len - 23; i++) {
		memcpy(mix, buf, (size_t)len);
		mix[i] = mix[i] == 'x' ? 'y' : 'x';
		if (parse(mix, (size_t)len, got) != -1) {
			fprintf(stderr, "byte %d changed, still parsed\n", i);
			CU_FAIL("a changed byte passed the check");
			break;
		}
	}
	/* The same holding of another holder, torn half and half. */
	snprintf(lf->holder, sizeof(lf->holder), "host-b");
	lf->token = 42;
	len = lockfile_render(mix, LOCKFILE_MAX, lf);
	memcpy(mix, buf, 10);
	TU_ASSERT_INT_EQ(parse(mix, (size_t)len, got), -1);
	/* Left over bytes of a longer old content after the check line. */
	len = lockfile_render(buf, LOCKFILE_MAX, lf);
	memcpy(buf + len, "token 9\n", 8);
	TU_ASSERT_INT_EQ(parse(buf, (size_t)len + 8, got), -1);
	TU_ASSERT_INT_EQ(parse(buf, (size_t)len, got), 0);
	/* A malformed check line. */
	TU_ASSERT_INT_EQ(parse_str("h\nresource r\ncheck 12\n", got), -1);
	TU_ASSERT_INT_EQ(parse_str("h\nresource r\ncheck "
	    "zzzzzzzzzzzzzzzz\n", got), -1);
	/* Files without one (gocept.lockd's, earlier builds') still parse. */
	TU_ASSERT_INT_EQ(parse_str("h\nresource r\nsince 5\n", got), 0);
	free(got);
	free(lf);
	free(mix);
	free(buf);
}

static const struct tu_test tests[] = {
	{ "format_writes_holder_resource_and_since_lines",
	    format_writes_holder_resource_and_since_lines },
	{ "format_percent_encodes_newlines_and_percent_in_resource",
	    format_percent_encodes_newlines_and_percent_in_resource },
	{ "format_and_parse_round_trip", format_and_parse_round_trip },
	{ "format_and_parse_round_trip_4096_byte_names",
	    format_and_parse_round_trip_4096_byte_names },
	{ "format_returns_minus_one_when_buffer_too_small",
	    format_returns_minus_one_when_buffer_too_small },
	{ "format_returns_minus_one_for_worst_case_in_small_buffer",
	    format_returns_minus_one_for_worst_case_in_small_buffer },
	{ "parse_legacy_holder_without_newline",
	    parse_legacy_holder_without_newline },
	{ "parse_legacy_holder_with_newline",
	    parse_legacy_holder_with_newline },
	{ "parse_legacy_empty_file_is_empty_holder",
	    parse_legacy_empty_file_is_empty_holder },
	{ "parse_legacy_holder_of_4096_bytes",
	    parse_legacy_holder_of_4096_bytes },
	{ "parse_reads_only_len_bytes", parse_reads_only_len_bytes },
	{ "parse_ignores_unknown_keys", parse_ignores_unknown_keys },
	{ "parse_rejects_holder_longer_than_4096_bytes",
	    parse_rejects_holder_longer_than_4096_bytes },
	{ "parse_rejects_resource_longer_than_4096_bytes",
	    parse_rejects_resource_longer_than_4096_bytes },
	{ "parse_rejects_bad_percent_escapes",
	    parse_rejects_bad_percent_escapes },
	{ "parse_rejects_empty_holder_in_lockd_format",
	    parse_rejects_empty_holder_in_lockd_format },
	{ "render_adds_a_check_line_that_parse_verifies",
	    render_adds_a_check_line_that_parse_verifies },
	{ NULL, NULL }
};

int
main(void)
{
	return tu_run("lockfile", tests);
}
