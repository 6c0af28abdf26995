/*
 * cs_lin.c - the linearizability checker (DESIGN.md section 5, "Checks").
 *
 * PARTITIONING.  Linearizability is compositional (P-compositionality: a
 * map's history is linearizable iff every key's sub-history is), so the
 * operations are radix-sorted by key and each key is checked on its own
 * against a sequential single-key model whose state is "absent" or
 * "present with value v".  Worker threads pull keys from a shared atomic
 * index and keep their scratch memory from one key to the next.
 * Operations that failed with CS_R_ENOMEM / CS_R_ERROR had no effect; such a
 * no-op can be linearized anywhere without changing anything, so they are
 * dropped from the search.  An op the model does not know (scan, size,
 * iterate) can never be linearized: record only the keyed ops.  A response
 * recorded before its invocation is taken as the invocation time.
 *
 * THE SEARCH (Wing & Gong, with Lowe's just-in-time linearization and a
 * cache of visited configurations, as in Lowe's "Testing for
 * linearizability" and porcupine).  A key's operations are sorted by
 * invocation; their call and return events are merged into one
 * time-ordered doubly linked list (at equal times calls come first: an op
 * that returns at t and one invoked at t count as concurrent, which only
 * ever allows more orders).  The candidates for the next linearization
 * point are the call events before the first return event in the list:
 * the pending operations invoked before the earliest response among the
 * operations not yet linearized.  The search takes the first candidate
 * whose recorded outcome agrees with the model from the current state,
 * applies it, unlinks both its events (O(1)), and starts over from the
 * list's head; when the scan reaches a return event, no candidate is left
 * and it backtracks: pops the last linearized operation from an explicit
 * stack (no recursion), relinks its events (dancing links, LIFO) and tries
 * the candidate after it.  The key passes when every operation is
 * linearized, fails when the stack is empty and no candidate is left.
 *
 * Soundness: an op is linearized only while every not yet linearized op is
 * still unreturned at its invocation, so the order found respects real
 * time, and each op's recorded result is the model's: a PASS is a witness.
 * Completeness: every linearization can be rearranged to take its ops in
 * an order in which each is a candidate when taken (Lowe), and the search
 * explores all such orders unless the cache prunes them.  The cache holds
 * each configuration reached: (the set of linearized ops, the model
 * state).  The future of the search depends on nothing else, so a
 * configuration seen before leads nowhere new.  Configurations are
 * compared exactly (a hash only picks the bucket), so a collision can never
 * prune a live branch.  The set is stored compactly: with top = 1 + the
 * highest linearized index (in invocation order) every op at or above top
 * is unlinearized, so the set is [0, top) minus U, the unlinearized ops
 * below top - and U is gathered by walking the list's head up to the first
 * call at or above top, which visits only ops of U (their calls, then at
 * most their returns).  U is bounded by the overlap, so an entry and its
 * cost are O(concurrency), and a history whose ops overlap little checks
 * in near-linear time.  Each loop iteration (trying one candidate or one
 * backtrack) is a step; a key whose steps exceed the budget is UNKNOWN,
 * never PASS.
 *
 * EVIDENCE for a failing key: the smallest window that cannot be
 * linearized, found without ever claiming more than was checked.  It uses
 * two notions:
 *  - The truncation at time T: the ops invoked by T, those returning after
 *    T pending - they may have taken effect (with whatever result the model
 *    gives: the search ignores their recorded result) or not (the search
 *    need not linearize them).  It is linearizable whenever the whole
 *    history is (cut a linearization at T), so failure is monotone in T.
 *  - Cuts: an op index s such that every op before s returned before op s
 *    was invoked, so every linearization takes ops [0, s) first.
 *    Sigma(s), the set of states in which ops [0, s) can leave the key, is
 *    computed exactly, cut to cut, by exhaustive searches of the ops between
 *    two cuts that collect every reachable end state (Sigma(0) = {init}).
 *  1. Walk Sigma forward to the last cut K whose Sigma is not empty (or not
 *     known: budget).  The first failing truncation time T* lies after
 *     every op before K returned, where the truncation at T fails iff the
 *     ops from K invoked by T fail from every state of Sigma(K): a binary
 *     search over the response times, each probe a local search, finds T*.
 *     The op(s) returning at T* are the culprits; the window ends with the
 *     last op invoked by T* (index e).
 *  2. The latest cut s whose window [s, e) fails from every state of
 *     Sigma(s) is the smallest window (it fails from every start the
 *     history allows); s = 0 from init is the truncation at T* itself.
 *  3. For readability the window may then grow back, within 32 ops, to the
 *     latest cut from which it fails from ANY start state (absent, any value
 *     it mentions, or one it does not): such a window is evidence on its
 *     own, e.g. "put(2) completed, then get returned 1" rather than "the key
 *     held 2; get returned 1".
 *  Every window reported was shown to fail by a search (an UNKNOWN search
 *  counts as "not shown"); the reported init is a state of Sigma(s).  A
 *  window longer than 32 ops drops its pending ops (dropping optional ops
 *  keeps a failing window failing), then lists the ops returning at T*
 *  and the latest others, 32 in all, and says so in window_ops.
 */
#include "cs_lin.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs.h"

#define CS_LIN_WINDOW_MAX 32   /* ops listed in a report */
#define CS_LIN_ENDS_MAX 64     /* states of a cut's Sigma kept exactly */
#define CS_LIN_SCAN_MAX 4096   /* evidence: the longest window tried */
#define CS_LIN_EVIDENCE_X 32   /* evidence steps: at most this x budget */
#define CS_LIN_HEAD 0u

/* ---- per-key data ----------------------------------------------------- */

typedef struct cs_lin_state {
    uint64_t value;   /* 0 when absent */
    bool present;
} cs_lin_state;

/* One op of the key being checked, in invocation order. */
typedef struct cs_lin_ev {
    uint64_t call, ret, arg, expect, out;
    size_t idx;       /* into the caller's ops */
    uint8_t op, res;
} cs_lin_ev;

typedef struct cs_lin_pair {  /* a sort key and a payload */
    uint64_t a, b;
} cs_lin_pair;

typedef struct cs_lin_frame { /* one linearized op on the search stack */
    uint32_t op, top;         /* the op; top before it */
    cs_lin_state st;          /* the state before it */
} cs_lin_frame;

/* One search: ops ev[0..n) (invocation order), those returning after
 * horizon pending; from init; collect: gather every reachable end state
 * instead of stopping at the first linearization. */
