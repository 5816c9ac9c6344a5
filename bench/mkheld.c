/* SPDX-License-Identifier: MIT */
/*
 * mkheld -- fill a lock directory with N held locks, fast, in lockd's
 * on-disk format: "<prefix>-<i>.resource.lock", mode 0600, holding
 * "<client>\nresource <prefix>-<i>\nsince <epoch>\n".  Names are plain
 * (no escaping).  Existing files are left alone.  Two threads.  No fsync:
 * this is benchmark set-up, not a lock.
 *
 *     mkheld DIR N [PREFIX [CLIENT]]      (PREFIX "held", CLIENT "held-client")
 *
 * Build: cc -O2 -pthread -o mkheld mkheld.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NTHREAD	2

static int		 dirfd_;
static long		 total;
static const char	*prefix = "held", *client = "held-client";
static long long	 since;
static long		 failed;

static void *
fill(void *arg)
{
	long	 i, first = (long)(intptr_t)arg;
	char	 name[256], body[512];
	int	 fd, n;

	for (i = first; i < total; i += NTHREAD) {
		snprintf(name, sizeof(name), "%s-%07ld.resource.lock", prefix, i);
		fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		if (fd == -1) {
			if (errno == EEXIST)
				continue;
			perror(name);
			__atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
			return NULL;
		}
		n = snprintf(body, sizeof(body), "%s\nresource %s-%07ld\n"
		    "since %lld\n", client, prefix, i, since);
		if (write(fd, body, (size_t)n) != n) {
			perror(name);
			__atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
		}
		close(fd);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t	t[NTHREAD];
	long		i;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: mkheld DIR N [PREFIX [CLIENT]]\n");
		return 64;
	}
	total = atol(argv[2]);
	if (argc > 3)
		prefix = argv[3];
	if (argc > 4)
		client = argv[4];
	since = (long long)time(NULL);
	if ((dirfd_ = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		perror(argv[1]);
		return 1;
	}
	for (i = 0; i < NTHREAD; i++)
		pthread_create(&t[i], NULL, fill, (void *)(intptr_t)i);
	for (i = 0; i < NTHREAD; i++)
		pthread_join(t[i], NULL);
	return failed ? 1 : 0;
}
