/* SPDX-License-Identifier: MIT */
/*
 * The etcd backend's wire: JSON requests to etcd's v3 gateway over
 * libcurl, a pool of easy handles (one per concurrent request, each
 * keeping its connections), the endpoint list and its rotation.
 *
 * Outcomes of one attempt, and what follows:
 * - 200: the answer.
 * - 4xx other than 408 and 429: etcd refused the request (bad request,
 *   permission denied): not applied, and a retry would fare alike.
 * - A connection that could not be made: not applied; next endpoint.
 * - Anything else (a timeout, a connection lost after the request went
 *   out, 5xx, 408, 429, an unparseable answer): the request may or may
 *   not have been applied.  The caller is told (*unknown) and the same
 *   request goes to the next endpoint; the callers' requests are built so
 *   that applying one twice is harmless, and they judge the answer of the
 *   repeat knowing that the first may have been applied.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "etcd.h"

/* Appends the LEN bytes at P to B, NUL-terminated; see etcd.h. */
int
etcd_body_add(struct etcd_body *b, const char *p, size_t len)
{
	size_t	 cap;
	char	*nb;

	if (b->len + len + 1 > ETCD_RESPONSE_MAX) {
		b->overflow = 1;
		return -1;
	}
	if (b->len + len + 1 > b->cap) {
		cap = b->cap > 0 ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		if ((nb = realloc(b->buf, cap)) == NULL)
			return -1;
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return 0;
}

static size_t
body_write(char *p, size_t size, size_t n, void *arg)
{
	return etcd_body_add(arg, p, size * n) == -1 ? 0 : size * n;
}

/* Whether S is an endpoint URL we accept: http(s)://host[:port][/]. */
static int
url_ok(const char *s, size_t len)
{
	const char	*p;

	if (len == 0 || len >= LOCKSTORE_ETCD_URL_MAX)
		return 0;
	if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		p = s + 8;
	else
		return 0;
	if (p >= s + len || *p == '/' || *p == ':')
		return 0;
	for (; p < s + len; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#' ||
		    *p == '@' || (*p == '/' && p != s + len - 1))
			return 0;
	return 1;
}

static enum lockstore_status
bad_config(struct lockstore_error *err, const char *what)
{
	return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
	    "Invalid etcd configuration: %s", what);
}

static enum lockstore_status
check_file(const char *what, const char *path, struct lockstore_error *err)
{
	if (path == NULL)
		return LOCKSTORE_OK;
	if (*path == '\0' || access(path, R_OK) == -1)
		return store_error(err, LOCKSTORE_BAD_ARGUMENT, errno,
		    "Invalid etcd configuration: cannot read the %s %s: %s",
		    what, path, *path == '\0' ? "empty path" :
		    strerror(errno));
	return LOCKSTORE_OK;
}

/* Checks a configuration without contacting etcd. */
enum lockstore_status
lockstore_etcd_check(const struct lockstore_etcd_config *cfg,
    struct lockstore_error *err)
{
	const char	*p, *comma;
	size_t		 len, n = 0;
	enum lockstore_status st;

