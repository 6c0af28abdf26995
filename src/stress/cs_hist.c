/*
 * cs_hist.c - the log-bucket latency histogram (nanoseconds).
 *
 * Bucket layout (CS_HIST_SUB = 16 sub-buckets per group, CS_HIST_EXP = 41
 * groups, 656 counters):
 *
 *   group 0      values 0..15, one bucket each: exact.
 *   group g >= 1 values [2^(g+3), 2^(g+4)): the value's highest set bit
 *                e = g+3 picks the group, the next 4 bits below it the
 *                sub-bucket, so each bucket is 2^(e-4) wide, 1/16 of the
 *                group's lowest value.
 *
 * So index(v) = v for v < 16, else (e-3)*16 + ((v >> (e-4)) & 15).  The
 * last group ends at 2^44-1 ns (about 4.9 hours); larger values go into the
 * last bucket, whose upper bound is taken as unbounded (and so becomes
 * max_ns in a quantile).
 *
 * A quantile is the upper bound of the bucket holding the ceil(q*count)-th
 * smallest value, clamped to max_ns: it is never below the true value and
 * exceeds it by less than 1/16 of it.
 *
 * Single writer per histogram; cs_hist_merge adds them up afterwards.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cs.h"

#define CS_HIST_NB (CS_HIST_EXP * CS_HIST_SUB)

void cs_hist_init(cs_hist *h)
{
    memset(h, 0, sizeof *h);
}

static unsigned cs_hist_index(uint64_t v)
{
    if (v < CS_HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
    unsigned group = e - 3;
    if (group >= CS_HIST_EXP)
        return CS_HIST_NB - 1;
    return group * CS_HIST_SUB + (unsigned)((v >> (e - 4)) & (CS_HIST_SUB - 1));
}

/* The largest value bucket i holds (UINT64_MAX for the last bucket). */
static uint64_t cs_hist_upper(unsigned i)
{
    if (i < CS_HIST_SUB)
        return i;
    if (i == CS_HIST_NB - 1)
        return UINT64_MAX;
    unsigned group = i / CS_HIST_SUB, sub = i % CS_HIST_SUB;
    unsigned shift = group - 1; /* bucket width 2^(e-4), e = group+3 */
    return ((uint64_t)(CS_HIST_SUB + sub + 1) << shift) - 1;
}

void cs_hist_add(cs_hist *h, uint64_t ns)
{
    if (h->count == 0 || ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
    h->count++;
    h->sum_ns += ns;
    h->b[cs_hist_index(ns)]++;
}

void cs_hist_merge(cs_hist *into, const cs_hist *from)
{
    if (from->count == 0)
        return;
    if (into->count == 0 || from->min_ns < into->min_ns)
        into->min_ns = from->min_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
    into->count += from->count;
    into->sum_ns += from->sum_ns;
    for (unsigned i = 0; i < CS_HIST_NB; i++)
        into->b[i] += from->b[i];
}

/* The 1-based rank of the value at quantile q: ceil(q * count), in
 * [1, count]. */
static uint64_t cs_hist_rank(const cs_hist *h, double q)
{
    if (!(q > 0.0)) /* also NaN */
        return 1;
    double r = ceil(q * (double)h->count);
    if (r < 1.0)
        return 1;
    if (r >= (double)h->count)
        return h->count;
    return (uint64_t)r;
}

uint64_t cs_hist_quantile(const cs_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max_ns;
    uint64_t rank = cs_hist_rank(h, q), seen = 0;
    for (unsigned i = 0; i < CS_HIST_NB; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t up = cs_hist_upper(i);
            return up < h->max_ns ? up : h->max_ns;
        }
    }
    return h->max_ns; /* not reached: the buckets add up to count */
}
