/*
 * test_tree.c - tree bins.  Keys whose hashes collide pile into one bin,
 * which becomes a red-black tree at 8 entries (once the table has >= 64
 * bins) and a list again when it shrinks.  Checked: every key stays
 * reachable through treeify, untreeify and resizes; keys without a cmp
 * (incomparable: pointer keys compared by contents) are found by a different
 * pointer; lock-free readers never miss a key while a writer reshapes the
 * tree; concurrent writers in one tree bin lose nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chm.h"
#include "check.h"

static size_t scaled(double base, size_t min)
{
    double v = base * chm_test_scale();
    return v < (double)min ? min : (size_t)v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- integer keys, constant hash, with eq and cmp ---------------------- */

static _Atomic long eq_calls, cmp_calls;

static uint64_t const_hash(uintptr_t key, uint64_t seed)
{
    (void)key;
    (void)seed;
    return 0x2a; /* every key collides */
}

static bool int_eq(uintptr_t a, uintptr_t b)
{
    atomic_fetch_add_explicit(&eq_calls, 1, memory_order_relaxed);
    return a == b;
}

static int int_cmp(uintptr_t a, uintptr_t b)
{
    atomic_fetch_add_explicit(&cmp_calls, 1, memory_order_relaxed);
    return a < b ? -1 : a > b;
}

static uintptr_t vfor(uintptr_t k)
{
    return k * 3 + 1;
}

static long check_range(chm_thread_t *t, uintptr_t lo, uintptr_t hi,
                        bool want_present)
{
    long bad = 0;
    for (uintptr_t k = lo; k < hi; k++) {
        uintptr_t v = 0;
        bool p = chm_get(t, k, &v);
        if (p != want_present || (p && v != vfor(k)))
            bad++;
    }
    return bad;
}

static void test_collide_with_cmp(void)
{
    const chm_type ty = {.hash = const_hash, .eq = int_eq, .cmp = int_cmp};
    const uintptr_t N = 2000;
    chm_t *m = chm_new(&ty, 0);
    chm_thread_t *t = chm_thread_join(m);
    chm_stats_t st;
    long bad = 0;

    /* insert in a scrambled order so the tree sees both directions */
    for (uintptr_t i = 0; i < N; i++) {
        uintptr_t k = (i * 1237) % N; /* 1237 is coprime with 2000 */
        if (chm_put(t, k, vfor(k), NULL) != CHM_OK)
            bad++;
        /* early: everything so far reachable across treeify and growth */
        if (i < 80) {
            for (uintptr_t j = 0; j <= i; j++) {
                uintptr_t kj = (j * 1237) % N, v = 0;
                if (!chm_get(t, kj, &v) || v != vfor(kj))
                    bad++;
            }
            if (chm_get(t, ((i + 1) * 1237) % N, NULL))
                bad++;
        }
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), N);
    CHECK_EQ_U64(check_range(t, 0, N, true), 0);
    CHECK_EQ_U64(check_range(t, N, N + 100, false), 0);
    chm_stats(m, &st);
    CHECK(st.treeifications > 0);
    CHECK(st.tree_bins >= 1);
    CHECK(st.table_size >= 64);
    CHECK(atomic_load(&cmp_calls) > 0); /* cmp orders the tree */

    /* every update operation on keys inside the tree */
    uintptr_t out = 0;
    CHECK_EQ_INT(chm_put(t, 5, 999, &out), CHM_EXISTS);
    CHECK_EQ_U64(out, vfor(5));
    CHECK_EQ_INT(chm_put_if_absent(t, 5, 1000, &out), CHM_EXISTS);
    CHECK_EQ_U64(out, 999);
    CHECK_EQ_INT(chm_replace(t, 5, vfor(5), &out), CHM_OK);
    CHECK_EQ_U64(out, 999);
    CHECK_EQ_INT(chm_replace_if(t, 6, 0, 1), CHM_MISMATCH);
    CHECK_EQ_INT(chm_replace_if(t, 6, vfor(6), vfor(6)), CHM_OK);
    CHECK_EQ_INT(chm_replace(t, N + 1, 1, NULL), CHM_NOT_FOUND);
    CHECK_EQ_INT(chm_replace_if(t, N + 1, 1, 2), CHM_NOT_FOUND);
    CHECK_EQ_INT(chm_remove_if(t, 7, 0), CHM_MISMATCH);
    CHECK_EQ_INT(chm_remove_if(t, N + 1, 0), CHM_NOT_FOUND);
    CHECK_EQ_INT(chm_remove(t, N + 1, NULL), CHM_NOT_FOUND);
    CHECK_EQ_U64(chm_size(m), N);
    CHECK_EQ_U64(check_range(t, 0, N, true), 0);

    /* remove down to 3 keys (3 .. 5 stay), in a scrambled order */
    bad = 0;
    size_t left = N;
    for (uintptr_t i = 0; i < N; i++) {
        uintptr_t k = (i * 1237 + 11) % N;
        if (k >= 3 && k <= 5)
            continue;
        int rc = (i & 1) ? chm_remove(t, k, &out) : chm_remove_if(t, k, vfor(k));
        if (rc != CHM_OK || ((i & 1) && out != vfor(k)))
            bad++;
        left--;
        if (chm_size(m) != left)
            bad++;
        /* the survivors stay reachable while the tree shrinks */
        if (left < 20)
            bad += check_range(t, 3, 6, true);
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), 3);
    CHECK_EQ_U64(check_range(t, 3, 6, true), 0);
    CHECK_EQ_U64(check_range(t, 0, 3, false), 0);
    CHECK_EQ_U64(check_range(t, 6, N, false), 0);
    chm_stats(m, &st);
    CHECK(st.untreeifications > 0);
    CHECK_EQ_U64(st.tree_bins, 0);

    /* and it grows into a tree again */
    for (uintptr_t k = 100; k < 150; k++)
        CHECK_EQ_INT(chm_put(t, k, vfor(k), NULL), CHM_OK);
    CHECK_EQ_U64(check_range(t, 100, 150, true), 0);
    CHECK_EQ_U64(check_range(t, 3, 6, true), 0);
    chm_stats_t st2;
    chm_stats(m, &st2);
    CHECK(st2.treeifications > st.treeifications);
    CHECK_EQ_U64(chm_size(m), 53);
    chm_thread_leave(t);
    chm_free(m);
}