	if (cfg->endpoints == NULL || *cfg->endpoints == '\0')
		return bad_config(err, "no endpoints (etcd-endpoints URL"
		    "[,URL...])");
	for (p = cfg->endpoints; ; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (!url_ok(p, len))
			return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
			    "Invalid etcd configuration: '%.*s' is not an "
			    "endpoint URL (http://HOST:PORT or "
			    "https://HOST:PORT)", (int)(len > 200 ? 200 : len),
			    p);
		if (++n > LOCKSTORE_ETCD_ENDPOINTS_MAX)
			return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
			    "Invalid etcd configuration: more than %d "
			    "endpoints", LOCKSTORE_ETCD_ENDPOINTS_MAX);
		if (comma == NULL)
			break;
	}
	if (cfg->prefix != NULL && (*cfg->prefix == '\0' ||
	    strlen(cfg->prefix) > LOCKSTORE_ETCD_PREFIX_MAX))
		return store_error(err, LOCKSTORE_BAD_ARGUMENT, 0,
		    "Invalid etcd configuration: the prefix must have 1 to %d "
		    "bytes", LOCKSTORE_ETCD_PREFIX_MAX);
	if (cfg->timeout_ms > 600000)
		return bad_config(err, "the timeout is longer than 600 s");
	if ((cfg->cert == NULL) != (cfg->key == NULL))
		return bad_config(err, "a client certificate needs its key "
		    "and a key its certificate (etcd-cert, etcd-key)");
	if ((st = check_file("CA certificate", cfg->cacert, err)) ==
	    LOCKSTORE_OK &&
	    (st = check_file("client certificate", cfg->cert, err)) ==
	    LOCKSTORE_OK)
		st = check_file("client key", cfg->key, err);
	return st;
}

/* Sets up endpoints, TLS files and the handle pool. */
enum lockstore_status
etcd_http_init(struct etcd *e, const struct lockstore_etcd_config *cfg,
    struct lockstore_error *err)
{
	const char	*p, *comma;
	size_t		 len;
	int		 failed = 0;

	pthread_mutex_init(&e->poollock, NULL);
	for (p = cfg->endpoints; ; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len > 0 && p[len - 1] == '/')
			len--;		/* paths are appended */
		if ((e->endpoints[e->nendpoints++] = strndup(p, len)) == NULL)
			failed = 1;
		if (comma == NULL)
			break;
	}
	e->timeout_ms = cfg->timeout_ms > 0 ? (long)cfg->timeout_ms :
	    LOCKSTORE_ETCD_TIMEOUT_MS;
	if ((cfg->cacert != NULL &&
	    (e->cacert = strdup(cfg->cacert)) == NULL) ||
	    (cfg->cert != NULL && (e->cert = strdup(cfg->cert)) == NULL) ||
	    (cfg->key != NULL && (e->key = strdup(cfg->key)) == NULL) ||
	    (e->headers = curl_slist_append(NULL,
	    "Content-Type: application/json")) == NULL ||
	    /* No "Expect: 100-continue" round trip before larger bodies. */
	    curl_slist_append(e->headers, "Expect:") == NULL)
		failed = 1;
	return failed ? store_error_nomem(err) : LOCKSTORE_OK;
}

/* Frees what etcd_http_init() set up. */
void
etcd_http_free(struct etcd *e)
{
	unsigned int	i;

	for (i = 0; i < e->nendpoints; i++)
		free(e->endpoints[i]);
	while (e->npool > 0)
		curl_easy_cleanup(e->pool[--e->npool]);
	free(e->pool);
	curl_slist_free_all(e->headers);
	free(e->cacert);
	free(e->cert);
	free(e->key);
	pthread_mutex_destroy(&e->poollock);
}

/* Endpoint IDX failed: move on, unless another thread did already. */
void
etcd_rotate(struct etcd *e, unsigned int idx)
{
	unsigned int	expect = idx;

	__atomic_compare_exchange_n(&e->current, &expect,
	    (idx + 1) % e->nendpoints, 0, __ATOMIC_RELAXED,
	    __ATOMIC_RELAXED);
}

