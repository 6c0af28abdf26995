/*
 * chm_mutant_driver.c - a small program that exercises two paths of libchm
 * chmstress cannot reach (or cannot judge) with its count checks, for the
 * mutation tests (make mutants, scripts/mutants.sh).  Not one of the unit
 * tests (tests/test_*.c): it is built only against the mutant variants and
 * the unmodified library (build/mutant-NAME/driver).
 *
 *   chm_mutant_driver tree [-d SECONDS] [-r READERS]
 *       Tree bins.  chmstress's maps hash integer keys with a seeded XXH3,
 *       so a bin practically never collects the 8 entries (in a table of 64+
 *       bins) that make it a tree.  Here every key has the same hash: one
 *       tree bin in a table of 128 bins holds STABLE keys that are never
 *       removed, and a writer inserts and removes other keys of the same bin
 *       without pause (every change rebalances the tree under the bin's
 *       WRITER state).  Readers look the stable keys up: each must be found,
 *       with its value, every time.
 *
 *   chm_mutant_driver resize [-d SECONDS] [-r READERS]
 *       Reads during resizes.  A map starts at the default capacity with
 *       STABLE keys; a writer inserts many new keys, so the table doubles
 *       again and again, while readers look up the stable keys, which must be
 *       found every time - also in bins that have already moved (forwarding
 *       nodes).  chmstress's count checks only judge the values a read
 *       returns, not a read that wrongly says "absent"; its linearizability
 *       check does.  Rounds repeat on fresh maps until the time is up.
 *
 * Both modes watch every thread: one that makes no progress for 5 s (a
 * lookup or update that never returns) is a failure too.
 *
 * Exit status: 0 no violation; 1 a violation (described on stderr);
 * 2 bad usage, or the setup did not produce what the mode needs (no tree
 * bin, no resize); 3 out of memory or thread creation failed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chm.h"

#define MAX_READERS 16
#define STUCK_S 5.0

static const char *mode_name;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uintptr_t val_for(uintptr_t k)
{
    return k * 3 + 1;
}

/* A violation: report it and end the process at once (other threads may be
 * stuck in the map, so nobody is joined). */
static void fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "chm_mutant_driver %s: FAIL: %s\n", mode_name, msg);
    fflush(stderr);
    _exit(1);
}

static void die(int code, const char *what) __attribute__((noreturn));
static void die(int code, const char *what)
{
    fprintf(stderr, "chm_mutant_driver %s: %s\n", mode_name, what);
    exit(code);
}

/* xorshift64* */
static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* ---- shared run state --------------------------------------------------- */

typedef struct worker {
    _Alignas(64) pthread_t th;
    unsigned id;
    _Atomic uint64_t progress;  /* operations done; watched by main */
} worker;

static chm_t *map;
static _Atomic bool stop;
static uintptr_t stable_lo, stable_n, stable_step;
static worker readers[MAX_READERS], writer;
static unsigned nreaders;

/* Readers: every stable key must be present with its value. */
static void *reader_main(void *arg)
{
    worker *w = arg;
    chm_thread_t *t = chm_thread_join(map);
    if (t == NULL)
        die(3, "chm_thread_join: out of memory");
    uint64_t s = 0x9e3779b97f4a7c15ULL * (w->id + 1);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 64; i++) {
            uintptr_t k = stable_lo + (rnd(&s) % stable_n) * stable_step;
            uintptr_t v = 0;
            if (!chm_get(t, k, &v))
                fail("reader %u: get(%lu) said absent, but the key has been "
                     "present since before the readers started and is "
                     "never removed", w->id, (unsigned long)k);
            if (v != val_for(k))
                fail("reader %u: get(%lu) returned %lu, but the only value "
                     "ever written for it is %lu", w->id, (unsigned long)k,
                     (unsigned long)v, (unsigned long)val_for(k));
        }
        /* relaxed: a progress counter for the watchdog */
        atomic_fetch_add_explicit(&w->progress, 64, memory_order_relaxed);
    }
    chm_thread_leave(t);
    return NULL;
}

