/*
 * test_stress_backends.c - chmstress's map backends (src/stress/backends/)
 * through the cs_backend vtable only, as the runner uses them.
 *
 * The registry: chm, urcu, cuckoo, locked, null in that order,
 * cs_backend_find, the vtables are complete.  For the real maps (chm, urcu,
 * cuckoo, locked) one semantic table: every op's cs_res and out values on
 * absent and present keys (0 and UINT64_MAX included, values 0 and
 * UINT64_MAX too), NULL out pointers, compute inserting and replacing, size
 * after each step, batches; iterate visiting every entry once with its
 * value; reserve avoiding later resizes; growth past several resizes with
 * every key checked; stats that agree with the map; a 2-thread conservation
 * test (each thread owns a key range checked op by op against its own exact
 * model, plus a shared range where put_if_absent/compute/remove tallies must
 * match the final map).  chm: CHM_ENOMEM surfaces as CS_R_ENOMEM (when libchm
 * has its fault injection hooks).  cuckoo: its stats (capacity doubling from
 * create's size, a reserve counted as one resize, never shrinking) and
 * chmstress itself ($CHMSTRESS) on bundled workloads with -m cuckoo: count
 * checks (exchange, resize-storm) and linearizability (lin-hot) must
 * pass; urcu: its resizer grows the table (stats, and resize-grow run by
 * chmstress).  null: every op returns its documented constant and nothing
 * crashes.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cs.h"
#include "ts_spawn.h"

/* libchm's fault injection (chm_alloc.c with -DCHM_FAULT_INJECTION); weak,
 * so this test links against a libchm without it and skips that part. */
extern void chm_test_fail_allocs(long after, long count)
    __attribute__((weak));

static const uint64_t SENTINEL = 0xdeadbeefcafef00dULL;

/* A backend's map and the calling thread's context. */
typedef struct tmap {
    const cs_backend *b;
    void *m;
    void *t;
} tmap;

static tmap tm_open(const char *name, size_t capacity)
{
    tmap tm = {.b = cs_backend_find(name)};
    REQUIRE(tm.b != NULL);
    tm.m = tm.b->create(capacity, 0x5eed5eedULL);
    REQUIRE(tm.m != NULL);
    tm.t = tm.b->thread_join(tm.m);
    REQUIRE(tm.t != NULL);
    return tm;
}

static void tm_close(tmap *tm)
{
    tm->b->thread_leave(tm->t);
    tm->b->destroy(tm->m);
}

static void tm_begin(const tmap *tm)
{
    if (tm->b->batch_begin != NULL)
        tm->b->batch_begin(tm->t);
}

static void tm_end(const tmap *tm)
{
    if (tm->b->batch_end != NULL)
        tm->b->batch_end(tm->t);
}

/* get: present with value v, or absent (and *val untouched). */
static void expect_value(const tmap *tm, uint64_t key, bool present,
                         uint64_t v)
{
    uint64_t got = SENTINEL;
    bool p = tm->b->get(tm->t, key, &got);
    CHECK_MSG(p == present, "%s: key %#llx present %d, expected %d",
              tm->b->name, (unsigned long long)key, (int)p, (int)present);
    if (present)
        CHECK_EQ_U64(got, v);
    else
        CHECK_EQ_U64(got, SENTINEL);
}

/* ---- the registry ------------------------------------------------------ */

TEST(registry)
{
    static const char *const order[] = {"chm", "urcu", "cuckoo", "locked",
                                        "null"};
    size_t n = 0;
    while (cs_backends[n] != NULL)
        n++;
    CHECK_EQ_U64(n, 5);
    for (size_t i = 0; i < 5 && i < n; i++) {
        CHECK_EQ_STR(cs_backends[i]->name, order[i]);
        CHECK_EQ_PTR(cs_backend_find(order[i]), cs_backends[i]);
    }
    CHECK(cs_backend_find("nope") == NULL);
    CHECK(cs_backend_find("") == NULL);
    CHECK(cs_backend_find("CHM") == NULL);
    CHECK(cs_backend_find("chm ") == NULL);
    CHECK(cs_backend_find(NULL) == NULL);

    for (size_t i = 0; i < n; i++) {
        const cs_backend *b = cs_backends[i];
        CHECK(b->name != NULL && b->name[0] != '\0');
        CHECK(b->description != NULL && b->description[0] != '\0');
        CHECK(b->create && b->destroy && b->thread_join && b->thread_leave);
        CHECK(b->get && b->put && b->put_if_absent && b->replace);
        CHECK(b->replace_if && b->remove && b->remove_if && b->compute);
        CHECK(b->size && b->iterate && b->stats);
        CHECK_MSG((b->scan != NULL) == b->ordered, "%s", b->name);
        CHECK_MSG((b->batch_begin == NULL) == (b->batch_end == NULL), "%s",
                  b->name);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(b->name, cs_backends[j]->name) != 0);
    }
    /* the null backend says it is not to be checked */
    const cs_backend *nb = cs_backend_find("null");
    CHECK(nb != NULL && strstr(nb->description, "never checked") != NULL);
}

/* ---- semantics: the same table for every real map ---------------------- */

/* The full life of one key, absent at the start and present (with
 * key ^ 0x2222) at the end.  *size tracks the expected size. */
