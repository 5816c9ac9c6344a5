/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the lock-directory store while lock file inodes change
 * hands: an unlock may park its inode in a private pool and a later lock
 * (of any resource) rewrite it, so a reader that opened one resource's
 * lock file may catch its inode being rewritten for another one, or for
 * the same one by a new holder.  Whatever it catches, every answer must be
 * a state that really existed for the resource asked about: no error, no
 * other resource's holding, no holder with a token it was not granted.
 * And the pool leaves nothing behind, not even after a crash.
 */
#include "config.h"

#include <sys/types.h>

#include <CUnit/Basic.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockdir_tu.h"
#include "lockstore.h"
#include "tu.h"

#define CHURN_SECONDS	2.0	/* wall time bound of every churn */
#define WRITERS		4
#define READERS		3
#define FAST_ROUNDS	20000	/* rounds per writer, NOSYNC */
#define DURABLE_ROUNDS	150	/* the same with every sync */
#define READS_MAX	1000000	/* calls per reader at most */
#define SEEN_MAX	32768	/* holdings a reader keeps to verify */
#define NOTES_MAX	10	/* problems printed per churn */
#define PAD_MAX		23	/* client name lengths vary by this */
#define LIST_LIMIT	2	/* small pages: listings take several */
#define CHILD_LOCKS	8	/* locks the crashing child takes at once */
#define LEFT_SPARES	256	/* spare names a crash left, per store */

/* The churned resources; every client name starts with its resource's. */
#define NRES		3
static const char *const res_names[NRES] = { "a", "bb", "ccc-longer" };

/* Held throughout a churn: never missing, never changed. */
#define PINNED		NRES
static const char pinned[] = "pinned";
static const char pinned_holder[] = "pinned-holder";
static const char pinned_file[] = "pinned.resource.lock";

static const char pad[PAD_MAX + 1] = "xxxxxxxxxxxxxxxxxxxxxxx";

/* A grant a writer got, kept before it unlocks. */
struct grant {
	unsigned long long	token;	/* 0: round not granted */
	int			res;
};

/* A holding a reader was told of, verified after the churn. */
struct seen {
	int			res;
	int			w;
	int			i;
	unsigned long long	token;
};

/* Shared by the threads of one churn. */
struct churn {
	struct lockstore	*stores[2];
	int			 nstores;
	int			 rounds;
	int			 use_list;
	unsigned long long	 pinned_token;
	double			 deadline;
	atomic_int		 stop;
	atomic_long		 granted;
	atomic_long		 reads;
	atomic_long		 holdings;	/* of churned resources */
	atomic_long		 valid;		/* check() said yes */
	atomic_long		 problems;
	pthread_mutex_t		 notelock;
	struct grant		*grants[WRITERS];
};

struct writer {
	struct churn	*c;
	int		 idx;
	pthread_t	 tid;
};

struct reader {
	struct churn	*c;
	int		 idx;
	pthread_t	 tid;
	struct seen	*seen;
	size_t		 nseen;
	int		 pinned_seen;	/* in the listing under way */
};

static void	note(struct churn *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

/* Counts a problem a thread found and prints the first ones. */
static void
note(struct churn *c, const char *fmt, ...)
{
	va_list	ap;

	if (atomic_fetch_add(&c->problems, 1) >= NOTES_MAX)
		return;
	pthread_mutex_lock(&c->notelock);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&c->notelock);
}

/* The client name writer W uses in round I on resource R. */
static void
client_name(char *buf, size_t size, int r, int w, int i)
{
	snprintf(buf, size, "%s-%d-%d-%.*s", res_names[r], w, i,
	    i % PAD_MAX, pad);
}

static const char *
res_name(int r)
{
	return r == PINNED ? pinned : res_names[r];
}

/* The index of resource NAME, or -1. */
static int
res_index(const char *name)
{
	int	r;

	for (r = 0; r <= PINNED; r++)
		if (strcmp(name, res_name(r)) == 0)
			return r;
	return -1;
}

