/*
 * chm_transfer.c - tables, resizing and treeification.
 *
 * Resizing follows Java's ConcurrentHashMap (see chm_map.c's overview):
 *
 *   size_ctl >= 0   the element count at which the next resize starts
 *                   (chm_threshold(n) = n for a table of n bins, one
 *                   entry per bin: chm_internal.h);
 *   size_ctl <  0   a resize of the table of n bins is in flight: its high
 *                   16 bits hold the resize stamp of n (unique per n, with the
 *                   sign bit set) and the low bits 1 + the number of threads
 *                   transferring.
 *
 * A thread that finds the count at the threshold allocates the next table
 * first, then tries to move size_ctl from the threshold to stamp+2; the one
 * that succeeds initialises the new bins, publishes next_table and sets
 * transfer_index = n, the others unmap their (untouched) allocation.  Any
 * thread (the starter, an inserter that sees the count above the threshold,
 * or a writer that meets a forwarding node) joins by incrementing size_ctl,
 * then claims strides of bins by decrementing transfer_index (high to low) and
 * moves each bin under that bin's lock: the entries split into a "lo" list
 * (hash & n == 0, stays at i) and a "hi" list (moves to i + n).  The longest
 * tail of the list whose entries all go the same way (lastRun) is reused as
 * it is; the entries before it are copied, and the originals retired as
 * shells once the old bin holds the forwarding node.  An empty bin gets the
 * forwarding node by CAS.  A thread leaves by decrementing size_ctl; the
 * last one to leave rescans every bin (finishing), then installs the new
 * table and the new threshold, and retires the old table.
 *
 * Why allocate before claiming: between the claim and the publication of
 * next_table nobody can help, and every other writer goes on inserting into
 * the old table (chm_add_count sees a resize in flight and returns).  So
 * nothing slow may happen there that another thread could have done
 * instead.  A malloc can be very slow: glibc serves the first request of
 * 1 KiB or more in an arena holding many freed small chunks (a thread that
 * inherits the arena of a thread whose map was freed) by consolidating
 * them all first - 0.35-0.6 s measured for the 128-bin table, the first
 * table that big.  Claimed first, that held up the resize while the other
 * thread filled the 64-bin table with 200k entries, whose recovery (a
 * dozen doublings, each copying every entry) took most of a second more.
 * Allocated first, a slow malloc delays only its own thread: another one
 * claims the resize with its own table.  Heap tables (below 2 MiB, or in
 * sanitizer builds) have their bins initialised only after the claim;
 * mapped tables need no initialisation (the kernel zero-fills them on first
 * touch), but the winner moves the map's spare memory into its table after
 * the claim (chm_spare.c): a few ms of memset per 32 MiB of memory already
 * in place, which spares the transfer as many fresh page faults.  Either
 * way a thread that loses the race has paid for an untouched allocation
 * only.  (Until the spares moved in after the claim, both threads of a
 * 2-thread growth reached each threshold together, both recycled - one
 * waiting for the other's memset under the spares lock - and the loser's
 * table, fresh pages and all, became a spare that the next resize cleared
 * page fault by page fault: 113 ms of allocation per thread before the
 * 2^20 -> 2^21 transfer, which itself took 100 ms.)
 *
 * Why readers are safe: a bin's forwarding node is installed only after both
 * halves are complete in the next table, and entries present before the
 * move stay reachable from the old bin until then (copies are made before,
 * originals are retired after).  A reader standing on an old node keeps
 * walking old nodes: their next pointers are never changed by a transfer.
 *
 * Ordering: size_ctl, transfer_index, table and next_table are the resize
 * protocol's control variables; Java reasons about them as volatiles in one
 * total order, and so do we: seq_cst on all of them in this file (they are
 * touched once per stride or per resize, so the cost does not matter).  The
 * hot-path loads of m->table elsewhere are acquire: they only need the
 * table's contents initialised, which the seq_cst store of table publishes.
 *
 * Out of memory: a resize that cannot allocate its table does not start
 * (size_ctl is not touched; the insert that triggered it still succeeded).
 * Once started, a resize must finish - its bins may already be
 * split across two tables - so copying that fails to allocate waits and
 * retries.
 */
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chm_internal.h"

/* A table of n bins whose bins are not initialised yet (the caller runs
 * chm_table_recycle, then chm_table_init_bins): only its header is
 * written, so an allocation that turns out not to be needed costs no page
 * of the bins.  NULL on ENOMEM. */
