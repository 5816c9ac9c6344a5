/* SPDX-License-Identifier: MIT */
/*
 * The clocks of the lock store, one helper each: the monotonic clock that
 * deadlines run on, the wall clock that answers show, and the absolute
 * time a condition variable (CLOCK_MONOTONIC) sleeps until.
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <time.h>

/*
 * CLOCK_BOOTTIME in milliseconds: monotonic, and it keeps counting while
 * the machine sleeps, so a lease or a lock-delay is never cut short by a
 * suspend.  Every deadline of the store is on this clock.
 */
long long	clock_mono_ms(void);

/* The wall clock in milliseconds since the epoch. */
long long	clock_wall_ms(void);

/* The absolute CLOCK_MONOTONIC time MS milliseconds from now (a negative
 * MS: now), for pthread_cond_timedwait() on a CLOCK_MONOTONIC condattr. */
struct timespec	clock_abs_in(long long ms);

#endif /* CLOCK_H */
