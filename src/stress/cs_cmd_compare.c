/*
 * cs_cmd_compare.c - `chmstress compare BASE.json NEW.json [--tolerance PCT]
 * [--ratio MAP]`: the CI regression gate (DESIGN.md section 5).
 *
 * Reads two result files (schema chmstress-result/1) and matches the rows of
 * their "summary" arrays by (workload, map, threads, phase); a row's
 * workload is its "workload" field (files of several workloads) or else
 * the file's config.name.
 * Only measured phases ("measure": true) are compared; warmup rows are
 * skipped (counted in the footer).
 *
 *   absolute mode (default): compares mops_median (the median over repeats).
 *   ratio mode (--ratio REF): for every row of a map other than REF,
 *       compares mops_median(map) / mops_median(REF) of the same workload,
 *       threads and phase, both measured within one file (one run), so the
 *       noise of a shared machine cancels out.
 *
 * Delta = (new - base) / base * 100.  Verdict: REGRESSED when the delta is
 * below -tolerance, improved when above +tolerance, else ok.  Rows present
 * in one file only are listed ("only in BASE" / "only in NEW"), not a
 * failure.
 *
 * Exit: 0 nothing regressed, 1 a matched row regressed by more than the
 * tolerance, 2 bad usage or a bad/unreadable file (message names the file,
 * line:column or flag, and the fix).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cs.h"

#define CS_SCHEMA "chmstress-result/1"
/* The one-line usages, for the messages about bad flags and arguments. */
#define CMP_USAGE "chmstress compare BASE.json NEW.json [--tolerance PCT] " \
                  "[--ratio MAP] [--best] [--cpu] [--strict]"
#define RATIOS_USAGE "chmstress ratios RESULT.json [--map MAP]"

/* The command running ("compare" or "ratios"), for messages. */
static const char *cmp_cmd = "compare";
/* The summary field compared: "mops_median" (default); with --best
 * "mops_max", the best repeat (on a shared machine interference only ever
 * slows a run down, so the best of several short repeats is the estimate
 * it disturbs least); with --cpu the same of Mops per CPU-second of the
 * workers, "mops_cpu_median" / "mops_cpu_max" (time a worker sat
 * preempted by another process does not count). */
static const char *cmp_stat = "mops_median";

typedef struct cmp_row {
    const char *workload; /* strings are owned by the file's json */
    const char *map;
    const char *phase;
    long long threads;
    bool measure;
    double mops;          /* mops_median, or the ratio in ratio mode */
    bool used;            /* matched with a row of the other file */
} cmp_row;

typedef struct cmp_file {
    const char *path;
    json_t *root;
    cmp_row *rows;
    size_t nrows;
    size_t nwarmup;
} cmp_file;

static void cmp_usage(FILE *f)
{
    fprintf(f,
            "usage: chmstress compare BASE.json NEW.json [--tolerance PCT] "
            "[--ratio MAP]\n"
            "\n"
            "Compare two result files written by 'chmstress run -o' (schema\n"
            "\"" CS_SCHEMA "\") and fail when throughput regressed: a CI gate.\n"
            "\n"
            "Rows of the files' \"summary\" arrays are matched by (workload,\n"
            "map, threads, phase); the figure compared is mops_median, the\n"
            "median Mops/s over the repeats.  Only measured phases count;\n"
            "warmup rows are skipped.  Rows found in one file only are listed\n"
            "as 'only in BASE' / 'only in NEW' and are not a failure.\n"
            "\n"
            "options:\n"
            "  -T, --tolerance PCT  allowed drop in percent before a row is\n"
            "                       REGRESSED (default 10; a number >= 0).\n"
            "                       A rise above PCT is shown as 'improved'.\n"
            "  -r, --ratio MAP      ratio mode: for every other map, compare\n"
            "                       mops(map) / mops(MAP) of the same workload,\n"
            "                       threads and phase, each ratio measured\n"
            "                       within one run (e.g. --ratio locked).  Robust\n"
            "                       against noisy shared machines: gate CI on it.\n"
            "  -b, --best           compare each row's best repeat (mops_max)\n"
            "                       instead of the median: interference only\n"
            "                       slows runs down, so on a shared machine the\n"
            "                       best of several repeats is the steadiest\n"
            "  -c, --cpu            compare Mops per CPU-second of the workers\n"
            "                       (mops_cpu_median, with --best mops_cpu_max):\n"
            "                       time a worker sat preempted does not count\n"
            "  -s, --strict         a measured BASE row with no NEW row to match\n"
            "                       (a map, thread count or workload the new run\n"
            "                       left out) fails too: a gate must not pass by\n"
            "                       comparing less than its baseline has\n"
            "  -h, --help           this help\n"
            "\n"
            "output: a table of workload, map, threads, phase, base Mops/s (or\n"
            "ratio), new, delta %% and verdict (ok / REGRESSED / improved).\n"
            "\n"
            "exit status: 0 no regression, 1 a matched row dropped by more than\n"
            "the tolerance (or, with --strict, a BASE row is missing), 2 bad\n"
            "usage, a bad input file, or files with no row in common.\n");
}

