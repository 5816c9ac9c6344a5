/* SPDX-License-Identifier: MIT */
/*
 * What lockcmd prints of lockd's answer to each command: the printers of
 * command.c's table (status, the token, check's verdict, a grant or lease,
 * a break, the history, a page of the listing).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>

#include "lockcmd.h"

/* Reports a result of the wrong type: WANTED is what it should be. */
static int
unexpected_type(xmlrpc_value *v, const char *wanted)
{
	output_warnx("unexpected response from lockd: a result of type %s "
	    "instead of %s", xmlrpc_type_name(xmlrpc_value_type(v)), wanted);
	return LOCKCMD_EXIT_SOFTWARE;
}

/*
 * Member KEY of the struct S (the caller releases it), NULL when it is
 * absent.  Every caller has checked that S is a struct, the one thing
 * xmlrpc_struct_find_value() faults on.
 */
static xmlrpc_value *
member(xmlrpc_value *s, const char *key)
{
	xmlrpc_env	 env;
	xmlrpc_value	*v = NULL;

	xmlrpc_env_init(&env);
	xmlrpc_struct_find_value(&env, s, key, &v);
	if (env.fault_occurred)
		v = NULL;
	xmlrpc_env_clean(&env);
	return v;
}

/* A name from an answer: a string, or base64 if XML could not carry it. */
struct name {
	const char	*bytes;		/* malloc()ed by xmlrpc-c; NULL: none */
	size_t		 len;
};

/*
 * Reads member KEY of the struct S into *NAME.  Returns 0, or -1 when it is
 * missing or neither a string nor base64.
 */
static int
read_name(xmlrpc_value *s, const char *key, struct name *name)
{
	xmlrpc_env		 env;
	xmlrpc_value		*v = member(s, key);
	const unsigned char	*bytes;

	name->bytes = NULL;
	name->len = 0;
	if (v == NULL)
		return -1;
	xmlrpc_env_init(&env);
	if (xmlrpc_value_type(v) == XMLRPC_TYPE_STRING)
		xmlrpc_read_string_lp(&env, v, &name->len, &name->bytes);
	else if (xmlrpc_value_type(v) == XMLRPC_TYPE_BASE64) {
		xmlrpc_read_base64(&env, v, &name->len, &bytes);
		if (!env.fault_occurred)
			name->bytes = (const char *)bytes;
	}
	if (env.fault_occurred)
		name->bytes = NULL;
	xmlrpc_DECREF(v);
	xmlrpc_env_clean(&env);
	return name->bytes != NULL ? 0 : -1;
}

static void
free_name(struct name *name)
{
	free((void *)name->bytes);
	name->bytes = NULL;
}

/*
 * Reads the optional member KEY of the struct S into BUF as UTC ISO 8601
 * ("2026-11-27T07:30:00Z"), or "" when it is absent.  Returns 0, or -1
 * when it is not a plausible dateTime.iso8601.
 */
static int
read_time(xmlrpc_value *s, const char *key, char buf[32])
{
	xmlrpc_env	 env;
	xmlrpc_value	*v = member(s, key);
	xmlrpc_datetime	 dt;
	int		 ok = 0;

	buf[0] = '\0';
	if (v == NULL)
		return 0;
	xmlrpc_env_init(&env);
	if (xmlrpc_value_type(v) == XMLRPC_TYPE_DATETIME) {
		xmlrpc_read_datetime(&env, v, &dt);
		ok = !env.fault_occurred && dt.Y >= 1 && dt.Y <= 9999 &&
		    dt.M >= 1 && dt.M <= 12 && dt.D >= 1 && dt.D <= 31 &&
		    dt.h <= 23 && dt.m <= 59 && dt.s <= 60;
	}
	if (ok)
		(void)snprintf(buf, 32, "%04u-%02u-%02uT%02u:%02u:%02uZ",
		    dt.Y, dt.M, dt.D, dt.h, dt.m, dt.s);
	xmlrpc_DECREF(v);
	xmlrpc_env_clean(&env);
	return ok ? 0 : -1;
}

