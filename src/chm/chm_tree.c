/*
 * chm_tree.c - tree bins: a bin whose entries collide so often that a list
 * would be slow is kept as a red-black tree, as in Java's ConcurrentHashMap
 * (TreeBin / TreeNode), with lookups that never block.
 *
 * Based on the design of JSR166's ConcurrentHashMap.TreeBin, with the
 * red-black algorithms of Cormen, Leiserson, Rivest and Stein ("Introduction
 * to Algorithms", chapter 13), adapted to C11 atomics and to epoch-based
 * reclamation (ck_epoch) in place of a garbage collector.
 *
 * Overview
 *
 * A tree bin is a chm_treebin_t installed in a table slot in place of a list
 * head.  It holds its entries (chm_treenode_t) twice over:
 *
 *  - as a singly linked list, b->first -> node.next -> ... -> NULL, which a
 *    reader can always walk without taking anything; and
 *  - as a red-black tree rooted at b->root (parent/left/right/red), which a
 *    reader may only walk while it holds a READER share of b->lock_state.
 *
 * The tree orders entries first by their 64-bit hash (unsigned compare).
 * Among equal hashes:
 *  - if the map has a cmp function, by cmp;
 *  - else if the map uses plain integer keys (type.hash and type.eq both
 *    NULL), by the numeric value of the key words;
 *  - else the keys are incomparable.  An insertion then places the entry by
 *    comparing the raw uintptr_t key words (Java's tieBreakOrder); that order
 *    is not one a lookup can use, since a key equal under type.eq may be a
 *    different word, so a lookup that meets equal hashes and an inconclusive
 *    comparison searches both subtrees (Java's findTreeNode).  A cmp that
 *    returns 0 for keys eq calls different is treated the same way.
 *
 * Who writes what
 *
 * Every change to a tree bin is made by the thread holding the bin lock
 * (b->node.lock, taken by the caller in chm_map.c / chm_transfer.c), so there
 * is exactly one writer per bin at a time.  Inside that, the writer takes
 * the tree's own reader-writer word, b->lock_state:
 *
 *   WRITER (1)   the writer is changing tree links
 *   WAITER (2)   the writer wants WRITER and waits for readers to leave
 *   READER (4)   added once per reader walking the tree
 *
 *  - Tree links (b->root, left, right, parent, red) are written only while
 *    the writer holds WRITER, and read by readers only while they hold a
 *    READER share; WRITER and READER exclude each other.  Unlike Java, which
 *    links a new red leaf under a black parent without locking, every tree
 *    change here takes WRITER: the links stay plain fields and the program
 *    stays free of data races in the C11 sense.  The writer itself may read
 *    the links without lock_state: nobody else writes them.
 *  - The list (b->first and node.next of tree nodes) is written by the
 *    writer with release stores and read by everyone with acquire loads.
 *  - prev is a back link used only by the writer (O(1) unlinking).
 *  - count is the number of entries; only the writer reads or writes it.
 *    chm_tree_put and chm_tree_remove keep it up to date.
 *  - hash and key of a node never change after it is published; val is
 *    managed by the callers (atomic, release/acquire, under the bin lock).
 *
 * Readers (chm_tree_find) never block and never spin on the writer.  While
 * lock_state has WRITER or WAITER set they walk the list, comparing each
 * entry; as soon as it is clear they try to add READER with a CAS and, if
 * that works, search the tree in O(log n), then drop their share.  A reader
 * that walked part of the list and then gets into the tree searches the
 * whole tree, as in Java: nothing is missed, the tree holds every entry the
 * list does.
 *
 * The writer (chm_tree_write_lock) CASes lock_state from 0 to WRITER.  If
 * readers are inside it sets WAITER, which stops new readers from entering
 * the tree (they walk the list instead), and waits for the readers already
 * in it to leave: it spins briefly, then calls sched_yield() in a loop.  A
 * reader holds its share only for one O(log n) descent, so the wait is
 * short; Java parks the writer instead, which we do not need.  The writer
 * then CASes WAITER -> WRITER and, when done, stores 0.
 *
 * When updates take effect.  chm_tree_put pushes the new node on the list
 * and links it into the tree in one WRITER section; chm_tree_remove unlinks
 * the node from both in one WRITER section.  A reader that walks the list
 * meanwhile may or may not see the change (it overlaps the update); a
 * reader that enters the tree sees all of it or none of it.
 *
 * List invariants (what lets a lock-free reader finish its walk)
 *
 *  - New entries are pushed at the head: x->next = first, then first = x
 *    with a release store.  Nothing already on the list is changed.
 *  - Removal unlinks p by pointing its predecessor (or first) at p->next,
 *    and leaves p->next alone.  A reader standing on p (or on any node
 *    removed earlier that leads to p) still reaches every later node.
 *  - So from any node a reader has reached, following next visits every
 *    entry that was on the list when the reader loaded b->first and is
 *    still there, and ends at NULL.  Removed nodes stay allocated until a
 *    grace period after the caller retires them (chm_retire_entry), and
 *    every reader is inside an epoch section while it walks.
 *
 * Memory ordering
 *
 *  - Publication of a node: hash, key, val, next, kind and lock are written
 *    (and its tree links cleared) before the release store of b->first that
 *    makes it reachable; a reader gets there through an acquire load of
 *    b->first or of a node.next, so it sees the initialised node.  The tree
 *    links are set afterwards, still under WRITER, and reach readers through
 *    lock_state (below).
 *  - Unlinking stores pred->next (or b->first) with release too: the node
 *    it now points at may have been published by a store the reader never
 *    synchronised with, and this release store, sequenced after that
 *    publication in the writer, carries it to the reader's acquire load.
 *  - Tree links: the writer's CAS that takes WRITER is acquire and its store
 *    of 0 is release; a reader's CAS that adds READER is acquire and its
 *    fetch_sub is release.  All other changes of lock_state are
 *    read-modify-writes, so every release above heads a release sequence
 *    that the next acquirer reads from: each tree change happens-before
 *    every later reader's descent, and every descent happens-before the
 *    next tree change.
 *  - Loads of lock_state that only decide whether to try a CAS are relaxed:
 *    the CAS itself provides the ordering, or its failure is retried.
 *  - A whole new tree bin (chm_tree_build, chm_tree_split) is built
 *    privately, with relaxed stores, and published by the caller's release
 *    store of the table slot.
 *
 * Copies and reclamation
 *
 *  - chm_tree_build, chm_tree_to_list and chm_tree_split never move nodes:
 *    they make new nodes that share the keys and values of the old ones,
 *    because lock-free readers may still be standing on the old ones.  The
 *    caller installs the copies and retires the old bin as a shell.
 *  - chm_tree_retire_shell hands the bin to the epoch; after a grace period
 *    the callback frees the bin and the tree nodes still on its list, not
 *    their keys and values (those live on in the copies).  Entries removed
 *    earlier are no longer on the list: their callers retired them.
 *  - Every allocation goes through chm_alloc and may fail (fault
 *    injection).  Each function allocates everything it needs before it
 *    changes anything shared, so on ENOMEM it frees what it made and leaves
 *    the bin exactly as it was.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chm_internal.h"

/* Spins of the writer waiting for readers before it starts yielding. */
#define CHM_TREE_SPINS 64

