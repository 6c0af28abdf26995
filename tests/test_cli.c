/*
 * test_cli.c - chmstress's command line and workload files.
 *
 * Bad input: every kind of bad workload file (syntax, unknown fields, wrong
 * types, out-of-range numbers, mixes not summing to 100, unknown ops, maps
 * and distributions, empty phases, a phase with both or neither of
 * duration_s/ops, ...) and every bad flag (-w missing, unknown flags, -t 0,
 * -t 1,x, -m nosuch, bad --seed/-d/-n/--check) must make `chmstress run`
 * exit 2 with a message on stderr that names the file and the field path
 * (or the flag) and says what is expected.  The bad files are also fed to
 * cs_workload_load() directly (cs_workload.c is linked in), with the same
 * expectations, and the loader is fuzzed (mutated bundled files, random
 * values at random places, pathological documents): it returns 0 or 2,
 * never crashes.
 *
 * Good input: every bundled workload (CS_WORKLOAD_DIR, else ./workloads)
 * loads and its resolved config round-trips through cs_config_to_json();
 * absent fields get the documented defaults; `chmstress list` shows the
 * bundled workloads; `chmstress --help` names every run flag.
 *
 * Needs $CHMSTRESS, the binary (tests/run.sh sets it); without it the CLI
 * tests fail with a message saying so (the in-process tests still run).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "cs.h"
#include "ts_spawn.h"

static char tmpdir[256];

/* ---- files ----------------------------------------------------------------- */

/* tmpdir/name; the returned string is static (see ts_path). */
static const char *tmp_path(const char *name)
{
    return ts_path(tmpdir, name);
}

static const char *write_file(const char *name, const char *content, size_t len)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    REQUIRE(f != NULL);
    REQUIRE(fwrite(content, 1, len, f) == len);
    REQUIRE(fclose(f) == 0);
    return p;
}

static const char *write_text(const char *name, const char *content)
{
    return write_file(name, content, strlen(content));
}

static const char *workload_dir(void)
{
    const char *d = getenv("CS_WORKLOAD_DIR");
    return d != NULL && *d != '\0' ? d : "workloads";
}

/* ---- running chmstress ---------------------------------------------------------- */

/* status: exit code; 128+N if killed by signal N; -1 not run; out, err */
typedef ts_result cli_result;

/* chmstress ARGS... (NULL-terminated, without argv[0]), stdin /dev/null,
 * stdout and stderr captured; killed after 60 s. */
static cli_result cli_run(const char *const *args)
{
    const double limit = 60.0;
    const char *bin = getenv("CHMSTRESS");
    if (bin == NULL || *bin == '\0') {
        CHECK_MSG(bin != NULL && *bin != '\0',
                  "CHMSTRESS is not set: run through `make check` (tests/run.sh "
                  "exports CHMSTRESS=<build>/chmstress)");
        cli_result r = {.status = -1};
        r.out = ts_slurp("/dev/null");
        r.err = ts_slurp("/dev/null");
        return r;
    }
    cli_result r = ts_run(bin, args, tmp_path("cli.stdout"),
                          tmp_path("cli.stderr"), limit);
    CHECK_MSG(r.spawn_error == 0, "posix_spawn %s: %s", bin,
              strerror(r.spawn_error));
    if (r.timed_out)
        printf("# chmstress ran for more than %.0f s: killed\n", limit);
    return r;
}

/* Print text as "# " comment lines (the test log). */
static void show(const char *label, const char *text)
{
    printf("#   %s:\n", label);
    const char *s = text;
    while (*s != '\0') {
        const char *nl = strchr(s, '\n');
        int len = nl != NULL ? (int)(nl - s) : (int)strlen(s);
        printf("#     %.*s\n", len, s);
        s += len + (nl != NULL);
    }
}

/* Does stderr say what is expected? */
static bool has_hint(const char *err)
{
    static const char *const hints[] = {"expect", "one of", "must", "try ",
                                        "give ", "usage"};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strcasestr(err, hints[i]) != NULL)
            return true;
    return false;
}

