/*
 * test_stress_lin.c - the linearizability checker (cs_lin.c).
 *
 *   Hand-written histories that are linearizable pass: overlapping
 *   operations, an order only backtracking finds, racing put_if_absent
 *   where either may win, equal timestamps (concurrent), failed (ENOMEM)
 *   operations ignored.
 *   Hand-written violations fail on the right key with a window holding the
 *   culprits: a stale read, a lost update, two put_if_absent both
 *   inserting, a read of a removed value, a value never written,
 *   replace_if succeeding on the wrong value, remove_if mismatching the
 *   right value.  Every reported window is re-checked on its own, from the
 *   reported state: it must fail too.
 *   A tiny budget gives UNKNOWN, never PASS; one bad key among good ones is
 *   the only one reported; the description line's format.
 *   Random histories of a simulated atomic map (each op's interval drawn
 *   around its linearization point, so linearizable by construction) pass
 *   with 1 and 4 checker threads alike, and fail on the mutated key once
 *   one result is changed to a value nobody wrote; a long hot key with a
 *   stalled reader checks in near-linear steps.  Thousands of small random
 *   histories (some with a wrong result) get the verdict of a brute-force
 *   search over every real-time-respecting order.
 *
 * Sizes scale with CHM_TEST_SCALE; seeds are fixed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cs.h"
#include "cs_lin.h"

#define BIG_BUDGET 50000000ULL

/* ---- building histories ------------------------------------------------ */

typedef struct hist {
    cs_lin_op ops[64];
    size_t n;
} hist;

static size_t add(hist *h, unsigned th, uint64_t key, cs_op op, uint64_t call,
                  uint64_t ret, uint64_t arg, uint64_t expect, cs_res res,
                  uint64_t out)
{
    h->ops[h->n] = (cs_lin_op){ .key = key, .call_ns = call, .ret_ns = ret,
                                .arg = arg, .expect = expect, .out = out,
                                .op = (uint8_t)op, .res = (uint8_t)res,
                                .thread = (uint16_t)th };
    return h->n++;
}

/* Shorthands: thread, key, call, return, then the op's own fields. */
#define GET(h, th, k, c, r, res, out)                                        \
    add(h, th, k, CS_OP_GET, c, r, 0, 0, res, out)
#define PUT(h, th, k, c, r, v, res, out)                                     \
    add(h, th, k, CS_OP_PUT, c, r, v, 0, res, out)
#define PIA(h, th, k, c, r, v, res, out)                                     \
    add(h, th, k, CS_OP_PUT_IF_ABSENT, c, r, v, 0, res, out)
#define REPL(h, th, k, c, r, v, res, out)                                    \
    add(h, th, k, CS_OP_REPLACE, c, r, v, 0, res, out)
#define REPL_IF(h, th, k, c, r, ex, v, res)                                  \
    add(h, th, k, CS_OP_REPLACE_IF, c, r, v, ex, res, 0)
#define REM(h, th, k, c, r, res, out)                                        \
    add(h, th, k, CS_OP_REMOVE, c, r, 0, 0, res, out)
#define REM_IF(h, th, k, c, r, ex, res)                                      \
    add(h, th, k, CS_OP_REMOVE_IF, c, r, ex, 0, res, 0)
#define COMP(h, th, k, c, r, v, res, out)                                    \
    add(h, th, k, CS_OP_COMPUTE, c, r, v, 0, res, out)

/* Initial states: keys below `prefilled` hold value_base + key. */
typedef struct init_ctx {
    uint64_t prefilled, value_base;
} init_ctx;

static cs_lin_init init_of(uint64_t key, void *ctx)
{
    const init_ctx *c = ctx;
    cs_lin_init in = { false, 0 };
    if (c != NULL && key < c->prefilled) {
        in.present = true;
        in.value = c->value_base + key;
    }
    return in;
}

static cs_lin_init init_fixed(uint64_t key, void *ctx)
{
    (void)key;
    return *(const cs_lin_init *)ctx;
}

static cs_lin_report check_ops(const cs_lin_op *ops, size_t n, init_ctx *ic,
                               uint64_t budget, unsigned threads)
{
    cs_lin_report r;
    REQUIRE(cs_lin_check(ops, n, init_of, ic, budget, threads, &r) == 0);
    CHECK_EQ_U64(r.ops, n);
    CHECK_EQ_U64(r.passed + r.failed + r.unknown, r.keys);
    CHECK_EQ_U64(r.nbad, r.failed + r.unknown);
    return r;
}

static void expect_pass(const hist *h, init_ctx *ic)
{
    cs_lin_report r = check_ops(h->ops, h->n, ic, BIG_BUDGET, 1);
    CHECK_EQ_U64(r.failed, 0);
    CHECK_EQ_U64(r.unknown, 0);
    CHECK_EQ_U64(r.passed, r.keys);
    cs_lin_report_free(&r);
}

static bool window_has(const cs_lin_key_report *k, size_t idx)
{
    for (size_t i = 0; i < k->nwindow; i++)
        if (k->window[i] == idx)
            return true;
    return false;
}