/* ---- small helpers ------------------------------------------------------ */

/* A tree bin's list holds only tree nodes, whose chm_node_t comes first. */
static inline chm_treenode_t *chm_tree_node_of(chm_node_t *n)
{
    return (chm_treenode_t *)n;
}

/* The chm_node_t of a tree node, or NULL (without dereferencing NULL). */
static inline chm_node_t *chm_tree_as_node(chm_treenode_t *x)
{
    return (chm_node_t *)x;
}

static inline bool chm_rb_is_red(const chm_treenode_t *x)
{
    return x != NULL && x->red;
}

/* Next entry of a tree bin's list, for a lock-free reader. */
static inline chm_treenode_t *chm_tree_next_acquire(chm_treenode_t *x)
{
    /* acquire: pairs with the release store that linked the next node (push
     * or unlink), so the node we step onto is seen fully initialised. */
    return chm_tree_node_of(atomic_load_explicit(&x->node.h.next,
                                                 memory_order_acquire));
}

/* Next entry of a tree bin's list, for the writer (bin lock held, or the bin
 * is private / unreachable). */
static inline chm_treenode_t *chm_tree_next_owned(const chm_treenode_t *x)
{
    /* relaxed: only the bin-lock holder stores next, and we are it (or no
     * thread can store it any more); the lock already ordered older stores. */
    return chm_tree_node_of(atomic_load_explicit(&x->node.h.next,
                                                 memory_order_relaxed));
}

/* First entry of b's list, for the writer (see chm_tree_next_owned). */
static inline chm_treenode_t *chm_tree_first_owned(const chm_treebin_t *b)
{
    /* relaxed: b->first is stored only by the bin-lock holder, which is us,
     * or b is private / no longer reachable. */
    return atomic_load_explicit(&b->first, memory_order_relaxed);
}

/* Next node of a plain or tree list that the caller holds the lock of. */
static inline chm_node_t *chm_tree_list_next_locked(const chm_node_t *e)
{
    /* relaxed: the caller holds the bin lock, the only place next changes. */
    return atomic_load_explicit(&e->h.next, memory_order_relaxed);
}

/* Current value of an entry whose bin lock the caller holds. */
static inline uintptr_t chm_tree_val_locked(const chm_node_t *e)
{
    /* relaxed: values change only under the bin lock, which we hold. */
    return atomic_load_explicit(&e->val, memory_order_relaxed);
}

/* ---- key order ---------------------------------------------------------- */

/*
 * Order of two keys with equal hashes: < 0 or > 0 when the map can order
 * them, 0 when it cannot (incomparable keys, or a cmp that ties keys eq
 * calls different).  Called for keys known not to be equal (or, when a new
 * bin is built from distinct entries, not tested: any answer is fine).
 */
static int chm_tree_key_order(const chm_t *m, uintptr_t a, uintptr_t b)
{
    if (m->type.cmp != NULL) {
        int c = m->type.cmp(a, b);
        return (c > 0) - (c < 0);
    }
    if (m->type.hash == NULL && m->type.eq == NULL)
        return (a > b) - (a < b);
    return 0;
}

/* Java's tieBreakOrder: an arbitrary but consistent side for an insertion
 * whose key order is inconclusive.  Never 0. */
