/* SPDX-License-Identifier: MIT */
/*
 * Requests to etcd's v3 gateway, written straight as JSON text: keys and
 * values in base64, 64-bit numbers as strings, members with their default
 * value left out.  (Building json-c objects cost more than the rest of
 * a call.)
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

/* Appends the string S to B; -1 when out of memory. */
static int
add(struct etcd_body *b, const char *s)
{
	return etcd_body_add(b, s, strlen(s));
}

/* Appends printf-formatted text (short: numbers, names) to B. */
static int
addf(struct etcd_body *b, const char *fmt, ...)
{
	char	buf[128];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return etcd_body_add(b, buf, (size_t)n);
}

/* Appends ,"MEMBER":"<base64 of the LEN bytes at P>" to B (without the
 * comma when FIRST). */
static int
add_b64(struct etcd_body *b, int first, const char *member, const char *p,
    size_t len)
{
	char	chunk[64];
	size_t	i, n;

	if (addf(b, "%s\"%s\":\"", first ? "" : ",", member) == -1)
		return -1;
	/* 48 bytes (a multiple of 3) are 64 digits: chunks join. */
	for (i = 0; i < len; i += n) {
		n = len - i < 48 ? len - i : 48;
		if (etcd_body_add(b, chunk, etcd_b64_into(chunk, p + i, n)) ==
		    -1)
			return -1;
	}
	return add(b, "\"");
}

/* Starts the next item of list L of T: a comma after the first. */
static struct etcd_body *
item(struct etcd_txn *t, struct etcd_list *l)
{
	if (l->n++ > 0 && add(&l->b, ",") == -1)
		t->failed = 1;
	return &l->b;
}

/* Starts a transaction. */
void
etcd_txn_init(struct etcd_txn *t)
{
	memset(t, 0, sizeof(*t));
	t->compare = &t->lists[0];
	t->success = &t->lists[1];
	t->failure = &t->lists[2];
}

/* Frees a transaction. */
void
etcd_txn_free(struct etcd_txn *t)
{
	size_t	i;

	for (i = 0; i < 3; i++)
		free(t->lists[i].b.buf);
	memset(t, 0, sizeof(*t));
}

/* The request body of T, malloc'd, or NULL. */
char *
etcd_txn_body(struct etcd_txn *t, size_t *len)
{
	struct etcd_body	b;
	const char		*none = "";

	memset(&b, 0, sizeof(b));
	if (t->failed || add(&b, "{\"compare\":[") == -1 ||
	    add(&b, t->compare->b.buf != NULL ? t->compare->b.buf : none) ==
	    -1 || add(&b, "],\"success\":[") == -1 ||
	    add(&b, t->success->b.buf != NULL ? t->success->b.buf : none) ==
	    -1 || add(&b, "],\"failure\":[") == -1 ||
	    add(&b, t->failure->b.buf != NULL ? t->failure->b.buf : none) ==
	    -1 || add(&b, "]}") == -1) {
		free(b.buf);
		return NULL;
	}
	*len = b.len;
	return b.buf;
}

/* TARGET ("CREATE", "MOD" or "LEASE") of KEY equals N. */
void
etcd_cmp(struct etcd_txn *t, const char *target, const char *key,
    size_t klen, unsigned long long n)
{
	struct etcd_body	*b = item(t, t->compare);
	const char		*member;

	member = strcmp(target, "CREATE") == 0 ? "create_revision" :
	    strcmp(target, "MOD") == 0 ? "mod_revision" : "lease";
	/* result EQUAL is the default: left out. */
	if (addf(b, "{\"target\":\"%s\"", target) == -1 ||
	    add_b64(b, 0, "key", key, klen) == -1 ||
	    addf(b, ",\"%s\":\"%llu\"}", member, n) == -1)
		t->failed = 1;
}

/* The value of KEY is exactly VAL (false when KEY does not exist). */
void
etcd_cmp_value(struct etcd_txn *t, const char *key, size_t klen,
    const char *val, size_t vlen)
{
	struct etcd_body	*b = item(t, t->compare);

	if (add(b, "{\"target\":\"VALUE\"") == -1 ||
	    add_b64(b, 0, "key", key, klen) == -1 ||
	    add_b64(b, 0, "value", val, vlen) == -1 || add(b, "}") == -1)
		t->failed = 1;
}

/* Every key in [KEY, END) has a create_revision greater than N (GREATER)
 * or equal to it; an empty range compares as one key of revision 0. */
