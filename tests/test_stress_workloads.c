/*
 * test_stress_workloads.c - chmstress end to end: every bundled workload runs
 * against libchm with 1 and 2 threads and passes its count checks; the
 * resize scenarios visibly resize (several resizes, the table growing in the
 * timeline); SIGINT writes the results so far, marked interrupted, and
 * exits 130, also when it comes during the prefill; the result file has
 * the documented shape.
 *
 * Needs $CHMSTRESS (the binary) and $CS_WORKLOAD_DIR (tests/run.sh sets
 * both).  Key ranges and durations shrink with CHM_TEST_SCALE.
 */
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ts_spawn.h"

static char tmpdir[256];

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "# %s is not set (tests/run.sh sets it)\n", name);
        CHECK(v != NULL && *v != '\0');
        return NULL;
    }
    return v;
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
    nanosleep(&ts, NULL);
}

/* Start chmstress with argv (NULL-terminated, without argv[0]), stdin
 * /dev/null, stdout and stderr to files.  Its pid, or -1 if it did not
 * start. */
static pid_t spawn_chmstress(const char *const *args)
{
    const char *bin = env_or_fail("CHMSTRESS");
    if (bin == NULL)
        return -1;
    char out[320], err[320];
    snprintf(out, sizeof out, "%s/stdout", tmpdir);
    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    return ts_spawn(bin, args, out, err);
}

/* Wait for pid; after `limit` seconds (> 0) SIGKILL it, so a run that does
 * not stop cannot hang the test.  Its exit status (128 + signal if
 * killed), -1 on error. */
static int wait_chmstress(pid_t pid, double limit)
{
    return ts_wait(pid, limit, NULL);
}

/* Run chmstress (see spawn_chmstress); optionally SIGINT it after
 * `sigint_after` seconds.  Returns the exit status (128 + signal if
 * killed), -1 if it did not run. */
static int run_chmstress(const char *const *args, double sigint_after)
{
    pid_t pid = spawn_chmstress(args);
    if (pid < 0)
        return -1;
    if (sigint_after > 0) {
        sleep_s(sigint_after);
        kill(pid, SIGINT);
    }
    return wait_chmstress(pid, 0);
}

static void show_stderr(void)
{
    char path[320];
    snprintf(path, sizeof path, "%s/stderr", tmpdir);
    ts_print_file(path, "#   stderr: ", 20);
}

/* Run chmstress (run_chmstress: SIGINT after sigint_after s, if > 0), check
 * that it exits `expect` (its stderr is shown when not), and load the result
 * file out.  label: when not NULL, "#   LABEL: exit N" is logged first.
 * The result's JSON (json_decref it), or NULL (a failed check) when it
 * cannot be loaded. */
static json_t *run_and_load(const char *label, const char *const *args,
                            double sigint_after, int expect, const char *out)
{
    int rc = run_chmstress(args, sigint_after);
    if (label != NULL)
        printf("#   %s: exit %d\n", label, rc);
    CHECK_EQ_INT(rc, expect);
    if (rc != expect)
        show_stderr();
    json_error_t jerr;
    json_t *root = json_load_file(out, 0, &jerr);
    CHECK(root != NULL);
    return root;
}

/* path: the bundled workload file CS_WORKLOAD_DIR/workload; out (when not
 * NULL): the result file tmpdir/result.  Both 512 bytes.  false (a failed
 * check) when CS_WORKLOAD_DIR is not set. */
static bool test_paths(const char *workload, char *path, const char *result,
                       char *out)
{
    const char *dir = env_or_fail("CS_WORKLOAD_DIR");
    if (dir == NULL)
        return false;
    snprintf(path, 512, "%s/%s", dir, workload);
    if (out != NULL)
        snprintf(out, 512, "%s/%s", tmpdir, result);
    return true;
}

static const char *scaled_keys(void)
{
    static char buf[32];
    snprintf(buf, sizeof buf, "%zu", chm_test_scaled(65536) < 8192
                                         ? (size_t)8192 : chm_test_scaled(65536));
    return buf;
}

