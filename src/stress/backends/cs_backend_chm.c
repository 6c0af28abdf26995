/*
 * cs_backend_chm.c - the `chm` backend: libchm (include/chm.h) with 64-bit
 * integer keys and values (chm_new(NULL, capacity): keys hashed by libchm's
 * seeded XXH3, compared with ==, nothing freed).
 *
 * The map pointer is the chm_t itself and the thread context is the
 * chm_thread_t handle, so every op is one call into libchm plus the mapping
 * of its status onto cs_res:
 *
 *   put            CHM_OK -> INSERTED, CHM_EXISTS -> REPLACED (*old)
 *   put_if_absent  CHM_OK -> INSERTED, CHM_EXISTS -> EXISTS (*cur)
 *   replace        CHM_OK -> REPLACED (*old), CHM_NOT_FOUND -> NOT_FOUND
 *   replace_if     CHM_OK -> REPLACED, NOT_FOUND, MISMATCH
 *   remove         CHM_OK -> REMOVED (*old), NOT_FOUND
 *   remove_if      CHM_OK -> REMOVED, NOT_FOUND, MISMATCH
 *   compute        chm_compute with a callback that always SETs the value:
 *                  absent -> INSERTED, present -> REPLACED (*old)
 *   CHM_ENOMEM -> ENOMEM everywhere; anything else (CHM_EBUSY, a code the
 *   op does not document) -> ERROR.
 *
 * batch_begin/batch_end are chm_pin/chm_unpin, so a batch of ops pays the
 * epoch pin once.  The runner must end a batch before thread_leave.
 * The `seed` of create is ignored: libchm draws a random seed per map.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chm.h"
#include "cs.h"

/* Keys and values travel as uintptr_t in libchm and as uint64_t here. */
_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t),
               "the chm backend needs 64-bit uintptr_t");

extern const cs_backend cs_backend_chm;

/* ---- status mapping ------------------------------------------------------ */

/* Which of CHM_NOT_FOUND / CHM_MISMATCH an op may return (cs_chm_res). */
#define CS_CHM_NF 1u /* CHM_NOT_FOUND -> CS_R_NOT_FOUND */
#define CS_CHM_MM 2u /* CHM_MISMATCH -> CS_R_MISMATCH */

/* The cs_res of a libchm status: `ok` for CHM_OK, `exists` for CHM_EXISTS
 * (CS_R_ERROR when the op never returns it), NOT_FOUND and MISMATCH when
 * `accept` has their bit, ENOMEM for CHM_ENOMEM, and ERROR for anything else
 * (CHM_EBUSY, or a code the op does not document). */
static inline cs_res cs_chm_res(int st, cs_res ok, cs_res exists,
                                unsigned accept)
{
    switch (st) {
    case CHM_OK:
        return ok;
    case CHM_EXISTS:
        return exists;
    case CHM_NOT_FOUND:
        return (accept & CS_CHM_NF) ? CS_R_NOT_FOUND : CS_R_ERROR;
    case CHM_MISMATCH:
        return (accept & CS_CHM_MM) ? CS_R_MISMATCH : CS_R_ERROR;
    case CHM_ENOMEM:
        return CS_R_ENOMEM;
    default:
        return CS_R_ERROR;
    }
}

/* Store v through p if p is not NULL. */
static inline void cs_chm_out(uint64_t *p, uintptr_t v)
{
    if (p != NULL)
        *p = (uint64_t)v;
}

/* ---- lifecycle ------------------------------------------------------------ */

/* A libchm map sized for `capacity` entries; the seed is libchm's own. */
static void *cs_chm_create(size_t capacity, uint64_t seed)
{
    (void)seed;
    return chm_new(NULL, capacity);
}

/* chm_free: no thread may still be joined. */
static void cs_chm_destroy(void *map)
{
    chm_free(map);
}

/* The calling thread's chm_thread_t handle (NULL on ENOMEM). */
static void *cs_chm_thread_join(void *map)
{
    return chm_thread_join(map);
}

