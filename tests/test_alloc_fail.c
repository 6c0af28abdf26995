/*
 * test_alloc_fail.c - injected allocation failures (built with
 * -DCHM_FAULT_INJECTION: chm_test_fail_allocs(after, count) makes `count`
 * allocations fail after the next `after` succeed).
 *
 * Every update that cannot allocate returns CHM_ENOMEM (or NULL) and leaves
 * the map exactly as it was: the same keys, values and size; values the map
 * did not take stay the caller's (the test frees them; ASan/LSan and a live
 * count catch leaks and double frees).  An insert whose resize cannot get a
 * table still succeeds; a started resize retries.  A sweep fails the k-th
 * allocation of a long sequence of inserts, replaces and removes (resizes,
 * tree bins) and checks the map against a model after each run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chm.h"
#include "chm_internal.h"
#include "check.h"

#ifndef CHM_FAULT_INJECTION
#error "test_alloc_fail needs -DCHM_FAULT_INJECTION"
#endif

static void arm(long after, long count)
{
    chm_test_fail_allocs(after, count);
}

static void disarm(void)
{
    chm_test_fail_allocs(-1, 0);
}

/* ---- heap values: every one freed exactly once, by us or by the map --- */

#define HV_LIVE 0x4c495645u
#define HV_DEAD 0x44454144u

struct hv {
    uint32_t magic;
    uintptr_t key;
    uint64_t serial;
};

static _Atomic long live_vals, map_freed, bad_frees;
static uint64_t hv_serial;

static uintptr_t hv_new(uintptr_t key)
{
    struct hv *p = malloc(sizeof *p);
    p->magic = HV_LIVE;
    p->key = key;
    p->serial = ++hv_serial;
    atomic_fetch_add(&live_vals, 1);
    return (uintptr_t)p;
}

static void hv_kill(uintptr_t v)
{
    struct hv *p = (struct hv *)v;
    if (p->magic != HV_LIVE)
        atomic_fetch_add(&bad_frees, 1);
    p->magic = HV_DEAD;
    free(p);
    atomic_fetch_sub(&live_vals, 1);
}

/* the caller frees a value the map did not take */
static void hv_release(uintptr_t v)
{
    hv_kill(v);
}

static void val_free_cb(uintptr_t v)
{
    atomic_fetch_add(&map_freed, 1);
    hv_kill(v);
}

static uint64_t id_hash(uintptr_t key, uint64_t seed)
{
    (void)seed;
    return (uint64_t)key;
}

/* 8 distinct hashes: bins grow long, become trees, split on resize */
static uint64_t few_hash(uintptr_t key, uint64_t seed)
{
    (void)seed;
    uint64_t z = (uint64_t)(key % 8) + 0x1234;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- the model -------------------------------------------------------- */

#define MKEYS 256

struct model {
    bool present[MKEYS];
    uintptr_t val[MKEYS];
    size_t count;
};

/* the map holds exactly the model: get, iteration and size */
static long verify(chm_t *m, chm_thread_t *t, const struct model *md)
{
    long bad = 0;
    for (uintptr_t k = 0; k < MKEYS; k++) {
        uintptr_t v = 0;
        bool p = chm_get(t, k, &v);
        if (p != md->present[k] || (p && v != md->val[k])) {
            if (bad < 5)
                fprintf(stderr, "  key %lu: map %d/%#lx, model %d/%#lx\n",
                        (unsigned long)k, (int)p, (unsigned long)v,
                        (int)md->present[k], (unsigned long)md->val[k]);
            bad++;
        }
    }
    chm_iter it;
    uintptr_t k, v;
    size_t n = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v)) {
        n++;
        if (k >= MKEYS || !md->present[k] || md->val[k] != v)
            bad++;
    }
    if (n != md->count)
        bad++;
    if (chm_size(m) != md->count) {
        fprintf(stderr, "  size %zu, model %zu\n", chm_size(m), md->count);
        bad++;
    }
    return bad;
}

static void model_set(struct model *md, uintptr_t k, uintptr_t v)
{
    if (!md->present[k])
        md->count++;
    md->present[k] = true;
    md->val[k] = v;
}

