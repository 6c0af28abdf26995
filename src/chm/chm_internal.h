/*
 * chm_internal.h - the shared data structures of libchm and the contracts
 * between its files.  The design is explained once, in chm_map.c's top
 * comment; this header states the layout and the invariants every file
 * relies on.
 *
 * Atomics are C11 <stdatomic.h> with an explicit memory order at every
 * access (not ck_pr: its inline assembly is invisible to ThreadSanitizer).
 * Epochs are ck_epoch.
 */
#ifndef CHM_INTERNAL_H
#define CHM_INTERNAL_H

#include <ck_epoch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chm.h"

#define CHM_CACHELINE 64

/* Java's constants (ConcurrentHashMap.java), with a 64-bit sizeCtl. */
#define CHM_DEFAULT_CAPACITY 16
#define CHM_MAX_CAPACITY ((size_t)1 << 40) /* bins */
#define CHM_TREEIFY_THRESHOLD 8    /* list length that asks for a tree */
#define CHM_UNTREEIFY_THRESHOLD 6  /* tree size at or below which it's a list */
#define CHM_MIN_TREEIFY_CAPACITY 64 /* smaller tables grow instead */
#define CHM_MIN_TRANSFER_STRIDE 16
#define CHM_RESIZE_STAMP_BITS 16
#define CHM_RESIZE_STAMP_SHIFT (64 - CHM_RESIZE_STAMP_BITS)
#define CHM_MAX_RESIZERS ((1 << (CHM_RESIZE_STAMP_BITS - 1)) - 1)
/* Tables this big check the size on one eligible insert in CHM_COUNT_SAMPLE
 * per thread (chm_add_count). */
#define CHM_COUNT_SAMPLE_BINS ((size_t)1 << 16)
#define CHM_COUNT_SAMPLE 8u /* a power of two */

/*
 * Load factor.  Java grows a table at 0.75 entries per bin, a bin there
 * being one pointer.  A bin here is a 64-byte line with two entry slots
 * (chm_bin_t), and a table of n bins grows when it holds n entries: one per
 * bin, half the slots.  At Java's 0.75, lines held 0.375-0.75 entries
 * between resizes; the 3.1 million keys of the standard mixes took 2^23
 * bins (512 MiB) where they now take 2^22, and every byte of a new table is
 * memory fresh from the kernel that a resize pays page faults for.  At one
 * per bin, the entries that overflow onto the heap (third in their bin)
 * stay few: by Poisson, 3% of them right after a resize and 10% right
 * before the next.
 */
static inline size_t chm_threshold(size_t n)
{
    return n;
}

/* The bins a table needs to hold c entries without growing. */
static inline size_t chm_bins_for_entries(size_t c)
{
    return c + 1;
}

/* The table (a power of two of bins, at most CHM_MAX_CAPACITY) that holds
 * c entries without growing: chm_new's first table and chm_reserve's
 * target. */
static inline size_t chm_table_bins_for(size_t c)
{
    if (c >= CHM_MAX_CAPACITY / 2)
        return CHM_MAX_CAPACITY;
    size_t want = chm_bins_for_entries(c), n = 1;
    while (n < want)
        n <<= 1;
    return n;
}

/* What a node is.  Java encodes this in negative hash values (MOVED,
 * TREEBIN, RESERVED); a separate field keeps our 64-bit hashes whole. */
enum chm_kind {
    CHM_K_NODE = 0,  /* an entry in a list bin */
    CHM_K_TREENODE,  /* an entry in a tree bin (struct chm_treenode) */
    CHM_K_FWD,       /* forwarding node: this bin moved (struct chm_table.fwd) */
    CHM_K_TREEBIN,   /* head of a tree bin (struct chm_treebin) */
    CHM_K_RESERVED,  /* placeholder while compute runs on an empty bin */
    CHM_K_BUCKET,    /* a bin's own bucket heading its list (chm_bucket_t) */
};

