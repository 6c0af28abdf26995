/*
 * cs_keygen.c - key generators: which key index the next operation uses.
 *
 * A generator (cs_keygen) is built once per run and then only read; every
 * thread draws from it with its own cursor (cs_keycursor: an rng and, for
 * `sequential`, the next index).  Drawing takes no lock and allocates
 * nothing.  Indices are in [0, range); the runner maps them to keys with
 * cs_key_of().
 *
 *   uniform     cs_rng_below(range).
 *
 *   zipfian     YCSB's ScrambledZipfianGenerator.  A rank r in [0, n) is
 *               drawn with P(r) ~ 1/(r+1)^theta by the method of Gray et al.,
 *               "Quickly generating billion-record synthetic databases"
 *               (SIGMOD '94), as YCSB's ZipfianGenerator does:
 *                 zeta(n, theta) = sum_{i=1..n} 1/i^theta
 *                 alpha = 1/(1-theta)
 *                 eta   = (1 - (2/n)^(1-theta)) / (1 - zeta(2,theta)/zeta(n))
 *                 u uniform in [0,1), uz = u * zeta(n):
 *                   uz < 1                  -> rank 0
 *                   uz < 1 + 0.5^theta      -> rank 1   (= zeta(2, theta))
 *                   else  rank = n * (eta*u - eta + 1)^alpha
 *               Ranks 0 and 1 get their exact probabilities; the rest follow
 *               the continuous approximation.  One pow() per draw.
 *               The rank is then scrambled so the popular keys are spread
 *               over the range.  YCSB hashes the rank (FNV) modulo the item
 *               count, drawing ranks over 10^10 items so that every index
 *               has a preimage.  We draw ranks over exactly `range` items,
 *               where hash-mod-range would leave about 1/e of the indices
 *               unreachable and merge popular ranks; so the scramble is a
 *               bijection of [0, range) instead: a keyed mix (add, multiply,
 *               xor-shift rounds) on the k low bits, 2^k >= range, which is
 *               a permutation of [0, 2^k), "cycle-walked" (applied again
 *               while the result is >= range: fewer than 2 rounds expected)
 *               into a permutation of [0, range).  The key frequencies are
 *               then exactly the rank frequencies, rearranged.
 *
 *               zeta(n, theta) costs n pow() calls (4M for n = 2^22), so it
 *               is computed once per (n, theta) in the process and kept in a
 *               small table under a mutex.  Above CS_ZETA_EXACT_MAX it is
 *               the exact sum of the first CS_ZETA_HEAD terms plus the
 *               Euler-Maclaurin tail (error far below 1e-12 relative), so a
 *               huge range does not cost minutes.
 *
 *   sequential  thread t of T starts at t*range/T and walks up by one,
 *               wrapping from range-1 to 0.
 *
 *   hotspot     with probability hot_op_fraction an index uniform among the
 *               first hot_fraction*range (at least 1), else uniform among
 *               the rest (YCSB's HotspotIntegerGenerator).
 *
 *   latest      YCSB's SkewedLatestGenerator: n = *g->latest, the count of
 *               keys inserted so far (the runner increments it; NULL or 0:
 *               range; clamped to range), and the index is n-1-rank with a
 *               zipfian rank over n, so the newest keys are the hottest.
 *               YCSB recomputes zeta(n) under a lock whenever n grows; we
 *               keep the constants of zeta(range) and draw the rank by
 *               rejection: a zipfian rank over `range` conditioned on being
 *               < n is exactly a zipfian rank over n (the weights
 *               1/(r+1)^theta are the same, only the normalisation
 *               differs).  Acceptance is zeta(n)/zeta(range), high in
 *               practice (n grows from the prefill); after CS_LATEST_TRIES
 *               rejections the rank is drawn by Gray's formula scaled to n
 *               with range's constants (what YCSB's generator does between
 *               recomputations), so the cost stays bounded.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "cs.h"

#define CS_ZETA_EXACT_MAX (UINT64_C(1) << 22) /* exact sum up to here */
#define CS_ZETA_HEAD (UINT64_C(1) << 16)      /* exact head of the E-M form */
#define CS_ZETA_CACHE 16
#define CS_LATEST_TRIES 8

/* ---- zeta(n, theta), cached ---------------------------------------------- */

struct cs_zeta_entry {
    uint64_t n;
    double theta;
    double zeta;
};

static struct cs_zeta_entry cs_zeta_cache[CS_ZETA_CACHE];
static unsigned cs_zeta_cache_used, cs_zeta_cache_next;
static pthread_mutex_t cs_zeta_lock = PTHREAD_MUTEX_INITIALIZER;

/* sum_{i=1..n} i^-theta, term by term. */
static double cs_zeta_sum(uint64_t n, double theta)
{
    double sum = 0.0;
    for (uint64_t i = 1; i <= n; i++)
        sum += pow((double)i, -theta);
    return sum;
}

/* zeta(n) from the exact head zeta(m) by Euler-Maclaurin:
 *   sum_{i=m..n} f(i) = int_m^n f + (f(m) + f(n))/2
 *                       + (f'(n) - f'(m))/12 - (f'''(n) - f'''(m))/720 + ...
 * with f(x) = x^-theta.  The next term is O(m^-(theta+5)). */