static int chm_tree_tie_break(uintptr_t a, uintptr_t b)
{
    return a <= b ? -1 : 1;
}

/*
 * The node holding (h, key) in the subtree rooted at p, or NULL.  Reads tree
 * links as plain fields: the caller holds a READER share of the bin's
 * lock_state, or is the bin's writer.  With equal hashes and an inconclusive
 * key order both subtrees are searched (right recursively, left in the
 * loop); the depth is bounded by the tree's height.
 */
static chm_treenode_t *chm_tree_search(const chm_t *m, chm_treenode_t *p,
                                       uint64_t h, uintptr_t key)
{
    while (p != NULL) {
        /* SAFETY: p was reached from b->root under a READER share (or by
         * the writer itself).  While the share is held no writer can change
         * the tree, so p is still in it and cannot have been retired; the
         * caller is pinned in any case, and a node is freed only a grace
         * period after its retirement. */
        chm_treenode_t *pl = p->left, *pr = p->right;
        uint64_t ph = p->node.hash;
        if (h < ph) {
            p = pl;
        } else if (h > ph) {
            p = pr;
        } else if (chm_key_eq(m, key, p->node.key)) {
            return p;
        } else if (pl == NULL) {
            p = pr;
        } else if (pr == NULL) {
            p = pl;
        } else {
            int dir = chm_tree_key_order(m, key, p->node.key);
            if (dir != 0) {
                p = dir < 0 ? pl : pr;
            } else {
                chm_treenode_t *q = chm_tree_search(m, pr, h, key);
                if (q != NULL)
                    return q;
                p = pl;
            }
        }
    }
    return NULL;
}

/*
 * For an insertion (the writer, bin lock held): the node already holding
 * (h, key), or NULL and the place where a new node goes (*parent, NULL for
 * an empty tree, and *dir, < 0 left, > 0 right).  may_exist false skips the
 * equality tests (building from distinct entries): no subtree searches.
 */
static chm_treenode_t *chm_tree_locate(const chm_t *m, const chm_treebin_t *b,
                                       uint64_t h, uintptr_t key,
                                       bool may_exist,
                                       chm_treenode_t **parent, int *dir)
{
    chm_treenode_t *p = b->root;
    bool searched = !may_exist;

    *parent = NULL;
    *dir = 0;
    while (p != NULL) {
        uint64_t ph = p->node.hash;
        int d;
        if (h != ph) {
            d = h < ph ? -1 : 1;
        } else if (may_exist && chm_key_eq(m, key, p->node.key)) {
            return p;
        } else if ((d = chm_tree_key_order(m, key, p->node.key)) == 0) {
            if (!searched) {
                /* The first inconclusive tie: the key, if present, is below
                 * p on one side or the other. */
                chm_treenode_t *q;
                searched = true;
                if ((q = chm_tree_search(m, p->left, h, key)) != NULL ||
                    (q = chm_tree_search(m, p->right, h, key)) != NULL)
                    return q;
            }
            d = chm_tree_tie_break(key, p->node.key);
        }
        *parent = p;
        *dir = d;
        p = d < 0 ? p->left : p->right;
    }
    return NULL;
}

/* ---- the tree's reader-writer word ------------------------------------- */

/* Whether a reader may try to enter the tree: no writer holds or wants it.
 * *s receives the state to CAS from. */
static bool chm_tree_read_allowed(chm_treebin_t *b, int32_t *s)
{
    /* relaxed: only a hint and the expected value of the CAS in
     * chm_tree_read_try_enter, which provides the ordering. */
    *s = atomic_load_explicit(&b->lock_state, memory_order_relaxed);
    return (*s & (CHM_TREE_WRITER | CHM_TREE_WAITER)) == 0;
}

/* Try to add a READER share to state s; false if lock_state moved (another
 * reader came or went, or a writer arrived): the caller looks again. */
static bool chm_tree_read_try_enter(chm_treebin_t *b, int32_t s)
{
    /* acquire on success: reads the writer's release store of 0 (or an RMW
     * in its release sequence), so every tree link it wrote is visible.
     * relaxed on failure: nothing was read that we rely on. */
    return atomic_compare_exchange_weak_explicit(
        &b->lock_state, &s, s + CHM_TREE_READER, memory_order_acquire,
        memory_order_relaxed);
}

static void chm_tree_read_exit(chm_treebin_t *b)
{
    /* release: our plain reads of tree links happen-before the writer's
     * acquire CAS that takes WRITER after us, so it cannot overwrite a link
     * we are still reading. */
    atomic_fetch_sub_explicit(&b->lock_state, CHM_TREE_READER,
                              memory_order_release);
}

/* Slow path of chm_tree_write_lock: readers are inside. */
static void chm_tree_write_lock_contended(chm_treebin_t *b)
{
    unsigned spins = 0;

    /* relaxed: WAITER only tells readers to take the list instead; it
     * publishes no data.  We hold the bin lock, so no other writer sets or
     * clears these bits. */
    atomic_fetch_or_explicit(&b->lock_state, CHM_TREE_WAITER,
                             memory_order_relaxed);
    for (;;) {
        /* relaxed: a hint for the CAS, which carries the ordering. */
        int32_t s = atomic_load_explicit(&b->lock_state,
                                         memory_order_relaxed);
        if ((s & ~CHM_TREE_WAITER) == 0) {
            /* acquire: pairs with the last reader's release fetch_sub, so
             * its tree reads happen-before our writes. */
            if (atomic_compare_exchange_strong_explicit(
                    &b->lock_state, &s, CHM_TREE_WRITER,
                    memory_order_acquire, memory_order_relaxed))
                return;
            continue;
        }
        if (spins < CHM_TREE_SPINS) {
            spins++;
            ck_pr_stall();
        } else {
            sched_yield();
        }
    }
}