typedef struct cs_lin_query {
    const cs_lin_ev *ev;
    uint32_t n;
    uint64_t horizon;
    cs_lin_state init;
    bool collect;
    uint64_t budget;
} cs_lin_query;

/* A thread's scratch memory, reused from key to key and search to search. */
typedef struct cs_lin_scratch {
    cs_lin_ev *ev;
    size_t cap_ev;
    cs_lin_pair *pairs;       /* sorting */
    size_t cap_pairs;
    uint32_t *ord;            /* return order (complete ops, then pending) */
    size_t cap_ord;
    uint32_t *nxt, *prv;      /* the event list: head 0, call(i) 2i+1,
                                 ret(i) 2i+2, tail 2n+2 */
    size_t cap_nxt, cap_prv;
    cs_lin_frame *stack;
    size_t cap_stack;
    uint32_t *ubuf;           /* U while hashing a configuration */
    size_t cap_ubuf;
    uint64_t *slots;          /* cache: tag << 32 | (arena offset + 1) */
    size_t cap_slots, mask, used;
    uint64_t *arena;          /* cache entries: hash, header, value, U */
    size_t cap_arena, narena;
    cs_lin_state ends[CS_LIN_ENDS_MAX]; /* collect mode */
    size_t nends;
    bool ends_overflow;
    uint64_t steps;           /* used by the last search */
    bool oom;
    /* evidence */
    uint64_t *rets;
    size_t cap_rets;
    uint32_t *cuts;
    size_t cap_cuts;
    size_t *sig_off;          /* per stored cut: offset into sig, or SIZE_MAX */
    size_t cap_sig_off;
    cs_lin_state *sig;
    size_t cap_sig, nsig;
    uint64_t *vals;
    size_t cap_vals;
    uint64_t evidence_left;
} cs_lin_scratch;

/* Room for need elements of elem bytes in the buffer whose pointer is at
 * pp (any object pointer type: read and written with memcpy, not through a
 * void ** lvalue) and whose capacity is *cap.  false on out of memory. */
static bool cs_lin_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p, *q;
    memcpy(&p, pp, sizeof p);
    q = realloc(p, c * elem);
    if (q == NULL)
        return false;
    memcpy(pp, &q, sizeof q);
    *cap = c;
    return true;
}

static void cs_lin_scratch_free(cs_lin_scratch *s)
{
    free(s->ev);
    free(s->pairs);
    free(s->ord);
    free(s->nxt);
    free(s->prv);
    free(s->stack);
    free(s->ubuf);
    free(s->slots);
    free(s->arena);
    free(s->rets);
    free(s->cuts);
    free(s->sig_off);
    free(s->sig);
    free(s->vals);
    memset(s, 0, sizeof *s);
}

/* ---- sorting ---------------------------------------------------------- */

static int cs_lin_pair_cmp(const void *x, const void *y)
{
    const cs_lin_pair *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return (a->b > b->b) - (a->b < b->b);
}

/* Sort by (a, b).  Insertion sort, which is linear on the nearly sorted
 * input a history is (invocations and responses are displaced only by the
 * overlap); qsort once it has moved too much. */
static void cs_lin_pairs_sort(cs_lin_pair *p, size_t n)
{
    size_t moves = 0, limit = 16 * n + 64;
    for (size_t i = 1; i < n; i++) {
        cs_lin_pair x = p[i];
        size_t j = i;
        while (j > 0 && cs_lin_pair_cmp(&p[j - 1], &x) > 0) {
            p[j] = p[j - 1];
            j--;
            if (++moves > limit) {
                p[j] = x;
                qsort(p, n, sizeof *p, cs_lin_pair_cmp);
                return;
            }
        }
        p[j] = x;
    }
}

/* ---- the sequential single-key model ---------------------------------- */

/* What op e does from *st: its result and the value it returns (has_out).
 * false for an op the model does not know. */
static bool cs_lin_model(const cs_lin_ev *e, cs_lin_state *st, uint8_t *res,
                         bool *has_out, uint64_t *out)
{
    bool pr = st->present;
    uint64_t cur = st->value;
    cs_lin_state put = { e->arg, true }, gone = { 0, false };
    *has_out = false;
    *out = cur;
    switch (e->op) {
    case CS_OP_GET:
        *res = pr ? CS_R_EXISTS : CS_R_NOT_FOUND;
        *has_out = pr;
        return true;
    case CS_OP_PUT:
    case CS_OP_COMPUTE:
        *res = pr ? CS_R_REPLACED : CS_R_INSERTED;
        *has_out = pr;
        *st = put;
        return true;
    case CS_OP_PUT_IF_ABSENT:
        *res = pr ? CS_R_EXISTS : CS_R_INSERTED;
        *has_out = pr;
        if (!pr)
            *st = put;
        return true;
    case CS_OP_REPLACE:
        *res = pr ? CS_R_REPLACED : CS_R_NOT_FOUND;
        *has_out = pr;
        if (pr)
            *st = put;
        return true;
    case CS_OP_REPLACE_IF:
        *res = !pr ? CS_R_NOT_FOUND
                   : cur == e->expect ? CS_R_REPLACED : CS_R_MISMATCH;
        if (*res == CS_R_REPLACED)
            *st = put;
        return true;
    case CS_OP_REMOVE:
        *res = pr ? CS_R_REMOVED : CS_R_NOT_FOUND;
        *has_out = pr;
        if (pr)
            *st = gone;
        return true;
    case CS_OP_REMOVE_IF:
        *res = !pr ? CS_R_NOT_FOUND
                   : cur == e->arg ? CS_R_REMOVED : CS_R_MISMATCH;
        if (*res == CS_R_REMOVED)
            *st = gone;
        return true;
    default:
        return false;
    }
}

/* Apply e to *st if its recorded outcome is the model's (a pending op's
 * outcome is unknown: anything goes).  *st is unchanged on false. */
static bool cs_lin_apply(const cs_lin_ev *e, bool pending, cs_lin_state *st)
{
    cs_lin_state next = *st;
    uint8_t res;
    bool has_out;
    uint64_t out;
    if (!cs_lin_model(e, &next, &res, &has_out, &out))
        return false;
    if (!pending && (e->res != res || (has_out && e->out != out)))
        return false;
    *st = next;
    return true;
}

/* ---- the event list ----------------------------------------------------- */

/* ord := the complete ops by (response, index), then the pending ones;
 * returns the number of complete ops. */
