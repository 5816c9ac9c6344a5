/* SPDX-License-Identifier: MIT */
/*
 * The inspection methods: status(resource) and list(options), which say
 * who holds what without changing anything.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "rpc.h"

#define LIST_DEFAULT_LIMIT	1000

/*
 * Whether S can travel as an XML-RPC string unchanged: no control
 * characters but tab and line feed (XML forbids most; a carriage return
 * would arrive as a line feed).  UTF-8 validity is left to xmlrpc-c.
 */
static int
xml_safe(const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
			return 0;
	return 1;
}

/* A name as a string, or as base64 when a string cannot carry it. */
xmlrpc_value *
rpc_name_value(xmlrpc_env *env, const char *s)
{
	xmlrpc_value	*v;

	if (xml_safe(s)) {
		v = xmlrpc_string_new(env, s);
		if (!env->fault_occurred)
			return v;
		/* Not UTF-8 (a legacy file written in Latin-1, say). */
		xmlrpc_env_clean(env);
		xmlrpc_env_init(env);
	}
	return xmlrpc_base64_new(env, strlen(s), (const unsigned char *)s);
}

/* Sets KEY of STRUCT to V and drops our reference to V. */
void
rpc_struct_put(xmlrpc_env *env, xmlrpc_value *st, const char *key,
    xmlrpc_value *v)
{
	if (env->fault_occurred) {
		if (v != NULL)
			xmlrpc_DECREF(v);
		return;
	}
	xmlrpc_struct_set_value(env, st, key, v);
	xmlrpc_DECREF(v);
}

/* The status struct of one resource. */
static xmlrpc_value *
status_value(xmlrpc_env *env, const char *resource, int held,
    const struct lockstore_lock_info *info)
{
	xmlrpc_value	*st;

	st = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		return NULL;
	rpc_struct_put(env, st, "resource", rpc_name_value(env, resource));
	rpc_struct_put(env, st, "held", xmlrpc_bool_new(env, held));
	if (held)
		rpc_struct_put(env, st, "holder", rpc_name_value(env,
		    info->holder));
	if (held && info->since > 0)
		rpc_struct_put(env, st, "since", xmlrpc_datetime_new_sec(env,
		    (time_t)info->since));
	if (held && info->token != 0)
		rpc_struct_put(env, st, "token", xmlrpc_i8_new(env,
		    (xmlrpc_int64)info->token));
	/* A lease ends no later than it says; a lock-delay no earlier. */
	if (held && info->ttl_ms > 0) {
		rpc_struct_put(env, st, "ttl", xmlrpc_double_new(env,
		    info->ttl_ms / 1000.0));
		rpc_struct_put(env, st, "expires", rpc_datetime_ms(env,
		    info->expires_ms, 0));
	}
	if (!held && info->delay_until_ms > 0) {
		rpc_struct_put(env, st, "delay_until", rpc_datetime_ms(env,
		    info->delay_until_ms, 1));
		rpc_struct_put(env, st, "delay_cause", xmlrpc_string_new(env,
		    info->delay_cause == LOCKSTORE_END_BREAK ? "break" :
		    "expiry"));
	}
	if (env->fault_occurred) {
		xmlrpc_DECREF(st);
		return NULL;
	}
	return st;
}

static xmlrpc_value *
method_status(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct lockstore		*store = server_info;
	struct lockstore_lock_info	*info;
	struct lockstore_error		*err;
	enum lockstore_status		 st;
	xmlrpc_value			*v, *result = NULL;
	const char			*resource = NULL;
	int				 held;

	if (xmlrpc_array_size(env, params) != 1 && !env->fault_occurred) {
		xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS,
		    "status takes 1 string parameter (resource)");
		return NULL;
	}
	xmlrpc_array_read_item(env, params, 0, &v);
	if (env->fault_occurred)
		return NULL;
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING) {
		xmlrpc_DECREF(v);
		xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS,
		    "status: parameter 1 (resource) must be a string");
		return NULL;
	}
	xmlrpc_read_string(env, v, &resource);
	xmlrpc_DECREF(v);
	if (env->fault_occurred)
		return NULL;
	/* Zeroed: a store may fill only what applies. */
	info = calloc(1, sizeof(*info));
	err = malloc(sizeof(*err));
	if (info == NULL || err == NULL)
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
	else if ((st = lockstore_inspect(store, resource, &held, info,
	    err)) != LOCKSTORE_OK)
		xmlrpc_env_set_fault(env, rpc_fault_code(st), err->msg);
	else
		result = status_value(env, resource, held, info);
	free(info);
	free(err);
	free((char *)resource);
	return result;
}

