/*
 * chm_bucket.c - a bin's bucket: entries kept inline in the table, on the
 * bin's own cache line (chm_bucket_t; the overview is in chm_map.c).
 *
 * What the bucket is.  While its bin holds a list, the bucket is the list's
 * head node in Java's sense: its lock is the bin lock, writers lock it and
 * re-check that it still heads the bin, and its h.next continues the list
 * with heap nodes.  Its CHM_BUCKET_SLOTS slots hold entries (tag, key,
 * value) that every list operation treats as the first entries of the
 * list.  An empty bin is filled by claiming the bucket, filling a slot and
 * publishing the bucket with a CAS of the bin's head (Java's CAS into an
 * empty bin, with the bucket in place of a new node).  When the bucket is
 * not available, entries go to heap nodes exactly as in Java.
 *
 * Two bytes of the bucket's head carry the protocol:
 *
 *   live  bit s set while slot s holds an entry that readers may return.
 *         One thread at a time changes it: the holder of the bin lock while
 *         the bucket heads its bin, or the thread that claimed the bucket
 *         before publishing it.  It stores with release; readers load with
 *         acquire before they read the slot's tag, key and value.
 *
 *   busy  bit s set while slot s is in use: being filled, live, or removed
 *         and waiting for its grace period.  CHM_BK_LINKED set while the
 *         bucket heads its bin or is about to, and until a grace period
 *         after it stopped.  Bits are set by CAS (a claimer racing for an
 *         empty bin, or the lock holder) and cleared by the epoch callback
 *         below with fetch_and (no lock), or by an unclaim.
 *
 * Why a grace period before a slot is used again: a reader that saw slot s
 * live reads its tag, key and value without a lock.  If the slot took a
 * new entry in between, the reader could return another key's value.  So a
 * removed slot stays busy until every thread that might have seen it live
 * has unpinned: the rule for freeing a heap node, enforced the same way,
 * by ck_epoch.  Its key and value are freed at that point too, as a heap
 * node's are.
 *
 * Why a grace period before the bucket heads its bin again: a reader that
 * loaded the bucket as its bin's head keeps reading its live bits after the
 * bucket stopped heading the bin (emptied, treeified).  If the bucket were
 * filled and linked again meanwhile, that reader could see an entry whose
 * insert has not taken effect, and a later reader not see it.  So
 * CHM_BK_LINKED is cleared only after a grace period, and a claim (which
 * needs it clear) never races a reader of an earlier use.  A bucket that
 * stops heading its bin because its entries were copied (treeify) keeps its
 * live bits, so that such a reader still finds those entries.
 *
 * Records.  A bucket has no room for ck's epoch entry, so each thread
 * collects what it released - (bucket, busy bits to clear, slots whose key
 * and value to free) - in a batch with one epoch entry, handed to
 * ck_epoch_call when it is full, at the thread's next poll (chm_epoch.c),
 * and when the thread leaves.  Handing it over later than each removal
 * only lengthens the grace period; the fence in chm_retire orders every
 * removal in the batch before the epoch the batch is filed under.  A batch
 * covers buckets of one table and holds a reference on it (chm_table_t
 * .refs), so the callback may touch buckets of a table retired meanwhile.
 * Removal never fails for want of memory (Java's does not either): when no
 * batch can be allocated, the slot (or the bucket) is orphaned - it stays
 * busy for the rest of its table's life, so nothing reuses it and no reader
 * is harmed, and its key and value are freed with the table
 * (chm_bucket_free_orphans; a per-table count spares the scan when, as
 * almost always, there are none).
 *
 * Buckets of a table abandoned by a transfer need no record: the table
 * itself is freed only after its own grace period, and its buckets are
 * never used again.
 */
#include <string.h>

#include "chm_internal.h"

#define CHM_SLOT_BATCH 30

typedef struct chm_slot_rec {
    chm_bucket_t *b;
    uint8_t clear; /* busy bits to clear */
    uint8_t drop;  /* slots whose key and value to free first */
} chm_slot_rec_t;

struct chm_slot_batch {
    ck_epoch_entry_t epoch;
    chm_table_t *tab;         /* one reference, dropped by the callback */
    unsigned n;
    chm_slot_rec_t r[CHM_SLOT_BATCH];
};

/* The lowest slot whose busy bit is clear, or -1. */
static int chm_bucket_free_slot(unsigned busy)
{
    for (unsigned s = 0; s < CHM_BUCKET_SLOTS; s++)
        if ((busy >> s & 1u) == 0)
            return (int)s;
    return -1;
}

/* Write an entry into slot s, which this thread owns (busy bit set by its
 * own CAS) and which no reader can be reading (see the top comment).  The
 * release store of the live bits publishes it. */
static void chm_bucket_fill(chm_bucket_t *b, unsigned s, uint64_t h,
                            uintptr_t key, uintptr_t val)
{
    b->tag[s] = (uint32_t)h;
    b->slot[s].key = key;
    /* relaxed: published by the release store of live */
    atomic_store_explicit(&b->slot[s].val, val, memory_order_relaxed);
}

