/*
 * cs_workload.c - workload files: parse (jansson), validate, resolve.
 *
 * A workload file is one JSON object.  Every field but "name" and "phases"
 * is optional; an absent field takes the default shown.  Unknown fields,
 * wrong types and out-of-range values are errors (never silently ignored or
 * defaulted):
 *
 *   {
 *     "name": "read-heavy",          required, [A-Za-z0-9_.-]{1,63}
 *     "description": "...",          string, < 512 bytes            ("")
 *     "map": {
 *       "initial_capacity": 0        integer 0..2^40; 0 = map default  (0)
 *     },
 *     "keys": {
 *       "range": 4194304,            integer 1..2^32: keys 0..range-1 (2^22)
 *       "distribution": "uniform",   uniform | zipfian | sequential |
 *                                    hotspot | latest           ("uniform")
 *       "theta": 0.99,               zipfian/latest skew, 0 < theta < 1 (0.99)
 *       "hot_fraction": 0.2,         hotspot: share of keys that are hot,
 *                                    0 < f <= 1                       (0.2)
 *       "hot_op_fraction": 0.8       hotspot: share of ops on hot keys,
 *                                    0 <= f <= 1                      (0.8)
 *     },
 *     "prefill": 0.75,               fraction of the range inserted before
 *                                    the first phase, 0..1           (0.75)
 *     "phases": [                    required, 1..16 phases, run in order
 *       { "name": "warmup",          [A-Za-z0-9_.-]{1,31}, unique ("phase<i>")
 *         "duration_s": 0.5,         seconds, 0 < d <= 86400, or:
 *         "ops": 1000000,            total ops over all threads, 1..2^48;
 *                                    exactly one of duration_s / ops
 *         "measure": false,          counted in the headline figures
 *                                    (true; false for a phase named "warmup")
 *         "mix": {"get": 98, "put_if_absent": 1, "remove": 1}
 *                                    required: integer percentages 0..100 of
 *                                    get, put, put_if_absent, replace,
 *                                    replace_if, remove, remove_if, compute,
 *                                    scan, size, iterate; they sum to 100
 *       } ],
 *     "threads": [1, 2],             1..32 distinct counts, each 1..254 ([1,2])
 *     "maps": ["chm", "locked"],     1..32 distinct backend names   (["chm"])
 *     "seed": 1,                     integer 0..2^63-1                  (1)
 *     "check": "counts",             none | counts | linearizability ("counts")
 *     "repeat": 1,                   integer 1..1000                    (1)
 *     "order": "shuffled",           shuffled | listed: the order of the
 *                                    runs (map x threads) in each repeat;
 *                                    shuffled draws it from the seed
 *                                    ("shuffled")
 *     "latency_sample": 0.01,        fraction of ops timed, 0..1     (0.01)
 *     "linearizability": {           history recording for --check
 *       "keys": 64,                  linearizability: sampled keys   (64)
 *       "max_ops": 2000000,          recorded ops in all; a phase ends
 *                                    early when they are used up (2000000)
 *       "budget": 2000000            search steps per key            (2000000)
 *     },
 *     "resizer": {                   a thread calling reserve() while the
 *                                    workers run                      (off)
 *       "enabled": true,             required inside "resizer"
 *       "interval_ms": 1.0           0 < ms < 1000                    (1.0)
 *     }
 *   }
 *
 * Errors go to stderr as "FILE:LINE:COLUMN: message" for JSON syntax and
 * "FILE: at FIELD.PATH: message" for the content (paths like
 * phases[1].mix.get), always saying what is expected; the functions then
 * return CS_EXIT_USAGE.  Whether a mix's "scan" fits the chosen maps is
 * checked when the run starts, not here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cs.h"

/* ---- limits and defaults (documented above and in man/chmstress.1) ------ */

#define CS_NAME_MAX 63               /* workload name */
#define CS_PHASE_NAME_MAX 31         /* phase name (cs_phase.name) */
#define CS_MAP_NAME_MAX 31           /* cs_config.maps[i] */
#define CS_MAX_RANGE (1ULL << 32)     /* as -k */
#define CS_MAX_CAPACITY (1ULL << 40)
#define CS_MAX_OPS (1ULL << 48)
#define CS_MAX_DURATION_S 86400.0
#define CS_MAX_THREADS 254u           /* as -t; the value format has 8 writer bits */
#define CS_MAX_REPEAT 1000u
#define CS_MAX_INTERVAL_MS 1000.0
#define CS_MAX_SEED ((uint64_t)INT64_MAX) /* what a JSON integer holds */

#define CS_PATH_MAX 160
#define CS_MSG_MAX 1024

/* ---- names -------------------------------------------------------------- */

static const char *const cs_op_names[CS_OP_COUNT] = {
    [CS_OP_GET] = "get",
    [CS_OP_PUT] = "put",
    [CS_OP_PUT_IF_ABSENT] = "put_if_absent",
    [CS_OP_REPLACE] = "replace",
    [CS_OP_REPLACE_IF] = "replace_if",
    [CS_OP_REMOVE] = "remove",
    [CS_OP_REMOVE_IF] = "remove_if",
    [CS_OP_COMPUTE] = "compute",
    [CS_OP_SCAN] = "scan",
    [CS_OP_SIZE] = "size",
    [CS_OP_ITERATE] = "iterate",
};

static const char *const cs_dist_names[CS_DIST_COUNT] = {
    [CS_DIST_UNIFORM] = "uniform",
    [CS_DIST_ZIPFIAN] = "zipfian",
    [CS_DIST_SEQUENTIAL] = "sequential",
    [CS_DIST_HOTSPOT] = "hotspot",
    [CS_DIST_LATEST] = "latest",
};

#define CS_CHECK_COUNT 3
static const char *const cs_check_names[CS_CHECK_COUNT] = {
    [CS_CHECK_NONE] = "none",
    [CS_CHECK_COUNTS] = "counts",
    [CS_CHECK_LINEARIZABILITY] = "linearizability",
};

#define CS_ORDER_COUNT 2
static const char *const cs_order_names[CS_ORDER_COUNT] = {
    [CS_ORDER_SHUFFLED] = "shuffled",
    [CS_ORDER_LISTED] = "listed",
};

