/* SPDX-License-Identifier: MIT */
/*
 * lockd's own Abyss channel switch and channels.  Abyss writes a response
 * with one send() per header line (eight for an XML-RPC reply): eight
 * trips through the TCP stack, and with Nagle's algorithm a reply split
 * across segments can wait for the client's delayed ACK.  These channels
 * gather what Abyss writes and send it when the response is complete, in
 * one segment.  They also accept with close-on-exec, need no pipe per
 * connection, tell lockd the socket of a request, hand Abyss one request
 * at a time (frame.c: Abyss 1.33 would not run a pipelined one), and give
 * up on a peer that does not read its reply within the timeout.
 *
 * Abyss 1.33 has no public interface for this: ChanSwitchCreate() and
 * ChannelCreate() are exported, and the method tables below mirror its
 * internal chanswitch.h and channel.h.  A security update could change
 * that layout without changing the version, so chan_switch_create()
 * proves it at startup (self_test) by driving probe objects through
 * Abyss's own exported dispatchers, and falls back to Abyss's own switch,
 * logged once, when anything differs.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/abyss.h>

#include "chan.h"
#include "frame.h"
#include "listen.h"
#include "log.h"
#include "procfd.h"

/*
 * Abyss 1.33's internal interface.  Its "bool" is the public header's
 * abyss_bool (an int); TIME_INFINITE means no timeout.  Every TChanSwitch
 * and TChannel starts with a signature and the implementation pointer
 * given at creation, followed by a copy of the method table.
 */
#define ABYSS_TIME_INFINITE	0xffffffffu

struct abyss_object {
	unsigned int	 signature;
	void		*impl;
};

struct abyss_channel_vtbl {
	void	(*destroy)(TChannel *);
	void	(*write)(TChannel *, const unsigned char *, uint32_t,
		    abyss_bool *);
	void	(*read)(TChannel *, unsigned char *, uint32_t, uint32_t *,
		    abyss_bool *);
	void	(*wait)(TChannel *, abyss_bool, abyss_bool, uint32_t,
		    abyss_bool *, abyss_bool *, abyss_bool *);
	void	(*interrupt)(TChannel *);
	void	(*format_peer)(TChannel *, const char **);
};

struct abyss_switch_vtbl {
	void	(*destroy)(TChanSwitch *);
	void	(*listen)(TChanSwitch *, uint32_t, const char **);
	void	(*accept)(TChanSwitch *, TChannel **, void **,
		    const char **);
	void	(*interrupt)(TChanSwitch *);
};

void	ChannelCreate(const struct abyss_channel_vtbl *, void *,
	    TChannel **);
void	ChanSwitchCreate(const struct abyss_switch_vtbl *, void *,
	    TChanSwitch **);
/* The dispatchers, exported but not in abyss.h: the self-test's probes. */
void	ChannelWrite(TChannel *, const unsigned char *, uint32_t,
	    abyss_bool *);
void	ChannelRead(TChannel *, unsigned char *, uint32_t, uint32_t *,
	    abyss_bool *);
void	ChannelWait(TChannel *, abyss_bool, abyss_bool, uint32_t,
	    abyss_bool *, abyss_bool *, abyss_bool *);
void	ChannelInterrupt(TChannel *);
void	ChannelFormatPeerInfo(TChannel *, const char **);
void	ChanSwitchListen(TChanSwitch *, uint32_t, const char **);
void	ChanSwitchAccept(TChanSwitch *, TChannel **, void **,
	    const char **);
void	ChanSwitchInterrupt(TChanSwitch *);

/* What fits in one reply: status line, headers and a small body. */
#define CHAN_OUT_SIZE	4096
/* What one recv() takes in. */
#define CHAN_IN_SIZE	8192
/* Room for the Content-Length line before a decoded chunked body. */
#define CHAN_PEND_HEAD	48
/* How often a send waiting for the peer looks whether Abyss stops. */
#define SEND_SLICE_MS	100

