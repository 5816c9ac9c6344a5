/* SPDX-License-Identifier: MIT */
/*
 * hist.h -- the latency histogram of bench/loadgen.c and bench/etcdload.c
 * (log2 major buckets of 64 linear sub-buckets: 3% resolution), included
 * by both, so that each stays one cc command.
 */
#include <stdint.h>
#include <stdio.h>

#define SUB_BITS	6
#define SUB		(1 << SUB_BITS)
#define MAJOR		40
#define NBUCKET		(MAJOR * SUB)

struct hist {
	uint64_t	n;
	uint64_t	max;		/* ns */
	double		sum;		/* ns */
	uint64_t	b[NBUCKET];
};

static int
hist_index(uint64_t v)
{
	int	msb, shift;

	if (v < SUB)
		return (int)v;
	msb = 63 - __builtin_clzll(v);
	shift = msb - SUB_BITS;
	if (shift + 1 >= MAJOR)
		return NBUCKET - 1;
	return (shift + 1) * SUB + (int)((v >> shift) & (SUB - 1));
}

/* Upper bound (ns) of bucket I. */
static uint64_t
hist_value(int i)
{
	int	major = i / SUB, sub = i % SUB;

	if (major == 0)
		return (uint64_t)sub;
	return ((uint64_t)(SUB + sub + 1) << (major - 1)) - 1;
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->n++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
	h->b[hist_index(v)]++;
}

static void
hist_merge(struct hist *into, const struct hist *h)
{
	int	i;

	into->n += h->n;
	into->sum += h->sum;
	if (h->max > into->max)
		into->max = h->max;
	for (i = 0; i < NBUCKET; i++)
		into->b[i] += h->b[i];
}

/* The Q-quantile in microseconds (bucket upper bound, capped at max). */
static double
hist_q(const struct hist *h, double q)
{
	uint64_t	want, seen = 0, v;
	int		i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (i = 0; i < NBUCKET; i++) {
		seen += h->b[i];
		if (seen > want) {
			v = hist_value(i);
			if (v > h->max)
				v = h->max;
			return (double)v / 1000.0;
		}
	}
	return (double)h->max / 1000.0;
}

/* One "NAME":{n, mean, p50, p99, p999, max} JSON member, in us. */
static void
print_hist(const char *name, const struct hist *h, int comma)
{
	printf("\"%s\":{\"n\":%llu,\"mean\":%.1f,\"p50\":%.1f,\"p99\":%.1f,"
	    "\"p999\":%.1f,\"max\":%.1f}%s", name, (unsigned long long)h->n,
	    h->n ? h->sum / (double)h->n / 1000.0 : 0.0, hist_q(h, 0.5),
	    hist_q(h, 0.99), hist_q(h, 0.999), (double)h->max / 1000.0,
	    comma ? "," : "");
}