/* The reported window, alone and as recorded, from the reported state,
 * must not be linearizable either. */
static void check_window_fails(const cs_lin_op *ops,
                               const cs_lin_key_report *k)
{
    cs_lin_op w[32];
    CHECK(k->nwindow >= 1 && k->nwindow <= 32);
    CHECK(k->window_ops >= k->nwindow);
    for (size_t i = 0; i < k->nwindow; i++) {
        w[i] = ops[k->window[i]];
        CHECK_EQ_U64(w[i].key, k->key);
        if (i > 0)
            CHECK(w[i].call_ns >= w[i - 1].call_ns);
    }
    if (k->window_ops != k->nwindow)
        return; /* only the last 32 are listed */
    cs_lin_init in = k->init;
    cs_lin_report r;
    REQUIRE(cs_lin_check(w, k->nwindow, init_fixed, &in, BIG_BUDGET, 1,
                         &r) == 0);
    CHECK_EQ_U64(r.failed, 1);
    cs_lin_report_free(&r);
}

/* The evidence, as a person reads it (test output comments). */
static void print_window(const cs_lin_op *ops, const cs_lin_key_report *k)
{
    char line[256];
    printf("#   key #%llu (%zu ops): these %zu of a window of %zu cannot be "
           "linearized from %s 0x%llx:\n", (unsigned long long)k->key,
           k->nops, k->nwindow, k->window_ops,
           k->init.present ? "value" : "absent,",
           (unsigned long long)k->init.value);
    for (size_t i = 0; i < k->nwindow; i++) {
        cs_lin_describe(&ops[k->window[i]], 0, line, sizeof line);
        printf("#     %s\n", line);
    }
}

/* The history fails on exactly one key, whose window holds the ops listed
 * (SIZE_MAX-terminated); the report's first bad key is returned in *out. */
static void expect_fail(const hist *h, init_ctx *ic, uint64_t key,
                        const size_t *culprits, cs_lin_key_report *out)
{
    cs_lin_report r = check_ops(h->ops, h->n, ic, BIG_BUDGET, 1);
    CHECK_EQ_U64(r.failed, 1);
    CHECK_EQ_U64(r.unknown, 0);
    REQUIRE(r.nbad == 1);
    CHECK_EQ_U64(r.bad[0].key, key);
    CHECK_EQ_INT(r.bad[0].verdict, CS_LIN_FAIL);
    for (const size_t *c = culprits; *c != SIZE_MAX; c++)
        if (!window_has(&r.bad[0], *c)) {
            CHECK(!"a culprit is missing from the window");
            printf("#   missing op %zu (window of %zu)\n", *c,
                   r.bad[0].nwindow);
        }
    check_window_fails(h->ops, &r.bad[0]);
    print_window(h->ops, &r.bad[0]);
    if (out != NULL)
        *out = r.bad[0];
    cs_lin_report_free(&r);
}

#define CULPRITS(...) ((const size_t[]){ __VA_ARGS__, SIZE_MAX })

/* ---- linearizable histories ------------------------------------------- */

TEST(sequential_history_of_every_op_passes)
{
    hist h = { .n = 0 };
    GET(&h, 1, 5, 0, 5, CS_R_NOT_FOUND, 0);
    PUT(&h, 1, 5, 10, 15, 0x11, CS_R_INSERTED, 0);
    GET(&h, 2, 5, 20, 25, CS_R_EXISTS, 0x11);
    PUT(&h, 2, 5, 30, 35, 0x12, CS_R_REPLACED, 0x11);
    PIA(&h, 1, 5, 40, 45, 0x13, CS_R_EXISTS, 0x12);
    REPL(&h, 3, 5, 50, 55, 0x14, CS_R_REPLACED, 0x12);
    REPL_IF(&h, 3, 5, 60, 65, 0x99, 0x15, CS_R_MISMATCH);
    REPL_IF(&h, 1, 5, 70, 75, 0x14, 0x15, CS_R_REPLACED);
    REM_IF(&h, 2, 5, 80, 85, 0x14, CS_R_MISMATCH);
    COMP(&h, 2, 5, 90, 95, 0x16, CS_R_REPLACED, 0x15);
    REM_IF(&h, 1, 5, 100, 105, 0x16, CS_R_REMOVED);
    REM(&h, 1, 5, 110, 115, CS_R_NOT_FOUND, 0);
    REPL(&h, 2, 5, 120, 125, 0x17, CS_R_NOT_FOUND, 0);
    REPL_IF(&h, 2, 5, 130, 135, 0x16, 0x17, CS_R_NOT_FOUND);
    REM_IF(&h, 2, 5, 140, 145, 0x16, CS_R_NOT_FOUND);
    COMP(&h, 3, 5, 150, 155, 0x18, CS_R_INSERTED, 0);
    REM(&h, 3, 5, 160, 165, CS_R_REMOVED, 0x18);
    PIA(&h, 1, 5, 170, 175, 0x19, CS_R_INSERTED, 0);
    GET(&h, 1, 5, 180, 185, CS_R_EXISTS, 0x19);
    expect_pass(&h, NULL);
    /* a prefilled key starts present */
    hist p = { .n = 0 };
    GET(&p, 1, 3, 0, 5, CS_R_EXISTS, 0x1003);
    REM(&p, 1, 3, 10, 15, CS_R_REMOVED, 0x1003);
    init_ctx ic = { 10, 0x1000 };
    expect_pass(&p, &ic);
}

