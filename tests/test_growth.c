/*
 * test_growth.c - a map grows from one bin's worth of capacity to over a
 * million keys (scaled) in one thread: every key stays present with its
 * value, size is exact, the table went through many resizes; then it empties
 * again.  chm_reserve(n) makes room for n keys: inserting them afterwards
 * causes no further resize.  A thread whose table allocation stalls does
 * not hold up the growth of the map (builds with the allocation hook).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chm.h"
#include "check.h"

#ifdef CHM_FAULT_INJECTION
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "chm_internal.h" /* chm_test_alloc_hook */
#endif

static size_t scaled(double base, size_t min)
{
    double v = base * chm_test_scale();
    return v < (double)min ? min : (size_t)v;
}

static bool is_pow2(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* distinct keys that are not sequential (odd multiplier: a bijection) */
static uintptr_t key_of(size_t i)
{
    return (uintptr_t)((uint64_t)i * 0x9e3779b97f4a7c15ULL);
}

static uintptr_t val_of(uintptr_t k)
{
    return (uintptr_t)((uint64_t)k ^ 0x5a5a5a5a12345678ULL) + 1;
}

static int log2_floor(size_t x)
{
    int r = -1;
    while (x) {
        x >>= 1;
        r++;
    }
    return r;
}

/* Tables of 2 MiB and more are mapped, and the memory of a freed one is
 * kept and moved into the next table the map allocates (chm_spare.c), so a
 * map growing through several mapped tables reuses some: the checks of
 * every key (and of keys never inserted) below then also check that a
 * reused table holds exactly what was put in - stale bins of the table it
 * used to be would show as keys never inserted, or crash the walk.
 * Sanitized builds keep tables on the heap (LeakSanitizer does not scan
 * mmapped memory): nothing is reused there. */
#define TABLES_ON_HEAP CHECK_ASAN

/* The end of the mapping (per /proc/self/maps) that contains p, or 0. */
static uintptr_t mapping_end(const void *p)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return 0;
    unsigned long lo, hi, end = 0;
    char line[512];
    while (end == 0 && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= (uintptr_t)p &&
            (uintptr_t)p < hi)
            end = hi;
    fclose(f);
    return end;
}

/* A mapped table is its bins, starting on a huge page boundary, and the
 * small page below them that ends with the header: no huge page more (a
 * header in front of the bins made the mapping end a huge page past them,
 * which the bins' last ~200 bytes faulted in).  Freed, the bins become a
 * spare of exactly their size. */
static void test_mapped_table_layout(void)
{
    chm_t *m = chm_new(NULL, 1);
    REQUIRE(m != NULL);
    chm_table_t *tab = chm_table_new(m, (size_t)1 << 15);
    REQUIRE(tab != NULL);
    if (!tab->mapped) {
        printf("#   skipped: this build keeps tables on the heap\n");
        chm_table_free_now(tab);
        chm_free(m);
        return;
    }
    uintptr_t bins = (uintptr_t)tab->bins;
    size_t body = chm_table_body(tab);
    CHECK_EQ_U64(bins % CHM_HUGE_PAGE, 0);
    CHECK_EQ_U64(bins - (uintptr_t)tab, CHM_TABLE_HEAD);
    CHECK_EQ_U64(mapping_end(tab->bins), bins + body);
    CHECK(mapping_end(tab) >= bins);  /* the header's page is mapped */
    chm_table_free_now(tab);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK_EQ_U64(st.table_bytes_spare, body);
    chm_free(m);
}

