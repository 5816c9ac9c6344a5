/* SPDX-License-Identifier: MIT */
/*
 * Lock file content.  Line one is the holder (gocept.lockd wrote only that,
 * often without a newline); lockd adds "resource <percent-encoded name>"
 * and "since <epoch seconds>" lines, and ignores keys it does not know.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "lockfile.h"

/* Appends S percent-encoded (controls, DEL, '%') to BUF; -1 if no room. */
static int
put_escaped(char *buf, size_t size, size_t *pos, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*pos + 4 > size)
			return -1;
		if (*p < 0x20 || *p == 0x7f || *p == '%') {
			buf[(*pos)++] = '%';
			codec_hex(buf + *pos, p, 1, CODEC_UPPER);
			*pos += 2;
		} else
			buf[(*pos)++] = (char)*p;
	}
	return 0;
}

/* The lock file of CLIENT holding RESOURCE since SINCE, with the fencing
 * token TOKEN (0: no token line). */
static int
format_token(char *buf, size_t size, const char *resource,
    const char *client, long long since, unsigned long long token)
{
	size_t	pos;
	int	n;

	n = snprintf(buf, size, "%s\nresource ", client);
	if (n < 0 || (size_t)n >= size)
		return -1;
	pos = (size_t)n;
	if (put_escaped(buf, size, &pos, resource) == -1)
		return -1;
	n = snprintf(buf + pos, size - pos, "\nsince %lld\n", since);
	if (n < 0 || (size_t)n >= size - pos)
		return -1;
	pos += (size_t)n;
	if (token != 0) {
		n = snprintf(buf + pos, size - pos, "token %llu\n", token);
		if (n < 0 || (size_t)n >= size - pos)
			return -1;
		pos += (size_t)n;
	}
	return (int)pos;
}

/* Renders the lock file of CLIENT holding RESOURCE since SINCE. */
int
lockfile_format(char *buf, size_t size, const char *resource,
    const char *client, long long since)
{
	return format_token(buf, size, resource, client, since, 0);
}

/* Renders LF: see lockfile.h. */
int
lockfile_render(char *buf, size_t size, const struct lockfile *lf)
{
	size_t	pos;
	int	n;

	if ((n = format_token(buf, size, lf->resource, lf->holder,
	    lf->since, lf->token)) < 0)
		return -1;
	pos = (size_t)n;
	if (lf->ttl_ms > 0) {
		n = snprintf(buf + pos, size - pos, "lease %u %lld %s\n",
		    lf->ttl_ms, lf->deadline_ms, lf->boot);
		if (n < 0 || (size_t)n >= size - pos)
			return -1;
		pos += (size_t)n;
	}
	if (lf->is_delay) {
		n = snprintf(buf + pos, size - pos, "delay %lld %s %s %lld\n",
		    lf->delay_until_ms, lf->boot,
		    lf->delay_cause == LOCKSTORE_END_BREAK ? "break" : "expiry",
		    lf->delay_wall_ms);
		if (n < 0 || (size_t)n >= size - pos)
			return -1;
		pos += (size_t)n;
	}
	n = snprintf(buf + pos, size - pos, "check %016llx\n",
	    (unsigned long long)codec_fnv1a(buf, pos));
	if (n < 0 || (size_t)n >= size - pos)
		return -1;
	return (int)(pos + (size_t)n);
}

/* Copies the boot id S to OUT; -1 if it is not one. */
static int
get_boot(const char *s, char *out)
{
	size_t	len = strlen(s);

	if (len == 0 || len >= LOCKFILE_BOOT_SIZE ||
	    strspn(s, "0123456789abcdef-") != len)
		return -1;
	memcpy(out, s, len + 1);
	return 0;
}

/* "lease <ttl ms> <deadline ms> <boot>" (the text after "lease "). */
static int
parse_lease(const char *s, size_t len, struct lockfile *lf)
{
	char			 line[128], boot[LOCKFILE_BOOT_SIZE + 8];
	unsigned long long	 ttl;
	long long		 deadline;
	int			 n = 0;

	if (len >= sizeof(line))
		return -1;
	memcpy(line, s, len);
	line[len] = '\0';
	if (sscanf(line, "%llu %lld %45s%n", &ttl, &deadline, boot, &n) != 3 ||
	    (size_t)n != len || ttl == 0 || ttl > UINT32_MAX || deadline < 0 ||
	    line[0] < '0' || line[0] > '9' ||
	    get_boot(boot, lf->boot) == -1)
		return -1;
	lf->ttl_ms = (unsigned int)ttl;
	lf->deadline_ms = deadline;
	return 0;
}

