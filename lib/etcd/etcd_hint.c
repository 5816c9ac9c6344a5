/* SPDX-License-Identifier: MIT */
/*
 * What this lockd knows of the holdings it granted: resource -> holder,
 * token and metadata, so that an unlock by that holder can end its
 * holding in one transaction without reading it first.  Only a hint: the
 * transaction compares the token (a holding's create_revision, which no
 * other holding has; its holder never changes), and a wrong or missing
 * hint costs one round trip.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "etcd.h"

/* The slot of RESOURCE (direct-mapped) and its hash. */
static struct etcd_hint *
slot(struct etcd *e, const char *resource, uint64_t *hash,
    pthread_mutex_t **lock)
{
	size_t	i;

	*hash = codec_fnv1a(resource, strlen(resource)) | 1;	/* 0: free */
	i = (size_t)(*hash % ETCD_HINT_SLOTS);
	*lock = &e->hintlock[i % ETCD_HINT_LOCKS];
	return &e->hints[i];
}

/* Remembers RESOURCE's holding TOKEN by HOLDER with metadata MD (not
 * when memory is short: it is only a hint). */
void
etcd_hint_put(struct etcd *e, const char *resource, const char *holder,
    unsigned long long token, const struct etcd_meta *md)
{
	struct etcd_hint	*h;
	pthread_mutex_t		*lock;
	uint64_t		 hash;
	char			*name = strdup(holder), *old;

	h = slot(e, resource, &hash, &lock);
	pthread_mutex_lock(lock);
	old = h->holder;
	h->hash = name != NULL ? hash : 0;
	h->holder = name;
	h->token = token;
	h->md = *md;
	pthread_mutex_unlock(lock);
	free(old);
}

/* The hint for RESOURCE held by HOLDER: 1 with *TOKEN and *MD, or 0. */
int
etcd_hint_get(struct etcd *e, const char *resource, const char *holder,
    unsigned long long *token, struct etcd_meta *md)
{
	struct etcd_hint	*h;
	pthread_mutex_t		*lock;
	uint64_t		 hash;
	int			 found;

	h = slot(e, resource, &hash, &lock);
	pthread_mutex_lock(lock);
	if ((found = h->hash == hash && strcmp(h->holder, holder) == 0)) {
		*token = h->token;
		*md = h->md;
	}
	pthread_mutex_unlock(lock);
	return found;
}

/* Frees the hints' names. */
void
etcd_hint_free(struct etcd *e)
{
	size_t	i;

	for (i = 0; e->hints != NULL && i < ETCD_HINT_SLOTS; i++)
		free(e->hints[i].holder);
}

/* Forgets the hint for RESOURCE's holding TOKEN (0: whichever). */
void
etcd_hint_drop(struct etcd *e, const char *resource, unsigned long long token)
{
	struct etcd_hint	*h;
	pthread_mutex_t		*lock;
	uint64_t		 hash;

	h = slot(e, resource, &hash, &lock);
	pthread_mutex_lock(lock);
	if (h->hash == hash && (token == 0 || h->token == token))
		h->hash = 0;
	pthread_mutex_unlock(lock);
}
