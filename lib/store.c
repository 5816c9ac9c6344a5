/* SPDX-License-Identifier: MIT */
/*
 * The store front end: checks names once for every backend, then
 * dispatches to the backend that was opened.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "store_impl.h"

struct lockstore {
	const struct lockstore_ops	*ops;
	void				*impl;
};

/* Wraps a backend; NULL when out of memory. */
struct lockstore *
store_new(const struct lockstore_ops *ops, void *impl)
{
	struct lockstore	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->ops = ops;
	s->impl = impl;
	return s;
}

static enum lockstore_status
check_names(const char *resource, const char *client,
    struct lockstore_error *err)
{
	enum lockstore_status	st;

	if ((st = name_check_resource(resource, err)) != LOCKSTORE_OK)
		return st;
	return name_check_client(client, err);
}

/* Takes RESOURCE for CLIENT. */
enum lockstore_status
lockstore_lock(struct lockstore *s, const char *resource, const char *client,
    struct lockstore_error *err)
{
	enum lockstore_status	st;

	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return st;
	return s->ops->lock(s->impl, resource, client, NULL, err);
}

/* Takes RESOURCE for CLIENT and reports the grant's fencing token. */
enum lockstore_status
lockstore_lock_token(struct lockstore *s, const char *resource,
    const char *client, unsigned long long *token,
    struct lockstore_error *err)
{
	enum lockstore_status	st;

	*token = 0;
	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return st;
	return s->ops->lock(s->impl, resource, client, token, err);
}

/* Whether CLIENT holds RESOURCE under TOKEN now. */
enum lockstore_status
lockstore_check(struct lockstore *s, const char *resource,
    const char *client, unsigned long long token, int *valid,
    struct lockstore_error *err)
{
	struct lockstore_lock_info	*info;
	enum lockstore_status		 st;
	int				 held;

	*valid = 0;
	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return st;
	if ((info = malloc(sizeof(*info))) == NULL)
		return store_error(err, LOCKSTORE_STORAGE, ENOMEM,
		    "Storage error: out of memory");
	st = s->ops->inspect(s->impl, resource, &held, info, err);
	if (st == LOCKSTORE_OK)
		*valid = held && token != 0 && info->token == token &&
		    strcmp(info->holder, client) == 0;
	free(info);
	return st;
}

/* Releases RESOURCE held by CLIENT. */
enum lockstore_status
lockstore_unlock(struct lockstore *s, const char *resource,
    const char *client, struct lockstore_error *err)
{
	enum lockstore_status	st;

	if ((st = check_names(resource, client, err)) != LOCKSTORE_OK)
		return st;
	return s->ops->unlock(s->impl, resource, client, err);
}

/* Whether RESOURCE is held, and by whom. */
enum lockstore_status
lockstore_inspect(struct lockstore *s, const char *resource, int *held,
    struct lockstore_lock_info *info, struct lockstore_error *err)
{
	enum lockstore_status	st;

	*held = 0;
	if ((st = name_check_resource(resource, err)) != LOCKSTORE_OK)
		return st;
	return s->ops->inspect(s->impl, resource, held, info, err);
}

/* Lists held locks one page at a time. */
enum lockstore_status
lockstore_list(struct lockstore *s, const struct lockstore_list_query *q,
    lockstore_list_fn fn, void *arg, char next[LOCKSTORE_CURSOR_SIZE],
    struct lockstore_error *err)
{
	next[0] = '\0';
	if (q->limit < 1 || q->limit > LOCKSTORE_LIST_MAX)
		return store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid listing: limit must be from 1 to %d",
		    LOCKSTORE_LIST_MAX);
	if (q->prefix != NULL && strlen(q->prefix) > LOCKSTORE_NAME_MAX)
		return store_error(err, LOCKSTORE_BAD_RESOURCE, 0,
		    "Invalid listing: prefix longer than %d bytes",
		    LOCKSTORE_NAME_MAX);
	return s->ops->list(s->impl, q, fn, arg, next, err);
}

/* Closes the store and its backend; accepts NULL. */
void
lockstore_close(struct lockstore *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->impl);
	free(s);
}
