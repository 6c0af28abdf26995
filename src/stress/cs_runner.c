/*
 * cs_runner.c - runs a configuration: for every map x thread count x repeat,
 * a fresh map is prefilled, then the phases run one after another on the
 * same worker threads, then the checks.
 *
 * Workers start each phase together on a barrier and run batches of
 * CS_BATCH operations, each batch bracketed by the backend's batch_begin /
 * batch_end (libchm: one epoch pin per batch).  A phase ends when its
 * duration is up (the main thread sets `stop`) or its operation budget is
 * spent (workers claim budget a batch at a time).  Everything a worker
 * counts lives in its own cache-line-aligned struct and is read by the main
 * thread only after the phase's closing barrier - except ops_done, which
 * the main thread samples every 100 ms for the timeline and progress line
 * (relaxed atomics: a statistic).
 *
 * Latency is timed on a sample of operations (every k-th, k = 1 /
 * latency_sample) so clock reads stay a small part of the harness cost.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cs.h"
#include "cs_lin.h"

#define CS_BATCH 64
#define CS_TICK_S 0.1

volatile _Atomic int cs_interrupted;

static double cs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t cs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread (not counting time it was preempted). */
static uint64_t cs_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct cs_runctx cs_runctx;

typedef struct cs_worker {
    _Alignas(64) pthread_t th;
    unsigned id;
    cs_runctx *rc;
    void *tctx;
    cs_keycursor cur;
    cs_rng rng;
    uint64_t seq;
    uint64_t sample_every, sample_left;
    cs_op_stats op[CS_OP_COUNT];
    cs_lin_op *hist;          /* recorded history (--check linearizability) */
    size_t nhist, caphist;
    _Alignas(64) _Atomic uint64_t ops_done; /* sampled by the main thread */
    uint64_t cpu_ns;          /* CPU time of the last phase (the closing
                               * barrier publishes it to the main thread) */
    bool failed;
} cs_worker;

struct cs_runctx {
    const cs_config *cfg;
    const cs_backend *be;
    void *map;
    unsigned nthreads;
    cs_keygen kg;
    cs_checker chk;
    uint8_t op_table[100];      /* percent -> op, for the current phase */
    const cs_phase *phase;
    int phase_index;            /* -1: prefill */
    pthread_barrier_t start, end;
    _Atomic bool stop, quit;
    _Atomic unsigned finished;  /* workers done with this phase (prefill) */
    _Atomic int64_t budget;     /* op-count phases */
    _Atomic uint64_t latest;    /* inserted keys, for the latest dist. */
    cs_worker *w;
    /* history recording: keys idx % lin_stride == 0 (lin_keys of them),
     * while `recording`; a worker that cannot fit a whole batch sets
     * lin_capped and ends the phase, and recording stops for good */
    bool recording;
    uint64_t lin_stride;
    size_t lin_cap;             /* ops per worker */
    _Atomic bool lin_capped;
};

/* What an operation did, for the history. */
typedef struct cs_opres {
    cs_res res;
    uint64_t arg, expect, out;
    bool skip;                  /* nothing to record (a conditional op whose
                                   read found the key absent) */
} cs_opres;

/* ---- one operation ------------------------------------------------------ */

static uint64_t cs_new_value(cs_worker *w, uint64_t idx)
{
    uint64_t v = cs_value_make(idx, w->id, ++w->seq);
    /* release: a reader that sees this value (via the map) and then loads
     * the published sequence sees at least this one. */
    atomic_store_explicit(&w->rc->chk.pub[w->id].seq, w->seq,
                          memory_order_release);
    return v;
}

static void cs_tally(cs_worker *w, uint64_t idx, int d)
{
    if (w->rc->chk.tally != NULL)
        w->rc->chk.tally[w->id][idx] += d;
}

/* The key index for op: as the generator says, except that with the latest
 * distribution an insert adds the next new key (YCSB workload D). */
static uint64_t cs_pick_key(cs_worker *w, cs_op op)
{
    cs_runctx *rc = w->rc;
    if (op == CS_OP_PUT_IF_ABSENT && rc->kg.ks.dist == CS_DIST_LATEST) {
        /* relaxed: a counter; its readers only need some recent value */
        uint64_t n = atomic_load_explicit(&rc->latest, memory_order_relaxed);
        if (n < rc->kg.ks.range)
            return atomic_fetch_add_explicit(&rc->latest, 1,
                                             memory_order_relaxed) %
                   rc->kg.ks.range;
    }
    return cs_keygen_next(&rc->kg, &w->cur);
}

static void cs_seen(cs_worker *w, uint64_t idx, uint64_t v, const char *op)
{
    if (w->rc->chk.mode != CS_CHECK_NONE)
        cs_checker_value(&w->rc->chk, idx, v, op, (w->seq & 15) == 0);
}

