/* SPDX-License-Identifier: MIT */
/*
 * The XML-RPC layer: lock/unlock methods that delegate to the store, fault
 * codes, introspection help, and the request check that refuses what the
 * bundled XML parser must never see.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/server_abyss.h>

#include "access.h"
#include "fastpath.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"

struct rpc {
	xmlrpc_registry		*registry;
	struct lockstore	*store;
	struct access		*access;	/* NULL: open to all */
	pthread_rwlock_t	 access_lock;	/* SIGHUP swaps access */
	unsigned long		 generation;	/* of access, under the lock */
	volatile sig_atomic_t	 stopping;
	struct sockaddr_storage	 listener;
	socklen_t		 listener_len;	/* 0: unknown */
	pthread_mutex_t		 policy_lock;
	struct lockstore_policy	 policy;
	int			 break_lock;
	int			 fastpath;	/* scan hot calls first */
};

/* The XML-RPC name of type T, for fault messages. */
const char *
rpc_type_name(xmlrpc_type t)
{
	switch (t) {
	case XMLRPC_TYPE_INT:		return "int";
	case XMLRPC_TYPE_BOOL:		return "boolean";
	case XMLRPC_TYPE_DOUBLE:	return "double";
	case XMLRPC_TYPE_DATETIME:	return "dateTime";
	case XMLRPC_TYPE_STRING:	return "string";
	case XMLRPC_TYPE_BASE64:	return "base64";
	case XMLRPC_TYPE_ARRAY:		return "array";
	case XMLRPC_TYPE_STRUCT:	return "struct";
	case XMLRPC_TYPE_NIL:		return "nil";
	case XMLRPC_TYPE_I8:		return "i8";
	default:			return "unknown";
	}
}

/* The fault code for a store status. */
int
rpc_fault_code(enum lockstore_status st)
{
	switch (st) {
	case LOCKSTORE_HELD:		return RPC_FAULT_HELD;
	case LOCKSTORE_NOT_OWNER:	return RPC_FAULT_NOT_OWNER;
	case LOCKSTORE_NOT_LOCKED:	return RPC_FAULT_NOT_LOCKED;
	case LOCKSTORE_BAD_RESOURCE:	return RPC_FAULT_RESOURCE;
	case LOCKSTORE_BAD_CLIENT:	return RPC_FAULT_CLIENT;
	case LOCKSTORE_INVALID_STATE:	return RPC_FAULT_STATE;
	case LOCKSTORE_DELAYED:		return RPC_FAULT_DELAYED;
	case LOCKSTORE_STALE_TOKEN:	return RPC_FAULT_STALE_TOKEN;
	case LOCKSTORE_NO_LEASE:	return RPC_FAULT_NO_LEASE;
	case LOCKSTORE_TOO_MANY_WAITERS: return RPC_FAULT_WAITERS;
	case LOCKSTORE_BAD_ARGUMENT:	return RPC_FAULT_PARAMS;
	case LOCKSTORE_CANCELLED:	/* the caller is gone */
	case LOCKSTORE_OK:
	case LOCKSTORE_STORAGE:
	default:			return RPC_FAULT_STORAGE;
	}
}

/* The peer of SESSION as "ip:port" for the audit line. */
void
rpc_peer_name(TSession *session, char *buf, size_t size)
{
	struct abyss_unix_chaninfo	*ci = NULL;
	char				 ip[INET6_ADDRSTRLEN];

	snprintf(buf, size, "?");
	if (session == NULL)
		return;
	SessionGetChannelInfo(session, (void **)&ci);
	if (ci != NULL && ci->peerAddr.sa_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ci->peerAddr;

		if (inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)) != NULL)
			snprintf(buf, size, "%s:%u", ip,
			    (unsigned)ntohs(s4->sin_port));
	} else if (ci != NULL && ci->peerAddr.sa_family == AF_INET6)
		snprintf(buf, size, "[ipv6]");
}

/*
 * Reads the two string parameters.  Checked here rather than by
 * xmlrpc_decompose_value so that every misuse gets lockd's own fault code
 * and a message naming the parameter.
 */
