/*
 * chm_hash.c - key hashing.  Integer keys go through XXH3 with the map's
 * random seed, so an attacker who does not know the seed cannot precompute
 * colliding keys, and sequential keys spread over all bins.  A user hash
 * callback gets the same seed to mix in.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "chm_internal.h"

uint64_t chm_hash_key(const chm_t *m, uintptr_t key)
{
    if (m->type.hash != NULL)
        return m->type.hash(key, m->seed);
    uint64_t k = (uint64_t)key;
    return XXH3_64bits_withSeed(&k, sizeof k, m->seed);
}
