/* SPDX-License-Identifier: MIT */
/*
 * The JSON of etcd's v3 gateway: building transactions and ranges, and
 * reading their answers.  Keys and values are base64, 64-bit numbers are
 * strings, and members with their default value are left out (a reader
 * takes an absent member as 0, false or empty).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

/* Adds MEMBER with value V (taken) to O; -1 when out of memory. */
static int
add_obj(json_object *o, const char *member, json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, member, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int
add_str(json_object *o, const char *member, const char *s)
{
	return s == NULL ? -1 : add_obj(o, member, json_object_new_string(s));
}

/* Adds MEMBER with the base64 of the LEN bytes at P to O. */
static int
add_b64(json_object *o, const char *member, const char *p, size_t len)
{
	char	*s = etcd_b64(p, len);
	int	 rc = add_str(o, member, s);

	free(s);
	return rc;
}

/* Adds MEMBER with the number N, as etcd wants it: a string. */
static int
add_num(json_object *o, const char *member, unsigned long long n)
{
	char	buf[24];

	snprintf(buf, sizeof(buf), "%llu", n);
	return add_str(o, member, buf);
}

/* Appends {KIND: BODY} to LIST, taking BODY; -1 when out of memory. */
static int
append_op(json_object *list, const char *kind, json_object *body)
{
	json_object	*op;

	if (body == NULL)
		return -1;
	if ((op = json_object_new_object()) == NULL) {
		json_object_put(body);
		return -1;
	}
	if (add_obj(op, kind, body) == -1 ||
	    json_object_array_add(list, op) != 0) {
		json_object_put(op);
		return -1;
	}
	return 0;
}

/* Starts a transaction. */
void
etcd_txn_init(struct etcd_txn *t)
{
	/* The request owns the lists; once FAILED they are not used. */
	memset(t, 0, sizeof(*t));
	if ((t->req = json_object_new_object()) == NULL ||
	    add_obj(t->req, "compare", t->compare = json_object_new_array()) ==
	    -1 ||
	    add_obj(t->req, "success", t->success = json_object_new_array()) ==
	    -1 ||
	    add_obj(t->req, "failure", t->failure = json_object_new_array()) ==
	    -1)
		t->failed = 1;
}

/* Frees a transaction. */
void
etcd_txn_free(struct etcd_txn *t)
{
	json_object_put(t->req);
	memset(t, 0, sizeof(*t));
}

/* Appends the compare of TARGET ("CREATE", "MOD", "LEASE", "VALUE") of
 * KEY: its MEMBER equals the string S. */
static void
cmp(struct etcd_txn *t, const char *key, size_t klen, const char *target,
    const char *member, const char *s)
{
	json_object	*c = NULL;

	/* result EQUAL is the default: left out. */
	if (t->failed || (c = json_object_new_object()) == NULL ||
	    add_str(c, "target", target) == -1 ||
	    add_b64(c, "key", key, klen) == -1 ||
	    add_str(c, member, s) == -1 ||
	    json_object_array_add(t->compare, c) != 0) {
		json_object_put(c);
		t->failed = 1;
	}
}

/* TARGET ("CREATE", "MOD" or "LEASE") of KEY equals N. */
void
etcd_cmp(struct etcd_txn *t, const char *target, const char *key,
    size_t klen, unsigned long long n)
{
	char	buf[24];

	snprintf(buf, sizeof(buf), "%llu", n);
	cmp(t, key, klen, target, strcmp(target, "CREATE") == 0 ?
	    "create_revision" : strcmp(target, "MOD") == 0 ? "mod_revision" :
	    "lease", buf);
}

/* The value of KEY is exactly VAL (false when KEY does not exist). */
void
etcd_cmp_value(struct etcd_txn *t, const char *key, size_t klen,
    const char *val, size_t vlen)
{
	char	*s = etcd_b64(val, vlen);

	cmp(t, key, klen, "VALUE", "value", s);
	free(s);
}

/* A RangeRequest; see etcd.h for END. */
json_object *
etcd_range_req(const char *key, size_t klen, const char *end, size_t endlen,
    unsigned int flags, long long limit)
{
	json_object	*r;

	if ((r = json_object_new_object()) == NULL)
		return NULL;
	if (add_b64(r, "key", key, klen) == -1 ||
	    (end != NULL && (endlen == 0 ? add_str(r, "range_end", "AA==") :
	    add_b64(r, "range_end", end, endlen)) == -1) ||
	    (limit > 0 && add_num(r, "limit", (unsigned long long)limit) ==
	    -1) ||
	    ((flags & ETCD_RANGE_COUNT) && add_obj(r, "count_only",
	    json_object_new_boolean(1)) == -1) ||
	    ((flags & ETCD_RANGE_KEYS) && add_obj(r, "keys_only",
	    json_object_new_boolean(1)) == -1) ||
	    ((flags & ETCD_RANGE_DESCEND) &&
	    (add_str(r, "sort_order", "DESCEND") == -1 ||
	    add_str(r, "sort_target", "KEY") == -1))) {
		json_object_put(r);
		return NULL;
	}
	return r;
}

/* Appends a range to LIST. */
void
etcd_op_range(struct etcd_txn *t, json_object *list, const char *key,
    size_t klen, const char *end, size_t endlen, unsigned int flags,
    long long limit)
{
	if (t->failed || append_op(list, "request_range", etcd_range_req(key,
	    klen, end, endlen, flags, limit)) == -1)
		t->failed = 1;
}

/* Appends a put of VAL under KEY (with lease LEASE, 0: none) to LIST. */
void
etcd_op_put(struct etcd_txn *t, json_object *list, const char *key,
    size_t klen, const char *val, size_t vlen, unsigned long long lease)
{
	json_object	*p = NULL;

	if (!t->failed && (p = json_object_new_object()) != NULL &&
	    (add_b64(p, "key", key, klen) == -1 ||
	    add_b64(p, "value", val, vlen) == -1 ||
	    (lease != 0 && add_num(p, "lease", lease) == -1))) {
		json_object_put(p);
		p = NULL;
	}
	if (append_op(list, "request_put", p) == -1)
		t->failed = 1;
}

/* Appends a delete of KEY to LIST; PREV: answer with what it deleted. */
void
etcd_op_delete(struct etcd_txn *t, json_object *list, const char *key,
    size_t klen, int prev)
{
	json_object	*d = NULL;

	if (!t->failed && (d = json_object_new_object()) != NULL &&
	    (add_b64(d, "key", key, klen) == -1 || (prev && add_obj(d,
	    "prev_kv", json_object_new_boolean(1)) == -1))) {
		json_object_put(d);
		d = NULL;
	}
	if (append_op(list, "request_delete_range", d) == -1)
		t->failed = 1;
}

/* The I-th response of a txn answer, if it is a range answer. */
json_object *
etcd_resp_range(const struct etcd_resp *r, size_t i)
{
	json_object	*list, *op, *range;

	if (!json_object_object_get_ex(r->root, "responses", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    i >= json_object_array_length(list) ||
	    (op = json_object_array_get_idx(list, i)) == NULL ||
	    !json_object_object_get_ex(op, "response_range", &range))
		return NULL;
	return range;
}

/* The lease of the key that response I of R, a delete with prev_kv,
 * deleted; 0: none (or no such answer). */
unsigned long long
etcd_resp_deleted_lease(const struct etcd_resp *r, size_t i)
{
	json_object	*list, *op, *del, *kvs;

	if (!json_object_object_get_ex(r->root, "responses", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    i >= json_object_array_length(list) ||
	    (op = json_object_array_get_idx(list, i)) == NULL ||
	    !json_object_object_get_ex(op, "response_delete_range", &del) ||
	    !json_object_object_get_ex(del, "prev_kvs", &kvs) ||
	    !json_object_is_type(kvs, json_type_array) ||
	    json_object_array_length(kvs) == 0)
		return 0;
	return etcd_num(json_object_array_get_idx(kvs, 0), "lease");
}

/* A base64 member of O decoded; absent: "" (the default). */
char *
etcd_member_bytes(json_object *o, const char *member, size_t *len)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, member, &v)) {
		*len = 0;
		return strdup("");
	}
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	return etcd_unb64(json_object_get_string(v), len);
}