static int cs_name_index(const char *const *names, int n, const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *cs_op_name(cs_op op)
{
    return (unsigned)op < CS_OP_COUNT ? cs_op_names[op] : "?";
}

int cs_op_from_name(const char *name)
{
    return cs_name_index(cs_op_names, CS_OP_COUNT, name);
}

const char *cs_dist_name(cs_dist d)
{
    return (unsigned)d < CS_DIST_COUNT ? cs_dist_names[d] : "?";
}

int cs_dist_from_name(const char *name)
{
    return cs_name_index(cs_dist_names, CS_DIST_COUNT, name);
}

static const char *cs_check_name(cs_check_mode c)
{
    return (unsigned)c < CS_CHECK_COUNT ? cs_check_names[c] : "?";
}

static const char *cs_order_name(cs_order o)
{
    return (unsigned)o < CS_ORDER_COUNT ? cs_order_names[o] : "?";
}

int cs_order_from_name(const char *name)
{
    return cs_name_index(cs_order_names, CS_ORDER_COUNT, name);
}

/* ---- message helpers ------------------------------------------------------ */

/* "a, b, c" from n names. */
static void cs_join(char *out, size_t size, const char *const *names, int n)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        int r = snprintf(out + used, size - used, "%s%s", i ? ", " : "",
                         names[i]);
        if (r < 0 || (size_t)r >= size - used)
            return; /* truncated: good enough for a message */
        used += (size_t)r;
    }
}

/* The registered backends' names, "chm, locked, ...". */
static void cs_join_maps(char *out, size_t size)
{
    const char *names[CS_MAX_LIST] = {NULL};
    int n = 0;
    for (int i = 0; cs_backends[i] != NULL && n < CS_MAX_LIST; i++)
        names[n++] = cs_backends[i]->name;
    cs_join(out, size, names, n);
    if (n == 0)
        snprintf(out, size, "(no maps are registered)");
}

/* s as a quoted, escaped, length-limited string for a message. */
static void cs_quote(char *out, size_t size, const char *s)
{
    size_t o = 0, shown = 0;
    if (size < 8) {
        out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (shown == 40 || o + 8 >= size) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
        shown++;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* A JSON value as the "got ..." part of a message. */
static void cs_describe(char *out, size_t size, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        cs_quote(out, size, json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: /* with a ".0" if need be: 1.0 is not the integer 1 */
        snprintf(out, size, "%.15g", json_real_value(v));
        if (strpbrk(out, ".en") == NULL && strlen(out) + 3 <= size)
            strcat(out, ".0");
        break;
    case JSON_TRUE:
        snprintf(out, size, "true");
        break;
    case JSON_FALSE:
        snprintf(out, size, "false");
        break;
    case JSON_NULL:
        snprintf(out, size, "null");
        break;
    case JSON_OBJECT:
        snprintf(out, size, "an object");
        break;
    case JSON_ARRAY:
        snprintf(out, size, "an array");
        break;
    default:
        snprintf(out, size, "an unknown value");
        break;
    }
}

/* Print "FILE: at PATH: message" (or "FILE: message" for an empty path) and
 * return CS_EXIT_USAGE. */
static __attribute__((format(printf, 3, 4))) int
cs_fail(const char *file, const char *path, const char *fmt, ...)
{
    char msg[CS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path != NULL && path[0] != '\0')
        fprintf(stderr, "%s: at %s: %s\n", file, path, msg);
    else
        fprintf(stderr, "%s: %s\n", file, msg);
    return CS_EXIT_USAGE;
}

/* ---- field paths ------------------------------------------------------------ */

static bool cs_is_ident(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* parent.key, or parent["odd key"] for keys that are not identifiers. */
static void cs_path_key(char *out, size_t size, const char *parent,
                        const char *key)
{
    int r;
    if (cs_is_ident(key) && strlen(key) <= 48) {
        r = snprintf(out, size, "%s%s%s", parent, parent[0] ? "." : "", key);
    } else {
        char q[64];
        cs_quote(q, sizeof q, key);
        r = snprintf(out, size, "%s[%s]", parent, q);
    }
    if (r < 0 || (size_t)r >= size)
        snprintf(out, size, "%s", "(a field path too long to show)");
}

static void cs_path_index(char *out, size_t size, const char *parent, size_t i)
{
    int r = snprintf(out, size, "%s[%zu]", parent, i);
    if (r < 0 || (size_t)r >= size)
        snprintf(out, size, "%s", "(a field path too long to show)");
}

/* ---- typed fields ------------------------------------------------------------ */

typedef struct cs_ld {
    const char *file; /* for messages */
} cs_ld;

/* Unknown fields of obj are errors; known is NULL-terminated.  `what`
 * names the object in the message ("a phase"). */
static int cs_known_fields(const cs_ld *ld, const char *path, json_t *obj,
                           const char *const *known, const char *what)
{
    const char *key;
    json_t *v;
    int n = 0;
    while (known[n] != NULL)
        n++;
    json_object_foreach(obj, key, v) {
        if (cs_name_index(known, n, key) >= 0)
            continue;
        char p[CS_PATH_MAX], q[64], list[256];
        cs_path_key(p, sizeof p, path, key);
        cs_quote(q, sizeof q, key);
        cs_join(list, sizeof list, known, n);
        return cs_fail(ld->file, p, "unknown field %s in %s; expected one of: %s",
                       q, what, list);
    }
    return 0;
}

static int cs_uint_value(const cs_ld *ld, const char *path, const json_t *v,
                         const char *noun, uint64_t lo, uint64_t hi,
                         uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i >= 0 && (uint64_t)i >= lo && (uint64_t)i <= hi) {
            *out = (uint64_t)i;
            return 0;
        }
    }
    char got[80];
    cs_describe(got, sizeof got, v);
    return cs_fail(ld->file, path, "expected %s %" PRIu64 "..%" PRIu64 ", got %s",
                   noun, lo, hi, got);
}

typedef struct cs_interval {
    double lo, hi;
    bool lo_open, hi_open;
} cs_interval;

static bool cs_in(double d, cs_interval iv)
{
    /* written so that NaN is never inside */
    bool lo_ok = iv.lo_open ? d > iv.lo : d >= iv.lo;
    bool hi_ok = iv.hi_open ? d < iv.hi : d <= iv.hi;
    return lo_ok && hi_ok;
}

static int cs_num_value(const cs_ld *ld, const char *path, const json_t *v,
                        const char *noun, cs_interval iv, double *out)
{
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (cs_in(d, iv)) {
            *out = d;
            return 0;
        }
    }
    char got[80];
    cs_describe(got, sizeof got, v);
    return cs_fail(ld->file, path, "expected %s in %c%g, %g%c, got %s", noun,
                   iv.lo_open ? '(' : '[', iv.lo, iv.hi, iv.hi_open ? ')' : ']',
                   got);
}