/* "delay <until ms> <boot> <break|expiry> <until epoch ms>". */
static int
parse_delay(const char *s, size_t len, struct lockfile *lf)
{
	char		 line[160], boot[LOCKFILE_BOOT_SIZE + 8], cause[16];
	long long	 until, wall;
	int		 n = 0;

	if (len >= sizeof(line))
		return -1;
	memcpy(line, s, len);
	line[len] = '\0';
	if (sscanf(line, "%lld %45s %15s %lld%n", &until, boot, cause, &wall,
	    &n) != 4 || (size_t)n != len || until < 0 || wall < 0 ||
	    line[0] < '0' || line[0] > '9' ||
	    get_boot(boot, lf->boot) == -1)
		return -1;
	if (strcmp(cause, "break") == 0)
		lf->delay_cause = LOCKSTORE_END_BREAK;
	else if (strcmp(cause, "expiry") == 0)
		lf->delay_cause = LOCKSTORE_END_EXPIRY;
	else
		return -1;
	lf->is_delay = 1;
	lf->delay_until_ms = until;
	lf->delay_wall_ms = wall;
	return 0;
}

/* Parses one "key value" line after the holder; unknown keys are kept
 * for later versions and ignored here. */
static int
parse_field(const char *line, size_t len, struct lockfile *lf)
{
	static const char	res[] = "resource ", since[] = "since ";
	static const char	tok[] = "token ", lease[] = "lease ";
	static const char	delay[] = "delay ";
	char			num[32], *end;
	unsigned long long	u;
	long long		v;

	if (len >= sizeof(res) - 1 && memcmp(line, res, sizeof(res) - 1) == 0) {
		if (codec_unpercent(lf->resource, sizeof(lf->resource),
		    line + sizeof(res) - 1, len - (sizeof(res) - 1),
		    CODEC_UPPER | CODEC_LOWER | CODEC_NO_NUL, NULL) == -1)
			return -1;
		lf->has_resource = 1;
	} else if (len >= sizeof(since) - 1 &&
	    memcmp(line, since, sizeof(since) - 1) == 0) {
		len -= sizeof(since) - 1;
		if (len == 0 || len >= sizeof(num))
			return -1;
		memcpy(num, line + sizeof(since) - 1, len);
		num[len] = '\0';
		errno = 0;
		v = strtoll(num, &end, 10);
		if (errno != 0 || *end != '\0' || v < 0)
			return -1;
		lf->since = v;
	} else if (len >= sizeof(tok) - 1 &&
	    memcmp(line, tok, sizeof(tok) - 1) == 0) {
		len -= sizeof(tok) - 1;
		if (len == 0 || len >= sizeof(num) ||
		    line[sizeof(tok) - 1] < '0' || line[sizeof(tok) - 1] > '9')
			return -1;
		memcpy(num, line + sizeof(tok) - 1, len);
		num[len] = '\0';
		errno = 0;
		u = strtoull(num, &end, 10);
		if (errno != 0 || *end != '\0' || u == 0)
			return -1;
		lf->token = u;
	} else if (len >= sizeof(lease) - 1 &&
	    memcmp(line, lease, sizeof(lease) - 1) == 0) {
		return parse_lease(line + sizeof(lease) - 1,
		    len - (sizeof(lease) - 1), lf);
	} else if (len >= sizeof(delay) - 1 &&
	    memcmp(line, delay, sizeof(delay) - 1) == 0) {
		return parse_delay(line + sizeof(delay) - 1,
		    len - (sizeof(delay) - 1), lf);
	}
	return 0;
}

/*
 * The "check" line LINE (ending at NL) of the lock file BUF ... END: the
 * sum of every byte before it, and the last line.  A file read while it
 * was rewritten fails here (see read.c).
 */
static int
parse_check(const char *buf, const char *line, const char *nl,
    const char *end)
{
	unsigned long long	want;
	char			num[17], *e;
	size_t			len = (size_t)(nl - line) - 6;

	if (nl == end || nl + 1 != end || len != 16)
		return -1;
	memcpy(num, line + 6, 16);
	num[16] = '\0';
	if (strspn(num, "0123456789abcdef") != 16)
		return -1;
	want = strtoull(num, &e, 16);
	return want == codec_fnv1a(buf, (size_t)(line - buf)) ? 0 : -1;
}

/* Parses LEN bytes of a lock file into LF. */
int
lockfile_parse(const char *buf, size_t len, struct lockfile *lf)
{
	static const char	check[] = "check ";
	const char	*nl, *line, *end = buf + len;
	size_t		 hlen;

	memset(lf, 0, sizeof(*lf));
	nl = memchr(buf, '\n', len);
	hlen = (nl != NULL ? (size_t)(nl - buf) : len);
	if (hlen > 0 && buf[hlen - 1] == '\r')
		hlen--;
	if (hlen > LOCKSTORE_NAME_MAX || memchr(buf, '\0', hlen) != NULL)
		return -1;
	memcpy(lf->holder, buf, hlen);
	lf->holder[hlen] = '\0';
	if (nl == NULL)
		return 0;
	if (hlen == 0 && nl + 1 < end)
		return -1;	/* lockd's lines without a holder */
	for (line = nl + 1; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if ((size_t)(nl - line) >= sizeof(check) - 1 &&
		    memcmp(line, check, sizeof(check) - 1) == 0)
			return (lf->has_check = parse_check(buf, line, nl,
			    end) == 0) ? 0 : -1;
		if (parse_field(line, (size_t)(nl - line), lf) == -1)
			return -1;
	}
	return 0;
}
