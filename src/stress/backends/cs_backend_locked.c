/*
 * cs_backend_locked.c - the `locked` backend: the concurrent map a user
 * writes first, and the reference chmstress compares the others against.
 *
 * A plain chained hash table: a power-of-two array of buckets, singly linked
 * nodes, the bucket chosen by a seeded 64-bit mixer of the key, all of it
 * under ONE pthread_rwlock_t.  get, size, iterate and stats take the lock
 * shared; every update takes it exclusive.  An insert that leaves
 * size > 0.75 * buckets doubles the array (still under the write lock, so a
 * resize is just a rehash nobody can observe half-done); reserve grows it
 * once to fit n entries.  Resizes are counted.  Not ordered (no scan), no
 * deferred garbage: a removed node is freed at once, which is safe because
 * nobody else can hold a pointer into the table outside the lock.
 *
 * A failed allocation of a node returns CS_R_ENOMEM with the map unchanged;
 * a failed allocation of a bigger bucket array only skips that growth (the
 * table stays correct, its chains get longer).  The thread context is the
 * map itself: nothing is per-thread.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cs.h"

extern const cs_backend cs_backend_locked;

#define CS_LOCKED_MIN_BUCKETS 16u

/* One entry. */
typedef struct cs_lnode {
    uint64_t key, val;
    struct cs_lnode *next;
} cs_lnode;

/* The table.  Every field but `lock` is guarded by `lock`. */
typedef struct cs_locked {
    pthread_rwlock_t lock;
    cs_lnode **buckets;
    size_t nbuckets;  /* a power of two, >= CS_LOCKED_MIN_BUCKETS */
    size_t size;      /* entries */
    uint64_t resizes; /* completed rehashes into a bigger array */
    uint64_t seed;    /* mixed into every bucket index */
} cs_locked;

/* ---- hashing and sizing ----------------------------------------------------- */

/* A 64-bit finalizer (splitmix64 / Stafford's mix13): a bijection whose low
 * bits depend on every input bit. */
static inline uint64_t cs_locked_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The bucket of `key` in an array of nbuckets (a power of two). */
static inline size_t cs_locked_index(uint64_t seed, uint64_t key,
                                     size_t nbuckets)
{
    return (size_t)(cs_locked_mix(key ^ seed) & (uint64_t)(nbuckets - 1));
}

/* true when n entries exceed the 0.75 load factor of nbuckets. */
static inline bool cs_locked_over(size_t n, size_t nbuckets)
{
    return n > nbuckets / 4 * 3;
}

/* The smallest bucket count (power of two, >= the minimum) that holds n
 * entries within the load factor; 0 if that does not fit a size_t array. */
static size_t cs_locked_buckets_for(size_t n)
{
    size_t nb = CS_LOCKED_MIN_BUCKETS;
    while (cs_locked_over(n, nb)) {
        if (nb > SIZE_MAX / 2 / sizeof(cs_lnode *))
            return 0;
        nb *= 2;
    }
    return nb;
}

/* ---- table internals (caller holds the lock as noted) ------------------------ */

/* The link that points at key's node, or at the NULL ending its chain when
 * the key is absent.  Caller holds the lock (either mode; the link is only
 * written under the exclusive lock). */
static cs_lnode **cs_locked_link(cs_locked *l, uint64_t key)
{
    cs_lnode **p = &l->buckets[cs_locked_index(l->seed, key, l->nbuckets)];
    while (*p != NULL && (*p)->key != key)
        p = &(*p)->next;
    return p;
}

/* Rehash every node into a new array of nb buckets (nb > nbuckets).  false,
 * the table untouched, if the array cannot be allocated.  Exclusive lock. */
static bool cs_locked_rehash(cs_locked *l, size_t nb)
{
    cs_lnode **nbk = calloc(nb, sizeof *nbk);
    if (nbk == NULL)
        return false;
    for (size_t i = 0; i < l->nbuckets; i++) {
        cs_lnode *n = l->buckets[i];
        while (n != NULL) {
            cs_lnode *next = n->next;
            size_t j = cs_locked_index(l->seed, n->key, nb);
            n->next = nbk[j];
            nbk[j] = n;
            n = next;
        }
    }
    free(l->buckets);
    l->buckets = nbk;
    l->nbuckets = nb;
    l->resizes++;
    return true;
}

/* Append a new node for key at *link (the chain's NULL end found by
 * cs_locked_link), count it, and double the array if now over the load
 * factor.  false (nothing changed) when the node cannot be allocated.
 * Exclusive lock. */
static bool cs_locked_insert_at(cs_locked *l, cs_lnode **link, uint64_t key,
                                uint64_t val)
{
    cs_lnode *n = malloc(sizeof *n);
    if (n == NULL)
        return false;
    n->key = key;
    n->val = val;
    n->next = NULL;
    *link = n;
    l->size++;
    if (cs_locked_over(l->size, l->nbuckets) &&
        l->nbuckets <= SIZE_MAX / 2 / sizeof(cs_lnode *))
        (void)cs_locked_rehash(l, l->nbuckets * 2); /* failure: keep going */
    return true;
}