TEST(overlapping_reads_may_see_either_value)
{
    hist h = { .n = 0 };
    PUT(&h, 1, 1, 0, 10, 0x1, CS_R_INSERTED, 0);
    PUT(&h, 1, 1, 20, 60, 0x2, CS_R_REPLACED, 0x1);
    GET(&h, 2, 1, 25, 30, CS_R_EXISTS, 0x2);  /* sees the new one... */
    GET(&h, 3, 1, 30, 40, CS_R_EXISTS, 0x2);
    GET(&h, 4, 1, 15, 70, CS_R_EXISTS, 0x1);  /* ...this one the old */
    GET(&h, 2, 1, 61, 62, CS_R_EXISTS, 0x2);
    expect_pass(&h, NULL);
}

/* The first candidate (the earliest call) fits but leads to a dead end:
 * only B, C, A, D works. */
static hist backtracking_history(uint64_t key)
{
    hist h = { .n = 0 };
    PIA(&h, 1, key, 0, 100, 0x1, CS_R_INSERTED, 0);      /* A */
    PIA(&h, 2, key, 10, 20, 0x2, CS_R_INSERTED, 0);      /* B */
    REM_IF(&h, 2, key, 30, 40, 0x2, CS_R_REMOVED);       /* C */
    GET(&h, 3, key, 110, 120, CS_R_EXISTS, 0x1);         /* D */
    return h;
}

TEST(an_order_only_backtracking_finds_passes)
{
    hist h = backtracking_history(9);
    expect_pass(&h, NULL);
    /* a long put linearized after two short ops it overlaps */
    hist g = { .n = 0 };
    PUT(&g, 1, 2, 0, 100, 0x1, CS_R_REPLACED, 0x2);  /* A, last write */
    PUT(&g, 2, 2, 10, 20, 0x2, CS_R_INSERTED, 0);    /* B */
    GET(&g, 3, 2, 25, 30, CS_R_EXISTS, 0x2);          /* C */
    GET(&g, 3, 2, 40, 50, CS_R_EXISTS, 0x1);          /* D: A before it */
    GET(&g, 2, 2, 45, 55, CS_R_EXISTS, 0x1);
    expect_pass(&g, NULL);
}

TEST(racing_put_if_absent_one_wins)
{
    hist h = { .n = 0 };
    PIA(&h, 1, 4, 0, 10, 0x1, CS_R_INSERTED, 0);
    PIA(&h, 2, 4, 0, 10, 0x2, CS_R_EXISTS, 0x1);
    expect_pass(&h, NULL);
    /* the one invoked later wins */
    hist g = { .n = 0 };
    PIA(&g, 1, 4, 0, 10, 0x1, CS_R_EXISTS, 0x2);
    PIA(&g, 2, 4, 5, 15, 0x2, CS_R_INSERTED, 0);
    GET(&g, 3, 4, 20, 30, CS_R_EXISTS, 0x2);
    expect_pass(&g, NULL);
    /* three racers, then a remove and a fresh race */
    hist f = { .n = 0 };
    PIA(&f, 1, 4, 0, 30, 0x1, CS_R_EXISTS, 0x3);
    PIA(&f, 2, 4, 5, 25, 0x2, CS_R_EXISTS, 0x3);
    PIA(&f, 3, 4, 10, 20, 0x3, CS_R_INSERTED, 0);
    REM(&f, 1, 4, 40, 50, CS_R_REMOVED, 0x3);
    PIA(&f, 2, 4, 60, 70, 0x4, CS_R_EXISTS, 0x5);
    PIA(&f, 3, 4, 60, 70, 0x5, CS_R_INSERTED, 0);
    expect_pass(&f, NULL);
}

TEST(equal_timestamps_count_as_concurrent)
{
    /* the get is invoked the instant the put returns: it may go first */
    hist h = { .n = 0 };
    PUT(&h, 1, 6, 0, 10, 0x1, CS_R_INSERTED, 0);
    GET(&h, 2, 6, 10, 20, CS_R_NOT_FOUND, 0);
    expect_pass(&h, NULL);
    /* one nanosecond later it may not */
    hist g = { .n = 0 };
    size_t a = PUT(&g, 1, 6, 0, 10, 0x1, CS_R_INSERTED, 0);
    size_t b = GET(&g, 2, 6, 11, 20, CS_R_NOT_FOUND, 0);
    expect_fail(&g, NULL, 6, CULPRITS(a, b), NULL);
}

