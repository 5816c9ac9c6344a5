/* SPDX-License-Identifier: MIT */
/*
 * What a method gives back: answer values, the fault of a store status,
 * and the audit line every lock-changing call logs.
 */
#ifndef REPLY_H
#define REPLY_H

#include <stddef.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/abyss.h>

#include "lockstore.h"
#include "rpc.h"

/* A name as a string, or as base64 when an XML-RPC string cannot carry
 * it unchanged (PROTOCOL, "Names in answers"). */
xmlrpc_value	*reply_name(xmlrpc_env *env, const char *s);

/*
 * The reply budget of a request (max-reply-size), shared by the calls of
 * a multicall through CALL: every call counts REPLY_CALL_BYTES and its
 * fault; the methods count the names and the entries of lists as they
 * add them, before building them.
 */
#define REPLY_CALL_BYTES	1024	/* one call's fixed part: a
					   struct of fixed members, nil,
					   the multicall wrapper */
#define REPLY_ENTRY_BYTES	1024	/* one entry of list or history
					   besides its strings */

/* The most bytes the string S takes in an answer (escaped, or base64). */
size_t		 reply_text_size(const char *s);

/*
 * Counts N more bytes of CALL's answer.  Returns 0, or -1 with fault 30
 * in ENV once the answer exceeds max-reply-size.
 */
int		 reply_charge(xmlrpc_env *env, struct rpc_call *call,
		    size_t n);

/* Sets KEY of struct ST to V and drops the reference to V; does nothing
 * (but the drop) once ENV holds a fault. */
void		 reply_put(xmlrpc_env *env, xmlrpc_value *st,
		    const char *key, xmlrpc_value *v);

/*
 * A fencing token TOKEN: an <int> (i4) when it fits in 32 signed bits,
 * an <i8> above (PROTOCOL, "Tokens"): clients without i8 read the small
 * ones and can send them back.
 */
xmlrpc_value	*reply_token(xmlrpc_env *env, unsigned long long token);

/* A dateTime.iso8601 of the epoch milliseconds MS, rounded down (UP 0)
 * or up to the second. */
xmlrpc_value	*reply_datetime_ms(xmlrpc_env *env, long long ms, int up);

/* The fault code for a store status (PROTOCOL's table). */
int		 reply_fault_code(enum lockstore_status st);

/*
 * Sets the fault for store status ST with MSG; a cancelled wait is
 * worded by why (RPC stopping, or the client gone).
 */
void		 reply_store_fault(xmlrpc_env *env, const struct rpc *rpc,
		    enum lockstore_status st, const char *msg);

/* Fault 20 "Storage error: out of memory". */
void		 reply_no_memory(xmlrpc_env *env);

/*
 * The audit outcome of a call that ended with ST: OK_WORD ("granted")
 * on success, else "refused (<status>)" or "error (<status>)", written
 * into BUF (SIZE bytes).
 */
const char	*reply_outcome(enum lockstore_status st, const char *ok_word,
		    char *buf, size_t size);

/* The peer of SESSION (may be NULL) as "ip:port", "?" if unknown. */
void		 reply_peer_name(TSession *session, char *buf, size_t size);

/*
 * Logs one audit line: METHOD on RESOURCE for CLIENT (NULL: none) by the
 * caller of CALL, with OUTCOME and the detail MSG (may be NULL).  Every
 * name is escaped.
 */
void		 reply_audit(const struct rpc_call *call, const char *method,
		    const char *resource, const char *client,
		    const char *outcome, const char *msg);

#endif /* REPLY_H */