static chm_table_t *chm_table_alloc(chm_t *m, size_t n)
{
    bool mapped;
    chm_table_t *tab = chm_alloc_table(CHM_TABLE_HEAD,
                                       n * sizeof(chm_bin_t), &mapped);
    if (tab == NULL)
        return NULL;
    tab->n = n;
    tab->fwd_target = NULL;
    tab->mapped = mapped;
    tab->spares = mapped ? &m->spares : NULL;
    tab->map = m;
    atomic_init(&tab->orphans, 0);
    atomic_init(&tab->refs, 1);
    memset(&tab->epoch, 0, sizeof tab->epoch);
    memset(&tab->fwd, 0, sizeof tab->fwd);
    tab->fwd.h.kind = CHM_K_FWD;
    atomic_init(&tab->fwd.val, 0);
    atomic_init(&tab->fwd.h.next, NULL);
    atomic_init(&tab->fwd.h.lock.state, 0);
    atomic_init(&tab->fwd.h.live, 0);
    atomic_init(&tab->fwd.h.busy, 0);
    return tab;
}

/* Move the map's spares into the bins of a mapped table just allocated.
 * Only a table that will be used gets them: one that loses the race to
 * start a resize is unmapped untouched (chm_table_discard), and never
 * becomes a spare whose untouched pages a later reuse would fault in. */
static void chm_table_recycle(chm_table_t *tab)
{
    /* SAFETY: tab is not published yet (its allocator has just claimed the
     * resize, or is creating the map): no other thread can reach the
     * memory the spares move into. */
    if (tab->mapped)
        (void)chm_spares_reuse(tab->spares, tab->bins, chm_table_body(tab));
}

/* Free a table that was never published and never recycled into. */
static void chm_table_discard(chm_table_t *tab)
{
    chm_dealloc_table(tab, CHM_TABLE_HEAD, chm_table_body(tab), tab->mapped);
}

/* Every bin of a table nobody else can reach yet empty, every bucket
 * free.  Mapped memory already is: the kernel zero-fills it (and recycled
 * spares are cleared), and zero is NULL and "free" (the atomics here are
 * lock-free, stored as plain words). */
static void chm_table_init_bins(chm_table_t *tab)
{
    if (tab->mapped)
        return;
    memset(tab->bins, 0, chm_table_body(tab));
}

chm_table_t *chm_table_new(chm_t *m, size_t n)
{
    chm_table_t *tab = chm_table_alloc(m, n);
    if (tab != NULL) {
        chm_table_recycle(tab);
        chm_table_init_bins(tab);
    }
    return tab;
}

void chm_table_free_now(chm_table_t *tab)
{
    chm_bucket_free_orphans(tab);
    /* Read before the bins are kept: a spare may be moved away at once.
     * The header's page is not part of the spare. */
    size_t body = chm_table_body(tab);
    bool mapped = tab->mapped;
    if (mapped && chm_spares_keep(tab->spares, tab->bins, body)) {
        chm_dealloc_table_head(tab, CHM_TABLE_HEAD);
        return;
    }
    chm_dealloc_table(tab, CHM_TABLE_HEAD, body, mapped);
}

void chm_table_unref(chm_table_t *tab)
{
    /* acq_rel: the last one to drop a reference must see every other
     * holder's accesses to the table (acquire) before it frees it, and each
     * holder's accesses must come before its decrement (release). */
    if (atomic_fetch_sub_explicit(&tab->refs, 1, memory_order_acq_rel) == 1)
        chm_table_free_now(tab);
}

static void chm_table_cb(ck_epoch_entry_t *e)
{
    (void)chm_dispatching_map();
    /* SAFETY: see chm_table_retire.  Batches of bucket records may still
     * wait for their callbacks, which touch this memory: each holds a
     * reference, and the last one frees (chm_bucket.c). */
    chm_table_unref((chm_table_t *)((char *)e - offsetof(chm_table_t, epoch)));
    chm_note_reclaimed();
}

void chm_table_retire(chm_thread_t *t, chm_table_t *tab)
{
    /* SAFETY: the caller replaced m->table with tab's successor first.
     * After that no thread can newly reach tab: m->table and m->next_table
     * no longer point to it, and the forwarding nodes that point to it live
     * in older tables, which were themselves unreachable before tab was, so
     * only threads pinned since before then can follow them - and the grace
     * period waits for those. */
    chm_retire(t, &tab->epoch, chm_table_cb);
}

