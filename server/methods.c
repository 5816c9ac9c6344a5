/* SPDX-License-Identifier: MIT */
/*
 * The method table: every XML-RPC method of lockd with its signature, its
 * help and, for the hot calls, its fast-path id.  It drives both the
 * xmlrpc-c registry and the fast path (PROTOCOL describes each method).
 */
#include "config.h"

#include <stddef.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "methods.h"
#include "reply.h"

static const char lock_help[] =
    "lock(resource, client): take the lock on RESOURCE for CLIENT. "
    "Returns nil once the lock is on disk. Faults: 1 \"Resource already "
    "locked by '<holder>'\" (also when CLIENT holds it), 10 bad parameters, "
    "11 bad resource name, 12 bad client name, 20 storage error, "
    "21 invalid lock state. See PROTOCOL.";

static const char unlock_help[] =
    "unlock(resource, client): release RESOURCE if CLIENT holds it. "
    "Returns nil once the removal is on disk. Faults: 2 \"Resource locked "
    "by '<holder>' cannot be unlocked by '<client>'\", 3 \"Resource not "
    "locked\", 10 bad parameters, 11 bad resource name, 12 bad client name, "
    "20 storage error, 21 invalid lock state. See PROTOCOL.";

static const char lock_token_help[] =
    "lock_token(resource, client): lock(), returning the grant's fencing "
    "token (int, i8 above 2^31-1), greater than every token handed out "
    "before. Give it to the resource you protect; check(resource, client, "
    "token) tells whether it is still the current holding. Faults as "
    "lock. See PROTOCOL.";

static const char ping_help[] =
    "ping(): nil. Answers as soon as the request is parsed; touches no "
    "lock. For health checks. Faults: 10 when given parameters.";

static const char status_help[] =
    "status(resource): {resource, held, holder, since, token, ttl, "
    "expires, delay_until, delay_cause}: who holds RESOURCE and since when "
    "(holder, since and token only when held; since and token are absent "
    "for gocept.lockd's lock files; ttl and expires for leases only; "
    "delay_until and delay_cause (\"break\" or \"expiry\") only when not "
    "held and in lock-delay). Names that XML cannot carry come back as "
    "base64. Faults: 10, 11, 20, 21. See PROTOCOL.";

static const char list_help[] =
    "list(options): {locks: [status structs], next}: the held locks, a "
    "page at a time in a stable order. Options (all optional): prefix, "
    "holder, after (the previous page's next), limit (1-10000, default "
    "1000). next is \"\" on the last page. Faults: 10, 20. See PROTOCOL.";

static const char check_help[] =
    "check(resource, client, token): true if CLIENT holds RESOURCE under "
    "TOKEN now (the grant that handed out TOKEN is the current holding). "
    "TOKEN: int, i8 or a string of digits. Faults: 10, 11, 12, 20, 21.";

static const char acquire_help[] =
    "acquire(resource, client, options): lock_token() with options, all "
    "optional: wait (seconds, int or double, up to max-wait: wait that "
    "long while RESOURCE is held or in lock-delay; waiters are served in "
    "arrival order), ttl (seconds, up to max-ttl: a lease that expires "
    "unless renewed). Returns {token, reacquired, since, waited, ttl, "
    "expires}; when CLIENT holds RESOURCE already, reacquired is true and "
    "the token stays. Faults: 1 held (also when the wait ran out), 4 "
    "lock-delay, 10 bad options, 11, 12, 20, 21, 42, 50 too many "
    "waiters. See PROTOCOL.";

static const char renew_help[] =
    "renew(resource, client, token[, ttl]): extend the lease CLIENT holds "
    "on RESOURCE under TOKEN (int, i8 or decimal string) to TTL seconds "
    "from now (absent or 0: its own TTL). Returns acquire()'s struct. "
    "Faults: 2 held by another client, 3 not held (also after expiry), "
    "5 stale token, 6 not a lease, 10, 11, 12, 20, 21, 42. See PROTOCOL.";

static const char break_lock_help[] =
    "break_lock(resource, reason): end whatever holding RESOURCE has, for "
    "an operator; REASON (1-1000 bytes, no control characters) goes into "
    "the history. Tokens handed out before become stale, and new takers "
    "wait out the lock-delay. Returns {resource, holder, since, token, "
    "new_token, delay_until}. Only with \"break-lock yes\" (and role "
    "admin with an auth-file), else fault 43. Faults: 3, 10, 11, 20, 21, "
    "43. See PROTOCOL.";