static const char *scaled_duration(void)
{
    static char buf[32];
    double d = 0.3 * chm_test_scale();
    snprintf(buf, sizeof buf, "%.2f", d < 0.1 ? 0.1 : d);
    return buf;
}

/* Sum of the final map_stats.resizes over runs of map at `threads`, and
 * whether some run's timeline shows the table growing. */
static void resize_evidence(json_t *root, unsigned threads, long *resizes,
                            bool *grew)
{
    json_t *runs = json_object_get(root, "runs"), *r;
    size_t i;
    long first_table = -1, last_table = -1;
    *resizes = 0;
    json_array_foreach(runs, i, r) {
        if (json_integer_value(json_object_get(r, "threads")) != threads)
            continue;
        json_t *st = json_object_get(r, "map_stats");
        long rs = (long)json_integer_value(json_object_get(st, "resizes"));
        if (rs > *resizes)
            *resizes = rs;
        json_t *tl = json_object_get(r, "timeline"), *p;
        size_t j;
        json_array_foreach(tl, j, p) {
            long ts = (long)json_integer_value(json_object_get(p, "table_size"));
            if (first_table < 0)
                first_table = ts;
            last_table = ts;
        }
    }
    *grew = first_table > 0 && last_table > first_table;
}

static bool is_resize_scenario(const char *name)
{
    return strncmp(name, "resize-", 7) == 0 || strcmp(name, "rapid-grow") == 0;
}