TEST(failed_operations_have_no_effect)
{
    hist h = { .n = 0 };
    PUT(&h, 1, 8, 0, 10, 0x1, CS_R_INSERTED, 0);
    PUT(&h, 2, 8, 20, 30, 0x2, CS_R_ENOMEM, 0);
    PIA(&h, 2, 8, 32, 34, 0x3, CS_R_ERROR, 0);
    REM(&h, 3, 8, 35, 38, CS_R_ENOMEM, 0);
    GET(&h, 3, 8, 40, 50, CS_R_EXISTS, 0x1);
    expect_pass(&h, NULL);
}

/* ---- violations ------------------------------------------------------- */

TEST(stale_read_fails)
{
    hist h = { .n = 0 };
    PUT(&h, 1, 7, 0, 10, 0x1, CS_R_INSERTED, 0);
    GET(&h, 2, 7, 5, 25, CS_R_EXISTS, 0x1);
    size_t w = REPL(&h, 1, 7, 20, 30, 0x2, CS_R_REPLACED, 0x1);
    GET(&h, 2, 7, 32, 34, CS_R_EXISTS, 0x2);
    size_t r = GET(&h, 3, 7, 40, 50, CS_R_EXISTS, 0x1); /* stale */
    cs_lin_key_report k;
    expect_fail(&h, NULL, 7, CULPRITS(r), &k);
    (void)w;
    /* without the second read, the window must reach the replace */
    hist g = { .n = 0 };
    PUT(&g, 1, 7, 0, 10, 0x1, CS_R_INSERTED, 0);
    GET(&g, 2, 7, 5, 25, CS_R_EXISTS, 0x1);
    w = REPL(&g, 1, 7, 20, 30, 0x2, CS_R_REPLACED, 0x1);
    r = GET(&g, 3, 7, 40, 50, CS_R_EXISTS, 0x1);
    expect_fail(&g, NULL, 7, CULPRITS(w, r), &k);
}

TEST(lost_update_fails)
{
    hist h = { .n = 0 };
    PUT(&h, 1, 3, 0, 10, 0x1, CS_R_INSERTED, 0);
    size_t b = PUT(&h, 2, 3, 20, 30, 0x2, CS_R_REPLACED, 0x1);
    size_t c = GET(&h, 3, 3, 40, 50, CS_R_EXISTS, 0x1);
    GET(&h, 1, 3, 45, 55, CS_R_EXISTS, 0x1);
    cs_lin_key_report k;
    expect_fail(&h, NULL, 3, CULPRITS(b, c), &k);
    CHECK(k.init.present && k.init.value == 0x1);
}

TEST(two_put_if_absent_both_inserting_fails)
{
    hist h = { .n = 0 };
    size_t a = PIA(&h, 1, 2, 0, 10, 0x1, CS_R_INSERTED, 0);
    size_t b = PIA(&h, 2, 2, 5, 15, 0x2, CS_R_INSERTED, 0);
    cs_lin_key_report k;
    expect_fail(&h, NULL, 2, CULPRITS(a, b), &k);
    CHECK(!k.init.present);
    /* not overlapping, a put_if_absent that failed in between */
    hist g = { .n = 0 };
    a = PIA(&g, 1, 2, 0, 10, 0x1, CS_R_INSERTED, 0);
    PIA(&g, 3, 2, 2, 12, 0x3, CS_R_EXISTS, 0x1);
    b = PIA(&g, 2, 2, 20, 30, 0x2, CS_R_INSERTED, 0);
    expect_fail(&g, NULL, 2, CULPRITS(a, b), &k);
}

TEST(read_of_a_removed_value_fails)
{
    hist h = { .n = 0 };
    PUT(&h, 1, 11, 0, 10, 0x1, CS_R_INSERTED, 0);
    size_t b = REM(&h, 2, 11, 20, 30, CS_R_REMOVED, 0x1);
    size_t c = GET(&h, 3, 11, 40, 50, CS_R_EXISTS, 0x1);
    expect_fail(&h, NULL, 11, CULPRITS(b, c), NULL);
}

TEST(value_never_written_fails)
{
    hist h = { .n = 0 };
    PUT(&h, 1, 12, 0, 10, 0x1, CS_R_INSERTED, 0);
    size_t b = GET(&h, 2, 12, 5, 30, CS_R_EXISTS, 0x99);
    expect_fail(&h, NULL, 12, CULPRITS(b), NULL);
    /* from a prefilled key: the window is the read alone, init recorded */
    hist g = { .n = 0 };
    GET(&g, 1, 2, 0, 10, CS_R_EXISTS, 0x1002);
    b = GET(&g, 2, 2, 20, 30, CS_R_EXISTS, 0x99);
    init_ctx ic = { 10, 0x1000 };
    cs_lin_key_report k;
    cs_lin_report r = check_ops(g.ops, g.n, &ic, BIG_BUDGET, 1);
    REQUIRE(r.nbad == 1);
    k = r.bad[0];
    CHECK_EQ_INT(k.verdict, CS_LIN_FAIL);
    CHECK(window_has(&k, b));
    check_window_fails(g.ops, &k);
    cs_lin_report_free(&r);
    /* a read of nothing at all: absent from the start */
    hist f = { .n = 0 };
    b = GET(&f, 1, 40, 0, 10, CS_R_EXISTS, 0x5);
    expect_fail(&f, NULL, 40, CULPRITS(b), &k);
    CHECK_EQ_U64(k.nwindow, 1);
    CHECK(!k.init.present);
}

