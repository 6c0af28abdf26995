/*
 * test_stress_checks.c - the count checks fail when a map misbehaves, with
 * evidence a person can act on, and pass when it does not.
 *
 * Broken maps are the `locked` backend with one function replaced:
 *   - a remove that says REMOVED without removing (a lost remove),
 *   - a get that returns a value nobody wrote for that key,
 *   - a size() that is off by one.
 * Each must make cs_run_map return CS_EXIT_CHECK with the right kind of
 * evidence, in the report and in the result file.  The honest map passes.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cs.h"

extern const cs_backend cs_backend_locked;

static char tmpdir[256];
static _Thread_local uint64_t calls;

static cs_res lying_remove(void *t, uint64_t key, uint64_t *old)
{
    uint64_t v;
    if (++calls % 16 == 0 && cs_backend_locked.get(t, key, &v)) {
        if (old != NULL)
            *old = v;
        return CS_R_REMOVED; /* ... but the key stays */
    }
    return cs_backend_locked.remove(t, key, old);
}

static bool phantom_get(void *t, uint64_t key, uint64_t *val)
{
    bool found = cs_backend_locked.get(t, key, val);
    if (found && ++calls % 64 == 0)
        *val ^= (uint64_t)1 << 50; /* flips a bit of the key tag */
    return found;
}

/* A get that sometimes returns the key's previous value: every value it
 * returns was written for the key (provenance passes), but it is stale. */
static struct { _Atomic uint64_t key, old; } prev[4096];

static cs_res remembering_put(void *t, uint64_t key, uint64_t val,
                              uint64_t *old)
{
    uint64_t o = 0;
    cs_res r = cs_backend_locked.put(t, key, val, &o);
    if (r == CS_R_REPLACED) {
        atomic_store(&prev[key % 4096].key, 0);
        atomic_store(&prev[key % 4096].old, o);
        atomic_store(&prev[key % 4096].key, key);
    }
    if (old != NULL)
        *old = o;
    return r;
}

static bool stale_get(void *t, uint64_t key, uint64_t *val)
{
    bool found = cs_backend_locked.get(t, key, val);
    if (found && ++calls % 8 == 0 && atomic_load(&prev[key % 4096].key) == key) {
        uint64_t o = atomic_load(&prev[key % 4096].old);
        if (atomic_load(&prev[key % 4096].key) == key && o != 0)
            *val = o;
    }
    return found;
}

static size_t off_by_one_size(void *map)
{
    return cs_backend_locked.size(map) + 1;
}

static int load_config(cs_config *cfg)
{
    char path[300];
    snprintf(path, sizeof path, "%s/w.json", tmpdir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "{\"name\": \"broken\", \"keys\": {\"range\": 4096},\n"
               " \"prefill\": 0.5, \"threads\": [2], \"maps\": [\"locked\"],\n"
               " \"phases\": [{\"name\": \"measure\", \"ops\": %zu,\n"
               "   \"mix\": {\"get\": 40, \"put_if_absent\": 20, \"remove\": 20,\n"
               "            \"put\": 10, \"compute\": 10}}]}\n",
            chm_test_scaled(200000) < 20000 ? (size_t)20000
                                            : chm_test_scaled(200000));
    fclose(f);
    return cs_workload_load(path, cfg);
}

/* Run `be` at 2 threads; returns the exit code, fills rep. */
static int run_with(const cs_backend *be, cs_report *rep, cs_config *cfg)
{
    CHECK_EQ_INT(load_config(cfg), 0);
    cfg->quiet = true;
    cs_report_init(rep, cfg);
    return cs_run_map(cfg, be, 2, 0, rep);
}

static bool evidence_has(const cs_check_result *c, const char *what)
{
    for (int i = 0; i < c->nevidence; i++)
        if (strstr(c->evidence[i], what) != NULL)
            return true;
    return false;
}

/* The result file carries the failed check and its evidence. */
static void check_result_file(cs_report *rep, const char *what)
{
    char path[300];
    snprintf(path, sizeof path, "%s/result.json", tmpdir);
    CHECK_EQ_INT(cs_result_write(rep, path, CS_EXIT_CHECK), CS_EXIT_OK);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    CHECK(root != NULL);
    if (root == NULL)
        return;
    json_t *c = json_array_get(json_object_get(root, "checks"), 0);
    CHECK(json_is_false(json_object_get(c, "passed")));
    CHECK(json_integer_value(json_object_get(c, "violations")) > 0);
    json_t *ev = json_array_get(json_object_get(c, "evidence"), 0);
    CHECK(ev != NULL && strstr(json_string_value(ev), what) != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(root, "exit_code")),
                 CS_EXIT_CHECK);
    json_decref(root);
}