static uint32_t cs_lin_ret_order(cs_lin_scratch *s, const cs_lin_query *q)
{
    uint32_t nc = 0, np = 0;
    for (uint32_t i = 0; i < q->n; i++)
        if (q->ev[i].ret <= q->horizon)
            s->pairs[nc++] = (cs_lin_pair){ q->ev[i].ret, i };
    cs_lin_pairs_sort(s->pairs, nc);
    for (uint32_t i = 0; i < nc; i++)
        s->ord[i] = (uint32_t)s->pairs[i].b;
    for (uint32_t i = 0; i < q->n; i++)
        if (q->ev[i].ret > q->horizon)
            s->ord[nc + np++] = i;
    return nc;
}

static void cs_lin_link(cs_lin_scratch *s, uint32_t *last, uint32_t e)
{
    s->nxt[*last] = e;
    s->prv[e] = *last;
    *last = e;
}

/* Merge invocations (in index order) and responses into the list. */
static void cs_lin_list_build(cs_lin_scratch *s, const cs_lin_query *q,
                              uint32_t nc)
{
    const cs_lin_ev *ev = q->ev;
    uint32_t n = q->n, i = 0, j = 0, last = CS_LIN_HEAD;
    while (i < n || j < n) {
        bool call = i < n && (j >= nc || ev[i].call <= ev[s->ord[j]].ret);
        if (call)
            cs_lin_link(s, &last, 2 * i++ + 1);
        else
            cs_lin_link(s, &last, 2 * s->ord[j++] + 2);
    }
    cs_lin_link(s, &last, 2 * n + 2);
    s->nxt[2 * n + 2] = 2 * n + 2;
}

static void cs_lin_lift(cs_lin_scratch *s, uint32_t i)
{
    uint32_t c = 2 * i + 1, r = 2 * i + 2;
    s->nxt[s->prv[c]] = s->nxt[c];
    s->prv[s->nxt[c]] = s->prv[c];
    s->nxt[s->prv[r]] = s->nxt[r];
    s->prv[s->nxt[r]] = s->prv[r];
}

static void cs_lin_unlift(cs_lin_scratch *s, uint32_t i)
{
    uint32_t c = 2 * i + 1, r = 2 * i + 2;
    s->nxt[s->prv[r]] = r;
    s->prv[s->nxt[r]] = r;
    s->nxt[s->prv[c]] = c;
    s->prv[s->nxt[c]] = c;
}

/* ---- the cache of configurations ------------------------------------------ */

static uint64_t cs_lin_mix(uint64_t h, uint64_t x)
{
    h = (h ^ x) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 32);
}