/* An update's outcome: tallies, provenance of the old value, hit/miss. */
static bool cs_outcome(cs_worker *w, uint64_t idx, cs_opres *o,
                       const char *op)
{
    switch (o->res) {
    case CS_R_INSERTED:
        cs_tally(w, idx, +1);
        o->out = 0;
        return false;
    case CS_R_REMOVED:
        cs_tally(w, idx, -1);
        cs_seen(w, idx, o->out, op);
        return true;
    case CS_R_REPLACED:
    case CS_R_EXISTS:
        cs_seen(w, idx, o->out, op);
        return true;
    case CS_R_MISMATCH:
        o->out = 0;
        return true;
    default:
        o->out = 0;
        return false;
    }
}

/* A read before a conditional update: false (and nothing to record) when
 * the key is absent. */
static bool cs_read_expect(cs_worker *w, uint64_t key, cs_opres *o)
{
    if (w->rc->be->get(w->tctx, key, &o->expect))
        return true;
    o->skip = true;
    return false;
}

/* Run one operation; o says what it did.  Each update's result is stored
 * before o->out is read (the order in which a call's arguments are
 * evaluated is unspecified in C). */
static bool cs_do_op(cs_worker *w, cs_op op, uint64_t idx, cs_opres *o)
{
    const cs_backend *be = w->rc->be;
    void *t = w->tctx;
    uint64_t key = cs_key_of(idx);
    switch (op) {
    case CS_OP_GET:
        if (!be->get(t, key, &o->out)) {
            o->res = CS_R_NOT_FOUND;
            return false;
        }
        o->res = CS_R_EXISTS;
        cs_seen(w, idx, o->out, "get");
        return true;
    case CS_OP_PUT:
        o->arg = cs_new_value(w, idx);
        o->res = be->put(t, key, o->arg, &o->out);
        return cs_outcome(w, idx, o, "put");
    case CS_OP_PUT_IF_ABSENT:
        o->arg = cs_new_value(w, idx);
        o->res = be->put_if_absent(t, key, o->arg, &o->out);
        return cs_outcome(w, idx, o, "put_if_absent");
    case CS_OP_REPLACE:
        o->arg = cs_new_value(w, idx);
        o->res = be->replace(t, key, o->arg, &o->out);
        return cs_outcome(w, idx, o, "replace");
    case CS_OP_REPLACE_IF:
        if (!cs_read_expect(w, key, o))
            return false;
        o->arg = cs_new_value(w, idx);
        o->res = be->replace_if(t, key, o->expect, o->arg);
        o->out = o->expect;
        return cs_outcome(w, idx, o, "replace_if");
    case CS_OP_REMOVE:
        o->res = be->remove(t, key, &o->out);
        return cs_outcome(w, idx, o, "remove");
    case CS_OP_REMOVE_IF:
        if (!cs_read_expect(w, key, o))
            return false;
        o->arg = o->expect;
        o->res = be->remove_if(t, key, o->expect);
        o->out = o->expect;
        return cs_outcome(w, idx, o, "remove_if");
    case CS_OP_COMPUTE:
        o->arg = cs_new_value(w, idx);
        o->res = be->compute(t, key, o->arg, &o->out);
        return cs_outcome(w, idx, o, "compute");
    case CS_OP_SCAN:
        o->skip = true;
        return be->scan(t, key, key + (1u << 20), 100) > 0;
    case CS_OP_SIZE:
        o->skip = true;
        return be->size(w->rc->map) > 0;
    case CS_OP_ITERATE:
        o->skip = true;
        return be->iterate(t, NULL, NULL) > 0;
    default:
        o->skip = true;
        return false;
    }
}

/* A full fence around a recorded operation.  GCC rejects
 * atomic_thread_fence under -fsanitize=thread; there a seq_cst
 * read-modify-write stands in (a full barrier on x86 as well). */