/* ---- loading ------------------------------------------------------------ */

static int cmp_bad_file(const char *path, const char *fmt, const char *a,
                        const char *b)
{
    fprintf(stderr, "chmstress: %s: %s: ", cmp_cmd, path);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    return CS_EXIT_USAGE;
}

static const char *cmp_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Row i's field `key` is missing or of the wrong type. */
static int cmp_bad_row(const cmp_file *f, size_t i, const char *key,
                       const char *expected, const json_t *v)
{
    fprintf(stderr,
            "chmstress: %s: %s: at summary[%zu].%s: expected %s, got %s; "
            "the file is damaged or not from 'chmstress run -o' (re-run it)\n", cmp_cmd,
            f->path, i, key, expected, v != NULL ? cmp_json_type(v) : "nothing");
    return CS_EXIT_USAGE;
}

static int cmp_load(cmp_file *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (fp == NULL) {
        int e = errno;
        return cmp_bad_file(f->path, "cannot open: %s; expected a result file "
                            "written by 'chmstress run -o FILE'%s",
                            strerror(e), "");
    }
    json_error_t err;
    f->root = json_loadf(fp, JSON_REJECT_DUPLICATES, &err);
    fclose(fp);
    if (f->root == NULL) {
        fprintf(stderr,
                "chmstress: %s: %s:%d:%d: %s; expected valid JSON (a "
                "result file written by 'chmstress run -o')\n", cmp_cmd,
                f->path, err.line, err.column, err.text);
        return CS_EXIT_USAGE;
    }
    if (!json_is_object(f->root))
        return cmp_bad_file(f->path, "the top level is %s, expected an object "
                            "with \"schema\": \"" CS_SCHEMA "\" (a file written "
                            "by 'chmstress run -o')%s",
                            cmp_json_type(f->root), "");
    json_t *schema = json_object_get(f->root, "schema");
    if (!json_is_string(schema))
        return cmp_bad_file(f->path, "no \"schema\" field%s: not a chmstress "
                            "result file; expected \"schema\": \"" CS_SCHEMA
                            "\" (give a file written by 'chmstress run -o')%s",
                            schema != NULL ? " of type string" : "", "");
    if (strcmp(json_string_value(schema), CS_SCHEMA) != 0)
        return cmp_bad_file(f->path, "schema is \"%s\", expected \"" CS_SCHEMA
                            "\"; re-run the benchmark with this chmstress "
                            "to get a file it can read%s",
                            json_string_value(schema), "");
    json_t *cfg = json_object_get(f->root, "config");
    json_t *name = json_is_object(cfg) ? json_object_get(cfg, "name") : NULL;
    if (!json_is_string(name))
        return cmp_bad_file(f->path, "at config.name: expected a string (the "
                            "workload name); the file is damaged or not from "
                            "'chmstress run -o' (re-run it)%s%s", "", "");
    json_t *summary = json_object_get(f->root, "summary");
    if (!json_is_array(summary))
        return cmp_bad_file(f->path, "at summary: expected an array of rows, "
                            "got %s; the file is damaged or not from "
                            "'chmstress run -o' (re-run it)%s",
                            summary != NULL ? cmp_json_type(summary) : "nothing",
                            "");
    size_t n = json_array_size(summary);
    f->rows = calloc(n > 0 ? n : 1, sizeof *f->rows);
    if (f->rows == NULL) {
        fprintf(stderr, "chmstress: %s: out of memory\n", cmp_cmd);
        return CS_EXIT_RESOURCE;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(summary, i);
        if (!json_is_object(o)) {
            fprintf(stderr, "chmstress: %s: %s: at summary[%zu]: expected "
                    "an object, got %s; the file is damaged or not from "
                    "'chmstress run -o' (re-run it)\n", cmp_cmd, f->path, i,
                    cmp_json_type(o));
            return CS_EXIT_USAGE;
        }
        json_t *map = json_object_get(o, "map");
        json_t *thr = json_object_get(o, "threads");
        json_t *ph = json_object_get(o, "phase");
        json_t *me = json_object_get(o, "measure");
        json_t *mo = json_object_get(o, cmp_stat);
        json_t *wl = json_object_get(o, "workload"); /* absent: config.name */
        if (wl != NULL && !json_is_string(wl))
            return cmp_bad_row(f, i, "workload", "a string", wl);
        if (!json_is_string(map))
            return cmp_bad_row(f, i, "map", "a string", map);
        if (!json_is_integer(thr) || json_integer_value(thr) < 1)
            return cmp_bad_row(f, i, "threads", "an integer >= 1", thr);
        if (!json_is_string(ph))
            return cmp_bad_row(f, i, "phase", "a string", ph);
        if (me != NULL && !json_is_boolean(me))
            return cmp_bad_row(f, i, "measure", "a boolean", me);
        if (!json_is_number(mo) || !isfinite(json_number_value(mo)) ||
            json_number_value(mo) < 0)
            return cmp_bad_row(f, i, cmp_stat, "a number >= 0", mo);
        cmp_row *r = &f->rows[f->nrows++];
        r->workload = json_string_value(wl != NULL ? wl : name);
        r->map = json_string_value(map);
        r->phase = json_string_value(ph);
        r->threads = (long long)json_integer_value(thr);
        r->measure = me == NULL || json_is_true(me);
        r->mops = json_number_value(mo);
        if (!r->measure)
            f->nwarmup++;
    }
    return CS_EXIT_OK;
}