TEST(replace_if_with_the_wrong_expected_value_fails)
{
    hist h = { .n = 0 };
    size_t a = PUT(&h, 1, 13, 0, 10, 0x1, CS_R_INSERTED, 0);
    GET(&h, 2, 13, 12, 14, CS_R_EXISTS, 0x1);
    size_t b = REPL_IF(&h, 2, 13, 20, 30, 0x5, 0x7, CS_R_REPLACED);
    cs_lin_key_report k;
    expect_fail(&h, NULL, 13, CULPRITS(b), &k);
    /* the state before the window is 0x1 or the window shows the put */
    CHECK((k.init.present && k.init.value == 0x1) || window_has(&k, a));
}

TEST(remove_if_mismatch_on_the_right_value_fails)
{
    hist h = { .n = 0 };
    size_t a = PUT(&h, 1, 14, 0, 10, 0x3, CS_R_INSERTED, 0);
    size_t b = REM_IF(&h, 2, 14, 20, 30, 0x3, CS_R_MISMATCH);
    expect_fail(&h, NULL, 14, CULPRITS(a, b), NULL);
}

TEST(a_tiny_budget_is_unknown_never_pass)
{
    hist h = backtracking_history(9);
    cs_lin_report r = check_ops(h.ops, h.n, NULL, 3, 1);
    CHECK_EQ_U64(r.passed, 0);
    CHECK_EQ_U64(r.failed, 0);
    CHECK_EQ_U64(r.unknown, 1);
    REQUIRE(r.nbad == 1);
    CHECK_EQ_INT(r.bad[0].verdict, CS_LIN_UNKNOWN);
    CHECK_EQ_U64(r.bad[0].key, 9);
    CHECK_EQ_U64(r.bad[0].nops, 4);
    CHECK_EQ_U64(r.bad[0].nwindow, 0);
    cs_lin_report_free(&r);
    /* a failing history with a tiny budget is UNKNOWN too */
    hist g = { .n = 0 };
    PIA(&g, 1, 2, 0, 10, 0x1, CS_R_INSERTED, 0);
    PIA(&g, 2, 2, 5, 15, 0x2, CS_R_INSERTED, 0);
    r = check_ops(g.ops, g.n, NULL, 2, 1);
    CHECK_EQ_U64(r.unknown, 1);
    CHECK_EQ_U64(r.failed, 0);
    cs_lin_report_free(&r);
    /* and with enough budget it passes */
    r = check_ops(h.ops, h.n, NULL, 100, 1);
    CHECK_EQ_U64(r.passed, 1);
    cs_lin_report_free(&r);
}

TEST(only_the_bad_key_is_reported)
{
    hist h = { .n = 0 };
    size_t bad[2] = { SIZE_MAX, SIZE_MAX };
    for (uint64_t k = 1; k <= 5; k++) {
        uint64_t t = k;  /* interleave the keys in time */
        PUT(&h, 1, k, t, t + 10, 0x10 + k, CS_R_INSERTED, 0);
        size_t p = PUT(&h, 2, k, t + 20, t + 30, 0x20 + k, CS_R_REPLACED,
                       0x10 + k);
        size_t g = GET(&h, 3, k, t + 40, t + 50, CS_R_EXISTS,
                       k == 3 ? 0x10 + k : 0x20 + k);
        if (k == 3) {
            bad[0] = p;
            bad[1] = g;
        }
    }
    for (unsigned threads = 1; threads <= 4; threads += 3) {
        cs_lin_report r = check_ops(h.ops, h.n, NULL, BIG_BUDGET, threads);
        CHECK_EQ_U64(r.keys, 5);
        CHECK_EQ_U64(r.passed, 4);
        CHECK_EQ_U64(r.failed, 1);
        REQUIRE(r.nbad == 1);
        CHECK_EQ_U64(r.bad[0].key, 3);
        CHECK_EQ_U64(r.bad[0].nops, 3);
        CHECK(window_has(&r.bad[0], bad[0]));
        CHECK(window_has(&r.bad[0], bad[1]));
        check_window_fails(h.ops, &r.bad[0]);
        cs_lin_report_free(&r);
    }
}

