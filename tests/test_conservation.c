/*
 * test_conservation.c - multi-threaded conservation.
 *
 * (a) disjoint keys: each thread updates only its own key range, so its own
 *     model predicts every return code exactly; at the end the map is the
 *     union of the models.
 * (b) shared keys: threads race on a small key space with every update
 *     operation, from a tiny initial capacity (contention and resizes), and
 *     tally per key their successful inserts and removes; at the end every
 *     key has inserts - removes == 1 if present, 0 if absent, and size is
 *     the number of present keys.  Values encode (key, thread, sequence):
 *     every value read anywhere must belong to the key it was read from and
 *     must have been written already (value provenance).
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

#define NTHREADS 4

/* ---- (a) disjoint keys ------------------------------------------------- */

#define DKEYS 3000 /* per thread */

struct dj {
    chm_t *m;
    int id;
    long ops;
    bool present[DKEYS];
    uintptr_t val[DKEYS];
    long bad;
    long size_negative;
};

static uintptr_t dkey(int id, size_t i)
{
    /* interleaved ranges so the threads share bins */
    return (uintptr_t)i * NTHREADS + (uintptr_t)id;
}

struct addctx {
    uintptr_t add;
    bool saw_present;
    uintptr_t saw_cur;
};

static chm_compute_action toggle_add_fn(void *ctx, uintptr_t key, bool present,
                                        uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    struct addctx *c = ctx;
    c->saw_present = present;
    c->saw_cur = cur;
    if (present && (cur & 1))
        return CHM_COMPUTE_REMOVE; /* odd values are removed */
    *new_val = (present ? cur : 0) + c->add;
    return CHM_COMPUTE_SET;
}

static void *dj_worker(void *arg)
{
    struct dj *w = arg;
    chm_thread_t *t = chm_thread_join(w->m);
    check_rng_t rng = {0xd15 + (uint64_t)w->id};
    for (long i = 0; i < w->ops; i++) {
        uint64_t r = check_rng_next(&rng);
        size_t idx = (size_t)(r % DKEYS);
        uintptr_t k = dkey(w->id, idx);
        uintptr_t nv = (uintptr_t)(r >> 20) & ~(uintptr_t)1; /* even */
        uintptr_t out = 0;
        bool p = w->present[idx];
        uintptr_t cur = w->val[idx];
        int rc;
        switch ((r >> 12) % 8) {
        case 0:
            rc = chm_put(t, k, nv, &out);
            if (rc != (p ? CHM_EXISTS : CHM_OK) || (p && out != cur))
                w->bad++;
            w->present[idx] = true;
            w->val[idx] = nv;
            break;
        case 1:
            rc = chm_put_if_absent(t, k, nv, &out);
            if (rc != (p ? CHM_EXISTS : CHM_OK) || (p && out != cur))
                w->bad++;
            if (!p) {
                w->present[idx] = true;
                w->val[idx] = nv;
            }
            break;
        case 2:
            rc = chm_replace(t, k, nv, &out);
            if (rc != (p ? CHM_OK : CHM_NOT_FOUND) || (p && out != cur))
                w->bad++;
            if (p)
                w->val[idx] = nv;
            break;
        case 3: {
            uintptr_t exp = (r & 1) ? cur : cur + 2;
            rc = chm_replace_if(t, k, exp, nv);
            int want = !p ? CHM_NOT_FOUND : exp == cur ? CHM_OK : CHM_MISMATCH;
            if (rc != want)
                w->bad++;
            if (want == CHM_OK)
                w->val[idx] = nv;
            break;
        }
        case 4:
            rc = chm_remove(t, k, &out);
            if (rc != (p ? CHM_OK : CHM_NOT_FOUND) || (p && out != cur))
                w->bad++;
            w->present[idx] = false;
            break;
        case 5: {
            uintptr_t exp = (r & 1) ? cur : cur + 2;
            rc = chm_remove_if(t, k, exp);
            int want = !p ? CHM_NOT_FOUND : exp == cur ? CHM_OK : CHM_MISMATCH;
            if (rc != want)
                w->bad++;
            if (want == CHM_OK)
                w->present[idx] = false;
            break;
        }
        case 6: {
            /* add an odd or even amount; odd values get removed next */
            struct addctx c = {.add = (uintptr_t)((r >> 8) & 3) + 1};
            rc = chm_compute(t, k, toggle_add_fn, &c, &out);
            if (c.saw_present != p || (p && c.saw_cur != cur))
                w->bad++;
            if (p && (cur & 1)) {
                if (rc != CHM_NOT_FOUND)
                    w->bad++;
                w->present[idx] = false;
            } else {
                uintptr_t want = (p ? cur : 0) + c.add;
                if (rc != CHM_OK || out != want)
                    w->bad++;
                w->present[idx] = true;
                w->val[idx] = want;
            }
            break;
        }
        default: {
            bool got = chm_get(t, k, &out);
            if (got != p || (p && out != cur))
                w->bad++;
            break;
        }
        }
        if ((i & 1023) == 0 && chm_size(w->m) > ((size_t)1 << 60))
            w->size_negative++;
    }
    chm_thread_leave(t);
    return NULL;
}