static inline void cs_full_fence(void)
{
#if defined(__SANITIZE_THREAD__)
    static _Thread_local _Atomic int cs_fence_word;
    atomic_fetch_add_explicit(&cs_fence_word, 0, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

static bool cs_recorded_key(const cs_runctx *rc, uint64_t idx)
{
    return rc->recording && idx % rc->lin_stride == 0;
}

/* Append a completed op to the worker's history (room was ensured before
 * the batch started). */
static void cs_record(cs_worker *w, cs_op op, uint64_t idx, const cs_opres *o,
                      uint64_t t0, uint64_t t1)
{
    cs_lin_op *h = &w->hist[w->nhist++];
    h->key = idx;
    h->call_ns = t0;
    h->ret_ns = t1;
    h->arg = o->arg;
    h->expect = o->expect;
    h->out = o->out;
    h->op = (uint8_t)op;
    h->res = (uint8_t)o->res;
    h->thread = (uint16_t)w->id;
}

static void cs_timed_op(cs_worker *w, cs_op op, uint64_t idx)
{
    cs_op_stats *s = &w->op[op];
    cs_opres o = { CS_R_ERROR, 0, 0, 0, false };
    bool record = cs_recorded_key(w->rc, idx);
    bool sample = --w->sample_left == 0;
    bool hit;
    if (sample || record) {
        if (sample)
            w->sample_left = w->sample_every;
        uint64_t t0 = cs_now_ns();
        /* seq_cst fences: the interval [t0, t1] contains every memory
         * access of the operation, so its linearization point too */
        cs_full_fence();
        hit = cs_do_op(w, op, idx, &o);
        cs_full_fence();
        uint64_t t1 = cs_now_ns();
        if (sample)
            cs_hist_add(&s->lat, t1 - t0);
        if (record && !o.skip)
            cs_record(w, op, idx, &o, t0, t1);
    } else {
        hit = cs_do_op(w, op, idx, &o);
    }
    s->ops++;
    if (hit)
        s->hits++;
    else
        s->misses++;
}

/* ---- phases ------------------------------------------------------------ */

static void cs_run_batch(cs_worker *w, unsigned n)
{
    cs_runctx *rc = w->rc;
    if (rc->be->batch_begin != NULL)
        rc->be->batch_begin(w->tctx);
    for (unsigned i = 0; i < n; i++) {
        cs_op op = (cs_op)rc->op_table[cs_rng_below(&w->rng, 100)];
        cs_timed_op(w, op, cs_pick_key(w, op));
    }
    if (rc->be->batch_end != NULL)
        rc->be->batch_end(w->tctx);
}

/* Room in the history for a whole batch, or end the phase: a recorded
 * history must hold every operation on its keys, so a batch starts only
 * when all of it can be recorded, and once one worker cannot, every worker
 * stops at the end of its current batch (which it has room for). */
static bool cs_history_room(cs_worker *w)
{
    cs_runctx *rc = w->rc;
    size_t need = w->nhist + CS_BATCH;
    if (need <= w->caphist)
        return true;
    if (need <= rc->lin_cap) {
        size_t cap = w->caphist ? w->caphist * 2 : 4096;
        cap = cap < need ? need : cap > rc->lin_cap ? rc->lin_cap : cap;
        cs_lin_op *h = realloc(w->hist, cap * sizeof *h);
        if (h != NULL) {
            w->hist = h;
            w->caphist = cap;
            return true;
        }
    }
    atomic_store_explicit(&rc->lin_capped, true, memory_order_relaxed);
    atomic_store_explicit(&rc->stop, true, memory_order_relaxed);
    return false;
}

/* noinline: one call per phase, and profilers can select the measured work
 * with it (valgrind --tool=callgrind --toggle-collect=cs_run_phase). */
__attribute__((noinline)) static void cs_run_phase(cs_worker *w)
{
    cs_runctx *rc = w->rc;
    bool counted = rc->phase->ops > 0;
    uint64_t done = 0, cpu0 = cs_thread_cpu_ns();
    /* relaxed: `stop` only ends the loop; the closing barrier orders
     * everything the main thread reads afterwards. */
    while (!atomic_load_explicit(&rc->stop, memory_order_relaxed)) {
        if (rc->recording && !cs_history_room(w))
            break;
        unsigned n = CS_BATCH;
        if (counted) {
            int64_t left = atomic_fetch_sub_explicit(&rc->budget, CS_BATCH,
                                                     memory_order_relaxed);
            if (left <= 0)
                break;
            if (left < CS_BATCH)
                n = (unsigned)left;
        }
        cs_run_batch(w, n);
        done += n;
        atomic_store_explicit(&w->ops_done, done, memory_order_relaxed);
        if (atomic_load_explicit(&cs_interrupted, memory_order_relaxed))
            break;
    }
    w->cpu_ns = cs_thread_cpu_ns() - cpu0;
}

/* The prefill: keys [0, prefilled) inserted by all workers, interleaved.
 * Every CS_PREFILL_CHUNK keys the batch is renewed (so garbage can be
 * reclaimed) and SIGINT is polled: a prefill of millions of keys takes
 * seconds (minutes on a slow map), and nothing else watches it - the main
 * thread just waits for the workers (cs_wait_finished).  An interrupted prefill leaves
 * a partial map; cs_run_phases then runs no phase and the map is not
 * checked. */
#define CS_PREFILL_CHUNK 4096

static void cs_run_prefill(cs_worker *w)
{
    cs_runctx *rc = w->rc;
    const cs_backend *be = rc->be;
    uint64_t n = rc->chk.prefilled, done = 0;
    if (be->batch_begin != NULL)
        be->batch_begin(w->tctx);
    for (uint64_t i = w->id; i < n; i += rc->nthreads) {
        uint64_t v = cs_value_make(i, CS_PREFILL_WRITER, i + 1), cur;
        cs_res r = be->put_if_absent(w->tctx, cs_key_of(i), v, &cur);
        if (r != CS_R_INSERTED && r != CS_R_EXISTS)
            w->failed = true;
        if (++done % CS_PREFILL_CHUNK != 0)
            continue;
        if (atomic_load_explicit(&cs_interrupted, memory_order_relaxed))
            break;
        if (be->batch_end != NULL) {
            be->batch_end(w->tctx); /* let garbage be reclaimed */
            be->batch_begin(w->tctx);
        }
    }
    if (be->batch_end != NULL)
        be->batch_end(w->tctx);
    atomic_store_explicit(&w->ops_done, done, memory_order_relaxed);
}

static void *cs_worker_main(void *arg)
{
    cs_worker *w = arg;
    cs_runctx *rc = w->rc;
    w->tctx = rc->be->thread_join(rc->map);
    w->failed = w->tctx == NULL;
    for (;;) {
        pthread_barrier_wait(&rc->start);
        if (atomic_load_explicit(&rc->quit, memory_order_relaxed))
            break;
        if (!w->failed) {
            if (rc->phase_index < 0)
                cs_run_prefill(w);
            else
                cs_run_phase(w);
        }
        /* relaxed: only tells the main thread when to go to the barrier,
         * which is what orders everything this worker did */
        atomic_fetch_add_explicit(&rc->finished, 1, memory_order_relaxed);
        pthread_barrier_wait(&rc->end);
    }
    if (w->tctx != NULL)
        rc->be->thread_leave(w->tctx);
    return NULL;
}

/* ---- the main thread's side -------------------------------------------- */

static uint64_t cs_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t cs_ops_so_far(cs_runctx *rc)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < rc->nthreads; i++)
        s += atomic_load_explicit(&rc->w[i].ops_done, memory_order_relaxed);
    return s;
}

