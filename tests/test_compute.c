/*
 * test_compute.c - chm_compute beyond the single-threaded roles of
 * test_ops.c: a callback that updates the same map (same key, another key,
 * another handle) gets CHM_EBUSY and the map is unchanged; reads from the
 * callback work; the empty-bin (reservation) path and the locked-bin path
 * are atomic against concurrent readers and writers; concurrent increments
 * through compute are never lost, also while the table resizes and in tree
 * bins.
 */
#include <pthread.h>
#include <sched.h>
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

/* identity hash: bin = key & (n - 1), so tests can choose bins */
static uint64_t id_hash(uintptr_t key, uint64_t seed)
{
    (void)seed;
    return (uint64_t)key;
}

static uint64_t const_hash(uintptr_t key, uint64_t seed)
{
    (void)key;
    (void)seed;
    return 3;
}

/* ---- recursion: updates from inside the callback ---------------------- */

enum { R_PUT, R_PIA, R_REPLACE, R_REPLACE_IF, R_REMOVE, R_REMOVE_IF,
       R_COMPUTE, R_RESERVE, R_CLEAR, R_NOPS };
static const char *const rname[R_NOPS] = {
    "put", "put_if_absent", "replace", "replace_if", "remove", "remove_if",
    "compute", "reserve", "clear"};

struct rctx {
    chm_thread_t *t;   /* handle used for the inner call */
    int op;
    uintptr_t target;  /* key of the inner call */
    int rc;            /* what the inner call returned */
    int inner_calls;   /* the inner compute's callback must not run */
    int calls;
    chm_compute_action action;
    uintptr_t set_to;
    /* reads from inside */
    uintptr_t read_key;
    bool read_present;
    uintptr_t read_val;
    chm_t *other;      /* another map: updates there must work */
    chm_thread_t *other_t;
    int other_rc;
};

static chm_compute_action inner_fn(void *ctx, uintptr_t key, bool present,
                                   uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    (void)present;
    (void)cur;
    struct rctx *c = ctx;
    c->inner_calls++;
    *new_val = 999;
    return CHM_COMPUTE_SET;
}

static chm_compute_action recursing_fn(void *ctx, uintptr_t key, bool present,
                                       uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    (void)present;
    (void)cur;
    struct rctx *c = ctx;
    c->calls++;
    uintptr_t out = 0;
    switch (c->op) {
    case R_PUT:
        c->rc = chm_put(c->t, c->target, 555, &out);
        break;
    case R_PIA:
        c->rc = chm_put_if_absent(c->t, c->target, 555, &out);
        break;
    case R_REPLACE:
        c->rc = chm_replace(c->t, c->target, 555, &out);
        break;
    case R_REPLACE_IF:
        /* the expected value is right when the target is present */
        c->rc = chm_replace_if(c->t, c->target, c->target * 10, 555);
        break;
    case R_REMOVE:
        c->rc = chm_remove(c->t, c->target, &out);
        break;
    case R_REMOVE_IF:
        c->rc = chm_remove_if(c->t, c->target, c->target * 10);
        break;
    case R_COMPUTE:
        c->rc = chm_compute(c->t, c->target, inner_fn, c, &out);
        break;
    case R_RESERVE:
        c->rc = chm_reserve(c->t, 100000);
        break;
    case R_CLEAR:
        c->rc = chm_clear(c->t);
        break;
    }
    c->read_present = chm_get(c->t, c->read_key, &c->read_val);
    if (c->other != NULL)
        c->other_rc = chm_put(c->other_t, key, 1, NULL);
    if (c->action == CHM_COMPUTE_SET)
        *new_val = c->set_to;
    return c->action;
}

/* keys 10, 20, ..., 200 present with value key * 10; with id_hash and a
 * 64-bin table, key 10 + 64 = 74 shares key 10's bin (absent) */
static void fill(chm_thread_t *t)
{
    for (uintptr_t k = 10; k <= 200; k += 10)
        CHECK_EQ_INT(chm_put(t, k, k * 10, NULL), CHM_OK);
}