static void cmp_free(cmp_file *f)
{
    free(f->rows);
    if (f->root != NULL)
        json_decref(f->root);
}

/* ---- matching ----------------------------------------------------------- */

static bool cmp_same(const cmp_row *a, const cmp_row *b)
{
    return a->threads == b->threads && strcmp(a->workload, b->workload) == 0 &&
           strcmp(a->map, b->map) == 0 && strcmp(a->phase, b->phase) == 0;
}

static cmp_row *cmp_find(cmp_row *rows, size_t n, const cmp_row *key,
                         const char *map)
{
    for (size_t i = 0; i < n; i++) {
        cmp_row *r = &rows[i];
        if (r->measure && r->threads == key->threads &&
            strcmp(r->workload, key->workload) == 0 &&
            strcmp(r->map, map != NULL ? map : key->map) == 0 &&
            strcmp(r->phase, key->phase) == 0)
            return r;
    }
    return NULL;
}

static bool cmp_has_map(const cmp_file *f, const char *map)
{
    for (size_t i = 0; i < f->nrows; i++)
        if (f->rows[i].measure && strcmp(f->rows[i].map, map) == 0)
            return true;
    return false;
}

/* Ratio mode: replace f's measured rows by map/ref ratios (rows of ref
 * itself, and rows without a usable reference, drop out; the latter are
 * counted in *noref and listed). */
