/* SPDX-License-Identifier: MIT */
/*
 * Access control: which peers may talk to lockd (allow-list of networks),
 * who they are (HTTP Basic authentication against crypt(3) hashes), and
 * which client names each user may act as.  Off unless configured.
 */
#ifndef ACCESS_H
#define ACCESS_H

#include <sys/socket.h>

#include <stddef.h>

#include "conf.h"

enum access_role { ACCESS_ROLE_CLIENT, ACCESS_ROLE_ADMIN };

struct access;
struct access_user;

/*
 * Builds the rules of CONF: its "allow" networks and its "auth-file".
 * Each error of the users file is handed to REPORT as "FILE:LINE: msg".
 * Returns NULL (ERR filled) if anything is wrong.
 */
struct access	*access_new(const struct lockd_conf *conf,
		    conf_reporter report, char *err, size_t errsize);

/* Frees the rules; accepts NULL. */
void		 access_free(struct access *acc);

/*
 * Decides whether a request from PEER (SALEN bytes; may be NULL) carrying
 * the Authorization header AUTHORIZATION (may be NULL) may proceed.
 * Returns 0 with *USERP set (NULL when no authentication is configured),
 * or a fault code (LOCKD_FAULT_DENIED, _AUTH) with a message for the
 * caller in MSG.
 */
int		 access_check(struct access *acc, const struct sockaddr *peer,
		    size_t salen, const char *authorization,
		    const struct access_user **userp, char *msg,
		    size_t msgsize);

/*
 * Whether PEER (SALEN bytes; may be NULL) passes the allow-list of ACC
 * (NULL: no rules, every peer passes).  The auth-file is not consulted.
 */
int		 access_peer_allowed(const struct access *acc,
		    const struct sockaddr *peer, size_t salen);

/* Whether USER (NULL: no authentication) may act as CLIENT. */
int		 access_may_act_as(const struct access_user *user,
		    const char *client);

/* The role of USER; ACCESS_ROLE_ADMIN for NULL (no authentication). */
enum access_role access_user_role(const struct access_user *user);

/* The name of USER, or "-" for NULL. */
const char	*access_user_name(const struct access_user *user);

#endif /* ACCESS_H */
