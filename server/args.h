/* SPDX-License-Identifier: MIT */
/*
 * Reading the parameters of a method: the one set of helpers, so that the
 * same mistake gets the same fault 10 and the same words in every method
 * (PROTOCOL, "Faults").  Each returns 0, or -1 with the fault in ENV.
 */
#ifndef ARGS_H
#define ARGS_H

#include <stddef.h>

#include <xmlrpc-c/base.h>

/*
 * Reads between NMIN and NMAX parameters of METHOD into V (NULL beyond
 * those given; free with args_drop).  USAGE words them for the fault
 * "<method> takes <usage>, got <n>"; NMAX 0 gives "<method> takes no
 * parameters".  The number given, or -1.
 */
int		 args_read(xmlrpc_env *env, xmlrpc_value *params,
		    const char *method, const char *usage, int nmin, int nmax,
		    xmlrpc_value **v);

/* Drops the N values args_read() gave. */
void		 args_drop(xmlrpc_value **v, int n);

/* Parameter V, number INDEX (NAME) of METHOD, as a string in *OUT for the
 * caller to free. */
int		 args_string(xmlrpc_env *env, xmlrpc_value *v,
		    const char *method, int index, const char *name,
		    const char **out);

/*
 * A fencing token: an int, an i8 or a string of decimal digits (Python
 * cannot send integers above 2^31-1 as XML-RPC ints), positive.
 */
int		 args_token(xmlrpc_env *env, xmlrpc_value *v,
		    const char *method, int index, const char *name,
		    unsigned long long *token);

/*
 * A number of seconds V (int, i8 or double) from 0 to MAX_MS / 1000, in
 * *MS rounded up to the millisecond (so that a tiny TTL is still a
 * lease).  WHAT names it in the fault ("option 'wait'").
 */
int		 args_seconds(xmlrpc_env *env, xmlrpc_value *v,
		    const char *method, const char *what, unsigned int max_ms,
		    unsigned int *ms);

/*
 * The options struct V, parameter INDEX of METHOD.  With KNOWN (NULL-
 * terminated; LIST words them, "a, b"), every member must be among them,
 * so that a misspelt option is refused instead of silently ignored.
 */
int		 args_options(xmlrpc_env *env, xmlrpc_value *v,
		    const char *method, int index, const char *const *known,
		    const char *list);

/* Optional member NAME of OPTS as a string in *OUT (NULL when absent). */
int		 args_opt_string(xmlrpc_env *env, xmlrpc_value *opts,
		    const char *method, const char *name, const char **out);

/* Optional member NAME of OPTS as seconds into *MS (left alone when
 * absent); see args_seconds. */
int		 args_opt_seconds(xmlrpc_env *env, xmlrpc_value *opts,
		    const char *method, const char *name, unsigned int max_ms,
		    unsigned int *ms);

/* The "limit" member of OPTS into *LIMIT: DEF when absent, else an int
 * from 1 to MAX. */
int		 args_opt_limit(xmlrpc_env *env, xmlrpc_value *opts,
		    const char *method, size_t def, int max, size_t *limit);

#endif /* ARGS_H */
