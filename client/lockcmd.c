/* SPDX-License-Identifier: MIT */
/*
 * lockcmd: takes or releases one lock at a lockd daemon from the shell, or
 * shows who holds what.  A thin xmlrpc-c client: one call per run (list:
 * one per page), the outcome as the exit status.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lockcmd.h"

#ifndef LOCKD_DEFAULT_PORT
#define LOCKD_DEFAULT_PORT	8044
#endif

#define LOCKCMD_TIMEOUT_DEFAULT		10	/* seconds */
#define LOCKCMD_TIMEOUT_MIN		1
#define LOCKCMD_TIMEOUT_MAX		3600

/* A fencing token on the command line: 1 to 20 decimal digits. */
#define LOCKCMD_TOKEN_DIGITS_MAX	20

#define LOCKCMD_STR(x)			LOCKCMD_STR2(x)
#define LOCKCMD_STR2(x)			#x
#define LOCKCMD_URL_DEFAULT \
	"http://127.0.0.1:" LOCKCMD_STR(LOCKD_DEFAULT_PORT) "/"

#define LOCKCMD_COMMANDS \
	"lock, unlock, check, renew, status, list, history or break"

static const struct option long_options[] = {
	{ "cacert",	required_argument,	NULL,	'C' },
	{ "help",	no_argument,		NULL,	'h' },
	{ "server",	required_argument,	NULL,	's' },
	{ "timeout",	required_argument,	NULL,	't' },
	{ "version",	no_argument,		NULL,	'V' },
	{ NULL,		0,			NULL,	0 }
};

