/* SPDX-License-Identifier: MIT */
/*
 * lockcmd's session with lockd: opens it over curl (timeout, credentials,
 * CA file), sends a serialized call, checks and parses the response and
 * maps a fault to an exit status.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#include "lockcmd.h"

/*
 * Largest response lockcmd parses (xmlrpc-c's default is 512 KiB).  A page
 * of LIST_PAGE locks with 4096-byte names full of characters XML must
 * escape ("<" is "&lt;") comes to about 37 MB.
 */
#define LOCKCMD_RESPONSE_MAX		(64 * 1024 * 1024)

/*
 * Maps a fault code of the daemon to lockcmd's exit status.  A lock-delay
 * (4) is "held" for a script: the holder that was broken or whose lease
 * ran out may still be at work, and a wait that ran out in one ends as 1
 * either way.  A stale token (5) is check's "false".  Too many waiters
 * (50) is the daemon's limit, not the resource's state: nothing was done.
 */
static int
exit_for_fault(int code)
{
	switch (code) {
	case LOCKD_FAULT_HELD:
	case LOCKD_FAULT_DELAYED:
	case LOCKD_FAULT_STALE_TOKEN:
		return LOCKCMD_EXIT_HELD;
	case LOCKD_FAULT_NOT_OWNER:
		return LOCKCMD_EXIT_NOT_OWNER;
	case LOCKD_FAULT_NOT_LOCKED:
		return LOCKCMD_EXIT_NOT_LOCKED;
	case LOCKD_FAULT_NO_LEASE:
	case LOCKD_FAULT_PARAMS:
	case LOCKD_FAULT_RESOURCE:
	case LOCKD_FAULT_CLIENT:
	case LOCKD_FAULT_REFUSED:
		return LOCKCMD_EXIT_REFUSED;
	case LOCKD_FAULT_DENIED:
	case LOCKD_FAULT_AUTH:
	case LOCKD_FAULT_FORBIDDEN:
	case LOCKD_FAULT_NOT_PERMITTED:
		return LOCKCMD_EXIT_NOPERM;
	case LOCKD_FAULT_WAITERS:
		return LOCKCMD_EXIT_FAILED;
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
	clean_url = output_sanitize(url, strlen(url));
	clean_reason = output_sanitize(reason, len);
	if (clean_url == NULL || clean_reason == NULL)
		output_warnx("cannot reach lockd (out of memory)");
	else
		output_warnx("cannot reach lockd at %s: %s", clean_url,
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
		return output_unexpected("an <i8> that is not a 64-bit "
		    "integer");
	xmlrpc_env_init(&env);
	xmlrpc_parse_response2(&env, xml, len, &result, &fault_code,
	    &fault_string);
	if (env.fault_occurred) {
		output_warnx_untrusted("unexpected response from lockd: ",
		    env.fault_string);
		status = LOCKCMD_EXIT_SOFTWARE;
	} else if (fault_string != NULL) {
		output_warnx_untrusted("", fault_string);
		status = exit_for_fault(fault_code);
		free((void *)fault_string);	/* malloc()ed by xmlrpc-c */
	} else {
		*resultp = result;
		status = -1;
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

/* The value of the hex digit C, or -1. */
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
 * Sends CALL and parses the answer.  Returns -1 with the result in
 * *resultp (the caller releases it), else the exit status after reporting.
 * The call is built, sent and parsed in separate steps rather than with
 * xmlrpc_client_call2(), which reports a transport failure, a malformed
 * response and a real <fault> alike as an env fault (a daemon could even
 * send code -504 itself): here each step has its own exit status.
 */
int
rpc_exchange(struct session *s, xmlrpc_mem_block *call, xmlrpc_value **resultp)
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

/*
 * Opens a session with the daemon at URL ("scheme://[USER:PASSWORD@]host
 * ..."), trusting CACERT (NULL: the system's CAs), each call limited to
 * TIMEOUT seconds.  Returns -1, or the exit status after reporting.
 */
int
rpc_open(struct session *s, const char *url, const char *cacert,
    unsigned int timeout)
{
	struct xmlrpc_curl_xportparms	 curl_parms;
	struct xmlrpc_clientparms	 client_parms;
	xmlrpc_env			 env;
	char				 user[512], pass[512];
	int				 status = -1, creds;

	memset(s, 0, sizeof(*s));
	s->timeout = timeout;
	creds = split_credentials(url, s->url, sizeof(s->url), user,
	    sizeof(user), pass, sizeof(pass));
	if (creds == -1) {
		explicit_bzero(pass, sizeof(pass));
		output_warnx("malformed credentials in the server URL (use "
		    "http://USER:PASSWORD@HOST:PORT/, percent-encoded)");
		return LOCKCMD_EXIT_USAGE;
	}
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, LOCKCMD_RESPONSE_MAX);
	xmlrpc_env_init(&env);
	xmlrpc_client_setup_global_const(&env);
	memset(&curl_parms, 0, sizeof(curl_parms));
	curl_parms.timeout = timeout * 1000;		/* milliseconds */
	curl_parms.cainfo = cacert;			/* NULL: system CAs */
	memset(&client_parms, 0, sizeof(client_parms));
	client_parms.transport = "curl";
	client_parms.transportparmsP = &curl_parms;
	client_parms.transportparm_size = XMLRPC_CXPSIZE(timeout);
	if (!env.fault_occurred)
		xmlrpc_client_create(&env, XMLRPC_CLIENT_NO_FLAGS, "lockcmd",
		    PACKAGE_VERSION, &client_parms,
		    XMLRPC_CPSIZE(transportparm_size), &s->client);
	if (!env.fault_occurred)
		s->server = xmlrpc_server_info_new(&env, s->url);
	if (!env.fault_occurred && creds)
		xmlrpc_server_info_set_user(&env, s->server, user, pass);
	if (!env.fault_occurred && creds)
		xmlrpc_server_info_allow_auth_basic(&env, s->server);
	explicit_bzero(pass, sizeof(pass));
	if (env.fault_occurred) {
		output_warnx_untrusted("xmlrpc-c: ", env.fault_string);
		status = LOCKCMD_EXIT_SOFTWARE;
	} else if (arm_timeout(s->client, timeout) == -1) {
		output_warnx("cannot set the timeout: %s", strerror(errno));
		status = LOCKCMD_EXIT_SOFTWARE;
	}
	xmlrpc_env_clean(&env);
	if (status != -1)
		rpc_close(s);
	return status;
}

/* Closes the session S, even one whose opening failed half-way. */
void
rpc_close(struct session *s)
{
	if (s->server != NULL)
		xmlrpc_server_info_free(s->server);
	if (s->client != NULL)
		xmlrpc_client_destroy(s->client);
	/* Paired even after a failed setup, which xmlrpc-c counts too. */
	xmlrpc_client_teardown_global_const();
}
