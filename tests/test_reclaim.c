/*
 * test_reclaim.c - ownership and epoch reclamation.
 *
 *  - Heap keys and values (pointer keys with hash/eq callbacks), random
 *    updates and clears from several threads, then chm_free: every object
 *    was freed exactly once, either by the map (key_free / val_free) or by
 *    the caller when the map did not take it (a ledger per object; ASan/LSan
 *    also catch leaks, double frees and use after free).
 *  - A pinned reader keeps what it read alive: nothing retired while it is
 *    pinned reaches val_free until it unpins; afterwards it does.
 *  - Garbage stays bounded under a long stream of replaces.
 *  - chm_thread_join/leave cycles recycle records; stats.threads is right;
 *    leave frees the leaver's garbage.
 *  - chm_clear, then reuse.
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

/* ---- objects and the ledger -------------------------------------------- */

#define LIVE 0x4f424a31u
#define DEAD 0x44454144u
enum { KIND_KEY = 1, KIND_VAL = 2 };

struct obj {
    uint32_t magic;
    uint32_t kind;
    uint64_t id;     /* keys: the key's identity; values: the key's id */
    uint64_t serial; /* ledger index */
    _Atomic int freed; /* deferred mode: set instead of freeing */
};

#define LEDGER_MAX (1u << 23)
static _Atomic uint8_t *ledger;
static _Atomic uint64_t serials;
static _Atomic long wrong_frees; /* freed twice, wrong kind, not live */
static _Atomic long map_key_frees, map_val_frees;
static _Atomic int defer_free; /* val_free marks instead of freeing */

static void ledger_reset(void)
{
    if (ledger == NULL)
        ledger = calloc(LEDGER_MAX, 1);
    else
        memset((void *)ledger, 0, LEDGER_MAX);
    atomic_store(&serials, 0);
    atomic_store(&wrong_frees, 0);
    atomic_store(&map_key_frees, 0);
    atomic_store(&map_val_frees, 0);
}

/* every object made so far was freed exactly once */
static long ledger_check(const char *what)
{
    uint64_t n = atomic_load(&serials);
    long bad = 0;
    for (uint64_t s = 0; s < n; s++)
        if (atomic_load_explicit(&ledger[s], memory_order_relaxed) != 1) {
            if (bad < 5)
                fprintf(stderr, "%s: object %llu freed %d times\n", what,
                        (unsigned long long)s, (int)ledger[s]);
            bad++;
        }
    return bad + atomic_load(&wrong_frees);
}

static struct obj *obj_new(uint32_t kind, uint64_t id)
{
    uint64_t s = atomic_fetch_add(&serials, 1);
    REQUIRE(s < LEDGER_MAX);
    struct obj *o = malloc(sizeof *o);
    REQUIRE(o != NULL);
    o->magic = LIVE;
    o->kind = kind;
    o->id = id;
    o->serial = s;
    atomic_init(&o->freed, 0);
    return o;
}

static void obj_kill(struct obj *o, uint32_t kind, bool defer)
{
    if (o->magic != LIVE || o->kind != kind ||
        atomic_exchange(&o->freed, 1) != 0) {
        atomic_fetch_add(&wrong_frees, 1);
        return;
    }
    atomic_fetch_add_explicit(&ledger[o->serial], 1, memory_order_relaxed);
    if (!defer) {
        o->magic = DEAD;
        free(o);
    }
}

/* the caller frees what the map did not take */
static void drop_key(uintptr_t k)
{
    obj_kill((struct obj *)k, KIND_KEY, false);
}

static void drop_val(uintptr_t v)
{
    obj_kill((struct obj *)v, KIND_VAL, false);
}

static void key_free_cb(uintptr_t k)
{
    atomic_fetch_add(&map_key_frees, 1);
    obj_kill((struct obj *)k, KIND_KEY, false);
}

static void val_free_cb(uintptr_t v)
{
    atomic_fetch_add(&map_val_frees, 1);
    obj_kill((struct obj *)v, KIND_VAL, atomic_load(&defer_free) != 0);
}

