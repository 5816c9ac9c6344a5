/* SPDX-License-Identifier: MIT */
/*
 * The audit line of a refused request, rate-limited per peer address.
 */
#ifndef REFUSAL_H
#define REFUSAL_H

#include <xmlrpc-c/abyss.h>

/*
 * Logs "request from PEER: refused: WHAT" for SESSION (may be NULL), at
 * most once per peer address and second; the next line of that address
 * says how many were left out.
 */
void	refusal_log(TSession *session, const char *what);

#endif /* REFUSAL_H */
