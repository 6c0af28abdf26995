/*
 * cs_backend_cuckoo.c - the `cuckoo` backend: libcuckoo's concurrent cuckoo
 * hash table (Debian's libcuckoo-dev 0.3.1), a peer chmstress measures
 * libchm against, used through libcuckoo's C wrapper (libcuckoo-c).
 *
 * The table is libcuckoo::cuckoohash_map<uint64_t, uint64_t>: 4-slot
 * buckets, each key in one of two buckets, a striped array of spinlocks (one
 * per bucket up to 65536), an insert that finds both buckets full moves
 * entries along a cuckoo path, and a table that cannot make room doubles
 * (hashpower + 1; never shrinks by itself).  cs_cuckoo_table.h instantiates
 * the wrapper for these types and cs_cuckoo_table.cc, the one C++
 * translation unit, compiles it and adds three atomic updates the wrapper
 * lacks (cs_cuckoo_op_put/update/erase: one uprase_fn, update_fn or
 * erase_fn call each, deciding and acting under the key's two bucket locks
 * and reporting the previous value):
 *
 *   get            cs_cuckoo_table_find (wrapper)
 *   put, compute   op_put: absent -> INSERTED; present -> REPLACED (*old)
 *   put_if_absent  op_put(only_if_absent): INSERTED, or EXISTS (*cur)
 *   replace        op_update: REPLACED (*old) or NOT_FOUND
 *   replace_if     op_update(cond): REPLACED, NOT_FOUND or MISMATCH
 *   remove         op_erase: REMOVED (*old) or NOT_FOUND
 *   remove_if      op_erase(cond): REMOVED, NOT_FOUND or MISMATCH
 *   a table that cannot grow (std::bad_alloc) -> ENOMEM, nothing inserted;
 *   any other exception -> ERROR.
 *
 * create: a table for `capacity` entries (libcuckoo sizes for 100% slot
 * occupancy: the smallest power-of-two bucket count with 4 x buckets >=
 * capacity; minimum load factor 0, no maximum hashpower).  The wrapper
 * fixes the hash to std::hash, the identity for integers, so the `seed` of
 * create is not used; chmstress's keys are already scrambled (cs_key_of).
 * destroy: cs_cuckoo_table_free.
 *
 * The lock array, and a bug of libcuckoo 0.3.1.  libcuckoo keeps
 * min(buckets, 2^16) spinlocks; while a table has fewer than 2^16 buckets,
 * every doubling appends a bigger lock array to a std::list (all_locks_)
 * that other threads read, without synchronization, to find the "current"
 * array before they lock a bucket.  That is a data race (ThreadSanitizer
 * reports it at the first concurrent resize of a small table), and a thread
 * still holding an old array can lock a stripe nobody else locks any more
 * and, in the window where a later resize has swapped its bucket
 * containers, pass the hashpower check with a stale value: upstream fixed
 * that segfault after 0.3.1 (commit 91b9c2d, Nov 2024, "Fix segfault":
 * a resize counter).  This backend avoids both by giving every table the
 * full 2^16-lock array from the start (it is built for 2^16 buckets and
 * then shrunk to `capacity` with cs_cuckoo_table_reserve; a shrink never
 * replaces the lock array): the array is then never replaced, every lock a
 * thread takes is one the resizer holds, and growth from a tiny table
 * still doubles as usual.  The price: 4 MiB of locks per map.
 *
 * iterate and reserve take the whole table through the wrapper's
 * locked_table (every bucket lock; other threads wait): iterate walks it
 * with a const_iterator (an exact snapshot; `visit` runs with every lock
 * held and must not call into the map); reserve grows it only when n is
 * above its capacity, decided under those locks, because libcuckoo's
 * reserve SHRINKS a table that already holds n.
 *
 * size: libcuckoo's own size() sums per-lock counters with plain reads
 * while other threads update them under their spinlocks (a data race that
 * ThreadSanitizer reports), so this backend keeps its own: striped
 * per-thread counters (cs_stripes.h) of successful inserts minus removes,
 * summed: exact whenever no update is in flight.
 *
 * stats: table_size = capacity (buckets x 4 slots, from the hashpower, an
 * atomic); resizes = hashpower now - hashpower at create - the extra
 * doublings of reserve calls (an automatic resize adds exactly 1 to the
 * hashpower; a reserve that jumps k powers counts as one resize, its k - 1
 * extra are subtracted); no deferred garbage (entries live in the bucket
 * array and are overwritten in place), has_garbage false as for `locked`.
 * batch_begin/batch_end: none.  Not ordered (no scan).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cs.h"
#include "cs_cuckoo_table.h"
#include "cs_stripes.h"

extern const cs_backend cs_backend_cuckoo;

/* The counter of each thread context's stripe (cs_stripes.h). */
enum { CS_CUCKOO_SIZE = 0 }; /* inserts - removes */