/* Take b's lowest free slot (into *slot) and, with `link`, the bucket
 * itself, by CAS on its busy byte; false when no slot is free, or `link`
 * and the bucket is taken or waiting for its grace period.  acquire on success:
 * pairs with the release in the callback (or unclaim) that cleared the
 * bits we take, so every use of the slot or bucket before ours - readers
 * of an earlier entry included, by the grace period - happens before our
 * writes.  relaxed on failure: we retry with the value we got. */
static bool chm_bucket_take(chm_bucket_t *b, bool link, unsigned *slot)
{
    uint8_t busy = atomic_load_explicit(&b->h.busy, memory_order_relaxed);
    int s;
    do {
        if ((link && (busy & CHM_BK_LINKED) != 0) ||
            (s = chm_bucket_free_slot(busy)) < 0)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&b->h.busy, &busy,
                 (uint8_t)(busy | (1u << s) | (link ? CHM_BK_LINKED : 0u)),
                 memory_order_acquire, memory_order_relaxed));
    *slot = (unsigned)s;
    return true;
}

bool chm_bucket_claim(chm_bucket_t *b, uint64_t h, uintptr_t key,
                      uintptr_t val, chm_node_t *next)
{
    unsigned s;
    if (!chm_bucket_take(b, true, &s))
        return false;
    /* SAFETY: LINKED was clear, so no reader of an earlier use remains
     * and nothing else writes the bucket until we publish or unclaim it. */
    chm_bucket_fill(b, s, h, key, val);
    b->h.kind = CHM_K_BUCKET;
    /* relaxed: next and the live bits are published by the release store
     * (or CAS) that makes the bucket the bin's head. */
    atomic_store_explicit(&b->h.next, next, memory_order_relaxed);
    atomic_store_explicit(&b->h.live, (uint8_t)(1u << s),
                          memory_order_relaxed);
    return true;
}

void chm_bucket_unclaim(chm_bucket_t *b)
{
    uint8_t live = atomic_load_explicit(&b->h.live, memory_order_relaxed);
    atomic_store_explicit(&b->h.live, 0, memory_order_relaxed);
    /* release: our writes to the slot before the next claimer's (acquire).
     * No reader saw the bucket: it was never published. */
    atomic_fetch_and_explicit(&b->h.busy, (uint8_t)~(live | CHM_BK_LINKED),
                              memory_order_release);
}

bool chm_bucket_add(chm_bucket_t *b, uint64_t h, uintptr_t key,
                    uintptr_t val)
{
    unsigned s;
    if (!chm_bucket_take(b, false, &s))
        return false;
    chm_bucket_fill(b, s, h, key, val);
    /* relaxed load: only the lock holder changes live.  release store:
     * the slot's fields before the bit that lets readers see them. */
    uint8_t live = atomic_load_explicit(&b->h.live, memory_order_relaxed);
    atomic_store_explicit(&b->h.live, (uint8_t)(live | 1u << s),
                          memory_order_release);
    return true;
}

/* ---- records ----------------------------------------------------------- */

/* Free the keys and values of the slots in `slots` (type callbacks).  The
 * caller guarantees no other thread can reach them. */
static void chm_bucket_drop(const chm_t *m, chm_bucket_t *b, unsigned slots)
{
    for (unsigned s = 0; s < CHM_BUCKET_SLOTS; s++) {
        if ((slots >> s & 1u) == 0)
            continue;
        if (m->type.key_free != NULL)
            m->type.key_free(b->slot[s].key);
        if (m->type.val_free != NULL)
            /* relaxed: no other thread reaches b (see the callers) */
            m->type.val_free(atomic_load_explicit(&b->slot[s].val,
                                                  memory_order_relaxed));
    }
}

static void chm_slot_batch_cb(ck_epoch_entry_t *e)
{
    chm_t *m = chm_dispatching_map();
    struct chm_slot_batch *bt = (struct chm_slot_batch *)e;
    for (unsigned k = 0; k < bt->n; k++) {
        chm_slot_rec_t *r = &bt->r[k];
        /* SAFETY: the slots were unreachable for readers from the moment
         * the record was made (not live, or the bucket no longer the
         * head) and a grace period has passed; the table is alive (our
         * reference); nobody writes these slots while their busy bits
         * are set. */
        chm_bucket_drop(m, r->b, r->drop);
        /* release: our reads above (and, through the grace period, every
         * reader's) before the next claimer's writes (acquire). */
        atomic_fetch_and_explicit(&r->b->h.busy, (uint8_t)~r->clear,
                                  memory_order_release);
        chm_note_reclaimed();
    }
    chm_table_unref(bt->tab);
    chm_dealloc(bt);
}

