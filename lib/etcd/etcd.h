/* SPDX-License-Identifier: MIT */
/*
 * The etcd backend's insides, shared by its files: etcd.c (open, take,
 * inspect, health), etcd_keys.c (keys and values), etcd_lease.c (renew,
 * leases), etcd_end.c (unlock, break, expiry, lock-delay, history),
 * etcd_hint.c (the tokens of this lockd's grants),
 * etcd_list.c (list), etcd_http.c (libcurl, endpoints), etcd_req.c
 * (requests), etcd_json.c (answers), etcd_wait.c (the watch) and
 * etcd_queue.c (the waiters' queue across lockd hosts).
 *
 * Keys, under the configured prefix P, for a resource R (any bytes but
 * NUL; keys and values travel base64-encoded):
 * *   P "l/" R            the lock: its value starts with the holder's
 *                       client name; its create_revision is the fencing
 *                       token.  A plain lock's value goes on with a NUL
 *                       and the holding's metadata: {"s":since,"t":ttl_ms,
 *                       "x":expires_ms,"h":base64 of the holder,"n":the
 *                       nonce of the granting attempt}; a lease (TTL)
 *                       holding's is exactly the name, with an etcd lease
 *                       attached
 *   P "m/" R            a lease holding's metadata (as above), written in
 *                       the same transaction (so its create_revision is
 *                       the token too) and without the lease, so that it
 *                       outlives a lock key that etcd deletes
 *   P "x/" R            present while a lease holding is not yet ended
 *                       by lockd: the expiry sweep's index
 *   P "d/" R            a lock-delay after a break or an expiry, attached
 *                       to an etcd lease of the delay's length:
 *                       {"u":until_ms,"c":"break"|"expiry"}
 *   P "h/" R "\0" T     one ended holding of token T (20 digits), newest
 *                       last; the last ETCD_HISTORY_KEEP are kept
 *   P "q/" R "\0" N     one waiting acquire (N: a nonce), put by its lockd
 *                       with that lockd's session lease; the waiters of R
 *                       are served in the order of these keys'
 *                       create_revision (etcd_queue.c)
 * A lock is granted only while l/, m/ and d/ of R are all absent: a
 * lease that etcd expired leaves m/ behind until its end is recorded.
 * A waiting acquire is granted only while no q/ key of R is older than
 * its own (none at all before it has one); a plain lock ignores q/.
 */
#ifndef ETCD_H
#define ETCD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "clock.h"
#include "lockstore.h"
#include "lockstore_etcd.h"
#include "store_impl.h"

/* The key spaces under the prefix. */
#define ETCD_NS_LOCK		'l'
#define ETCD_NS_META		'm'
#define ETCD_NS_LEASED		'x'
#define ETCD_NS_DELAY		'd'
#define ETCD_NS_HISTORY		'h'

/* History records kept per resource; pruned when SLACK more exist. */
#define ETCD_HISTORY_KEEP	100
#define ETCD_HISTORY_SLACK	25

/* Lost races one call retries before it gives up. */
#define ETCD_RETRIES		100

/* The expiry sweep: a pass at most this often, this many per step. */
#define ETCD_SWEEP_MS		1000
#define ETCD_SWEEP_BATCH	50

/* How often the sweep counts the locks held (for metrics). */
#define ETCD_COUNT_MS		10000

/* Keys one range request of a listing asks for. */
#define ETCD_LIST_CHUNK		256

/* Largest HTTP answer read. */
#define ETCD_RESPONSE_MAX	(64u << 20)

/* A watch's cancel test runs this often; a failed watch is retried
 * after this long. */
#define ETCD_CANCEL_MS		100
#define ETCD_REWATCH_MS		250

/* The holdings this lockd granted (etcd_hint.c). */
#define ETCD_HINT_SLOTS		8192
#define ETCD_HINT_LOCKS		64