/* compute on a tree bin: insert, update, remove */
static chm_compute_action add_fn(void *ctx, uintptr_t key, bool present,
                                 uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    intptr_t d = *(intptr_t *)ctx;
    if (d == 0)
        return CHM_COMPUTE_REMOVE;
    *new_val = (present ? cur : 0) + (uintptr_t)d;
    return CHM_COMPUTE_SET;
}

static void test_compute_in_tree(void)
{
    const chm_type ty = {.hash = const_hash, .cmp = int_cmp};
    chm_t *m = chm_new(&ty, 200);
    chm_thread_t *t = chm_thread_join(m);
    uintptr_t out;
    intptr_t d = 1;
    for (uintptr_t k = 0; k < 100; k++) {
        CHECK_EQ_INT(chm_compute(t, k, add_fn, &d, &out), CHM_OK);
        CHECK_EQ_U64(out, 1);
    }
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK(st.treeifications > 0);
    d = 5;
    for (uintptr_t k = 0; k < 100; k++) {
        CHECK_EQ_INT(chm_compute(t, k, add_fn, &d, &out), CHM_OK);
        CHECK_EQ_U64(out, 6);
    }
    d = 0;
    for (uintptr_t k = 0; k < 100; k += 2)
        CHECK_EQ_INT(chm_compute(t, k, add_fn, &d, &out), CHM_NOT_FOUND);
    CHECK_EQ_U64(chm_size(m), 50);
    for (uintptr_t k = 0; k < 100; k++) {
        uintptr_t v = 0;
        bool p = chm_get(t, k, &v);
        CHECK(p == (k % 2 == 1));
        if (p)
            CHECK_EQ_U64(v, 6);
    }
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- incomparable keys: heap objects compared by contents, no cmp ------- */

struct pkey {
    uint64_t id;
    char pad[24];
};

static unsigned pk_hash_mode;

static uint64_t pk_hash(uintptr_t key, uint64_t seed)
{
    (void)seed;
    const struct pkey *p = (const struct pkey *)key;
    if (pk_hash_mode == 0)
        return 7; /* all equal */
    /* three distinct hashes, all in the same bin of any table < 2^40 */
    return ((p->id % 3) << 40) | 7;
}

static bool pk_eq(uintptr_t a, uintptr_t b)
{
    const struct pkey *x = (const struct pkey *)a, *y = (const struct pkey *)b;
    return x->id == y->id;
}

static struct pkey *pk_new(uint64_t id)
{
    struct pkey *p = calloc(1, sizeof *p);
    p->id = id;
    snprintf(p->pad, sizeof p->pad, "k%llu", (unsigned long long)id);
    return p;
}

static void run_incomparable(unsigned mode)
{
    pk_hash_mode = mode;
    const chm_type ty = {.hash = pk_hash, .eq = pk_eq};
    const size_t N = 600;
    struct pkey **stored = calloc(N, sizeof *stored);
    chm_t *m = chm_new(&ty, 0);
    chm_thread_t *t = chm_thread_join(m);
    long bad = 0;
    /* ids spread so that address order and id order disagree */
    for (size_t i = 0; i < N; i++) {
        uint64_t id = (i * 7919) % N;
        stored[id] = pk_new(id);
        if (chm_put(t, (uintptr_t)stored[id], id + 1, NULL) != CHM_OK)
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), N);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK(st.treeifications > 0);

    /* look up every key through a fresh object with the same contents */
    bad = 0;
    for (size_t id = 0; id < N; id++) {
        struct pkey *probe = pk_new(id);
        uintptr_t v = 0;
        if (!chm_get(t, (uintptr_t)probe, &v) || v != id + 1)
            bad++;
        /* and a put through it replaces; the map keeps its own key */
        uintptr_t old = 0;
        if (chm_put(t, (uintptr_t)probe, id + 2, &old) != CHM_EXISTS ||
            old != id + 1)
            bad++;
        free(probe);
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), N);
    /* absent contents are absent */
    bad = 0;
    for (size_t id = N; id < N + 50; id++) {
        struct pkey *probe = pk_new(id);
        if (chm_get(t, (uintptr_t)probe, NULL))
            bad++;
        free(probe);
    }
    CHECK_EQ_U64(bad, 0);
    /* iteration returns the stored pointers themselves */
    chm_iter it;
    uintptr_t k, v;
    size_t seen = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v)) {
        const struct pkey *p = (const struct pkey *)k;
        if (p->id >= N || stored[p->id] != p || v != p->id + 2)
            bad++;
        seen++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(seen, N);

    /* remove through probes down to 4 keys */
    bad = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t id = (i * 331) % N;
        if (id < 4)
            continue;
        struct pkey *probe = pk_new(id);
        uintptr_t old = 0;
        if (chm_remove(t, (uintptr_t)probe, &old) != CHM_OK || old != id + 2)
            bad++;
        free(probe);
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), 4);
    bad = 0;
    for (size_t id = 0; id < N; id++) {
        struct pkey *probe = pk_new(id);
        uintptr_t v2 = 0;
        bool p = chm_get(t, (uintptr_t)probe, &v2);
        if (p != (id < 4) || (p && v2 != id + 2))
            bad++;
        free(probe);
    }
    CHECK_EQ_U64(bad, 0);
    chm_thread_leave(t);
    chm_free(m); /* no key_free: the keys are ours */
    for (size_t i = 0; i < N; i++)
        free(stored[i]);
    free(stored);
}