static uint64_t cs_lin_fmix(uint64_t h)
{
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static bool cs_lin_cache_reset(cs_lin_scratch *s, uint32_t n)
{
    size_t want = 64;
    while (want < 4 * (size_t)n && want < ((size_t)1 << 22))
        want *= 2;
    if (!cs_lin_grow(&s->slots, &s->cap_slots, want, sizeof *s->slots))
        return false;
    memset(s->slots, 0, want * sizeof *s->slots);
    s->mask = want - 1;
    s->used = 0;
    s->narena = 0;
    return true;
}

static bool cs_lin_cache_rehash(cs_lin_scratch *s)
{
    size_t want = 2 * (s->mask + 1);
    if (!cs_lin_grow(&s->slots, &s->cap_slots, want, sizeof *s->slots))
        return false;
    memset(s->slots, 0, want * sizeof *s->slots);
    s->mask = want - 1;
    for (size_t off = 0; off < s->narena;) {
        uint64_t h = s->arena[off], hdr = s->arena[off + 1];
        size_t j = h & s->mask;
        while (s->slots[j] != 0)
            j = (j + 1) & s->mask;
        s->slots[j] = (h & 0xffffffff00000000ULL) | (off + 1);
        off += 3 + ((((hdr >> 32) & 0x7fffffffu) + 1) / 2);
    }
    return true;
}

/* U: the unlinearized ops below top, from the list's head. */
static uint32_t cs_lin_gather_u(cs_lin_scratch *s, uint32_t top)
{
    uint32_t nu = 0;
    for (uint32_t e = s->nxt[CS_LIN_HEAD];; e = s->nxt[e]) {
        if (!(e & 1)) {
            if (s->nxt[e] == e) /* the tail */
                break;
            continue;
        }
        if ((e - 1) / 2 >= top)
            break;
        s->ubuf[nu++] = (e - 1) / 2;
    }
    return nu;
}

static bool cs_lin_entry_eq(const cs_lin_scratch *s, size_t off, uint64_t hdr,
                            uint64_t value, uint32_t nu)
{
    const uint64_t *a = s->arena + off;
    if (a[1] != hdr || a[2] != value)
        return false;
    for (uint32_t k = 0; k < nu; k += 2) {
        uint64_t w = s->ubuf[k];
        if (k + 1 < nu)
            w |= (uint64_t)s->ubuf[k + 1] << 32;
        if (a[3 + k / 2] != w)
            return false;
    }
    return true;
}

/* Add the configuration (the linearized set given by top and the list,
 * st): 1 if new, 0 if seen, -1 out of memory, -2 too big to cache. */
static int cs_lin_cache_add(cs_lin_scratch *s, uint32_t top, cs_lin_state st)
{
    uint32_t nu = cs_lin_gather_u(s, top);
    uint64_t hdr = top | (uint64_t)nu << 32 | (uint64_t)st.present << 63;
    uint64_t h = cs_lin_mix(cs_lin_mix(0x2545f4914f6cdd1dULL, hdr), st.value);
    for (uint32_t k = 0; k < nu; k++)
        h = cs_lin_mix(h, s->ubuf[k]);
    h = cs_lin_fmix(h);
    size_t j = h & s->mask;
    for (; s->slots[j] != 0; j = (j + 1) & s->mask)
        if ((s->slots[j] >> 32) == (h >> 32) &&
            cs_lin_entry_eq(s, (s->slots[j] & 0xffffffffu) - 1, hdr,
                            st.value, nu))
            return 0;
    size_t words = 3 + (nu + 1) / 2, off = s->narena;
    if (off + words >= 0xffffffffu)
        return -2;
    if (!cs_lin_grow(&s->arena, &s->cap_arena, off + words, sizeof *s->arena))
        return -1;
    uint64_t *a = s->arena + off;
    a[0] = h;
    a[1] = hdr;
    a[2] = st.value;
    for (uint32_t k = 0; k < nu; k += 2)
        a[3 + k / 2] = s->ubuf[k] |
                       (k + 1 < nu ? (uint64_t)s->ubuf[k + 1] << 32 : 0);
    s->narena += words;
    s->slots[j] = (h & 0xffffffff00000000ULL) | (off + 1);
    if (++s->used * 2 > s->mask + 1 && !cs_lin_cache_rehash(s))
        return -1;
    return 1;
}

/* ---- the search ------------------------------------------------------------ */

static bool cs_lin_prepare(cs_lin_scratch *s, uint32_t n)
{
    size_t ne = 2 * (size_t)n + 3;
    return cs_lin_grow(&s->pairs, &s->cap_pairs, n + 1, sizeof *s->pairs) &&
           cs_lin_grow(&s->ord, &s->cap_ord, n + 1, sizeof *s->ord) &&
           cs_lin_grow(&s->nxt, &s->cap_nxt, ne, sizeof *s->nxt) &&
           cs_lin_grow(&s->prv, &s->cap_prv, ne, sizeof *s->prv) &&
           cs_lin_grow(&s->stack, &s->cap_stack, n + 1, sizeof *s->stack) &&
           cs_lin_grow(&s->ubuf, &s->cap_ubuf, n + 1, sizeof *s->ubuf) &&
           cs_lin_cache_reset(s, n);
}

static bool cs_lin_state_eq(cs_lin_state a, cs_lin_state b)
{
    return a.present == b.present && a.value == b.value;
}

/* Collect mode: remember an end state; false when there are too many. */
static bool cs_lin_end_add(cs_lin_scratch *s, cs_lin_state st)
{
    for (size_t k = 0; k < s->nends; k++)
        if (cs_lin_state_eq(s->ends[k], st))
            return true;
    if (s->nends == CS_LIN_ENDS_MAX) {
        s->ends_overflow = true;
        return false;
    }
    s->ends[s->nends++] = st;
    return true;
}

/* Try to linearize op i next: 1 done (pushed), 0 not possible or seen,
 * -1 out of memory, -2 too big. */
static int cs_lin_try(cs_lin_scratch *s, const cs_lin_query *q, uint32_t i,
                      uint32_t *sp, uint32_t *top, cs_lin_state *st)
{
    cs_lin_state next = *st;
    if (!cs_lin_apply(&q->ev[i], q->ev[i].ret > q->horizon, &next))
        return 0;
    uint32_t ntop = i + 1 > *top ? i + 1 : *top;
    cs_lin_lift(s, i);
    int r = cs_lin_cache_add(s, ntop, next);
    if (r != 1) {
        cs_lin_unlift(s, i);
        return r;
    }
    s->stack[(*sp)++] = (cs_lin_frame){ i, *top, *st };
    *top = ntop;
    *st = next;
    return 1;
}

static cs_lin_verdict cs_lin_search(cs_lin_scratch *s, const cs_lin_query *q)
{
    s->steps = 0;
    s->nends = 0;
    s->ends_overflow = false;
    if (!cs_lin_prepare(s, q->n)) {
        s->oom = true;
        return CS_LIN_UNKNOWN;
    }
    uint32_t nc = cs_lin_ret_order(s, q), remaining = nc, sp = 0, top = 0;
    cs_lin_list_build(s, q, nc);
    cs_lin_state st = q->init;
    uint32_t e = s->nxt[CS_LIN_HEAD];
    for (;;) {
        if (++s->steps > q->budget)
            return CS_LIN_UNKNOWN;
        if (remaining > 0 && (e & 1)) {
            uint32_t i = (e - 1) / 2;
            int r = cs_lin_try(s, q, i, &sp, &top, &st);
            if (r < 0) {
                s->oom = s->oom || r == -1;
                return CS_LIN_UNKNOWN;
            }
            if (r == 0) {
                e = s->nxt[e];
                continue;
            }
            remaining -= q->ev[i].ret <= q->horizon;
            e = s->nxt[CS_LIN_HEAD];
            continue;
        }
        if (remaining == 0) {        /* a linearization */
            if (!q->collect)
                return CS_LIN_PASS;
            if (!cs_lin_end_add(s, st))
                return CS_LIN_UNKNOWN;
        }
        if (sp == 0)                 /* backtrack: nothing left */
            return s->nends > 0 ? CS_LIN_PASS : CS_LIN_FAIL;
        cs_lin_frame f = s->stack[--sp];
        cs_lin_unlift(s, f.op);
        st = f.st;
        top = f.top;
        remaining += q->ev[f.op].ret <= q->horizon;
        e = s->nxt[2 * f.op + 1];
    }
}

/* ---- evidence -------------------------------------------------------------- */

/* A search of ev[lo, hi) charged to the key's evidence allowance. */
static cs_lin_verdict cs_lin_sub(cs_lin_scratch *s, uint32_t lo, uint32_t hi,
                                 uint64_t horizon, cs_lin_state init,
                                 bool collect, uint64_t budget)
{
    if (s->evidence_left == 0 || s->oom)
        return CS_LIN_UNKNOWN;
    cs_lin_query q = { s->ev + lo, hi - lo, horizon, init, collect,
                       budget < s->evidence_left ? budget : s->evidence_left };
    cs_lin_verdict v = cs_lin_search(s, &q);
    s->evidence_left -= s->steps < s->evidence_left ? s->steps
                                                   : s->evidence_left;
    return v;
}

/* Ops [0, i) are invoked by t. */
static uint32_t cs_lin_invoked_by(const cs_lin_scratch *s, uint32_t n,
                                  uint64_t t)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->ev[mid].call <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The latest response among ops [0, i). */
static uint64_t cs_lin_maxret(const cs_lin_scratch *s, uint32_t i)
{
    uint64_t m = 0;
    for (uint32_t k = 0; k < i; k++)
        if (s->ev[k].ret > m)
            m = s->ev[k].ret;
    return m;
}

/* The cuts s in [0, e): every op before s returned before s's call
 * (cuts[0] == 0). */
static uint32_t cs_lin_find_cuts(cs_lin_scratch *s, uint32_t e)
{
    uint32_t nc = 0;
    uint64_t maxret = 0;
    for (uint32_t i = 0; i < e; i++) {
        if (i == 0 || maxret < s->ev[i].call)
            s->cuts[nc++] = i;
        if (s->ev[i].ret > maxret)
            maxret = s->ev[i].ret;
    }
    return nc;
}

static int cs_lin_state_cmp(const void *x, const void *y)
{
    const cs_lin_state *a = x, *b = y;
    if (a->present != b->present)
        return a->present ? 1 : -1;
    return (a->value > b->value) - (a->value < b->value);
}

/* Append a set of states to sig (sorted); false on out of memory. */
static bool cs_lin_sig_push(cs_lin_scratch *s, const cs_lin_state *set,
                            size_t n)
{
    if (!cs_lin_grow(&s->sig, &s->cap_sig, s->nsig + n, sizeof *s->sig)) {
        s->oom = true;
        return false;
    }
    memcpy(s->sig + s->nsig, set, n * sizeof *set);
    qsort(s->sig + s->nsig, n, sizeof *set, cs_lin_state_cmp);
    s->nsig += n;
    return true;
}

/* A walk of Sigma from cut to cut. */
typedef struct cs_lin_sigwalk {
    uint32_t known;   /* cuts [0, known) have an exact, non-empty Sigma */
    bool empty;       /* the Sigma of cut `known` is empty: ops before it
                         cannot be linearized */
    cs_lin_state last[CS_LIN_ENDS_MAX];  /* the Sigma of cut known - 1 */
    size_t nlast;
} cs_lin_sigwalk;

/* Sigma of the next cut: the end states of segment [a, b) from each state
 * of cur.  false when not known exactly (budget, too many states). */
static bool cs_lin_sig_next(cs_lin_scratch *s, uint32_t a, uint32_t b,
                            const cs_lin_state *cur, size_t ncur,
                            cs_lin_state *next, size_t *nnext,
                            uint64_t budget)
{
    *nnext = 0;
    for (size_t j = 0; j < ncur; j++) {
        if (cs_lin_sub(s, a, b, UINT64_MAX, cur[j], true, budget) ==
            CS_LIN_UNKNOWN)
            return false;
        for (size_t i = 0; i < s->nends; i++) {
            size_t k = 0;
            while (k < *nnext && !cs_lin_state_eq(next[k], s->ends[i]))
                k++;
            if (k == *nnext && k == CS_LIN_ENDS_MAX)
                return false;
            if (k == *nnext)
                next[(*nnext)++] = s->ends[i];
        }
    }
    return true;
}

/* Walk Sigma over cuts [0, ncuts) from init (Sigma(0) = {init}), storing
 * in sig the Sigma of every cut at or after op store_from (sig_off[k],
 * SIZE_MAX for cuts not stored). */
static void cs_lin_sigmas(cs_lin_scratch *s, uint32_t ncuts,
                          uint32_t store_from, cs_lin_state init,
                          uint64_t budget, cs_lin_sigwalk *w)
{
    cs_lin_state next[CS_LIN_ENDS_MAX];
    size_t nnext;
    w->known = 0;
    w->empty = false;
    w->last[0] = init;
    w->nlast = 1;
    s->nsig = 0;
    for (uint32_t k = 0; k < ncuts; k++)
        s->sig_off[k] = SIZE_MAX;
    for (uint32_t k = 0; k < ncuts; k++) {
        if (s->cuts[k] >= store_from) {
            s->sig_off[k] = s->nsig;
            if (!cs_lin_sig_push(s, w->last, w->nlast))
                return;
        }
        w->known = k + 1;
        if (k + 1 == ncuts ||
            !cs_lin_sig_next(s, s->cuts[k], s->cuts[k + 1], w->last,
                             w->nlast, next, &nnext, budget))
            return;
        if (nnext == 0) {
            w->empty = true;
            return;
        }
        memcpy(w->last, next, nnext * sizeof *next);
        w->nlast = nnext;
    }
}

/* Does window [lo, e) (horizon t) fail from every state of set? */
static bool cs_lin_fails_from(cs_lin_scratch *s, uint32_t lo, uint32_t e,
                              uint64_t t, const cs_lin_state *set, size_t n,
                              uint64_t budget)
{
    for (size_t j = 0; j < n; j++)
        if (cs_lin_sub(s, lo, e, t, set[j], false, budget) != CS_LIN_FAIL)
            return false;
    return true;
}

/* Step 1: the first response time T* whose truncation fails.  Ops before
 * cut `from` (index a) all returned by lo_t, and can leave the key in the
 * states of set: for T > lo_t the truncation fails iff ops [a, invoked by
 * T) fail from each of them.  The truncation at hi_t is known to fail. */
static uint64_t cs_lin_first_failure(cs_lin_scratch *s, uint32_t n,
                                     uint32_t a, uint64_t lo_t, uint64_t hi_t,
                                     const cs_lin_state *set, size_t nset,
                                     uint64_t budget)
{
    size_t m = 0, np = 0;
    for (uint32_t i = a; i < n; i++)
        if (s->ev[i].ret > lo_t && s->ev[i].ret <= hi_t)
            s->pairs[np++] = (cs_lin_pair){ s->ev[i].ret, 0 };
    cs_lin_pairs_sort(s->pairs, np);
    for (size_t i = 0; i < np; i++)
        if (m == 0 || s->rets[m - 1] != s->pairs[i].a)
            s->rets[m++] = s->pairs[i].a;
    if (m == 0)
        return hi_t;
    /* invariant: the truncation at rets[hi] fails; at rets[lo] it was not
     * shown to */
    ptrdiff_t lo = -1, hi = (ptrdiff_t)m - 1;
    while (hi - lo > 1) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        uint64_t t = s->rets[mid];
        if (cs_lin_fails_from(s, a, cs_lin_invoked_by(s, n, t), t, set, nset,
                              budget))
            hi = mid;
        else
            lo = mid;
    }
    return s->rets[hi];
}

