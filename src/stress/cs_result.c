/*
 * cs_result.c - the result file (JSON, "schema": "chmstress-result/1") and
 * the summary table on stdout.
 *
 * The file holds: the tool (version, libchm version, git commit), the host
 * (cpus, model, kernel), the fully resolved config, every run (map x
 * threads x phase x repeat) with ops by type, hits and misses, latency
 * percentiles of the sampled operations, the 100 ms timeline and the map's
 * statistics; a summary per map x threads x phase (median, min and max
 * Mops/s over the repeats, and nanoseconds per operation per thread); the
 * outcome of every check with its evidence; and, when the null backend
 * ran, the harness's own cost as a fraction of each map's.  One file may
 * hold several workloads (`run -w A -w B`): every run, summary row and
 * check names its "workload"; "workloads" lists their configs.
 *
 * "hits" counts operations that found their key present (for put:
 * replaced, for put_if_absent: already there); "misses" the others.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "chm.h"
#include "cs.h"

static json_t *cs_json_host(void)
{
    json_t *h = json_object();
    struct utsname u;
    char model[256] = "unknown", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
            snprintf(model, sizeof model, "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f != NULL)
        fclose(f);
    json_object_set_new(h, "cpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(h, "model", json_string(model));
    if (uname(&u) == 0) {
        json_object_set_new(h, "kernel", json_string(u.release));
        json_object_set_new(h, "hostname", json_string(u.nodename));
        json_object_set_new(h, "arch", json_string(u.machine));
    }
    return h;
}

static json_t *cs_json_latency(const cs_hist *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "samples", json_integer((json_int_t)h->count));
    json_object_set_new(o, "mean", json_real(h->count ? (double)h->sum_ns /
                                                        (double)h->count : 0));
    json_object_set_new(o, "p50", json_integer((json_int_t)cs_hist_quantile(h, 0.50)));
    json_object_set_new(o, "p90", json_integer((json_int_t)cs_hist_quantile(h, 0.90)));
    json_object_set_new(o, "p99", json_integer((json_int_t)cs_hist_quantile(h, 0.99)));
    json_object_set_new(o, "p99.9", json_integer((json_int_t)cs_hist_quantile(h, 0.999)));
    json_object_set_new(o, "max", json_integer((json_int_t)h->max_ns));
    return o;
}

static json_t *cs_json_ops(const cs_run *run)
{
    json_t *o = json_object();
    for (int op = 0; op < CS_OP_COUNT; op++) {
        const cs_op_stats *s = &run->op[op];
        if (s->ops == 0)
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "ops", json_integer((json_int_t)s->ops));
        json_object_set_new(e, "hits", json_integer((json_int_t)s->hits));
        json_object_set_new(e, "misses", json_integer((json_int_t)s->misses));
        json_object_set_new(e, "latency_ns", cs_json_latency(&s->lat));
        json_object_set_new(o, cs_op_name((cs_op)op), e);
    }
    return o;
}

static json_t *cs_json_map_stats(const cs_map_stats *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "size", json_integer((json_int_t)st->size));
    if (st->has_table_size)
        json_object_set_new(o, "table_size", json_integer((json_int_t)st->table_size));
    if (st->has_resizes)
        json_object_set_new(o, "resizes", json_integer((json_int_t)st->resizes));
    if (st->has_garbage)
        json_object_set_new(o, "pending_garbage",
                            json_integer((json_int_t)st->pending_garbage));
    return o;
}

static json_t *cs_json_timeline(const cs_run *run)
{
    json_t *a = json_array();
    for (size_t i = 0; i < run->ntimeline; i++) {
        const cs_timeline_point *p = &run->timeline[i];
        json_t *e = json_object();
        json_object_set_new(e, "t", json_real(p->t));
        json_object_set_new(e, "mops", json_real(p->mops));
        json_object_set_new(e, "ops", json_integer((json_int_t)p->ops));
        json_object_set_new(e, "table_size", json_integer((json_int_t)p->table_size));
        json_object_set_new(e, "resizes", json_integer((json_int_t)p->resizes));
        json_object_set_new(e, "pending_garbage",
                            json_integer((json_int_t)p->pending_garbage));
        json_object_set_new(e, "size", json_integer((json_int_t)p->size));
        json_object_set_new(e, "rss_bytes", json_integer((json_int_t)p->rss_bytes));
        json_array_append_new(a, e);
    }
    return a;
}

static json_t *cs_json_run(const cs_config *cfg, const cs_run *run)
{
    const cs_phase *ph = &cfg->phases[run->phase];
    json_t *o = json_object();
    json_object_set_new(o, "map", json_string(run->map));
    json_object_set_new(o, "threads", json_integer(run->threads));
    json_object_set_new(o, "phase", json_string(ph->name));
    json_object_set_new(o, "phase_index", json_integer(run->phase));
    json_object_set_new(o, "measure", json_boolean(ph->measure));
    json_object_set_new(o, "repeat", json_integer(run->repeat));
    json_object_set_new(o, "seconds", json_real(run->seconds));
    json_object_set_new(o, "ops", json_integer((json_int_t)run->total_ops));
    json_object_set_new(o, "mops", json_real(run->mops));
    json_object_set_new(o, "cpu_seconds", json_real(run->cpu_seconds));
    json_object_set_new(o, "mops_cpu", json_real(run->mops_cpu));
    json_object_set_new(o, "interrupted", json_boolean(run->interrupted));
    json_object_set_new(o, "ops_by_type", cs_json_ops(run));
    json_object_set_new(o, "timeline", cs_json_timeline(run));
    json_object_set_new(o, "map_stats", cs_json_map_stats(&run->stats_end));
    return o;
}

/* ---- summary: medians over repeats --------------------------------------- */

