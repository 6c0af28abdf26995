/*
 * lin_bench.c - how fast the linearizability checker (src/stress/cs_lin.c)
 * checks a large history.
 *
 * Generates a history that is linearizable by construction: a simulated
 * atomic map over KEYS keys, operated on by THREADS simulated threads; op i
 * takes effect at time lin_i (increasing) and its [call, return] interval
 * is drawn around that point (up to SPREAD ns either side), a thread's ops
 * never overlapping, so 2-4 ops are in flight at any time.  Then checks it
 * with CHECKERS checker threads and prints the verdicts, ops checked per
 * second and the seconds taken.  Exit status 1 if any key is not PASS.
 *
 *   lin_bench [-n OPS] [-k KEYS] [-t THREADS] [-c CHECKERS] [-s SPREAD]
 *             [--seed N]
 *   defaults: 1000000 ops, 1000 keys, 4 threads, 2 checkers, spread 200
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs.h"
#include "cs_lin.h"

typedef struct bench_args {
    size_t ops;
    uint64_t keys, spread, seed;
    unsigned threads, checkers;
} bench_args;

typedef struct key_state {
    bool present;
    uint64_t value;
} key_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Half the keys start present. */
static cs_lin_init initial(uint64_t key, void *ctx)
{
    const bench_args *a = ctx;
    cs_lin_init in = { key < a->keys / 2, 0 };
    if (in.present)
        in.value = 0xfeed00000000ULL + key;
    return in;
}

/* o's result from the key's state at its linearization point. */
static void apply(key_state *s, cs_lin_op *o, cs_rng *rng)
{
    bool pr = s->present;
    uint64_t cur = s->value, next = o->arg;
    bool write = true;
    switch (o->op) {
    case CS_OP_GET:
        o->res = pr ? CS_R_EXISTS : CS_R_NOT_FOUND;
        write = false;
        break;
    case CS_OP_PUT:
    case CS_OP_COMPUTE:
        o->res = pr ? CS_R_REPLACED : CS_R_INSERTED;
        break;
    case CS_OP_PUT_IF_ABSENT:
        o->res = pr ? CS_R_EXISTS : CS_R_INSERTED;
        write = !pr;
        break;
    case CS_OP_REPLACE:
        o->res = pr ? CS_R_REPLACED : CS_R_NOT_FOUND;
        write = pr;
        break;
    case CS_OP_REPLACE_IF:
        o->expect = pr && cs_rng_below(rng, 2) ? cur : o->arg ^ 1;
        o->res = !pr ? CS_R_NOT_FOUND
                     : cur == o->expect ? CS_R_REPLACED : CS_R_MISMATCH;
        write = o->res == CS_R_REPLACED;
        break;
    case CS_OP_REMOVE:
        o->res = pr ? CS_R_REMOVED : CS_R_NOT_FOUND;
        write = false;
        s->present = false;
        break;
    default: /* remove_if */
        o->arg = pr && cs_rng_below(rng, 2) ? cur : o->arg ^ 1;
        o->res = !pr ? CS_R_NOT_FOUND
                     : cur == o->arg ? CS_R_REMOVED : CS_R_MISMATCH;
        write = false;
        if (o->res == CS_R_REMOVED)
            s->present = false;
        break;
    }
    bool returns_value = pr && o->op != CS_OP_REPLACE_IF &&
                         o->op != CS_OP_REMOVE_IF;
    o->out = returns_value ? cur : 0;
    if (write) {
        s->present = true;
        s->value = next;
    }
    if (!s->present)
        s->value = 0;
}

static cs_lin_op *generate(const bench_args *a)
{
    cs_lin_op *ops = malloc(a->ops * sizeof *ops);
    key_state *ks = calloc(a->keys, sizeof *ks);
    uint64_t *free_at = calloc(a->threads, sizeof *free_at);
    if (ops == NULL || ks == NULL || free_at == NULL) {
        free(ops);
        ops = NULL;
        goto out;
    }
    for (uint64_t k = 0; k < a->keys; k++) {
        cs_lin_init in = initial(k, (void *)a);
        ks[k] = (key_state){ in.present, in.value };
    }
    cs_rng rng = { a->seed };
    uint64_t t = a->spread + 1000;
    for (size_t i = 0; i < a->ops; i++) {
        unsigned th = (unsigned)cs_rng_below(&rng, a->threads);
        t += 1 + cs_rng_below(&rng, 3);
        if (free_at[th] > t)
            t = free_at[th];
        uint64_t call = t - cs_rng_below(&rng, a->spread + 1);
        if (call < free_at[th])
            call = free_at[th];
        cs_lin_op *o = &ops[i];
        *o = (cs_lin_op){ .key = cs_rng_below(&rng, a->keys),
                          .call_ns = call,
                          .ret_ns = t + cs_rng_below(&rng, a->spread + 1),
                          .arg = ((uint64_t)(th + 1) << 40) | (i + 1),
                          .op = (uint8_t)cs_rng_below(&rng, 8),
                          .thread = (uint16_t)th };
        apply(&ks[o->key], o, &rng);
        free_at[th] = o->ret_ns + 1;
    }
out:
    free(ks);
    free(free_at);
    return ops;
}

static int parse(int argc, char **argv, bench_args *a)
{
    static const struct option opts[] = {
        { "seed", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    *a = (bench_args){ 1000000, 1000, 200, 1, 4, 2 };
    int c;
    while ((c = getopt_long(argc, argv, "n:k:t:c:s:", opts, NULL)) != -1) {
        unsigned long long v = 0;
        if (optarg != NULL)
            v = strtoull(optarg, NULL, 0);
        switch (c) {
        case 'n': a->ops = (size_t)v; break;
        case 'k': a->keys = v; break;
        case 't': a->threads = (unsigned)v; break;
        case 'c': a->checkers = (unsigned)v; break;
        case 's': a->spread = v; break;
        case 'S': a->seed = v; break;
        default:
            fprintf(stderr, "usage: lin_bench [-n OPS] [-k KEYS] "
                            "[-t THREADS] [-c CHECKERS] [-s SPREAD] "
                            "[--seed N]\n");
            return 2;
        }
    }
    if (a->ops == 0 || a->keys == 0 || a->threads == 0 || a->checkers == 0) {
        fprintf(stderr, "lin_bench: -n, -k, -t and -c must be > 0\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_args a;
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc;
    double t0 = now_s();
    cs_lin_op *ops = generate(&a);
    if (ops == NULL) {
        fprintf(stderr, "lin_bench: out of memory\n");
        return 3;
    }
    double t1 = now_s();
    cs_lin_report r;
    if (cs_lin_check(ops, a.ops, initial, &a, 100000000ULL, a.checkers,
                     &r) != 0) {
        fprintf(stderr, "lin_bench: out of memory while checking\n");
        free(ops);
        return 3;
    }
    printf("lin_bench: %zu ops, %llu keys, %u simulated threads "
           "(spread %llu ns), generated in %.2f s\n", a.ops,
           (unsigned long long)a.keys, a.threads,
           (unsigned long long)a.spread, t1 - t0);
    printf("lin_bench: %zu keys checked with %u checker threads: "
           "%zu pass, %zu fail, %zu unknown\n", r.keys, a.checkers,
           r.passed, r.failed, r.unknown);
    printf("lin_bench: %.3f s, %.0f ops checked per second\n", r.seconds,
           (double)r.ops / (r.seconds > 0 ? r.seconds : 1e-9));
    rc = r.passed == r.keys ? 0 : 1;
    cs_lin_report_free(&r);
    free(ops);
    return rc;
}