static void model_del(struct model *md, uintptr_t k)
{
    if (md->present[k])
        md->count--;
    md->present[k] = false;
}

/* ---- compute callback: SET ctx->nv ------------------------------------ */

struct cset {
    uintptr_t nv;
    int calls;
    bool remove;
};

static chm_compute_action set_fn(void *ctx, uintptr_t key, bool present,
                                 uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    (void)cur;
    struct cset *c = ctx;
    c->calls++;
    if (c->remove)
        return present ? CHM_COMPUTE_REMOVE : CHM_COMPUTE_KEEP;
    *new_val = c->nv;
    return CHM_COMPUTE_SET;
}

/* ---- single operations ------------------------------------------------ */

struct fixture {
    chm_t *m;
    chm_thread_t *t;
    struct model md;
    size_t n; /* bins */
};

static void fx_open(struct fixture *f)
{
    static const chm_type ty = {.hash = id_hash, .val_free = val_free_cb};
    memset(f, 0, sizeof *f);
    f->m = chm_new(&ty, 40); /* 64 bins */
    f->t = chm_thread_join(f->m);
    /* keys 0, 8, 16, ..., 56: bins 0, 8, ..., 56 */
    for (uintptr_t k = 0; k < 64; k += 8) {
        uintptr_t v = hv_new(k);
        CHECK_EQ_INT(chm_put(f->t, k, v, NULL), CHM_OK);
        model_set(&f->md, k, v);
    }
    chm_stats_t st;
    chm_stats(f->m, &st);
    f->n = st.table_size;
    CHECK_EQ_INT(verify(f->m, f->t, &f->md), 0);
}

static void fx_close(struct fixture *f)
{
    disarm();
    CHECK_EQ_INT(verify(f->m, f->t, &f->md), 0);
    chm_thread_leave(f->t);
    chm_free(f->m);
    CHECK_EQ_INT(atomic_load(&live_vals), 0);
    CHECK_EQ_INT(atomic_load(&bad_frees), 0);
}

/* run one failing update: the next allocation fails */
#define FAIL_NEXT(expr, want)                                                \
    do {                                                                     \
        long f0_ = chm_test_allocs_failed();                                 \
        arm(0, 1);                                                           \
        int rc_ = (expr);                                                    \
        disarm();                                                            \
        CHECK_EQ_INT(rc_, want);                                             \
        CHECK_EQ_INT(chm_test_allocs_failed() - f0_, 1);                     \
    } while (0)

/* Insert key k, whose bin's bucket has a free slot, with the next
 * allocation armed to fail: an insert into the bucket allocates nothing, so
 * it succeeds and no allocation was attempted-and-failed. */
static void put_into_bucket(struct fixture *f, uintptr_t k)
{
    uintptr_t v = hv_new(k);
    long f0 = chm_test_allocs_failed();
    arm(0, 1);
    CHECK_EQ_INT(chm_put_if_absent(f->t, k, v, NULL), CHM_OK);
    disarm();
    CHECK_EQ_INT(chm_test_allocs_failed() - f0, 0);
    model_set(&f->md, k, v);
    CHECK_EQ_INT(verify(f->m, f->t, &f->md), 0);
}

static void test_insert_enomem(void)
{
    struct fixture f;
    fx_open(&f);
    /* key 3: its bin (3 & (n-1)) is empty and its bucket free; key 8 + 2n
     * shares key 8's bin, whose bucket is full once it holds 8 + n too */
    const uintptr_t empty_bin_key = 3, busy_bin_key = 8 + 2 * f.n;
    CHECK(f.n == 64 && busy_bin_key < MKEYS);
    CHECK_EQ_INT(CHM_BUCKET_SLOTS, 2);
    put_into_bucket(&f, 8 + f.n);
    put_into_bucket(&f, empty_bin_key);
    /* Removed while we stay pinned, the entry takes its bucket with it
     * until a grace period passes (which it cannot), so the bin is empty
     * but every insert into it must allocate - and may fail. */
    chm_pin(f.t);
    CHECK_EQ_INT(chm_remove(f.t, empty_bin_key, NULL), CHM_OK);
    model_del(&f.md, empty_bin_key);
    const uintptr_t keys[2] = {empty_bin_key, busy_bin_key};
    for (int i = 0; i < 2; i++) {
        uintptr_t k = keys[i], v = hv_new(k), out = 12345;
        FAIL_NEXT(chm_put(f.t, k, v, &out), CHM_ENOMEM);
        CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
        FAIL_NEXT(chm_put_if_absent(f.t, k, v, &out), CHM_ENOMEM);
        CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
        struct cset c = {.nv = v};
        FAIL_NEXT(chm_compute(f.t, k, set_fn, &c, &out), CHM_ENOMEM);
        CHECK(c.calls <= 1);
        CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
        /* the bin is usable afterwards (no reservation left behind) */
        CHECK_EQ_INT(chm_put(f.t, k, v, NULL), CHM_OK);
        model_set(&f.md, k, v);
        CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
    }
    chm_unpin(f.t);
    fx_close(&f);
}