static void run_one_workload(const char *dir, const char *file)
{
    char path[512], out[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(out, sizeof out, "%s/result.json", tmpdir);
    const char *args[] = { "run", "-w", path, "-m", "chm", "-t", "1,2",
                           "-d", scaled_duration(), "-k", scaled_keys(),
                           "-o", out, "--quiet", NULL };
    json_t *root = run_and_load(file, args, 0, 0, out);
    if (root == NULL)
        return;
    CHECK(strcmp(json_string_value(json_object_get(root, "schema")),
                 "chmstress-result/1") == 0);
    json_t *checks = json_object_get(root, "checks"), *c;
    size_t i;
    CHECK_EQ_U64(json_array_size(checks), 2); /* 1 and 2 threads */
    json_array_foreach(checks, i, c) {
        CHECK(json_is_true(json_object_get(c, "passed")));
        CHECK(json_integer_value(json_object_get(c, "violations")) == 0);
    }
    char name[128];
    snprintf(name, sizeof name, "%s", file);
    name[strcspn(name, ".")] = '\0';
    if (is_resize_scenario(name)) {
        for (unsigned t = 1; t <= 2; t++) {
            long resizes;
            bool grew;
            resize_evidence(root, t, &resizes, &grew);
            printf("#   %s, %u thread(s): %ld resizes, table grew: %s\n", name,
                   t, resizes, grew ? "yes" : "no");
            CHECK(resizes >= 3);
            CHECK(grew);
        }
    }
    json_decref(root);
}

static void test_every_bundled_workload(void)
{
    const char *dir = env_or_fail("CS_WORKLOAD_DIR");
    if (dir == NULL)
        return;
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (d == NULL)
        return;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            run_one_workload(dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    CHECK(n >= 12); /* the bundled set (DESIGN section 5) */
}

static void test_sigint_writes_partial_results(void)
{
    char path[512], out[512];
    if (!test_paths("read-heavy.json", path, "interrupted.json", out))
        return;
    const char *args[] = { "run", "-w", path, "-m", "chm", "-t", "1",
                           "-d", "60", "-k", "4096", "-o", out, "--quiet",
                           NULL };
    double t0 = check_now();
    json_t *root = run_and_load(NULL, args, 1.0, 130, out);
    CHECK(check_now() - t0 < 30); /* it stopped, it did not run 60 s */
    if (root == NULL)
        return;
    CHECK(json_is_true(json_object_get(root, "interrupted")));
    CHECK(json_array_size(json_object_get(root, "runs")) >= 1);
    json_decref(root);
}

/* Start chmstress with args, send SIGINT after `delay` seconds, and check
 * it exits with 130 within `limit` seconds (killed after `kill_after`) and
 * writes a result marked interrupted into `out`.  Returns that result (the
 * caller json_decref()s it), or NULL when there is none. */
static json_t *interrupt_run(const char *const *args, double delay,
                             double kill_after, double limit, const char *out)
{
    pid_t pid = spawn_chmstress(args);
    CHECK(pid > 0);
    if (pid <= 0)
        return NULL;
    sleep_s(delay);
    kill(pid, SIGINT);
    double t0 = check_now();
    int rc = wait_chmstress(pid, kill_after);
    double took = check_now() - t0;
    printf("#   exit %d, %.2f s after SIGINT\n", rc, took);
    CHECK_EQ_INT(rc, 130);
    CHECK(took < limit);
    json_error_t jerr;
    json_t *root = json_load_file(out, 0, &jerr);
    CHECK(root != NULL);
    if (root != NULL)
        CHECK(json_is_true(json_object_get(root, "interrupted")));
    return root;
}

/* SIGINT during the prefill.  The prefill inserts 75% of the key range
 * before any phase, with nothing else watching: it must poll the flag too.
 * 2^25 keys take many seconds to prefill; ^C after 0.5 s must end the run
 * within 3 s, exit 130 and write the file marked interrupted, with no run
 * (no phase started) and no check (an interrupted map is not checked).
 * A run still going 10 s after the ^C is killed (and fails), so a
 * regression cannot fill gigabytes for long.  Sanitizer builds (scale < 1)
 * use 2^22 keys, still seconds of prefill there: under TSan the 2^26-bin
 * table of 2^25 keys alone took seconds to set up and tear down, and
 * allow 3 s / scale (at most 9 s) for the exit. */
static void test_sigint_during_prefill(void)
{
    /* Under ThreadSanitizer this also checks that the main thread waits out
     * the prefill where TSan delivers signals (it sleeps, cs_wait_finished):
     * TSan runs a handler only inside calls it intercepts, and waiting in
     * pthread_barrier_wait the run went on prefilling 10 s after the ^C. */
    const char *dir = env_or_fail("CS_WORKLOAD_DIR");
    if (dir == NULL)
        return;
    char path[512], out[512];
    snprintf(path, sizeof path, "%s/read-heavy.json", dir);
    snprintf(out, sizeof out, "%s/interrupted-prefill.json", tmpdir);
    double scale = chm_test_scale();
    const char *keys = scale >= 1 ? "33554432" : "4194304";
    double limit = scale >= 1 ? 3 : 3 / scale > 9 ? 9 : 3 / scale;
    const char *args[] = { "run", "-w", path, "-m", "chm", "-t", "1",
                           "-k", keys, "--check", "none", "-o", out,
                           "--quiet", NULL };
    json_t *root = interrupt_run(args, 0.5, 10, limit, out);
    if (root == NULL)
        return;
    CHECK_EQ_INT(json_integer_value(json_object_get(root, "exit_code")), 130);
    CHECK(json_is_array(json_object_get(root, "runs")));
    CHECK_EQ_U64(json_array_size(json_object_get(root, "runs")), 0);
    CHECK_EQ_U64(json_array_size(json_object_get(root, "checks")), 0);
    json_decref(root);
}

/* SIGINT during the final count check: the check of a big key range stops
 * within moments, and the result holds the finished runs but no check (an
 * unfinished check has no verdict).  Start-up clears the tallies (1 GiB for
 * 2^28 keys: about 1 s here; 2^26 keys under sanitizers), phases of 2000
 * ops on an empty map take a fraction of a second, and the check of the
 * range takes several seconds, so the signal, sent once the phases are
 * over (see the delays below), lands in it.  Before the runner polled SIGINT there, the
 * check ran to its end and was reported. */
static void test_sigint_during_check(void)
{
    char path[512], out[512];
    if (!test_paths("rapid-grow.json", path, "interrupted-check.json", out))
        return;
    /* chmstress is built like this test: sanitized or not (the valgrind
     * run uses the normal build's chmstress, natively) */
    const int build = CHECK_TSAN ? 2 : CHECK_ASAN ? 1 : 0;
    const bool sanitized = build != 0;
    /* when the check runs, measured with nothing else running: normal
     * from about 1.3 s to 5.8 s, ASan from 0.5 s to 3.2 s, TSan from 0.5 s
     * to 45 s (its start-up grew past 2 s under the load of the parallel
     * test run) */
    double delay = build == 2 ? 5 : build == 1 ? 1.5 : 3;
    double limit = sanitized ? 5 : 2;
    const char *keys = sanitized ? "67108864" : "268435456";
    const char *args[] = { "run", "-w", path, "-m", "chm", "-t", "1",
                           "-k", keys, "-n", "2000", "--check", "counts",
                           "-o", out, "--quiet", NULL };
    json_t *root = interrupt_run(args, delay, 30, limit, out);
    if (root == NULL)
        return;
    json_t *runs = json_object_get(root, "runs");
    CHECK_EQ_U64(json_array_size(runs), 2); /* warmup and measure, whole */
    for (size_t i = 0; i < json_array_size(runs); i++)
        CHECK(json_is_false(json_object_get(json_array_get(runs, i),
                                            "interrupted")));
    CHECK_EQ_U64(json_array_size(json_object_get(root, "checks")), 0);
    json_decref(root);
}

static void test_side_by_side_one_file(void)
{
    char path[512], out[512];
    if (!test_paths("exchange.json", path, "side.json", out))
        return;
    const char *args[] = { "run", "-w", path, "-m", "chm,locked,null",
                           "-t", "1,2", "-d", scaled_duration(), "-k", "8192",
                           "--repeat", "2", "-o", out, NULL };
    json_t *root = run_and_load(NULL, args, 0, 0, out);
    if (root == NULL)
        return;
    json_t *runs = json_object_get(root, "runs");
    json_t *cfg = json_object_get(root, "config");
    size_t phases = json_array_size(json_object_get(cfg, "phases"));
    CHECK(phases >= 1);
    /* 3 maps x 2 thread counts x phases x 2 repeats */
    CHECK_EQ_U64(json_array_size(runs), 3 * 2 * phases * 2);
    /* null is not checked; chm and locked are, at 1 and 2 threads, twice */
    CHECK_EQ_U64(json_array_size(json_object_get(root, "checks")), 2 * 2 * 2);
    json_t *r;
    size_t i;
    json_array_foreach(runs, i, r) {
        json_t *ops = json_object_get(r, "ops_by_type");
        CHECK(json_object_size(ops) >= 1);
        json_t *tl = json_object_get(r, "timeline");
        CHECK(json_array_size(tl) >= 1);
        /* CPU time: positive, at most wall time x threads (plus slack for
         * clock granularity), and ops per CPU-second at least the wall rate
         * per thread */
        double cpu = json_number_value(json_object_get(r, "cpu_seconds"));
        double wall = json_number_value(json_object_get(r, "seconds"));
        double thr = (double)json_integer_value(json_object_get(r, "threads"));
        if (strcmp(json_string_value(json_object_get(r, "map")), "null") != 0) {
            CHECK(cpu > 0);
            CHECK(cpu <= wall * thr * 1.05 + 0.01);
        }
        json_t *get = json_object_get(ops, "get");
        if (get != NULL) {
            json_t *lat = json_object_get(get, "latency_ns");
            CHECK(json_integer_value(json_object_get(lat, "p50")) <=
                  json_integer_value(json_object_get(lat, "p99")));
        }
    }
    CHECK(json_array_size(json_object_get(root, "summary")) >= 6);
    json_decref(root);
    /* the summary table went to stdout */
    char sp[320], line[512];
    snprintf(sp, sizeof sp, "%s/stdout", tmpdir);
    FILE *f = fopen(sp, "r");
    bool table = false;
    while (f != NULL && fgets(line, sizeof line, f))
        table |= strstr(line, "Mops/s") != NULL;
    if (f != NULL)
        fclose(f);
    CHECK(table);
}

/* Several -w: the workloads run one after another into one file; every
 * run, summary row and check names its workload; "workloads" lists both
 * configs; a 17th -w is refused with exit 2. */
static void test_several_workloads_one_file(void)
{
    char rh[512], ex[512], out[512];
    if (!test_paths("read-heavy.json", rh, "multi.json", out) ||
        !test_paths("exchange.json", ex, NULL, NULL))
        return;
    const char *args[] = { "run", "-w", rh, "-w", ex, "-m", "chm,locked",
                           "-t", "1", "-d", "0.05", "-k", "8192", "-o", out,
                           "--quiet", NULL };
    json_t *root = run_and_load(NULL, args, 0, 0, out);
    if (root == NULL)
        return;
    json_t *wls = json_object_get(root, "workloads");
    CHECK_EQ_U64(json_array_size(wls), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(wls, 1),
                                                   "name")), "exchange");
    const char *arrays[] = { "runs", "summary", "checks" };
    for (int a = 0; a < 3; a++) {
        json_t *arr = json_object_get(root, arrays[a]), *o;
        size_t i, nrh = 0, nex = 0;
        json_array_foreach(arr, i, o) {
            const char *w = json_string_value(json_object_get(o, "workload"));
            nrh += w != NULL && strcmp(w, "read-heavy") == 0;
            nex += w != NULL && strcmp(w, "exchange") == 0;
        }
        CHECK(nrh > 0 && nex > 0);
        CHECK_EQ_U64(nrh + nex, json_array_size(arr));
        CHECK_EQ_U64(nrh, nex); /* same maps, threads, phase count */
    }
    json_decref(root);
    /* compare and ratios tell the two workloads apart by the row field */
    const char *cmp[] = { "compare", out, out, "--ratio", "locked", "--strict",
                          NULL };
    CHECK_EQ_INT(run_chmstress(cmp, 0), 0);
    char sp[320], line[512];
    snprintf(sp, sizeof sp, "%s/stdout", tmpdir);
    FILE *f = fopen(sp, "r");
    bool two = false;
    while (f != NULL && fgets(line, sizeof line, f))
        two |= strncmp(line, "2 compared", 10) == 0;
    if (f != NULL)
        fclose(f);
    CHECK(two);
    const char *rat[] = { "ratios", out, NULL };
    CHECK_EQ_INT(run_chmstress(rat, 0), 0);
    f = fopen(sp, "r");
    int rows = 0;
    while (f != NULL && fgets(line, sizeof line, f))
        rows += (strncmp(line, "read-heavy", 10) == 0 ||
                 strncmp(line, "exchange", 8) == 0) && strstr(line, "x") != NULL;
    if (f != NULL)
        fclose(f);
    CHECK_EQ_INT(rows, 2);
    const char *many[40] = { "run" };
    int n = 1;
    for (int i = 0; i < 17; i++) {
        many[n++] = "-w";
        many[n++] = rh;
    }
    many[n++] = "--quiet";
    many[n] = NULL;
    CHECK_EQ_INT(run_chmstress(many, 0), 2);
}

