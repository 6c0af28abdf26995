/*
 * chm_node.c - allocating nodes and handing them, and replaced values, to the
 * epoch.  Three kinds of retirement:
 *   - an entry (removed or cleared): node, key and value are freed;
 *   - a shell (its key and value now live in a copy made by transfer,
 *     treeify or untreeify): only the node is freed;
 *   - a value replaced in place: only the value is freed (val_free).
 *
 * Home nodes (chm_bin_t) are nodes whose memory is a slot of their bin in
 * the table.  The slot's `taken` flag is the whole protocol: an insert into
 * the bin claims it with a CAS from 0 to 1 (chm_node_claim_home) and, failing,
 * allocates on the heap; the slot is given back (store 0) only when no
 * thread can reach the node - after the grace period of a removed entry,
 * or at once for a node that was never published.  So a reader holding a
 * home node never sees it reused, for the same reason it never sees a heap
 * node freed.  What differs is the end of life: a home node is not freed
 * but released, and its epoch entry lives inside the table, so a removed
 * home node holds a reference on its table until its callback has run
 * (chm_table_t.refs); a home node abandoned as a shell (transfer, treeify)
 * is not retired at all - it goes with the table.
 */
#include <string.h>

#include "chm_internal.h"

static void chm_node_init(chm_node_t *n, uint64_t hash, uintptr_t key,
                          uintptr_t val, chm_node_t *next)
{
    n->hash = hash;
    n->key = key;
    atomic_init(&n->val, val);
    atomic_init(&n->next, next);
    atomic_init(&n->lock.state, 0);
    n->kind = CHM_K_NODE;
    memset(&n->epoch, 0, sizeof n->epoch);
}

chm_node_t *chm_node_new(uint64_t hash, uintptr_t key, uintptr_t val,
                         chm_node_t *next)
{
    chm_node_t *n = chm_alloc(sizeof *n);
    if (n == NULL)
        return NULL;
    chm_node_init(n, hash, key, val, next);
    n->home = 0;
    atomic_init(&n->taken, 0);
    return n;
}

chm_node_t *chm_node_claim_home(chm_table_t *tab, size_t i, uint64_t hash,
                                uintptr_t key, uintptr_t val, chm_node_t *next)
{
    chm_node_t *n = &tab->bins[i].home;
    uint8_t expect = 0;
    /* relaxed peek: a taken slot (the common case once the bin is used)
     * costs no locked instruction; the CAS decides.  acquire on success:
     * pairs with the release that freed the slot (chm_home_release), so
     * everything the previous occupant's last user did with the node
     * happens before we overwrite it.  relaxed on failure: we never touch
     * the slot. */
    if (atomic_load_explicit(&n->taken, memory_order_relaxed) != 0 ||
        !atomic_compare_exchange_strong_explicit(&n->taken, &expect, 1,
                memory_order_acquire, memory_order_relaxed))
        return NULL;
    /* SAFETY: a free slot is unreachable: it was freed either before it
     * was ever published, or by its entry callback after a grace period
     * (chm_home_entry_cb); tab itself is alive (the caller is pinned). */
    chm_node_init(n, hash, key, val, next);
    n->home = (uint8_t)(__builtin_ctzll((unsigned long long)tab->n) + 1);
    return n;
}

chm_node_t *chm_node_new_at(chm_table_t *tab, size_t i, uint64_t hash,
                            uintptr_t key, uintptr_t val, chm_node_t *next)
{
    chm_node_t *n = chm_node_claim_home(tab, i, hash, key, val, next);
    return n != NULL ? n : chm_node_new(hash, key, val, next);
}

/* Give a home slot back.  release: our last reads of the node (its key and
 * value, to free them) happen before the next claimant's writes. */
static void chm_home_release(chm_node_t *n)
{
    atomic_store_explicit(&n->taken, 0, memory_order_release);
}

static void chm_node_free_contents(const chm_t *m, chm_node_t *n)
{
    if (m->type.key_free != NULL)
        m->type.key_free(n->key);
    if (m->type.val_free != NULL)
        /* relaxed: called only when no other thread can reach n */
        m->type.val_free(atomic_load_explicit(&n->val, memory_order_relaxed));
}

void chm_node_free_now(const chm_t *m, chm_node_t *n, bool with_contents)
{
    if (with_contents)
        chm_node_free_contents(m, n);
    if (n->home != 0)
        chm_home_release(n);
    else
        chm_dealloc(n);
}

static chm_node_t *chm_node_of_entry(ck_epoch_entry_t *e)
{
    return (chm_node_t *)((char *)e - offsetof(chm_node_t, epoch));
}

static void chm_entry_cb(ck_epoch_entry_t *e)
{
    chm_t *m = chm_dispatching_map();
    /* SAFETY: retired after it was unlinked (chm_retire_entry's callers);
     * a grace period has passed, so no thread holds it. */
    chm_node_free_now(m, chm_node_of_entry(e), true);
    chm_note_reclaimed();
}