static int cs_timeline_add(cs_run *run, cs_runctx *rc, double t,
                           uint64_t *last_ops, double *last_t)
{
    if (run->ntimeline % 64 == 0) {
        cs_timeline_point *p = realloc(run->timeline,
                                       (run->ntimeline + 64) * sizeof *p);
        if (p == NULL)
            return CS_EXIT_RESOURCE;
        run->timeline = p;
    }
    cs_timeline_point *p = &run->timeline[run->ntimeline++];
    memset(p, 0, sizeof *p);
    cs_map_stats st;
    memset(&st, 0, sizeof st);
    if (rc->be->stats != NULL)
        rc->be->stats(rc->map, &st);
    uint64_t ops = cs_ops_so_far(rc);
    p->t = t;
    p->ops = ops;
    p->mops = t > *last_t ? (double)(ops - *last_ops) / (t - *last_t) / 1e6 : 0;
    p->table_size = st.table_size;
    p->resizes = st.resizes;
    p->pending_garbage = st.pending_garbage;
    p->size = st.size;
    p->rss_bytes = cs_rss_bytes();
    *last_ops = ops;
    *last_t = t;
    return CS_EXIT_OK;
}

static void cs_progress(const cs_runctx *rc, const cs_run *run, double t)
{
    if (rc->cfg->quiet || !isatty(STDERR_FILENO))
        return;
    const cs_phase *ph = rc->phase;
    double mops = run->ntimeline ? run->timeline[run->ntimeline - 1].mops : 0;
    if (ph->ops > 0)
        fprintf(stderr, "\r%-8s %3u thr  %-10s %6.1f s  %10llu/%llu ops  "
                "%8.2f Mops/s   ", run->map, run->threads, ph->name, t,
                (unsigned long long)cs_ops_so_far((cs_runctx *)rc),
                (unsigned long long)ph->ops, mops);
    else
        fprintf(stderr, "\r%-8s %3u thr  %-10s %6.1f/%.1f s  %8.2f Mops/s   ",
                run->map, run->threads, ph->name, t, ph->duration_s, mops);
    fflush(stderr);
}

/* Wait for the phase to end, sampling the timeline every CS_TICK_S (the
 * caller took the point at t = 0). */
static int cs_watch_phase(cs_runctx *rc, cs_run *run, double t0)
{
    uint64_t last_ops = 0;
    double last_t = 0;
    const cs_phase *ph = rc->phase;
    for (;;) {
        double left = ph->ops > 0 ? CS_TICK_S
                                  : t0 + ph->duration_s - cs_now();
        if (left > CS_TICK_S)
            left = CS_TICK_S;
        if (left > 0) {
            struct timespec ts = { 0, (long)(left * 1e9) };
            nanosleep(&ts, NULL);
        }
        double t = cs_now() - t0;
        if (cs_timeline_add(run, rc, t, &last_ops, &last_t) != CS_EXIT_OK)
            return CS_EXIT_RESOURCE;
        cs_progress(rc, run, t);
        bool over = ph->ops > 0
            ? atomic_load_explicit(&rc->budget, memory_order_relaxed) <= 0
            : t >= ph->duration_s;
        if (over || atomic_load_explicit(&cs_interrupted, memory_order_relaxed))
            return CS_EXIT_OK;
        if (ph->ops > 0 && cs_ops_so_far(rc) >= ph->ops)
            return CS_EXIT_OK;
    }
}