static void cmp_to_ratios(cmp_file *f, const char *ref, const char *label,
                          size_t *noref)
{
    size_t out = 0;
    for (size_t i = 0; i < f->nrows; i++) {
        cmp_row r = f->rows[i];
        if (r.measure && strcmp(r.map, ref) == 0)
            continue;
        if (r.measure) {
            const cmp_row *rr = cmp_find(f->rows, f->nrows, &r, ref);
            if (rr == NULL || rr->mops <= 0) {
                printf("no %s row in %s for %s %s threads=%lld phase %s%s: "
                       "not compared\n", ref, label, r.workload, r.map,
                       r.threads, r.phase, rr != NULL ? " (its Mops/s is 0)" : "");
                (*noref)++;
                continue;
            }
            r.mops = r.mops / rr->mops;
        }
        f->rows[out++] = r;
    }
    f->nrows = out;
}

/* ---- the command --------------------------------------------------------- */

static int cmp_width(const cmp_file *a, const cmp_file *b, bool map,
                     const char *ref, int min)
{
    int w = min;
    const cmp_file *fs[2] = {a, b};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < fs[k]->nrows; i++) {
            const cmp_row *r = &fs[k]->rows[i];
            int l = (int)strlen(map ? r->map : r->workload);
            if (map && ref != NULL)
                l += 1 + (int)strlen(ref);
            if (l > w)
                w = l;
        }
    return w;
}

