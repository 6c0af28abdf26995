/*
 * chm_map.c - the map's operations.  This comment is libchm's overview; the
 * other files refer to it.
 *
 * Design (Java's ConcurrentHashMap, JSR166, ported to C with epochs)
 * ------------------------------------------------------------------
 * The map is a power-of-two table of bins.  A bin is empty (NULL), or holds
 * the head of a list of entries (CHM_K_NODE), or a tree bin (CHM_K_TREEBIN:
 * a red-black tree of its entries, used once a list reaches 8 entries in a
 * table of at least 64 bins), or a forwarding node (CHM_K_FWD: the bin has
 * moved to the next table during a resize), or briefly a reservation node
 * (CHM_K_RESERVED: compute is deciding what to put in an empty bin).
 *
 * One departure in memory layout, not in protocol: each bin shares its cache
 * line with its "bucket" (chm_bin_t), a head node with room for two entries
 * inline (CHM_K_BUCKET, chm_bucket.c).  While the bin holds a list, the
 * bucket is its first node - Java's head, whose lock is the bin lock - and
 * the list goes on with heap nodes; an entry goes into a free slot of the
 * bucket when there is one, onto the heap otherwise.  Tables hold at most
 * one entry per bin (the load factor: chm_internal.h), so nine entries in
 * ten or more are inline and a lookup costs one cache miss, where Java's
 * layout takes two dependent ones for every hit.  The price is memory: 64
 * bytes per bin, used or not.  A bucket slot, and a bucket that stopped
 * heading its bin, are used again only after a grace period, like freed
 * memory.
 *
 * Reads never lock.  get loads the table, the bin and walks the list with
 * acquire loads; it follows forwarding nodes into the next table and asks a
 * tree bin, which never blocks a reader (chm_tree.c).  Because every node is
 * fully initialised before the release store that links it, and because
 * unlinked nodes are freed only after a grace period (chm_epoch.c), a reader
 * always sees a consistent, live list - perhaps one a writer has just
 * changed, which is why reads are linearizable but traversal is only weakly
 * consistent.
 *
 * Writes lock one bin.  An insert into an empty bin is a single CAS of the
 * new node into the bin.  Otherwise the writer locks the head node (every
 * node carries a 4-byte futex lock for this), re-checks that it is still
 * the head - it may have been removed, or the bin moved or treeified, while
 * we waited - and then changes the list or tree under the lock.  A writer
 * that meets a forwarding node helps the resize (chm_transfer.c) and retries
 * in the next table.  Values are replaced in place with a release store;
 * the previous value is retired (freed by val_free after a grace period).
 *
 * Invariants:
 *  I1  hash, key and kind of a node never change after it is published
 *      (and until a grace period after it is unlinked: only then may its
 *      memory be used again); likewise tag and key of a bucket slot from
 *      the release that makes it live until a grace period after it stops
 *      being live (chm_bucket.c).
 *  I2  val and next of a node, and the head of a non-empty bin, change only
 *      under the bin's lock (the head node's lock), with release stores.
 *      Exception: an empty bin is filled by CAS (no lock needed: there is
 *      nothing to lock), and the transfer installs forwarding nodes under
 *      the lock or, for empty bins, by CAS.
 *  I3  A node unlinked from the map (removed, replaced by a copy during a
 *      transfer, treeify or untreeify) is retired, never freed directly; the
 *      next pointers of unlinked nodes are left as they were, so a reader
 *      standing on one reaches the rest of the list it was walking.
 *  I4  Every thread touching nodes or tables is inside an epoch section.
 *  I5  size_ctl/transfer_index/table/next_table follow Java's resize
 *      protocol (chm_transfer.c).
 *
 * Updates from inside a compute callback would need the bin lock the
 * callback's thread already holds (or a resize that needs it): they are
 * refused with CHM_EBUSY, detected by a thread-local stack of the maps whose
 * callbacks are running on this thread.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "chm_internal.h"

/* ---- creation and destruction ------------------------------------------ */

static uint64_t chm_random_seed(const void *salt)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
           (uint64_t)(uintptr_t)salt;
}

static unsigned chm_cells_for_cpus(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = cpus > 0 ? (unsigned)cpus * 2 : 2, n = 2;
    while (n < want && n < 256)
        n <<= 1;
    return n;
}

static size_t chm_initial_bins(size_t capacity)
{
    if (capacity == 0)
        return CHM_DEFAULT_CAPACITY;
    return chm_table_bins_for(capacity);
}

chm_t *chm_new(const chm_type *type, size_t initial_capacity)
{
    chm_t *m = chm_alloc_aligned(CHM_CACHELINE, sizeof *m);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof *m);
    if (type != NULL)
        m->type = *type;
    m->seed = chm_random_seed(m);
    m->ncells = chm_cells_for_cpus();
    m->cells = chm_alloc_aligned(CHM_CACHELINE, m->ncells * sizeof *m->cells);
    size_t n = chm_initial_bins(initial_capacity);
    chm_spares_init(&m->spares);
    chm_table_t *tab = m->cells != NULL ? chm_table_new(m, n) : NULL;
    if (tab == NULL) {
        chm_spares_release(&m->spares);
        chm_dealloc(m->cells);
        chm_dealloc(m);
        return NULL;
    }
    for (unsigned i = 0; i < m->ncells; i++)
        atomic_init(&m->cells[i].v, 0);
    atomic_init(&m->table, tab);
    atomic_init(&m->next_table, NULL);
    atomic_init(&m->size_ctl, (int64_t)chm_threshold(n));
    atomic_init(&m->transfer_index, 0);
    atomic_init(&m->table_n, n);
    atomic_init(&m->resizes, 0);
    atomic_init(&m->treeifications, 0);
    atomic_init(&m->untreeifications, 0);
    atomic_init(&m->tree_bins, 0);
    atomic_init(&m->reclaimed_at_free, 0);
    ck_epoch_init(&m->epoch);
    pthread_mutex_init(&m->threads_lock, NULL);
    return m;
}

