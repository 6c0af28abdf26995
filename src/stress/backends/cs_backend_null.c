/*
 * cs_backend_null.c - the `null` backend: a map that does nothing, so that
 * chmstress can measure its own harness (key generation, value encoding,
 * dispatch through the vtable, tallies, latency sampling).  Its throughput is
 * the ceiling of what the tool can measure; a real map's cost per op is
 * roughly its time per op minus null's.
 *
 * Every op returns a plausible constant without touching memory: get finds
 * nothing; put, put_if_absent and compute report INSERTED; replace,
 * replace_if, remove and remove_if report NOT_FOUND; size and iterate are 0;
 * reserve succeeds; stats have nothing (every has_* false).  It is a map
 * that forgets every write at once.
 *
 * NOT A MAP: its results must never be checked.  The tallies of its INSERTED
 * answers can never match its size of 0, so the runner skips the count checks
 * for it (and the result file should say so).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs.h"

extern const cs_backend cs_backend_null;

/* create and thread_join must return non-NULL: the address of this byte. */
static char cs_null_token;

/* A non-NULL token; nothing is allocated. */
static void *cs_null_create(size_t capacity, uint64_t seed)
{
    (void)capacity;
    (void)seed;
    return &cs_null_token;
}

/* Nothing to free. */
static void cs_null_destroy(void *map)
{
    (void)map;
}

/* A non-NULL token; nothing is per-thread. */
static void *cs_null_thread_join(void *map)
{
    (void)map;
    return &cs_null_token;
}

/* Nothing to give back. */
static void cs_null_thread_leave(void *tctx)
{
    (void)tctx;
}

/* Never finds anything; *val is left alone. */
static bool cs_null_get(void *tctx, uint64_t key, uint64_t *val)
{
    (void)tctx;
    (void)key;
    (void)val;
    return false;
}

/* "Inserted" (and forgotten); *old is left alone. */
static cs_res cs_null_put(void *tctx, uint64_t key, uint64_t val,
                          uint64_t *old)
{
    (void)tctx;
    (void)key;
    (void)val;
    (void)old;
    return CS_R_INSERTED;
}

/* "Inserted" (the key is never present); *cur is left alone. */
static cs_res cs_null_put_if_absent(void *tctx, uint64_t key, uint64_t val,
                                    uint64_t *cur)
{
    (void)tctx;
    (void)key;
    (void)val;
    (void)cur;
    return CS_R_INSERTED;
}

/* NOT_FOUND: the key is never present. */
static cs_res cs_null_replace(void *tctx, uint64_t key, uint64_t val,
                              uint64_t *old)
{
    (void)tctx;
    (void)key;
    (void)val;
    (void)old;
    return CS_R_NOT_FOUND;
}

/* NOT_FOUND: the key is never present. */
static cs_res cs_null_replace_if(void *tctx, uint64_t key, uint64_t expect,
                                 uint64_t val)
{
    (void)tctx;
    (void)key;
    (void)expect;
    (void)val;
    return CS_R_NOT_FOUND;
}

/* NOT_FOUND: the key is never present; *old is left alone. */
static cs_res cs_null_remove(void *tctx, uint64_t key, uint64_t *old)
{
    (void)tctx;
    (void)key;
    (void)old;
    return CS_R_NOT_FOUND;
}

/* NOT_FOUND: the key is never present. */
static cs_res cs_null_remove_if(void *tctx, uint64_t key, uint64_t expect)
{
    (void)tctx;
    (void)key;
    (void)expect;
    return CS_R_NOT_FOUND;
}

/* "Inserted" (the key is never present); *old is left alone. */
static cs_res cs_null_compute(void *tctx, uint64_t key, uint64_t val,
                              uint64_t *old)
{
    (void)tctx;
    (void)key;
    (void)val;
    (void)old;
    return CS_R_INSERTED;
}

/* Always empty. */
static size_t cs_null_size(void *map)
{
    (void)map;
    return 0;
}

/* Nothing to visit. */
static size_t cs_null_iterate(void *tctx,
                              void (*visit)(void *ctx, uint64_t k, uint64_t v),
                              void *ctx)
{
    (void)tctx;
    (void)visit;
    (void)ctx;
    return 0;
}

/* Succeeds without doing anything. */
static int cs_null_reserve(void *tctx, size_t n)
{
    (void)tctx;
    (void)n;
    return 0;
}

/* No statistics: all zero, every has_* false. */
static void cs_null_stats(void *map, cs_map_stats *out)
{
    (void)map;
    *out = (cs_map_stats){0};
}

/* The `null` backend (registered in cs_backends.c). */
const cs_backend cs_backend_null = {
    .name = "null",
    .description = "does nothing (measures the harness's own overhead); "
                   "not a map: never checked",
    .ordered = false,
    .unchecked = true,
    .create = cs_null_create,
    .destroy = cs_null_destroy,
    .thread_join = cs_null_thread_join,
    .thread_leave = cs_null_thread_leave,
    .batch_begin = NULL,
    .batch_end = NULL,
    .get = cs_null_get,
    .put = cs_null_put,
    .put_if_absent = cs_null_put_if_absent,
    .replace = cs_null_replace,
    .replace_if = cs_null_replace_if,
    .remove = cs_null_remove,
    .remove_if = cs_null_remove_if,
    .compute = cs_null_compute,
    .scan = NULL,
    .size = cs_null_size,
    .iterate = cs_null_iterate,
    .reserve = cs_null_reserve,
    .stats = cs_null_stats,
};
