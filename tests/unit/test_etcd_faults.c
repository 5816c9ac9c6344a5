/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the etcd store when the way to etcd fails: answers lost
 * after etcd applied the request (a proxy drops or delays them), dead
 * endpoints, an unreachable cluster.  Against a real etcd started here.
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

static char	proxied[192];	/* "http://proxy,http://etcd" */
static char	proxy_only[96];	/* "http://proxy" */

static void
lost_answer_of_a_lock_is_a_grant_not_held_by_itself(void)
{
	struct lockstore	*s, *direct;
	struct lockstore_error	 e;
	unsigned long long	 t = 0;
	const char		*prefix = etu_prefix();
	int			 before;

	s = etu_open(proxied, prefix, 0);
	direct = etu_open(NULL, prefix, 0);
	before = etu_proxy_changes();
	etu_proxy_mode(ETU_DROP_ANSWER, 1, 0);
	/* Applied through the proxy, answer lost, repeated directly: the
	 * repeat finds the client itself holding, created by the lost
	 * attempt. */
	TU_ASSERT_INT_EQ(lockstore_lock_token(s, "r", "c1", &t, &e),
	    LOCKSTORE_OK);
	/* libcurl itself may have repeated it on a new connection. */
	CU_ASSERT(etu_proxy_changes() >= before + 1);
	CU_ASSERT(t > 0);
	LOCK(direct, "r", "c2", LOCKSTORE_HELD,
	    "Resource already locked by 'c1'");
	/* Without doubt, the holder asking again is refused as ever. */
	LOCK(s, "r", "c1", LOCKSTORE_HELD, "Resource already locked by 'c1'");
	UNLOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	lockstore_close(s);
	lockstore_close(direct);
}

static void
lost_answer_of_a_lock_of_a_held_resource_stays_held(void)
{
	struct lockstore	*s;
	const char		*prefix = etu_prefix();

	s = etu_open(proxied, prefix, 0);
	LOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	etu_proxy_mode(ETU_DROP_ANSWER, 1, 0);
	LOCK(s, "r", "c2", LOCKSTORE_HELD, "Resource already locked by 'c1'");
	lockstore_close(s);
	/* A holding that existed before the attempt is not "ours". */
	s = etu_open(proxied, prefix, 0);
	etu_proxy_mode(ETU_DROP_ANSWER, 1, 0);
	LOCK(s, "r", "c1", LOCKSTORE_HELD, "Resource already locked by 'c1'");
	UNLOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	lockstore_close(s);
}

