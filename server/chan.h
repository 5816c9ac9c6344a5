/* SPDX-License-Identifier: MIT */
/* lockd's own Abyss connections: accept, read, and one send() per reply. */
#ifndef CHAN_H
#define CHAN_H

#include <xmlrpc-c/abyss.h>

/*
 * Makes an Abyss channel switch over the bound socket FD (not yet
 * listening; Abyss calls listen()).  Its connections are close-on-exec,
 * TCP_NODELAY, and gather each response into one send() (see chan.c).
 * The switch does not own FD.  Falls back to Abyss's own switch when the
 * library is not the xmlrpc-c 1.33 whose internal interface chan.c
 * implements.  0, or -1 with *ERROR (free()) set.
 */
int		 chan_switch_create(int fd, TChanSwitch **sw,
		    const char **error);

/* Whether chan_switch_create() gave lockd's own switch. */
int		 chan_own(void);

/*
 * The connected socket of SESSION, or -1 (Abyss's own switch, or no
 * session).  For polling only: the descriptor belongs to the connection
 * and is closed when it ends.
 */
int		 chan_session_fd(TSession *session);

#endif /* CHAN_H */