/* Reads optional member NAME of struct OPTS as a string (NULL if absent). */
static int
opt_string(xmlrpc_env *env, xmlrpc_value *opts, const char *name,
    const char **out)
{
	xmlrpc_value	*v = NULL;

	*out = NULL;
	xmlrpc_struct_find_value(env, opts, name, &v);
	if (env->fault_occurred || v == NULL)
		return env->fault_occurred ? -1 : 0;
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING) {
		xmlrpc_DECREF(v);
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "list: option '%s' must be a string", name);
		return -1;
	}
	xmlrpc_read_string(env, v, out);
	xmlrpc_DECREF(v);
	return env->fault_occurred ? -1 : 0;
}

/*
 * The "limit" member of METHOD's options OPTS into *LIMIT: DEF when it is
 * absent, else an int from 1 to MAX.  Shared by list() and history().
 */
int
rpc_opt_limit(xmlrpc_env *env, xmlrpc_value *opts, const char *method,
    size_t def, int max, size_t *limit)
{
	xmlrpc_value	*v = NULL;
	int		 n;

	*limit = def;
	xmlrpc_struct_find_value(env, opts, "limit", &v);
	if (env->fault_occurred || v == NULL)
		return env->fault_occurred ? -1 : 0;
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_INT) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s: option 'limit' must be an int, not %s", method,
		    rpc_type_name(xmlrpc_value_type(v)));
		xmlrpc_DECREF(v);
		return -1;
	}
	xmlrpc_read_int(env, v, &n);
	xmlrpc_DECREF(v);
	if (env->fault_occurred)
		return -1;
	if (n < 1 || n > max) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s: option 'limit' must be from 1 to %d", method, max);
		return -1;
	}
	*limit = (size_t)n;
	return 0;
}

struct list_ctx {
	xmlrpc_env	*env;
	xmlrpc_value	*locks;
};

static int
add_lock(const struct lockstore_lock_info *info, void *arg)
{
	struct list_ctx	*c = arg;
	xmlrpc_value	*v;

	v = status_value(c->env, info->resource, 1, info);
	if (c->env->fault_occurred)
		return -1;
	xmlrpc_array_append_item(c->env, c->locks, v);
	xmlrpc_DECREF(v);
	return c->env->fault_occurred ? -1 : 0;
}

static xmlrpc_value *
method_list(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct lockstore		*store = server_info;
	struct lockstore_list_query	 q;
	struct lockstore_error		*err = NULL;
	struct list_ctx			 c = { env, NULL };
	enum lockstore_status		 st;
	xmlrpc_value			*opts = NULL, *result = NULL;
	char				 next[LOCKSTORE_CURSOR_SIZE];

	memset(&q, 0, sizeof(q));
	if (xmlrpc_array_size(env, params) != 1 && !env->fault_occurred) {
		xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS,
		    "list takes 1 struct parameter (options; {} for none)");
		return NULL;
	}
	xmlrpc_array_read_item(env, params, 0, &opts);
	if (env->fault_occurred)
		return NULL;
	if (xmlrpc_value_type(opts) != XMLRPC_TYPE_STRUCT) {
		xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS,
		    "list: parameter 1 (options) must be a struct");
		goto out;
	}
	if (opt_string(env, opts, "prefix", &q.prefix) == -1 ||
	    opt_string(env, opts, "holder", &q.holder) == -1 ||
	    opt_string(env, opts, "after", &q.after) == -1 ||
	    rpc_opt_limit(env, opts, "list", LIST_DEFAULT_LIMIT,
	    LOCKSTORE_LIST_MAX, &q.limit) == -1)
		goto out;
	c.locks = xmlrpc_array_new(env);
	if (env->fault_occurred)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
		goto out;
	}
	st = lockstore_list(store, &q, add_lock, &c, next, err);
	if (env->fault_occurred)
		goto out;
	if (st != LOCKSTORE_OK) {
		/* A bad cursor or limit is a bad parameter here. */
		xmlrpc_env_set_fault(env, st == LOCKSTORE_BAD_RESOURCE ?
		    RPC_FAULT_PARAMS : rpc_fault_code(st), err->msg);
		goto out;
	}
	result = xmlrpc_struct_new(env);
	if (env->fault_occurred)
		goto out;
	xmlrpc_struct_set_value(env, result, "locks", c.locks);
	rpc_struct_put(env, result, "next", xmlrpc_string_new(env, next));
	if (env->fault_occurred) {
		xmlrpc_DECREF(result);
		result = NULL;
	}
out:
	if (c.locks != NULL)
		xmlrpc_DECREF(c.locks);
	if (opts != NULL)
		xmlrpc_DECREF(opts);
	free((char *)q.prefix);
	free((char *)q.holder);
	free((char *)q.after);
	free(err);
	return result;
}

/*
 * A token parameter: an int, an i8, or a string of decimal digits (Python
 * cannot send integers above 2^31-1 as XML-RPC ints).  0 or -1 with a fault.
 */