TEST(empty_history_and_describe)
{
    cs_lin_report r;
    CHECK_EQ_INT(cs_lin_check(NULL, 0, init_of, NULL, 10, 2, &r), 0);
    CHECK_EQ_U64(r.keys, 0);
    CHECK_EQ_U64(r.nbad, 0);
    cs_lin_report_free(&r);

    char buf[256];
    cs_lin_op o = { .key = 17, .call_ns = 1000 + 12345678,
                    .ret_ns = 1000 + 12345912, .arg = 0x2a, .out = 0x1,
                    .op = CS_OP_PUT, .res = CS_R_REPLACED, .thread = 3 };
    cs_lin_describe(&o, 1000, buf, sizeof buf);
    CHECK_EQ_STR(buf, "thread 3  put(key #17, 0x2a)  -> replaced 0x1   "
                      "[12.345678 .. 12.345912 ms]");
    o.op = CS_OP_GET;
    o.res = CS_R_NOT_FOUND;
    cs_lin_describe(&o, 1000, buf, sizeof buf);
    CHECK(strstr(buf, "get(key #17)  -> not found") != NULL);
    o.res = CS_R_EXISTS;
    o.out = 0xbeef;
    cs_lin_describe(&o, 1000, buf, sizeof buf);
    CHECK(strstr(buf, "get(key #17)  -> 0xbeef") != NULL);
    o.op = CS_OP_REPLACE_IF;
    o.expect = 0x5;
    o.res = CS_R_MISMATCH;
    cs_lin_describe(&o, 1000, buf, sizeof buf);
    CHECK(strstr(buf, "replace_if(key #17, 0x5, 0x2a)  -> mismatch") != NULL);
    cs_lin_describe(&o, 1000, buf, 8); /* truncated, terminated */
    CHECK_EQ_U64(strlen(buf), 7);
}

/* ---- random histories of a simulated atomic map ----------------------- */

typedef struct sim_state {
    bool present;
    uint64_t value;
} sim_state;

/* One op of a sequential map applied at its linearization point. */
static void sim_apply(sim_state *s, cs_lin_op *o, check_rng_t *rng)
{
    bool pr = s->present;
    uint64_t cur = s->value;
    o->out = 0;
    switch (o->op) {
    case CS_OP_GET:
        o->res = pr ? CS_R_EXISTS : CS_R_NOT_FOUND;
        o->out = pr ? cur : 0;
        return;
    case CS_OP_PUT:
    case CS_OP_COMPUTE:
        o->res = pr ? CS_R_REPLACED : CS_R_INSERTED;
        o->out = pr ? cur : 0;
        break;
    case CS_OP_PUT_IF_ABSENT:
        o->res = pr ? CS_R_EXISTS : CS_R_INSERTED;
        o->out = pr ? cur : 0;
        if (pr)
            return;
        break;
    case CS_OP_REPLACE:
        o->res = pr ? CS_R_REPLACED : CS_R_NOT_FOUND;
        o->out = pr ? cur : 0;
        if (!pr)
            return;
        break;
    case CS_OP_REPLACE_IF:
        o->expect = pr && check_rng_below(rng, 2) ? cur : o->arg ^ 1;
        o->res = !pr ? CS_R_NOT_FOUND
                     : cur == o->expect ? CS_R_REPLACED : CS_R_MISMATCH;
        if (o->res != CS_R_REPLACED)
            return;
        break;
    case CS_OP_REMOVE:
        o->res = pr ? CS_R_REMOVED : CS_R_NOT_FOUND;
        o->out = pr ? cur : 0;
        s->present = false;
        s->value = 0;
        return;
    default: /* remove_if */
        o->arg = pr && check_rng_below(rng, 2) ? cur : o->arg ^ 1;
        o->res = !pr ? CS_R_NOT_FOUND
                     : cur == o->arg ? CS_R_REMOVED : CS_R_MISMATCH;
        if (o->res == CS_R_REMOVED) {
            s->present = false;
            s->value = 0;
        }
        return;
    }
    s->present = true;
    s->value = o->arg;
}

/* n ops over nkeys keys from nthreads simulated threads: op i takes effect
 * at time lin_i (increasing), inside [call, ret] drawn around it; a
 * thread's ops do not overlap.  Linearizable by construction.  With
 * stalled, op 0 is a get of key 0 spanning the whole history. */
static void sim_history(cs_lin_op *ops, size_t n, uint64_t nkeys,
                        unsigned nthreads, uint64_t spread, const init_ctx *ic,
                        uint64_t seed, bool stalled)
{
    check_rng_t rng;
    check_rng_seed(&rng, seed);
    sim_state *st = calloc(nkeys, sizeof *st);
    uint64_t free_at[16] = { 0 };
    REQUIRE(st != NULL && nthreads <= 16);
    for (uint64_t k = 0; k < nkeys; k++) {
        cs_lin_init in = init_of(k, (void *)ic);
        st[k] = (sim_state){ in.present, in.value };
    }
    uint64_t t = 100;
    for (size_t i = 0; i < n; i++) {
        unsigned th = (unsigned)check_rng_below(&rng, nthreads);
        t += 1 + check_rng_below(&rng, 3);
        if (free_at[th] > t)
            t = free_at[th];
        uint64_t back = check_rng_below(&rng, spread + 1);
        uint64_t call = t - back < free_at[th] ? free_at[th] : t - back;
        cs_lin_op *o = &ops[i];
        *o = (cs_lin_op){ .key = check_rng_below(&rng, nkeys),
                          .call_ns = call,
                          .ret_ns = t + check_rng_below(&rng, spread + 1),
                          .arg = ((uint64_t)(th + 1) << 40) | (i + 1),
                          .op = (uint8_t)check_rng_below(&rng, 8),
                          .thread = (uint16_t)th };
        if (stalled && i == 0) {
            o->key = 0;
            o->op = CS_OP_GET;
            o->call_ns = 0;
            o->thread = 99;
        }
        sim_apply(&st[o->key], o, &rng);
        free_at[th] = o->ret_ns + 1;
    }
    if (stalled)
        ops[0].ret_ns = t + spread + 1;
    free(st);
}

