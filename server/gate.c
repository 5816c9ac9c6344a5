/* SPDX-License-Identifier: MIT */
/*
 * The request gate every XML-RPC request passes: access control and the
 * rules a request pins, the checks that keep dangerous XML from xmlrpc-c's
 * parser, then the fast path or xmlrpc-c's registry.
 */
#include "config.h"

#include <sys/socket.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/server_abyss.h>

#include "access.h"
#include "fastpath.h"
#include "gzip.h"
#include "log.h"
#include "methods.h"
#include "metrics.h"
#include "refusal.h"
#include "reply.h"
#include "rpc.h"

/* Answers the request with fault CODE and MSG instead of processing it. */
static void
refuse(xmlrpc_env *env, xmlrpc_mem_block **out, int code, const char *msg)
{
	xmlrpc_env	fault;

	*out = XMLRPC_MEMBLOCK_NEW(char, env, 0);
	if (env->fault_occurred)
		return;
	xmlrpc_env_init(&fault);
	xmlrpc_env_set_fault(&fault, code, msg);
	xmlrpc_serialize_fault(env, *out, &fault);
	xmlrpc_env_clean(&fault);
	if (env->fault_occurred) {
		XMLRPC_MEMBLOCK_FREE(char, *out);
		*out = NULL;
	}
}

/* refuse(), with a (rate-limited) audit line: a refusal before parsing. */
static void
refuse_checked(xmlrpc_env *env, xmlrpc_mem_block **out,
    const struct rpc_call *ctx, int code, const char *msg)
{
	char	what[300];

	snprintf(what, sizeof(what), "fault %d: %s", code, msg);
	refusal_log(ctx->session, what);
	refuse(env, out, code, msg);
}

/*
 * Answers XML through the fast path if the scanner takes it: the method
 * table's fast handler, the cores of the same methods, and xmlrpc-c's own
 * serializer with the dialect of the registry (lockd never changes it
 * from i8), so the response is the one the registry would give.  0: the
 * request is left to the registry.
 */
static int
fast_call(xmlrpc_env *env, const char *xml, size_t len,
    const struct rpc_call *ctx, xmlrpc_mem_block **out)
{
	struct fastpath_call	 fc;
	xmlrpc_env		 call;
	xmlrpc_value		*result;

	if (!fastpath_scan(xml, len, &fc))
		return 0;
	*out = XMLRPC_MEMBLOCK_NEW(char, env, 0);
	if (env->fault_occurred) {
		fastpath_call_clear(&fc);
		return 1;
	}
	xmlrpc_env_init(&call);
	result = fc.row->fast_handler(&call, ctx, &fc);
	if (call.fault_occurred)
		xmlrpc_serialize_fault(env, *out, &call);
	else
		xmlrpc_serialize_response2(env, *out, result,
		    xmlrpc_dialect_i8);
	if (result != NULL)
		xmlrpc_DECREF(result);
	xmlrpc_env_clean(&call);
	fastpath_call_clear(&fc);
	if (env->fault_occurred) {
		XMLRPC_MEMBLOCK_FREE(char, *out);
		*out = NULL;
	}
	return 1;
}

/* The peer address of SESSION (may be NULL) into *PEER and *SALEN. */
static void
session_peer(TSession *session, const struct sockaddr **peer, size_t *salen)
{
	struct abyss_unix_chaninfo	*ci = NULL;

	*peer = NULL;
	*salen = 0;
	if (session == NULL)
		return;
	SessionGetChannelInfo(session, (void **)&ci);
	if (ci != NULL) {
		*peer = &ci->peerAddr;
		*salen = ci->peerAddrLen < sizeof(ci->peerAddr) ?
		    ci->peerAddrLen : sizeof(ci->peerAddr);
	}
}

/*
 * Access control, before the XML parser sees anything: the peer must be
 * allowed and, with an auth-file, authenticated.  Returns 1 to go on, or 0
 * with a fault answer in *OUT.
 */
static int
admit(struct rpc *rpc, struct rpc_call *ctx, xmlrpc_env *env,
    xmlrpc_mem_block **out)
{
	const struct sockaddr	*peer;
	const char		*authorization = NULL;
	char			 msg[256], who[64];
	size_t			 salen;
	int			 code;

	session_peer(ctx->session, &peer, &salen);
	if (ctx->session != NULL)
		authorization = RequestHeaderValue(ctx->session,
		    "authorization");
	code = access_check(rpc->access, peer, salen, authorization,
	    &ctx->user, msg, sizeof(msg));
	if (code == 0)
		return 1;
	reply_peer_name(ctx->session, who, sizeof(who));
	log_info("request from %s: denied: %s", who, msg);
	refuse(env, out, code, msg);
	return 0;
}

