/*
 * test_bucket.c - the bucket protocol (chm_bucket.c), watched from inside:
 *
 *  - a removed slot keeps its key and value, and is not used again, while
 *    any thread is pinned; after a grace period it takes the next entry;
 *  - a bucket whose bin emptied does not head the bin again while any
 *    thread is pinned (the next entry goes to a heap node); after a grace
 *    period it does, in front of that node;
 *  - a reader pinned on a bucket sees a removed entry's slot unchanged;
 *  - readers racing a writer that keeps emptying and refilling one bin's
 *    bucket (slots and the bucket reused over and over) never see a value
 *    under another key, and never miss a key that stays.
 *
 * The map hashes keys to themselves, so key k lives in bin k mod 64.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "chm.h"
#include "chm_internal.h"
#include "check.h"

static uint64_t id_hash(uintptr_t key, uint64_t seed)
{
    (void)seed;
    return (uint64_t)key;
}

static const chm_type id_type = {.hash = id_hash};

#define NBINS 64

struct fx {
    chm_t *m;
    chm_thread_t *w, *r; /* a writer, and a handle that only pins */
};

static void fx_open(struct fx *f)
{
    f->m = chm_new(&id_type, 40);
    f->w = chm_thread_join(f->m);
    f->r = chm_thread_join(f->m);
    REQUIRE(f->m != NULL && f->w != NULL && f->r != NULL);
    chm_stats_t st;
    chm_stats(f->m, &st);
    REQUIRE(st.table_size == NBINS);
}

static void fx_close(struct fx *f)
{
    chm_thread_leave(f->w);
    chm_thread_leave(f->r);
    chm_free(f->m);
}

/* Let every grace period pass and every record run: the writer leaves
 * (flushing its batch, waiting, dispatching) and joins again. */
static void fx_settle(struct fx *f)
{
    chm_thread_leave(f->w);
    f->w = chm_thread_join(f->m);
    REQUIRE(f->w != NULL);
}

static chm_table_t *fx_table(struct fx *f)
{
    return atomic_load_explicit(&f->m->table, memory_order_acquire);
}

static chm_head_t *fx_head(struct fx *f, size_t bin)
{
    return atomic_load_explicit(&fx_table(f)->bins[bin].head,
                                memory_order_acquire);
}

static chm_bucket_t *fx_bucket(struct fx *f, size_t bin)
{
    return chm_bin_bucket(fx_table(f), bin);
}

static unsigned live_of(const chm_bucket_t *b)
{
    return atomic_load_explicit(&b->h.live, memory_order_acquire);
}

static uintptr_t val_for(uintptr_t k)
{
    return k * 3 + 1;
}

TEST(slot_waits_for_grace)
{
    struct fx f;
    fx_open(&f);
    const size_t bin = 3;
    const uintptr_t a = bin, b = bin + NBINS, c = bin + 2 * NBINS,
                    d = bin + 3 * NBINS;
    CHECK_EQ_INT(chm_put(f.w, a, val_for(a), NULL), CHM_OK);
    CHECK_EQ_INT(chm_put(f.w, b, val_for(b), NULL), CHM_OK);
    chm_bucket_t *bk = fx_bucket(&f, bin);
    CHECK(fx_head(&f, bin) == &bk->h);
    CHECK_EQ_INT(live_of(bk), 3);
    CHECK_EQ_U64(bk->slot[0].key, a);

    chm_pin(f.r); /* a reader that might hold slot 0 */
    CHECK_EQ_INT(chm_remove(f.w, a, NULL), CHM_OK);
    CHECK_EQ_INT(live_of(bk), 2);
    CHECK_EQ_INT(chm_put(f.w, c, val_for(c), NULL), CHM_OK);
    /* c went to the heap: slot 0 still holds a's entry, untouched */
    CHECK_EQ_U64(bk->slot[0].key, a);
    CHECK_EQ_U64(atomic_load(&bk->slot[0].val), val_for(a));
    CHECK_EQ_INT(live_of(bk), 2);
    chm_node_t *n = atomic_load(&bk->h.next);
    CHECK(n != NULL && n->key == c);
    /* and stays so across the writer's own polls while r is pinned */
    for (uintptr_t k = 10; k < 10 + 200; k++) {
        CHECK_EQ_INT(chm_put(f.w, k * NBINS + 7, 1, NULL), CHM_OK);
        CHECK_EQ_INT(chm_remove(f.w, k * NBINS + 7, NULL), CHM_OK);
    }
    CHECK_EQ_U64(bk->slot[0].key, a);
    chm_unpin(f.r);

    fx_settle(&f);
    /* the grace period passed: slot 0 takes the next entry */
    CHECK_EQ_INT(chm_put(f.w, d, val_for(d), NULL), CHM_OK);
    CHECK_EQ_U64(bk->slot[0].key, d);
    CHECK_EQ_INT(live_of(bk), 3);
    uintptr_t v = 0;
    CHECK(chm_get(f.w, d, &v) && v == val_for(d));
    CHECK(chm_get(f.w, b, &v) && v == val_for(b));
    CHECK(chm_get(f.w, c, &v) && v == val_for(c));
    CHECK(!chm_get(f.w, a, NULL));
    CHECK_EQ_U64(chm_size(f.m), 3);
    fx_close(&f);
}

