/* SPDX-License-Identifier: MIT */
/*
 * The back-off after failed authentications: a small table of peer
 * addresses; a peer that fails too often is refused for a while.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "log.h"

#define BACKOFF_PEERS	256	/* peers remembered; the oldest goes first */
#define BACKOFF_KEY	16	/* bytes of the address kept as the key */

struct backoff_peer {
	uint8_t		key[BACKOFF_KEY];
	int		used;
	int		fails;		/* in the window that began at since */
	int		strikes;	/* back-offs served, each doubles */
	time_t		since;
	time_t		last;		/* last failure */
	time_t		until;		/* refused before this */
};

static struct backoff_peer	peers[BACKOFF_PEERS];
static pthread_mutex_t		peers_lock = PTHREAD_MUTEX_INITIALIZER;

static time_t
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The key of PEER: its address without the port (0 if there is none). */
static int
key_of(const struct sockaddr *peer, size_t salen, uint8_t key[BACKOFF_KEY])
{
	if (peer == NULL || salen < 4)
		return 0;
	memset(key, 0, BACKOFF_KEY);
	memcpy(key, peer, salen < BACKOFF_KEY ? salen : BACKOFF_KEY);
	key[2] = key[3] = 0;	/* sin_port and sin6_port */
	return 1;
}

/* The entry of KEY, or NULL; with CREATE, a new one in the oldest slot. */
static struct backoff_peer *
find(const uint8_t key[BACKOFF_KEY], int create)
{
	struct backoff_peer	*p, *old = &peers[0];

	for (p = peers; p < peers + BACKOFF_PEERS; p++) {
		if (p->used && memcmp(p->key, key, BACKOFF_KEY) == 0)
			return p;
		if (!p->used || (old->used && p->last < old->last))
			old = p;
	}
	if (!create)
		return NULL;
	memset(old, 0, sizeof(*old));
	memcpy(old->key, key, BACKOFF_KEY);
	old->used = 1;
	return old;
}

/* Seconds PEER must still wait before it may authenticate, or 0. */
long
backoff_wait(const struct sockaddr *peer, size_t salen)
{
	struct backoff_peer	*p;
	uint8_t			 key[BACKOFF_KEY];
	long			 wait = 0;
	time_t			 now = now_s();

	if (!key_of(peer, salen, key))
		return 0;
	pthread_mutex_lock(&peers_lock);
	if ((p = find(key, 0)) != NULL && p->until > now)
		wait = (long)(p->until - now);
	pthread_mutex_unlock(&peers_lock);
	return wait;
}

static const char *
addr_text(const struct sockaddr *peer, char *buf, size_t size)
{
	const struct sockaddr_in	*s4 = (const void *)peer;

	if (peer->sa_family != AF_INET ||
	    inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)size) == NULL)
		return peer->sa_family == AF_INET6 ? "[ipv6]" : "?";
	return buf;
}

/* Counts one failed authentication of PEER; starts its back-off at the
 * BACKOFF_FAILURES-th within BACKOFF_WINDOW seconds, and logs that. */
void
backoff_failed(const struct sockaddr *peer, size_t salen)
{
	struct backoff_peer	*p;
	uint8_t			 key[BACKOFF_KEY];
	char			 ip[INET_ADDRSTRLEN];
	time_t			 now = now_s();
	long			 secs = 0;
	int			 fails = 0;

	if (!key_of(peer, salen, key))
		return;
	pthread_mutex_lock(&peers_lock);
	p = find(key, 1);
	if (now - p->last > BACKOFF_MAX)
		p->strikes = 0;		/* quiet long enough: forgiven */
	if (now - p->since >= BACKOFF_WINDOW || p->fails == 0) {
		p->since = now;
		p->fails = 0;
	}
	p->last = now;
	if (++p->fails >= BACKOFF_FAILURES) {
		secs = (long)BACKOFF_FIRST << (p->strikes < 6 ? p->strikes : 6);
		if (secs > BACKOFF_MAX)
			secs = BACKOFF_MAX;
		p->strikes++;
		p->until = now + secs;
		fails = p->fails;
		p->fails = 0;
	}
	pthread_mutex_unlock(&peers_lock);
	if (secs > 0)
		log_warnx("authentication: %s failed %d times within %d s: "
		    "refused for %ld s", addr_text(peer, ip, sizeof(ip)),
		    fails, BACKOFF_WINDOW, secs);
}
