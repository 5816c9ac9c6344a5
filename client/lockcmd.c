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
"       lockcmd [options] lock --token RESOURCE CLIENT\n"
"       lockcmd [options] check RESOURCE CLIENT TOKEN\n"
"       lockcmd [options] status RESOURCE\n"
"       lockcmd [options] list [--prefix PREFIX] [--holder CLIENT]\n"
"       lockcmd -h | --help\n"
"       lockcmd -V | --version\n"
"\n"
"Commands:\n"
"  lock, unlock  take or release the lock on RESOURCE for CLIENT; success\n"
"                is silent (lock --token: prints the lock's fencing token,\n"
"                a positive integer, on standard output)\n"
"  check         tell whether CLIENT holds RESOURCE under the fencing token\n"
"                TOKEN right now (exit status 0) or not (1); TOKEN is a\n"
"                positive decimal integer of at most 20 digits\n"
"  status        print \"RESOURCE is locked by 'HOLDER' since TIME (token\n"
"                N)\" (no \"since TIME\" or \"(token N)\" if lockd does not\n"
"                know them) or \"RESOURCE is not locked\"\n"
"  list          print every held lock (--prefix: only resources whose\n"
"                name starts with PREFIX; --holder: only locks of CLIENT),\n"
"                one per line: RESOURCE, HOLDER and SINCE separated by\n"
"                tabs, SINCE '-' if unknown\n"
"TIME and SINCE are UTC, as in 2026-11-27T07:30:00Z.  In the names printed\n"
"a backslash shows as \\\\, a tab as \\t, a newline as \\n, and other\n"
"control characters and bytes that are not UTF-8 as \\xNN.\n"
"\n"
"Options:\n"
"  -s, --server URL       lockd to ask (default: $LOCKD_URL, else\n"
"                         " LOCKCMD_URL_DEFAULT ");\n"
"                         http://USER:PASSWORD@HOST:PORT/ authenticates\n"
"  -t, --timeout SECONDS  give up after SECONDS, 1 to 3600 (default 10;\n"
"                         list: for each page)\n"
"  -C, --cacert FILE      trust the CA certificates in FILE for https://\n"
"                         (default: the system's CA store)\n"
"  -h, --help             print this help and exit\n"
"  -V, --version          print the version and exit\n"
"\n"
"Exit status:\n"
"   0  success (status: RESOURCE is locked; check: CLIENT holds RESOURCE\n"
"      under TOKEN)\n"
"   1  RESOURCE is already locked (by another client, or by CLIENT itself);\n"
"      check: CLIENT does not hold RESOURCE under TOKEN\n"
"   2  RESOURCE is locked by another client: CLIENT cannot unlock it\n"
"   3  RESOURCE is not locked (unlock, status)\n"
"   4  lockd refused the request as invalid (bad name, malformed request)\n"
"   5  lockd could not do it (storage error, invalid lock state)\n"
"  64  usage error\n"
"  69  lockd unreachable (no connection, timeout, HTTP error)\n"
"  70  unexpected response from lockd, an internal error, or the output\n"
"      could not be written\n"
"  77  access denied (address not allowed, authentication failed,\n"
"      or the user may not act as CLIENT)\n";

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
		return usage_error("missing command (lock, unlock, check, "
		    "status or list)");
	req->method = argv[0];
	if (strcmp(argv[0], "status") == 0) {
		if (argc < 2)
			return usage_error("missing RESOURCE");
		if (argc > 2)
			return usage_error_arg("too many arguments, from",
			    argv[2], "");
		req->resource = argv[1];
		return -1;
	}
	if (strcmp(argv[0], "list") == 0)
		return parse_list_args(argc, argv, req);
	if (strcmp(argv[0], "check") == 0) {
		if (argc < 2)
			return usage_error("missing RESOURCE, CLIENT and "
			    "TOKEN");
		if (argc < 3)
			return usage_error("missing CLIENT and TOKEN");
		if (argc < 4)
			return usage_error("missing TOKEN");
		if (argc > 4)
			return usage_error_arg("too many arguments, from",
			    argv[4], "");
		if (parse_token(argv[3], req->token) == -1)
			return usage_error_arg("invalid token", argv[3],
			    ": it must be a positive whole number of at most "
			    "20 digits below 2^63");
		req->resource = argv[1];
		req->client = argv[2];
		return -1;
	}
	if (strcmp(argv[0], "lock") != 0 && strcmp(argv[0], "unlock") != 0)
		return usage_error_arg("unknown command", argv[0],
		    " (lock, unlock, check, status or list)");
	/* "lock --token": the option follows the word lock. */
	if (strcmp(argv[0], "lock") == 0 && argc > 1 &&
	    strcmp(argv[1], "--token") == 0) {
		req->method = "lock_token";
		argc--;
		argv++;
	}
	if (argc < 2)
		return usage_error("missing RESOURCE and CLIENT");
	if (argc < 3)
		return usage_error("missing CLIENT");
	if (argc > 3)
		return usage_error_arg("too many arguments, from", argv[3],
		    "");
	req->resource = argv[1];
	req->client = argv[2];
	return -1;
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
