/*
 * test_ops.c - the semantics of every operation of chm.h, single-threaded,
 * with integer keys: return codes exactly as documented, *_out values, NULL
 * out pointers, edge keys and values (0, UINTPTR_MAX), size after each
 * operation, compute in all its roles, chm_new capacities, chm_strerror and
 * chm_stats.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chm.h"
#include "check.h"

static const uintptr_t SENTINEL = (uintptr_t)0xdeadbeefcafef00dULL;

static bool is_pow2(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* ---- chm_new capacities ------------------------------------------------ */

static void check_capacity(const chm_type *type, size_t cap)
{
    chm_t *m = chm_new(type, cap);
    CHECK(m != NULL);
    if (m == NULL)
        return;
    chm_thread_t *t = chm_thread_join(m);
    CHECK(t != NULL);
    CHECK_EQ_U64(chm_size(m), 0);

    chm_stats_t st;
    chm_stats(m, &st);
    /* the table may be allocated lazily: 0 or a power of two */
    CHECK(st.table_size == 0 || is_pow2(st.table_size));
    CHECK_EQ_U64(st.size, 0);
    CHECK_EQ_U64(st.threads, 1);
    CHECK_EQ_U64(st.resizes, 0);

    /* "sized for initial_capacity entries without a resize" */
    size_t n = cap == 0 ? 8 : cap;
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(chm_put(t, (uintptr_t)i * 7919u, i + 1, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), n);
    chm_stats(m, &st);
    CHECK(is_pow2(st.table_size));
    if (cap == 0)
        CHECK(st.table_size >= 16);
    CHECK_EQ_U64(st.resizes, 0);
    for (size_t i = 0; i < n; i++) {
        uintptr_t v = SENTINEL;
        CHECK(chm_get(t, (uintptr_t)i * 7919u, &v));
        CHECK_EQ_U64(v, i + 1);
    }
    /* and it grows from there */
    for (size_t i = n; i < n + 200; i++)
        CHECK_EQ_INT(chm_put(t, (uintptr_t)i * 7919u, i + 1, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), n + 200);
    for (size_t i = 0; i < n + 200; i++) {
        uintptr_t v = SENTINEL;
        CHECK(chm_get(t, (uintptr_t)i * 7919u, &v));
        CHECK_EQ_U64(v, i + 1);
    }
    chm_stats(m, &st);
    CHECK(is_pow2(st.table_size));
    CHECK(st.table_size >= n + 200);
    if (cap < 100)
        CHECK(st.resizes >= 1);
    chm_thread_leave(t);
    chm_free(m);
}

static void test_new_capacities(void)
{
    static const size_t caps[] = {0, 1, 2, 3, 16, 17, 1000};
    chm_type zero;
    memset(&zero, 0, sizeof zero);
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        check_capacity(NULL, caps[i]);
        check_capacity(&zero, caps[i]);
    }
    /* an empty map can be freed without ever being joined */
    chm_t *m = chm_new(NULL, 0);
    CHECK(m != NULL);
    CHECK_EQ_U64(chm_size(m), 0);
    chm_free(m);
    m = chm_new(NULL, 1);
    CHECK(m != NULL);
    chm_free(m);
}

/* ---- edge keys and values --------------------------------------------- */