/* chm_thread_leave: the thread must not be inside a batch. */
static void cs_chm_thread_leave(void *tctx)
{
    chm_thread_leave(tctx);
}

/* Open an epoch section around a batch of ops. */
static void cs_chm_batch_begin(void *tctx)
{
    chm_pin(tctx);
}

/* Close the batch's epoch section (may free garbage). */
static void cs_chm_batch_end(void *tctx)
{
    chm_unpin(tctx);
}

/* ---- operations ------------------------------------------------------------ */

/* Lock-free lookup. */
static bool cs_chm_get(void *tctx, uint64_t key, uint64_t *val)
{
    uintptr_t v;
    if (!chm_get(tctx, (uintptr_t)key, &v))
        return false;
    cs_chm_out(val, v);
    return true;
}

/* Insert (INSERTED) or replace (REPLACED, previous value in *old). */
static cs_res cs_chm_put(void *tctx, uint64_t key, uint64_t val,
                         uint64_t *old)
{
    uintptr_t prev;
    int st = chm_put(tctx, (uintptr_t)key, (uintptr_t)val, &prev);
    if (st == CHM_EXISTS)
        cs_chm_out(old, prev);
    return cs_chm_res(st, CS_R_INSERTED, CS_R_REPLACED, 0);
}

/* Insert if absent (INSERTED), else EXISTS with the current value in *cur. */
static cs_res cs_chm_put_if_absent(void *tctx, uint64_t key, uint64_t val,
                                   uint64_t *cur)
{
    uintptr_t c;
    int st = chm_put_if_absent(tctx, (uintptr_t)key, (uintptr_t)val, &c);
    if (st == CHM_EXISTS)
        cs_chm_out(cur, c);
    return cs_chm_res(st, CS_R_INSERTED, CS_R_EXISTS, 0);
}

/* Replace if present (REPLACED, previous in *old), else NOT_FOUND. */
static cs_res cs_chm_replace(void *tctx, uint64_t key, uint64_t val,
                             uint64_t *old)
{
    uintptr_t prev;
    int st = chm_replace(tctx, (uintptr_t)key, (uintptr_t)val, &prev);
    if (st == CHM_OK)
        cs_chm_out(old, prev);
    return cs_chm_res(st, CS_R_REPLACED, CS_R_ERROR, CS_CHM_NF);
}

/* Replace if the current value == expect: REPLACED, NOT_FOUND, MISMATCH. */
static cs_res cs_chm_replace_if(void *tctx, uint64_t key, uint64_t expect,
                                uint64_t val)
{
    int st = chm_replace_if(tctx, (uintptr_t)key, (uintptr_t)expect,
                            (uintptr_t)val);
    return cs_chm_res(st, CS_R_REPLACED, CS_R_ERROR, CS_CHM_NF | CS_CHM_MM);
}

/* Remove (REMOVED, its value in *old) or NOT_FOUND. */
static cs_res cs_chm_remove(void *tctx, uint64_t key, uint64_t *old)
{
    uintptr_t prev;
    int st = chm_remove(tctx, (uintptr_t)key, &prev);
    if (st == CHM_OK)
        cs_chm_out(old, prev);
    return cs_chm_res(st, CS_R_REMOVED, CS_R_ERROR, CS_CHM_NF);
}

/* Remove if the current value == expect: REMOVED, NOT_FOUND, MISMATCH. */
static cs_res cs_chm_remove_if(void *tctx, uint64_t key, uint64_t expect)
{
    int st = chm_remove_if(tctx, (uintptr_t)key, (uintptr_t)expect);
    return cs_chm_res(st, CS_R_REMOVED, CS_R_ERROR, CS_CHM_NF | CS_CHM_MM);
}