struct etcd {
	char		*endpoints[LOCKSTORE_ETCD_ENDPOINTS_MAX];
	unsigned int	 nendpoints;
	unsigned int	 current;	/* atomic: the endpoint in use */
	char		*prefix;
	size_t		 prefixlen;
	long		 timeout_ms;
	char		*cacert, *cert, *key;
	void		*headers;	/* struct curl_slist *, read-only */
	pthread_mutex_t	 poollock;
	void		**pool;		/* idle CURL * easy handles */
	size_t		 npool, poolcap;
	unsigned long long nonce_base;	/* random, for etcd_nonce() */
	unsigned long long nonce_seq;	/* atomic */
	struct lockstore *store;	/* the front end: policy */
	struct lockstore_stats *stats;
	pthread_mutex_t	 sweeplock;
	int		 sweeping;
	long long	 sweep_next;	/* monotonic ms of the next pass */
	char		*sweep_after;	/* resume the pass after this key */
	size_t		 sweep_afterlen;
	long long	 held;		/* atomic: locks held at the last
					   count, -1: none yet */
	long long	 count_next;	/* monotonic ms of the next count
					   (by the sweeping thread) */
	struct etcd_hint *hints;	/* ETCD_HINT_SLOTS */
	pthread_mutex_t	 hintlock[ETCD_HINT_LOCKS];
	struct etcd_queue *queue;	/* etcd_queue.c's */
};

/* One key-value pair of an answer, decoded (both NUL-terminated). */
struct etcd_kv {
	char			*key, *value;
	size_t			 keylen, vallen;
	unsigned long long	 create_rev, mod_rev, lease;
};

/* A parsed answer. */
struct etcd_resp {
	json_object		*root;
	int			 succeeded;	/* txn: the compares held */
	unsigned long long	 revision;	/* header.revision */
};

/* An HTTP answer being read; OVERFLOW: beyond ETCD_RESPONSE_MAX. */
struct etcd_body {
	char	*buf;
	size_t	 len, cap;
	int	 overflow;
};

/* The lock, metadata, lease-index and lock-delay keys of a resource. */
struct etcd_keys {
	char	*l, *m, *x, *d;
	size_t	 llen, mlen, xlen, dlen;
};

/* A list of a transaction being built: its items as JSON text, joined
 * by commas, and their number. */
struct etcd_list {
	struct etcd_body b;
	size_t		 n;
};

/* A transaction being built (etcd_req.c); FAILED once memory ran out. */
struct etcd_txn {
	struct etcd_list lists[3];
	struct etcd_list *compare, *success, *failure;	/* in LISTS */
	int		 failed;
};

/* Range flags. */
#define ETCD_RANGE_COUNT	0x1	/* count_only */
#define ETCD_RANGE_KEYS		0x2	/* keys_only */
#define ETCD_RANGE_DESCEND	0x4	/* sort by key, descending */

/* --- etcd_http.c and etcd_json.c ------------------------------------ */

/* Sets up E's endpoints, TLS files and handle pool from CFG. */
enum lockstore_status	etcd_http_init(struct etcd *e,
			    const struct lockstore_etcd_config *cfg,
			    struct lockstore_error *err);
void			etcd_http_free(struct etcd *e);

/*
 * POSTs REQ to PATH ("/v3/kv/txn") of the endpoint in use, rotating to
 * the next one on a transport error, a timeout or an answer other than
 * 200, and retrying up to 2 * endpoints + 1 times (the same request: a
 * repeat must be harmless).  Sets *UNKNOWN (may be NULL) when an attempt
 * may have been applied without us seeing the answer.  Fills RESP (free
 * with etcd_resp_free()).  Errors: STORAGE "Storage error: etcd WHAT for
 * 'RESOURCE': <reason>" (RESOURCE NULL: without it).
 */
enum lockstore_status	etcd_post(struct etcd *e, const char *path,
			    const char *body, struct etcd_resp *resp,
			    int *unknown, const char *what,
			    const char *resource, struct lockstore_error *err);
void			etcd_resp_free(struct etcd_resp *r);

/* etcd_post() of transaction T to /v3/kv/txn (T freed; its failure is
 * an ENOMEM error), of a range request to /v3/kv/range, and of the
 * object {MEMBER: VALUE} to PATH. */
enum lockstore_status	etcd_txn_post(struct etcd *e, struct etcd_txn *t,
			    struct etcd_resp *resp, int *unknown,
			    const char *what, const char *resource,
			    struct lockstore_error *err);
enum lockstore_status	etcd_range_post(struct etcd *e, const char *key,
			    size_t klen, const char *end, size_t endlen,
			    unsigned int flags, long long limit,
			    struct etcd_resp *resp, const char *what,
			    const char *resource, struct lockstore_error *err);
enum lockstore_status	etcd_post_member(struct etcd *e, const char *path,
			    const char *member, const char *value,
			    struct etcd_resp *resp, const char *what,
			    const char *resource, struct lockstore_error *err);

/* Appends the LEN bytes at P to B; -1 when out of memory or beyond
 * ETCD_RESPONSE_MAX (overflow set). */