/* Take WRITER (the caller holds the bin lock). */
static void chm_tree_write_lock(chm_treebin_t *b)
{
    int32_t expect = 0;
    /* acquire: as in the contended path, orders the readers' last reads of
     * the tree before our writes.  relaxed on failure: we go and wait. */
    if (atomic_compare_exchange_strong_explicit(
            &b->lock_state, &expect, CHM_TREE_WRITER, memory_order_acquire,
            memory_order_relaxed))
        return;
    chm_tree_write_lock_contended(b);
}

static void chm_tree_write_unlock(chm_treebin_t *b)
{
    /* release: every tree link written while holding WRITER happens-before
     * the acquire CAS of the next reader that enters.  A plain store (not a
     * fetch_and) is enough: while WRITER is set no reader can add itself
     * and WAITER is ours, cleared when we took WRITER. */
    atomic_store_explicit(&b->lock_state, 0, memory_order_release);
}

/* ---- red-black tree (the writer, holding WRITER) ------------------------ */

/* Make `repl` take `old`'s place as a child of `parent` (or as the root). */
static void chm_rb_replace_child(chm_treebin_t *b, chm_treenode_t *parent,
                                 chm_treenode_t *old, chm_treenode_t *repl)
{
    if (parent == NULL)
        b->root = repl;
    else if (parent->left == old)
        parent->left = repl;
    else
        parent->right = repl;
}

/* p's right child r becomes the root of p's subtree, p its left child. */
static void chm_rb_rotate_left(chm_treebin_t *b, chm_treenode_t *p)
{
    chm_treenode_t *r = p->right, *rl = r->left;

    p->right = rl;
    if (rl != NULL)
        rl->parent = p;
    r->parent = p->parent;
    chm_rb_replace_child(b, p->parent, p, r);
    r->left = p;
    p->parent = r;
}

/* p's left child l becomes the root of p's subtree, p its right child. */
static void chm_rb_rotate_right(chm_treebin_t *b, chm_treenode_t *p)
{
    chm_treenode_t *l = p->left, *lr = l->right;

    p->left = lr;
    if (lr != NULL)
        lr->parent = p;
    l->parent = p->parent;
    chm_rb_replace_child(b, p->parent, p, l);
    l->right = p;
    p->parent = l;
}

/*
 * One step of the insertion fix-up: red x under red xp under xpp (which
 * exists, a red node is never the root).  Returns the node to continue from,
 * or NULL when the tree is valid again.
 */
static chm_treenode_t *chm_rb_insert_step(chm_treebin_t *b, chm_treenode_t *x,
                                          chm_treenode_t *xp,
                                          chm_treenode_t *xpp)
{
    bool xp_is_left = (xp == xpp->left);
    chm_treenode_t *uncle = xp_is_left ? xpp->right : xpp->left;

    if (chm_rb_is_red(uncle)) {
        /* Push the red up: recolour and continue from the grandparent. */
        xp->red = false;
        uncle->red = false;
        xpp->red = true;
        return xpp;
    }
    if (xp_is_left) {
        if (x == xp->right) {   /* inner grandchild: straighten first */
            chm_rb_rotate_left(b, xp);
            xp = x;
        }
        chm_rb_rotate_right(b, xpp);
    } else {
        if (x == xp->left) {
            chm_rb_rotate_right(b, xp);
            xp = x;
        }
        chm_rb_rotate_left(b, xpp);
    }
    xp->red = false;
    xpp->red = true;
    return NULL;
}

/* Java's balanceInsertion: restore the red-black rules after linking x. */
static void chm_rb_balance_insertion(chm_treebin_t *b, chm_treenode_t *x)
{
    x->red = true;
    while (x != NULL) {
        chm_treenode_t *xp = x->parent;
        if (xp == NULL) {
            x->red = false;     /* x is the root */
            return;
        }
        if (!xp->red)
            return;
        x = chm_rb_insert_step(b, x, xp, xp->parent);
    }
}

/* Deletion fix-up step for a doubly black x that is its parent's left
 * child; returns the node to continue from. */
static chm_treenode_t *chm_rb_delete_step_left(chm_treebin_t *b,
                                               chm_treenode_t *x)
{
    /* x is black and not the root, so its sibling w exists (the black
     * heights of both sides are >= 1). */
    chm_treenode_t *xp = x->parent, *w = xp->right;

    if (w->red) {
        w->red = false;
        xp->red = true;
        chm_rb_rotate_left(b, xp);
        w = xp->right;
    }
    if (!chm_rb_is_red(w->left) && !chm_rb_is_red(w->right)) {
        w->red = true;
        return xp;
    }
    if (!chm_rb_is_red(w->right)) {
        w->left->red = false;
        w->red = true;
        chm_rb_rotate_right(b, w);
        w = xp->right;
    }
    w->red = xp->red;
    xp->red = false;
    w->right->red = false;
    chm_rb_rotate_left(b, xp);
    return b->root;
}

