/* SPDX-License-Identifier: MIT */
/*
 * Resource and client names: what the front end accepts (the directory
 * backend's file names are dir/fname.h).
 */
#ifndef NAME_H
#define NAME_H

#include "lockstore.h"

/* Checks RESOURCE; LOCKSTORE_OK or LOCKSTORE_BAD_RESOURCE with err filled. */
enum lockstore_status	name_check_resource(const char *resource,
			    struct lockstore_error *err);

/* Checks CLIENT; LOCKSTORE_OK or LOCKSTORE_BAD_CLIENT with err filled. */
enum lockstore_status	name_check_client(const char *client,
			    struct lockstore_error *err);

#endif /* NAME_H */