static bool cs_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* [A-Za-z0-9_.-]{1,max} */
static bool cs_valid_name(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max)
        return false;
    for (; *s != '\0'; s++)
        if (!cs_name_char(*s))
            return false;
    return true;
}

static int cs_name_value(const cs_ld *ld, const char *path, const json_t *v,
                         size_t max, char *out, size_t size)
{
    if (json_is_string(v) && cs_valid_name(json_string_value(v), max) &&
        strlen(json_string_value(v)) < size) {
        memcpy(out, json_string_value(v), strlen(json_string_value(v)) + 1);
        return 0;
    }
    char got[80];
    cs_describe(got, sizeof got, v);
    return cs_fail(ld->file, path,
                   "expected a name of 1..%zu characters from A-Z a-z 0-9 _ . -, "
                   "got %s",
                   max, got);
}

/* A string that must be one of names[0..n-1]; *out gets its index. */
static int cs_enum_value(const cs_ld *ld, const char *path, const json_t *v,
                         const char *const *names, int n, int *out)
{
    int i = json_is_string(v) ? cs_name_index(names, n, json_string_value(v))
                              : -1;
    if (i >= 0) {
        *out = i;
        return 0;
    }
    char got[80], list[256];
    cs_describe(got, sizeof got, v);
    cs_join(list, sizeof list, names, n);
    return cs_fail(ld->file, path, "expected one of: %s, got %s", list, got);
}

static int cs_bool_value(const cs_ld *ld, const char *path, const json_t *v,
                         bool *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    char got[80];
    cs_describe(got, sizeof got, v);
    return cs_fail(ld->file, path, "expected true or false, got %s", got);
}

/* The field `key` of obj, NULL when absent; p gets its path. */
static json_t *cs_field(const json_t *obj, const char *parent, const char *key,
                        char *p, size_t psize)
{
    cs_path_key(p, psize, parent, key);
    return json_object_get(obj, key);
}

static int cs_opt_uint(const cs_ld *ld, const json_t *obj, const char *parent,
                       const char *key, const char *noun, uint64_t lo,
                       uint64_t hi, uint64_t *out)
{
    char p[CS_PATH_MAX];
    json_t *v = cs_field(obj, parent, key, p, sizeof p);
    return v == NULL ? 0 : cs_uint_value(ld, p, v, noun, lo, hi, out);
}

static int cs_opt_num(const cs_ld *ld, const json_t *obj, const char *parent,
                      const char *key, const char *noun, cs_interval iv,
                      double *out)
{
    char p[CS_PATH_MAX];
    json_t *v = cs_field(obj, parent, key, p, sizeof p);
    return v == NULL ? 0 : cs_num_value(ld, p, v, noun, iv, out);
}

static int cs_opt_enum(const cs_ld *ld, const json_t *obj, const char *parent,
                       const char *key, const char *const *names, int n,
                       int *out)
{
    char p[CS_PATH_MAX];
    json_t *v = cs_field(obj, parent, key, p, sizeof p);
    return v == NULL ? 0 : cs_enum_value(ld, p, v, names, n, out);
}

/* An optional object field with the given known fields: *out = NULL when
 * absent. */
static int cs_opt_object(const cs_ld *ld, const json_t *obj, const char *parent,
                         const char *key, const char *const *known,
                         const char *example, json_t **out)
{
    char p[CS_PATH_MAX];
    json_t *v = cs_field(obj, parent, key, p, sizeof p);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_object(v)) {
        char got[80];
        cs_describe(got, sizeof got, v);
        return cs_fail(ld->file, p, "expected an object like %s, got %s", example,
                       got);
    }
    char what[CS_PATH_MAX + 8];
    snprintf(what, sizeof what, "\"%s\"", key);
    int rc = cs_known_fields(ld, p, v, known, what);
    if (rc == 0)
        *out = v;
    return rc;
}

/* An optional top-level array field with 1..max elements; *out is left
 * alone when the field is absent. */
static int cs_array(const cs_ld *ld, const json_t *obj, const char *key,
                    size_t max, const char *what, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    char got[80];
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        if (json_is_array(v))
            snprintf(got, sizeof got, "an empty array");
        else
            cs_describe(got, sizeof got, v);
        return cs_fail(ld->file, key, "expected a non-empty array of %s, got %s",
                       what, got);
    }
    if (json_array_size(v) > max)
        return cs_fail(ld->file, key, "expected at most %zu %s, got %zu", max,
                       what, json_array_size(v));
    *out = v;
    return 0;
}

/* ---- the sections ------------------------------------------------------------ */

static int cs_load_map(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    static const char *const known[] = {"initial_capacity", NULL};
    json_t *m;
    int rc = cs_opt_object(ld, root, "", "map", known,
                           "{\"initial_capacity\": 0}", &m);
    if (rc != 0 || m == NULL)
        return rc;
    uint64_t cap = cfg->initial_capacity;
    rc = cs_opt_uint(ld, m, "map", "initial_capacity",
                     "an integer entry count (0: the map's default)", 0,
                     CS_MAX_CAPACITY, &cap);
    cfg->initial_capacity = (size_t)cap;
    return rc;
}

static const cs_interval cs_open01 = {0.0, 1.0, true, true};
static const cs_interval cs_closed01 = {0.0, 1.0, false, false};
static const cs_interval cs_half01 = {0.0, 1.0, true, false};
static const cs_interval cs_duration_iv = {0.0, CS_MAX_DURATION_S, true, false};
static const cs_interval cs_interval_iv = {0.0, CS_MAX_INTERVAL_MS, true, true};