static void
lost_answer_of_an_unlock_is_a_release(void)
{
	struct lockstore	*s;
	const char		*prefix = etu_prefix();

	s = etu_open(proxied, prefix, 0);
	LOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	etu_proxy_mode(ETU_DROP_ANSWER, 1, 0);
	UNLOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	/* The user's own second unlock is still told the truth. */
	UNLOCK(s, "r", "c1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	LOCK(s, "r", "c2", LOCKSTORE_OK, NULL);
	UNLOCK(s, "r", "c2", LOCKSTORE_OK, NULL);
	lockstore_close(s);
}

static void
lost_answer_of_an_unlock_released_elsewhere_is_not_a_release(void)
{
	struct lockstore	*s, *other;
	const char		*prefix = etu_prefix();

	s = etu_open(proxied, prefix, 0);
	other = etu_open(NULL, prefix, 0);
	/* S granted the lock and remembers its token; another lockd ends
	 * the holding.  S's unlock, its answer lost and repeated, finds the
	 * holding over, but not by this call: the truth, not a release. */
	LOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	UNLOCK(other, "r", "c1", LOCKSTORE_OK, NULL);
	etu_proxy_mode(ETU_DROP_ANSWER, 1, 0);
	UNLOCK(s, "r", "c1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	/* And when S's remembered holding was followed by a new one of the
	 * same client elsewhere, S's unlock ends the new one. */
	LOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	UNLOCK(other, "r", "c1", LOCKSTORE_OK, NULL);
	LOCK(other, "r", "c1", LOCKSTORE_OK, NULL);
	etu_proxy_mode(ETU_DROP_ANSWER, 1, 0);
	UNLOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	UNLOCK(other, "r", "c1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	lockstore_close(other);
	lockstore_close(s);
}

static void
failed_enqueue_leaves_no_wait_key_behind(void)
{
	struct lockstore		*s, *other, *holder;
	struct lockstore_acquire_opts	 o;
	struct lockstore_grant		 g;
	struct lockstore_error		 e;
	const char			*prefix = etu_prefix();

	s = etu_open(proxy_only, prefix, 300);
	other = etu_open(NULL, prefix, 0);
	holder = etu_open(NULL, prefix, 0);
	LOCK(holder, "q", "holder", LOCKSTORE_OK, NULL);
	/* The wait key's put (the one change with a lease) is applied, its
	 * answer lost, and so are the repeats': the enqueue fails. */
	etu_proxy_filter("\"lease\":\"");
	etu_proxy_mode(ETU_DROP_ANSWER, 20, 0);
	memset(&o, 0, sizeof(o));
	o.wait_ms = 1000;
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "q", "c2", &o, &g, &e),
	    LOCKSTORE_STORAGE);
	etu_proxy_mode(ETU_PASS, 0, 0);
	etu_proxy_filter(NULL);
	/* Its key went with the failure: the next waiter is served. */
	UNLOCK(holder, "q", "holder", LOCKSTORE_OK, NULL);
	o.wait_ms = 3000;
	TU_ASSERT_INT_EQ(lockstore_acquire(other, "q", "c3", &o, &g, &e),
	    LOCKSTORE_OK);
	lockstore_close(holder);
	lockstore_close(other);
	lockstore_close(s);
}

static void
late_answers_are_timeouts_judged_like_lost_ones(void)
{
	struct lockstore	*s;
	struct lockstore_error	 e;
	const char		*prefix = etu_prefix();
	long long		 t0;

	/* 300 ms per request; the proxy answers after 1.5 s. */
	s = etu_open(proxied, prefix, 300);
	etu_proxy_mode(ETU_DELAY_ANSWER, 1, 1500);
	t0 = etu_now_ms();
	TU_ASSERT_INT_EQ(lockstore_lock(s, "r", "c1", &e), LOCKSTORE_OK);
	CU_ASSERT(etu_now_ms() - t0 < 1400);
	etu_proxy_mode(ETU_DELAY_ANSWER, 1, 1500);
	UNLOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	UNLOCK(s, "r", "c1", LOCKSTORE_NOT_LOCKED, "Resource not locked");
	lockstore_close(s);
}

static void
first_endpoint_dead_rotates_to_the_next(void)
{
	struct lockstore	*s;
	struct lockstore_error	 e;
	char			 eps[192];

	snprintf(eps, sizeof(eps), "http://127.0.0.1:%d,%s",
	    etu_dead_port(), etu_endpoint);
	s = etu_open(eps, etu_prefix(), 0);
	LOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	LOCK(s, "r", "c2", LOCKSTORE_HELD, "Resource already locked by 'c1'");
	UNLOCK(s, "r", "c1", LOCKSTORE_OK, NULL);
	TU_ASSERT_INT_EQ(lockstore_health(s, &e), LOCKSTORE_OK);
	lockstore_close(s);
}

static void
unreachable_etcd_is_a_storage_error_never_a_grant(void)
{
	struct lockstore		*s;
	struct lockstore_acquire_opts	 o;
	struct lockstore_grant		 g;
	struct lockstore_lock_info	 info;
	struct lockstore_error		 e;
	struct lockstore_stats		 st;
	char				 eps[192];
	int				 held;

	snprintf(eps, sizeof(eps), "http://127.0.0.1:%d,http://127.0.0.1:%d",
	    etu_dead_port(), etu_dead_port());
	s = etu_open(eps, etu_prefix(), 300);
	TU_ASSERT_INT_EQ(lockstore_lock(s, "r", "c1", &e), LOCKSTORE_STORAGE);
	CU_ASSERT(strncmp(e.msg, "Storage error: etcd lock for 'r': http://"
	    "127.0.0.1:", 44) == 0);
	TU_ASSERT_INT_EQ(lockstore_unlock(s, "r", "c1", &e),
	    LOCKSTORE_STORAGE);
	CU_ASSERT(strncmp(e.msg, "Storage error: etcd unlock for 'r': ", 36) ==
	    0);
	memset(&o, 0, sizeof(o));
	o.wait_ms = 300;
	TU_ASSERT_INT_EQ(lockstore_acquire(s, "r", "c1", &o, &g, &e),
	    LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(lockstore_inspect(s, "r", &held, &info, &e),
	    LOCKSTORE_STORAGE);
	TU_ASSERT_INT_EQ(lockstore_health(s, &e), LOCKSTORE_STORAGE);
	CU_ASSERT(strncmp(e.msg, "Storage error: etcd health probe: ", 34) ==
	    0);
	lockstore_get_stats(s, &st);
	TU_ASSERT_INT_EQ(st.grants, 0);
	CU_ASSERT(st.storage_errors >= 3);
	lockstore_close(s);
}

static void
bad_configurations_are_refused(void)
{
	struct lockstore_etcd_config	cfg;
	struct lockstore_error		e;
	struct lockstore		*s;
	const char			*bad[] = { "", "127.0.0.1:2379",
					    "ftp://h:1", "http://", "http://h/x",
					    "http://a:1,,http://b:2",
					    "http://user@h:1", NULL };
	int				i;

	memset(&cfg, 0, sizeof(cfg));
	for (i = 0; bad[i] != NULL; i++) {
		cfg.endpoints = bad[i];
		TU_ASSERT_INT_EQ(lockstore_open_etcd(&s, &cfg, &e),
		    LOCKSTORE_BAD_ARGUMENT);
		CU_ASSERT(strncmp(e.msg, "Invalid etcd configuration: ", 28) ==
		    0);
		CU_ASSERT(s == NULL);
	}
	cfg.endpoints = "http://127.0.0.1:2379,https://etcd.example:2379/";
	TU_ASSERT_INT_EQ(lockstore_etcd_check(&cfg, &e), LOCKSTORE_OK);
	cfg.cert = "/nonexistent/cert.pem";
	TU_ASSERT_INT_EQ(lockstore_etcd_check(&cfg, &e),
	    LOCKSTORE_BAD_ARGUMENT);
	cfg.key = "/nonexistent/key.pem";
	TU_ASSERT_INT_EQ(lockstore_etcd_check(&cfg, &e),
	    LOCKSTORE_BAD_ARGUMENT);
	CU_ASSERT(strstr(e.msg, "/nonexistent/") != NULL);
	cfg.cert = cfg.key = NULL;
	cfg.prefix = "";
	TU_ASSERT_INT_EQ(lockstore_etcd_check(&cfg, &e),
	    LOCKSTORE_BAD_ARGUMENT);
}

static const struct tu_test tests[] = {
	{ "lost_answer_of_a_lock_is_a_grant_not_held_by_itself",
	    lost_answer_of_a_lock_is_a_grant_not_held_by_itself },
	{ "lost_answer_of_a_lock_of_a_held_resource_stays_held",
	    lost_answer_of_a_lock_of_a_held_resource_stays_held },
	{ "lost_answer_of_an_unlock_is_a_release",
	    lost_answer_of_an_unlock_is_a_release },
	{ "lost_answer_of_an_unlock_released_elsewhere_is_not_a_release",
	    lost_answer_of_an_unlock_released_elsewhere_is_not_a_release },
	{ "failed_enqueue_leaves_no_wait_key_behind",
	    failed_enqueue_leaves_no_wait_key_behind },
	{ "late_answers_are_timeouts_judged_like_lost_ones",
	    late_answers_are_timeouts_judged_like_lost_ones },
	{ "first_endpoint_dead_rotates_to_the_next",
	    first_endpoint_dead_rotates_to_the_next },
	{ "unreachable_etcd_is_a_storage_error_never_a_grant",
	    unreachable_etcd_is_a_storage_error_never_a_grant },
	{ "bad_configurations_are_refused", bad_configurations_are_refused },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc, port;

	if ((rc = etu_start()) != 0)
		return rc == ETU_SKIP ? ETU_SKIP : 1;
	if ((port = etu_proxy_start()) == -1) {
		fprintf(stderr, "cannot start the proxy\n");
		return 1;
	}
	snprintf(proxied, sizeof(proxied), "http://127.0.0.1:%d,%s", port,
	    etu_endpoint);
	snprintf(proxy_only, sizeof(proxy_only), "http://127.0.0.1:%d", port);
	rc = tu_run("etcd store faults", tests);
	etu_proxy_stop();
	etu_stop();
	return rc;
}