static void semantics_key(const tmap *tm, uint64_t k, size_t *size)
{
    const cs_backend *b = tm->b;
    const uint64_t v1 = k ^ 0x1111111111111111ULL;
    const uint64_t v2 = k ^ 0x2222222222222222ULL;
    const uint64_t v3 = k ^ 0x3333333333333333ULL;
    uint64_t out;

    /* absent: nothing takes effect, out values untouched */
    expect_value(tm, k, false, 0);
    out = SENTINEL;
    CHECK_EQ_INT(b->replace(tm->t, k, v1, &out), CS_R_NOT_FOUND);
    CHECK_EQ_U64(out, SENTINEL);
    CHECK_EQ_INT(b->replace_if(tm->t, k, v1, v2), CS_R_NOT_FOUND);
    out = SENTINEL;
    CHECK_EQ_INT(b->remove(tm->t, k, &out), CS_R_NOT_FOUND);
    CHECK_EQ_U64(out, SENTINEL);
    CHECK_EQ_INT(b->remove_if(tm->t, k, v1), CS_R_NOT_FOUND);
    expect_value(tm, k, false, 0);
    CHECK_EQ_U64(b->size(tm->m), *size);

    /* put_if_absent: inserts, then reports the current value */
    out = SENTINEL;
    CHECK_EQ_INT(b->put_if_absent(tm->t, k, v1, &out), CS_R_INSERTED);
    CHECK_EQ_U64(out, SENTINEL);
    ++*size;
    CHECK_EQ_U64(b->size(tm->m), *size);
    expect_value(tm, k, true, v1);
    CHECK_EQ_INT(b->put_if_absent(tm->t, k, v2, &out), CS_R_EXISTS);
    CHECK_EQ_U64(out, v1);
    expect_value(tm, k, true, v1);

    /* put and replace on a present key: previous value out */
    out = SENTINEL;
    CHECK_EQ_INT(b->put(tm->t, k, v2, &out), CS_R_REPLACED);
    CHECK_EQ_U64(out, v1);
    expect_value(tm, k, true, v2);
    out = SENTINEL;
    CHECK_EQ_INT(b->replace(tm->t, k, v3, &out), CS_R_REPLACED);
    CHECK_EQ_U64(out, v2);
    expect_value(tm, k, true, v3);
    CHECK_EQ_U64(b->size(tm->m), *size);

    /* conditional ops: a wrong expectation changes nothing */
    CHECK_EQ_INT(b->replace_if(tm->t, k, v1, v2), CS_R_MISMATCH);
    expect_value(tm, k, true, v3);
    CHECK_EQ_INT(b->replace_if(tm->t, k, v3, v1), CS_R_REPLACED);
    expect_value(tm, k, true, v1);
    CHECK_EQ_INT(b->remove_if(tm->t, k, v3), CS_R_MISMATCH);
    expect_value(tm, k, true, v1);
    CHECK_EQ_U64(b->size(tm->m), *size);

    /* remove, put into the hole, remove_if */
    out = SENTINEL;
    CHECK_EQ_INT(b->remove(tm->t, k, &out), CS_R_REMOVED);
    CHECK_EQ_U64(out, v1);
    --*size;
    expect_value(tm, k, false, 0);
    CHECK_EQ_U64(b->size(tm->m), *size);
    out = SENTINEL;
    CHECK_EQ_INT(b->put(tm->t, k, v2, &out), CS_R_INSERTED);
    CHECK_EQ_U64(out, SENTINEL);
    ++*size;
    expect_value(tm, k, true, v2);
    CHECK_EQ_INT(b->remove_if(tm->t, k, v2), CS_R_REMOVED);
    --*size;
    expect_value(tm, k, false, 0);
    CHECK_EQ_INT(b->remove_if(tm->t, k, v2), CS_R_NOT_FOUND);
    CHECK_EQ_U64(b->size(tm->m), *size);

    /* compute: insert when absent, replace (previous out) when present */
    out = SENTINEL;
    CHECK_EQ_INT(b->compute(tm->t, k, v1, &out), CS_R_INSERTED);
    CHECK_EQ_U64(out, SENTINEL);
    ++*size;
    expect_value(tm, k, true, v1);
    CHECK_EQ_INT(b->compute(tm->t, k, v2, &out), CS_R_REPLACED);
    CHECK_EQ_U64(out, v1);
    expect_value(tm, k, true, v2);
    CHECK_EQ_U64(b->size(tm->m), *size);
}

/* NULL out pointers and the edge values 0 and UINT64_MAX on key k (absent
 * at the start and at the end). */
static void semantics_edges(const tmap *tm, uint64_t k)
{
    const cs_backend *b = tm->b;
    CHECK_EQ_INT(b->put(tm->t, k, 0, NULL), CS_R_INSERTED);
    CHECK(b->get(tm->t, k, NULL));
    expect_value(tm, k, true, 0);
    CHECK_EQ_INT(b->put_if_absent(tm->t, k, 5, NULL), CS_R_EXISTS);
    CHECK_EQ_INT(b->replace_if(tm->t, k, 0, UINT64_MAX), CS_R_REPLACED);
    expect_value(tm, k, true, UINT64_MAX);
    CHECK_EQ_INT(b->put(tm->t, k, 0, NULL), CS_R_REPLACED);
    CHECK_EQ_INT(b->replace(tm->t, k, UINT64_MAX, NULL), CS_R_REPLACED);
    CHECK_EQ_INT(b->compute(tm->t, k, 0, NULL), CS_R_REPLACED);
    expect_value(tm, k, true, 0);
    CHECK_EQ_INT(b->remove_if(tm->t, k, UINT64_MAX), CS_R_MISMATCH);
    CHECK_EQ_INT(b->remove(tm->t, k, NULL), CS_R_REMOVED);
    CHECK(!b->get(tm->t, k, NULL));
    CHECK_EQ_INT(b->replace(tm->t, k, 1, NULL), CS_R_NOT_FOUND);
    CHECK_EQ_INT(b->remove(tm->t, k, NULL), CS_R_NOT_FOUND);
    CHECK_EQ_INT(b->put_if_absent(tm->t, k, UINT64_MAX, NULL), CS_R_INSERTED);
    expect_value(tm, k, true, UINT64_MAX);
    CHECK_EQ_INT(b->remove_if(tm->t, k, UINT64_MAX), CS_R_REMOVED);
    CHECK(!b->get(tm->t, k, NULL));
}

static const uint64_t edge_keys[] = {
    0, 1, UINT64_MAX, UINT64_MAX - 1, 0x8000000000000000ULL, 42,
    0x0000000100000000ULL, 0xfffffffe00000000ULL,
};
#define N_EDGE_KEYS (sizeof edge_keys / sizeof edge_keys[0])

