/* SPDX-License-Identifier: MIT */
/* The listening socket, bound before Abyss gets it. */
#ifndef LISTEN_H
#define LISTEN_H

#include <sys/socket.h>

#include <stddef.h>

/*
 * Binds a TCP socket to ADDR (numeric IPv4/IPv6 or a host name) and PORT
 * (0 = any free port).  Does not listen(): Abyss does.  Returns the fd and
 * writes the bound "http://ADDR:PORT/" into URL (SIZE bytes), or -1 with a
 * message in ERR (ERRSIZE bytes).
 */
int	listen_bind(const char *addr, int port, char *url, size_t size,
	    char *err, size_t errsize);

/* Writes the socket address SS as "ip:port" or "[ip6]:port" ("?" for
 * another family) into BUF (SIZE bytes). */
void	listen_addr_name(const struct sockaddr_storage *ss, char *buf,
	    size_t size);

#endif /* LISTEN_H */