static uint64_t key_hash(uintptr_t k, uint64_t seed)
{
    uint64_t z = ((const struct obj *)k)->id ^ seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool key_eq(uintptr_t a, uintptr_t b)
{
    return ((const struct obj *)a)->id == ((const struct obj *)b)->id;
}

static const chm_type obj_type = {
    .hash = key_hash, .eq = key_eq,
    .key_free = key_free_cb, .val_free = val_free_cb};

/* a probe: a key on the stack, never owned by anyone */
static uintptr_t probe(struct obj *p, uint64_t id)
{
    p->magic = LIVE;
    p->kind = KIND_KEY;
    p->id = id;
    p->serial = UINT64_MAX;
    return (uintptr_t)p;
}

/* ---- ownership under concurrent updates --------------------------------- */

#define OK_THREADS 4
#define OK_KEYS 2000

struct own {
    chm_t *m;
    int id;
    long ops;
    long clear_every;
    long bad;
};

struct cpx {
    uintptr_t nv;
    bool saw_present;
    bool foreign; /* saw a value of another key */
    int mode; /* 0 set, 1 remove-if-present, 2 keep */
};

static bool val_ok(uintptr_t v, uint64_t id)
{
    const struct obj *o = (const struct obj *)v;
    return o->magic == LIVE && o->kind == KIND_VAL && o->id == id &&
           atomic_load(&o->freed) == 0;
}

static chm_compute_action cpx_fn(void *ctx, uintptr_t key, bool present,
                                 uintptr_t cur, uintptr_t *new_val)
{
    (void)cur;
    struct cpx *c = ctx;
    c->saw_present = present;
    /* the value we see belongs to this key */
    if (present && !val_ok(cur, ((const struct obj *)key)->id))
        c->foreign = true;
    if (c->mode == 1)
        return CHM_COMPUTE_REMOVE;
    if (c->mode == 2)
        return CHM_COMPUTE_KEEP;
    *new_val = c->nv;
    return CHM_COMPUTE_SET;
}

static void *own_worker(void *arg)
{
    struct own *w = arg;
    chm_thread_t *t = chm_thread_join(w->m);
    check_rng_t rng = {0x0e1 + (uint64_t)w->id};
    for (long i = 0; i < w->ops; i++) {
        uint64_t r = check_rng_next(&rng);
        uint64_t id = r % OK_KEYS;
        uintptr_t out = 0;
        struct obj pb;
        int rc;
        if (w->clear_every && i % w->clear_every == w->clear_every - 1) {
            CHECK_EQ_INT(chm_clear(t), CHM_OK);
            continue;
        }
        /* pin around each op so *_out values can be inspected */
        chm_pin(t);
        switch ((r >> 32) % 8) {
        case 0: { /* put */
            uintptr_t k = (uintptr_t)obj_new(KIND_KEY, id);
            uintptr_t v = (uintptr_t)obj_new(KIND_VAL, id);
            rc = chm_put(t, k, v, &out);
            if (rc == CHM_EXISTS) {
                if (!val_ok(out, id))
                    w->bad++;
                drop_key(k); /* the map keeps its own key */
            } else if (rc != CHM_OK) {
                w->bad++;
            }
            break;
        }
        case 1: { /* put_if_absent */
            uintptr_t k = (uintptr_t)obj_new(KIND_KEY, id);
            uintptr_t v = (uintptr_t)obj_new(KIND_VAL, id);
            rc = chm_put_if_absent(t, k, v, &out);
            if (rc == CHM_EXISTS) {
                if (!val_ok(out, id))
                    w->bad++;
                drop_key(k);
                drop_val(v);
            } else if (rc != CHM_OK) {
                w->bad++;
            }
            break;
        }
        case 2: { /* replace */
            uintptr_t v = (uintptr_t)obj_new(KIND_VAL, id);
            rc = chm_replace(t, probe(&pb, id), v, &out);
            if (rc == CHM_OK) {
                if (!val_ok(out, id))
                    w->bad++;
            } else if (rc == CHM_NOT_FOUND) {
                drop_val(v);
            } else {
                w->bad++;
            }
            break;
        }
        case 3: { /* replace_if with the current value */
            uintptr_t cur;
            if (!chm_get(t, probe(&pb, id), &cur))
                break;
            if (!val_ok(cur, id))
                w->bad++;
            uintptr_t v = (uintptr_t)obj_new(KIND_VAL, id);
            rc = chm_replace_if(t, probe(&pb, id), cur, v);
            if (rc != CHM_OK)
                drop_val(v);
            if (rc != CHM_OK && rc != CHM_MISMATCH && rc != CHM_NOT_FOUND)
                w->bad++;
            break;
        }
        case 4: /* remove */
            rc = chm_remove(t, probe(&pb, id), &out);
            if (rc == CHM_OK && !val_ok(out, id))
                w->bad++;
            else if (rc != CHM_OK && rc != CHM_NOT_FOUND)
                w->bad++;
            break;
        case 5: { /* remove_if with the current value */
            uintptr_t cur;
            if (!chm_get(t, probe(&pb, id), &cur))
                break;
            rc = chm_remove_if(t, probe(&pb, id), cur);
            if (rc != CHM_OK && rc != CHM_MISMATCH && rc != CHM_NOT_FOUND)
                w->bad++;
            break;
        }
        case 6: { /* compute: set / remove / keep */
            uintptr_t k = (uintptr_t)obj_new(KIND_KEY, id);
            struct cpx c = {.nv = (uintptr_t)obj_new(KIND_VAL, id),
                            .mode = (int)((r >> 8) % 3)};
            int mode = c.mode;
            rc = chm_compute(t, k, cpx_fn, &c, &out);
            if (c.foreign)
                w->bad++;
            bool key_taken = false, val_taken = false;
            if (mode == 0) {
                val_taken = true;
                key_taken = !c.saw_present; /* inserted: our key stored */
                if (rc != CHM_OK || out != c.nv)
                    w->bad++;
            } else if (mode == 1) {
                if (rc != CHM_NOT_FOUND)
                    w->bad++;
            } else if (rc != (c.saw_present ? CHM_OK : CHM_NOT_FOUND) ||
                       (rc == CHM_OK && !val_ok(out, id))) {
                w->bad++;
            }
            if (!key_taken)
                drop_key(k);
            if (!val_taken)
                drop_val(c.nv);
            break;
        }
        default: { /* get */
            uintptr_t v;
            if (chm_get(t, probe(&pb, id), &v) && !val_ok(v, id))
                w->bad++;
            break;
        }
        }
        chm_unpin(t);
    }
    chm_thread_leave(t);
    return NULL;
}

static void test_ownership(void)
{
    ledger_reset();
    atomic_store(&defer_free, 0);
    chm_t *m = chm_new(&obj_type, 1);
    struct own w[OK_THREADS];
    pthread_t th[OK_THREADS];
    long ops = (long)scaled(120000, 20000);
    for (int i = 0; i < OK_THREADS; i++) {
        w[i] = (struct own){.m = m, .id = i, .ops = ops,
                            .clear_every = i == 0 ? ops / 8 : 0};
        pthread_create(&th[i], NULL, own_worker, &w[i]);
    }
    for (int i = 0; i < OK_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < OK_THREADS; i++)
        CHECK_EQ_INT(w[i].bad, 0);
    /* what is stored is consistent before the end */
    chm_thread_t *t = chm_thread_join(m);
    chm_iter it;
    uintptr_t k, v;
    size_t n = 0;
    long bad = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v)) {
        const struct obj *ko = (const struct obj *)k;
        if (ko->magic != LIVE || ko->kind != KIND_KEY || !val_ok(v, ko->id))
            bad++;
        n++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(n, chm_size(m));
    chm_thread_leave(t);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 0);
    CHECK(st.reclaimed <= st.retired);
    chm_free(m);
    CHECK_EQ_INT(ledger_check("ownership"), 0);
    CHECK_GT_INT(atomic_load(&map_key_frees), 0);
    CHECK_GT_INT(atomic_load(&map_val_frees), 0);
    printf("#   %llu objects, map freed %ld keys and %ld values\n",
           (unsigned long long)atomic_load(&serials),
           atomic_load(&map_key_frees), atomic_load(&map_val_frees));
}

