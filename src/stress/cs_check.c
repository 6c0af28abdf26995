/*
 * cs_check.c - the count checks (DESIGN.md section 5, "Checks").
 *
 * While workers run, each keeps its own tally per key index: +1 for every
 * operation that inserted the key (put/put_if_absent/compute returning
 * INSERTED), -1 for every one that removed it.  Tallies are private to their
 * worker (plain int32 arrays, no sharing on the hot path) and summed only
 * after the workers have stopped.  For every key:
 *
 *     expected = (prefilled ? 1 : 0) + sum over workers of tally
 *
 * must be 0 or 1 (anything else means the map reported an insert or remove
 * that did not happen, or two inserts of one absent key), and must equal
 * whether the map holds the key at the end.  The map's size() must equal
 * the number of keys it holds.
 *
 * Value provenance: values encode (key tag, writer, sequence) (cs_value.c).
 * Every value an operation returns must carry its key's tag, come from a
 * writer that exists, and - checked on a sample of reads, since it reads
 * another thread's cache line - not be newer than the last sequence number
 * its writer published.  A writer publishes a sequence number (release)
 * before it stores a value carrying it; a reader loads it (acquire) after it
 * read the value, so a value that was really written always passes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cs.h"

/* One worker's tallies, zeroed, on huge pages when they are big, and
 * faulted in now.  Each successful update adds to a random key's tally, so
 * with 4 KiB pages nearly every one would miss the TLB (2^22 keys are 16
 * MiB, 4096 pages), and the page walk's cache misses would be charged to
 * the map being measured - more to a map whose own footprint already
 * crowds the caches.  Every page is faulted in here, before any clock
 * starts: left to fault on first use, a short phase over a big range
 * measured mostly the kernel zeroing pages (2000 ops over 2^24 keys ran at
 * 0.01 Mops/s).  A 2^28-key range pays for its GiB at start-up instead. */
#define CS_TALLY_HUGE ((size_t)2 << 20)

static size_t cs_tally_bytes(uint64_t range)
{
    size_t bytes = (size_t)range * sizeof(int32_t);
    return (bytes + CS_TALLY_HUGE - 1) & ~(CS_TALLY_HUGE - 1);
}