/* An easy handle set up for PATH of endpoint IDX, or NULL. */
void *
etcd_handle_get(struct etcd *e, unsigned int idx, const char *path,
    int *pooled)
{
	CURL	*c = NULL;
	char	 url[LOCKSTORE_ETCD_URL_MAX + 64];

	if (pooled != NULL) {
		pthread_mutex_lock(&e->poollock);
		if (e->npool > 0)
			c = e->pool[--e->npool];
		pthread_mutex_unlock(&e->poollock);
		*pooled = c != NULL;
	}
	if (c == NULL && (c = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_reset(c);	/* keeps the connections, drops options */
	snprintf(url, sizeof(url), "%s%s", e->endpoints[idx], path);
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    (e->cacert != NULL &&
	    curl_easy_setopt(c, CURLOPT_CAINFO, e->cacert) != CURLE_OK) ||
	    (e->cert != NULL &&
	    curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert) != CURLE_OK) ||
	    (e->key != NULL &&
	    curl_easy_setopt(c, CURLOPT_SSLKEY, e->key) != CURLE_OK)) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

/* Returns handle C to the pool. */
static void
handle_put(struct etcd *e, void *c)
{
	void	**np;
	size_t	  cap;

	pthread_mutex_lock(&e->poollock);
	cap = e->poolcap * 2 + 8;
	if (e->npool == e->poolcap &&
	    (np = realloc(e->pool, cap * sizeof(*np))) != NULL) {
		e->pool = np;
		e->poolcap = cap;
	}
	if (e->npool < e->poolcap) {
		e->pool[e->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&e->poollock);
	curl_easy_cleanup(c);	/* no room: not pooled */
}

/* The reason in an error answer of the gateway, or the HTTP status. */
static void
http_reason(char *buf, size_t size, const char *endpoint, long code,
    const char *body)
{
	json_object	*root, *m;
	const char	*msg = NULL;
	char		*p;

	root = body != NULL ? json_tokener_parse(body) : NULL;
	if (root != NULL && (json_object_object_get_ex(root, "message", &m) ||
	    json_object_object_get_ex(root, "error", &m)) &&
	    json_object_is_type(m, json_type_string))
		msg = json_object_get_string(m);
	if (msg != NULL)
		snprintf(buf, size, "%s: %s", endpoint, msg);
	else if (body != NULL && *body != '\0')
		snprintf(buf, size, "%s: HTTP status %ld: %.200s", endpoint,
		    code, body);
	else
		snprintf(buf, size, "%s: HTTP status %ld", endpoint, code);
	json_object_put(root);
	/* The reason goes into faults and logs: printable bytes only. */
	for (p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* One attempt; see etcd_post(). */
enum attempt {
	ATTEMPT_OK,
	ATTEMPT_REFUSED,	/* definite, no retry */
	ATTEMPT_NOT_SENT,	/* definite, next endpoint */
	ATTEMPT_UNKNOWN		/* may have been applied, next endpoint */
};

static enum attempt
attempt(struct etcd *e, unsigned int idx, const char *path, const char *body,
    size_t bodylen, struct etcd_resp *resp, int *again, char *reason,
    size_t rsize)
{
	struct etcd_body b;
	char		 cerr[CURL_ERROR_SIZE];
	json_object	*h;
	CURL		*c;
	CURLcode	 rc;
	long		 code = 0, sent = 0, connects = 0;
	int		 pooled;

	memset(&b, 0, sizeof(b));
	cerr[0] = '\0';
	*again = 0;
	if ((c = etcd_handle_get(e, idx, path, &pooled)) == NULL) {
		snprintf(reason, rsize, "cannot set up a request: out of "
		    "memory");
		return ATTEMPT_REFUSED;
	}
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)bodylen);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c);
	/*
	 * libcurl sends a request again by itself when a reused connection
	 * closes before any answer: the first may have been applied.  A
	 * pooled handle that had to connect anew may have done so.
	 */
	if (pooled && curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects) ==
	    CURLE_OK && connects > 0)
		*again = 1;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	else if (curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent) !=
	    CURLE_OK)
		sent = 1;
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	handle_put(e, c);
	if (rc != CURLE_OK) {
		snprintf(reason, rsize, "%s: %s", e->endpoints[idx],
		    b.overflow ? "answer too large" : cerr[0] != '\0' ? cerr :
		    curl_easy_strerror(rc));
		free(b.buf);
		/* Nothing of the request went out: certainly not applied. */
		if (sent == 0 || rc == CURLE_COULDNT_CONNECT ||
		    rc == CURLE_COULDNT_RESOLVE_HOST ||
		    rc == CURLE_SSL_CONNECT_ERROR ||
		    rc == CURLE_PEER_FAILED_VERIFICATION)
			return ATTEMPT_NOT_SENT;
		return ATTEMPT_UNKNOWN;
	}
	if (code != 200) {
		http_reason(reason, rsize, e->endpoints[idx], code, b.buf);
		free(b.buf);
		if (code >= 400 && code < 500 && code != 408 && code != 429)
			return ATTEMPT_REFUSED;
		return ATTEMPT_UNKNOWN;
	}
	resp->root = b.buf != NULL ? json_tokener_parse(b.buf) : NULL;
	free(b.buf);
	if (!json_object_is_type(resp->root, json_type_object)) {
		snprintf(reason, rsize, "%s: an answer that is not JSON",
		    e->endpoints[idx]);
		json_object_put(resp->root);
		resp->root = NULL;
		return ATTEMPT_UNKNOWN;
	}
	resp->succeeded = json_object_object_get_ex(resp->root, "succeeded",
	    &h) && json_object_get_boolean(h);
	if (json_object_object_get_ex(resp->root, "header", &h))
		resp->revision = etcd_num(h, "revision");
	return ATTEMPT_OK;
}