/* ---- a pinned reader keeps values alive ----------------------------------- */

#define PIN_KEY 7

struct pinning {
    chm_t *m;
    _Atomic int phase; /* 1 A pinned and read, 2 B did its updates,
                          3 A checked and unpinned, 4 B done */
    struct obj *read;  /* what A read */
    /* every value B made (freed only at the end) */
    struct obj **made;
    size_t nmade, cap;
    size_t made_before_pin; /* values made before A pinned */
    long freed_while_pinned;
    long updates_until_freed;
    long ops;
};

static uintptr_t pin_val(struct pinning *p, uint64_t id)
{
    struct obj *o = obj_new(KIND_VAL, id);
    if (p->nmade == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 1024;
        p->made = realloc(p->made, p->cap * sizeof *p->made);
    }
    p->made[p->nmade++] = o;
    return (uintptr_t)o;
}

static void *pin_writer(void *arg)
{
    struct pinning *p = arg;
    chm_thread_t *t = chm_thread_join(p->m);
    struct obj pb;
    long bad = 0;
    while (atomic_load(&p->phase) < 1)
        ;
    size_t first_after_pin = p->nmade;
    /* many replaces of A's key and many other updates */
    for (long i = 0; i < p->ops; i++) {
        uint64_t id = (uint64_t)(i % 64) + 100;
        if (chm_put(t, probe(&pb, PIN_KEY), pin_val(p, PIN_KEY), NULL) !=
            CHM_EXISTS)
            bad++;
        struct obj *k = obj_new(KIND_KEY, id);
        if (chm_put(t, (uintptr_t)k, pin_val(p, id), NULL) != CHM_OK)
            bad++;
        if (chm_remove(t, probe(&pb, id), NULL) != CHM_OK)
            bad++;
    }
    /* A is still pinned: none of the values retired since it pinned (the
     * one it read included) may have reached val_free */
    long freed = 0;
    for (size_t i = first_after_pin; i < p->nmade; i++)
        freed += atomic_load(&p->made[i]->freed);
    freed += atomic_load(&p->read->freed);
    p->freed_while_pinned = freed;
    atomic_store(&p->phase, 2);
    while (atomic_load(&p->phase) < 3)
        ;
    /* A unpinned: further updates let the grace period pass */
    long n = 0;
    double t0 = check_now();
    while (!atomic_load(&p->read->freed) && check_now() - t0 < 10.0) {
        if (chm_put(t, probe(&pb, PIN_KEY), pin_val(p, PIN_KEY), NULL) !=
            CHM_EXISTS)
            bad++;
        n++;
    }
    p->updates_until_freed = atomic_load(&p->read->freed) ? n : -1;
    CHECK_EQ_INT(bad, 0);
    chm_thread_leave(t);
    atomic_store(&p->phase, 4);
    return NULL;
}