/*
 * Judges a holding of resource R that HOW reported: it must be R's, by one
 * of R's clients, whole; it is kept to be matched with the grants later.
 */
static void
judge_holding(struct reader *rd, int r, const struct lockstore_lock_info *info,
    const char *how)
{
	struct churn	*c = rd->c;
	const char	*name = res_name(r);
	char		 want[128];
	size_t		 len = strlen(name);
	int		 w, i;

	if (strcmp(info->resource, name) != 0) {
		note(c, "%s '%s': reported resource '%.100s' (holder "
		    "'%.100s')", how, name, info->resource, info->holder);
		return;
	}
	if (r == PINNED) {
		rd->pinned_seen++;
		if (strcmp(info->holder, pinned_holder) != 0 ||
		    info->token != c->pinned_token)
			note(c, "%s '%s': holder '%.100s' token %llu, not "
			    "'%s' %llu", how, name, info->holder, info->token,
			    pinned_holder, c->pinned_token);
		return;
	}
	if (strncmp(info->holder, name, len) != 0 ||
	    info->holder[len] != '-' ||
	    sscanf(info->holder + len + 1, "%d-%d", &w, &i) != 2 ||
	    w < 0 || w >= WRITERS || i < 0 || i >= c->rounds) {
		note(c, "%s '%s': foreign holder '%.100s' (token %llu)", how,
		    name, info->holder, info->token);
		return;
	}
	client_name(want, sizeof(want), r, w, i);
	if (strcmp(want, info->holder) != 0) {
		note(c, "%s '%s': torn holder '%.100s', not '%s'", how, name,
		    info->holder, want);
		return;
	}
	if (info->token == 0 || info->since <= 0)
		note(c, "%s '%s': holder '%s' with token %llu since %lld",
		    how, name, info->holder, info->token, info->since);
	atomic_fetch_add(&c->holdings, 1);
	if (rd->nseen < SEEN_MAX) {
		rd->seen[rd->nseen].res = r;
		rd->seen[rd->nseen].w = w;
		rd->seen[rd->nseen].i = i;
		rd->seen[rd->nseen].token = info->token;
		rd->nseen++;
	}
}

static void *
writer_thread(void *arg)
{
	struct writer		*wr = arg;
	struct churn		*c = wr->c;
	struct lockstore	*s = c->stores[wr->idx % c->nstores];
	struct lockstore_error	 err;
	enum lockstore_status	 st;
	unsigned long long	 token;
	unsigned int		 seed = (unsigned int)wr->idx * 7919u + 17;
	char			 me[128];
	int			 i, r;

	for (i = 0; i < c->rounds && tu_now() < c->deadline; i++) {
		r = (int)(rand_r(&seed) % NRES);
		client_name(me, sizeof(me), r, wr->idx, i);
		token = 0;
		st = lockstore_lock_token(s, res_names[r], me, &token, &err);
		if (st == LOCKSTORE_HELD)
			continue;
		if (st != LOCKSTORE_OK) {
			note(c, "lock '%s' by '%s': %s: %.200s", res_names[r],
			    me, lockstore_status_name(st), err.msg);
			continue;
		}
		/* Recorded before anyone else can have the resource. */
		c->grants[wr->idx][i].token = token;
		c->grants[wr->idx][i].res = r;
		atomic_fetch_add(&c->granted, 1);
		if (i % 4 == 0)
			sched_yield();
		st = lockstore_unlock(s, res_names[r], me, &err);
		if (st != LOCKSTORE_OK)
			note(c, "unlock '%s' by '%s': %s: %.200s",
			    res_names[r], me, lockstore_status_name(st),
			    err.msg);
	}
	return NULL;
}

