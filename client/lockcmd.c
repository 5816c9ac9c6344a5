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

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION		"unknown"
#endif
#ifndef LOCKD_DEFAULT_PORT
#define LOCKD_DEFAULT_PORT	8044
#endif

/* Exit status, documented in usage_text and in lockcmd.1 (EXIT STATUS). */
#define LOCKCMD_EXIT_OK			0	/* also: status, held; check, true */
#define LOCKCMD_EXIT_HELD		1	/* fault 1; check, false */
#define LOCKCMD_EXIT_NOT_OWNER		2	/* fault 2 */
#define LOCKCMD_EXIT_NOT_LOCKED		3	/* fault 3; status, not held */
#define LOCKCMD_EXIT_REFUSED		4	/* 10, 11, 12, 30, negative */
#define LOCKCMD_EXIT_FAILED		5	/* 20, 21, any other fault */
#define LOCKCMD_EXIT_NOPERM		77	/* EX_NOPERM: 40, 41, 42 */
#define LOCKCMD_EXIT_USAGE		64	/* EX_USAGE */
#define LOCKCMD_EXIT_UNREACHABLE	69	/* EX_UNAVAILABLE */
#define LOCKCMD_EXIT_SOFTWARE		70	/* EX_SOFTWARE */

/* Fault codes of the wire protocol (PROTOCOL, "Faults"). */
#define LOCKD_FAULT_HELD		1
#define LOCKD_FAULT_NOT_OWNER		2
#define LOCKD_FAULT_NOT_LOCKED		3
#define LOCKD_FAULT_PARAMS		10
#define LOCKD_FAULT_RESOURCE		11
#define LOCKD_FAULT_CLIENT		12
#define LOCKD_FAULT_REFUSED		30
#define LOCKD_FAULT_DENIED		40
#define LOCKD_FAULT_AUTH		41
#define LOCKD_FAULT_FORBIDDEN		42

/*
 * list asks for pages of LIST_PAGE locks and gives up after LIST_PAGES_MAX
 * pages (a hundred million locks), so a daemon that never says "last page"
 * cannot keep it going forever.
 */
#define LIST_PAGE			1000
#define LIST_PAGES_MAX			100000

/*
 * Largest response lockcmd parses (xmlrpc-c's default is 512 KiB).  A page
 * of LIST_PAGE locks with 4096-byte names full of characters XML must
 * escape ("<" is "&lt;") comes to about 37 MB.
 */
#define LOCKCMD_RESPONSE_MAX		(64 * 1024 * 1024)

#define LOCKCMD_TIMEOUT_DEFAULT		10	/* seconds */
#define LOCKCMD_TIMEOUT_MIN		1
#define LOCKCMD_TIMEOUT_MAX		3600

/* A fencing token on the command line: 1 to 20 decimal digits. */
#define LOCKCMD_TOKEN_DIGITS_MAX	20

#define LOCKCMD_STR(x)			LOCKCMD_STR2(x)
#define LOCKCMD_STR2(x)			#x
#define LOCKCMD_URL_DEFAULT \
	"http://127.0.0.1:" LOCKCMD_STR(LOCKD_DEFAULT_PORT) "/"

/* What one run asks of the daemon. */
struct request {
	const char	*url;
	const char	*method;	/* "lock", "lock_token", "unlock", "check",
					   "status", "list" */
	const char	*resource;	/* all but list */
	const char	*client;	/* lock, lock_token, unlock, check */
	char		 token[24];	/* check: TOKEN, canonical decimal */
	const char	*prefix;	/* list --prefix, or NULL */
	const char	*holder;	/* list --holder, or NULL */
	const char	*cacert;	/* CA file for https, or NULL */
	unsigned int	 timeout;	/* seconds (list: for each page) */
};

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

static void	cmd_vwarnx(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));
static void	cmd_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	unexpected(const char *);

/* Prints "lockcmd: MESSAGE" on stderr; %s arguments must be sanitized. */
static void
cmd_vwarnx(const char *fmt, va_list ap)
{
	(void)fputs("lockcmd: ", stderr);
	(void)vfprintf(stderr, fmt, ap);
	(void)fputc('\n', stderr);
}

static void
cmd_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cmd_vwarnx(fmt, ap);
	va_end(ap);
}

/* Reports a usage error: one line of reason, one line of advice. */
static int
usage_error(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cmd_vwarnx(fmt, ap);
	va_end(ap);
	(void)fputs("Try 'lockcmd --help'.\n", stderr);
	return LOCKCMD_EXIT_USAGE;
}

/*
 * Decodes the UTF-8 sequence at P, of at most AVAIL bytes, into *cpp.
 * Returns its length, or 0 if it is not well formed (overlong forms and
 * surrogates included).
 */