void chm_bucket_flush(chm_thread_t *t)
{
    struct chm_slot_batch *bt = t->slots;
    if (bt == NULL)
        return;
    t->slots = NULL;
    if (bt->n == 0) {
        /* Reserved, never used: nothing was released. */
        chm_table_unref(bt->tab);
        chm_dealloc(bt);
        return;
    }
    /* SAFETY: every record's slots stopped being reachable before now
     * (see each caller); chm_retire fences before it files the batch. */
    chm_retire(t, &bt->epoch, chm_slot_batch_cb);
    chm_note_retired(t, bt->n - 1);
}

/* A record of b's busy bits `clear` and its slots `drop` in t's open batch
 * for tab, opening a new batch when there is none for tab or it is full.
 * False when no batch can be allocated. */
static bool chm_bucket_record(chm_thread_t *t, chm_table_t *tab,
                              chm_bucket_t *b, unsigned clear, unsigned drop)
{
    struct chm_slot_batch *bt = t->slots;
    if (bt == NULL || bt->tab != tab) {
        if ((bt = chm_alloc(sizeof *bt)) == NULL)
            return false;
        chm_bucket_flush(t);
        memset(&bt->epoch, 0, sizeof bt->epoch);
        bt->tab = tab;
        bt->n = 0;
        /* relaxed: the caller holds b's bin lock in tab, reached through
         * the map while pinned, so tab's own reference - dropped only by
         * its retirement callback, after a grace period - is still held;
         * our increment comes before that decrement in refs' order. */
        atomic_fetch_add_explicit(&tab->refs, 1, memory_order_relaxed);
        t->slots = bt;
    }
    bt->r[bt->n].b = b;
    bt->r[bt->n].clear = (uint8_t)clear;
    bt->r[bt->n].drop = (uint8_t)drop;
    bt->n++;
    t->since_poll++;
    if (bt->n == CHM_SLOT_BATCH)
        chm_bucket_flush(t);
    return true;
}

/* Out of memory for a record: b's busy bits stay set for the rest of the
 * table's life (no reader can then be harmed: nothing reuses the slots),
 * and the keys and values of `drop` are freed with the table
 * (chm_bucket_free_orphans).  Under b's bin lock. */
static void chm_bucket_orphan(chm_table_t *tab, chm_bucket_t *b,
                              unsigned drop)
{
    if (drop == 0)
        return;
    /* relaxed: written under the bin lock, read only when no thread can
     * reach the table (after its grace period, or in chm_free) */
    uint8_t o = atomic_load_explicit(&b->h.orphan, memory_order_relaxed);
    atomic_store_explicit(&b->h.orphan, (uint8_t)(o | drop),
                          memory_order_relaxed);
    if (o == 0)
        atomic_fetch_add_explicit(&tab->orphans, 1, memory_order_relaxed);
}

void chm_bucket_remove(chm_thread_t *t, chm_table_t *tab, chm_bucket_t *b,
                       unsigned s)
{
    /* relaxed load: only the lock holder changes live.  release store:
     * orders the removal after the reads that found the entry; a reader
     * that loads the new bits no longer looks at slot s. */
    uint8_t live = atomic_load_explicit(&b->h.live, memory_order_relaxed);
    atomic_store_explicit(&b->h.live, (uint8_t)(live & ~(1u << s)),
                          memory_order_release);
    /* SAFETY: slot s is no longer live; readers that saw it live are
     * pinned, and the record frees it only after a grace period (an
     * orphan, only with its table). */
    if (!chm_bucket_record(t, tab, b, 1u << s, 1u << s))
        chm_bucket_orphan(tab, b, 1u << s);
}

void chm_bucket_release(chm_thread_t *t, chm_table_t *tab, chm_bucket_t *b,
                        bool entries)
{
    uint8_t live = atomic_load_explicit(&b->h.live, memory_order_relaxed);
    if (entries)
        /* release: as in chm_bucket_remove */
        atomic_store_explicit(&b->h.live, 0, memory_order_release);
    /* SAFETY: the caller made another object the bin's head; readers that
     * loaded b as the head are pinned, and LINKED (with the slots that
     * were live) is cleared only after a grace period. */
    if (!chm_bucket_record(t, tab, b, live | CHM_BK_LINKED,
                           entries ? live : 0u))
        chm_bucket_orphan(tab, b, entries ? live : 0u);
}

uint64_t chm_bucket_hash(const chm_t *m, const chm_bucket_t *b, unsigned s)
{
    return chm_hash_key(m, b->slot[s].key);
}

void chm_bucket_free_now(const chm_t *m, chm_bucket_t *b)
{
    chm_bucket_drop(m, b, atomic_load_explicit(&b->h.live,
                                               memory_order_relaxed));
}

void chm_bucket_free_orphans(chm_table_t *tab)
{
    /* relaxed: no thread can reach tab (see chm_internal.h) */
    if (atomic_load_explicit(&tab->orphans, memory_order_relaxed) == 0)
        return;
    for (size_t i = 0; i < tab->n; i++) {
        chm_bucket_t *b = chm_bin_bucket(tab, i);
        chm_bucket_drop(tab->map, b, atomic_load_explicit(
                            &b->h.orphan, memory_order_relaxed));
    }
}
