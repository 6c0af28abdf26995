/*
 * cs_backend_urcu.c - the `urcu` backend: liburcu's lock-free resizable hash
 * table cds_lfht (liburcu 0.13, <urcu/rculfhash.h>), as a peer chmstress
 * measures libchm against.
 *
 * RCU flavor: urcu-memb (sys_membarrier, falling back to full barriers on
 * the read side): no signals, usable from any thread.  Every thread_join
 * registers the calling OS thread with urcu-memb (a per-thread count, so
 * one thread may hold contexts on several maps, or join again, and
 * registers once), thread_leave unregisters it when its last context goes.
 * A thread context must be used by the one OS thread that joined.
 *
 * The table: cds_lfht_new_flavor(init, 1, 0, 0, ...): no flags,
 * init = the capacity hint rounded up to a power of two (min 1), resized
 * by the backend's own resizer thread (below, "Resizing").  Keys are
 * hashed by a seeded 64-bit mixer (splitmix64's finalizer of key ^ seed).
 *
 * Nodes are IMMUTABLE once published: {cds_lfht_node, key, val, rcu_head}.
 * A value change swaps in a new node (cds_lfht_replace / add_replace)
 * instead of writing the old node's value in place.  That is what makes the
 * conditional ops atomic: cds_lfht_replace and cds_lfht_del of the exact
 * node that was read succeed only if that node is still the key's current
 * node (a concurrent replace or delete of it makes them fail with -ENOENT,
 * and the op retries from the lookup).  An in-place CAS on the value could
 * not be made atomic with cds_lfht_del (a remove could report a value that
 * a concurrent in-place replace had already overwritten).  The price: every
 * value update allocates a node and frees the old one after a grace period.
 *
 *   get            lookup; the node's value
 *   put, compute   new node; cds_lfht_add_replace: NULL -> INSERTED, the old
 *                  node -> REPLACED (*old)
 *   put_if_absent  lookup (present -> EXISTS, *cur, no allocation), else a
 *                  new node and cds_lfht_add_unique: ours -> INSERTED, the
 *                  node that won -> EXISTS (*cur)
 *   replace        loop: lookup (absent -> NOT_FOUND), cds_lfht_replace of
 *                  that node -> REPLACED (*old), -ENOENT -> retry
 *   replace_if     the same, MISMATCH when the node's value != expect
 *   remove         loop: lookup (absent -> NOT_FOUND), cds_lfht_del of that
 *                  node -> REMOVED (*old), -ENOENT -> retry
 *   remove_if      the same, MISMATCH when the node's value != expect
 *   a node that cannot be allocated -> ENOMEM, the map unchanged.
 *
 * Every op runs in its own read-side critical section (urcu_memb_read_lock
 * / unlock: a thread-local counter update, no fence, with sys_membarrier).
 * batch_begin/batch_end are NULL: holding one read-side section across a
 * batch was tried and made the prefill of read-heavy (3M keys) crawl.  It
 * was blamed on grace periods delaying the resize; but growing waits for
 * none (only shrinking does, fini_table), so the crawl was probably the
 * lost auto-resize below (not re-measured).  Shrinking does wait for
 * readers, so sections stay per op.  Removed/replaced nodes go to call_rcu
 * (which never blocks); cds_lfht_resize (reserve, the resizer) must not
 * run inside a read-side section: none is held between ops.
 *
 * Resizing: the backend's own resizer thread, not CDS_LFHT_AUTO_RESIZE.
 * liburcu's lazy auto-resize (rculfhash.c, __cds_lfht_resize_lazy_launch,
 * 0.13.2 and still upstream) queues the resize on its worker thread and
 * only THEN sets ht->resize_initiated = 1, a flag the worker clears when
 * done.  When the worker runs the whole resize before that store (the
 * wakeup preempts the waker: common on a loaded machine, and small resizes
 * take microseconds) the flag stays 1 with nothing queued, every later
 * launch sees it and returns, and the table never grows again: each chain
 * becomes a long list and every op O(n).  Seen here: gdb on a hung
 * `run -w resize-grow.json -m urcu` read 86016 entries in 4 buckets,
 * resize_target 65536, resize_initiated 1; a plain cds_lfht (init 1,
 * 400000 inserts by one thread) stayed stuck after 1 s idle in 2 runs of
 * 12.  Only cds_lfht_resize clears the flag, and the table's bucket count
 * is private, so the backend owns the policy instead:
 *
 *   - when a thread context's inserts - removes has moved by 1024 since its
 *     last check (by its own value below 1024: at 1, 2, 4 .. 512), it sums
 *     the size and applies cs_urcu_policy (one compare per update else);
 *   - the policy is liburcu's: while the count is below `small` (1024 x
 *     the CPUs rounded up to a power of two: liburcu's per-CPU counter
 *     limit) keep about one entry per bucket (liburcu: an insert walking
 *     >= 3 nodes of its chain grows the table); above it, grow to 2^k when
 *     the count reaches 2^k >= 8 x buckets (ht_count_add), resize to 2^k
 *     when it falls to 2^k < 8 x buckets (ht_count_del) -- chains of up to
 *     8-16 nodes, as with liburcu;
 *   - a per-map resizer thread, registered with urcu-memb like liburcu's
 *     worker, runs cds_lfht_resize: the same _do_cds_lfht_resize the
 *     worker runs, concurrent with the ops, which never resize themselves.
 *
 * The table is made without CDS_LFHT_ACCOUNTING too: its split counters
 * only fed the auto-resize, and the striped counters below replace them.
 *
 * size: striped per-thread counters (cs_stripes.h) of successful inserts
 * minus removes, summed: exact whenever no update is in flight
 * (cds_lfht_count_nodes is O(n) and approximate).  stats: the size,
 * pending garbage = nodes handed to call_rcu (a second counter of each
 * stripe) minus nodes its callbacks freed, table_size = the
 * bucket count and resizes = the cds_lfht_resize calls that changed it
 * (the resizer's and reserve's; both are serialized by resize_lock, so the
 * count is exact).  iterate: cds_lfht_for_each_entry in one read-side
 * section (weakly consistent while others update).  Not ordered (no scan).
 *
 * destroy: stops the resizer, deletes every node, waits one grace period
 * and frees them, cds_lfht_destroy, then urcu_memb_barrier() so every
 * call_rcu callback queued for this map has run before the map is freed
 * (no leaks).
 *
 * Without _LGPL_SOURCE the read-side lock/unlock are out-of-line calls into
 * liburcu-memb (a few ns per op); defining it would inline them.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <urcu/urcu-memb.h> /* the flavor: before rculfhash.h */
