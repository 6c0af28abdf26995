/*
 * test_iter.c - weakly consistent traversal (chm_iter_*).  On a quiescent
 * map it returns every entry exactly once with its value; during concurrent
 * resizes (other threads inserting and removing) every key present for the
 * whole traversal comes back exactly once and no key comes back twice; an
 * early chm_iter_finish unpins (garbage is reclaimed again); an empty map
 * iterates to nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chm.h"
#include "check.h"

static size_t scaled(double base, size_t min)
{
    double v = base * chm_test_scale();
    return v < (double)min ? min : (size_t)v;
}

static uintptr_t val_of(uintptr_t k)
{
    return k * 2 + 1;
}

/* ---- empty maps ----------------------------------------------------------- */

static void test_iter_empty(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    chm_iter it;
    uintptr_t k = 123, v = 456;

    /* never inserted into (the table may not even exist) */
    chm_iter_init(&it, t);
    CHECK(!chm_iter_next(&it, &k, &v));
    CHECK(!chm_iter_next(&it, &k, &v)); /* still at the end */
    chm_iter_finish(&it);               /* harmless after the end */

    /* filled, then emptied */
    for (uintptr_t i = 0; i < 1000; i++)
        CHECK_EQ_INT(chm_put(t, i, i, NULL), CHM_OK);
    for (uintptr_t i = 0; i < 1000; i++)
        CHECK_EQ_INT(chm_remove(t, i, NULL), CHM_OK);
    chm_iter_init(&it, t);
    CHECK(!chm_iter_next(&it, &k, &v));
    chm_iter_finish(&it);

    /* cleared */
    for (uintptr_t i = 0; i < 100; i++)
        CHECK_EQ_INT(chm_put(t, i, i, NULL), CHM_OK);
    CHECK_EQ_INT(chm_clear(t), CHM_OK);
    chm_iter_init(&it, t);
    CHECK(!chm_iter_next(&it, &k, &v));

    /* finish right after init, without a call to next */
    chm_iter_init(&it, t);
    chm_iter_finish(&it);
    chm_iter_finish(&it); /* twice */

    /* the thread is unpinned: leave requires it */
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- quiescent maps ------------------------------------------------------- */

static uint64_t group_hash(uintptr_t key, uint64_t seed)
{
    /* 16 consecutive keys share a hash: every bin holds >= 16 entries, so
     * the map is made of tree bins */
    uint64_t z = (uint64_t)(key / 16) + seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void iter_all_once(const chm_type *ty, size_t n, size_t cap)
{
    chm_t *m = chm_new(ty, cap);
    chm_thread_t *t = chm_thread_join(m);
    for (uintptr_t i = 0; i < n; i++)
        CHECK_EQ_INT(chm_put(t, i, val_of(i), NULL), CHM_OK);
    /* a few removed, to leave holes */
    for (uintptr_t i = 0; i < n; i += 10)
        CHECK_EQ_INT(chm_remove(t, i, NULL), CHM_OK);

    unsigned char *seen = calloc(n, 1);
    chm_iter it;
    uintptr_t k, v;
    size_t count = 0;
    long bad = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v)) {
        count++;
        if (k >= n || k % 10 == 0 || v != val_of(k))
            bad++;
        else if (seen[k]++)
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(count, n - (n + 9) / 10);
    for (uintptr_t i = 0; i < n; i++)
        if ((i % 10 != 0) != (seen[i] == 1))
            bad++;
    CHECK_EQ_U64(bad, 0);
    /* iterating again gives the same */
    size_t count2 = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v))
        count2++;
    CHECK_EQ_U64(count2, count);
    if (ty != NULL) {
        chm_stats_t st;
        chm_stats(m, &st);
        CHECK(st.tree_bins > 0);
    }
    free(seen);
    chm_thread_leave(t);
    chm_free(m);
}

static void test_iter_quiescent(void)
{
    const chm_type trees = {.hash = group_hash};
    iter_all_once(NULL, scaled(100000, 20000), 0);
    iter_all_once(NULL, 37, 1);
    iter_all_once(NULL, 1, 0);
    iter_all_once(&trees, scaled(50000, 10000), 0);
}

/* ---- early finish unpins ---------------------------------------------------- */

static _Atomic long vfree_calls;

static void count_val_free(uintptr_t v)
{
    (void)v;
    atomic_fetch_add_explicit(&vfree_calls, 1, memory_order_relaxed);
}

