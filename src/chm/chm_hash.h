/*
 * chm_hash.h - key hashing, inlined into every operation (included at the
 * end of chm_internal.h).  Integer keys go through XXH3 with the map's
 * random seed, so an attacker who does not know the seed cannot precompute
 * colliding keys, and sequential keys spread over all bins.  A user hash
 * callback gets the same seed to mix in.
 */
#ifndef CHM_HASH_H
#define CHM_HASH_H

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint64_t chm_hash_key(const chm_t *m, uintptr_t key)
{
    if (m->type.hash != NULL)
        return m->type.hash(key, m->seed);
    uint64_t k = (uint64_t)key;
    return XXH3_64bits_withSeed(&k, sizeof k, m->seed);
}

#endif /* CHM_HASH_H */