int
rpc_read_token(xmlrpc_env *env, xmlrpc_value *v, const char *method,
    int index, const char *name, unsigned long long *token)
{
	const char	*s = NULL, *p;
	xmlrpc_int64	 i8;
	int		 i;

	*token = 0;
	switch (xmlrpc_value_type(v)) {
	case XMLRPC_TYPE_INT:
		xmlrpc_read_int(env, v, &i);
		if (!env->fault_occurred && i > 0)
			*token = (unsigned long long)i;
		break;
	case XMLRPC_TYPE_I8:
		xmlrpc_read_i8(env, v, &i8);
		if (!env->fault_occurred && i8 > 0)
			*token = (unsigned long long)i8;
		break;
	case XMLRPC_TYPE_STRING:
		xmlrpc_read_string(env, v, &s);
		if (env->fault_occurred)
			break;
		for (p = s; *p >= '0' && *p <= '9'; p++)
			;
		if (*p == '\0' && p != s && p - s <= 20) {
			errno = 0;
			*token = strtoull(s, NULL, 10);
			if (errno != 0)
				*token = 0;
		}
		free((char *)s);
		break;
	default:
		break;
	}
	if (env->fault_occurred)
		return -1;
	if (*token == 0) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s: parameter %d (%s) must be a positive integer: an int, "
		    "an i8 or a string of decimal digits", method, index, name);
		return -1;
	}
	return 0;
}

static xmlrpc_value *
method_check(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	struct lockstore	*store = server_info;
	struct lockstore_error	*err = NULL;
	enum lockstore_status	 st;
	xmlrpc_value		*v[3] = { NULL, NULL, NULL }, *result = NULL;
	const char		*resource = NULL, *client = NULL;
	unsigned long long	 token;
	int			 i, valid;

	if (xmlrpc_array_size(env, params) != 3 && !env->fault_occurred) {
		xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS, "check takes 3 "
		    "parameters (resource, client, token)");
		return NULL;
	}
	for (i = 0; i < 3 && !env->fault_occurred; i++)
		xmlrpc_array_read_item(env, params, i, &v[i]);
	if (env->fault_occurred)
		goto out;
	if (xmlrpc_value_type(v[0]) != XMLRPC_TYPE_STRING ||
	    xmlrpc_value_type(v[1]) != XMLRPC_TYPE_STRING) {
		xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS, "check: resource "
		    "and client must be strings");
		goto out;
	}
	xmlrpc_read_string(env, v[0], &resource);
	if (!env->fault_occurred)
		xmlrpc_read_string(env, v[1], &client);
	if (env->fault_occurred || rpc_read_token(env, v[2], "check", 3,
	    "token", &token) == -1)
		goto out;
	if ((err = malloc(sizeof(*err))) == NULL) {
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
		goto out;
	}
	st = lockstore_check(store, resource, client, token, &valid, err);
	if (st != LOCKSTORE_OK)
		xmlrpc_env_set_fault(env, rpc_fault_code(st), err->msg);
	else
		result = xmlrpc_bool_new(env, valid);
out:
	for (i = 0; i < 3; i++)
		if (v[i] != NULL)
			xmlrpc_DECREF(v[i]);
	free((char *)resource);
	free((char *)client);
	free(err);
	return result;
}

static const char check_help[] =
    "check(resource, client, token): true if CLIENT holds RESOURCE under "
    "TOKEN now (the grant that handed out TOKEN is the current holding). "
    "TOKEN: int, i8 or a string of digits. Faults: 10, 11, 12, 20, 21.";

static const char status_help[] =
    "status(resource): {resource, held, holder, since, token, ttl, "
    "expires, delay_until, delay_cause}: who holds RESOURCE and since when "
    "(holder, since and token only when held; since and token are absent "
    "for gocept.lockd's lock files; ttl and expires for leases only; "
    "delay_until and delay_cause (\"break\" or \"expiry\") only when not "
    "held and in lock-delay). Names that XML cannot carry come back as "
    "base64. Faults: 10, 11, 20, 21. See PROTOCOL.";

static const char list_help[] =
    "list(options): {locks: [status structs], next}: the held locks, a "
    "page at a time in a stable order. Options (all optional): prefix, "
    "holder, after (the previous page's next), limit (1-10000, default "
    "1000). next is \"\" on the last page. Faults: 10, 20. See PROTOCOL.";

/* Adds status(), list() and check() over STORE to REGISTRY. */
void
rpc_inspect_register(xmlrpc_env *env, xmlrpc_registry *registry,
    struct lockstore *store)
{
	struct xmlrpc_method_info3	methods[] = {
		{ "status", method_status, NULL, 0, "S:s", status_help },
		{ "list", method_list, NULL, 0, "S:S", list_help },
		{ "check", method_check, NULL, 0, "b:ssI,b:ssi,b:sss",
		    check_help },
	};
	size_t				i;

	for (i = 0; !env->fault_occurred &&
	    i < sizeof(methods) / sizeof(methods[0]); i++) {
		methods[i].serverInfo = store;
		xmlrpc_registry_add_method3(env, registry, &methods[i]);
	}
}