/*
 * The bin lock: a 3-state futex mutex (0 free, 1 locked, 2 locked with
 * waiters).  Four bytes in every node, because any node can become the head
 * of a bin and Java locks the head.  Waiters sleep in the kernel, so a
 * preempted holder (or a slow compute callback) costs no spinning CPU.
 */
typedef struct chm_lock {
    _Atomic uint32_t state;
} chm_lock_t;

void chm_lock_acquire(chm_lock_t *l);
void chm_lock_release(chm_lock_t *l);

/*
 * What every object that can head a bin starts with: a heap node, a tree
 * bin, a reservation, a forwarding node, or the bin's bucket.  Code that
 * loads a bin's head reads `kind` to learn which, `lock` to lock it, and
 * (list heads) `next` to walk on.  kind is written before publication and
 * never changes; next changes only under the bin lock (I2).
 */
typedef struct chm_head {
    _Atomic(struct chm_node *) next;
    chm_lock_t lock;          /* used when this object heads a bin */
    uint8_t kind;             /* enum chm_kind */
    /* Buckets only (chm_bucket_t): which entry slots hold entries readers
     * may see, and which slots (and the bucket itself) are in use. */
    _Atomic uint8_t live;
    _Atomic uint8_t busy;
    /* Buckets only: slots whose key and value are freed with the table
     * (their record could not be allocated, chm_bucket.c). */
    _Atomic uint8_t orphan;
} chm_head_t;

/*
 * A node: one entry on the heap.  hash, key and kind are written once
 * before the node is published (by a release store or a store under the
 * bin lock) and never change.  val and next change only under the bin lock
 * and are read lock-free, so they are atomics: writers store with release,
 * readers load with acquire.
 */
typedef struct chm_node {
    chm_head_t h;
    uint64_t hash;
    uintptr_t key;
    _Atomic uintptr_t val;
    ck_epoch_entry_t epoch;   /* for retirement */
} chm_node_t;

/*
 * A bin's bucket: room for CHM_BUCKET_SLOTS entries inline, on the bin's
 * own cache line (chm_bin_t).  While the bin holds entries and no tree,
 * the bucket is its head node - Java's first node, whose lock is the bin
 * lock - and h.next continues the list on the heap.  An entry goes into a
 * free slot of the bucket when there is one, onto the heap otherwise, so
 * at our load factor (above) nine entries in ten or more are inline and a
 * lookup costs one cache miss.  The slot protocol (busy/live bits, grace
 * periods before a slot or the bucket is used again) is in chm_bucket.c.
 * tag[s] is the low 32 bits of slot s's hash.
 */
#define CHM_BUCKET_SLOTS 2
#define CHM_BK_LINKED (1u << CHM_BUCKET_SLOTS) /* busy bit: heads its bin */
typedef struct chm_slot {
    uintptr_t key;
    _Atomic uintptr_t val;
} chm_slot_t;
typedef struct chm_bucket {
    chm_head_t h;             /* kind CHM_K_BUCKET */
    uint32_t tag[CHM_BUCKET_SLOTS];
    chm_slot_t slot[CHM_BUCKET_SLOTS];
} chm_bucket_t;

/* A bin: the head pointer Java keeps in its table, and its bucket. */
typedef struct chm_bin {
    _Alignas(CHM_CACHELINE) _Atomic(chm_head_t *) head;
    chm_bucket_t bucket;
} chm_bin_t;

_Static_assert(sizeof(chm_bin_t) == CHM_CACHELINE,
               "a bin and its bucket fill one cache line");

static inline chm_node_t *chm_as_node(chm_head_t *h)
{
    return (chm_node_t *)h;
}
static inline chm_bucket_t *chm_as_bucket(chm_head_t *h)
{
    return (chm_bucket_t *)h;
}

/* A tree bin entry.  `node` comes first (kind CHM_K_TREENODE); node.next is
 * the bin's list order, which readers walk lock-free while a writer holds the
 * tree.  The tree links are read only while holding a READER share of the
 * bin's lock_state and written only while holding WRITER, so they are plain
 * fields ordered by lock_state's acquire/release.  `prev` is used only by
 * writers under the bin lock. */
