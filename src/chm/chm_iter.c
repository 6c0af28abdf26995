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
    it->slot = 0;
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

/* The first element of the bin the iterator points at (a bucket, or a node
 * of a list or tree bin), descending through forwarding nodes; NULL for an
 * empty bin. */
static chm_head_t *chm_iter_bin_head(chm_iter *it, bool *descended)
{
    chm_table_t *tab = it->tab;
    size_t i = it->index;
    /* acquire: as in get (chm_find) */
    chm_head_t *e = atomic_load_explicit(&tab->bins[i].head, memory_order_acquire);
    *descended = false;
    if (e == NULL)
        return NULL;
    switch (e->kind) {
    case CHM_K_NODE:
    case CHM_K_BUCKET:
        return e;
    case CHM_K_TREEBIN: {
        /* acquire: the list of a tree bin is published like a bin */
        chm_treenode_t *x = atomic_load_explicit(
            &((chm_treebin_t *)e)->first, memory_order_acquire);
        return x != NULL ? &x->node.h : NULL;
    }
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

/* From position (e, it->slot) in a bin's list, the element holding the
 * next entry to return (its key and value through k, v), or NULL at the
 * list's end.  it->slot: in a bucket, the next slot to look at; on a node,
 * 0 before its entry is returned and 1 after.  Everything reached is alive:
 * the iterator is pinned, and a slot seen live keeps its entry while we
 * are (chm_bucket.c). */
static chm_head_t *chm_iter_scan(chm_iter *it, chm_head_t *e, uintptr_t *k,
                                 uintptr_t *v)
{
    while (e != NULL) {
        if (e->kind == CHM_K_BUCKET) {
            chm_bucket_t *b = chm_as_bucket(e);
            /* acquire: as in chm_bucket_find */
            unsigned live = atomic_load_explicit(&e->live, memory_order_acquire);
            while (it->slot < CHM_BUCKET_SLOTS) {
                unsigned s = it->slot++;
                if ((live >> s & 1u) != 0) {
                    *k = b->slot[s].key;
                    *v = atomic_load_explicit(&b->slot[s].val,
                                              memory_order_acquire);
                    return e;
                }
            }
        } else if (it->slot == 0) {
            chm_node_t *n = chm_as_node(e);
            it->slot = 1;
            *k = n->key;
            /* acquire: the value may point at data written before it */
            *v = atomic_load_explicit(&n->val, memory_order_acquire);
            return e;
        }
        /* acquire: pairs with the release that linked the next node */
        e = (chm_head_t *)atomic_load_explicit(&e->next, memory_order_acquire);
        it->slot = 0;
    }
    return NULL;
}

bool chm_iter_next(chm_iter *it, uintptr_t *key, uintptr_t *val)
{
    if (!it->active)
        return false;
    uintptr_t k, v;
    chm_head_t *e = chm_iter_scan(it, it->next, &k, &v);
    while (e == NULL) {
        chm_table_t *tab = it->tab;
        if (it->base_index >= it->base_limit || it->index >= tab->n) {
            chm_iter_finish(it);
            return false;
        }
        bool descended;
        e = chm_iter_bin_head(it, &descended);
        it->slot = 0;
        if (descended)
            continue;
        if (it->sp > 0)
            chm_iter_recover(it, tab->n);
        else if ((it->index += it->base_size) >= tab->n)
            it->index = ++it->base_index;
        e = chm_iter_scan(it, e, &k, &v);
    }
    it->next = e;
    if (key != NULL)
        *key = k;
    if (val != NULL)
        *val = v;
    return true;
}