static void test_grow_from_one(void)
{
    const size_t n = scaled(1100000, 100000);
    chm_t *m = chm_new(NULL, 1);
    CHECK(m != NULL);
    chm_thread_t *t = chm_thread_join(m);
    CHECK(t != NULL);
    chm_stats_t st;
    chm_stats(m, &st);
    size_t initial_table = st.table_size;

    long bad = 0;
    uint64_t last_resizes = 0;
    size_t last_table = 0;
    for (size_t i = 0; i < n; i++) {
        if (chm_put(t, key_of(i), val_of(key_of(i)), NULL) != CHM_OK)
            bad++;
        if ((i & 0xffff) == 0) {
            chm_stats(m, &st);
            if (st.size != i + 1 || !is_pow2(st.table_size) ||
                st.resizes < last_resizes || st.table_size < last_table)
                bad++;
            last_resizes = st.resizes;
            last_table = st.table_size;
        }
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), n);
    chm_stats(m, &st);
    printf("#   %zu keys, table %zu bins, %llu KiB of freed tables reused\n",
           n, st.table_size,
           (unsigned long long)(st.table_bytes_recycled >> 10));
    if (TABLES_ON_HEAP)
        CHECK_EQ_U64(st.table_bytes_recycled, 0);
    else
        CHECK(st.table_bytes_recycled >= ((uint64_t)2 << 20));

    bad = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t v = 0;
        if (!chm_get(t, key_of(i), &v) || v != val_of(key_of(i)))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    /* keys never inserted are absent */
    bad = 0;
    for (size_t i = n; i < n + 10000; i++)
        if (chm_get(t, key_of(i), NULL))
            bad++;
    CHECK_EQ_U64(bad, 0);

    chm_stats(m, &st);
    CHECK_EQ_U64(st.size, n);
    CHECK(is_pow2(st.table_size));
    /* grown at one entry per bin (chm_threshold), and not beyond */
    CHECK(st.table_size >= n);
    CHECK(st.table_size / 2 <= n);
    /* at least one doubling per power of two between the start and now */
    int need = log2_floor(st.table_size) -
               log2_floor(initial_table ? initial_table : 2);
    CHECK(need >= 10);
    CHECK(st.resizes >= (uint64_t)need);
    CHECK(st.bins_transferred >= st.table_size / 2);

    /* put on every key again: all EXISTS with the right old value */
    bad = 0;
    for (size_t i = 0; i < n; i += 7) {
        uintptr_t old = 0;
        if (chm_put(t, key_of(i), val_of(key_of(i)), &old) != CHM_EXISTS ||
            old != val_of(key_of(i)))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), n);

    /* remove all */
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t old = 0;
        if (chm_remove(t, key_of(i), &old) != CHM_OK ||
            old != val_of(key_of(i)))
            bad++;
        if ((i & 0xffff) == 0 && chm_size(m) != n - i - 1)
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), 0);
    bad = 0;
    for (size_t i = 0; i < n; i++)
        if (chm_get(t, key_of(i), NULL))
            bad++;
    CHECK_EQ_U64(bad, 0);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.size, 0);

    /* and it is usable again */
    for (size_t i = 0; i < 1000; i++)
        CHECK_EQ_INT(chm_put_if_absent(t, key_of(i), i, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 1000);
    for (size_t i = 0; i < 1000; i++) {
        uintptr_t v = SIZE_MAX;
        CHECK(chm_get(t, key_of(i), &v));
        CHECK_EQ_U64(v, i);
    }
    chm_thread_leave(t);
    chm_free(m);
}

/* growth driven by every inserting operation in turn, interleaved with
 * removals, checked against a model */
struct incr {
    uintptr_t v;
};

static chm_compute_action set_fn(void *ctx, uintptr_t key, bool present,
                                 uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    (void)cur;
    struct incr *c = ctx;
    if (present)
        return CHM_COMPUTE_KEEP;
    *new_val = c->v;
    return CHM_COMPUTE_SET;
}

