/* SPDX-License-Identifier: MIT */
/*
 * The audit line of a refused request (fault 30, an HTTP-level refusal),
 * at most one per peer address per second, with the count of the others.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <xmlrpc-c/abyss.h>

#include "log.h"
#include "refusal.h"

#define REFUSAL_PEERS	64	/* addresses remembered; the oldest goes */
#define REFUSAL_KEY	16

struct refusal_peer {
	uint8_t		key[REFUSAL_KEY];
	int		used;
	time_t		logged;		/* second of the last line */
	unsigned long	quiet;		/* refusals since, not logged */
};

static struct refusal_peer	peers[REFUSAL_PEERS];
static pthread_mutex_t		peers_lock = PTHREAD_MUTEX_INITIALIZER;

/* How many refusals of this peer to log now: 0 (count it) or 1, with the
 * number left unlogged before it in *QUIET. */
static int
admit_line(const struct sockaddr *peer, size_t salen, unsigned long *quiet)
{
	struct refusal_peer	*p, *old = &peers[0];
	struct timespec		 ts;
	uint8_t			 key[REFUSAL_KEY];
	int			 line = 1;

	memset(key, 0, sizeof(key));
	if (peer != NULL)
		memcpy(key, peer, salen < sizeof(key) ? salen : sizeof(key));
	key[2] = key[3] = 0;	/* the port */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&peers_lock);
	for (p = peers; p < peers + REFUSAL_PEERS; p++) {
		if (p->used && memcmp(p->key, key, sizeof(key)) == 0)
			break;
		if (!p->used || (old->used && p->logged < old->logged))
			old = p;
	}
	if (p == peers + REFUSAL_PEERS) {
		p = old;
		memset(p, 0, sizeof(*p));
		memcpy(p->key, key, sizeof(key));
		p->used = 1;
	} else if (p->logged == ts.tv_sec) {
		p->quiet++;
		line = 0;
	}
	if (line) {
		*quiet = p->quiet;
		p->quiet = 0;
		p->logged = ts.tv_sec;
	}
	pthread_mutex_unlock(&peers_lock);
	return line;
}

/* Logs that the request of SESSION was refused with WHAT, rate-limited. */
void
refusal_log(TSession *session, const char *what)
{
	struct abyss_unix_chaninfo	*ci = NULL;
	const struct sockaddr		*peer = NULL;
	const struct sockaddr_in	*s4;
	char				 who[64], ip[INET_ADDRSTRLEN];
	char				 more[96], w[512];
	unsigned long			 quiet = 0;
	size_t				 salen = 0;

	if (session != NULL)
		SessionGetChannelInfo(session, (void **)&ci);
	if (ci != NULL) {
		peer = &ci->peerAddr;
		salen = ci->peerAddrLen < sizeof(ci->peerAddr) ?
		    ci->peerAddrLen : sizeof(ci->peerAddr);
	}
	if (!admit_line(peer, salen, &quiet))
		return;
	snprintf(who, sizeof(who), "?");
	s4 = (const void *)peer;
	if (peer != NULL && peer->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)) != NULL)
		snprintf(who, sizeof(who), "%s:%u", ip,
		    (unsigned)ntohs(s4->sin_port));
	else if (peer != NULL && peer->sa_family == AF_INET6)
		snprintf(who, sizeof(who), "[ipv6]");
	more[0] = '\0';
	if (quiet > 0)
		snprintf(more, sizeof(more), " (and %lu more refused from this "
		    "address, not logged)", quiet);
	log_info("request from %s: refused: %s%s", who,
	    log_escape(w, sizeof(w), what), more);
}