typedef struct chm_treenode {
    chm_node_t node;
    struct chm_treenode *parent, *left, *right, *prev;
    bool red;
} chm_treenode_t;

/* lock_state bits, as Java's TreeBin */
#define CHM_TREE_WRITER 1 /* a writer holds the tree */
#define CHM_TREE_WAITER 2 /* a writer waits for readers to leave */
#define CHM_TREE_READER 4 /* increment per reader */

/* Head of a tree bin (kind CHM_K_TREEBIN).  The bin lock is node.lock. */
typedef struct chm_treebin {
    chm_node_t node;
    chm_treenode_t *root;                /* under lock_state (see above) */
    _Atomic(chm_treenode_t *) first;     /* list head, lock-free readable */
    _Atomic int32_t lock_state;
    size_t count;                        /* entries; under the bin lock */
} chm_treebin_t;

/*
 * A table.  `fwd` is the one forwarding node every moved bin of this table
 * points at (Java allocates one per transferring thread; one embedded node
 * needs no allocation and dies with the table).  fwd_target is written by
 * the thread that starts the resize before it publishes m->next_table
 * (release) and read by threads that saw the forwarding node (acquire on the
 * bin load).
 */
typedef struct chm_table {
    size_t n;                           /* bins, a power of two */
    struct chm_table *fwd_target;       /* the table bins moved to */
    bool mapped;                        /* from mmap (else the heap) */
    struct chm_spares *spares;          /* mapped: where its memory goes */
    struct chm *map;                    /* whose type frees orphans */
    _Atomic size_t orphans;             /* buckets with orphan slots */
    /* References that keep the memory alive: 1 until the table's own
     * grace period has passed (chm_table_retire), plus 1 per batch of
     * bucket records whose callback has not run yet (chm_bucket.c).  The
     * last one dropped frees the table (chm_table_unref). */
    _Atomic size_t refs;
    ck_epoch_entry_t epoch;
    chm_node_t fwd;                     /* kind CHM_K_FWD */
    chm_bin_t bins[];
} chm_table_t;

/* A table's header and bins, in bytes (the bins follow the header). */
#define CHM_TABLE_HEAD offsetof(chm_table_t, bins)
static inline size_t chm_table_body(const chm_table_t *t)
{
    return t->n * sizeof(chm_bin_t);
}

static inline chm_table_t *chm_fwd_table(const chm_head_t *fwd)
{
    const chm_table_t *t = (const chm_table_t *)((const char *)fwd -
                                                 offsetof(chm_table_t, fwd));
    return t->fwd_target;
}

/* One striped counter cell, alone on its cache line. */
typedef struct chm_cell {
    _Atomic int64_t v;
    char pad[CHM_CACHELINE - sizeof(int64_t)];
} chm_cell_t;

/* Memory of freed mapped tables, kept for the map's next table
 * (chm_spare.c). */
#define CHM_MAX_SPARES 8
typedef struct chm_spare {
    void *p;
    size_t bytes;
} chm_spare_t;
typedef struct chm_spares {
    pthread_mutex_t lock;
    chm_spare_t r[CHM_MAX_SPARES];     /* under lock */
    unsigned n;                        /* under lock */
    _Atomic uint64_t recycled;         /* bytes reused, for chm_stats */
} chm_spares_t;

#define CHM_THREAD_MAGIC 0x63686d74u /* "chmt" */

/*
 * A thread's handle.  rec comes first and is cache-line aligned (ck's record
 * is).  Counters written only by the owner are atomics stored with relaxed
 * order so chm_stats() may read them from another thread without a race.
 */
struct chm_thread {
    ck_epoch_record_t rec;
    chm_t *map;
    uint32_t magic;
    unsigned depth;            /* pin nesting */
    unsigned cell;             /* counter cell index */
    unsigned since_poll;       /* retirements since the last poll */
    unsigned count_checks;     /* size checks so far (chm_add_count) */
    bool joined;
    /* Records of bucket slots this thread freed, waiting to be handed
     * to the epoch (chm_bucket.c); NULL when none is open.  Owner-only. */
    struct chm_slot_batch *slots;
    struct chm_thread *all_next; /* every handle ever made (m->threads) */
    _Atomic uint64_t retired, reclaimed, bins_transferred, bins_helped;
};