/* `what` must exit 2 and its stderr hold every needle and a hint. */
static void expect_usage_error(const char *what, int status, const char *err,
                               const char *const *needles)
{
    bool ok = status == CS_EXIT_USAGE && has_hint(err);
    CHECK_MSG(status == CS_EXIT_USAGE, "%s: exit status %d, expected 2", what,
              status);
    CHECK_MSG(has_hint(err), "%s: the message does not say what is expected",
              what);
    for (int i = 0; needles[i] != NULL; i++) {
        bool found = strstr(err, needles[i]) != NULL;
        CHECK_MSG(found, "%s: stderr lacks \"%s\"", what, needles[i]);
        ok = ok && found;
    }
    if (!ok)
        show("stderr", err);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- the workload files ---------------------------------------------------------- */

/* A small valid workload: flags are tested on top of it. */
static const char OK_WORKLOAD[] =
    "{\n"
    "  \"name\": \"cli-ok\",\n"
    "  \"keys\": {\"range\": 1024},\n"
    "  \"prefill\": 0.5,\n"
    "  \"phases\": [{\"name\": \"measure\", \"ops\": 2000,\n"
    "              \"mix\": {\"get\": 50, \"put\": 50}}],\n"
    "  \"threads\": [1],\n"
    "  \"maps\": [\"chm\"]\n"
    "}\n";

/* A workload with one thing wrong, and what its message must name (besides
 * the file); the field path comes first. */
typedef struct bad_case {
    const char *label;
    const char *json;
    const char *needles[4];
} bad_case;

#define PHASE_OK "{\"name\": \"measure\", \"ops\": 100, \"mix\": {\"get\": 100}}"
#define WITH_PHASE(rest) "{\"name\": \"bad\", \"phases\": [" PHASE_OK "]" rest "}"

static const bad_case bad_cases[] = {
    {"syntax_error",
     "{\n  \"name\": \"bad\",\n  \"phases\": [" PHASE_OK "]\n  \"seed\": 1\n}\n",
     {":4:", "syntax"}},
    {"trailing_comma", "{\"name\": \"bad\",}", {":1:"}},
    {"duplicate_field", "{\"name\": \"bad\", \"name\": \"again\"}", {":1:", "name"}},
    {"empty_file", "", {"empty"}},
    {"top_level_array", "[]", {"object"}},
    {"top_level_null", "null", {"object", "null"}},
    {"top_level_number", "42", {"object", "42"}},
    {"unknown_top_field", WITH_PHASE(", \"bogus_top\": 1"),
     {"bogus_top", "unknown field"}},
    {"unknown_phase_field",
     "{\"name\": \"bad\", \"phases\": [" PHASE_OK ", {\"name\": \"two\", "
     "\"ops\": 5, \"speed\": 3, \"mix\": {\"get\": 100}}]}",
     {"phases[1].speed", "unknown field"}},
    {"unknown_keys_field", WITH_PHASE(", \"keys\": {\"rnage\": 10}"),
     {"keys.rnage"}},
    {"unknown_resizer_field",
     WITH_PHASE(", \"resizer\": {\"enabled\": true, \"every\": 1}"),
     {"resizer.every"}},
    {"missing_name", "{\"phases\": [" PHASE_OK "]}", {"name", "missing"}},
    {"bad_name", "{\"name\": \"has space\", \"phases\": [" PHASE_OK "]}",
     {"name", "\"has space\""}},
    {"missing_phases", "{\"name\": \"bad\"}", {"phases", "missing"}},
    {"empty_phases", "{\"name\": \"bad\", \"phases\": []}", {"phases", "empty"}},
    {"phases_not_array", "{\"name\": \"bad\", \"phases\": {}}", {"phases"}},
    {"phase_not_object", "{\"name\": \"bad\", \"phases\": [3]}", {"phases[0]"}},
    {"phase_both",
     "{\"name\": \"bad\", \"phases\": [{\"duration_s\": 1, \"ops\": 10, "
     "\"mix\": {\"get\": 100}}]}",
     {"phases[0]", "duration_s", "ops"}},
    {"phase_neither", "{\"name\": \"bad\", \"phases\": [{\"mix\": {\"get\": 100}}]}",
     {"phases[0]", "duration_s", "ops"}},
    {"phase_zero_duration",
     "{\"name\": \"bad\", \"phases\": [{\"duration_s\": 0, \"mix\": {\"get\": 100}}]}",
     {"phases[0].duration_s"}},
    {"phase_zero_ops",
     "{\"name\": \"bad\", \"phases\": [{\"ops\": 0, \"mix\": {\"get\": 100}}]}",
     {"phases[0].ops"}},
    {"phase_real_ops",
     "{\"name\": \"bad\", \"phases\": [{\"ops\": 1.5, \"mix\": {\"get\": 100}}]}",
     {"phases[0].ops", "1.5"}},
    {"phase_measure_type",
     "{\"name\": \"bad\", \"phases\": [{\"ops\": 5, \"measure\": 1, "
     "\"mix\": {\"get\": 100}}]}",
     {"phases[0].measure", "true or false"}},
    {"duplicate_phase_names",
     "{\"name\": \"bad\", \"phases\": [" PHASE_OK ", " PHASE_OK "]}",
     {"phases[1]", "measure"}},
    {"mix_missing", "{\"name\": \"bad\", \"phases\": [{\"ops\": 5}]}",
     {"phases[0].mix"}},
    {"mix_sum",
     "{\"name\": \"bad\", \"phases\": [{\"ops\": 5, \"mix\": {\"get\": 90, "
     "\"put\": 9}}]}",
     {"phases[0].mix", "99", "100"}},
    {"mix_unknown_op",
     "{\"name\": \"bad\", \"phases\": [{\"ops\": 5, \"mix\": {\"gett\": 100}}]}",
     {"phases[0].mix.gett", "unknown operation", "put_if_absent"}},
    {"mix_wrong_type",
     "{\"name\": \"bad\", \"phases\": [" PHASE_OK ", {\"name\": \"x\", \"ops\": 5, "
     "\"mix\": {\"get\": \"ten\", \"put\": 90}}]}",
     {"phases[1].mix.get", "\"ten\"", "0..100"}},
    {"mix_negative",
     "{\"name\": \"bad\", \"phases\": [{\"ops\": 5, \"mix\": {\"get\": 110, "
     "\"put\": -10}}]}",
     {"phases[0].mix.get", "110"}},
    {"prefill_type", WITH_PHASE(", \"prefill\": \"lots\""), {"prefill", "\"lots\""}},
    {"prefill_range", WITH_PHASE(", \"prefill\": 1.5"), {"prefill", "1.5"}},
    {"threads_zero", WITH_PHASE(", \"threads\": [1, 0]"), {"threads[1]", "1..254"}},
    {"threads_type", WITH_PHASE(", \"threads\": \"2\""), {"threads", "\"2\""}},
    {"threads_empty", WITH_PHASE(", \"threads\": []"), {"threads", "empty"}},
    {"threads_garbage", WITH_PHASE(", \"threads\": [1, \"x\"]"),
     {"threads[1]", "\"x\""}},
    {"maps_unknown", WITH_PHASE(", \"maps\": [\"chm\", \"nosuch\"]"),
     {"maps[1]", "nosuch", "chm"}},
    {"maps_type", WITH_PHASE(", \"maps\": \"chm\""), {"maps"}},
    {"dist_unknown", WITH_PHASE(", \"keys\": {\"distribution\": \"pareto\"}"),
     {"keys.distribution", "pareto", "zipfian"}},
    {"theta_high",
     WITH_PHASE(", \"keys\": {\"distribution\": \"zipfian\", \"theta\": 1.5}"),
     {"keys.theta", "1.5", "(0, 1)"}},
    {"theta_zero",
     WITH_PHASE(", \"keys\": {\"distribution\": \"latest\", \"theta\": 0}"),
     {"keys.theta", "(0, 1)"}},
    {"range_zero", WITH_PHASE(", \"keys\": {\"range\": 0}"), {"keys.range"}},
    {"range_huge_real", WITH_PHASE(", \"keys\": {\"range\": 1e300}"),
     {"keys.range"}},
    {"range_too_big_integer",
     WITH_PHASE(", \"keys\": {\"range\": 123456789012345678901234567890}"),
     {":1:"}},
    {"hot_fraction", WITH_PHASE(", \"keys\": {\"hot_fraction\": 0}"),
     {"keys.hot_fraction"}},
    {"seed_negative", WITH_PHASE(", \"seed\": -1"), {"seed", "-1"}},
    {"seed_real", WITH_PHASE(", \"seed\": 1.0"), {"seed", "1.0"}},
    {"check_unknown", WITH_PHASE(", \"check\": \"full\""),
     {"check", "linearizability"}},
    {"repeat_zero", WITH_PHASE(", \"repeat\": 0"), {"repeat"}},
    {"order_unknown", WITH_PHASE(", \"order\": \"random\""),
     {"order", "listed"}},
    {"order_type", WITH_PHASE(", \"order\": 1"), {"order"}},
    {"latency_sample", WITH_PHASE(", \"latency_sample\": 2"), {"latency_sample"}},
    {"map_capacity_type", WITH_PHASE(", \"map\": {\"initial_capacity\": \"big\"}"),
     {"map.initial_capacity"}},
    {"map_not_object", WITH_PHASE(", \"map\": 5"), {"map"}},
    {"resizer_no_enabled", WITH_PHASE(", \"resizer\": {\"interval_ms\": 2}"),
     {"resizer.enabled"}},
    {"lin_unknown_field", WITH_PHASE(", \"linearizability\": {\"kees\": 4}"),
     {"linearizability.kees"}},
    {"lin_keys_zero", WITH_PHASE(", \"linearizability\": {\"keys\": 0}"),
     {"linearizability.keys"}},
    {"lin_max_ops_type", WITH_PHASE(", \"linearizability\": {\"max_ops\": \"lots\"}"),
     {"linearizability.max_ops"}},
    {"resizer_interval", WITH_PHASE(", \"resizer\": {\"enabled\": true, "
                                    "\"interval_ms\": 0}"),
     {"resizer.interval_ms"}},
    {"description_type", WITH_PHASE(", \"description\": 7"), {"description"}},
};

#define NBAD (sizeof bad_cases / sizeof bad_cases[0])

/* stderr into an in-memory file while the loader runs (a memfd: files on
 * disk made the fuzzing slow). */
static int capture_fd = -1;
static int capture_saved = -1;

static void capture_begin(void)
{
    if (capture_fd < 0) {
        capture_fd = memfd_create("chmstress-stderr", 0);
        REQUIRE(capture_fd >= 0);
    }
    REQUIRE(ftruncate(capture_fd, 0) == 0);
    REQUIRE(lseek(capture_fd, 0, SEEK_SET) == 0);
    fflush(stderr);
    capture_saved = dup(2);
    REQUIRE(capture_saved >= 0);
    REQUIRE(dup2(capture_fd, 2) == 2);
}

/* What was written to stderr since capture_begin() (malloc'd). */
static char *capture_end(void)
{
    fflush(stderr);
    REQUIRE(dup2(capture_saved, 2) == 2);
    close(capture_saved);
    off_t len = lseek(capture_fd, 0, SEEK_END);
    REQUIRE(len >= 0);
    char *buf = malloc((size_t)len + 1);
    REQUIRE(buf != NULL);
    REQUIRE(pread(capture_fd, buf, (size_t)len, 0) == (ssize_t)len);
    buf[len] = '\0';
    return buf;
}

/* Run cs_workload_load with stderr captured into *err (malloc'd). */
static int load_captured(const char *path, cs_config *cfg, char **err)
{
    capture_begin();
    int rc = cs_workload_load(path, cfg);
    *err = capture_end();
    return rc;
}

static int validate_captured(const cs_config *cfg, char **err)
{
    capture_begin();
    int rc = cs_config_validate(cfg);
    *err = capture_end();
    return rc;
}

/* An in-memory file with the given content, as a path the loader opens
 * ("/proc/self/fd/N"); one at a time. */
static const char *mem_file(const char *content, size_t len)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("chmstress-doc", 0);
        REQUIRE(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    REQUIRE(ftruncate(fd, 0) == 0);
    REQUIRE(pwrite(fd, content, len, 0) == (ssize_t)len);
    return path;
}

static const char *bad_case_file(const bad_case *bc)
{
    char name[96];
    snprintf(name, sizeof name, "bad-%s.json", bc->label);
    return write_text(name, bc->json);
}

static void check_bad_case(const bad_case *bc, const char *path, int status,
                           const char *err, const char *how)
{
    const char *needles[6] = {path};
    int n = 1;
    for (int i = 0; i < 4 && bc->needles[i] != NULL; i++)
        needles[n++] = bc->needles[i];
    needles[n] = NULL;
    char what[128];
    snprintf(what, sizeof what, "%s (%s)", bc->label, how);
    expect_usage_error(what, status, err, needles);
}

static cs_config cfg_; /* large: not on the stack */

/* ---- in-process tests --------------------------------------------------------------- */

static void test_names(void)
{
    for (int op = 0; op < CS_OP_COUNT; op++) {
        CHECK_EQ_INT(cs_op_from_name(cs_op_name((cs_op)op)), op);
        CHECK(strcmp(cs_op_name((cs_op)op), "?") != 0);
    }
    CHECK_EQ_STR(cs_op_name(CS_OP_PUT_IF_ABSENT), "put_if_absent");
    CHECK_EQ_STR(cs_op_name(CS_OP_ITERATE), "iterate");
    CHECK_EQ_INT(cs_op_from_name("nosuch"), -1);
    CHECK_EQ_INT(cs_op_from_name(""), -1);
    CHECK_EQ_INT(cs_op_from_name(NULL), -1);
    CHECK_EQ_INT(cs_op_from_name("GET"), -1);
    CHECK_EQ_STR(cs_op_name(CS_OP_COUNT), "?");
    for (int d = 0; d < CS_DIST_COUNT; d++)
        CHECK_EQ_INT(cs_dist_from_name(cs_dist_name((cs_dist)d)), d);
    CHECK_EQ_STR(cs_dist_name(CS_DIST_LATEST), "latest");
    CHECK_EQ_INT(cs_dist_from_name("pareto"), -1);
    CHECK_EQ_INT(cs_dist_from_name(NULL), -1);
}

static void test_defaults(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s", write_text("defaults.json",
                               "{\"name\": \"defaults\", \"phases\": ["
                               "{\"name\": \"warmup\", \"duration_s\": 0.5, "
                               "\"mix\": {\"get\": 100}},"
                               "{\"ops\": 1000, \"mix\": {\"get\": 60, "
                               "\"put\": 40}},"
                               "{\"name\": \"warmup2\", \"ops\": 5, "
                               "\"measure\": false, \"mix\": {\"size\": 100}}]}"));
    char *err;
    int rc = load_captured(p, &cfg_, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        show("stderr", err);
    free(err);
    const cs_config *c = &cfg_;
    CHECK_EQ_STR(c->path, p);
    CHECK_EQ_STR(c->name, "defaults");
    CHECK_EQ_STR(c->description, "");
    CHECK_EQ_U64(c->seed, 1);
    CHECK_EQ_INT(c->check, CS_CHECK_COUNTS);
    CHECK_EQ_INT(c->repeat, 1);
    CHECK_EQ_INT(c->order, CS_ORDER_SHUFFLED);
    CHECK(c->prefill == 0.75);
    CHECK_EQ_U64(c->keys.range, 4194304);
    CHECK_EQ_INT(c->keys.dist, CS_DIST_UNIFORM);
    CHECK(c->keys.theta == 0.99);
    CHECK(c->keys.hot_fraction == 0.2);
    CHECK(c->keys.hot_op_fraction == 0.8);
    CHECK_EQ_INT(c->nthreads, 2);
    CHECK_EQ_INT(c->threads[0], 1);
    CHECK_EQ_INT(c->threads[1], 2);
    CHECK_EQ_INT(c->nmaps, 1);
    CHECK_EQ_STR(c->maps[0], "chm");
    CHECK(c->latency_sample == 0.01);
    CHECK(!c->resizer);
    CHECK(c->resizer_interval_ms == 1.0);
    CHECK_EQ_U64(c->lin_keys, 64);
    CHECK_EQ_U64(c->lin_max_ops, 2000000);
    CHECK_EQ_U64(c->lin_budget, 2000000);
    CHECK_EQ_U64(c->initial_capacity, 0);
    CHECK_EQ_STR(c->out, "");
    CHECK(!c->quiet);
    CHECK_EQ_INT(c->nphases, 3);
    CHECK(!c->phases[0].measure); /* named warmup */
    CHECK(c->phases[0].duration_s == 0.5);
    CHECK_EQ_U64(c->phases[0].ops, 0);
    CHECK_EQ_STR(c->phases[1].name, "phase1"); /* unnamed: phase<index> */
    CHECK(c->phases[1].measure);
    CHECK_EQ_U64(c->phases[1].ops, 1000);
    CHECK(c->phases[1].duration_s == 0.0);
    CHECK_EQ_INT(c->phases[1].mix[CS_OP_GET], 60);
    CHECK_EQ_INT(c->phases[1].mix[CS_OP_PUT], 40);
    CHECK_EQ_INT(c->phases[1].mix[CS_OP_REMOVE], 0);
    CHECK(!c->phases[2].measure);
    CHECK_EQ_INT(c->phases[2].mix[CS_OP_SIZE], 100);
}

