/*
 * chm_counter.c - the size counter, striped over cache-line-sized cells as
 * Java's CounterCells / LongAdder.  Java grows its cell array on contention;
 * ours is sized once, at twice the CPU count rounded up to a power of two,
 * and each thread handle is given its own cell round-robin, so threads
 * rarely share a line and never CAS-retry (fetch_add cannot fail).
 *
 * Ordering: relaxed everywhere.  The count orders nothing: size() is weakly
 * consistent by contract, and it is exact once updates have stopped and the
 * reader has synchronized with the updaters (for example by joining them).
 */
#include "chm_internal.h"

void chm_counter_add(chm_thread_t *t, int64_t delta)
{
#ifdef CHM_MUTANT_COUNTER_NONATOMIC
    /* MUTANT counter_nonatomic: load + store instead of fetch_add. */
    int64_t v = atomic_load_explicit(&t->map->cells[t->cell].v,
                                     memory_order_relaxed);
    atomic_store_explicit(&t->map->cells[t->cell].v, v + delta,
                          memory_order_relaxed);
#else
    atomic_fetch_add_explicit(&t->map->cells[t->cell].v, delta,
                              memory_order_relaxed);
#endif
}

int64_t chm_counter_sum(chm_t *m)
{
    int64_t s = 0;
    for (unsigned i = 0; i < m->ncells; i++)
        s += atomic_load_explicit(&m->cells[i].v, memory_order_relaxed);
    return s;
}