int	 etcd_body_add(struct etcd_body *b, const char *p, size_t len);

/* An easy handle set up for PATH of endpoint IDX, or NULL: one of the
 * pool (*POOLED tells whether it did a transfer before), or with POOLED
 * NULL a new one (the watch's, to be curl_easy_cleanup()'d). */
void	*etcd_handle_get(struct etcd *e, unsigned int idx, const char *path,
	    int *pooled);

/* Notes that endpoint IDX failed: the next request uses the next one. */
void	 etcd_rotate(struct etcd *e, unsigned int idx);

/* Base64 of N bytes at P, or NULL (ENOMEM); etcd_b64_into() writes the
 * (N + 2) / 3 * 4 digits to OUT, without a NUL, and returns their number. */
char	*etcd_b64(const void *p, size_t n);
size_t	 etcd_b64_into(char *out, const void *p, size_t n);

/* Decodes base64 S into a NUL-terminated buffer and sets *N; NULL if S
 * is not base64 or memory is short. */
char	*etcd_unb64(const char *s, size_t *n);

/* An unsigned 64-bit number that arrives as a string (or is absent: 0). */
unsigned long long	etcd_num(json_object *o, const char *member);

/* --- building requests (etcd_req.c) ----------------------------------- */

void	etcd_txn_init(struct etcd_txn *t);
void	etcd_txn_free(struct etcd_txn *t);

/* T's request body, malloc'd (NULL: T failed, or ENOMEM). */
char	*etcd_txn_body(struct etcd_txn *t, size_t *len);

/* Compares: the key's TARGET ("CREATE": create_revision, "MOD":
 * mod_revision, "LEASE") equals N (0: no such key, or no lease); its
 * value equals VAL. */
void	etcd_cmp(struct etcd_txn *t, const char *target, const char *key,
	    size_t klen, unsigned long long n);
void	etcd_cmp_value(struct etcd_txn *t, const char *key, size_t klen,
	    const char *val, size_t vlen);

/* Operations appended to LIST (t->success or t->failure).  END NULL: the
 * single key; END "" (ENDLEN 0, not NULL): every key from KEY on. */
void	etcd_op_range(struct etcd_txn *t, struct etcd_list *list,
	    const char *key, size_t klen, const char *end, size_t endlen,
	    unsigned int flags, long long limit);
void	etcd_op_put(struct etcd_txn *t, struct etcd_list *list,
	    const char *key, size_t klen, const char *val, size_t vlen,
	    unsigned long long lease);
void	etcd_op_delete(struct etcd_txn *t, struct etcd_list *list,
	    const char *key, size_t klen, int prev);

/* Compares every key of [KEY, END) by create_revision: greater than N
 * (GREATER), or equal to it (an empty range compares as revision 0). */
void	etcd_cmp_created(struct etcd_txn *t, const char *key, size_t klen,
	    const char *end, size_t endlen, int greater, unsigned long long n);

/* A range for the newest key of [KEY, END) by create_revision, created
 * at MAXREV or before (0: any); keys only. */
void	etcd_op_newest(struct etcd_txn *t, struct etcd_list *list,
	    const char *key, size_t klen, const char *end, size_t endlen,
	    unsigned long long maxrev);

/* A RangeRequest (for /v3/kv/range) as text, malloc'd, or NULL. */
char	*etcd_range_req(const char *key, size_t klen, const char *end,
	    size_t endlen, unsigned int flags, long long limit);

/* --- reading answers -------------------------------------------------- */

/* The I-th response of a txn answer of kind "response_range", or NULL. */
json_object	*etcd_resp_range(const struct etcd_resp *r, size_t i);

/* Fills KV with the J-th pair of the range answer RANGE: 1, 0 if there is
 * none, -1 if malformed or out of memory.  Free with etcd_kv_free(). */
int	etcd_range_kv(json_object *range, size_t j, struct etcd_kv *kv);
void	etcd_kv_free(struct etcd_kv *kv);

/* Fills *KVS[I] with the first pair of response FIRST + I of R, for
 * I < N; -1 (all freed) if one is malformed. */
int	etcd_resp_kvs(const struct etcd_resp *r, size_t first,
	    struct etcd_kv **kvs, size_t n);

/* The lease of the key that response I of R (a delete with prev_kv)
 * deleted, or 0. */
unsigned long long	etcd_resp_deleted_lease(const struct etcd_resp *r,
			    size_t i);

/* The "more" of a range answer. */
int	etcd_range_more(json_object *range);