#include <urcu/rculfhash.h>

#include "cs.h"
#include "cs_stripes.h"

extern const cs_backend cs_backend_urcu;

/* The counters of each thread context's stripe (cs_stripes.h). */
enum {
    CS_URCU_SIZE = 0,   /* inserts - removes */
    CS_URCU_QUEUED = 1, /* nodes handed to call_rcu */
};
_Static_assert(CS_URCU_QUEUED < CS_STRIPE_COUNTERS,
               "both urcu counters fit in one stripe");

/* the largest bucket count: create, reserve and the policy (2^30) */
#define CS_URCU_MAX_INIT ((size_t)1 << 30)
/* a thread context re-checks the resize policy at least this often (in
 * its own inserts - removes): liburcu's split counters commit every 1024 */
#define CS_URCU_CHECK_EVERY 1024

typedef struct cs_urcu cs_urcu;

/* One entry: immutable once added to the table. */
typedef struct cs_unode {
    struct cds_lfht_node lfn;
    uint64_t key, val;
    cs_urcu *map;               /* for the call_rcu callback's accounting */
    union {
        struct rcu_head rcu;    /* freed after a grace period */
        struct cs_unode *next;  /* destroy: the list of deleted nodes */
    } u;
} cs_unode;

struct cs_urcu {
    struct cds_lfht *ht;
    uint64_t seed;
    uint64_t small;                     /* the policy's small-table limit */
    /* Resizing.  plan: the bucket count the table is at or heading to (the
     * policy's last decision, or reserve's); buckets: what it is. */
    _Atomic uint64_t plan, buckets, resizes;
    _Atomic uint64_t last_n;            /* the size at the last check */
    pthread_mutex_t resize_lock;        /* around cds_lfht_resize */
    pthread_mutex_t lock;               /* wake, stop */
    pthread_cond_t wake;                /* plan != buckets, or stop */
    bool stop;
    pthread_t resizer;
    alignas(64) _Atomic uint64_t freed; /* nodes freed by callbacks */
    cs_stripes stripes;                 /* CS_URCU_SIZE, CS_URCU_QUEUED */
};

