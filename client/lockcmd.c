/* SPDX-License-Identifier: MIT */
/*
 * lockcmd: takes or releases one lock at a lockd daemon from the shell.  A
 * thin xmlrpc-c client: one call per run, the outcome as the exit status.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
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
#define LOCKCMD_EXIT_OK			0
#define LOCKCMD_EXIT_HELD		1	/* fault 1 */
#define LOCKCMD_EXIT_NOT_OWNER		2	/* fault 2 */
#define LOCKCMD_EXIT_NOT_LOCKED		3	/* fault 3 */
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

#define LOCKCMD_TIMEOUT_DEFAULT		10	/* seconds */
#define LOCKCMD_TIMEOUT_MIN		1
#define LOCKCMD_TIMEOUT_MAX		3600

#define LOCKCMD_STR(x)			LOCKCMD_STR2(x)
#define LOCKCMD_STR2(x)			#x
#define LOCKCMD_URL_DEFAULT \
	"http://127.0.0.1:" LOCKCMD_STR(LOCKD_DEFAULT_PORT) "/"

/* What one run asks of the daemon. */
struct request {
	const char	*url;
	const char	*method;	/* "lock" or "unlock" */
	const char	*resource;
	const char	*client;
	const char	*cacert;	/* CA file for https, or NULL */
	unsigned int	 timeout;	/* seconds */
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
"       lockcmd -h | --help\n"
"       lockcmd -V | --version\n"
"\n"
"Takes (lock) or releases (unlock) the lock on RESOURCE for CLIENT at a\n"
"lockd daemon.  Success is silent.\n"
"\n"
"Options:\n"
"  -s, --server URL       lockd to ask (default: $LOCKD_URL, else\n"
"                         " LOCKCMD_URL_DEFAULT ");\n"
"                         http://USER:PASSWORD@HOST:PORT/ authenticates\n"
"  -t, --timeout SECONDS  give up after SECONDS, 1 to 3600 (default 10)\n"
"  -C, --cacert FILE      trust the CA certificates in FILE for https://\n"
"                         (default: the system's CA store)\n"
"  -h, --help             print this help and exit\n"
"  -V, --version          print the version and exit\n"
"\n"
"Exit status:\n"
"   0  success\n"
"   1  RESOURCE is already locked (by another client, or by CLIENT itself)\n"
"   2  RESOURCE is locked by another client: CLIENT cannot unlock it\n"
"   3  RESOURCE is not locked\n"
"   4  lockd refused the request as invalid (bad name, malformed request)\n"
"   5  lockd could not do it (storage error, invalid lock state)\n"
"  64  usage error\n"
"  69  lockd unreachable (no connection, timeout, HTTP error)\n"
"  70  unexpected response from lockd, or an internal error\n"
"  77  access denied (address not allowed, authentication failed,\n"
"      or the user may not act as CLIENT)\n";

static void	cmd_vwarnx(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));
static void	cmd_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

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
		return usage_error("missing command (lock or unlock)");
	if (strcmp(argv[0], "lock") != 0 && strcmp(argv[0], "unlock") != 0)
		return usage_error_arg("unknown command", argv[0],
		    " (lock or unlock)");
	if (argc < 2)
		return usage_error("missing RESOURCE and CLIENT");
	if (argc < 3)
		return usage_error("missing CLIENT");
	if (argc > 3)
		return usage_error_arg("too many arguments, from", argv[3],
		    "");
	req->method = argv[0];
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
 * Interprets the daemon's response XML.  A <fault> prints its faultString
 * exactly (sanitized); anything but nil or a fault is unexpected.
 */
static int
interpret_response(const char *xml, size_t len)
{
	xmlrpc_env	 env;
	xmlrpc_value	*result = NULL;
	const char	*fault_string = NULL;
	int		 fault_code = 0, status;

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
		if (xmlrpc_value_type(result) == XMLRPC_TYPE_NIL)
			status = LOCKCMD_EXIT_OK;
		else {
			cmd_warnx("unexpected response from lockd: a result of "
			    "type %s instead of nil",
			    xmlrpc_type_name(xmlrpc_value_type(result)));
			status = LOCKCMD_EXIT_SOFTWARE;
		}
		xmlrpc_DECREF(result);
	}
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