static int
get_params(xmlrpc_env *env, xmlrpc_value *params, const char *method,
    const char **resource, const char **client)
{
	static const char	*names[2] = { "resource", "client" };
	const char		**out[2] = { resource, client };
	xmlrpc_value		*v;
	int			 i, n;

	n = xmlrpc_array_size(env, params);
	if (env->fault_occurred)
		return -1;
	if (n != 2) {
		xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
		    "%s takes 2 string parameters (resource, client), got %d",
		    method, n);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		xmlrpc_array_read_item(env, params, i, &v);
		if (env->fault_occurred)
			return -1;
		if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING) {
			xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
			    "%s: parameter %d (%s) must be a string, not %s",
			    method, i + 1, names[i],
			    rpc_type_name(xmlrpc_value_type(v)));
			xmlrpc_DECREF(v);
			return -1;
		}
		xmlrpc_read_string(env, v, out[i]);
		xmlrpc_DECREF(v);
		if (env->fault_occurred) {
			xmlrpc_env_clean(env);
			xmlrpc_env_init(env);
			xmlrpc_env_set_fault_formatted(env, RPC_FAULT_PARAMS,
			    "%s: parameter %d (%s) is not a valid string",
			    method, i + 1, names[i]);
			return -1;
		}
	}
	return 0;
}

/* Logs one audit line: who asked what from where, and the outcome. */
void
rpc_audit(const struct rpc_call *call, const char *method,
    const char *resource, const char *client, const char *outcome,
    const char *msg)
{
	char	peer[64], r[512], c[512], u[256], m[1200];

	rpc_peer_name(call->session, peer, sizeof(peer));
	log_escape(r, sizeof(r), resource);
	if (client != NULL)
		log_escape(c, sizeof(c), client);
	if (call->authenticated)
		log_escape(u, sizeof(u), call->user_name);
	log_info("%s '%s'%s%s%s from %s%s%s%s: %s%s%s", method, r,
	    client != NULL ? " client '" : "", client != NULL ? c : "",
	    client != NULL ? "'" : "", peer,
	    call->authenticated ? " user '" : "",
	    call->authenticated ? u : "", call->authenticated ? "'" : "",
	    outcome, msg != NULL ? ": " : "",
	    msg != NULL ? log_escape(m, sizeof(m), msg) : "");
}

static const char *
outcome_of(const char *method, enum lockstore_status st)
{
	switch (st) {
	case LOCKSTORE_OK:
		return method[0] == 'l' ? "granted" : "released";
	case LOCKSTORE_STORAGE:
		return "error (storage)";
	case LOCKSTORE_INVALID_STATE:
		return "error (invalid-state)";
	case LOCKSTORE_HELD:
		return "refused (held)";
	case LOCKSTORE_NOT_OWNER:
		return "refused (not-owner)";
	case LOCKSTORE_NOT_LOCKED:
		return "refused (not-locked)";
	case LOCKSTORE_BAD_RESOURCE:
		return "refused (bad-resource)";
	case LOCKSTORE_BAD_CLIENT:
		return "refused (bad-client)";
	default:
		return "refused";
	}
}

/* Whether the caller of CALL may act as CLIENT. */
int
rpc_may_act_as(const struct rpc_call *call, const char *client)
{
	/* Rules replaced while the request waited: no identity is left. */
	if (call->stale)
		return 0;
	return access_may_act_as(call->user, client);
}

enum store_call { CALL_LOCK, CALL_LOCK_TOKEN, CALL_UNLOCK };

/*
 * The core of lock(), lock_token() and unlock(), for both ways a call
 * arrives (xmlrpc-c's registry or the fast path): identity binding, the
 * store, the audit line.  0 with *TOKEN (0 for unlock), or -1 with the
 * fault in ENV.
 */