typedef struct cs_row {
    const char *map;
    unsigned threads;
    int phase;
    double median, min, max;
    double cpu_median, cpu_max;   /* of mops_cpu (cs_run) */
    unsigned n;
    const cs_run *first;
    size_t rank;             /* position in the listed order (cs_row_rank) */
} cs_row;

static int cs_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sort v[0..n) and return its median. */
static double cs_median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, cs_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Fill tmp with the mops (or mops_cpu) of every repeat of row's map,
 * threads and phase, from run index `from` on; returns the count. */
static unsigned cs_row_values(const cs_report *rep, size_t from,
                              const cs_row *row, bool cpu, double *tmp)
{
    unsigned n = 0;
    for (size_t k = from; k < rep->nruns; k++) {
        const cs_run *q = &rep->runs[k];
        if (q->threads == row->threads && q->phase == row->phase &&
            strcmp(q->map, row->map) == 0)
            tmp[n++] = cpu ? q->mops_cpu : q->mops;
    }
    return n;
}

/* Where a row goes in the tables: maps as listed, then thread counts as
 * listed, then phases - whatever order the runs ran in (cs_order). */
static size_t cs_row_rank(const cs_config *cfg, const cs_row *row)
{
    int mi = 0, ti = 0;
    while (mi < cfg->nmaps && strcmp(cfg->maps[mi], row->map) != 0)
        mi++;
    while (ti < cfg->nthreads && cfg->threads[ti] != row->threads)
        ti++;
    return ((size_t)mi * (CS_MAX_LIST + 1) + (size_t)ti) * CS_MAX_PHASES +
           (size_t)row->phase;
}

static int cs_cmp_rank(const void *a, const void *b)
{
    size_t x = ((const cs_row *)a)->rank, y = ((const cs_row *)b)->rank;
    return (x > y) - (x < y);
}

/* One row per map, thread count and phase, in the listed order; returns
 * the count (rows has nruns slots). */