static const char usage_text[] =
"usage: lockcmd [-s URL | --server URL] [-t SECONDS | --timeout SECONDS]\n"
"               [-C FILE | --cacert FILE] lock|unlock RESOURCE CLIENT\n"
"       lockcmd [options] lock [--token] [--wait SECONDS] [--ttl SECONDS]\n"
"               RESOURCE CLIENT\n"
"       lockcmd [options] renew [--ttl SECONDS] RESOURCE CLIENT TOKEN\n"
"       lockcmd [options] check RESOURCE CLIENT TOKEN\n"
"       lockcmd [options] status RESOURCE\n"
"       lockcmd [options] list [--prefix PREFIX] [--holder CLIENT]\n"
"       lockcmd [options] history [--limit N] RESOURCE\n"
"       lockcmd [options] break --reason TEXT RESOURCE\n"
"       lockcmd -h | --help\n"
"       lockcmd -V | --version\n"
"\n"
"Commands:\n"
"  lock, unlock  take or release the lock on RESOURCE for CLIENT; success\n"
"                is silent\n"
"  lock --token RESOURCE CLIENT\n"
"                also print the lock's fencing token, a positive integer,\n"
"                on standard output\n"
"  lock --wait SECONDS, --ttl SECONDS\n"
"                wait up to SECONDS for a held RESOURCE; take a lease that\n"
"                ends after SECONDS unless renewed (printed on standard\n"
"                error: \"lease on 'RESOURCE' expires at TIME (ttl N s)\").\n"
"                With either, a lock CLIENT holds already is taken again\n"
"                under its token, saying so on standard error.  SECONDS is\n"
"                0 to 2592000, fractions allowed, as in 2.5\n"
"  renew         extend CLIENT's lease on RESOURCE, taken under TOKEN, to\n"
"                --ttl SECONDS from now (default: its own TTL); prints the\n"
"                new expiry on standard error as lock --ttl does\n"
"  check         tell whether CLIENT holds RESOURCE under the fencing token\n"
"                TOKEN right now (exit status 0) or not (1); TOKEN is a\n"
"                positive decimal integer of at most 20 digits\n"
"  status        print \"RESOURCE is locked by 'HOLDER' since TIME (token\n"
"                N)\" (no \"since TIME\" or \"(token N)\" if lockd does not\n"
"                know them; a lease adds \", lease expires TIME (ttl N s)\")\n"
"                or \"RESOURCE is not locked\" (in a lock-delay adding\n"
"                \", held off until TIME after a break\" or \"... after an\n"
"                expired lease\")\n"
"  list          print every held lock (--prefix: only resources whose\n"
"                name starts with PREFIX; --holder: only locks of CLIENT),\n"
"                one per line: RESOURCE, HOLDER and SINCE separated by\n"
"                tabs, SINCE '-' if unknown\n"
"  history       print the last ended holdings of RESOURCE that lockd\n"
"                keeps, newest first (--limit: at most N, 1 to 1000;\n"
"                default 100), one per line: RESOURCE, HOLDER, SINCE, UNTIL,\n"
"                TOKEN, ENDED (unlock, break or expiry), BY and REASON\n"
"                separated by tabs, '-' for what is unknown or absent\n"
"  break         end whatever holding RESOURCE has, for an operator, with a\n"
"                mandatory reason; prints \"RESOURCE was locked by 'HOLDER'\n"
"                since TIME (token N): broken, new token M, held off until\n"
"                TIME\"\n"
"TIME, SINCE and UNTIL are UTC, as in 2026-11-27T07:30:00Z.  In the names\n"
"printed a backslash shows as \\\\, a tab as \\t, a newline as \\n, and other\n"
"control characters and bytes that are not UTF-8 as \\xNN.  The options of\n"
"a command follow it, before its operands; -- ends them.\n"
"\n"
"Options:\n"
"  -s, --server URL       lockd to ask (default: $LOCKD_URL, else\n"
"                         " LOCKCMD_URL_DEFAULT ");\n"
"                         http://USER:PASSWORD@HOST:PORT/ authenticates\n"
"  -t, --timeout SECONDS  give up after SECONDS, 1 to 3600 (default 10;\n"
"                         list: for each page; lock --wait: plus the wait)\n"
"  -C, --cacert FILE      trust the CA certificates in FILE for https://\n"
"                         (default: the system's CA store)\n"
"  -h, --help             print this help and exit\n"
"  -V, --version          print the version and exit\n"
"\n"
"Exit status:\n"
"   0  success (status: RESOURCE is locked; check: CLIENT holds RESOURCE\n"
"      under TOKEN; lock --wait or --ttl: also when CLIENT held it)\n"
"   1  RESOURCE is already locked (by another client, or by CLIENT itself\n"
"      without --wait or --ttl), also when --wait ran out, or held off by\n"
"      a lock-delay; check: CLIENT does not hold RESOURCE under TOKEN;\n"
"      renew: CLIENT holds RESOURCE under a newer token\n"
"   2  RESOURCE is locked by another client: CLIENT cannot unlock or\n"
"      renew it\n"
"   3  RESOURCE is not locked (unlock, status, break; renew: also when\n"
"      the lease expired)\n"
"   4  lockd refused the request as invalid (bad name, malformed request;\n"
"      renew: RESOURCE was locked without a TTL)\n"
"   5  lockd could not do it (storage error, invalid lock state, too many\n"
"      waiters)\n"
"  64  usage error\n"
"  69  lockd unreachable (no connection, timeout, HTTP error)\n"
"  70  unexpected response from lockd, an internal error, or the output\n"
"      could not be written\n"
"  77  access denied (address not allowed, authentication failed, the\n"
"      user may not act as CLIENT, or break is not allowed)\n";

static int	usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

/* Reports a usage error: one line of reason, one line of advice. */
static int
usage_error(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	output_vwarnx(fmt, ap);
	va_end(ap);
	(void)fputs("Try 'lockcmd --help'.\n", stderr);
	return LOCKCMD_EXIT_USAGE;
}

/* Reports a usage error about ARG, shown sanitized between quotes. */
static int
usage_error_arg(const char *what, const char *arg, const char *why)
{
	char	*clean;

	if ((clean = output_sanitize(arg, strlen(arg))) == NULL)
		return usage_error("%s (out of memory)", what);
	(void)usage_error("%s '%s'%s", what, clean, why);
	free(clean);
	return LOCKCMD_EXIT_USAGE;
}

/* Parses the --timeout argument ARG into *secondsp; returns 0 or -1. */
static int
parse_timeout(const char *arg, unsigned int *secondsp)
{
	long long	 n;
	char		*end;

	if (*arg < '0' || *arg > '9')	/* no sign, no blanks */
		return -1;
	errno = 0;
	n = strtoll(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' ||
	    n < LOCKCMD_TIMEOUT_MIN || n > LOCKCMD_TIMEOUT_MAX)
		return -1;
	*secondsp = (unsigned int)n;
	return 0;
}

