/* SPDX-License-Identifier: MIT */
/*
 * The journal of a lock directory: every change of lock state a process
 * makes, appended to that process's own file and made durable by one
 * shared fdatasync (group commit); and its recovery at open.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "gsync.h"
#include "history.h"
#include "lockfile.h"
#include "lockstore.h"

/* Prefix of journal files: ".journal.<boot id>.<pid>.<instance>". */
#define JOURNAL_PREFIX		".journal."

/* Size past which a journal is checkpointed and started anew. */
#define JOURNAL_SEGMENT		(1024 * 1024)

struct journal {
	int		 dirfd;		/* the lock directory (not owned) */
	int		 fd;		/* this process's file, read-only */
	int		 wfd;		/* open for writing, -1: none */
	int		 wusers;	/* changes sharing wfd */
	char		 name[128];
	char		 boot[LOCKFILE_BOOT_SIZE];	/* this boot's id */
	char		 epoch[17];	/* of the current segment, hex */
	struct gsync	 sync;		/* fdatasync of fd, shared */
	pthread_rwlock_t cp;		/* changes read, checkpoints write */
	pthread_mutex_t	 lock;		/* size, names */
	off_t		 size;		/* where the next record goes */
	off_t		 segment;	/* checkpoint at 3/4 of it */
	char		**names;	/* lock files written since the last
					   checkpoint, to sync at the next */
	size_t		 nnames, namecap;
	int		 checkpointing;	/* one at a time (atomic) */
	struct history	*history;	/* synced at checkpoints */
};

/*
 * Recovers the journals of the lock directory at DIRFD that no live
 * process owns, then starts this process's own in J (history H).  Those
 * of an earlier boot (a power loss, or a stop that did not end them) are
 * replayed into the directory; those of this boot (a process that
 * crashed) only synced.  BOOT: this boot's id; INSTANCE tells stores of
 * one process apart.  0, or -1 with errno.
 */
int	journal_open(struct journal *j, int dirfd, const char *boot,
	    unsigned long instance, struct history *h);

/*
 * A change is made between journal_enter() and journal_leave(): its
 * records appended and its files changed, so that no checkpoint falls
 * between the two.  journal_leave() returns the mark to pass to
 * journal_wait(), which returns once the records are durable (0, or -1
 * with errno); 0 as the mark: the change is given up, no wait.  Every
 * journal_enter() needs its journal_wait().  Not nested.
 */
void		journal_enter(struct journal *j);
uint64_t	journal_leave(struct journal *j);
int		journal_wait(struct journal *j, uint64_t mark);

/* Appends that lock file FNAME now holds LF (a holding or a lock-delay
 * marker).  0, or -1 with errno. */
int	journal_put(struct journal *j, const char *fname,
	    const struct lockfile *lf);

/* Appends that the holding LF of lock file FNAME ended (HOW, BY, REASON,
 * at WALL epoch ms) and the file is gone.  0, or -1 with errno. */
int	journal_end(struct journal *j, const char *fname,
	    const struct lockfile *lf, enum lockstore_end how, const char *by,
	    const char *reason, long long wall);

/* Makes the directory durable and removes this process's journal. */
void	journal_close(struct journal *j);

/* Internals shared with recover.c. */

/* Gives a file root makes the lock directory's owner (FD, or NAME). */
void	journal_own(int dirfd, int fd, const char *name);

/* The checkpoint of the changes journalled so far: see journal.c. */
int	journal_checkpoint_files(int dirfd, char **names, size_t n,
	    struct history *h);

/* Replays or syncs the journals of dead processes: see recover.c. */
int	journal_recover(int dirfd, const char *boot, struct history *h);

#endif /* JOURNAL_H */