static void run_disjoint(const chm_type *ty)
{
    chm_t *m = chm_new(ty, 1);
    static struct dj w[NTHREADS];
    pthread_t th[NTHREADS];
    long ops = (long)scaled(300000, 30000);
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].m = m;
        w[i].id = i;
        w[i].ops = ops;
        pthread_create(&th[i], NULL, dj_worker, &w[i]);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    chm_thread_t *t = chm_thread_join(m);
    size_t count = 0;
    long bad = 0;
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].bad)
            fprintf(stderr, "disjoint thread %d: %ld wrong results\n", i,
                    w[i].bad);
        CHECK_EQ_INT(w[i].bad, 0);
        CHECK_EQ_INT(w[i].size_negative, 0);
        for (size_t idx = 0; idx < DKEYS; idx++) {
            uintptr_t v = 0;
            bool p = chm_get(t, dkey(i, idx), &v);
            if (p != w[i].present[idx] || (p && v != w[i].val[idx]))
                bad++;
            count += w[i].present[idx];
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(chm_size(m), count);
    /* iteration agrees: nothing outside the models */
    chm_iter it;
    uintptr_t k, v;
    size_t n = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v)) {
        int id = (int)(k % NTHREADS);
        size_t idx = (size_t)(k / NTHREADS);
        if (idx >= DKEYS || !w[id].present[idx] || w[id].val[idx] != v)
            bad++;
        n++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(n, count);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK_GE_U64(st.resizes, 5);
    chm_thread_leave(t);
    chm_free(m);
}

static void test_disjoint(void)
{
    run_disjoint(NULL);
}

/* 64 distinct hashes: bins of ~ DKEYS * NTHREADS / 64 keys, tree bins that
 * split as the table grows */