struct chan {
	int			 fd;
	int			 failed;	/* a send failed */
	volatile int		 interrupted;	/* Abyss is stopping */
	size_t			 outlen;
	size_t			 inpos, inlen;	/* read, not yet Abyss's */
	struct frame		 frame;		/* of the request read */
	char			*pend;		/* a decoded chunked body */
	size_t			 pendpos, pendlen, pendcap;
	char			 peer[64];	/* for Abyss's log line */
	char			 out[CHAN_OUT_SIZE];
	char			 in[CHAN_IN_SIZE];
};

/*
 * The channel information Abyss hands to request handlers and frees with
 * free() when the connection ends.  It starts with what Abyss's own
 * channels give, so rpc.c reads either the same way.
 */
struct chan_info {
	struct abyss_unix_chaninfo	 unix_info;
	struct chan			*chan;
};

struct chan_switch {
	int	fd;		/* the listening socket, not ours */
	int	pipe[2];	/* interrupts accept() */
};

static int			 own;
static int64_t			 send_timeout_ms;	/* per reply */
static size_t			 max_body;	/* max-request-size */
static struct sockaddr_storage	 listener;	/* for procfd_find */
static socklen_t		 listener_len;	/* 0: unknown */

static void *
impl_of(const void *obj)
{
	return ((const struct abyss_object *)obj)->impl;
}

/* The monotonic clock in milliseconds. */
static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until C's socket takes more (EVENTS POLLOUT) or has more
 * (POLLIN), at most until DEADLINE (now_ms()); 0, or -1 when the deadline
 * passed or the server is stopping.  Polls in slices, so that an
 * interrupt is noticed within one.
 */
static int
wait_ready(struct chan *c, short events, int64_t deadline)
{
	struct pollfd	pfd;
	int64_t		left;

	while (!c->interrupted && (left = deadline - now_ms()) > 0) {
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		if (poll(&pfd, 1, left > SEND_SLICE_MS ? SEND_SLICE_MS :
		    (int)left) > 0)
			return 0;
	}
	return -1;
}

/*
 * Sends LEN bytes of BUF and, first, whatever C holds, within the send
 * timeout (a peer that does not read is given up on: the connection then
 * fails, and its slot is freed); FLAGS MSG_DONTWAIT: only what the
 * socket takes now.
 */
static void
send_all(struct chan *c, const char *buf, size_t len, int flags)
{
	struct msghdr	 msg;
	struct iovec	 iov[2];
	int64_t		 deadline = now_ms() + send_timeout_ms;
	ssize_t		 n;
	size_t		 done;
	int		 i;

	iov[0].iov_base = c->out;
	iov[0].iov_len = c->outlen;
	iov[1].iov_base = (void *)buf;
	iov[1].iov_len = len;
	c->outlen = 0;
	i = iov[0].iov_len == 0 ? 1 : 0;
	while (!c->failed && i < 2) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov[i];
		msg.msg_iovlen = (size_t)(2 - i);
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    !(flags & MSG_DONTWAIT) &&
		    wait_ready(c, POLLOUT, deadline) == 0)
			continue;
		if (n <= 0) {
			c->failed = 1;
			break;
		}
		for (done = (size_t)n; i < 2 && done >= iov[i].iov_len; i++)
			done -= iov[i].iov_len;
		if (i < 2) {
			iov[i].iov_base = (char *)iov[i].iov_base + done;
			iov[i].iov_len -= done;
		}
	}
}

static void
flush(struct chan *c, int flags)
{
	if (c->outlen > 0)
		send_all(c, NULL, 0, flags);
}

/*
 * Destroys the channel, after the connection's thread ended.  Anything
 * still held is sent without blocking: this runs in Abyss's accept loop.
 */
static void
chan_destroy(TChannel *ch)
{
	struct chan	*c = impl_of(ch);

	flush(c, MSG_DONTWAIT);
	close(c->fd);
	free(c->pend);
	free(c);
}

static const char	date_utc[] = " UTC\r\n";

/*
 * Abyss writes: held until the response is complete (see
 * chan_format_peer) or does not fit; then everything goes in one call.
 */