/*
 * Reads the optional member KEY of the struct S, a number of seconds
 * (double, or int), into *secondsp; -1 there when it is absent.  Returns
 * 0, or -1 when it is not a finite number from 0 up.
 */
static int
read_seconds(xmlrpc_value *s, const char *key, double *secondsp)
{
	xmlrpc_env	 env;
	xmlrpc_value	*v = member(s, key);
	double		 d = -1;
	int		 i = 0, ok = 0;

	*secondsp = -1;
	if (v == NULL)
		return 0;
	xmlrpc_env_init(&env);
	if (xmlrpc_value_type(v) == XMLRPC_TYPE_DOUBLE) {
		xmlrpc_read_double(&env, v, &d);
		/* Not NaN, not infinite, not negative. */
		ok = !env.fault_occurred && d >= 0 && d <= 1e15;
	} else if (xmlrpc_value_type(v) == XMLRPC_TYPE_INT) {
		xmlrpc_read_int(&env, v, &i);
		d = i;
		ok = !env.fault_occurred && i >= 0;
	}
	xmlrpc_DECREF(v);
	xmlrpc_env_clean(&env);
	*secondsp = d;
	return ok ? 0 : -1;
}

/*
 * Reads the boolean V, or member KEY of the struct V if KEY is not NULL,
 * into *valuep.  Returns 0, or -1 when it is missing or not a boolean.
 */
static int
read_bool(xmlrpc_value *v, const char *key, int *valuep)
{
	xmlrpc_env	env;
	xmlrpc_bool	b = 0;
	int		ok = 0;

	*valuep = 0;
	if (key != NULL && (v = member(v, key)) == NULL)
		return -1;
	xmlrpc_env_init(&env);
	if (xmlrpc_value_type(v) == XMLRPC_TYPE_BOOL) {
		xmlrpc_read_bool(&env, v, &b);
		ok = !env.fault_occurred;
	}
	if (key != NULL)
		xmlrpc_DECREF(v);
	xmlrpc_env_clean(&env);
	*valuep = b ? 1 : 0;
	return ok ? 0 : -1;
}

/*
 * Reads the integer V (i8, or int) into *tokenp.  Returns 0, or -1 when it
 * is not an integer or not positive.
 */
static int
read_token_value(xmlrpc_value *v, int64_t *tokenp)
{
	xmlrpc_env	env;
	xmlrpc_int64	i8 = 0;
	int		i4 = 0, ok = 0;

	xmlrpc_env_init(&env);
	if (xmlrpc_value_type(v) == XMLRPC_TYPE_I8) {
		xmlrpc_read_i8(&env, v, &i8);
		ok = !env.fault_occurred;
	} else if (xmlrpc_value_type(v) == XMLRPC_TYPE_INT) {
		xmlrpc_read_int(&env, v, &i4);
		i8 = i4;
		ok = !env.fault_occurred;
	}
	xmlrpc_env_clean(&env);
	if (!ok || i8 <= 0)
		return -1;
	*tokenp = (int64_t)i8;
	return 0;
}

/*
 * Reads the optional integer member KEY of the struct S into *tokenp (0
 * when it is absent).  Returns 0, or -1 when it is not a positive integer.
 */
static int
read_token(xmlrpc_value *s, const char *key, int64_t *tokenp)
{
	xmlrpc_value	*v = member(s, key);
	int		 r = 0;

	*tokenp = 0;
	if (v != NULL) {
		r = read_token_value(v, tokenp);
		xmlrpc_DECREF(v);
	}
	return r;
}

/* Prints " after a break" or " after an expired lease" for CAUSE. */
static void
put_delay_cause(const struct name *cause)
{
	if (cause->bytes == NULL)
		return;
	if (cause->len == 5 && memcmp(cause->bytes, "break", 5) == 0)
		(void)fputs(" after a break", stdout);
	else if (cause->len == 6 && memcmp(cause->bytes, "expiry", 6) == 0)
		(void)fputs(" after an expired lease", stdout);
}