/* The measured runs' (map, threads) of one repeat, in run order, as
 * "map/threads map/threads ..." into buf. */
static void run_order(json_t *root, int repeat, char *buf, size_t n)
{
    json_t *r;
    size_t i, len = 0;
    buf[0] = '\0';
    json_array_foreach(json_object_get(root, "runs"), i, r) {
        if (json_integer_value(json_object_get(r, "repeat")) != repeat ||
            !json_is_true(json_object_get(r, "measure")))
            continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s/%lld",
                                len ? " " : "",
                                json_string_value(json_object_get(r, "map")),
                                (long long)json_integer_value(
                                    json_object_get(r, "threads")));
        if (len >= n)
            return;
    }
}

/* --order: listed runs maps as given, each over the thread counts; the
 * default (shuffled) runs every map x threads once per repeat, in orders
 * that differ between repeats and come back with the same seed; either
 * way the summary lists maps and threads as given. */
static void test_run_order(void)
{
    static const char *const listed =
        "chm/1 chm/2 locked/1 locked/2 null/1 null/2";
    char path[512], out[512], seen[3][256], again[256];
    if (!test_paths("exchange.json", path, "order.json", out))
        return;
    const char *args[] = { "run", "-w", path, "-m", "chm,locked,null",
                           "-t", "1,2", "-d", "0.005", "-k", "1024",
                           "--repeat", "3", "--seed", "5", "-o", out,
                           "--quiet", "--order", "listed", NULL };
    json_t *root = run_and_load(NULL, args, 0, 0, out);
    if (root == NULL)
        return;
    CHECK_EQ_STR(json_string_value(json_object_get(
                     json_object_get(root, "config"), "order")), "listed");
    for (int r = 0; r < 3; r++) {
        run_order(root, r, seen[0], sizeof seen[0]);
        CHECK_EQ_STR(seen[0], listed);
    }
    json_decref(root);

    args[18] = NULL; /* the default order */
    for (int pass = 0; pass < 2; pass++) {
        root = run_and_load(NULL, args, 0, 0, out);
        if (root == NULL)
            return;
        CHECK_EQ_STR(json_string_value(json_object_get(
                         json_object_get(root, "config"), "order")), "shuffled");
        if (pass == 1) {
            run_order(root, 2, again, sizeof again);
            CHECK_MSG(strcmp(again, seen[2]) == 0,
                      "the same seed ran '%.100s', then '%.100s'", seen[2], again);
            json_decref(root);
            break;
        }
        for (int r = 0; r < 3; r++) {
            run_order(root, r, seen[r], sizeof seen[r]);
            /* each map x threads once: the same words as listed */
            char a[256], b[256], *wa[8], *wb[8], *save;
            int na = 0, nb = 0;
            snprintf(a, sizeof a, "%s", seen[r]);
            snprintf(b, sizeof b, "%s", listed);
            for (char *w = strtok_r(a, " ", &save); w && na < 8;
                 w = strtok_r(NULL, " ", &save))
                wa[na++] = w;
            for (char *w = strtok_r(b, " ", &save); w && nb < 8;
                 w = strtok_r(NULL, " ", &save))
                wb[nb++] = w;
            CHECK_EQ_INT(na, 6);
            CHECK_EQ_INT(nb, 6);
            for (int i = 0; i < nb; i++) {
                int hits = 0;
                for (int j = 0; j < na; j++)
                    hits += strcmp(wa[j], wb[i]) == 0;
                CHECK_MSG(hits == 1, "repeat %d ran %.20s %d times: %.100s", r,
                          wb[i], hits, seen[r]);
            }
        }
        CHECK_MSG(strcmp(seen[0], seen[1]) != 0 || strcmp(seen[1], seen[2]) != 0,
                  "three repeats ran in one order: %.100s", seen[0]);
        /* the summary is in the listed order, whatever the run order */
        json_t *row;
        size_t i;
        char sum[256];
        size_t len = 0;
        sum[0] = '\0';
        json_array_foreach(json_object_get(root, "summary"), i, row) {
            if (!json_is_true(json_object_get(row, "measure")))
                continue;
            len += (size_t)snprintf(sum + len, sizeof sum - len, "%s%s/%lld",
                                    len ? " " : "",
                                    json_string_value(json_object_get(row, "map")),
                                    (long long)json_integer_value(
                                        json_object_get(row, "threads")));
        }
        CHECK_EQ_STR(sum, listed);
        json_decref(root);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/chmstress-wl-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    run_test("every_bundled_workload", test_every_bundled_workload);
    run_test("side_by_side_one_file", test_side_by_side_one_file);
    run_test("sigint_writes_partial_results", test_sigint_writes_partial_results);
    run_test("sigint_during_prefill", test_sigint_during_prefill);
    run_test("sigint_during_check", test_sigint_during_check);
    run_test("several_workloads_one_file", test_several_workloads_one_file);
    run_test("run_order", test_run_order);
    int rc = check_finish();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", tmpdir);
    return rc;
}
