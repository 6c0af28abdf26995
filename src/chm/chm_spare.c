/*
 * chm_spare.c - memory of a map's freed tables, kept to build its next one.
 *
 * A growing map allocates a table twice the size of the current one, then
 * frees the old one after the transfer.  Memory fresh from the kernel is
 * not free: every page is faulted in and zeroed on first touch, and in a
 * virtual machine whose host reclaims the pages a guest frees (free page
 * reporting), each 4 KiB page of it costs a fault in the host as well.
 * Measured on the 2-vCPU VM this project runs on: touching 128 MiB that
 * were never used (or were freed more than a second or two earlier) took
 * 190-260 ms, touching 128 MiB freed just before 8 ms.  A map growing from
 * 2^20 to 2^21 bins spent most of its 230 ms transfer in those faults.
 *
 * So a mapped table's memory, once no thread can reach it, is not unmapped:
 * it is kept here (a spare), and the next table this map allocates has
 * spares moved into it with mremap (page table entries move; no byte is
 * copied) and cleared with memset, which on memory already in place costs a
 * few ms per 32 MiB.  The rest of the new table is fresh as before.
 *
 * How much this saves: when table k+1 (2S bytes) is allocated, table k (S)
 * is still being transferred from, and the spares are at most table k-1
 * (S/2; the tables before it were moved into table k).  About a quarter of
 * each new table is recycled, in a map that only grows.  On a machine where
 * a fault costs no more than zeroing its page, moving and clearing costs
 * about what the fault would have: nothing is lost there.
 *
 * A spare is marked MADV_FREE: until it is reused, the kernel may take its
 * pages back under memory pressure (a reused page that was taken comes
 * back zero-filled, and is cleared anyway), so a map that stopped growing
 * does not hold its last freed table for nothing.  chm_free unmaps the
 * spares.  At most CHM_MAX_SPARES are kept; more are unmapped.
 *
 * Concurrency: spares are kept by whichever thread frees a table (the last
 * reference dropped, often in an epoch callback) and taken by the thread
 * that has claimed the next resize, after its claim (a table that loses
 * the race to claim is unmapped, never kept: chm_transfer.c), so the list
 * is under a mutex.  Both are
 * once-per-resize events; no operation on a bin touches this.
 */
#include <string.h>
#include <sys/mman.h>

#include "chm_internal.h"

void chm_spares_init(chm_spares_t *s)
{
    pthread_mutex_init(&s->lock, NULL);
    s->n = 0;
    atomic_init(&s->recycled, 0);
}

bool chm_spares_keep(chm_spares_t *s, void *p, size_t bytes)
{
    /* SAFETY: the caller frees this table: no thread can reach it (the
     * same argument that would have let it unmap the memory), so nothing
     * reads the pages we mark free or later move away. */
#ifdef MADV_FREE
    (void)madvise(p, bytes, MADV_FREE);
#endif
    bool kept = false;
    pthread_mutex_lock(&s->lock);
    if (s->n < CHM_MAX_SPARES) {
        s->r[s->n].p = p;
        s->r[s->n].bytes = bytes;
        s->n++;
        kept = true;
    }
    pthread_mutex_unlock(&s->lock);
    return kept;
}

/* The largest spare of at most `room` bytes, removed from the list; false
 * when none fits.  Called with s->lock held. */
static bool chm_spares_take(chm_spares_t *s, size_t room, chm_spare_t *out)
{
    unsigned best = CHM_MAX_SPARES;
    for (unsigned i = 0; i < s->n; i++)
        if (s->r[i].bytes <= room &&
            (best == CHM_MAX_SPARES || s->r[i].bytes > s->r[best].bytes))
            best = i;
    if (best == CHM_MAX_SPARES)
        return false;
    *out = s->r[best];
    s->r[best] = s->r[--s->n];
    return true;
}

size_t chm_spares_reuse(chm_spares_t *s, void *p, size_t bytes)
{
    char *dst = p;
    size_t off = 0;
    chm_spare_t sp;
    pthread_mutex_lock(&s->lock);
    while (chm_spares_take(s, bytes - off, &sp)) {
        /* Spares and tables are whole huge pages, huge-page aligned, so a
         * move keeps huge pages whole.  MREMAP_FIXED unmaps the fresh,
         * never-touched pages that were at the destination.  SAFETY: the
         * spare is reachable by no thread (chm_spares_keep); the
         * destination belongs to a table not yet published. */
        if (mremap(sp.p, sp.bytes, sp.bytes, MREMAP_MAYMOVE | MREMAP_FIXED,
                   dst + off) == MAP_FAILED) {
            (void)munmap(sp.p, sp.bytes);
            continue;
        }
        memset(dst + off, 0, sp.bytes); /* stale bins; also undoes MADV_FREE */
        off += sp.bytes;
    }
    pthread_mutex_unlock(&s->lock);
    if (off > 0)
        /* relaxed: a statistic */
        atomic_fetch_add_explicit(&s->recycled, off, memory_order_relaxed);
    return off;
}

size_t chm_spares_bytes(chm_spares_t *s)
{
    size_t bytes = 0;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->n; i++)
        bytes += s->r[i].bytes;
    pthread_mutex_unlock(&s->lock);
    return bytes;
}

void chm_spares_release(chm_spares_t *s)
{
    /* chm_free only: no other thread uses the map. */
    for (unsigned i = 0; i < s->n; i++)
        (void)munmap(s->r[i].p, s->r[i].bytes);
    s->n = 0;
    pthread_mutex_destroy(&s->lock);
}