/* Unlink and free the node *link points at.  Exclusive lock. */
static void cs_locked_unlink(cs_locked *l, cs_lnode **link)
{
    cs_lnode *n = *link;
    *link = n->next;
    free(n);
    l->size--;
}

/* Store v through out if out is not NULL. */
static inline void cs_locked_out(uint64_t *out, uint64_t v)
{
    if (out != NULL)
        *out = v;
}

static inline void cs_locked_rdlock(cs_locked *l)
{
    (void)pthread_rwlock_rdlock(&l->lock);
}

static inline void cs_locked_wrlock(cs_locked *l)
{
    (void)pthread_rwlock_wrlock(&l->lock);
}

static inline void cs_locked_unlock(cs_locked *l)
{
    (void)pthread_rwlock_unlock(&l->lock);
}

/* ---- lifecycle ---------------------------------------------------------------- */

/* An empty table sized for `capacity` entries without a resize, its bucket
 * index seeded by `seed`.  NULL when out of memory. */
static void *cs_locked_create(size_t capacity, uint64_t seed)
{
    size_t nb = cs_locked_buckets_for(capacity);
    if (nb == 0)
        return NULL;
    cs_locked *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->buckets = calloc(nb, sizeof *l->buckets);
    if (l->buckets == NULL || pthread_rwlock_init(&l->lock, NULL) != 0) {
        free(l->buckets);
        free(l);
        return NULL;
    }
    l->nbuckets = nb;
    l->seed = cs_locked_mix(seed ^ 0x6a09e667f3bcc909ULL);
    return l;
}

/* Free every node, the array, the lock and the table.  No thread may still
 * use the map. */
static void cs_locked_destroy(void *map)
{
    cs_locked *l = map;
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->nbuckets; i++) {
        cs_lnode *n = l->buckets[i];
        while (n != NULL) {
            cs_lnode *next = n->next;
            free(n);
            n = next;
        }
    }
    free(l->buckets);
    (void)pthread_rwlock_destroy(&l->lock);
    free(l);
}

/* Nothing is per-thread: the context is the map. */
static void *cs_locked_thread_join(void *map)
{
    return map;
}

/* Nothing to give back. */
static void cs_locked_thread_leave(void *tctx)
{
    (void)tctx;
}

/* ---- operations ----------------------------------------------------------------- */

/* Lookup under the shared lock. */
static bool cs_locked_get(void *tctx, uint64_t key, uint64_t *val)
{
    cs_locked *l = tctx;
    cs_locked_rdlock(l);
    cs_lnode *n = *cs_locked_link(l, key);
    if (n != NULL)
        cs_locked_out(val, n->val);
    cs_locked_unlock(l);
    return n != NULL;
}

/* Insert (INSERTED) or replace (REPLACED, previous value in *old); ENOMEM. */
static cs_res cs_locked_put(void *tctx, uint64_t key, uint64_t val,
                            uint64_t *old)
{
    cs_locked *l = tctx;
    cs_res r;
    cs_locked_wrlock(l);
    cs_lnode **link = cs_locked_link(l, key);
    if (*link != NULL) {
        cs_locked_out(old, (*link)->val);
        (*link)->val = val;
        r = CS_R_REPLACED;
    } else {
        r = cs_locked_insert_at(l, link, key, val) ? CS_R_INSERTED
                                                   : CS_R_ENOMEM;
    }
    cs_locked_unlock(l);
    return r;
}

/* Insert if absent (INSERTED), else EXISTS with the current value in *cur. */
static cs_res cs_locked_put_if_absent(void *tctx, uint64_t key, uint64_t val,
                                      uint64_t *cur)
{
    cs_locked *l = tctx;
    cs_res r;
    cs_locked_wrlock(l);
    cs_lnode **link = cs_locked_link(l, key);
    if (*link != NULL) {
        cs_locked_out(cur, (*link)->val);
        r = CS_R_EXISTS;
    } else {
        r = cs_locked_insert_at(l, link, key, val) ? CS_R_INSERTED
                                                   : CS_R_ENOMEM;
    }
    cs_locked_unlock(l);
    return r;
}

/* Replace if present (REPLACED, previous in *old), else NOT_FOUND. */
static cs_res cs_locked_replace(void *tctx, uint64_t key, uint64_t val,
                                uint64_t *old)
{
    cs_locked *l = tctx;
    cs_res r = CS_R_NOT_FOUND;
    cs_locked_wrlock(l);
    cs_lnode *n = *cs_locked_link(l, key);
    if (n != NULL) {
        cs_locked_out(old, n->val);
        n->val = val;
        r = CS_R_REPLACED;
    }
    cs_locked_unlock(l);
    return r;
}