/* A thread's context on one map. */
typedef struct cs_utctx {
    cs_urcu *map;
    cs_stripe *stripe;          /* its counters in map->stripes */
    /* this context's inserts - removes, and the values of it at which the
     * resize policy is checked next (plain: one thread per context) */
    int64_t net, check_hi, check_lo;
} cs_utctx;

/* How many contexts the calling thread holds (all maps): registered with
 * urcu-memb while > 0. */
static _Thread_local unsigned cs_urcu_registered;

static void cs_urcu_register(void)
{
    if (cs_urcu_registered++ == 0)
        urcu_memb_register_thread();
}

static void cs_urcu_unregister(void)
{
    if (--cs_urcu_registered == 0)
        urcu_memb_unregister_thread();
}

/* ---- hashing, nodes ------------------------------------------------------- */

static inline uint64_t cs_urcu_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline unsigned long cs_urcu_hash(const cs_urcu *u, uint64_t key)
{
    return (unsigned long)cs_urcu_mix(key ^ u->seed);
}

/* cds_lfht's match callback: the node's key == *(uint64_t *)key. */
static int cs_urcu_match(struct cds_lfht_node *node, const void *key)
{
    return caa_container_of(node, cs_unode, lfn)->key ==
           *(const uint64_t *)key;
}

static inline cs_unode *cs_urcu_node_of(struct cds_lfht_node *n)
{
    return n == NULL ? NULL : caa_container_of(n, cs_unode, lfn);
}

/* A new unpublished node, or NULL. */
static cs_unode *cs_urcu_node_new(cs_urcu *u, uint64_t key, uint64_t val)
{
    cs_unode *n = malloc(sizeof *n);
    if (n != NULL) {
        cds_lfht_node_init(&n->lfn);
        n->key = key;
        n->val = val;
        n->map = u;
    }
    return n;
}

/* call_rcu callback: count and free. */
static void cs_urcu_free_cb(struct rcu_head *h)
{
    cs_unode *n = caa_container_of(h, cs_unode, u.rcu);
    atomic_fetch_add_explicit(&n->map->freed, 1, memory_order_relaxed);
    free(n);
}

/* Hand a node taken out of the table to call_rcu. */
static void cs_urcu_retire(cs_utctx *t, cs_unode *n)
{
    cs_stripe_add(t->stripe, CS_URCU_QUEUED, 1);
    urcu_memb_call_rcu(&n->u.rcu, cs_urcu_free_cb);
}

static void cs_urcu_check(cs_utctx *t);
static size_t cs_urcu_size(void *map);

/* Count an insert (+1) or remove (-1); now and then check the resize
 * policy.  Outside any read-side section (the check may take a mutex). */
static inline void cs_urcu_count(cs_utctx *t, int64_t d)
{
    cs_stripe_add(t->stripe, CS_URCU_SIZE, d);
    t->net += d;
    if (t->net >= t->check_hi || t->net <= t->check_lo)
        cs_urcu_check(t);
}

static inline void cs_urcu_out(uint64_t *p, uint64_t v)
{
    if (p != NULL)
        *p = v;
}

/* The key's current node, or NULL; *iter positioned on it.  Read-side
 * section held. */
static inline cs_unode *cs_urcu_lookup(cs_urcu *u, uint64_t key,
                                       unsigned long hash,
                                       struct cds_lfht_iter *iter)
{
    cds_lfht_lookup(u->ht, hash, cs_urcu_match, &key, iter);
    return cs_urcu_node_of(cds_lfht_iter_get_node(iter));
}

/* ---- resizing ------------------------------------------------------------------ */

static uint64_t cs_urcu_pow2_ceil(uint64_t x) /* the power of two >= x */
{
    uint64_t p = 1;
    while (p < x)
        p *= 2;
    return p;
}

static uint64_t cs_urcu_pow2_floor(uint64_t x) /* the power of two <= x */
{
    uint64_t p = cs_urcu_pow2_ceil(x);
    return p > x ? p / 2 : p;
}