static unsigned chm_ncpu(void)
{
    static _Atomic unsigned cached;
    /* relaxed: any thread computing it gets the same value */
    unsigned n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (unsigned)c : 1;
        atomic_store_explicit(&cached, n, memory_order_relaxed);
    }
    return n;
}

/* The stamp of a resize of n bins, already shifted into place: negative,
 * distinct for each n (it holds n's leading-zero count). */
static int64_t chm_resize_stamp(size_t n)
{
    uint64_t s = (uint64_t)__builtin_clzll((unsigned long long)n) |
                 ((uint64_t)1 << (CHM_RESIZE_STAMP_BITS - 1));
    return (int64_t)(s << CHM_RESIZE_STAMP_SHIFT);
}

/* Wait a little before retrying an allocation a resize cannot do without. */
static void chm_alloc_backoff(unsigned *attempt)
{
    if (++*attempt < 8) {
        sched_yield();
        return;
    }
    struct timespec ts = { 0, 1000L * (*attempt < 20 ? *attempt : 1000) };
    nanosleep(&ts, NULL);
}

/* One side of a list split: the bucket of its bin in nt (fresh: nt's
 * buckets of bins i and i + n are claimed only by this transfer until the
 * bins are published), and the heap nodes after it. */
typedef struct chm_side {
    chm_bucket_t *b;
    bool claimed;
    chm_node_t *list;  /* copies, newest first, then the lastRun tail */
} chm_side;

/* Put (h, key, val) in side sd's bucket, claiming it for the first entry;
 * false when the bucket has no room. */
static bool chm_side_bucket_add(chm_side *sd, uint64_t h, uintptr_t key,
                                uintptr_t val)
{
    if (sd->claimed)
        return chm_bucket_add(sd->b, h, key, val);
    sd->claimed = chm_bucket_claim(sd->b, h, key, val, NULL);
    return sd->claimed;
}

/* Put a copy of (h, key, val) on side sd: in its bucket when it has room,
 * else in a new heap node.  full: h is the whole hash (else only its low
 * 32 bits are; a heap copy then hashes the key).  False on ENOMEM. */
static bool chm_side_add(const chm_t *m, chm_side *sd, uint64_t h, bool full,
                         uintptr_t key, uintptr_t val)
{
    if (chm_side_bucket_add(sd, h, key, val))
        return true;
    chm_node_t *q = chm_node_new(full ? h : chm_hash_key(m, key), key, val,
                                 sd->list);
    if (q == NULL)
        return false;
    sd->list = q;
    return true;
}

/* Give back what chm_side_add made (never published), keeping `keep`. */
static void chm_side_undo(const chm_t *m, chm_side *sd, chm_node_t *keep)
{
    if (sd->claimed)
        chm_bucket_unclaim(sd->b);
    sd->claimed = false;
    while (sd->list != NULL && sd->list != keep) {
        chm_node_t *nx = atomic_load_explicit(&sd->list->h.next,
                                              memory_order_relaxed);
        chm_node_free_now(m, sd->list, false);
        sd->list = nx;
    }
}

/* The head side sd publishes: its bucket, which leads to its heap nodes,
 * or the nodes alone. */
static chm_head_t *chm_side_head(chm_side *sd)
{
    if (!sd->claimed)
        return sd->list != NULL ? &sd->list->h : NULL;
    /* relaxed: published by the release store of the head */
    atomic_store_explicit(&sd->b->h.next, sd->list, memory_order_relaxed);
    return &sd->b->h;
}

/* Bit n of the hash of slot s of bucket b (tags hold the low 32 bits). */
static bool chm_slot_high(const chm_t *m, const chm_bucket_t *b, unsigned s,
                          size_t n)
{
    if (n <= ((size_t)1 << 31))
        return (b->tag[s] & n) != 0;
    return (chm_bucket_hash(m, b, s) & n) != 0;
}

/* Copy the entries of list bin f of tab, up to (not including) last_run,
 * to the sides: the bucket's live slots, then the heap nodes.  False on
 * ENOMEM (the sides then hold partial copies). */
