/*
 * chm.h - libchm: a concurrent hash map in the design of Java's
 * ConcurrentHashMap, made memory-safe without a garbage collector by
 * epoch-based reclamation (Concurrency Kit's ck_epoch).
 *
 * Threads.  Every thread that touches a map first registers with
 * chm_thread_join() and uses the returned handle for every call; a handle is
 * owned by one thread at a time.  chm_thread_leave() gives it back.
 *
 * Epoch sections.  Every operation opens (pins) an epoch section for its own
 * duration; sections nest.  A caller may pin explicitly around a batch of
 * operations to pay the pin cost once, and to keep values it has read alive:
 * a value returned through an *_out pointer stays valid (not freed by
 * val_free) until the caller's outermost section closes - the chm_unpin()
 * that balances its chm_pin(), or the end of the call when it did not pin.
 *
 * Ownership.  The map owns the keys and values it stores.  It calls
 * type->key_free / type->val_free exactly once for every key and value it
 * retires (a value replaced, an entry removed or cleared), only after a grace
 * period, and for every remaining entry in chm_free().  A key or value the
 * map did not store (put on a key already present keeps the stored key;
 * put_if_absent on a present key; any call that returns an error) stays the
 * caller's.
 *
 * Concurrency.  Every function except chm_new/chm_free may be called from
 * any number of registered threads at once.  get is lock-free and never
 * blocks; updates lock one bin at most (never the whole map); resizes are
 * shared by the threads that run into them.  chm_size() and traversal are
 * weakly consistent, as in Java.
 *
 * Return codes.  CHM_OK means the operation took effect; the other codes say
 * why it did not (and then the map is unchanged).
 */
#ifndef CHM_H
#define CHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHM_VERSION "0.1.0"

typedef enum chm_status {
    CHM_OK = 0,        /* took effect (see each function for what it did) */
    CHM_NOT_FOUND = 1, /* the key is absent */
    CHM_EXISTS = 2,    /* the key is present (put: the value was replaced) */
    CHM_MISMATCH = 3,  /* present, but its value is not the expected one */
    CHM_ENOMEM = -1,   /* an allocation failed; the map is unchanged */
    CHM_EBUSY = -2,    /* an update from inside a compute callback on the
                          same map: refused, the map is unchanged */
} chm_status;

typedef struct chm chm_t;
typedef struct chm_thread chm_thread_t;

/* How keys are hashed, compared and freed.  A NULL chm_type, or NULL members,
 * mean: keys are 64-bit integers (hashed by a seeded XXH3), equal when ==,
 * ordered numerically; nothing is freed. */
typedef struct chm_type {
    /* hash of a key; seed is the map's random per-map seed: mix it in */
    uint64_t (*hash)(uintptr_t key, uint64_t seed);
    /* key equality; NULL: a == b */
    bool (*eq)(uintptr_t a, uintptr_t b);
    /* optional total order consistent with eq; orders tree bins.  Without it
     * tree bins still work (lookups of colliding hashes search both sides). */
    int (*cmp)(uintptr_t a, uintptr_t b);
    /* called once per retired key / value, after a grace period */
    void (*key_free)(uintptr_t key);
    void (*val_free)(uintptr_t val);
} chm_type;

/* Create a map sized for initial_capacity entries without a resize (0: the
 * default, 16).  `type` is copied; NULL means integer keys.  The hash seed is
 * drawn at random per map.  Returns NULL on ENOMEM. */
chm_t *chm_new(const chm_type *type, size_t initial_capacity);

/* Destroy the map: frees every entry (key_free/val_free), all pending
 * garbage, tables and thread records.  No thread may still be joined: not
 * thread-safe with anything else on the map. */
void chm_free(chm_t *m);

/* Register the calling thread; reuses a record a departed thread left.
 * Returns NULL on ENOMEM.  Thread-safe. */
chm_thread_t *chm_thread_join(chm_t *m);

/* Unregister: waits for one grace period so the garbage this thread retired
 * is freed, then gives the record back for reuse.  The thread must not be
 * pinned.  The handle is invalid afterwards. */
void chm_thread_leave(chm_thread_t *t);

/* Open an epoch section (nests).  Every operation pins itself; pin around a
 * batch to pay for it once and to keep returned values alive until the
 * matching chm_unpin.  Keep sections short: garbage of all threads waits for
 * the oldest open section.  Must not be held across chm_thread_leave. */
void chm_pin(chm_thread_t *t);
/* Close the section opened by the matching chm_pin.  Closing the outermost
 * section may free garbage whose grace period has passed. */
void chm_unpin(chm_thread_t *t);

/* Lock-free lookup.  Returns true and stores the value (if val_out) when the
 * key is present. */
bool chm_get(chm_thread_t *t, uintptr_t key, uintptr_t *val_out);

/* Insert or replace.  CHM_OK: inserted (the key was absent).  CHM_EXISTS: the
 * value was replaced and the previous one stored in *old_out (retired by the
 * map: valid until the section closes).  CHM_ENOMEM, CHM_EBUSY. */
int chm_put(chm_thread_t *t, uintptr_t key, uintptr_t val, uintptr_t *old_out);

/* Insert only if absent.  CHM_OK: inserted.  CHM_EXISTS: present; the current
 * value is stored in *cur_out and the map keeps its own key and value.
 * CHM_ENOMEM, CHM_EBUSY. */
int chm_put_if_absent(chm_thread_t *t, uintptr_t key, uintptr_t val,
                      uintptr_t *cur_out);