static void test_incomparable_keys(void)
{
    run_incomparable(0);
    run_incomparable(1);
}

/* ---- tree bins surviving resizes --------------------------------------- */

/* key k has hash (k % D) * 64: with D distinct values, all in bin 0 of a
 * 64-bin table, spread over more bins as the table doubles; each resize
 * splits the trees. */
static uint64_t few_d;

static uint64_t few_hash(uintptr_t key, uint64_t seed)
{
    (void)seed;
    return (uint64_t)(key % few_d) * 64;
}

static void run_resize_trees(uint64_t distinct, size_t per_hash,
                             bool with_cmp)
{
    few_d = distinct;
    const chm_type ty = {.hash = few_hash, .cmp = with_cmp ? int_cmp : NULL};
    const size_t N = distinct * per_hash;
    chm_t *m = chm_new(&ty, 1);
    chm_thread_t *t = chm_thread_join(m);
    chm_stats_t st;
    long bad = 0;
    size_t last_table = 0;
    int table_changes = 0;
    for (uintptr_t k = 0; k < N; k++) {
        if (chm_put(t, k, vfor(k), NULL) != CHM_OK)
            bad++;
        chm_stats(m, &st);
        if (st.table_size != last_table) {
            /* after every resize, every key so far is reachable */
            table_changes++;
            bad += check_range(t, 0, k + 1, true);
            bad += check_range(t, k + 1, k + 50, false);
            last_table = st.table_size;
        }
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), N);
    CHECK_EQ_U64(check_range(t, 0, N, true), 0);
    chm_stats(m, &st);
    CHECK(st.treeifications > 0);
    CHECK(st.resizes > 0);
    CHECK(st.table_size > 64);
    CHECK(table_changes >= 3);

    /* grow much further: trees split until each hash has its own bin */
    uint64_t r0 = st.resizes;
    CHECK_EQ_INT(chm_reserve(t, 64 * distinct * 4), CHM_OK);
    chm_stats(m, &st);
    CHECK(st.resizes > r0);
    CHECK(st.table_size >= 64 * distinct);
    CHECK_EQ_U64(check_range(t, 0, N, true), 0);
    CHECK_EQ_U64(chm_size(m), N);
    if (per_hash > 8)
        CHECK(st.tree_bins >= 1);

    /* remove every other key, then grow again */
    bad = 0;
    for (uintptr_t k = 0; k < N; k += 2)
        if (chm_remove(t, k, NULL) != CHM_OK)
            bad++;
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_INT(chm_reserve(t, 64 * distinct * 16), CHM_OK);
    bad = 0;
    for (uintptr_t k = 0; k < N; k++) {
        uintptr_t v = 0;
        bool p = chm_get(t, k, &v);
        if (p != (k % 2 == 1) || (p && v != vfor(k)))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), N / 2);
    chm_thread_leave(t);
    chm_free(m);
}