static bool chm_transfer_copy(const chm_t *m, chm_head_t *f, size_t n,
                              chm_node_t *last_run, chm_side sd[2])
{
    chm_node_t *p;
    if (f->kind == CHM_K_BUCKET) {
        chm_bucket_t *b = chm_as_bucket(f);
        /* relaxed: live, slots and next change only under the bin lock,
         * which we hold */
        unsigned live = atomic_load_explicit(&f->live, memory_order_relaxed);
        for (unsigned s = 0; s < CHM_BUCKET_SLOTS; s++) {
            if ((live >> s & 1u) == 0)
                continue;
            uintptr_t v = atomic_load_explicit(&b->slot[s].val,
                                               memory_order_relaxed);
            if (!chm_side_add(m, &sd[chm_slot_high(m, b, s, n)], b->tag[s],
                              false, b->slot[s].key, v))
                return false;
        }
        p = atomic_load_explicit(&f->next, memory_order_relaxed);
    } else {
        p = chm_as_node(f);
    }
    for (; p != last_run;
         p = atomic_load_explicit(&p->h.next, memory_order_relaxed)) {
        uintptr_t v = atomic_load_explicit(&p->val, memory_order_relaxed);
        if (!chm_side_add(m, &sd[(p->hash & n) != 0], p->hash, true, p->key,
                          v))
            return false;
    }
    return true;
}

/* Move list bin f (locked, still the head of tab->bins[i]) into nt. */
static void chm_transfer_list(chm_thread_t *t, chm_table_t *tab,
                              chm_table_t *nt, size_t i, chm_head_t *f)
{
    chm_t *m = t->map;
    size_t n = tab->n;
    /* The bin is locked: next pointers of its nodes cannot change, so
     * relaxed loads see the values published under this lock; they and
     * the nodes are alive because we are pinned.
     *
     * lastRun: the longest tail of heap nodes whose entries all go the
     * same way; it moves to nt as it is.  The bucket's entries are always
     * copied (the bucket lives in tab's memory). */
    chm_node_t *first = f->kind == CHM_K_BUCKET
        ? atomic_load_explicit(&f->next, memory_order_relaxed)
        : chm_as_node(f);
    uint64_t run_bit = 0;
    chm_node_t *last_run = NULL;
    for (chm_node_t *p = first; p != NULL;
         p = atomic_load_explicit(&p->h.next, memory_order_relaxed)) {
        uint64_t b = p->hash & n;
        if (last_run == NULL || b != run_bit) {
            run_bit = b;
            last_run = p;
        }
    }
    chm_side sd[2];
    unsigned attempt = 0;
    for (;;) {
        for (int k = 0; k < 2; k++) {
            sd[k].b = chm_bin_bucket(nt, i + (k != 0 ? n : 0));
            sd[k].claimed = false;
            sd[k].list = last_run != NULL && (run_bit != 0) == (k != 0)
                             ? last_run : NULL;
#ifdef CHM_MUTANT_TRANSFER_DROPS_NODE
            /* MUTANT transfer_drops_node: the split loses the lastRun tail. */
            if (last_run != first)
                sd[k].list = NULL;
#endif
        }
        if (chm_transfer_copy(m, f, n, last_run, sd))
            break;
        /* Out of memory: give back the copies (never published), retry. */
        chm_side_undo(m, &sd[0], last_run);
        chm_side_undo(m, &sd[1], last_run);
        chm_alloc_backoff(&attempt);
    }
    /* A side whose bucket has room while its list starts with the lastRun
     * tail: move the tail's first entries into the bucket, where lookups
     * find them without a second miss.  The nodes they leave are shells. */
    chm_node_t *moved = NULL, *moved_end = NULL;
    if (last_run != NULL && sd[run_bit != 0].list == last_run) {
        chm_side *rs = &sd[run_bit != 0];
        while (rs->list == last_run && last_run != NULL) {
            uintptr_t v = atomic_load_explicit(&last_run->val,
                                               memory_order_relaxed);
            if (!chm_side_bucket_add(rs, last_run->hash, last_run->key, v))
                break;
            if (moved == NULL)
                moved = last_run;
            last_run = atomic_load_explicit(&last_run->h.next,
                                            memory_order_relaxed);
            moved_end = last_run;
            rs->list = last_run;
        }
    }
    /* release: the copies' fields must be visible to readers that load
     * these bins (acquire). */
    atomic_store_explicit(&nt->bins[i].head, chm_side_head(&sd[0]),
                          memory_order_release);
    atomic_store_explicit(&nt->bins[i + n].head, chm_side_head(&sd[1]),
                          memory_order_release);
    /* release: readers that see the forwarding node must see both halves. */
    atomic_store_explicit(&tab->bins[i].head, &tab->fwd.h,
                          memory_order_release);
    /* SAFETY: the heap nodes before last_run (and those moved into a
     * bucket) are now unreachable from the map: the old bin holds the
     * forwarding node and the new bins hold copies.  Readers already on
     * them were pinned before this point.  The old bucket is not released:
     * it dies with tab. */
    for (chm_node_t *p = first; p != NULL && p != last_run &&
                                p != moved;) {
        chm_node_t *nx = atomic_load_explicit(&p->h.next,
                                              memory_order_relaxed);
        chm_retire_shell(t, p);
        p = nx;
    }
    for (chm_node_t *p = moved; p != NULL && p != moved_end;) {
        chm_node_t *nx = atomic_load_explicit(&p->h.next,
                                              memory_order_relaxed);
        chm_retire_shell(t, p);
        p = nx;
    }
}

