/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the etcd store, through lockstore.h, against a real etcd
 * started by this program: the store contract and the depth of history.
 */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockstore.h"
#include "etcd/lockstore_etcd.h"
#include "store_contract.h"
#include "test_etcd_tu.h"
#include "tu.h"

/* The store contract, each test on a prefix of its own. */
static char	contract_prefix[64];

static struct lockstore *
contract_open(void)
{
	snprintf(contract_prefix, sizeof(contract_prefix), "%s",
	    etu_prefix());
	return etu_open(NULL, contract_prefix, 0);
}

static struct lockstore *
contract_open_again(void)
{
	return etu_open(NULL, contract_prefix, 0);
}

static const struct contract_fixture	etcd_fixture = {
	.open = contract_open,
	.open_again = contract_open_again
};

static void
history_keeps_the_newest_holdings_newest_first(void)
{
	struct lockstore		*s;
	struct lockstore_error		 e;
	struct last_entry		*l;
	char				 client[16];
	int				 i;

	CU_ASSERT_FATAL((l = calloc(1, sizeof(*l))) != NULL);
	s = etu_open(NULL, etu_prefix(), 0);
	for (i = 0; i < 130; i++) {
		snprintf(client, sizeof(client), "c%d", i);
		LOCK(s, "h", client, LOCKSTORE_OK, NULL);
		UNLOCK(s, "h", client, LOCKSTORE_OK, NULL);
	}
	TU_ASSERT_INT_EQ(lockstore_history(s, "h", 1000, history_fn, l, &e),
	    LOCKSTORE_OK);
	CU_ASSERT(l->n >= 100 && l->n <= 125);
	TU_ASSERT_STR_EQ(l->first.holder, "c129");
	TU_ASSERT_INT_EQ(l->first.how, LOCKSTORE_END_UNLOCK);
	CU_ASSERT(l->first.since > 0);
	CU_ASSERT(l->first.until_ms >= l->first.since * 1000);
	/* Another resource has its own. */
	memset(l, 0, sizeof(*l));
	TU_ASSERT_INT_EQ(lockstore_history(s, "h2", 10, history_fn, l, &e),
	    LOCKSTORE_OK);
	TU_ASSERT_INT_EQ(l->n, 0);
	free(l);
	lockstore_close(s);
}

static const struct tu_test tests[] = {
	{ "history_keeps_the_newest_holdings_newest_first",
	    history_keeps_the_newest_holdings_newest_first },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	if ((rc = etu_start()) != 0)
		return rc == ETU_SKIP ? ETU_SKIP : 1;
	rc = contract_run("etcd store", &etcd_fixture, tests);
	etu_stop();
	return rc;
}