/* Entries of a table with 2^16 buckets (4 slots each): one with 2^16
 * spinlocks, libcuckoo's maximum (kMaxNumLocks), so its lock array is never
 * replaced (see the top). */
#define CS_CUCKOO_FULL_LOCKS ((size_t)4 << 16)

typedef struct cs_cuckoo {
    cs_cuckoo_table *tbl;
    size_t hp0;                          /* hashpower at create */
    _Atomic uint64_t reserve_extra;      /* doublings beyond 1 per reserve */
    cs_stripes stripes;                  /* CS_CUCKOO_SIZE */
} cs_cuckoo;

/* A thread's context on one map. */
typedef struct cs_ctctx {
    cs_cuckoo *map;
    cs_stripe *stripe;                   /* its counter in map->stripes */
} cs_ctctx;

/* ---- helpers ------------------------------------------------------------- */

/* The cs_res of an op's status: `absent` / `present` for ABSENT / PRESENT. */
static inline cs_res cs_cuckoo_res(cs_cuckoo_status st, cs_res absent,
                                   cs_res present)
{
    switch (st) {
    case CS_CUCKOO_ABSENT:
        return absent;
    case CS_CUCKOO_PRESENT:
        return present;
    case CS_CUCKOO_MISMATCH:
        return CS_R_MISMATCH;
    case CS_CUCKOO_ENOMEM:
        return CS_R_ENOMEM;
    default:
        return CS_R_ERROR;
    }
}

/* Count r in the thread's stripe (INSERTED +1, REMOVED -1) and return it. */
static inline cs_res cs_cuckoo_count(cs_ctctx *t, cs_res r)
{
    if (r == CS_R_INSERTED || r == CS_R_REMOVED)
        cs_stripe_add(t->stripe, CS_CUCKOO_SIZE,
                      r == CS_R_INSERTED ? 1 : -1);
    return r;
}

/* ---- lifecycle ----------------------------------------------------------- */

/* A table for `capacity` entries (the seed is not used: see the top), with
 * libcuckoo's full lock array from the start: built for CS_CUCKOO_FULL_LOCKS
 * entries, then shrunk to `capacity` (a shrink keeps the lock array; if it
 * cannot allocate, the table just stays bigger). */
static void *cs_cuckoo_create(size_t capacity, uint64_t seed)
{
    (void)seed;
    cs_cuckoo *c = aligned_alloc(64, (sizeof *c + 63) / 64 * 64);
    if (c == NULL)
        return NULL;
    c->tbl = cs_cuckoo_table_init(capacity > CS_CUCKOO_FULL_LOCKS
                                      ? capacity
                                      : CS_CUCKOO_FULL_LOCKS);
    if (c->tbl == NULL) {
        free(c);
        return NULL;
    }
    if (capacity < CS_CUCKOO_FULL_LOCKS)
        (void)cs_cuckoo_table_reserve(c->tbl, capacity);
    c->hp0 = cs_cuckoo_table_hashpower(c->tbl);
    atomic_init(&c->reserve_extra, 0);
    cs_stripes_init(&c->stripes);
    return c;
}

/* Free the table and every entry.  No thread may still use the map. */
static void cs_cuckoo_destroy(void *map)
{
    cs_cuckoo *c = map;
    if (c == NULL)
        return;
    cs_cuckoo_table_free(c->tbl);
    free(c);
}

/* A context with one of the map's size stripes. */
static void *cs_cuckoo_thread_join(void *map)
{
    cs_cuckoo *c = map;
    cs_ctctx *t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    t->map = c;
    t->stripe = cs_stripes_claim(&c->stripes);
    return t;
}

