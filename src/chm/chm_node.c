/*
 * chm_node.c - allocating heap nodes and handing them, and replaced values,
 * to the epoch.  Three kinds of retirement:
 *   - an entry (removed or cleared): node, key and value are freed;
 *   - a shell (its key and value now live in a copy made by transfer,
 *     treeify or untreeify): only the node is freed;
 *   - a value replaced in place: only the value is freed (val_free).
 * Entries kept in a bin's bucket are released through chm_bucket.c.
 */
#include <string.h>

#include "chm_internal.h"

chm_node_t *chm_node_new(uint64_t hash, uintptr_t key, uintptr_t val,
                         chm_node_t *next)
{
    chm_node_t *n = chm_alloc(sizeof *n);
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof *n);
    n->hash = hash;
    n->key = key;
    atomic_init(&n->val, val);
    atomic_init(&n->h.next, next);
    atomic_init(&n->h.lock.state, 0);
    atomic_init(&n->h.live, 0);
    atomic_init(&n->h.busy, 0);
    n->h.kind = CHM_K_NODE;
    return n;
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

static void chm_shell_cb(ck_epoch_entry_t *e)
{
    (void)chm_dispatching_map();
    /* SAFETY: as chm_entry_cb; its key and value belong to a copy. */
    chm_dealloc(chm_node_of_entry(e));
    chm_note_reclaimed();
}

void chm_retire_entry(chm_thread_t *t, chm_node_t *n)
{
    chm_retire(t, &n->epoch, chm_entry_cb);
}

void chm_retire_shell(chm_thread_t *t, chm_node_t *n)
{
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