static void
chan_write(TChannel *ch, const unsigned char *buf, uint32_t len,
    abyss_bool *failed)
{
	struct chan	*c = impl_of(ch);

	if (!c->failed) {
		if (c->outlen + len <= sizeof(c->out)) {
			memcpy(c->out + c->outlen, buf, len);
			/* Abyss's Date line ends in "UTC"; HTTP wants "GMT". */
			if (len > sizeof(date_utc) + 6 &&
			    memcmp(buf, "Date: ", 6) == 0 &&
			    memcmp(buf + len - (sizeof(date_utc) - 1),
			    date_utc, sizeof(date_utc) - 1) == 0)
				memcpy(c->out + c->outlen + len -
				    (sizeof(date_utc) - 1) + 1, "GMT", 3);
			c->outlen += len;
		} else
			send_all(c, (const char *)buf, len, 0);
	}
	*failed = c->failed;
}

/*
 * Answers the request with STATUS (the status line's end) and TEXT, and
 * ends the connection: what Abyss cannot be left to answer.
 */
static void
send_error(struct chan *c, const char *status, const char *text)
{
	char			date[64], resp[512];
	struct tm		tm;
	time_t			now = time(NULL);
	int			n;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		date[0] = '\0';
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 %s\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\nDate: %s\r\n\r\n%s",
	    status, strlen(text), date, text);
	if (n > 0 && (size_t)n < sizeof(resp))
		send_all(c, resp, (size_t)n, 0);
	c->failed = 1;
}

/* Adds LEN bytes of DATA to the decoded body; -1: over max-request-size. */
static int
pend_add(struct chan *c, const char *data, size_t len)
{
	size_t	cap;
	char	*p;

	if (len > max_body - (c->pendlen - CHAN_PEND_HEAD))
		return -1;
	if (c->pendlen + len > c->pendcap) {
		for (cap = c->pendcap * 2; cap < c->pendlen + len; cap *= 2)
			;
		if (cap > CHAN_PEND_HEAD + max_body)
			cap = CHAN_PEND_HEAD + max_body;
		if ((p = realloc(c->pend, cap)) == NULL)
			return -1;
		c->pend = p;
		c->pendcap = cap;
	}
	memcpy(c->pend + c->pendlen, data, len);
	c->pendlen += len;
	return 0;
}

/*
 * Reads and decodes a chunked body, within the timeout, into C->pend
 * behind the Content-Length line and blank line that end the head for
 * Abyss.  0, or -1 after answering the client (400, 408 or 413).
 */
static int
read_chunked(struct chan *c)
{
	int64_t		 deadline = now_ms() + send_timeout_ms;
	const char	*data;
	size_t		 dlen;
	ssize_t		 n;
	char		 cl[CHAN_PEND_HEAD];
	int		 len;

	free(c->pend);
	if ((c->pend = malloc(CHAN_PEND_HEAD + 4096)) == NULL)
		return -1;
	c->pendcap = CHAN_PEND_HEAD + 4096;
	c->pendpos = c->pendlen = CHAN_PEND_HEAD;
	while (c->frame.cstate != FRAME_CHUNK_DONE) {
		if (c->inpos == c->inlen) {
			if (wait_ready(c, POLLIN, deadline) == -1) {
				send_error(c, "408 Request Timeout", "the "
				    "chunked body did not come in time\n");
				return -1;
			}
			c->inpos = c->inlen = 0;
			while ((n = recv(c->fd, c->in, sizeof(c->in), 0)) ==
			    -1 && errno == EINTR)
				;
			if (n <= 0)
				return -1;
			c->inlen = (size_t)n;
		}
		c->inpos += frame_dechunk(&c->frame, c->in + c->inpos,
		    c->inlen - c->inpos, &data, &dlen);
		if (c->frame.cstate == FRAME_CHUNK_BAD) {
			send_error(c, "400 Bad Request", "malformed chunked "
			    "body\n");
			return -1;
		}
		if (dlen > 0 && pend_add(c, data, dlen) == -1) {
			send_error(c, "413 Content Too Large", "the request "
			    "is larger than max-request-size\n");
			return -1;
		}
	}
	len = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n",
	    c->pendlen - CHAN_PEND_HEAD);
	c->pendpos = CHAN_PEND_HEAD - (size_t)len;
	memcpy(c->pend + c->pendpos, cl, (size_t)len);
	return 0;
}