static size_t cs_lin_sig_count(const cs_lin_scratch *s, uint32_t k,
                               uint32_t ncuts)
{
    size_t end = s->nsig;
    for (uint32_t j = k + 1; j < ncuts; j++)
        if (s->sig_off[j] != SIZE_MAX) {
            end = s->sig_off[j];
            break;
        }
    return end - s->sig_off[k];
}

static bool cs_lin_has_val(const uint64_t *v, size_t n, uint64_t x)
{
    for (size_t k = 0; k < n; k++)
        if (v[k] == x)
            return true;
    return false;
}

/* Does window [lo, e) fail from every state at all?  Values the window does
 * not mention all behave alike, so: absent, each mentioned value, and one
 * value it does not mention. */
static bool cs_lin_fails_always(cs_lin_scratch *s, uint32_t lo, uint32_t e,
                                uint64_t t, uint64_t budget)
{
    size_t nv = 0;
    if (!cs_lin_grow(&s->vals, &s->cap_vals, 3 * (size_t)(e - lo) + 1,
                     sizeof *s->vals)) {
        s->oom = true;
        return false;
    }
    for (uint32_t i = lo; i < e; i++) {
        uint64_t v3[3] = { s->ev[i].arg, s->ev[i].expect, s->ev[i].out };
        for (int k = 0; k < 3; k++)
            if (!cs_lin_has_val(s->vals, nv, v3[k]))
                s->vals[nv++] = v3[k];
    }
    uint64_t fresh = 0;
    while (cs_lin_has_val(s->vals, nv, fresh))
        fresh++;
    s->vals[nv++] = fresh;
    cs_lin_state absent = { 0, false };
    if (!cs_lin_fails_from(s, lo, e, t, &absent, 1, budget))
        return false;
    for (size_t k = 0; k < nv; k++) {
        cs_lin_state st = { s->vals[k], true };
        if (!cs_lin_fails_from(s, lo, e, t, &st, 1, budget))
            return false;
    }
    return true;
}