/* Start the readers and the writer, watch them until `done` says so (or
 * the deadline), then stop and join them. */
static void run_threads(void *(*writer_main)(void *), double deadline,
                        _Atomic bool *done)
{
    atomic_store(&stop, false);
    atomic_store(&writer.progress, 0);
    for (unsigned i = 0; i < nreaders; i++) {
        readers[i].id = i;
        atomic_store(&readers[i].progress, 0);
        if (pthread_create(&readers[i].th, NULL, reader_main, &readers[i]))
            die(3, "pthread_create failed");
    }
    if (pthread_create(&writer.th, NULL, writer_main, &writer))
        die(3, "pthread_create failed");
    uint64_t last[MAX_READERS + 1] = {0};
    double since[MAX_READERS + 1];
    for (unsigned i = 0; i <= nreaders; i++)
        since[i] = now_s();
    for (;;) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        double t = now_s();
        for (unsigned i = 0; i <= nreaders; i++) {
            worker *w = i < nreaders ? &readers[i] : &writer;
            uint64_t p = atomic_load_explicit(&w->progress,
                                              memory_order_relaxed);
            if (p != last[i]) {
                last[i] = p;
                since[i] = t;
            } else if (t - since[i] > STUCK_S) {
                fail("%s %u made no progress for %.0f s: an operation "
                     "that never returns", i < nreaders ? "reader" : "writer",
                     i < nreaders ? i : 0, STUCK_S);
            }
        }
        if (atomic_load(done) || t >= deadline)
            break;
    }
    atomic_store(&stop, true);
    for (unsigned i = 0; i < nreaders; i++)
        pthread_join(readers[i].th, NULL);
    pthread_join(writer.th, NULL);
}

/* ---- tree mode ------------------------------------------------------------ */

#define TREE_STABLE 32  /* even keys 2..64 */
#define TREE_CHURN 48   /* odd keys 1..95 */

static uint64_t same_hash(uintptr_t key, uint64_t seed)
{
    (void)key;
    (void)seed;
    return 0x2a; /* every key in bin 42 */
}

static int int_cmp(uintptr_t a, uintptr_t b)
{
    return a < b ? -1 : a > b;
}

static _Atomic bool never;

/* Insert or remove random churn keys (odd) of the one tree bin. */
static void *tree_writer(void *arg)
{
    worker *w = arg;
    chm_thread_t *t = chm_thread_join(map);
    if (t == NULL)
        die(3, "chm_thread_join: out of memory");
    uint64_t s = 0x1234567ULL;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 64; i++) {
            uintptr_t k = 1 + 2 * (rnd(&s) % TREE_CHURN);
            if (chm_remove(t, k, NULL) == CHM_NOT_FOUND &&
                chm_put(t, k, val_for(k), NULL) == CHM_ENOMEM)
                die(3, "chm_put: out of memory");
        }
        atomic_fetch_add_explicit(&w->progress, 64, memory_order_relaxed);
    }
    chm_thread_leave(t);
    return NULL;
}

static int run_tree(double seconds)
{
    static const chm_type ty = {.hash = same_hash, .cmp = int_cmp};
    map = chm_new(&ty, 64); /* 128 bins: trees are allowed (>= 64) */
    if (map == NULL)
        die(3, "chm_new: out of memory");
    chm_thread_t *t = chm_thread_join(map);
    if (t == NULL)
        die(3, "chm_thread_join: out of memory");
    stable_lo = 2;
    stable_step = 2;
    stable_n = TREE_STABLE;
    for (uintptr_t i = 0; i < stable_n; i++) {
        uintptr_t k = stable_lo + i * stable_step;
        if (chm_put(t, k, val_for(k), NULL) != CHM_OK)
            die(3, "prefill failed");
    }
    chm_stats_t st;
    chm_stats(map, &st);
    if (st.tree_bins != 1 || st.table_size < 64)
        die(2, "setup: the colliding keys did not make one tree bin");
    chm_thread_leave(t);

    double t0 = now_s();
    run_threads(tree_writer, t0 + seconds, &never);
    chm_stats(map, &st);
    uint64_t gets = 0;
    for (unsigned i = 0; i < nreaders; i++)
        gets += atomic_load(&readers[i].progress);
    printf("chm_mutant_driver tree: ok: %llu gets of %lu stable keys, %llu "
           "updates of one tree bin, %.1f s (tree bins now %zu, "
           "treeifications %llu)\n", (unsigned long long)gets,
           (unsigned long)stable_n, (unsigned long long)atomic_load(
               &writer.progress), now_s() - t0, st.tree_bins,
           (unsigned long long)st.treeifications);
    chm_free(map);
    return 0;
}

