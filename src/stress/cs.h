/*
 * cs.h - chmstress's internal interfaces: the resolved configuration, the
 * map backend vtable, key generators, the latency histogram, the run
 * results and the checks.  One concept per file:
 *
 *   cs_main.c        command line (getopt_long), commands, exit codes
 *   cs_cli.c         the commands' bad-flag messages
 *   cs_workload.c    workload files: parse (jansson), validate, resolve
 *   cs_keygen.c      key generators (uniform, zipfian, sequential, hotspot,
 *                    latest)
 *   cs_hist.c        log-bucket latency histogram
 *   cs_runner.c      threads, phases, timeline, progress, SIGINT
 *   cs_check.c       count checks (tallies, size, value provenance)
 *   cs_result.c      result JSON and the summary table
 *   cs_value.c       value encoding (key tag, writer, sequence)
 *   backends/cs_backend_*.c  one file per map, registered in cs_backends.c
 *   backends/cs_stripes.h    striped per-thread counters (urcu, cuckoo)
 *
 * Exit codes (DESIGN.md section 5).
 */
#ifndef CS_H
#define CS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CS_EXIT_OK 0
#define CS_EXIT_CHECK 1      /* a correctness check failed / a regression */
#define CS_EXIT_USAGE 2      /* bad usage or bad input */
#define CS_EXIT_RESOURCE 3   /* out of memory, thread creation */
#define CS_EXIT_INTERRUPTED 130

/* ---- operations and mixes ----------------------------------------------- */

typedef enum cs_op {
    CS_OP_GET,
    CS_OP_PUT,
    CS_OP_PUT_IF_ABSENT,
    CS_OP_REPLACE,
    CS_OP_REPLACE_IF,
    CS_OP_REMOVE,
    CS_OP_REMOVE_IF,
    CS_OP_COMPUTE,     /* insert if absent, else replace: a merge */
    CS_OP_SCAN,        /* ordered maps only */
    CS_OP_SIZE,
    CS_OP_ITERATE,
    CS_OP_COUNT
} cs_op;

/* The names used in workload files and results ("get", "put_if_absent"...). */
const char *cs_op_name(cs_op op);
/* -1 if unknown. */
int cs_op_from_name(const char *name);

typedef enum cs_dist {
    CS_DIST_UNIFORM,
    CS_DIST_ZIPFIAN,    /* YCSB's scrambled zipfian */
    CS_DIST_SEQUENTIAL, /* each thread walks the range from its own start */
    CS_DIST_HOTSPOT,    /* hot_op_fraction of ops on the first hot_fraction */
    CS_DIST_LATEST,     /* zipfian over the most recently inserted keys */
    CS_DIST_COUNT
} cs_dist;

const char *cs_dist_name(cs_dist d);
int cs_dist_from_name(const char *name); /* -1 if unknown */

typedef struct cs_keyspace {
    uint64_t range;          /* keys are 0 .. range-1, mapped through
                                cs_key_of() to spread them */
    cs_dist dist;
    double theta;            /* zipfian/latest skew, 0 < theta < 1 (0.99) */
    double hot_fraction;     /* hotspot: share of keys that are hot */
    double hot_op_fraction;  /* hotspot: share of ops on hot keys */
} cs_keyspace;

#define CS_MAX_PHASES 16
#define CS_MAX_LIST 32

typedef struct cs_phase {
    char name[32];
    double duration_s;       /* > 0, or 0 when ops is used */
    uint64_t ops;            /* total ops across threads, or 0 */
    unsigned mix[CS_OP_COUNT]; /* percent per op; sums to 100 */
    bool measure;            /* false: warmup (not in the headline figure) */
} cs_phase;

typedef enum cs_check_mode {
    CS_CHECK_NONE,
    CS_CHECK_COUNTS,
    CS_CHECK_LINEARIZABILITY, /* issue 4: accepted, runs counts for now */
} cs_check_mode;

/* The order of a repeat's runs (one map at one thread count each).  A run
 * inherits the state the previous one left: on a VM, memory the previous
 * run has just freed faults in many times faster than fresh memory, so a
 * fixed order hands the same maps the same advantage every repeat.
 * SHUFFLED (the default) draws each repeat's order from the seed. */