static void test_pinned_reader(void)
{
    ledger_reset();
    atomic_store(&defer_free, 1);
    struct pinning p;
    memset(&p, 0, sizeof p);
    p.m = chm_new(&obj_type, 0);
    p.ops = (long)scaled(20000, 3000);
    chm_thread_t *a = chm_thread_join(p.m);
    struct obj pb;
    /* the key and a first value; some churn first so garbage exists */
    CHECK_EQ_INT(chm_put(a, (uintptr_t)obj_new(KIND_KEY, PIN_KEY),
                         pin_val(&p, PIN_KEY), NULL), CHM_OK);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(chm_put(a, probe(&pb, PIN_KEY), pin_val(&p, PIN_KEY),
                             NULL), CHM_EXISTS);
    pthread_t th;
    pthread_create(&th, NULL, pin_writer, &p);

    chm_pin(a);
    uintptr_t v = 0;
    CHECK(chm_get(a, probe(&pb, PIN_KEY), &v));
    p.read = (struct obj *)v;
    CHECK(val_ok(v, PIN_KEY));
    atomic_store(&p.phase, 1);
    while (atomic_load(&p.phase) < 2)
        ;
    /* still pinned: the value is intact and was not handed to val_free */
    CHECK(val_ok(v, PIN_KEY));
    CHECK_EQ_INT(p.freed_while_pinned, 0);
    /* it was replaced, though */
    uintptr_t now = 0;
    CHECK(chm_get(a, probe(&pb, PIN_KEY), &now));
    CHECK(now != v);
    chm_unpin(a);
    atomic_store(&p.phase, 3);
    pthread_join(th, NULL);
    CHECK_EQ_INT(atomic_load(&p.read->freed), 1);
    CHECK_GE_INT(p.updates_until_freed, 0);
    printf("#   freed %ld updates after the unpin\n", p.updates_until_freed);
    chm_thread_leave(a);
    chm_free(p.m);
    /* every value went through val_free exactly once */
    CHECK_EQ_INT(ledger_check("pinned"), 0);
    for (size_t i = 0; i < p.nmade; i++) {
        CHECK_EQ_INT(atomic_load(&p.made[i]->freed), 1);
        free(p.made[i]);
    }
    free(p.made);
    atomic_store(&defer_free, 0);
}