static int
store_call(xmlrpc_env *env, struct rpc *rpc, const struct rpc_call *ctx,
    const char *method, enum store_call call, const char *resource,
    const char *client, unsigned long long *token)
{
	struct lockstore_error	*err;
	enum lockstore_status	 st;
	char			 msg[512], c[300];

	*token = 0;
	/* Identity binding: one host cannot release another's lock by
	 * claiming its client name. */
	if (!rpc_may_act_as(ctx, client)) {
		snprintf(msg, sizeof(msg), "Not permitted: user '%s' may not "
		    "act as client '%s'", ctx->user_name,
		    log_escape(c, sizeof(c), client));
		rpc_audit(ctx, method, resource, client, "denied", msg);
		xmlrpc_env_set_fault(env, ACCESS_FAULT_FORBIDDEN, msg);
		return -1;
	}
	if ((err = malloc(sizeof(*err))) == NULL) {
		xmlrpc_env_set_fault(env, RPC_FAULT_STORAGE,
		    "Storage error: out of memory");
		return -1;
	}
	/* Every grant takes a token; the audit line records it. */
	if (call == CALL_UNLOCK)
		st = lockstore_unlock(rpc->store, resource, client, err);
	else
		st = lockstore_lock_token(rpc->store, resource, client, token,
		    err);
	if (st == LOCKSTORE_OK && *token != 0)
		snprintf(msg, sizeof(msg), "token %llu", *token);
	rpc_audit(ctx, method, resource, client, outcome_of(method, st),
	    st == LOCKSTORE_OK ? (*token != 0 ? msg : NULL) : err->msg);
	if (st != LOCKSTORE_OK)
		xmlrpc_env_set_fault(env, rpc_fault_code(st), err->msg);
	free(err);
	return st == LOCKSTORE_OK ? 0 : -1;
}

/* The result value of a store call that succeeded. */
static xmlrpc_value *
store_result(xmlrpc_env *env, enum store_call call, unsigned long long token)
{
	return call == CALL_LOCK_TOKEN ? xmlrpc_i8_new(env,
	    (xmlrpc_int64)token) : xmlrpc_nil_new(env);
}

/*
 * lock(), lock_token() and unlock() from the registry: parameters in,
 * store call, nil (or the token) or a fault out.
 */
static xmlrpc_value *
call_store(xmlrpc_env *env, xmlrpc_value *params, struct rpc *rpc,
    const struct rpc_call *ctx, const char *method, enum store_call call)
{
	unsigned long long	 token = 0;
	const char		*resource = NULL, *client = NULL;
	int			 rc;

	if (get_params(env, params, method, &resource, &client) == -1) {
		free((char *)resource);
		return NULL;
	}
	rc = store_call(env, rpc, ctx, method, call, resource, client,
	    &token);
	free((char *)resource);
	free((char *)client);
	return rc == -1 ? NULL : store_result(env, call, token);
}

static xmlrpc_value *
method_lock(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return call_store(env, params, server_info, call_info, "lock",
	    CALL_LOCK);
}

static xmlrpc_value *
method_lock_token(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return call_store(env, params, server_info, call_info, "lock_token",
	    CALL_LOCK_TOKEN);
}

static xmlrpc_value *
method_unlock(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	return call_store(env, params, server_info, call_info, "unlock",
	    CALL_UNLOCK);
}

/* ping(): nil.  A health check that touches no lock: it measures what
 * HTTP and XML-RPC cost alone. */
static xmlrpc_value *
method_ping(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	if (xmlrpc_array_size(env, params) != 0 && !env->fault_occurred)
		xmlrpc_env_set_fault(env, RPC_FAULT_PARAMS,
		    "ping takes no parameters");
	return env->fault_occurred ? NULL : xmlrpc_nil_new(env);
}

static const char ping_help[] =
    "ping(): nil. Answers as soon as the request is parsed; touches no "
    "lock. For health checks. Faults: 10 when given parameters.";

static const char lock_help[] =
    "lock(resource, client): take the lock on RESOURCE for CLIENT. "
    "Returns nil once the lock is on disk. Faults: 1 \"Resource already "
    "locked by '<holder>'\" (also when CLIENT holds it), 10 bad parameters, "
    "11 bad resource name, 12 bad client name, 20 storage error, "
    "21 invalid lock state. See PROTOCOL.";

