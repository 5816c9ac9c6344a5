/* SPDX-License-Identifier: MIT */
/* lockd's own Abyss connections: accept, read, and one send() per reply. */
#ifndef CHAN_H
#define CHAN_H

#include <xmlrpc-c/abyss.h>

/*
 * Makes an Abyss channel switch over the bound socket FD (not yet
 * listening; Abyss calls listen()).  Its connections are close-on-exec,
 * TCP_NODELAY, and gather each response into one send() (see chan.c),
 * which gives up on a peer that takes none of it for TIMEOUT seconds.
 * A chunked request body is decoded for Abyss, up to MAX_REQUEST bytes.
 * The switch does not own FD.  Falls back to Abyss's own switch, logging
 * why once, when the startup self-test finds that the library is not
 * laid out as chan.c assumes, or when LOCKD_CHANNELS=abyss is set.
 * 0, or -1 with *ERROR (free()) set.
 */
int		 chan_switch_create(int fd, unsigned int timeout,
		    size_t max_request, TChanSwitch **sw, const char **error);

/*
 * The connected socket of SESSION, or -1 (no session, or not found).
 * With Abyss's own switch it is searched among the process's descriptors
 * (procfd.c).  For polling only: the descriptor belongs to the
 * connection and is closed when it ends.
 */
int		 chan_session_fd(TSession *session);

#endif /* CHAN_H */