static void chm_free_list(chm_t *m, chm_node_t *p, bool with_contents)
{
    while (p != NULL) {
        chm_node_t *nx = atomic_load_explicit(&p->h.next,
                                              memory_order_relaxed);
        chm_node_free_now(m, p, with_contents);
        p = nx;
    }
}

static void chm_free_bin(chm_t *m, chm_head_t *f)
{
    if (f == NULL)
        return;
    if (f->kind == CHM_K_BUCKET) {
        chm_bucket_free_now(m, chm_as_bucket(f));
        chm_free_list(m, atomic_load_explicit(&f->next, memory_order_relaxed),
                      true);
    } else if (f->kind == CHM_K_NODE) {
        chm_free_list(m, chm_as_node(f), true);
    } else if (f->kind == CHM_K_TREEBIN) {
        chm_tree_free_now(m, (chm_treebin_t *)f, true);
    } else {
        CHM_CHECK(false, "forwarding or reservation node at chm_free");
    }
}

void chm_free(chm_t *m)
{
    if (m == NULL)
        return;
    CHM_CHECK(m->joined == 0, "chm_free with threads still joined");
    CHM_CHECK(atomic_load_explicit(&m->next_table, memory_order_relaxed) ==
                  NULL, "chm_free during a resize");
    /* No thread is joined, so nothing is concurrent: relaxed loads.  Run
     * the pending garbage first, then free what is still in the table. */
    chm_epoch_reclaim_all(m);
    chm_table_t *tab = atomic_load_explicit(&m->table, memory_order_relaxed);
    chm_bucket_free_orphans(tab);
    for (size_t i = 0; i < tab->n; i++)
        chm_free_bin(m, atomic_load_explicit(&tab->bins[i].head,
                                             memory_order_relaxed));
    /* Straight back to the system: keeping it as a spare (chm_table_free_now)
     * would only mark it MADV_FREE for chm_spares_release to unmap. */
    chm_dealloc_table(tab, CHM_TABLE_HEAD, chm_table_body(tab), tab->mapped);
    chm_spares_release(&m->spares);
    chm_epoch_free_threads(m);
    pthread_mutex_destroy(&m->threads_lock);
    chm_dealloc(m->cells);
    chm_dealloc(m);
}

/* ---- compute recursion guard ------------------------------------------ */

typedef struct chm_compute_frame {
    const chm_t *map;
    struct chm_compute_frame *prev;
} chm_compute_frame;

static _Thread_local chm_compute_frame *chm_compute_top;

bool chm_in_compute(const chm_t *m)
{
    for (chm_compute_frame *f = chm_compute_top; f != NULL; f = f->prev)
        if (f->map == m)
            return true;
    return false;
}

static bool chm_update_refused(chm_thread_t *t)
{
    CHM_CHECK_THREAD(t);
    return chm_compute_top != NULL && chm_in_compute(t->map);
}

static chm_compute_action chm_call_compute(chm_t *m, chm_compute_fn fn,
        void *ctx, uintptr_t key, bool present, uintptr_t cur,
        uintptr_t *new_val)
{
    chm_compute_frame frame = { m, chm_compute_top };
    chm_compute_top = &frame;
    chm_compute_action a = fn(ctx, key, present, cur, new_val);
    chm_compute_top = frame.prev;
    return a;
}

/* ---- lookup ------------------------------------------------------------ */

/* The value cell of key's entry in the list or tree bin f, or NULL (also
 * for a reservation, which holds no entry yet).  Lock-free: chm_find's read
 * of a bin, also used by writers that can answer without the lock when the
 * key's presence alone decides (see chm_put_val, chm_replace_node); such an
 * answer linearizes where a get's would. */
static inline _Atomic uintptr_t *chm_bin_find(const chm_t *m, chm_head_t *f,
                                              uint64_t h, uintptr_t key)
{
    chm_node_t *e;
    if (f->kind == CHM_K_BUCKET) {
        chm_bucket_t *b = chm_as_bucket(f);
        int s = chm_bucket_find(m, b, h, key);
        if (s >= 0)
            return &b->slot[s].val;
        /* acquire: pairs with the release that linked the first heap
         * node, so its fields are visible (I1) */
        e = atomic_load_explicit(&f->next, memory_order_acquire);
    } else if (f->kind == CHM_K_NODE) {
        e = chm_as_node(f);
    } else if (f->kind == CHM_K_TREEBIN) {
        chm_node_t *p = chm_tree_find(m, (chm_treebin_t *)f, h, key);
        return p != NULL ? &p->val : NULL;
    } else {
        return NULL;
    }
    /* acquire: pairs with the release that published each next pointer,
     * so the node behind it is visible (I1) */
    for (; e != NULL; e = atomic_load_explicit(&e->h.next, memory_order_acquire))
        if (e->hash == h && chm_key_eq(m, e->key, key))
            return &e->val;
    return NULL;
}

/* The value cell of key's entry in tab (following forwarding nodes), or
 * NULL.  The caller is pinned: every node, bucket and table reached stays
 * alive, and a slot found live keeps its entry (I4, chm_bucket.c). */
static _Atomic uintptr_t *chm_find(const chm_t *m, chm_table_t *tab,
                                   uint64_t h, uintptr_t key)
{
    for (;;) {
        /* acquire: pairs with the release that published the head, so its
         * fields (I1) and what is behind it are visible. */
        chm_head_t *e = atomic_load_explicit(
            &tab->bins[chm_bin_index(h, tab->n)].head, memory_order_acquire);
        if (e == NULL)
            return NULL;
        if (e->kind != CHM_K_FWD)
            return chm_bin_find(m, e, h, key);
#ifdef CHM_MUTANT_GET_IGNORES_FWD
        /* MUTANT get_ignores_fwd: a forwarding node reads as empty. */
        return NULL;
#endif
        /* SAFETY: the forwarding node lives in tab, which is alive; its
         * target is reachable from tab, so it is alive too (I3, I4). */
        tab = chm_fwd_table(e);
    }
}