static void test_edge_keys_values(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    const uintptr_t keys[] = {0, UINTPTR_MAX, 1, UINTPTR_MAX - 1,
                              (uintptr_t)1 << 63};
    const size_t nk = sizeof keys / sizeof keys[0];
    uintptr_t v;

    for (size_t i = 0; i < nk; i++) {
        CHECK(!chm_get(t, keys[i], NULL));
        v = SENTINEL;
        CHECK(!chm_get(t, keys[i], &v));
        CHECK_EQ_U64(v, SENTINEL); /* nothing stored on a miss */
    }
    /* key 0 -> value 0, key MAX -> value MAX, others -> value 0 / MAX */
    CHECK_EQ_INT(chm_put(t, 0, 0, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 1);
    CHECK_EQ_INT(chm_put(t, UINTPTR_MAX, UINTPTR_MAX, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 2);
    CHECK_EQ_INT(chm_put(t, 1, UINTPTR_MAX, NULL), CHM_OK);
    CHECK_EQ_INT(chm_put(t, UINTPTR_MAX - 1, 0, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 4);
    CHECK(!chm_get(t, (uintptr_t)1 << 63, NULL));

    v = SENTINEL;
    CHECK(chm_get(t, 0, &v));
    CHECK_EQ_U64(v, 0);
    CHECK(chm_get(t, 0, NULL));
    v = 0;
    CHECK(chm_get(t, UINTPTR_MAX, &v));
    CHECK_EQ_U64(v, UINTPTR_MAX);
    v = 0;
    CHECK(chm_get(t, 1, &v));
    CHECK_EQ_U64(v, UINTPTR_MAX);
    v = SENTINEL;
    CHECK(chm_get(t, UINTPTR_MAX - 1, &v));
    CHECK_EQ_U64(v, 0);

    /* replace value 0 by value 0: still EXISTS with old 0 */
    v = SENTINEL;
    CHECK_EQ_INT(chm_put(t, 0, 0, &v), CHM_EXISTS);
    CHECK_EQ_U64(v, 0);
    CHECK_EQ_U64(chm_size(m), 4);
    /* replace_if with expect 0 */
    CHECK_EQ_INT(chm_replace_if(t, 0, 0, 5), CHM_OK);
    v = SENTINEL;
    CHECK(chm_get(t, 0, &v));
    CHECK_EQ_U64(v, 5);
    CHECK_EQ_INT(chm_replace_if(t, 0, 0, 6), CHM_MISMATCH);
    CHECK_EQ_INT(chm_replace_if(t, UINTPTR_MAX, UINTPTR_MAX, 0), CHM_OK);
    v = SENTINEL;
    CHECK(chm_get(t, UINTPTR_MAX, &v));
    CHECK_EQ_U64(v, 0);
    /* remove_if with expect 0 on key MAX */
    CHECK_EQ_INT(chm_remove_if(t, UINTPTR_MAX, 1), CHM_MISMATCH);
    CHECK_EQ_U64(chm_size(m), 4);
    CHECK_EQ_INT(chm_remove_if(t, UINTPTR_MAX, 0), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 3);
    CHECK(!chm_get(t, UINTPTR_MAX, NULL));
    /* remove key 0 */
    v = SENTINEL;
    CHECK_EQ_INT(chm_remove(t, 0, &v), CHM_OK);
    CHECK_EQ_U64(v, 5);
    CHECK(!chm_get(t, 0, NULL));
    CHECK_EQ_U64(chm_size(m), 2);
    CHECK_EQ_INT(chm_remove(t, 0, NULL), CHM_NOT_FOUND);
    /* the neighbours were untouched */
    v = 0;
    CHECK(chm_get(t, 1, &v));
    CHECK_EQ_U64(v, UINTPTR_MAX);
    v = SENTINEL;
    CHECK(chm_get(t, UINTPTR_MAX - 1, &v));
    CHECK_EQ_U64(v, 0);
    /* key 0 again after removal */
    CHECK_EQ_INT(chm_put_if_absent(t, 0, UINTPTR_MAX, NULL), CHM_OK);
    v = 0;
    CHECK(chm_get(t, 0, &v));
    CHECK_EQ_U64(v, UINTPTR_MAX);
    CHECK_EQ_U64(chm_size(m), 3);

    chm_thread_leave(t);
    chm_free(m);
}

/* ---- put --------------------------------------------------------------- */

static void test_put(void)
{
    chm_t *m = chm_new(NULL, 4);
    chm_thread_t *t = chm_thread_join(m);
    uintptr_t old;

    old = SENTINEL;
    CHECK_EQ_INT(chm_put(t, 42, 100, &old), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 1);
    old = SENTINEL;
    CHECK_EQ_INT(chm_put(t, 42, 101, &old), CHM_EXISTS);
    CHECK_EQ_U64(old, 100);
    CHECK_EQ_U64(chm_size(m), 1);
    CHECK_EQ_INT(chm_put(t, 42, 102, NULL), CHM_EXISTS);
    CHECK_EQ_U64(chm_size(m), 1);
    uintptr_t v = 0;
    CHECK(chm_get(t, 42, &v));
    CHECK_EQ_U64(v, 102);
    CHECK_EQ_INT(chm_put(t, 43, 200, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 2);
    old = SENTINEL;
    CHECK_EQ_INT(chm_put(t, 43, 201, &old), CHM_EXISTS);
    CHECK_EQ_U64(old, 200);
    v = 0;
    CHECK(chm_get(t, 42, &v));
    CHECK_EQ_U64(v, 102);
    CHECK(!chm_get(t, 44, NULL));
    /* a value identical to the stored one is still a replacement */
    old = SENTINEL;
    CHECK_EQ_INT(chm_put(t, 43, 201, &old), CHM_EXISTS);
    CHECK_EQ_U64(old, 201);
    CHECK_EQ_U64(chm_size(m), 2);
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- put_if_absent ----------------------------------------------------- */

static void test_put_if_absent(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    uintptr_t cur, v;

    cur = SENTINEL;
    CHECK_EQ_INT(chm_put_if_absent(t, 7, 70, &cur), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 1);
    v = 0;
    CHECK(chm_get(t, 7, &v));
    CHECK_EQ_U64(v, 70);
    cur = SENTINEL;
    CHECK_EQ_INT(chm_put_if_absent(t, 7, 71, &cur), CHM_EXISTS);
    CHECK_EQ_U64(cur, 70);
    CHECK_EQ_U64(chm_size(m), 1);
    v = 0;
    CHECK(chm_get(t, 7, &v));
    CHECK_EQ_U64(v, 70);
    CHECK_EQ_INT(chm_put_if_absent(t, 7, 72, NULL), CHM_EXISTS);
    v = 0;
    CHECK(chm_get(t, 7, &v));
    CHECK_EQ_U64(v, 70);
    CHECK_EQ_INT(chm_put_if_absent(t, 8, 80, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 2);
    /* after remove it inserts again */
    CHECK_EQ_INT(chm_remove(t, 7, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 1);
    cur = SENTINEL;
    CHECK_EQ_INT(chm_put_if_absent(t, 7, 73, &cur), CHM_OK);
    v = 0;
    CHECK(chm_get(t, 7, &v));
    CHECK_EQ_U64(v, 73);
    CHECK_EQ_U64(chm_size(m), 2);
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- replace ----------------------------------------------------------- */

static void test_replace(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    uintptr_t old, v;

    old = SENTINEL;
    CHECK_EQ_INT(chm_replace(t, 5, 50, &old), CHM_NOT_FOUND);
    CHECK_EQ_U64(old, SENTINEL); /* nothing stored */
    CHECK(!chm_get(t, 5, NULL));
    CHECK_EQ_U64(chm_size(m), 0);
    CHECK_EQ_INT(chm_replace(t, 5, 50, NULL), CHM_NOT_FOUND);
    CHECK_EQ_U64(chm_size(m), 0);

    CHECK_EQ_INT(chm_put(t, 5, 51, NULL), CHM_OK);
    old = SENTINEL;
    CHECK_EQ_INT(chm_replace(t, 5, 52, &old), CHM_OK);
    CHECK_EQ_U64(old, 51);
    v = 0;
    CHECK(chm_get(t, 5, &v));
    CHECK_EQ_U64(v, 52);
    CHECK_EQ_U64(chm_size(m), 1);
    CHECK_EQ_INT(chm_replace(t, 5, 53, NULL), CHM_OK);
    v = 0;
    CHECK(chm_get(t, 5, &v));
    CHECK_EQ_U64(v, 53);
    CHECK_EQ_U64(chm_size(m), 1);
    /* a neighbour absent */
    CHECK_EQ_INT(chm_replace(t, 6, 60, NULL), CHM_NOT_FOUND);
    CHECK(!chm_get(t, 6, NULL));
    CHECK_EQ_U64(chm_size(m), 1);
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- replace_if -------------------------------------------------------- */

static void test_replace_if(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    uintptr_t v;

    CHECK_EQ_INT(chm_replace_if(t, 9, 0, 1), CHM_NOT_FOUND);
    CHECK_EQ_INT(chm_replace_if(t, 9, 90, 91), CHM_NOT_FOUND);
    CHECK(!chm_get(t, 9, NULL));
    CHECK_EQ_U64(chm_size(m), 0);

    CHECK_EQ_INT(chm_put(t, 9, 90, NULL), CHM_OK);
    CHECK_EQ_INT(chm_replace_if(t, 9, 89, 91), CHM_MISMATCH);
    v = 0;
    CHECK(chm_get(t, 9, &v));
    CHECK_EQ_U64(v, 90);
    CHECK_EQ_INT(chm_replace_if(t, 9, 90, 91), CHM_OK);
    v = 0;
    CHECK(chm_get(t, 9, &v));
    CHECK_EQ_U64(v, 91);
    /* expect the old value again: now a mismatch */
    CHECK_EQ_INT(chm_replace_if(t, 9, 90, 92), CHM_MISMATCH);
    v = 0;
    CHECK(chm_get(t, 9, &v));
    CHECK_EQ_U64(v, 91);
    /* same value */
    CHECK_EQ_INT(chm_replace_if(t, 9, 91, 91), CHM_OK);
    v = 0;
    CHECK(chm_get(t, 9, &v));
    CHECK_EQ_U64(v, 91);
    CHECK_EQ_U64(chm_size(m), 1);
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- remove / remove_if ------------------------------------------------ */

static void test_remove(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    uintptr_t old, v;

    old = SENTINEL;
    CHECK_EQ_INT(chm_remove(t, 3, &old), CHM_NOT_FOUND);
    CHECK_EQ_U64(old, SENTINEL);
    CHECK_EQ_INT(chm_remove(t, 3, NULL), CHM_NOT_FOUND);
    CHECK_EQ_U64(chm_size(m), 0);

    for (uintptr_t k = 1; k <= 20; k++)
        CHECK_EQ_INT(chm_put(t, k, k * 10, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 20);
    old = SENTINEL;
    CHECK_EQ_INT(chm_remove(t, 3, &old), CHM_OK);
    CHECK_EQ_U64(old, 30);
    CHECK(!chm_get(t, 3, NULL));
    CHECK_EQ_U64(chm_size(m), 19);
    CHECK_EQ_INT(chm_remove(t, 3, &old), CHM_NOT_FOUND);
    CHECK_EQ_U64(chm_size(m), 19);
    CHECK_EQ_INT(chm_remove(t, 4, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 18);
    for (uintptr_t k = 1; k <= 20; k++) {
        v = 0;
        bool present = chm_get(t, k, &v);
        CHECK(present == (k != 3 && k != 4));
        if (present)
            CHECK_EQ_U64(v, k * 10);
    }

    /* remove_if */
    CHECK_EQ_INT(chm_remove_if(t, 3, 30), CHM_NOT_FOUND);
    CHECK_EQ_INT(chm_remove_if(t, 5, 51), CHM_MISMATCH);
    v = 0;
    CHECK(chm_get(t, 5, &v));
    CHECK_EQ_U64(v, 50);
    CHECK_EQ_U64(chm_size(m), 18);
    CHECK_EQ_INT(chm_remove_if(t, 5, 50), CHM_OK);
    CHECK(!chm_get(t, 5, NULL));
    CHECK_EQ_U64(chm_size(m), 17);
    CHECK_EQ_INT(chm_remove_if(t, 5, 50), CHM_NOT_FOUND);
    CHECK_EQ_U64(chm_size(m), 17);

    /* remove everything */
    for (uintptr_t k = 1; k <= 20; k++) {
        int rc = chm_remove(t, k, NULL);
        CHECK_EQ_INT(rc, (k >= 3 && k <= 5) ? CHM_NOT_FOUND : CHM_OK);
    }
    CHECK_EQ_U64(chm_size(m), 0);
    for (uintptr_t k = 1; k <= 20; k++)
        CHECK(!chm_get(t, k, NULL));
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- compute ----------------------------------------------------------- */

struct cctx {
    int calls;
    uintptr_t key;
    bool present;
    uintptr_t cur;
    int mode;
    uintptr_t arg;
};

enum {
    M_IF_ABSENT,  /* computeIfAbsent: SET arg when absent, else KEEP */
    M_IF_PRESENT, /* computeIfPresent: SET cur + arg when present, else KEEP */
    M_MERGE,      /* merge: SET arg when absent, cur + arg when present */
    M_KEEP,       /* always KEEP */
    M_SET,        /* always SET arg */
    M_REMOVE,     /* always REMOVE */
    M_REMOVE_IF_ZERO, /* compute: remove when cur + arg == 0, else SET it */
};

static chm_compute_action cfn(void *vctx, uintptr_t key, bool present,
                              uintptr_t cur, uintptr_t *new_val)
{
    struct cctx *c = vctx;
    c->calls++;
    c->key = key;
    c->present = present;
    c->cur = cur;
    switch (c->mode) {
    case M_IF_ABSENT:
        if (present)
            return CHM_COMPUTE_KEEP;
        *new_val = c->arg;
        return CHM_COMPUTE_SET;
    case M_IF_PRESENT:
        if (!present)
            return CHM_COMPUTE_KEEP;
        *new_val = cur + c->arg;
        return CHM_COMPUTE_SET;
    case M_MERGE:
        *new_val = present ? cur + c->arg : c->arg;
        return CHM_COMPUTE_SET;
    case M_KEEP:
        return CHM_COMPUTE_KEEP;
    case M_SET:
        *new_val = c->arg;
        return CHM_COMPUTE_SET;
    case M_REMOVE:
        return CHM_COMPUTE_REMOVE;
    case M_REMOVE_IF_ZERO:
        if (present && cur + c->arg == 0)
            return CHM_COMPUTE_REMOVE;
        *new_val = (present ? cur : 0) + c->arg;
        return CHM_COMPUTE_SET;
    }
    return CHM_COMPUTE_KEEP;
}

/* run compute and check the callback saw (present, cur) exactly once */
static int do_compute(chm_thread_t *t, uintptr_t key, int mode, uintptr_t arg,
                      bool exp_present, uintptr_t exp_cur, uintptr_t *out)
{
    struct cctx c = {.mode = mode, .arg = arg, .cur = SENTINEL};
    int rc = chm_compute(t, key, cfn, &c, out);
    CHECK_EQ_U64(c.calls, 1);
    CHECK_EQ_U64(c.key, key);
    CHECK(c.present == exp_present);
    if (exp_present)
        CHECK_EQ_U64(c.cur, exp_cur);
    return rc;
}

static void test_compute_roles(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    uintptr_t out, v;

    /* computeIfAbsent on an absent key: inserts */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 1, M_IF_ABSENT, 10, false, 0, &out), CHM_OK);
    CHECK_EQ_U64(out, 10);
    CHECK_EQ_U64(chm_size(m), 1);
    v = 0;
    CHECK(chm_get(t, 1, &v));
    CHECK_EQ_U64(v, 10);
    /* computeIfAbsent on a present key: keeps, returns current */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 1, M_IF_ABSENT, 11, true, 10, &out), CHM_OK);
    CHECK_EQ_U64(out, 10);
    CHECK_EQ_U64(chm_size(m), 1);
    v = 0;
    CHECK(chm_get(t, 1, &v));
    CHECK_EQ_U64(v, 10);

    /* computeIfPresent on an absent key: nothing */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 2, M_IF_PRESENT, 5, false, 0, &out),
                 CHM_NOT_FOUND);
    CHECK(!chm_get(t, 2, NULL));
    CHECK_EQ_U64(chm_size(m), 1);
    /* computeIfPresent on a present key: updates */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 1, M_IF_PRESENT, 5, true, 10, &out), CHM_OK);
    CHECK_EQ_U64(out, 15);
    v = 0;
    CHECK(chm_get(t, 1, &v));
    CHECK_EQ_U64(v, 15);
    CHECK_EQ_U64(chm_size(m), 1);

    /* merge: absent -> arg, present -> cur + arg */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 3, M_MERGE, 7, false, 0, &out), CHM_OK);
    CHECK_EQ_U64(out, 7);
    CHECK_EQ_U64(chm_size(m), 2);
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 3, M_MERGE, 7, true, 7, &out), CHM_OK);
    CHECK_EQ_U64(out, 14);
    CHECK_EQ_U64(chm_size(m), 2);

    /* KEEP on absent: stays absent */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 4, M_KEEP, 0, false, 0, &out), CHM_NOT_FOUND);
    CHECK(!chm_get(t, 4, NULL));
    CHECK_EQ_U64(chm_size(m), 2);
    /* KEEP on present: unchanged, returns current */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 3, M_KEEP, 0, true, 14, &out), CHM_OK);
    CHECK_EQ_U64(out, 14);
    CHECK_EQ_U64(chm_size(m), 2);

    /* SET on absent and present, value 0 and UINTPTR_MAX */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 5, M_SET, 0, false, 0, &out), CHM_OK);
    CHECK_EQ_U64(out, 0);
    CHECK_EQ_U64(chm_size(m), 3);
    v = SENTINEL;
    CHECK(chm_get(t, 5, &v));
    CHECK_EQ_U64(v, 0);
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 5, M_SET, UINTPTR_MAX, true, 0, &out), CHM_OK);
    CHECK_EQ_U64(out, UINTPTR_MAX);
    v = 0;
    CHECK(chm_get(t, 5, &v));
    CHECK_EQ_U64(v, UINTPTR_MAX);
    CHECK_EQ_U64(chm_size(m), 3);

    /* REMOVE on absent: nothing */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 6, M_REMOVE, 0, false, 0, &out), CHM_NOT_FOUND);
    CHECK_EQ_U64(chm_size(m), 3);
    CHECK(!chm_get(t, 6, NULL));
    /* REMOVE on present: removed */
    out = SENTINEL;
    CHECK_EQ_INT(do_compute(t, 5, M_REMOVE, 0, true, UINTPTR_MAX, &out),
                 CHM_NOT_FOUND);
    CHECK(!chm_get(t, 5, NULL));
    CHECK_EQ_U64(chm_size(m), 2);

    /* compute: counter down to zero removes */
    CHECK_EQ_INT(do_compute(t, 7, M_REMOVE_IF_ZERO, 2, false, 0, &out), CHM_OK);
    CHECK_EQ_U64(out, 2);
    CHECK_EQ_INT(do_compute(t, 7, M_REMOVE_IF_ZERO, (uintptr_t)-1, true, 2,
                            &out), CHM_OK);
    CHECK_EQ_U64(out, 1);
    CHECK_EQ_U64(chm_size(m), 3);
    CHECK_EQ_INT(do_compute(t, 7, M_REMOVE_IF_ZERO, (uintptr_t)-1, true, 1,
                            NULL), CHM_NOT_FOUND);
    CHECK(!chm_get(t, 7, NULL));
    CHECK_EQ_U64(chm_size(m), 2);

    /* NULL out on every branch */
    CHECK_EQ_INT(do_compute(t, 8, M_SET, 80, false, 0, NULL), CHM_OK);
    CHECK_EQ_INT(do_compute(t, 8, M_KEEP, 0, true, 80, NULL), CHM_OK);
    CHECK_EQ_INT(do_compute(t, 8, M_IF_PRESENT, 1, true, 80, NULL), CHM_OK);
    CHECK_EQ_INT(do_compute(t, 8, M_REMOVE, 0, true, 81, NULL), CHM_NOT_FOUND);
    CHECK_EQ_INT(do_compute(t, 8, M_KEEP, 0, false, 0, NULL), CHM_NOT_FOUND);
    CHECK_EQ_U64(chm_size(m), 2);

    /* key 0 and UINTPTR_MAX through compute */
    CHECK_EQ_INT(do_compute(t, 0, M_MERGE, 3, false, 0, &out), CHM_OK);
    CHECK_EQ_INT(do_compute(t, UINTPTR_MAX, M_MERGE, 4, false, 0, &out),
                 CHM_OK);
    CHECK_EQ_INT(do_compute(t, 0, M_MERGE, 3, true, 3, &out), CHM_OK);
    CHECK_EQ_U64(out, 6);
    CHECK_EQ_INT(do_compute(t, UINTPTR_MAX, M_MERGE, 4, true, 4, &out), CHM_OK);
    CHECK_EQ_U64(out, 8);
    CHECK_EQ_U64(chm_size(m), 4);

    /* the other keys are intact */
    v = 0;
    CHECK(chm_get(t, 1, &v));
    CHECK_EQ_U64(v, 15);
    v = 0;
    CHECK(chm_get(t, 3, &v));
    CHECK_EQ_U64(v, 14);

    /* compute sees what put wrote and put sees what compute wrote */
    uintptr_t old = SENTINEL;
    CHECK_EQ_INT(chm_put(t, 0, 100, &old), CHM_EXISTS);
    CHECK_EQ_U64(old, 6);
    CHECK_EQ_INT(do_compute(t, 0, M_KEEP, 0, true, 100, &out), CHM_OK);
    CHECK_EQ_U64(out, 100);
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- randomized single-threaded model check --------------------------- */