/* Leave and join again: leaving waits for a grace period and runs the
 * callbacks of everything the handle retired. */
static void fx_rejoin(struct fixture *f)
{
    chm_thread_leave(f->t);
    f->t = chm_thread_join(f->m);
    CHECK(f->t != NULL);
}

/* A bucket emptied by a removal comes back after its grace period: an
 * insert into the bin then allocates nothing again. */
static void test_bucket_reused(void)
{
    struct fixture f;
    fx_open(&f);
    const uintptr_t k = 3; /* an empty bin */
    for (int round = 0; round < 3; round++) {
        put_into_bucket(&f, k);
        CHECK_EQ_INT(chm_remove(f.t, k, NULL), CHM_OK);
        model_del(&f.md, k);
        fx_rejoin(&f);
    }
    fx_close(&f);
}

/* The callback of a removed bucket entry touches its table (the slot's
 * key and value, the bucket's busy bits).  Here the table is resized away
 * and its own grace period passes while that record is still waiting in
 * another thread's batch: the table must stay allocated until the callback
 * has run.  (AddressSanitizer reports the use after free if it does not.) */
static void test_bucket_record_outlives_resize(void)
{
    struct fixture f;
    fx_open(&f);
    chm_thread_t *t2 = chm_thread_join(f.m);
    CHECK(t2 != NULL);
    /* key 16 sits in its bin's bucket; t1 removes it and does not hand
     * its batch over (fewer than a poll's worth of retirements) */
    CHECK_EQ_INT(chm_remove(f.t, 16, NULL), CHM_OK);
    model_del(&f.md, 16);
    /* t2 grows the table several times; leaving runs its callbacks, among
     * them the old tables' */
    for (uintptr_t k = 64; k < MKEYS; k++) {
        uintptr_t v = hv_new(k);
        CHECK_EQ_INT(chm_put(t2, k, v, NULL), CHM_OK);
        model_set(&f.md, k, v);
    }
    chm_stats_t st;
    chm_stats(f.m, &st);
    CHECK(st.table_size > f.n);
    chm_thread_leave(t2);
    /* now t1's callback runs, on the first table's memory */
    fx_rejoin(&f);
    fx_close(&f);
}

static void test_replace_enomem(void)
{
    /* with val_free, a replacement needs a retirement record */
    struct fixture f;
    fx_open(&f);
    const uintptr_t k = 16;
    uintptr_t nv = hv_new(k), out = 12345;
    int64_t vf0 = atomic_load(&map_freed);
    FAIL_NEXT(chm_put(f.t, k, nv, &out), CHM_ENOMEM);
    CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
    FAIL_NEXT(chm_replace(f.t, k, nv, &out), CHM_ENOMEM);
    CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
    FAIL_NEXT(chm_replace_if(f.t, k, f.md.val[k], nv), CHM_ENOMEM);
    CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
    struct cset c = {.nv = nv};
    FAIL_NEXT(chm_compute(f.t, k, set_fn, &c, &out), CHM_ENOMEM);
    CHECK(c.calls <= 1);
    CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
    /* nothing was retired by the failed updates */
    CHECK_EQ_INT(atomic_load(&map_freed) - vf0, 0);

    /* removal never fails */
    arm(0, 1);
    uintptr_t old = 0;
    CHECK_EQ_INT(chm_remove(f.t, 24, &old), CHM_OK);
    CHECK_EQ_U64(old, f.md.val[24]);
    model_del(&f.md, 24);
    CHECK_EQ_INT(chm_remove_if(f.t, 32, f.md.val[32]), CHM_OK);
    model_del(&f.md, 32);
    disarm();
    CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);

    /* and the replacement works once memory is back */
    out = 0;
    uintptr_t prev = f.md.val[k];
    CHECK_EQ_INT(chm_put(f.t, k, nv, &out), CHM_EXISTS);
    CHECK_EQ_U64(out, prev);
    model_set(&f.md, k, nv);
    fx_close(&f);
}

