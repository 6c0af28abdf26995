/*
 * chm_vs_locked.c - libchm against the table a user writes first: a chained
 * hash table under one pthread_rwlock_t.  Both run in this one process, on
 * the same keys, one after the other, so the ratio is what matters.
 *
 * Workload: prefill N keys (default 1,000,000: 1..N mixed through a 64-bit
 * bijection, so they are not sequential), then for each thread count (default
 * 1 and 2) three timed phases of D seconds each (default 1.0):
 *   get    uniform random keys from the prefilled set (every get hits)
 *   put    overwrite existing keys with new values
 *   mixed  90% get / 10% put
 * Threads start together on a barrier.  Each thread has its own
 * chm_thread_join handle.  "chm" pins once per batch of 64 operations
 * (chm_pin/chm_unpin); "chm-unpinned" (gets only) lets every operation pin
 * itself, so the cost of per-op pinning is visible.
 *
 * usage: chm_vs_locked [-d SECONDS] [-n KEYS] [-t THREADS[,THREADS..]] [-o FILE.json]
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chm.h"

#define BATCH 64
#define MAX_THREADS 256

/* ---- keys ------------------------------------------------------------------ */

/* splitmix64's finalizer: a bijection on 64-bit words, so keys 1..N stay
 * distinct (and non-zero) after mixing. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The i-th key, i in [0, nkeys). */
static inline uint64_t key_of(uint64_t i)
{
    return mix64(i + 1);
}

/* xorshift64*: per-thread random index source */
typedef struct rng {
    uint64_t s;
} rng_t;

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* uniform in [0, n) by multiply-high */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the locked table ------------------------------------------------------------
 * A fixed power-of-two array of buckets sized for the key count (no resize),
 * singly linked nodes, one rwlock: get takes it shared, put exclusive. */

typedef struct lnode {
    uint64_t key, val;
    struct lnode *next;
} lnode_t;

typedef struct locked {
    pthread_rwlock_t lock;
    size_t mask;
    lnode_t **buckets;
} locked_t;

static size_t locked_bucket(const locked_t *l, uint64_t key)
{
    /* keys are already mixed, but the table must not rely on that */
    return (size_t)(mix64(key) & l->mask);
}

static locked_t *locked_new(size_t nkeys)
{
    locked_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    size_t n = 16;
    while (n < nkeys)
        n <<= 1;
    l->mask = n - 1;
    l->buckets = calloc(n, sizeof *l->buckets);
    if (l->buckets == NULL || pthread_rwlock_init(&l->lock, NULL) != 0) {
        free(l->buckets);
        free(l);
        return NULL;
    }
    return l;
}

static void locked_free(locked_t *l)
{
    for (size_t i = 0; i <= l->mask; i++) {
        lnode_t *n = l->buckets[i];
        while (n != NULL) {
            lnode_t *next = n->next;
            free(n);
            n = next;
        }
    }
    pthread_rwlock_destroy(&l->lock);
    free(l->buckets);
    free(l);
}

static bool locked_get(locked_t *l, uint64_t key, uint64_t *val)
{
    bool found = false;
    pthread_rwlock_rdlock(&l->lock);
    for (lnode_t *n = l->buckets[locked_bucket(l, key)]; n != NULL; n = n->next) {
        if (n->key == key) {
            *val = n->val;
            found = true;
            break;
        }
    }
    pthread_rwlock_unlock(&l->lock);
    return found;
}

/* Insert or overwrite; false only when out of memory. */
static bool locked_put(locked_t *l, uint64_t key, uint64_t val)
{
    bool ok = true;
    pthread_rwlock_wrlock(&l->lock);
    lnode_t **head = &l->buckets[locked_bucket(l, key)];
    lnode_t *n = *head;
    while (n != NULL && n->key != key)
        n = n->next;
    if (n != NULL) {
        n->val = val;
    } else if ((n = malloc(sizeof *n)) != NULL) {
        n->key = key;
        n->val = val;
        n->next = *head;
        *head = n;
    } else {
        ok = false;
    }
    pthread_rwlock_unlock(&l->lock);
    return ok;
}

/* ---- phases and maps ------------------------------------------------------------------ */