bool chm_get(chm_thread_t *t, uintptr_t key, uintptr_t *val_out)
{
    CHM_CHECK_THREAD(t);
    /* the check aborts on NULL in debug builds (chm_misuse is _Noreturn) */
    // cppcheck-suppress nullPointerRedundantCheck
    chm_t *m = t->map;
    uint64_t h = chm_hash_key(m, key);
    chm_pin_in(t);
    _Atomic uintptr_t *v = chm_find(m, atomic_load_explicit(&m->table,
                                                            memory_order_acquire),
                                    h, key);
    if (v != NULL && val_out != NULL)
        /* acquire: the value may point at data written before its store */
        *val_out = atomic_load_explicit(v, memory_order_acquire);
    chm_unpin_in(t);
    return v != NULL;
}

/* ---- shared pieces of the update paths ---------------------------------- */

/* Under the bin lock: replace the value in cell v, retiring the old one.
 * CHM_OK or CHM_ENOMEM (nothing changed). */
static int chm_set_value(chm_thread_t *t, _Atomic uintptr_t *v, uintptr_t val,
                         uintptr_t *old_out)
{
    chm_value_retirer_t *r;
    if (chm_value_retirer_new(t->map, &r) != CHM_OK)
        return CHM_ENOMEM;
    /* relaxed load: val changes only under the lock we hold (I2).
     * release store: readers that load the new value (acquire) see what the
     * caller wrote before handing it to us. */
    uintptr_t old = atomic_load_explicit(v, memory_order_relaxed);
    atomic_store_explicit(v, val, memory_order_release);
    if (old_out != NULL)
        *old_out = old;
    /* SAFETY: old is no longer reachable through the map; readers that
     * loaded it are pinned, and it is freed only after a grace period. */
    chm_value_retire(t, r, old);
    return CHM_OK;
}

/* Under the lock of tab->bins[i]'s tree bin b: p was removed from b; turn a
 * small tree back into a list (if that allocation fails, the tree stays). */
static void chm_tree_shrink(chm_thread_t *t, chm_table_t *tab, size_t i,
                            chm_treebin_t *b)
{
    chm_t *m = t->map;
    if (b->count > CHM_UNTREEIFY_THRESHOLD)
        return;
    chm_node_t *list = chm_tree_to_list(m, b);
    if (list == NULL && b->count != 0)
        return;
    atomic_store_explicit(&tab->bins[i].head, list != NULL ? &list->h : NULL,
                          memory_order_release);
    /* SAFETY: b and its nodes are now unreachable (the bin holds copies). */
    chm_tree_retire_shell(t, b);
    atomic_fetch_add_explicit(&m->untreeifications, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&m->tree_bins, 1, memory_order_relaxed);
}

/*
 * Where a key is in a locked list bin.  A list bin's head f is either the
 * bin's bucket (then its live slots are the first entries and f->next the
 * heap nodes after them) or a heap node (the bucket is not in use).
 */
typedef struct chm_lpos {
    chm_bucket_t *b;   /* f, when it is the bucket; else NULL */
    int slot;          /* the key's slot in b, or -1 */
    chm_node_t *e;     /* the key's heap node, or NULL */
    chm_head_t *pred;  /* e's predecessor, NULL if e is f; when the key is
                        * absent: the list's last element (f or a node) */
    long count;        /* the bin's entries, when the key is absent (Java's
                        * binCount); fewer when it is present */
} chm_lpos;

#ifdef CHM_MUTANT_PIA_OUTSIDE_LOCK
/* MUTANT pia_outside_lock: set while put_if_absent appends blind. */
static _Thread_local bool chm_mutant_pia_blind;
#endif

/* Under f's lock: find key in the list headed by f.  True if present. */
static bool chm_list_locate(const chm_t *m, chm_head_t *f, uint64_t h,
                            uintptr_t key, chm_lpos *p)
{
    chm_node_t *e;
    p->b = NULL;
    p->slot = -1;
    p->e = NULL;
    p->count = 0;
    if (f->kind == CHM_K_BUCKET) {
        p->b = chm_as_bucket(f);
        p->slot = chm_bucket_find(m, p->b, h, key);
#ifdef CHM_MUTANT_PIA_OUTSIDE_LOCK
        /* MUTANT pia_outside_lock: append without looking for the key. */
        if (chm_mutant_pia_blind)
            p->slot = -1;
#endif
        /* relaxed: live changes only under the lock we hold */
        p->count = __builtin_popcount(atomic_load_explicit(
                       &f->live, memory_order_relaxed));
        if (p->slot >= 0)
            return true;
        p->pred = f;
        /* relaxed: next changes only under the lock we hold (I2); the
         * nodes behind it are alive because we are pinned */
        e = atomic_load_explicit(&f->next, memory_order_relaxed);
    } else {
        p->pred = NULL;
        e = chm_as_node(f);
    }
    for (; e != NULL;
         p->pred = &e->h, e = atomic_load_explicit(&e->h.next,
                                                   memory_order_relaxed)) {
#ifdef CHM_MUTANT_PIA_OUTSIDE_LOCK
        /* MUTANT pia_outside_lock: append without looking for the key. */
        if (chm_mutant_pia_blind) {
            p->count++;
            continue;
        }
#endif
        if (e->hash == h && chm_key_eq(m, e->key, key)) {
            p->e = e;
            return true;
        }
        p->count++;
    }
    return false;
}

/* The value cell of the entry chm_list_locate found. */
static _Atomic uintptr_t *chm_lpos_val(const chm_lpos *p)
{
    return p->e != NULL ? &p->e->val : &p->b->slot[p->slot].val;
}

/* Under the lock of list head f of tab->bins[i]: remove the entry p
 * located.  Never fails. */