/* What the compute callback saw and what it stores. */
typedef struct cs_chm_compute_ctx {
    uint64_t val;     /* the value to store */
    bool present;     /* the key's state when the callback last ran */
    uint64_t cur;     /* its value then, when present */
} cs_chm_compute_ctx;

/* chm_compute callback: always store ctx->val; remember the state it saw
 * (the last run is the one that took effect). */
static chm_compute_action cs_chm_compute_fn(void *ctx, uintptr_t key,
                                            bool present, uintptr_t cur,
                                            uintptr_t *new_val)
{
    cs_chm_compute_ctx *c = ctx;
    (void)key;
    c->present = present;
    c->cur = (uint64_t)cur;
    *new_val = (uintptr_t)c->val;
    return CHM_COMPUTE_SET;
}

/* Atomic upsert through chm_compute: INSERTED when the key was absent,
 * REPLACED (previous value in *old) when present. */
static cs_res cs_chm_compute(void *tctx, uint64_t key, uint64_t val,
                             uint64_t *old)
{
    cs_chm_compute_ctx c = {.val = val, .present = false, .cur = 0};
    int st = chm_compute(tctx, (uintptr_t)key, cs_chm_compute_fn, &c, NULL);
    if (st != CHM_OK) /* SET leaves the key present: NOT_FOUND is an error */
        return st == CHM_ENOMEM ? CS_R_ENOMEM : CS_R_ERROR;
    if (!c.present)
        return CS_R_INSERTED;
    cs_chm_out(old, c.cur);
    return CS_R_REPLACED;
}

/* chm_size: exact when no update is in flight. */
static size_t cs_chm_size(void *map)
{
    return chm_size(map);
}

/* Weakly consistent traversal with chm_iter; returns the entries visited. */
static size_t cs_chm_iterate(void *tctx,
                             void (*visit)(void *ctx, uint64_t k, uint64_t v),
                             void *ctx)
{
    chm_iter it;
    uintptr_t k, v;
    size_t n = 0;
    chm_iter_init(&it, tctx);
    while (chm_iter_next(&it, &k, &v)) {
        if (visit != NULL)
            visit(ctx, (uint64_t)k, (uint64_t)v);
        n++;
    }
    return n;
}

/* chm_reserve: 0 on success, -1 on failure (ENOMEM, EBUSY). */
static int cs_chm_reserve(void *tctx, size_t n)
{
    return chm_reserve(tctx, n) == CHM_OK ? 0 : -1;
}

/* chm_stats: table size, resizes, pending garbage and size. */
static void cs_chm_stats(void *map, cs_map_stats *out)
{
    chm_stats_t st;
    chm_stats(map, &st);
    *out = (cs_map_stats){
        .table_size = st.table_size,
        .resizes = st.resizes,
        .pending_garbage = st.pending_garbage,
        .size = st.size,
        .has_table_size = true,
        .has_resizes = true,
        .has_garbage = true,
    };
}

/* The `chm` backend (registered in cs_backends.c). */
const cs_backend cs_backend_chm = {
    .name = "chm",
    .description = "libchm: Java's ConcurrentHashMap design, lock-free reads, "
                   "per-bin locks, cooperative resize, ck_epoch reclamation",
    .ordered = false,
    .create = cs_chm_create,
    .destroy = cs_chm_destroy,
    .thread_join = cs_chm_thread_join,
    .thread_leave = cs_chm_thread_leave,
    .batch_begin = cs_chm_batch_begin,
    .batch_end = cs_chm_batch_end,
    .get = cs_chm_get,
    .put = cs_chm_put,
    .put_if_absent = cs_chm_put_if_absent,
    .replace = cs_chm_replace,
    .replace_if = cs_chm_replace_if,
    .remove = cs_chm_remove,
    .remove_if = cs_chm_remove_if,
    .compute = cs_chm_compute,
    .scan = NULL,
    .size = cs_chm_size,
    .iterate = cs_chm_iterate,
    .reserve = cs_chm_reserve,
    .stats = cs_chm_stats,
};