/*
 * Prints "RESOURCE VERB'HOLDER' since TIME (token N)", RESOURCE as lockd
 * names it (else ASKED), without HOLDER's part if there is none and
 * without what lockd does not say.
 */
static void
put_holding(const struct name *resource, const char *asked,
    const char *verb, const struct name *holder, const char *since,
    int64_t token)
{
	if (resource->bytes != NULL)
		output_put_name(stdout, resource->bytes, resource->len);
	else
		output_put_name(stdout, asked, strlen(asked));
	(void)fputs(verb, stdout);
	if (holder->bytes == NULL)
		return;
	output_put_name(stdout, holder->bytes, holder->len);
	(void)putchar('\'');
	if (since[0] != '\0')
		(void)printf(" since %s", since);
	if (token > 0)
		(void)printf(" (token %" PRId64 ")", token);
}

/*
 * Prints the answer RESULT of status and returns the exit status: 0 if
 * the resource is held, 3 if not.  The name printed is the one lockd
 * answers about (it differs from the one asked about when XML turned a CR
 * into a LF).  A lease adds its end and TTL, a lock-delay its end and
 * cause.
 */
int
answer_status(xmlrpc_value *result, struct request *req)
{
	struct name	 resource, holder = { NULL, 0 }, cause = { NULL, 0 };
	char		 since[32] = "", expires[32] = "", until[32] = "";
	const char	*bad = NULL;
	double		 ttl = -1;
	int64_t		 token = 0;
	int		 held, status;

	if (xmlrpc_value_type(result) != XMLRPC_TYPE_STRUCT)
		return unexpected_type(result, "a struct");
	if (read_bool(result, "held", &held) == -1)
		return output_unexpected("no boolean 'held' in the status");
	(void)read_name(result, "resource", &resource);	/* optional */
	if (held && read_name(result, "holder", &holder) == -1)
		bad = "a held lock without a 'holder' name";
	else if (held && read_time(result, "since", since) == -1)
		bad = "a 'since' that is not a dateTime.iso8601";
	else if (held && read_token(result, "token", &token) == -1)
		bad = "a 'token' that is not a positive integer";
	else if (held && read_time(result, "expires", expires) == -1)
		bad = "an 'expires' that is not a dateTime.iso8601";
	else if (held && read_seconds(result, "ttl", &ttl) == -1)
		bad = "a 'ttl' that is not a number of seconds";
	else if (!held && read_time(result, "delay_until", until) == -1)
		bad = "a 'delay_until' that is not a dateTime.iso8601";
	else if (until[0] != '\0')
		(void)read_name(result, "delay_cause", &cause);	/* optional */
	if (bad != NULL) {
		free_name(&resource);
		free_name(&holder);
		return output_unexpected(bad);
	}
	put_holding(&resource, req->resource, held ? " is locked by '" :
	    " is not locked", &holder, since, token);
	if (held) {
		if (expires[0] != '\0')
			(void)printf(", lease expires %s", expires);
		if (expires[0] != '\0' && ttl >= 0)
			(void)printf(" (ttl %.15g s)", ttl);
	} else {
		if (until[0] != '\0')
			(void)printf(", held off until %s", until);
		put_delay_cause(&cause);
	}
	(void)putchar('\n');
	free_name(&resource);
	free_name(&holder);
	free_name(&cause);
	if ((status = output_flush()) != 0)
		return status;
	return held ? LOCKCMD_EXIT_OK : LOCKCMD_EXIT_NOT_LOCKED;
}