/* ---- garbage stays bounded ------------------------------------------------ */

static _Atomic long int_val_frees;

static void int_val_free(uintptr_t v)
{
    (void)v;
    atomic_fetch_add_explicit(&int_val_frees, 1, memory_order_relaxed);
}

/* The workers run in lockstep rounds of GB_ROUND operations, meeting at a
 * barrier between rounds (unpinned).  A thread preempted inside a section
 * can then hold up the others' garbage for at most the rest of one round:
 * whoever finishes first waits at the barrier for it.  Without the rounds
 * the peak was the scheduler's choice -- valgrind, which runs one thread at a
 * time, let one worker run its whole share while the other sat switched out
 * in a section (50001 pending of a bound of 50000 in CI). */
#define GB_ROUND 1024
/* Rounds of everybody's garbage the peak may reach: epochs advance only on
 * polls (every 64 retirements) and a bucket is freed two epochs after it was
 * filed, so about two rounds are legitimately pending; 8 leaves slack and is
 * still far below the whole run (a thread that never polls reaches it). */
#define GB_ROUNDS_PENDING 8

struct gb {
    chm_t *m;
    pthread_barrier_t *round_end;
    int id;
    long ops;
    uint64_t max_pending;
    long bad;
};

static void *gb_worker(void *arg)
{
    struct gb *g = arg;
    chm_thread_t *t = chm_thread_join(g->m);
    for (long i = 0; i < g->ops; i++) {
        uintptr_t k = (uintptr_t)(i % 1000) + (uintptr_t)g->id * 1000;
        if (chm_put(t, k, (uintptr_t)i, NULL) != CHM_EXISTS)
            g->bad++;
        if (i % GB_ROUND == GB_ROUND - 1 || i == g->ops - 1) {
            chm_stats_t st;
            chm_stats(g->m, &st);
            if (st.pending_garbage > g->max_pending)
                g->max_pending = st.pending_garbage;
            /* between operations, so unpinned while it waits */
            pthread_barrier_wait(g->round_end);
        }
    }
    chm_thread_leave(t);
    return NULL;
}