static const char history_help[] =
    "history(resource[, options]): the last ended holdings of RESOURCE, "
    "newest first, as [{resource, holder, token, since, until, ended, by, "
    "reason}]; ended is \"unlock\", \"break\" or \"expiry\"; by and reason "
    "for breaks only. Options: limit (1-1000, default 100). Faults: 10, "
    "11, 20. See PROTOCOL.";

const struct method methods_table[] = {
	{ LOCKD_METHOD_LOCK, method_lock, "n:ss", lock_help,
	    FASTPATH_LOCK, method_lock_fast },
	{ LOCKD_METHOD_UNLOCK, method_unlock, "n:ss", unlock_help,
	    FASTPATH_UNLOCK, method_lock_fast },
	{ LOCKD_METHOD_LOCK_TOKEN, method_lock_token, "I:ss", lock_token_help,
	    FASTPATH_LOCK_TOKEN, method_lock_fast },
	{ LOCKD_METHOD_PING, method_ping, "n:", ping_help,
	    FASTPATH_PING, method_lock_fast },
	{ LOCKD_METHOD_STATUS, method_status, "S:s", status_help,
	    FASTPATH_NONE, NULL },
	{ LOCKD_METHOD_LIST, method_list, "S:S", list_help,
	    FASTPATH_NONE, NULL },
	{ LOCKD_METHOD_CHECK, method_check, "b:ssI,b:ssi,b:sss", check_help,
	    FASTPATH_NONE, NULL },
	{ LOCKD_METHOD_ACQUIRE, method_acquire, "S:ssS", acquire_help,
	    FASTPATH_NONE, NULL },
	{ LOCKD_METHOD_RENEW, method_renew, "S:ssI,S:ssi,S:sss,S:ssIi,"
	    "S:ssii,S:sssi,S:ssId,S:ssid,S:sssd", renew_help,
	    FASTPATH_NONE, NULL },
	{ LOCKD_METHOD_BREAK_LOCK, method_break_lock, "S:ss", break_lock_help,
	    FASTPATH_NONE, NULL },
	{ LOCKD_METHOD_HISTORY, method_history, "A:s,A:sS", history_help,
	    FASTPATH_NONE, NULL },
};
const size_t methods_count = sizeof(methods_table) / sizeof(methods_table[0]);

/* system.shutdown: lockd stops on SIGTERM only, never on a request. */
static void
refuse_shutdown(xmlrpc_env *env, void *context, const char *comment,
    void *call_info)
{
	xmlrpc_env_set_fault(env, XMLRPC_REQUEST_REFUSED_ERROR,
	    "Shutdown by client is disabled on this server.");
}

/*
 * Every call from the registry: refused once the request's answer used
 * its budget (the earlier calls of a multicall), else the method, whose
 * fault is counted too.  The method's SERVER_INFO is the RPC.
 */
static xmlrpc_value *
dispatch(xmlrpc_env *env, xmlrpc_value *params, void *server_info,
    void *call_info)
{
	const struct method	*m = server_info;
	struct rpc_call		*call = call_info;
	xmlrpc_value		*result = NULL;

	if (reply_charge(env, call, REPLY_CALL_BYTES) == 0)
		result = m->handler(env, params, call->rpc, call);
	if (env->fault_occurred)
		call->reply_size += reply_text_size(env->fault_string);
	return result;
}

/* Adds every method of the table to REGISTRY. */
void
methods_register(xmlrpc_env *env, xmlrpc_registry *registry)
{
	struct xmlrpc_method_info3	info;
	size_t				i;

	xmlrpc_registry_set_shutdown(registry, refuse_shutdown, NULL);
	for (i = 0; !env->fault_occurred && i < methods_count; i++) {
		info.methodName = methods_table[i].name;
		info.methodFunction = dispatch;
		info.serverInfo = (void *)&methods_table[i];
		info.stackSize = RPC_STACK_SIZE;
		info.signatureString = methods_table[i].signature;
		info.help = methods_table[i].help;
		xmlrpc_registry_add_method3(env, registry, &info);
	}
}