static size_t cs_summary_rows(const cs_report *rep, cs_row *rows, double *tmp)
{
    size_t nrows = 0;
    for (size_t i = 0; i < rep->nruns; i++) {
        const cs_run *r = &rep->runs[i];
        size_t j = 0;
        while (j < nrows && !(rows[j].threads == r->threads &&
                              rows[j].phase == r->phase &&
                              strcmp(rows[j].map, r->map) == 0))
            j++;
        if (j < nrows)
            continue;
        cs_row *row = &rows[nrows++];
        *row = (cs_row){ .map = r->map, .threads = r->threads,
                         .phase = r->phase, .first = r };
        row->n = cs_row_values(rep, i, row, true, tmp);
        row->cpu_median = cs_median(tmp, row->n);
        row->cpu_max = tmp[row->n - 1];
        cs_row_values(rep, i, row, false, tmp);
        row->median = cs_median(tmp, row->n);
        row->min = tmp[0];
        row->max = tmp[row->n - 1];
        row->rank = cs_row_rank(&rep->cfg, row);
    }
    qsort(rows, nrows, sizeof *rows, cs_cmp_rank);
    return nrows;
}

/* ns per operation per thread: what one thread pays for one op. */
static double cs_ns_per_op(const cs_row *r)
{
    return r->median > 0 ? (double)r->threads * 1e3 / r->median : 0;
}

static const cs_row *cs_null_row(const cs_row *rows, size_t n,
                                 const cs_row *like)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].map, "null") == 0 &&
            rows[i].threads == like->threads && rows[i].phase == like->phase)
            return &rows[i];
    return NULL;
}

static json_t *cs_json_summary(const cs_report *rep, const cs_row *rows,
                               size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        const cs_row *r = &rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "map", json_string(r->map));
        json_object_set_new(o, "threads", json_integer(r->threads));
        json_object_set_new(o, "phase", json_string(rep->cfg.phases[r->phase].name));
        json_object_set_new(o, "measure", json_boolean(rep->cfg.phases[r->phase].measure));
        json_object_set_new(o, "repeats", json_integer(r->n));
        json_object_set_new(o, "mops_median", json_real(r->median));
        json_object_set_new(o, "mops_min", json_real(r->min));
        json_object_set_new(o, "mops_max", json_real(r->max));
        json_object_set_new(o, "mops_cpu_median", json_real(r->cpu_median));
        json_object_set_new(o, "mops_cpu_max", json_real(r->cpu_max));
        json_object_set_new(o, "spread_pct", json_real(r->median > 0
            ? 100.0 * (r->max - r->min) / r->median : 0));
        json_object_set_new(o, "ns_per_op_per_thread", json_real(cs_ns_per_op(r)));
        const cs_row *nr = cs_null_row(rows, n, r);
        if (nr != NULL && nr != r && cs_ns_per_op(r) > 0)
            json_object_set_new(o, "harness_fraction",
                                json_real(cs_ns_per_op(nr) / cs_ns_per_op(r)));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *cs_json_lin(const cs_check_result *c)
{
    json_t *o = json_object(), *win = json_array();
    json_object_set_new(o, "keys", json_integer((json_int_t)c->lin_keys));
    json_object_set_new(o, "ops", json_integer((json_int_t)c->lin_ops));
    json_object_set_new(o, "failed_keys", json_integer((json_int_t)c->lin_failed));
    json_object_set_new(o, "unknown_keys", json_integer((json_int_t)c->lin_unknown));
    json_object_set_new(o, "seconds", json_real(c->lin_seconds));
    json_object_set_new(o, "history_bytes", json_integer((json_int_t)c->lin_memory));
    json_object_set_new(o, "capped", json_boolean(c->lin_capped));
    /* the first failing key's window, a line per operation */
    char buf[sizeof c->lin_evidence];
    snprintf(buf, sizeof buf, "%s", c->lin_evidence);
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save))
        json_array_append_new(win, json_string(l));
    json_object_set_new(o, "evidence", win);
    return o;
}