/* POSTs REQ to PATH; see etcd.h. */
enum lockstore_status
etcd_post(struct etcd *e, const char *path, const char *body,
    struct etcd_resp *resp, int *unknown, const char *what,
    const char *resource, struct lockstore_error *err)
{
	struct timespec	 ts;
	size_t		 bodylen;
	unsigned int	 i, idx, tries;
	char		 reason[512];
	enum attempt	 a = ATTEMPT_REFUSED;
	int		 again;

	memset(resp, 0, sizeof(*resp));
	if (unknown != NULL)
		*unknown = 0;
	if (body == NULL)
		return store_error_nomem(err);
	bodylen = strlen(body);
	tries = 2 * e->nendpoints + 1;
	snprintf(reason, sizeof(reason), "no endpoint answered");
	for (i = 0; i < tries; i++) {
		idx = __atomic_load_n(&e->current, __ATOMIC_RELAXED) %
		    e->nendpoints;
		a = attempt(e, idx, path, body, bodylen, resp, &again, reason,
		    sizeof(reason));
		if (again && unknown != NULL)
			*unknown = 1;
		if (a == ATTEMPT_OK || a == ATTEMPT_REFUSED)
			break;
		if (a == ATTEMPT_UNKNOWN && unknown != NULL)
			*unknown = 1;
		etcd_rotate(e, idx);
		/* Every endpoint failed once: give the cluster a moment
		 * (an election takes about a second). */
		if ((i + 1) % e->nendpoints == 0 && i + 1 < tries) {
			ts = clock_abs_in(100LL * ((i + 1) / e->nendpoints));
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
			    &ts, NULL) == EINTR)
				;
		}
	}
	if (a == ATTEMPT_OK)
		return LOCKSTORE_OK;
	if (resource != NULL)
		return store_error(err, LOCKSTORE_STORAGE, EIO,
		    "Storage error: etcd %s for '%s': %s", what, resource,
		    reason);
	return store_error(err, LOCKSTORE_STORAGE, EIO,
	    "Storage error: etcd %s: %s", what, reason);
}

/* Posts transaction T (and frees it); see etcd_post(). */
enum lockstore_status
etcd_txn_post(struct etcd *e, struct etcd_txn *t, struct etcd_resp *resp,
    int *unknown, const char *what, const char *resource,
    struct lockstore_error *err)
{
	enum lockstore_status	 st;
	char			*body;
	size_t			 len;

	memset(resp, 0, sizeof(*resp));
	body = etcd_txn_body(t, &len);
	etcd_txn_free(t);
	st = etcd_post(e, "/v3/kv/txn", body, resp, unknown, what, resource,
	    err);
	free(body);
	return st;
}