#define MODEL_KEYS 3000

static void test_model_random(void)
{
    double s = chm_test_scale();
    long nops = (long)(1000000 * s);
    if (nops < 20000)
        nops = 20000;
    static uintptr_t val[MODEL_KEYS];
    static bool present[MODEL_KEYS];
    memset(present, 0, sizeof present);
    size_t count = 0;
    check_rng_t rng = {0x5eed0001};
    chm_t *m = chm_new(NULL, 1);
    chm_thread_t *t = chm_thread_join(m);
    long bad = 0;

    for (long i = 0; i < nops && bad < 20; i++) {
        uint64_t r = check_rng_next(&rng);
        /* keys spread over the word: low index bits in the high bits too */
        size_t idx = (size_t)(r % MODEL_KEYS);
        uintptr_t key = (uintptr_t)idx * 0x9e3779b97f4a7c15ULL;
        uintptr_t nv = (uintptr_t)check_rng_next(&rng);
        uintptr_t out = SENTINEL;
        int rc;
        int op = (int)((r >> 32) % 9);
        long before_bad = bad;
        switch (op) {
        case 0: /* get */
            if (chm_get(t, key, &out) != present[idx])
                bad++;
            else if (present[idx] && out != val[idx])
                bad++;
            break;
        case 1: /* put */
            rc = chm_put(t, key, nv, &out);
            if (rc != (present[idx] ? CHM_EXISTS : CHM_OK))
                bad++;
            else if (present[idx] && out != val[idx])
                bad++;
            if (!present[idx])
                count++;
            present[idx] = true;
            val[idx] = nv;
            break;
        case 2: /* put_if_absent */
            rc = chm_put_if_absent(t, key, nv, &out);
            if (present[idx]) {
                if (rc != CHM_EXISTS || out != val[idx])
                    bad++;
            } else {
                if (rc != CHM_OK)
                    bad++;
                present[idx] = true;
                val[idx] = nv;
                count++;
            }
            break;
        case 3: /* replace */
            rc = chm_replace(t, key, nv, &out);
            if (present[idx]) {
                if (rc != CHM_OK || out != val[idx])
                    bad++;
                val[idx] = nv;
            } else if (rc != CHM_NOT_FOUND) {
                bad++;
            }
            break;
        case 4: { /* replace_if, half the time with the right value */
            uintptr_t exp = (present[idx] && (r & 1)) ? val[idx] : nv ^ 1;
            rc = chm_replace_if(t, key, exp, nv);
            if (!present[idx]) {
                if (rc != CHM_NOT_FOUND)
                    bad++;
            } else if (exp == val[idx]) {
                if (rc != CHM_OK)
                    bad++;
                val[idx] = nv;
            } else if (rc != CHM_MISMATCH) {
                bad++;
            }
            break;
        }
        case 5: /* remove */
            rc = chm_remove(t, key, &out);
            if (present[idx]) {
                if (rc != CHM_OK || out != val[idx])
                    bad++;
                present[idx] = false;
                count--;
            } else if (rc != CHM_NOT_FOUND) {
                bad++;
            }
            break;
        case 6: { /* remove_if */
            uintptr_t exp = (present[idx] && (r & 1)) ? val[idx] : nv ^ 1;
            rc = chm_remove_if(t, key, exp);
            if (!present[idx]) {
                if (rc != CHM_NOT_FOUND)
                    bad++;
            } else if (exp == val[idx]) {
                if (rc != CHM_OK)
                    bad++;
                present[idx] = false;
                count--;
            } else if (rc != CHM_MISMATCH) {
                bad++;
            }
            break;
        }
        case 7: { /* compute merge */
            struct cctx c = {.mode = M_MERGE, .arg = nv};
            rc = chm_compute(t, key, cfn, &c, &out);
            uintptr_t want = present[idx] ? val[idx] + nv : nv;
            if (rc != CHM_OK || out != want || c.calls != 1 ||
                c.present != present[idx] ||
                (present[idx] && c.cur != val[idx]))
                bad++;
            if (!present[idx])
                count++;
            present[idx] = true;
            val[idx] = want;
            break;
        }
        case 8: { /* compute remove-or-keep */
            struct cctx c = {.mode = (r & 2) ? M_REMOVE : M_KEEP};
            rc = chm_compute(t, key, cfn, &c, &out);
            if (c.calls != 1 || c.present != present[idx])
                bad++;
            if (c.mode == M_REMOVE || !present[idx]) {
                if (rc != CHM_NOT_FOUND)
                    bad++;
                if (present[idx])
                    count--;
                present[idx] = false;
            } else if (rc != CHM_OK || out != val[idx]) {
                bad++;
            }
            break;
        }
        }
        if (chm_size(m) != count)
            bad++;
        if (bad != before_bad)
            fprintf(stderr, "model mismatch at op %ld (op kind %d, key idx %zu,"
                    " present %d)\n", i, op, idx, (int)present[idx]);
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(chm_size(m), count);
    size_t found = 0;
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        uintptr_t key = (uintptr_t)i * 0x9e3779b97f4a7c15ULL;
        uintptr_t v = SENTINEL;
        bool p = chm_get(t, key, &v);
        CHECK(p == present[i]);
        if (p) {
            found++;
            CHECK_EQ_U64(v, val[i]);
        }
    }
    CHECK_EQ_U64(found, count);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK(is_pow2(st.table_size));
    CHECK(st.resizes >= 1);
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- clear ------------------------------------------------------------- */

static void test_clear(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    CHECK_EQ_INT(chm_clear(t), CHM_OK); /* on an empty map */
    CHECK_EQ_U64(chm_size(m), 0);
    for (uintptr_t k = 0; k < 1000; k++)
        CHECK_EQ_INT(chm_put(t, k, k + 1, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 1000);
    CHECK_EQ_INT(chm_clear(t), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 0);
    for (uintptr_t k = 0; k < 1000; k++)
        CHECK(!chm_get(t, k, NULL));
    for (uintptr_t k = 0; k < 1000; k += 2)
        CHECK_EQ_INT(chm_put(t, k, k + 2, NULL), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 500);
    for (uintptr_t k = 0; k < 1000; k++) {
        uintptr_t v = SENTINEL;
        bool p = chm_get(t, k, &v);
        CHECK(p == (k % 2 == 0));
        if (p)
            CHECK_EQ_U64(v, k + 2);
    }
    CHECK_EQ_INT(chm_clear(t), CHM_OK);
    CHECK_EQ_INT(chm_clear(t), CHM_OK);
    CHECK_EQ_U64(chm_size(m), 0);
    CHECK_EQ_INT(chm_remove(t, 0, NULL), CHM_NOT_FOUND);
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- pin / unpin nesting ---------------------------------------------- */

static void test_pin_nesting(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    chm_pin(t);
    chm_pin(t);
    CHECK_EQ_INT(chm_put(t, 1, 2, NULL), CHM_OK);
    uintptr_t v = 0;
    CHECK(chm_get(t, 1, &v));
    CHECK_EQ_U64(v, 2);
    chm_unpin(t);
    CHECK_EQ_INT(chm_put(t, 1, 3, &v), CHM_EXISTS);
    CHECK_EQ_U64(v, 2);
    chm_unpin(t);
    /* many pinned operations including resizes */
    chm_pin(t);
    for (uintptr_t k = 100; k < 3000; k++)
        CHECK_EQ_INT(chm_put(t, k, k, NULL), CHM_OK);
    chm_unpin(t);
    CHECK_EQ_U64(chm_size(m), 2901);
    for (uintptr_t k = 100; k < 3000; k++) {
        v = 0;
        CHECK(chm_get(t, k, &v));
        CHECK_EQ_U64(v, k);
    }
    chm_thread_leave(t);
    chm_free(m);
}

/* ---- strerror ---------------------------------------------------------- */

static void test_strerror(void)
{
    static const int codes[] = {CHM_OK, CHM_NOT_FOUND, CHM_EXISTS,
                                CHM_MISMATCH, CHM_ENOMEM, CHM_EBUSY};
    const size_t n = sizeof codes / sizeof codes[0];
    const char *s[sizeof codes / sizeof codes[0]];
    for (size_t i = 0; i < n; i++) {
        s[i] = chm_strerror(codes[i]);
        CHECK(s[i] != NULL);
        if (s[i] != NULL)
            CHECK(strlen(s[i]) > 0);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (s[i] != NULL && s[j] != NULL)
                CHECK(strcmp(s[i], s[j]) != 0);
    /* unknown codes still give a string */
    const char *u = chm_strerror(12345);
    CHECK(u != NULL);
    u = chm_strerror(-999);
    CHECK(u != NULL);
    /* the documented enum values */
    CHECK_EQ_U64(CHM_OK, 0);
    CHECK(CHM_ENOMEM < 0 && CHM_EBUSY < 0);
}

/* ---- stats ------------------------------------------------------------- */

static void test_stats(void)
{
    chm_t *m = chm_new(NULL, 1);
    chm_thread_t *t = chm_thread_join(m);
    chm_stats_t st;
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 1);
    CHECK_EQ_U64(st.size, 0);
    CHECK_EQ_U64(st.resizes, 0);
    CHECK_EQ_U64(st.treeifications, 0);
    CHECK_EQ_U64(st.tree_bins, 0);
    CHECK_EQ_U64(st.retired, 0);
    CHECK_EQ_U64(st.reclaimed, 0);
    CHECK_EQ_U64(st.pending_garbage, 0);

    uint64_t prev_resizes = 0;
    size_t prev_table = 0;
    int growths = 0;
    for (uintptr_t k = 0; k < 20000; k++) {
        CHECK_EQ_INT(chm_put(t, k, ~k, NULL), CHM_OK);
        if ((k & 255) == 0 || k == 19999) {
            chm_stats(m, &st);
            CHECK_EQ_U64(st.size, k + 1);
            CHECK(is_pow2(st.table_size));
            CHECK(st.resizes >= prev_resizes);
            CHECK(st.table_size >= prev_table);
            if (st.table_size > prev_table && prev_table != 0) {
                growths++;
                CHECK(st.resizes > prev_resizes);
            }
            CHECK(st.bins_helped <= st.bins_transferred);
            CHECK(st.reclaimed <= st.retired);
            CHECK_EQ_U64(st.pending_garbage, st.retired - st.reclaimed);
            prev_resizes = st.resizes;
            prev_table = st.table_size;
        }
    }
    chm_stats(m, &st);
    /* 20000 entries need >= 2^15 bins at Java's 0.75 load factor ... at
     * least more than the entries */
    CHECK(st.table_size >= 20000);
    CHECK(st.resizes >= 8);
    CHECK(growths >= 4);
    /* each resize moves every bin of the old table */
    CHECK(st.bins_transferred >= st.table_size / 2);
    CHECK_EQ_U64(st.bins_helped, 0); /* only one thread */
    CHECK_EQ_U64(st.size, chm_size(m));
    /* replaced tables were retired */
    CHECK(st.retired >= st.resizes);

    /* a second handle is counted */
    chm_thread_t *t2 = chm_thread_join(m);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 2);
    chm_thread_leave(t2);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 1);

    /* removals: size follows, table does not shrink */
    size_t tsz = st.table_size;
    for (uintptr_t k = 0; k < 20000; k += 2)
        CHECK_EQ_INT(chm_remove(t, k, NULL), CHM_OK);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.size, 10000);
    CHECK_EQ_U64(st.table_size, tsz);
    CHECK(st.retired >= 10000); /* every removed node is retired */
    CHECK(st.reclaimed <= st.retired);
    chm_thread_leave(t);
    chm_stats(m, &st);
    CHECK_EQ_U64(st.threads, 0);
    /* leave waits for a grace period: this thread's garbage is freed */
    CHECK(st.reclaimed >= 10000);
    chm_free(m);
}

int main(void)
{
    run_test("new_capacities", test_new_capacities);
    run_test("edge_keys_values", test_edge_keys_values);
    run_test("put", test_put);
    run_test("put_if_absent", test_put_if_absent);
    run_test("replace", test_replace);
    run_test("replace_if", test_replace_if);
    run_test("remove_and_remove_if", test_remove);
    run_test("compute_roles", test_compute_roles);
    run_test("model_random", test_model_random);
    run_test("clear", test_clear);
    run_test("pin_nesting", test_pin_nesting);
    run_test("strerror", test_strerror);
    run_test("stats", test_stats);
    return check_finish();
}