static json_t *cs_json_checks(const cs_report *rep)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rep->nchecks; i++) {
        const cs_check_result *c = &rep->checks[i];
        json_t *o = json_object();
        json_object_set_new(o, "map", json_string(c->map));
        json_object_set_new(o, "threads", json_integer(c->threads));
        json_object_set_new(o, "repeat", json_integer(c->repeat));
        json_object_set_new(o, "check", json_string(c->lin_ran
            ? "counts+linearizability" : "counts"));
        if (c->lin_ran)
            json_object_set_new(o, "linearizability", cs_json_lin(c));
        json_object_set_new(o, "passed", json_boolean(c->passed));
        json_object_set_new(o, "keys_checked", json_integer((json_int_t)c->keys_checked));
        json_object_set_new(o, "present", json_integer((json_int_t)c->present));
        json_object_set_new(o, "size_reported", json_integer((json_int_t)c->size_reported));
        json_object_set_new(o, "values_checked", json_integer((json_int_t)c->values_checked));
        json_object_set_new(o, "violations", json_integer((json_int_t)c->violations));
        json_t *ev = json_array();
        for (int k = 0; k < c->nevidence; k++)
            json_array_append_new(ev, json_string(c->evidence[k]));
        json_object_set_new(o, "evidence", ev);
        json_array_append_new(a, o);
    }
    return a;
}

static int cs_mkdirs_for(const char *path)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

/* Append one report's runs, summary rows and checks to the arrays, each
 * row naming its workload (a file may hold several). */
static void cs_json_append_report(const cs_report *rep, json_t *runs,
                                  json_t *summary, json_t *checks)
{
    json_t *name = json_string(rep->cfg.name);
    for (size_t i = 0; i < rep->nruns; i++) {
        json_t *o = cs_json_run(&rep->cfg, &rep->runs[i]);
        json_object_set(o, "workload", name);
        json_array_append_new(runs, o);
    }
    cs_row *rows = calloc(rep->nruns + 1, sizeof *rows);
    double *tmp = calloc(rep->nruns + 1, sizeof *tmp);
    size_t nrows = rows && tmp ? cs_summary_rows(rep, rows, tmp) : 0;
    json_t *s = cs_json_summary(rep, rows, nrows), *c = cs_json_checks(rep), *o;
    size_t i;
    json_array_foreach(s, i, o) {
        json_object_set(o, "workload", name);
        json_array_append(summary, o);
    }
    json_array_foreach(c, i, o) {
        json_object_set(o, "workload", name);
        json_array_append(checks, o);
    }
    json_decref(s);
    json_decref(c);
    json_decref(name);
    free(rows);
    free(tmp);
}

int cs_result_write_many(const cs_report *reps, size_t n, const char *path,
                         int exit_code)
{
    json_t *root = json_object(), *tool = json_object();
    json_object_set_new(root, "schema", json_string("chmstress-result/1"));
    json_object_set_new(tool, "name", json_string("chmstress"));
    json_object_set_new(tool, "version", json_string(CHM_VERSION));
    json_object_set_new(tool, "libchm", json_string(CHM_VERSION));
    json_object_set_new(tool, "git_commit", json_string(reps[0].git_commit));
    json_object_set_new(root, "tool", tool);
    json_object_set_new(root, "host", cs_json_host());
    json_object_set_new(root, "started_at", json_string(reps[0].started_at));
    /* "config" is the first workload's (files with one workload, the usual
     * case, read it); "workloads" lists every workload's config. */
    json_object_set_new(root, "config", cs_config_to_json(&reps[0].cfg));
    json_t *cfgs = json_array(), *runs = json_array(), *summary = json_array(),
           *checks = json_array();
    bool interrupted = false;
    for (size_t k = 0; k < n; k++) {
        json_array_append_new(cfgs, cs_config_to_json(&reps[k].cfg));
        cs_json_append_report(&reps[k], runs, summary, checks);
        interrupted |= reps[k].interrupted;
    }
    json_object_set_new(root, "workloads", cfgs);
    json_object_set_new(root, "interrupted", json_boolean(interrupted));
    json_object_set_new(root, "exit_code", json_integer(exit_code));
    json_object_set_new(root, "runs", runs);
    json_object_set_new(root, "summary", summary);
    json_object_set_new(root, "checks", checks);
    int rc = CS_EXIT_OK;
    if (cs_mkdirs_for(path) != 0 ||
        json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(6)) != 0) {
        fprintf(stderr, "chmstress: cannot write the result file %s: %s\n",
                path, strerror(errno));
        rc = CS_EXIT_RESOURCE;
    }
    json_decref(root);
    return rc;
}