static void cs_set_mix(cs_runctx *rc, const cs_phase *ph)
{
    int k = 0;
    for (int op = 0; op < CS_OP_COUNT; op++)
        for (unsigned i = 0; i < ph->mix[op] && k < 100; i++)
            rc->op_table[k++] = (uint8_t)op;
    while (k < 100)
        rc->op_table[k++] = CS_OP_GET;
}

static void cs_reset_workers(cs_runctx *rc)
{
    for (unsigned i = 0; i < rc->nthreads; i++) {
        cs_worker *w = &rc->w[i];
        memset(w->op, 0, sizeof w->op);
        for (int op = 0; op < CS_OP_COUNT; op++)
            cs_hist_init(&w->op[op].lat);
        atomic_store_explicit(&w->ops_done, 0, memory_order_relaxed);
        w->cpu_ns = 0;
    }
}

static void cs_collect(cs_runctx *rc, cs_run *run, double seconds)
{
    run->seconds = seconds;
    uint64_t cpu_ns = 0;
    for (unsigned i = 0; i < rc->nthreads; i++)
        cpu_ns += rc->w[i].cpu_ns;
    run->cpu_seconds = (double)cpu_ns * 1e-9;
    for (unsigned i = 0; i < rc->nthreads; i++)
        for (int op = 0; op < CS_OP_COUNT; op++) {
            cs_op_stats *d = &run->op[op], *s = &rc->w[i].op[op];
            d->ops += s->ops;
            d->hits += s->hits;
            d->misses += s->misses;
            cs_hist_merge(&d->lat, &s->lat);
        }
    for (int op = 0; op < CS_OP_COUNT; op++)
        run->total_ops += run->op[op].ops;
    run->mops = seconds > 0 ? (double)run->total_ops / seconds / 1e6 : 0;
    run->mops_cpu = run->cpu_seconds > 0
        ? (double)run->total_ops / run->cpu_seconds / 1e6 : 0;
    if (rc->be->stats != NULL)
        rc->be->stats(rc->map, &run->stats_end);
    run->interrupted = atomic_load_explicit(&cs_interrupted,
                                            memory_order_relaxed) != 0;
}

/* Until every worker has finished the phase: sleep in short steps, so that
 * SIGINT's handler runs promptly on this thread (under ThreadSanitizer a
 * handler runs only inside calls TSan intercepts, like nanosleep - not
 * inside pthread_barrier_wait). */
static void cs_wait_finished(cs_runctx *rc)
{
    const struct timespec step = { 0, 2000000 }; /* 2 ms */
    /* relaxed: see cs_worker_main */
    while (atomic_load_explicit(&rc->finished, memory_order_relaxed) <
           rc->nthreads)
        nanosleep(&step, NULL);
}

/* Run phase `pi` (-1: prefill) on the workers; fills run (may be NULL). */
static int cs_phase_once(cs_runctx *rc, int pi, cs_run *run)
{
    static const cs_phase prefill = { .name = "prefill", .ops = 1 };
    rc->phase_index = pi;
    rc->phase = pi < 0 ? &prefill : &rc->cfg->phases[pi];
    if (pi >= 0)
        cs_set_mix(rc, rc->phase);
    cs_reset_workers(rc);
    atomic_store_explicit(&rc->stop, false, memory_order_relaxed);
    /* relaxed: the start barrier publishes it to the workers */
    atomic_store_explicit(&rc->finished, 0, memory_order_relaxed);
    atomic_store_explicit(&rc->budget, (int64_t)rc->phase->ops,
                          memory_order_relaxed);
    /* The point at t = 0 is taken before the workers are released: the
     * table as this phase found it, however fast the phase then runs. */
    uint64_t zero_ops = 0;
    double zero_t = 0;
    if (run != NULL) /* out of memory here only loses the point */
        (void)cs_timeline_add(run, rc, 0, &zero_ops, &zero_t);
    pthread_barrier_wait(&rc->start);
    double t0 = cs_now();
    int rcode = CS_EXIT_OK;
    if (run != NULL)
        rcode = cs_watch_phase(rc, run, t0);
    else
        cs_wait_finished(rc);
    atomic_store_explicit(&rc->stop, true, memory_order_relaxed);
    pthread_barrier_wait(&rc->end);
    double secs = cs_now() - t0;
    if (run != NULL)
        cs_collect(rc, run, secs);
    if (atomic_load_explicit(&rc->lin_capped, memory_order_relaxed))
        rc->recording = false; /* the history ends with this phase */
    for (unsigned i = 0; i < rc->nthreads; i++)
        if (rc->w[i].failed)
            return CS_EXIT_RESOURCE;
    return rcode;
}

/* ---- the resizer thread (resize-storm) ------------------------------------ */

typedef struct cs_resizer {
    pthread_t th;
    cs_runctx *rc;
    _Atomic bool stop;
    uint64_t calls;
} cs_resizer;

