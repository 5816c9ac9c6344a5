/* SPDX-License-Identifier: MIT */
/*
 * What a method gives back: answer values, faults for store statuses, and
 * the audit line.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/abyss.h>

#include "log.h"
#include "reply.h"

/*
 * Whether S can travel as an XML-RPC string unchanged: no control
 * characters but tab and line feed (XML forbids most; a carriage return
 * would arrive as a line feed).  UTF-8 validity is left to xmlrpc-c.
 */
static int
xml_safe(const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
			return 0;
	return 1;
}

/* A name as a string, or as base64 when a string cannot carry it. */
xmlrpc_value *
reply_name(xmlrpc_env *env, const char *s)
{
	xmlrpc_value	*v;

	if (xml_safe(s)) {
		v = xmlrpc_string_new(env, s);
		if (!env->fault_occurred)
			return v;
		/* Not UTF-8 (a legacy file written in Latin-1, say). */
		xmlrpc_env_clean(env);
		xmlrpc_env_init(env);
	}
	return xmlrpc_base64_new(env, strlen(s), (const unsigned char *)s);
}

/* Sets KEY of ST to V and drops our reference to V. */
void
reply_put(xmlrpc_env *env, xmlrpc_value *st, const char *key, xmlrpc_value *v)
{
	if (env->fault_occurred) {
		if (v != NULL)
			xmlrpc_DECREF(v);
		return;
	}
	xmlrpc_struct_set_value(env, st, key, v);
	xmlrpc_DECREF(v);
}

/*
 * The most bytes the name S takes in an answer: escaped, or as base64
 * (reply_name) when it is not plain ASCII that XML carries unchanged.
 */
size_t
reply_text_size(const char *s)
{
	const unsigned char	*p;
	size_t			 len, escaped, base64;
	int			 ascii = 1;

	escaped = 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		escaped += *p == '<' || *p == '>' || *p == '&' ||
		    *p == '\r' ? 6 : 1;
		ascii = ascii && *p < 0x7f;
	}
	len = (size_t)(p - (const unsigned char *)s);
	if (ascii && xml_safe(s))
		return escaped;
	base64 = (len + 56) / 57 * 78 + 2;	/* lines of 76 and CRLF */
	return escaped > base64 ? escaped : base64;
}

/* Counts N bytes more of CALL's answer; fault 30 past max-reply-size. */
int
reply_charge(xmlrpc_env *env, struct rpc_call *call, size_t n)
{
	call->reply_size += n;
	if (call->reply_size <= call->reply_budget)
		return 0;
	xmlrpc_env_set_fault_formatted(env, LOCKD_FAULT_REFUSED, "Request "
	    "refused: the answer would exceed max-reply-size (%zu bytes); "
	    "ask for fewer entries (limit) or fewer calls", call->reply_budget);
	return -1;
}

/* A fencing token: <int> when it fits 32 signed bits, else <i8>. */
xmlrpc_value *
reply_token(xmlrpc_env *env, unsigned long long token)
{
	if (token <= INT32_MAX)
		return xmlrpc_int_new(env, (int)token);
	return xmlrpc_i8_new(env, (xmlrpc_int64)token);
}

/* A dateTime of the epoch milliseconds MS, rounded down or UP. */
xmlrpc_value *
reply_datetime_ms(xmlrpc_env *env, long long ms, int up)
{
	long long	sec = ms / 1000;

	if (up && ms % 1000 > 0)
		sec++;
	return xmlrpc_datetime_new_sec(env, (time_t)sec);
}

/* The fault code for a store status. */
int
reply_fault_code(enum lockstore_status st)
{
	switch (st) {
	case LOCKSTORE_HELD:		return LOCKD_FAULT_HELD;
	case LOCKSTORE_NOT_OWNER:	return LOCKD_FAULT_NOT_OWNER;
	case LOCKSTORE_NOT_LOCKED:	return LOCKD_FAULT_NOT_LOCKED;
	case LOCKSTORE_BAD_RESOURCE:	return LOCKD_FAULT_RESOURCE;
	case LOCKSTORE_BAD_CLIENT:	return LOCKD_FAULT_CLIENT;
	case LOCKSTORE_INVALID_STATE:	return LOCKD_FAULT_STATE;
	case LOCKSTORE_DELAYED:		return LOCKD_FAULT_DELAYED;
	case LOCKSTORE_STALE_TOKEN:	return LOCKD_FAULT_STALE_TOKEN;
	case LOCKSTORE_NO_LEASE:	return LOCKD_FAULT_NO_LEASE;
	case LOCKSTORE_TOO_MANY_WAITERS: return LOCKD_FAULT_WAITERS;
	case LOCKSTORE_BAD_ARGUMENT:	return LOCKD_FAULT_PARAMS;
	case LOCKSTORE_CANCELLED:	/* the caller is gone */
	case LOCKSTORE_OK:
	case LOCKSTORE_STORAGE:
	default:			return LOCKD_FAULT_STORAGE;
	}
}

/* Sets the fault for store status ST. */
void
reply_store_fault(xmlrpc_env *env, const struct rpc *rpc,
    enum lockstore_status st, const char *msg)
{
	if (st == LOCKSTORE_CANCELLED)
		xmlrpc_env_set_fault(env, LOCKD_FAULT_STORAGE,
		    rpc->stopping ? "Request cancelled: lockd is stopping" :
		    "Request cancelled: the client went away");
	else
		xmlrpc_env_set_fault(env, reply_fault_code(st), msg);
}

/* Fault 20 for a failed allocation. */
void
reply_no_memory(xmlrpc_env *env)
{
	xmlrpc_env_set_fault(env, LOCKD_FAULT_STORAGE,
	    "Storage error: out of memory");
}

/* The audit outcome of a call that ended with ST. */
const char *
reply_outcome(enum lockstore_status st, const char *ok_word, char *buf,
    size_t size)
{
	if (st == LOCKSTORE_OK)
		snprintf(buf, size, "%s", ok_word);
	else
		snprintf(buf, size, "%s (%s)", st == LOCKSTORE_STORAGE ||
		    st == LOCKSTORE_INVALID_STATE ? "error" : "refused",
		    lockstore_status_name(st));
	return buf;
}

/* The peer of SESSION as "ip:port" for the audit line. */
void
reply_peer_name(TSession *session, char *buf, size_t size)
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

/* Logs one audit line: who asked what from where, and the outcome. */
void
reply_audit(const struct rpc_call *call, const char *method,
    const char *resource, const char *client, const char *outcome,
    const char *msg)
{
	char	peer[64], r[512], c[512], u[256], m[1200];

	reply_peer_name(call->session, peer, sizeof(peer));
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