static long check_filled(chm_t *m, chm_thread_t *t, uintptr_t except,
                         bool except_present, uintptr_t except_val)
{
    long bad = 0;
    size_t want = 0;
    for (uintptr_t k = 0; k <= 300; k++) {
        uintptr_t v = 0;
        bool p = chm_get(t, k, &v);
        bool wp;
        uintptr_t wv;
        if (k == except) {
            wp = except_present;
            wv = except_val;
        } else {
            wp = k >= 10 && k <= 200 && k % 10 == 0;
            wv = k * 10;
        }
        want += wp;
        if (p != wp || (p && v != wv)) {
            fprintf(stderr, "key %lu: present %d (want %d) value %lu (want "
                    "%lu)\n", (unsigned long)k, (int)p, (int)wp,
                    (unsigned long)v, (unsigned long)wv);
            bad++;
        }
    }
    if (chm_size(m) != want)
        bad++;
    return bad;
}

static void test_recursion_ebusy(void)
{
    const chm_type ty = {.hash = id_hash};
    /* compute keys: present (20), absent in an empty bin (5), absent in a
     * non-empty bin (20 + 64 = 84: same bin as 20 in a 64-bin table) */
    const uintptr_t ckeys[] = {20, 5, 84};
    for (size_t ci = 0; ci < 3; ci++) {
        uintptr_t ck = ckeys[ci];
        bool ck_present = ck == 20;
        /* inner targets: the same key, a present other key, an absent key */
        const uintptr_t targets[] = {ck, 30, 7};
        for (size_t ti = 0; ti < 3; ti++) {
            for (int op = 0; op < R_NOPS; op++) {
                for (int second_handle = 0; second_handle < 2;
                     second_handle++) {
                    chm_t *m = chm_new(&ty, 40); /* 64 bins */
                    chm_thread_t *t = chm_thread_join(m);
                    chm_thread_t *t2 = chm_thread_join(m);
                    fill(t);
                    chm_stats_t st0, st1;
                    chm_stats(m, &st0);
                    struct rctx c;
                    memset(&c, 0, sizeof c);
                    c.t = second_handle ? t2 : t;
                    c.op = op;
                    c.target = targets[ti];
                    c.rc = 12345;
                    c.action = CHM_COMPUTE_KEEP;
                    c.read_key = 40;
                    uintptr_t out = 0;
                    int rc = chm_compute(t, ck, recursing_fn, &c, &out);
                    CHECK_EQ_INT(c.calls, 1);
                    CHECK_EQ_INT(rc, ck_present ? CHM_OK : CHM_NOT_FOUND);
                    if (ck_present)
                        CHECK_EQ_U64(out, ck * 10);
                    if (c.rc != CHM_EBUSY)
                        fprintf(stderr, "inner %s on key %lu from compute on "
                                "key %lu (handle %d): rc %d\n", rname[op],
                                (unsigned long)c.target, (unsigned long)ck,
                                second_handle, c.rc);
                    CHECK_EQ_INT(c.rc, CHM_EBUSY);
                    CHECK_EQ_INT(c.inner_calls, 0);
                    /* the read inside worked */
                    CHECK(c.read_present);
                    CHECK_EQ_U64(c.read_val, 400);
                    /* nothing changed */
                    CHECK_EQ_INT(check_filled(m, t, 0, false, 0), 0);
                    chm_stats(m, &st1);
                    CHECK_EQ_U64(st1.table_size, st0.table_size);
                    CHECK_EQ_U64(st1.resizes, st0.resizes);
                    /* and after the callback, updates work again */
                    CHECK_EQ_INT(chm_put(c.t, 7, 70, NULL), CHM_OK);
                    CHECK_EQ_INT(chm_remove(t, 7, NULL), CHM_OK);
                    chm_thread_leave(t2);
                    chm_thread_leave(t);
                    chm_free(m);
                }
            }
        }
    }
}

/* the callback's own result still applies when its inner update was
 * refused; reads of the key under compute see its state before */