/* Mirror image of chm_rb_delete_step_left. */
static chm_treenode_t *chm_rb_delete_step_right(chm_treebin_t *b,
                                                chm_treenode_t *x)
{
    chm_treenode_t *xp = x->parent, *w = xp->left;

    if (w->red) {
        w->red = false;
        xp->red = true;
        chm_rb_rotate_right(b, xp);
        w = xp->left;
    }
    if (!chm_rb_is_red(w->left) && !chm_rb_is_red(w->right)) {
        w->red = true;
        return xp;
    }
    if (!chm_rb_is_red(w->left)) {
        w->right->red = false;
        w->red = true;
        chm_rb_rotate_left(b, w);
        w = xp->left;
    }
    w->red = xp->red;
    xp->red = false;
    w->left->red = false;
    chm_rb_rotate_right(b, xp);
    return b->root;
}

/* Java's balanceDeletion: x carries an extra black (it replaced a removed
 * black node, or is the black leaf about to be detached). */
static void chm_rb_balance_deletion(chm_treebin_t *b, chm_treenode_t *x)
{
    while (x != b->root && !x->red) {
        if (x == x->parent->left)
            x = chm_rb_delete_step_left(b, x);
        else
            x = chm_rb_delete_step_right(b, x);
    }
    x->red = false;
}

/*
 * p has two children: exchange p's place in the tree (links and colour)
 * with its in-order successor s, so that p then has at most one child.
 * Nodes are swapped, not their contents: readers and callers hold pointers
 * to the nodes.
 */
static void chm_rb_swap_with_successor(chm_treebin_t *b, chm_treenode_t *p)
{
    chm_treenode_t *pl = p->left, *pr = p->right, *pp = p->parent;
    chm_treenode_t *s = pr, *sr;
    bool colour;

    while (s->left != NULL)
        s = s->left;
    sr = s->right;
    colour = s->red;
    s->red = p->red;
    p->red = colour;
    if (s == pr) {              /* s was p's right child */
        p->parent = s;
        s->right = p;
    } else {                    /* s was the left child of sp, below pr */
        chm_treenode_t *sp = s->parent;
        p->parent = sp;
        sp->left = p;
        s->right = pr;
        pr->parent = s;
    }
    p->left = NULL;             /* s had no left child */
    p->right = sr;
    if (sr != NULL)
        sr->parent = p;
    s->left = pl;
    pl->parent = s;
    s->parent = pp;
    chm_rb_replace_child(b, pp, p, s);
}

/* Link x as the `dir` child of parent (the root if parent is NULL) and
 * rebalance. */
static void chm_rb_link(chm_treebin_t *b, chm_treenode_t *parent, int dir,
                        chm_treenode_t *x)
{
    x->parent = parent;
    x->left = NULL;
    x->right = NULL;
    if (parent == NULL)
        b->root = x;
    else if (dir < 0)
        parent->left = x;
    else
        parent->right = x;
    chm_rb_balance_insertion(b, x);
}

/* Remove p from the tree (Java's removeTreeNode, tree part). */
static void chm_rb_erase(chm_treebin_t *b, chm_treenode_t *p)
{
    chm_treenode_t *child;

    if (p->left != NULL && p->right != NULL)
        chm_rb_swap_with_successor(b, p);
    child = p->left != NULL ? p->left : p->right;
    if (child != NULL) {
        /* Splice the single child into p's place; if p was black the child
         * (red in a valid tree) takes over its black. */
        child->parent = p->parent;
        chm_rb_replace_child(b, p->parent, p, child);
        if (!p->red)
            chm_rb_balance_deletion(b, child);
    } else {
        /* A leaf: fix up with p still linked as the phantom, then detach. */
        if (!p->red)
            chm_rb_balance_deletion(b, p);
        chm_rb_replace_child(b, p->parent, p, NULL);
    }
    p->parent = NULL;
    p->left = NULL;
    p->right = NULL;
}

/* ---- the list (the writer) ---------------------------------------------- */

/* Push x, not yet reachable, at the head of b's list. */
static void chm_tree_list_push(chm_treebin_t *b, chm_treenode_t *x)
{
    chm_treenode_t *f = chm_tree_first_owned(b);

    /* relaxed: x is not reachable yet; the release store below publishes
     * this together with the rest of x. */
    atomic_store_explicit(&x->node.h.next, chm_tree_as_node(f),
                          memory_order_relaxed);
    x->prev = NULL;
    if (f != NULL)
        f->prev = x;
    /* release: x (hash, key, val, next) is fully written before a reader's
     * acquire load of b->first can return it. */
    atomic_store_explicit(&b->first, x, memory_order_release);
}

/* Unlink p from b's list, leaving p->next intact for readers standing on p. */
static void chm_tree_list_unlink(chm_treebin_t *b, chm_treenode_t *p)
{
    chm_treenode_t *next = chm_tree_next_owned(p), *pred = p->prev;

    if (pred == NULL)
        /* release: see the top comment (Memory ordering, unlinking). */
        atomic_store_explicit(&b->first, next, memory_order_release);
    else
        /* release: as above. */
        atomic_store_explicit(&pred->node.h.next, chm_tree_as_node(next),
                              memory_order_release);
    if (next != NULL)
        next->prev = pred;
    p->prev = NULL;
}