/* Posts a range request (see etcd_range_req()); see etcd_post(). */
enum lockstore_status
etcd_range_post(struct etcd *e, const char *key, size_t klen,
    const char *end, size_t endlen, unsigned int flags, long long limit,
    struct etcd_resp *resp, const char *what, const char *resource,
    struct lockstore_error *err)
{
	enum lockstore_status	 st;
	char			*req;

	req = etcd_range_req(key, klen, end, endlen, flags, limit);
	st = etcd_post(e, "/v3/kv/range", req, resp, NULL, what, resource,
	    err);
	free(req);
	return st;
}

/* Posts {MEMBER: VALUE} to PATH; see etcd_post(). */
enum lockstore_status
etcd_post_member(struct etcd *e, const char *path, const char *member,
    const char *value, struct etcd_resp *resp, const char *what,
    const char *resource, struct lockstore_error *err)
{
	enum lockstore_status	 st;
	char			*req;

	/* MEMBER and VALUE are ours: names and numbers, nothing to quote. */
	if (asprintf(&req, "{\"%s\":\"%s\"}", member, value) == -1)
		req = NULL;
	st = etcd_post(e, path, req, resp, NULL, what, resource, err);
	free(req);
	return st;
}

/* Frees an answer. */
void
etcd_resp_free(struct etcd_resp *r)
{
	json_object_put(r->root);
	r->root = NULL;
}

/* --- base64 and numbers ----------------------------------------------- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes the base64 of N bytes at P to OUT (without a NUL); returns its
 * length, (N + 2) / 3 * 4. */
size_t
etcd_b64_into(char *out, const void *p, size_t n)
{
	const unsigned char	*s = p;
	char			*o = out;
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = b64chars[(v >> 6) & 63];
		*o++ = b64chars[v & 63];
	}
	if (i < n) {
		v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	return (size_t)(o - out);
}

/* Base64 of N bytes at P; NULL when out of memory. */
char *
etcd_b64(const void *p, size_t n)
{
	char	*out;

	if ((out = malloc((n + 2) / 3 * 4 + 1)) != NULL)
		out[etcd_b64_into(out, p, n)] = '\0';
	return out;
}

static int
b64val(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64chars, c)) == NULL)
		return -1;
	return (int)(p - b64chars);
}

/* Decodes base64 S (padded); NULL if it is not base64 or on ENOMEM. */
char *
etcd_unb64(const char *s, size_t *n)
{
	size_t		 len = strlen(s), i, o = 0;
	char		*out;
	int		 a, b, c, d;

	if (len % 4 != 0 || (out = malloc(len / 4 * 3 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i += 4) {
		a = b64val(s[i]);
		b = b64val(s[i + 1]);
		c = s[i + 2] == '=' && i + 4 == len ? 0 : b64val(s[i + 2]);
		d = s[i + 3] == '=' && i + 4 == len ? 0 : b64val(s[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0 ||
		    (s[i + 2] == '=' && s[i + 3] != '=')) {
			free(out);
			return NULL;
		}
		out[o++] = (char)(a << 2 | b >> 4);
		if (s[i + 2] != '=')
			out[o++] = (char)((b & 15) << 4 | c >> 2);
		if (s[i + 3] != '=')
			out[o++] = (char)((c & 3) << 6 | d);
	}
	out[o] = '\0';
	*n = o;
	return out;
}

/* MEMBER of O as an unsigned number: a string of digits, or a JSON
 * number; absent (a default) or malformed: 0. */
unsigned long long
etcd_num(json_object *o, const char *member)
{
	json_object		*v;
	const char		*s;
	char			*end;
	unsigned long long	 n;

	if (o == NULL || !json_object_object_get_ex(o, member, &v))
		return 0;
	if (json_object_is_type(v, json_type_int))
		return (unsigned long long)json_object_get_uint64(v);
	if (!json_object_is_type(v, json_type_string))
		return 0;
	s = json_object_get_string(v);
	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	n = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? 0 : n;
}