/* Steps 2 and 3: the cut the window [cut, e) starts at (index into cuts,
 * which are the cuts below e; known of them have their Sigma).  Cut 0 from
 * init is the truncation at t itself, known to fail. */
static uint32_t cs_lin_pick_cut(cs_lin_scratch *s, uint32_t known,
                                uint32_t ncuts, uint32_t e, uint64_t t,
                                uint64_t budget)
{
    uint32_t best = 0;
    for (uint32_t k = known; k-- > 0;) {
        if (s->sig_off[k] == SIZE_MAX)
            break;
        if (k == 0 ||
            cs_lin_fails_from(s, s->cuts[k], e, t, s->sig + s->sig_off[k],
                              cs_lin_sig_count(s, k, ncuts), budget)) {
            best = k;
            break;
        }
    }
    for (uint32_t k = best + 1; k-- > 0;) {
        if (e - s->cuts[k] > CS_LIN_WINDOW_MAX || s->sig_off[k] == SIZE_MAX)
            break;
        if (cs_lin_fails_always(s, s->cuts[k], e, t, budget))
            return k;
    }
    return best;
}

/* Fill r's window with ops [lo, e).  More than 32: without the ops still
 * pending at t (optional: the rest fails without them too), then the ops
 * returning at t (the culprits) and the latest others, 32 in all. */
static void cs_lin_window(const cs_lin_scratch *s, uint32_t lo, uint32_t e,
                          uint64_t t, cs_lin_key_report *r)
{
    bool trim = e - lo > CS_LIN_WINDOW_MAX;
    size_t must = 0, others, picked = 0;
    for (uint32_t i = lo; i < e; i++)
        must += s->ev[i].ret == t;
    if (must > CS_LIN_WINDOW_MAX)
        must = CS_LIN_WINDOW_MAX;
    others = CS_LIN_WINDOW_MAX - must;
    r->window_ops = e - lo;
    for (uint32_t i = e; i-- > lo && picked < CS_LIN_WINDOW_MAX;) {
        bool culprit = s->ev[i].ret == t;
        if (trim && (s->ev[i].ret > t || (!culprit && others == 0) ||
                     (culprit && must == 0)))
            continue;
        if (trim && culprit)
            must--;
        else if (trim)
            others--;
        r->window[picked++] = s->ev[i].idx;
    }
    for (size_t a = 0, b = picked; a + 1 < b; a++, b--) {
        size_t x = r->window[a];
        r->window[a] = r->window[b - 1];
        r->window[b - 1] = x;
    }
    r->nwindow = picked;
}

/* Step 1 for the whole key: walk Sigma forward to the last cut K known to
 * be linearizable, then search T* after it.  Returns T*. */
static uint64_t cs_lin_locate(cs_lin_scratch *s, uint32_t n,
                              cs_lin_state init, uint64_t budget)
{
    cs_lin_sigwalk w;
    uint32_t ncuts = cs_lin_find_cuts(s, n);
    cs_lin_sigmas(s, ncuts, UINT32_MAX, init, budget, &w);
    uint32_t a = s->cuts[w.known - 1];
    uint64_t lo_t = cs_lin_maxret(s, a);
    uint64_t hi_t = w.empty ? cs_lin_maxret(s, s->cuts[w.known])
                            : cs_lin_maxret(s, n);
    return cs_lin_first_failure(s, n, a, lo_t, hi_t, w.last, w.nlast,
                                budget);
}

static void cs_lin_evidence(cs_lin_scratch *s, uint32_t n, cs_lin_state init,
                            uint64_t budget, cs_lin_key_report *r)
{
    s->evidence_left = budget > UINT64_MAX / CS_LIN_EVIDENCE_X
                           ? UINT64_MAX : budget * CS_LIN_EVIDENCE_X;
    if (!cs_lin_grow(&s->rets, &s->cap_rets, n, sizeof *s->rets) ||
        !cs_lin_grow(&s->cuts, &s->cap_cuts, n, sizeof *s->cuts) ||
        !cs_lin_grow(&s->sig_off, &s->cap_sig_off, n, sizeof *s->sig_off) ||
        !cs_lin_grow(&s->pairs, &s->cap_pairs, n, sizeof *s->pairs)) {
        s->oom = true;
        return;
    }
    uint64_t t = cs_lin_locate(s, n, init, budget);
    uint32_t e = cs_lin_invoked_by(s, n, t);
    uint32_t ncuts = cs_lin_find_cuts(s, e);
    cs_lin_sigwalk w;
    cs_lin_sigmas(s, ncuts, e > CS_LIN_SCAN_MAX ? e - CS_LIN_SCAN_MAX : 0,
                  init, budget, &w);
    uint32_t k = cs_lin_pick_cut(s, w.known, ncuts, e, t, budget);
    r->init.present = init.present;
    r->init.value = init.value;
    if (s->sig_off[k] != SIZE_MAX && s->nsig > s->sig_off[k]) {
        r->init.present = s->sig[s->sig_off[k]].present;
        r->init.value = s->sig[s->sig_off[k]].value;
    } else {
        k = 0; /* cuts[0] == 0: the truncation itself, from init */
    }
    cs_lin_window(s, s->cuts[k], e, t, r);
}

/* ---- one key ------------------------------------------------------------- */

typedef struct cs_lin_keyrange {  /* a key's ops: pairs[lo, hi) */
    const cs_lin_op *ops;
    const cs_lin_pair *pairs;     /* (key, index into ops) */
    size_t lo, hi;
} cs_lin_keyrange;

/* Load the key's ops into s->ev, in invocation order, without the no-ops;
 * returns their count, or -1 on out of memory. */