/* The base64 MEMBER of O decoded (malloc'd; absent: ""), or NULL. */
char	*etcd_member_bytes(json_object *o, const char *member, size_t *len);

/* --- keys and values (etcd_keys.c) ------------------------------------ */

/* P NS "/" RESOURCE, malloc'd with its length in *LENP; NULL: ENOMEM. */
char	*etcd_key(const struct etcd *e, char ns, const char *resource,
	    size_t *lenp);

/* K's keys of RESOURCE; -1 (nothing to free): ENOMEM. */
int	 etcd_keys_make(const struct etcd *e, const char *resource,
	    struct etcd_keys *k);
void	 etcd_keys_free(struct etcd_keys *k);

/* KEY followed by a NUL (the first key after it), malloc'd, or NULL. */
char	*etcd_key_after(const char *key, size_t len, size_t *outlen);

/* The history key of TOKEN of RESOURCE, malloc'd; NULL: ENOMEM. */
char	*etcd_history_key(const struct etcd *e, const char *resource,
	    unsigned long long token, size_t *lenp);

/* The smallest key after every key that starts with the LEN bytes at
 * KEY, malloc'd; "" (length 0) when there is none. */
char	*etcd_prefix_end(const char *key, size_t len, size_t *endlen);

/* The metadata of a holding (the holder is kept too, for the history
 * of a lease that etcd expired: its lock key is gone then). */
#define ETCD_NONCE_SIZE	33
struct etcd_meta {
	long long	since;		/* epoch s */
	unsigned int	ttl_ms;		/* 0: no lease */
	long long	expires_ms;	/* epoch ms, 0: no lease */
	char		nonce[ETCD_NONCE_SIZE];	/* the granting attempt's */
	unsigned long long token;	/* "k": the holding's token when m/
					   was written after the grant (a
					   lease move); 0: its create_rev */
};
char	*etcd_meta_encode(const struct etcd_meta *m, const char *holder);
void	 etcd_meta_parse(const char *value, struct etcd_meta *m);

/* The value of a plain lock key for HOLDER with metadata M (malloc'd,
 * *LEN bytes, NUL-terminated twice), or NULL. */
char	*etcd_lock_value(const struct etcd_meta *m, const char *holder,
	    size_t *len);

/* The metadata of the holding LOCK (from its value, or META's); 0 when
 * there is none (MD zeroed). */
int	 etcd_holding_meta(const struct etcd_kv *lock,
	    const struct etcd_kv *meta, struct etcd_meta *md);

/* A nonce for one lock attempt into OUT. */
void	 etcd_nonce(struct etcd *e, char out[ETCD_NONCE_SIZE]);

/*
 * Reads RESOURCE's lock and metadata keys (and, with HKEY, that key too)
 * in one consistent read; absent keys are left zeroed.  WHAT names the
 * call in errors.
 */
enum lockstore_status	etcd_read(struct etcd *e, const char *resource,
			    const char *hkey, size_t hlen,
			    struct etcd_kv *lock, struct etcd_kv *meta,
			    struct etcd_kv *hist, const char *what,
			    struct lockstore_error *err);

/* Fills INFO with the holding LOCK (META: its metadata, may be NULL) of
 * the resource named by the RLEN bytes at RESOURCE. */
void	etcd_fill_info(struct lockstore_lock_info *info, const char *resource,
	    size_t rlen, const struct etcd_kv *lock, const struct etcd_kv *meta);

/* Fills G with a holding of TOKEN whose metadata is MD. */
void	etcd_grant(struct lockstore_grant *g, unsigned long long token,
	    const struct etcd_meta *md);

/* "Resource not locked", after recording the end of the lease that etcd
 * expired if its metadata META is left (or that end's error). */
enum lockstore_status	etcd_not_locked(struct etcd *e, const char *resource,
			    const struct etcd_kv *meta,
			    struct lockstore_error *err);

/* A lock-delay's value. */
void	 etcd_delay_decode(const struct etcd_kv *kv, long long *until_ms,
	    enum lockstore_end *cause);

/* The backend's wait (etcd_wait.c; see store_wait_fn): watches
 * the key that refused the take (the lock, or the lock-delay) from the
 * revision after the one the take saw. */
store_wait_fn		etcd_wait;

/* --- etcd_hint.c: the tokens of the holdings this lockd granted ------ */

/* A holding this lockd granted: its token and metadata (from which its
 * lock key's value follows); HASH 0: a free slot. */