static uint64_t few_hash(uintptr_t key, uint64_t seed)
{
    uint64_t z = (uint64_t)(key % 64) * 0x9e3779b97f4a7c15ULL + seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_disjoint_trees(void)
{
    const chm_type ty = {.hash = few_hash};
    run_disjoint(&ty);
}

/* ---- (b) shared keys --------------------------------------------------- */

#define SKEYS 1000

/* value = key (20 bits) | thread (4 bits) | sequence (40 bits) */
static uintptr_t enc(uintptr_t key, int thread, uint64_t seq)
{
    return (uintptr_t)((uint64_t)key << 44 | (uint64_t)thread << 40 |
                       (seq & ((1ULL << 40) - 1)));
}

static uintptr_t dec_key(uintptr_t v)
{
    return (uintptr_t)((uint64_t)v >> 44);
}

static int dec_thread(uintptr_t v)
{
    return (int)(((uint64_t)v >> 40) & 0xf);
}

static uint64_t dec_seq(uintptr_t v)
{
    return (uint64_t)v & ((1ULL << 40) - 1);
}

struct sh;

struct shared {
    chm_t *m;
    long ops;
    long reserve_every; /* thread 0 grows the table this often (0: never) */
    long reserves;
    /* per thread: the highest sequence number handed to the map so far */
    _Atomic uint64_t issued[NTHREADS];
};

struct sh {
    struct shared *s;
    int id;
    uint64_t seq;
    long ins[SKEYS], rem[SKEYS];
    long bad_code, bad_provenance, size_negative;
    long n_ins, n_rem;
};

/* a value read from key k: it must be k's, and written already */
static void provenance(struct sh *w, uintptr_t k, uintptr_t v)
{
    int th = dec_thread(v);
    if (dec_key(v) != k || th >= NTHREADS || dec_seq(v) == 0 ||
        dec_seq(v) > atomic_load_explicit(&w->s->issued[th],
                                          memory_order_acquire))
        w->bad_provenance++;
}

static uintptr_t next_val(struct sh *w, uintptr_t k)
{
    w->seq++;
    /* release: whoever reads this value from the map (which orders the
     * write before the read) sees the sequence number issued */
    atomic_store_explicit(&w->s->issued[w->id], w->seq, memory_order_release);
    return enc(k, w->id, w->seq);
}

struct togctx {
    uintptr_t nv;
    int calls;
    bool saw_present;
    uintptr_t saw_cur;
    chm_compute_action did;
};

/* compute as a toggle: insert when absent; remove when present and the
 * value's sequence is odd; otherwise replace */
static chm_compute_action tog_fn(void *ctx, uintptr_t key, bool present,
                                 uintptr_t cur, uintptr_t *new_val)
{
    (void)key;
    struct togctx *c = ctx;
    c->calls++;
    c->saw_present = present;
    c->saw_cur = cur;
    if (present && (dec_seq(cur) & 1))
        c->did = CHM_COMPUTE_REMOVE;
    else {
        *new_val = c->nv;
        c->did = CHM_COMPUTE_SET;
    }
    return c->did;
}

static void *sh_worker(void *arg)
{
    struct sh *w = arg;
    struct shared *s = w->s;
    chm_thread_t *t = chm_thread_join(s->m);
    check_rng_t rng = {0x5ade + (uint64_t)w->id * 7};
    uintptr_t last_seen[16] = {0};
    for (long i = 0; i < s->ops; i++) {
        uint64_t r = check_rng_next(&rng);
        uintptr_t k = (uintptr_t)(r % SKEYS);
        uintptr_t out = 0;
        int rc;
        switch ((r >> 32) % 9) {
        case 0: /* put */
            rc = chm_put(t, k, next_val(w, k), &out);
            if (rc == CHM_OK)
                w->ins[k]++;
            else if (rc == CHM_EXISTS)
                provenance(w, k, out);
            else
                w->bad_code++;
            break;
        case 1: /* put_if_absent */
            rc = chm_put_if_absent(t, k, next_val(w, k), &out);
            if (rc == CHM_OK)
                w->ins[k]++;
            else if (rc == CHM_EXISTS)
                provenance(w, k, out);
            else
                w->bad_code++;
            break;
        case 2: /* replace */
            rc = chm_replace(t, k, next_val(w, k), &out);
            if (rc == CHM_OK)
                provenance(w, k, out);
            else if (rc != CHM_NOT_FOUND)
                w->bad_code++;
            break;
        case 3: { /* replace_if with a value seen earlier (may match) */
            uintptr_t exp = last_seen[k % 16];
            if (exp == 0 || dec_key(exp) != k) {
                if (chm_get(t, k, &exp))
                    provenance(w, k, exp);
                else
                    exp = enc(k, 0, 0);
            }
            rc = chm_replace_if(t, k, exp, next_val(w, k));
            if (rc != CHM_OK && rc != CHM_MISMATCH && rc != CHM_NOT_FOUND)
                w->bad_code++;
            break;
        }
        case 4: /* remove */
            rc = chm_remove(t, k, &out);
            if (rc == CHM_OK) {
                w->rem[k]++;
                provenance(w, k, out);
            } else if (rc != CHM_NOT_FOUND) {
                w->bad_code++;
            }
            break;
        case 5: { /* remove_if with the value just read */
            uintptr_t exp;
            if (!chm_get(t, k, &exp))
                break;
            provenance(w, k, exp);
            rc = chm_remove_if(t, k, exp);
            if (rc == CHM_OK)
                w->rem[k]++;
            else if (rc != CHM_MISMATCH && rc != CHM_NOT_FOUND)
                w->bad_code++;
            break;
        }
        case 6: { /* compute toggle */
            struct togctx c = {.nv = next_val(w, k)};
            rc = chm_compute(t, k, tog_fn, &c, &out);
            if (c.calls != 1) {
                w->bad_code++;
                break;
            }
            if (c.saw_present)
                provenance(w, k, c.saw_cur);
            if (c.did == CHM_COMPUTE_REMOVE) {
                if (rc != CHM_NOT_FOUND)
                    w->bad_code++;
                w->rem[k]++;
            } else {
                if (rc != CHM_OK || out != c.nv)
                    w->bad_code++;
                if (!c.saw_present)
                    w->ins[k]++;
            }
            break;
        }
        default: { /* get */
            uintptr_t v;
            if (chm_get(t, k, &v)) {
                provenance(w, k, v);
                last_seen[k % 16] = v;
            }
            break;
        }
        }
        if ((i & 1023) == 0 && chm_size(s->m) > ((size_t)1 << 60))
            w->size_negative++;
        if (w->id == 0 && s->reserve_every && i % s->reserve_every == 0) {
            long step = i / s->reserve_every;
            size_t n = (size_t)SKEYS << (step < 9 ? step : 9);
            if (chm_reserve(t, n) != CHM_OK)
                w->bad_code++;
            s->reserves++;
        }
    }
    chm_thread_leave(t);
    return NULL;
}

static void run_shared(const chm_type *ty, bool resizer)
{
    static struct shared s;
    static struct sh w[NTHREADS];
    memset(&s, 0, sizeof s);
    s.m = chm_new(ty, 1);
    s.ops = (long)scaled(500000, 40000);
    s.reserve_every = resizer ? s.ops / 12 : 0;
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = &s;
        w[i].id = i;
        pthread_create(&th[i], NULL, sh_worker, &w[i]);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);

    chm_thread_t *t = chm_thread_join(s.m);
    long bad_code = 0, bad_prov = 0, bad_neg = 0, bad_keys = 0;
    long total_ins = 0, total_rem = 0;
    size_t present = 0;
    /* a reader of the final state: provenance against the final issued */
    struct sh checker;
    memset(&checker, 0, sizeof checker);
    checker.s = &s;
    for (int i = 0; i < NTHREADS; i++) {
        bad_code += w[i].bad_code;
        bad_prov += w[i].bad_provenance;
        bad_neg += w[i].size_negative;
    }
    for (uintptr_t k = 0; k < SKEYS; k++) {
        long net = 0;
        for (int i = 0; i < NTHREADS; i++) {
            net += w[i].ins[k] - w[i].rem[k];
            total_ins += w[i].ins[k];
            total_rem += w[i].rem[k];
        }
        uintptr_t v = 0;
        bool p = chm_get(t, k, &v);
        if (p)
            provenance(&checker, k, v);
        present += p;
        if (net != (p ? 1 : 0)) {
            if (bad_keys < 10)
                fprintf(stderr, "key %lu: %s, but inserts - removes = %ld\n",
                        (unsigned long)k, p ? "present" : "absent", net);
            bad_keys++;
        }
    }
    CHECK_EQ_INT(bad_code, 0);
    CHECK_EQ_INT(bad_prov, 0);
    CHECK_EQ_INT(checker.bad_provenance, 0);
    CHECK_EQ_INT(bad_neg, 0);
    CHECK_EQ_INT(bad_keys, 0);
    CHECK_EQ_U64(chm_size(s.m), present);
    /* the workload did churn: many inserts and removes */
    CHECK_GT_INT(total_ins, (long)SKEYS);
    CHECK_GT_INT(total_rem, (long)SKEYS);
    /* iteration agrees with get */
    chm_iter it;
    uintptr_t k, v;
    size_t n = 0;
    long bad_iter = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v)) {
        uintptr_t g = 0;
        if (k >= SKEYS || !chm_get(t, k, &g) || g != v)
            bad_iter++;
        n++;
    }
    CHECK_EQ_INT(bad_iter, 0);
    CHECK_EQ_U64(n, present);
    chm_stats_t st;
    chm_stats(s.m, &st);
    CHECK_GE_U64(st.resizes, resizer ? 10 : 3);
    printf("#   %ld inserts, %ld removes, %zu present, %llu resizes, "
           "%llu bins helped\n", total_ins, total_rem, present,
           (unsigned long long)st.resizes,
           (unsigned long long)st.bins_helped);
    chm_thread_leave(t);
    chm_free(s.m);
}

static void test_shared(void)
{
    run_shared(NULL, false);
}

/* while thread 0 keeps growing the table: updates race with transfers */
static void test_shared_resizing(void)
{
    run_shared(NULL, true);
}

/* shared keys in 16 bins' worth of hashes: tree bins under contention */
static uint64_t hash16(uintptr_t key, uint64_t seed)
{
    uint64_t z = (uint64_t)(key % 16) * 0x9e3779b97f4a7c15ULL + seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_shared_trees(void)
{
    const chm_type ty = {.hash = hash16};
    run_shared(&ty, true);
}

int main(void)
{
    run_test("disjoint", test_disjoint);
    run_test("disjoint_trees", test_disjoint_trees);
    run_test("shared", test_shared);
    run_test("shared_resizing", test_shared_resizing);
    run_test("shared_trees", test_shared_trees);
    return check_finish();
}