static void test_resize_trees(void)
{
    run_resize_trees(32, 200, true);  /* big trees split into big trees */
    run_resize_trees(32, 200, false);
    run_resize_trees(32, 5, true);    /* trees split into small lists */
    run_resize_trees(8, 40, false);
}

/* ---- concurrent: lock-free readers while a writer reshapes the tree ---- */

#define STABLE 4          /* keys 0..3: never removed */
#define CHURN_BASE 1000   /* churn keys: 1000.. */

struct conc {
    chm_t *m;
    _Atomic int stop;
    _Atomic long misses, bad_values, reads;
    _Atomic long writer_rounds;
    double deadline;
};

static uintptr_t stable_val(uintptr_t k, uint64_t seq)
{
    return (uintptr_t)((seq << 8) | k);
}

static void *tree_reader(void *arg)
{
    struct conc *c = arg;
    chm_thread_t *t = chm_thread_join(c->m);
    check_rng_t rng = {77};
    long reads = 0;
    while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
        for (uintptr_t k = 0; k < STABLE; k++) {
            uintptr_t v = 0;
            if (!chm_get(t, k, &v))
                atomic_fetch_add(&c->misses, 1);
            else if ((v & 0xff) != k)
                atomic_fetch_add(&c->bad_values, 1);
            reads++;
        }
        /* churn keys: when found, the value is theirs */
        uintptr_t ck = CHURN_BASE + (uintptr_t)(check_rng_next(&rng) % 24);
        uintptr_t v = 0;
        if (chm_get(t, ck, &v) && v != vfor(ck))
            atomic_fetch_add(&c->bad_values, 1);
    }
    atomic_fetch_add(&c->reads, reads);
    chm_thread_leave(t);
    return NULL;
}

static void *tree_writer(void *arg)
{
    struct conc *c = arg;
    chm_thread_t *t = chm_thread_join(c->m);
    uint64_t seq = 1;
    long rounds = 0;
    long bad = 0;
    while (now_s() < c->deadline || rounds < 20) {
        /* grow the bin to 4 + 20 entries (a tree), shrink to 4 (a list) */
        for (uintptr_t k = CHURN_BASE; k < CHURN_BASE + 20; k++)
            if (chm_put(t, k, vfor(k), NULL) != CHM_OK)
                bad++;
        for (uintptr_t k = 0; k < STABLE; k++)
            if (chm_put(t, k, stable_val(k, seq++), NULL) != CHM_EXISTS)
                bad++;
        for (uintptr_t k = CHURN_BASE; k < CHURN_BASE + 20; k++)
            if (chm_remove(t, k, NULL) != CHM_OK)
                bad++;
        rounds++;
    }
    CHECK_EQ_U64(bad, 0);
    atomic_store(&c->writer_rounds, rounds);
    atomic_store_explicit(&c->stop, 1, memory_order_release);
    chm_thread_leave(t);
    return NULL;
}