static void chm_list_remove(chm_thread_t *t, chm_table_t *tab, size_t i,
                            chm_head_t *f, const chm_lpos *p)
{
    if (p->e == NULL) {
        /* relaxed: next and live change only under the lock we hold */
        if (atomic_load_explicit(&f->next, memory_order_relaxed) == NULL &&
            atomic_load_explicit(&f->live, memory_order_relaxed) ==
                1u << p->slot) {
            /* The bin's last entry: empty the bin, then let the bucket go.
             * release: as any head store (I2). */
            atomic_store_explicit(&tab->bins[i].head, NULL,
                                  memory_order_release);
            chm_bucket_release(t, tab, p->b, true);
        } else {
            chm_bucket_remove(t, tab, p->b, (unsigned)p->slot);
        }
        return;
    }
    chm_node_t *next = atomic_load_explicit(&p->e->h.next,
                                            memory_order_relaxed);
    /* release: readers that load the new link see a complete node. */
    if (p->pred != NULL)
        atomic_store_explicit(&p->pred->next, next, memory_order_release);
    else
        atomic_store_explicit(&tab->bins[i].head,
                              next != NULL ? &next->h : NULL,
                              memory_order_release);
    /* SAFETY: e is unlinked; readers on it are pinned (I3). */
    chm_retire_entry(t, p->e);
}

/* Under the lock of list head f of tab->bins[i], the key absent (p from
 * chm_list_locate): add (h, key, val) - in a free slot of the bucket when
 * f is the bucket, else in the bucket made the new head when it is free,
 * else in a heap node after the last element.  CHM_OK or CHM_ENOMEM. */
static int chm_list_add(chm_table_t *tab, size_t i, chm_head_t *f,
                        const chm_lpos *p, uint64_t h, uintptr_t key,
                        uintptr_t val)
{
    if (p->b != NULL) {
        if (chm_bucket_add(p->b, h, key, val))
            return CHM_OK;
    } else {
        chm_bucket_t *b = chm_bin_bucket(tab, i);
        if (chm_bucket_claim(b, h, key, val, chm_as_node(f))) {
            /* The bucket goes in front, where lookups meet it on the
             * bin's cache line.  Changing the head under f's lock is what
             * a removal of the head does too (I2): it is our last change
             * to the bin, and a writer that loads the new head locks it
             * and checks it is still the head.  release: the bucket's
             * contents before its address (I1). */
            atomic_store_explicit(&tab->bins[i].head, &b->h,
                                  memory_order_release);
            return CHM_OK;
        }
    }
    chm_node_t *n = chm_node_new(h, key, val, NULL);
    if (n == NULL)
        return CHM_ENOMEM;
    /* release: the node's fields before its address (I1, I2) */
    atomic_store_explicit(&p->pred->next, n, memory_order_release);
    return CHM_OK;
}

/* What an update does to a locked bin, by kind: req is its request. */
typedef void chm_list_fn(chm_thread_t *t, void *req, chm_table_t *tab,
                         size_t i, chm_head_t *head);
typedef void chm_tree_fn(chm_thread_t *t, void *req, chm_table_t *tab,
                         size_t i, chm_treebin_t *b);

/* Lock f, the head of tab->bins[i] when the caller loaded it, and if it is
 * still the head, apply the update for its kind (I2).  Returns false when f
 * stopped being the head while we waited (removed, moved, treeified): the
 * caller retries with a fresh load. */
static bool chm_update_bin(chm_thread_t *t, chm_table_t *tab, size_t i,
                           chm_head_t *f, chm_list_fn *on_list,
                           chm_tree_fn *on_tree, void *req)
{
    bool done = false;
    chm_lock_acquire(&f->lock);
    /* Under f's lock the head cannot change away from f (I2), so this load
     * needs no ordering to be current; acquire because we dereference the
     * nodes behind it. */
    if (atomic_load_explicit(&tab->bins[i].head, memory_order_acquire) == f) {
        done = true;
        if (f->kind == CHM_K_NODE || f->kind == CHM_K_BUCKET)
            on_list(t, req, tab, i, f);
        else if (f->kind == CHM_K_TREEBIN)
            on_tree(t, req, tab, i, (chm_treebin_t *)f);
        else /* a reservation is replaced before its lock is released */
            CHM_CHECK(false, "reservation node locked after compute");
    }
    chm_lock_release(&f->lock);
    return done;
}

/* ---- insert ------------------------------------------------------------ */

typedef struct chm_put_req {
    uint64_t h;
    uintptr_t key, val;
    bool only_if_absent;
    uintptr_t *old_out;
    int status;
    long bin_count;     /* entries seen in the bin (Java's binCount) */
} chm_put_req;

/* Under the lock of list bin f. */
static void chm_put_list(chm_thread_t *t, void *req, chm_table_t *tab,
                         size_t i, chm_head_t *f)
{
    chm_put_req *rq = req;
    chm_lpos p;
    bool found = chm_list_locate(t->map, f, rq->h, rq->key, &p);
    rq->bin_count = p.count;
    if (found) {
        _Atomic uintptr_t *v = chm_lpos_val(&p);
        if (rq->only_if_absent) {
            if (rq->old_out != NULL)
                /* relaxed: under the bin lock (I2) */
                *rq->old_out = atomic_load_explicit(v, memory_order_relaxed);
            rq->status = CHM_EXISTS;
        } else {
            rq->status = chm_set_value(t, v, rq->val, rq->old_out);
            if (rq->status == CHM_OK)
                rq->status = CHM_EXISTS;
        }
        return;
    }
    rq->status = chm_list_add(tab, i, f, &p, rq->h, rq->key, rq->val);
}

/* Under the lock of tree bin b. */
static void chm_put_tree(chm_thread_t *t, void *req, chm_table_t *tab,
                         size_t i, chm_treebin_t *b)
{
    chm_put_req *rq = req;
    (void)tab;
    (void)i;
    bool inserted = false;
    rq->bin_count = 2;
    chm_node_t *p = chm_tree_put(t->map, b, rq->h, rq->key, rq->val,
                                 &inserted);
    if (p == NULL) {
        rq->status = CHM_ENOMEM;
    } else if (inserted) {
        rq->status = CHM_OK;
    } else if (rq->only_if_absent) {
        if (rq->old_out != NULL)
            *rq->old_out = atomic_load_explicit(&p->val, memory_order_relaxed);
        rq->status = CHM_EXISTS;
    } else {
        rq->status = chm_set_value(t, &p->val, rq->val, rq->old_out);
        if (rq->status == CHM_OK)
            rq->status = CHM_EXISTS;
    }
}