static void semantics(const char *name)
{
    tmap tm = tm_open(name, 0);
    size_t size = 0;
    for (size_t i = 0; i < N_EDGE_KEYS; i++) {
        bool batched = i % 2 == 1; /* half the keys inside a batch */
        if (batched)
            tm_begin(&tm);
        semantics_key(&tm, edge_keys[i], &size);
        if (batched)
            tm_end(&tm);
    }
    CHECK_EQ_U64(size, N_EDGE_KEYS);
    CHECK_EQ_U64(tm.b->size(tm.m), N_EDGE_KEYS);
    /* every key ended present with v2; the others are untouched */
    for (size_t i = 0; i < N_EDGE_KEYS; i++)
        expect_value(&tm, edge_keys[i], true,
                     edge_keys[i] ^ 0x2222222222222222ULL);
    CHECK_EQ_U64(tm.b->iterate(tm.t, NULL, NULL), N_EDGE_KEYS);

    tm_begin(&tm);
    semantics_edges(&tm, 7); /* among other keys, in a batch */
    tm_end(&tm);
    CHECK_EQ_U64(tm.b->size(tm.m), N_EDGE_KEYS);
    tm_close(&tm);

    /* 0 and UINT64_MAX were present above: a fresh map for their edges */
    tm = tm_open(name, 0);
    semantics_edges(&tm, 0);
    semantics_edges(&tm, UINT64_MAX);
    CHECK_EQ_U64(tm.b->size(tm.m), 0);
    CHECK_EQ_U64(tm.b->iterate(tm.t, NULL, NULL), 0);
    tm_close(&tm);
}

TEST(semantics_chm)
{
    semantics("chm");
}

/* liburcu is not built with ThreadSanitizer: TSan cannot see the grace
 * periods and barriers inside it, and reports every node a worker read and
 * a later call_rcu callback freed as a race.  Under TSan the urcu tests are
 * skipped (they run in the normal, ASan and valgrind builds). */
#define URCU_UNDER_TSAN CHECK_TSAN
#define SKIP_URCU_UNDER_TSAN()                                            \
    do {                                                                  \
        if (URCU_UNDER_TSAN) {                                            \
            printf("#   skipped under TSan: liburcu is not instrumented\n"); \
            return;                                                       \
        }                                                                 \
    } while (0)

TEST(semantics_urcu)
{
    SKIP_URCU_UNDER_TSAN();
    semantics("urcu");
}

/* libcuckoo is header-only C++, compiled with this build's flags: it is
 * instrumented under TSan like everything else, so cuckoo is never skipped. */
TEST(semantics_cuckoo)
{
    semantics("cuckoo");
}

TEST(semantics_locked)
{
    semantics("locked");
}

/* ---- iterate ------------------------------------------------------------- */

/* Entries (cs_key_of(i), i + 1) for i < n; the visitor counts each. */
typedef struct visit_ctx {
    size_t n;
    unsigned *seen;
    size_t bad;
} visit_ctx;

static void visit_count(void *ctx, uint64_t k, uint64_t v)
{
    visit_ctx *c = ctx;
    uint64_t i = v - 1;
    if (v == 0 || i >= c->n || cs_key_of(i) != k)
        c->bad++;
    else
        c->seen[i]++;
}

/* Iterate and check every index with keep(i) is seen exactly once and no
 * other entry at all. */
static void check_iterate(const tmap *tm, size_t n, bool (*keep)(size_t))
{
    visit_ctx c = {.n = n, .seen = calloc(n, sizeof(unsigned))};
    REQUIRE(c.seen != NULL);
    size_t expect = 0;
    for (size_t i = 0; i < n; i++)
        expect += keep(i);
    CHECK_EQ_U64(tm->b->iterate(tm->t, visit_count, &c), expect);
    CHECK_EQ_U64(c.bad, 0);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += c.seen[i] != (keep(i) ? 1u : 0u);
    CHECK_EQ_U64(wrong, 0);
    CHECK_EQ_U64(tm->b->iterate(tm->t, NULL, NULL), expect);
    free(c.seen);
}

static bool keep_all(size_t i)
{
    (void)i;
    return true;
}

static bool keep_not_third(size_t i)
{
    return i % 3 != 0;
}

static void iterate(const char *name)
{
    const size_t n = 3000;
    tmap tm = tm_open(name, 0);
    CHECK_EQ_U64(tm.b->iterate(tm.t, visit_count, NULL), 0); /* empty */
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(tm.b->put(tm.t, cs_key_of(i), i + 1, NULL),
                     CS_R_INSERTED);
    check_iterate(&tm, n, keep_all);
    for (size_t i = 0; i < n; i += 3)
        CHECK_EQ_INT(tm.b->remove(tm.t, cs_key_of(i), NULL), CS_R_REMOVED);
    tm_begin(&tm); /* iterate inside a batch too */
    check_iterate(&tm, n, keep_not_third);
    tm_end(&tm);
    tm_close(&tm);
}

TEST(iterate_chm)
{
    iterate("chm");
}

TEST(iterate_urcu)
{
    SKIP_URCU_UNDER_TSAN();
    iterate("urcu");
}

TEST(iterate_cuckoo)
{
    iterate("cuckoo");
}

TEST(iterate_locked)
{
    iterate("locked");
}

/* ---- reserve -------------------------------------------------------------- */

static void reserve(const char *name)
{
    const size_t n = 20000;
    tmap tm = tm_open(name, 16);
    REQUIRE(tm.b->reserve != NULL);
    cs_map_stats st;
    CHECK_EQ_INT(tm.b->reserve(tm.t, n), 0);
    tm.b->stats(tm.m, &st);
    CHECK(st.has_table_size && st.has_resizes);
    CHECK_GE_U64(st.table_size, n);
    uint64_t resizes = st.resizes, table = st.table_size;
    CHECK_EQ_INT(tm.b->reserve(tm.t, 100), 0); /* already big enough */
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(tm.b->put_if_absent(tm.t, cs_key_of(i), i + 1, NULL),
                     CS_R_INSERTED);
    tm.b->stats(tm.m, &st);
    CHECK_EQ_U64(st.resizes, resizes); /* n fit without a further resize */
    CHECK_EQ_U64(st.table_size, table);
    CHECK_EQ_U64(st.size, n);
    CHECK_EQ_U64(tm.b->size(tm.m), n);
    tm_close(&tm);
}