typedef enum cs_order {
    CS_ORDER_SHUFFLED,
    CS_ORDER_LISTED,     /* maps as listed, each over the thread counts */
} cs_order;
int cs_order_from_name(const char *name); /* -1 if unknown */

/* The fully resolved configuration of one invocation: the workload file,
 * with command-line flags applied on top. */
typedef struct cs_config {
    char path[512];          /* the workload file */
    char name[64];
    char description[512];
    size_t initial_capacity;
    cs_keyspace keys;
    double prefill;          /* fraction of the range inserted first, 0..1 */
    cs_phase phases[CS_MAX_PHASES];
    int nphases;
    char maps[CS_MAX_LIST][32];
    int nmaps;
    unsigned threads[CS_MAX_LIST];
    int nthreads;
    uint64_t seed;
    cs_check_mode check;
    unsigned repeat;         /* >= 1 */
    cs_order order;          /* of the runs within each repeat */
    /* a resizer thread calling reserve() while workers run (resize-storm) */
    bool resizer;
    double resizer_interval_ms;
    double latency_sample;   /* fraction of ops timed, e.g. 0.01 */
    /* --check linearizability: histories of lin_keys sampled keys, at most
     * lin_max_ops operations in all, lin_budget search steps per key */
    uint64_t lin_keys, lin_max_ops, lin_budget;
    char out[512];           /* result file, "" = results/<name>-<time>.json */
    bool quiet;
} cs_config;

/* Load and validate a workload file into cfg (defaults first).  On error:
 * prints "FILE:LINE:COLUMN: message" or "FILE: at FIELD.PATH: message"
 * saying what is expected, to stderr, and returns CS_EXIT_USAGE. */
int cs_workload_load(const char *path, cs_config *cfg);
/* Validate the resolved cfg after flags were applied (maps exist, threads
 * 1..254, ...).  Same error convention; messages name the flag a value may
 * have come from ("-t"). */
int cs_config_validate(const cs_config *cfg);
/* The config as a JSON object (jansson json_t *), for the result file. */
struct json_t;
struct json_t *cs_config_to_json(const cs_config *cfg);

/* ---- keys and values --------------------------------------------------- */

/* A bijective scramble of the key index, so keys are not sequential in the
 * map's hash space (and 0 and UINT64_MAX-ish keys occur). */
static inline uint64_t cs_key_of(uint64_t index)
{
    uint64_t x = index + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

typedef struct cs_rng {
    uint64_t s;
} cs_rng;

static inline uint64_t cs_rng_next(cs_rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t cs_rng_below(cs_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)cs_rng_next(r) * n) >> 64);
}

