/*
 * cs_cuckoo_table.cc - the one C++ translation unit of chmstress: libcuckoo's
 * C wrapper instantiated for uint64_t -> uint64_t (the names and types are
 * fixed in cs_cuckoo_table.h), plus three small atomic updates the wrapper
 * lacks.  The `cuckoo` backend (cs_backend_cuckoo.c) is C and calls only
 * what is declared in cs_cuckoo_table.h.
 *
 * Why the extra functions: the wrapper's update_fn, erase_fn and upsert take
 * a C function pointer without a context argument, so the callback cannot
 * see the value to store, the value to compare with, or a place to report
 * the previous value; and insert, insert_or_assign, update and erase do not
 * report the previous value at all.  chmstress needs each of put,
 * put_if_absent, replace, replace_if, remove, remove_if and compute to
 * decide and act in ONE atomic step and say what was there.  libcuckoo's C++
 * API does that with a functor run while the key's two bucket locks are
 * held: uprase_fn (insert, or run the functor on the present value),
 * update_fn and erase_fn (run the functor on the present value; erase_fn
 * removes it when the functor says so).  Each cs_cuckoo_op_* below is one
 * such call with a capturing lambda.
 *
 * No exception may unwind into C: every cs_cuckoo_op_* catches everything.
 * With the wrapper's settings (minimum load factor 0, no maximum hashpower)
 * the only exception libcuckoo can throw is std::bad_alloc when a resize
 * cannot allocate, and then nothing was inserted.
 */
#include <new>

extern "C" {
#include "cs_cuckoo_table.h"
}

/* The wrapper's implementation, for the types cs_cuckoo_table.h defined:
 * struct cs_cuckoo_table { tbl_t t; } with
 * tbl_t = libcuckoo::cuckoohash_map<uint64_t, uint64_t>. */
#include <libcuckoo-c/cuckoo_table_template.cc>

extern "C" {

/* Insert, or (unless only_if_absent) replace, reporting the value that was
 * there: put, compute and put_if_absent. */
cs_cuckoo_status cs_cuckoo_op_put(cs_cuckoo_table *tbl, uint64_t key,
                                  uint64_t val, bool only_if_absent,
                                  uint64_t *prev)
{
    try {
        bool inserted = tbl->t.uprase_fn(
            key,
            [&](uint64_t &cur) {
                if (prev != nullptr)
                    *prev = cur;
                if (!only_if_absent)
                    cur = val;
                return false; /* keep the entry */
            },
            val);
        return inserted ? CS_CUCKOO_ABSENT : CS_CUCKOO_PRESENT;
    } catch (const std::bad_alloc &) {
        return CS_CUCKOO_ENOMEM;
    } catch (...) {
        return CS_CUCKOO_ERROR;
    }
}

/* Replace a present value, if cond only when it equals expect: replace and
 * replace_if. */
cs_cuckoo_status cs_cuckoo_op_update(cs_cuckoo_table *tbl, uint64_t key,
                                     bool cond, uint64_t expect, uint64_t val,
                                     uint64_t *prev)
{
    try {
        bool mismatch = false;
        bool found = tbl->t.update_fn(key, [&](uint64_t &cur) {
            if (cond && cur != expect) {
                mismatch = true;
                return;
            }
            if (prev != nullptr)
                *prev = cur;
            cur = val;
        });
        if (!found)
            return CS_CUCKOO_ABSENT;
        return mismatch ? CS_CUCKOO_MISMATCH : CS_CUCKOO_PRESENT;
    } catch (...) {
        return CS_CUCKOO_ERROR;
    }
}

/* Remove a present key, if cond only when its value equals expect: remove
 * and remove_if. */
cs_cuckoo_status cs_cuckoo_op_erase(cs_cuckoo_table *tbl, uint64_t key,
                                    bool cond, uint64_t expect,
                                    uint64_t *prev)
{
    try {
        bool mismatch = false;
        bool found = tbl->t.erase_fn(key, [&](uint64_t &cur) {
            if (cond && cur != expect) {
                mismatch = true;
                return false; /* keep it */
            }
            if (prev != nullptr)
                *prev = cur;
            return true; /* erase it */
        });
        if (!found)
            return CS_CUCKOO_ABSENT;
        return mismatch ? CS_CUCKOO_MISMATCH : CS_CUCKOO_PRESENT;
    } catch (...) {
        return CS_CUCKOO_ERROR;
    }
}

} /* extern "C" */