/* A removed home node: free its key and value, give its slot back. */
static void chm_home_entry_free(chm_t *m, chm_node_t *n)
{
    /* SAFETY: as chm_entry_cb for the node.  Releasing the slot lets an
     * insert into this bin use it again. */
    chm_node_free_contents(m, n);
    chm_home_release(n);
    chm_note_reclaimed();
}

/* Callback of a home node covered by its retiring thread's reference. */
static void chm_home_entry_owned_cb(ck_epoch_entry_t *e)
{
    chm_t *m = chm_dispatching_map();
    chm_thread_t *owner = chm_dispatching_owner();
    chm_home_entry_free(m, chm_node_of_entry(e));
    /* SAFETY: the node belonged to owner->home_tab, which owner's reference
     * keeps alive until the last such callback drops it here. */
    if (--owner->home_pending == 0)
        chm_table_unref(owner->home_tab);
}

/* Callback of a home node that holds a reference of its own. */
static void chm_home_entry_cb(ck_epoch_entry_t *e)
{
    chm_t *m = chm_dispatching_map();
    chm_node_t *n = chm_node_of_entry(e);
    /* SAFETY: the table is alive (this callback's reference).  Its address
     * is computed before the slot is released: a new occupant rewrites
     * hash and home. */
    chm_table_t *tab = chm_home_table(n);
    chm_home_entry_free(m, n);
    chm_table_unref(tab);
}

static void chm_shell_cb(ck_epoch_entry_t *e)
{
    (void)chm_dispatching_map();
    /* SAFETY: as chm_entry_cb; its key and value belong to a copy. */
    chm_dealloc(chm_node_of_entry(e));
    chm_note_reclaimed();
}

void chm_retire_entry(chm_thread_t *t, chm_node_t *n)
{
    if (n->home == 0) {
        chm_retire(t, &n->epoch, chm_entry_cb);
        return;
    }
    /* A home node's epoch entry lives in its table, which must outlive the
     * callback, so the callback must hold a reference.  One reference per
     * node would be an atomic add and subtract on a shared line per
     * removal; instead the thread holds one reference for all the nodes of
     * one table whose callbacks are pending in its own record (they run in
     * its own dispatches, chm_epoch.c), and only a node of another table
     * retired meanwhile (after a resize) takes its own.
     *
     * relaxed increments: the caller unlinked n under its bin's lock (or
     * with the bin otherwise held, chm_clear), and the table's own
     * reference is dropped only after every bin has been moved under its
     * lock and a grace period has passed - so the increment happens before
     * that decrement, and comes first in refs' order. */
    chm_table_t *tab = chm_home_table(n);
    if (t->home_pending == 0) {
        t->home_tab = tab;
        atomic_fetch_add_explicit(&tab->refs, 1, memory_order_relaxed);
    }
    if (t->home_tab == tab) {
        t->home_pending++;
        chm_retire(t, &n->epoch, chm_home_entry_owned_cb);
    } else {
        atomic_fetch_add_explicit(&tab->refs, 1, memory_order_relaxed);
        chm_retire(t, &n->epoch, chm_home_entry_cb);
    }
}

void chm_retire_shell(chm_thread_t *t, chm_node_t *n)
{
    /* A home node's memory is its table's: nothing to free, and its slot
     * stays taken until the table goes (shells come from transfer, which
     * abandons the table, and from treeify, after which the bin holds a
     * tree and allocates no list nodes from the slot anyway). */
    if (n->home != 0)
        return;
    chm_retire(t, &n->epoch, chm_shell_cb);
}

struct chm_value_retirer {
    ck_epoch_entry_t epoch;
    uintptr_t val;
};

int chm_value_retirer_new(chm_t *m, chm_value_retirer_t **out)
{
    *out = NULL;
    if (m->type.val_free == NULL)
        return CHM_OK;
    *out = chm_alloc(sizeof **out);
    return *out != NULL ? CHM_OK : CHM_ENOMEM;
}

static void chm_value_cb(ck_epoch_entry_t *e)
{
    chm_t *m = chm_dispatching_map();
    chm_value_retirer_t *r = (chm_value_retirer_t *)e;
    /* SAFETY: the value was swapped out of its node under the bin lock
     * before retirement; readers that loaded it were pinned and a grace
     * period has passed since. */
    m->type.val_free(r->val);
    chm_dealloc(r);
    chm_note_reclaimed();
}

void chm_value_retire(chm_thread_t *t, chm_value_retirer_t *r, uintptr_t val)
{
    if (r == NULL)
        return;
    r->val = val;
    chm_retire(t, &r->epoch, chm_value_cb);
}

void chm_value_retirer_drop(chm_value_retirer_t *r)
{
    chm_dealloc(r);
}