/* One inspect of resource R, and a check of the holding it reports. */
static void
inspect_once(struct reader *rd, struct lockstore *s, int r)
{
	struct churn			*c = rd->c;
	struct lockstore_lock_info	 info;
	struct lockstore_error		 err;
	enum lockstore_status		 st;
	const char			*name = res_name(r);
	int				 held = -1, valid = -1;

	st = lockstore_inspect(s, name, &held, &info, &err);
	if (st != LOCKSTORE_OK) {
		note(c, "inspect '%s': %s: %.200s", name,
		    lockstore_status_name(st), err.msg);
		return;
	}
	if (!held) {
		if (r == PINNED)
			note(c, "inspect '%s': not held", name);
		return;
	}
	judge_holding(rd, r, &info, "inspect");
	st = lockstore_check(s, name, info.holder, info.token, &valid, &err);
	if (st != LOCKSTORE_OK)
		note(c, "check '%s' '%.100s' %llu: %s: %.200s", name,
		    info.holder, info.token, lockstore_status_name(st),
		    err.msg);
	else if (valid == 1)
		atomic_fetch_add(&c->valid, 1);
	else if (valid != 0 || r == PINNED)
		note(c, "check '%s' '%.100s' %llu: valid %d", name,
		    info.holder, info.token, valid);
}

static int
list_cb(const struct lockstore_lock_info *info, void *arg)
{
	struct reader	*rd = arg;
	int		 r;

	if ((r = res_index(info->resource)) == -1) {
		note(rd->c, "list: unknown resource '%.100s' (holder "
		    "'%.100s')", info->resource, info->holder);
		return 0;
	}
	judge_holding(rd, r, info, "list");
	return 0;
}

/* One whole listing, page by page: the pinned lock exactly once. */
static void
list_once(struct reader *rd, struct lockstore *s)
{
	struct churn			*c = rd->c;
	struct lockstore_list_query	 q;
	struct lockstore_error		 err;
	enum lockstore_status		 st;
	char				 after[LOCKSTORE_CURSOR_SIZE];
	char				 next[LOCKSTORE_CURSOR_SIZE];
	int				 pages = 0;

	memset(&q, 0, sizeof(q));
	q.limit = LIST_LIMIT;
	after[0] = '\0';
	rd->pinned_seen = 0;
	do {
		q.after = after;
		st = lockstore_list(s, &q, list_cb, rd, next, &err);
		if (st != LOCKSTORE_OK) {
			note(c, "list: %s: %.200s", lockstore_status_name(st),
			    err.msg);
			return;
		}
		memcpy(after, next, sizeof(after));
	} while (after[0] != '\0' && ++pages < NRES + 2);
	if (after[0] != '\0')
		note(c, "list: more than %d pages of %d", pages,
		    LIST_LIMIT);
	else if (rd->pinned_seen != 1)
		note(c, "list: '%s' reported %d times", pinned,
		    rd->pinned_seen);
}

static void *
reader_thread(void *arg)
{
	struct reader		*rd = arg;
	struct churn		*c = rd->c;
	struct lockstore	*s = c->stores[(rd->idx + 1) % c->nstores];
	int			 k;

	for (k = 0; k < READS_MAX && !atomic_load(&c->stop) &&
	    tu_now() < c->deadline + CHURN_SECONDS; k++) {
		if (c->use_list)
			list_once(rd, s);
		else
			inspect_once(rd, s, (k + rd->idx) % (NRES + 1));
		atomic_fetch_add(&c->reads, 1);
	}
	return NULL;
}

/*
 * Churns DIR: NSTORES stores opened with FLAGS (writers and readers spread
 * over them), WRITERS threads locking and unlocking for up to ROUNDS
 * rounds each, READERS threads inspecting (or, USE_LIST, listing), with
 * the pinned lock held throughout.  Asserts what the readers saw against
 * what the writers were granted.  Leaves the stores open in C, the pinned
 * lock held.
 */