static ptrdiff_t cs_lin_load(cs_lin_scratch *s, const cs_lin_keyrange *kr)
{
    size_t cnt = kr->hi - kr->lo, n = 0;
    if (!cs_lin_grow(&s->pairs, &s->cap_pairs, cnt, sizeof *s->pairs) ||
        !cs_lin_grow(&s->ev, &s->cap_ev, cnt, sizeof *s->ev))
        return -1;
    for (size_t k = kr->lo; k < kr->hi; k++) {
        const cs_lin_op *o = &kr->ops[kr->pairs[k].b];
        if (o->res != CS_R_ENOMEM && o->res != CS_R_ERROR)
            s->pairs[n++] = (cs_lin_pair){ o->call_ns, kr->pairs[k].b };
    }
    cs_lin_pairs_sort(s->pairs, n);
    for (size_t k = 0; k < n; k++) {
        const cs_lin_op *o = &kr->ops[s->pairs[k].b];
        s->ev[k] = (cs_lin_ev){ o->call_ns,
                                o->ret_ns < o->call_ns ? o->call_ns : o->ret_ns,
                                o->arg, o->expect, o->out, s->pairs[k].b,
                                o->op, o->res };
    }
    return (ptrdiff_t)n;
}

static cs_lin_verdict cs_lin_check_key(cs_lin_scratch *s,
                                       const cs_lin_keyrange *kr,
                                       cs_lin_init in, uint64_t budget,
                                       cs_lin_key_report *r)
{
    memset(r, 0, sizeof *r);
    r->key = kr->pairs[kr->lo].a;
    r->nops = kr->hi - kr->lo;
    r->init = in;
    ptrdiff_t n = cs_lin_load(s, kr);
    if (n < 0) {
        s->oom = true;
        return CS_LIN_UNKNOWN;
    }
    if ((uint64_t)n > (UINT32_MAX - 8) / 2)
        return r->verdict = CS_LIN_UNKNOWN;
    cs_lin_state init = { in.present ? in.value : 0, in.present };
    cs_lin_query q = { s->ev, (uint32_t)n, UINT64_MAX, init, false, budget };
    r->verdict = cs_lin_search(s, &q);
    if (r->verdict == CS_LIN_FAIL)
        cs_lin_evidence(s, (uint32_t)n, init, budget, r);
    return r->verdict;
}

/* ---- partitioning by key ------------------------------------------------- */

/* Stable LSD radix sort of (key, index) pairs on the key bytes that vary. */
static cs_lin_pair *cs_lin_by_key(const cs_lin_op *ops, size_t n)
{
    cs_lin_pair *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return NULL;
    }
    uint64_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        a[i] = (cs_lin_pair){ ops[i].key, i };
        diff |= ops[i].key ^ ops[0].key;
    }
    for (unsigned sh = 0; sh < 64; sh += 8) {
        if (((diff >> sh) & 0xff) == 0)
            continue;
        size_t cnt[256] = { 0 };
        for (size_t i = 0; i < n; i++)
            cnt[(a[i].a >> sh) & 0xff]++;
        for (size_t d = 0, sum = 0; d < 256; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[cnt[(a[i].a >> sh) & 0xff]++] = a[i];
        cs_lin_pair *t = a;
        a = b;
        b = t;
    }
    free(b);
    return a;
}

/* ---- threads ------------------------------------------------------------- */

typedef struct cs_lin_job {
    const cs_lin_op *ops;
    const cs_lin_pair *pairs;
    const size_t *kstart;         /* key k: pairs[kstart[k], kstart[k+1]) */
    const size_t *order;          /* the keys, longest history first */
    size_t nkeys;
    cs_lin_init (*init)(uint64_t key, void *ctx);
    void *ctx;
    uint64_t budget;
    _Atomic size_t next;
    _Atomic bool oom;
} cs_lin_job;

typedef struct cs_lin_worker {
    cs_lin_job *job;
    cs_lin_scratch s;
    cs_lin_key_report *bad;
    size_t nbad, cap_bad;
    size_t passed;
    pthread_t tid;
    bool started;
} cs_lin_worker;

static bool cs_lin_worker_key(cs_lin_worker *w, size_t k)
{
    cs_lin_job *j = w->job;
    cs_lin_keyrange kr = { j->ops, j->pairs, j->kstart[k], j->kstart[k + 1] };
    cs_lin_key_report r;
    cs_lin_init in = j->init != NULL ? j->init(j->pairs[kr.lo].a, j->ctx)
                                     : (cs_lin_init){ false, 0 };
    cs_lin_verdict v = cs_lin_check_key(&w->s, &kr, in, j->budget, &r);
    if (w->s.oom)
        return false;
    if (v == CS_LIN_PASS) {
        w->passed++;
        return true;
    }
    if (!cs_lin_grow(&w->bad, &w->cap_bad, w->nbad + 1, sizeof *w->bad))
        return false;
    w->bad[w->nbad++] = r;
    return true;
}

static void *cs_lin_worker_main(void *arg)
{
    cs_lin_worker *w = arg;
    cs_lin_job *j = w->job;
    for (;;) {
        if (atomic_load_explicit(&j->oom, memory_order_relaxed))
            break;
        size_t k = atomic_fetch_add_explicit(&j->next, 1,
                                             memory_order_relaxed);
        if (k >= j->nkeys)
            break;
        if (!cs_lin_worker_key(w, j->order[k])) {
            atomic_store_explicit(&j->oom, true, memory_order_relaxed);
            break;
        }
    }
    cs_lin_scratch_free(&w->s);
    return NULL;
}

/* Key boundaries of the sorted pairs; returns the count of keys. */
static size_t *cs_lin_key_starts(const cs_lin_pair *p, size_t n,
                                 size_t *nkeys)
{
    size_t nk = 0;
    for (size_t i = 0; i < n; i++)
        nk += i == 0 || p[i].a != p[i - 1].a;
    size_t *ks = malloc((nk + 1) * sizeof *ks);
    if (ks == NULL)
        return NULL;
    for (size_t i = 0, k = 0; i < n; i++)
        if (i == 0 || p[i].a != p[i - 1].a)
            ks[k++] = i;
    ks[nk] = n;
    *nkeys = nk;
    return ks;
}

/* The keys by decreasing history length (the long ones start first, so
 * they do not end up alone at the end); NULL on out of memory. */
static size_t *cs_lin_key_order(const size_t *ks, size_t nkeys)
{
    cs_lin_pair *p = malloc((nkeys ? nkeys : 1) * sizeof *p);
    size_t *order = malloc((nkeys ? nkeys : 1) * sizeof *order);
    if (p != NULL && order != NULL) {
        for (size_t k = 0; k < nkeys; k++)
            p[k] = (cs_lin_pair){ SIZE_MAX - (ks[k + 1] - ks[k]), k };
        qsort(p, nkeys, sizeof *p, cs_lin_pair_cmp);
        for (size_t k = 0; k < nkeys; k++)
            order[k] = (size_t)p[k].b;
    } else {
        free(order);
        order = NULL;
    }
    free(p);
    return order;
}

