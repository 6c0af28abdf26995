/*
 * cs_cuckoo_table.h - libcuckoo's C wrapper (libcuckoo-c, Debian's
 * libcuckoo-dev 0.3.1) instantiated for uint64_t keys and uint64_t values,
 * shared by its one C++ translation unit (cs_cuckoo_table.cc, which
 * compiles the wrapper's template .cc) and the `cuckoo` backend
 * (cs_backend_cuckoo.c, C11).
 *
 * The wrapper's functions are named cs_cuckoo_table_NAME (init, free, find,
 * hashpower, capacity, lock_table, locked_table_* and const_iterator_* ...;
 * see <libcuckoo-c/cuckoo_table_template.h>).  Its updates either take a C
 * callback with no context argument (update_fn, erase_fn, upsert), so the
 * callback could not know the value to store or compare with, or do not
 * report the previous value (insert, insert_or_assign, update, erase).  The
 * three cs_cuckoo_op_* functions below fill that gap: each is ONE call of
 * the C++ API (uprase_fn, update_fn, erase_fn) with a capturing lambda, so
 * the decision and the change happen under libcuckoo's two bucket locks,
 * atomically, and the previous value comes back.
 *
 * Nothing here throws into C: the cs_cuckoo_op_* functions catch every
 * exception (std::bad_alloc while the table grows -> CS_CUCKOO_ENOMEM), and
 * the wrapper's functions catch std::bad_alloc and set errno to ENOMEM.
 */
#ifndef CS_CUCKOO_TABLE_H
#define CS_CUCKOO_TABLE_H

#include <stdbool.h>
#include <stdint.h>

/* The instantiation: libcuckoo::cuckoohash_map<uint64_t, uint64_t> with the
 * default hash (std::hash: the identity for integers), equality and
 * allocator, 4 slots per bucket. */
#define CUCKOO_TABLE_NAME cs_cuckoo_table
#define CUCKOO_KEY_TYPE uint64_t
#define CUCKOO_MAPPED_TYPE uint64_t
#include <libcuckoo-c/cuckoo_table_template.h>

/* What a cs_cuckoo_op_* call found and did. */
typedef enum cs_cuckoo_status {
    CS_CUCKOO_ABSENT,   /* the key was absent: op_put inserted it; op_update
                           and op_erase did nothing */
    CS_CUCKOO_PRESENT,  /* the key was present, *prev = its value then;
                           op_put replaced it (unless only_if_absent),
                           op_update replaced it, op_erase removed it */
    CS_CUCKOO_MISMATCH, /* present with a value != expect: nothing done */
    CS_CUCKOO_ENOMEM,   /* std::bad_alloc growing the table: nothing done */
    CS_CUCKOO_ERROR,    /* any other exception: nothing done */
} cs_cuckoo_status;

/* Insert key -> val if absent (ABSENT); else *prev = the current value and,
 * unless only_if_absent, store val (PRESENT).  uprase_fn.  prev may be
 * NULL. */
cs_cuckoo_status cs_cuckoo_op_put(cs_cuckoo_table *tbl, uint64_t key,
                                  uint64_t val, bool only_if_absent,
                                  uint64_t *prev);

/* If present (and, when cond, its value == expect): *prev = the value, store
 * val (PRESENT).  Else ABSENT or MISMATCH.  update_fn.  prev may be NULL. */
cs_cuckoo_status cs_cuckoo_op_update(cs_cuckoo_table *tbl, uint64_t key,
                                     bool cond, uint64_t expect, uint64_t val,
                                     uint64_t *prev);

/* If present (and, when cond, its value == expect): *prev = the value,
 * remove the key (PRESENT).  Else ABSENT or MISMATCH.  erase_fn.  prev may
 * be NULL. */
cs_cuckoo_status cs_cuckoo_op_erase(cs_cuckoo_table *tbl, uint64_t key,
                                    bool cond, uint64_t expect,
                                    uint64_t *prev);

#endif /* CS_CUCKOO_TABLE_H */