/*
 * Reads what is there, up to the end of the request under way (frame.c):
 * a pipelined request stays here until Abyss is done with the one before.
 * A response being held goes first.  Once a reply could not be sent,
 * nothing more is read: the connection ends.  Every end, an error too, is
 * reported as the end of input, never as a failed read: Abyss 1.33's
 * ConnRead() formats a message for a failed read and leaks it, once per
 * connection that a stalled or broken peer ends.
 */
static void
chan_read(TChannel *ch, unsigned char *buf, uint32_t size, uint32_t *got,
    abyss_bool *failed)
{
	struct chan	*c = impl_of(ch);
	ssize_t		 n = -1;
	size_t		 take;

	flush(c, 0);
	*failed = 0;
	*got = 0;
	/* No room left in Abyss's buffer (a head too long): as at the end. */
	while (size > 0) {
		if (c->pendpos < c->pendlen) {
			take = c->pendlen - c->pendpos < size ?
			    c->pendlen - c->pendpos : size;
			memcpy(buf, c->pend + c->pendpos, take);
			c->pendpos += take;
			*got = (uint32_t)take;
			return;
		}
		if (c->frame.chunked) {
			if (read_chunked(c) == -1)
				return;
			continue;
		}
		if (c->inpos == c->inlen) {
			c->inpos = c->inlen = 0;
			while (!c->failed && (n = recv(c->fd, c->in,
			    sizeof(c->in), 0)) == -1 && errno == EINTR)
				;
			if (n <= 0)
				return;
			c->inlen = (size_t)n;
		}
		take = c->inlen - c->inpos < size ? c->inlen - c->inpos : size;
		take = frame_take(&c->frame, c->in + c->inpos, take);
		if (c->frame.bad) {
			send_error(c, "400 Bad Request", "the length of the "
			    "request's body is ambiguous\n");
			return;
		}
		/* A chunked body: the head's blank line waits for it. */
		*got = (uint32_t)(take - (c->frame.chunked ?
		    c->frame.withhold : 0));
		memcpy(buf, c->in + c->inpos, *got);
		c->inpos += take;
		if (*got > 0 || take == 0)
			return;
	}
}

/*
 * Waits until the client sent something (or the socket takes more, or
 * both), at most MS milliseconds.  Before waiting for the client, the
 * response it waits for is sent; if it could not be, the wait fails.
 */
static void
chan_wait(TChannel *ch, abyss_bool rd, abyss_bool wr, uint32_t ms,
    abyss_bool *ready_rd, abyss_bool *ready_wr, abyss_bool *failed)
{
	struct chan	*c = impl_of(ch);
	struct pollfd	 pfd;
	int		 rc, f = 0, r = 0, w = 0;

	flush(c, 0);
	/* A reply that could not be sent ends the connection: as the end of
	 * input (chan_read), not a failed wait, whose message Abyss leaks. */
	if (c->failed)
		r = rd;
	else if (rd && (c->inpos < c->inlen || c->pendpos < c->pendlen ||
	    c->frame.chunked) && !c->interrupted)
		r = 1;	/* a pipelined request, a chunked body */
	else if (!c->interrupted) {
		pfd.fd = c->fd;
		pfd.events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
		pfd.revents = 0;
		rc = poll(&pfd, 1, ms == ABYSS_TIME_INFINITE ? -1 :
		    ms > INT32_MAX ? INT32_MAX : (int)ms);
		if (rc == -1)
			f = errno != EINTR;
		else if (!c->interrupted) {
			r = (pfd.revents & POLLIN) != 0;
			w = (pfd.revents & POLLOUT) != 0;
		}
	}
	if (failed != NULL)
		*failed = f;
	if (ready_rd != NULL)
		*ready_rd = r;
	if (ready_wr != NULL)
		*ready_wr = w;
}