/* Prints one lock of a listing, LOCK, as RESOURCE<tab>HOLDER<tab>SINCE. */
static int
show_lock(xmlrpc_value *lock)
{
	struct name	resource, holder;
	char		since[32];

	if (xmlrpc_value_type(lock) != XMLRPC_TYPE_STRUCT)
		return output_unexpected("a lock in the list that is not a "
		    "struct");
	if (read_name(lock, "resource", &resource) == -1)
		return output_unexpected("a lock in the list without a "
		    "'resource' name");
	if (read_name(lock, "holder", &holder) == -1) {
		free_name(&resource);
		return output_unexpected("a lock in the list without a "
		    "'holder' name");
	}
	if (read_time(lock, "since", since) == -1) {
		free_name(&resource);
		free_name(&holder);
		return output_unexpected("a 'since' that is not a "
		    "dateTime.iso8601");
	}
	output_put_name(stdout, resource.bytes, resource.len);
	(void)putchar('\t');
	output_put_name(stdout, holder.bytes, holder.len);
	(void)printf("\t%s\n", since[0] != '\0' ? since : "-");
	free_name(&resource);
	free_name(&holder);
	return 0;
}

/*
 * Prints each item of ARRAY with PRINT and flushes: 0, or the exit status
 * after reporting (WHAT: the array, should it be unreadable).
 */
static int
print_items(xmlrpc_value *array, int (*print)(xmlrpc_value *),
    const char *what)
{
	xmlrpc_env	 env;
	xmlrpc_value	*item;
	int		 i, n, status = 0;

	xmlrpc_env_init(&env);
	n = xmlrpc_array_size(&env, array);
	for (i = 0; i < n && !env.fault_occurred && status == 0; i++) {
		xmlrpc_array_read_item(&env, array, (unsigned int)i, &item);
		if (!env.fault_occurred) {
			status = print(item);
			xmlrpc_DECREF(item);
		}
	}
	if (env.fault_occurred)
		status = output_unexpected(what);
	xmlrpc_env_clean(&env);
	return status == 0 ? output_flush() : status;
}

/*
 * Prints the locks of one page RESULT of list and sets REQ->next to its
 * "next" (malloc()ed).  Returns -1, or the exit status after reporting.
 */
int
answer_page(xmlrpc_value *result, struct request *req)
{
	xmlrpc_env	 env;
	xmlrpc_value	*locks, *next;
	const char	*s = NULL;
	int		 status;

	req->next = NULL;
	if (xmlrpc_value_type(result) != XMLRPC_TYPE_STRUCT)
		return unexpected_type(result, "a struct");
	locks = member(result, "locks");
	next = member(result, "next");
	xmlrpc_env_init(&env);
	if (next != NULL && xmlrpc_value_type(next) == XMLRPC_TYPE_STRING)
		xmlrpc_read_string(&env, next, &s);	/* NULL on a fault */
	if (locks == NULL || xmlrpc_value_type(locks) != XMLRPC_TYPE_ARRAY)
		status = output_unexpected("no array 'locks' in the list");
	else if (s == NULL)
		status = output_unexpected("no string 'next' in the list");
	else if ((status = print_items(locks, show_lock,
	    "an unreadable 'locks' array")) == 0) {
		req->next = (char *)s;
		s = NULL;
		status = -1;
	}
	free((void *)s);
	if (locks != NULL)
		xmlrpc_DECREF(locks);
	if (next != NULL)
		xmlrpc_DECREF(next);
	xmlrpc_env_clean(&env);
	return status;
}

/* Prints the answer RESULT of lock_token: the token, one line. */
int
answer_token(xmlrpc_value *result, struct request *req)
{
	int64_t	token;

	(void)req;
	if (xmlrpc_value_type(result) != XMLRPC_TYPE_I8 &&
	    xmlrpc_value_type(result) != XMLRPC_TYPE_INT)
		return unexpected_type(result, "i8");
	if (read_token_value(result, &token) == -1)
		return output_unexpected("a token that is not a positive "
		    "integer");
	(void)printf("%" PRId64 "\n", token);
	return output_flush();
}

/*
 * Takes the answer RESULT of check: 0 when true, 1 after saying so on
 * standard error when false.
 */
