/* SPDX-License-Identifier: MIT */
/* lockcmd's private declarations: the request, exit status, shared calls. */
#ifndef LOCKCMD_H
#define LOCKCMD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION		"unknown"
#endif

/* Exit status, documented in usage_text and in lockcmd.1 (EXIT STATUS). */
#define LOCKCMD_EXIT_OK			0	/* also: status, held; check, true */
#define LOCKCMD_EXIT_HELD		1	/* faults 1, 4, 5; check, false */
#define LOCKCMD_EXIT_NOT_OWNER		2	/* fault 2 */
#define LOCKCMD_EXIT_NOT_LOCKED		3	/* fault 3; status, not held */
#define LOCKCMD_EXIT_REFUSED		4	/* 6, 10, 11, 12, 30, negative */
#define LOCKCMD_EXIT_FAILED		5	/* 20, 21, 50, any other fault */
#define LOCKCMD_EXIT_NOPERM		77	/* EX_NOPERM: 40, 41, 42, 43 */
#define LOCKCMD_EXIT_USAGE		64	/* EX_USAGE */
#define LOCKCMD_EXIT_UNREACHABLE	69	/* EX_UNAVAILABLE */
#define LOCKCMD_EXIT_SOFTWARE		70	/* EX_SOFTWARE */

/*
 * list asks for pages of LIST_PAGE locks and gives up after LIST_PAGES_MAX
 * pages (a hundred million locks), so a daemon that never says "last page"
 * cannot keep it going forever.
 */
#define LIST_PAGE			1000
#define LIST_PAGES_MAX			100000

/*
 * lock --wait and --ttl, renew --ttl: seconds, 0 to LOCKCMD_SECONDS_MAX
 * (30 days, the largest max-ttl of lockd.conf(5); this bound also keeps the
 * call's time-out, wait plus --timeout, within alarm() and libcurl).
 */
#define LOCKCMD_SECONDS_MAX		2592000
/* history --limit: 1 to LOCKCMD_HISTORY_MAX (PROTOCOL, history). */
#define LOCKCMD_HISTORY_MAX		1000

/* What one run asks of the daemon. */
struct request {
	const char	*url;
	const char	*method;	/* "lock", "lock_token", "acquire",
					   "unlock", "check", "renew", "status",
					   "list", "break_lock", "history" */
	const char	*resource;	/* all but list */
	const char	*client;	/* all but status, list, break_lock,
					   history */
	char		 token[24];	/* check, renew: TOKEN, canonical
					   decimal */
	int		 print_token;	/* lock --token (lock_token, acquire) */
	double		 wait;		/* acquire: --wait seconds; -1: none */
	double		 ttl;		/* acquire, renew: --ttl; -1: none */
	const char	*reason;	/* break_lock: --reason */
	int		 limit;		/* history --limit; 0: the daemon's */
	const char	*prefix;	/* list --prefix, or NULL */
	const char	*holder;	/* list --holder, or NULL */
	const char	*cacert;	/* CA file for https, or NULL */
	unsigned int	 timeout;	/* seconds (list: for each page) */
};

/* A connection to the daemon, for one call or the pages of a listing. */
struct session {
	xmlrpc_client		*client;
	xmlrpc_server_info	*server;
	const char		*url;		/* without credentials */
	unsigned int		 timeout;	/* seconds, for each call */
};

/* output.c */
/* Prints "lockcmd: MESSAGE" on stderr; %s arguments must be sanitized. */
void		 output_vwarnx(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));
/* Prints "lockcmd: MESSAGE" on stderr, printf-style. */
void		 output_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
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

/* rpc.c */
/* Serializes a request's call (list: the page after a cursor). */
int		 rpc_make_call(const struct request *, const char *,
		    xmlrpc_mem_block **);
/* Sends a call and parses the answer; -1 with a result, or exit status. */
int		 rpc_exchange(struct session *, xmlrpc_mem_block *,
		    xmlrpc_value **);
/* Sends a request to the daemon; returns the exit status for its answer. */
int		 rpc_call(const struct request *);

/* commands.c */
/* Runs any command but list; returns the exit status. */
int		 commands_run_single(struct session *, const struct request *,
		    xmlrpc_mem_block *);
/* Runs list page by page; returns the exit status. */
int		 commands_run_list(struct session *, const struct request *,
		    xmlrpc_mem_block *);

#endif /* LOCKCMD_H */