static void
churn(struct churn *c, const char *dir, int nstores, unsigned int flags,
    int rounds, int use_list)
{
	struct lockstore_error	 err;
	struct writer		 wr[WRITERS];
	struct reader		 rd[READERS];
	const struct seen	*sn;
	const struct grant	*g;
	long			 mismatches = 0;
	size_t			 j;
	int			 i, nw = 0, nr = 0;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->notelock, NULL);
	c->nstores = nstores;
	c->rounds = rounds;
	c->use_list = use_list;
	for (i = 0; i < nstores; i++)
		c->stores[i] = open_store(dir, flags);
	TU_ASSERT_INT_EQ_FATAL(lockstore_lock_token(c->stores[0], pinned,
	    pinned_holder, &c->pinned_token, &err), LOCKSTORE_OK);
	for (i = 0; i < WRITERS; i++)
		CU_ASSERT_FATAL((c->grants[i] = calloc((size_t)rounds,
		    sizeof(struct grant))) != NULL);
	for (i = 0; i < READERS; i++) {
		rd[i].c = c;
		rd[i].idx = i;
		rd[i].nseen = 0;
		CU_ASSERT_FATAL((rd[i].seen = calloc(SEEN_MAX,
		    sizeof(struct seen))) != NULL);
	}
	printf("\n  churn: %d store(s)%s, %s: ", nstores,
	    flags & LOCKSTORE_NOSYNC ? "" : " durable",
	    use_list ? "listing" : "inspecting");
	fflush(stdout);
	c->deadline = tu_now() + CHURN_SECONDS;
	/* Readers first, so that they are there from the first unlock. */
	for (nr = 0; nr < READERS; nr++)
		if (pthread_create(&rd[nr].tid, NULL, reader_thread,
		    &rd[nr]) != 0)
			break;
	for (nw = 0; nr == READERS && nw < WRITERS; nw++) {
		wr[nw].c = c;
		wr[nw].idx = nw;
		if (pthread_create(&wr[nw].tid, NULL, writer_thread,
		    &wr[nw]) != 0)
			break;
	}
	for (i = 0; i < nw; i++)
		pthread_join(wr[i].tid, NULL);
	atomic_store(&c->stop, 1);
	for (i = 0; i < nr; i++)
		pthread_join(rd[i].tid, NULL);
	TU_ASSERT_INT_EQ(nr, READERS);
	TU_ASSERT_INT_EQ(nw, WRITERS);

	/* Every holding seen was granted to that very client, token and
	 * resource. */
	for (i = 0; i < nr; i++) {
		for (j = 0; j < rd[i].nseen; j++) {
			sn = &rd[i].seen[j];
			g = &c->grants[sn->w][sn->i];
			if (g->token == sn->token && g->res == sn->res)
				continue;
			if (mismatches++ < NOTES_MAX)
				fprintf(stderr, "'%s' seen held by '%s-%d-%d-' "
				    "under token %llu, but that client was "
				    "granted '%s' under token %llu (0: never "
				    "granted)\n", res_names[sn->res],
				    res_names[sn->res], sn->w, sn->i, sn->token,
				    g->token == 0 ? "" : res_names[g->res],
				    g->token);
		}
		free(rd[i].seen);
	}
	printf("%ld grants, %ld reads, %ld holdings seen, %ld checked "
	    "valid, %ld problems ", atomic_load(&c->granted),
	    atomic_load(&c->reads), atomic_load(&c->holdings),
	    atomic_load(&c->valid), atomic_load(&c->problems) + mismatches);
	fflush(stdout);
	TU_ASSERT_INT_EQ(atomic_load(&c->problems), 0);
	TU_ASSERT_INT_EQ(mismatches, 0);
	/* Not vacuous: the writers went round and the readers saw them. */
	CU_ASSERT(atomic_load(&c->granted) >= WRITERS);
	CU_ASSERT(atomic_load(&c->holdings) > 0);
	for (i = 0; i < WRITERS; i++)
		free(c->grants[i]);
	pthread_mutex_destroy(&c->notelock);
}

/* Ends a churn: the pinned lock released, the stores closed. */
static void
churn_end(struct churn *c)
{
	int	i;

	UNLOCK(c->stores[0], pinned, pinned_holder, LOCKSTORE_OK, NULL);
	for (i = 0; i < c->nstores; i++)
		lockstore_close(c->stores[i]);
}