static void test_recursion_then_set(void)
{
    const chm_type ty = {.hash = id_hash};
    chm_t *m = chm_new(&ty, 40);
    chm_thread_t *t = chm_thread_join(m);
    fill(t);
    struct rctx c;

    /* present key: SET after a refused put of the same key */
    memset(&c, 0, sizeof c);
    c.t = t;
    c.op = R_PUT;
    c.target = 20;
    c.action = CHM_COMPUTE_SET;
    c.set_to = 2222;
    c.read_key = 20; /* the key under compute: still its old value */
    uintptr_t out = 0;
    CHECK_EQ_INT(chm_compute(t, 20, recursing_fn, &c, &out), CHM_OK);
    CHECK_EQ_INT(c.rc, CHM_EBUSY);
    CHECK(c.read_present);
    CHECK_EQ_U64(c.read_val, 200);
    CHECK_EQ_U64(out, 2222);
    CHECK_EQ_INT(check_filled(m, t, 20, true, 2222), 0);

    /* absent key in an empty bin: SET after a refused remove; a read of the
     * key under compute says absent (the reservation holds no value) */
    memset(&c, 0, sizeof c);
    c.t = t;
    c.op = R_REMOVE;
    c.target = 30;
    c.action = CHM_COMPUTE_SET;
    c.set_to = 55;
    c.read_key = 5;
    CHECK_EQ_INT(chm_compute(t, 5, recursing_fn, &c, &out), CHM_OK);
    CHECK_EQ_INT(c.rc, CHM_EBUSY);
    CHECK(!c.read_present);
    CHECK_EQ_U64(out, 55);
    uintptr_t v = 0;
    CHECK(chm_get(t, 5, &v));
    CHECK_EQ_U64(v, 55);
    CHECK(chm_get(t, 30, &v));
    CHECK_EQ_U64(v, 300);

    /* REMOVE after a refused compute on another key */
    memset(&c, 0, sizeof c);
    c.t = t;
    c.op = R_COMPUTE;
    c.target = 40;
    c.action = CHM_COMPUTE_REMOVE;
    c.read_key = 40;
    CHECK_EQ_INT(chm_compute(t, 5, recursing_fn, &c, &out), CHM_NOT_FOUND);
    CHECK_EQ_INT(c.rc, CHM_EBUSY);
    CHECK_EQ_INT(c.inner_calls, 0);
    CHECK(c.read_present);
    CHECK_EQ_U64(c.read_val, 400);
    CHECK(!chm_get(t, 5, NULL));
    CHECK_EQ_INT(check_filled(m, t, 20, true, 2222), 0);
    chm_thread_leave(t);
    chm_free(m);
}

/* updating ANOTHER map from a callback is allowed */
static void test_compute_other_map(void)
{
    chm_t *a = chm_new(NULL, 0), *b = chm_new(NULL, 0);
    chm_thread_t *ta = chm_thread_join(a), *tb = chm_thread_join(b);
    struct rctx c;
    memset(&c, 0, sizeof c);
    c.t = ta;
    c.op = R_PUT;
    c.target = 2;
    c.action = CHM_COMPUTE_SET;
    c.set_to = 11;
    c.read_key = 1;
    c.other = b;
    c.other_t = tb;
    uintptr_t out = 0;
    CHECK_EQ_INT(chm_compute(ta, 1, recursing_fn, &c, &out), CHM_OK);
    CHECK_EQ_INT(c.rc, CHM_EBUSY);    /* same map: refused */
    CHECK_EQ_INT(c.other_rc, CHM_OK); /* the other map: fine */
    CHECK_EQ_U64(out, 11);
    CHECK(chm_get(tb, 1, NULL));
    CHECK_EQ_U64(chm_size(b), 1);
    CHECK_EQ_U64(chm_size(a), 1);
    CHECK(!chm_get(ta, 2, NULL));
    chm_thread_leave(ta);
    chm_thread_leave(tb);
    chm_free(a);
    chm_free(b);
}

/* ---- reservation / locked-bin paths vs. a concurrent thread ----------- */

struct hold {
    chm_t *m;
    uintptr_t key;       /* under compute */
    uintptr_t neighbour; /* another key of the same bin (present or not) */
    bool neighbour_present;
    bool key_present;
    _Atomic int in_callback, getter_done, release;
    bool get_key_present, get_nb_present;
    uintptr_t get_key_val, get_nb_val;
    int put_rc;
    uintptr_t put_old;
    int calls;
};

static chm_compute_action holding_fn(void *ctx, uintptr_t key, bool present,
                                     uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    (void)cur;
    struct hold *h = ctx;
    h->calls++;
    h->key_present = present;
    atomic_store(&h->in_callback, 1);
    /* wait for the other thread's lock-free gets (bounded: a get that
     * blocked would show up as getter_done == 0 below) */
    double t0 = check_now();
    while (!atomic_load(&h->getter_done) && check_now() - t0 < 5.0)
        sched_yield(); /* valgrind runs one thread at a time */
    /* give the other thread's put time to run into the locked bin */
    t0 = check_now();
    while (!atomic_load(&h->release) && check_now() - t0 < 0.02)
        sched_yield();
    *new_val = 77;
    return CHM_COMPUTE_SET;
}

