/* SPDX-License-Identifier: MIT */
/*
 * The request gate: access control before parsing, the checks that keep
 * dangerous XML from xmlrpc-c's parser, and the fast path.  rpc_process()
 * and rpc_attach() (rpc.h) are its entry points; methods use these.
 */
#ifndef GATE_H
#define GATE_H

#include "rpc.h"

/*
 * Whether the caller of CALL may act as CLIENT (identity binding); if not,
 * fault 42 and an audit line for METHOD on RESOURCE.  0, or -1.
 */
int	gate_act_as(xmlrpc_env *env, const struct rpc_call *call,
	    const char *method, const char *resource, const char *client);

/*
 * Lets go of the access rules for a long wait, so that a reload need not
 * wait for it; CALL->user becomes NULL (check identity before).
 * gate_repin takes them again; a request whose rules were replaced
 * meanwhile is treated as unauthenticated from then on.
 */
void	gate_unpin(struct rpc_call *call);
void	gate_repin(struct rpc_call *call);

#endif /* GATE_H */