/*
 * Entries of DIR besides ".", "..", lockd's bookkeeping and KEEP (NULL:
 * none), each printed; sets *KEPT to whether KEEP is there.  -1: no dir.
 */
static int
debris(const char *dir, const char *keep, int *kept)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	*kept = 0;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".token") == 0 ||
		    strcmp(de->d_name, ".history") == 0 ||
		    strcmp(de->d_name, ".history.1") == 0 ||
		    strcmp(de->d_name, ".checkpoint") == 0)
			continue;
		if (keep != NULL && strcmp(de->d_name, keep) == 0) {
			*kept = 1;
			continue;
		}
		fprintf(stderr, "unexpected entry in the lock directory: "
		    "'%s'\n", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void
readers_never_see_another_resource_or_a_torn_holding(void)
{
	struct churn	c;
	char		*dir;
	int		 kept;

	/* One store for all. */
	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	churn(&c, dir, 1, LOCKSTORE_NOSYNC, FAST_ROUNDS, 0);
	churn_end(&c);
	TU_ASSERT_INT_EQ(debris(dir, NULL, &kept), 0);
	/* Readers on another store than the writers, like two daemons. */
	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	churn(&c, dir, 2, LOCKSTORE_NOSYNC, FAST_ROUNDS, 0);
	churn_end(&c);
	TU_ASSERT_INT_EQ(debris(dir, NULL, &kept), 0);
	/* Durable: every change synced, which widens other windows. */
	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	churn(&c, dir, 2, 0, DURABLE_ROUNDS, 0);
	churn_end(&c);
	TU_ASSERT_INT_EQ(debris(dir, NULL, &kept), 0);
}

static void
list_never_reports_a_foreign_holding(void)
{
	struct churn	c;
	char		*dir;
	int		 kept;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	churn(&c, dir, 1, LOCKSTORE_NOSYNC, FAST_ROUNDS, 1);
	churn_end(&c);
	TU_ASSERT_INT_EQ(debris(dir, NULL, &kept), 0);
	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	churn(&c, dir, 2, LOCKSTORE_NOSYNC, FAST_ROUNDS, 1);
	churn_end(&c);
	TU_ASSERT_INT_EQ(debris(dir, NULL, &kept), 0);
}

static void
directory_holds_no_debris_after_close(void)
{
	struct churn			 c;
	struct lockstore		*s;
	struct lockstore_lock_info	 info;
	struct lockstore_error		 err;
	char				*dir, me[32];
	int				 i, held = 0, kept;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	churn(&c, dir, 2, LOCKSTORE_NOSYNC, FAST_ROUNDS, 0);
	for (i = 0; i < c.nstores; i++)
		lockstore_close(c.stores[i]);
	/* Only the lock still held is left. */
	TU_ASSERT_INT_EQ(debris(dir, pinned_file, &kept), 0);
	TU_ASSERT_INT_EQ(kept, 1);
	/* ... intact, whatever the pool did around it. */
	s = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, pinned, &held, &info, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(held, 1);
	TU_ASSERT_STR_EQ(info.holder, pinned_holder);
	TU_ASSERT_INT_EQ(info.token, c.pinned_token);
	/* A few more rounds with this store, then everything released. */
	for (i = 0; i < 20; i++) {
		snprintf(me, sizeof(me), "a-%d", i);
		LOCK(s, res_names[i % NRES], me, LOCKSTORE_OK, NULL);
		UNLOCK(s, res_names[i % NRES], me, LOCKSTORE_OK, NULL);
	}
	UNLOCK(s, pinned, pinned_holder, LOCKSTORE_OK, NULL);
	lockstore_close(s);
	TU_ASSERT_INT_EQ(debris(dir, NULL, &kept), 0);
}

/* Entries of DIR whose names start with PREFIX, or -1. */
static int
count_prefixed(const char *dir, const char *prefix)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* The crashing child: locks and unlocks, keeps one lock, and dies. */
static void
crashing_child(const char *dir)
{
	struct lockstore	*s;
	struct lockstore_error	 err;
	char			 r[32];
	int			 i, round;

	alarm(TU_CHILD_TIMEOUT);
	if (lockstore_open_dir(&s, dir, LOCKSTORE_NOSYNC, &err) !=
	    LOCKSTORE_OK)
		_exit(2);
	/* Several held at once, then released: several inodes to park. */
	for (round = 0; round < 3; round++) {
		for (i = 0; i < CHILD_LOCKS; i++) {
			snprintf(r, sizeof(r), "c%d", i);
			if (lockstore_lock(s, r, "child", &err) !=
			    LOCKSTORE_OK)
				_exit(3);
		}
		for (i = 0; i < CHILD_LOCKS; i++) {
			snprintf(r, sizeof(r), "c%d", i);
			if (lockstore_unlock(s, r, "child", &err) !=
			    LOCKSTORE_OK)
				_exit(4);
		}
	}
	if (lockstore_lock(s, "kept", "child", &err) != LOCKSTORE_OK)
		_exit(5);
	_exit(0);		/* no lockstore_close(): a crash */
}

static void
a_crashed_process_pool_files_are_removed_at_next_open(void)
{
	struct lockstore		*s1, *s2;
	struct lockstore_lock_info	 info;
	struct lockstore_error		 err;
	char				*dir, prefix[64], me[32];
	pid_t				 pid;
	int				 n, i, held = 0, kept;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	/* No thread runs in this test: forking is safe. */
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0)
		crashing_child(dir);
	CU_ASSERT_FATAL(pid > 0);
	TU_ASSERT_INT_EQ_FATAL(tu_wait(pid), 0);
	snprintf(prefix, sizeof(prefix), ".pool.%ld.", (long)pid);
	n = count_prefixed(dir, prefix);
	if (n <= 0) {
		printf("\n  note: no %s* file after the child: no pool here "
		    "(renameat2 unsupported, or not built yet); skipped ",
		    prefix);
		fflush(stdout);
		return;
	}
	s1 = open_store(dir, LOCKSTORE_NOSYNC);
	TU_ASSERT_INT_EQ(count_prefixed(dir, prefix), 0);
	/* The dead child's lock is a lock, not debris. */
	TU_ASSERT_INT_EQ(lockstore_inspect(s1, "kept", &held, &info, &err),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(held, 1);
	TU_ASSERT_STR_EQ(info.holder, "child");
	/*
	 * A second store of this live process must leave the first one's
	 * pool alone: both go on locking and unlocking.
	 */
	for (i = 0; i < CHILD_LOCKS; i++) {
		snprintf(me, sizeof(me), "c%d", i);
		LOCK(s1, me, "s1", LOCKSTORE_OK, NULL);
	}
	for (i = 0; i < CHILD_LOCKS; i++) {
		snprintf(me, sizeof(me), "c%d", i);
		UNLOCK(s1, me, "s1", LOCKSTORE_OK, NULL);
	}
	s2 = open_store(dir, LOCKSTORE_NOSYNC);
	for (i = 0; i < 2 * CHILD_LOCKS; i++) {
		snprintf(me, sizeof(me), "c%d", i);
		LOCK(i % 2 ? s1 : s2, me, "s", LOCKSTORE_OK, NULL);
		UNLOCK(i % 2 ? s2 : s1, me, "s", LOCKSTORE_OK, NULL);
	}
	UNLOCK(s2, "kept", "child", LOCKSTORE_OK, NULL);
	lockstore_close(s1);
	lockstore_close(s2);
	TU_ASSERT_INT_EQ(debris(dir, NULL, &kept), 0);
}

/* The store number N in a spare name ".pool.<our pid>.<N>.<seq>" in DIR,
 * or -1 if there is none. */
static long
own_spare_store(const char *dir, char *boot, size_t bootsize)
{
	DIR		*d;
	struct dirent	*de;
	char		 prefix[64], *end, *p;
	long		 n = -1;

	/* .pool.<pid>.<8 characters of the boot id>.<store>.<n> */
	snprintf(prefix, sizeof(prefix), ".pool.%ld.", (long)getpid());
	if ((d = opendir(dir)) == NULL)
		return -1;
	while (n == -1 && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    strlen(de->d_name) > strlen(prefix) + 9 &&
		    de->d_name[strlen(prefix) + 8] == '.') {
			p = de->d_name + strlen(prefix);
			snprintf(boot, bootsize, "%.8s", p);
			n = strtol(p + 9, &end, 10);
			if (*end != '.')
				n = -1;
		}
	closedir(d);
	return n;
}

/*
 * A daemon that crashed leaves its spares; the next one may have the very
 * same pid (pid 1 in a container, every time) and so not remove them, and
 * make the very same spare names.  Its unlocks must work all the same.
 * Simulated with names of this process and of the store it opens next.
 */
static void
spares_left_under_our_own_pid_do_not_break_unlock(void)
{
	struct lockstore	*s;
	struct lockstore_error	 err;
	enum lockstore_status	 st;
	char			*dir, name[128], me[32], boot[16];
	long			 n;
	int			 i;

	CU_ASSERT_FATAL((dir = tu_tmpdir()) != NULL);
	s = open_store(dir, LOCKSTORE_NOSYNC);
	LOCK(s, "a", "h", LOCKSTORE_OK, NULL);
	UNLOCK(s, "a", "h", LOCKSTORE_OK, NULL);
	n = own_spare_store(dir, boot, sizeof(boot));
	lockstore_close(s);
	if (n < 0) {
		printf("\n  note: no spare after an unlock: no pool here; "
		    "skipped ");
		fflush(stdout);
		return;
	}
	/* What a crashed process with our pid, store n + 1, left. */
	for (i = 0; i < 2 * LEFT_SPARES; i++) {
		snprintf(name, sizeof(name), ".pool.%ld.%s.%ld.%d",
		    (long)getpid(), boot, n + 1 + i / LEFT_SPARES,
		    i % LEFT_SPARES);
		put_file(dir, name, "left by a crash\n");
	}
	s = open_store(dir, LOCKSTORE_NOSYNC);
	for (i = 0, st = LOCKSTORE_OK; i < LEFT_SPARES / 2 &&
	    st == LOCKSTORE_OK; i++) {
		snprintf(me, sizeof(me), "h%d", i);
		st = call(__FILE__, __LINE__, s, 0, res_names[i % NRES], me,
		    LOCKSTORE_OK, LOCKSTORE_OK, &err);
		if (st == LOCKSTORE_OK)
			st = call(__FILE__, __LINE__, s, 1,
			    res_names[i % NRES], me, LOCKSTORE_OK,
			    LOCKSTORE_OK, &err);
	}
	lockstore_close(s);
	if (st != LOCKSTORE_OK)
		return;		/* one failure says it all */
	/* Whatever became of the leftovers, no lock is left. */
	for (i = 0; i < NRES; i++) {
		snprintf(name, sizeof(name), "%s.resource.lock", res_names[i]);
		TU_ASSERT_INT_EQ(count_prefixed(dir, name), 0);
	}
}

int
main(void)
{
	static const struct tu_test tests[] = {
		{ "readers_never_see_another_resource_or_a_torn_holding",
		    readers_never_see_another_resource_or_a_torn_holding },
		{ "list_never_reports_a_foreign_holding",
		    list_never_reports_a_foreign_holding },
		{ "directory_holds_no_debris_after_close",
		    directory_holds_no_debris_after_close },
		{ "a_crashed_process_pool_files_are_removed_at_next_open",
		    a_crashed_process_pool_files_are_removed_at_next_open },
		{ "spares_left_under_our_own_pid_do_not_break_unlock",
		    spares_left_under_our_own_pid_do_not_break_unlock },
		{ NULL, NULL }
	};

	return tu_run("lockdir_reuse", tests);
}