/* Fills KV with the J-th pair of RANGE; 1, 0 (none) or -1. */
int
etcd_range_kv(json_object *range, size_t j, struct etcd_kv *kv)
{
	json_object	*kvs, *o;

	memset(kv, 0, sizeof(*kv));
	if (range == NULL || !json_object_object_get_ex(range, "kvs", &kvs))
		return 0;
	if (!json_object_is_type(kvs, json_type_array))
		return -1;
	if (j >= json_object_array_length(kvs))
		return 0;
	if ((o = json_object_array_get_idx(kvs, j)) == NULL ||
	    !json_object_is_type(o, json_type_object))
		return -1;
	kv->key = etcd_member_bytes(o, "key", &kv->keylen);
	kv->value = etcd_member_bytes(o, "value", &kv->vallen);
	if (kv->key == NULL || kv->value == NULL) {
		etcd_kv_free(kv);
		return -1;
	}
	kv->create_rev = etcd_num(o, "create_revision");
	kv->mod_rev = etcd_num(o, "mod_revision");
	kv->lease = etcd_num(o, "lease");
	return 1;
}

/* Fills KVS from responses FIRST on; see etcd.h. */
int
etcd_resp_kvs(const struct etcd_resp *r, size_t first, struct etcd_kv **kvs,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		memset(kvs[i], 0, sizeof(*kvs[i]));
	for (i = 0; i < n; i++)
		if (etcd_range_kv(etcd_resp_range(r, first + i), 0, kvs[i]) ==
		    -1) {
			while (i > 0)
				etcd_kv_free(kvs[--i]);
			return -1;
		}
	return 0;
}

/* Frees what etcd_range_kv() filled; accepts a zeroed KV. */
void
etcd_kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

/* Whether a range answer says more keys exist beyond its limit. */
int
etcd_range_more(json_object *range)
{
	json_object	*v;

	return range != NULL && json_object_object_get_ex(range, "more", &v) &&
	    json_object_get_boolean(v);
}
