/* SPDX-License-Identifier: MIT */
/*
 * lockcmd's side of the wire: builds the XML-RPC call, sends it over curl
 * (timeout, credentials, CA file), checks and parses the response and maps
 * a fault to an exit status.
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

/* Fault codes of the wire protocol (PROTOCOL, "Faults"). */
#define LOCKD_FAULT_HELD		1
#define LOCKD_FAULT_NOT_OWNER		2
#define LOCKD_FAULT_NOT_LOCKED		3
#define LOCKD_FAULT_DELAYED		4
#define LOCKD_FAULT_STALE_TOKEN		5
#define LOCKD_FAULT_NO_LEASE		6
#define LOCKD_FAULT_PARAMS		10
#define LOCKD_FAULT_RESOURCE		11
#define LOCKD_FAULT_CLIENT		12
#define LOCKD_FAULT_REFUSED		30
#define LOCKD_FAULT_DENIED		40
#define LOCKD_FAULT_AUTH		41
#define LOCKD_FAULT_FORBIDDEN		42
#define LOCKD_FAULT_NO_BREAK		43
#define LOCKD_FAULT_WAITERS		50

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
	case LOCKD_FAULT_NO_BREAK:
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

/* Sets member KEY of the struct S to the double VALUE. */
static void
set_double(xmlrpc_env *env, xmlrpc_value *s, const char *key, double value)
{
	xmlrpc_value	*v;

	v = xmlrpc_double_new(env, value);
	if (env->fault_occurred)
		return;
	xmlrpc_struct_set_value(env, s, key, v);
	xmlrpc_DECREF(v);
}

/* Sets member KEY of the struct S to the int VALUE. */
static void
set_int(xmlrpc_env *env, xmlrpc_value *s, const char *key, int value)
{
	xmlrpc_value	*v;

	v = xmlrpc_int_new(env, value);
	if (env->fault_occurred)
		return;
	xmlrpc_struct_set_value(env, s, key, v);
	xmlrpc_DECREF(v);
}

/* Builds the options struct of list (the page after AFTER). */
static xmlrpc_value *
make_list_options(xmlrpc_env *env, const struct request *req,
    const char *after)
{
	xmlrpc_value	*options;

	options = xmlrpc_struct_new(env);
	if (!env->fault_occurred && req->prefix != NULL)
		set_string(env, options, "prefix", req->prefix);
	if (!env->fault_occurred && req->holder != NULL)
		set_string(env, options, "holder", req->holder);
	if (!env->fault_occurred && after != NULL)
		set_string(env, options, "after", after);
	if (!env->fault_occurred)
		set_int(env, options, "limit", LIST_PAGE);
	return options;
}

/*
 * Builds the options struct of acquire (wait, ttl: those given, as
 * doubles) or history (limit); NULL, without a fault, when there is none.
 */
static xmlrpc_value *
make_options(xmlrpc_env *env, const struct request *req)
{
	xmlrpc_value	*options;

	if (strcmp(req->method, "acquire") != 0 &&
	    (strcmp(req->method, "history") != 0 || req->limit == 0))
		return NULL;
	options = xmlrpc_struct_new(env);
	if (!env->fault_occurred && req->wait >= 0 &&
	    strcmp(req->method, "acquire") == 0)
		set_double(env, options, "wait", req->wait);
	if (!env->fault_occurred && req->ttl >= 0 &&
	    strcmp(req->method, "acquire") == 0)
		set_double(env, options, "ttl", req->ttl);
	if (!env->fault_occurred && req->limit > 0)
		set_int(env, options, "limit", req->limit);
	return options;
}

/*
 * Builds the parameters of REQ's call; for list, of the page after the
 * cursor AFTER (NULL: the first page).  The order is PROTOCOL's: RESOURCE,
 * then CLIENT or break_lock's REASON, TOKEN (check, renew), renew's TTL or
 * the options struct (acquire, history).
 */
