/* SPDX-License-Identifier: MIT */
/*
 * The journal of a lock directory: every change of lock state a process
 * makes, appended to that process's own file and made durable by one
 * shared fdatasync (group commit); the checkpoints that let it be
 * overwritten; and its recovery at open.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <sys/types.h>

#include <pthread.h>
#include <stdint.h>

#include "fname.h"
#include "gsync.h"
#include "history.h"
#include "lockfile.h"
#include "lockstore.h"

/* Prefix of journal files: ".journal.<boot id>.<pid>.<instance>.<nonce>"
 * (16 hex digits). */
#define JOURNAL_PREFIX		".journal."

/* The checkpoint file: which records of which journal are in the
 * directory, durably (checkpoint.c). */
#define JOURNAL_CHECKPOINT	".checkpoint"

/* Bytes a journal's half takes before it is checkpointed (3/4 of it). */
#define JOURNAL_SEGMENT		(512 * 1024)

struct journal {
	int		 dirfd;		/* the lock directory (not owned) */
	int		 fd;		/* this process's file, read-only */
	int		 wfd;		/* open for writing, -1: none */
	int		 wusers;	/* changes sharing wfd (atomic) */
	char		 name[128];
	char		 boot[LOCKFILE_BOOT_SIZE];	/* this boot's id */
	struct gsync	 sync;		/* fdatasync of fd, shared */
	pthread_mutex_t	 lock;		/* seq, half, size; appends */
	pthread_cond_t	 room;		/* a checkpoint ended */
	unsigned long long seq;		/* of the last record */
	int		 half;		/* the half records go to */
	off_t		 size;		/* where the next record goes */
	off_t		 segment;	/* a half's size */
	off_t		 retry_at;	/* after a failed checkpoint */
	int		 checkpointing;	/* one at a time (atomic) */
	struct history	*history;	/* synced at checkpoints */
};

/*
 * Recovers the journals of the lock directory at DIRFD that no live
 * process owns (recover.c) and, unless J is NULL (a store that does not
 * sync), starts this process's own in J.  BOOT: this boot's id; INSTANCE
 * tells stores of one process apart; H: the history.  0, or -1 with
 * errno.
 */
int	journal_open(struct journal *j, int dirfd, const char *boot,
	    unsigned long instance, struct history *h);

/*
 * A change makes its change to the directory first and then appends its
 * records, between journal_enter() and journal_leave(); journal_leave()
 * returns the mark to pass to journal_wait(), which returns once the
 * records are durable (0, or -1 with errno); 0 as the mark: no wait.
 * Every journal_enter() needs its journal_wait().  Not nested.
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

/* Whether this process's journal can be written (a health probe): 0, or
 * -1 with errno (ESTALE: its name is another file now). */
int	journal_health(struct journal *j);

/* Checkpoints and removes this process's journal. */
void	journal_close(struct journal *j);

/* --- shared by journal.c, checkpoint.c and recover.c ------------------ */

/* One record read from a journal. */
struct jrec {
	char		 tag;		/* 'G' or 'E' */
	unsigned long long seq;
	char		 fname[NAME_FILE_SIZE];
	const char	*content;	/* in the journal's buffer */
	size_t		 clen;
	const char	*end;		/* E: "<how> <until> =<by> =<reason>" */
	size_t		 elen;
	int		 rank;		/* 0 holding, 1 end, 2 marker */
	unsigned long long token;
	long long	 stamp;		/* CLOCK_BOOTTIME ms of the change */
	size_t		 journal;	/* index in struct jset */
	int		 covered;	/* by the checkpoint file */
};

/* The journals of a directory, and their records. */
struct jset {
	struct jrec	*recs;
	size_t		 n, cap;
	struct jfile {
		char		*name;
		char		*buf;
		int		 fd;		/* -1 unless taken (dead) */
		int		 replay;	/* dead, of an earlier boot */
		unsigned long long upto;	/* its records up to here were
						   all read */
	}		*files;
	size_t		 nfiles;
	size_t		 live;		/* journals a live process holds */
	int		 unknown;	/* this boot has no id */
};

/* Which records of which journal a checkpoint covered. */
struct jcover {
	unsigned long long gen;
	char		 boot[LOCKFILE_BOOT_SIZE];
	size_t		 n;
	struct {
		char			name[128];
		unsigned long long	seq;
	}		*e;
};

/* Reads every journal of DIRFD into S, marking the records COVER covers;
 * with TAKE, those no live process holds are flock()ed and marked dead
 * (and replay when not of BOOT).  0, or -1 with errno. */
int	jset_load(struct jset *s, int dirfd, const struct jcover *cover,
	    const char *boot, int take);
void	jset_free(struct jset *s);

/* Keeps of S's records only the latest of each lock file (recover.c). */
void	jset_latest(struct jset *s);

/* Reads the checkpoint file into C (empty if there is none).  0 or -1. */
int	jcover_read(int dirfd, struct jcover *c);

/* Checkpoints: syncs the lock files, the directory and the history H so
 * that every record of every journal so far is in the directory, and
 * says so in the checkpoint file (of BOOT).  MINE, when not NULL, is set
 * to the last seq covered of journal NAME.  0, or -1 with errno. */
int	journal_checkpoint(int dirfd, const char *boot, struct history *h,
	    const char *name, unsigned long long *mine);

/* Replays the records of dead journals of an earlier boot (recover.c). */
int	journal_replay(int dirfd, struct jset *s, struct history *h);

/* Gives a file root makes the lock directory's owner (FD, or NAME). */
void	journal_own(int dirfd, int fd, const char *name);

#endif /* JOURNAL_H */