/* Move tree bin b (locked, still the head of tab->bins[i]) into nt. */
static void chm_transfer_tree(chm_thread_t *t, chm_table_t *tab,
                              chm_table_t *nt, size_t i, chm_treebin_t *b)
{
    chm_t *m = t->map;
    size_t n = tab->n;
    chm_node_t *lo, *hi;
    unsigned attempt = 0;
    while (chm_tree_split(m, b, n, &lo, &hi) != CHM_OK)
        chm_alloc_backoff(&attempt);
    /* release: as for lists (chm_transfer_list) */
    atomic_store_explicit(&nt->bins[i].head, lo != NULL ? &lo->h : NULL,
                          memory_order_release);
    atomic_store_explicit(&nt->bins[i + n].head, hi != NULL ? &hi->h : NULL,
                          memory_order_release);
    atomic_store_explicit(&tab->bins[i].head, &tab->fwd.h,
                          memory_order_release);
    int64_t trees = -1;
    trees += lo != NULL && lo->h.kind == CHM_K_TREEBIN;
    trees += hi != NULL && hi->h.kind == CHM_K_TREEBIN;
    atomic_fetch_add_explicit(&m->tree_bins, trees, memory_order_relaxed);
    /* SAFETY: as for lists: b is reachable only by readers pinned before
     * the forwarding node went in - unless it was reused as a whole. */
    if (lo != &b->node && hi != &b->node)
        chm_tree_retire_shell(t, b);
}

/* Move bin i of tab.  Returns true when the bin is done (moved, or found
 * already moved), false to retry it. */
static bool chm_transfer_bin(chm_thread_t *t, chm_table_t *tab,
                             chm_table_t *nt, size_t i)
{
    /* acquire: we dereference the head */
    chm_head_t *f = atomic_load_explicit(&tab->bins[i].head, memory_order_acquire);
    if (f == NULL) {
        chm_head_t *expect = NULL;
        /* release: publishes the forwarding node (fwd_target was written
         * before next_table was published, which we have seen). */
        return atomic_compare_exchange_strong_explicit(&tab->bins[i].head, &expect,
                   &tab->fwd.h, memory_order_release, memory_order_relaxed);
    }
    if (f->kind == CHM_K_FWD)
        return true;
    bool done = false;
    chm_lock_acquire(&f->lock);
    /* relaxed is enough under the lock (the head of a non-empty bin changes
     * only under its lock), but we dereference it: acquire. */
    if (atomic_load_explicit(&tab->bins[i].head, memory_order_acquire) == f) {
        if (f->kind == CHM_K_NODE || f->kind == CHM_K_BUCKET)
            chm_transfer_list(t, tab, nt, i, f);
        else if (f->kind == CHM_K_TREEBIN)
            chm_transfer_tree(t, tab, nt, i, (chm_treebin_t *)f);
        else
            CHM_CHECK(false, "reservation node locked after compute");
        done = true;
    }
    chm_lock_release(&f->lock);
    if (done) {
        uint64_t v = atomic_load_explicit(&t->bins_transferred,
                                          memory_order_relaxed);
        atomic_store_explicit(&t->bins_transferred, v + 1,
                              memory_order_relaxed);
    }
    return done;
}

