/* SPDX-License-Identifier: MIT */
/*
 * lockcmd's commands in one table: each one's options and operands, the
 * XML-RPC method and parameters they make, and the printer of the answer.
 * Parses a command's words, builds its calls and runs them.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>

#include "lockcmd.h"

/*
 * lock --wait and --ttl, renew --ttl: seconds, 0 to LOCKCMD_SECONDS_MAX
 * (30 days, the largest max-ttl of lockd.conf(5); this bound also keeps the
 * call's time-out, wait plus --timeout, within alarm() and libcurl).
 */
#define LOCKCMD_SECONDS_MAX		2592000
/* history --limit: 1 to LOCKCMD_HISTORY_MAX (PROTOCOL, history). */
#define LOCKCMD_HISTORY_MAX		1000
/* A fencing token on the command line: 1 to 20 decimal digits. */
#define LOCKCMD_TOKEN_DIGITS_MAX	20

#define LOCKCMD_COMMANDS \
	"lock, unlock, check, renew, status, list, history or break"

/* What an option's value is, and what it is sent as. */
enum kind {
	FLAG,		/* none: the option alone, as --token */
	SECONDS,	/* seconds, as a double (parse_seconds()) */
	WAIT,		/* SECONDS that lengthen the call's time-out */
	LIMIT,		/* 1 to LOCKCMD_HISTORY_MAX, as an int */
	TEXT,		/* a string */
	REASON		/* a string that must be given and not be empty */
};

/* An option that follows a command word, as "lock --ttl 30". */
struct cmd_option {
	const char	*name;		/* "--ttl"; NULL ends the list */
	enum kind	 kind;
	const char	*member;	/* in the options struct at the end of
					   the parameters; NULL: a parameter
					   of its own after the operands */
	const char	*method;	/* given, it makes the call this */
	answer_fn	*print;		/* and its printer this */
};

/*
 * A command.  Its parameters (PROTOCOL) are the operands as strings, the
 * options without a member, and the options struct when a member option
 * is given (list: always, with "after" and "limit").
 */
struct command {
	const char	*name;
	const char	*method;
	answer_fn	*print;
	int		 operands;	/* the first N of RESOURCE, CLIENT,
					   TOKEN */
	struct cmd_option options[LOCKCMD_OPTIONS_MAX];
	const char	*texts;		/* the strings it sends, as named when
					   one is not UTF-8 */
	int		 paged;		/* list: asks page by page; its options
					   come in any order, the last counts */
};