int cs_result_write(const cs_report *rep, const char *path, int exit_code)
{
    return cs_result_write_many(rep, 1, path, exit_code);
}

static const cs_check_result *cs_check_for(const cs_report *rep,
                                           const char *map, unsigned threads)
{
    const cs_check_result *found = NULL;
    for (size_t i = 0; i < rep->nchecks; i++)
        if (rep->checks[i].threads == threads &&
            strcmp(rep->checks[i].map, map) == 0 &&
            (found == NULL || !rep->checks[i].passed))
            found = &rep->checks[i];
    return found;
}

void cs_result_summary(const cs_report *rep, FILE *out)
{
    cs_row *rows = calloc(rep->nruns + 1, sizeof *rows);
    double *tmp = calloc(rep->nruns + 1, sizeof *tmp);
    if (rows == NULL || tmp == NULL) {
        free(rows);
        free(tmp);
        return;
    }
    size_t n = cs_summary_rows(rep, rows, tmp);
    fprintf(out, "\nworkload %s (%s): %s\n", rep->cfg.name, rep->cfg.path,
            rep->interrupted ? "INTERRUPTED, partial results" : "");
    fprintf(out, "%-8s %7s  %-10s %9s %8s %10s %10s %10s  %s\n", "map",
            "threads", "phase", "Mops/s", "spread", "ns/op/thr", "p50 ns",
            "p99 ns", "check");
    for (size_t i = 0; i < n; i++) {
        const cs_row *r = &rows[i];
        const cs_phase *ph = &rep->cfg.phases[r->phase];
        cs_hist all;
        cs_hist_init(&all);
        for (int op = 0; op < CS_OP_COUNT; op++)
            cs_hist_merge(&all, &r->first->op[op].lat);
        const cs_check_result *c = cs_check_for(rep, r->map, r->threads);
        char spread[16] = "-";
        if (r->n > 1 && r->median > 0)
            snprintf(spread, sizeof spread, "%.0f%%",
                     100.0 * (r->max - r->min) / r->median);
        fprintf(out, "%-8s %7u  %-10s %9.2f %8s %10.1f %10llu %10llu  %s%s\n",
                r->map, r->threads, ph->name, r->median, spread,
                cs_ns_per_op(r), (unsigned long long)cs_hist_quantile(&all, 0.5),
                (unsigned long long)cs_hist_quantile(&all, 0.99),
                c == NULL ? "-" : c->passed ? "pass" : "FAIL",
                ph->measure ? "" : "  (warmup)");
    }
    for (size_t i = 0; i < rep->nchecks; i++) {
        const cs_check_result *c = &rep->checks[i];
        if (c->lin_ran)
            fprintf(out, "linearizability: %s, %u threads: %llu keys, %llu "
                    "ops checked in %.2f s: %s%s%s\n", c->map, c->threads,
                    (unsigned long long)c->lin_keys,
                    (unsigned long long)c->lin_ops, c->lin_seconds,
                    c->lin_failed ? "FAIL" : "pass",
                    c->lin_unknown ? " (some keys unknown: search budget "
                                     "ran out)" : "",
                    c->lin_capped ? " (history capped at max_ops)" : "");
    }
    for (size_t i = 0; i < n; i++) {
        const cs_row *nr = cs_null_row(rows, n, &rows[i]);
        if (nr != NULL && nr != &rows[i] && rep->cfg.phases[rows[i].phase].measure)
            fprintf(out, "harness (null map) cost: %.1f%% of a %s operation "
                    "(%u threads, %s)\n",
                    100.0 * cs_ns_per_op(nr) / cs_ns_per_op(&rows[i]),
                    rows[i].map, rows[i].threads,
                    rep->cfg.phases[rows[i].phase].name);
    }
    free(rows);
    free(tmp);
}