struct etcd_hint {
	uint64_t		hash;		/* of the resource */
	char			*holder;	/* malloc'd */
	unsigned long long	token;
	struct etcd_meta	md;
};

void	etcd_hint_put(struct etcd *e, const char *resource,
	    const char *holder, unsigned long long token,
	    const struct etcd_meta *md);
int	etcd_hint_get(struct etcd *e, const char *resource,
	    const char *holder, unsigned long long *token,
	    struct etcd_meta *md);
void	etcd_hint_free(struct etcd *e);
/* TOKEN 0: whichever holding. */
void	etcd_hint_drop(struct etcd *e, const char *resource,
	    unsigned long long token);

/* --- etcd_lease.c, etcd_end.c and etcd_list.c ------------------------ */

/* A new etcd lease of at least TTL_MS (rounded up to whole seconds): its
 * id in *ID and its granted TTL in *GRANTED_MS. */
enum lockstore_status	etcd_lease_grant(struct etcd *e, unsigned int ttl_ms,
			    unsigned long long *id, unsigned int *granted_ms,
			    const char *resource, struct lockstore_error *err);

/* Revokes lease ID (0: none), best effort (it ends by its TTL anyway). */
void	etcd_lease_revoke(struct etcd *e, unsigned long long id);

/*
 * Moves the holding LOCK (with metadata META) of RESOURCE by CLIENT onto
 * a new lease of TTL_MS (a renew, or a reacquire with a TTL) and fills
 * GRANT (reacquired set).  Returns LOCKSTORE_OK, ETCD_CHANGED when the
 * holding changed meanwhile (look again), or an error.
 */
#define ETCD_CHANGED	(-1)
int	etcd_lease_move(struct etcd *e, const char *resource,
	    const char *client, const struct etcd_kv *lock,
	    const struct etcd_kv *meta, unsigned int ttl_ms,
	    struct lockstore_grant *grant, struct lockstore_error *err);

/*
 * Ends a holding whose lease etcd expired (L absent, META its metadata
 * key): records the expiry and sets the lock-delay, unless someone did
 * so meanwhile (*ENDED, may be NULL, tells whether we did).  OK either
 * way, or a STORAGE error.
 */
enum lockstore_status	etcd_end_expired(struct etcd *e,
			    const char *resource, const struct etcd_kv *meta,
			    int *ended, struct lockstore_error *err);

/* --- etcd_queue.c: the waiters' queue across lockd hosts ------------- */

#define ETCD_NS_QUEUE		'q'
#define ETCD_QUEUE_TTL_S	10	/* the session lease of wait keys */

/* An empty queue, or NULL (ENOMEM). */
struct etcd_queue	*etcd_queue_new(void);
void			 etcd_queue_free(struct etcd_queue *q);

/*
 * The queue's part of a lock transaction T for RESOURCE, when BLK is a
 * waiting call's (fifo) or carries a ticket: the compare "no waiter"
 * (fifo) or "no older waiter" (ticket), the delete of the ticket's wait
 * key on success, and on failure the read of the newest older waiter (T's
 * fourth response, after the lock, metadata and lock-delay keys).
 */
void	etcd_queue_txn(struct etcd *e, struct etcd_txn *t,
	    const char *resource, const struct store_block *blk);

/* The take with BLK was granted: its ticket's wait key went with it. */
void	etcd_queue_granted(struct etcd *e, struct store_block *blk);

/*
 * Judges the queue part of R, a refused take of RESOURCE whose lock keys
 * said ST (FREE_LOCK: they are all absent): an older waiter makes BLK
 * watch that waiter's key (and a free lock HELD, "behind other waiters");
 * a ticket whose key is gone is queued again (ETCD_CHANGED).  Returns the
 * status to go on with.
 */
int	etcd_queue_refused(struct etcd *e, const struct etcd_resp *r,
	    const char *resource, int free_lock, struct store_block *blk,
	    int st, struct lockstore_error *err);

store_enqueue_fn	etcd_enqueue;
store_dequeue_fn	etcd_dequeue;
/* The expiry thread's call: keeps the session lease alive, retries the
 * failed deletes of wait keys, then etcd_expire(). */
store_expire_fn		etcd_queue_expire;

store_unlock_fn		etcd_unlock;
store_renew_fn		etcd_renew;
store_break_fn		etcd_break;
store_history_fn	etcd_history;
store_expire_fn		etcd_expire;
store_list_fn		etcd_list;

#endif /* ETCD_H */