/* ---- resize mode ------------------------------------------------------------ */

#define RESIZE_STABLE 512          /* keys 1..512 */
#define RESIZE_GROW (1u << 17)     /* new keys per round */
#define RESIZE_FIRST 1000000u

static _Atomic bool round_done;

/* Insert fresh keys: the table doubles from 16 bins to 256k bins. */
static void *resize_writer(void *arg)
{
    worker *w = arg;
    chm_thread_t *t = chm_thread_join(map);
    if (t == NULL)
        die(3, "chm_thread_join: out of memory");
    for (uintptr_t k = RESIZE_FIRST; k < RESIZE_FIRST + RESIZE_GROW; k++) {
        if (atomic_load_explicit(&stop, memory_order_relaxed))
            break;
        if (chm_put_if_absent(t, k, val_for(k), NULL) == CHM_ENOMEM)
            die(3, "chm_put_if_absent: out of memory");
        if ((k & 63) == 0)
            atomic_fetch_add_explicit(&w->progress, 64, memory_order_relaxed);
    }
    atomic_store(&round_done, true);
    chm_thread_leave(t);
    return NULL;
}

static int run_resize(double seconds)
{
    double t0 = now_s(), deadline = t0 + seconds;
    uint64_t rounds = 0, resizes = 0, gets = 0;
    stable_lo = 1;
    stable_step = 1;
    stable_n = RESIZE_STABLE;
    do {
        map = chm_new(NULL, 0);
        if (map == NULL)
            die(3, "chm_new: out of memory");
        chm_thread_t *t = chm_thread_join(map);
        if (t == NULL)
            die(3, "chm_thread_join: out of memory");
        for (uintptr_t k = 1; k <= stable_n; k++)
            if (chm_put(t, k, val_for(k), NULL) != CHM_OK)
                die(3, "prefill failed");
        chm_thread_leave(t);
        chm_stats_t st0, st;
        chm_stats(map, &st0);
        atomic_store(&round_done, false);
        run_threads(resize_writer, deadline, &round_done);
        chm_stats(map, &st);
        resizes += st.resizes - st0.resizes;
        for (unsigned i = 0; i < nreaders; i++)
            gets += atomic_load(&readers[i].progress);
        chm_free(map);
        rounds++;
    } while (now_s() < deadline);
    if (resizes == 0)
        die(2, "setup: no resize happened");
    printf("chm_mutant_driver resize: ok: %llu gets of %lu stable keys during "
           "%llu resizes in %llu rounds, %.1f s\n", (unsigned long long)gets,
           (unsigned long)stable_n, (unsigned long long)resizes,
           (unsigned long long)rounds, now_s() - t0);
    return 0;
}

/* ---- main -------------------------------------------------------------------- */

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fprintf(stderr, "usage: chm_mutant_driver tree|resize [-d SECONDS] "
                    "[-r READERS (1..%d)]\n", MAX_READERS);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    mode_name = argv[1];
    double seconds = 5;
    nreaders = 1;
    for (int i = 2; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            errno = 0;
            seconds = strtod(argv[++i], &end);
            if (errno || *end || !(seconds > 0 && seconds <= 3600))
                usage();
        } else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            long r = strtol(argv[++i], &end, 10);
            if (*end || r < 1 || r > MAX_READERS)
                usage();
            nreaders = (unsigned)r;
        } else {
            usage();
        }
    }
    if (strcmp(mode_name, "tree") == 0)
        return run_tree(seconds);
    if (strcmp(mode_name, "resize") == 0)
        return run_resize(seconds);
    usage();
}