/*
 * Stops any wait of the connection, now and later: Abyss calls it for
 * every connection when the server stops.  Shutting the reading side
 * down wakes a poll() at once and still lets a reply being written out.
 */
static void
chan_interrupt(TChannel *ch)
{
	struct chan	*c = impl_of(ch);

	c->interrupted = 1;
	shutdown(c->fd, SHUT_RD);
}

/*
 * The peer for Abyss's access-log line.  Abyss asks for it once per
 * request, after the response is complete (SessionLog, called whether or
 * not a log file is configured), so this is where the response leaves.
 * There is no cleaner hook: Abyss calls no channel method when a response
 * ends -- the handler returns before Abyss writes its headers and body,
 * ResponseWriteEnd() only writes, and the next read or wait comes only if
 * the connection is kept alive.  Flushing here sends every reply at once,
 * also the last of a connection; chan_read, chan_wait and chan_destroy
 * flush too, in case a later Abyss stops logging.
 */
static void
chan_format_peer(TChannel *ch, const char **out)
{
	struct chan	*c = impl_of(ch);

	flush(c, 0);
	*out = strdup(c->peer);
}

static const struct abyss_channel_vtbl chan_vtbl = {
	chan_destroy,
	chan_write,
	chan_read,
	chan_wait,
	chan_interrupt,
	chan_format_peer,
};

/* Makes the channel and its information for the accepted socket FD. */
static int
make_channel(int fd, const struct sockaddr_storage *ss, TChannel **chp,
    void **infop)
{
	struct chan_info	*info;
	struct chan		*c;
	TChannel		*ch = NULL;
	int			 one = 1;

	/* A reply is one send(); the rare second one must not wait for an
	 * ACK the client delays. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	if ((info = calloc(1, sizeof(*info))) == NULL) {
		free(c);
		return -1;
	}
	c->fd = fd;
	listen_addr_name(ss, c->peer, sizeof(c->peer));
	/* What Abyss's own channels record: the first bytes of the address. */
	info->unix_info.peerAddrLen = sizeof(info->unix_info.peerAddr);
	memcpy(&info->unix_info.peerAddr, ss, sizeof(info->unix_info.peerAddr));
	info->chan = c;
	ChannelCreate(&chan_vtbl, c, &ch);
	if (ch == NULL) {
		free(info);
		free(c);
		return -1;
	}
	*chp = ch;
	*infop = info;
	return 0;
}

static void
sw_destroy(TChanSwitch *sw)
{
	struct chan_switch	*s = impl_of(sw);

	close(s->pipe[0]);
	close(s->pipe[1]);
	free(s);
}

static void
sw_listen(TChanSwitch *sw, uint32_t backlog, const char **error)
{
	struct chan_switch	*s = impl_of(sw);

	*error = NULL;
	if (listen(s->fd, backlog > INT32_MAX ? INT32_MAX : (int)backlog) ==
	    -1)
		*error = strdup(strerror(errno));
}

/*
 * Waits for the next connection.  No channel and no error: interrupted
 * (Abyss then looks whether it is to stop).  A connection the client
 * gave up on before it was taken is skipped, not an error; running out
 * of descriptors or memory is one, as with Abyss's own switch, and ends
 * the server (main.c caps the connections so that it does not happen).
 */
static void
sw_accept(TChanSwitch *sw, TChannel **chp, void **infop, const char **error)
{
	struct chan_switch	*s = impl_of(sw);
	struct sockaddr_storage	 ss;
	struct pollfd		 pfd[2];
	socklen_t		 len;
	char			 msg[128];
	int			 fd;

	*chp = NULL;
	*infop = NULL;
	*error = NULL;
	for (;;) {
		pfd[0].fd = s->fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = s->pipe[0];
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				return;
			snprintf(msg, sizeof(msg), "poll: %s", strerror(errno));
			*error = strdup(msg);
			return;
		}
		if (pfd[1].revents != 0)
			return;
		len = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		fd = accept4(s->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EINTR:
				return;
			case EAGAIN:
			case ECONNABORTED:
			case EPROTO:
			case EPERM:
			case ENETDOWN:
			case ENOPROTOOPT:
			case EHOSTDOWN:
			case ENONET:
			case EHOSTUNREACH:
			case EOPNOTSUPP:
			case ENETUNREACH:
				continue;
			default:
				snprintf(msg, sizeof(msg), "accept: %s",
				    strerror(errno));
				*error = strdup(msg);
				return;
			}
		}
		if (make_channel(fd, &ss, chp, infop) == -1) {
			close(fd);
			*error = strdup("out of memory for a connection");
		}
		return;
	}
}