/*
 * Serializes REQ's call into *callp.  Returns 0, or after reporting why an
 * exit status: 64 when a name is not UTF-8 or leaves the Basic Multilingual
 * Plane, which xmlrpc-c 1.33 cannot encode (nor lockd's parser decode).
 */
static int
make_call(const struct request *req, xmlrpc_mem_block **callp)
{
	xmlrpc_env		 env;
	xmlrpc_value		*params = NULL;
	xmlrpc_mem_block	*call = NULL;
	int			 status;

	xmlrpc_env_init(&env);
	params = xmlrpc_array_new(&env);
	if (env.fault_occurred)
		goto fail;
	append_string(&env, params, req->resource);
	if (env.fault_occurred)
		goto fail;
	append_string(&env, params, req->client);
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
	if (env.fault_code == XMLRPC_INVALID_UTF8_ERROR) {
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

/*
 * Sends REQ to the daemon and returns the exit status for its answer.
 * The call is built, sent and parsed in separate steps rather than with
 * xmlrpc_client_call2(), which reports a transport failure, a malformed
 * response and a real <fault> alike as an env fault (a daemon could even
 * send code -504 itself): here each step has its own exit status.
 */
static int
call_lockd(const struct request *req)
{
	struct xmlrpc_curl_xportparms	 curl_parms;
	struct xmlrpc_clientparms	 client_parms;
	xmlrpc_env			 env;
	xmlrpc_client			*client = NULL;
	xmlrpc_server_info		*server = NULL;
	xmlrpc_mem_block		*call = NULL, *response = NULL;
	char				 why[64], url[4096], user[512];
	char				 pass[512];
	int				 status, creds;

	creds = split_credentials(req->url, url, sizeof(url), user,
	    sizeof(user), pass, sizeof(pass));
	if (creds == -1) {
		cmd_warnx("malformed credentials in the server URL (use "
		    "http://USER:PASSWORD@HOST:PORT/, percent-encoded)");
		return LOCKCMD_EXIT_USAGE;
	}
	if ((status = make_call(req, &call)) != 0)
		return status;
	status = LOCKCMD_EXIT_SOFTWARE;

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
	    XMLRPC_CPSIZE(transportparm_size), &client);
	if (env.fault_occurred)
		goto fail;
	server = xmlrpc_server_info_new(&env, url);
	if (env.fault_occurred)
		goto fail;
	if (creds) {
		xmlrpc_server_info_set_user(&env, server, user, pass);
		if (!env.fault_occurred)
			xmlrpc_server_info_allow_auth_basic(&env, server);
		explicit_bzero(pass, sizeof(pass));
		if (env.fault_occurred)
			goto fail;
	}

	if (arm_timeout(client, req->timeout) == -1) {
		cmd_warnx("cannot set the timeout: %s", strerror(errno));
		goto done;
	}
	/* A fault here means no complete HTTP 200 response arrived. */
	xmlrpc_client_transport_call2(&env, client, server, call, &response);
	(void)alarm(0);
	if (env.fault_occurred) {
		/* The transport leaves *response undefined after a failure. */
		response = NULL;
		if (timed_out) {
			(void)snprintf(why, sizeof(why), "no answer within %u "
			    "second%s", req->timeout,
			    req->timeout == 1 ? "" : "s");
			report_unreachable(url, why);
		} else
			report_unreachable(url, env.fault_string);
		status = LOCKCMD_EXIT_UNREACHABLE;
		goto done;
	}
	status = interpret_response(XMLRPC_MEMBLOCK_CONTENTS(char, response),
	    XMLRPC_MEMBLOCK_SIZE(char, response));
	goto done;

fail:
	warnx_untrusted("xmlrpc-c: ", env.fault_string);
done:
	if (response != NULL)
		XMLRPC_MEMBLOCK_FREE(char, response);
	if (server != NULL)
		xmlrpc_server_info_free(server);
	if (client != NULL)
		xmlrpc_client_destroy(client);
	/* Paired even after a failed setup, which xmlrpc-c counts too. */
	xmlrpc_client_teardown_global_const();
	XMLRPC_MEMBLOCK_FREE(char, call);
	xmlrpc_env_clean(&env);
	return status;
}

int
main(int argc, char *argv[])
{
	struct request	req;
	int		status;

	/* A closed stderr or socket must end in EPIPE, not in death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return LOCKCMD_EXIT_SOFTWARE;
	if ((status = parse_args(argc, argv, &req)) != -1)
		return status;
	return call_lockd(&req);
}