int
answer_check(xmlrpc_value *result, struct request *req)
{
	char	*client, *resource;
	int	 b;

	if (xmlrpc_value_type(result) != XMLRPC_TYPE_BOOL)
		return unexpected_type(result, "boolean");
	if (read_bool(result, NULL, &b) == -1)
		return output_unexpected("an unreadable boolean");
	if (b)
		return LOCKCMD_EXIT_OK;
	client = output_sanitize(req->client, strlen(req->client));
	resource = output_sanitize(req->resource, strlen(req->resource));
	if (client == NULL || resource == NULL)
		output_warnx("CLIENT does not hold RESOURCE under token %s",
		    req->token);
	else
		output_warnx("%s does not hold %s under token %s", client,
		    resource, req->token);
	free(client);
	free(resource);
	return LOCKCMD_EXIT_HELD;
}

/*
 * Prints the answer RESULT of acquire (ACQUIRE) or renew to REQ: on
 * standard error that a lock was reacquired and when a lease ends, and the
 * token on standard output for lock --token.  Returns the exit status, 0.
 */
static int
show_grant(xmlrpc_value *result, const struct request *req, int acquire)
{
	char		 expires[32];
	char		*client, *resource;
	double		 ttl;
	int64_t		 token;
	int		 reacquired = 0;

	if (xmlrpc_value_type(result) != XMLRPC_TYPE_STRUCT)
		return unexpected_type(result, "a struct");
	if (read_token(result, "token", &token) == -1 || token == 0)
		return output_unexpected("no positive integer 'token' in the "
		    "grant");
	if (acquire && read_bool(result, "reacquired", &reacquired) == -1)
		return output_unexpected("no boolean 'reacquired' in the "
		    "grant");
	if (read_time(result, "expires", expires) == -1)
		return output_unexpected("an 'expires' that is not a "
		    "dateTime.iso8601");
	if (read_seconds(result, "ttl", &ttl) == -1)
		return output_unexpected("a 'ttl' that is not a number of "
		    "seconds");
	client = output_sanitize(req->client, strlen(req->client));
	resource = output_sanitize(req->resource, strlen(req->resource));
	if (client == NULL || resource == NULL) {
		free(client);
		free(resource);
		output_warnx("out of memory");
		return LOCKCMD_EXIT_SOFTWARE;
	}
	if (acquire && reacquired)
		output_warnx("'%s' was already held by '%s' (token %" PRId64
		    ")", resource, client, token);
	if (expires[0] != '\0' && ttl >= 0)
		output_warnx("lease on '%s' expires at %s (ttl %.15g s)",
		    resource, expires, ttl);
	else if (expires[0] != '\0')
		output_warnx("lease on '%s' expires at %s", resource,
		    expires);
	free(client);
	free(resource);
	if (req->print_token)
		(void)printf("%" PRId64 "\n", token);
	return output_flush();
}

/* Prints the answer RESULT of acquire, as show_grant(). */
int
answer_acquired(xmlrpc_value *result, struct request *req)
{
	return show_grant(result, req, 1);
}

/* Prints the answer RESULT of renew, as show_grant(). */
int
answer_renewed(xmlrpc_value *result, struct request *req)
{
	return show_grant(result, req, 0);
}

/*
 * Prints the answer RESULT of break_lock as one line: "RESOURCE was locked
 * by 'HOLDER' since TIME (token N): broken, new token M, held off until
 * TIME", without what lockd does not say.
 */