/* Replace only if present.  CHM_OK: replaced, previous in *old_out.
 * CHM_NOT_FOUND: absent (nothing stored).  CHM_ENOMEM, CHM_EBUSY. */
int chm_replace(chm_thread_t *t, uintptr_t key, uintptr_t val,
                uintptr_t *old_out);

/* Replace only if the current value == expect (values compare as words).
 * CHM_OK, CHM_NOT_FOUND, CHM_MISMATCH, CHM_ENOMEM, CHM_EBUSY. */
int chm_replace_if(chm_thread_t *t, uintptr_t key, uintptr_t expect,
                   uintptr_t val);

/* Remove.  CHM_OK: removed, its value in *old_out (retired: valid until the
 * section closes).  CHM_NOT_FOUND.  CHM_EBUSY.  Never CHM_ENOMEM: removal
 * from a small tree bin that cannot allocate its list form keeps the tree. */
int chm_remove(chm_thread_t *t, uintptr_t key, uintptr_t *old_out);

/* Remove only if the current value == expect.  CHM_OK, CHM_NOT_FOUND,
 * CHM_MISMATCH, CHM_EBUSY. */
int chm_remove_if(chm_thread_t *t, uintptr_t key, uintptr_t expect);

/* What a compute callback decides. */
typedef enum chm_compute_action {
    CHM_COMPUTE_KEEP,   /* leave the key as it is (absent stays absent) */
    CHM_COMPUTE_SET,    /* store *new_val (insert if absent) */
    CHM_COMPUTE_REMOVE, /* remove the key if present */
} chm_compute_action;

/* Called with the key's bin locked: `present` and `cur` are the key's state
 * at that instant and nobody can change it until the callback returns.  It
 * must be short, must not block on other threads that use the map, and must
 * not update this map (such updates return CHM_EBUSY; reads are fine). */
typedef chm_compute_action (*chm_compute_fn)(void *ctx, uintptr_t key,
                                             bool present, uintptr_t cur,
                                             uintptr_t *new_val);

/* Atomic read-modify-write of one key: covers computeIfAbsent,
 * computeIfPresent, compute and merge.  Returns CHM_OK when the key is present
 * afterwards (its value in *out), CHM_NOT_FOUND when absent afterwards;
 * CHM_ENOMEM (nothing changed, the callback may or may not have run),
 * CHM_EBUSY (called from inside a compute callback on this map).  A value
 * replaced or removed is retired by the map. */
int chm_compute(chm_thread_t *t, uintptr_t key, chm_compute_fn fn, void *ctx,
                uintptr_t *out);

/* Number of entries: the sum of the striped counter cells; exact when no
 * update is in flight, never negative.  Thread-safe, needs no handle. */
size_t chm_size(chm_t *m);

/* Grow now (cooperatively, helping any resize in flight) so that n entries
 * fit without a further resize.  CHM_OK, CHM_ENOMEM (no table could be
 * allocated; the map is unchanged), CHM_EBUSY. */
int chm_reserve(chm_thread_t *t, size_t n);

/* Remove every entry (bin by bin: concurrent inserts may survive, as in
 * Java).  Entries are retired through the epoch.  CHM_OK, or CHM_EBUSY from
 * inside a compute callback on this map. */
int chm_clear(chm_thread_t *t);

/* Weakly consistent traversal, as Java's Traverser: safe during concurrent
 * updates and resizes; every key present and not updated for the whole
 * traversal is returned exactly once; others may or may not be.  The
 * iterator pins the thread from init until chm_iter_next returns false or
 * chm_iter_finish is called: keys and values returned are valid until then. */
typedef struct chm_iter {
    chm_thread_t *thread;
    void *tab;          /* table being walked (struct chm_table *) */
    void *next;         /* where in the current bin it stands */
    unsigned slot;      /* and at which of its entries (chm_iter.c) */
    size_t index, base_index, base_limit, base_size;
    struct {
        void *tab;
        size_t length, index;
    } stack[64];        /* tables entered through forwarding nodes */
    int sp;
    bool active;
} chm_iter;

void chm_iter_init(chm_iter *it, chm_thread_t *t);
/* Next entry; false at the end (and the iterator unpins itself). */
bool chm_iter_next(chm_iter *it, uintptr_t *key, uintptr_t *val);
/* Stop early: unpins.  Harmless after the end. */
void chm_iter_finish(chm_iter *it);

typedef struct chm_stats {
    size_t size;                /* chm_size() */
    size_t table_size;          /* bins in the current table */
    uint64_t resizes;           /* completed table transfers */
    uint64_t bins_transferred;  /* bins moved to a new table, by anyone */
    uint64_t bins_helped;       /* of those, moved by threads that joined a
                                   resize another thread started */
    uint64_t treeifications;    /* bins turned into tree bins */
    uint64_t untreeifications;  /* tree bins turned back into lists */
    size_t tree_bins;           /* tree bins in the current table (approx.) */
    uint64_t retired;           /* objects handed to the epoch */
    uint64_t reclaimed;         /* of those, freed */
    uint64_t pending_garbage;   /* retired - reclaimed */
    unsigned threads;           /* handles currently joined */
    uint64_t table_bytes_recycled; /* bytes of freed tables that new tables
                                      reused instead of fresh memory */
    size_t table_bytes_spare;   /* bytes of freed tables kept for the next
                                   table (MADV_FREE: the kernel may take
                                   them back under memory pressure) */
} chm_stats_t;

/* Snapshot of the counters (each read atomically, not all at one instant). */
void chm_stats(chm_t *m, chm_stats_t *out);

/* Human-readable name of a status code. */
const char *chm_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif /* CHM_H */