static void run_garbage_bounded(int nthreads)
{
    const chm_type ty = {.val_free = int_val_free};
    atomic_store(&int_val_frees, 0);
    chm_t *m = chm_new(&ty, 0);
    chm_thread_t *t = chm_thread_join(m);
    for (uintptr_t k = 0; k < (uintptr_t)nthreads * 1000; k++)
        CHECK_EQ_INT(chm_put(t, k, 0, NULL), CHM_OK);
    struct gb g[4];
    pthread_t th[4];
    pthread_barrier_t round_end;
    pthread_barrier_init(&round_end, NULL, (unsigned)nthreads);
    /* every worker the same count, so all meet at every barrier */
    long ops = (long)scaled(1000000, 100000) / nthreads;
    uint64_t bound = (uint64_t)GB_ROUNDS_PENDING * GB_ROUND * (uint64_t)nthreads;
    for (int i = 0; i < nthreads; i++) {
        g[i] = (struct gb){.m = m, .round_end = &round_end, .id = i, .ops = ops};
        pthread_create(&th[i], NULL, gb_worker, &g[i]);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&round_end);
    uint64_t maxp = 0;
    for (int i = 0; i < nthreads; i++) {
        CHECK_EQ_INT(g[i].bad, 0);
        if (g[i].max_pending > maxp)
            maxp = g[i].max_pending;
    }
    printf("#   %d thread(s): max pending garbage %llu (bound %llu)\n", nthreads,
           (unsigned long long)maxp, (unsigned long long)bound);
    CHECK_LT_U64(maxp, bound);
    /* the workers left: each leave waited for a grace period */
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK_LT_U64(st.pending_garbage, bound);
    CHECK_GE_INT(atomic_load(&int_val_frees), ops * nthreads - (long)bound);
    chm_thread_leave(t);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.pending_garbage, 0);
    CHECK_EQ_U64(st.retired, st.reclaimed);
    CHECK_EQ_INT(atomic_load(&int_val_frees), ops * nthreads);
    chm_free(m);
    /* and the stored values at the end */
    CHECK_EQ_INT(atomic_load(&int_val_frees), ops * nthreads + nthreads * 1000);
}

static void test_garbage_bounded(void)
{
    run_garbage_bounded(1);
    run_garbage_bounded(2);
}

/* ---- join / leave cycles ---------------------------------------------------- */

#define JL_THREADS 4

struct jl {
    chm_t *m;
    int id;
    long rounds;
    chm_thread_t *seen[64];
    int nseen;
    long bad;
};

static void *jl_worker(void *arg)
{
    struct jl *j = arg;
    for (long r = 0; r < j->rounds; r++) {
        chm_thread_t *t = chm_thread_join(j->m);
        if (t == NULL) {
            j->bad++;
            continue;
        }
        bool known = false;
        for (int i = 0; i < j->nseen; i++)
            known |= j->seen[i] == t;
        if (!known && j->nseen < 64)
            j->seen[j->nseen++] = t;
        uintptr_t k = (uintptr_t)j->id * 1000000 + (uintptr_t)r;
        if (chm_put(t, k, 1, NULL) != CHM_OK)
            j->bad++;
        if (chm_put(t, k, 2, NULL) != CHM_EXISTS) /* retires value 1 */
            j->bad++;
        if (r % 2 && chm_remove(t, k, NULL) != CHM_OK)
            j->bad++;
        chm_stats_t st;
        chm_stats(j->m, &st);
        if (st.threads < 1 || st.threads > JL_THREADS + 1)
            j->bad++;
        chm_thread_leave(t);
    }
    return NULL;
}