/* A removal that cannot allocate the record of its freed bucket slot
 * still succeeds: the slot is orphaned - never used again by its table,
 * its value freed with the table.  Checked for a table that stays (freed by
 * chm_free) and for one a resize retires (freed after its grace period);
 * fx_close checks every value was freed exactly once. */
static void test_remove_orphans(void)
{
    for (int grow = 0; grow < 2; grow++) {
        struct fixture f;
        fx_open(&f);
        /* key 24 is alone in its bin; nothing has opened a batch yet */
        arm(0, 1000);
        CHECK_EQ_INT(chm_remove(f.t, 24, NULL), CHM_OK);
        disarm();
        model_del(&f.md, 24);
        CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
        /* grace periods pass; the bucket stays taken: a new entry in the
         * bin needs a heap node */
        fx_rejoin(&f);
        uintptr_t v = hv_new(24);
        FAIL_NEXT(chm_put(f.t, 24, v, NULL), CHM_ENOMEM);
        CHECK_EQ_INT(chm_put(f.t, 24, v, NULL), CHM_OK);
        model_set(&f.md, 24, v);
        if (grow) {
            for (uintptr_t k = 64; k < MKEYS; k++) {
                uintptr_t w = hv_new(k);
                CHECK_EQ_INT(chm_put(f.t, k, w, NULL), CHM_OK);
                model_set(&f.md, k, w);
            }
            fx_rejoin(&f); /* the first table's grace period and free */
        }
        fx_close(&f);
    }
}

static void test_reserve_enomem(void)
{
    struct fixture f;
    fx_open(&f);
    chm_stats_t st0, st1;
    chm_stats(f.m, &st0);
    FAIL_NEXT(chm_reserve(f.t, 100000), CHM_ENOMEM);
    chm_stats(f.m, &st1);
    CHECK_EQ_U64(st1.table_size, st0.table_size);
    CHECK_EQ_U64(st1.resizes, st0.resizes);
    CHECK_EQ_INT(verify(f.m, f.t, &f.md), 0);
    /* updates keep working at the old size */
    uintptr_t v = hv_new(5);
    CHECK_EQ_INT(chm_put(f.t, 5, v, NULL), CHM_OK);
    model_set(&f.md, 5, v);
    CHECK_EQ_INT(chm_reserve(f.t, 100000), CHM_OK);
    chm_stats(f.m, &st1);
    CHECK(st1.table_size > st0.table_size);
    fx_close(&f);
}