struct chm {
    /* read-mostly: */
    chm_type type;
    uint64_t seed;
    unsigned ncells;           /* a power of two */
    chm_cell_t *cells;
    char pad0[CHM_CACHELINE];
    /* written on resize: */
    _Atomic(chm_table_t *) table;
    _Atomic(chm_table_t *) next_table;
    _Atomic int64_t size_ctl;
    _Atomic int64_t transfer_index;
    char pad1[CHM_CACHELINE];
    ck_epoch_t epoch;
    pthread_mutex_t threads_lock;  /* join/leave/stats only */
    struct chm_thread *threads;
    unsigned joined;           /* handles joined now */
    unsigned joined_ever;      /* joins so far: assigns counter cells */
    _Atomic size_t table_n;    /* bins of the current table, for stats */
    _Atomic uint64_t resizes, treeifications, untreeifications;
    _Atomic int64_t tree_bins;
    _Atomic uint64_t reclaimed_at_free;  /* reclaimed by chm_free */
    chm_spares_t spares;
};

/* ---- hashing and key comparison (chm_hash.c) -------------------------- */

static inline bool chm_key_eq(const chm_t *m, uintptr_t a, uintptr_t b)
{
    return a == b || (m->type.eq != NULL && m->type.eq(a, b));
}

/* ---- allocation (chm_alloc.c) ----------------------------------------- */
/* All of libchm's allocations go through these.  Built with
 * -DCHM_FAULT_INJECTION, chm_test_fail_allocs(after, count) makes the
 * allocations after the next `after` ones fail, `count` of them, and
 * chm_test_alloc_hook(fn) has fn(size) called at the start of every
 * allocation, in the allocating thread (NULL: no hook). */
void *chm_alloc(size_t size);
void *chm_alloc_aligned(size_t align, size_t size);
void chm_dealloc(void *p);
/* Memory for a table: a header of `head` bytes directly followed by `body`
 * bytes of bins; returns the header.  When body is whole huge pages (tables
 * of 2^15 bins and more) it comes from mmap (*mapped set): the bins start
 * on a huge page boundary, advised MADV_HUGEPAGE (a lookup's first miss is
 * the random bin load; with 4 KiB pages it would be a TLB miss too), and
 * zero-filled (the kernel zeroes each page on first touch, so nothing needs
 * initialising); the header ends the ordinary page just below them, so a
 * table costs its bins and one small page - not a huge page more, which a
 * header in front of the bins took (3.4 ms of fresh page faults per table
 * on the development VM).  Otherwise, and in sanitized builds (see
 * chm_alloc.c), from the heap, cache-line aligned, not initialised.  NULL
 * on ENOMEM.  chm_dealloc_table frees either kind; chm_dealloc_table_head
 * unmaps only the header page of a mapped table whose bins became a spare. */
#define CHM_HUGE_PAGE ((size_t)2 << 20)
void *chm_alloc_table(size_t head, size_t body, bool *mapped);
void chm_dealloc_table(void *p, size_t head, size_t body, bool mapped);
void chm_dealloc_table_head(void *p, size_t head);
/* Spares (chm_spare.c).  keep: take a mapped table's bins (whole huge
 * pages), which no thread can reach any more, instead of unmapping them;
 * false when the list is full (the caller unmaps).  reuse: move spares into
 * the start of [p, p + bytes), the fresh bins of a table not yet published,
 * largest first while they fit, and clear them; returns the bytes reused.
 * bytes: what the kept spares add up to (chm_stats).  release: chm_free
 * only, unmaps every spare. */
