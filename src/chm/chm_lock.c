/*
 * chm_lock.c - the bin lock: a three-state futex mutex (Drepper, "Futexes
 * Are Tricky", mutex 2).  state: 0 free, 1 locked, 2 locked and someone may
 * be sleeping.  Java uses the head node's monitor; we need something as
 * small (4 bytes, one in every node) that does not burn a core while the
 * holder is preempted - the tests run more threads than the 2 cores.
 *
 * Ordering: taking the lock is an acquire RMW and releasing is a release
 * RMW, so everything written under the lock happens-before whatever the next
 * holder reads.  The futex calls carry no ordering of their own; the
 * exchange that follows each wake-up re-establishes it.
 */
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chm_internal.h"

#define CHM_LOCK_SPINS 64

static void chm_futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void chm_futex_wake_one(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void chm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void chm_lock_acquire(chm_lock_t *l)
{
    uint32_t c = 0;
    /* acquire on success: see the file comment.  relaxed on failure: we
     * learn only that the lock is taken. */
    if (atomic_compare_exchange_strong_explicit(&l->state, &c, 1,
            memory_order_acquire, memory_order_relaxed))
        return;
    /* Short spin: bin critical sections are a few dozen instructions. */
    for (int i = 0; i < CHM_LOCK_SPINS; i++) {
        chm_cpu_relax();
        c = 0;
        if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->state, &c, 1,
                memory_order_acquire, memory_order_relaxed))
            return;
    }
    /* Sleep: mark the lock contended (2) so the holder wakes us.  acquire
     * when the exchange finds it free (then we own it, marked contended,
     * which at worst costs one needless wake). */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        chm_futex_wait(&l->state, 2);
}

void chm_lock_release(chm_lock_t *l)
{
    /* release: publishes the critical section to the next holder. */
    if (atomic_fetch_sub_explicit(&l->state, 1, memory_order_release) != 1) {
        /* It was 2: there may be sleepers.  The word is 1 now; free it
         * (release, like the RMW above) and wake one sleeper, which will
         * re-take it with an acquire exchange. */
        atomic_store_explicit(&l->state, 0, memory_order_release);
        chm_futex_wake_one(&l->state);
    }
}