static size_t
utf8_decode(const unsigned char *p, size_t avail, unsigned int *cpp)
{
	unsigned int	cp, min;
	size_t		len, i;

	if (p[0] < 0x80) {
		*cpp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	if (len > avail)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return len;
}

/*
 * Tells whether code point CP may reach a terminal as it is.  Not: C0 and
 * C1 controls and DEL (escape sequences), line separators and the bidi
 * controls that can make text read differently from what it is.
 */
static int
is_text(unsigned int cp)
{
	return !(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	    cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069));
}

/*
 * Returns a copy of the first LEN bytes of the untrusted string S fit for a
 * terminal: every character that is not text, and every byte that is not
 * UTF-8, becomes '?'.  The caller frees it; NULL when out of memory.
 */
static char *
sanitize(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*end = p + len;
	unsigned int		 cp;
	char			*copy, *q;
	size_t			 n;

	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	for (q = copy; p < end && *p != '\0'; p += n) {
		if ((n = utf8_decode(p, (size_t)(end - p), &cp)) == 0) {
			*q++ = '?';
			n = 1;
		} else if (!is_text(cp))
			*q++ = '?';
		else {
			memcpy(q, p, n);
			q += n;
		}
	}
	*q = '\0';
	return copy;
}

/* Prints "lockcmd: PREFIX" followed by the untrusted TEXT, sanitized. */
static void
warnx_untrusted(const char *prefix, const char *text)
{
	char	*clean;

	if ((clean = sanitize(text, strlen(text))) == NULL) {
		cmd_warnx("%s(message lost: out of memory)", prefix);
		return;
	}
	cmd_warnx("%s%s", prefix, clean);
	free(clean);
}

