/* SPDX-License-Identifier: MIT */
/*
 * The store contract: assertions on lockstore.h calls, and the tests every
 * backend passes, run by each backend's program through a fixture.
 */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockstore.h"
#include "store_contract.h"
#include "tu.h"

static const struct contract_fixture	*fx;

/* Runs lock (UNLOCK 0) or unlock; checks the outcome as told by LINE. */
enum lockstore_status
call(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    enum lockstore_status also, struct lockstore_error *err)
{
	enum lockstore_status	st;
	char			got[160];

	memset(err, 0, sizeof(*err));
	st = unlock ? lockstore_unlock(s, resource, client, err) :
	    lockstore_lock(s, resource, client, err);
	if (st == want || st == also) {
		CU_PASS("expected outcome");
		if (st != LOCKSTORE_OK)
			tu_check_int(err->status, st, 0, line, file,
			    "err.status");
		return st;
	}
	if (st == LOCKSTORE_OK)
		snprintf(got, sizeof(got), "ok");
	else
		snprintf(got, sizeof(got), "%s (%.120s)",
		    lockstore_status_name(st), err->msg);
	tu_check_str(got, lockstore_status_name(want), 0, line, file,
	    unlock ? "unlock" : "lock");
	return st;
}

/* Checks the outcome and, unless MSG is NULL, the exact message. */
void
expect(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    const char *msg)
{
	struct lockstore_error	err;

	if (call(file, line, s, unlock, resource, client, want, want, &err) ==
	    want && msg != NULL)
		tu_check_str(err.msg, msg, 0, line, file, "message");
}

/* Checks a failure of kind WANT whose message starts with PREFIX. */
void
expect_failure(const char *file, int line, struct lockstore *s, int unlock,
    const char *resource, const char *client, enum lockstore_status want,
    const char *prefix)
{
	struct lockstore_error	err;
	size_t			n = strlen(prefix);

	if (call(file, line, s, unlock, resource, client, want, want, &err) !=
	    want)
		return;
	if (strncmp(err.msg, prefix, n) != 0 || strlen(err.msg) == n)
		tu_check_str(err.msg, prefix, 0, line, file,
		    "message prefix");
	if (want == LOCKSTORE_STORAGE)
		tu_check_int(err.sys_errno != 0, 1, 0, line, file,
		    "err.sys_errno != 0");
}

/* The message of a refused lock of a resource HOLDER holds. */
char *
held_msg(const char *holder)
{
	char	*m;

	if (asprintf(&m, "Resource already locked by '%s'", holder) == -1)
		abort();
	return m;
}

/* --- the tests --------------------------------------------------------- */

static void
seed_scenario_gives_documented_outcomes_and_messages(void)
{
	struct lockstore	*s;

	s = fx->open();
	LOCK(s, "vm1", "host1", LOCKSTORE_OK, NULL);
	LOCK(s, "vm1", "host2", LOCKSTORE_HELD,
	    "Resource already locked by 'host1'");
	/* The holder itself is refused too, as gocept.lockd did. */
	LOCK(s, "vm1", "host1", LOCKSTORE_HELD,
	    "Resource already locked by 'host1'");
	UNLOCK(s, "vm1", "host2", LOCKSTORE_NOT_OWNER,
	    "Resource locked by 'host1' cannot be unlocked by 'host2'");
	if (fx->holding != NULL)
		fx->holding("vm1", "host1");
	UNLOCK(s, "vm1", "host1", LOCKSTORE_OK, NULL);
	if (fx->released != NULL)
		fx->released("vm1");
	UNLOCK(s, "vm1", "host1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	UNLOCK(s, "vm1", "host2", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	UNLOCK(s, "never", "host2", LOCKSTORE_NOT_LOCKED,
	    "Resource not locked");
	LOCK(s, "vm1", "host2", LOCKSTORE_OK, NULL);
	LOCK(s, "vm2", "host1", LOCKSTORE_OK, NULL);
	UNLOCK(s, "vm1", "host2", LOCKSTORE_OK, NULL);
	UNLOCK(s, "vm2", "host1", LOCKSTORE_OK, NULL);
	if (fx->empty != NULL)
		fx->empty();
	lockstore_close(s);
}

static const struct tu_test contract_tests[] = {
	{ "seed_scenario_gives_documented_outcomes_and_messages",
	    seed_scenario_gives_documented_outcomes_and_messages },
	{ NULL, NULL }
};

/* Runs the contract tests against FIXTURE, then OWN, as one suite. */
int
contract_run(const char *suite, const struct contract_fixture *fixture,
    const struct tu_test *own)
{
	struct tu_test	*all;
	size_t		 n = 0, m = 0;
	int		 rc;

	while (contract_tests[n].name != NULL)
		n++;
	while (own[m].name != NULL)
		m++;
	if ((all = calloc(n + m + 1, sizeof(*all))) == NULL) {
		perror(suite);
		return 2;
	}
	memcpy(all, contract_tests, n * sizeof(*all));
	memcpy(all + n, own, m * sizeof(*all));
	fx = fixture;
	rc = tu_run(suite, all);
	free(all);
	return rc;
}