/* Claim the next stride: sets *i and *bound; false when none is left. */
static bool chm_claim_stride(chm_t *m, size_t stride, size_t *i,
                             size_t *bound)
{
    for (;;) {
        int64_t next = atomic_load_explicit(&m->transfer_index,
                                            memory_order_seq_cst);
        if (next <= 0)
            return false;
        int64_t nb = next > (int64_t)stride ? next - (int64_t)stride : 0;
        if (atomic_compare_exchange_weak_explicit(&m->transfer_index, &next,
                nb, memory_order_seq_cst, memory_order_seq_cst)) {
            *i = (size_t)next;
            *bound = (size_t)nb;
            return true;
        }
    }
}

static void chm_finish_resize(chm_thread_t *t, chm_table_t *tab,
                              chm_table_t *nt)
{
    chm_t *m = t->map;
    size_t n = tab->n;
    atomic_store_explicit(&m->next_table, NULL, memory_order_seq_cst);
    atomic_store_explicit(&m->table, nt, memory_order_seq_cst);
    atomic_store_explicit(&m->table_n, nt->n, memory_order_relaxed);
    atomic_store_explicit(&m->size_ctl, (int64_t)chm_threshold(n << 1),
                          memory_order_seq_cst);
    atomic_fetch_add_explicit(&m->resizes, 1, memory_order_relaxed);
    chm_table_retire(t, tab);
}

/* Leave the resize; the last one out rescans every bin, then finishes.
 * Returns true if this thread must do the rescan. */
static bool chm_leave_resize(chm_t *m, size_t n)
{
    int64_t sc = atomic_load_explicit(&m->size_ctl, memory_order_seq_cst);
    while (!atomic_compare_exchange_weak_explicit(&m->size_ctl, &sc, sc - 1,
                memory_order_seq_cst, memory_order_seq_cst))
        ;
    return sc - 2 == chm_resize_stamp(n);
}

/* How far ahead of the bin being moved chm_transfer_prefetch looks. */
#define CHM_TRANSFER_AHEAD 8

/* A transfer reads bins in order, which the hardware prefetcher streams in,
 * and with each bin its bucket (same line).  What misses the cache is
 * the heap nodes: profiling a single-thread growth to 1.5M keys put half of
 * chm_transfer_bin's time on the first load from a heap node.  So, while
 * bin j + CHM_TRANSFER_AHEAD is moved, start loading the first heap node of
 * bin j.  The loads here are relaxed: they are hints, nothing loaded is
 * dereferenced but the bucket, which lives in tab (alive: we are
 * pinned); a prefetch of any address cannot fault. */
static inline void chm_transfer_prefetch(chm_table_t *tab, size_t j)
{
    chm_head_t *h = atomic_load_explicit(&tab->bins[j].head,
                                         memory_order_relaxed);
    if (h == &tab->bins[j].bucket.h)
        h = (chm_head_t *)atomic_load_explicit(&h->next, memory_order_relaxed);
    if (h != NULL)
        __builtin_prefetch(h);
}

/*
 * Move bins of tab into nt.  start: this thread has just claimed the resize
 * (moved size_ctl to stamp + 2) for nt, which it allocated and initialised
 * beforehand, and publishes it here; otherwise it joined a published one.
 */
static void chm_transfer(chm_thread_t *t, chm_table_t *tab, chm_table_t *nt,
                         bool start)
{
    chm_t *m = t->map;
    size_t n = tab->n;
    size_t stride = chm_ncpu() > 1 ? (n >> 3) / chm_ncpu() : n;
    if (stride < CHM_MIN_TRANSFER_STRIDE)
        stride = CHM_MIN_TRANSFER_STRIDE;
    if (start) {
        /* plain: published by the seq_cst store of next_table below; every
         * thread that installs a forwarding node has loaded next_table or
         * is this thread. */
        tab->fwd_target = nt;
        atomic_store_explicit(&m->next_table, nt, memory_order_seq_cst);
        atomic_store_explicit(&m->transfer_index, (int64_t)n,
                              memory_order_seq_cst);
    }
    size_t i = 0, bound = 0;
    uint64_t moved = 0;
    for (;;) {
        if (!chm_claim_stride(m, stride, &i, &bound))
            break;
        while (i > bound) {
            if (i - 1 >= bound + CHM_TRANSFER_AHEAD)
                chm_transfer_prefetch(tab, i - 1 - CHM_TRANSFER_AHEAD);
            if (chm_transfer_bin(t, tab, nt, i - 1)) {
                i--;
                moved++;
            }
        }
    }
    if (!start) {
        uint64_t v = atomic_load_explicit(&t->bins_helped,
                                          memory_order_relaxed);
        atomic_store_explicit(&t->bins_helped, v + moved,
                              memory_order_relaxed);
    }
    if (!chm_leave_resize(m, n))
        return;
    /* Last one out: every stride was claimed, but re-check every bin
     * before committing (Java's "recheck before commit"). */
    for (size_t j = n; j > 0;)
        if (chm_transfer_bin(t, tab, nt, j - 1))
            j--;
    chm_finish_resize(t, tab, nt);
}