/* Reports a usage error about ARG, shown sanitized between quotes. */
static int
usage_error_arg(const char *what, const char *arg, const char *why)
{
	char	*clean;

	if ((clean = sanitize(arg, strlen(arg))) == NULL)
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

/* Maps a fault code of the daemon to lockcmd's exit status. */
static int
exit_for_fault(int code)
{
	switch (code) {
	case LOCKD_FAULT_HELD:
		return LOCKCMD_EXIT_HELD;
	case LOCKD_FAULT_NOT_OWNER:
		return LOCKCMD_EXIT_NOT_OWNER;
	case LOCKD_FAULT_NOT_LOCKED:
		return LOCKCMD_EXIT_NOT_LOCKED;
	case LOCKD_FAULT_PARAMS:
	case LOCKD_FAULT_RESOURCE:
	case LOCKD_FAULT_CLIENT:
	case LOCKD_FAULT_REFUSED:
		return LOCKCMD_EXIT_REFUSED;
	case LOCKD_FAULT_DENIED:
	case LOCKD_FAULT_AUTH:
	case LOCKD_FAULT_FORBIDDEN:
		return LOCKCMD_EXIT_NOPERM;
	default:
		/* Negative codes are xmlrpc-c's: the request was not valid. */
		return code < 0 ? LOCKCMD_EXIT_REFUSED : LOCKCMD_EXIT_FAILED;
	}
}

/*
 * Returns the part of a transport fault string that says what went wrong,
 * without the "HTTP POST to URL '...' failed." and libcurl preambles that
 * xmlrpc-c 1.33 wraps around it.
 */
static const char *
transport_reason(const char *s)
{
	static const char	explaining[] = "explaining:";
	static const char	failed[] = "' failed.";
	const char		*p;

	if ((p = strstr(s, explaining)) != NULL)
		s = p + sizeof(explaining) - 1;
	else if (strncmp(s, "HTTP POST to URL '", 18) == 0 &&
	    (p = strstr(s, failed)) != NULL)
		s = p + sizeof(failed) - 1;
	while (*s == ' ')
		s++;
	return s;
}

/* Prints the cause of a failed HTTP exchange with the daemon at URL. */
static void
report_unreachable(const char *url, const char *fault_string)
{
	const char	*reason;
	char		*clean_url, *clean_reason;
	size_t		 len;

	/* Curl's "raw data" explanation ends with a newline: trim it. */
	reason = transport_reason(fault_string);
	len = strlen(reason);
	while (len > 0 && (reason[len - 1] == '\n' || reason[len - 1] == ' '))
		len--;
	clean_url = sanitize(url, strlen(url));
	clean_reason = sanitize(reason, len);
	if (clean_url == NULL || clean_reason == NULL)
		cmd_warnx("cannot reach lockd (out of memory)");
	else
		cmd_warnx("cannot reach lockd at %s: %s", clean_url,
		    clean_reason);
	free(clean_url);
	free(clean_reason);
}

/*
 * Tells whether the LEN bytes at P, the content of an <i8> element, are
 * what xmlrpc-c 1.33 parses without harm: an optional '-' and 1 to 19
 * digits whose value fits in 64 bits.
 */
static int
valid_i8_text(const char *p, size_t len)
{
	char		 buf[24], *end;
	size_t		 i, start = (len > 0 && p[0] == '-') ? 1 : 0;

	if (len - start < 1 || len - start > 19)
		return 0;
	for (i = start; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	errno = 0;
	(void)strtoll(buf, &end, 10);
	return errno == 0 && *end == '\0';
}

/*
 * Checks every <i8> (and <ex:i8>) element of the response XML (LEN bytes)
 * before xmlrpc-c parses it: xmlrpc-c 1.33 crashes (a format string short
 * of an argument) on an <i8> whose content is not a 64-bit integer.  Only
 * the plain form "<i8>DIGITS</i8>" passes; returns 0 or -1.
 */
static int
check_i8_elements(const char *xml, size_t len)
{
	static const char *const tags[] = { "i8", "ex:i8" };
	const char	*p, *end = xml + len, *content, *close;
	size_t		 t, tlen;
	char		 c;

	for (p = xml; p < end; p++) {
		if (*p != '<')
			continue;
		for (t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
			tlen = strlen(tags[t]);
			if ((size_t)(end - p) < tlen + 2 ||
			    memcmp(p + 1, tags[t], tlen) != 0)
				continue;
			c = p[1 + tlen];
			if (c != '>' && c != '/' && c != ' ' && c != '\t' &&
			    c != '\r' && c != '\n')
				continue;	/* another element, as <i8x> */
			if (c != '>')
				return -1;
			content = p + tlen + 2;
			for (close = content; close < end && *close != '<';
			    close++)
				;
			if ((size_t)(end - close) < tlen + 3 ||
			    close[1] != '/' ||
			    memcmp(close + 2, tags[t], tlen) != 0 ||
			    close[2 + tlen] != '>' ||
			    !valid_i8_text(content, (size_t)(close - content)))
				return -1;
		}
	}
	return 0;
}

/*
 * Parses the daemon's response XML.  Returns -1 with the result in
 * *resultp (the caller releases it); else the exit status, after printing
 * a <fault>'s faultString exactly (sanitized) or why the XML is unusable.
 */
static int
parse_response(const char *xml, size_t len, xmlrpc_value **resultp)
{
	xmlrpc_env	 env;
	xmlrpc_value	*result = NULL;
	const char	*fault_string = NULL;
	int		 fault_code = 0, status;

	if (check_i8_elements(xml, len) == -1)
		return unexpected("an <i8> that is not a 64-bit integer");
	xmlrpc_env_init(&env);
	xmlrpc_parse_response2(&env, xml, len, &result, &fault_code,
	    &fault_string);
	if (env.fault_occurred) {
		warnx_untrusted("unexpected response from lockd: ",
		    env.fault_string);
		status = LOCKCMD_EXIT_SOFTWARE;
	} else if (fault_string != NULL) {
		warnx_untrusted("", fault_string);
		status = exit_for_fault(fault_code);
		free((void *)fault_string);	/* malloc()ed by xmlrpc-c */
	} else {
		*resultp = result;
		status = -1;
	}
	xmlrpc_env_clean(&env);
	return status;
}

/* Reports an answer of lockd that is not what PROTOCOL promises. */
static int
unexpected(const char *what)
{
	cmd_warnx("unexpected response from lockd: %s", what);
	return LOCKCMD_EXIT_SOFTWARE;
}

/* Reports a result of the wrong type: WANTED is what it should be. */
static int
unexpected_type(xmlrpc_value *v, const char *wanted)
{
	cmd_warnx("unexpected response from lockd: a result of type %s "
	    "instead of %s", xmlrpc_type_name(xmlrpc_value_type(v)), wanted);
	return LOCKCMD_EXIT_SOFTWARE;
}

/*
 * Writes LEN bytes of the untrusted name S to F on one line and without
 * tabs, reversibly: '\' as "\\", tab as "\t", newline as "\n", and every
 * other character that is not text (is_text()) and every byte that is not
 * UTF-8 as "\xNN" (lower-case hex), one for each byte.
 */
static void
put_name(FILE *f, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*end = p + len;
	unsigned int		 cp;
	size_t			 n, i;

	for (; p < end; p += n) {
		n = utf8_decode(p, (size_t)(end - p), &cp);
		if (n == 0) {
			(void)fprintf(f, "\\x%02x", *p);
			n = 1;
		} else if (cp == '\\')
			(void)fputs("\\\\", f);
		else if (cp == '\t')
			(void)fputs("\\t", f);
		else if (cp == '\n')
			(void)fputs("\\n", f);
		else if (!is_text(cp))
			for (i = 0; i < n; i++)
				(void)fprintf(f, "\\x%02x", p[i]);
		else
			(void)fwrite(p, 1, n, f);
	}
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
	xmlrpc_value		*v = NULL;
	const unsigned char	*bytes;

	name->bytes = NULL;
	name->len = 0;
	xmlrpc_env_init(&env);
	xmlrpc_struct_find_value(&env, s, key, &v);
	if (!env.fault_occurred && v != NULL) {
		if (xmlrpc_value_type(v) == XMLRPC_TYPE_STRING)
			xmlrpc_read_string_lp(&env, v, &name->len,
			    &name->bytes);
		else if (xmlrpc_value_type(v) == XMLRPC_TYPE_BASE64) {
			xmlrpc_read_base64(&env, v, &name->len, &bytes);
			if (!env.fault_occurred)
				name->bytes = (const char *)bytes;
		}
	}
	if (v != NULL)
		xmlrpc_DECREF(v);
	if (env.fault_occurred)
		name->bytes = NULL;
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
 * Reads the optional member "since" of the struct S into BUF as UTC ISO
 * 8601 ("2026-11-27T07:30:00Z"), or "" when it is absent.  Returns 0, or -1
 * when it is not a plausible dateTime.iso8601.
 */
static int
read_since(xmlrpc_value *s, char buf[32])
{
	xmlrpc_env	 env;
	xmlrpc_value	*v = NULL;
	xmlrpc_datetime	 dt;
	int		 ok = 0;

	buf[0] = '\0';
	xmlrpc_env_init(&env);
	xmlrpc_struct_find_value(&env, s, "since", &v);
	if (!env.fault_occurred && v == NULL)
		ok = 1;
	else if (!env.fault_occurred &&
	    xmlrpc_value_type(v) == XMLRPC_TYPE_DATETIME) {
		xmlrpc_read_datetime(&env, v, &dt);
		if (!env.fault_occurred && dt.Y >= 1 && dt.Y <= 9999 &&
		    dt.M >= 1 && dt.M <= 12 && dt.D >= 1 && dt.D <= 31 &&
		    dt.h <= 23 && dt.m <= 59 && dt.s <= 60) {
			(void)snprintf(buf, 32, "%04u-%02u-%02uT%02u:%02u:%02uZ",
			    dt.Y, dt.M, dt.D, dt.h, dt.m, dt.s);
			ok = 1;
		}
	}
	if (v != NULL)
		xmlrpc_DECREF(v);
	xmlrpc_env_clean(&env);
	return ok ? 0 : -1;
}

/*
 * Reads the boolean member KEY of the struct S into *valuep.  Returns 0, or
 * -1 when it is missing or not a boolean.
 */
static int
read_bool(xmlrpc_value *s, const char *key, int *valuep)
{
	xmlrpc_env	 env;
	xmlrpc_value	*v = NULL;
	xmlrpc_bool	 b = 0;
	int		 ok = 0;

	xmlrpc_env_init(&env);
	xmlrpc_struct_find_value(&env, s, key, &v);
	if (!env.fault_occurred && v != NULL &&
	    xmlrpc_value_type(v) == XMLRPC_TYPE_BOOL) {
		xmlrpc_read_bool(&env, v, &b);
		ok = !env.fault_occurred;
	}
	if (v != NULL)
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
 * Reads the optional member "token" of the struct S into *tokenp (0 when
 * it is absent).  Returns 0, or -1 when it is not a positive integer.
 */
static int
read_token(xmlrpc_value *s, int64_t *tokenp)
{
	xmlrpc_env	 env;
	xmlrpc_value	*v = NULL;
	int		 ok = 0;

	*tokenp = 0;
	xmlrpc_env_init(&env);
	xmlrpc_struct_find_value(&env, s, "token", &v);
	if (!env.fault_occurred && v == NULL)
		ok = 1;
	else if (!env.fault_occurred)
		ok = read_token_value(v, tokenp) == 0;
	if (v != NULL)
		xmlrpc_DECREF(v);
	xmlrpc_env_clean(&env);
	return ok ? 0 : -1;
}

/* Flushes standard output; 0, or 70 after saying why it failed. */
static int
flush_output(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cmd_warnx("cannot write to standard output: %s",
		    strerror(errno));
		return LOCKCMD_EXIT_SOFTWARE;
	}
	return 0;
}

/*
 * Prints the answer RESULT of status(ASKED) and returns the exit status:
 * 0 if the resource is held, 3 if not.  The name printed is the one lockd
 * answers about (it differs from ASKED when XML turned a CR into a LF).
 */
static int
show_status(xmlrpc_value *result, const char *asked)
{
	struct name	resource, holder;
	char		since[32] = "";
	int64_t		token = 0;
	int		held, status;

	if (xmlrpc_value_type(result) != XMLRPC_TYPE_STRUCT)
		return unexpected_type(result, "a struct");
	if (read_bool(result, "held", &held) == -1)
		return unexpected("no boolean 'held' in the status");
	if (read_name(result, "resource", &resource) == -1) {
		resource.bytes = NULL;
		resource.len = 0;
	}
	holder.bytes = NULL;
	if (held && read_name(result, "holder", &holder) == -1) {
		free_name(&resource);
		return unexpected("a held lock without a 'holder' name");
	}
	if (held && read_since(result, since) == -1) {
		free_name(&resource);
		free_name(&holder);
		return unexpected("a 'since' that is not a dateTime.iso8601");
	}
	if (held && read_token(result, &token) == -1) {
		free_name(&resource);
		free_name(&holder);
		return unexpected("a 'token' that is not a positive integer");
	}
	if (resource.bytes != NULL)
		put_name(stdout, resource.bytes, resource.len);
	else
		put_name(stdout, asked, strlen(asked));
	if (held) {
		(void)fputs(" is locked by '", stdout);
		put_name(stdout, holder.bytes, holder.len);
		(void)putchar('\'');
		if (since[0] != '\0')
			(void)printf(" since %s", since);
		if (token > 0)
			(void)printf(" (token %" PRId64 ")", token);
		(void)putchar('\n');
	} else
		(void)fputs(" is not locked\n", stdout);
	free_name(&resource);
	free_name(&holder);
	if ((status = flush_output()) != 0)
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
		return unexpected("a lock in the list that is not a struct");
	if (read_name(lock, "resource", &resource) == -1)
		return unexpected("a lock in the list without a 'resource' "
		    "name");
	if (read_name(lock, "holder", &holder) == -1) {
		free_name(&resource);
		return unexpected("a lock in the list without a 'holder' "
		    "name");
	}
	if (read_since(lock, since) == -1) {
		free_name(&resource);
		free_name(&holder);
		return unexpected("a 'since' that is not a dateTime.iso8601");
	}
	put_name(stdout, resource.bytes, resource.len);
	(void)putchar('\t');
	put_name(stdout, holder.bytes, holder.len);
	(void)printf("\t%s\n", since[0] != '\0' ? since : "-");
	free_name(&resource);
	free_name(&holder);
	return 0;
}

/*
 * Prints the locks of one page RESULT of list() and sets *nextp to its
 * "next" (malloc()ed).  Returns -1, or the exit status after reporting.
 */
static int
show_page(xmlrpc_value *result, char **nextp)
{
	xmlrpc_env	 env;
	xmlrpc_value	*locks = NULL, *next = NULL, *lock;
	const char	*s;
	int		 i, n, status = -1;

	*nextp = NULL;
	if (xmlrpc_value_type(result) != XMLRPC_TYPE_STRUCT)
		return unexpected_type(result, "a struct");
	xmlrpc_env_init(&env);
	xmlrpc_struct_find_value(&env, result, "locks", &locks);
	if (env.fault_occurred || locks == NULL ||
	    xmlrpc_value_type(locks) != XMLRPC_TYPE_ARRAY) {
		status = unexpected("no array 'locks' in the list");
		goto done;
	}
	xmlrpc_struct_find_value(&env, result, "next", &next);
	if (env.fault_occurred || next == NULL ||
	    xmlrpc_value_type(next) != XMLRPC_TYPE_STRING) {
		status = unexpected("no string 'next' in the list");
		goto done;
	}
	xmlrpc_read_string(&env, next, &s);
	if (env.fault_occurred) {
		status = unexpected("no string 'next' in the list");
		goto done;
	}
	*nextp = (char *)s;
	n = xmlrpc_array_size(&env, locks);
	for (i = 0; i < n && !env.fault_occurred; i++) {
		xmlrpc_array_read_item(&env, locks, (unsigned int)i, &lock);
		if (env.fault_occurred)
			break;
		status = show_lock(lock);
		xmlrpc_DECREF(lock);
		if (status != 0)
			goto done;
	}
	if (env.fault_occurred)
		status = unexpected("an unreadable 'locks' array");
	else if ((status = flush_output()) == 0)
		status = -1;
done:
	if (status != -1) {
		free(*nextp);
		*nextp = NULL;
	}
	if (locks != NULL)
		xmlrpc_DECREF(locks);
	if (next != NULL)
		xmlrpc_DECREF(next);
	xmlrpc_env_clean(&env);
	return status;
}

/*
 * Set by SIGALRM when --timeout expires.  xmlrpc-c's interrupt API takes a
 * plain int *; it reads the flag only between sigprocmask() calls.
 */
static int	timed_out;

static void
on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

/*
 * Arms the --timeout of SECONDS.  libcurl enforces it too, but xmlrpc-c's
 * synchronous transport polls libcurl only every 3 seconds unless a signal
 * wakes it; the alarm (with the client's interrupt flag) does.
 */
static int
arm_timeout(xmlrpc_client *client, unsigned int seconds)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	if (sigemptyset(&sa.sa_mask) == -1 ||
	    sigaction(SIGALRM, &sa, NULL) == -1)
		return -1;
	xmlrpc_client_set_interrupt(client, &timed_out);
	(void)alarm(seconds);
	return 0;
}

/* Appends the string S to the XML-RPC array ARRAY. */
static void
append_string(xmlrpc_env *env, xmlrpc_value *array, const char *s)
{
	xmlrpc_value	*v;

	v = xmlrpc_string_new(env, s);
	if (env->fault_occurred)
		return;
	xmlrpc_array_append_item(env, array, v);
	xmlrpc_DECREF(v);
}

/* Sets member KEY of the struct S to the string VALUE. */
static void
set_string(xmlrpc_env *env, xmlrpc_value *s, const char *key,
    const char *value)
{
	xmlrpc_value	*v;

	v = xmlrpc_string_new(env, value);
	if (env->fault_occurred)
		return;
	xmlrpc_struct_set_value(env, s, key, v);
	xmlrpc_DECREF(v);
}

/*
 * Builds the parameters of REQ's call; for list, of the page after the
 * cursor AFTER (NULL: the first page).
 */
static xmlrpc_value *
make_params(xmlrpc_env *env, const struct request *req, const char *after)
{
	xmlrpc_value	*params, *options = NULL, *limit;

	params = xmlrpc_array_new(env);
	if (env->fault_occurred)
		return NULL;
	if (strcmp(req->method, "list") != 0) {
		append_string(env, params, req->resource);
		if (!env->fault_occurred && req->client != NULL)
			append_string(env, params, req->client);
		if (!env->fault_occurred && req->token[0] != '\0')
			append_string(env, params, req->token);
		goto done;
	}
	options = xmlrpc_struct_new(env);
	if (!env->fault_occurred && req->prefix != NULL)
		set_string(env, options, "prefix", req->prefix);
	if (!env->fault_occurred && req->holder != NULL)
		set_string(env, options, "holder", req->holder);
	if (!env->fault_occurred && after != NULL)
		set_string(env, options, "after", after);
	if (!env->fault_occurred) {
		limit = xmlrpc_int_new(env, LIST_PAGE);
		if (!env->fault_occurred) {
			xmlrpc_struct_set_value(env, options, "limit", limit);
			xmlrpc_DECREF(limit);
		}
	}
	if (!env->fault_occurred)
		xmlrpc_array_append_item(env, params, options);
done:
	if (options != NULL)
		xmlrpc_DECREF(options);
	if (env->fault_occurred) {
		xmlrpc_DECREF(params);
		return NULL;
	}
	return params;
}

/*
 * Serializes REQ's call (for list, of the page after AFTER) into *callp.
 * Returns 0, or after reporting why an exit status: 64 when a name is not
 * UTF-8 or leaves the Basic Multilingual Plane, which xmlrpc-c 1.33 cannot
 * encode (nor lockd's parser decode).
 */
static int
make_call(const struct request *req, const char *after,
    xmlrpc_mem_block **callp)
{
	xmlrpc_env		 env;
	xmlrpc_value		*params = NULL;
	xmlrpc_mem_block	*call = NULL;
	int			 status;

	xmlrpc_env_init(&env);
	params = make_params(&env, req, after);
	if (env.fault_occurred)
		goto fail;
	call = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
	if (env.fault_occurred)
		goto fail;
	xmlrpc_serialize_call(&env, call, req->method, params);
	if (env.fault_occurred)
		goto fail;
	xmlrpc_DECREF(params);
	xmlrpc_env_clean(&env);
	*callp = call;
	return 0;

fail:
	if (env.fault_code == XMLRPC_INVALID_UTF8_ERROR && after != NULL) {
		(void)unexpected("a 'next' that cannot be sent back");
		status = LOCKCMD_EXIT_SOFTWARE;
	} else if (env.fault_code == XMLRPC_INVALID_UTF8_ERROR) {
		if (strcmp(req->method, "list") == 0)
			cmd_warnx("PREFIX and CLIENT must be UTF-8 without "
			    "characters above U+FFFF");
		else if (strcmp(req->method, "status") == 0)
			cmd_warnx("RESOURCE must be UTF-8 without characters "
			    "above U+FFFF");
		else
			cmd_warnx("RESOURCE and CLIENT must be UTF-8 without "
			    "characters above U+FFFF");
		status = LOCKCMD_EXIT_USAGE;
	} else {
		warnx_untrusted("cannot build the request: ",
		    env.fault_string);
		status = LOCKCMD_EXIT_SOFTWARE;
	}
	if (call != NULL)
		XMLRPC_MEMBLOCK_FREE(char, call);
	if (params != NULL)
		xmlrpc_DECREF(params);
	xmlrpc_env_clean(&env);
	return status;
}

static int
unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copies LEN bytes of IN percent-decoded into OUT (SIZE); -1 if invalid. */
static int
pct_decode(const char *in, size_t len, char *out, size_t size)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < len; i++) {
		if (o + 1 >= size)
			return -1;
		if (in[i] == '%') {
			if (i + 2 >= len)
				return -1;
			hi = unhex_digit(in[i + 1]);
			lo = unhex_digit(in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[o++] = in[i];
	}
	out[o] = '\0';
	return 0;
}

/*
 * Splits "scheme://USER:PASSWORD@host..." into the URL without the
 * credentials (CLEAN, which is also what messages show, so a password
 * never reaches the terminal or a log) and the decoded USER and PASSWORD.
 * Returns 1 if there were credentials, 0 if not, -1 if malformed.
 */
static int
split_credentials(const char *url, char *clean, size_t cleansize, char *user,
    size_t usersize, char *pass, size_t passsize)
{
	const char	*host, *at, *colon, *end;

	if ((host = strstr(url, "://")) == NULL)
		return -1;
	host += 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (at == NULL) {
		if (snprintf(clean, cleansize, "%s", url) >= (int)cleansize)
			return -1;
		return 0;
	}
	while (memchr(at + 1, '@', (size_t)(end - at - 1)) != NULL)
		at = memchr(at + 1, '@', (size_t)(end - at - 1));
	colon = memchr(host, ':', (size_t)(at - host));
	if (colon == NULL || pct_decode(host, (size_t)(colon - host), user,
	    usersize) == -1 || pct_decode(colon + 1, (size_t)(at - colon - 1),
	    pass, passsize) == -1)
		return -1;
	if (snprintf(clean, cleansize, "%.*s%s", (int)(host - url), url,
	    at + 1) >= (int)cleansize)
		return -1;
	return 1;
}

/* A connection to the daemon, for one call or the pages of a listing. */
struct session {
	xmlrpc_client		*client;
	xmlrpc_server_info	*server;
	const char		*url;		/* without credentials */
	unsigned int		 timeout;	/* seconds, for each call */
};

/*
 * Sends CALL and parses the answer.  Returns -1 with the result in
 * *resultp (the caller releases it), else the exit status after reporting.
 * The call is built, sent and parsed in separate steps rather than with
 * xmlrpc_client_call2(), which reports a transport failure, a malformed
 * response and a real <fault> alike as an env fault (a daemon could even
 * send code -504 itself): here each step has its own exit status.
 */
static int
exchange(struct session *s, xmlrpc_mem_block *call, xmlrpc_value **resultp)
{
	xmlrpc_env		 env;
	xmlrpc_mem_block	*response = NULL;
	char			 why[64];
	int			 status;

	xmlrpc_env_init(&env);
	timed_out = 0;
	(void)alarm(s->timeout);
	/* A fault here means no complete HTTP 200 response arrived. */
	xmlrpc_client_transport_call2(&env, s->client, s->server, call,
	    &response);
	(void)alarm(0);
	if (env.fault_occurred) {
		/* The transport leaves *response undefined after a failure. */
		if (timed_out) {
			(void)snprintf(why, sizeof(why), "no answer within %u "
			    "second%s", s->timeout,
			    s->timeout == 1 ? "" : "s");
			report_unreachable(s->url, why);
		} else
			report_unreachable(s->url, env.fault_string);
		xmlrpc_env_clean(&env);
		return LOCKCMD_EXIT_UNREACHABLE;
	}
	status = parse_response(XMLRPC_MEMBLOCK_CONTENTS(char, response),
	    XMLRPC_MEMBLOCK_SIZE(char, response), resultp);
	XMLRPC_MEMBLOCK_FREE(char, response);
	xmlrpc_env_clean(&env);
	return status;
}

/* Prints the answer RESULT of lock_token: the token, one line. */
static int
show_token(xmlrpc_value *result)
{
	int64_t	token;

	if (xmlrpc_value_type(result) != XMLRPC_TYPE_I8 &&
	    xmlrpc_value_type(result) != XMLRPC_TYPE_INT)
		return unexpected_type(result, "i8");
	if (read_token_value(result, &token) == -1)
		return unexpected("a token that is not a positive integer");
	(void)printf("%" PRId64 "\n", token);
	return flush_output();
}

/*
 * Takes the answer RESULT of check: 0 when true, 1 after saying so on
 * standard error when false.
 */
static int
show_check(xmlrpc_value *result, const struct request *req)
{
	xmlrpc_env	 env;
	xmlrpc_bool	 b = 0;
	char		*client, *resource;

	if (xmlrpc_value_type(result) != XMLRPC_TYPE_BOOL)
		return unexpected_type(result, "boolean");
	xmlrpc_env_init(&env);
	xmlrpc_read_bool(&env, result, &b);
	if (env.fault_occurred) {
		xmlrpc_env_clean(&env);
		return unexpected("an unreadable boolean");
	}
	xmlrpc_env_clean(&env);
	if (b)
		return LOCKCMD_EXIT_OK;
	client = sanitize(req->client, strlen(req->client));
	resource = sanitize(req->resource, strlen(req->resource));
	if (client == NULL || resource == NULL)
		cmd_warnx("CLIENT does not hold RESOURCE under token %s",
		    req->token);
	else
		cmd_warnx("%s does not hold %s under token %s", client,
		    resource, req->token);
	free(client);
	free(resource);
	return LOCKCMD_EXIT_HELD;
}

/* Runs lock, lock_token, unlock, check or status, whose call is CALL. */
static int
run_single(struct session *s, const struct request *req,
    xmlrpc_mem_block *call)
{
	xmlrpc_value	*result = NULL;
	int		 status;

	if ((status = exchange(s, call, &result)) != -1)
		return status;
	if (strcmp(req->method, "status") == 0)
		status = show_status(result, req->resource);
	else if (strcmp(req->method, "lock_token") == 0)
		status = show_token(result);
	else if (strcmp(req->method, "check") == 0)
		status = show_check(result, req);
	else if (xmlrpc_value_type(result) == XMLRPC_TYPE_NIL)
		status = LOCKCMD_EXIT_OK;
	else
		status = unexpected_type(result, "nil");
	xmlrpc_DECREF(result);
	return status;
}

/*
 * Runs list: CALL asks for the first page, and every page's "next" for the
 * following one, until it is "".  Lines are printed page by page, so after
 * a failure the output is incomplete (and the exit status not 0).
 */
static int
run_list(struct session *s, const struct request *req,
    xmlrpc_mem_block *call)
{
	xmlrpc_value	*result;
	char		*after = NULL, *next = NULL;
	long		 page;
	int		 status;

	for (page = 0; page < LIST_PAGES_MAX; page++) {
		if (page > 0 && (status = make_call(req, after, &call)) != 0)
			break;
		result = NULL;
		status = exchange(s, call, &result);
		if (page > 0)
			XMLRPC_MEMBLOCK_FREE(char, call);
		if (status != -1)
			break;
		status = show_page(result, &next);
		xmlrpc_DECREF(result);
		if (status != -1)
			break;
		if (next[0] == '\0') {
			status = LOCKCMD_EXIT_OK;
			break;
		}
		/* The same cursor again would repeat the page forever. */
		if (after != NULL && strcmp(next, after) == 0) {
			status = unexpected("the same 'next' twice");
			break;
		}
		free(after);
		after = next;
		next = NULL;
	}
	if (page == LIST_PAGES_MAX) {
		cmd_warnx("unexpected response from lockd: more than %d pages "
		    "of %d locks", LIST_PAGES_MAX, LIST_PAGE);
		status = LOCKCMD_EXIT_SOFTWARE;
	}
	free(after);
	free(next);
	return status;
}

/* Sends REQ to the daemon and returns the exit status for its answer. */
static int
call_lockd(const struct request *req)
{
	struct xmlrpc_curl_xportparms	 curl_parms;
	struct xmlrpc_clientparms	 client_parms;
	struct session			 s;
	xmlrpc_env			 env;
	xmlrpc_mem_block		*call = NULL;
	char				 url[4096], user[512], pass[512];
	int				 status, creds;

	creds = split_credentials(req->url, url, sizeof(url), user,
	    sizeof(user), pass, sizeof(pass));
	if (creds == -1) {
		cmd_warnx("malformed credentials in the server URL (use "
		    "http://USER:PASSWORD@HOST:PORT/, percent-encoded)");
		return LOCKCMD_EXIT_USAGE;
	}
	if ((status = make_call(req, NULL, &call)) != 0) {
		explicit_bzero(pass, sizeof(pass));
		return status;
	}
	status = LOCKCMD_EXIT_SOFTWARE;
	memset(&s, 0, sizeof(s));
	s.url = url;
	s.timeout = req->timeout;
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, LOCKCMD_RESPONSE_MAX);

	xmlrpc_env_init(&env);
	xmlrpc_client_setup_global_const(&env);
	if (env.fault_occurred)
		goto fail;
	memset(&curl_parms, 0, sizeof(curl_parms));
	curl_parms.timeout = req->timeout * 1000;	/* milliseconds */
	curl_parms.cainfo = req->cacert;		/* NULL: system CAs */
	memset(&client_parms, 0, sizeof(client_parms));
	client_parms.transport = "curl";
	client_parms.transportparmsP = &curl_parms;
	client_parms.transportparm_size = XMLRPC_CXPSIZE(timeout);
	xmlrpc_client_create(&env, XMLRPC_CLIENT_NO_FLAGS, "lockcmd",
	    PACKAGE_VERSION, &client_parms,
	    XMLRPC_CPSIZE(transportparm_size), &s.client);
	if (env.fault_occurred)
		goto fail;
	s.server = xmlrpc_server_info_new(&env, url);
	if (env.fault_occurred)
		goto fail;
	if (creds) {
		xmlrpc_server_info_set_user(&env, s.server, user, pass);
		if (!env.fault_occurred)
			xmlrpc_server_info_allow_auth_basic(&env, s.server);
		explicit_bzero(pass, sizeof(pass));
		if (env.fault_occurred)
			goto fail;
	}

	if (arm_timeout(s.client, req->timeout) == -1) {
		cmd_warnx("cannot set the timeout: %s", strerror(errno));
		goto done;
	}
	if (strcmp(req->method, "list") == 0)
		status = run_list(&s, req, call);
	else
		status = run_single(&s, req, call);
	goto done;

fail:
	warnx_untrusted("xmlrpc-c: ", env.fault_string);
done:
	explicit_bzero(pass, sizeof(pass));
	if (s.server != NULL)
		xmlrpc_server_info_free(s.server);
	if (s.client != NULL)
		xmlrpc_client_destroy(s.client);
	/* Paired even after a failed setup, which xmlrpc-c counts too. */
	xmlrpc_client_teardown_global_const();
	XMLRPC_MEMBLOCK_FREE(char, call);
	xmlrpc_env_clean(&env);
	return status;
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
	return call_lockd(&req);
}