/* Wakes the accept loop; async-signal-safe (a signal handler stops the
 * server through ServerTerminate). */
static void
sw_interrupt(TChanSwitch *sw)
{
	struct chan_switch	*s = impl_of(sw);
	char			 b = 0;
	ssize_t			 n;

	n = write(s->pipe[1], &b, 1);
	(void)n;	/* full: a wake-up is pending anyway */
}

static const struct abyss_switch_vtbl switch_vtbl = {
	sw_destroy,
	sw_listen,
	sw_accept,
	sw_interrupt,
};

/*
 * The self-test's probes: each records which slot Abyss called and
 * touches nothing else, so that a layout that differs is noticed, not
 * acted on.  Spare slots catch a longer table.
 */
#define PROBE_SPARE	8

static volatile int	probe_slot;
static int		probe_impl;

static void probe_c0(TChannel *c) { probe_slot = 0; }
static void probe_c1(TChannel *c, const unsigned char *b, uint32_t n,
    abyss_bool *f) { probe_slot = 1; }
static void probe_c2(TChannel *c, unsigned char *b, uint32_t n, uint32_t *g,
    abyss_bool *f) { probe_slot = 2; }
static void probe_c3(TChannel *c, abyss_bool r, abyss_bool w, uint32_t ms,
    abyss_bool *rr, abyss_bool *rw, abyss_bool *f) { probe_slot = 3; }
static void probe_c4(TChannel *c) { probe_slot = 4; }
static void probe_c5(TChannel *c, const char **o) { probe_slot = 5; }
static void probe_s0(TChanSwitch *s) { probe_slot = 10; }
static void probe_s1(TChanSwitch *s, uint32_t b, const char **e)
    { probe_slot = 11; }
static void probe_s2(TChanSwitch *s, TChannel **c, void **i, const char **e)
    { probe_slot = 12; }
static void probe_s3(TChanSwitch *s) { probe_slot = 13; }
static void probe_spare(void) { probe_slot = 99; }

static const struct {
	struct abyss_channel_vtbl	 vtbl;
	void				(*spare[PROBE_SPARE])(void);
} probe_chan = { { probe_c0, probe_c1, probe_c2, probe_c3, probe_c4,
    probe_c5 }, { probe_spare, probe_spare, probe_spare, probe_spare,
    probe_spare, probe_spare, probe_spare, probe_spare } };

static const struct {
	struct abyss_switch_vtbl	 vtbl;
	void				(*spare[PROBE_SPARE])(void);
} probe_switch = { { probe_s0, probe_s1, probe_s2, probe_s3 },
    { probe_spare, probe_spare, probe_spare, probe_spare, probe_spare,
    probe_spare, probe_spare, probe_spare } };

/* Whether the last dispatcher called reached slot WANT. */
static int
probe_hit(int want)
{
	int	got = probe_slot;

	probe_slot = -1;
	return got == want;
}

/*
 * Proves that this Abyss keeps channels and switches as chan.c assumes:
 * the implementation pointer where impl_of() reads it, and each exported
 * dispatcher calling the slot of the table that chan.c fills.  NULL, or
 * what differs.
 */