static double cs_zeta_em(uint64_t n, double theta, uint64_t m, double head)
{
    double dn = (double)n, dm = (double)m, s = 1.0 - theta;
    double fm = pow(dm, -theta), fn = pow(dn, -theta);
    /* (n^s - m^s)/s without cancellation when s is small */
    double integral = pow(dm, s) * expm1(s * log(dn / dm)) / s;
    double d1m = -theta * fm / dm, d1n = -theta * fn / dn;
    double k3 = -theta * (theta + 1.0) * (theta + 2.0);
    double d3m = k3 * fm / (dm * dm * dm), d3n = k3 * fn / (dn * dn * dn);
    return head - fm + integral + (fm + fn) / 2.0 + (d1n - d1m) / 12.0 -
           (d3n - d3m) / 720.0;
}

static double cs_zeta_compute(uint64_t n, double theta)
{
    if (n <= CS_ZETA_EXACT_MAX)
        return cs_zeta_sum(n, theta);
    return cs_zeta_em(n, theta, CS_ZETA_HEAD, cs_zeta_sum(CS_ZETA_HEAD, theta));
}

static bool cs_zeta_lookup(uint64_t n, double theta, double *out)
{
    bool found = false;
    pthread_mutex_lock(&cs_zeta_lock);
    for (unsigned i = 0; i < cs_zeta_cache_used && !found; i++) {
        if (cs_zeta_cache[i].n == n && cs_zeta_cache[i].theta == theta) {
            *out = cs_zeta_cache[i].zeta;
            found = true;
        }
    }
    pthread_mutex_unlock(&cs_zeta_lock);
    return found;
}

/* Remember a result; the oldest entry goes when the table is full. */
static void cs_zeta_store(uint64_t n, double theta, double zeta)
{
    double dummy;
    if (cs_zeta_lookup(n, theta, &dummy))
        return; /* another thread computed it meanwhile */
    pthread_mutex_lock(&cs_zeta_lock);
    struct cs_zeta_entry *e = &cs_zeta_cache[cs_zeta_cache_next];
    e->n = n;
    e->theta = theta;
    e->zeta = zeta;
    cs_zeta_cache_next = (cs_zeta_cache_next + 1) % CS_ZETA_CACHE;
    if (cs_zeta_cache_used < CS_ZETA_CACHE)
        cs_zeta_cache_used++;
    pthread_mutex_unlock(&cs_zeta_lock);
}

/* zeta(n, theta), computed outside the lock (it may take a while). */
static double cs_zeta(uint64_t n, double theta)
{
    double z;
    if (cs_zeta_lookup(n, theta, &z))
        return z;
    z = cs_zeta_compute(n, theta);
    cs_zeta_store(n, theta, z);
    return z;
}

/* ---- zipfian ranks ---------------------------------------------------------- */

static void cs_zipf_setup(cs_keygen *g, uint64_t n, double theta)
{
    g->items = n;
    g->zetan = cs_zeta(n, theta);
    g->zeta2theta = 1.0 + pow(0.5, theta); /* zeta(2, theta) */
    g->alpha = 1.0 / (1.0 - theta);
    /* n <= 2: ranks come from the two exact fast paths only (eta is 0/0) */
    g->eta = n <= 2 ? 0.0
                    : (1.0 - pow(2.0 / (double)n, 1.0 - theta)) /
                          (1.0 - g->zeta2theta / g->zetan);
}

/* A rank in [0, n) by Gray's formula with g's constants (computed for
 * g->items; n != g->items scales the continuous part, as YCSB does). */
static uint64_t cs_zipf_rank(const cs_keygen *g, cs_rng *r, uint64_t n)
{
    double u = cs_rng_double(r);
    double uz = u * g->zetan;
    if (uz < 1.0)
        return 0;
    if (uz < g->zeta2theta)
        return n > 1 ? 1 : 0;
    double x = (double)n * pow(g->eta * u - g->eta + 1.0, g->alpha);
    uint64_t rank = x > 0.0 ? (uint64_t)x : 0;
    return rank < n ? rank : n - 1;
}

/* ---- the scramble: a permutation of [0, range) -------------------------------- */

/* One keyed mix of the k low bits (mask = 2^k - 1, shift = max(1, k/2)):
 * each step (add, multiply by an odd number, xor with a right shift, all
 * mod 2^k) is a bijection of [0, 2^k). */
static uint64_t cs_perm_round(uint64_t x, uint64_t mask, unsigned shift)
{
    x = (x + 0x2545f4914f6cdd1dULL) & mask;
    x = (x * 0x9e3779b97f4a7c15ULL) & mask;
    x ^= x >> shift;
    x = (x * 0xbf58476d1ce4e5b9ULL) & mask;
    x ^= x >> shift;
    x = (x * 0x94d049bb133111ebULL) & mask;
    x ^= x >> shift;
    return x;
}

/* Cycle-walk the permutation of [0, 2^k) until it lands in [0, range):
 * the restriction is a permutation of [0, range).  range >= 1, x < range. */
