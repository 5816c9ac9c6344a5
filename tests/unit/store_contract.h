/* SPDX-License-Identifier: MIT */
/*
 * The store contract: assertions on lockstore.h calls, and the tests every
 * backend passes, run by each backend's program through a fixture.
 */
#ifndef STORE_CONTRACT_H
#define STORE_CONTRACT_H

#include "lockstore.h"
#include "tu.h"

/* How the contract tests reach one backend. */
struct contract_fixture {
	/* A fresh, empty, durable store; fails the test fatally if it
	 * cannot open one. */
	struct lockstore	*(*open)(void);
	/* Another store on the one opened last, as a second lockd host
	 * sharing it would open it. */
	struct lockstore	*(*open_again)(void);
	/*
	 * Checks of what the backend itself recorded in the store opened
	 * last, NULL where it has nothing more to show than lockstore.h:
	 * HOLDER's holding of RESOURCE, RESOURCE's lock gone, no lock left.
	 */
	void	(*holding)(const char *resource, const char *holder);
	void	(*released)(const char *resource);
	void	(*empty)(void);
};

/*
 * Runs the contract tests against FX, followed by the program's own tests
 * OWN, as the one CUnit suite SUITE; returns what tu_run() returns.
 */
int	 contract_run(const char *suite, const struct contract_fixture *fx,
	    const struct tu_test *own);

/*
 * Runs lock (UNLOCK 0) or unlock of RESOURCE by CLIENT and fills ERR.  An
 * outcome other than WANT or ALSO fails the check at FILE:LINE.  Returns
 * the outcome.
 */
enum lockstore_status	 call(const char *file, int line,
			    struct lockstore *s, int unlock,
			    const char *resource, const char *client,
			    enum lockstore_status want,
			    enum lockstore_status also,
			    struct lockstore_error *err);

/* Checks the outcome and, unless MSG is NULL, the exact message. */
void	 expect(const char *file, int line, struct lockstore *s, int unlock,
	    const char *resource, const char *client,
	    enum lockstore_status want, const char *msg);

/* Checks a failure of kind WANT whose message starts with PREFIX. */
void	 expect_failure(const char *file, int line, struct lockstore *s,
	    int unlock, const char *resource, const char *client,
	    enum lockstore_status want, const char *prefix);

#define LOCK(s, r, c, st, msg) \
	expect(__FILE__, __LINE__, (s), 0, (r), (c), (st), (msg))
#define UNLOCK(s, r, c, st, msg) \
	expect(__FILE__, __LINE__, (s), 1, (r), (c), (st), (msg))
#define FAILS(s, u, r, c, st, prefix) \
	expect_failure(__FILE__, __LINE__, (s), (u), (r), (c), (st), (prefix))
#define INVALID(s, u, r, c) \
	FAILS((s), (u), (r), (c), LOCKSTORE_INVALID_STATE, \
	    "Invalid lock state: ")
/* Fails with status A or B. */
#define FAILS_AS_ONE_OF(s, u, r, c, a, b) \
	do {								\
		struct lockstore_error e_;				\
		call(__FILE__, __LINE__, (s), (u), (r), (c), (a), (b),	\
		    &e_);						\
	} while (0)

/* What history_fn() saw of a lockstore_history() walk. */
struct last_entry {
	int				n;	/* entries */
	struct lockstore_history_entry	first;	/* the newest */
};

/* A lockstore_history() callback; ARG is a zeroed struct last_entry. */
int	 history_fn(const struct lockstore_history_entry *he, void *arg);

/* The message of a refused lock of a resource HOLDER holds; caller frees. */
char	*held_msg(const char *holder);

#endif /* STORE_CONTRACT_H */