/*
 * Whether every <i8> and <ex:i8> element holds a plain 64-bit integer.
 * xmlrpc-c 1.33 crashes the whole daemon (SIGSEGV while formatting its
 * own error message) on any other content, so such requests never reach
 * its parser.  Surrounding blanks and a sign are allowed; nothing else.
 */
static int
i8_values_ok(const char *xml, size_t len)
{
	static const char	*tags[] = { "<i8", "<ex:i8" };
	const char		*p, *end = xml + len, *q;
	unsigned long long	 v;
	size_t			 i, digits;
	int			 neg;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		for (p = xml; (p = memmem(p, (size_t)(end - p), tags[i],
		    strlen(tags[i]))) != NULL; p++) {
			q = p + strlen(tags[i]);
			if (q < end && *q != '>' && *q != '/' && *q != ' ' &&
			    *q != '\t' && *q != '\r' && *q != '\n')
				continue;	/* another element, like <i8x> */
			if (q >= end || *q != '>')
				return 0;	/* attributes or <i8/> */
			for (q++; q < end && strchr(" \t\r\n", *q) != NULL &&
			    *q != '\0'; q++)
				;
			neg = q < end && (*q == '-' || *q == '+') ?
			    (*q++ == '-') : 0;
			for (v = 0, digits = 0; q < end && *q >= '0' &&
			    *q <= '9'; q++, digits++) {
				if (digits == 19)
					return 0;
				v = v * 10 + (unsigned long long)(*q - '0');
			}
			if (digits == 0 ||
			    v > (neg ? 9223372036854775808ULL :
			    9223372036854775807ULL))
				return 0;
			for (; q < end && strchr(" \t\r\n", *q) != NULL &&
			    *q != '\0'; q++)
				;
			if (end - q < 2 || q[0] != '<' || q[1] != '/')
				return 0;
		}
	}
	return 1;
}

/*
 * The deepest element nesting let through to xmlrpc-c, which builds the
 * whole tree first and frees it recursively: 1 MiB of unclosed tags
 * overflowed the 4 MiB request stack near 90,000 levels.  Valid XML-RPC
 * needs at most 195 (methodCall, params, param, then 3 per value level --
 * value, array, data or value, struct, member -- for xmlrpc-c's 64
 * levels, and an innermost array's value, array, data); anything between
 * 195 and this gets xmlrpc-c's own fault -503 "Nested data structure too
 * deep", as before.
 */
#define GATE_MAX_DEPTH	10000

/* Just past the first STR in [P, END), or END. */
static const char *
past(const char *p, const char *end, const char *str)
{
	const char	*q;

	q = memmem(p, (size_t)(end - p), str, strlen(str));
	return q != NULL ? q + strlen(str) : end;
}

/*
 * Whether no element of XML lies more than MAX deep, in one pass over the
 * markup: comments, CDATA sections and processing instructions hold no
 * elements, quoted attribute values may hold '>' and '/'.  What is not
 * well-formed counts as a start tag at worst, and expat stops at the
 * first error, so nothing beyond it can deepen the tree.
 */
static int
depth_ok(const char *xml, size_t len, size_t max)
{
	const char	*p = xml, *end = xml + len, *q;
	size_t		 depth = 0, rest;

	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		rest = (size_t)(end - ++p);
		if (rest >= 3 && memcmp(p, "!--", 3) == 0)
			p = past(p + 3, end, "-->");
		else if (rest >= 8 && memcmp(p, "![CDATA[", 8) == 0)
			p = past(p + 8, end, "]]>");
		else if (rest >= 1 && *p == '?')
			p = past(p + 1, end, "?>");
		else if (rest >= 1 && (*p == '/' || *p == '!')) {
			if (*p == '/' && depth > 0)
				depth--;
			p = past(p, end, ">");
		} else {
			for (q = p; q < end && *q != '>'; q++)
				if ((*q == '"' || *q == '\'') && (q = memchr(q + 1,
				    *q, (size_t)(end - q - 1))) == NULL)
					return 1;
			if (++depth > max)
				return 0;
			if (q < end && q[-1] == '/')
				depth--;	/* <nil/> */
			p = q;
		}
	}
	return 1;
}

/*
 * The checks before parsing, then the registry.  The bundled 2001-era
 * expat expands internal entities without limit, so any DTD is refused; a
 * NUL byte means UTF-16 or UTF-32, in which "<!DOCTYPE" would slip past a
 * byte search, and no valid UTF-8 XML contains one; it misreads a byte
 * order mark; and elements nested too deep overflow the stack when it
 * frees its tree.
 */
