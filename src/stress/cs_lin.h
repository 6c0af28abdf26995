/*
 * cs_lin.h - linearizability checking of recorded per-key histories
 * (DESIGN.md section 5, "Checks"; issue 4).
 *
 * A map is linearizable iff each key's history is (P-compositionality), so
 * the checker partitions the recorded operations by key and searches each
 * key's history against a sequential single-key model (Wing & Gong's
 * search with Lowe's improvements and a cache of visited (linearized set,
 * model state) configurations).  Keys are checked in parallel threads.
 * Each key has a search budget; a key whose search runs out is UNKNOWN,
 * never PASS.
 */
#ifndef CS_LIN_H
#define CS_LIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One completed operation on one key, as recorded by a worker.  op is a
 * cs_op (GET, PUT, PUT_IF_ABSENT, REPLACE, REPLACE_IF, REMOVE, REMOVE_IF,
 * COMPUTE); res a cs_res (for GET: CS_R_EXISTS = found, CS_R_NOT_FOUND =
 * absent).  The operation took effect at some instant in
 * [call_ns, ret_ns]. */
typedef struct cs_lin_op {
    uint64_t key;        /* the key index */
    uint64_t call_ns;    /* invocation (monotonic clock) */
    uint64_t ret_ns;     /* response */
    uint64_t arg;        /* the value written (put, put_if_absent, replace,
                            compute, the new value of replace_if); the
                            expected value of remove_if */
    uint64_t expect;     /* replace_if: the expected value */
    uint64_t out;        /* the value returned: get's value, the old value
                            (put/replace/remove/compute when REPLACED or
                            REMOVED), put_if_absent's current value on
                            EXISTS; 0 when none */
    uint8_t op;          /* cs_op */
    uint8_t res;         /* cs_res */
    uint16_t thread;
} cs_lin_op;

/* The state of one key before the history starts. */
typedef struct cs_lin_init {
    bool present;
    uint64_t value;
} cs_lin_init;

typedef enum cs_lin_verdict {
    CS_LIN_PASS,
    CS_LIN_FAIL,
    CS_LIN_UNKNOWN,  /* the search budget ran out */
} cs_lin_verdict;

/* The outcome for one failing (or unknown) key. */
typedef struct cs_lin_key_report {
    uint64_t key;
    cs_lin_verdict verdict;
    size_t nops;             /* operations in the key's history */
    /* FAIL: the smallest window of the history that cannot be linearized
     * (indices into the caller's ops array, in call order), at most 32 */
    size_t window[32];
    size_t nwindow;
    size_t window_ops;       /* ops in that window: > nwindow when it was
                                longer than 32 and only 32 are listed (the
                                ops returning when it failed, and the latest
                                others) */
    cs_lin_init init;        /* the key's state before the window */
} cs_lin_key_report;

typedef struct cs_lin_report {
    size_t keys, ops;                  /* checked */
    size_t passed, failed, unknown;    /* keys */
    double seconds;
    cs_lin_key_report *bad;            /* failed and unknown keys (malloc) */
    size_t nbad;
} cs_lin_report;

/* Check every key's history.  ops may be in any order; init(key, ctx)
 * gives each key's initial state (called from the checker threads).
 * budget: search steps per key (0: no limit).  threads:
 * checker threads (>= 1).  Returns 0, or -1 on out of memory. */
int cs_lin_check(const cs_lin_op *ops, size_t n,
                 cs_lin_init (*init)(uint64_t key, void *ctx), void *ctx,
                 uint64_t budget, unsigned threads, cs_lin_report *out);
void cs_lin_report_free(cs_lin_report *r);

/* One line describing op i for a person: thread, op, arguments, result,
 * invocation and response times (relative to t0_ns). */
void cs_lin_describe(const cs_lin_op *op, uint64_t t0_ns, char *buf,
                     size_t len);

#endif /* CS_LIN_H */