void
etcd_cmp_created(struct etcd_txn *t, const char *key, size_t klen,
    const char *end, size_t endlen, int greater, unsigned long long n)
{
	struct etcd_body	*b = item(t, t->compare);

	if (addf(b, "{\"target\":\"CREATE\"%s",
	    greater ? ",\"result\":\"GREATER\"" : "") == -1 ||
	    add_b64(b, 0, "key", key, klen) == -1 ||
	    add_b64(b, 0, "range_end", end, endlen) == -1 ||
	    addf(b, ",\"create_revision\":\"%llu\"}", n) == -1)
		t->failed = 1;
}

/* Appends a range for the newest key of [KEY, END) by create_revision,
 * created at revision MAXREV or before (0: any), its key only. */
void
etcd_op_newest(struct etcd_txn *t, struct etcd_list *list, const char *key,
    size_t klen, const char *end, size_t endlen, unsigned long long maxrev)
{
	struct etcd_body	*b = item(t, list);

	if (add(b, "{\"request_range\":{") == -1 ||
	    add_b64(b, 1, "key", key, klen) == -1 ||
	    add_b64(b, 0, "range_end", end, endlen) == -1 ||
	    add(b, ",\"limit\":\"1\",\"keys_only\":true,\"sort_order\":"
	    "\"DESCEND\",\"sort_target\":\"CREATE\"") == -1 ||
	    (maxrev > 0 && addf(b, ",\"max_create_revision\":\"%llu\"",
	    maxrev) == -1) || add(b, "}}") == -1)
		t->failed = 1;
}

/* Appends a RangeRequest object to B; see etcd.h for END. */
static int
range_text(struct etcd_body *b, const char *key, size_t klen,
    const char *end, size_t endlen, unsigned int flags, long long limit)
{
	if (add(b, "{") == -1 || add_b64(b, 1, "key", key, klen) == -1 ||
	    (end != NULL && (endlen == 0 ?
	    add(b, ",\"range_end\":\"AA==\"") :
	    add_b64(b, 0, "range_end", end, endlen)) == -1) ||
	    (limit > 0 && addf(b, ",\"limit\":\"%lld\"", limit) == -1) ||
	    ((flags & ETCD_RANGE_COUNT) &&
	    add(b, ",\"count_only\":true") == -1) ||
	    ((flags & ETCD_RANGE_KEYS) &&
	    add(b, ",\"keys_only\":true") == -1) ||
	    ((flags & ETCD_RANGE_DESCEND) &&
	    add(b, ",\"sort_order\":\"DESCEND\",\"sort_target\":\"KEY\"") ==
	    -1))
		return -1;
	return add(b, "}");
}

/* A RangeRequest, malloc'd, or NULL. */
char *
etcd_range_req(const char *key, size_t klen, const char *end, size_t endlen,
    unsigned int flags, long long limit)
{
	struct etcd_body	b;

	memset(&b, 0, sizeof(b));
	if (range_text(&b, key, klen, end, endlen, flags, limit) == -1) {
		free(b.buf);
		return NULL;
	}
	return b.buf;
}

/* Appends a range to LIST. */
void
etcd_op_range(struct etcd_txn *t, struct etcd_list *list, const char *key,
    size_t klen, const char *end, size_t endlen, unsigned int flags,
    long long limit)
{
	struct etcd_body	*b = item(t, list);

	if (add(b, "{\"request_range\":") == -1 ||
	    range_text(b, key, klen, end, endlen, flags, limit) == -1 ||
	    add(b, "}") == -1)
		t->failed = 1;
}

/* Appends a put of VAL under KEY (with lease LEASE, 0: none) to LIST. */
void
etcd_op_put(struct etcd_txn *t, struct etcd_list *list, const char *key,
    size_t klen, const char *val, size_t vlen, unsigned long long lease)
{
	struct etcd_body	*b = item(t, list);

	if (add(b, "{\"request_put\":{") == -1 ||
	    add_b64(b, 1, "key", key, klen) == -1 ||
	    add_b64(b, 0, "value", val, vlen) == -1 ||
	    (lease != 0 && addf(b, ",\"lease\":\"%llu\"", lease) == -1) ||
	    add(b, "}}") == -1)
		t->failed = 1;
}

/* Appends a delete of KEY to LIST; PREV: answer with what it deleted. */
void
etcd_op_delete(struct etcd_txn *t, struct etcd_list *list, const char *key,
    size_t klen, int prev)
{
	struct etcd_body	*b = item(t, list);

	if (add(b, "{\"request_delete_range\":{") == -1 ||
	    add_b64(b, 1, "key", key, klen) == -1 ||
	    (prev && add(b, ",\"prev_kv\":true") == -1) ||
	    add(b, "}}") == -1)
		t->failed = 1;
}