/* Replace if the current value == expect: REPLACED, NOT_FOUND, MISMATCH. */
static cs_res cs_locked_replace_if(void *tctx, uint64_t key, uint64_t expect,
                                   uint64_t val)
{
    cs_locked *l = tctx;
    cs_res r = CS_R_NOT_FOUND;
    cs_locked_wrlock(l);
    cs_lnode *n = *cs_locked_link(l, key);
    if (n != NULL && n->val != expect) {
        r = CS_R_MISMATCH;
    } else if (n != NULL) {
        n->val = val;
        r = CS_R_REPLACED;
    }
    cs_locked_unlock(l);
    return r;
}

/* Remove (REMOVED, its value in *old) or NOT_FOUND. */
static cs_res cs_locked_remove(void *tctx, uint64_t key, uint64_t *old)
{
    cs_locked *l = tctx;
    cs_res r = CS_R_NOT_FOUND;
    cs_locked_wrlock(l);
    cs_lnode **link = cs_locked_link(l, key);
    if (*link != NULL) {
        cs_locked_out(old, (*link)->val);
        cs_locked_unlink(l, link);
        r = CS_R_REMOVED;
    }
    cs_locked_unlock(l);
    return r;
}

/* Remove if the current value == expect: REMOVED, NOT_FOUND, MISMATCH. */
static cs_res cs_locked_remove_if(void *tctx, uint64_t key, uint64_t expect)
{
    cs_locked *l = tctx;
    cs_res r = CS_R_NOT_FOUND;
    cs_locked_wrlock(l);
    cs_lnode **link = cs_locked_link(l, key);
    if (*link != NULL && (*link)->val != expect) {
        r = CS_R_MISMATCH;
    } else if (*link != NULL) {
        cs_locked_unlink(l, link);
        r = CS_R_REMOVED;
    }
    cs_locked_unlock(l);
    return r;
}

/* Atomic upsert: INSERTED when absent, REPLACED (previous in *old) when
 * present.  The same as put here: one lock makes every update atomic. */
static cs_res cs_locked_compute(void *tctx, uint64_t key, uint64_t val,
                                uint64_t *old)
{
    return cs_locked_put(tctx, key, val, old);
}

/* The entry count, read under the shared lock. */
static size_t cs_locked_size(void *map)
{
    cs_locked *l = map;
    cs_locked_rdlock(l);
    size_t n = l->size;
    cs_locked_unlock(l);
    return n;
}

/* Visit every entry under the shared lock (an exact snapshot); returns the
 * count.  `visit` runs with the lock held: it must not call into this map's
 * updates (that would deadlock). */
static size_t cs_locked_iterate(void *tctx,
                                void (*visit)(void *ctx, uint64_t k,
                                              uint64_t v),
                                void *ctx)
{
    cs_locked *l = tctx;
    size_t count = 0;
    cs_locked_rdlock(l);
    for (size_t i = 0; i < l->nbuckets; i++)
        for (const cs_lnode *n = l->buckets[i]; n != NULL; n = n->next) {
            if (visit != NULL)
                visit(ctx, n->key, n->val);
            count++;
        }
    cs_locked_unlock(l);
    return count;
}

/* Grow (one rehash) so that n entries fit without a further resize.  0 on
 * success (also when already big enough), -1 when out of memory. */
static int cs_locked_reserve(void *tctx, size_t n)
{
    cs_locked *l = tctx;
    size_t nb = cs_locked_buckets_for(n);
    if (nb == 0)
        return -1;
    int rc = 0;
    cs_locked_wrlock(l);
    if (nb > l->nbuckets && !cs_locked_rehash(l, nb))
        rc = -1;
    cs_locked_unlock(l);
    return rc;
}

/* Bucket count, resizes and size, read together under the shared lock.  No
 * garbage: nodes are freed at once. */
static void cs_locked_stats(void *map, cs_map_stats *out)
{
    cs_locked *l = map;
    cs_locked_rdlock(l);
    *out = (cs_map_stats){
        .table_size = l->nbuckets,
        .resizes = l->resizes,
        .pending_garbage = 0,
        .size = l->size,
        .has_table_size = true,
        .has_resizes = true,
        .has_garbage = false,
    };
    cs_locked_unlock(l);
}

/* The `locked` backend (registered in cs_backends.c). */
const cs_backend cs_backend_locked = {
    .name = "locked",
    .description = "a chained hash table under one pthread rwlock (reads "
                   "shared, updates exclusive): what a user writes first",
    .ordered = false,
    .create = cs_locked_create,
    .destroy = cs_locked_destroy,
    .thread_join = cs_locked_thread_join,
    .thread_leave = cs_locked_thread_leave,
    .batch_begin = NULL,
    .batch_end = NULL,
    .get = cs_locked_get,
    .put = cs_locked_put,
    .put_if_absent = cs_locked_put_if_absent,
    .replace = cs_locked_replace,
    .replace_if = cs_locked_replace_if,
    .remove = cs_locked_remove,
    .remove_if = cs_locked_remove_if,
    .compute = cs_locked_compute,
    .scan = NULL,
    .size = cs_locked_size,
    .iterate = cs_locked_iterate,
    .reserve = cs_locked_reserve,
    .stats = cs_locked_stats,
};