/* a fixed (seed-independent) mixing hash: two maps resize alike */
static uint64_t mix_hash(uintptr_t key, uint64_t seed)
{
    (void)seed;
    uint64_t z = (uint64_t)key + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* an insert whose resize cannot get its table still succeeds */
static void test_resize_table_enomem(void)
{
    static const chm_type ty = {.hash = mix_hash, .val_free = val_free_cb};
    chm_t *m = chm_new(&ty, 0);
    chm_thread_t *t = chm_thread_join(m);
    struct model md;
    memset(&md, 0, sizeof md);
    chm_stats_t st0, st1;
    chm_stats(m, &st0);
    /* fill to just below the first threshold */
    uintptr_t k = 0;
    for (;; k++) {
        uintptr_t v = hv_new(k);
        CHECK_EQ_INT(chm_put(t, k, v, NULL), CHM_OK);
        model_set(&md, k, v);
        chm_stats(m, &st1);
        if (st1.resizes != st0.resizes || k > 100)
            break;
    }
    CHECK(k <= 100);
    /* k was the insert that resized: start again one below it */
    chm_thread_leave(t);
    chm_free(m); /* frees the values */
    uintptr_t trigger = k;
    m = chm_new(&ty, 0);
    t = chm_thread_join(m);
    memset(&md, 0, sizeof md);
    for (k = 0; k < trigger; k++) {
        uintptr_t v = hv_new(k);
        CHECK_EQ_INT(chm_put(t, k, v, NULL), CHM_OK);
        model_set(&md, k, v);
    }
    chm_stats(m, &st0);
    /* the node allocation succeeds, the table allocation fails */
    long f0 = chm_test_allocs_failed();
    arm(1, 1);
    uintptr_t v = hv_new(trigger);
    CHECK_EQ_INT(chm_put(t, trigger, v, NULL), CHM_OK);
    disarm();
    model_set(&md, trigger, v);
    CHECK_EQ_INT(chm_test_allocs_failed() - f0, 1);
    chm_stats(m, &st1);
    CHECK_EQ_U64(st1.table_size, st0.table_size);
    CHECK_EQ_INT(verify(m, t, &md), 0);
    /* the next insert resizes */
    v = hv_new(trigger + 1);
    CHECK_EQ_INT(chm_put(t, trigger + 1, v, NULL), CHM_OK);
    model_set(&md, trigger + 1, v);
    chm_stats(m, &st1);
    CHECK(st1.table_size > st0.table_size);
    CHECK_EQ_INT(verify(m, t, &md), 0);
    chm_thread_leave(t);
    chm_free(m);
    CHECK_EQ_INT(atomic_load(&live_vals), 0);
    CHECK_EQ_INT(atomic_load(&bad_frees), 0);
}

static void test_new_and_join_enomem(void)
{
    static const chm_type ty = {.val_free = val_free_cb};
    /* the first allocation of chm_new fails: NULL */
    long f0 = chm_test_allocs_failed();
    arm(0, 1);
    chm_t *m = chm_new(&ty, 0);
    disarm();
    CHECK(m == NULL);
    CHECK_EQ_INT(chm_test_allocs_failed() - f0, 1);
    /* any later one: NULL, or a map that works (ASan: no leak either way) */
    int nulls = 0;
    for (long k = 1; k < 20; k++) {
        f0 = chm_test_allocs_failed();
        arm(k, 1);
        m = chm_new(&ty, 1000);
        disarm();
        bool hit = chm_test_allocs_failed() != f0;
        if (m == NULL) {
            nulls++;
            CHECK(hit);
            continue;
        }
        chm_thread_t *t = chm_thread_join(m);
        CHECK(t != NULL);
        uintptr_t v = hv_new(1);
        CHECK_EQ_INT(chm_put(t, 1, v, NULL), CHM_OK);
        uintptr_t got = 0;
        CHECK(chm_get(t, 1, &got));
        CHECK_EQ_U64(got, v);
        chm_thread_leave(t);
        chm_free(m);
        if (!hit)
            break; /* past chm_new's allocations */
    }
    CHECK(nulls >= 1);

    /* chm_thread_join on a fresh map: NULL, and nothing changes */
    m = chm_new(&ty, 0);
    CHECK(m != NULL);
    f0 = chm_test_allocs_failed();
    arm(0, 1);
    chm_thread_t *t = chm_thread_join(m);
    disarm();
    CHECK(t == NULL);
    CHECK_EQ_INT(chm_test_allocs_failed() - f0, 1);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 0);
    t = chm_thread_join(m);
    CHECK(t != NULL);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 1);
    uintptr_t v = hv_new(2);
    CHECK_EQ_INT(chm_put(t, 2, v, NULL), CHM_OK);
    /* a second join that fails leaves the first alone */
    arm(0, 1);
    chm_thread_t *t2 = chm_thread_join(m);
    disarm();
    CHECK(t2 == NULL);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 1);
    CHECK(chm_get(t, 2, NULL));
    chm_thread_leave(t);
    chm_free(m);
    CHECK_EQ_INT(atomic_load(&live_vals), 0);
    CHECK_EQ_INT(atomic_load(&bad_frees), 0);
}