static inline double cs_rng_double(cs_rng *r) /* [0, 1) */
{
    return (double)(cs_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* A key generator: shared read-only state built once per run; each thread
 * draws with its own rng and cursor. */
typedef struct cs_keygen {
    cs_keyspace ks;
    /* zipfian constants (YCSB's ZipfianGenerator) */
    double zetan, alpha, eta, zeta2theta;
    uint64_t items;
    /* latest: the count of keys inserted so far, shared by all threads */
    _Atomic uint64_t *latest;
} cs_keygen;

typedef struct cs_keycursor {
    cs_rng rng;
    uint64_t next;   /* sequential: next index */
} cs_keycursor;

/* Prepare a generator (zipfian: computes zeta(n) once, O(n) - cached per
 * (n, theta) in the process).  Returns 0 or CS_EXIT_RESOURCE. */
int cs_keygen_init(cs_keygen *g, const cs_keyspace *ks);
void cs_keygen_destroy(cs_keygen *g);
void cs_keycursor_init(const cs_keygen *g, cs_keycursor *c, uint64_t seed,
                       unsigned thread, unsigned nthreads);
/* The next key index in [0, range). */
uint64_t cs_keygen_next(const cs_keygen *g, cs_keycursor *c);

/* Values encode the key (a tag), the writer and its sequence number, so
 * every value read can be traced to a write of that key:
 *   bits 63..44  key tag (20 bits of a hash of the key index)
 *   bits 43..36  writer: thread number, or 255 for the prefill
 *   bits 35..0   the writer's sequence number (starts at 1)
 * Value 0 is never written. */
#define CS_PREFILL_WRITER 255u
uint64_t cs_value_make(uint64_t key_index, unsigned writer, uint64_t seq);
bool cs_value_key_ok(uint64_t value, uint64_t key_index);
unsigned cs_value_writer(uint64_t value);
uint64_t cs_value_seq(uint64_t value);

/* ---- latency histogram ------------------------------------------------- */

/* Log-bucket histogram of nanoseconds: 2^e ranges split into 16 linear
 * sub-buckets (relative error <= 1/16), 1 ns .. ~2^40 ns.  Single writer;
 * merge after the threads stop. */
#define CS_HIST_SUB 16
#define CS_HIST_EXP 41
typedef struct cs_hist {
    uint64_t count, sum_ns, max_ns, min_ns;
    uint64_t b[CS_HIST_EXP * CS_HIST_SUB];
} cs_hist;

void cs_hist_init(cs_hist *h);
void cs_hist_add(cs_hist *h, uint64_t ns);
void cs_hist_merge(cs_hist *into, const cs_hist *from);
/* The value at quantile q in [0,1] (an upper bound of its bucket; max for
 * q == 1). 0 if empty. */
uint64_t cs_hist_quantile(const cs_hist *h, double q);

/* ---- map backends ------------------------------------------------------ */

/* Results of updates, map-independent.  Every out pointer of the vtable may
 * be NULL, and is written only when the result says a value was there
 * (REPLACED/REMOVED: *old, EXISTS: *cur). */
typedef enum cs_res {
    CS_R_INSERTED,  /* the key was absent and is now present */
    CS_R_REPLACED,  /* present; value replaced */
    CS_R_REMOVED,
    CS_R_NOT_FOUND, /* absent; nothing done */
    CS_R_EXISTS,    /* present; nothing done (put_if_absent) */
    CS_R_MISMATCH,  /* present with another value; nothing done */
    CS_R_ENOMEM,
    CS_R_ERROR,     /* anything else: a backend error */
} cs_res;

typedef struct cs_map_stats {
    uint64_t table_size;     /* bins / slots / capacity, 0 if unknown */
    uint64_t resizes;
    uint64_t pending_garbage;
    uint64_t size;           /* the map's own size() */
    bool has_table_size, has_resizes, has_garbage;
} cs_map_stats;

typedef struct cs_backend {
    const char *name;
    const char *description;
    bool ordered;                            /* supports scan */
    bool unchecked;                          /* not a map (null): no checks */
    /* a map sized for `capacity` entries; NULL on failure */
    void *(*create)(size_t capacity, uint64_t seed);
    void (*destroy)(void *map);
    /* per-thread context; NULL on failure */
    void *(*thread_join)(void *map);
    void (*thread_leave)(void *tctx);
    /* optional (NULL): bracket a batch of ops (chm: pin/unpin) */
    void (*batch_begin)(void *tctx);
    void (*batch_end)(void *tctx);
    bool (*get)(void *tctx, uint64_t key, uint64_t *val);
    cs_res (*put)(void *tctx, uint64_t key, uint64_t val, uint64_t *old);
    cs_res (*put_if_absent)(void *tctx, uint64_t key, uint64_t val,
                            uint64_t *cur);
    cs_res (*replace)(void *tctx, uint64_t key, uint64_t val, uint64_t *old);
    cs_res (*replace_if)(void *tctx, uint64_t key, uint64_t expect,
                         uint64_t val);
    cs_res (*remove)(void *tctx, uint64_t key, uint64_t *old);
    cs_res (*remove_if)(void *tctx, uint64_t key, uint64_t expect);
    /* atomically: absent -> insert val; present -> replace by val.
     * *old gets the previous value when REPLACED. */
    cs_res (*compute)(void *tctx, uint64_t key, uint64_t val, uint64_t *old);
    /* NULL unless ordered: visit keys in [from, to]; returns the count */
    size_t (*scan)(void *tctx, uint64_t from, uint64_t to, size_t limit);
    size_t (*size)(void *map);
    /* visit every entry (weakly consistent while others run); returns the
     * count; visit may be NULL */
    size_t (*iterate)(void *tctx, void (*visit)(void *ctx, uint64_t k,
                                                uint64_t v), void *ctx);
    /* optional: grow for n entries (the resizer thread); 0 or -1 */
    int (*reserve)(void *tctx, size_t n);
    void (*stats)(void *map, cs_map_stats *out);
} cs_backend;

/* All registered backends, NULL-terminated (cs_backends.c). */
extern const cs_backend *const cs_backends[];
const cs_backend *cs_backend_find(const char *name);

/* ---- results ----------------------------------------------------------- */

typedef struct cs_op_stats {
    uint64_t ops, hits, misses;   /* hit: found / took effect */
    cs_hist lat;                  /* sampled latencies */
} cs_op_stats;

typedef struct cs_timeline_point {
    double t;                     /* seconds since the phase started */
    double mops;                  /* over the last interval */
    uint64_t ops;                 /* cumulative in the phase */
    uint64_t table_size, resizes, pending_garbage, size;
    uint64_t rss_bytes;
} cs_timeline_point;

/* One run: a map x thread count x phase (x repeat). */
typedef struct cs_run {
    char map[32];
    unsigned threads;
    int phase;                    /* index into cfg->phases */
    unsigned repeat;              /* 0-based */
    double seconds;
    uint64_t total_ops;
    double mops;
    /* CPU time the workers spent in the phase (CLOCK_THREAD_CPUTIME_ID,
     * summed), and total_ops per CPU-second: time a worker sat preempted
     * by another process does not count, so this figure moves much less
     * than mops on a shared machine (the CI gate compares it). */
    double cpu_seconds;
    double mops_cpu;
    cs_op_stats op[CS_OP_COUNT];
    cs_timeline_point *timeline;
    size_t ntimeline;
    cs_map_stats stats_end;
    bool interrupted;
} cs_run;

/* The outcome of the checks of one map x threads x repeat (after its last
 * phase). */
typedef struct cs_check_result {
    char map[32];
    unsigned threads;
    unsigned repeat;
    bool ran, passed;
    uint64_t keys_checked, present, size_reported, values_checked;
    uint64_t violations;
    /* the first violations, as readable text for stderr and JSON */
    char evidence[8][256];
    int nevidence;
    /* linearizability, when it ran: keys and ops checked, failing and
     * undecided (budget ran out) keys, whether recording hit max_ops (the
     * phase then ended early), the history's memory, the checker's time,
     * and the first failing key's smallest non-linearizable window, one
     * operation a line */
    bool lin_ran, lin_capped;
    uint64_t lin_keys, lin_ops, lin_failed, lin_unknown, lin_memory;
    double lin_seconds;
    char lin_evidence[4096];
} cs_check_result;

/* ---- count checks (cs_check.c) ----------------------------------------- */

/* Per-worker tallies of successful inserts minus removes, per key index,
 * and the value-provenance state every worker can read. */
typedef struct cs_checker {
    cs_check_mode mode;
    uint64_t range, prefilled;       /* keys [0, prefilled) were prefilled */
    unsigned nthreads;
    int32_t **tally;                 /* [thread][key index] */
    /* the last sequence number each writer published (release) before it
     * stored a value with it: a value read must not be newer */
    struct cs_pub { _Atomic uint64_t seq; char pad[56]; } *pub;
    _Atomic uint64_t bad_values;
    _Atomic int nevidence;
    char evidence[8][256];
} cs_checker;

/* CS_EXIT_OK, or CS_EXIT_USAGE when the tallies would not fit in memory
 * (message printed), or CS_EXIT_RESOURCE. */
int cs_checker_init(cs_checker *c, cs_check_mode mode, uint64_t range,
                    uint64_t prefilled, unsigned nthreads);
void cs_checker_destroy(cs_checker *c);
/* A value read for key_index (op names the operation, for the evidence). */
void cs_checker_value(cs_checker *c, uint64_t key_index, uint64_t value,
                      const char *op, bool check_seq);
/* After the run, with no thread updating: compare tallies and values with
 * the map (read through a fresh thread context of the backend).  SIGINT
 * (cs_interrupted) stops it early: then out->ran is false and out holds no
 * verdict. */
void cs_checker_final(cs_checker *c, const cs_backend *be, void *map,
                      cs_check_result *out);

/* ---- running (cs_runner.c) ------------------------------------------- */

/* Everything one invocation produced. */
typedef struct cs_report {
    cs_config cfg;
    cs_run *runs;
    size_t nruns, cap_runs;
    cs_check_result *checks;
    size_t nchecks, cap_checks;
    bool interrupted;
    char started_at[32];
    char git_commit[64];        /* set by the caller, for the result file */
} cs_report;

/* Run every map x threads x repeat of cfg; fills rep.  Returns an exit
 * code: OK, CHECK (a check failed), RESOURCE, INTERRUPTED. */
int cs_run_all(const cs_config *cfg, cs_report *rep);
/* The pieces of cs_run_all, for tests that bring their own backend: start
 * a report, then run one map x thread count x repeat into it (same exit
 * codes; the runs and the check result are appended). */
void cs_report_init(cs_report *rep, const cs_config *cfg);
int cs_run_map(const cs_config *cfg, const cs_backend *be, unsigned nthreads,
               unsigned repeat, cs_report *rep);
void cs_report_free(cs_report *rep);
/* Set by the SIGINT handler; the runner stops at the next batch. */
extern volatile _Atomic int cs_interrupted;

/* ---- results (cs_result.c) ------------------------------------------- */

/* Write the result JSON (schema chmstress-result/1) to path, creating its
 * directory.  CS_EXIT_OK or CS_EXIT_RESOURCE (message printed). */
int cs_result_write(const cs_report *rep, const char *path, int exit_code);
/* The same for n reports of different workloads run together, into one
 * file: config is the first's, "workloads" has every config, and every
 * run, summary row and check carries its "workload" name. */
int cs_result_write_many(const cs_report *reps, size_t n, const char *path,
                         int exit_code);
/* The human summary table. */
void cs_result_summary(const cs_report *rep, FILE *out);

/* ---- commands ---------------------------------------------------------- */

/* `chmstress run ...` (argv[0] is "run"); returns the exit code. */
int cs_cmd_run(int argc, char **argv, const char *git_commit);
/* `chmstress compare BASE NEW ...` (argv[0] is "compare"; cs_cmd_compare.c). */
int cs_cmd_compare(int argc, char **argv);
/* `chmstress ratios FILE [--map MAP]`: MAP over each peer, one file. */
int cs_cmd_ratios(int argc, char **argv);

/* ---- bad flags (cs_cli.c) ---------------------------------------------- */
/* Each prints its message to stderr and returns CS_EXIT_USAGE.  Main
 * thread only (the command line is parsed before any thread starts).
 * Nothing else can fail (stderr's errors are ignored). */

/* A bad flag or flag value of `chmstress CMD`, as
 *   chmstress: CMD: WHAT 'ARG'
 *   Try 'chmstress CMD --help' (usage: USAGE).
 * (no " (usage: ...)" when usage is NULL). */
int cs_usage_error(const char *cmd, const char *what, const char *arg,
                   const char *usage);
/* cs_usage_error for what getopt_long returned: opt ':' (a flag without its
 * value) -> "option needs a value:", anything else -> "unknown option";
 * arg is the word it failed on (argv[optind - 1]). */
int cs_bad_flag(const char *cmd, int opt, const char *arg, const char *usage);
/* A bad global option (cmd NULL) or option of `list`, in their own words:
 *   chmstress: [CMD: ]option 'ARG' needs an argument   (opt ':')
 *   chmstress: [CMD: ]unknown option '-C'              (optopt C)
 *   chmstress: [CMD: ]unknown option 'ARG'             (a long option)
 *   Try 'chmstress --help'.
 * ARG = argv[failed_at]; reads getopt's optopt (set opterr = 0). */
int cs_bad_option(const char *cmd, int opt, char **argv, int failed_at);

#endif /* CS_H */
