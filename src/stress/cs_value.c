/*
 * cs_value.c - the values chmstress writes, which say where they came from.
 *
 *   bits 63..44  key tag: the top 20 bits of a 64-bit mix of the key index
 *                (murmur3's fmix64 of index+1, a different function from
 *                cs_key_of, so the tag is not the key's own top bits)
 *   bits 43..36  writer: the thread number, CS_PREFILL_WRITER (255) for the
 *                prefill (threads are limited to 1..254)
 *   bits 35..0   the writer's sequence number, starting at 1
 *
 * A value read for key k whose tag is not tag(k) was never written for k
 * (a lost or misplaced entry); a wrong tag slips through with probability
 * 2^-20.  Value 0 is never produced: seq >= 1 and the sequence field is
 * kept in 1..2^36-1 (a writer past 2^36-1 writes, hours at full speed,
 * wraps to 1 instead of 0).
 */
#include <assert.h>
#include <stdint.h>

#include "cs.h"

#define CS_VALUE_TAG_SHIFT 44
#define CS_VALUE_WRITER_SHIFT 36
#define CS_VALUE_WRITER_MASK 0xffu
#define CS_VALUE_SEQ_MASK ((UINT64_C(1) << CS_VALUE_WRITER_SHIFT) - 1)

static uint64_t cs_value_tag(uint64_t key_index)
{
    uint64_t x = key_index + 1;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x >> CS_VALUE_TAG_SHIFT; /* 20 bits */
}

uint64_t cs_value_make(uint64_t key_index, unsigned writer, uint64_t seq)
{
    assert(seq >= 1);
    uint64_t s = seq & CS_VALUE_SEQ_MASK;
    s += s == 0; /* only after a wrap: 2^36 -> 1 */
    uint64_t v = cs_value_tag(key_index) << CS_VALUE_TAG_SHIFT |
                 (uint64_t)(writer & CS_VALUE_WRITER_MASK) << CS_VALUE_WRITER_SHIFT |
                 s;
    assert(v != 0);
    return v;
}

bool cs_value_key_ok(uint64_t value, uint64_t key_index)
{
    return value != 0 &&
           value >> CS_VALUE_TAG_SHIFT == cs_value_tag(key_index);
}

unsigned cs_value_writer(uint64_t value)
{
    return (unsigned)(value >> CS_VALUE_WRITER_SHIFT) & CS_VALUE_WRITER_MASK;
}

uint64_t cs_value_seq(uint64_t value)
{
    return value & CS_VALUE_SEQ_MASK;
}