/* ---- allocation --------------------------------------------------------- */

/* A new tree node, not yet reachable; NULL on ENOMEM. */
static chm_treenode_t *chm_tree_node_new(uint64_t h, uintptr_t key,
                                         uintptr_t val)
{
    chm_treenode_t *x = chm_alloc(sizeof(*x));

    if (x == NULL)
        return NULL;
    x->node.hash = h;
    x->node.key = key;
    /* atomic_init: x is private, no other thread can access it yet; it is
     * published later by a release store. */
    atomic_init(&x->node.val, val);
    atomic_init(&x->node.h.next, NULL);
    atomic_init(&x->node.h.lock.state, 0);
    x->node.h.kind = CHM_K_TREENODE;
    atomic_init(&x->node.h.live, 0);
    atomic_init(&x->node.h.busy, 0);
    x->parent = NULL;
    x->left = NULL;
    x->right = NULL;
    x->prev = NULL;
    x->red = false;
    return x;
}

/* A new, empty tree bin, not yet reachable; NULL on ENOMEM. */
static chm_treebin_t *chm_tree_bin_new(void)
{
    chm_treebin_t *b = chm_alloc(sizeof(*b));

    if (b == NULL)
        return NULL;
    b->node.hash = 0;
    b->node.key = 0;
    /* atomic_init: b is private until the caller publishes it with a
     * release store of the table slot. */
    atomic_init(&b->node.val, 0);
    atomic_init(&b->node.h.next, NULL);
    atomic_init(&b->node.h.lock.state, 0);
    b->node.h.kind = CHM_K_TREEBIN;
    atomic_init(&b->node.h.live, 0);
    atomic_init(&b->node.h.busy, 0);
    b->root = NULL;
    atomic_init(&b->first, NULL);
    atomic_init(&b->lock_state, 0);
    b->count = 0;
    return b;
}

/* Free b and the tree nodes on its list; with_contents also their keys and
 * values.  No thread may reach b.  Returns the number of objects freed. */
static size_t chm_tree_free_all(const chm_t *m, chm_treebin_t *b,
                                bool with_contents)
{
    chm_treenode_t *x = chm_tree_first_owned(b);
    size_t freed = 1;

    while (x != NULL) {
        chm_treenode_t *next = chm_tree_next_owned(x);
        if (with_contents) {
            if (m->type.key_free != NULL)
                m->type.key_free(x->node.key);
            if (m->type.val_free != NULL)
                /* relaxed: nobody else can reach the bin any more. */
                m->type.val_free(atomic_load_explicit(&x->node.val,
                                                      memory_order_relaxed));
        }
        chm_dealloc(x);
        freed++;
        x = next;
    }
    chm_dealloc(b);
    return freed;
}

/* Free a private list of plain node copies (never published). */
static void chm_tree_free_copies(const chm_t *m, chm_node_t *n)
{
    while (n != NULL) {
        chm_node_t *next = chm_tree_list_next_locked(n);
        /* The cast drops const only to match chm_node_free_now's signature:
         * without contents it does not touch the map (m may be NULL for
         * chm_tree_to_list, which is given no map). */
        chm_node_free_now(m, n, false);
        n = next;
    }
}

/* ---- copies ------------------------------------------------------------- */

/* True when an entry with hash h goes to the copy selected by (mask, want). */
static inline bool chm_tree_selected(uint64_t h, uint64_t mask, uint64_t want)
{
    return (h & mask) == want;
}

/* Append x, not yet reachable, to private bin t's list (after *tail) and
 * insert it into t's tree. */
static void chm_tree_append_private(const chm_t *m, chm_treebin_t *t,
                                    chm_treenode_t **tail, chm_treenode_t *x)
{
    chm_treenode_t *parent;
    int dir;

    x->prev = *tail;
    if (*tail == NULL)
        /* relaxed: t is private; the caller publishes it with release. */
        atomic_store_explicit(&t->first, x, memory_order_relaxed);
    else
        /* relaxed: as above. */
        atomic_store_explicit(&(*tail)->node.h.next, &x->node,
                              memory_order_relaxed);
    *tail = x;
    (void)chm_tree_locate(m, t, x->node.hash, x->node.key, false, &parent,
                          &dir);
    chm_rb_link(t, parent, dir, x);
    t->count++;
}

/*
 * A new tree bin of copies of the entries of the list `src` (plain or tree
 * nodes, bin lock held) selected by (mask, want), in list order.  NULL on
 * ENOMEM, with nothing left allocated.
 */
static chm_treebin_t *chm_tree_copy_tree(const chm_t *m, chm_node_t *src,
                                         uint64_t mask, uint64_t want)
{
    chm_treebin_t *t = chm_tree_bin_new();
    chm_treenode_t *tail = NULL;

    if (t == NULL)
        return NULL;
    for (chm_node_t *e = src; e != NULL; e = chm_tree_list_next_locked(e)) {
        chm_treenode_t *x;
        if (!chm_tree_selected(e->hash, mask, want))
            continue;
        x = chm_tree_node_new(e->hash, e->key, chm_tree_val_locked(e));
        if (x == NULL) {
            chm_tree_free_all(m, t, false);
            return NULL;
        }
        chm_tree_append_private(m, t, &tail, x);
    }
    return t;
}