struct early {
    chm_t *m;
    _Atomic int phase; /* 1: iterator active, 2: updater done, 3: finished */
    long freed_while_pinned;
};

static void *early_updater(void *arg)
{
    struct early *e = arg;
    chm_thread_t *t = chm_thread_join(e->m);
    while (atomic_load(&e->phase) < 1)
        ;
    /* the iterating thread is pinned: nothing retired now may be freed */
    long before = atomic_load(&vfree_calls);
    for (uintptr_t i = 0; i < 20000; i++)
        CHECK_EQ_INT(chm_put(t, i % 50, i + 1000, NULL), CHM_EXISTS);
    e->freed_while_pinned = atomic_load(&vfree_calls) - before;
    atomic_store(&e->phase, 2);
    while (atomic_load(&e->phase) < 3)
        ;
    /* now it is unpinned: more updates let the garbage go */
    for (uintptr_t i = 0; i < 20000; i++)
        CHECK_EQ_INT(chm_put(t, i % 50, i + 50000, NULL), CHM_EXISTS);
    chm_thread_leave(t); /* waits for a grace period */
    return NULL;
}

static void test_iter_finish_early(void)
{
    const chm_type ty = {.val_free = count_val_free};
    atomic_store(&vfree_calls, 0);
    struct early e = {0};
    e.m = chm_new(&ty, 0);
    chm_thread_t *t = chm_thread_join(e.m);
    for (uintptr_t i = 0; i < 100; i++)
        CHECK_EQ_INT(chm_put(t, i, i, NULL), CHM_OK);
    pthread_t th;
    pthread_create(&th, NULL, early_updater, &e);

    chm_iter it;
    uintptr_t k, v;
    int n = 0;
    chm_iter_init(&it, t);
    for (int i = 0; i < 5; i++)
        if (chm_iter_next(&it, &k, &v)) {
            CHECK(k < 100);
            CHECK_EQ_U64(v, k);
            n++;
        }
    CHECK_EQ_INT(n, 5);
    atomic_store(&e.phase, 1);
    while (atomic_load(&e.phase) < 2)
        ;
    CHECK_EQ_INT(e.freed_while_pinned, 0);
    chm_iter_finish(&it);
    chm_iter_finish(&it); /* harmless twice */
    atomic_store(&e.phase, 3);
    pthread_join(th, NULL);
    /* 40000 values were replaced; the updater's leave waited for a grace
     * period with nobody pinned: its garbage is freed */
    CHECK_GE_U64(atomic_load(&vfree_calls), 40000);
    chm_thread_leave(t);
    chm_free(e.m);
    /* plus the 100 values still stored */
    CHECK_EQ_U64(atomic_load(&vfree_calls), 40100);
}

/* ---- during concurrent resizes ----------------------------------------------- */

#define IW 2 /* writer threads */

struct rs {
    chm_t *m;
    size_t stable;     /* keys [0, stable) present throughout */
    size_t per_writer; /* writer w inserts [stable + w*per_writer, ...) */
    _Atomic int started, writers_done;
    long iterations, overlapped, bad_dup, bad_missing, bad_value, bad_key;
};

struct rs_w {
    struct rs *r;
    int w;
};