/* Java's CAS into an empty bin, with the bin's bucket as the new first
 * node when it is free, else a heap node.  CHM_OK; CHM_EXISTS when the bin
 * stopped being empty (the caller retries); CHM_ENOMEM. */
static int chm_put_empty(chm_table_t *tab, size_t i, uint64_t h,
                         uintptr_t key, uintptr_t val)
{
    chm_head_t *expect = NULL, *f;
    chm_bucket_t *b = chm_bin_bucket(tab, i);
    chm_node_t *n = NULL;
    if (chm_bucket_claim(b, h, key, val, NULL)) {
        f = &b->h;
    } else {
        if ((n = chm_node_new(h, key, val, NULL)) == NULL)
            return CHM_ENOMEM;
        f = &n->h;
    }
    /* release: publishes the bucket's or node's fields; relaxed on
     * failure: we only retry. */
    if (atomic_compare_exchange_strong_explicit(&tab->bins[i].head, &expect,
            f, memory_order_release, memory_order_relaxed))
        return CHM_OK;
    /* SAFETY: never published */
    if (n != NULL)
        chm_node_free_now(NULL, n, false);
    else
        chm_bucket_unclaim(b);
    return CHM_EXISTS;
}

static int chm_put_val(chm_thread_t *t, uintptr_t key, uintptr_t val,
                       bool only_if_absent, uintptr_t *old_out)
{
    if (chm_update_refused(t))
        return CHM_EBUSY;
    chm_t *m = t->map;
    chm_put_req rq = { chm_hash_key(m, key), key, val, only_if_absent,
                       old_out, CHM_ENOMEM, 0 };
    chm_pin_in(t);
    chm_table_t *tab = atomic_load_explicit(&m->table, memory_order_acquire);
#ifdef CHM_MUTANT_PIA_OUTSIDE_LOCK
    /* MUTANT pia_outside_lock: absence decided unlocked, by a get. */
    if (only_if_absent) {
        _Atomic uintptr_t *v = chm_find(m, tab, rq.h, key);
        if (v != NULL) {
            if (old_out != NULL)
                *old_out = atomic_load_explicit(v, memory_order_acquire);
            chm_unpin_in(t);
            return CHM_EXISTS;
        }
        rq.only_if_absent = false;
        chm_mutant_pia_blind = true;
    }
#endif
    for (;;) {
        size_t i = chm_bin_index(rq.h, tab->n);
        chm_head_t *f = atomic_load_explicit(&tab->bins[i].head,
                                             memory_order_acquire);
        if (f == NULL) {
            rq.status = chm_put_empty(tab, i, rq.h, key, val);
            if (rq.status == CHM_EXISTS)
                continue;
            rq.bin_count = 0;
            break;
        }
        if (f->kind == CHM_K_FWD) {
            tab = chm_help_transfer(t, tab, f);
            continue;
        }
        _Atomic uintptr_t *v;
        if (only_if_absent && (v = chm_bin_find(m, f, rq.h, key)) != NULL) {
            /* Lock-free when the key is present: Java checks the head
             * only; we read the whole bin, as get would. */
            if (old_out != NULL)
                *old_out = atomic_load_explicit(v, memory_order_acquire);
            rq.status = CHM_EXISTS;
            break;
        }
#ifdef CHM_MUTANT_PUT_NO_LOCK
        /* MUTANT put_no_lock: update a non-empty list bin without its lock. */
        if ((f->kind == CHM_K_NODE || f->kind == CHM_K_BUCKET) &&
            atomic_load_explicit(&tab->bins[i].head, memory_order_acquire) == f) {
            chm_put_list(t, &rq, tab, i, f);
            break;
        }
#endif
        if (chm_update_bin(t, tab, i, f, chm_put_list, chm_put_tree, &rq)) {
            if (rq.bin_count >= CHM_TREEIFY_THRESHOLD && rq.status == CHM_OK)
                chm_treeify_bin(t, tab, i);
            break;
        }
    }
#ifdef CHM_MUTANT_PIA_OUTSIDE_LOCK
    chm_mutant_pia_blind = false;
#endif
    if (rq.status == CHM_OK)
        chm_add_count(t, 1, rq.bin_count);
    chm_unpin_in(t);
    return rq.status;
}

int chm_put(chm_thread_t *t, uintptr_t key, uintptr_t val, uintptr_t *old_out)
{
    return chm_put_val(t, key, val, false, old_out);
}

int chm_put_if_absent(chm_thread_t *t, uintptr_t key, uintptr_t val,
                      uintptr_t *cur_out)
{
    return chm_put_val(t, key, val, true, cur_out);
}

/* ---- replace and remove ------------------------------------------------ */

typedef enum { CHM_RN_REMOVE, CHM_RN_REPLACE } chm_rn_mode;

typedef struct chm_rn_req {
    uint64_t h;
    uintptr_t key;
    chm_rn_mode mode;
    bool has_expect;
    uintptr_t expect, val;
    uintptr_t *old_out;
    int status;
    bool removed;
} chm_rn_req;

/* The matching entry's current value (cell v) decides; false on mismatch. */
static bool chm_rn_matches(chm_rn_req *rq, _Atomic uintptr_t *v)
{
    /* relaxed: under the bin lock (I2) */
    uintptr_t cur = atomic_load_explicit(v, memory_order_relaxed);
    if (rq->has_expect && cur != rq->expect) {
        rq->status = CHM_MISMATCH;
        return false;
    }
    return true;
}

static void chm_rn_list(chm_thread_t *t, void *req, chm_table_t *tab,
                        size_t i, chm_head_t *f)
{
    chm_rn_req *rq = req;
    chm_lpos p;
    rq->status = CHM_NOT_FOUND;
    if (!chm_list_locate(t->map, f, rq->h, rq->key, &p))
        return;
    _Atomic uintptr_t *v = chm_lpos_val(&p);
    if (!chm_rn_matches(rq, v))
        return;
    if (rq->mode == CHM_RN_REPLACE) {
        rq->status = chm_set_value(t, v, rq->val, rq->old_out);
        return;
    }
    if (rq->old_out != NULL)
        *rq->old_out = atomic_load_explicit(v, memory_order_relaxed);
    chm_list_remove(t, tab, i, f, &p);
    rq->status = CHM_OK;
    rq->removed = true;
}

