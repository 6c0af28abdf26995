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
    _Alignas(64) _Atomic uint64_t ops_done; /* sampled by the main thread */
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
    _Atomic int64_t budget;     /* op-count phases */
    _Atomic uint64_t latest;    /* inserted keys, for the latest dist. */
    cs_worker *w;
};

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
static bool cs_outcome(cs_worker *w, uint64_t idx, cs_res r, uint64_t old,
                       const char *op)
{
    switch (r) {
    case CS_R_INSERTED:
        cs_tally(w, idx, +1);
        return false;
    case CS_R_REMOVED:
        cs_tally(w, idx, -1);
        cs_seen(w, idx, old, op);
        return true;
    case CS_R_REPLACED:
    case CS_R_EXISTS:
        cs_seen(w, idx, old, op);
        return true;
    case CS_R_MISMATCH:
        return true;
    default:
        return false;
    }
}

static bool cs_do_op(cs_worker *w, cs_op op, uint64_t idx)
{
    const cs_backend *be = w->rc->be;
    void *t = w->tctx;
    uint64_t key = cs_key_of(idx), v = 0, old = 0;
    cs_res r;
    /* Each update's result is stored before `old` is read: the order in
     * which a call's arguments are evaluated is unspecified in C. */
    switch (op) {
    case CS_OP_GET:
        if (!be->get(t, key, &v))
            return false;
        cs_seen(w, idx, v, "get");
        return true;
    case CS_OP_PUT:
        r = be->put(t, key, cs_new_value(w, idx), &old);
        return cs_outcome(w, idx, r, old, "put");
    case CS_OP_PUT_IF_ABSENT:
        r = be->put_if_absent(t, key, cs_new_value(w, idx), &old);
        return cs_outcome(w, idx, r, old, "put_if_absent");
    case CS_OP_REPLACE:
        r = be->replace(t, key, cs_new_value(w, idx), &old);
        return cs_outcome(w, idx, r, old, "replace");
    case CS_OP_REPLACE_IF:
        if (!be->get(t, key, &v))
            return false;
        r = be->replace_if(t, key, v, cs_new_value(w, idx));
        return cs_outcome(w, idx, r, v, "replace_if");
    case CS_OP_REMOVE:
        r = be->remove(t, key, &old);
        return cs_outcome(w, idx, r, old, "remove");
    case CS_OP_REMOVE_IF:
        if (!be->get(t, key, &v))
            return false;
        r = be->remove_if(t, key, v);
        return cs_outcome(w, idx, r, v, "remove_if");
    case CS_OP_COMPUTE:
        r = be->compute(t, key, cs_new_value(w, idx), &old);
        return cs_outcome(w, idx, r, old, "compute");
    case CS_OP_SCAN:
        return be->scan(t, key, key + (1u << 20), 100) > 0;
    case CS_OP_SIZE:
        return be->size(w->rc->map) > 0;
    case CS_OP_ITERATE:
        return be->iterate(t, NULL, NULL) > 0;
    default:
        return false;
    }
}

static void cs_timed_op(cs_worker *w, cs_op op, uint64_t idx)
{
    cs_op_stats *s = &w->op[op];
    bool hit;
    if (--w->sample_left == 0) {
        w->sample_left = w->sample_every;
        uint64_t t0 = cs_now_ns();
        hit = cs_do_op(w, op, idx);
        cs_hist_add(&s->lat, cs_now_ns() - t0);
    } else {
        hit = cs_do_op(w, op, idx);
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

static void cs_run_phase(cs_worker *w)
{
    cs_runctx *rc = w->rc;
    bool counted = rc->phase->ops > 0;
    uint64_t done = 0;
    /* relaxed: `stop` only ends the loop; the closing barrier orders
     * everything the main thread reads afterwards. */
    while (!atomic_load_explicit(&rc->stop, memory_order_relaxed)) {
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
}

/* The prefill: keys [0, prefilled) inserted by all workers, interleaved. */
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
        if (++done % 4096 == 0 && be->batch_end != NULL) {
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
    }
}

static void cs_collect(cs_runctx *rc, cs_run *run, double seconds)
{
    run->seconds = seconds;
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
    if (rc->be->stats != NULL)
        rc->be->stats(rc->map, &run->stats_end);
    run->interrupted = atomic_load_explicit(&cs_interrupted,
                                            memory_order_relaxed) != 0;
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
    atomic_store_explicit(&rc->budget, (int64_t)rc->phase->ops,
                          memory_order_relaxed);
    /* The point at t = 0 is taken before the workers are released: the
     * table as this phase found it, however fast the phase then runs. */
    uint64_t zero_ops = 0;
    double zero_t = 0;
    if (pi >= 0) /* out of memory here only loses the point */
        (void)cs_timeline_add(run, rc, 0, &zero_ops, &zero_t);
    pthread_barrier_wait(&rc->start);
    double t0 = cs_now();
    int rcode = CS_EXIT_OK;
    if (pi >= 0)
        rcode = cs_watch_phase(rc, run, t0);
    atomic_store_explicit(&rc->stop, true, memory_order_relaxed);
    pthread_barrier_wait(&rc->end);
    double secs = cs_now() - t0;
    if (run != NULL)
        cs_collect(rc, run, secs);
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
            if (!cr->passed)
                code = CS_EXIT_CHECK;
        }
    }
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

int cs_run_all(const cs_config *cfg, cs_report *rep)
{
    cs_report_init(rep, cfg);
    int worst = CS_EXIT_OK;
    for (unsigned r = 0; r < cfg->repeat; r++)
        for (int mi = 0; mi < cfg->nmaps; mi++)
            for (int ti = 0; ti < cfg->nthreads; ti++) {
                if (atomic_load_explicit(&cs_interrupted,
                                         memory_order_relaxed))
                    goto out;
                const cs_backend *be = cs_backend_find(cfg->maps[mi]);
                int code = cs_run_map(cfg, be, cfg->threads[ti], r, rep);
                if (code == CS_EXIT_RESOURCE)
                    return code;
                if (code != CS_EXIT_OK)
                    worst = code;
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
