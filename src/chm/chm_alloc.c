/*
 * chm_alloc.c - every allocation libchm makes goes through here, so tests
 * can make any one of them fail (built with -DCHM_FAULT_INJECTION) and check
 * that the map is left exactly as it was; such builds can also run a test's
 * hook at the start of every allocation (to stall one, for instance).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* The page that holds a mapped table's header, just below its bins. */
static size_t chm_head_page(size_t head)
{
    long ps = sysconf(_SC_PAGESIZE);
    size_t page = ps > 0 ? (size_t)ps : 4096;
    return (head + page - 1) & ~(page - 1);
}

#ifndef CHM_TABLES_ON_HEAP
/* head bytes, then body bytes that start on a huge page boundary, zero-
 * filled, straight from the kernel: map a huge page more than needed, then
 * unmap the ends around [boundary - head page, boundary + body).  Returns
 * the address of the header (boundary - head). */
static void *chm_map_huge(size_t head, size_t body)
{
    size_t hp = chm_head_page(head), over = hp + body + CHM_HUGE_PAGE;
    char *p = mmap(NULL, over, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + hp + CHM_HUGE_PAGE - 1) &
                  ~(CHM_HUGE_PAGE - 1);
    char *bins = (char *)a, *start = bins - hp;
    if (start > p)
        (void)munmap(p, (size_t)(start - p));
    size_t tail = (size_t)(p + over - (bins + body));
    if (tail > 0)
        (void)munmap(bins + body, tail);
    /* Advice only: with THP off nothing changes. */
    (void)madvise(bins, body, MADV_HUGEPAGE);
    return bins - head;
}
#endif

void *chm_alloc_table(size_t head, size_t body, bool *mapped)
{
    chm_fi_call_hook(head + body);
    if (chm_fi_should_fail())
        return NULL;
    *mapped = false;
#ifndef CHM_TABLES_ON_HEAP
    if (body >= CHM_HUGE_PAGE && body % CHM_HUGE_PAGE == 0) {
        void *p = chm_map_huge(head, body);
        *mapped = p != NULL;
        return p;
    }
#endif
    void *p;
    return posix_memalign(&p, CHM_CACHELINE, head + body) == 0 ? p : NULL;
}

void chm_dealloc_table(void *p, size_t head, size_t body, bool mapped)
{
    if (mapped) {
        size_t hp = chm_head_page(head);
        (void)munmap((char *)p + head - hp, hp + body);
    } else {
        free(p);
    }
}

void chm_dealloc_table_head(void *p, size_t head)
{
    size_t hp = chm_head_page(head);
    (void)munmap((char *)p + head - hp, hp);
}