static int cs_load_keys(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    static const char *const known[] = {"range", "distribution", "theta",
                                        "hot_fraction", "hot_op_fraction", NULL};
    json_t *k;
    int rc = cs_opt_object(ld, root, "", "keys", known,
                           "{\"range\": 4194304, \"distribution\": \"uniform\"}",
                           &k);
    if (rc != 0 || k == NULL)
        return rc;
    cs_keyspace *ks = &cfg->keys;
    int dist = (int)ks->dist;
    if ((rc = cs_opt_uint(ld, k, "keys", "range", "an integer key count", 1,
                          CS_MAX_RANGE, &ks->range)) != 0 ||
        (rc = cs_opt_enum(ld, k, "keys", "distribution", cs_dist_names,
                          CS_DIST_COUNT, &dist)) != 0 ||
        (rc = cs_opt_num(ld, k, "keys", "theta", "a zipfian skew", cs_open01,
                         &ks->theta)) != 0 ||
        (rc = cs_opt_num(ld, k, "keys", "hot_fraction",
                         "a fraction of the keys", cs_half01,
                         &ks->hot_fraction)) != 0 ||
        (rc = cs_opt_num(ld, k, "keys", "hot_op_fraction",
                         "a fraction of the operations", cs_closed01,
                         &ks->hot_op_fraction)) != 0)
        return rc;
    ks->dist = (cs_dist)dist;
    return 0;
}

static int cs_load_mix(const cs_ld *ld, const json_t *phase, const char *ppath,
                       cs_phase *ph)
{
    char p[CS_PATH_MAX], got[80], list[256];
    json_t *mix = cs_field(phase, ppath, "mix", p, sizeof p);
    cs_join(list, sizeof list, cs_op_names, CS_OP_COUNT);
    if (mix == NULL || !json_is_object(mix)) {
        if (mix == NULL)
            snprintf(got, sizeof got, "nothing (the field is required)");
        else
            cs_describe(got, sizeof got, mix);
        return cs_fail(ld->file, p,
                       "expected an object of integer percentages summing to "
                       "100, e.g. {\"get\": 90, \"put\": 10}, over: %s; got %s",
                       list, got);
    }
    const char *key;
    json_t *v;
    unsigned sum = 0;
    json_object_foreach(mix, key, v) {
        char fp[CS_PATH_MAX], q[64];
        int op = cs_op_from_name(key);
        cs_path_key(fp, sizeof fp, p, key);
        if (op < 0) {
            cs_quote(q, sizeof q, key);
            return cs_fail(ld->file, fp,
                           "unknown operation %s; expected one of: %s", q, list);
        }
        uint64_t pct = 0;
        int rc = cs_uint_value(ld, fp, v, "an integer percentage", 0, 100, &pct);
        if (rc != 0)
            return rc;
        ph->mix[op] = (unsigned)pct;
        sum += (unsigned)pct;
    }
    if (sum != 100)
        return cs_fail(ld->file, p,
                       "the percentages sum to %u; expected them to sum to 100",
                       sum);
    return 0;
}

static int cs_load_phase(const cs_ld *ld, json_t *v, size_t i, cs_phase *ph)
{
    static const char *const known[] = {"name", "duration_s", "ops",
                                        "measure", "mix", NULL};
    char path[CS_PATH_MAX], p[CS_PATH_MAX], got[80];
    cs_path_index(path, sizeof path, "phases", i);
    if (!json_is_object(v)) {
        cs_describe(got, sizeof got, v);
        return cs_fail(ld->file, path,
                       "expected a phase object like {\"name\": \"measure\", "
                       "\"duration_s\": 2, \"mix\": {\"get\": 100}}, got %s",
                       got);
    }
    int rc = cs_known_fields(ld, path, v, known, "a phase");
    if (rc != 0)
        return rc;

    snprintf(ph->name, sizeof ph->name, "phase%zu", i);
    json_t *f = cs_field(v, path, "name", p, sizeof p);
    if (f != NULL &&
        (rc = cs_name_value(ld, p, f, CS_PHASE_NAME_MAX, ph->name,
                            sizeof ph->name)) != 0)
        return rc;

    json_t *dur = json_object_get(v, "duration_s");
    json_t *ops = json_object_get(v, "ops");
    if ((dur == NULL) == (ops == NULL))
        return cs_fail(ld->file, path,
                       "has %s \"duration_s\" %s \"ops\"; expected exactly one "
                       "of them (seconds, or a total operation count)",
                       dur == NULL ? "neither" : "both",
                       dur == NULL ? "nor" : "and");
    if ((rc = cs_opt_num(ld, v, path, "duration_s", "a number of seconds",
                         cs_duration_iv, &ph->duration_s)) != 0 ||
        (rc = cs_opt_uint(ld, v, path, "ops", "an integer operation count", 1,
                          CS_MAX_OPS, &ph->ops)) != 0)
        return rc;

    ph->measure = strcmp(ph->name, "warmup") != 0;
    f = cs_field(v, path, "measure", p, sizeof p);
    if (f != NULL && (rc = cs_bool_value(ld, p, f, &ph->measure)) != 0)
        return rc;
    return cs_load_mix(ld, v, path, ph);
}

static int cs_load_phases(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    json_t *a = NULL;
    int rc = cs_array(ld, root, "phases", CS_MAX_PHASES, "phases", &a);
    if (rc != 0)
        return rc;
    if (a == NULL)
        return cs_fail(ld->file, "phases",
                       "missing; expected a non-empty array of phases, e.g. "
                       "[{\"name\": \"measure\", \"duration_s\": 2, "
                       "\"mix\": {\"get\": 100}}]");
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        cs_phase *ph = &cfg->phases[i];
        if ((rc = cs_load_phase(ld, v, i, ph)) != 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->phases[j].name, ph->name) == 0) {
                char p[CS_PATH_MAX];
                cs_path_index(p, sizeof p, "phases", i);
                return cs_fail(ld->file, p,
                               "phase name \"%s\" is also phases[%zu]'s; "
                               "expected distinct phase names",
                               ph->name, j);
            }
        cfg->nphases = (int)i + 1;
    }
    return 0;
}