static int32_t *cs_tally_alloc(uint64_t range)
{
    size_t bytes = cs_tally_bytes(range);
    if (range * sizeof(int32_t) < CS_TALLY_HUGE)
        return calloc(range, sizeof(int32_t));
    /* a huge page more than needed, so an aligned start can be kept */
    char *p = mmap(NULL, bytes + CS_TALLY_HUGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *a = (char *)(((uintptr_t)p + CS_TALLY_HUGE - 1) &
                       ~(uintptr_t)(CS_TALLY_HUGE - 1));
    if (a > p)
        (void)munmap(p, (size_t)(a - p));
    (void)munmap(a + bytes, (size_t)(p + CS_TALLY_HUGE - a)); /* > 0 */
    (void)madvise(a, bytes, MADV_HUGEPAGE); /* advice: harmless if THP is off */
    /* Fault every page in.  The kernel does it (Linux 5.14+) without a
     * store from us - under ThreadSanitizer a memset of 256 MiB also
     * writes its shadow and took seconds; older kernels get the memset. */
#ifdef MADV_POPULATE_WRITE
    if (madvise(a, bytes, MADV_POPULATE_WRITE) == 0)
        return (int32_t *)a;
#endif
    memset(a, 0, bytes);
    return (int32_t *)a;
}

static void cs_tally_free(int32_t *tally, uint64_t range)
{
    if (tally == NULL)
        return;
    if (range * sizeof(int32_t) < CS_TALLY_HUGE)
        free(tally);
    else
        (void)munmap(tally, cs_tally_bytes(range));
}

int cs_checker_init(cs_checker *c, cs_check_mode mode, uint64_t range,
                    uint64_t prefilled, unsigned nthreads)
{
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->range = range;
    c->prefilled = prefilled;
    c->nthreads = nthreads;
    atomic_init(&c->bad_values, 0);
    atomic_init(&c->nevidence, 0);
    c->pub = calloc(nthreads, sizeof *c->pub);
    if (c->pub == NULL)
        return CS_EXIT_RESOURCE;
    if (mode == CS_CHECK_NONE)
        return CS_EXIT_OK;
    double bytes = (double)range * nthreads * sizeof(int32_t);
    if (bytes > 8e9) {
        fprintf(stderr, "chmstress: count checks need %.1f GB of tallies "
                "(%llu keys x %u threads); use a smaller key range, fewer "
                "threads, or --check none\n", bytes / 1e9,
                (unsigned long long)range, nthreads);
        return CS_EXIT_USAGE;
    }
    c->tally = calloc(nthreads, sizeof *c->tally);
    if (c->tally == NULL)
        return CS_EXIT_RESOURCE;
    for (unsigned t = 0; t < nthreads; t++) {
        c->tally[t] = cs_tally_alloc(range);
        if (c->tally[t] == NULL)
            return CS_EXIT_RESOURCE;
    }
    return CS_EXIT_OK;
}

void cs_checker_destroy(cs_checker *c)
{
    if (c->tally != NULL)
        for (unsigned t = 0; t < c->nthreads; t++)
            cs_tally_free(c->tally[t], c->range);
    free(c->tally);
    free(c->pub);
    memset(c, 0, sizeof *c);
}

static void cs_checker_evidence(cs_checker *c, const char *text)
{
    /* relaxed: a slot counter; the texts are read after the threads join */
    int i = atomic_fetch_add_explicit(&c->nevidence, 1, memory_order_relaxed);
    if (i < 8)
        snprintf(c->evidence[i], sizeof c->evidence[i], "%s", text);
}

void cs_checker_value(cs_checker *c, uint64_t key_index, uint64_t value,
                      const char *op, bool check_seq)
{
    char msg[256];
    unsigned w = cs_value_writer(value);
    uint64_t seq = cs_value_seq(value);
    const char *why = NULL;
    if (!cs_value_key_ok(value, key_index))
        why = "carries another key's tag: never written for this key";
    else if (w == CS_PREFILL_WRITER && seq != key_index + 1)
        why = "claims the prefill but not this key's prefill value";
    else if (w != CS_PREFILL_WRITER && w >= c->nthreads)
        why = "names a writer thread that does not exist";
    else if (w != CS_PREFILL_WRITER && check_seq &&
             /* acquire: pairs with the writer's release publication */
             seq > atomic_load_explicit(&c->pub[w].seq, memory_order_acquire))
        why = "is newer than anything its writer has written";
    if (why == NULL)
        return;
    atomic_fetch_add_explicit(&c->bad_values, 1, memory_order_relaxed);
    snprintf(msg, sizeof msg,
             "value provenance: %s on key #%llu (key 0x%016llx) returned "
             "0x%016llx (writer %u, seq %llu), which %s",
             op, (unsigned long long)key_index,
             (unsigned long long)cs_key_of(key_index),
             (unsigned long long)value, w, (unsigned long long)seq, why);
    cs_checker_evidence(c, msg);
}

/* Expected presence of key i from the tallies; false if impossible. */
static bool cs_checker_expected(const cs_checker *c, uint64_t i, int64_t *net)
{
    int64_t e = i < c->prefilled ? 1 : 0;
    for (unsigned t = 0; t < c->nthreads; t++)
        e += c->tally[t][i];
    *net = e;
    return e == 0 || e == 1;
}

static void cs_check_key(cs_checker *c, const cs_backend *be, void *tctx,
                         uint64_t i, cs_check_result *out)
{
    uint64_t v = 0;
    int64_t net;
    bool ok = cs_checker_expected(c, i, &net);
    bool present = be->get(tctx, cs_key_of(i), &v);
    out->keys_checked++;
    if (present) {
        out->present++;
        out->values_checked++;
        cs_checker_value(c, i, v, "final get", true);
    }
    if (ok && (net == 1) == present)
        return;
    out->violations++;
    if (out->nevidence >= 8)
        return;
    snprintf(out->evidence[out->nevidence++], sizeof out->evidence[0],
             "conservation: key #%llu (key 0x%016llx): prefill %d + "
             "inserts - removes by all threads = %lld, %s; the map %s",
             (unsigned long long)i, (unsigned long long)cs_key_of(i),
             i < c->prefilled ? 1 : 0, (long long)net,
             !ok ? "which is impossible (a key is held 0 or 1 times)"
                 : net == 1 ? "so it should be present"
                            : "so it should be absent",
             present ? "holds it" : "does not hold it");
}

void cs_checker_final(cs_checker *c, const cs_backend *be, void *map,
                      cs_check_result *out)
{
    out->ran = true;
    void *tctx = be->thread_join(map);
    if (tctx == NULL) {
        out->passed = false;
        snprintf(out->evidence[out->nevidence++], sizeof out->evidence[0],
                 "could not join the map to check it");
        return;
    }
    for (uint64_t i = 0; i < c->range; i++) {
        cs_check_key(c, be, tctx, i, out);
        /* a check of 2^32 keys takes minutes: SIGINT stops it, and an
         * unfinished check gives no verdict (ran = false) */
        if ((i & 4095) == 4095 &&
            atomic_load_explicit(&cs_interrupted, memory_order_relaxed)) {
            out->ran = false;
            break;
        }
    }
    be->thread_leave(tctx);
    if (!out->ran)
        return;
    out->size_reported = be->size(map);
    if (out->size_reported != out->present) {
        out->violations++;
        if (out->nevidence < 8)
            snprintf(out->evidence[out->nevidence++], sizeof out->evidence[0],
                     "size: the map's size() says %llu but it holds %llu "
                     "keys of the key range",
                     (unsigned long long)out->size_reported,
                     (unsigned long long)out->present);
    }
    uint64_t bad = atomic_load_explicit(&c->bad_values, memory_order_relaxed);
    out->violations += bad;
    int n = atomic_load_explicit(&c->nevidence, memory_order_relaxed);
    for (int i = 0; i < n && i < 8 && out->nevidence < 8; i++)
        snprintf(out->evidence[out->nevidence++], sizeof out->evidence[0],
                 "%s", c->evidence[i]);
    out->passed = out->violations == 0;
}