static xmlrpc_value *
make_params(xmlrpc_env *env, const struct request *req, const char *after)
{
	xmlrpc_value	*params, *options = NULL, *ttl;

	params = xmlrpc_array_new(env);
	if (env->fault_occurred)
		return NULL;
	if (strcmp(req->method, "list") == 0)
		options = make_list_options(env, req, after);
	else {
		append_string(env, params, req->resource);
		if (!env->fault_occurred && req->client != NULL)
			append_string(env, params, req->client);
		if (!env->fault_occurred && req->reason != NULL)
			append_string(env, params, req->reason);
		if (!env->fault_occurred && req->token[0] != '\0')
			append_string(env, params, req->token);
		if (!env->fault_occurred && req->ttl >= 0 &&
		    strcmp(req->method, "renew") == 0) {
			ttl = xmlrpc_double_new(env, req->ttl);
			if (!env->fault_occurred) {
				xmlrpc_array_append_item(env, params, ttl);
				xmlrpc_DECREF(ttl);
			}
		}
		if (!env->fault_occurred)
			options = make_options(env, req);
	}
	if (!env->fault_occurred && options != NULL)
		xmlrpc_array_append_item(env, params, options);
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
int
rpc_make_call(const struct request *req, const char *after,
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
		(void)output_unexpected("a 'next' that cannot be sent back");
		status = LOCKCMD_EXIT_SOFTWARE;
	} else if (env.fault_code == XMLRPC_INVALID_UTF8_ERROR) {
		if (strcmp(req->method, "list") == 0)
			output_warnx("PREFIX and CLIENT must be UTF-8 without "
			    "characters above U+FFFF");
		else if (req->reason != NULL)
			output_warnx("RESOURCE and REASON must be UTF-8 "
			    "without characters above U+FFFF");
		else if (req->client == NULL)
			output_warnx("RESOURCE must be UTF-8 without "
			    "characters above U+FFFF");
		else
			output_warnx("RESOURCE and CLIENT must be UTF-8 "
			    "without characters above U+FFFF");
		status = LOCKCMD_EXIT_USAGE;
	} else {
		output_warnx_untrusted("cannot build the request: ",
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
 * The time-out of REQ's call in seconds: --timeout, and for lock --wait
 * the wait on top (rounded up), since the daemon answers only when the
 * wait is over.  At most 3600 + 2592000 seconds: within alarm() and the
 * milliseconds of libcurl's unsigned int time-out.
 */
static unsigned int
call_timeout(const struct request *req)
{
	unsigned int	wait = 0;

	if (strcmp(req->method, "acquire") == 0 && req->wait > 0) {
		wait = (unsigned int)req->wait;
		if ((double)wait < req->wait)
			wait++;
	}
	return req->timeout + wait;
}

/* Sends REQ to the daemon and returns the exit status for its answer. */
int
rpc_call(const struct request *req)
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
		output_warnx("malformed credentials in the server URL (use "
		    "http://USER:PASSWORD@HOST:PORT/, percent-encoded)");
		return LOCKCMD_EXIT_USAGE;
	}
	if ((status = rpc_make_call(req, NULL, &call)) != 0) {
		explicit_bzero(pass, sizeof(pass));
		return status;
	}
	status = LOCKCMD_EXIT_SOFTWARE;
	memset(&s, 0, sizeof(s));
	s.url = url;
	s.timeout = call_timeout(req);
	xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, LOCKCMD_RESPONSE_MAX);

	xmlrpc_env_init(&env);
	xmlrpc_client_setup_global_const(&env);
	if (env.fault_occurred)
		goto fail;
	memset(&curl_parms, 0, sizeof(curl_parms));
	curl_parms.timeout = s.timeout * 1000;		/* milliseconds */
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

	if (arm_timeout(s.client, s.timeout) == -1) {
		output_warnx("cannot set the timeout: %s", strerror(errno));
		goto done;
	}
	if (strcmp(req->method, "list") == 0)
		status = commands_run_list(&s, req, call);
	else
		status = commands_run_single(&s, req, call);
	goto done;

fail:
	output_warnx_untrusted("xmlrpc-c: ", env.fault_string);
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
