/* SPDX-License-Identifier: MIT */
/* The clocks of the lock store; see clock.h. */
#include "config.h"

#include <time.h>

#include "clock.h"

/* The clock ID in milliseconds. */
static long long
clock_ms(clockid_t id)
{
	struct timespec	ts;

	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_BOOTTIME in milliseconds. */
long long
clock_mono_ms(void)
{
	return clock_ms(CLOCK_BOOTTIME);
}

/* The wall clock in milliseconds since the epoch. */
long long
clock_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/* CLOCK_MONOTONIC now + MS, as an absolute timespec. */
struct timespec
clock_abs_in(long long ms)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ms < 0)
		ms = 0;
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