enum phase { PH_GET, PH_PUT, PH_MIXED, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {"get", "put", "mixed"};

enum map_kind { M_CHM, M_CHM_UNPINNED, M_LOCKED, M_COUNT };
static const char *const map_names[M_COUNT] = {"chm", "chm-unpinned", "locked"};

typedef struct bench {
    chm_t *chm;
    locked_t *locked;
    uint64_t nkeys;
    /* one run: */
    enum phase phase;
    enum map_kind map;
    pthread_barrier_t barrier;
    _Atomic bool stop;
} bench_t;

typedef struct worker {
    bench_t *b;
    pthread_t tid;
    unsigned id;
    uint64_t ops, misses;
    double end;
    bool failed; /* join or allocation failure */
} worker_t;

/* One batch of BATCH operations on libchm; returns the misses. */
static uint64_t chm_batch(bench_t *b, chm_thread_t *t, rng_t *r, bool pin,
                          uint64_t *seq)
{
    uint64_t misses = 0;
    uintptr_t v;
    if (pin)
        chm_pin(t);
    for (int i = 0; i < BATCH; i++) {
        uint64_t k = key_of(rng_below(r, b->nkeys));
        bool put = b->phase == PH_PUT ||
                   (b->phase == PH_MIXED && rng_below(r, 10) == 0);
        if (put) {
            /* an existing key: replaced, never inserted */
            if (chm_put(t, (uintptr_t)k, (uintptr_t)(k ^ ++*seq), NULL) != CHM_EXISTS)
                misses++;
        } else if (!chm_get(t, (uintptr_t)k, &v)) {
            misses++;
        }
    }
    if (pin)
        chm_unpin(t);
    return misses;
}

static uint64_t locked_batch(bench_t *b, rng_t *r, uint64_t *seq)
{
    uint64_t v, misses = 0;
    for (int i = 0; i < BATCH; i++) {
        uint64_t k = key_of(rng_below(r, b->nkeys));
        bool put = b->phase == PH_PUT ||
                   (b->phase == PH_MIXED && rng_below(r, 10) == 0);
        if (put) {
            if (!locked_put(b->locked, k, k ^ ++*seq))
                misses++;
        } else if (!locked_get(b->locked, k, &v)) {
            misses++;
        }
    }
    return misses;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_t *b = w->b;
    rng_t r = {mix64(0x5eed0000u + w->id) | 1};
    uint64_t seq = (uint64_t)w->id << 48;
    chm_thread_t *t = NULL;
    if (b->map != M_LOCKED) {
        t = chm_thread_join(b->chm);
        w->failed = t == NULL;
    }
    /* counters stay in registers/stack until the end: no false sharing */
    uint64_t ops = 0, misses = 0;
    pthread_barrier_wait(&b->barrier);
    if (!w->failed) {
        while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
            if (b->map == M_LOCKED)
                misses += locked_batch(b, &r, &seq);
            else
                misses += chm_batch(b, t, &r, b->map == M_CHM, &seq);
            ops += BATCH;
        }
    }
    w->end = now_s();
    w->ops = ops;
    w->misses = misses;
    if (t != NULL)
        chm_thread_leave(t);
    return NULL;
}

typedef struct result {
    unsigned threads;
    enum phase phase;
    enum map_kind map;
    uint64_t ops;
    double seconds, mops;
} result_t;