static void *cs_resizer_main(void *arg)
{
    cs_resizer *r = arg;
    cs_runctx *rc = r->rc;
    void *t = rc->be->thread_join(rc->map);
    if (t == NULL)
        return NULL;
    uint64_t cap = 2 * rc->cfg->keys.range;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        size_t n = rc->be->size(rc->map) * 2 + 1024;
        rc->be->reserve(t, n < cap ? n : cap);
        r->calls++;
        double ms = rc->cfg->resizer_interval_ms;
        struct timespec ts = { (time_t)(ms / 1000),
                               (long)((ms - 1000.0 * (time_t)(ms / 1000)) * 1e6) };
        nanosleep(&ts, NULL);
    }
    rc->be->thread_leave(t);
    return NULL;
}

/* ---- one map x threads x repeat ---------------------------------------- */

static cs_run *cs_report_new_run(cs_report *rep)
{
    if (rep->nruns == rep->cap_runs) {
        size_t cap = rep->cap_runs ? rep->cap_runs * 2 : 16;
        cs_run *r = realloc(rep->runs, cap * sizeof *r);
        if (r == NULL)
            return NULL;
        rep->runs = r;
        rep->cap_runs = cap;
    }
    cs_run *run = &rep->runs[rep->nruns++];
    memset(run, 0, sizeof *run);
    for (int op = 0; op < CS_OP_COUNT; op++)
        cs_hist_init(&run->op[op].lat);
    return run;
}

static cs_check_result *cs_report_new_check(cs_report *rep)
{
    if (rep->nchecks == rep->cap_checks) {
        size_t cap = rep->cap_checks ? rep->cap_checks * 2 : 8;
        cs_check_result *c = realloc(rep->checks, cap * sizeof *c);
        if (c == NULL)
            return NULL;
        rep->checks = c;
        rep->cap_checks = cap;
    }
    cs_check_result *c = &rep->checks[rep->nchecks++];
    memset(c, 0, sizeof *c);
    return c;
}

static int cs_start_workers(cs_runctx *rc)
{
    rc->w = aligned_alloc(64, sizeof *rc->w * rc->nthreads);
    if (rc->w == NULL)
        return CS_EXIT_RESOURCE;
    memset(rc->w, 0, sizeof *rc->w * rc->nthreads);
    pthread_barrier_init(&rc->start, NULL, rc->nthreads + 1);
    pthread_barrier_init(&rc->end, NULL, rc->nthreads + 1);
    double every = rc->cfg->latency_sample > 0 ? 1.0 / rc->cfg->latency_sample
                                               : 1e18;
    for (unsigned i = 0; i < rc->nthreads; i++) {
        cs_worker *w = &rc->w[i];
        w->id = i;
        w->rc = rc;
        w->rng.s = rc->cfg->seed * 0x9e3779b97f4a7c15ULL + i * 7919u + 1;
        w->sample_every = every < 1 ? 1 : (uint64_t)every;
        w->sample_left = 1 + cs_rng_below(&w->rng, w->sample_every);
        cs_keycursor_init(&rc->kg, &w->cur, rc->cfg->seed + 1000003u * i, i,
                          rc->nthreads);
        if (pthread_create(&w->th, NULL, cs_worker_main, w) != 0) {
            /* the barrier counts nthreads + 1: we cannot go on */
            fprintf(stderr, "chmstress: cannot create worker thread %u: %s\n",
                    i, strerror(errno));
            exit(CS_EXIT_RESOURCE);
        }
    }
    return CS_EXIT_OK;
}

static void cs_stop_workers(cs_runctx *rc)
{
    atomic_store_explicit(&rc->quit, true, memory_order_relaxed);
    pthread_barrier_wait(&rc->start);
    for (unsigned i = 0; i < rc->nthreads; i++)
        pthread_join(rc->w[i].th, NULL);
    pthread_barrier_destroy(&rc->start);
    pthread_barrier_destroy(&rc->end);
}

static void cs_free_workers(cs_runctx *rc)
{
    for (unsigned i = 0; rc->w != NULL && i < rc->nthreads; i++)
        free(rc->w[i].hist);
    free(rc->w);
    rc->w = NULL;
}

static int cs_run_phases(cs_runctx *rc, cs_report *rep, unsigned repeat)
{
    int code = cs_phase_once(rc, -1, NULL);
    for (int pi = 0; pi < rc->cfg->nphases && code == CS_EXIT_OK; pi++) {
        if (atomic_load_explicit(&cs_interrupted, memory_order_relaxed))
            break;
        cs_run *run = cs_report_new_run(rep);
        if (run == NULL)
            return CS_EXIT_RESOURCE;
        snprintf(run->map, sizeof run->map, "%s", rc->be->name);
        run->threads = rc->nthreads;
        run->phase = pi;
        run->repeat = repeat;
        code = cs_phase_once(rc, pi, run);
    }
    if (!rc->cfg->quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "\r%*s\r", 78, "");
    return code;
}