static void test_concurrent_readers(void)
{
    const chm_type ty = {.hash = const_hash, .eq = int_eq, .cmp = int_cmp};
    struct conc c = {0};
    c.m = chm_new(&ty, 100); /* >= 64 bins: the bin treeifies */
    c.deadline = now_s() + 0.6 * chm_test_scale() + 0.1;
    chm_thread_t *t = chm_thread_join(c.m);
    for (uintptr_t k = 0; k < STABLE; k++)
        CHECK_EQ_INT(chm_put(t, k, stable_val(k, 0), NULL), CHM_OK);
    pthread_t r[2], w;
    for (int i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, tree_reader, &c);
    pthread_create(&w, NULL, tree_writer, &c);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    CHECK_EQ_U64(atomic_load(&c.misses), 0);
    CHECK_EQ_U64(atomic_load(&c.bad_values), 0);
    CHECK(atomic_load(&c.reads) > 0);
    chm_stats_t st;
    chm_stats(c.m, &st);
    CHECK(st.treeifications >= 2);
    CHECK(st.untreeifications >= 1);
    CHECK_EQ_U64(chm_size(c.m), STABLE);
    for (uintptr_t k = 0; k < STABLE; k++)
        CHECK(chm_get(t, k, NULL));
    chm_thread_leave(t);
    chm_free(c.m);
}

/* ---- concurrent writers in one tree bin --------------------------------- */

#define TW_THREADS 3
#define TW_KEYS 64 /* per thread */

struct tw {
    chm_t *m;
    int id;
    long ops;
    bool present[TW_KEYS];
    uintptr_t val[TW_KEYS];
    long bad;
};

static void *tree_mixed_writer(void *arg)
{
    struct tw *w = arg;
    chm_thread_t *t = chm_thread_join(w->m);
    check_rng_t rng = {1000 + (uint64_t)w->id};
    for (long i = 0; i < w->ops; i++) {
        uint64_t r = check_rng_next(&rng);
        size_t idx = (size_t)(r % TW_KEYS);
        uintptr_t k = (uintptr_t)w->id * 100000 + idx;
        uintptr_t v = (uintptr_t)(r >> 8), out = 0;
        int rc;
        switch ((r >> 40) % 4) {
        case 0:
            rc = chm_put(t, k, v, &out);
            if (rc != (w->present[idx] ? CHM_EXISTS : CHM_OK) ||
                (w->present[idx] && out != w->val[idx]))
                w->bad++;
            w->present[idx] = true;
            w->val[idx] = v;
            break;
        case 1:
            rc = chm_remove(t, k, &out);
            if (rc != (w->present[idx] ? CHM_OK : CHM_NOT_FOUND) ||
                (w->present[idx] && out != w->val[idx]))
                w->bad++;
            w->present[idx] = false;
            break;
        case 2:
            rc = chm_put_if_absent(t, k, v, &out);
            if (rc != (w->present[idx] ? CHM_EXISTS : CHM_OK))
                w->bad++;
            if (!w->present[idx]) {
                w->present[idx] = true;
                w->val[idx] = v;
            }
            break;
        default: {
            bool p = chm_get(t, k, &out);
            if (p != w->present[idx] || (p && out != w->val[idx]))
                w->bad++;
            break;
        }
        }
    }
    chm_thread_leave(t);
    return NULL;
}

static void test_concurrent_writers(void)
{
    const chm_type ty = {.hash = const_hash, .cmp = int_cmp};
    chm_t *m = chm_new(&ty, 0); /* small: treeify forces growth first */
    struct tw w[TW_THREADS];
    pthread_t th[TW_THREADS];
    long ops = (long)scaled(60000, 8000);
    for (int i = 0; i < TW_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].m = m;
        w[i].id = i + 1;
        w[i].ops = ops;
        pthread_create(&th[i], NULL, tree_mixed_writer, &w[i]);
    }
    for (int i = 0; i < TW_THREADS; i++)
        pthread_join(th[i], NULL);
    chm_thread_t *t = chm_thread_join(m);
    size_t count = 0;
    long bad = 0;
    for (int i = 0; i < TW_THREADS; i++) {
        CHECK_EQ_U64(w[i].bad, 0);
        for (size_t idx = 0; idx < TW_KEYS; idx++) {
            uintptr_t k = (uintptr_t)w[i].id * 100000 + idx, v = 0;
            bool p = chm_get(t, k, &v);
            if (p != w[i].present[idx] || (p && v != w[i].val[idx]))
                bad++;
            count += w[i].present[idx];
        }
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), count);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK(st.treeifications > 0);
    chm_thread_leave(t);
    chm_free(m);
}

int main(void)
{
    run_test("collide_with_cmp", test_collide_with_cmp);
    run_test("compute_in_tree", test_compute_in_tree);
    run_test("incomparable_keys", test_incomparable_keys);
    run_test("resize_trees", test_resize_trees);
    run_test("concurrent_readers", test_concurrent_readers);
    run_test("concurrent_writers", test_concurrent_writers);
    return check_finish();
}