/* Change one result to a value nobody wrote; returns its index (*old: the
 * value it had). */
static size_t mutate(cs_lin_op *ops, size_t n, check_rng_t *rng,
                     uint64_t *old)
{
    for (;;) {
        size_t i = check_rng_below(rng, n);
        cs_lin_op *o = &ops[i];
        bool has_value = (o->op == CS_OP_GET && o->res == CS_R_EXISTS) ||
                         ((o->op == CS_OP_PUT || o->op == CS_OP_REPLACE ||
                           o->op == CS_OP_COMPUTE) &&
                          o->res == CS_R_REPLACED) ||
                         (o->op == CS_OP_REMOVE && o->res == CS_R_REMOVED);
        if (has_value) {
            *old = o->out;
            o->out = 0xdead000000000000ULL | i;
            return i;
        }
    }
}

static bool same_reports(const cs_lin_report *a, const cs_lin_report *b)
{
    if (a->keys != b->keys || a->passed != b->passed ||
        a->failed != b->failed || a->unknown != b->unknown ||
        a->nbad != b->nbad)
        return false;
    for (size_t i = 0; i < a->nbad; i++) {
        const cs_lin_key_report *x = &a->bad[i], *y = &b->bad[i];
        if (x->key != y->key || x->verdict != y->verdict ||
            x->nwindow != y->nwindow || x->window_ops != y->window_ops ||
            x->init.present != y->init.present ||
            x->init.value != y->init.value ||
            memcmp(x->window, y->window, x->nwindow * sizeof *x->window))
            return false;
    }
    return true;
}

static void random_round(size_t n, uint64_t nkeys, unsigned nthreads,
                         uint64_t spread, uint64_t seed)
{
    cs_lin_op *ops = malloc(n * sizeof *ops);
    REQUIRE(ops != NULL);
    init_ctx ic = { nkeys / 2, 0xfeed00000000ULL };
    sim_history(ops, n, nkeys, nthreads, spread, &ic, seed, false);
    cs_lin_report r1 = check_ops(ops, n, &ic, BIG_BUDGET, 1);
    cs_lin_report r4 = check_ops(ops, n, &ic, BIG_BUDGET, 4);
    CHECK_EQ_U64(r1.passed, r1.keys);
    CHECK_EQ_U64(r1.keys, nkeys);
    CHECK(same_reports(&r1, &r4));
    cs_lin_report_free(&r1);
    cs_lin_report_free(&r4);

    check_rng_t rng;
    check_rng_seed(&rng, seed ^ 0x5eed);
    for (int m = 0; m < 3; m++) {
        uint64_t old;
        size_t i = mutate(ops, n, &rng, &old);
        r1 = check_ops(ops, n, &ic, BIG_BUDGET, 1);
        r4 = check_ops(ops, n, &ic, BIG_BUDGET, 4);
        CHECK_EQ_U64(r1.failed, 1);
        CHECK_EQ_U64(r1.unknown, 0);
        CHECK(same_reports(&r1, &r4));
        if (r1.nbad == 1) {
            CHECK_EQ_U64(r1.bad[0].key, ops[i].key);
            if (r1.bad[0].window_ops <= 32)
                CHECK(window_has(&r1.bad[0], i));
            check_window_fails(ops, &r1.bad[0]);
            if (m == 0)
                print_window(ops, &r1.bad[0]);
        }
        cs_lin_report_free(&r1);
        cs_lin_report_free(&r4);
        ops[i].out = old;
    }
    free(ops);
}

TEST(random_histories_pass_and_mutants_fail_1_vs_4_threads)
{
    size_t n = chm_test_scaled(40000);
    random_round(n, 64, 4, 20, 1);
    random_round(n, 8, 3, 40, 2);
    random_round(n / 4 + 100, 1, 4, 30, 3);   /* one hot key */
    random_round(n / 4 + 100, 3, 2, 5, 4);
}

/* ---- against brute force ---------------------------------------------- */

