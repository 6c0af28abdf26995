/*
 * chm_iter.c - weakly consistent traversal (Java's Traverser).
 *
 * The iterator walks bin indices 0..n-1 of the table it started in.  When a
 * bin holds a forwarding node, the bin has been split into bins i and i+n of
 * the next table (and, if that one has moved on too, into i, i+n, i+2n,
 * i+3n of the one after): the iterator descends into the next table, visits
 * the bins the original bin became, and climbs back, remembering where it
 * was on a small stack.  A bin is visited once whatever resizes happen, so a
 * key that is present and untouched for the whole traversal is returned
 * exactly once; keys inserted or removed meanwhile may or may not be.
 *
 * Safety: the iterator stays pinned from chm_iter_init until the end (or
 * chm_iter_finish), so every table and node it reached stays alive (the
 * rule in chm_epoch.c).  Bins and next pointers are loaded with acquire, as
 * in get.  The stack needs one frame per table entered; tables double, so
 * 64 frames cover any size libchm allows.
 */
#include "chm_internal.h"

void chm_iter_init(chm_iter *it, chm_thread_t *t)
{
    CHM_CHECK_THREAD(t);
    chm_pin(t);
    chm_table_t *tab = atomic_load_explicit(&t->map->table,
                                            memory_order_acquire);
    it->thread = t;
    it->tab = tab;
    it->next = NULL;
    it->index = it->base_index = 0;
    it->base_limit = it->base_size = tab->n;
    it->sp = 0;
    it->active = true;
}

void chm_iter_finish(chm_iter *it)
{
    if (it->active) {
        it->active = false;
        chm_unpin(it->thread);
    }
}

static void chm_iter_push(chm_iter *it, chm_table_t *tab, size_t i, size_t n)
{
    CHM_CHECK(it->sp < 64, "iterator stack overflow");
    it->stack[it->sp].tab = tab;
    it->stack[it->sp].index = i;
    it->stack[it->sp].length = n;
    it->sp++;
}

/* Move to the next bin index after finishing one in a table of n bins:
 * climb back out of tables entered through forwarding nodes once their
 * share of the original bin is done. */
static void chm_iter_recover(chm_iter *it, size_t n)
{
    while (it->sp > 0) {
        size_t len = it->stack[it->sp - 1].length;
        it->index += len;
        if (it->index < n)
            return;
        n = len;
        it->sp--;
        it->index = it->stack[it->sp].index;
        it->tab = it->stack[it->sp].tab;
    }
    it->index += it->base_size;
    if (it->index >= n)
        it->index = ++it->base_index;
}

/* The first entry of the bin the iterator points at, descending through
 * forwarding nodes; NULL for an empty bin. */
static chm_node_t *chm_iter_bin_head(chm_iter *it, bool *descended)
{
    chm_table_t *tab = it->tab;
    size_t i = it->index;
    /* acquire: as in get (chm_find) */
    chm_node_t *e = atomic_load_explicit(&tab->bins[i].head, memory_order_acquire);
    *descended = false;
    if (e == NULL)
        return NULL;
    switch (e->kind) {
    case CHM_K_NODE:
        return e;
    case CHM_K_TREEBIN:
        /* acquire: the list of a tree bin is published like a bin */
        return (chm_node_t *)atomic_load_explicit(
            &((chm_treebin_t *)e)->first, memory_order_acquire);
    case CHM_K_FWD:
        /* SAFETY: the target is reachable from tab, which is alive. */
        it->tab = chm_fwd_table(e);
        chm_iter_push(it, tab, i, tab->n);
        *descended = true;
        return NULL;
    default:
        return NULL;
    }
}

bool chm_iter_next(chm_iter *it, uintptr_t *key, uintptr_t *val)
{
    if (!it->active)
        return false;
    chm_node_t *e = it->next;
    if (e != NULL)
        e = atomic_load_explicit(&e->next, memory_order_acquire);
    while (e == NULL) {
        chm_table_t *tab = it->tab;
        if (it->base_index >= it->base_limit || it->index >= tab->n) {
            chm_iter_finish(it);
            return false;
        }
        bool descended;
        e = chm_iter_bin_head(it, &descended);
        if (descended)
            continue;
        if (it->sp > 0)
            chm_iter_recover(it, tab->n);
        else if ((it->index += it->base_size) >= tab->n)
            it->index = ++it->base_index;
    }
    it->next = e;
    if (key != NULL)
        *key = e->key;
    if (val != NULL)
        *val = atomic_load_explicit(&e->val, memory_order_acquire);
    return true;
}
