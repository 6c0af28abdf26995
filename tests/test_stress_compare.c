/*
 * test_stress_compare.c - `chmstress compare BASE NEW [--tolerance PCT]
 * [--ratio MAP]`, the CI regression gate (src/stress/cs_cmd_compare.c).
 *
 * Writes small hand-made result files (schema chmstress-result/1) into a
 * mkdtemp directory and runs $CHMSTRESS (tests/run.sh exports it) on them:
 * exit 0 / 1 / 2, the REGRESSED / only-in rows, and error messages that
 * name the file or the flag.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cs.h"
#include "ts_spawn.h"

static char tmpdir[] = "/tmp/chm-compare-XXXXXX";

static const char *tpath(const char *name)
{
    /* a ring: the paths a test holds stay valid for the next 255 calls */
    return ts_path(tmpdir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* One summary row. */
typedef struct row {
    const char *map;
    unsigned threads;
    const char *phase;
    bool measure;
    double mops;
} row;

/* A result file of workload `name` with these summary rows. */
static const char *write_result(const char *file, const char *name,
                                const row *rows, int n)
{
    const char *path = tpath(file);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fprintf(f, "{\n  \"schema\": \"chmstress-result/1\",\n"
               "  \"tool\": {\"version\": \"test\"},\n"
               "  \"config\": {\"name\": \"%s\"},\n"
               "  \"runs\": [],\n  \"summary\": [\n", name);
    for (int i = 0; i < n; i++)
        fprintf(f, "    {\"map\": \"%s\", \"threads\": %u, \"phase\": \"%s\", "
                   "\"measure\": %s, \"repeats\": 3, \"mops_median\": %.6f, "
                   "\"mops_min\": %.6f, \"mops_max\": %.6f}%s\n",
                rows[i].map, rows[i].threads, rows[i].phase,
                rows[i].measure ? "true" : "false", rows[i].mops,
                rows[i].mops * 0.9, rows[i].mops * 1.1, i + 1 < n ? "," : "");
    fprintf(f, "  ]\n}\n");
    fclose(f);
    return path;
}

typedef ts_result res;

static res run(const char *const *args)
{
    const char *bin = getenv("CHMSTRESS");
    REQUIRE(bin != NULL && *bin != '\0');
    res r = ts_run(bin, args, tpath("stdout"), tpath("stderr"), 0);
    CHECK_MSG(r.spawn_error == 0, "posix_spawn %s: %s", bin,
              strerror(r.spawn_error));
    return r;
}

static void show(const res *r)
{
    printf("#   exit %d\n#   stdout:\n%s#   stderr:\n%s", r->status, r->out,
           r->err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The line of out holding both needles, or NULL. */
static bool line_has(const char *out, const char *a, const char *b)
{
    const char *s = out;
    while (*s != '\0') {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), s);
        if (strstr(line, a) != NULL && strstr(line, b) != NULL)
            return true;
        s += len + (nl != NULL);
    }
    return false;
}

static void expect(const char *what, const res *r, int status,
                   const char *const *out_needles, const char *const *err_needles)
{
    bool ok = r->status == status;
    CHECK_MSG(r->status == status, "%s: exit %d, expected %d", what, r->status,
              status);
    for (int i = 0; out_needles && out_needles[i]; i++) {
        bool f = strstr(r->out, out_needles[i]) != NULL;
        CHECK_MSG(f, "%s: stdout lacks \"%s\"", what, out_needles[i]);
        ok = ok && f;
    }
    for (int i = 0; err_needles && err_needles[i]; i++) {
        bool f = strstr(r->err, err_needles[i]) != NULL;
        CHECK_MSG(f, "%s: stderr lacks \"%s\"", what, err_needles[i]);
        ok = ok && f;
    }
    if (!ok)
        show(r);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* chm and locked at 1 and 4 threads, a warmup and a measure phase; chm's
 * measure figures scaled by chm_f, everything by all_f. */
static const char *std_file(const char *file, double chm_f, double all_f)
{
    row rows[] = {
        {"chm", 1, "warmup", false, 1.0 * all_f},
        {"chm", 1, "measure", true, 10.0 * chm_f * all_f},
        {"chm", 4, "warmup", false, 1.0 * all_f},
        {"chm", 4, "measure", true, 40.0 * chm_f * all_f},
        {"locked", 1, "warmup", false, 1.0 * all_f},
        {"locked", 1, "measure", true, 8.0 * all_f},
        {"locked", 4, "warmup", false, 1.0 * all_f},
        {"locked", 4, "measure", true, 6.0 * all_f},
    };
    return write_result(file, "exchange", rows, (int)(sizeof rows / sizeof rows[0]));
}

static void test_identical_files_pass(void)
{
    const char *a = std_file("id_a.json", 1.0, 1.0);
    const char *b = std_file("id_b.json", 1.0, 1.0);
    res r = run(ARGS("compare", a, b));
    expect("identical", &r, 0, NEEDLES("exchange", "chm", "locked", "ok"), NULL);
    CHECK(strstr(r.out, "REGRESSED") == NULL || strstr(r.out, "0 REGRESSED"));
    CHECK(line_has(r.out, "chm ", "+0.0"));
    /* warmup rows are not compared */
    CHECK(!line_has(r.out, "exchange ", "warmup"));
    CHECK(strstr(r.out, "warmup rows skipped") != NULL);
    ts_result_free(&r);
}

static void test_drop_of_20_percent_regresses(void)
{
    const char *a = std_file("d20_a.json", 1.0, 1.0);
    const char *b = std_file("d20_b.json", 0.8, 1.0);
    res r = run(ARGS("compare", a, b, "--tolerance", "10"));
    expect("20% drop", &r, 1, NEEDLES("REGRESSED", "-20.0"), NULL);
    CHECK(line_has(r.out, "chm ", "REGRESSED"));
    CHECK(!line_has(r.out, "locked", "REGRESSED"));
    ts_result_free(&r);
    /* default tolerance is 10 as well; options may come first */
    r = run(ARGS("compare", a, b));
    expect("20% drop, default tolerance", &r, 1, NEEDLES("REGRESSED"), NULL);
    ts_result_free(&r);
    /* a tolerance of 25 lets it pass */
    r = run(ARGS("compare", "--tolerance", "25", a, b));
    expect("20% drop, tolerance 25", &r, 0, NULL, NULL);
    CHECK(!line_has(r.out, "chm ", "REGRESSED"));
    ts_result_free(&r);
}

static void test_drop_of_5_percent_passes(void)
{
    const char *a = std_file("d5_a.json", 1.0, 1.0);
    const char *b = std_file("d5_b.json", 0.95, 1.0);
    res r = run(ARGS("compare", a, b, "--tolerance", "10"));
    expect("5% drop", &r, 0, NEEDLES("-5.0"), NULL);
    CHECK(!line_has(r.out, "chm ", "REGRESSED"));
    ts_result_free(&r);
    /* and a 30% rise is "improved", not a failure */
    b = std_file("d5_up.json", 1.3, 1.0);
    r = run(ARGS("compare", a, b));
    expect("30% rise", &r, 0, NEEDLES("improved", "+30.0"), NULL);
    ts_result_free(&r);
}

static void test_ratio_mode_cancels_machine_noise(void)
{
    const char *a = std_file("ra_a.json", 1.0, 1.0);
    const char *b = std_file("ra_b.json", 1.0, 0.7); /* all 30% slower */
    res r = run(ARGS("compare", a, b));
    expect("absolute, all 30% slower", &r, 1, NEEDLES("REGRESSED"), NULL);
    ts_result_free(&r);
    r = run(ARGS("compare", a, b, "--ratio", "locked"));
    expect("ratio, all 30% slower", &r, 0, NEEDLES("chm/locked", "ratio"), NULL);
    CHECK(line_has(r.out, "chm/locked", "ok"));
    CHECK(!line_has(r.out, "chm/locked", "REGRESSED"));
    /* the reference map itself is not a row */
    CHECK(!line_has(r.out, "locked/locked", ""));
    ts_result_free(&r);
}

static void test_ratio_mode_regression_fails(void)
{
    const char *a = std_file("rr_a.json", 1.0, 1.0);
    /* chm 20% slower relative to locked, while everything got 10% faster */
    const char *b = std_file("rr_b.json", 0.8, 1.1);
    res r = run(ARGS("compare", "--ratio", "locked", a, b));
    expect("ratio regressed", &r, 1, NEEDLES("REGRESSED"), NULL);
    CHECK(line_has(r.out, "chm/locked", "REGRESSED"));
    ts_result_free(&r);
    /* a reference map that is not in the files: usage error naming it */
    r = run(ARGS("compare", "--ratio", "cuckoo", a, b));
    expect("ratio, unknown ref", &r, 2, NULL, NEEDLES("--ratio", "cuckoo", a));
    ts_result_free(&r);
}

static void test_unmatched_rows_are_listed_not_failed(void)
{
    row ra[] = {
        {"chm", 1, "measure", true, 10.0},
        {"chm", 2, "measure", true, 20.0},
        {"cuckoo", 1, "measure", true, 5.0},
    };
    row rb[] = {
        {"chm", 1, "measure", true, 10.5},
        {"chm", 8, "measure", true, 50.0},
        {"urcu", 1, "measure", true, 7.0},
    };
    const char *a = write_result("um_a.json", "read-heavy", ra, 3);
    const char *b = write_result("um_b.json", "read-heavy", rb, 3);
    res r = run(ARGS("compare", a, b));
    expect("unmatched", &r, 0, NEEDLES("only in BASE", "only in NEW"), NULL);
    CHECK(line_has(r.out, "only in BASE", "cuckoo"));
    CHECK(line_has(r.out, "only in BASE", "threads=2"));
    CHECK(line_has(r.out, "only in NEW", "urcu"));
    CHECK(line_has(r.out, "only in NEW", "threads=8"));
    CHECK(line_has(r.out, "chm ", "ok"));
    ts_result_free(&r);
    /* --strict: the BASE rows NEW left out fail the gate */
    r = run(ARGS("compare", "--strict", a, b));
    expect("unmatched, strict", &r, 1, NEEDLES("MISSING", "2 BASE rows"), NULL);
    ts_result_free(&r);
    /* a different workload matches nothing: nothing compared is bad input */
    const char *c = write_result("um_c.json", "exchange", rb, 3);
    r = run(ARGS("compare", a, c));
    expect("other workload", &r, 2, NEEDLES("only in BASE", "only in NEW"),
           NEEDLES("nothing was compared", a, c));
    ts_result_free(&r);
}

/* --strict in ratio mode: a map without its reference row is missing too. */
static void test_strict_ratio_missing_reference(void)
{
    row ra[] = {
        {"chm", 1, "measure", true, 10.0}, {"locked", 1, "measure", true, 5.0},
        {"chm", 2, "measure", true, 20.0}, {"locked", 2, "measure", true, 6.0},
    };
    row rb[] = {
        {"chm", 1, "measure", true, 10.0}, {"locked", 1, "measure", true, 5.0},
        {"chm", 2, "measure", true, 20.0},
    };
    const char *a = write_result("sr_a.json", "exchange", ra, 4);
    const char *b = write_result("sr_b.json", "exchange", rb, 3);
    res r = run(ARGS("compare", "--ratio", "locked", a, b));
    expect("ratio, lenient", &r, 0, NEEDLES("result: ok"), NULL);
    ts_result_free(&r);
    r = run(ARGS("compare", "--ratio", "locked", "--strict", a, b));
    expect("ratio, strict", &r, 1, NEEDLES("MISSING"), NULL);
    ts_result_free(&r);
    r = run(ARGS("compare", "--ratio", "locked", "--strict", a, a));
    expect("ratio, strict, same", &r, 0, NEEDLES("2 compared", "result: ok"),
           NULL);
    ts_result_free(&r);
}

/* A result file of workload "w" with one summary row: chm at 1 thread in
 * phase measure, with `figures` (JSON members: "mops_median": 10, ...). */
static const char *write_chm_row(const char *file, const char *figures)
{
    const char *path = tpath(file);
    char text[512];
    snprintf(text, sizeof text,
             "{\"schema\": \"chmstress-result/1\", \"config\": {\"name\": "
             "\"w\"}, \"summary\": [{\"map\": \"chm\", \"threads\": 1, "
             "\"phase\": \"measure\", %s}]}\n",
             figures);
    write_text(path, text);
    return path;
}

/* --best compares mops_max (the best repeat): write_result sets it to
 * 1.1 x the median, so medians that regressed by 20% with best repeats
 * that did not must pass under --best and fail without it. */
static void test_best_uses_mops_max(void)
{
    const char *a =
        write_chm_row("best_a.json", "\"mops_median\": 10, \"mops_max\": 12");
    const char *b =
        write_chm_row("best_b.json", "\"mops_median\": 8, \"mops_max\": 11.9");
    res r = run(ARGS("compare", a, b));
    expect("median", &r, 1, NEEDLES("REGRESSED", "mops_median"), NULL);
    ts_result_free(&r);
    r = run(ARGS("compare", "--best", a, b));
    expect("best", &r, 0, NEEDLES("result: ok", "mops_max"), NULL);
    ts_result_free(&r);
    /* --cpu picks mops_cpu_median, --cpu --best mops_cpu_max */
    const char *d = write_chm_row("best_d.json",
                                  "\"mops_median\": 10, \"mops_max\": 10, "
                                  "\"mops_cpu_median\": 10, \"mops_cpu_max\": 20");
    const char *e = write_chm_row("best_e.json",
                                  "\"mops_median\": 10, \"mops_max\": 10, "
                                  "\"mops_cpu_median\": 10, \"mops_cpu_max\": 10");
    r = run(ARGS("compare", "--cpu", d, e));
    expect("cpu median", &r, 0, NEEDLES("mops_cpu_median", "result: ok"), NULL);
    ts_result_free(&r);
    r = run(ARGS("compare", "--cpu", "--best", d, e));
    expect("cpu best", &r, 1, NEEDLES("mops_cpu_max", "REGRESSED"), NULL);
    ts_result_free(&r);
    /* a file without mops_max cannot be compared with --best */
    const char *c = write_chm_row("best_c.json", "\"mops_median\": 8");
    r = run(ARGS("compare", "--best", a, c));
    expect("best, no mops_max", &r, 2, NULL, NEEDLES("mops_max", c));
    ts_result_free(&r);
}

/* chmstress ratios: chm over each peer, per workload/threads/phase. */
static void test_ratios_table(void)
{
    row rows[] = {
        {"chm", 1, "measure", true, 8.0}, {"urcu", 1, "measure", true, 2.0},
        {"locked", 1, "measure", true, 10.0}, {"null", 1, "measure", true, 100},
        {"chm", 2, "measure", true, 12.0}, {"locked", 2, "measure", true, 3.0},
        {"chm", 1, "warmup", false, 1.0},
    };
    const char *a = write_result("rt.json", "exchange", rows, 7);
    res r = run(ARGS("ratios", a));
    expect("ratios", &r, 0, NEEDLES("urcu", "locked"), NULL);
    CHECK(line_has(r.out, "exchange        1", "4.00x"));
    CHECK(line_has(r.out, "exchange        1", "0.80x"));
    CHECK(line_has(r.out, "exchange        2", "4.00x"));
    CHECK(line_has(r.out, "exchange        2", "-"));
    CHECK(strstr(r.out, "null") == NULL);   /* the harness is not a peer */
    CHECK(strstr(r.out, "warmup") == NULL); /* measured phases only */
    ts_result_free(&r);
    r = run(ARGS("ratios", a, "--map", "locked"));
    expect("ratios --map", &r, 0, NEEDLES("locked / each peer", "1.25x"), NULL);
    ts_result_free(&r);
    r = run(ARGS("ratios", a, "--map", "cuckoo"));
    expect("ratios, absent map", &r, 2, NULL, NEEDLES("cuckoo", a));
    ts_result_free(&r);
    r = run(ARGS("ratios", tpath("none.json")));
    expect("ratios, missing file", &r, 2, NULL, NEEDLES("none.json"));
    ts_result_free(&r);
    r = run(ARGS("ratios"));
    expect("ratios, no file", &r, 2, NULL, NEEDLES("expected one result file"));
    ts_result_free(&r);
}

static void test_bad_input_exits_2_naming_the_file(void)
{
    const char *good = std_file("bi_good.json", 1.0, 1.0);
    const char *missing = tpath("no-such-file.json");
    res r = run(ARGS("compare", missing, good));
    expect("missing file", &r, 2, NULL, NEEDLES(missing));
    ts_result_free(&r);

    const char *bad = tpath("bad.json");
    write_text(bad, "{\n  \"schema\": \"chmstress-result/1\",\n  \"summary\": [\n"
                    "    {\"map\": \"chm\",, }\n  ]\n}\n");
    r = run(ARGS("compare", good, bad));
    char where[700];
    snprintf(where, sizeof where, "%s:4:", bad);
    expect("bad JSON", &r, 2, NULL, NEEDLES(where));
    ts_result_free(&r);

    const char *wrong = tpath("wrong-schema.json");
    write_text(wrong, "{\"schema\": \"other-tool/7\", \"config\": {\"name\": "
                      "\"x\"}, \"summary\": []}\n");
    r = run(ARGS("compare", good, wrong));
    expect("wrong schema", &r, 2, NULL,
           NEEDLES(wrong, "other-tool/7", "chmstress-result/1"));
    ts_result_free(&r);

    const char *noschema = tpath("no-schema.json");
    write_text(noschema, "{\"summary\": []}\n");
    r = run(ARGS("compare", noschema, good));
    expect("missing schema", &r, 2, NULL, NEEDLES(noschema, "schema"));
    ts_result_free(&r);

    const char *badrow = tpath("bad-row.json");
    write_text(badrow, "{\"schema\": \"chmstress-result/1\", \"config\": "
                       "{\"name\": \"x\"}, \"summary\": [{\"map\": \"chm\", "
                       "\"threads\": 1, \"phase\": \"measure\", \"measure\": "
                       "true, \"mops_median\": \"fast\"}]}\n");
    r = run(ARGS("compare", good, badrow));
    expect("bad row", &r, 2, NULL, NEEDLES(badrow, "summary[0].mops_median"));
    ts_result_free(&r);
}

static void test_bad_flags_exit_2_naming_the_flag(void)
{
    const char *a = std_file("bf_a.json", 1.0, 1.0);
    res r = run(ARGS("compare", a, a, "--tolerance", "abc"));
    expect("--tolerance abc", &r, 2, NULL, NEEDLES("--tolerance", "abc"));
    ts_result_free(&r);
    r = run(ARGS("compare", a, a, "--tolerance", "-5"));
    expect("--tolerance -5", &r, 2, NULL, NEEDLES("--tolerance", "-5"));
    ts_result_free(&r);
    r = run(ARGS("compare", a, a, "--tolerance"));
    expect("--tolerance without a value", &r, 2, NULL, NEEDLES("--tolerance"));
    ts_result_free(&r);
    r = run(ARGS("compare", a, a, "--bogus"));
    expect("--bogus", &r, 2, NULL, NEEDLES("--bogus"));
    ts_result_free(&r);
    r = run(ARGS("compare", a));
    expect("one file", &r, 2, NULL, NEEDLES("two result files"));
    ts_result_free(&r);
    r = run(ARGS("compare", a, a, a));
    expect("three files", &r, 2, NULL, NEEDLES("two result files"));
    ts_result_free(&r);
    r = run(ARGS("compare", "--help"));
    expect("--help", &r, 0,
           NEEDLES("--tolerance", "--ratio", "REGRESSED", "exit status"), NULL);
    ts_result_free(&r);
}

static void rm_tmpdir(void)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
}

int main(void)
{
    REQUIRE(mkdtemp(tmpdir) != NULL);
    run_test("identical_files_pass", test_identical_files_pass);
    run_test("drop_of_20_percent_regresses", test_drop_of_20_percent_regresses);
    run_test("drop_of_5_percent_passes", test_drop_of_5_percent_passes);
    run_test("ratio_mode_cancels_machine_noise",
             test_ratio_mode_cancels_machine_noise);
    run_test("ratio_mode_regression_fails", test_ratio_mode_regression_fails);
    run_test("unmatched_rows_are_listed_not_failed",
             test_unmatched_rows_are_listed_not_failed);
    run_test("strict_ratio_missing_reference",
             test_strict_ratio_missing_reference);
    run_test("ratios_table", test_ratios_table);
    run_test("best_uses_mops_max", test_best_uses_mops_max);
    run_test("bad_input_exits_2_naming_the_file",
             test_bad_input_exits_2_naming_the_file);
    run_test("bad_flags_exit_2_naming_the_flag",
             test_bad_flags_exit_2_naming_the_flag);
    rm_tmpdir();
    return check_finish();
}
