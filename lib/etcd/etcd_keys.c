/* SPDX-License-Identifier: MIT */
/*
 * The etcd backend's keys and small values: the key of each kind for a
 * resource (layout in etcd.h), the metadata of a holding, the lock-delay,
 * and the nonce that marks one lock attempt.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

/* P NS "/" RESOURCE. */
char *
etcd_key(const struct etcd *e, char ns, const char *resource, size_t *lenp)
{
	size_t	rlen = strlen(resource);
	char	*k;

	if ((k = malloc(e->prefixlen + 2 + rlen + 1)) == NULL)
		return NULL;
	memcpy(k, e->prefix, e->prefixlen);
	k[e->prefixlen] = ns;
	k[e->prefixlen + 1] = '/';
	memcpy(k + e->prefixlen + 2, resource, rlen + 1);
	*lenp = e->prefixlen + 2 + rlen;
	return k;
}

/* The four keys of RESOURCE. */
int
etcd_keys_make(const struct etcd *e, const char *resource,
    struct etcd_keys *k)
{
	k->l = etcd_key(e, ETCD_NS_LOCK, resource, &k->llen);
	k->m = etcd_key(e, ETCD_NS_META, resource, &k->mlen);
	k->x = etcd_key(e, ETCD_NS_LEASED, resource, &k->xlen);
	k->d = etcd_key(e, ETCD_NS_DELAY, resource, &k->dlen);
	if (k->l != NULL && k->m != NULL && k->x != NULL && k->d != NULL)
		return 0;
	etcd_keys_free(k);
	return -1;
}

void
etcd_keys_free(struct etcd_keys *k)
{
	free(k->l);
	free(k->m);
	free(k->x);
	free(k->d);
}

/* KEY followed by a NUL. */
char *
etcd_key_after(const char *key, size_t len, size_t *outlen)
{
	char	*k;

	if ((k = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(k, key, len);
	k[len] = '\0';
	*outlen = len + 1;
	return k;
}

/* P "h/" RESOURCE "\0" TOKEN (20 digits: the keys sort as the tokens). */
char *
etcd_history_key(const struct etcd *e, const char *resource,
    unsigned long long token, size_t *lenp)
{
	size_t	len;
	char	*k, *h;

	if ((k = etcd_key(e, ETCD_NS_HISTORY, resource, &len)) == NULL ||
	    (h = realloc(k, len + 22)) == NULL) {
		free(k);
		return NULL;
	}
	h[len] = '\0';
	snprintf(h + len + 1, 21, "%020llu", token);
	*lenp = len + 21;
	return h;
}

/* The end of the range of keys starting with KEY. */
char *
etcd_prefix_end(const char *key, size_t len, size_t *endlen)
{
	char	*end;

	if ((end = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(end, key, len);
	while (len > 0 && (unsigned char)end[len - 1] == 0xff)
		len--;
	if (len > 0)
		end[len - 1] = (char)((unsigned char)end[len - 1] + 1);
	end[len] = '\0';
	*endlen = len;
	return end;
}

/* The metadata value: {"s":since,"n":nonce[,"t":ttl_ms,"x":expires_ms]
 * [,"k":token][,"h":b64 of HOLDER]}; what is 0 (or NULL) is left out, as
 * a reader takes an absent member for 0.  (Every byte of a plain lock's
 * value goes into etcd's log twice per holding.) */
char *
etcd_meta_encode(const struct etcd_meta *m, const char *holder)
{
	char	*h = NULL, *out, lease[64] = "", k[32] = "";

	if (holder != NULL && (h = etcd_b64(holder, strlen(holder))) == NULL)
		return NULL;
	if (m->ttl_ms != 0)
		snprintf(lease, sizeof(lease), ",\"t\":%u,\"x\":%lld",
		    m->ttl_ms, m->expires_ms);
	if (m->token != 0)
		snprintf(k, sizeof(k), ",\"k\":%llu", m->token);
	if (asprintf(&out, "{\"s\":%lld,\"n\":\"%s\"%s%s%s%s%s}", m->since,
	    m->nonce, lease, k, h != NULL ? ",\"h\":\"" : "",
	    h != NULL ? h : "", h != NULL ? "\"" : "") == -1)
		out = NULL;
	free(h);
	return out;
}

/* The value of a plain lock key: the holder, a NUL, the metadata (the
 * holder named once). */
char *
etcd_lock_value(const struct etcd_meta *m, const char *holder, size_t *len)
{
	char	*mval, *out;
	size_t	 hlen = strlen(holder), mlen;

	if ((mval = etcd_meta_encode(m, NULL)) == NULL)
		return NULL;
	mlen = strlen(mval);
	if ((out = malloc(hlen + 1 + mlen + 1)) != NULL) {
		memcpy(out, holder, hlen + 1);
		memcpy(out + hlen + 1, mval, mlen + 1);
		*len = hlen + 1 + mlen;
	}
	free(mval);
	return out;
}

/* The metadata of the holding LOCK: after the holder's name and a NUL in
 * its value (a plain lock), or in META (a lease holding, or one written
 * by an older lockd).  0 (MD zeroed) when neither has it. */
int
etcd_holding_meta(const struct etcd_kv *lock, const struct etcd_kv *meta,
    struct etcd_meta *md)
{
	size_t	n;

	if (lock->value != NULL && (n = strlen(lock->value)) < lock->vallen) {
		etcd_meta_parse(lock->value + n + 1, md);
		return 1;
	}
	/* A grant needs m/ absent: an m/ beside the lock key was written
	 * during this holding (with it, or by a lease move since). */
	if (meta != NULL && meta->key != NULL &&
	    meta->create_rev >= lock->create_rev) {
		etcd_meta_parse(meta->value, md);
		return 1;
	}
	memset(md, 0, sizeof(*md));
	return 0;
}

void
etcd_meta_parse(const char *value, struct etcd_meta *m)
{
	json_object	*o, *n;

	/* json-c's getters take a NULL object as one without members. */
	memset(m, 0, sizeof(*m));
	o = value != NULL ? json_tokener_parse(value) : NULL;
	m->since = (long long)etcd_num(o, "s");
	m->ttl_ms = (unsigned int)etcd_num(o, "t");
	m->expires_ms = (long long)etcd_num(o, "x");
	m->token = etcd_num(o, "k");
	if (json_object_object_get_ex(o, "n", &n))
		snprintf(m->nonce, sizeof(m->nonce), "%s",
		    json_object_get_string(n));
	json_object_put(o);
}

void
etcd_delay_decode(const struct etcd_kv *kv, long long *until_ms,
    enum lockstore_end *cause)
{
	json_object	*o, *c;

	o = kv->value != NULL ? json_tokener_parse(kv->value) : NULL;
	*until_ms = (long long)etcd_num(o, "u");
	*cause = json_object_object_get_ex(o, "c", &c) &&
	    strcmp(json_object_get_string(c), "expiry") == 0 ?
	    LOCKSTORE_END_EXPIRY : LOCKSTORE_END_BREAK;
	json_object_put(o);
}

/* A value no other lock attempt uses: this store's random base and a
 * counter. */
void
etcd_nonce(struct etcd *e, char out[ETCD_NONCE_SIZE])
{
	snprintf(out, ETCD_NONCE_SIZE, "%016llx%016llx", e->nonce_base,
	    __atomic_add_fetch(&e->nonce_seq, 1, __ATOMIC_RELAXED));
}
