/* SPDX-License-Identifier: MIT */
/* The thread that releases expired leases about every 100 ms. */
#ifndef EXPIRE_H
#define EXPIRE_H

#include "lockstore.h"

struct expirer;

/*
 * Starts the expiry thread on STORE (after detaching and dropping root:
 * the thread writes the store, and fork() keeps no threads).  NULL with
 * errno on failure.
 */
struct expirer	*expire_start(struct lockstore *store);

/* Stops and joins the thread, and frees it: before the store closes. */
void		 expire_stop(struct expirer *x);

#endif /* EXPIRE_H */