void chm_spares_init(chm_spares_t *s);
bool chm_spares_keep(chm_spares_t *s, void *p, size_t bytes);
size_t chm_spares_reuse(chm_spares_t *s, void *p, size_t bytes);
size_t chm_spares_bytes(chm_spares_t *s);
void chm_spares_release(chm_spares_t *s);
#ifdef CHM_FAULT_INJECTION
void chm_test_fail_allocs(long after, long count);
long chm_test_allocs_failed(void);
typedef void chm_test_alloc_hook_fn(size_t size);
void chm_test_alloc_hook(chm_test_alloc_hook_fn *fn);
#endif

/* ---- epochs (chm_epoch.c) --------------------------------------------- */
/* Hand an object to the epoch: fn(e) runs after a grace period, in some
 * thread of this map.  The caller must have made the object unreachable
 * from the map's roots before calling (see each SAFETY comment). */
void chm_retire(chm_thread_t *t, ck_epoch_entry_t *e, ck_epoch_cb_t *fn);
/* The map whose garbage the calling thread is dispatching right now (the
 * callbacks of chm_retire run only inside libchm's own dispatch calls). */
chm_t *chm_dispatching_map(void);
/* The handle whose record is being dispatched: the thread that retired the
 * objects whose callbacks run now. */
chm_thread_t *chm_dispatching_owner(void);
/* Count one object freed by a callback. */
void chm_note_reclaimed(void);
/* Count n more objects retired by t (chm_retire counts one; a callback that
 * frees several objects, e.g. a whole tree bin, counts the rest here, so
 * retired and reclaimed stay comparable). */
void chm_note_retired(chm_thread_t *t, uint64_t n);
/* Epoch sections inside libchm.  Operations pin for their whole length;
 * a pin inside a pinned stretch (a chmstress batch, an iterator, a compute
 * callback) only counts, and that count is inlined here.  The outermost
 * begin and end (ck_epoch_begin/end, polling) are in chm_epoch.c.  No
 * handle check: the public entry points made it. */
void chm_section_begin(chm_thread_t *t);
void chm_section_end(chm_thread_t *t);

static inline void chm_pin_in(chm_thread_t *t)
{
    if (t->depth++ == 0)
        chm_section_begin(t);
}

static inline void chm_unpin_in(chm_thread_t *t)
{
    if (--t->depth == 0)
        chm_section_end(t);
}

/* chm_free only: run every pending callback; free all thread records. */
void chm_epoch_reclaim_all(chm_t *m);
void chm_epoch_free_threads(chm_t *m);

/* Retire helpers for nodes (chm_node.c): */
chm_node_t *chm_node_new(uint64_t hash, uintptr_t key, uintptr_t val,
                         chm_node_t *next);
/* Free now: only for nodes never published, or at chm_free. */
void chm_node_free_now(const chm_t *m, chm_node_t *n, bool with_contents);
/* A removed entry: frees node, key and value after a grace period. */
void chm_retire_entry(chm_thread_t *t, chm_node_t *n);
/* A node whose key/value moved to a copy: frees only the node. */
void chm_retire_shell(chm_thread_t *t, chm_node_t *n);
/* A replaced value (no-op when the map has no val_free).  Needs a small
 * allocation, made by chm_value_retirer_new() before the value is swapped
 * so that ENOMEM can still leave the map unchanged. */
typedef struct chm_value_retirer chm_value_retirer_t;
int chm_value_retirer_new(chm_t *m, chm_value_retirer_t **out);
void chm_value_retire(chm_thread_t *t, chm_value_retirer_t *r, uintptr_t val);
void chm_value_retirer_drop(chm_value_retirer_t *r);

/* ---- buckets (chm_bucket.c) ------------------------------------------- */
static inline chm_bucket_t *chm_bin_bucket(chm_table_t *tab, size_t i);
/* The slot of bucket b holding key (hash h), or -1.  Lock-free: the caller
 * is pinned and loaded b as its bin's head. */
static inline int chm_bucket_find(const chm_t *m, chm_bucket_t *b,
                                  uint64_t h, uintptr_t key);