static void test_grow_mixed_ops(void)
{
    const size_t n = scaled(300000, 40000);
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    long bad = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t k = key_of(i), v = val_of(k), out = 0;
        int rc;
        switch (i % 3) {
        case 0:
            rc = chm_put(t, k, v, NULL);
            break;
        case 1:
            rc = chm_put_if_absent(t, k, v, NULL);
            break;
        default: {
            struct incr c = {v};
            rc = chm_compute(t, k, set_fn, &c, &out);
            if (rc == CHM_OK && out != v)
                bad++;
            break;
        }
        }
        if (rc != CHM_OK)
            bad++;
        count++;
        /* every 4th key is removed again a little later */
        if (i >= 100 && (i - 100) % 4 == 0) {
            uintptr_t ok = key_of(i - 100), old = 0;
            if (chm_remove(t, ok, &old) != CHM_OK || old != val_of(ok))
                bad++;
            count--;
        }
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), count);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        bool removed = i + 100 < n && i % 4 == 0;
        uintptr_t v = 0;
        bool p = chm_get(t, key_of(i), &v);
        if (p == removed || (p && v != val_of(key_of(i))))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK(st.resizes >= 8);
    CHECK(is_pow2(st.table_size));
    chm_thread_leave(t);
    chm_free(m);
}

static void check_reserve(size_t initial, size_t prefill, size_t n)
{
    chm_t *m = chm_new(NULL, initial);
    chm_thread_t *t = chm_thread_join(m);
    for (size_t i = 0; i < prefill; i++)
        CHECK_EQ_INT(chm_put(t, key_of(i), val_of(key_of(i)), NULL), CHM_OK);
    chm_stats_t before, after;
    chm_stats(m, &before);

    CHECK_EQ_INT(chm_reserve(t, n), CHM_OK);
    chm_stats_t reserved;
    chm_stats(m, &reserved);
    CHECK(is_pow2(reserved.table_size));
    CHECK(reserved.table_size >= before.table_size);
    CHECK(reserved.table_size > n); /* n fit at one entry per bin */
    CHECK_EQ_U64(reserved.size, prefill);
    /* prefilled entries survived the growth */
    long bad = 0;
    for (size_t i = 0; i < prefill; i++) {
        uintptr_t v = 0;
        if (!chm_get(t, key_of(i), &v) || v != val_of(key_of(i)))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);

    /* reserving the same or less again changes nothing */
    CHECK_EQ_INT(chm_reserve(t, n), CHM_OK);
    CHECK_EQ_INT(chm_reserve(t, n / 2), CHM_OK);
    CHECK_EQ_INT(chm_reserve(t, 0), CHM_OK);
    chm_stats(m, &after);
    CHECK_EQ_U64(after.resizes, reserved.resizes);
    CHECK_EQ_U64(after.table_size, reserved.table_size);

    /* fill up to n: no further resize */
    bad = 0;
    for (size_t i = prefill; i < n; i++)
        if (chm_put(t, key_of(i), val_of(key_of(i)), NULL) != CHM_OK)
            bad++;
    CHECK_EQ_U64(bad, 0);
    chm_stats(m, &after);
    CHECK_EQ_U64(after.resizes, reserved.resizes);
    CHECK_EQ_U64(after.table_size, reserved.table_size);
    CHECK_EQ_U64(after.size, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t v = 0;
        if (!chm_get(t, key_of(i), &v) || v != val_of(key_of(i)))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    chm_thread_leave(t);
    chm_free(m);
}

static void test_reserve(void)
{
    size_t big = scaled(200000, 30000);
    check_reserve(0, 0, big);     /* fresh map, default capacity */
    check_reserve(1, 0, big);     /* fresh map, smallest capacity */
    check_reserve(1, 1000, big);  /* a map with entries */
    check_reserve(16, 0, 13);     /* just past the default threshold */
    check_reserve(1, 0, 1);
    check_reserve(0, 100, 100);   /* nothing to grow */
}

#ifdef CHM_FAULT_INJECTION
/*
 * One thread's table allocation stalls (as glibc's can: the first request
 * of 1 KiB or more in an arena full of freed nodes consolidates them all,
 * which took 0.35-0.6 s on a 128-bin table): the other threads must still
 * be able to grow the map.  The slow thread fills a fresh map to 64 bins,
 * then its next allocation of 1 KiB or more - the next table - blocks in
 * the hook until the main thread, having inserted `n` keys meanwhile,
 * releases it.  When the resize was claimed before its table was
 * allocated, the table stayed at 64 bins all that time.
 */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool blocked, released;
} stall = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false,
            false };
