/*
 * chm_epoch.c - libchm's use of ck_epoch: thread records, epoch sections
 * (pin/unpin), retirement and reclamation.
 *
 * The rule every other file relies on:
 *
 *   An object handed to chm_retire() after it was made unreachable from the
 *   map is freed only after every thread that was inside an epoch section
 *   when chm_retire() ran has left that section.
 *
 * Every lock-free reader (get, traversal, a writer walking a bin) runs inside
 * a section, so a pointer it loaded from the map stays valid until it unpins,
 * even if the object is unlinked and retired meanwhile.
 *
 * Two details of Debian's ck 0.7.1 shape this file:
 *
 *  1. ck_epoch_call() files an object under the global epoch it reads, with
 *     no fence before that read.  On x86 a load may pass an earlier store, so
 *     the epoch can be read before the store that unlinked the object is
 *     visible to other cores; 0.7.1's ck_epoch_poll() may then free the
 *     object while a reader that began in the next epoch still sees it.
 *     (Upstream later changed poll for this reason.)  chm_retire() therefore
 *     issues a full fence (seq_cst) between the unlink and ck_epoch_call():
 *     the epoch it files under is read after the unlink is globally visible.
 *
 *  2. ck_epoch_poll() may advance the caller's own record; calling it inside
 *     a section could let objects the caller still holds be freed.  We poll
 *     only when the outermost section closes (chm_unpin), never inside one.
 *
 * Reclamation is polled every CHM_POLL_EVERY retirements, so garbage stays
 * bounded under sustained updates as long as sections are short.  Leaving
 * waits for a grace period (ck_epoch_barrier) and runs the thread's pending
 * frees, because ck_epoch_unregister() drops a record's pending list.
 *
 * Callbacks need the map (for key_free/val_free) but ck passes them only the
 * entry.  Callbacks run only inside the three calls that dispatch (poll on
 * unpin, barrier on leave, reclaim in chm_free), all made here, so a
 * thread-local "dispatching map" tells them.
 *
 * ThreadSanitizer cannot see ck's inline assembly, so it cannot see that a
 * grace period orders a reader's last access before the free.  Under TSan we
 * model exactly that: each outermost unpin is a release on the map's epoch
 * object, and each callback starts with an acquire on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chm_internal.h"

#if defined(__SANITIZE_THREAD__)
#define CHM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHM_TSAN 1
#endif
#endif

#ifdef CHM_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define CHM_TSAN_ACQUIRE(p) __tsan_acquire(p)
#define CHM_TSAN_RELEASE(p) __tsan_release(p)
#else
#define CHM_TSAN_ACQUIRE(p) ((void)(p))
#define CHM_TSAN_RELEASE(p) ((void)(p))
#endif

#define CHM_POLL_EVERY 64

/* Who is dispatching callbacks on this OS thread right now (nests if a
 * user's free callback itself uses another map). */
static _Thread_local chm_t *chm_cur_map;
static _Thread_local chm_thread_t *chm_cur_thread;
static _Thread_local chm_thread_t *chm_cur_owner;

chm_t *chm_dispatching_map(void)
{
    CHM_CHECK(chm_cur_map != NULL, "epoch callback outside a dispatch");
    /* SAFETY (TSan model): the grace period that let this callback run
     * ordered every reader's accesses before this point; see the top. */
    CHM_TSAN_ACQUIRE(&chm_cur_map->epoch);
    return chm_cur_map;
}

chm_thread_t *chm_dispatching_owner(void)
{
    CHM_CHECK(chm_cur_owner != NULL, "epoch callback outside a dispatch");
    return chm_cur_owner;
}

void chm_note_reclaimed(void)
{
    if (chm_cur_thread != NULL) {
        /* relaxed: a statistic; only this thread writes its counter. */
        uint64_t v = atomic_load_explicit(&chm_cur_thread->reclaimed,
                                          memory_order_relaxed);
        atomic_store_explicit(&chm_cur_thread->reclaimed, v + 1,
                              memory_order_relaxed);
    } else if (chm_cur_map != NULL) {
        atomic_fetch_add_explicit(&chm_cur_map->reclaimed_at_free, 1,
                                  memory_order_relaxed);
    }
}

/* thread: whose reclaimed statistic counts the callbacks (NULL: the
 * map's, in chm_free); owner: whose record is dispatched. */
typedef struct {
    chm_t *map;
    chm_thread_t *thread, *owner;
} chm_dispatch_ctx;

static chm_dispatch_ctx chm_dispatch_enter(chm_t *m, chm_thread_t *t,
                                           chm_thread_t *owner)
{
    chm_dispatch_ctx saved = { chm_cur_map, chm_cur_thread, chm_cur_owner };
    chm_cur_map = m;
    chm_cur_thread = t;
    chm_cur_owner = owner;
    return saved;
}

static void chm_dispatch_leave(chm_dispatch_ctx saved)
{
    chm_cur_map = saved.map;
    chm_cur_thread = saved.thread;
    chm_cur_owner = saved.owner;
}

#ifndef NDEBUG
_Noreturn void chm_misuse(const char *what, const char *func)
{
    fprintf(stderr, "libchm: misuse in %s: %s\n", func, what);
    abort();
}
#endif

static chm_thread_t *chm_thread_from_record(ck_epoch_record_t *r)
{
    return (chm_thread_t *)((char *)r - offsetof(chm_thread_t, rec));
}

