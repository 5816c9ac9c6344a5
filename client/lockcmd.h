/* SPDX-License-Identifier: MIT */
/*
 * lockcmd's private declarations.  Calls go one way only: lockcmd.c calls
 * command.c, rpc.c and output.c; command.c calls rpc.c, answer.c (through
 * its table) and output.c; rpc.c and answer.c call output.c; output.c none.
 */
#ifndef LOCKCMD_H
#define LOCKCMD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#include "protocol.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION		"unknown"
#endif

/*
 * list asks for pages of LIST_PAGE locks and gives up after LIST_PAGES_MAX
 * pages (a hundred million locks), so a daemon that never says "last page"
 * cannot keep it going forever.
 */
#define LIST_PAGE			1000
#define LIST_PAGES_MAX			100000

/* The most options a command takes (lock: --token, --wait, --ttl). */
#define LOCKCMD_OPTIONS_MAX		3

struct command;
struct request;

/* Prints the answer RESULT to REQ; returns the exit status (list: -1). */
typedef int	answer_fn(xmlrpc_value *, struct request *);

/* What one run asks of the daemon: a command of command.c's table. */
struct request {
	const char		*url;
	const char		*cacert;	/* CA file for https, or NULL */
	unsigned int		 timeout;	/* seconds (list: each page) */
	const struct command	*command;
	const char		*method;	/* the command's, or an
						   option's */
	answer_fn		*print;		/* likewise */
	const char		*resource;	/* the operands given */
	const char		*client;
	char			 token[24];	/* canonical decimal */
	/* Each option of the command: NULL if not given, "" for a flag. */
	const char		*value[LOCKCMD_OPTIONS_MAX];
	double			 number[LOCKCMD_OPTIONS_MAX];
	int			 print_token;	/* lock --token */
	char			*after;		/* list: the page after this */
	char			*next;		/* list: set by answer_page() */
};

/* A connection to the daemon, for one call or the pages of a listing. */
struct session {
	xmlrpc_client		*client;
	xmlrpc_server_info	*server;
	char			 url[4096];	/* without credentials */
	unsigned int		 timeout;	/* seconds, for each call */
};

/* command.c */
/* Parses a command word and what follows it into REQ; -1, or 64. */
int		 command_parse(int, char *[], struct request *);
/* The time-out of REQ's calls in seconds: --timeout plus any wait. */
unsigned int	 command_timeout(const struct request *);
/* Runs REQ's command over the session; returns the exit status. */
int		 command_run(struct session *, struct request *);

/* rpc.c */
/* Opens a session with lockd at URL; -1, or the exit status. */
int		 rpc_open(struct session *, const char *, const char *,
		    unsigned int);
/* Sends a call and parses the answer; -1 with a result, or exit status. */
int		 rpc_exchange(struct session *, xmlrpc_mem_block *,
		    xmlrpc_value **);
/* Closes a session rpc_open() opened. */
void		 rpc_close(struct session *);

/* answer.c: the printers of command.c's table. */
answer_fn	 answer_nil, answer_token, answer_check, answer_acquired,
		 answer_renewed, answer_status, answer_page, answer_history,
		 answer_break;

/* output.c */
/* Prints "lockcmd: MESSAGE" on stderr; %s arguments must be sanitized. */
void		 output_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
/* Reports a usage error, printf-style, with advice; returns 64. */
int		 output_usage(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
/* Reports a usage error "WHAT 'ARG'WHY", ARG sanitized; returns 64. */
int		 output_usage_arg(const char *, const char *, const char *);
/* A copy of LEN bytes of an untrusted string fit for a terminal; freed. */
char		*output_sanitize(const char *, size_t);
/* Prints "lockcmd: PREFIX" followed by the untrusted TEXT, sanitized. */
void		 output_warnx_untrusted(const char *, const char *);
/* Reports an answer of lockd that is not what PROTOCOL promises. */
int		 output_unexpected(const char *);
/* Writes an untrusted name to a stream, escaped onto one line. */
void		 output_put_name(FILE *, const char *, size_t);
/* Flushes standard output; 0, or 70 after saying why it failed. */
int		 output_flush(void);

#endif /* LOCKCMD_H */