static void cs_cuckoo_thread_leave(void *tctx)
{
    free(tctx);
}

/* ---- operations ---------------------------------------------------------- */

/* Lookup under the key's two bucket locks. */
static bool cs_cuckoo_get(void *tctx, uint64_t key, uint64_t *val)
{
    cs_ctctx *t = tctx;
    uint64_t v;
    if (!cs_cuckoo_table_find(t->map->tbl, &key, &v))
        return false;
    if (val != NULL)
        *val = v;
    return true;
}

/* Insert (INSERTED) or replace (REPLACED, previous value in *old). */
static cs_res cs_cuckoo_put(void *tctx, uint64_t key, uint64_t val,
                            uint64_t *old)
{
    cs_ctctx *t = tctx;
    cs_cuckoo_status st = cs_cuckoo_op_put(t->map->tbl, key, val, false, old);
    return cs_cuckoo_count(t, cs_cuckoo_res(st, CS_R_INSERTED,
                                            CS_R_REPLACED));
}

/* Insert if absent (INSERTED), else EXISTS with the current value in *cur. */
static cs_res cs_cuckoo_put_if_absent(void *tctx, uint64_t key, uint64_t val,
                                      uint64_t *cur)
{
    cs_ctctx *t = tctx;
    cs_cuckoo_status st = cs_cuckoo_op_put(t->map->tbl, key, val, true, cur);
    return cs_cuckoo_count(t, cs_cuckoo_res(st, CS_R_INSERTED, CS_R_EXISTS));
}

/* Replace if present (REPLACED, previous in *old), else NOT_FOUND. */
static cs_res cs_cuckoo_replace(void *tctx, uint64_t key, uint64_t val,
                                uint64_t *old)
{
    cs_ctctx *t = tctx;
    cs_cuckoo_status st = cs_cuckoo_op_update(t->map->tbl, key, false, 0,
                                              val, old);
    return cs_cuckoo_res(st, CS_R_NOT_FOUND, CS_R_REPLACED);
}

/* Replace if the current value == expect: REPLACED, NOT_FOUND, MISMATCH. */
static cs_res cs_cuckoo_replace_if(void *tctx, uint64_t key, uint64_t expect,
                                   uint64_t val)
{
    cs_ctctx *t = tctx;
    cs_cuckoo_status st = cs_cuckoo_op_update(t->map->tbl, key, true, expect,
                                              val, NULL);
    return cs_cuckoo_res(st, CS_R_NOT_FOUND, CS_R_REPLACED);
}

/* Remove (REMOVED, its value in *old) or NOT_FOUND. */
static cs_res cs_cuckoo_remove(void *tctx, uint64_t key, uint64_t *old)
{
    cs_ctctx *t = tctx;
    cs_cuckoo_status st = cs_cuckoo_op_erase(t->map->tbl, key, false, 0, old);
    return cs_cuckoo_count(t, cs_cuckoo_res(st, CS_R_NOT_FOUND,
                                            CS_R_REMOVED));
}

/* Remove if the current value == expect: REMOVED, NOT_FOUND, MISMATCH. */
static cs_res cs_cuckoo_remove_if(void *tctx, uint64_t key, uint64_t expect)
{
    cs_ctctx *t = tctx;
    cs_cuckoo_status st = cs_cuckoo_op_erase(t->map->tbl, key, true, expect,
                                             NULL);
    return cs_cuckoo_count(t, cs_cuckoo_res(st, CS_R_NOT_FOUND,
                                            CS_R_REMOVED));
}

/* Atomic upsert: the same single uprase_fn step as put. */
static cs_res cs_cuckoo_compute(void *tctx, uint64_t key, uint64_t val,
                                uint64_t *old)
{
    return cs_cuckoo_put(tctx, key, val, old);
}

/* The striped count: exact when no update is in flight. */
static size_t cs_cuckoo_size(void *map)
{
    cs_cuckoo *c = map;
    return (size_t)cs_stripes_sum_nonneg(&c->stripes, CS_CUCKOO_SIZE);
}

/* Walk the locked table with a const_iterator; returns the count (0 if the
 * wrapper could not allocate the locked table or its iterators). */
