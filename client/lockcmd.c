/* SPDX-License-Identifier: MIT */
/*
 * lockcmd: takes or releases one lock at a lockd daemon from the shell, or
 * shows who holds what: main() and the options before the command.  One
 * call per run (list: one per page), the outcome as the exit status.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
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

/* Accepts only http and https URLs, so curl never opens another scheme. */
static int
valid_url(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 ||
	    strncasecmp(url, "https://", 8) == 0;
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
				return output_usage_arg("invalid timeout",
				    optarg, ": it must be a whole number of "
				    "seconds from 1 to 3600");
			break;
		case 'V':
			if (printf("lockcmd (lockd) %s\n",
			    PACKAGE_VERSION) < 0)
				return LOCKCMD_EXIT_SOFTWARE;
			return LOCKCMD_EXIT_OK;
		case ':':
			return output_usage_arg("missing argument to option",
			    argv[optind - 1], "");
		default:
			/* optopt is 0 for an unknown long option. */
			if (optopt == 0)
				return output_usage_arg("unknown option",
				    argv[optind - 1], "");
			opt[0] = '-';
			opt[1] = (char)optopt;
			opt[2] = '\0';
			return output_usage_arg("unknown option", opt, "");
		}
	}
	argc -= optind;
	argv += optind;

	if (!valid_url(req->url))
		return output_usage_arg("invalid server URL", req->url,
		    ": it must start with http:// or https://");
	return command_parse(argc, argv, req);
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

/* Parses the options, opens a session, runs the command and closes. */
int
main(int argc, char *argv[])
{
	struct request	req;
	struct session	s;
	int		status;

	if (reserve_std_fds() == -1)
		return LOCKCMD_EXIT_SOFTWARE;
	/* A closed stdout, stderr or socket must end in EPIPE, not death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return LOCKCMD_EXIT_SOFTWARE;
	if ((status = parse_args(argc, argv, &req)) != -1 ||
	    (status = rpc_open(&s, req.url, req.cacert,
	    command_timeout(&req))) != -1)
		return status;
	status = command_run(&s, &req);
	rpc_close(&s);
	return status;
}