/* The bucket count liburcu 0.13's auto-resize (rculfhash.c) would move a
 * table of b buckets to, now that it holds n entries and held `last` at
 * the previous check; 0: stay.  Small tables: chain-length growth
 * (check_resize) keeps about one entry per bucket, up to `small`.  Then
 * the count rules at powers of two: reaching 2^k upwards grows to 2^k if
 * 2^k >= 8 b (ht_count_add); falling to 2^k resizes to 2^k if 2^k < 8 b
 * (ht_count_del: a shrink, or a grow of a table that is behind). */
static uint64_t cs_urcu_policy(uint64_t small, uint64_t n, uint64_t last,
                               uint64_t b)
{
    uint64_t want = 0;
    if (n < small) {
        if (n >= b) {
            want = cs_urcu_pow2_ceil(n + 1);
            want = want < small ? want : small;
        }
    } else if (cs_urcu_pow2_floor(n) >> 3 >= b) {
        want = cs_urcu_pow2_floor(n);
    } else if (n < last && cs_urcu_pow2_ceil(n) <= last &&
               cs_urcu_pow2_ceil(n) >> 3 < b) {
        want = cs_urcu_pow2_ceil(n); /* the lowest power passed falling */
    }
    want = want < CS_URCU_MAX_INIT ? want : CS_URCU_MAX_INIT;
    return want == b ? 0 : want;
}

/* liburcu's small-table limit: 1024 x the CPUs as a power of two (its
 * per-CPU split counters commit every 1024 and it trusts their sum only
 * above that). */
static uint64_t cs_urcu_small_limit(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    return CS_URCU_CHECK_EVERY *
           cs_urcu_pow2_ceil(cpus > 0 ? (uint64_t)cpus : 16);
}

static void cs_urcu_wake_resizer(cs_urcu *u)
{
    pthread_mutex_lock(&u->lock);
    pthread_cond_signal(&u->wake);
    pthread_mutex_unlock(&u->lock);
}

/* How far up a context's net must move before its next check: its own
 * value while that is small (1, 2, 4 .. 512: a table growing from empty is
 * followed closely), else CS_URCU_CHECK_EVERY.  Never 1 below zero: a
 * context that removes more than it inserts (a prefilled map) would
 * otherwise check on every insert. */
static int64_t cs_urcu_step_up(int64_t net)
{
    if (net == 0)
        return 1;
    return net > 0 && net < CS_URCU_CHECK_EVERY ? net : CS_URCU_CHECK_EVERY;
}

/* A policy check by a thread context: re-arm its thresholds (both at a
 * distance, so a net bouncing between two values does not check every
 * op), then sum the size and hand a new plan to the resizer.  Of threads
 * racing here, the CAS lets one plan win per decision. */
static void cs_urcu_check(cs_utctx *t)
{
    cs_urcu *u = t->map;
    int64_t net = t->net;
    t->check_hi = net + cs_urcu_step_up(net);
    t->check_lo = net - CS_URCU_CHECK_EVERY;
    uint64_t n = cs_urcu_size(u);
    uint64_t last = atomic_exchange_explicit(&u->last_n, n,
                                             memory_order_relaxed);
    uint64_t plan = atomic_load_explicit(&u->plan, memory_order_relaxed);
    uint64_t want = cs_urcu_policy(u->small, n, last, plan);
    if (want != 0 && atomic_compare_exchange_strong(&u->plan, &plan, want))
        cs_urcu_wake_resizer(u);
}

/* Resize the table to nb buckets; resize_lock held (so `buckets` is what
 * the table has: nobody else calls cds_lfht_resize). */
static void cs_urcu_resize_locked(cs_urcu *u, uint64_t nb)
{
    if (nb == atomic_load_explicit(&u->buckets, memory_order_relaxed))
        return;
    cds_lfht_resize(u->ht, (unsigned long)nb);
    atomic_store_explicit(&u->buckets, nb, memory_order_relaxed);
    atomic_fetch_add_explicit(&u->resizes, 1, memory_order_relaxed);
}

/* Sleep until the plan differs from the table (true) or stop (false). */
static bool cs_urcu_resizer_wait(cs_urcu *u)
{
    pthread_mutex_lock(&u->lock);
    while (!u->stop &&
           atomic_load(&u->plan) == atomic_load(&u->buckets))
        pthread_cond_wait(&u->wake, &u->lock);
    bool go = !u->stop;
    pthread_mutex_unlock(&u->lock);
    return go;
}