static size_t cs_cuckoo_iterate(void *tctx,
                                void (*visit)(void *ctx, uint64_t k,
                                              uint64_t v),
                                void *ctx)
{
    cs_ctctx *t = tctx;
    cs_cuckoo_table_locked_table *lt = cs_cuckoo_table_lock_table(t->map->tbl);
    if (lt == NULL)
        return 0;
    cs_cuckoo_table_const_iterator *it, *end;
    it = cs_cuckoo_table_locked_table_cbegin(lt);
    end = cs_cuckoo_table_locked_table_cend(lt);
    size_t count = 0;
    while (it != NULL && end != NULL &&
           !cs_cuckoo_table_const_iterator_equal(it, end)) {
        if (visit != NULL)
            visit(ctx, *cs_cuckoo_table_const_iterator_key(it),
                  *cs_cuckoo_table_const_iterator_mapped(it));
        count++;
        cs_cuckoo_table_const_iterator_increment(it);
    }
    cs_cuckoo_table_const_iterator_free(it);  /* delete: NULL is fine */
    cs_cuckoo_table_const_iterator_free(end);
    cs_cuckoo_table_locked_table_free(lt);    /* unlocks */
    return count;
}

/* Grow to hold n entries, only when n is above the capacity (decided under
 * every lock: libcuckoo's reserve would shrink a bigger table).  0, or -1
 * when out of memory. */
static int cs_cuckoo_reserve(void *tctx, size_t n)
{
    cs_ctctx *t = tctx;
    cs_cuckoo_table_locked_table *lt = cs_cuckoo_table_lock_table(t->map->tbl);
    if (lt == NULL)
        return -1;
    int rc = 0;
    if (n > cs_cuckoo_table_locked_table_capacity(lt)) {
        size_t hp = cs_cuckoo_table_locked_table_hashpower(lt);
        errno = 0;
        cs_cuckoo_table_locked_table_reserve(lt, n);
        if (errno == ENOMEM)
            rc = -1;
        size_t now = cs_cuckoo_table_locked_table_hashpower(lt);
        if (now > hp + 1)
            atomic_fetch_add_explicit(&t->map->reserve_extra, now - hp - 1,
                                      memory_order_relaxed);
    }
    cs_cuckoo_table_locked_table_free(lt);
    return rc;
}

/* Capacity and resizes from the hashpower (see the top), the striped size. */
static void cs_cuckoo_stats(void *map, cs_map_stats *out)
{
    cs_cuckoo *c = map;
    size_t hp = cs_cuckoo_table_hashpower(c->tbl);
    uint64_t extra = atomic_load_explicit(&c->reserve_extra,
                                          memory_order_relaxed);
    uint64_t doublings = hp > c->hp0 ? (uint64_t)(hp - c->hp0) : 0;
    *out = (cs_map_stats){
        .table_size = cs_cuckoo_table_capacity(c->tbl),
        .resizes = doublings > extra ? doublings - extra : 0,
        .pending_garbage = 0,
        .size = cs_cuckoo_size(map),
        .has_table_size = true,
        .has_resizes = true,
        .has_garbage = false,
    };
}

/* The `cuckoo` backend (registered in cs_backends.c). */
const cs_backend cs_backend_cuckoo = {
    .name = "cuckoo",
    .description = "libcuckoo's concurrent cuckoo hash table (libcuckoo-dev "
                   "0.3.1 through its C wrapper; 4-slot buckets, striped "
                   "spinlocks, doubles when full)",
    .ordered = false,
    .create = cs_cuckoo_create,
    .destroy = cs_cuckoo_destroy,
    .thread_join = cs_cuckoo_thread_join,
    .thread_leave = cs_cuckoo_thread_leave,
    .batch_begin = NULL,
    .batch_end = NULL,
    .get = cs_cuckoo_get,
    .put = cs_cuckoo_put,
    .put_if_absent = cs_cuckoo_put_if_absent,
    .replace = cs_cuckoo_replace,
    .replace_if = cs_cuckoo_replace_if,
    .remove = cs_cuckoo_remove,
    .remove_if = cs_cuckoo_remove_if,
    .compute = cs_cuckoo_compute,
    .scan = NULL,
    .size = cs_cuckoo_size,
    .iterate = cs_cuckoo_iterate,
    .reserve = cs_cuckoo_reserve,
    .stats = cs_cuckoo_stats,
};