/*
 * Parses the check argument ARG, 1 to 20 decimal digits without sign or
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

/* Accepts only http and https URLs, so curl never opens another scheme. */
static int
valid_url(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 ||
	    strncasecmp(url, "https://", 8) == 0;
}

/*
 * Matches ARGV[*IP] against the long option NAME, as "NAME VALUE" or
 * "NAME=VALUE".  Returns 1 and sets *VALUEP (advancing *IP past a separate
 * value), 0 if it is another word, or the usage error status when the
 * value is missing.
 */
static int
list_option(const char *name, int argc, char *argv[], int *ip,
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
		return usage_error_arg("missing argument to option", arg, "");
	*valuep = argv[++*ip];
	return 1;
}

/*
 * Parses the words after "list" (ARGV[0]): --prefix PREFIX and --holder
 * CLIENT, each also as --name=VALUE; the last one given counts.  Returns -1
 * when REQ is ready, else 64 after reporting.
 */
static int
parse_list_args(int argc, char *argv[], struct request *req)
{
	int	i, r;

	for (i = 1; i < argc; i++) {
		if ((r = list_option("--prefix", argc, argv, &i,
		    &req->prefix)) == 0)
			r = list_option("--holder", argc, argv, &i,
			    &req->holder);
		if (r == LOCKCMD_EXIT_USAGE)
			return r;
		if (r == 1)
			continue;
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_error_arg("unknown option", argv[i],
			    " (list takes --prefix and --holder)");
		return usage_error_arg("too many arguments, from", argv[i],
		    "");
	}
	return -1;
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
parse_limit(const char *arg, int *limitp)
{
	long long	 n;
	char		*end;

	if (*arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	n = strtoll(arg, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > LOCKCMD_HISTORY_MAX)
		return -1;
	*limitp = (int)n;
	return 0;
}

/* An option that follows a command word, as "lock --ttl 30". */
struct cmd_option {
	const char	*name;		/* "--ttl" */
	int		 takes_value;	/* else a flag, given as NAME alone */
	const char	*value;		/* NULL: not given; "" for a flag */
};

/*
 * Parses the options in OPTS (NOPTS of them) that follow the command word
 * ARGV[0] and sets *firstp to the index of the first operand.  Options end
 * at "--" (skipped), at the first word that is none of them, and at one
 * that repeats an option already given: so "lock --token --token C" locks
 * the resource "--token", as lockcmd always did, and a RESOURCE may start
 * with '-'.  Returns -1, or 64 after reporting a missing value.
 */
static int
parse_cmd_options(int argc, char *argv[], struct cmd_option *opts,
    size_t nopts, int *firstp)
{
	const char	*value;
	size_t		 k;
	int		 i, r = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		for (k = 0; k < nopts; k++) {
			if (opts[k].value != NULL)
				continue;
			if (!opts[k].takes_value) {
				r = strcmp(argv[i], opts[k].name) == 0;
				if (r == 1)
					opts[k].value = "";
			} else if ((r = list_option(opts[k].name, argc, argv,
			    &i, &value)) == 1)
				opts[k].value = value;
			if (r != 0)
				break;
		}
		if (k == nopts)
			break;
		if (r == LOCKCMD_EXIT_USAGE)
			return r;
	}
	*firstp = i;
	return -1;
}

/*
 * Takes the operands of a command: WANT of them from ARGV[FIRST] on,
 * whose names (for "missing ..." messages) are NAMES, such as
 * { "RESOURCE", "CLIENT", "TOKEN" }.  Returns -1, or 64 after reporting.
 */
static int
take_operands(int argc, char *argv[], int first, int want,
    const char *const names[], const char *out[])
{
	char	missing[64];
	int	have = argc - first, i;

	if (have < want) {
		missing[0] = '\0';
		for (i = have; i < want; i++)
			(void)snprintf(missing + strlen(missing),
			    sizeof(missing) - strlen(missing), "%s%s",
			    i == have ? "" : i + 1 == want ? " and " : ", ",
			    names[i]);
		return usage_error("missing %s", missing);
	}
	if (have > want)
		return usage_error_arg("too many arguments, from",
		    argv[first + want], "");
	for (i = 0; i < want; i++)
		out[i] = argv[first + i];
	return -1;
}

/*
 * Parses lock [--token] [--wait SECONDS] [--ttl SECONDS] RESOURCE CLIENT
 * (ARGV[0] is "lock") into REQ: with --wait or --ttl the call is acquire,
 * else lock or lock_token.  Returns -1 when REQ is ready, else 64.
 */
static int
parse_lock_args(int argc, char *argv[], struct request *req)
{
	static const char *const names[] = { "RESOURCE", "CLIENT" };
	struct cmd_option	 opts[] = {
		{ "--token", 0, NULL },
		{ "--wait", 1, NULL },
		{ "--ttl", 1, NULL }
	};
	const char		*operands[2];
	int			 first, r;

	if ((r = parse_cmd_options(argc, argv, opts,
	    sizeof(opts) / sizeof(opts[0]), &first)) != -1)
		return r;
	if (opts[1].value != NULL && parse_seconds(opts[1].value,
	    &req->wait) == -1)
		return usage_error_arg("invalid --wait", opts[1].value,
		    ": it must be a number of seconds from 0 to 2592000, "
		    "such as 30 or 2.5");
	if (opts[2].value != NULL && parse_seconds(opts[2].value,
	    &req->ttl) == -1)
		return usage_error_arg("invalid --ttl", opts[2].value,
		    ": it must be a number of seconds from 0 to 2592000, "
		    "such as 30 or 2.5");
	if ((r = take_operands(argc, argv, first, 2, names, operands)) != -1)
		return r;
	req->resource = operands[0];
	req->client = operands[1];
	req->print_token = opts[0].value != NULL;
	if (opts[1].value != NULL || opts[2].value != NULL)
		req->method = "acquire";
	else if (req->print_token)
		req->method = "lock_token";
	return -1;
}

/* Parses TOKEN (check, renew) into REQ; -1, or 64 after reporting. */
static int
take_token(const char *arg, struct request *req)
{
	if (parse_token(arg, req->token) == -1)
		return usage_error_arg("invalid token", arg,
		    ": it must be a positive whole number of at most 20 "
		    "digits below 2^63");
	return -1;
}

/*
 * Parses the words after a command other than lock and list (ARGV[0]):
 * check, renew, unlock, status, break and history.  Returns -1 when REQ is
 * ready, else 64 after reporting.
 */
static int
parse_command_args(int argc, char *argv[], struct request *req)
{
	static const char *const names[] = { "RESOURCE", "CLIENT", "TOKEN" };
	struct cmd_option	 opts[1] = { { NULL, 1, NULL } };
	const char		*operands[3];
	size_t			 nopts = 0;
	int			 first = 1, want, r;

	if (strcmp(req->method, "renew") == 0) {
		opts[0].name = "--ttl";
		nopts = 1;
	} else if (strcmp(req->method, "break") == 0) {
		opts[0].name = "--reason";
		nopts = 1;
		req->method = "break_lock";
	} else if (strcmp(req->method, "history") == 0) {
		opts[0].name = "--limit";
		nopts = 1;
	}
	if (nopts > 0 && (r = parse_cmd_options(argc, argv, opts, nopts,
	    &first)) != -1)
		return r;
	if (opts[0].value != NULL && strcmp(opts[0].name, "--ttl") == 0 &&
	    parse_seconds(opts[0].value, &req->ttl) == -1)
		return usage_error_arg("invalid --ttl", opts[0].value,
		    ": it must be a number of seconds from 0 to 2592000, "
		    "such as 30 or 2.5");
	if (opts[0].value != NULL && strcmp(opts[0].name, "--limit") == 0 &&
	    parse_limit(opts[0].value, &req->limit) == -1)
		return usage_error_arg("invalid --limit", opts[0].value,
		    ": it must be a whole number from 1 to 1000");
	/* A missing reason first: "break RESOURCE --reason X" misplaces it. */
	if (strcmp(req->method, "break_lock") == 0 && argc > first &&
	    (opts[0].value == NULL || opts[0].value[0] == '\0'))
		return usage_error("missing --reason TEXT: break needs a "
		    "non-empty reason");
	if (strcmp(req->method, "check") == 0 ||
	    strcmp(req->method, "renew") == 0)
		want = 3;
	else if (strcmp(req->method, "unlock") == 0)
		want = 2;
	else
		want = 1;
	if ((r = take_operands(argc, argv, first, want, names,
	    operands)) != -1)
		return r;
	if (strcmp(req->method, "break_lock") == 0)
		req->reason = opts[0].value;
	req->resource = operands[0];
	if (want > 1)
		req->client = operands[1];
	if (want > 2)
		return take_token(operands[2], req);
	return -1;
}

/* Tells whether WORD is a command of lockcmd. */
static int
is_command(const char *word)
{
	static const char *const commands[] = { "lock", "unlock", "check",
	    "renew", "status", "list", "history", "break" };
	size_t	i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(word, commands[i]) == 0)
			return 1;
	return 0;
}