/* The resizer thread: registered with urcu-memb (cds_lfht_resize takes
 * read-side sections and, shrinking, waits for grace periods), it follows
 * the plan - the latest one, however many decisions it slept through. */
static void *cs_urcu_resizer_main(void *arg)
{
    cs_urcu *u = arg;
    urcu_memb_register_thread();
    while (cs_urcu_resizer_wait(u)) {
        pthread_mutex_lock(&u->resize_lock);
        cs_urcu_resize_locked(u, atomic_load(&u->plan));
        pthread_mutex_unlock(&u->resize_lock);
    }
    urcu_memb_unregister_thread();
    return NULL;
}

static void cs_urcu_resizer_stop(cs_urcu *u)
{
    pthread_mutex_lock(&u->lock);
    u->stop = true;
    pthread_cond_signal(&u->wake);
    pthread_mutex_unlock(&u->lock);
    pthread_join(u->resizer, NULL);
}

/* ---- lifecycle --------------------------------------------------------------- */

/* Counters zero, the plan = the table's init buckets, the locks. */
static void cs_urcu_init_fields(cs_urcu *u, uint64_t seed, uint64_t init)
{
    u->seed = cs_urcu_mix(seed ^ 0x3c6ef372fe94f82bULL);
    u->small = cs_urcu_small_limit();
    atomic_init(&u->plan, init);
    atomic_init(&u->buckets, init);
    atomic_init(&u->resizes, 0);
    atomic_init(&u->last_n, 0);
    atomic_init(&u->freed, 0);
    cs_stripes_init(&u->stripes);
    pthread_mutex_init(&u->resize_lock, NULL);
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->wake, NULL);
    u->stop = false;
}

static void cs_urcu_free_map(cs_urcu *u)
{
    pthread_cond_destroy(&u->wake);
    pthread_mutex_destroy(&u->lock);
    pthread_mutex_destroy(&u->resize_lock);
    free(u);
}

static void *cs_urcu_create(size_t capacity, uint64_t seed)
{
    size_t init = 1;
    while (init < capacity && init < CS_URCU_MAX_INIT)
        init *= 2;
    cs_urcu *u = aligned_alloc(64, (sizeof *u + 63) / 64 * 64);
    if (u == NULL)
        return NULL;
    cs_urcu_init_fields(u, seed, init);
    /* no CDS_LFHT_AUTO_RESIZE: its lazy launch can lose the resize for
     * good (top comment); the resizer thread below does it */
    u->ht = cds_lfht_new_flavor(init, 1, 0, 0, &urcu_memb_flavor, NULL);
    if (u->ht == NULL) {
        cs_urcu_free_map(u);
        return NULL;
    }
    if (pthread_create(&u->resizer, NULL, cs_urcu_resizer_main, u) != 0) {
        cs_urcu_register(); /* cds_lfht_destroy wants a registered thread */
        (void)cds_lfht_destroy(u->ht, NULL);
        cs_urcu_unregister();
        cs_urcu_free_map(u);
        return NULL;
    }
    return u;
}

/* Remove and free everything, destroy the table, wait for every callback.
 * No thread may still use the map. */
static void cs_urcu_destroy(void *map)
{
    cs_urcu *u = map;
    if (u == NULL)
        return;
    cs_urcu_resizer_stop(u);
    cs_urcu_register();
    cs_unode *dead = NULL;
    struct cds_lfht_iter iter;
    cs_unode *n;
    urcu_memb_read_lock();
    cds_lfht_for_each_entry(u->ht, &iter, n, lfn)
    {
        if (cds_lfht_del(u->ht, &n->lfn) == 0) {
            n->u.next = dead;
            dead = n;
        }
    }
    urcu_memb_read_unlock();
    urcu_memb_synchronize_rcu();
    while (dead != NULL) {
        cs_unode *next = dead->u.next;
        free(dead);
        dead = next;
    }
    (void)cds_lfht_destroy(u->ht, NULL);
    urcu_memb_barrier(); /* every call_rcu callback of this map has run */
    cs_urcu_unregister();
    cs_urcu_free_map(u);
}

static void *cs_urcu_thread_join(void *map)
{
    cs_urcu *u = map;
    cs_utctx *t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    t->map = u;
    t->stripe = cs_stripes_claim(&u->stripes);
    t->net = 0;
    t->check_hi = 1; /* the first insert checks */
    t->check_lo = -CS_URCU_CHECK_EVERY;
    cs_urcu_register();
    return t;
}