static void *hold_other(void *arg)
{
    struct hold *h = arg;
    chm_thread_t *t = chm_thread_join(h->m);
    while (!atomic_load(&h->in_callback))
        sched_yield();
    h->get_key_present = chm_get(t, h->key, &h->get_key_val);
    h->get_nb_present = chm_get(t, h->neighbour, &h->get_nb_val);
    atomic_store(&h->getter_done, 1);
    /* this put must wait for the compute and then see its value */
    h->put_rc = chm_put(t, h->key, 88, &h->put_old);
    chm_thread_leave(t);
    return NULL;
}

static void run_hold(bool bin_empty, bool key_present)
{
    const chm_type ty = {.hash = id_hash};
    struct hold h;
    memset(&h, 0, sizeof h);
    h.m = chm_new(&ty, 40); /* 64 bins */
    chm_thread_t *t = chm_thread_join(h.m);
    h.key = 9;
    h.neighbour = 9 + 64;
    if (!bin_empty) {
        h.neighbour_present = true;
        CHECK_EQ_INT(chm_put(t, h.neighbour, 1234, NULL), CHM_OK);
    }
    if (key_present)
        CHECK_EQ_INT(chm_put(t, h.key, 66, NULL), CHM_OK);
    pthread_t th;
    pthread_create(&th, NULL, hold_other, &h);
    uintptr_t out = 0;
    int rc = chm_compute(t, h.key, holding_fn, &h, &out);
    atomic_store(&h.release, 1);
    pthread_join(th, NULL);
    CHECK_EQ_INT(rc, CHM_OK);
    CHECK_EQ_U64(out, 77);
    CHECK_EQ_INT(h.calls, 1);
    CHECK(h.key_present == key_present);
    CHECK_EQ_INT(atomic_load(&h.getter_done), 1);
    /* the gets did not wait and saw the state before the compute */
    CHECK(h.get_key_present == key_present);
    if (key_present)
        CHECK_EQ_U64(h.get_key_val, 66);
    CHECK(h.get_nb_present == h.neighbour_present);
    if (h.neighbour_present)
        CHECK_EQ_U64(h.get_nb_val, 1234);
    /* the put came after the compute */
    CHECK_EQ_INT(h.put_rc, CHM_EXISTS);
    CHECK_EQ_U64(h.put_old, 77);
    uintptr_t v = 0;
    CHECK(chm_get(t, h.key, &v));
    CHECK_EQ_U64(v, 88);
    CHECK_EQ_U64(chm_size(h.m), 1 + (size_t)h.neighbour_present);
    chm_thread_leave(t);
    chm_free(h.m);
}

static void test_compute_paths_concurrent(void)
{
    run_hold(true, false);  /* empty bin: reservation */
    run_hold(false, false); /* non-empty bin, key absent */
    run_hold(false, true);  /* non-empty bin, key present */
    run_hold(true, true);   /* the key alone in its bin */
}

/* KEEP and REMOVE on an empty bin leave no reservation behind */
static chm_compute_action keep_fn(void *ctx, uintptr_t key, bool present,
                                  uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    (void)present;
    (void)cur;
    (void)new_val;
    (*(int *)ctx)++;
    return ((*(int *)ctx) & 1) ? CHM_COMPUTE_KEEP : CHM_COMPUTE_REMOVE;
}