static _Thread_local bool stall_me;   /* set by the slow thread only */
static size_t stall_min;              /* smallest allocation stalled */

static void stall_hook(size_t size)
{
    if (!stall_me || size < stall_min)
        return;
    stall_me = false;                 /* once */
    pthread_mutex_lock(&stall.mu);
    stall.blocked = true;
    pthread_cond_broadcast(&stall.cv);
    while (!stall.released)
        pthread_cond_wait(&stall.cv, &stall.mu);
    pthread_mutex_unlock(&stall.mu);
}

static void stall_release(void)
{
    pthread_mutex_lock(&stall.mu);
    stall.released = true;
    pthread_cond_broadcast(&stall.cv);
    pthread_mutex_unlock(&stall.mu);
}

struct slow_arg {
    chm_t *m;
    size_t fill_bins;                 /* grow the table to this, then stall */
    size_t inserted;                  /* keys 0 .. inserted-1 */
    long bad;
};

static void *slow_thread(void *p)
{
    struct slow_arg *a = p;
    chm_thread_t *t = chm_thread_join(a->m);
    chm_stats_t st;
    size_t i = 0;
    do {
        if (chm_put(t, key_of(i), val_of(key_of(i)), NULL) != CHM_OK)
            a->bad++;
        i++;
        chm_stats(a->m, &st);
    } while (st.table_size < a->fill_bins);
    /* From here the next table is stall_min bytes or more: stall its
     * allocation.  Insert until the hook has run (released). */
    stall_me = true;
    for (bool done = false; !done; i++) {
        if (chm_put(t, key_of(i), val_of(key_of(i)), NULL) != CHM_OK)
            a->bad++;
        pthread_mutex_lock(&stall.mu);
        done = stall.released;
        pthread_mutex_unlock(&stall.mu);
    }
    stall_me = false;
    a->inserted = i;
    chm_thread_leave(t);
    return NULL;
}

/* Start slow_thread on a (which fills a->m to a->fill_bins bins) with
 * allocations of min bytes or more stalled, and wait (bounded) until it
 * stalls in one.  false if it never did. */
static bool start_stalled(struct slow_arg *a, size_t min, pthread_t *th)
{
    stall.blocked = stall.released = false;
    stall_min = min;
    chm_test_alloc_hook(stall_hook);
    REQUIRE(pthread_create(th, NULL, slow_thread, a) == 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&stall.mu);
    int rc = 0;
    while (!stall.blocked && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&stall.cv, &stall.mu, &until);
    bool blocked = stall.blocked;
    pthread_mutex_unlock(&stall.mu);
    return blocked;
}