static void
process_checked(xmlrpc_env *env, struct rpc *rpc, const char *xml,
    size_t len, struct rpc_call *ctx, xmlrpc_mem_block **out)
{
	char	msg[80];

	if (memchr(xml, '\0', len) != NULL) {
		refuse_checked(env, out, ctx, LOCKD_FAULT_REFUSED,
		    "Request refused: only UTF-8 requests are accepted");
		return;
	}
	if (!i8_values_ok(xml, len)) {
		refuse_checked(env, out, ctx, LOCKD_FAULT_REFUSED,
		    "Request refused: an <i8> value that is not a 64-bit "
		    "integer");
		return;
	}
	if (memmem(xml, len, "<!DOCTYPE", 9) != NULL) {
		refuse_checked(env, out, ctx, LOCKD_FAULT_REFUSED,
		    "Request refused: document type declarations "
		    "(<!DOCTYPE>) are not accepted");
		return;
	}
	/*
	 * After a UTF-8 byte order mark the bundled expat reads a pointer it
	 * never set (valgrind: "uninitialised value ... created by a stack
	 * allocation" in libxmlrpc_xmlparse): its answer would depend on
	 * what earlier calls left on the stack.  Such a request gets what
	 * xmlrpc-c answers to it as a rule, every time.
	 */
	if (len >= 3 && memcmp(xml, "\xef\xbb\xbf", 3) == 0) {
		refuse_checked(env, out, ctx, XMLRPC_PARSE_ERROR,
		    "Call XML not a proper XML-RPC call.  Call is not valid "
		    "XML.  not well-formed");
		return;
	}
	if (!depth_ok(xml, len, GATE_MAX_DEPTH)) {
		snprintf(msg, sizeof(msg), "Request refused: XML elements "
		    "nested more than %d deep", GATE_MAX_DEPTH);
		refuse_checked(env, out, ctx, LOCKD_FAULT_REFUSED, msg);
		return;
	}
	if (rpc->fastpath && fast_call(env, xml, len, ctx, out))
		return;
	xmlrpc_registry_process_call2(env, rpc->registry, xml, len, ctx, out);
}

/* Answers one request body XML into *OUT (free with XMLRPC_MEMBLOCK_FREE). */
void
rpc_process(xmlrpc_env *env, struct rpc *rpc, const char *xml, size_t len,
    TSession *session, xmlrpc_mem_block **out)
{
	struct rpc_call	ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.rpc = rpc;
	ctx.session = session;
	pthread_rwlock_rdlock(&rpc->access_lock);
	ctx.generation = rpc->generation;
	ctx.reply_budget = rpc->max_reply_size;
	if (rpc->access == NULL || admit(rpc, &ctx, env, out)) {
		/* Copies that outlive a wait without the rules pinned. */
		ctx.authenticated = ctx.user != NULL;
		ctx.admin = access_user_role(ctx.user) == ACCESS_ROLE_ADMIN;
		snprintf(ctx.user_name, sizeof(ctx.user_name), "%s",
		    access_user_name(ctx.user));
		process_checked(env, rpc, xml, len, &ctx, out);
	}
	pthread_rwlock_unlock(&rpc->access_lock);
}

/*
 * A request body with Content-Encoding: gzip (Python's xmlrpc.client with
 * Transport.encode_threshold) decompressed into *PLAIN, counted against
 * max-request-size like a plain one: 1 to go on, or 0 with a fault 30
 * answer in *OUT.  Other encodings are left as they come.
 */
static int
inflate_body(xmlrpc_env *env, TSession *session, const char *xml,
    size_t len, char **plain, size_t *plainlen, xmlrpc_mem_block **out)
{
	const char	*enc;
	char		 msg[160];
	size_t		 max = xmlrpc_limit_get(XMLRPC_XML_SIZE_LIMIT_ID);

	*plain = NULL;
	enc = session != NULL ? RequestHeaderValue(session,
	    "content-encoding") : NULL;
	if (enc == NULL || (strcasecmp(enc, "gzip") != 0 &&
	    strcasecmp(enc, "x-gzip") != 0))
		return 1;
	switch (gzip_inflate(xml, len, max, plain, plainlen)) {
	case GZIP_OK:
		return 1;
	case GZIP_TOO_LARGE:
		snprintf(msg, sizeof(msg), "Request refused: the gzip body "
		    "decompresses to more than %zu bytes (max-request-size)",
		    max);
		break;
	case GZIP_INVALID:
		snprintf(msg, sizeof(msg), "Request refused: the body is not "
		    "valid gzip (Content-Encoding: gzip)");
		break;
	default:
		snprintf(msg, sizeof(msg), "Request refused: out of memory "
		    "while decompressing the gzip body");
		break;
	}
	refusal_log(session, msg);
	refuse(env, out, LOCKD_FAULT_REFUSED, msg);
	return 0;
}

/*
 * Compresses a reply larger than GZIP_REPLY_THRESHOLD for a client that
 * accepts gzip, as Python's xmlrpc.server does; Abyss sends the header
 * added here with the reply.  Left as it is if anything fails.
 */