/* ---- the linearizability check ------------------------------------------- */

static cs_lin_init cs_lin_initial(uint64_t key, void *ctx)
{
    const cs_runctx *rc = ctx;
    cs_lin_init in = { false, 0 };
    if (key < rc->chk.prefilled) {
        in.present = true;
        in.value = cs_value_make(key, CS_PREFILL_WRITER, key + 1);
    }
    return in;
}

/* The first failing key's window, readable: one operation a line. */
static void cs_lin_evidence(const cs_lin_op *ops, size_t n,
                            const cs_lin_key_report *k, char *buf, size_t len)
{
    uint64_t t0 = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (ops[i].call_ns < t0)
            t0 = ops[i].call_ns;
    int w = snprintf(buf, len, "key #%llu (key 0x%016llx): %zu operations "
                     "recorded; these %zu cannot be linearized, starting "
                     "from the key %s 0x%016llx:\n",
                     (unsigned long long)k->key,
                     (unsigned long long)cs_key_of(k->key), k->nops,
                     k->nwindow, k->init.present ? "holding" : "absent, was",
                     (unsigned long long)k->init.value);
    for (size_t i = 0; i < k->nwindow && w > 0 && (size_t)w < len; i++) {
        char line[256];
        cs_lin_describe(&ops[k->window[i]], t0, line, sizeof line);
        w += snprintf(buf + w, len - (size_t)w, "    %s\n", line);
    }
}

/* Gather the workers' histories and check them; fills the lin_* fields. */
static void cs_lin_run(cs_runctx *rc, cs_check_result *cr)
{
    size_t n = 0;
    for (unsigned i = 0; i < rc->nthreads; i++)
        n += rc->w[i].nhist;
    cs_lin_op *ops = malloc((n ? n : 1) * sizeof *ops);
    cr->lin_ran = true;
    cr->lin_capped = atomic_load_explicit(&rc->lin_capped, memory_order_relaxed);
    cr->lin_memory = n * sizeof *ops;
    cs_lin_report lr;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (ops == NULL) {
        cr->lin_unknown = rc->cfg->lin_keys;
        snprintf(cr->lin_evidence, sizeof cr->lin_evidence,
                 "out of memory gathering %zu recorded operations", n);
        return;
    }
    for (unsigned i = 0, at = 0; i < rc->nthreads; i++) {
        memcpy(ops + at, rc->w[i].hist, rc->w[i].nhist * sizeof *ops);
        at += (unsigned)rc->w[i].nhist;
    }
    if (cs_lin_check(ops, n, cs_lin_initial, rc, rc->cfg->lin_budget,
                     cpus > 0 ? (unsigned)cpus : 1, &lr) != 0) {
        cr->lin_unknown = rc->cfg->lin_keys;
        snprintf(cr->lin_evidence, sizeof cr->lin_evidence,
                 "out of memory checking %zu recorded operations", n);
        free(ops);
        return;
    }
    cr->lin_keys = lr.keys;
    cr->lin_ops = lr.ops;
    cr->lin_failed = lr.failed;
    cr->lin_unknown = lr.unknown;
    cr->lin_seconds = lr.seconds;
    for (size_t i = 0; i < lr.nbad; i++)
        if (lr.bad[i].verdict == CS_LIN_FAIL) {
            cs_lin_evidence(ops, n, &lr.bad[i], cr->lin_evidence,
                            sizeof cr->lin_evidence);
            break;
        }
    if (lr.failed > 0) {
        cr->passed = false;
        cr->violations += lr.failed;
    }
    cs_lin_report_free(&lr);
    free(ops);
}