static int cs_load_threads(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    json_t *a = NULL;
    int rc = cs_array(ld, root, "threads", CS_MAX_LIST, "thread counts", &a);
    if (rc != 0 || a == NULL)
        return rc;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        char p[CS_PATH_MAX];
        uint64_t n = 0;
        cs_path_index(p, sizeof p, "threads", i);
        if ((rc = cs_uint_value(ld, p, v, "an integer thread count", 1,
                                CS_MAX_THREADS, &n)) != 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (cfg->threads[j] == n)
                return cs_fail(ld->file, p,
                               "thread count %" PRIu64 " is also threads[%zu]; "
                               "expected distinct thread counts (use \"repeat\" "
                               "to run one again)",
                               n, j);
        cfg->threads[i] = (unsigned)n;
    }
    cfg->nthreads = (int)json_array_size(a);
    return 0;
}

static int cs_map_name_value(const cs_ld *ld, const char *p, const json_t *v,
                             char *out, size_t size)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (s != NULL && strlen(s) < size && cs_backend_find(s) != NULL) {
        memcpy(out, s, strlen(s) + 1);
        return 0;
    }
    char got[80], list[256];
    cs_describe(got, sizeof got, v);
    cs_join_maps(list, sizeof list);
    if (s != NULL)
        return cs_fail(ld->file, p,
                       "unknown map %s; expected one of: %s (see 'chmstress list')",
                       got, list);
    return cs_fail(ld->file, p, "expected a map name, one of: %s, got %s", list,
                   got);
}

static int cs_load_maps(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    json_t *a = NULL;
    int rc = cs_array(ld, root, "maps", CS_MAX_LIST, "map names", &a);
    if (rc != 0 || a == NULL)
        return rc;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        char p[CS_PATH_MAX];
        cs_path_index(p, sizeof p, "maps", i);
        if ((rc = cs_map_name_value(ld, p, v, cfg->maps[i],
                                    sizeof cfg->maps[i])) != 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->maps[j], cfg->maps[i]) == 0)
                return cs_fail(ld->file, p,
                               "map \"%s\" is also maps[%zu]; expected distinct "
                               "maps",
                               cfg->maps[i], j);
    }
    cfg->nmaps = (int)json_array_size(a);
    return 0;
}

static int cs_load_resizer(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    static const char *const known[] = {"enabled", "interval_ms", NULL};
    json_t *r;
    int rc = cs_opt_object(ld, root, "", "resizer", known,
                           "{\"enabled\": true, \"interval_ms\": 1.0}", &r);
    if (rc != 0 || r == NULL)
        return rc;
    char p[CS_PATH_MAX];
    json_t *en = cs_field(r, "resizer", "enabled", p, sizeof p);
    if (en == NULL)
        return cs_fail(ld->file, p, "missing; expected true or false (the "
                                    "\"resizer\" object needs it)");
    if ((rc = cs_bool_value(ld, p, en, &cfg->resizer)) != 0)
        return rc;
    return cs_opt_num(ld, r, "resizer", "interval_ms", "a number of milliseconds",
                      cs_interval_iv, &cfg->resizer_interval_ms);
}

static int cs_load_lin(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    static const char *const known[] = {"keys", "max_ops", "budget", NULL};
    json_t *r;
    int rc = cs_opt_object(ld, root, "", "linearizability", known,
                           "{\"keys\": 64, \"max_ops\": 2000000, "
                           "\"budget\": 2000000}", &r);
    if (rc != 0 || r == NULL)
        return rc;
    if ((rc = cs_opt_uint(ld, r, "linearizability", "keys",
                          "a number of sampled keys", 1, 1u << 20,
                          &cfg->lin_keys)) != 0 ||
        (rc = cs_opt_uint(ld, r, "linearizability", "max_ops",
                          "a number of recorded operations", 1000,
                          (uint64_t)1 << 30, &cfg->lin_max_ops)) != 0)
        return rc;
    return cs_opt_uint(ld, r, "linearizability", "budget",
                       "a number of search steps per key", 1,
                       (uint64_t)1 << 40, &cfg->lin_budget);
}