int
answer_break(xmlrpc_value *result, struct request *req)
{
	struct name	 resource, holder;
	char		 since[32], until[32];
	const char	*bad = NULL;
	int64_t		 token, new_token;

	if (xmlrpc_value_type(result) != XMLRPC_TYPE_STRUCT)
		return unexpected_type(result, "a struct");
	(void)read_name(result, "resource", &resource);	/* optional */
	if (read_name(result, "holder", &holder) == -1)
		bad = "a broken lock without a 'holder' name";
	else if (read_time(result, "since", since) == -1)
		bad = "a 'since' that is not a dateTime.iso8601";
	else if (read_token(result, "token", &token) == -1)
		bad = "a 'token' that is not a positive integer";
	else if (read_token(result, "new_token", &new_token) == -1 ||
	    new_token == 0)
		bad = "no positive integer 'new_token' in the answer";
	else if (read_time(result, "delay_until", until) == -1)
		bad = "a 'delay_until' that is not a dateTime.iso8601";
	if (bad != NULL) {
		free_name(&resource);
		free_name(&holder);
		return output_unexpected(bad);
	}
	put_holding(&resource, req->resource, " was locked by '", &holder,
	    since, token);
	(void)printf(": broken, new token %" PRId64, new_token);
	if (until[0] != '\0')
		(void)printf(", held off until %s", until);
	(void)putchar('\n');
	free_name(&resource);
	free_name(&holder);
	return output_flush();
}

/* Prints the field NAME of a line, '-' when it is absent. */
static void
put_field(const struct name *name)
{
	if (name->bytes != NULL)
		output_put_name(stdout, name->bytes, name->len);
	else
		(void)putchar('-');
}

/*
 * Prints one ended holding ENTRY of history() as RESOURCE, HOLDER, SINCE,
 * UNTIL, TOKEN, ENDED, BY and REASON, separated by tabs, '-' for what is
 * absent.  Returns 0, or the exit status after reporting.
 */
static int
show_ended(xmlrpc_value *entry)
{
	enum { RESOURCE, HOLDER, ENDED, BY, REASON, NNAMES };
	static const char *const keys[NNAMES] = { "resource", "holder",
	    "ended", "by", "reason" };
	struct name	 names[NNAMES];
	char		 since[32], until[32];
	const char	*bad = NULL;
	int64_t		 token;
	int		 i;

	if (xmlrpc_value_type(entry) != XMLRPC_TYPE_STRUCT)
		return output_unexpected("a history entry that is not a "
		    "struct");
	for (i = 0; i < NNAMES; i++)
		(void)read_name(entry, keys[i], &names[i]);
	if (names[RESOURCE].bytes == NULL || names[HOLDER].bytes == NULL ||
	    names[ENDED].bytes == NULL)
		bad = "a history entry without 'resource', 'holder' or "
		    "'ended'";
	else if (read_time(entry, "since", since) == -1 ||
	    read_time(entry, "until", until) == -1 || until[0] == '\0')
		bad = "a history entry whose 'since' or 'until' is not a "
		    "dateTime.iso8601";
	else if (read_token(entry, "token", &token) == -1)
		bad = "a 'token' that is not a positive integer";
	if (bad == NULL) {
		put_field(&names[RESOURCE]);
		(void)putchar('\t');
		put_field(&names[HOLDER]);
		(void)printf("\t%s\t%s\t", since[0] != '\0' ? since : "-",
		    until);
		if (token > 0)
			(void)printf("%" PRId64, token);
		else
			(void)putchar('-');
		for (i = ENDED; i < NNAMES; i++) {
			(void)putchar('\t');
			put_field(&names[i]);
		}
		(void)putchar('\n');
	}
	for (i = 0; i < NNAMES; i++)
		free_name(&names[i]);
	return bad != NULL ? output_unexpected(bad) : 0;
}

/* Prints the answer RESULT of history, one line per ended holding. */
int
answer_history(xmlrpc_value *result, struct request *req)
{
	(void)req;
	if (xmlrpc_value_type(result) != XMLRPC_TYPE_ARRAY)
		return unexpected_type(result, "an array");
	return print_items(result, show_ended, "an unreadable history "
	    "array");
}

/* Takes the answer RESULT of lock or unlock: nil, and nothing to print. */
int
answer_nil(xmlrpc_value *result, struct request *req)
{
	(void)req;
	if (xmlrpc_value_type(result) != XMLRPC_TYPE_NIL)
		return unexpected_type(result, "nil");
	return LOCKCMD_EXIT_OK;
}