TEST(reserve_chm)
{
    reserve("chm");
}

TEST(reserve_cuckoo)
{
    reserve("cuckoo");
}

TEST(reserve_locked)
{
    reserve("locked");
}

/* ---- growth and stats ------------------------------------------------------- */

static bool is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* Keys present exactly when (i % 2 == 1 || !halved), with value i + 1. */
static void check_all_keys(const tmap *tm, size_t n, bool halved)
{
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = SENTINEL;
        bool want = !halved || i % 2 == 1;
        bool p = tm->b->get(tm->t, cs_key_of(i), &v);
        wrong += p != want || (p && v != i + 1);
    }
    CHECK_EQ_U64(wrong, 0);
}

/* What growth() expects of a map's stats. */
typedef struct growth_expect {
    uint64_t first_table; /* table_size of create(1), doubled by every
                             resize; 0: not checked (chm) */
    bool garbage;         /* has_garbage */
    bool load_75;         /* size <= 0.75 table_size (locked) */
} growth_expect;

static void growth(const char *name, growth_expect ex)
{
    size_t n = chm_test_scaled(60000);
    if (n < 4000)
        n = 4000; /* from 16 buckets: at least 8 doublings */
    tmap tm = tm_open(name, 1);
    cs_map_stats st;
    tm.b->stats(tm.m, &st);
    CHECK(st.has_table_size && st.has_resizes);
    CHECK_EQ_U64(st.size, 0);
    CHECK_EQ_U64(st.resizes, 0);
    CHECK_EQ_INT(st.has_garbage, ex.garbage);
    if (ex.first_table != 0)
        CHECK_EQ_U64(st.table_size, ex.first_table);

    for (size_t i = 0; i < n; i++) {
        if (i % 64 == 0)
            tm_begin(&tm);
        CHECK_EQ_INT(tm.b->put(tm.t, cs_key_of(i), i + 1, NULL),
                     CS_R_INSERTED);
        if (i % 64 == 63 || i == n - 1)
            tm_end(&tm);
    }
    check_all_keys(&tm, n, false);
    tm.b->stats(tm.m, &st);
    CHECK_EQ_U64(st.size, n);
    CHECK_EQ_U64(tm.b->size(tm.m), n);
    CHECK_GE_U64(st.resizes, 5);
    CHECK(is_pow2(st.table_size));
    CHECK_GE_U64(st.table_size, n);
    if (ex.load_75) /* within the load factor */
        CHECK_LE_U64(st.size, st.table_size / 4 * 3);
    if (ex.first_table != 0) /* doubled from the first size each time */
        CHECK_EQ_U64(ex.first_table << st.resizes, st.table_size);

    for (size_t i = 0; i < n; i += 2)
        CHECK_EQ_INT(tm.b->remove(tm.t, cs_key_of(i), NULL), CS_R_REMOVED);
    check_all_keys(&tm, n, true);
    tm.b->stats(tm.m, &st);
    CHECK_EQ_U64(st.size, n - (n + 1) / 2);
    CHECK_EQ_U64(tm.b->size(tm.m), n - (n + 1) / 2);
    CHECK_EQ_U64(tm.b->iterate(tm.t, NULL, NULL), n - (n + 1) / 2);
    if (!ex.garbage)
        CHECK_EQ_U64(st.pending_garbage, 0);
    tm_close(&tm);
}

TEST(growth_chm)
{
    growth("chm", (growth_expect){.garbage = true});
}

/* cuckoo: create(1) is one bucket of 4 slots; no deferred garbage. */
TEST(growth_cuckoo)
{
    growth("cuckoo", (growth_expect){.first_table = 4});
}

TEST(growth_locked)
{
    growth("locked", (growth_expect){.first_table = 16, .load_75 = true});
}

/* cuckoo's stats: table_size is the capacity (4 slots x 2^hashpower) for
 * any create size (small ones are shrunk from libcuckoo's full lock array,
 * big ones not); a reserve that jumps several powers is one resize; a
 * reserve below the capacity never shrinks; automatic growth afterwards
 * doubles (one resize each). */
TEST(stats_cuckoo)
{
    static const struct {
        size_t create;
        uint64_t table;
    } sizes[] = {{0, 4},           {1, 4},           {5, 8},
                 {100000, 131072}, {262144, 262144}, {300000, 524288}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        tmap tm = tm_open("cuckoo", sizes[i].create);
        cs_map_stats st;
        tm.b->stats(tm.m, &st);
        CHECK_EQ_U64(st.table_size, sizes[i].table);
        CHECK_EQ_U64(st.resizes, 0);
        CHECK_EQ_INT(tm.b->put(tm.t, 42, 1, NULL), CS_R_INSERTED);
        tm_close(&tm);
    }

    tmap tm = tm_open("cuckoo", 1);
    cs_map_stats st;
    CHECK_EQ_INT(tm.b->reserve(tm.t, 1000), 0); /* 4 -> 1024 slots */
    tm.b->stats(tm.m, &st);
    CHECK_EQ_U64(st.table_size, 1024);
    CHECK_EQ_U64(st.resizes, 1);
    CHECK_EQ_INT(tm.b->reserve(tm.t, 10), 0); /* no shrink */
    tm.b->stats(tm.m, &st);
    CHECK_EQ_U64(st.table_size, 1024);
    CHECK_EQ_U64(st.resizes, 1);
    const size_t n = 5000;
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(tm.b->put_if_absent(tm.t, cs_key_of(i), i + 1, NULL),
                     CS_R_INSERTED);
    check_all_keys(&tm, n, false);
    tm.b->stats(tm.m, &st);
    CHECK_GE_U64(st.resizes, 3); /* 1024 slots -> at least 8192 */
    CHECK_EQ_U64((uint64_t)1024 << (st.resizes - 1), st.table_size);
    CHECK_EQ_U64(st.size, n);
    CHECK(!st.has_garbage);
    CHECK_EQ_U64(st.pending_garbage, 0);
    tm_close(&tm);
}

