/*
 * cs_stripes.h - striped per-thread counters for the peer backends (urcu,
 * cuckoo): a map's own count of successful inserts minus removes (and any
 * other per-thread tally it keeps), without a shared cache line that every
 * update would bounce between cores.
 *
 * A cs_stripes is CS_STRIPES stripes, each on its own cache line, each
 * holding CS_STRIPE_COUNTERS signed 64-bit counters (counter k of every
 * stripe is one tally, e.g. k = 0 the size).  A thread context claims one
 * stripe when it joins (round-robin: with more than CS_STRIPES contexts,
 * stripes are shared) and adds to that stripe only; a reader sums counter
 * k over all stripes.
 *
 * Concurrency guarantee: cs_stripes_claim, cs_stripe_add and cs_stripes_sum
 * may run in any number of threads at once (shared stripes included: an
 * add is one atomic read-modify-write, never lost).  The sum is exact -
 * every add counted, none twice - when every add happens before the sum
 * (e.g. the adding threads were joined, or passed a barrier or mutex the
 * summing thread then took: the runner's checks sum this way).  While adds
 * are in flight it is NOT a snapshot: each stripe is read at its own
 * instant, so the sum counts every add that happens before the call, plus
 * any subset of the concurrent ones; it may transiently be a value the
 * tally never had, even negative (a remove counted on one stripe before
 * the insert it undid is counted on another).  cs_stripes_sum_nonneg
 * clamps that to 0.
 *
 * Memory orderings: every access is memory_order_relaxed, and that
 * suffices because the counters publish nothing: no reader uses a count to
 * decide that some other memory is ready to read.  Atomicity (not
 * ordering) is what keeps concurrent adds to one stripe from being lost;
 * the exactness above comes from the happens-before edge the caller
 * already has (join, barrier, mutex), under which read-after-write
 * coherence makes each relaxed load see the last add to its counter.
 * Acquire loads or seq_cst adds would not turn a concurrent sum into a
 * snapshot (the loads would still be CS_STRIPES separate reads), so
 * nothing stronger is used.
 *
 * Layout: cs_stripe is aligned to CS_STRIPE_LINE, so a struct that embeds
 * a cs_stripes must be allocated with that alignment (aligned_alloc(64,
 * ...); plain malloc guarantees only 16).  Initialize with cs_stripes_init
 * before the map is shared.
 */
#ifndef CS_STRIPES_H
#define CS_STRIPES_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CS_STRIPES 64u         /* stripes per set */
#define CS_STRIPE_COUNTERS 2u  /* counters per stripe (one cache line) */
#define CS_STRIPE_LINE 64      /* the cache line size assumed */

/* One stripe: the counters one thread context adds to. */
typedef struct cs_stripe {
    alignas(CS_STRIPE_LINE) _Atomic int64_t c[CS_STRIPE_COUNTERS];
} cs_stripe;

_Static_assert(sizeof(cs_stripe) == CS_STRIPE_LINE,
               "a stripe's counters fill exactly one cache line");

/* A set of stripes and the round-robin cursor that hands them out. */
typedef struct cs_stripes {
    /* claims so far; wraps at 2^32, a multiple of CS_STRIPES, so the
     * round-robin carries on */
    _Atomic unsigned next;
    cs_stripe s[CS_STRIPES];
} cs_stripes;

/* Every counter 0, the cursor at stripe 0.  Not concurrent: before the
 * set is shared (atomic_init is a plain store).  No errors. */
static inline void cs_stripes_init(cs_stripes *st)
{
    atomic_init(&st->next, 0);
    for (unsigned i = 0; i < CS_STRIPES; i++)
        for (unsigned k = 0; k < CS_STRIPE_COUNTERS; k++)
            atomic_init(&st->s[i].c[k], 0);
}

/* The stripe for a new thread context: the next one round-robin.  Any
 * number of threads at once; they get distinct stripes until more than
 * CS_STRIPES have claimed.  Relaxed: the fetch_add's atomicity alone keeps
 * two claims from reading the same cursor value; it orders nothing else
 * (the stripe's counters were initialized before the set was shared).  No
 * errors. */
static inline cs_stripe *cs_stripes_claim(cs_stripes *st)
{
    unsigned i = atomic_fetch_add_explicit(&st->next, 1,
                                           memory_order_relaxed);
    return &st->s[i % CS_STRIPES];
}

/* Add d to counter k (< CS_STRIPE_COUNTERS) of the caller's stripe.  Any
 * number of threads at once, on the same stripe too.  Relaxed: an atomic
 * read-modify-write is never lost whatever its order, and the count
 * publishes no other data (see the top).  No errors. */
static inline void cs_stripe_add(cs_stripe *s, unsigned k, int64_t d)
{
    atomic_fetch_add_explicit(&s->c[k], d, memory_order_relaxed);
}

/* The sum of counter k (< CS_STRIPE_COUNTERS) over every stripe: exact
 * when every add happens before the call, else approximate and possibly
 * negative (see the top).  Any number of threads, concurrent with adds.
 * Relaxed loads: coherence makes each see at least every add that happens
 * before the call; stronger orders would not make the CS_STRIPES loads
 * one snapshot.  No errors. */
static inline int64_t cs_stripes_sum(cs_stripes *st, unsigned k)
{
    int64_t sum = 0;
    for (unsigned i = 0; i < CS_STRIPES; i++)
        sum += atomic_load_explicit(&st->s[i].c[k], memory_order_relaxed);
    return sum;
}

/* cs_stripes_sum clamped at 0: for a tally that can only be >= 0 when
 * exact (a size), whose concurrent sum may dip below.  Same concurrency
 * and orderings as cs_stripes_sum.  No errors. */
static inline uint64_t cs_stripes_sum_nonneg(cs_stripes *st, unsigned k)
{
    int64_t sum = cs_stripes_sum(st, k);
    return sum < 0 ? 0 : (uint64_t)sum;
}

#endif /* CS_STRIPES_H */