/* ---- the sweep ---------------------------------------------------------- */

struct sweep_stats {
    long runs, runs_hit, runs_enomem, runs_absorbed, enomem_ops, bad;
};

/*
 * One run: a fixed pseudo-random sequence of operations (inserts first,
 * then mostly removals) on keys [0, MKEYS) with few distinct hashes, from
 * capacity 1; allocation `after` fails (count of them).  Returns true if the
 * armed failure was consumed.
 */
static bool sweep_run(long after, long count, struct sweep_stats *ss,
                      int nops1, int nops2)
{
    static const chm_type ty = {.hash = few_hash, .val_free = val_free_cb};
    chm_t *m = chm_new(&ty, 1);
    chm_thread_t *t = chm_thread_join(m);
    struct model md;
    memset(&md, 0, sizeof md);
    check_rng_t rng = {0xfa11};
    long f0 = chm_test_allocs_failed();
    long bad = 0, enomem = 0;
    arm(after, count);
    for (int i = 0; i < nops1 + nops2; i++) {
        uint64_t r = check_rng_next(&rng);
        uintptr_t k = (uintptr_t)(r % MKEYS);
        unsigned what = (unsigned)((r >> 32) % 100);
        bool phase2 = i >= nops1;
        uintptr_t out = 0;
        int rc;
        bool was = md.present[k];
        uintptr_t cur = md.val[k];
        if (phase2 ? what < 88 : what < 12) {
            /* removals: never CHM_ENOMEM */
            if (what & 1) {
                rc = chm_remove(t, k, &out);
                if (rc != (was ? CHM_OK : CHM_NOT_FOUND) ||
                    (was && out != cur))
                    bad++;
            } else {
                uintptr_t exp = (what & 2) ? cur : cur + 1;
                rc = chm_remove_if(t, k, exp);
                int want = !was ? CHM_NOT_FOUND
                                : exp == cur ? CHM_OK : CHM_MISMATCH;
                if (rc != want)
                    bad++;
            }
            if (rc == CHM_OK)
                model_del(&md, k);
        } else if (phase2 ? what < 97 : what < 20) {
            uintptr_t v = 0;
            bool p = chm_get(t, k, &v);
            if (p != was || (p && v != cur))
                bad++;
        } else {
            uintptr_t nv = hv_new(k);
            bool taken = false;
            switch (what % 5) {
            case 0:
                rc = chm_put(t, k, nv, &out);
                if (rc == CHM_ENOMEM)
                    break;
                if (rc != (was ? CHM_EXISTS : CHM_OK) || (was && out != cur))
                    bad++;
                taken = true;
                break;
            case 1:
                rc = chm_put_if_absent(t, k, nv, &out);
                if (rc == CHM_ENOMEM)
                    break;
                if (rc != (was ? CHM_EXISTS : CHM_OK) || (was && out != cur))
                    bad++;
                taken = rc == CHM_OK;
                break;
            case 2:
                rc = chm_replace(t, k, nv, &out);
                if (rc == CHM_ENOMEM)
                    break;
                if (rc != (was ? CHM_OK : CHM_NOT_FOUND) || (was && out != cur))
                    bad++;
                taken = rc == CHM_OK;
                break;
            case 3: {
                uintptr_t exp = (what & 1) ? cur : cur + 1;
                rc = chm_replace_if(t, k, exp, nv);
                if (rc == CHM_ENOMEM)
                    break;
                int want = !was ? CHM_NOT_FOUND
                                : exp == cur ? CHM_OK : CHM_MISMATCH;
                if (rc != want)
                    bad++;
                taken = rc == CHM_OK;
                break;
            }
            default: {
                struct cset c = {.nv = nv};
                rc = chm_compute(t, k, set_fn, &c, &out);
                if (rc == CHM_ENOMEM)
                    break;
                if (rc != CHM_OK || out != nv || c.calls != 1)
                    bad++;
                taken = rc == CHM_OK;
                break;
            }
            }
            if (rc == CHM_ENOMEM) {
                enomem++;
                hv_release(nv);
                /* no trace: the key is as before */
                uintptr_t v = 0;
                bool p = chm_get(t, k, &v);
                if (p != was || (p && v != cur))
                    bad++;
            } else if (taken) {
                model_set(&md, k, nv);
            } else {
                hv_release(nv);
            }
        }
        if (chm_size(m) != md.count)
            bad++;
    }
    disarm();
    bool hit = chm_test_allocs_failed() != f0;
    long vbad = verify(m, t, &md);
    if (bad || vbad)
        fprintf(stderr, "sweep: after=%ld count=%ld: %ld op mismatches, %ld "
                "model mismatches\n", after, count, bad, vbad);
    ss->bad += bad + vbad;
    ss->runs++;
    ss->runs_hit += hit;
    ss->runs_enomem += enomem > 0;
    ss->runs_absorbed += hit && enomem == 0;
    ss->enomem_ops += enomem;
    chm_stats_t st;
    chm_stats(m, &st);
    if (after == 0 && count == 0) {
        /* the reference run: the sequence does make trees and resizes */
        CHECK(st.treeifications > 0);
        CHECK(st.resizes >= 4);
        CHECK(st.untreeifications > 0);
    }
    chm_thread_leave(t);
    chm_free(m);
    if (atomic_load(&live_vals) != 0) {
        fprintf(stderr, "sweep: after=%ld count=%ld: %ld values leaked\n",
                after, count, atomic_load(&live_vals));
        ss->bad++;
        atomic_store(&live_vals, 0);
    }
    return hit;
}