static int cs_lin_key_report_cmp(const void *x, const void *y)
{
    const cs_lin_key_report *a = x, *b = y;
    return (a->key > b->key) - (a->key < b->key);
}

/* Gather the workers' outcomes into out; -1 on out of memory. */
static int cs_lin_collect(cs_lin_worker *w, unsigned nw, cs_lin_report *out)
{
    size_t nbad = 0;
    for (unsigned i = 0; i < nw; i++)
        nbad += w[i].nbad;
    if (nbad > 0 && (out->bad = malloc(nbad * sizeof *out->bad)) == NULL)
        return -1;
    for (unsigned i = 0; i < nw; i++) {
        out->passed += w[i].passed;
        for (size_t k = 0; k < w[i].nbad; k++) {
            out->bad[out->nbad++] = w[i].bad[k];
            if (w[i].bad[k].verdict == CS_LIN_FAIL)
                out->failed++;
            else
                out->unknown++;
        }
    }
    if (out->nbad > 1)
        qsort(out->bad, out->nbad, sizeof *out->bad, cs_lin_key_report_cmp);
    return 0;
}

static double cs_lin_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run the job on nw workers (the caller is worker 0). */
static void cs_lin_run_workers(cs_lin_worker *w, unsigned nw)
{
    for (unsigned i = 1; i < nw; i++)
        w[i].started = pthread_create(&w[i].tid, NULL, cs_lin_worker_main,
                                      &w[i]) == 0;
    cs_lin_worker_main(&w[0]);
    for (unsigned i = 1; i < nw; i++)
        if (w[i].started)
            pthread_join(w[i].tid, NULL);
}

int cs_lin_check(const cs_lin_op *ops, size_t n,
                 cs_lin_init (*init)(uint64_t key, void *ctx), void *ctx,
                 uint64_t budget, unsigned threads, cs_lin_report *out)
{
    double t0 = cs_lin_now();
    memset(out, 0, sizeof *out);
    if (n == 0)
        return 0;
    if (budget == 0)
        budget = UINT64_MAX;
    cs_lin_job job = { .ops = ops, .init = init, .ctx = ctx,
                       .budget = budget };
    atomic_init(&job.next, 0);
    atomic_init(&job.oom, false);
    cs_lin_pair *pairs = cs_lin_by_key(ops, n);
    size_t *ks = pairs != NULL ? cs_lin_key_starts(pairs, n, &job.nkeys)
                               : NULL;
    size_t *order = ks != NULL ? cs_lin_key_order(ks, job.nkeys) : NULL;
    unsigned nw = threads == 0 ? 1 : threads;
    if (nw > job.nkeys)
        nw = (unsigned)job.nkeys;
    cs_lin_worker *w = order != NULL ? calloc(nw, sizeof *w) : NULL;
    int rc = -1;
    if (w != NULL) {
        job.pairs = pairs;
        job.kstart = ks;
        job.order = order;
        for (unsigned i = 0; i < nw; i++)
            w[i].job = &job;
        cs_lin_run_workers(w, nw);
        rc = atomic_load(&job.oom) ? -1 : cs_lin_collect(w, nw, out);
        out->keys = job.nkeys;
        out->ops = n;
        for (unsigned i = 0; i < nw; i++)
            free(w[i].bad);
    }
    free(w);
    free(order);
    free(ks);
    free(pairs);
    if (rc != 0)
        cs_lin_report_free(out);
    out->seconds = cs_lin_now() - t0;
    return rc;
}

void cs_lin_report_free(cs_lin_report *r)
{
    free(r->bad);
    memset(r, 0, sizeof *r);
}

/* ---- describing an op ------------------------------------------------------ */

static const char *cs_lin_op_label(unsigned op)
{
    static const char *const names[] = {
        "get", "put", "put_if_absent", "replace", "replace_if", "remove",
        "remove_if", "compute",
    };
    return op < sizeof names / sizeof *names ? names[op] : "op?";
}

static const char *cs_lin_res_label(unsigned res)
{
    static const char *const names[] = {
        "inserted", "replaced", "removed", "not found", "exists",
        "mismatch", "out of memory", "error",
    };
    return res < sizeof names / sizeof *names ? names[res] : "result?";
}

/* The arguments after the key, e.g. ", 0x2a". */
static void cs_lin_describe_args(const cs_lin_op *o, char *buf, size_t len)
{
    switch (o->op) {
    case CS_OP_PUT:
    case CS_OP_PUT_IF_ABSENT:
    case CS_OP_REPLACE:
    case CS_OP_COMPUTE:
    case CS_OP_REMOVE_IF:
        snprintf(buf, len, ", 0x%" PRIx64, o->arg);
        break;
    case CS_OP_REPLACE_IF:
        snprintf(buf, len, ", 0x%" PRIx64 ", 0x%" PRIx64, o->expect, o->arg);
        break;
    default:
        buf[0] = '\0';
    }
}

/* The result, e.g. "replaced 0x2a", "0x2a" (get), "not found". */
static void cs_lin_describe_res(const cs_lin_op *o, char *buf, size_t len)
{
    bool value = o->res == CS_R_EXISTS ||
                 (o->res == CS_R_REPLACED && o->op != CS_OP_REPLACE_IF) ||
                 (o->res == CS_R_REMOVED && o->op != CS_OP_REMOVE_IF);
    if (o->op == CS_OP_GET && o->res == CS_R_EXISTS)
        snprintf(buf, len, "0x%" PRIx64, o->out);
    else if (value)
        snprintf(buf, len, "%s 0x%" PRIx64, cs_lin_res_label(o->res), o->out);
    else
        snprintf(buf, len, "%s", cs_lin_res_label(o->res));
}

static double cs_lin_ms(uint64_t t, uint64_t t0)
{
    return (double)(int64_t)(t - t0) / 1e6;
}

void cs_lin_describe(const cs_lin_op *op, uint64_t t0_ns, char *buf,
                     size_t len)
{
    char args[64], res[64];
    if (len == 0)
        return;
    cs_lin_describe_args(op, args, sizeof args);
    cs_lin_describe_res(op, res, sizeof res);
    snprintf(buf, len,
             "thread %u  %s(key #%" PRIu64 "%s)  -> %s   [%.6f .. %.6f ms]",
             (unsigned)op->thread, cs_lin_op_label(op->op), op->key, args,
             res, cs_lin_ms(op->call_ns, t0_ns), cs_lin_ms(op->ret_ns, t0_ns));
}