/* The model, for the brute-force checker: written from the spec again. */
static bool brute_step(sim_state *s, const cs_lin_op *o)
{
    cs_lin_op want = *o;
    check_rng_t unused = { 0 };
    sim_state t = *s;
    if (o->op == CS_OP_REPLACE_IF || o->op == CS_OP_REMOVE_IF) {
        /* sim_apply draws these arguments: decide by hand */
        bool pr = t.present;
        uint64_t cur = t.value;
        uint64_t ex = o->op == CS_OP_REPLACE_IF ? o->expect : o->arg;
        cs_res res = !pr ? CS_R_NOT_FOUND
                         : cur == ex ? (o->op == CS_OP_REPLACE_IF
                                            ? CS_R_REPLACED : CS_R_REMOVED)
                                     : CS_R_MISMATCH;
        if (o->res != res)
            return false;
        if (res == CS_R_REPLACED)
            t = (sim_state){ true, o->arg };
        else if (res == CS_R_REMOVED)
            t = (sim_state){ false, 0 };
        *s = t;
        return true;
    }
    sim_apply(&t, &want, &unused);
    bool has_out = want.res == CS_R_EXISTS || want.res == CS_R_REPLACED ||
                   want.res == CS_R_REMOVED;
    if (want.res != o->res || (has_out && want.out != o->out))
        return false;
    *s = t;
    return true;
}

/* Is there an order of the not yet taken ops (mask) respecting real time
 * in which every result is the model's? */
static bool brute_lin(const cs_lin_op *ops, size_t n, unsigned taken,
                      sim_state s)
{
    if (taken == (1u << n) - 1)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (taken & (1u << i))
            continue;
        bool minimal = true;
        for (size_t j = 0; j < n && minimal; j++)
            if (!(taken & (1u << j)) && ops[j].ret_ns < ops[i].call_ns)
                minimal = false;
        sim_state t = s;
        if (minimal && brute_step(&t, &ops[i]) &&
            brute_lin(ops, n, taken | 1u << i, t))
            return true;
    }
    return false;
}

TEST(small_random_histories_agree_with_brute_force)
{
    check_rng_t rng;
    check_rng_seed(&rng, 42);
    size_t rounds = chm_test_scaled(4000), npass = 0, nfail = 0;
    for (size_t round = 0; round < rounds; round++) {
        cs_lin_op ops[7];
        size_t n = 1 + check_rng_below(&rng, 7);
        init_ctx ic = { check_rng_below(&rng, 2), 1 };  /* key 0: 1 or absent */
        sim_state st = { ic.prefilled > 0, ic.prefilled > 0 ? 1 : 0 };
        uint64_t t = 0;
        for (size_t i = 0; i < n; i++) {  /* a sequential run ... */
            t += 1 + check_rng_below(&rng, 4);
            ops[i] = (cs_lin_op){ .key = 0,
                                  .call_ns = t - check_rng_below(&rng, 8),
                                  .ret_ns = t + check_rng_below(&rng, 8),
                                  .arg = 1 + check_rng_below(&rng, 3),
                                  .op = (uint8_t)check_rng_below(&rng, 8),
                                  .thread = (uint16_t)i };
            if (ops[i].call_ns > t)  /* wrapped */
                ops[i].call_ns = 0;
            sim_apply(&st, &ops[i], &rng);
        }
        if (check_rng_below(&rng, 2)) {   /* ... and maybe a wrong result */
            cs_lin_op *o = &ops[check_rng_below(&rng, n)];
            if (check_rng_below(&rng, 2))
                o->out = 1 + check_rng_below(&rng, 3);
            else
                o->res = (uint8_t)check_rng_below(&rng, 6);
        }
        bool want = brute_lin(ops, n, 0, (sim_state){ ic.prefilled > 0,
                                                      ic.prefilled > 0 });
        cs_lin_report r = check_ops(ops, n, &ic, BIG_BUDGET, 1);
        CHECK_EQ_U64(r.passed, want ? 1 : 0);
        CHECK_EQ_U64(r.failed, want ? 0 : 1);
        if (!want && r.nbad == 1)
            check_window_fails(ops, &r.bad[0]);
        npass += want;
        nfail += !want;
        cs_lin_report_free(&r);
    }
    printf("#   %zu linearizable, %zu not\n", npass, nfail);
    CHECK(npass > rounds / 5 && nfail > rounds / 5);
}

TEST(long_hot_key_with_a_stalled_reader_is_near_linear)
{
    size_t n = chm_test_scaled(200000);
    cs_lin_op *ops = malloc(n * sizeof *ops);
    REQUIRE(ops != NULL);
    init_ctx ic = { 1, 0xfeed00000000ULL };
    sim_history(ops, n, 1, 4, 20, &ic, 7, true);
    double t0 = check_now();
    /* steps: each op once, plus the candidates tried before it */
    cs_lin_report r = check_ops(ops, n, &ic, 12 * (uint64_t)n, 2);
    double dt = check_now() - t0;
    CHECK_EQ_U64(r.passed, 1);
    printf("#   %zu ops on one key: %.3f s\n", n, dt);
    cs_lin_report_free(&r);
    /* break the stalled reader's result: still found, quickly */
    ops[0].out ^= 1;
    r = check_ops(ops, n, &ic, BIG_BUDGET, 2);
    CHECK_EQ_U64(r.failed, 1);
    if (r.nbad == 1) {
        check_window_fails(ops, &r.bad[0]);
        CHECK(window_has(&r.bad[0], 0));
        print_window(ops, &r.bad[0]);
    }
    cs_lin_report_free(&r);
    free(ops);
}

CHECK_MAIN()