static void chm_rn_tree(chm_thread_t *t, void *req, chm_table_t *tab,
                        size_t i, chm_treebin_t *b)
{
    chm_rn_req *rq = req;
    chm_node_t *p = chm_tree_find(t->map, b, rq->h, rq->key);
    if (p == NULL) {
        rq->status = CHM_NOT_FOUND;
        return;
    }
    if (!chm_rn_matches(rq, &p->val))
        return;
    if (rq->mode == CHM_RN_REPLACE) {
        rq->status = chm_set_value(t, &p->val, rq->val, rq->old_out);
        return;
    }
    if (rq->old_out != NULL)
        *rq->old_out = atomic_load_explicit(&p->val, memory_order_relaxed);
    chm_tree_remove(b, (chm_treenode_t *)p);
    /* SAFETY: p is unlinked from list and tree; readers on it are pinned. */
    chm_retire_entry(t, p);
    chm_tree_shrink(t, tab, i, b);
    rq->status = CHM_OK;
    rq->removed = true;
}

/* Java's replaceNode: remove or replace, optionally only if the value is
 * rq->expect. */
static int chm_replace_node(chm_thread_t *t, chm_rn_req *rq)
{
    if (chm_update_refused(t))
        return CHM_EBUSY;
    chm_t *m = t->map;
    rq->h = chm_hash_key(m, rq->key);
    rq->status = CHM_NOT_FOUND;
    rq->removed = false;
    chm_pin_in(t);
    chm_table_t *tab = atomic_load_explicit(&m->table, memory_order_acquire);
    for (;;) {
        size_t i = chm_bin_index(rq->h, tab->n);
        chm_head_t *f = atomic_load_explicit(&tab->bins[i].head,
                                             memory_order_acquire);
        if (f == NULL)
            break;
        if (f->kind == CHM_K_FWD) {
            tab = chm_help_transfer(t, tab, f);
            continue;
        }
        /* Lock-free when the key is absent: nothing to remove or replace,
         * and reading the bin as get would tells us so. */
        if ((f->kind == CHM_K_NODE || f->kind == CHM_K_BUCKET ||
             f->kind == CHM_K_TREEBIN) &&
            chm_bin_find(m, f, rq->h, rq->key) == NULL)
            break;
#ifdef CHM_MUTANT_REMOVE_NO_LOCK
        /* MUTANT remove_no_lock: unlink from a list bin without its lock. */
        if (rq->mode == CHM_RN_REMOVE &&
            (f->kind == CHM_K_NODE || f->kind == CHM_K_BUCKET) &&
            atomic_load_explicit(&tab->bins[i].head, memory_order_acquire) == f) {
            chm_rn_list(t, rq, tab, i, f);
            break;
        }
#endif
        if (chm_update_bin(t, tab, i, f, chm_rn_list, chm_rn_tree, rq))
            break;
    }
    if (rq->removed)
        chm_add_count(t, -1, -1);
    chm_unpin_in(t);
    return rq->status;
}

int chm_replace(chm_thread_t *t, uintptr_t key, uintptr_t val,
                uintptr_t *old_out)
{
    chm_rn_req rq = { .key = key, .mode = CHM_RN_REPLACE, .val = val,
                      .old_out = old_out };
    return chm_replace_node(t, &rq);
}

int chm_replace_if(chm_thread_t *t, uintptr_t key, uintptr_t expect,
                   uintptr_t val)
{
    chm_rn_req rq = { .key = key, .mode = CHM_RN_REPLACE, .has_expect = true,
                      .expect = expect, .val = val };
    return chm_replace_node(t, &rq);
}

int chm_remove(chm_thread_t *t, uintptr_t key, uintptr_t *old_out)
{
    chm_rn_req rq = { .key = key, .mode = CHM_RN_REMOVE, .old_out = old_out };
    return chm_replace_node(t, &rq);
}

int chm_remove_if(chm_thread_t *t, uintptr_t key, uintptr_t expect)
{
    chm_rn_req rq = { .key = key, .mode = CHM_RN_REMOVE, .has_expect = true,
                      .expect = expect };
    return chm_replace_node(t, &rq);
}

/* ---- compute ----------------------------------------------------------- */

typedef struct chm_cp_req {
    uint64_t h;
    uintptr_t key;
    chm_compute_fn fn;
    void *ctx;
    uintptr_t out;
    int status;       /* CHM_OK present after, CHM_NOT_FOUND, CHM_ENOMEM */
    int delta;        /* +1 inserted, -1 removed */
    long bin_count;
} chm_cp_req;

/* Apply the callback's decision for a present entry: value cell v; in a
 * list bin (f, located at *p) or in tree bin b at node e. */
static void chm_cp_present(chm_thread_t *t, chm_cp_req *rq, chm_table_t *tab,
                           size_t i, chm_head_t *f, const chm_lpos *p,
                           chm_treebin_t *b, chm_node_t *e)
{
    chm_t *m = t->map;
    _Atomic uintptr_t *v = b != NULL ? &e->val : chm_lpos_val(p);
    /* relaxed: under the bin lock (I2) */
    uintptr_t cur = atomic_load_explicit(v, memory_order_relaxed);
    uintptr_t nv = cur;
    chm_compute_action a = chm_call_compute(m, rq->fn, rq->ctx, rq->key,
                                            true, cur, &nv);
    if (a == CHM_COMPUTE_SET) {
        rq->status = chm_set_value(t, v, nv, NULL);
        if (rq->status == CHM_OK)
            rq->out = nv;
    } else if (a == CHM_COMPUTE_REMOVE) {
        if (b != NULL) {
            chm_tree_remove(b, (chm_treenode_t *)e);
            /* SAFETY: unlinked from list and tree; readers are pinned. */
            chm_retire_entry(t, e);
            chm_tree_shrink(t, tab, i, b);
        } else {
            chm_list_remove(t, tab, i, f, p);
        }
        rq->status = CHM_NOT_FOUND;
        rq->delta = -1;
    } else {
        rq->out = cur;
        rq->status = CHM_OK;
    }
}

