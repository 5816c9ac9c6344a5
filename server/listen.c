/* SPDX-License-Identifier: MIT */
/*
 * The listening socket.  lockd binds it itself, so that the default is
 * loopback (Abyss alone binds every interface) and port 0 can be learnt.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"

/* The address SS as "ip:port", "[ip6]:port" or "?". */
void
listen_addr_name(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const struct sockaddr_in	*s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*s6 = (const struct sockaddr_in6 *)ss;
	char				 ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET &&
	    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, size, "%s:%u", ip,
		    (unsigned)ntohs(s4->sin_port));
	else if (ss->ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, size, "[%s]:%u", ip,
		    (unsigned)ntohs(s6->sin6_port));
	else
		snprintf(buf, size, "?");
}

static int
url_of(int fd, char *url, size_t size)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);
	char			name[INET6_ADDRSTRLEN + 16];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	listen_addr_name(&ss, name, sizeof(name));
	snprintf(url, size, "http://%s/", name);
	return 0;
}

/* Binds ADDR:PORT; see listen.h. */
int
listen_bind(const char *addr, int port, char *url, size_t size, char *err,
    size_t errsize)
{
	struct addrinfo	 hints, *res = NULL;
	char		 service[16];
	int		 fd, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	if ((rc = getaddrinfo(addr, service, &hints, &res)) != 0) {
		snprintf(err, errsize, "cannot resolve listen address '%s': %s",
		    addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
	    res->ai_protocol);
	if (fd == -1) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    url_of(fd, url, size) == -1) {
		snprintf(err, errsize, "cannot listen on %s port %d: %s", addr,
		    port, strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}
