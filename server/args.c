/* SPDX-License-Identifier: MIT */
/*
 * Reading the parameters of a method: counts, strings, tokens, seconds
 * and option structs, each mistake answered with fault 10 in one wording.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>

#include "args.h"
#include "protocol.h"

/* The XML-RPC name of type T, for fault messages. */
static const char *
type_name(xmlrpc_type t)
{
	switch (t) {
	case XMLRPC_TYPE_INT:		return "int";
	case XMLRPC_TYPE_BOOL:		return "boolean";
	case XMLRPC_TYPE_DOUBLE:	return "double";
	case XMLRPC_TYPE_DATETIME:	return "dateTime";
	case XMLRPC_TYPE_STRING:	return "string";
	case XMLRPC_TYPE_BASE64:	return "base64";
	case XMLRPC_TYPE_ARRAY:		return "array";
	case XMLRPC_TYPE_STRUCT:	return "struct";
	case XMLRPC_TYPE_NIL:		return "nil";
	case XMLRPC_TYPE_I8:		return "i8";
	default:			return "unknown";
	}
}

/* Reads between NMIN and NMAX parameters into V. */
int
args_read(xmlrpc_env *env, xmlrpc_value *params, const char *method,
    const char *usage, int nmin, int nmax, xmlrpc_value **v)
{
	int	i, n;

	for (i = 0; i < nmax; i++)
		v[i] = NULL;
	n = xmlrpc_array_size(env, params);
	if (env->fault_occurred)
		return -1;
	if (n < nmin || n > nmax) {
		/* "ping takes no parameters" is worded so since 1.0. */
		if (nmax == 0)
			xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
			    "%s takes no parameters", method);
		else
			xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
			    "%s takes %s, got %d", method, usage, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		xmlrpc_array_read_item(env, params, i, &v[i]);
		if (env->fault_occurred)
			return -1;
	}
	return n;
}

/* Drops the values args_read() gave. */
void
args_drop(xmlrpc_value **v, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		if (v[i] != NULL)
			xmlrpc_DECREF(v[i]);
}

/* Parameter INDEX (NAME) of METHOD as a string. */
int
args_string(xmlrpc_env *env, xmlrpc_value *v, const char *method, int index,
    const char *name, const char **out)
{
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING) {
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: parameter %d (%s) must be a string, not %s", method,
		    index, name, type_name(xmlrpc_value_type(v)));
		return -1;
	}
	xmlrpc_read_string(env, v, out);
	if (env->fault_occurred) {
		xmlrpc_env_clean(env);
		xmlrpc_env_init(env);
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: parameter %d (%s) is not a valid string", method,
		    index, name);
		return -1;
	}
	return 0;
}

/* A positive token: int, i8 or a string of decimal digits. */
int
args_token(xmlrpc_env *env, xmlrpc_value *v, const char *method, int index,
    const char *name, unsigned long long *token)
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
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: parameter %d (%s) must be a positive integer: an int, "
		    "an i8 or a string of decimal digits", method, index, name);
		return -1;
	}
	return 0;
}

/* A number of seconds, rounded up to the millisecond. */
int
args_seconds(xmlrpc_env *env, xmlrpc_value *v, const char *method,
    const char *what, unsigned int max_ms, unsigned int *ms)
{
	xmlrpc_int64	i8;
	double		d = 0, x;
	int		i;

	switch (xmlrpc_value_type(v)) {
	case XMLRPC_TYPE_INT:
		xmlrpc_read_int(env, v, &i);
		d = i;
		break;
	case XMLRPC_TYPE_I8:
		xmlrpc_read_i8(env, v, &i8);
		d = (double)i8;
		break;
	case XMLRPC_TYPE_DOUBLE:
		xmlrpc_read_double(env, v, &d);
		break;
	default:
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: %s must be a number of seconds (int or double), "
		    "not %s", method, what, type_name(xmlrpc_value_type(v)));
		return -1;
	}
	if (env->fault_occurred)
		return -1;
	x = d * 1000.0;
	if (!isfinite(d) || d < 0 || x > (double)max_ms) {
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: %s must be from 0 to %.10g seconds", method, what,
		    max_ms / 1000.0);
		return -1;
	}
	*ms = (unsigned int)x;
	if ((double)*ms < x)
		(*ms)++;
	return 0;
}