/* The key is absent from the locked bin: ask the callback; insert into the
 * list bin f (located at *p) or tree bin b. */
static void chm_cp_absent(chm_thread_t *t, chm_cp_req *rq, chm_table_t *tab,
                          size_t i, chm_head_t *f, const chm_lpos *p,
                          chm_treebin_t *b)
{
    chm_t *m = t->map;
    uintptr_t nv = 0;
    chm_compute_action a = chm_call_compute(m, rq->fn, rq->ctx, rq->key,
                                            false, 0, &nv);
    rq->status = CHM_NOT_FOUND;
    if (a != CHM_COMPUTE_SET)
        return;
    if (b != NULL) {
        bool inserted;
        if (chm_tree_put(m, b, rq->h, rq->key, nv, &inserted) == NULL) {
            rq->status = CHM_ENOMEM;
            return;
        }
    } else if (chm_list_add(tab, i, f, p, rq->h, rq->key, nv) != CHM_OK) {
        rq->status = CHM_ENOMEM;
        return;
    }
    rq->out = nv;
    rq->status = CHM_OK;
    rq->delta = 1;
}

static void chm_cp_list(chm_thread_t *t, void *req, chm_table_t *tab,
                        size_t i, chm_head_t *f)
{
    chm_cp_req *rq = req;
    chm_lpos p;
    bool found = chm_list_locate(t->map, f, rq->h, rq->key, &p);
    rq->bin_count = p.count;
    if (found)
        chm_cp_present(t, rq, tab, i, f, &p, NULL, NULL);
    else
        chm_cp_absent(t, rq, tab, i, f, &p, NULL);
}

static void chm_cp_tree(chm_thread_t *t, void *req, chm_table_t *tab,
                        size_t i, chm_treebin_t *b)
{
    chm_cp_req *rq = req;
    rq->bin_count = 2;
    chm_node_t *p = chm_tree_find(t->map, b, rq->h, rq->key);
    if (p != NULL)
        chm_cp_present(t, rq, tab, i, NULL, NULL, b, p);
    else
        chm_cp_absent(t, rq, tab, i, NULL, NULL, b);
}

/* The bin was empty: hold it with a locked reservation node while the
 * callback decides (Java's ReservationNode), so the decision is atomic.
 * Returns false if the bin stopped being empty (retry). */
static bool chm_cp_empty(chm_thread_t *t, chm_cp_req *rq, chm_table_t *tab,
                         size_t i)
{
    chm_t *m = t->map;
    chm_node_t *r = chm_node_new(0, 0, 0, NULL);
    if (r == NULL) {
        rq->status = CHM_ENOMEM;
        return true;
    }
    r->h.kind = CHM_K_RESERVED;
    chm_lock_acquire(&r->h.lock); /* nobody else can see r yet */
    chm_head_t *expect = NULL;
    /* release: r's fields (and its locked state) before its address */
    if (!atomic_compare_exchange_strong_explicit(&tab->bins[i].head, &expect,
            &r->h, memory_order_release, memory_order_relaxed)) {
        chm_lock_release(&r->h.lock);
        chm_node_free_now(m, r, false);
        return false;
    }
    uintptr_t nv = 0;
    chm_compute_action a = chm_call_compute(m, rq->fn, rq->ctx, rq->key,
                                            false, 0, &nv);
    chm_head_t *nf = NULL;
    rq->status = CHM_NOT_FOUND;
    if (a == CHM_COMPUTE_SET) {
        chm_bucket_t *b = chm_bin_bucket(tab, i);
        chm_node_t *n;
        if (chm_bucket_claim(b, rq->h, rq->key, nv, NULL))
            nf = &b->h;
        else if ((n = chm_node_new(rq->h, rq->key, nv, NULL)) != NULL)
            nf = &n->h;
        rq->status = nf != NULL ? CHM_OK : CHM_ENOMEM;
    }
    /* release: the new first node's fields before its address.  Writers
     * blocked on r's lock re-check the head after we release and retry. */
    atomic_store_explicit(&tab->bins[i].head, nf, memory_order_release);
    chm_lock_release(&r->h.lock);
    /* SAFETY: r is no longer in the bin; threads that loaded it are pinned
     * (they wait on its lock, then see the bin changed). */
    chm_retire_shell(t, r);
    if (nf != NULL) {
        rq->out = nv;
        rq->delta = 1;
    }
    rq->bin_count = 0;
    return true;
}

int chm_compute(chm_thread_t *t, uintptr_t key, chm_compute_fn fn, void *ctx,
                uintptr_t *out)
{
    if (chm_update_refused(t))
        return CHM_EBUSY;
    chm_t *m = t->map;
    chm_cp_req rq = { chm_hash_key(m, key), key, fn, ctx, 0, CHM_NOT_FOUND,
                      0, 0 };
    chm_pin_in(t);
    chm_table_t *tab = atomic_load_explicit(&m->table, memory_order_acquire);
    for (;;) {
        size_t i = chm_bin_index(rq.h, tab->n);
        chm_head_t *f = atomic_load_explicit(&tab->bins[i].head,
                                             memory_order_acquire);
        if (f == NULL) {
            if (chm_cp_empty(t, &rq, tab, i))
                break;
            continue;
        }
        if (f->kind == CHM_K_FWD) {
            tab = chm_help_transfer(t, tab, f);
            continue;
        }
        if (chm_update_bin(t, tab, i, f, chm_cp_list, chm_cp_tree, &rq)) {
            if (rq.delta > 0 && rq.bin_count >= CHM_TREEIFY_THRESHOLD)
                chm_treeify_bin(t, tab, i);
            break;
        }
    }
    if (rq.delta != 0)
        chm_add_count(t, rq.delta, rq.delta > 0 ? rq.bin_count : -1);
    if (rq.status == CHM_OK && out != NULL)
        *out = rq.out;
    chm_unpin_in(t);
    return rq.status;
}