/* Take bucket b to head its bin, holding the entry (h, key, val) in a
 * slot and `next` as the rest of the list.  False when b heads its bin
 * already, or still waits for the grace period of an earlier use, or has
 * no free slot (both wait for theirs).  On
 * true the caller publishes b as the bin's head - by CAS into the empty
 * bin, or by a store under the lock of the head it replaces - or, if it
 * cannot, gives it back with chm_bucket_unclaim. */
bool chm_bucket_claim(chm_bucket_t *b, uint64_t h, uintptr_t key,
                      uintptr_t val, chm_node_t *next);
/* Undo chm_bucket_claim of a bucket that was never published. */
void chm_bucket_unclaim(chm_bucket_t *b);
/* Under the lock of b, the head of its bin: put (h, key, val) in a free
 * slot.  False when no slot is free. */
bool chm_bucket_add(chm_bucket_t *b, uint64_t h, uintptr_t key,
                    uintptr_t val);
/* Under the lock of b (tab's, heading its bin): remove the entry of slot
 * s.  Readers may still see it until a grace period has passed; then its
 * key and value are freed and the slot can take a new entry.  Never fails:
 * without memory for its record the slot stays in use for the table's
 * life and its key and value are freed with the table. */
void chm_bucket_remove(chm_thread_t *t, chm_table_t *tab, chm_bucket_t *b,
                       unsigned s);
/* Under the lock of b: b no longer heads its bin (the caller stored the
 * new head).  Its live entries now live elsewhere (entries == false: a
 * tree or list copy holds them) or were removed (entries == true: keys
 * and values are freed after the grace period).  b can head its bin again
 * after a grace period.  Never fails, as chm_bucket_remove. */
void chm_bucket_release(chm_thread_t *t, chm_table_t *tab, chm_bucket_t *b,
                        bool entries);
/* The full hash of slot s's key (tags keep only 32 bits). */
uint64_t chm_bucket_hash(const chm_t *m, const chm_bucket_t *b, unsigned s);
/* Hand the thread's open batch of records to the epoch (chm_epoch.c, on
 * unpin polls and leave). */
void chm_bucket_flush(chm_thread_t *t);
/* chm_free only: free the keys and values of b's live slots. */
void chm_bucket_free_now(const chm_t *m, chm_bucket_t *b);
/* A table nobody can reach any more (its last reference, or chm_free):
 * free the keys and values of its orphan slots. */
void chm_bucket_free_orphans(chm_table_t *tab);

static inline chm_bucket_t *chm_bin_bucket(chm_table_t *tab, size_t i)
{
    return &tab->bins[i].bucket;
}

static inline int chm_bucket_find(const chm_t *m, chm_bucket_t *b,
                                  uint64_t h, uintptr_t key)
{
    /* acquire: pairs with the release that made each slot live, so its
     * tag and key (plain fields) are visible.  A live slot's tag and key
     * do not change until a grace period after it stops being live
     * (chm_bucket.c), which our pin holds off. */
    unsigned live = atomic_load_explicit(&b->h.live, memory_order_acquire);
    for (unsigned s = 0; s < CHM_BUCKET_SLOTS; s++)
        if ((live >> s & 1u) != 0 && b->tag[s] == (uint32_t)h &&
            chm_key_eq(m, b->slot[s].key, key))
            return (int)s;
    return -1;
}

/* ---- striped counter (chm_counter.c) ---------------------------------- */
void chm_counter_add(chm_thread_t *t, int64_t delta);
int64_t chm_counter_sum(chm_t *m);

/* ---- tables and resize (chm_transfer.c) ------------------------------- */
chm_table_t *chm_table_new(chm_t *m, size_t n);
void chm_table_free_now(chm_table_t *t);
/* Drop one reference (see chm_table_t.refs); frees the table on the last. */
void chm_table_unref(chm_table_t *t);
/* Retire a table that is no longer m->table (after a resize). */
void chm_table_retire(chm_thread_t *t, chm_table_t *tab);
/* After an insert: count it, and start or help a resize when the count
 * passed sizeCtl.  check < 0: a removal (never resizes); check is the
 * bin's length before the insert (Java's binCount). */