static void test_join_leave(void)
{
    const chm_type ty = {.val_free = int_val_free};
    atomic_store(&int_val_frees, 0);
    chm_t *m = chm_new(&ty, 0);
    chm_stats_t st;

    /* one thread: the same record every time */
    chm_thread_t *first = chm_thread_join(m);
    CHECK(first != NULL);
    chm_thread_leave(first);
    for (int i = 0; i < 1000; i++) {
        chm_thread_t *t = chm_thread_join(m);
        CHECK_EQ_PTR(t, first);
        chm_stats(m, &st);
        CHECK_EQ_U64(st.threads, 1);
        CHECK_EQ_INT(chm_put(t, (uintptr_t)i, 5, NULL), CHM_OK);
        CHECK_EQ_INT(chm_put(t, (uintptr_t)i, 6, NULL), CHM_EXISTS);
        chm_thread_leave(t);
        /* leave waited for a grace period: this round's value 5 is freed
         * (if a poll inside put did not free it already) */
        CHECK_EQ_INT(atomic_load(&int_val_frees), i + 1);
        chm_stats(m, &st);
        CHECK_EQ_U64(st.threads, 0);
    }

    /* nested joins in one thread: distinct records, counted */
    chm_thread_t *h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = chm_thread_join(m);
        CHECK(h[i] != NULL);
        chm_stats(m, &st);
        CHECK_EQ_U64(st.threads, (uint64_t)i + 1);
    }
    CHECK(h[0] != h[1] && h[1] != h[2] && h[0] != h[2]);
    for (int i = 0; i < 3; i++)
        chm_thread_leave(h[i]);

    /* many threads cycling */
    struct jl j[JL_THREADS];
    pthread_t th[JL_THREADS];
    long rounds = (long)scaled(3000, 300);
    chm_thread_t *mine = chm_thread_join(m);
    for (int i = 0; i < JL_THREADS; i++) {
        memset(&j[i], 0, sizeof j[i]);
        j[i].m = m;
        j[i].id = i + 1;
        j[i].rounds = rounds;
        pthread_create(&th[i], NULL, jl_worker, &j[i]);
    }
    for (int i = 0; i < JL_THREADS; i++)
        pthread_join(th[i], NULL);
    /* records are recycled: never more than were joined at once */
    chm_thread_t *all[64 * JL_THREADS + 1];
    int nall = 0;
    all[nall++] = mine;
    for (int i = 0; i < JL_THREADS; i++) {
        CHECK_EQ_INT(j[i].bad, 0);
        for (int s = 0; s < j[i].nseen; s++) {
            bool known = false;
            for (int q = 0; q < nall; q++)
                known |= all[q] == j[i].seen[s];
            if (!known)
                all[nall++] = j[i].seen[s];
        }
    }
    /* h[0..2] were recycled too, so at most JL_THREADS + 1 records exist */
    CHECK_LE_INT(nall, JL_THREADS + 1);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 1);
    CHECK_EQ_U64(chm_size(m),
                 1000 + (size_t)JL_THREADS * (size_t)(rounds - rounds / 2));
    chm_thread_leave(mine);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 0);
    CHECK_EQ_U64(st.pending_garbage, 0);
    /* 1000 + JL_THREADS * rounds replaced, rounds/2 removed per thread */
    CHECK_EQ_INT(atomic_load(&int_val_frees),
                 1000 + JL_THREADS * rounds + JL_THREADS * (rounds / 2));
    chm_free(m);
}

/* ---- clear, then reuse --------------------------------------------------------- */