static void test_stalled_table_alloc(void)
{
    const size_t n = scaled(20000, 20000);
    const size_t first = (size_t)1 << 30; /* key indexes: the slow thread's
                                           * are the first few hundred */
    chm_t *m = chm_new(NULL, 1);
    REQUIRE(m != NULL);
    struct slow_arg a = { m, 64, 0, 0 };
    pthread_t th;
    CHECK(start_stalled(&a, 1024, &th));

    chm_thread_t *t = chm_thread_join(m);
    REQUIRE(t != NULL);
    long bad = 0;
    for (size_t i = 0; i < n; i++)
        if (chm_put(t, key_of(first + i), val_of(key_of(first + i)), NULL) !=
            CHM_OK)
            bad++;
    chm_stats_t st;
    chm_stats(m, &st);
    /* The map grew while the slow thread was stalled: about one entry per
     * bin at most (the threshold; an insert checks the count only when its
     * bin held two entries, so allow a few over).  Claimed before
     * allocating, the table was still 64 bins here. */
    fprintf(stderr, "# stalled allocation: %zu entries, %zu bins\n",
            st.size, st.table_size);
    CHECK(st.table_size + st.table_size / 16 >= st.size);

    stall_release();
    REQUIRE(pthread_join(th, NULL) == 0);
    chm_test_alloc_hook(NULL);
    CHECK_EQ_U64(a.bad, 0);
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), a.inserted + n);
    for (size_t i = 0; i < a.inserted; i++) {
        uintptr_t v = 0;
        if (!chm_get(t, key_of(i), &v) || v != val_of(key_of(i)))
            bad++;
    }
    for (size_t i = 0; i < n; i++) {
        uintptr_t v = 0;
        if (!chm_get(t, key_of(first + i), &v) ||
            v != val_of(key_of(first + i)))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    chm_thread_leave(t);
    chm_free(m);
}
/*
 * Two threads reach a threshold together: both allocate a table, one
 * claims the resize and the other's table must go straight back to the
 * system.  Kept as a spare, it would be cleared page by page - pages never
 * touched, so each a fresh fault - by the allocation of the next table
 * (chm_spare.c): in a 2-thread growth that cost each thread 113 ms before
 * the 2^20 -> 2^21 transfer.  Here the slow thread fills the map to 2^16
 * bins (mapped) and stalls allocating the 2^17-bin table while the main
 * thread grows the map past it; released, the slow thread's claim fails.
 * No spare may then be as large as a 2^17-bin table.
 */
static void test_losing_table_unmapped(void)
{
    if (TABLES_ON_HEAP) {
        printf("#   skipped: this build keeps tables on the heap\n");
        return;
    }
    const size_t fill = (size_t)1 << 16;
    chm_t *m = chm_new(NULL, 1);
    REQUIRE(m != NULL);
    struct slow_arg a = { m, fill, 0, 0 };
    pthread_t th;
    CHECK(start_stalled(&a, (size_t)2 << 20, &th));
    chm_thread_t *t = chm_thread_join(m);
    REQUIRE(t != NULL);
    const size_t first = (size_t)1 << 30;
    chm_stats_t st;
    long bad = 0;
    size_t i = 0;
    do {
        if (chm_put(t, key_of(first + i), val_of(key_of(first + i)), NULL) !=
            CHM_OK)
            bad++;
        i++;
        chm_stats(m, &st);
    } while (st.table_size < 2 * fill && i < 16 * fill); /* a map that
                                            * never grows fails, not hangs */
    stall_release();
    REQUIRE(pthread_join(th, NULL) == 0);
    chm_test_alloc_hook(NULL);
    chm_stats(m, &st);
    printf("#   table %zu bins, %zu KiB spare, %llu KiB recycled\n",
           st.table_size, st.table_bytes_spare >> 10,
           (unsigned long long)(st.table_bytes_recycled >> 10));
    CHECK_EQ_U64(st.table_size, 2 * fill);   /* the slow claim failed */
    CHECK(st.table_bytes_spare < 2 * fill * sizeof(chm_bin_t));
    CHECK_EQ_U64(a.bad, 0);
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), a.inserted + i);
    chm_thread_leave(t);
    chm_free(m);
}
#endif

int main(void)
{
    run_test("mapped_table_layout", test_mapped_table_layout);
    run_test("grow_from_one", test_grow_from_one);
    run_test("grow_mixed_ops", test_grow_mixed_ops);
    run_test("reserve", test_reserve);
#ifdef CHM_FAULT_INJECTION
    run_test("stalled_table_alloc", test_stalled_table_alloc);
    run_test("losing_table_unmapped", test_losing_table_unmapped);
#endif
    return check_finish();
}