/* urcu resizes in a background thread (liburcu's policy, the backend's
 * resizer: see cs_backend_urcu.c), so its table size is awaited: true once
 * stats say at least `min` buckets (within 20 s). */
static bool urcu_table_reaches(const tmap *tm, uint64_t min, cs_map_stats *st)
{
    double t0 = check_now();
    for (;;) {
        tm->b->stats(tm->m, st);
        if (st->table_size >= min || check_now() - t0 > 20)
            return st->table_size >= min;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* urcu: growth from one bucket by its own policy (liburcu's: up to ~16
 * entries a bucket between resizes, so the table ends >= (n - 1024) / 16:
 * the last policy check may be 1024 inserts back), every key checked;
 * reserve (a forced cds_lfht_resize, grow and shrink, done at once)
 * must keep every key and set the table size exactly. */
TEST(growth_urcu)
{
    SKIP_URCU_UNDER_TSAN();
    size_t n = chm_test_scaled(60000);
    if (n < 4000)
        n = 4000;
    tmap tm = tm_open("urcu", 1);
    cs_map_stats st;
    tm.b->stats(tm.m, &st);
    CHECK(st.has_table_size && st.has_resizes && st.has_garbage);
    CHECK_EQ_U64(st.size, 0);
    CHECK_EQ_U64(st.table_size, 1);
    CHECK_EQ_U64(st.resizes, 0);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(tm.b->put(tm.t, cs_key_of(i), i + 1, NULL),
                     CS_R_INSERTED);
    CHECK(urcu_table_reaches(&tm, (n - 1024) / 16, &st));
    printf("#   %zu keys: %llu buckets after %llu resizes\n", n,
           (unsigned long long)st.table_size,
           (unsigned long long)st.resizes);
    CHECK(is_pow2(st.table_size));
    CHECK_GE_U64(st.resizes, 1); /* the resizer may skip plans it slept through */
    check_all_keys(&tm, n, false);
    CHECK_EQ_U64(st.size, n);
    CHECK_EQ_U64(tm.b->size(tm.m), n);

    CHECK_EQ_INT(tm.b->reserve(tm.t, 2 * n), 0);
    tm.b->stats(tm.m, &st);
    CHECK_GE_U64(st.table_size, 2 * n);
    CHECK(is_pow2(st.table_size));
    for (size_t i = 0; i < n; i += 2)
        CHECK_EQ_INT(tm.b->remove(tm.t, cs_key_of(i), NULL), CS_R_REMOVED);
    CHECK_EQ_INT(tm.b->reserve(tm.t, 16), 0); /* shrink: keys stay */
    check_all_keys(&tm, n, true);
    tm.b->stats(tm.m, &st);
    CHECK_EQ_U64(st.table_size, 16);
    CHECK_EQ_U64(st.size, n - (n + 1) / 2);
    CHECK_LE_U64(st.pending_garbage, (n + 1) / 2);
    CHECK_EQ_U64(tm.b->size(tm.m), n - (n + 1) / 2);
    CHECK_EQ_U64(tm.b->iterate(tm.t, NULL, NULL), n - (n + 1) / 2);
    tm_close(&tm);
}

/* urcu, two threads inserting from one bucket while the resizer follows:
 * the table grows under concurrent inserts and every key is there. */
typedef struct urcu_filler {
    tmap *tm;
    size_t from, n;
} urcu_filler;

static void *urcu_fill(void *arg)
{
    urcu_filler *f = arg;
    void *t = f->tm->b->thread_join(f->tm->m);
    for (size_t i = f->from; t != NULL && i < f->from + f->n; i++)
        (void)f->tm->b->put_if_absent(t, cs_key_of(i), i + 1, NULL);
    if (t != NULL)
        f->tm->b->thread_leave(t);
    return NULL;
}

TEST(growth_urcu_two_threads)
{
    SKIP_URCU_UNDER_TSAN();
    size_t n = chm_test_scaled(100000);
    if (n < 8000)
        n = 8000;
    tmap tm = tm_open("urcu", 1);
    urcu_filler f[2] = {{&tm, 0, n / 2}, {&tm, n / 2, n - n / 2}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&th[i], NULL, urcu_fill, &f[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cs_map_stats st;
    /* each thread checks every 1024 of its own inserts */
    CHECK(urcu_table_reaches(&tm, (n - 2048) / 16, &st));
    CHECK(is_pow2(st.table_size));
    CHECK_EQ_U64(st.size, n);
    check_all_keys(&tm, n, false);
    tm_close(&tm);
}

/* ---- two threads: conservation ------------------------------------------------ */

#define CONS_OWN 512    /* key indices each thread owns */
#define CONS_SHARED 64  /* key indices both threads fight over */

/* Values: the key index in bits 63..24, the writer in 23..20, a sequence
 * number (from 1) below: never 0, traceable to its key. */
static uint64_t cons_value(uint64_t idx, unsigned tid, uint64_t seq)
{
    return (idx << 24) | ((uint64_t)tid << 20) | (seq & 0xfffff);
}

static bool cons_value_ok(uint64_t v, uint64_t idx)
{
    return v != 0 && (v >> 24) == idx;
}

typedef struct cons_thread {
    const cs_backend *b;
    void *m;
    unsigned tid;
    size_t ops;
    /* the thread's own range: an exact model */
    bool present[CONS_OWN];
    uint64_t val[CONS_OWN];
    /* the shared range: net successful inserts minus removes */
    long tally[CONS_SHARED];
    unsigned long bad_own, bad_shared, bad_value;
} cons_thread;

static uint64_t cons_own_index(const cons_thread *c, size_t i)
{
    return (uint64_t)c->tid * CONS_OWN + i;
}

static uint64_t cons_shared_index(size_t i)
{
    return 2 * CONS_OWN + i;
}

/* One random op on the thread's own range, checked against its model. */
static void cons_own_op(cons_thread *c, void *t, check_rng_t *r,
                        uint64_t seq)
{
    size_t i = check_rng_below(r, CONS_OWN);
    uint64_t idx = cons_own_index(c, i), k = cs_key_of(idx);
    uint64_t v = cons_value(idx, c->tid, seq), out = SENTINEL;
    bool p = c->present[i];
    uint64_t cur = c->val[i];
    cs_res res, want;
    switch (check_rng_below(r, 8)) {
    case 0: {
        bool got = c->b->get(t, k, &out);
        c->bad_own += got != p || (p && out != cur);
        return;
    }
    case 1:
        res = c->b->put(t, k, v, &out);
        want = p ? CS_R_REPLACED : CS_R_INSERTED;
        c->present[i] = true, c->val[i] = v;
        break;
    case 2:
        res = c->b->put_if_absent(t, k, v, &out);
        want = p ? CS_R_EXISTS : CS_R_INSERTED;
        if (!p)
            c->present[i] = true, c->val[i] = v;
        break;
    case 3:
        res = c->b->replace(t, k, v, &out);
        want = p ? CS_R_REPLACED : CS_R_NOT_FOUND;
        if (p)
            c->val[i] = v;
        break;
    case 4: {
        bool right = check_rng_below(r, 2) == 0;
        uint64_t expect = right ? cur : cur + 1;
        res = c->b->replace_if(t, k, expect, v);
        want = !p ? CS_R_NOT_FOUND : right ? CS_R_REPLACED : CS_R_MISMATCH;
        if (p && right)
            c->val[i] = v;
        p = false; /* no out value to check */
        break;
    }
    case 5:
        res = c->b->remove(t, k, &out);
        want = p ? CS_R_REMOVED : CS_R_NOT_FOUND;
        c->present[i] = false;
        break;
    case 6: {
        bool right = check_rng_below(r, 2) == 0;
        uint64_t expect = right ? cur : cur + 1;
        res = c->b->remove_if(t, k, expect);
        want = !p ? CS_R_NOT_FOUND : right ? CS_R_REMOVED : CS_R_MISMATCH;
        if (p && right)
            c->present[i] = false;
        p = false;
        break;
    }
    default:
        res = c->b->compute(t, k, v, &out);
        want = p ? CS_R_REPLACED : CS_R_INSERTED;
        c->present[i] = true, c->val[i] = v;
        break;
    }
    c->bad_own += res != want || (p && out != cur);
}

/* One random op on the shared range: tally what took effect. */
static void cons_shared_op(cons_thread *c, void *t, check_rng_t *r,
                           uint64_t seq)
{
    size_t i = check_rng_below(r, CONS_SHARED);
    uint64_t idx = cons_shared_index(i), k = cs_key_of(idx);
    uint64_t v = cons_value(idx, c->tid, seq), out = 0;
    cs_res res;
    switch (check_rng_below(r, 4)) {
    case 0:
        res = c->b->put_if_absent(t, k, v, &out);
        if (res == CS_R_INSERTED)
            c->tally[i]++;
        else if (res == CS_R_EXISTS)
            c->bad_value += !cons_value_ok(out, idx);
        else
            c->bad_shared++;
        break;
    case 1:
        res = c->b->compute(t, k, v, &out);
        if (res == CS_R_INSERTED)
            c->tally[i]++;
        else if (res == CS_R_REPLACED)
            c->bad_value += !cons_value_ok(out, idx);
        else
            c->bad_shared++;
        break;
    case 2:
        res = c->b->remove(t, k, &out);
        if (res == CS_R_REMOVED) {
            c->tally[i]--;
            c->bad_value += !cons_value_ok(out, idx);
        } else if (res != CS_R_NOT_FOUND) {
            c->bad_shared++;
        }
        break;
    default:
        if (c->b->get(t, k, &out))
            c->bad_value += !cons_value_ok(out, idx);
        break;
    }
}

static void *cons_main(void *arg)
{
    cons_thread *c = arg;
    void *t = c->b->thread_join(c->m);
    if (t == NULL) {
        c->bad_own++;
        return NULL;
    }
    check_rng_t r;
    check_rng_seed(&r, 0xc0ffee + c->tid);
    for (size_t op = 0; op < c->ops; op++) {
        if (op % 32 == 0 && c->b->batch_begin != NULL)
            c->b->batch_begin(t);
        if (check_rng_below(&r, 2) == 0)
            cons_own_op(c, t, &r, op + 1);
        else
            cons_shared_op(c, t, &r, op + 1);
        if ((op % 32 == 31 || op == c->ops - 1) && c->b->batch_end != NULL)
            c->b->batch_end(t);
    }
    c->b->thread_leave(t);
    return NULL;
}

/* Both threads' final state against the map. */
static void cons_verify(const tmap *tm, cons_thread *th)
{
    size_t present = 0, wrong = 0;
    for (unsigned tid = 0; tid < 2; tid++)
        for (size_t i = 0; i < CONS_OWN; i++) {
            uint64_t v = SENTINEL;
            bool p = tm->b->get(tm->t, cs_key_of(cons_own_index(&th[tid], i)),
                                &v);
            wrong += p != th[tid].present[i] || (p && v != th[tid].val[i]);
            present += th[tid].present[i];
        }
    CHECK_EQ_U64(wrong, 0);
    size_t tally_wrong = 0;
    for (size_t i = 0; i < CONS_SHARED; i++) {
        long net = th[0].tally[i] + th[1].tally[i];
        uint64_t v = 0;
        bool p = tm->b->get(tm->t, cs_key_of(cons_shared_index(i)), &v);
        tally_wrong += (net != 0 && net != 1) || p != (net == 1);
        if (p)
            CHECK(cons_value_ok(v, cons_shared_index(i)));
        present += net == 1;
    }
    CHECK_EQ_U64(tally_wrong, 0);
    CHECK_EQ_U64(tm->b->size(tm->m), present);
    CHECK_EQ_U64(tm->b->iterate(tm->t, NULL, NULL), present);
    cs_map_stats st;
    tm->b->stats(tm->m, &st);
    CHECK_EQ_U64(st.size, present);
}

static void conservation(const char *name)
{
    tmap tm = tm_open(name, 16);
    cons_thread *th = calloc(2, sizeof *th);
    REQUIRE(th != NULL);
    pthread_t pt[2];
    for (unsigned i = 0; i < 2; i++) {
        th[i].b = tm.b;
        th[i].m = tm.m;
        th[i].tid = i;
        th[i].ops = chm_test_scaled(100000);
        REQUIRE(pthread_create(&pt[i], NULL, cons_main, &th[i]) == 0);
    }
    for (unsigned i = 0; i < 2; i++)
        pthread_join(pt[i], NULL);
    for (unsigned i = 0; i < 2; i++) {
        CHECK_EQ_U64(th[i].bad_own, 0);
        CHECK_EQ_U64(th[i].bad_shared, 0);
        CHECK_EQ_U64(th[i].bad_value, 0);
    }
    cons_verify(&tm, th);
    free(th);
    tm_close(&tm);
}

TEST(conservation_chm)
{
    conservation("chm");
}

TEST(conservation_urcu)
{
    SKIP_URCU_UNDER_TSAN();
    conservation("urcu");
}

TEST(conservation_cuckoo)
{
    conservation("cuckoo");
}

TEST(conservation_locked)
{
    conservation("locked");
}

/* ---- end to end: chmstress run -m cuckoo / urcu --------------------------- */

/* Run $CHMSTRESS with args (NULL-terminated, no argv[0]), its stdout and
 * stderr into files in dir (shown on failure).  The exit status, or -1. */
static int run_chmstress(const char *dir, const char *const *args)
{
    const char *bin = getenv("CHMSTRESS");
    CHECK_MSG(bin != NULL && *bin != '\0',
              "CHMSTRESS is not set (tests/run.sh sets it)");
    if (bin == NULL || *bin == '\0')
        return -1;
    char out[600], err[600];
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    pid_t pid = ts_spawn(bin, args, out, err);
    int rc = pid < 0 ? -1 : ts_wait(pid, 0, NULL);
    if (rc > 0) /* show what chmstress said */
        ts_print_file(err, "#   | ", 0);
    return rc;
}

/* For each thread count (1, 2): the map resized at least twice (urcu from
 * one bucket: to <= 2048, then 16384 once 16384 keys are in; its resizer
 * may merge the small steps) and its table grew over the run's timeline. */
static void check_resized(json_t *root)
{
    for (long t = 1; t <= 2; t++) {
        json_t *runs = json_object_get(root, "runs"), *r, *p;
        long resizes = 0, first = -1, last = -1;
        size_t i, j;
        json_array_foreach(runs, i, r) {
            if (json_integer_value(json_object_get(r, "threads")) != t)
                continue;
            json_t *st = json_object_get(r, "map_stats");
            resizes = (long)json_integer_value(json_object_get(st, "resizes"));
            json_array_foreach(json_object_get(r, "timeline"), j, p) {
                long ts = (long)json_integer_value(
                    json_object_get(p, "table_size"));
                first = first < 0 ? ts : first;
                last = ts;
            }
        }
        printf("#   %ld thread(s): %ld resizes, table %ld -> %ld\n", t,
               resizes, first, last);
        CHECK_GE_U64((uint64_t)resizes, 2);
        CHECK(first > 0 && last > first);
    }
}

/* One chmstress run of a bundled workload on `map` at 1 and 2 threads
 * (extra: more flags, NULL-terminated): exit 0, and its result file says
 * every check ran and passed (and linearizability ran, with no failed key,
 * when lin; the table grew, when resized). */
static void map_run(const char *map, const char *workload, const char *check,
                    const char *const *extra, bool lin, bool resized)
{
    const char *wdir = getenv("CS_WORKLOAD_DIR");
    CHECK_MSG(wdir != NULL && *wdir != '\0',
              "CS_WORKLOAD_DIR is not set (tests/run.sh sets it)");
    if (wdir == NULL || *wdir == '\0')
        return;
    char dir[256], wl[512], out[600], dur[32];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cs-%s.XXXXXX",
             t != NULL && *t != '\0' ? t : "/tmp", map);
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(wl, sizeof wl, "%s/%s.json", wdir, workload);
    snprintf(out, sizeof out, "%s/result.json", dir);
    double d = 0.3 * chm_test_scale();
    snprintf(dur, sizeof dur, "%.2f", d < 0.1 ? 0.1 : d);
    const char *args[32] = {"run",   "-w", wl,  "-m",      map,   "-t",
                            "1,2",   "-d", dur, "--check", check, "-o",
                            out,     "--quiet"};
    int n = 14;
    for (int i = 0; extra[i] != NULL && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    int rc = run_chmstress(dir, args);
    printf("#   %s --check %s: exit %d\n", workload, check, rc);
    CHECK_EQ_INT(rc, 0);

    json_error_t jerr;
    json_t *root = json_load_file(out, 0, &jerr);
    CHECK_MSG(root != NULL, "%s result: %.200s", workload, jerr.text);
    json_t *checks = json_object_get(root, "checks"), *c;
    CHECK_EQ_U64(json_array_size(checks), 2); /* 1 and 2 threads */
    size_t i;
    json_array_foreach(checks, i, c) {
        CHECK_EQ_STR(json_string_value(json_object_get(c, "map")), map);
        CHECK(json_is_true(json_object_get(c, "passed")));
        CHECK_EQ_U64(json_integer_value(json_object_get(c, "violations")), 0);
        CHECK(json_integer_value(json_object_get(c, "keys_checked")) > 0);
        json_t *l = json_object_get(c, "linearizability");
        CHECK_EQ_INT(l != NULL, lin);
        if (l != NULL) {
            CHECK(json_integer_value(json_object_get(l, "keys")) > 0);
            CHECK(json_integer_value(json_object_get(l, "ops")) > 0);
            CHECK_EQ_U64(json_integer_value(json_object_get(l, "failed_keys")),
                         0);
        }
    }
    if (resized)
        check_resized(root);
    json_decref(root);
    unlink(out);
    snprintf(out, sizeof out, "%s/stdout", dir);
    unlink(out);
    snprintf(out, sizeof out, "%s/stderr", dir);
    unlink(out);
    rmdir(dir);
}

TEST(chmstress_cuckoo)
{
    static const char *const none[] = {NULL};
    static const char *const small[] = {"-k", "8192", NULL};
    static const char *const storm[] = {"-k", "65536", NULL};
    map_run("cuckoo", "exchange", "counts", small, false, false);
    map_run("cuckoo", "resize-storm", "counts", storm, false, false);
    map_run("cuckoo", "lin-hot", "linearizability", none, true, false);
}

/* urcu from one bucket (resize-grow): liburcu's own auto-resize could lose
 * its resize for good and leave every chain one long list - the run then
 * crawled for minutes (the count check's final get of every key was
 * O(n) each).  The backend's resizer must grow it, visibly, and the run
 * end with its checks passed. */
TEST(chmstress_urcu)
{
    SKIP_URCU_UNDER_TSAN();
    static const char *const grow[] = {"-k", "262144", NULL};
    static const char *const storm[] = {"-k", "65536", NULL};
    double t0 = check_now();
    map_run("urcu", "resize-grow", "counts", grow, false, true);
    printf("#   resize-grow on urcu: %.1f s\n", check_now() - t0);
    map_run("urcu", "resize-storm", "counts", storm, false, false);
}

/* ---- chm: allocation failures surface as CS_R_ENOMEM ---------------------------- */

TEST(enomem_chm)
{
    if (chm_test_fail_allocs == NULL) {
        printf("# libchm without fault injection: skipped\n");
        return;
    }
    tmap tm = tm_open("chm", 0);
    CHECK_EQ_INT(tm.b->put(tm.t, 1, 10, NULL), CS_R_INSERTED);
    /* A new key in a bin whose bucket is full (or still waiting for a
     * grace period) needs a heap node: with every allocation failing, each
     * put, put_if_absent and compute either lands in a free bucket slot
     * (inserted, nothing allocated) or reports ENOMEM and leaves the map as
     * it was.  A 16-bin table runs out of free slots quickly; go on until
     * all three ops have failed. */
    chm_test_fail_allocs(0, 100000);
    int fails[3] = {0, 0, 0}; /* put, put_if_absent, compute */
    uint64_t inserted = 0, k = 2;
    for (; k < 300 && (fails[0] == 0 || fails[1] == 0 || fails[2] == 0);
         k++) {
        int op = (int)(k % 3);
        cs_res r = op == 0   ? tm.b->put(tm.t, k, k * 10, NULL)
                   : op == 1 ? tm.b->put_if_absent(tm.t, k, k * 10, NULL)
                             : tm.b->compute(tm.t, k, 40, NULL);
        if (r == CS_R_ENOMEM) {
            fails[op]++;
            CHECK(!tm.b->get(tm.t, k, NULL));
        } else {
            CHECK_EQ_INT(r, CS_R_INSERTED);
            CHECK(tm.b->get(tm.t, k, NULL));
            inserted++;
        }
    }
    cs_res rep = tm.b->put(tm.t, 1, 11, NULL); /* replaces in place */
    chm_test_fail_allocs(-1, 0);
    CHECK(fails[0] > 0);
    CHECK(fails[1] > 0);
    CHECK(fails[2] > 0);
    CHECK(rep == CS_R_REPLACED || rep == CS_R_ENOMEM);
    CHECK_EQ_U64(tm.b->size(tm.m), 1 + inserted);
    /* and everything works again */
    CHECK_EQ_INT(tm.b->put(tm.t, 1000, 20, NULL), CS_R_INSERTED);
    CHECK_EQ_U64(tm.b->size(tm.m), 2 + inserted);
    tm_close(&tm);
}

/* ---- null: constants, no crash ------------------------------------------------- */

static unsigned long null_visits;

static void null_visit(void *ctx, uint64_t k, uint64_t v)
{
    (void)ctx;
    (void)k;
    (void)v;
    null_visits++;
}

TEST(null_backend)
{
    tmap tm = tm_open("null", 1000);
    const cs_backend *b = tm.b;
    CHECK(!b->ordered && b->scan == NULL);
    uint64_t out = SENTINEL;
    tm_begin(&tm);
    for (uint64_t k = 0; k < 100; k++) {
        uint64_t key = k == 99 ? UINT64_MAX : k;
        CHECK(!b->get(tm.t, key, &out));
        CHECK_EQ_INT(b->put(tm.t, key, 1, &out), CS_R_INSERTED);
        CHECK_EQ_INT(b->put(tm.t, key, 1, NULL), CS_R_INSERTED);
        CHECK_EQ_INT(b->put_if_absent(tm.t, key, 1, &out), CS_R_INSERTED);
        CHECK_EQ_INT(b->replace(tm.t, key, 2, &out), CS_R_NOT_FOUND);
        CHECK_EQ_INT(b->replace_if(tm.t, key, 1, 2), CS_R_NOT_FOUND);
        CHECK_EQ_INT(b->remove(tm.t, key, &out), CS_R_NOT_FOUND);
        CHECK_EQ_INT(b->remove_if(tm.t, key, 1), CS_R_NOT_FOUND);
        CHECK_EQ_INT(b->compute(tm.t, key, 3, &out), CS_R_INSERTED);
    }
    tm_end(&tm);
    CHECK_EQ_U64(out, SENTINEL); /* out values untouched */
    CHECK_EQ_U64(b->size(tm.m), 0);
    CHECK_EQ_U64(b->iterate(tm.t, null_visit, NULL), 0);
    CHECK_EQ_U64(null_visits, 0);
    if (b->reserve != NULL)
        CHECK_EQ_INT(b->reserve(tm.t, 1u << 20), 0);
    cs_map_stats st;
    memset(&st, 0xff, sizeof st);
    b->stats(tm.m, &st);
    CHECK(!st.has_table_size && !st.has_resizes && !st.has_garbage);
    CHECK_EQ_U64(st.size, 0);
    /* a second map and thread: independent, equally harmless */
    void *m2 = b->create(0, 0);
    CHECK(m2 != NULL);
    void *t2 = b->thread_join(m2);
    CHECK(t2 != NULL);
    b->thread_leave(t2);
    b->destroy(m2);
    tm_close(&tm);
}

CHECK_MAIN()