static void cs_urcu_thread_leave(void *tctx)
{
    cs_utctx *t = tctx;
    if (t == NULL)
        return;
    cs_urcu_unregister();
    free(t);
}

/* ---- operations ----------------------------------------------------------------- */

static bool cs_urcu_get(void *tctx, uint64_t key, uint64_t *val)
{
    cs_utctx *t = tctx;
    struct cds_lfht_iter iter;
    urcu_memb_read_lock();
    cs_unode *n = cs_urcu_lookup(t->map, key, cs_urcu_hash(t->map, key),
                                 &iter);
    if (n != NULL)
        cs_urcu_out(val, n->val);
    urcu_memb_read_unlock();
    return n != NULL;
}

/* Insert or replace: put and compute. */
static cs_res cs_urcu_put(void *tctx, uint64_t key, uint64_t val,
                          uint64_t *old)
{
    cs_utctx *t = tctx;
    cs_unode *n = cs_urcu_node_new(t->map, key, val);
    if (n == NULL)
        return CS_R_ENOMEM;
    urcu_memb_read_lock();
    cs_unode *o = cs_urcu_node_of(cds_lfht_add_replace(
        t->map->ht, cs_urcu_hash(t->map, key), cs_urcu_match, &key,
        &n->lfn));
    if (o != NULL)
        cs_urcu_out(old, o->val);
    urcu_memb_read_unlock();
    if (o == NULL) {
        cs_urcu_count(t, 1);
        return CS_R_INSERTED;
    }
    cs_urcu_retire(t, o);
    return CS_R_REPLACED;
}

static cs_res cs_urcu_put_if_absent(void *tctx, uint64_t key, uint64_t val,
                                    uint64_t *cur)
{
    cs_utctx *t = tctx;
    unsigned long hash = cs_urcu_hash(t->map, key);
    struct cds_lfht_iter iter;
    urcu_memb_read_lock();
    cs_unode *o = cs_urcu_lookup(t->map, key, hash, &iter);
    if (o != NULL) {
        cs_urcu_out(cur, o->val);
        urcu_memb_read_unlock();
        return CS_R_EXISTS;
    }
    cs_unode *n = cs_urcu_node_new(t->map, key, val);
    if (n == NULL) {
        urcu_memb_read_unlock();
        return CS_R_ENOMEM;
    }
    o = cs_urcu_node_of(cds_lfht_add_unique(t->map->ht, hash, cs_urcu_match,
                                            &key, &n->lfn));
    if (o != n)
        cs_urcu_out(cur, o->val);
    urcu_memb_read_unlock();
    if (o != n) {
        free(n); /* never published */
        return CS_R_EXISTS;
    }
    cs_urcu_count(t, 1);
    return CS_R_INSERTED;
}

/* What cs_urcu_take does to the key's current node: replace / replace_if
 * swap it for a new node holding val, remove / remove_if delete it; the
 * _if ops only when its value == expect. */
typedef struct cs_utake {
    bool del;       /* delete it (remove*), else swap in a node of val */
    bool cond;      /* only if its value == expect (the _if ops) */
    uint64_t expect;
    uint64_t val;   /* the new node's value (replace*) */
} cs_utake;

/* Take node o, which the lookup left *iter on, out of the table: swap in n
 * (op->del false) or delete it.  0, or nonzero (-ENOENT) when another
 * update took o out first.  Read-side section held since the lookup, as
 * cds_lfht_replace / cds_lfht_del require. */
static int cs_urcu_unlink(cs_urcu *u, const cs_utake *op, uint64_t key,
                          unsigned long hash, struct cds_lfht_iter *iter,
                          cs_unode *o, cs_unode *n)
{
    if (op->del)
        return cds_lfht_del(u->ht, &o->lfn);
    return cds_lfht_replace(u->ht, iter, hash, cs_urcu_match, &key,
                            &n->lfn);
}

/* cs_urcu_take's loop, inside its read-side section: look the key up
 * (absent -> NOT_FOUND), compare (MISMATCH), allocate the new node once
 * (replace*; ENOMEM), then replace or delete the exact node read; when
 * another update took that node out first, retry from the lookup.  *o is
 * the node read last (the one taken out on REPLACED / REMOVED), *n the new
 * node allocated, if any (published only on REPLACED). */