static void
deflate_reply(xmlrpc_env *env, TSession *session, xmlrpc_mem_block **out)
{
	xmlrpc_mem_block	*gz;
	char			*buf;
	size_t			 len;

	if (session == NULL || *out == NULL ||
	    XMLRPC_MEMBLOCK_SIZE(char, *out) <= GZIP_REPLY_THRESHOLD ||
	    !gzip_accepted(RequestHeaderValue(session, "accept-encoding")))
		return;
	if (gzip_deflate(XMLRPC_MEMBLOCK_CONTENTS(char, *out),
	    XMLRPC_MEMBLOCK_SIZE(char, *out), &buf, &len) == -1)
		return;
	gz = XMLRPC_MEMBLOCK_NEW(char, env, len);
	if (!env->fault_occurred) {
		memcpy(XMLRPC_MEMBLOCK_CONTENTS(char, gz), buf, len);
		ResponseAddField(session, "Content-Encoding", "gzip");
		XMLRPC_MEMBLOCK_FREE(char, *out);
		*out = gz;
	}
	free(buf);
}

static void
process(xmlrpc_env *env, void *arg, const char *xml, size_t len,
    TSession *session, xmlrpc_mem_block **out)
{
	struct timespec	 t0, t1;
	char		*plain;
	size_t		 plainlen;

	/* Only requests from the network count, not the fuzzer's. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (inflate_body(env, session, xml, len, &plain, &plainlen, out)) {
		if (plain != NULL)
			rpc_process(env, arg, plain, plainlen, session, out);
		else
			rpc_process(env, arg, xml, len, session, out);
		free(plain);
		deflate_reply(env, session, out);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_observe_request((double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* Serves XML-RPC on SERVER at "/" and "/RPC2". */
int
rpc_attach(struct rpc *rpc, TServer *server, char *err, size_t errsize)
{
	static const char		*paths[] = { "/RPC2", "/" };
	xmlrpc_server_abyss_handler_parms parms;
	xmlrpc_env			 env;
	size_t				 i;

	xmlrpc_env_init(&env);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		memset(&parms, 0, sizeof(parms));
		parms.xml_processor = process;
		parms.xml_processor_arg = rpc;
		parms.xml_processor_max_stack = RPC_STACK_SIZE;
		parms.uri_path = paths[i];
		xmlrpc_server_abyss_set_handler3(&env, server, &parms,
		    XMLRPC_AHPSIZE(uri_path));
		if (env.fault_occurred) {
			snprintf(err, errsize, "cannot install the XML-RPC "
			    "handler for %s: %s", paths[i], env.fault_string);
			xmlrpc_env_clean(&env);
			return -1;
		}
	}
	xmlrpc_server_abyss_set_default_handler(server);
	xmlrpc_env_clean(&env);
	return 0;
}

/* Lets go of the access rules for a long wait. */
void
gate_unpin(struct rpc_call *call)
{
	call->unpinned_user = call->user;
	call->user = NULL;
	pthread_rwlock_unlock(&call->rpc->access_lock);
}

/* Takes the access rules again after gate_unpin(). */
void
gate_repin(struct rpc_call *call)
{
	pthread_rwlock_rdlock(&call->rpc->access_lock);
	/* The user was checked against rules that may be gone now: what
	 * follows (system.multicall) gets no identity and no role. */
	if (call->rpc->generation != call->generation) {
		call->stale = 1;
		call->admin = 0;
	} else
		call->user = call->unpinned_user;
	call->unpinned_user = NULL;
}

/* Whether the peer of SESSION passes the allow-list now. */
int
rpc_peer_allowed(struct rpc *rpc, TSession *session)
{
	const struct sockaddr	*peer;
	size_t			 salen;
	int			 ok;

	session_peer(session, &peer, &salen);
	pthread_rwlock_rdlock(&rpc->access_lock);
	ok = access_peer_allowed(rpc->access, peer, salen);
	pthread_rwlock_unlock(&rpc->access_lock);
	return ok;
}

/* Whether CALL may act as CLIENT; fault 42 and an audit line if not. */
int
gate_act_as(xmlrpc_env *env, const struct rpc_call *call, const char *method,
    const char *resource, const char *client)
{
	char	msg[600], c[300];

	/* Identity binding: one host cannot release another's lock by
	 * claiming its client name.  Rules replaced while the request
	 * waited leave it no identity. */
	if (!call->stale && access_may_act_as(call->user, client))
		return 0;
	snprintf(msg, sizeof(msg), "Not permitted: user '%s' may not act as "
	    "client '%s'", call->user_name, log_escape(c, sizeof(c), client));
	reply_audit(call, method, resource, client, "denied", msg);
	xmlrpc_env_set_fault(env, LOCKD_FAULT_FORBIDDEN, msg);
	return -1;
}