int cs_cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tolerance", required_argument, NULL, 'T'},
        {"ratio", required_argument, NULL, 'r'},
        {"strict", no_argument, NULL, 's'},
        {"best", no_argument, NULL, 'b'},
        {"cpu", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double tol = 10.0;
    bool strict = false, best = false, cpu = false;
    cmp_cmd = "compare";
    const char *ref = NULL;
    int opt;
    optind = 0; /* full re-initialisation: permute (options after files) */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":T:r:sbch", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            cmp_usage(stdout);
            return CS_EXIT_OK;
        case 's':
            strict = true;
            break;
        case 'b':
            best = true;
            break;
        case 'c':
            cpu = true;
            break;
        case 'T': {
            char *end = NULL;
            errno = 0;
            double v = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || errno != 0 || !isfinite(v) ||
                v < 0) {
                fprintf(stderr, "chmstress: %s: --tolerance '%s': "
                        "expected a percentage, a number >= 0 (e.g. "
                        "--tolerance 10)\n", cmp_cmd, optarg);
                return CS_EXIT_USAGE;
            }
            tol = v;
            break;
        }
        case 'r':
            if (*optarg == '\0') {
                fprintf(stderr, "chmstress: %s: --ratio '': expected a "
                        "map name (e.g. --ratio locked)\n", cmp_cmd);
                return CS_EXIT_USAGE;
            }
            ref = optarg;
            break;
        default:
            return cs_bad_flag(cmp_cmd, opt, argv[optind - 1], CMP_USAGE);
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "chmstress: %s: %s\nusage: " CMP_USAGE "\nTry "
                "'chmstress compare --help'.\n", cmp_cmd,
                argc - optind < 2 ? "expected two result files, BASE and NEW"
                                  : "too many arguments: expected two result "
                                    "files, BASE and NEW");
        return CS_EXIT_USAGE;
    }
    cmp_stat = cpu ? (best ? "mops_cpu_max" : "mops_cpu_median")
                   : (best ? "mops_max" : "mops_median");
    cmp_file base = {.path = argv[optind]}, cur = {.path = argv[optind + 1]};
    int rc = cmp_load(&base);
    if (rc == CS_EXIT_OK)
        rc = cmp_load(&cur);
    if (rc != CS_EXIT_OK)
        goto out;

    size_t noref = 0;
    if (ref != NULL) {
        bool in_b = cmp_has_map(&base, ref), in_n = cmp_has_map(&cur, ref);
        if (!in_b || !in_n) {
            fprintf(stderr, "chmstress: %s: --ratio %s: map '%s' has no "
                    "measured row in %s; expected a map both files ran (run "
                    "with -m ...,%s)\n", cmp_cmd, ref, ref,
                    !in_b ? base.path : cur.path, ref);
            rc = CS_EXIT_USAGE;
            goto out;
        }
        cmp_to_ratios(&base, ref, "BASE", &noref);
        cmp_to_ratios(&cur, ref, "NEW", &noref);
    }

    int ww = cmp_width(&base, &cur, false, NULL, 8);
    int mw = cmp_width(&base, &cur, true, ref, 3);
    const char *unit = ref != NULL ? "ratio" : "Mops/s";
    printf("BASE %s\nNEW  %s\n", base.path, cur.path);
    if (ref != NULL)
        printf("ratio mode: each map's Mops/s divided by %s's in the same "
               "file\n", ref);
    printf("figure: %s of each row (%s%s)\n", cmp_stat,
           best ? "best repeat" : "median of the repeats",
           cpu ? ", Mops per worker CPU-second" : "");
    printf("%-*s  %-*s  %7s  %-10s  %12s  %12s  %8s  %s\n", ww, "workload", mw,
           "map", "threads", "phase", ref != NULL ? "base ratio" : "base Mops/s",
           ref != NULL ? "new ratio" : "new Mops/s", "delta %", "verdict");
    size_t matched = 0, regressed = 0, improved = 0, only_b = 0, only_n = 0;
    for (size_t i = 0; i < base.nrows; i++) {
        cmp_row *b = &base.rows[i];
        if (!b->measure)
            continue;
        cmp_row *n = NULL;
        for (size_t j = 0; j < cur.nrows && n == NULL; j++)
            if (cur.rows[j].measure && !cur.rows[j].used &&
                cmp_same(b, &cur.rows[j]))
                n = &cur.rows[j];
        if (n == NULL)
            continue;
        b->used = n->used = true;
        matched++;
        char delta[32];
        const char *verdict;
        if (b->mops > 0) {
            double d = (n->mops - b->mops) / b->mops * 100.0;
            snprintf(delta, sizeof delta, "%+.1f", d);
            verdict = d < -tol ? "REGRESSED" : d > tol ? "improved" : "ok";
        } else {
            snprintf(delta, sizeof delta, "n/a");
            verdict = n->mops > 0 ? "improved" : "ok";
        }
        if (strcmp(verdict, "REGRESSED") == 0)
            regressed++;
        else if (strcmp(verdict, "improved") == 0)
            improved++;
        char mapcol[160];
        snprintf(mapcol, sizeof mapcol, "%s%s%s", b->map, ref ? "/" : "",
                 ref ? ref : "");
        printf("%-*s  %-*s  %7lld  %-10s  %12.4f  %12.4f  %8s  %s\n", ww,
               b->workload, mw, mapcol, b->threads, b->phase, b->mops, n->mops,
               delta, verdict);
    }
    for (int k = 0; k < 2; k++) {
        cmp_file *f = k == 0 ? &base : &cur;
        for (size_t i = 0; i < f->nrows; i++) {
            const cmp_row *r = &f->rows[i];
            if (!r->measure || r->used)
                continue;
            printf("only in %s: %s %s%s%s threads=%lld phase %s (%.4f %s)\n",
                   k == 0 ? "BASE" : "NEW", r->workload, r->map,
                   ref ? "/" : "", ref ? ref : "", r->threads, r->phase,
                   r->mops, unit);
            if (k == 0)
                only_b++;
            else
                only_n++;
        }
    }
    size_t skipped = base.nwarmup + cur.nwarmup;
    printf("%zu compared (tolerance %g%%): %zu REGRESSED, %zu improved, %zu ok; "
           "%zu only in BASE, %zu only in NEW",
           matched, tol, regressed, improved, matched - regressed - improved,
           only_b, only_n);
    if (noref > 0)
        printf(", %zu without a %s row", noref, ref);
    if (skipped > 0)
        printf("; %zu warmup rows skipped", skipped);
    printf("\n");
    if (matched == 0) {
        fprintf(stderr, "chmstress: %s: no measured row of %s matches a "
                "row of %s (same workload, map, threads and phase): nothing "
                "was compared; expected two results of the same workloads "
                "and maps\n", cmp_cmd, base.path, cur.path);
        rc = CS_EXIT_USAGE;
    } else if (regressed > 0) {
        printf("result: REGRESSED (%zu row%s dropped by more than %g%%)\n",
               regressed, regressed == 1 ? "" : "s", tol);
        rc = CS_EXIT_CHECK;
    } else if (strict && (only_b > 0 || noref > 0)) {
        printf("result: MISSING (--strict: %zu BASE row%s not measured in "
               "NEW)\n", only_b + noref, only_b + noref == 1 ? "" : "s");
        rc = CS_EXIT_CHECK;
    } else {
        printf("result: ok\n");
    }