/* ---- whole-map operations ---------------------------------------------- */

int chm_reserve(chm_thread_t *t, size_t n)
{
    if (chm_update_refused(t))
        return CHM_EBUSY;
    chm_pin_in(t);
    int rc = chm_try_presize(t, n);
    chm_unpin_in(t);
    return rc;
}

static void chm_treebin_entries_cb(ck_epoch_entry_t *e)
{
    chm_t *m = chm_dispatching_map();
    chm_treebin_t *b = (chm_treebin_t *)((char *)e -
                                         offsetof(chm_treebin_t, node.epoch));
    /* SAFETY: cleared from its bin before retirement, and a grace period
     * has passed: no thread can reach b or its nodes. */
    chm_tree_free_now(m, b, true);
    chm_note_reclaimed();
}

/* Under the bin lock: empty bin i of tab, returning how many entries went. */
static int64_t chm_clear_bin(chm_thread_t *t, chm_table_t *tab, size_t i,
                             chm_head_t *f)
{
    int64_t gone = 0;
    atomic_store_explicit(&tab->bins[i].head, NULL, memory_order_release);
    if (f->kind == CHM_K_TREEBIN) {
        chm_treebin_t *b = (chm_treebin_t *)f;
        gone = (int64_t)b->count;
        atomic_fetch_sub_explicit(&t->map->tree_bins, 1, memory_order_relaxed);
        /* SAFETY: the bin no longer holds b; readers are pinned. */
        chm_retire(t, &b->node.epoch, chm_treebin_entries_cb);
        return gone;
    }
    chm_node_t *p;
    if (f->kind == CHM_K_BUCKET) {
        /* relaxed: under the lock */
        gone = __builtin_popcount(atomic_load_explicit(&f->live,
                                                       memory_order_relaxed));
        p = atomic_load_explicit(&f->next, memory_order_relaxed);
        /* SAFETY: the bin no longer holds the bucket; see chm_bucket.c */
        chm_bucket_release(t, tab, chm_as_bucket(f), true);
    } else {
        p = chm_as_node(f);
    }
    for (; p != NULL; gone++) {
        chm_node_t *nx = atomic_load_explicit(&p->h.next, memory_order_relaxed);
        /* SAFETY: the bin no longer holds the list; readers are pinned. */
        chm_retire_entry(t, p);
        p = nx;
    }
    return gone;
}

int chm_clear(chm_thread_t *t)
{
    if (chm_update_refused(t))
        return CHM_EBUSY;
    chm_t *m = t->map;
    int64_t gone = 0;
    chm_pin_in(t);
    chm_table_t *tab = atomic_load_explicit(&m->table, memory_order_acquire);
    for (size_t i = 0; i < tab->n;) {
        chm_head_t *f = atomic_load_explicit(&tab->bins[i].head,
                                             memory_order_acquire);
        if (f == NULL) {
            i++;
        } else if (f->kind == CHM_K_FWD) {
            tab = chm_help_transfer(t, tab, f);
            i = 0;
        } else {
            chm_lock_acquire(&f->lock);
            if (atomic_load_explicit(&tab->bins[i].head, memory_order_acquire) ==
                    f && f->kind != CHM_K_RESERVED) {
                gone += chm_clear_bin(t, tab, i, f);
                i++;
            }
            chm_lock_release(&f->lock);
        }
    }
    if (gone != 0)
        chm_add_count(t, -gone, -1);
    chm_unpin_in(t);
    return CHM_OK;
}

size_t chm_size(chm_t *m)
{
    int64_t s = chm_counter_sum(m);
    return s < 0 ? 0 : (size_t)s;
}

void chm_stats(chm_t *m, chm_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->size = chm_size(m);
    out->table_size = atomic_load_explicit(&m->table_n, memory_order_relaxed);
    out->resizes = atomic_load_explicit(&m->resizes, memory_order_relaxed);
    out->treeifications = atomic_load_explicit(&m->treeifications,
                                               memory_order_relaxed);
    out->untreeifications = atomic_load_explicit(&m->untreeifications,
                                                 memory_order_relaxed);
    int64_t trees = atomic_load_explicit(&m->tree_bins, memory_order_relaxed);
    out->tree_bins = trees < 0 ? 0 : (size_t)trees;
    out->reclaimed = atomic_load_explicit(&m->reclaimed_at_free,
                                          memory_order_relaxed);
    out->table_bytes_recycled = atomic_load_explicit(&m->spares.recycled,
                                                     memory_order_relaxed);
    out->table_bytes_spare = chm_spares_bytes(&m->spares);
    /* relaxed: statistics; the mutex keeps the list of handles stable. */
    pthread_mutex_lock(&m->threads_lock);
    for (chm_thread_t *t = m->threads; t != NULL; t = t->all_next) {
        out->retired += atomic_load_explicit(&t->retired, memory_order_relaxed);
        out->reclaimed += atomic_load_explicit(&t->reclaimed,
                                               memory_order_relaxed);
        out->bins_transferred += atomic_load_explicit(&t->bins_transferred,
                                                      memory_order_relaxed);
        out->bins_helped += atomic_load_explicit(&t->bins_helped,
                                                 memory_order_relaxed);
    }
    out->threads = m->joined;
    pthread_mutex_unlock(&m->threads_lock);
    out->pending_garbage = out->retired > out->reclaimed
                               ? out->retired - out->reclaimed : 0;
}

const char *chm_strerror(int status)
{
    switch (status) {
    case CHM_OK: return "ok";
    case CHM_NOT_FOUND: return "not found";
    case CHM_EXISTS: return "key exists";
    case CHM_MISMATCH: return "value mismatch";
    case CHM_ENOMEM: return "out of memory";
    case CHM_EBUSY: return "update from inside a compute callback";
    default: return "unknown status";
    }
}