static chm_thread_t *chm_thread_alloc(chm_t *m)
{
    chm_thread_t *t = chm_alloc_aligned(CHM_CACHELINE, sizeof *t);
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof *t);
    atomic_init(&t->retired, 0);
    atomic_init(&t->reclaimed, 0);
    atomic_init(&t->bins_transferred, 0);
    atomic_init(&t->bins_helped, 0);
    ck_epoch_register(&m->epoch, &t->rec, t);
    t->all_next = m->threads;
    m->threads = t;
    return t;
}

chm_thread_t *chm_thread_join(chm_t *m)
{
    CHM_CHECK(m != NULL, "NULL map");
    pthread_mutex_lock(&m->threads_lock);
    chm_thread_t *t;
    ck_epoch_record_t *r = ck_epoch_recycle(&m->epoch, NULL);
    if (r != NULL)
        t = chm_thread_from_record(r);
    else
        t = chm_thread_alloc(m);
    if (t != NULL) {
        t->map = m;
        t->magic = CHM_THREAD_MAGIC;
        t->depth = 0;
        t->since_poll = 0;
        t->joined = true;
        t->cell = m->joined_ever++ & (m->ncells - 1);
        m->joined++;
    }
    pthread_mutex_unlock(&m->threads_lock);
    return t;
}

void chm_thread_leave(chm_thread_t *t)
{
    CHM_CHECK_THREAD(t);
    CHM_CHECK(t->depth == 0, "leaving while pinned");
    chm_t *m = t->map;
    chm_bucket_flush(t);
    /* Run this record's pending frees: unregister would drop them.  The
     * barrier waits for a grace period first, so they are all safe. */
    chm_dispatch_ctx saved = chm_dispatch_enter(m, t, t);
    ck_epoch_barrier(&t->rec);
    chm_dispatch_leave(saved);

    pthread_mutex_lock(&m->threads_lock);
    t->joined = false;
    t->magic = 0;
    m->joined--;
    ck_epoch_unregister(&t->rec);
    pthread_mutex_unlock(&m->threads_lock);
}

/* The outermost pin (chm_pin_in counted 0 -> 1). */
void chm_section_begin(chm_thread_t *t)
{
    /* ck_epoch_begin publishes "active" with a full fence before it reads
     * the global epoch, so every later load of a shared pointer in this
     * section is ordered after we became visible as active. */
    ck_epoch_begin(&t->rec, NULL);
}

static void chm_poll(chm_thread_t *t)
{
    /* Records of freed bucket slots go to the epoch now, so their slots
     * come back after the next grace periods (chm_bucket.c). */
    chm_bucket_flush(t);
    chm_dispatch_ctx saved = chm_dispatch_enter(t->map, t, t);
    ck_epoch_poll(&t->rec);
    chm_dispatch_leave(saved);
    t->since_poll = 0;
}

/* The outermost unpin (chm_unpin_in counted 1 -> 0). */
void chm_section_end(chm_thread_t *t)
{
    /* ck_epoch_end fences (release) before clearing "active": every access
     * this section made is ordered before a poller can see us inactive. */
    CHM_TSAN_RELEASE(&t->map->epoch);
    ck_epoch_end(&t->rec, NULL);
    if (t->since_poll >= CHM_POLL_EVERY)
        chm_poll(t);
}

void chm_pin(chm_thread_t *t)
{
    CHM_CHECK_THREAD(t);
    chm_pin_in(t);
}

void chm_unpin(chm_thread_t *t)
{
    CHM_CHECK_THREAD(t);
    CHM_CHECK(t->depth > 0, "unpin without pin");
    chm_unpin_in(t);
}

void chm_retire(chm_thread_t *t, ck_epoch_entry_t *e, ck_epoch_cb_t *fn)
{
#ifdef CHM_MUTANT_FREE_NO_GRACE
    /* MUTANT free_no_grace: free the object now, not after a grace period. */
    {
        chm_dispatch_ctx saved = chm_dispatch_enter(t->map, t, t);
        chm_note_retired(t, 1);
        fn(e);
        chm_dispatch_leave(saved);
        return;
    }
#endif
    /* seq_cst fence: the store that unlinked the object must be globally
     * visible before ck_epoch_call reads the epoch it files the object
     * under (point 1 of the top comment). */
    atomic_thread_fence(memory_order_seq_cst);
    ck_epoch_call(&t->rec, e, fn);
    t->since_poll++;
    chm_note_retired(t, 1);
}

void chm_note_retired(chm_thread_t *t, uint64_t n)
{
    /* relaxed: a statistic read by chm_stats; only this thread writes. */
    uint64_t v = atomic_load_explicit(&t->retired, memory_order_relaxed);
    atomic_store_explicit(&t->retired, v + n, memory_order_relaxed);
}

/* chm_free: no thread is joined, so every pending object is unreachable by
 * anyone: run them all. */
void chm_epoch_reclaim_all(chm_t *m)
{
    for (chm_thread_t *t = m->threads; t != NULL; t = t->all_next) {
        chm_dispatch_ctx saved = chm_dispatch_enter(m, NULL, t);
        ck_epoch_reclaim(&t->rec);
        chm_dispatch_leave(saved);
    }
}

void chm_epoch_free_threads(chm_t *m)
{
    chm_thread_t *t = m->threads;
    while (t != NULL) {
        chm_thread_t *next = t->all_next;
        chm_dealloc(t);
        t = next;
    }
    m->threads = NULL;
}
