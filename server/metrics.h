/* SPDX-License-Identifier: MIT */
/*
 * Metrics of lockd in the Prometheus text format (version 0.0.4): the
 * store's counters and the XML-RPC request latency histogram.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

#include "lockstore.h"

/* The content type of metrics_render()'s text. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* Records the start time (lockd_start_time_seconds); once, before serving. */
void	 metrics_init(void);

/*
 * Counts one XML-RPC request that took SECONDS (negative or NaN count as
 * 0) in the latency histogram.  Thread-safe and lock-free.
 */
void	 metrics_observe_request(double seconds);

/*
 * The exposition of every lockd metric, STORE's counters included: a
 * NUL-terminated text of *LENP bytes that the caller frees, or NULL when
 * out of memory.
 */
char	*metrics_render(struct lockstore *store, size_t *lenp);

#endif /* METRICS_H */