static int cs_load_text(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    char p[CS_PATH_MAX], got[80];
    json_t *v = cs_field(root, "", "name", p, sizeof p);
    if (v == NULL)
        return cs_fail(ld->file, p,
                       "missing; expected the workload's name, 1..%d characters "
                       "from A-Z a-z 0-9 _ . -",
                       CS_NAME_MAX);
    int rc = cs_name_value(ld, p, v, CS_NAME_MAX, cfg->name, sizeof cfg->name);
    if (rc != 0)
        return rc;
    v = cs_field(root, "", "description", p, sizeof p);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= sizeof cfg->description ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        if (json_is_string(v))
            snprintf(got, sizeof got, "a string of %zu bytes",
                     json_string_length(v));
        else
            cs_describe(got, sizeof got, v);
        return cs_fail(ld->file, p, "expected a string of at most %zu bytes, got %s",
                       sizeof cfg->description - 1, got);
    }
    memcpy(cfg->description, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int cs_load_misc(const cs_ld *ld, const json_t *root, cs_config *cfg)
{
    static const cs_interval prefill_iv = {0.0, 1.0, false, false};
    uint64_t repeat = cfg->repeat;
    int check = (int)cfg->check, order = (int)cfg->order;
    int rc;
    if ((rc = cs_opt_num(ld, root, "", "prefill", "a fraction of the key range",
                         prefill_iv, &cfg->prefill)) != 0 ||
        (rc = cs_opt_uint(ld, root, "", "seed", "an integer", 0, CS_MAX_SEED,
                          &cfg->seed)) != 0 ||
        (rc = cs_opt_enum(ld, root, "", "check", cs_check_names, CS_CHECK_COUNT,
                          &check)) != 0 ||
        (rc = cs_opt_uint(ld, root, "", "repeat", "an integer repeat count", 1,
                          CS_MAX_REPEAT, &repeat)) != 0 ||
        (rc = cs_opt_enum(ld, root, "", "order", cs_order_names, CS_ORDER_COUNT,
                          &order)) != 0 ||
        (rc = cs_opt_num(ld, root, "", "latency_sample",
                         "a fraction of the operations", cs_closed01,
                         &cfg->latency_sample)) != 0)
        return rc;
    cfg->repeat = (unsigned)repeat;
    cfg->check = (cs_check_mode)check;
    cfg->order = (cs_order)order;
    return 0;
}

static int cs_load_root(const cs_ld *ld, json_t *root, cs_config *cfg)
{
    static const char *const known[] = {
        "name", "description", "map", "keys", "prefill", "phases", "threads",
        "maps", "seed", "check", "repeat", "order", "latency_sample",
        "resizer", "linearizability", NULL};
    if (!json_is_object(root)) {
        char got[80];
        cs_describe(got, sizeof got, root);
        return cs_fail(ld->file, NULL,
                       "expected a JSON object {\"name\": ..., \"phases\": "
                       "[...], ...} at the top level, got %s",
                       got);
    }
    int rc;
    if ((rc = cs_known_fields(ld, "", root, known, "a workload")) != 0 ||
        (rc = cs_load_text(ld, root, cfg)) != 0 ||
        (rc = cs_load_map(ld, root, cfg)) != 0 ||
        (rc = cs_load_keys(ld, root, cfg)) != 0 ||
        (rc = cs_load_phases(ld, root, cfg)) != 0 ||
        (rc = cs_load_threads(ld, root, cfg)) != 0 ||
        (rc = cs_load_maps(ld, root, cfg)) != 0 ||
        (rc = cs_load_resizer(ld, root, cfg)) != 0 ||
        (rc = cs_load_lin(ld, root, cfg)) != 0 ||
        (rc = cs_load_misc(ld, root, cfg)) != 0)
        return rc;
    return 0;
}

/* ---- loading ------------------------------------------------------------------ */

static void cs_config_defaults(cs_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->initial_capacity = 0;
    cfg->keys.range = 1ULL << 22;
    cfg->keys.dist = CS_DIST_UNIFORM;
    cfg->keys.theta = 0.99;
    cfg->keys.hot_fraction = 0.2;
    cfg->keys.hot_op_fraction = 0.8;
    cfg->prefill = 0.75;
    snprintf(cfg->maps[0], sizeof cfg->maps[0], "chm");
    cfg->nmaps = 1;
    cfg->threads[0] = 1;
    cfg->threads[1] = 2;
    cfg->nthreads = 2;
    cfg->seed = 1;
    cfg->check = CS_CHECK_COUNTS;
    cfg->repeat = 1;
    cfg->order = CS_ORDER_SHUFFLED;
    cfg->resizer = false;
    cfg->resizer_interval_ms = 1.0;
    cfg->latency_sample = 0.01;
    cfg->lin_keys = 64;
    cfg->lin_max_ops = 2000000;
    cfg->lin_budget = 2000000;
}

/* Parse the file into *root; syntax errors as FILE:LINE:COLUMN. */
static int cs_parse_file(const char *path, json_t **root)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: cannot read the workload file: %s (expected a "
                        "JSON workload file; 'chmstress list' shows the "
                        "bundled ones)\n",
                path, strerror(errno));
        return CS_EXIT_USAGE;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: is a directory; expected a JSON workload file\n",
                path);
        return CS_EXIT_USAGE;
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        fprintf(stderr, "%s: the file is empty; expected a JSON workload object "
                        "{\"name\": ..., \"phases\": [...]}\n",
                path);
        return CS_EXIT_USAGE;
    }
    json_error_t err;
    *root = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (*root != NULL)
        return 0;
    const char *hint = strstr(err.text, "duplicate") != NULL
                           ? "expected each field at most once per object"
                           : "expected valid JSON";
    if (err.line < 0) /* not a syntax error: reading failed */
        fprintf(stderr, "%s: %s (%s)\n", path, err.text, hint);
    else
        fprintf(stderr, "%s:%d:%d: JSON syntax error: %s (%s)\n", path, err.line,
                err.column, err.text, hint);
    return CS_EXIT_USAGE;
}

int cs_workload_load(const char *path, cs_config *cfg)
{
    cs_config_defaults(cfg);
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "chmstress: no workload file given; expected -w FILE\n");
        return CS_EXIT_USAGE;
    }
    if (strlen(path) >= sizeof cfg->path) {
        fprintf(stderr, "%.60s...: the path is too long; expected at most %zu "
                        "bytes\n",
                path, sizeof cfg->path - 1);
        return CS_EXIT_USAGE;
    }
    memcpy(cfg->path, path, strlen(path) + 1);

    json_t *root;
    int rc = cs_parse_file(path, &root);
    if (rc != 0)
        return rc;
    cs_ld ld = {.file = path};
    rc = cs_load_root(&ld, root, cfg);
    json_decref(root);
    return rc != 0 ? rc : cs_config_validate(cfg);
}

/* ---- validation of the resolved config ------------------------------------------ */

/* What can set a field besides the file, for messages about flags. */
typedef struct cs_vd {
    const char *file;
    char where[CS_PATH_MAX + 48];
} cs_vd;

/* "threads[0] (from the file or -t)" */
static const char *cs_vd_where(cs_vd *vd, const char *path, const char *flag)
{
    if (flag != NULL)
        snprintf(vd->where, sizeof vd->where, "%s (from the file or %s)", path,
                 flag);
    else
        snprintf(vd->where, sizeof vd->where, "%s", path);
    return vd->where;
}

static int cs_validate_keys(cs_vd *vd, const cs_config *cfg)
{
    const cs_keyspace *ks = &cfg->keys;
    if (ks->range < 1 || ks->range > CS_MAX_RANGE)
        return cs_fail(vd->file, "keys.range",
                       "expected an integer key count 1..%" PRIu64 ", got %" PRIu64,
                       (uint64_t)CS_MAX_RANGE, ks->range);
    if ((unsigned)ks->dist >= CS_DIST_COUNT)
        return cs_fail(vd->file, "keys.distribution", "expected a distribution");
    if (!cs_in(ks->theta, cs_open01))
        return cs_fail(vd->file, "keys.theta",
                       "expected a zipfian skew in (0, 1), got %g", ks->theta);
    if (!cs_in(ks->hot_fraction, cs_half01))
        return cs_fail(vd->file, "keys.hot_fraction",
                       "expected a fraction in (0, 1], got %g", ks->hot_fraction);
    if (!cs_in(ks->hot_op_fraction, cs_closed01))
        return cs_fail(vd->file, "keys.hot_op_fraction",
                       "expected a fraction in [0, 1], got %g",
                       ks->hot_op_fraction);
    if (!cs_in(cfg->prefill, cs_closed01))
        return cs_fail(vd->file, "prefill",
                       "expected a fraction of the key range in [0, 1], got %g",
                       cfg->prefill);
    if (cfg->initial_capacity > CS_MAX_CAPACITY)
        return cs_fail(vd->file, "map.initial_capacity",
                       "expected an integer entry count 0..%" PRIu64 ", got %zu",
                       (uint64_t)CS_MAX_CAPACITY, cfg->initial_capacity);
    return 0;
}