static uint64_t cs_scramble(uint64_t x, uint64_t range)
{
    if (range <= 1)
        return 0;
    unsigned k = 64u - (unsigned)__builtin_clzll(range - 1); /* 2^k >= range */
    uint64_t mask = k == 64 ? UINT64_MAX : (UINT64_C(1) << k) - 1;
    unsigned shift = k / 2 > 0 ? k / 2 : 1;
    do
        x = cs_perm_round(x, mask, shift);
    while (x >= range);
    return x;
}

/* ---- per distribution ------------------------------------------------------------- */

static uint64_t cs_next_zipfian(const cs_keygen *g, cs_keycursor *c)
{
    uint64_t range = g->ks.range;
    return cs_scramble(cs_zipf_rank(g, &c->rng, range), range);
}

static uint64_t cs_next_latest(const cs_keygen *g, cs_keycursor *c)
{
    uint64_t range = g->ks.range;
    uint64_t n = g->latest != NULL
                     ? atomic_load_explicit(g->latest, memory_order_relaxed)
                     : 0;
    if (n == 0 || n > range)
        n = range;
    uint64_t rank = cs_zipf_rank(g, &c->rng, range);
    for (int tries = 1; rank >= n && tries < CS_LATEST_TRIES; tries++)
        rank = cs_zipf_rank(g, &c->rng, range);
    if (rank >= n)
        rank = cs_zipf_rank(g, &c->rng, n);
    return n - 1 - rank;
}

/* The count of hot indices: hot_fraction of range, at least 1 when the
 * fraction is not 0. */
static uint64_t cs_hot_count(const cs_keyspace *ks)
{
    uint64_t hot = (uint64_t)(ks->hot_fraction * (double)ks->range);
    if (hot == 0 && ks->hot_fraction > 0.0)
        hot = 1;
    return hot < ks->range ? hot : ks->range;
}

static uint64_t cs_next_hotspot(const cs_keygen *g, cs_keycursor *c)
{
    uint64_t range = g->ks.range, hot = cs_hot_count(&g->ks);
    if (hot == 0 || hot == range)
        return cs_rng_below(&c->rng, range);
    if (cs_rng_double(&c->rng) < g->ks.hot_op_fraction)
        return cs_rng_below(&c->rng, hot);
    return hot + cs_rng_below(&c->rng, range - hot);
}

static uint64_t cs_next_sequential(const cs_keygen *g, cs_keycursor *c)
{
    uint64_t idx = c->next;
    c->next = idx + 1 < g->ks.range ? idx + 1 : 0;
    return idx;
}

/* ---- the interface ------------------------------------------------------------------ */

static bool cs_fraction_ok(double f)
{
    return f >= 0.0 && f <= 1.0; /* false for NaN */
}

static bool cs_keyspace_ok(const cs_keyspace *ks)
{
    if (ks->range == 0 || (unsigned)ks->dist >= CS_DIST_COUNT)
        return false;
    if (ks->dist == CS_DIST_ZIPFIAN || ks->dist == CS_DIST_LATEST)
        return ks->theta > 0.0 && ks->theta < 1.0;
    if (ks->dist == CS_DIST_HOTSPOT)
        return cs_fraction_ok(ks->hot_fraction) &&
               cs_fraction_ok(ks->hot_op_fraction);
    return true;
}

int cs_keygen_init(cs_keygen *g, const cs_keyspace *ks)
{
    memset(g, 0, sizeof *g);
    if (!cs_keyspace_ok(ks))
        return CS_EXIT_USAGE;
    g->ks = *ks;
    g->items = ks->range;
    g->latest = NULL; /* the runner sets it for `latest` */
    if (ks->dist == CS_DIST_ZIPFIAN || ks->dist == CS_DIST_LATEST)
        cs_zipf_setup(g, ks->range, ks->theta);
    return 0;
}

void cs_keygen_destroy(cs_keygen *g)
{
    /* nothing is allocated: the zeta cache outlives generators */
    memset(g, 0, sizeof *g);
}

void cs_keycursor_init(const cs_keygen *g, cs_keycursor *c, uint64_t seed,
                       unsigned thread, unsigned nthreads)
{
    if (nthreads == 0)
        nthreads = 1;
    thread %= nthreads;
    /* distinct, unrelated splitmix64 streams per (seed, thread): not
     * seed + thread*gamma, which would be the same stream shifted */
    c->rng.s = cs_key_of(seed ^ cs_key_of((uint64_t)thread + 1));
    c->next = (uint64_t)(((unsigned __int128)g->ks.range * thread) / nthreads);
}

uint64_t cs_keygen_next(const cs_keygen *g, cs_keycursor *c)
{
    switch (g->ks.dist) {
    case CS_DIST_ZIPFIAN:
        return cs_next_zipfian(g, c);
    case CS_DIST_SEQUENTIAL:
        return cs_next_sequential(g, c);
    case CS_DIST_HOTSPOT:
        return cs_next_hotspot(g, c);
    case CS_DIST_LATEST:
        return cs_next_latest(g, c);
    case CS_DIST_UNIFORM:
    default:
        return cs_rng_below(&c->rng, g->ks.range);
    }
}