/* Name, method, printer, operands, options, texts, paged; as in --help. */
static const struct command commands[] = {
	{ "lock", LOCKD_METHOD_LOCK, answer_nil, 2, {
		{ "--token", FLAG, NULL, LOCKD_METHOD_LOCK_TOKEN,
		    answer_token },
		{ "--wait", WAIT, "wait", LOCKD_METHOD_ACQUIRE,
		    answer_acquired },
		{ "--ttl", SECONDS, "ttl", LOCKD_METHOD_ACQUIRE,
		    answer_acquired } }, "RESOURCE and CLIENT", 0 },
	{ "unlock", LOCKD_METHOD_UNLOCK, answer_nil, 2, { { NULL } },
	    "RESOURCE and CLIENT", 0 },
	{ "check", LOCKD_METHOD_CHECK, answer_check, 3, { { NULL } },
	    "RESOURCE and CLIENT", 0 },
	{ "renew", LOCKD_METHOD_RENEW, answer_renewed, 3, {
		{ "--ttl", SECONDS, NULL, NULL, NULL } },
	    "RESOURCE and CLIENT", 0 },
	{ "status", LOCKD_METHOD_STATUS, answer_status, 1, { { NULL } },
	    "RESOURCE", 0 },
	{ "list", LOCKD_METHOD_LIST, answer_page, 0, {
		{ "--prefix", TEXT, "prefix", NULL, NULL },
		{ "--holder", TEXT, "holder", NULL, NULL } },
	    "PREFIX and CLIENT", 1 },
	{ "history", LOCKD_METHOD_HISTORY, answer_history, 1, {
		{ "--limit", LIMIT, "limit", NULL, NULL } },
	    "RESOURCE", 0 },
	{ "break", LOCKD_METHOD_BREAK_LOCK, answer_break, 1, {
		{ "--reason", REASON, NULL, NULL, NULL } },
	    "RESOURCE and REASON", 0 }
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

/* Appends WORD, the Ith of N, to the list in BUF: "A, B and C". */
static void
list_append(char *buf, size_t size, int i, int n, const char *word)
{
	size_t	len = strlen(buf);

	(void)snprintf(buf + len, size - len, "%s%s",
	    i == 0 ? "" : i + 1 == n ? " and " : ", ", word);
}

/*
 * Parses a number of seconds for --wait or --ttl: decimal digits with an
 * optional fraction ("30", "2.5", ".5"), no sign, exponent or blanks, 0 to
 * LOCKCMD_SECONDS_MAX, into *secondsp.  Returns 0 or -1.
 */
static int
parse_seconds(const char *arg, double *secondsp)
{
	const char	*p = arg;
	char		*end;
	size_t		 digits = 0;
	double		 d;

	for (; *p >= '0' && *p <= '9'; p++)
		digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (digits == 0 || *p != '\0' || p - arg > 32)
		return -1;
	errno = 0;
	d = strtod(arg, &end);
	if (errno != 0 || *end != '\0' || !(d >= 0 &&
	    d <= LOCKCMD_SECONDS_MAX))
		return -1;
	*secondsp = d;
	return 0;
}

/* Parses history's --limit: a whole number from 1 to 1000; 0 or -1. */
static int
parse_limit(const char *arg, double *limitp)
{
	long long	 n;
	char		*end;

	if (*arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	n = strtoll(arg, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > LOCKCMD_HISTORY_MAX)
		return -1;
	*limitp = (double)n;
	return 0;
}

/*
 * Parses the TOKEN operand ARG, 1 to 20 decimal digits without sign or
 * blanks whose value is 1 to 2^63-1 (an XML-RPC i8), into BUF (canonical
 * decimal, no leading zeros); returns 0 or -1.
 */
static int
parse_token(const char *arg, char buf[24])
{
	uint64_t	n = 0;
	size_t		i, len = strlen(arg);

	if (len == 0 || len > LOCKCMD_TOKEN_DIGITS_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return -1;
		if (n > ((uint64_t)INT64_MAX - (uint64_t)(arg[i] - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(arg[i] - '0');
	}
	if (n == 0)
		return -1;
	(void)snprintf(buf, 24, "%" PRIu64, n);
	return 0;
}

/*
 * Matches ARGV[*IP] against the option NAME, as "NAME VALUE" or
 * "NAME=VALUE".  Returns 1 and sets *VALUEP (advancing *IP past a separate
 * value), 0 if it is another word, or 64 when the value is missing.
 */
static int
option_value(const char *name, int argc, char *argv[], int *ip,
    const char **valuep)
{
	const char	*arg = argv[*ip];
	size_t		 len = strlen(name);

	if (strncmp(arg, name, len) != 0)
		return 0;
	if (arg[len] == '=') {
		*valuep = arg + len + 1;
		return 1;
	}
	if (arg[len] != '\0')
		return 0;
	if (*ip + 1 >= argc)
		return output_usage_arg("missing argument to option", arg, "");
	*valuep = argv[++*ip];
	return 1;
}

/* Reports the unknown option ARG of a paged command, naming its own. */
static int
unknown_option(const struct command *cmd, const char *arg)
{
	char	hint[128];
	int	k, n = 0;

	while (n < LOCKCMD_OPTIONS_MAX && cmd->options[n].name != NULL)
		n++;
	(void)snprintf(hint, sizeof(hint), " (%s takes ", cmd->name);
	for (k = 0; k < n; k++)
		list_append(hint, sizeof(hint), k, n, cmd->options[k].name);
	list_append(hint, sizeof(hint), 0, 1, ")");
	return output_usage_arg("unknown option", arg, hint);
}

/*
 * Reads the options of REQ's command from ARGV[1] on into REQ->value and
 * sets *firstp to the index of the first operand.  Options end at "--"
 * (skipped), at the first word that is none of them, and at one that
 * repeats an option already given: so "lock --token --token C" locks the
 * resource "--token", as lockcmd always did, and a RESOURCE may start
 * with '-'.  A paged command takes repeats (the last counts) and no "--".
 * Returns -1, or 64 after reporting.
 */
static int
parse_options(int argc, char *argv[], struct request *req, int *firstp)
{
	const struct command	*cmd = req->command;
	const struct cmd_option	*o;
	int			 i, k, r;

	for (i = 1; cmd->options[0].name != NULL && i < argc; i++) {
		if (!cmd->paged && strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		for (k = 0, r = 0; r == 0 && k < LOCKCMD_OPTIONS_MAX &&
		    (o = &cmd->options[k])->name != NULL; k++) {
			if (req->value[k] != NULL && !cmd->paged)
				continue;
			if (o->kind != FLAG)
				r = option_value(o->name, argc, argv, &i,
				    &req->value[k]);
			else if ((r = strcmp(argv[i], o->name) == 0))
				req->value[k] = "";
		}
		if (r == LOCKCMD_EXIT_USAGE)
			return r;
		if (r == 0 && cmd->paged && argv[i][0] == '-' &&
		    argv[i][1] != '\0')
			return unknown_option(cmd, argv[i]);
		if (r == 0)
			break;
	}
	*firstp = i;
	return -1;
}

/*
 * Checks the values of the options given and lets them choose the method
 * and printer.  MORE: operands follow (so a missing reason is not just a
 * misplaced one).  Returns -1, or 64 after reporting.
 */
static int
check_options(struct request *req, int more)
{
	const struct cmd_option	*o;
	const char		*v;
	char			 what[32];
	int			 k;

	for (k = 0; k < LOCKCMD_OPTIONS_MAX &&
	    (o = &req->command->options[k])->name != NULL; k++) {
		v = req->value[k];
		(void)snprintf(what, sizeof(what), "invalid %s", o->name);
		if (o->kind == REASON && more && (v == NULL || *v == '\0'))
			return output_usage("missing %s TEXT: %s needs a "
			    "non-empty reason", o->name, req->command->name);
		if (v == NULL)
			continue;
		if ((o->kind == SECONDS || o->kind == WAIT) &&
		    parse_seconds(v, &req->number[k]) == -1)
			return output_usage_arg(what, v, ": it must be a "
			    "number of seconds from 0 to 2592000, such as 30 "
			    "or 2.5");
		if (o->kind == LIMIT && parse_limit(v, &req->number[k]) == -1)
			return output_usage_arg(what, v, ": it must be a "
			    "whole number from 1 to 1000");
		if (o->kind == FLAG)
			req->print_token = 1;
		if (o->method != NULL) {
			req->method = o->method;
			req->print = o->print;
		}
	}
	return -1;
}

/*
 * Takes the operands of REQ's command from ARGV[FIRST] on.  Returns -1, or
 * 64 after reporting.
 */
static int
take_operands(int argc, char *argv[], int first, struct request *req)
{
	static const char *const names[] = { "RESOURCE", "CLIENT", "TOKEN" };
	char	missing[64] = "";
	int	have = argc - first, want = req->command->operands, i;

	if (have < want) {
		for (i = have; i < want; i++)
			list_append(missing, sizeof(missing), i - have,
			    want - have, names[i]);
		return output_usage("missing %s", missing);
	}
	if (have > want)
		return output_usage_arg("too many arguments, from",
		    argv[first + want], "");
	req->resource = want > 0 ? argv[first] : NULL;
	req->client = want > 1 ? argv[first + 1] : NULL;
	if (want > 2 && parse_token(argv[first + 2], req->token) == -1)
		return output_usage_arg("invalid token", argv[first + 2],
		    ": it must be a positive whole number of at most 20 "
		    "digits below 2^63");
	return -1;
}

/*
 * Parses the command word ARGV[0] and the words after it into REQ.
 * Returns -1 when REQ is ready, else 64 after reporting.
 */
int
command_parse(int argc, char *argv[], struct request *req)
{
	size_t	i;
	int	first = 1, r;

	if (argc == 0)
		return output_usage("missing command (" LOCKCMD_COMMANDS ")");
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == NCOMMANDS)
		return output_usage_arg("unknown command", argv[0],
		    " (" LOCKCMD_COMMANDS ")");
	req->command = &commands[i];
	req->method = commands[i].method;
	req->print = commands[i].print;
	if ((r = parse_options(argc, argv, req, &first)) != -1 ||
	    (r = check_options(req, argc > first)) != -1)
		return r;
	return take_operands(argc, argv, first, req);
}

/*
 * The time-out of REQ's calls in seconds: --timeout, and for lock --wait
 * the wait on top (rounded up), since the daemon answers only when the
 * wait is over.  At most 3600 + 2592000 seconds: within alarm() and the
 * milliseconds of libcurl's unsigned int time-out.
 */
unsigned int
command_timeout(const struct request *req)
{
	unsigned int	wait = 0;
	int		k;

	for (k = 0; k < LOCKCMD_OPTIONS_MAX; k++)
		if (req->command->options[k].kind == WAIT &&
		    req->value[k] != NULL) {
			wait = (unsigned int)req->number[k];
			if ((double)wait < req->number[k])
				wait++;
		}
	return req->timeout + wait;
}

/*
 * Puts V (released) at the end of the array TO, or under KEY in the struct
 * TO; nothing after a fault, as V is then undefined.
 */
static void
put(xmlrpc_env *env, xmlrpc_value *to, const char *key, xmlrpc_value *v)
{
	if (env->fault_occurred)
		return;
	if (key == NULL)
		xmlrpc_array_append_item(env, to, v);
	else
		xmlrpc_struct_set_value(env, to, key, v);
	xmlrpc_DECREF(v);
}

/* The value of REQ's option K as a parameter, by its kind. */
static xmlrpc_value *
option_param(xmlrpc_env *env, const struct request *req, int k)
{
	switch (req->command->options[k].kind) {
	case SECONDS:
	case WAIT:
		return xmlrpc_double_new(env, req->number[k]);
	case LIMIT:
		return xmlrpc_int_new(env, (int)req->number[k]);
	default:
		return xmlrpc_string_new(env, req->value[k]);
	}
}

/*
 * Builds the parameters of REQ's call as the table says (list: of the page
 * after REQ->after).  The order is PROTOCOL's: the operands, then
 * break_lock's REASON or renew's TTL, then the options struct.
 */
static xmlrpc_value *
make_params(xmlrpc_env *env, const struct request *req)
{
	const char *const	 operand[] = { req->resource, req->client,
				    req->token };
	const struct command	*cmd = req->command;
	const struct cmd_option	*o;
	xmlrpc_value		*params, *options;
	int			 i;

	params = xmlrpc_array_new(env);
	if (env->fault_occurred)
		return NULL;
	options = xmlrpc_struct_new(env);
	if (env->fault_occurred) {
		xmlrpc_DECREF(params);
		return NULL;
	}
	for (i = 0; i < cmd->operands && !env->fault_occurred; i++)
		put(env, params, NULL, xmlrpc_string_new(env, operand[i]));
	for (i = 0; i < LOCKCMD_OPTIONS_MAX && !env->fault_occurred &&
	    (o = &cmd->options[i])->name != NULL; i++)
		if (req->value[i] != NULL && o->kind != FLAG)
			put(env, o->member != NULL ? options : params,
			    o->member, option_param(env, req, i));
	if (cmd->paged && req->after != NULL && !env->fault_occurred)
		put(env, options, "after", xmlrpc_string_new(env, req->after));
	if (cmd->paged && !env->fault_occurred)
		put(env, options, "limit", xmlrpc_int_new(env, LIST_PAGE));
	if (!env->fault_occurred && xmlrpc_struct_size(env, options) > 0)
		xmlrpc_array_append_item(env, params, options);
	xmlrpc_DECREF(options);
	if (env->fault_occurred) {
		xmlrpc_DECREF(params);
		return NULL;
	}
	return params;
}

/*
 * Serializes REQ's call into *callp.  Returns 0, or after reporting why an
 * exit status: 64 when a string is not UTF-8 or leaves the Basic
 * Multilingual Plane, which xmlrpc-c 1.33 cannot encode (nor lockd's
 * parser decode).
 */
static int
make_call(const struct request *req, xmlrpc_mem_block **callp)
{
	xmlrpc_env	 env;
	xmlrpc_value	*params;
	int		 status = 0;

	xmlrpc_env_init(&env);
	*callp = NULL;
	params = make_params(&env, req);
	if (!env.fault_occurred)
		*callp = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
	if (!env.fault_occurred)
		xmlrpc_serialize_call(&env, *callp, req->method, params);
	if (env.fault_code == XMLRPC_INVALID_UTF8_ERROR && req->after != NULL)
		status = output_unexpected("a 'next' that cannot be sent "
		    "back");
	else if (env.fault_code == XMLRPC_INVALID_UTF8_ERROR) {
		output_warnx("%s must be UTF-8 without characters above "
		    "U+FFFF", req->command->texts);
		status = LOCKCMD_EXIT_USAGE;
	} else if (env.fault_occurred) {
		output_warnx_untrusted("cannot build the request: ",
		    env.fault_string);
		status = LOCKCMD_EXIT_SOFTWARE;
	}
	if (status != 0 && *callp != NULL) {
		XMLRPC_MEMBLOCK_FREE(char, *callp);
		*callp = NULL;
	}
	if (params != NULL)
		xmlrpc_DECREF(params);
	xmlrpc_env_clean(&env);
	return status;
}

/*
 * Makes REQ's call, sends it over S and prints the answer.  Returns the
 * exit status, or -1 after a page of a listing (with REQ->next set).
 */
static int
call_once(struct session *s, struct request *req)
{
	xmlrpc_mem_block	*call;
	xmlrpc_value		*result = NULL;
	int			 status;

	if ((status = make_call(req, &call)) != 0)
		return status;
	status = rpc_exchange(s, call, &result);
	XMLRPC_MEMBLOCK_FREE(char, call);
	if (status != -1)
		return status;
	status = req->print(result, req);
	xmlrpc_DECREF(result);
	return status;
}

/*
 * Runs REQ's command over S: one call, or for list one per page, each
 * page's "next" asking for the following one until it is "".  A listing
 * is printed page by page, so after a failure it is incomplete (and the
 * exit status not 0).
 */
int
command_run(struct session *s, struct request *req)
{
	long	page;
	int	status = LOCKCMD_EXIT_SOFTWARE;

	for (page = 0; page < LIST_PAGES_MAX; page++) {
		if ((status = call_once(s, req)) != -1)
			break;
		if (req->next[0] == '\0')
			status = LOCKCMD_EXIT_OK;
		/* The same cursor again would repeat the page forever. */
		else if (req->after != NULL && strcmp(req->next,
		    req->after) == 0)
			status = output_unexpected("the same 'next' twice");
		free(req->after);
		req->after = req->next;
		req->next = NULL;
		if (status != -1)
			break;
	}
	if (page == LIST_PAGES_MAX) {
		output_warnx("unexpected response from lockd: more than %d "
		    "pages of %d locks", LIST_PAGES_MAX, LIST_PAGE);
		status = LOCKCMD_EXIT_SOFTWARE;
	}
	free(req->after);
	req->after = NULL;
	return status;
}