static int cs_validate_phase(cs_vd *vd, const cs_phase *ph, int i)
{
    char p[CS_PATH_MAX], fp[CS_PATH_MAX];
    cs_path_index(p, sizeof p, "phases", (size_t)i);
    if (!cs_valid_name(ph->name, CS_PHASE_NAME_MAX))
        return cs_fail(vd->file, p, "expected a phase name of 1..%d characters "
                                    "from A-Z a-z 0-9 _ . -",
                       CS_PHASE_NAME_MAX);
    bool has_d = ph->duration_s != 0.0, has_n = ph->ops != 0;
    if (has_d == has_n)
        return cs_fail(vd->file, cs_vd_where(vd, p, "-d/-n"),
                       "has %s a duration %s an operation count; expected "
                       "exactly one of them",
                       has_d ? "both" : "neither", has_d ? "and" : "nor");
    cs_path_key(fp, sizeof fp, p, "duration_s");
    if (has_d && !cs_in(ph->duration_s, cs_duration_iv))
        return cs_fail(vd->file, cs_vd_where(vd, fp, "-d"),
                       "expected a number of seconds in (0, %g], got %g",
                       CS_MAX_DURATION_S, ph->duration_s);
    cs_path_key(fp, sizeof fp, p, "ops");
    if (has_n && ph->ops > CS_MAX_OPS)
        return cs_fail(vd->file, cs_vd_where(vd, fp, "-n"),
                       "expected an integer operation count 1..%" PRIu64
                       ", got %" PRIu64,
                       (uint64_t)CS_MAX_OPS, ph->ops);
    unsigned sum = 0;
    for (int op = 0; op < CS_OP_COUNT; op++) {
        if (ph->mix[op] > 100) {
            cs_path_key(fp, sizeof fp, p, "mix");
            return cs_fail(vd->file, fp, "%s: expected a percentage 0..100, got %u",
                           cs_op_names[op], ph->mix[op]);
        }
        sum += ph->mix[op];
    }
    cs_path_key(fp, sizeof fp, p, "mix");
    if (sum != 100)
        return cs_fail(vd->file, fp,
                       "the percentages sum to %u; expected them to sum to 100",
                       sum);
    return 0;
}