out:
    cmp_free(&base);
    cmp_free(&cur);
    return rc;
}

/* ---- chmstress ratios ----------------------------------------------------- */

static void ratios_usage(FILE *f)
{
    fprintf(f,
            "usage: chmstress ratios RESULT.json [--map MAP]\n"
            "\n"
            "The side-by-side table of one result file: for every workload,\n"
            "thread count and measured phase, MAP's median Mops/s (default\n"
            "chm) and its ratio to each other map's, measured in the same run\n"
            "(> 1.00x: MAP is faster).  The null map is left out.\n"
            "\n"
            "exit status: 0, or 2 bad usage or a bad file.\n");
}

/* The distinct maps of f's measured rows other than `map` and null, in
 * first-seen order (at most max). */
static int ratios_peers(const cmp_file *f, const char *map, const char **peers,
                        int max)
{
    int n = 0;
    for (size_t i = 0; i < f->nrows; i++) {
        const cmp_row *r = &f->rows[i];
        if (!r->measure || strcmp(r->map, map) == 0 ||
            strcmp(r->map, "null") == 0)
            continue;
        int k = 0;
        while (k < n && strcmp(peers[k], r->map) != 0)
            k++;
        if (k == n && n < max)
            peers[n++] = r->map;
    }
    return n;
}

static void ratios_table(cmp_file *f, const char *map)
{
    const char *peers[CS_MAX_LIST];
    int np = ratios_peers(f, map, peers, CS_MAX_LIST);
    int ww = cmp_width(f, f, false, NULL, 8);
    printf("%s / each peer: median Mops/s of the same run (%s)\n", map,
           f->path);
    printf("%-*s  %7s  %-10s  %10s", ww, "workload", "threads", "phase", map);
    for (int k = 0; k < np; k++)
        printf("  %9s", peers[k]);
    printf("\n");
    for (size_t i = 0; i < f->nrows; i++) {
        const cmp_row *r = &f->rows[i];
        if (!r->measure || strcmp(r->map, map) != 0)
            continue;
        printf("%-*s  %7lld  %-10s  %10.3f", ww, r->workload, r->threads,
               r->phase, r->mops);
        for (int k = 0; k < np; k++) {
            const cmp_row *p = cmp_find(f->rows, f->nrows, r, peers[k]);
            if (p == NULL || p->mops <= 0)
                printf("  %9s", "-");
            else
                printf("  %8.2fx", r->mops / p->mops);
        }
        printf("\n");
    }
}

int cs_cmd_ratios(int argc, char **argv)
{
    static const struct option opts[] = {
        {"map", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *map = "chm";
    int opt;
    cmp_cmd = "ratios";
    cmp_stat = "mops_median";
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        if (opt == 'h') {
            ratios_usage(stdout);
            return CS_EXIT_OK;
        }
        if (opt == 'm' && *optarg != '\0') {
            map = optarg;
            continue;
        }
        if (opt == 'm') /* --map '' */
            return cs_usage_error("ratios", "--map needs a map name:",
                                  argv[optind - 1], RATIOS_USAGE);
        return cs_bad_flag("ratios", opt, argv[optind - 1], RATIOS_USAGE);
    }
    if (argc - optind != 1) {
        fprintf(stderr, "chmstress: ratios: expected one result file\nusage: "
                RATIOS_USAGE "\n");
        return CS_EXIT_USAGE;
    }
    cmp_file f = {.path = argv[optind]};
    int rc = cmp_load(&f);
    if (rc == CS_EXIT_OK && !cmp_has_map(&f, map)) {
        fprintf(stderr, "chmstress: ratios: %s: map '%s' has no measured row; "
                "expected a result that ran it (or give --map MAP)\n", f.path,
                map);
        rc = CS_EXIT_USAGE;
    }
    if (rc == CS_EXIT_OK)
        ratios_table(&f, map);
    cmp_free(&f);
    return rc;
}