/* Try to join the resize of tab into nt; false when it cannot be joined
 * (finished, finishing, full of helpers, or no strides left). */
static bool chm_join_resize(chm_thread_t *t, chm_table_t *tab,
                            chm_table_t *nt)
{
    chm_t *m = t->map;
    int64_t rs = chm_resize_stamp(tab->n);
    for (;;) {
        int64_t sc = atomic_load_explicit(&m->size_ctl, memory_order_seq_cst);
        if (sc >= 0 || sc == rs + CHM_MAX_RESIZERS || sc == rs + 1 ||
            atomic_load_explicit(&m->next_table, memory_order_seq_cst) != nt ||
            atomic_load_explicit(&m->table, memory_order_seq_cst) != tab ||
            atomic_load_explicit(&m->transfer_index, memory_order_seq_cst) <= 0)
            return false;
        if (atomic_compare_exchange_weak_explicit(&m->size_ctl, &sc, sc + 1,
                memory_order_seq_cst, memory_order_seq_cst)) {
            chm_transfer(t, tab, nt, false);
            return true;
        }
    }
}

chm_table_t *chm_help_transfer(chm_thread_t *t, chm_table_t *tab,
                               chm_head_t *fwd)
{
    /* SAFETY: fwd was loaded from tab while pinned; tab (and so its
     * embedded forwarding node) is alive; its target is alive because it
     * is reachable from tab, which we can still reach. */
    chm_table_t *nt = chm_fwd_table(fwd);
    chm_join_resize(t, tab, nt);
    return nt;
}

/* Start a resize of tab if size_ctl is still the threshold sc: allocate
 * the next table, then claim (see the top comment for the order).  The
 * caller loaded sc before tab, so a successful claim means no resize has
 * finished since: tab is still the current table.  CHM_ENOMEM when the
 * table could not be allocated (nothing changed). */
static int chm_start_resize(chm_thread_t *t, chm_table_t *tab, int64_t sc)
{
    chm_t *m = t->map;
    chm_table_t *nt = chm_table_alloc(m, tab->n << 1);
    if (nt == NULL)
        return CHM_ENOMEM;
    if (!atomic_compare_exchange_strong_explicit(&m->size_ctl, &sc,
            chm_resize_stamp(tab->n) + 2, memory_order_seq_cst,
            memory_order_seq_cst)) {
        /* Another thread claimed it (or the resize is over).  SAFETY: nt
         * was never published, no other thread can have reached it. */
        chm_table_discard(nt);
        return CHM_OK;
    }
    chm_table_recycle(nt);
    chm_table_init_bins(nt);
    chm_transfer(t, tab, nt, true);
    return CHM_OK;
}

/*
 * Whether this check may skip summing the cells.  A sum reads every
 * thread's cell line, and the owner's next add must then take its line back:
 * two cross-core misses, on up to a quarter of the inserts at our load
 * factor, which perf put at 4-5% of a 2-thread rapid-grow.  So in a table of
 * CHM_COUNT_SAMPLE_BINS bins or more a thread sums on one check in
 * CHM_COUNT_SAMPLE of its own.  The resize then starts a little late: each
 * thread may let about 4 x CHM_COUNT_SAMPLE inserts pass the threshold (at
 * one entry per bin, a quarter of the inserts go into a bin of two or more
 * and check), 0.05% of n per thread.  Small tables check every time, as
 * Java does, so that a resize starts on the insert that reaches it.
 */
static bool chm_count_check_skipped(chm_thread_t *t)
{
    /* SAFETY: every caller of chm_add_count is pinned (I4), and a table is
     * retired only once it is no longer m->table and freed a grace period
     * later (chm_table_retire), so the one loaded here is alive.  Acquire
     * pairs with the seq_cst store that published it: its n is visible. */
    chm_table_t *tab = atomic_load_explicit(&t->map->table,
                                            memory_order_acquire);
    if (tab->n < CHM_COUNT_SAMPLE_BINS)
        return false;
    return (++t->count_checks & (CHM_COUNT_SAMPLE - 1)) != 0;
}

