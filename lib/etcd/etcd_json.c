/* SPDX-License-Identifier: MIT */
/*
 * Reading the JSON answers of etcd's v3 gateway (etcd_req.c writes the
 * requests).  Keys and values are base64, 64-bit numbers are strings, and
 * members with their default value are left out (a reader takes an absent
 * member as 0, false or empty).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

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