/* Every field given: every value lands where it should. */
static void test_all_fields(void)
{
    const char *p = write_text(
        "all.json",
        "{\"name\": \"all.fields-1\", \"description\": \"d\\u00e9\",\n"
        " \"map\": {\"initial_capacity\": 17},\n"
        " \"keys\": {\"range\": 1000, \"distribution\": \"hotspot\", "
        "\"theta\": 0.5, \"hot_fraction\": 0.1, \"hot_op_fraction\": 1},\n"
        " \"prefill\": 0, \"phases\": [{\"name\": \"warmup\", \"measure\": true, "
        "\"duration_s\": 3, \"mix\": {\"get\": 1, \"put\": 2, \"put_if_absent\": 3, "
        "\"replace\": 4, \"replace_if\": 5, \"remove\": 6, \"remove_if\": 7, "
        "\"compute\": 8, \"scan\": 9, \"size\": 10, \"iterate\": 45}}],\n"
        " \"threads\": [4, 1, 8], \"maps\": [\"chm\"], \"seed\": 9223372036854775807,\n"
        " \"check\": \"linearizability\", \"repeat\": 3, \"order\": \"listed\",\n"
        " \"latency_sample\": 1,\n"
        " \"resizer\": {\"enabled\": true, \"interval_ms\": 0.5}}\n");
    char *err;
    int rc = load_captured(p, &cfg_, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        show("stderr", err);
    free(err);
    const cs_config *c = &cfg_;
    CHECK_EQ_STR(c->name, "all.fields-1");
    CHECK_EQ_STR(c->description, "d\xc3\xa9");
    CHECK_EQ_U64(c->initial_capacity, 17);
    CHECK_EQ_U64(c->keys.range, 1000);
    CHECK_EQ_INT(c->keys.dist, CS_DIST_HOTSPOT);
    CHECK(c->keys.theta == 0.5);
    CHECK(c->keys.hot_fraction == 0.1);
    CHECK(c->keys.hot_op_fraction == 1.0);
    CHECK(c->prefill == 0.0);
    CHECK(c->phases[0].measure); /* explicit wins over the name */
    for (int op = 0; op < CS_OP_COUNT - 1; op++)
        CHECK_EQ_INT(c->phases[0].mix[op], op + 1);
    CHECK_EQ_INT(c->nthreads, 3);
    CHECK_EQ_INT(c->threads[2], 8);
    CHECK_EQ_U64(c->seed, INT64_MAX);
    CHECK_EQ_INT(c->check, CS_CHECK_LINEARIZABILITY);
    CHECK_EQ_INT(c->repeat, 3);
    CHECK_EQ_INT(c->order, CS_ORDER_LISTED);
    CHECK(c->latency_sample == 1.0);
    CHECK(c->resizer);
    CHECK(c->resizer_interval_ms == 0.5);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The bundled workload files' names (without .json), sorted; count. */
static int bundled_names(char names[][64], int max)
{
    DIR *d = opendir(workload_dir());
    CHECK_MSG(d != NULL, "cannot open the workload directory %s: %s "
              "(CS_WORKLOAD_DIR)", workload_dir(), strerror(errno));
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        size_t len = strlen(e->d_name);
        if (len > 5 && len < 64 && e->d_name[0] != '.' &&
            strcmp(e->d_name + len - 5, ".json") == 0) {
            memcpy(names[n], e->d_name, len - 5);
            names[n++][len - 5] = '\0';
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    return n;
}

static const char *const required_workloads[] = {
    "read-heavy", "exchange", "rapid-grow", "ycsb-a", "ycsb-b", "ycsb-c",
    "ycsb-d", "ycsb-f", "resize-grow", "resize-storm", "churn", "hot-keys",
};

/* Load path, to_json, write, load again, to_json: the same. */
static void check_round_trip(const char *path, const cs_config *c)
{
    json_t *j1 = cs_config_to_json(c);
    CHECK_NOT_NULL(j1);
    if (j1 == NULL)
        return;
    const char *p2 = tmp_path("roundtrip.json");
    CHECK_EQ_INT(json_dump_file(j1, p2, JSON_INDENT(2)), 0);
    static cs_config c2;
    char *err;
    int rc = load_captured(p2, &c2, &err);
    CHECK_MSG(rc == 0, "%.200s: its resolved config does not load again", path);
    if (rc != 0)
        show("stderr", err);
    free(err);
    json_t *j2 = cs_config_to_json(&c2);
    CHECK_MSG(j2 != NULL && json_equal(j1, j2),
              "%.200s: the config changed in a round trip", path);
    /* every documented field is there */
    static const char *const fields[] = {
        "name", "description", "map", "keys", "prefill", "phases", "threads",
        "maps", "seed", "check", "repeat", "order", "latency_sample", "resizer",
        "linearizability"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        CHECK_MSG(json_object_get(j1, fields[i]) != NULL, "%.200s: to_json lacks %s",
                  path, fields[i]);
    CHECK_EQ_INT(json_object_size(j1), sizeof fields / sizeof fields[0]);
    json_decref(j1);
    json_decref(j2);
}

static void test_bundled_workloads_load(void)
{
    char names[64][64];
    int n = bundled_names(names, 64);
    for (size_t r = 0; r < sizeof required_workloads / sizeof required_workloads[0];
         r++) {
        bool found = false;
        for (int i = 0; i < n; i++)
            found = found || strcmp(names[i], required_workloads[r]) == 0;
        CHECK_MSG(found, "no bundled workload %s.json in %s", required_workloads[r],
                  workload_dir());
    }
    for (int i = 0; i < n; i++) {
        char path[512], *err;
        if (snprintf(path, sizeof path, "%s/%s.json", workload_dir(), names[i]) >=
            (int)sizeof path)
            continue;
        int rc = load_captured(path, &cfg_, &err);
        CHECK_MSG(rc == 0, "%.200s does not load", path);
        if (rc != 0) {
            show("stderr", err);
            free(err);
            continue;
        }
        free(err);
        CHECK_MSG(strcmp(cfg_.name, names[i]) == 0,
                  "%.200s: \"name\" is %.64s, expected the file's name", path, cfg_.name);
        CHECK_MSG(cfg_.description[0] != '\0', "%.200s: no description", path);
        bool measured = false;
        for (int p = 0; p < cfg_.nphases; p++)
            measured = measured || cfg_.phases[p].measure;
        CHECK_MSG(measured, "%.200s: no measured phase", path);
        CHECK_MSG(cfg_.nphases >= 2 && !cfg_.phases[0].measure,
                  "%.200s: expected a warmup phase first", path);
        check_round_trip(path, &cfg_);
    }
}

static void test_bad_files_in_process(void)
{
    for (size_t i = 0; i < NBAD; i++) {
        const char *p = bad_case_file(&bad_cases[i]);
        char *err;
        int rc = load_captured(p, &cfg_, &err);
        check_bad_case(&bad_cases[i], p, rc, err, "cs_workload_load");
        CHECK_MSG(strchr(err, '\n') != NULL && strchr(err, '\n')[1] == '\0',
                  "%s: expected exactly one line on stderr", bad_cases[i].label);
        free(err);
    }
    /* a missing file, a directory */
    char *err;
    char missing[512];
    snprintf(missing, sizeof missing, "%s", tmp_path("does-not-exist.json"));
    int rc = load_captured(missing, &cfg_, &err);
    expect_usage_error("missing file", rc, err, NEEDLES(missing));
    free(err);
    rc = load_captured(tmpdir, &cfg_, &err);
    expect_usage_error("directory", rc, err, NEEDLES(tmpdir, "directory"));
    free(err);
}

/* cs_config_validate on a config with flags applied badly. */
static void test_validate(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s", write_text("ok.json", OK_WORKLOAD));
    char *err;
    REQUIRE(load_captured(p, &cfg_, &err) == 0);
    free(err);
    static cs_config c;
    struct {
        const char *label;
        void (*mutate)(cs_config *);
        const char *needles[3];
    } cases[] = {
        {"threads 0", NULL, {"threads[0]", "-t", "0"}},
        {"map nosuch", NULL, {"maps[0]", "-m", "nosuch"}},
        {"no maps", NULL, {"maps", "-m"}},
        {"both -d and -n", NULL, {"phases[0]", "-d"}},
        {"negative duration", NULL, {"phases[0].duration_s", "-d"}},
        {"seed too big", NULL, {"seed", "--seed"}},
        {"repeat 0", NULL, {"repeat", "--repeat"}},
        {"duplicate threads", NULL, {"threads[1]", "-t"}},
        {"order out of range", NULL, {"order", "--order"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c = cfg_;
        switch (i) {
        case 0: c.threads[0] = 0; break;
        case 1: snprintf(c.maps[0], sizeof c.maps[0], "nosuch"); break;
        case 2: c.nmaps = 0; break;
        case 3: c.phases[0].duration_s = 1.0; break;
        case 4: c.phases[0].ops = 0; c.phases[0].duration_s = -1; break;
        case 5: c.seed = UINT64_MAX; break;
        case 6: c.repeat = 0; break;
        case 7: c.nthreads = 2; c.threads[1] = c.threads[0]; break;
        case 8: c.order = (cs_order)7; break;
        }
        int rc = validate_captured(&c, &err);
        const char *needles[5] = {p, cases[i].needles[0], cases[i].needles[1],
                                  cases[i].needles[2], NULL};
        expect_usage_error(cases[i].label, rc, err, needles);
        free(err);
    }
    c = cfg_;
    CHECK_EQ_INT(validate_captured(&c, &err), 0);
    free(err);
}

/* ---- fuzzing --------------------------------------------------------------------- */

/* Load path with stderr captured: must return 0 or 2, and a 0 must leave
 * a config that validates and converts to JSON. */
static void fuzz_one(const char *path, const char *what)
{
    char *err;
    int rc = load_captured(path, &cfg_, &err);
    CHECK_MSG(rc == 0 || rc == CS_EXIT_USAGE, "%s: cs_workload_load returned %d",
              what, rc);
    if (rc == CS_EXIT_USAGE)
        CHECK_MSG(err[0] != '\0' && strstr(err, path) != NULL,
                  "%s: rejected without naming the file", what);
    if (rc == 0) {
        char *verr;
        CHECK_EQ_INT(validate_captured(&cfg_, &verr), 0);
        free(verr);
        json_t *j = cs_config_to_json(&cfg_);
        CHECK_NOT_NULL(j);
        json_decref(j);
    }
    free(err);
}

static void test_fuzz_pathological(void)
{
    static const char *const docs[] = {
        "", " ", "\n\n", "[]", "{}", "null", "true", "0", "-0", "1e999",
        "\"str\"", "{\"name\"", "{\"name\": }", "{,}", "\xef\xbb\xbf{}",
        "{\"name\": \"\xff\xfe\"}", "{\"name\": \"x\\u0000y\"}",
        "{\"phases\": [[[[[]]]]]}", "{\"name\": \"x\", \"phases\": [{}]}",
        "{\"name\": \"x\", \"phases\": [{\"ops\": 1, \"mix\": {}}]}",
        "{\"name\": \"x\", \"phases\": [{\"ops\": 9223372036854775807, "
        "\"mix\": {\"get\": 100}}]}",
        "{\"name\": \"x\", \"phases\": [{\"duration_s\": 1e308, "
        "\"mix\": {\"get\": 100}}]}",
        "{\"name\": \"x\", \"phases\": [{\"duration_s\": -1e-308, "
        "\"mix\": {\"get\": 100}}]}",
        "{\"name\": \"x\", \"phases\": [{\"ops\": -9223372036854775808, "
        "\"mix\": {\"get\": 100}}]}",
        "{\"name\": \"x\", \"phases\": [{\"ops\": 1, \"mix\": {\"get\": "
        "4294967396, \"put\": -4294967296}}]}",
        "{\"name\": \"x\", \"threads\": [4294967297], \"phases\": []}",
    };
    char name[32];
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        snprintf(name, sizeof name, "patho-%zu.json", i);
        const char *p = write_text(name, docs[i]);
        char *err;
        int rc = load_captured(p, &cfg_, &err);
        CHECK_MSG(rc == CS_EXIT_USAGE, "document %zu (%.40s) gave %d", i, docs[i],
                  rc);
        CHECK_MSG(strstr(err, p) != NULL, "document %zu: message without the file",
                  i);
        free(err);
    }
    /* deep nesting, long strings, many phases, many fields */
    size_t big = 200000;
    char *buf = malloc(big * 2 + 64);
    REQUIRE(buf != NULL);
    memset(buf, '[', big);
    fuzz_one(write_file("deep-arrays.json", buf, big), "deep arrays");
    size_t n = 0;
    n += (size_t)sprintf(buf, "{\"name\": \"x\", \"description\": ");
    for (size_t i = 0; i < 5000; i++)
        n += (size_t)sprintf(buf + n, "{\"a\": ");
    n += (size_t)sprintf(buf + n, "1");
    for (size_t i = 0; i < 5000; i++)
        buf[n++] = '}';
    buf[n++] = '}';
    fuzz_one(write_file("deep-objects.json", buf, n), "deep objects");
    n = (size_t)sprintf(buf, "{\"name\": \"");
    memset(buf + n, 'a', big);
    n += big;
    n += (size_t)sprintf(buf + n, "\"}");
    fuzz_one(write_file("long-name.json", buf, n), "long name");
    n = (size_t)sprintf(buf, "{\"name\": \"x\", \"phases\": [");
    for (int i = 0; i < 40; i++)
        n += (size_t)sprintf(buf + n, "%s{\"name\": \"p%d\", \"ops\": 1, "
                             "\"mix\": {\"get\": 100}}", i ? "," : "", i);
    n += (size_t)sprintf(buf + n, "]}");
    fuzz_one(write_file("many-phases.json", buf, n), "many phases");
    n = (size_t)sprintf(buf, "{\"name\": \"x\", \"phases\": [" PHASE_OK "], "
                             "\"threads\": [");
    for (int i = 1; i <= 40; i++)
        n += (size_t)sprintf(buf + n, "%s%d", i > 1 ? "," : "", i);
    n += (size_t)sprintf(buf + n, "]}");
    fuzz_one(write_file("many-threads.json", buf, n), "many threads");
    free(buf);
}

/* Random byte-level mutations of the bundled files. */
static void test_fuzz_mutations(void)
{
    char names[64][64];
    int nfiles = bundled_names(names, 64);
    if (nfiles == 0)
        return;
    static const char alphabet[] = "{}[]\":,0123456789.-+eE truefalsnul\\x\n";
    check_rng_t rng;
    check_rng_seed(&rng, 20260101);
    size_t iters = chm_test_scaled(1500);
    for (size_t it = 0; it < iters; it++) {
        char path[512];
        if (snprintf(path, sizeof path, "%s/%s.json", workload_dir(),
                     names[check_rng_below(&rng, (uint64_t)nfiles)]) >=
            (int)sizeof path)
            continue;
        char *src = ts_slurp(path);
        size_t len = strlen(src);
        char *buf = malloc(len + 64);
        REQUIRE(buf != NULL);
        memcpy(buf, src, len + 1);
        int edits = 1 + (int)check_rng_below(&rng, 4);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = check_rng_below(&rng, len);
            switch (check_rng_below(&rng, 4)) {
            case 0: /* replace a byte */
                buf[at] = alphabet[check_rng_below(&rng, sizeof alphabet - 1)];
                break;
            case 1: /* delete a byte */
                memmove(buf + at, buf + at + 1, len - at);
                len--;
                break;
            case 2: /* insert a byte */
                memmove(buf + at + 1, buf + at, len - at + 1);
                buf[at] = alphabet[check_rng_below(&rng, sizeof alphabet - 1)];
                len++;
                break;
            default: /* truncate */
                len = at;
                buf[len] = '\0';
                break;
            }
        }
        fuzz_one(mem_file(buf, len), "a mutated workload");
        free(buf);
        free(src);
    }
}

/* A random JSON value, a few levels deep. */
static json_t *random_value(check_rng_t *rng, int depth)
{
    static const char *const strs[] = {"", "x", "get", "chm", "zipfian",
                                       "warmup", "counts", "nosuch", "1"};
    switch (check_rng_below(rng, depth > 2 ? 7 : 9)) {
    case 0: return json_null();
    case 1: return json_boolean(check_rng_below(rng, 2));
    case 2: return json_integer((json_int_t)check_rng_below(rng, 200) - 50);
    case 3: return json_integer((json_int_t)check_rng_next(rng));
    case 4: return json_real(check_rng_double(rng) * 3 - 1);
    case 5: return json_real(1e300);
    case 6: return json_string(strs[check_rng_below(rng, 9)]);
    case 7: {
        json_t *a = json_array();
        for (uint64_t i = check_rng_below(rng, 4); i > 0; i--)
            json_array_append_new(a, random_value(rng, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (uint64_t i = check_rng_below(rng, 4); i > 0; i--)
            json_object_set_new(o, strs[check_rng_below(rng, 9)],
                                random_value(rng, depth + 1));
        return o;
    }
    }
}

/* Replace one random node of v (an object or array) by a random value. */
static void replace_random_node(json_t *v, check_rng_t *rng)
{
    for (;;) {
        size_t n = json_is_object(v) ? json_object_size(v)
                   : json_is_array(v) ? json_array_size(v) : 0;
        if (n == 0)
            return;
        size_t k = check_rng_below(rng, n);
        json_t *child;
        const char *key = NULL;
        if (json_is_object(v)) {
            void *it = json_object_iter(v);
            while (k-- > 0)
                it = json_object_iter_next(v, it);
            key = json_object_iter_key(it);
            child = json_object_iter_value(it);
        } else {
            child = json_array_get(v, k);
        }
        bool descend = (json_is_object(child) || json_is_array(child)) &&
                       check_rng_below(rng, 3) != 0;
        if (descend) {
            v = child;
            continue;
        }
        json_t *nv = random_value(rng, 0);
        if (key != NULL)
            json_object_set_new(v, key, nv);
        else
            json_array_set_new(v, k, nv);
        return;
    }
}

/* Random values at random places of the bundled files. */
static void test_fuzz_values(void)
{
    char names[64][64];
    int nfiles = bundled_names(names, 64);
    if (nfiles == 0)
        return;
    check_rng_t rng;
    check_rng_seed(&rng, 777);
    size_t iters = chm_test_scaled(1500);
    for (size_t it = 0; it < iters; it++) {
        char path[512];
        if (snprintf(path, sizeof path, "%s/%s.json", workload_dir(),
                     names[check_rng_below(&rng, (uint64_t)nfiles)]) >=
            (int)sizeof path)
            continue;
        json_error_t e;
        json_t *root = json_load_file(path, 0, &e);
        REQUIRE(root != NULL);
        for (int r = 1 + (int)check_rng_below(&rng, 2); r > 0; r--)
            replace_random_node(root, &rng);
        char *text = json_dumps(root, 0);
        REQUIRE(text != NULL);
        json_decref(root);
        fuzz_one(mem_file(text, strlen(text)), "a workload with a random value");
        free(text);
    }
}

/* ---- through the binary ------------------------------------------------------------- */

static void test_cli_bad_files(void)
{
    char out[512], missing[512];
    snprintf(out, sizeof out, "%s", tmp_path("never-written.json"));
    snprintf(missing, sizeof missing, "%s", tmp_path("does-not-exist.json"));
    for (size_t i = 0; i < NBAD; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s", bad_case_file(&bad_cases[i]));
        cli_result r = cli_run(ARGS("run", "-w", p, "-o", out, "--quiet"));
        check_bad_case(&bad_cases[i], p, r.status, r.err, "chmstress run");
        ts_result_free(&r);
    }
    cli_result r = cli_run(ARGS("run", "-w", missing, "-o", out, "--quiet"));
    expect_usage_error("nonexistent file", r.status, r.err, NEEDLES(missing));
    ts_result_free(&r);
    CHECK_MSG(access(out, F_OK) != 0, "a result file was written for bad input");
}

/* The OK workload is accepted and runs (so the flag tests below fail
 * because of the flags, not the file). */
static void test_cli_ok_workload_runs(void)
{
    char p[512], out[512];
    snprintf(p, sizeof p, "%s", write_text("ok.json", OK_WORKLOAD));
    snprintf(out, sizeof out, "%s", tmp_path("ok-result.json"));
    char *err;
    int rc = load_captured(p, &cfg_, &err);
    CHECK_EQ_INT(rc, 0);
    free(err);
    cli_result r = cli_run(ARGS("run", "-w", p, "-o", out, "--quiet"));
    /* accepted and run; whether its checks pass is test_stress_workloads'
     * business (exit 1 is only noted here) */
    CHECK_MSG(r.status == 0 || r.status == CS_EXIT_CHECK,
              "chmstress run -w ok.json: exit %d", r.status);
    if (r.status != 0) {
        printf("# note: chmstress run -w ok.json exited %d\n", r.status);
        show("stderr", r.err);
    }
    CHECK_MSG(access(out, F_OK) == 0, "no result file %.200s", out);
    ts_result_free(&r);
}

static void test_cli_bad_flags(void)
{
    char ok[512], out[512];
    snprintf(ok, sizeof ok, "%s", write_text("ok.json", OK_WORKLOAD));
    snprintf(out, sizeof out, "%s", tmp_path("never-written-flags.json"));
    struct {
        const char *label;
        const char *args[8];
        const char *needles[3];
    } cases[] = {
        {"unknown flag", {"run", "--bogus-flag", "-w", ok}, {"--bogus-flag"}},
        {"unknown short flag", {"run", "-Z", "-w", ok}, {"-Z"}},
        {"unknown global flag", {"--nope", "run"}, {"--nope"}},
        {"unknown command", {"runn"}, {"runn"}},
        {"missing -w", {"run"}, {"-w"}},
        {"missing -w with flags", {"run", "-t", "1", "-m", "chm"}, {"-w"}},
        {"-w without a value", {"run", "-w"}, {"-w"}},
        {"-t 0", {"run", "-w", ok, "-t", "0"}, {"-t"}},
        {"-t 1,x", {"run", "-w", ok, "-t", "1,x"}, {"-t", "1,x"}},
        {"-t 1,,2", {"run", "-w", ok, "-t", "1,,2"}, {"-t"}},
        {"-t empty", {"run", "-w", ok, "-t", ""}, {"-t"}},
        {"-t -1", {"run", "-w", ok, "-t", "-1"}, {"-t"}},
        {"-m nosuch", {"run", "-w", ok, "-m", "nosuch"}, {"-m", "nosuch"}},
        {"-m chm,nosuch", {"run", "-w", ok, "-m", "chm,nosuch"}, {"-m", "nosuch"}},
        {"--seed abc", {"run", "-w", ok, "--seed", "abc"}, {"--seed", "abc"}},
        {"--seed -1", {"run", "-w", ok, "--seed", "-1"}, {"--seed"}},
        {"--seed 1x", {"run", "-w", ok, "--seed", "1x"}, {"--seed"}},
        {"-d abc", {"run", "-w", ok, "-d", "abc"}, {"-d", "abc"}},
        {"-d 0", {"run", "-w", ok, "-d", "0"}, {"-d"}},
        {"-d -1", {"run", "-w", ok, "-d", "-1"}, {"-d"}},
        {"-d nan", {"run", "-w", ok, "-d", "nan"}, {"-d"}},
        {"-n x", {"run", "-w", ok, "-n", "x"}, {"-n"}},
        {"-n 0", {"run", "-w", ok, "-n", "0"}, {"-n"}},
        {"-n 1.5", {"run", "-w", ok, "-n", "1.5"}, {"-n"}},
        {"-d and -n", {"run", "-w", ok, "-d", "1", "-n", "10"}, {"-d", "-n"}},
        {"--check bogus", {"run", "-w", ok, "--check", "bogus"}, {"--check"}},
        {"--repeat 0", {"run", "-w", ok, "--repeat", "0"}, {"--repeat"}},
        {"--order random", {"run", "-w", ok, "--order", "random"},
         {"--order", "random", "listed"}},
        {"extra argument", {"run", "-w", ok, "extra-arg"}, {"extra-arg"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[16];
        int n = 0;
        for (int a = 0; a < 8 && cases[i].args[a] != NULL; a++) {
            args[n++] = cases[i].args[a];
            /* right after the command (a flag missing its value stays
             * last): never write into the repository */
            if (a == 0 && strcmp(args[0], "run") == 0) {
                args[n++] = "-o";
                args[n++] = out;
                args[n++] = "--quiet";
            }
        }
        args[n] = NULL;
        cli_result r = cli_run(args);
        const char *needles[4] = {cases[i].needles[0], cases[i].needles[1],
                                  cases[i].needles[2], NULL};
        expect_usage_error(cases[i].label, r.status, r.err, needles);
        ts_result_free(&r);
    }
    CHECK_MSG(access(out, F_OK) != 0, "a result file was written for bad flags");
}

static bool has_flag(const char *text, const char *flag)
{
    size_t len = strlen(flag);
    for (const char *s = strstr(text, flag); s != NULL; s = strstr(s + 1, flag)) {
        bool start = s == text || strchr(" \t\n,[|(", s[-1]) != NULL;
        bool end = s[len] == '\0' || strchr(" \t\n,]|)=", s[len]) != NULL;
        if (start && end)
            return true;
    }
    return false;
}

static void test_cli_help(void)
{
    static const char *const flags[] = {"-w", "-m", "-t", "-d", "-n", "--seed",
                                        "--check", "-o", "--quiet", "--repeat",
                                        "--order"};
    cli_result r = cli_run(ARGS("--help"));
    CHECK_EQ_INT(r.status, 0);
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        CHECK_MSG(has_flag(r.out, flags[i]), "chmstress --help does not mention %s",
                  flags[i]);
    CHECK(strstr(r.out, "list") != NULL && strstr(r.out, "run") != NULL);
    ts_result_free(&r);
    r = cli_run(ARGS("run", "--help"));
    CHECK_EQ_INT(r.status, 0);
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        CHECK_MSG(has_flag(r.out, flags[i]),
                  "chmstress run --help does not mention %s", flags[i]);
    ts_result_free(&r);
    r = cli_run(ARGS("--version"));
    CHECK_EQ_INT(r.status, 0);
    CHECK(strstr(r.out, "chmstress") != NULL);
    ts_result_free(&r);
}

static void test_cli_list(void)
{
    cli_result r = cli_run(ARGS("list"));
    CHECK_EQ_INT(r.status, 0);
    char names[64][64];
    int n = bundled_names(names, 64);
    CHECK(n >= (int)(sizeof required_workloads / sizeof required_workloads[0]));
    for (int i = 0; i < n; i++) {
        char file[80];
        if (snprintf(file, sizeof file, "%s.json", names[i]) >= (int)sizeof file)
            continue;
        CHECK_MSG(strstr(r.out, file) != NULL, "chmstress list does not show %s",
                  file);
    }
    for (int i = 0; cs_backends[i] != NULL; i++)
        CHECK_MSG(strstr(r.out, cs_backends[i]->name) != NULL,
                  "chmstress list does not show the map %s", cs_backends[i]->name);
    ts_result_free(&r);
    r = cli_run(ARGS("list", "extra"));
    expect_usage_error("list extra", r.status, r.err, NEEDLES("extra"));
    ts_result_free(&r);
}

static void test_cli_binary(void)
{
    const char *bin = getenv("CHMSTRESS");
    CHECK_MSG(bin != NULL && *bin != '\0',
              "CHMSTRESS is not set: run through `make check` (tests/run.sh "
              "exports CHMSTRESS=<build>/chmstress and CS_WORKLOAD_DIR)");
    if (bin != NULL && *bin != '\0')
        CHECK_MSG(access(bin, X_OK) == 0, "CHMSTRESS=%s is not executable: %s",
                  bin, strerror(errno));
}

/* ---- main ------------------------------------------------------------------------- */

static void cleanup(void)
{
    DIR *d = opendir(tmpdir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                unlink(tmp_path(e->d_name));
        closedir(d);
    }
    rmdir(tmpdir);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/chmstress-cli.XXXXXX",
             t != NULL && *t != '\0' ? t : "/tmp");
    REQUIRE(mkdtemp(tmpdir) != NULL);

    run_test("op_and_dist_names", test_names);
    run_test("defaults", test_defaults);
    run_test("all_fields", test_all_fields);
    run_test("bundled_workloads_load", test_bundled_workloads_load);
    run_test("bad_files_in_process", test_bad_files_in_process);
    run_test("validate_after_flags", test_validate);
    run_test("fuzz_pathological", test_fuzz_pathological);
    run_test("fuzz_mutations", test_fuzz_mutations);
    run_test("fuzz_values", test_fuzz_values);

    run_test("cli_binary", test_cli_binary);
    const char *bin = getenv("CHMSTRESS");
    if (bin != NULL && *bin != '\0' && access(bin, X_OK) == 0) {
        run_test("cli_help", test_cli_help);
        run_test("cli_list", test_cli_list);
        run_test("cli_ok_workload_runs", test_cli_ok_workload_runs);
        run_test("cli_bad_files", test_cli_bad_files);
        run_test("cli_bad_flags", test_cli_bad_flags);
    }
    cleanup();
    return check_finish();
}