static const char lock_token_help[] =
    "lock_token(resource, client): lock(), returning the grant's fencing "
    "token (i8), greater than every token handed out before. Give it to "
    "the resource you protect; check(resource, client, token) tells "
    "whether it is still the current holding. Faults as lock. See "
    "PROTOCOL.";

static const char unlock_help[] =
    "unlock(resource, client): release RESOURCE if CLIENT holds it. "
    "Returns nil once the removal is on disk. Faults: 2 \"Resource locked "
    "by '<holder>' cannot be unlocked by '<client>'\", 3 \"Resource not "
    "locked\", 10 bad parameters, 11 bad resource name, 12 bad client name, "
    "20 storage error, 21 invalid lock state. See PROTOCOL.";

/* system.shutdown: lockd stops on SIGTERM only, never on a request. */
static void
refuse_shutdown(xmlrpc_env *env, void *context, const char *comment,
    void *call_info)
{
	xmlrpc_env_set_fault(env, XMLRPC_REQUEST_REFUSED_ERROR,
	    "Shutdown by client is disabled on this server.");
}

/* Builds the method registry over STORE. */
struct rpc *
rpc_new(struct lockstore *store, char *err, size_t errsize)
{
	struct xmlrpc_method_info3	 methods[] = {
		{ "lock", method_lock, NULL, 0, "n:ss", lock_help },
		{ "unlock", method_unlock, NULL, 0, "n:ss", unlock_help },
		{ "lock_token", method_lock_token, NULL, 0, "I:ss",
		    lock_token_help },
		{ "ping", method_ping, NULL, 0, "n:", ping_help },
	};
	const struct lockstore_policy	 def = LOCKSTORE_POLICY_DEFAULT;
	struct rpc			*rpc;
	xmlrpc_env			 env;
	size_t				 i;

	if ((rpc = calloc(1, sizeof(*rpc))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	rpc->store = store;
	rpc->fastpath = 1;
	pthread_rwlock_init(&rpc->access_lock, NULL);
	pthread_mutex_init(&rpc->policy_lock, NULL);
	rpc->policy = def;
	xmlrpc_env_init(&env);
	rpc->registry = xmlrpc_registry_new(&env);
	if (!env.fault_occurred)
		xmlrpc_registry_set_shutdown(rpc->registry, refuse_shutdown,
		    NULL);
	for (i = 0; !env.fault_occurred &&
	    i < sizeof(methods) / sizeof(methods[0]); i++) {
		methods[i].serverInfo = rpc;
		xmlrpc_registry_add_method3(&env, rpc->registry, &methods[i]);
	}
	if (!env.fault_occurred)
		rpc_inspect_register(&env, rpc->registry, store);
	if (!env.fault_occurred)
		rpc_features_register(&env, rpc->registry, rpc);
	if (env.fault_occurred) {
		snprintf(err, errsize, "cannot build the method registry: %s",
		    env.fault_string);
		xmlrpc_env_clean(&env);
		rpc_free(rpc);
		return NULL;
	}
	xmlrpc_env_clean(&env);
	return rpc;
}

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

static void	process_checked(xmlrpc_env *, struct rpc *, const char *,
		    size_t, struct rpc_call *, xmlrpc_mem_block **);

/* Switches the fast path; see fastpath.h. */
void
rpc_set_fastpath(struct rpc *rpc, int on)
{
	rpc->fastpath = on;
}

/*
 * Answers XML through the fast path if the scanner takes it: the cores of
 * the same methods and xmlrpc-c's own serializer, with the dialect of the
 * registry (lockd never changes it from i8), so the response is the one
 * the registry would give.  0: the request is left to the registry.
 */
static int
fast_call(xmlrpc_env *env, struct rpc *rpc, const char *xml, size_t len,
    const struct rpc_call *ctx, xmlrpc_mem_block **out)
{
	struct fastpath_call	 fc;
	xmlrpc_env		 call;
	xmlrpc_value		*result = NULL;
	unsigned long long	 token;
	enum store_call		 sc;
	const char		*method;

	if (!fastpath_scan(xml, len, &fc))
		return 0;
	*out = XMLRPC_MEMBLOCK_NEW(char, env, 0);
	if (env->fault_occurred) {
		fastpath_call_clear(&fc);
		return 1;
	}
	xmlrpc_env_init(&call);
	if (fc.method == FASTPATH_PING)
		result = xmlrpc_nil_new(&call);
	else {
		sc = fc.method == FASTPATH_UNLOCK ? CALL_UNLOCK :
		    fc.method == FASTPATH_LOCK_TOKEN ? CALL_LOCK_TOKEN :
		    CALL_LOCK;
		method = sc == CALL_UNLOCK ? "unlock" : sc == CALL_LOCK_TOKEN ?
		    "lock_token" : "lock";
		if (store_call(&call, rpc, ctx, method, sc, fc.resource,
		    fc.client, &token) == 0)
			result = store_result(&call, sc, token);
	}
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

/*
 * Access control, before the XML parser sees anything: the peer must be
 * allowed and, with an auth-file, authenticated.  Returns 1 to go on, or 0
 * with a fault answer in *OUT.
 */
static int
admit(struct rpc *rpc, struct rpc_call *ctx, xmlrpc_env *env,
    xmlrpc_mem_block **out)
{
	struct abyss_unix_chaninfo	*ci = NULL;
	const struct sockaddr		*peer = NULL;
	const char			*authorization = NULL;
	char				 msg[256], who[64];
	size_t				 salen = 0;
	int				 code;

	if (ctx->session != NULL) {
		SessionGetChannelInfo(ctx->session, (void **)&ci);
		if (ci != NULL) {
			peer = &ci->peerAddr;
			salen = ci->peerAddrLen < sizeof(ci->peerAddr) ?
			    ci->peerAddrLen : sizeof(ci->peerAddr);
		}
		authorization = RequestHeaderValue(ctx->session,
		    "authorization");
	}
	code = access_check(rpc->access, peer, salen, authorization,
	    &ctx->user, msg, sizeof(msg));
	if (code == 0)
		return 1;
	rpc_peer_name(ctx->session, who, sizeof(who));
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
 * The checks before parsing, then the registry.  The bundled 2001-era
 * expat expands internal entities without limit, so any DTD is refused; a
 * NUL byte means UTF-16 or UTF-32, in which "<!DOCTYPE" would slip past a
 * byte search, and no valid UTF-8 XML contains one.
 */
static void
process_checked(xmlrpc_env *env, struct rpc *rpc, const char *xml,
    size_t len, struct rpc_call *ctx, xmlrpc_mem_block **out)
{
	if (memchr(xml, '\0', len) != NULL) {
		refuse(env, out, RPC_FAULT_REFUSED, "Request refused: only "
		    "UTF-8 requests are accepted");
		return;
	}
	if (!i8_values_ok(xml, len)) {
		refuse(env, out, RPC_FAULT_REFUSED, "Request refused: an <i8> "
		    "value that is not a 64-bit integer");
		return;
	}
	if (memmem(xml, len, "<!DOCTYPE", 9) != NULL) {
		refuse(env, out, RPC_FAULT_REFUSED, "Request refused: "
		    "document type declarations (<!DOCTYPE>) are not accepted");
		return;
	}
	if (rpc->fastpath && fast_call(env, rpc, xml, len, ctx, out))
		return;
	xmlrpc_registry_process_call2(env, rpc->registry, xml, len, ctx, out);
}

static void
process(xmlrpc_env *env, void *arg, const char *xml, size_t len,
    TSession *session, xmlrpc_mem_block **out)
{
	struct timespec	t0, t1;

	/* Only requests from the network count, not the fuzzer's. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rpc_process(env, arg, xml, len, session, out);
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

/* Installs ACCESS (NULL: none); returns the previous rules to free. */
struct access *
rpc_set_access(struct rpc *rpc, struct access *access)
{
	struct access	*old;

	pthread_rwlock_wrlock(&rpc->access_lock);
	old = rpc->access;
	rpc->access = access;
	rpc->generation++;
	pthread_rwlock_unlock(&rpc->access_lock);
	return old;
}

/* Lets go of the access rules for a long wait. */
void
rpc_call_unpin(struct rpc_call *call)
{
	call->unpinned_user = call->user;
	call->user = NULL;
	pthread_rwlock_unlock(&call->rpc->access_lock);
}

/* Takes the access rules again after rpc_call_unpin(). */
void
rpc_call_repin(struct rpc_call *call)
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

/* Whether waiting requests should give up. */
int
rpc_stopping(const struct rpc *rpc)
{
	return rpc->stopping != 0;
}

/* Makes waiting requests give up; async-signal-safe. */
void
rpc_stop(struct rpc *rpc)
{
	if (rpc != NULL)
		rpc->stopping = 1;
}

/* Records the address of the listening socket FD. */
void
rpc_set_listener(struct rpc *rpc, int fd)
{
	socklen_t	len = sizeof(rpc->listener);

	if (getsockname(fd, (struct sockaddr *)&rpc->listener, &len) == -1 ||
	    len > sizeof(rpc->listener))
		len = 0;
	rpc->listener_len = len;
}

/* The address of the listener; *LEN 0 when unknown. */
const struct sockaddr *
rpc_listener(const struct rpc *rpc, socklen_t *len)
{
	*len = rpc->listener_len;
	return (const struct sockaddr *)&rpc->listener;
}

/* Applies POLICY and the break_lock switch. */
void
rpc_set_policy(struct rpc *rpc, const struct lockstore_policy *policy,
    int break_lock)
{
	pthread_mutex_lock(&rpc->policy_lock);
	rpc->policy = *policy;
	rpc->break_lock = break_lock;
	lockstore_set_policy(rpc->store, policy);
	pthread_mutex_unlock(&rpc->policy_lock);
}

/* The policy last set and the break_lock switch. */
void
rpc_get_policy(struct rpc *rpc, struct lockstore_policy *policy,
    int *break_lock)
{
	pthread_mutex_lock(&rpc->policy_lock);
	*policy = rpc->policy;
	*break_lock = rpc->break_lock;
	pthread_mutex_unlock(&rpc->policy_lock);
}

/* A dateTime of the epoch milliseconds MS, rounded down or UP. */
xmlrpc_value *
rpc_datetime_ms(xmlrpc_env *env, long long ms, int up)
{
	long long	sec = ms / 1000;

	if (up && ms % 1000 > 0)
		sec++;
	return xmlrpc_datetime_new_sec(env, (time_t)sec);
}

/* The store the methods work on. */
struct lockstore *
rpc_store(struct rpc *rpc)
{
	return rpc->store;
}

/* Whether the peer of SESSION passes the allow-list now. */
int
rpc_peer_allowed(struct rpc *rpc, TSession *session)
{
	struct abyss_unix_chaninfo	*ci = NULL;
	const struct sockaddr		*peer = NULL;
	size_t				 salen = 0;
	int				 ok;

	if (session != NULL) {
		SessionGetChannelInfo(session, (void **)&ci);
		if (ci != NULL) {
			peer = &ci->peerAddr;
			salen = ci->peerAddrLen < sizeof(ci->peerAddr) ?
			    ci->peerAddrLen : sizeof(ci->peerAddr);
		}
	}
	pthread_rwlock_rdlock(&rpc->access_lock);
	ok = access_peer_allowed(rpc->access, peer, salen);
	pthread_rwlock_unlock(&rpc->access_lock);
	return ok;
}

/* Frees the registry and the access rules; accepts NULL. */
void
rpc_free(struct rpc *rpc)
{
	if (rpc == NULL)
		return;
	if (rpc->registry != NULL)
		xmlrpc_registry_free(rpc->registry);
	access_free(rpc->access);
	pthread_rwlock_destroy(&rpc->access_lock);
	pthread_mutex_destroy(&rpc->policy_lock);
	free(rpc);
}