static cs_res cs_urcu_take_locked(cs_utctx *t, uint64_t key,
                                  const cs_utake *op, cs_unode **o,
                                  cs_unode **n)
{
    unsigned long hash = cs_urcu_hash(t->map, key);
    struct cds_lfht_iter iter;
    for (;;) {
        *o = cs_urcu_lookup(t->map, key, hash, &iter);
        if (*o == NULL)
            return CS_R_NOT_FOUND;
        if (op->cond && (*o)->val != op->expect)
            return CS_R_MISMATCH;
        if (!op->del && *n == NULL &&
            (*n = cs_urcu_node_new(t->map, key, op->val)) == NULL)
            return CS_R_ENOMEM;
        if (cs_urcu_unlink(t->map, op, key, hash, &iter, *o, *n) == 0)
            return op->del ? CS_R_REMOVED : CS_R_REPLACED;
    }
}

/* replace, replace_if, remove and remove_if: take the key's current node
 * out of the table (op: swapped for a new node, or deleted; conditional on
 * its value or not).  REPLACED / REMOVED with its value in *old,
 * NOT_FOUND, MISMATCH, or ENOMEM (replace*: no new node; the map
 * unchanged).  Any number of threads at once; linearizable at the
 * successful cds_lfht_replace / cds_lfht_del.
 *
 * Atomicity: cds_lfht_replace and cds_lfht_del of the exact node the
 * lookup returned succeed only while that node is still the key's current
 * node (liburcu flags the node's next pointer REMOVED and REMOVAL_OWNER:
 * replace with one cmpxchg that fails on a removed node, del with an
 * atomic or then an xchg; of racing replaces / deletes of one node exactly
 * one owns the removal and returns 0, the others get -ENOENT and retry
 * from the lookup).  Nodes are immutable, so the value compared with
 * expect and reported in *old is the value of the node this op took out:
 * no update can land between the check and the act.
 *
 * SAFETY (memory): o is dereferenced only inside the read-side section
 * that found it: a node another thread takes out is freed by call_rcu only
 * after a grace period, which waits for this section.  The node this op
 * took out is its alone (only one unlink of it succeeds), so it is retired
 * exactly once, after the section.  A new node whose replace never
 * succeeded was never published - no reader can hold it - so it is freed
 * at once, without a grace period.
 *
 * Memory ordering: this function adds none of its own.  The new node's
 * fields are plain stores before cds_lfht_replace publishes it, and a
 * successful cds_lfht_replace / cds_lfht_del issues a full memory barrier
 * before and after its commit (rculfhash.h), while cds_lfht_lookup reads
 * node pointers as rcu_dereference: a reader that finds the new node sees
 * its key and value.  The size / queued counts are relaxed (cs_stripes.h):
 * they publish nothing. */
static cs_res cs_urcu_take(cs_utctx *t, uint64_t key, cs_utake op,
                           uint64_t *old)
{
    cs_unode *o = NULL, *n = NULL;
    urcu_memb_read_lock();
    cs_res r = cs_urcu_take_locked(t, key, &op, &o, &n);
    bool taken = r == CS_R_REPLACED || r == CS_R_REMOVED;
    if (taken)
        cs_urcu_out(old, o->val);
    urcu_memb_read_unlock();
    if (r == CS_R_REMOVED)
        cs_urcu_count(t, -1); /* outside the section: may take a mutex */
    if (taken)
        cs_urcu_retire(t, o);
    else
        free(n); /* NULL, or never published */
    return r;
}

/* Swap the key's node for one of val: REPLACED (*old), NOT_FOUND, ENOMEM. */
static cs_res cs_urcu_replace(void *tctx, uint64_t key, uint64_t val,
                              uint64_t *old)
{
    return cs_urcu_take(tctx, key, (cs_utake){.val = val}, old);
}

/* The same if its value == expect: REPLACED, NOT_FOUND, MISMATCH, ENOMEM. */
static cs_res cs_urcu_replace_if(void *tctx, uint64_t key, uint64_t expect,
                                 uint64_t val)
{
    return cs_urcu_take(tctx, key,
                        (cs_utake){.cond = true, .expect = expect,
                                   .val = val},
                        NULL);
}