/*
 * A plain list of copies (chm_node_new) of the entries of b selected by
 * (mask, want), in list order, into *out.  CHM_OK, or CHM_ENOMEM with
 * nothing left allocated and *out NULL.  m may be NULL (see
 * chm_tree_free_copies).
 */
static int chm_tree_copy_list(const chm_t *m, const chm_treebin_t *b,
                              uint64_t mask, uint64_t want, chm_node_t **out)
{
    chm_node_t *head = NULL, *tail = NULL;

    *out = NULL;
    for (chm_treenode_t *x = chm_tree_first_owned(b); x != NULL;
         x = chm_tree_next_owned(x)) {
        chm_node_t *n;
        if (!chm_tree_selected(x->node.hash, mask, want))
            continue;
        n = chm_node_new(x->node.hash, x->node.key,
                         chm_tree_val_locked(&x->node), NULL);
        if (n == NULL) {
            chm_tree_free_copies(m, head);
            return CHM_ENOMEM;
        }
        if (tail == NULL)
            head = n;
        else
            /* relaxed: the copies are private until the caller publishes
             * the list with a release store. */
            atomic_store_explicit(&tail->h.next, n, memory_order_relaxed);
        tail = n;
    }
    *out = head;
    return CHM_OK;
}

/* One side of a split with `count` entries: a plain list or a tree bin. */
static int chm_tree_split_side(const chm_t *m, chm_treebin_t *b, size_t count,
                               uint64_t mask, uint64_t want, chm_node_t **out)
{
    chm_treebin_t *t;

    if (count <= CHM_UNTREEIFY_THRESHOLD)
        return chm_tree_copy_list(m, b, mask, want, out);
    t = chm_tree_copy_tree(m, chm_tree_as_node(chm_tree_first_owned(b)), mask,
                           want);
    *out = t != NULL ? &t->node : NULL;
    return t != NULL ? CHM_OK : CHM_ENOMEM;
}

/* Free one side made by chm_tree_split_side. */
static void chm_tree_split_side_free(const chm_t *m, chm_node_t *side)
{
    if (side == NULL)
        return;
    if (side->h.kind == CHM_K_TREEBIN)
        chm_tree_free_all(m, (chm_treebin_t *)side, false);
    else
        chm_tree_free_copies(m, side);
}

/* ---- retirement --------------------------------------------------------- */

/* Epoch callback of chm_tree_retire_shell: frees the bin and its tree
 * nodes, not their keys and values, which live on in the copies. */
static void chm_tree_shell_free_cb(ck_epoch_entry_t *e)
{
    chm_treebin_t *b = (chm_treebin_t *)((char *)e -
                                         offsetof(chm_treebin_t, node.epoch));
    chm_treenode_t *x;

    /* For ThreadSanitizer: the grace period's happens-before (modelled in
     * chm_epoch.c as an acquire when a callback starts). */
    (void)chm_dispatching_map();
    /* SAFETY: a retired tree bin is no longer reachable from any table, and
     * no writer can modify it any more (its bin lock holder replaced it and
     * let go).  A grace period has passed since then, so no reader is still
     * walking it: its list is frozen and ours alone to walk and free. */
    /* acquire: pairs with the release stores that built the list; the grace
     * period already orders them, this keeps the walk sound by itself. */
    x = atomic_load_explicit(&b->first, memory_order_acquire);
    while (x != NULL) {
        chm_treenode_t *next = chm_tree_next_acquire(x);
        chm_dealloc(x);
        chm_note_reclaimed();
        x = next;
    }
    chm_dealloc(b);
    chm_note_reclaimed();
}

/* ---- the interface (chm_internal.h) ------------------------------------- */

chm_node_t *chm_tree_find(const chm_t *m, chm_treebin_t *b, uint64_t h,
                          uintptr_t key)
{
    chm_treenode_t *e;

    /* SAFETY: b was loaded from a table slot by the caller, who is pinned;
     * a tree bin is freed only a grace period after chm_tree_retire_shell,
     * so b stays allocated for the whole call even if it is replaced. */
    /* acquire: pairs with the release store that published the first node,
     * so its fields are visible. */
    e = atomic_load_explicit(&b->first, memory_order_acquire);
#ifdef CHM_MUTANT_TREE_READER_NO_YIELD
    /* MUTANT tree_reader_no_yield: search the tree despite a writer. */
    if (e != NULL)
        return chm_tree_as_node(chm_tree_search(m, b->root, h, key));
#endif
    while (e != NULL) {
        int32_t s;
        if (chm_tree_read_allowed(b, &s)) {
            chm_treenode_t *p;
            if (!chm_tree_read_try_enter(b, s))
                continue;       /* lock_state moved: look again */
            /* SAFETY: we hold a READER share, so no tree link changes until
             * we drop it; b->root and every node below it are alive as
             * explained for b above and for the list nodes below. */
            p = chm_tree_search(m, b->root, h, key);
            chm_tree_read_exit(b);
            return chm_tree_as_node(p);
        }
        /* A writer holds or wants the tree: one step along the list. */
        /* SAFETY: e was reached by acquire loads from b->first; it may have
         * been unlinked since, but a removed node is freed only a grace
         * period after its remover retired it, and we are pinned.  Its hash
         * and key never change after publication. */
        if (e->node.hash == h && chm_key_eq(m, key, e->node.key))
            return &e->node;
        e = chm_tree_next_acquire(e);
    }
    return NULL;
}