static void expect_caught(const cs_backend *be, const char *what)
{
    static cs_config cfg;
    cs_report rep;
    int code = run_with(be, &rep, &cfg);
    CHECK_EQ_INT(code, CS_EXIT_CHECK);
    CHECK_EQ_U64(rep.nchecks, 1);
    if (rep.nchecks == 1) {
        const cs_check_result *c = &rep.checks[0];
        CHECK(!c->passed);
        CHECK(c->violations > 0);
        CHECK(evidence_has(c, what));
        printf("#   %s: %llu violation(s); first: %s\n", be->name,
               (unsigned long long)c->violations,
               c->nevidence ? c->evidence[0] : "(none)");
        check_result_file(&rep, what);
    }
    cs_report_free(&rep);
}

static void test_lost_remove_caught(void)
{
    cs_backend be = cs_backend_locked;
    be.name = "lying-remove";
    be.remove = lying_remove;
    expect_caught(&be, "conservation");
}

static void test_phantom_value_caught(void)
{
    cs_backend be = cs_backend_locked;
    be.name = "phantom-get";
    be.get = phantom_get;
    expect_caught(&be, "value provenance");
}

static void test_size_lie_caught(void)
{
    cs_backend be = cs_backend_locked;
    be.name = "size-lie";
    be.size = off_by_one_size;
    expect_caught(&be, "size");
}

/* Counts cannot see a stale read; linearizability must. */
static void test_stale_read_caught_by_linearizability(void)
{
    static cs_config cfg;
    cs_report rep;
    cs_backend be = cs_backend_locked;
    be.name = "stale-get";
    be.put = remembering_put;
    be.get = stale_get;
    CHECK_EQ_INT(load_config(&cfg), 0);
    cfg.quiet = true;
    cfg.keys.range = 64;               /* hot keys: many puts per key */
    cfg.check = CS_CHECK_LINEARIZABILITY;
    cfg.lin_keys = 16;
    cs_report_init(&rep, &cfg);
    int code = cs_run_map(&cfg, &be, 2, 0, &rep);
    CHECK_EQ_INT(code, CS_EXIT_CHECK);
    CHECK_EQ_U64(rep.nchecks, 1);
    if (rep.nchecks == 1) {
        const cs_check_result *c = &rep.checks[0];
        CHECK(c->lin_ran);
        CHECK(c->lin_failed > 0);
        CHECK(!c->passed);
        CHECK(strstr(c->lin_evidence, "cannot be linearized") != NULL);
        CHECK(strstr(c->lin_evidence, "get") != NULL);
        /* provenance saw nothing wrong: each value was written for its key */
        CHECK(!evidence_has(c, "value provenance"));
        printf("#   stale-get: %llu of %llu keys not linearizable; evidence:\n%s",
               (unsigned long long)c->lin_failed,
               (unsigned long long)c->lin_keys, c->lin_evidence);
    }
    cs_report_free(&rep);
    /* the honest map passes the same run */
    cs_report_init(&rep, &cfg);
    CHECK_EQ_INT(cs_run_map(&cfg, &cs_backend_locked, 2, 0, &rep), CS_EXIT_OK);
    if (rep.nchecks == 1) {
        CHECK(rep.checks[0].lin_ran);
        CHECK_EQ_U64(rep.checks[0].lin_failed, 0);
        CHECK(rep.checks[0].lin_keys > 0);
    }
    cs_report_free(&rep);
}

static void test_honest_map_passes(void)
{
    static cs_config cfg;
    cs_report rep;
    CHECK_EQ_INT(run_with(&cs_backend_locked, &rep, &cfg), CS_EXIT_OK);
    CHECK_EQ_U64(rep.nchecks, 1);
    if (rep.nchecks == 1) {
        CHECK(rep.checks[0].passed);
        CHECK_EQ_U64(rep.checks[0].violations, 0);
        CHECK_EQ_U64(rep.checks[0].keys_checked, 4096);
        CHECK_EQ_U64(rep.checks[0].present, rep.checks[0].size_reported);
    }
    cs_report_free(&rep);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/chmstress-chk-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    run_test("honest_map_passes", test_honest_map_passes);
    run_test("lost_remove_caught", test_lost_remove_caught);
    run_test("phantom_value_caught", test_phantom_value_caught);
    run_test("size_lie_caught", test_size_lie_caught);
    run_test("stale_read_caught_by_linearizability",
             test_stale_read_caught_by_linearizability);
    int rc = check_finish();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", tmpdir);
    return rc;
}