void chm_add_count(chm_thread_t *t, int64_t delta, long check)
{
    chm_t *m = t->map;
    chm_counter_add(t, delta);
    /* As Java with counter cells: only an insert into a bin that already
     * held two or more entries pays for summing the cells; in big tables,
     * only one such insert in CHM_COUNT_SAMPLE. */
    if (check <= 1 || chm_count_check_skipped(t))
        return;
    int64_t s = chm_counter_sum(m);
    for (;;) {
        int64_t sc = atomic_load_explicit(&m->size_ctl, memory_order_seq_cst);
        if (s < sc)
            return;
        chm_table_t *tab = atomic_load_explicit(&m->table,
                                                memory_order_seq_cst);
        if (tab->n >= CHM_MAX_CAPACITY)
            return;
        if (sc < 0) {
            chm_table_t *nt = atomic_load_explicit(&m->next_table,
                                                   memory_order_seq_cst);
            if (nt == NULL || !chm_join_resize(t, tab, nt))
                return;
        } else if (chm_start_resize(t, tab, sc) != CHM_OK) {
            return;
        }
        s = chm_counter_sum(m);
    }
}

int chm_try_presize(chm_thread_t *t, size_t size)
{
    chm_t *m = t->map;
    size_t c = chm_table_bins_for(size);
    for (;;) {
        int64_t sc = atomic_load_explicit(&m->size_ctl, memory_order_seq_cst);
        chm_table_t *tab = atomic_load_explicit(&m->table,
                                                memory_order_seq_cst);
        if (sc >= 0) {
            /* Java stops at c <= sc, its threshold (0.75 of its bins)
             * standing in for the table's size; compare bins with bins. */
            if (c <= tab->n || tab->n >= CHM_MAX_CAPACITY)
                return CHM_OK;
            if (chm_start_resize(t, tab, sc) != CHM_OK)
                return CHM_ENOMEM;
            continue;
        }
        /* A resize is in flight: help it, or wait for its last thread. */
        chm_table_t *nt = atomic_load_explicit(&m->next_table,
                                               memory_order_seq_cst);
        if (nt == NULL || !chm_join_resize(t, tab, nt))
            sched_yield();
    }
}

void chm_treeify_bin(chm_thread_t *t, chm_table_t *tab, size_t index)
{
    chm_t *m = t->map;
    if (tab->n < CHM_MIN_TREEIFY_CAPACITY) {
        (void)chm_try_presize(t, tab->n << 1); /* ENOMEM: stay as we are */
        return;
    }
    chm_head_t *f = atomic_load_explicit(&tab->bins[index].head,
                                         memory_order_acquire);
    if (f == NULL || (f->kind != CHM_K_NODE && f->kind != CHM_K_BUCKET))
        return;
    chm_lock_acquire(&f->lock);
    if (atomic_load_explicit(&tab->bins[index].head, memory_order_acquire) == f) {
        chm_treebin_t *tb = chm_tree_build(m, f);
        if (tb != NULL) { /* ENOMEM: the list stays a list */
            /* release: the tree bin's contents before its address */
            atomic_store_explicit(&tab->bins[index].head, &tb->node.h,
                                  memory_order_release);
            /* SAFETY: the list's nodes and the bucket are unreachable from
             * the map now (the bin holds the tree bin, whose nodes are
             * copies); readers on them were pinned before the store. */
            chm_node_t *p = f->kind == CHM_K_BUCKET
                ? atomic_load_explicit(&f->next, memory_order_relaxed)
                : chm_as_node(f);
            if (f->kind == CHM_K_BUCKET)
                chm_bucket_release(t, tab, chm_as_bucket(f), false);
            while (p != NULL) {
                chm_node_t *nx = atomic_load_explicit(&p->h.next,
                                                      memory_order_relaxed);
                chm_retire_shell(t, p);
                p = nx;
            }
            atomic_fetch_add_explicit(&m->treeifications, 1,
                                      memory_order_relaxed);
            atomic_fetch_add_explicit(&m->tree_bins, 1, memory_order_relaxed);
        }
    }
    chm_lock_release(&f->lock);
}