/* Delete the key's node: REMOVED (*old) or NOT_FOUND. */
static cs_res cs_urcu_remove(void *tctx, uint64_t key, uint64_t *old)
{
    return cs_urcu_take(tctx, key, (cs_utake){.del = true}, old);
}

/* The same if its value == expect: REMOVED, NOT_FOUND or MISMATCH. */
static cs_res cs_urcu_remove_if(void *tctx, uint64_t key, uint64_t expect)
{
    return cs_urcu_take(tctx, key,
                        (cs_utake){.del = true, .cond = true,
                                   .expect = expect},
                        NULL);
}

/* Atomic upsert: cds_lfht_add_replace is one atomic step, as for put. */
static cs_res cs_urcu_compute(void *tctx, uint64_t key, uint64_t val,
                              uint64_t *old)
{
    return cs_urcu_put(tctx, key, val, old);
}

/* The striped count: exact when no update is in flight. */
static size_t cs_urcu_size(void *map)
{
    cs_urcu *u = map;
    return (size_t)cs_stripes_sum_nonneg(&u->stripes, CS_URCU_SIZE);
}

static size_t cs_urcu_iterate(void *tctx,
                              void (*visit)(void *ctx, uint64_t k,
                                            uint64_t v),
                              void *ctx)
{
    cs_utctx *t = tctx;
    struct cds_lfht_iter iter;
    cs_unode *n;
    size_t count = 0;
    urcu_memb_read_lock();
    cds_lfht_for_each_entry(t->map->ht, &iter, n, lfn)
    {
        if (visit != NULL)
            visit(ctx, n->key, n->val);
        count++;
    }
    urcu_memb_read_unlock();
    return count;
}

/* cds_lfht_resize to the power of two >= n buckets (outside any read-side
 * section, as it must be), now, in the caller; it becomes the plan, which
 * the policy then changes only at its next threshold.  Always 0:
 * cds_lfht_resize reports nothing. */
static int cs_urcu_reserve(void *tctx, size_t n)
{
    cs_urcu *u = ((cs_utctx *)tctx)->map;
    uint64_t nb = cs_urcu_pow2_ceil(n < CS_URCU_MAX_INIT ? n : CS_URCU_MAX_INIT);
    pthread_mutex_lock(&u->resize_lock);
    atomic_store_explicit(&u->plan, nb, memory_order_relaxed);
    cs_urcu_resize_locked(u, nb);
    pthread_mutex_unlock(&u->resize_lock);
    return 0;
}

static void cs_urcu_stats(void *map, cs_map_stats *out)
{
    cs_urcu *u = map;
    uint64_t queued = cs_stripes_sum_nonneg(&u->stripes, CS_URCU_QUEUED);
    uint64_t freed = atomic_load_explicit(&u->freed, memory_order_relaxed);
    *out = (cs_map_stats){
        .table_size = atomic_load_explicit(&u->buckets, memory_order_relaxed),
        .resizes = atomic_load_explicit(&u->resizes, memory_order_relaxed),
        .pending_garbage = queued > freed ? queued - freed : 0,
        .size = cs_urcu_size(map),
        .has_table_size = true,
        .has_resizes = true,
        .has_garbage = true,
    };
}

/* The `urcu` backend (registered in cs_backends.c). */
const cs_backend cs_backend_urcu = {
    .name = "urcu",
    .description = "liburcu's lock-free resizable hash table cds_lfht "
                   "(urcu-memb flavor, liburcu's resize policy run by a "
                   "resizer thread; value updates swap nodes)",
    .ordered = false,
    .create = cs_urcu_create,
    .destroy = cs_urcu_destroy,
    .thread_join = cs_urcu_thread_join,
    .thread_leave = cs_urcu_thread_leave,
    .batch_begin = NULL,
    .batch_end = NULL,
    .get = cs_urcu_get,
    .put = cs_urcu_put,
    .put_if_absent = cs_urcu_put_if_absent,
    .replace = cs_urcu_replace,
    .replace_if = cs_urcu_replace_if,
    .remove = cs_urcu_remove,
    .remove_if = cs_urcu_remove_if,
    .compute = cs_urcu_compute,
    .scan = NULL,
    .size = cs_urcu_size,
    .iterate = cs_urcu_iterate,
    .reserve = cs_urcu_reserve,
    .stats = cs_urcu_stats,
};