TEST(bucket_waits_for_grace)
{
    struct fx f;
    fx_open(&f);
    const size_t bin = 5;
    const uintptr_t a = bin, b = bin + NBINS, c = bin + 2 * NBINS;
    CHECK_EQ_INT(chm_put(f.w, a, val_for(a), NULL), CHM_OK);
    chm_bucket_t *bk = fx_bucket(&f, bin);
    CHECK(fx_head(&f, bin) == &bk->h);

    chm_pin(f.r); /* a reader that might stand on the bucket */
    CHECK_EQ_INT(chm_remove(f.w, a, NULL), CHM_OK);
    CHECK(fx_head(&f, bin) == NULL);
    CHECK_EQ_INT(chm_put(f.w, b, val_for(b), NULL), CHM_OK);
    /* the bin's new first entry is a heap node; the bucket waits */
    chm_head_t *h = fx_head(&f, bin);
    CHECK(h != NULL && h->kind == CHM_K_NODE && h != &bk->h);
    CHECK_EQ_U64(bk->slot[0].key, a);
    chm_unpin(f.r);

    fx_settle(&f);
    /* now the bucket heads the bin again, in front of the heap node */
    CHECK_EQ_INT(chm_put(f.w, c, val_for(c), NULL), CHM_OK);
    CHECK(fx_head(&f, bin) == &bk->h);
    CHECK(atomic_load(&bk->h.next) == chm_as_node(h));
    CHECK_EQ_U64(bk->slot[0].key, c);
    uintptr_t v = 0;
    CHECK(chm_get(f.w, b, &v) && v == val_for(b));
    CHECK(chm_get(f.w, c, &v) && v == val_for(c));
    CHECK(!chm_get(f.w, a, NULL));
    /* removing the bucket's only entry keeps the bucket as the head while
     * the heap node remains */
    CHECK_EQ_INT(chm_remove(f.w, c, NULL), CHM_OK);
    CHECK(fx_head(&f, bin) == &bk->h);
    CHECK(chm_get(f.w, b, &v) && v == val_for(b));
    CHECK_EQ_U64(chm_size(f.m), 1);
    fx_close(&f);
}

/* ---- readers racing reuse -------------------------------------------- */

#define RACE_BIN 9
#define STAY ((uintptr_t)RACE_BIN)             /* never removed */
#define CHURN(i) ((uintptr_t)RACE_BIN + NBINS * (1 + (i)))
#define NCHURN 6

struct race {
    chm_t *m;
    _Atomic int stop;
    _Atomic long passes; /* reader passes over the keys, all readers */
};

struct reader {
    struct race *r;
    long reads, bad_stay, bad_val; /* this reader's own */
};

static void *race_reader(void *arg)
{
    struct reader *rd = arg;
    struct race *r = rd->r;
    chm_thread_t *t = chm_thread_join(r->m);
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        for (int i = -1; i < NCHURN; i++) {
            uintptr_t k = i < 0 ? STAY : CHURN(i), v = 0;
            bool p = chm_get(t, k, &v);
            if (i < 0 && (!p || v != val_for(STAY)))
                rd->bad_stay++;
            if (p && v != val_for(k))
                rd->bad_val++;
            rd->reads++;
        }
        /* iteration sees only consistent pairs too */
        chm_iter it;
        uintptr_t k, v;
        chm_iter_init(&it, t);
        while (chm_iter_next(&it, &k, &v))
            if (v != val_for(k))
                rd->bad_val++;
        atomic_fetch_add_explicit(&r->passes, 1, memory_order_relaxed);
    }
    chm_thread_leave(t);
    return NULL;
}

TEST(readers_race_reuse)
{
    struct race r;
    memset(&r, 0, sizeof r);
    r.m = chm_new(&id_type, 40);
    chm_thread_t *w = chm_thread_join(r.m);
    CHECK_EQ_INT(chm_put(w, STAY, val_for(STAY), NULL), CHM_OK);
    struct reader rd[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&rd[i], 0, sizeof rd[i]);
        rd[i].r = &r;
        pthread_create(&th[i], NULL, race_reader, &rd[i]);
    }
    /* keep the bin at 1-3 entries so it stays a list, and keep removing
     * and re-adding: slots and heap nodes are freed and reused.  Go on
     * until the readers have made some passes too (under valgrind threads
     * take turns, and the writer could otherwise finish first). */
    check_rng_t rng;
    check_rng_seed(&rng, 42);
    long rounds = (long)chm_test_scaled(1000000);
    for (long n = 0; n < rounds || atomic_load(&r.passes) < 200; n++) {
        int i = (int)(check_rng_next(&rng) % NCHURN);
        uintptr_t k = CHURN(i);
        if (chm_get(w, k, NULL))
            CHECK_EQ_INT(chm_remove(w, k, NULL), CHM_OK);
        else if (chm_size(r.m) < 3)
            CHECK_EQ_INT(chm_put(w, k, val_for(k), NULL), CHM_OK);
    }
    atomic_store(&r.stop, 1);
    long reads = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(rd[i].bad_stay, 0);
        CHECK_EQ_INT(rd[i].bad_val, 0);
        reads += rd[i].reads;
    }
    printf("#   %ld reads in %ld passes\n", reads, atomic_load(&r.passes));
    CHECK(reads > 0);
    chm_thread_leave(w);
    chm_free(r.m);
}

CHECK_MAIN()
