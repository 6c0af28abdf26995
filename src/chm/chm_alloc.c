/*
 * chm_alloc.c - every allocation libchm makes goes through here, so tests
 * can make any one of them fail (built with -DCHM_FAULT_INJECTION) and check
 * that the map is left exactly as it was; such builds can also run a test's
 * hook at the start of every allocation (to stall one, for instance).
 */
#include <stdlib.h>

#include "chm_internal.h"

#ifdef CHM_FAULT_INJECTION
/* Allocations to let through before failing, and how many to fail.  Relaxed
 * order: tests arm these from one thread before the operation under test;
 * with several threads the exact allocation that fails does not matter. */
static _Atomic long chm_fi_after = -1;
static _Atomic long chm_fi_count = 0;
static _Atomic long chm_fi_failed = 0;

void chm_test_fail_allocs(long after, long count)
{
    atomic_store_explicit(&chm_fi_count, count, memory_order_relaxed);
    atomic_store_explicit(&chm_fi_after, after, memory_order_relaxed);
}

long chm_test_allocs_failed(void)
{
    return atomic_load_explicit(&chm_fi_failed, memory_order_relaxed);
}

static bool chm_fi_should_fail(void)
{
    long after = atomic_load_explicit(&chm_fi_after, memory_order_relaxed);
    if (after < 0)
        return false;
    if (after > 0) {
        atomic_fetch_sub_explicit(&chm_fi_after, 1, memory_order_relaxed);
        return false;
    }
    long left = atomic_fetch_sub_explicit(&chm_fi_count, 1,
                                          memory_order_relaxed);
    if (left <= 0) {
        atomic_store_explicit(&chm_fi_after, -1, memory_order_relaxed);
        return false;
    }
    if (left == 1)
        atomic_store_explicit(&chm_fi_after, -1, memory_order_relaxed);
    atomic_fetch_add_explicit(&chm_fi_failed, 1, memory_order_relaxed);
    return true;
}

static _Atomic(chm_test_alloc_hook_fn *) chm_fi_hook;

void chm_test_alloc_hook(chm_test_alloc_hook_fn *fn)
{
    /* release: what the test set up for fn before installing it is visible
     * to every thread that loads fn (acquire, below) and calls it. */
    atomic_store_explicit(&chm_fi_hook, fn, memory_order_release);
}

static void chm_fi_call_hook(size_t size)
{
    /* acquire: pairs with the release in chm_test_alloc_hook. */
    chm_test_alloc_hook_fn *fn = atomic_load_explicit(&chm_fi_hook,
                                                      memory_order_acquire);
    if (fn != NULL)
        fn(size);
}
#else
static inline bool chm_fi_should_fail(void) { return false; }
static inline void chm_fi_call_hook(size_t size) { (void)size; }
#endif

void *chm_alloc(size_t size)
{
    chm_fi_call_hook(size);
    if (chm_fi_should_fail())
        return NULL;
    return malloc(size);
}

void *chm_alloc_aligned(size_t align, size_t size)
{
    void *p;
    chm_fi_call_hook(size);
    if (chm_fi_should_fail())
        return NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    return p;
}

void chm_dealloc(void *p)
{
    free(p);
}