void chm_add_count(chm_thread_t *t, int64_t delta, long check);
/* Help the resize that moved `tab`'s bin; returns the table to retry in. */
chm_table_t *chm_help_transfer(chm_thread_t *t, chm_table_t *tab,
                               chm_head_t *fwd);
/* Grow so `size` entries fit (Java's tryPresize).  CHM_OK or CHM_ENOMEM. */
int chm_try_presize(chm_thread_t *t, size_t size);
/* A list bin reached TREEIFY_THRESHOLD: grow small tables, else make the
 * bin a tree.  Called without locks held. */
void chm_treeify_bin(chm_thread_t *t, chm_table_t *tab, size_t index);

static inline size_t chm_bin_index(uint64_t h, size_t n)
{
    return (size_t)h & (n - 1);
}

/* ---- tree bins (chm_tree.c) ------------------------------------------- */
/* Lock-free lookup in a tree bin: never blocks (walks the list while a
 * writer holds the tree).  The caller is pinned. */
chm_node_t *chm_tree_find(const chm_t *m, chm_treebin_t *b, uint64_t h,
                          uintptr_t key);
/* A new tree bin holding copies of the entries of the list `first`
 * (plain nodes or tree nodes, linked by next); keys and values are shared
 * with the originals, which the caller retires as shells.  NULL on ENOMEM
 * (nothing allocated). */
chm_treebin_t *chm_tree_build(const chm_t *m, chm_head_t *first);
/* With the bin lock held: the node holding key, or a new node holding
 * (key, val) inserted into the tree (*inserted = true).  NULL on ENOMEM. */
chm_node_t *chm_tree_put(const chm_t *m, chm_treebin_t *b, uint64_t h,
                         uintptr_t key, uintptr_t val, bool *inserted);
/* With the bin lock held: unlink p (found by chm_tree_find) from list and
 * tree.  The caller retires p. */
void chm_tree_remove(chm_treebin_t *b, chm_treenode_t *p);
/* Plain-list copies of the tree's entries (for untreeify); NULL on ENOMEM
 * or for an empty tree: check b->count. */
chm_node_t *chm_tree_to_list(const chm_t *m, const chm_treebin_t *b);
/* Transfer of a tree bin to a table of 2n bins (bin lock held): the entries
 * with (hash & n) == 0 go to *lo, the others to *hi.  Each side is NULL (no
 * entries), a plain list of copies (<= UNTREEIFY_THRESHOLD entries), a new
 * tree bin of copies, or b itself when every entry goes to that side (then
 * the other side is NULL and b is not retired).  CHM_OK or CHM_ENOMEM
 * (nothing allocated).  The caller retires b as a shell unless reused. */
int chm_tree_split(const chm_t *m, chm_treebin_t *b, size_t n,
                   chm_node_t **lo, chm_node_t **hi);
/* Free a tree bin and its tree nodes; with_contents also frees their keys
 * and values (chm_free, clear).  Only when no thread can reach it. */
void chm_tree_free_now(chm_t *m, chm_treebin_t *b, bool with_contents);
/* Retire a whole tree bin whose entries were copied elsewhere. */
void chm_tree_retire_shell(chm_thread_t *t, chm_treebin_t *b);

/* ---- misuse checks ----------------------------------------------------- */
#ifdef NDEBUG
#define CHM_CHECK(cond, what) ((void)0)
#else
_Noreturn void chm_misuse(const char *what, const char *func);
#define CHM_CHECK(cond, what) \
    do { if (!(cond)) chm_misuse((what), __func__); } while (0)
#endif

/* Every public call that takes a handle checks it before using it. */
#define CHM_CHECK_THREAD(t) \
    CHM_CHECK((t) != NULL && (t)->magic == CHM_THREAD_MAGIC && (t)->joined, \
              "not a joined thread handle")

/* Compute recursion guard (chm_map.c): true if the calling OS thread is
 * inside a compute callback on map m. */
bool chm_in_compute(const chm_t *m);

#include "chm_hash.h"

#endif /* CHM_INTERNAL_H */