static int cs_validate_phases(cs_vd *vd, const cs_config *cfg)
{
    if (cfg->nphases < 1 || cfg->nphases > CS_MAX_PHASES)
        return cs_fail(vd->file, "phases",
                       "expected 1..%d phases, got %d", CS_MAX_PHASES,
                       cfg->nphases);
    for (int i = 0; i < cfg->nphases; i++) {
        int rc = cs_validate_phase(vd, &cfg->phases[i], i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int cs_validate_maps(cs_vd *vd, const cs_config *cfg)
{
    if (cfg->nmaps < 1 || cfg->nmaps > CS_MAX_LIST)
        return cs_fail(vd->file, cs_vd_where(vd, "maps", "-m"),
                       "expected 1..%d maps, got %d", CS_MAX_LIST, cfg->nmaps);
    for (int i = 0; i < cfg->nmaps; i++) {
        char p[CS_PATH_MAX], q[64], list[256];
        cs_path_index(p, sizeof p, "maps", (size_t)i);
        if (memchr(cfg->maps[i], '\0', sizeof cfg->maps[i]) == NULL ||
            cs_backend_find(cfg->maps[i]) == NULL) {
            char name[sizeof cfg->maps[i] + 1];
            memcpy(name, cfg->maps[i], sizeof cfg->maps[i]);
            name[sizeof cfg->maps[i]] = '\0';
            cs_quote(q, sizeof q, name);
            cs_join_maps(list, sizeof list);
            return cs_fail(vd->file, cs_vd_where(vd, p, "-m"),
                           "unknown map %s; expected one of: %s (see "
                           "'chmstress list')",
                           q, list);
        }
        for (int j = 0; j < i; j++)
            if (strcmp(cfg->maps[j], cfg->maps[i]) == 0)
                return cs_fail(vd->file, cs_vd_where(vd, p, "-m"),
                               "map \"%s\" is also maps[%d]; expected distinct "
                               "maps",
                               cfg->maps[i], j);
    }
    return 0;
}

static int cs_validate_threads(cs_vd *vd, const cs_config *cfg)
{
    if (cfg->nthreads < 1 || cfg->nthreads > CS_MAX_LIST)
        return cs_fail(vd->file, cs_vd_where(vd, "threads", "-t"),
                       "expected 1..%d thread counts, got %d", CS_MAX_LIST,
                       cfg->nthreads);
    for (int i = 0; i < cfg->nthreads; i++) {
        char p[CS_PATH_MAX];
        cs_path_index(p, sizeof p, "threads", (size_t)i);
        if (cfg->threads[i] < 1 || cfg->threads[i] > CS_MAX_THREADS)
            return cs_fail(vd->file, cs_vd_where(vd, p, "-t"),
                           "expected an integer thread count 1..%u, got %u",
                           CS_MAX_THREADS, cfg->threads[i]);
        for (int j = 0; j < i; j++)
            if (cfg->threads[j] == cfg->threads[i])
                return cs_fail(vd->file, cs_vd_where(vd, p, "-t"),
                               "thread count %u is also threads[%d]; expected "
                               "distinct thread counts",
                               cfg->threads[i], j);
    }
    return 0;
}

static int cs_validate_misc(cs_vd *vd, const cs_config *cfg)
{
    if (!cs_valid_name(cfg->name, CS_NAME_MAX))
        return cs_fail(vd->file, "name",
                       "expected a name of 1..%d characters from A-Z a-z 0-9 _ . -",
                       CS_NAME_MAX);
    if (cfg->seed > CS_MAX_SEED)
        return cs_fail(vd->file, cs_vd_where(vd, "seed", "--seed"),
                       "expected an integer 0..%" PRIu64 ", got %" PRIu64,
                       CS_MAX_SEED, cfg->seed);
    if ((unsigned)cfg->check >= CS_CHECK_COUNT)
        return cs_fail(vd->file, cs_vd_where(vd, "check", "--check"),
                       "expected none, counts or linearizability");
    if (cfg->repeat < 1 || cfg->repeat > CS_MAX_REPEAT)
        return cs_fail(vd->file, cs_vd_where(vd, "repeat", "--repeat"),
                       "expected an integer repeat count 1..%u, got %u",
                       CS_MAX_REPEAT, cfg->repeat);
    if ((unsigned)cfg->order >= CS_ORDER_COUNT)
        return cs_fail(vd->file, cs_vd_where(vd, "order", "--order"),
                       "expected shuffled or listed");
    if (!cs_in(cfg->latency_sample, cs_closed01))
        return cs_fail(vd->file, "latency_sample",
                       "expected a fraction of the operations in [0, 1], got %g",
                       cfg->latency_sample);
    if (!cs_in(cfg->resizer_interval_ms, cs_interval_iv))
        return cs_fail(vd->file, "resizer.interval_ms",
                       "expected a number of milliseconds in (0, %g), got %g",
                       CS_MAX_INTERVAL_MS, cfg->resizer_interval_ms);
    return 0;
}

int cs_config_validate(const cs_config *cfg)
{
    cs_vd vd = {.file = cfg->path[0] != '\0' ? cfg->path : "chmstress"};
    int rc;
    if ((rc = cs_validate_misc(&vd, cfg)) != 0 ||
        (rc = cs_validate_keys(&vd, cfg)) != 0 ||
        (rc = cs_validate_phases(&vd, cfg)) != 0 ||
        (rc = cs_validate_maps(&vd, cfg)) != 0 ||
        (rc = cs_validate_threads(&vd, cfg)) != 0)
        return rc;
    return 0;
}

/* ---- the resolved config as JSON -------------------------------------------------- */

/* Sets o[key] = v (stealing v); false if v is NULL or the set failed. */
static bool cs_set(json_t *o, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(o, key, v) == 0;
}

static bool cs_append(json_t *a, json_t *v)
{
    return v != NULL && json_array_append_new(a, v) == 0;
}

static json_t *cs_phase_to_json(const cs_phase *ph)
{
    json_t *o = json_object(), *mix = json_object();
    bool ok = o != NULL && mix != NULL;
    for (int op = 0; ok && op < CS_OP_COUNT; op++)
        ok = cs_set(mix, cs_op_names[op], json_integer(ph->mix[op]));
    ok = ok && cs_set(o, "name", json_string(ph->name));
    if (ph->ops != 0)
        ok = ok && cs_set(o, "ops", json_integer((json_int_t)ph->ops));
    else
        ok = ok && cs_set(o, "duration_s", json_real(ph->duration_s));
    ok = ok && cs_set(o, "measure", json_boolean(ph->measure));
    if (ok) {
        ok = cs_set(o, "mix", mix);
        mix = NULL; /* stolen, even on failure */
    }
    json_decref(mix);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *cs_keys_to_json(const cs_config *cfg)
{
    const cs_keyspace *ks = &cfg->keys;
    json_t *o = json_object();
    bool ok = o != NULL &&
              cs_set(o, "range", json_integer((json_int_t)ks->range)) &&
              cs_set(o, "distribution", json_string(cs_dist_name(ks->dist))) &&
              cs_set(o, "theta", json_real(ks->theta)) &&
              cs_set(o, "hot_fraction", json_real(ks->hot_fraction)) &&
              cs_set(o, "hot_op_fraction", json_real(ks->hot_op_fraction));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *cs_lists_to_json(const cs_config *cfg, bool maps)
{
    json_t *a = json_array();
    bool ok = a != NULL;
    int n = maps ? cfg->nmaps : cfg->nthreads;
    for (int i = 0; ok && i < n; i++)
        ok = cs_append(a, maps ? json_string(cfg->maps[i])
                               : json_integer(cfg->threads[i]));
    if (!ok) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *cs_small_object(const char *k1, json_t *v1, const char *k2,
                               json_t *v2)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    ok = ok ? cs_set(o, k1, v1) : (json_decref(v1), false);
    if (k2 != NULL)
        ok = ok ? cs_set(o, k2, v2) : (json_decref(v2), false);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

struct json_t *cs_config_to_json(const cs_config *cfg)
{
    json_t *o = json_object(), *phases = json_array();
    bool ok = o != NULL && phases != NULL;
    for (int i = 0; ok && i < cfg->nphases; i++)
        ok = cs_append(phases, cs_phase_to_json(&cfg->phases[i]));
    ok = ok && cs_set(o, "name", json_string(cfg->name)) &&
         cs_set(o, "description", json_string(cfg->description)) &&
         cs_set(o, "map", cs_small_object("initial_capacity",
                                          json_integer((json_int_t)
                                                           cfg->initial_capacity),
                                          NULL, NULL)) &&
         cs_set(o, "keys", cs_keys_to_json(cfg)) &&
         cs_set(o, "prefill", json_real(cfg->prefill));
    if (ok) {
        ok = cs_set(o, "phases", phases);
        phases = NULL; /* stolen, even on failure */
    }
    ok = ok && cs_set(o, "threads", cs_lists_to_json(cfg, false)) &&
         cs_set(o, "maps", cs_lists_to_json(cfg, true)) &&
         cs_set(o, "seed", json_integer((json_int_t)cfg->seed)) &&
         cs_set(o, "check", json_string(cs_check_name(cfg->check))) &&
         cs_set(o, "repeat", json_integer(cfg->repeat)) &&
         cs_set(o, "order", json_string(cs_order_name(cfg->order))) &&
         cs_set(o, "latency_sample", json_real(cfg->latency_sample)) &&
         cs_set(o, "resizer",
                cs_small_object("enabled", json_boolean(cfg->resizer),
                                "interval_ms", json_real(cfg->resizer_interval_ms)));
    json_t *lin = ok ? cs_small_object("keys", json_integer((json_int_t)cfg->lin_keys),
                                       "max_ops",
                                       json_integer((json_int_t)cfg->lin_max_ops))
                     : NULL;
    ok = ok && lin != NULL &&
         cs_set(lin, "budget", json_integer((json_int_t)cfg->lin_budget)) &&
         cs_set(o, "linearizability", lin);
    json_decref(phases);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return (struct json_t *)o;
}