/* The options struct V, its members among KNOWN when given. */
int
args_options(xmlrpc_env *env, xmlrpc_value *v, const char *method, int index,
    const char *const *known, const char *list)
{
	xmlrpc_value	*key, *val;
	const char	*name;
	size_t		 k;
	int		 i, n, ok;

	if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRUCT) {
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: parameter %d (options) must be a struct, not %s",
		    method, index, type_name(xmlrpc_value_type(v)));
		return -1;
	}
	n = known != NULL ? xmlrpc_struct_size(env, v) : 0;
	for (i = 0; i < n && !env->fault_occurred; i++) {
		xmlrpc_struct_read_member(env, v, (unsigned int)i, &key, &val);
		if (env->fault_occurred)
			break;
		xmlrpc_read_string(env, key, &name);
		xmlrpc_DECREF(key);
		xmlrpc_DECREF(val);
		if (env->fault_occurred)
			break;
		for (ok = 0, k = 0; known[k] != NULL; k++)
			ok |= strcmp(name, known[k]) == 0;
		if (!ok)
			xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
			    "%s: unknown option '%.64s' (options are: %s)",
			    method, name, list);
		free((char *)name);
	}
	return env->fault_occurred ? -1 : 0;
}

/* Member NAME of OPTS, or *V NULL when absent. */
static int
find_option(xmlrpc_env *env, xmlrpc_value *opts, const char *name,
    xmlrpc_value **v)
{
	*v = NULL;
	xmlrpc_struct_find_value(env, opts, name, v);
	return env->fault_occurred ? -1 : 0;
}

/* Optional member NAME of OPTS as a string. */
int
args_opt_string(xmlrpc_env *env, xmlrpc_value *opts, const char *method,
    const char *name, const char **out)
{
	xmlrpc_value	*v;

	*out = NULL;
	if (find_option(env, opts, name, &v) == -1 || v == NULL)
		return env->fault_occurred ? -1 : 0;
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING) {
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: option '%s' must be a string, not %s", method, name,
		    type_name(xmlrpc_value_type(v)));
		xmlrpc_DECREF(v);
		return -1;
	}
	xmlrpc_read_string(env, v, out);
	xmlrpc_DECREF(v);
	return env->fault_occurred ? -1 : 0;
}

/* Optional member NAME of OPTS as seconds. */
int
args_opt_seconds(xmlrpc_env *env, xmlrpc_value *opts, const char *method,
    const char *name, unsigned int max_ms, unsigned int *ms)
{
	xmlrpc_value	*v;
	char		 what[64];
	int		 r;

	if (find_option(env, opts, name, &v) == -1 || v == NULL)
		return env->fault_occurred ? -1 : 0;
	snprintf(what, sizeof(what), "option '%s'", name);
	r = args_seconds(env, v, method, what, max_ms, ms);
	xmlrpc_DECREF(v);
	return r;
}

/* The "limit" member of OPTS. */
int
args_opt_limit(xmlrpc_env *env, xmlrpc_value *opts, const char *method,
    size_t def, int max, size_t *limit)
{
	xmlrpc_value	*v;
	int		 n;

	*limit = def;
	if (find_option(env, opts, "limit", &v) == -1 || v == NULL)
		return env->fault_occurred ? -1 : 0;
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_INT) {
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: option 'limit' must be an int, not %s", method,
		    type_name(xmlrpc_value_type(v)));
		xmlrpc_DECREF(v);
		return -1;
	}
	xmlrpc_read_int(env, v, &n);
	xmlrpc_DECREF(v);
	if (env->fault_occurred)
		return -1;
	if (n < 1 || n > max) {
		xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_PARAMS,
		    "%s: option 'limit' must be from 1 to %d", method, max);
		return -1;
	}
	*limit = (size_t)n;
	return 0;
}