chm_treebin_t *chm_tree_build(const chm_t *m, chm_head_t *first)
{
    if (first->kind != CHM_K_BUCKET)
        /* mask 0, want 0: every entry. */
        return chm_tree_copy_tree(m, (chm_node_t *)first, 0, 0);
    /* The bucket's heap nodes, then its live slots (whole hashes: tags
     * keep only 32 bits).  A tree bin's list order is free. */
    chm_bucket_t *bk = (chm_bucket_t *)first;
    chm_treebin_t *t = chm_tree_copy_tree(m, chm_tree_list_next_locked(
                                              (chm_node_t *)first), 0, 0);
    if (t == NULL)
        return NULL;
    chm_treenode_t *tail = NULL;
    for (chm_treenode_t *x = chm_tree_first_owned(t); x != NULL;
         x = chm_tree_next_owned(x))
        tail = x;
    /* relaxed: live changes only under the bin lock, which we hold */
    unsigned live = atomic_load_explicit(&first->live, memory_order_relaxed);
    for (unsigned s = 0; s < CHM_BUCKET_SLOTS; s++) {
        if ((live >> s & 1u) == 0)
            continue;
        chm_treenode_t *x = chm_tree_node_new(
            chm_bucket_hash(m, bk, s), bk->slot[s].key,
            atomic_load_explicit(&bk->slot[s].val, memory_order_relaxed));
        if (x == NULL) {
            chm_tree_free_all(m, t, false);
            return NULL;
        }
        chm_tree_append_private(m, t, &tail, x);
    }
    return t;
}

chm_node_t *chm_tree_put(const chm_t *m, chm_treebin_t *b, uint64_t h,
                         uintptr_t key, uintptr_t val, bool *inserted)
{
    chm_treenode_t *parent, *p, *x;
    int dir;

    if (inserted != NULL)
        *inserted = false;
    /* The writer reads the tree without lock_state: only it writes it. */
    p = chm_tree_locate(m, b, h, key, true, &parent, &dir);
    if (p != NULL)
        return &p->node;
    x = chm_tree_node_new(h, key, val);
    if (x == NULL)
        return NULL;
    chm_tree_write_lock(b);
    chm_tree_list_push(b, x);
    chm_rb_link(b, parent, dir, x);
    b->count++;
    chm_tree_write_unlock(b);
    if (inserted != NULL)
        *inserted = true;
    return &x->node;
}

void chm_tree_remove(chm_treebin_t *b, chm_treenode_t *p)
{
    chm_tree_write_lock(b);
    chm_tree_list_unlink(b, p);
    chm_rb_erase(b, p);
    b->count--;
    chm_tree_write_unlock(b);
}

chm_node_t *chm_tree_to_list(const chm_t *m, const chm_treebin_t *b)
{
    chm_node_t *list;

    (void)chm_tree_copy_list(m, b, 0, 0, &list);
    return list;
}

int chm_tree_split(const chm_t *m, chm_treebin_t *b, size_t n,
                   chm_node_t **lo, chm_node_t **hi)
{
    uint64_t mask = (uint64_t)n;
    size_t lc = 0, hc = 0;

    for (chm_treenode_t *x = chm_tree_first_owned(b); x != NULL;
         x = chm_tree_next_owned(x)) {
        if (chm_tree_selected(x->node.hash, mask, 0))
            lc++;
        else
            hc++;
    }
    *lo = NULL;
    *hi = NULL;
    if (hc == 0) {
        *lo = lc != 0 ? &b->node : NULL;
        return CHM_OK;
    }
    if (lc == 0) {
        *hi = &b->node;
        return CHM_OK;
    }
    if (chm_tree_split_side(m, b, lc, mask, 0, lo) != CHM_OK)
        return CHM_ENOMEM;
    if (chm_tree_split_side(m, b, hc, mask, mask, hi) != CHM_OK) {
        chm_tree_split_side_free(m, *lo);
        *lo = NULL;
        return CHM_ENOMEM;
    }
    return CHM_OK;
}

void chm_tree_free_now(chm_t *m, chm_treebin_t *b, bool with_contents)
{
    (void)chm_tree_free_all(m, b, with_contents);
}

void chm_tree_retire_shell(chm_thread_t *t, chm_treebin_t *b)
{
    /* b->count: the caller holds b's bin lock, or b is frozen already. */
    /* The callback frees b and its b->count nodes; chm_retire counts b. */
    chm_note_retired(t, b->count);
    /* SAFETY: the caller has replaced b in its table slot (a list, new bins
     * or a forwarding node) while holding b's bin lock, so b is unreachable
     * for anyone who loads the slot from now on, and no writer will modify
     * it again; readers already inside are pinned and the callback runs
     * only after they have left. */
    chm_retire(t, &b->node.epoch, chm_tree_shell_free_cb);
}