static const char *
self_test(void)
{
	TChannel	*ch = NULL;
	TChanSwitch	*sw = NULL;
	const char	*str = NULL;
	unsigned char	 b = 0;
	uint32_t	 got = 0;
	abyss_bool	 f = 0, r = 0, w = 0;
	void		*info = NULL;
	int		 ok;

	if (xmlrpc_version_major != 1 || xmlrpc_version_minor != 33)
		return "not xmlrpc-c 1.33";
	ChannelCreate(&probe_chan.vtbl, &probe_impl, &ch);
	if (ch == NULL)
		return "ChannelCreate failed";
	ok = impl_of(ch) == &probe_impl;
	probe_slot = -1;
	if (ok) {
		ChannelWrite(ch, &b, 0, &f);
		ok = probe_hit(1);
		ChannelRead(ch, &b, 0, &got, &f);
		ok = ok && probe_hit(2);
		ChannelWait(ch, 1, 0, 0, &r, &w, &f);
		ok = ok && probe_hit(3);
		ChannelInterrupt(ch);
		ok = ok && probe_hit(4);
		ChannelFormatPeerInfo(ch, &str);
		ok = ok && probe_hit(5);
	}
	ChannelDestroy(ch);
	if (!ok || !probe_hit(0))
		return "the channel layout differs";
	ChanSwitchCreate(&probe_switch.vtbl, &probe_impl, &sw);
	if (sw == NULL)
		return "ChanSwitchCreate failed";
	ok = impl_of(sw) == &probe_impl;
	probe_slot = -1;
	if (ok) {
		ChanSwitchListen(sw, 1, &str);
		ok = probe_hit(11);
		ChanSwitchAccept(sw, &ch, &info, &str);
		ok = ok && probe_hit(12);
		ChanSwitchInterrupt(sw);
		ok = ok && probe_hit(13);
	}
	ChanSwitchDestroy(sw);
	if (!ok || !probe_hit(10))
		return "the channel switch layout differs";
	return NULL;
}

/* Makes the channel switch over FD; see chan.h. */
int
chan_switch_create(int fd, unsigned int timeout, size_t max_request,
    TChanSwitch **sw, const char **error)
{
	struct chan_switch	*s;
	const char		*why, *env;
	char			 msg[128];

	*sw = NULL;
	*error = NULL;
	own = 0;
	send_timeout_ms = (int64_t)timeout * 1000;
	max_body = max_request;
	listener_len = sizeof(listener);
	if (getsockname(fd, (struct sockaddr *)&listener, &listener_len) ==
	    -1 || listener_len > sizeof(listener))
		listener_len = 0;
	/* For benchmarks and tests: Abyss's own reply path (lockd.8). */
	if ((env = getenv("LOCKD_CHANNELS")) != NULL &&
	    strcmp(env, "abyss") == 0)
		why = "LOCKD_CHANNELS=abyss";
	else
		why = self_test();
	if (why != NULL) {
		log_info("using Abyss's own connections (%s): one send() per "
		    "header line", why);
		ChanSwitchUnixCreateFd(fd, sw, error);
		return *error == NULL ? 0 : -1;
	}
	if ((s = malloc(sizeof(*s))) == NULL) {
		*error = strdup("out of memory");
		return -1;
	}
	s->fd = fd;
	if (pipe2(s->pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		snprintf(msg, sizeof(msg), "pipe: %s", strerror(errno));
		*error = strdup(msg);
		free(s);
		return -1;
	}
	ChanSwitchCreate(&switch_vtbl, s, sw);
	if (*sw == NULL) {
		close(s->pipe[0]);
		close(s->pipe[1]);
		free(s);
		*error = strdup("out of memory");
		return -1;
	}
	own = 1;
	return 0;
}

/* The connected socket of SESSION, or -1. */
int
chan_session_fd(TSession *session)
{
	struct chan_info	*info = NULL;
	size_t			 plen;

	if (session == NULL)
		return -1;
	SessionGetChannelInfo(session, (void **)&info);
	if (info == NULL)
		return -1;
	/* lockd's own channels know their socket. */
	if (own)
		return info->chan->fd;
	plen = info->unix_info.peerAddrLen < sizeof(info->unix_info.peerAddr) ?
	    info->unix_info.peerAddrLen : sizeof(info->unix_info.peerAddr);
	return procfd_find(&info->unix_info.peerAddr, plen,
	    (const struct sockaddr *)&listener, listener_len);
}