static void test_sweep(void)
{
    const int nops1 = 700, nops2 = 1500;
    struct sweep_stats ss;
    memset(&ss, 0, sizeof ss);
    sweep_run(0, 0, &ss, nops1, nops2); /* reference: no failure */
    CHECK_EQ_INT(ss.runs_hit, 0);
    CHECK_EQ_INT(ss.bad, 0);
    /* every one of the first 200 allocations, then a stride to the end */
    long stride = chm_test_scale() < 0.5 ? 13 : 3;
    long last_hit = -1;
    for (long k = 0; k < 100000; k += (k < 200 ? 1 : stride)) {
        if (!sweep_run(k, 1, &ss, nops1, nops2))
            break; /* the sequence makes fewer than k allocations */
        last_hit = k;
    }
    printf("#   count=1: %ld runs, up to allocation %ld; %ld with ENOMEM "
           "(%ld ops), %ld absorbed\n", ss.runs, last_hit, ss.runs_enomem,
           ss.enomem_ops, ss.runs_absorbed);
    CHECK_GE_INT(last_hit, 200);
    CHECK_EQ_INT(ss.bad, 0);
    CHECK_GT_INT(ss.runs_enomem, 0);
    CHECK_GT_INT(ss.runs_absorbed, 0); /* resize / treeify failures */
    /* bursts: 3 failures in a row, and 12 */
    struct sweep_stats s3;
    memset(&s3, 0, sizeof s3);
    for (long k = 0; k <= last_hit; k += 5)
        sweep_run(k, 3, &s3, nops1, nops2);
    for (long k = 0; k <= last_hit; k += 37)
        sweep_run(k, 12, &s3, nops1, nops2);
    printf("#   bursts: %ld runs; %ld with ENOMEM, %ld absorbed\n", s3.runs,
           s3.runs_enomem, s3.runs_absorbed);
    CHECK_EQ_INT(s3.bad, 0);
    CHECK_EQ_INT(atomic_load(&bad_frees), 0);
}

int main(void)
{
    disarm();
    run_test("insert_enomem", test_insert_enomem);
    run_test("bucket_reused", test_bucket_reused);
    run_test("remove_orphans", test_remove_orphans);
    run_test("bucket_record_outlives_resize",
             test_bucket_record_outlives_resize);
    run_test("replace_enomem", test_replace_enomem);
    run_test("reserve_enomem", test_reserve_enomem);
    run_test("resize_table_enomem", test_resize_table_enomem);
    run_test("new_and_join_enomem", test_new_and_join_enomem);
    run_test("sweep", test_sweep);
    return check_finish();
}