/* Run one (map, phase, threads) combination for `dur` seconds. */
static int run_one(bench_t *b, unsigned nthreads, double dur, result_t *res)
{
    worker_t w[MAX_THREADS];
    memset(w, 0, sizeof w);
    atomic_store_explicit(&b->stop, false, memory_order_relaxed);
    if (pthread_barrier_init(&b->barrier, NULL, nthreads + 1) != 0)
        return -1;
    for (unsigned i = 0; i < nthreads; i++) {
        w[i].b = b;
        w[i].id = i;
        int e = pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
        if (e != 0) {
            fprintf(stderr, "chm_vs_locked: pthread_create: %s\n", strerror(e));
            exit(3); /* the barrier would never open */
        }
    }
    pthread_barrier_wait(&b->barrier);
    double t0 = now_s();
    struct timespec ts = {(time_t)dur, (long)((dur - (double)(time_t)dur) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    atomic_store_explicit(&b->stop, true, memory_order_relaxed);
    uint64_t ops = 0, misses = 0;
    double end = t0;
    bool failed = false;
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(w[i].tid, NULL);
        ops += w[i].ops;
        misses += w[i].misses;
        if (w[i].end > end)
            end = w[i].end;
        failed |= w[i].failed;
    }
    pthread_barrier_destroy(&b->barrier);
    if (failed) {
        fprintf(stderr, "chm_vs_locked: chm_thread_join failed\n");
        return -1;
    }
    if (misses != 0) {
        fprintf(stderr,
                "chm_vs_locked: %s/%s/%u threads: %" PRIu64
                " operations missed a prefilled key\n",
                map_names[b->map], phase_names[b->phase], nthreads, misses);
        return -1;
    }
    res->threads = nthreads;
    res->phase = b->phase;
    res->map = b->map;
    res->ops = ops;
    res->seconds = end - t0;
    res->mops = (double)ops / res->seconds / 1e6;
    return 0;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: chm_vs_locked [-d SECONDS] [-n KEYS] [-t THREADS[,THREADS..]] "
            "[-o FILE.json]\n"
            "  -d SECONDS  duration of each timed phase (default 1.0)\n"
            "  -n KEYS     keys prefilled (default 1000000)\n"
            "  -t LIST     thread counts, comma-separated (default 1,2)\n"
            "  -o FILE     also write the results as JSON to FILE\n");
}

static double find_mops(const result_t *rs, size_t n, unsigned threads,
                        enum phase ph, enum map_kind m)
{
    for (size_t i = 0; i < n; i++)
        if (rs[i].threads == threads && rs[i].phase == ph && rs[i].map == m)
            return rs[i].mops;
    return 0.0;
}