static void test_clear_reuse(void)
{
    ledger_reset();
    atomic_store(&defer_free, 0);
    chm_t *m = chm_new(&obj_type, 0);
    chm_thread_t *t = chm_thread_join(m);
    const uint64_t N = scaled(20000, 3000);
    struct obj pb;
    for (int round = 0; round < 3; round++) {
        for (uint64_t id = 0; id < N; id++)
            CHECK_EQ_INT(chm_put(t, (uintptr_t)obj_new(KIND_KEY, id),
                                 (uintptr_t)obj_new(KIND_VAL, id), NULL),
                         CHM_OK);
        CHECK_EQ_U64(chm_size(m), N);
        long kf = atomic_load(&map_key_frees), vf = atomic_load(&map_val_frees);
        CHECK_EQ_INT(chm_clear(t), CHM_OK);
        CHECK_EQ_U64(chm_size(m), 0);
        long bad = 0;
        for (uint64_t id = 0; id < N; id++)
            bad += chm_get(t, probe(&pb, id), NULL);
        CHECK_EQ_INT(bad, 0);
        chm_iter it;
        uintptr_t k, v;
        chm_iter_init(&it, t);
        CHECK(!chm_iter_next(&it, &k, &v));
        /* a grace period later everything cleared is freed: leave waits
         * for one; join again to go on */
        chm_thread_leave(t);
        CHECK_EQ_INT(atomic_load(&map_key_frees) - kf, (long)N);
        CHECK_EQ_INT(atomic_load(&map_val_frees) - vf, (long)N);
        t = chm_thread_join(m);
    }
    /* reuse: half the keys, every second one replaced */
    for (uint64_t id = 0; id < N; id += 2)
        CHECK_EQ_INT(chm_put(t, (uintptr_t)obj_new(KIND_KEY, id),
                             (uintptr_t)obj_new(KIND_VAL, id), NULL), CHM_OK);
    for (uint64_t id = 0; id < N; id += 4) {
        uintptr_t old = 0;
        CHECK_EQ_INT(chm_replace(t, probe(&pb, id),
                                 (uintptr_t)obj_new(KIND_VAL, id), &old),
                     CHM_OK);
    }
    CHECK_EQ_U64(chm_size(m), (N + 1) / 2);
    long bad = 0;
    for (uint64_t id = 0; id < N; id++) {
        uintptr_t v = 0;
        bool p = chm_get(t, probe(&pb, id), &v);
        if (p != (id % 2 == 0) || (p && !val_ok(v, id)))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    chm_thread_leave(t);
    chm_free(m);
    CHECK_EQ_INT(ledger_check("clear_reuse"), 0);
    CHECK_EQ_INT(atomic_load(&map_key_frees), (long)(3 * N + (N + 1) / 2));
}

/* clear racing with inserts from other threads: nothing leaks or is freed
 * twice, and what survives is consistent */
struct cr {
    chm_t *m;
    int id;
    long ops;
};

static void *cr_inserter(void *arg)
{
    struct cr *c = arg;
    chm_thread_t *t = chm_thread_join(c->m);
    for (long i = 0; i < c->ops; i++) {
        uint64_t id = (uint64_t)c->id * 10000000 + (uint64_t)(i % 5000);
        uintptr_t k = (uintptr_t)obj_new(KIND_KEY, id);
        int rc = chm_put(t, k, (uintptr_t)obj_new(KIND_VAL, id), NULL);
        if (rc == CHM_EXISTS)
            drop_key(k);
        else
            CHECK_EQ_INT(rc, CHM_OK);
    }
    chm_thread_leave(t);
    return NULL;
}

static void test_clear_concurrent(void)
{
    ledger_reset();
    chm_t *m = chm_new(&obj_type, 1);
    struct cr c[2];
    pthread_t th[2];
    long ops = (long)scaled(100000, 15000);
    for (int i = 0; i < 2; i++) {
        c[i] = (struct cr){.m = m, .id = i + 1, .ops = ops};
        pthread_create(&th[i], NULL, cr_inserter, &c[i]);
    }
    chm_thread_t *t = chm_thread_join(m);
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(chm_clear(t), CHM_OK);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    size_t n = 0;
    chm_iter it;
    uintptr_t k, v;
    long bad = 0;
    chm_iter_init(&it, t);
    while (chm_iter_next(&it, &k, &v)) {
        if (!val_ok(v, ((const struct obj *)k)->id))
            bad++;
        n++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(n, chm_size(m));
    chm_thread_leave(t);
    chm_free(m);
    CHECK_EQ_INT(ledger_check("clear_concurrent"), 0);
}

int main(void)
{
    run_test("ownership", test_ownership);
    run_test("pinned_reader", test_pinned_reader);
    run_test("garbage_bounded", test_garbage_bounded);
    run_test("join_leave", test_join_leave);
    run_test("clear_reuse", test_clear_reuse);
    run_test("clear_concurrent", test_clear_concurrent);
    int rc = check_finish();
    free((void *)ledger);
    return rc;
}
