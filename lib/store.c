/* SPDX-License-Identifier: MIT */
/*
 * The store front end: checks names once for every backend, then
 * dispatches to the backend that was opened.
 */
#include "config.h"

#include <stdlib.h>

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
	return s->ops->lock(s->impl, resource, client, err);
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

/* Closes the store and its backend; accepts NULL. */
void
lockstore_close(struct lockstore *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->impl);
	free(s);
}
