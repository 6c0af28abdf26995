/*
 * chm_alloc.c - every allocation libchm makes goes through here, so tests
 * can make any one of them fail (built with -DCHM_FAULT_INJECTION) and check
 * that the map is left exactly as it was; such builds can also run a test's
 * hook at the start of every allocation (to stall one, for instance).
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "chm_internal.h"

/* LeakSanitizer does not scan memory the program mmaps itself: a table
 * there would hide the only pointers to its heap nodes, and they would be
 * reported as leaked.  Sanitized builds keep every table on the heap. */
#if defined(__SANITIZE_ADDRESS__)
#define CHM_TABLES_ON_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define CHM_TABLES_ON_HEAP 1
#endif
#endif

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

#ifndef CHM_TABLES_ON_HEAP
/* Huge-page-aligned, zero-filled memory straight from the kernel: map a
 * huge page more than asked for, then unmap the unaligned ends. */
static void *chm_map_huge(size_t bytes)
{
    size_t over = bytes + CHM_HUGE_PAGE;
    char *p = mmap(NULL, over, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + CHM_HUGE_PAGE - 1) & ~(CHM_HUGE_PAGE - 1);
    char *start = (char *)a;
    if (start > p)
        (void)munmap(p, (size_t)(start - p));
    size_t tail = (size_t)(p + over - (start + bytes));
    if (tail > 0)
        (void)munmap(start + bytes, tail);
    return start;
}
#endif

void *chm_alloc_table(size_t *bytes, bool *mapped)
{
    chm_fi_call_hook(*bytes);
    if (chm_fi_should_fail())
        return NULL;
    *mapped = false;
    if (*bytes < CHM_HUGE_PAGE) {
        void *p;
        return posix_memalign(&p, CHM_CACHELINE, *bytes) == 0 ? p : NULL;
    }
    *bytes = (*bytes + CHM_HUGE_PAGE - 1) & ~(CHM_HUGE_PAGE - 1);
    void *p = NULL;
#ifdef CHM_TABLES_ON_HEAP
    if (posix_memalign(&p, CHM_HUGE_PAGE, *bytes) != 0)
        return NULL;
#else
    p = chm_map_huge(*bytes);
    if (p == NULL)
        return NULL;
    *mapped = true;
#endif
    /* Advice only: with THP off nothing changes. */
    (void)madvise(p, *bytes, MADV_HUGEPAGE);
    return p;
}

void chm_dealloc_table(void *p, size_t bytes, bool mapped)
{
    if (mapped)
        (void)munmap(p, bytes);
    else
        free(p);
}
