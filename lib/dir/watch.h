/* SPDX-License-Identifier: MIT */
/*
 * The lock directory's watch: inotify on the directory turns releases by
 * other processes into wake-ups of the waiters in the store's wait queue.
 */
#ifndef WATCH_H
#define WATCH_H

#include "waitq.h"

struct dirwatch;

/*
 * A watch of the directory PATH (copied) that wakes the heads of Q's keys
 * tagged with the file name an event names.  Nothing is opened until the
 * first dirwatch_arm(); then an inotify instance watches PATH (the
 * directory only) for IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO and
 * IN_CLOSE_WRITE, and a watcher thread reads it.  A queue overflow or the
 * loss of the watch wakes every head.  The watch is dropped once nobody
 * waits.  Without inotify, waiting still works by the queue's 1 s
 * fallback poll.  Returns NULL with errno EINVAL (PATH or Q NULL) or
 * ENOMEM.
 */
struct dirwatch	*dirwatch_new(const char *path, struct waitq *q);

/*
 * Routes the events of lock file FNAME to W's key and makes sure the
 * watch is on.  Returns 1 when that is new (what happened before is
 * unknown: look again before waiting), 0 when it was so already (or
 * cannot be: then the fallback poll serves).
 */
int		 dirwatch_arm(struct dirwatch *d, struct waiter *w,
		    const char *fname);

/* Stops the watcher thread and frees D.  Accepts NULL. */
void		 dirwatch_free(struct dirwatch *d);

#endif /* WATCH_H */