static void *rs_writer(void *arg)
{
    struct rs *r = ((struct rs_w *)arg)->r;
    int w = ((struct rs_w *)arg)->w;
    chm_thread_t *t = chm_thread_join(r->m);
    while (!atomic_load(&r->started))
        ;
    uintptr_t base = r->stable + (uintptr_t)w * r->per_writer;
    long bad = 0;
    for (uintptr_t i = 0; i < r->per_writer; i++) {
        uintptr_t k = base + i;
        if (chm_put(t, k, val_of(k), NULL) != CHM_OK)
            bad++;
        /* churn: remove some of my own keys again (never stable ones) */
        if (i >= 64 && i % 3 == 0 &&
            chm_remove(t, base + i - 64, NULL) != CHM_OK)
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    atomic_fetch_add(&r->writers_done, 1);
    chm_thread_leave(t);
    return NULL;
}

static void *rs_reader(void *arg)
{
    struct rs *r = arg;
    chm_thread_t *t = chm_thread_join(r->m);
    size_t total = r->stable + IW * r->per_writer;
    uint32_t *stamp = calloc(total, sizeof *stamp);
    uint32_t iter_no = 0;
    bool first = true;
    for (;;) {
        bool last = atomic_load(&r->writers_done) == IW;
        iter_no++;
        chm_stats_t s0, s1;
        chm_stats(r->m, &s0);
        chm_iter it;
        uintptr_t k, v;
        size_t stable_seen = 0;
        chm_iter_init(&it, t);
        if (first) {
            atomic_store(&r->started, 1);
            first = false;
        }
        while (chm_iter_next(&it, &k, &v)) {
            if (k >= total) {
                r->bad_key++;
                continue;
            }
            if (v != val_of(k))
                r->bad_value++;
            if (stamp[k] == iter_no)
                r->bad_dup++;
            stamp[k] = iter_no;
            if (k < r->stable)
                stable_seen++;
        }
        chm_stats(r->m, &s1);
        if (stable_seen != r->stable)
            r->bad_missing += (long)(r->stable - stable_seen);
        r->iterations++;
        if (s1.resizes != s0.resizes)
            r->overlapped++;
        if (last)
            break;
    }
    free(stamp);
    chm_thread_leave(t);
    return NULL;
}

static void run_iter_resize(const chm_type *ty)
{
    struct rs r;
    memset(&r, 0, sizeof r);
    r.stable = scaled(20000, 4000);
    r.per_writer = scaled(150000, 30000);
    r.m = chm_new(ty, 16);
    chm_thread_t *t = chm_thread_join(r.m);
    for (uintptr_t i = 0; i < r.stable; i++)
        CHECK_EQ_INT(chm_put(t, i, val_of(i), NULL), CHM_OK);
    chm_stats_t st0, st1;
    chm_stats(r.m, &st0);
    pthread_t rd, wr[IW];
    struct rs_w wa[IW];
    pthread_create(&rd, NULL, rs_reader, &r);
    for (int i = 0; i < IW; i++) {
        wa[i].r = &r;
        wa[i].w = i;
        pthread_create(&wr[i], NULL, rs_writer, &wa[i]);
    }
    for (int i = 0; i < IW; i++)
        pthread_join(wr[i], NULL);
    pthread_join(rd, NULL);
    chm_stats(r.m, &st1);

    CHECK_EQ_INT(r.bad_dup, 0);
    CHECK_EQ_INT(r.bad_missing, 0);
    CHECK_EQ_INT(r.bad_value, 0);
    CHECK_EQ_INT(r.bad_key, 0);
    CHECK_GE_INT(r.iterations, 2);
    /* the writers forced resizes, and the reader was walking during some */
    CHECK_GE_U64(st1.resizes - st0.resizes, 2);
    CHECK_GE_INT(r.overlapped, 1);
    printf("#   iterations %ld, during a resize %ld, resizes %llu\n",
           r.iterations, r.overlapped,
           (unsigned long long)(st1.resizes - st0.resizes));

    /* quiescent now: exactly the model */
    size_t total = r.stable + IW * r.per_writer;
    unsigned char *seen = calloc(total, 1);
    chm_iter it;
    uintptr_t k, v;
    size_t count = 0;
    long bad = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v)) {
        if (k >= total || v != val_of(k) || seen[k]++)
            bad++;
        count++;
    }
    for (uintptr_t key = 0; key < total; key++) {
        bool want = true;
        if (key >= r.stable) {
            uintptr_t i = (key - r.stable) % r.per_writer;
            /* removed: i + 64 < per_writer and (i + 64) % 3 == 0 */
            if (i + 64 < r.per_writer && (i + 64) % 3 == 0)
                want = false;
        }
        if (want != (seen[key] == 1))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(count, chm_size(r.m));
    free(seen);
    chm_thread_leave(t);
    chm_free(r.m);
}

static void test_iter_during_resize(void)
{
    run_iter_resize(NULL);
}

static void test_iter_during_resize_trees(void)
{
    const chm_type trees = {.hash = group_hash};
    run_iter_resize(&trees);
}

int main(void)
{
    run_test("iter_empty", test_iter_empty);
    run_test("iter_quiescent", test_iter_quiescent);
    run_test("iter_finish_early", test_iter_finish_early);
    run_test("iter_during_resize", test_iter_during_resize);
    run_test("iter_during_resize_trees", test_iter_during_resize_trees);
    return check_finish();
}