int cs_run_map(const cs_config *cfg, const cs_backend *be, unsigned nthreads,
               unsigned repeat, cs_report *rep)
{
    cs_runctx rc;
    memset(&rc, 0, sizeof rc);
    rc.cfg = cfg;
    rc.be = be;
    rc.nthreads = nthreads;
    bool checked = cfg->check != CS_CHECK_NONE && !be->unchecked;
    uint64_t prefilled = (uint64_t)(cfg->prefill * (double)cfg->keys.range);
    int code = cs_checker_init(&rc.chk, checked ? cfg->check : CS_CHECK_NONE,
                               cfg->keys.range, prefilled, nthreads);
    if (code == CS_EXIT_OK && cs_keygen_init(&rc.kg, &cfg->keys) != 0)
        code = CS_EXIT_RESOURCE;
    rc.kg.latest = &rc.latest;
    rc.recording = checked && cfg->check == CS_CHECK_LINEARIZABILITY;
    rc.lin_stride = cfg->lin_keys > 0 && cfg->keys.range / cfg->lin_keys > 1
                        ? cfg->keys.range / cfg->lin_keys : 1;
    rc.lin_cap = cfg->lin_max_ops / nthreads;
    if (rc.lin_cap < 2 * CS_BATCH)
        rc.lin_cap = 2 * CS_BATCH;
    atomic_store_explicit(&rc.latest, prefilled, memory_order_relaxed);
    if (code == CS_EXIT_OK &&
        (rc.map = be->create(cfg->initial_capacity, cfg->seed)) == NULL) {
        fprintf(stderr, "chmstress: cannot create map %s\n", be->name);
        code = CS_EXIT_RESOURCE;
    }
    if (code != CS_EXIT_OK) {
        cs_checker_destroy(&rc.chk);
        return code;
    }
    code = cs_start_workers(&rc);
    cs_resizer rz = { .rc = &rc };
    bool resizer = cfg->resizer && be->reserve != NULL && code == CS_EXIT_OK;
    if (resizer && pthread_create(&rz.th, NULL, cs_resizer_main, &rz) != 0)
        resizer = false;
    if (code == CS_EXIT_OK)
        code = cs_run_phases(&rc, rep, repeat);
    if (resizer) {
        atomic_store_explicit(&rz.stop, true, memory_order_relaxed);
        pthread_join(rz.th, NULL);
    }
    if (rc.w != NULL)
        cs_stop_workers(&rc);
    if (checked && code == CS_EXIT_OK &&
        !atomic_load_explicit(&cs_interrupted, memory_order_relaxed)) {
        cs_check_result *cr = cs_report_new_check(rep);
        if (cr == NULL) {
            code = CS_EXIT_RESOURCE;
        } else {
            snprintf(cr->map, sizeof cr->map, "%s", be->name);
            cr->threads = nthreads;
            cr->repeat = repeat;
            cs_checker_final(&rc.chk, be, rc.map, cr);
            if (!cr->ran) /* interrupted: no verdict, as if never begun */
                rep->nchecks--;
            else if (cfg->check == CS_CHECK_LINEARIZABILITY)
                cs_lin_run(&rc, cr);
            if (cr->ran && !cr->passed)
                code = CS_EXIT_CHECK;
        }
    }
    cs_free_workers(&rc);
    be->destroy(rc.map);
    cs_keygen_destroy(&rc.kg);
    cs_checker_destroy(&rc.chk);
    return code;
}

static void cs_stamp_now(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cs_report_init(cs_report *rep, const cs_config *cfg)
{
    memset(rep, 0, sizeof *rep);
    rep->cfg = *cfg;
    cs_stamp_now(rep->started_at, sizeof rep->started_at);
}

/* One run of a repeat: indexes into cfg->maps and cfg->threads. */
typedef struct cs_slot {
    int map, threads;
} cs_slot;

/* The runs of repeat r: listed order, or a Fisher-Yates shuffle drawn from
 * the seed, the workload's name and r (see cs_order), so each repeat and
 * each workload of a run has its own order.  Thread counts are shuffled
 * with the maps, not kept in a block per map: a run at 2 threads that
 * always follows the same map's run at 1 thread inherits that map's freed
 * memory, which favours the maps that use more.  Returns the count. */
static int cs_repeat_order(const cs_config *cfg, unsigned r, cs_slot *order)
{
    int n = 0;
    for (int mi = 0; mi < cfg->nmaps; mi++)
        for (int ti = 0; ti < cfg->nthreads; ti++)
            order[n++] = (cs_slot){ mi, ti };
    if (cfg->order == CS_ORDER_LISTED)
        return n;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name */
    for (const char *c = cfg->name; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    cs_rng rng = {cfg->seed ^ h ^ (0xa0761d6478bd642full * (r + 1))};
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cs_rng_below(&rng, (uint64_t)i + 1);
        cs_slot s = order[i];
        order[i] = order[j];
        order[j] = s;
    }
    return n;
}

int cs_run_all(const cs_config *cfg, cs_report *rep)
{
    cs_report_init(rep, cfg);
    int worst = CS_EXIT_OK;
    cs_slot order[CS_MAX_LIST * CS_MAX_LIST]; /* 8 KiB */
    for (unsigned r = 0; r < cfg->repeat; r++) {
        int n = cs_repeat_order(cfg, r, order);
        for (int k = 0; k < n; k++) {
            if (atomic_load_explicit(&cs_interrupted, memory_order_relaxed))
                goto out;
            const cs_backend *be = cs_backend_find(cfg->maps[order[k].map]);
            int code = cs_run_map(cfg, be, cfg->threads[order[k].threads], r,
                                  rep);
            if (code == CS_EXIT_RESOURCE)
                return code;
            if (code != CS_EXIT_OK)
                worst = code;
        }
    }
out:
    rep->interrupted = atomic_load_explicit(&cs_interrupted,
                                            memory_order_relaxed) != 0;
    if (rep->interrupted)
        return CS_EXIT_INTERRUPTED;
    return worst;
}

void cs_report_free(cs_report *rep)
{
    for (size_t i = 0; i < rep->nruns; i++)
        free(rep->runs[i].timeline);
    free(rep->runs);
    free(rep->checks);
    memset(rep, 0, sizeof *rep);
}