static void test_empty_bin_no_trace(void)
{
    const chm_type ty = {.hash = id_hash};
    chm_t *m = chm_new(&ty, 40);
    chm_thread_t *t = chm_thread_join(m);
    int calls = 0;
    for (uintptr_t k = 0; k < 64; k++)
        CHECK_EQ_INT(chm_compute(t, k, keep_fn, &calls, NULL), CHM_NOT_FOUND);
    CHECK_EQ_INT(calls, 64);
    CHECK_EQ_U64(chm_size(m), 0);
    chm_iter it;
    uintptr_t k, v;
    chm_iter_init(&it, t);
    CHECK(!chm_iter_next(&it, &k, &v));
    /* every bin works normally afterwards, including growth */
    for (uintptr_t i = 0; i < 1000; i++)
        CHECK_EQ_INT(chm_put(t, i, i + 1, NULL), CHM_OK);
    for (uintptr_t i = 0; i < 1000; i++) {
        v = 0;
        CHECK(chm_get(t, i, &v));
        CHECK_EQ_U64(v, i + 1);
    }
    CHECK_EQ_U64(chm_size(m), 1000);
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- concurrent increments ------------------------------------------------ */

#define CI_THREADS 4

struct inc {
    chm_t *m;
    int id;
    size_t keys;
    long per_thread;
    bool pairs;       /* +1 then -1 (removing at zero) */
    bool grow;        /* also insert many unrelated keys (resizes) */
    long bad;
};

static chm_compute_action add_fn(void *ctx, uintptr_t key, bool present,
                                 uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    intptr_t d = *(intptr_t *)ctx;
    uintptr_t nv = (present ? cur : 0) + (uintptr_t)d;
    if (nv == 0)
        return CHM_COMPUTE_REMOVE;
    *new_val = nv;
    return CHM_COMPUTE_SET;
}

static void *inc_worker(void *arg)
{
    struct inc *w = arg;
    chm_thread_t *t = chm_thread_join(w->m);
    for (long i = 0; i < w->per_thread; i++) {
        uintptr_t k = (uintptr_t)(((size_t)i + (size_t)w->id) % w->keys);
        intptr_t d = 1;
        uintptr_t out = 0;
        int rc = chm_compute(t, k, add_fn, &d, &out);
        if (rc != CHM_OK || out == 0)
            w->bad++;
        if (w->pairs) {
            d = -1;
            rc = chm_compute(t, k, add_fn, &d, &out);
            if (rc != CHM_OK && rc != CHM_NOT_FOUND)
                w->bad++;
        }
        if (w->grow) {
            uintptr_t gk = 1000000 + (uintptr_t)w->id * 10000000 + (uintptr_t)i;
            if (chm_put(t, gk, 1, NULL) != CHM_OK)
                w->bad++;
        }
    }
    chm_thread_leave(t);
    return NULL;
}

static void run_increments(const chm_type *ty, size_t cap, size_t keys,
                           bool pairs, bool grow)
{
    chm_t *m = chm_new(ty, cap);
    struct inc w[CI_THREADS];
    pthread_t th[CI_THREADS];
    long per = (long)scaled(40000, 5000);
    per -= per % (long)keys; /* each thread adds per/keys to every key */
    for (int i = 0; i < CI_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].m = m;
        w[i].id = i;
        w[i].keys = keys;
        w[i].per_thread = per;
        w[i].pairs = pairs;
        w[i].grow = grow;
        pthread_create(&th[i], NULL, inc_worker, &w[i]);
    }
    for (int i = 0; i < CI_THREADS; i++)
        pthread_join(th[i], NULL);
    chm_thread_t *t = chm_thread_join(m);
    for (int i = 0; i < CI_THREADS; i++)
        CHECK_EQ_INT(w[i].bad, 0);
    long bad = 0;
    for (uintptr_t k = 0; k < keys; k++) {
        uintptr_t v = 0;
        bool p = chm_get(t, k, &v);
        if (pairs) {
            if (p) {
                fprintf(stderr, "key %lu: present with %lu, want absent\n",
                        (unsigned long)k, (unsigned long)v);
                bad++;
            }
        } else if (!p || v != (uintptr_t)(CI_THREADS * (per / (long)keys))) {
            fprintf(stderr, "key %lu: %lu, want %ld\n", (unsigned long)k,
                    (unsigned long)v, CI_THREADS * (per / (long)keys));
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    size_t want = (pairs ? 0 : keys) + (grow ? (size_t)(CI_THREADS * per) : 0);
    CHECK_EQ_U64(chm_size(m), want);
    chm_stats_t st;
    chm_stats(m, &st);
    if (grow)
        CHECK_GE_U64(st.resizes, 3);
    chm_thread_leave(t);
    chm_free(m);
}

static void test_concurrent_increments(void)
{
    run_increments(NULL, 0, 4, false, false);
    run_increments(NULL, 1, 16, false, true);        /* during resizes */
    const chm_type tree = {.hash = const_hash};
    run_increments(&tree, 100, 16, false, false);    /* in a tree bin */
}

static void test_concurrent_increment_pairs(void)
{
    run_increments(NULL, 0, 4, true, false);
    run_increments(NULL, 1, 8, true, true);
    const chm_type tree = {.hash = const_hash};
    run_increments(&tree, 100, 12, true, false);
}

int main(void)
{
    run_test("recursion_ebusy", test_recursion_ebusy);
    run_test("recursion_then_set", test_recursion_then_set);
    run_test("compute_other_map", test_compute_other_map);
    run_test("compute_paths_concurrent", test_compute_paths_concurrent);
    run_test("empty_bin_no_trace", test_empty_bin_no_trace);
    run_test("concurrent_increments", test_concurrent_increments);
    run_test("concurrent_increment_pairs", test_concurrent_increment_pairs);
    return check_finish();
}