/*
 * Fills REQ from the command line.  Returns -1 when REQ is ready, else the
 * exit status to end with (0 after --help or --version, 64 on misuse).
 */
static int
parse_args(int argc, char *argv[], struct request *req)
{
	const char	*env_url;
	char		 opt[3];
	int		 ch;

	memset(req, 0, sizeof(*req));
	req->timeout = LOCKCMD_TIMEOUT_DEFAULT;
	req->wait = -1;
	req->ttl = -1;
	env_url = getenv("LOCKD_URL");
	req->url = (env_url != NULL && *env_url != '\0') ? env_url :
	    LOCKCMD_URL_DEFAULT;

	/* '+': options end at the command, so a RESOURCE may start with '-'. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:C:hs:t:V", long_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'C':
			req->cacert = optarg;
			break;
		case 'h':
			if (fputs(usage_text, stdout) == EOF)
				return LOCKCMD_EXIT_SOFTWARE;
			return LOCKCMD_EXIT_OK;
		case 's':
			req->url = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &req->timeout) == -1)
				return usage_error_arg("invalid timeout",
				    optarg, ": it must be a whole number of "
				    "seconds from 1 to 3600");
			break;
		case 'V':
			if (printf("lockcmd (lockd) %s\n",
			    PACKAGE_VERSION) < 0)
				return LOCKCMD_EXIT_SOFTWARE;
			return LOCKCMD_EXIT_OK;
		case ':':
			return usage_error_arg("missing argument to option",
			    argv[optind - 1], "");
		default:
			/* optopt is 0 for an unknown long option. */
			if (optopt == 0)
				return usage_error_arg("unknown option",
				    argv[optind - 1], "");
			opt[0] = '-';
			opt[1] = (char)optopt;
			opt[2] = '\0';
			return usage_error_arg("unknown option", opt, "");
		}
	}
	argc -= optind;
	argv += optind;

	if (!valid_url(req->url))
		return usage_error_arg("invalid server URL", req->url,
		    ": it must start with http:// or https://");
	if (argc == 0)
		return usage_error("missing command (" LOCKCMD_COMMANDS ")");
	if (!is_command(argv[0]))
		return usage_error_arg("unknown command", argv[0],
		    " (" LOCKCMD_COMMANDS ")");
	req->method = argv[0];
	if (strcmp(argv[0], "list") == 0)
		return parse_list_args(argc, argv, req);
	if (strcmp(argv[0], "lock") == 0)
		return parse_lock_args(argc, argv, req);
	return parse_command_args(argc, argv, req);
}

/*
 * Occupies file descriptors 0 to 2 if they are closed, so that no socket
 * becomes standard output or error (and receives the listing or messages):
 * /dev/null opened read-only, on which writes fail with EBADF, so a closed
 * standard output is still reported.  Returns 0 or -1.
 */
static int
reserve_std_fds(void)
{
	int	fd, got;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* The lowest free descriptor: FD, as those below are open. */
		if ((got = open("/dev/null", O_RDONLY)) != fd) {
			if (got != -1)
				(void)close(got);
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct request	req;
	int		status;

	if (reserve_std_fds() == -1)
		return LOCKCMD_EXIT_SOFTWARE;
	/* A closed stdout, stderr or socket must end in EPIPE, not death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return LOCKCMD_EXIT_SOFTWARE;
	if ((status = parse_args(argc, argv, &req)) != -1)
		return status;
	return rpc_call(&req);
}