int main(int argc, char **argv)
{
    double dur = 1.0;
    uint64_t nkeys = 1000000;
    unsigned threads[16] = {1, 2};
    size_t nthreads_list = 2;
    const char *out = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "d:n:t:o:h")) != -1) {
        char *end;
        switch (opt) {
        case 'd':
            dur = strtod(optarg, &end);
            if (*end != '\0' || !(dur > 0.0 && dur <= 3600.0)) {
                fprintf(stderr, "chm_vs_locked: -d %s: want seconds in (0, 3600]\n",
                        optarg);
                return 2;
            }
            break;
        case 'n':
            errno = 0;
            nkeys = strtoull(optarg, &end, 10);
            if (*end != '\0' || errno != 0 || nkeys == 0 || nkeys > (1ULL << 32)) {
                fprintf(stderr, "chm_vs_locked: -n %s: want a key count in [1, 2^32]\n",
                        optarg);
                return 2;
            }
            break;
        case 't': {
            nthreads_list = 0;
            const char *p = optarg;
            while (*p != '\0') {
                unsigned long v = strtoul(p, &end, 10);
                if (end == p || v == 0 || v > MAX_THREADS ||
                    nthreads_list == sizeof threads / sizeof threads[0] ||
                    (*end != ',' && *end != '\0')) {
                    fprintf(stderr,
                            "chm_vs_locked: -t %s: want up to 16 thread counts "
                            "in [1, %d], comma-separated\n",
                            optarg, MAX_THREADS);
                    return 2;
                }
                threads[nthreads_list++] = (unsigned)v;
                p = *end == ',' ? end + 1 : end;
            }
            if (nthreads_list == 0) {
                fprintf(stderr, "chm_vs_locked: -t: no thread count given\n");
                return 2;
            }
            break;
        }
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "chm_vs_locked: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    bench_t b;
    memset(&b, 0, sizeof b);
    b.nkeys = nkeys;
    b.chm = chm_new(NULL, 0); /* grows while prefilling, as a user's map would */
    b.locked = locked_new((size_t)nkeys);
    if (b.chm == NULL || b.locked == NULL) {
        fprintf(stderr, "chm_vs_locked: out of memory\n");
        return 3;
    }

    /* prefill both maps with the same keys */
    double t0 = now_s();
    chm_thread_t *mt = chm_thread_join(b.chm);
    if (mt == NULL) {
        fprintf(stderr, "chm_vs_locked: chm_thread_join: out of memory\n");
        return 3;
    }
    for (uint64_t i = 0; i < nkeys; i++) {
        uint64_t k = key_of(i);
        if (chm_put(mt, (uintptr_t)k, (uintptr_t)k, NULL) != CHM_OK ||
            !locked_put(b.locked, k, k)) {
            fprintf(stderr, "chm_vs_locked: prefill failed at key %" PRIu64 "\n", i);
            return 3;
        }
    }
    chm_thread_leave(mt);
    double prefill_s = now_s() - t0;
    if (chm_size(b.chm) != nkeys) {
        fprintf(stderr, "chm_vs_locked: chm_size %zu after prefilling %" PRIu64 " keys\n",
                chm_size(b.chm), nkeys);
        return 1;
    }

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("libchm %s vs a chained hash table under one pthread_rwlock_t\n", CHM_VERSION);
    printf("%" PRIu64 " keys prefilled into both in %.2f s; %.2f s per run; %ld cpus\n\n",
           nkeys, prefill_s, dur, ncpu);
    printf("%7s  %-5s  %12s  %15s  %13s  %10s\n", "threads", "phase", "chm Mops/s",
           "unpinned Mops/s", "locked Mops/s", "chm/locked");
    fflush(stdout);

    result_t results[16 * PH_COUNT * M_COUNT];
    size_t nres = 0;
    for (size_t ti = 0; ti < nthreads_list; ti++) {
        for (int ph = 0; ph < PH_COUNT; ph++) {
            for (int m = 0; m < M_COUNT; m++) {
                if (m == M_CHM_UNPINNED && ph != PH_GET)
                    continue;
                b.phase = (enum phase)ph;
                b.map = (enum map_kind)m;
                if (run_one(&b, threads[ti], dur, &results[nres]) != 0)
                    return 1;
                nres++;
            }
            double c = find_mops(results, nres, threads[ti], (enum phase)ph, M_CHM);
            double u = find_mops(results, nres, threads[ti], (enum phase)ph,
                                 M_CHM_UNPINNED);
            double l = find_mops(results, nres, threads[ti], (enum phase)ph, M_LOCKED);
            char ubuf[32];
            if (ph == PH_GET)
                snprintf(ubuf, sizeof ubuf, "%.2f", u);
            else
                snprintf(ubuf, sizeof ubuf, "-");
            printf("%7u  %-5s  %12.2f  %15s  %13.2f  %9.2fx\n", threads[ti],
                   phase_names[ph], c, ubuf, l, l > 0 ? c / l : 0.0);
            fflush(stdout);
        }
    }
    printf("\nchm: pins once per %d ops; unpinned: every get pins itself. "
           "Mops/s = million operations per second, all threads together.\n",
           BATCH);

    if (out != NULL) {
        FILE *f = fopen(out, "w");
        if (f == NULL) {
            fprintf(stderr, "chm_vs_locked: %s: %s\n", out, strerror(errno));
            return 3;
        }
        fprintf(f,
                "{\n  \"schema\": \"chm-microbench/1\",\n  \"libchm_version\": \"%s\",\n"
                "  \"cpus\": %ld,\n  \"keys\": %" PRIu64 ",\n  \"seconds_per_run\": %g,\n"
                "  \"batch\": %d,\n  \"prefill_seconds\": %.6f,\n  \"runs\": [\n",
                CHM_VERSION, ncpu, nkeys, dur, BATCH, prefill_s);
        for (size_t i = 0; i < nres; i++) {
            const result_t *r = &results[i];
            double l = find_mops(results, nres, r->threads, r->phase, M_LOCKED);
            fprintf(f,
                    "    {\"threads\": %u, \"phase\": \"%s\", \"map\": \"%s\", "
                    "\"ops\": %" PRIu64 ", \"seconds\": %.6f, \"mops\": %.4f, "
                    "\"ratio_vs_locked\": %.4f}%s\n",
                    r->threads, phase_names[r->phase], map_names[r->map], r->ops,
                    r->seconds, r->mops, l > 0 ? r->mops / l : 0.0,
                    i + 1 < nres ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
        if (fclose(f) != 0) {
            fprintf(stderr, "chm_vs_locked: %s: %s\n", out, strerror(errno));
            return 3;
        }
        printf("results written to %s\n", out);
    }

    chm_free(b.chm);
    locked_free(b.locked);
    return 0;
}
