/*
 * check.h - a tiny header-only test framework for libchm's tests.
 *
 * Each tests/test_*.c is one program that includes this header once.
 * Either register with TEST() and end the file with CHECK_MAIN():
 *
 *     TEST(put_then_get) { ... CHECK(chm_get(t, 1, &v)); CHECK_EQ_U64(v, 2); }
 *     CHECK_MAIN()
 *
 * or write main() yourself and call run_test():
 *
 *     int main(void) { run_test("put_then_get", test_put_then_get);
 *                      return check_finish(); }
 *
 * A failed CHECK records file:line and the values and the test goes on; it
 * may be called from any thread (the counts are C11 atomics), but only while
 * a test runs (worker threads must be joined before the test function
 * returns).  REQUIRE() is CHECK() that, on failure, ends the whole program at
 * once (use it where going on would crash).  After each test one line is
 * printed, `ok - NAME` or `not ok - NAME`; at exit (check_finish() or, if
 * main() forgets, an atexit hook) `# BINARY: N passed, N failed`, and the
 * exit status is 1 when any test failed.
 *
 * Also: chm_test_scale() (CHM_TEST_SCALE, default 1.0) and chm_test_scaled(n)
 * to size workloads, check_now() (monotonic seconds), and a splitmix64 PRNG.
 */
#ifndef CHM_TESTS_CHECK_H
#define CHM_TESTS_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__)
#define CHECK_UNUSED_ __attribute__((unused))
#else
#define CHECK_UNUSED_
#endif

/* The sanitizer this test is built with, 0 or 1 each: gcc defines
 * __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang answers __has_feature.
 * (The library under test and chmstress are built the same way.) */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define CHECK_ASAN 1
#endif
#endif
#ifndef CHECK_ASAN
#define CHECK_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define CHECK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHECK_TSAN 1
#endif
#endif
#ifndef CHECK_TSAN
#define CHECK_TSAN 0
#endif

/* ---- state (one test program = one translation unit) -------------------- */

static _Atomic unsigned long check_cur_failures_; /* failures in the running test */
static _Atomic unsigned long check_total_checks_; /* CHECKs evaluated, all tests */
static unsigned check_passed_, check_failed_;
static const char *check_cur_name_;
static bool check_finished_, check_atexit_set_;
static const char *check_progname_ = "test";

#define CHECK_MAX_PRINTED_ 20 /* failure messages printed per test */

static CHECK_UNUSED_ double check_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Record one failure: prints "# FAIL file:line: message" (the first
 * CHECK_MAX_PRINTED_ per test) and counts it.  Thread-safe. */
static CHECK_UNUSED_ __attribute__((format(printf, 3, 4))) void
check_fail_(const char *file, int line, const char *fmt, ...)
{
    unsigned long n = atomic_fetch_add_explicit(&check_cur_failures_, 1,
                                                memory_order_relaxed);
    if (n < CHECK_MAX_PRINTED_) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        /* one fprintf call: stdio locks the stream, lines don't interleave */
        fprintf(stdout, "# FAIL %s:%d: %s [test %s]\n", file, line, msg,
                check_cur_name_ ? check_cur_name_ : "?");
        fflush(stdout);
    } else if (n == CHECK_MAX_PRINTED_) {
        fprintf(stdout, "# ... further failures in this test not shown\n");
        fflush(stdout);
    }
}

static CHECK_UNUSED_ void check_count_(void)
{
    atomic_fetch_add_explicit(&check_total_checks_, 1, memory_order_relaxed);
}

/* ---- the checks ------------------------------------------------------------ */

#define CHECK(cond)                                                          \
    do {                                                                     \
        check_count_();                                                      \
        if (!(cond))                                                         \
            check_fail_(__FILE__, __LINE__, "CHECK(%s)", #cond);             \
    } while (0)

/* CHECK with a printf-style explanation. */
#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        check_count_();                                                      \
        if (!(cond)) {                                                       \
            char check_m_[384];                                              \
            snprintf(check_m_, sizeof check_m_, __VA_ARGS__);                \
            check_fail_(__FILE__, __LINE__, "CHECK(%s): %s", #cond,          \
                        check_m_);                                           \
        }                                                                    \
    } while (0)

#define CHECK_CMP_U64_(a, op, b)                                             \
    do {                                                                     \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);         \
        check_count_();                                                      \
        if (!(check_a_ op check_b_))                                         \
            check_fail_(__FILE__, __LINE__,                                  \
                        "%s %s %s: %" PRIu64 " (0x%" PRIx64 ") vs %" PRIu64  \
                        " (0x%" PRIx64 ")",                                  \
                        #a, #op, #b, check_a_, check_a_, check_b_,           \
                        check_b_);                                           \
    } while (0)

#define CHECK_CMP_I64_(a, op, b)                                             \
    do {                                                                     \
        int64_t check_a_ = (int64_t)(a), check_b_ = (int64_t)(b);           \
        check_count_();                                                      \
        if (!(check_a_ op check_b_))                                         \
            check_fail_(__FILE__, __LINE__, "%s %s %s: %" PRId64 " vs %" PRId64, \
                        #a, #op, #b, check_a_, check_b_);                    \
    } while (0)

#define CHECK_EQ_U64(a, b) CHECK_CMP_U64_(a, ==, b)
#define CHECK_NE_U64(a, b) CHECK_CMP_U64_(a, !=, b)
#define CHECK_LT_U64(a, b) CHECK_CMP_U64_(a, <, b)
#define CHECK_LE_U64(a, b) CHECK_CMP_U64_(a, <=, b)
#define CHECK_GT_U64(a, b) CHECK_CMP_U64_(a, >, b)
#define CHECK_GE_U64(a, b) CHECK_CMP_U64_(a, >=, b)
/* signed: return codes (CHM_ENOMEM is negative), counts that may go wrong */
#define CHECK_EQ_INT(a, b) CHECK_CMP_I64_(a, ==, b)
#define CHECK_NE_INT(a, b) CHECK_CMP_I64_(a, !=, b)
#define CHECK_LT_INT(a, b) CHECK_CMP_I64_(a, <, b)
#define CHECK_LE_INT(a, b) CHECK_CMP_I64_(a, <=, b)
#define CHECK_GT_INT(a, b) CHECK_CMP_I64_(a, >, b)
#define CHECK_GE_INT(a, b) CHECK_CMP_I64_(a, >=, b)

#define CHECK_EQ_PTR(a, b)                                                   \
    do {                                                                     \
        const void *check_a_ = (const void *)(a), *check_b_ = (const void *)(b); \
        check_count_();                                                      \
        if (check_a_ != check_b_)                                            \
            check_fail_(__FILE__, __LINE__, "%s == %s: %p vs %p", #a, #b,    \
                        check_a_, check_b_);                                 \
    } while (0)

#define CHECK_NOT_NULL(p)                                                    \
    do {                                                                     \
        check_count_();                                                      \
        if ((p) == NULL)                                                     \
            check_fail_(__FILE__, __LINE__, "%s is NULL", #p);               \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                   \
    do {                                                                     \
        const char *check_a_ = (a), *check_b_ = (b);                         \
        check_count_();                                                      \
        if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) \
            check_fail_(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"",    \
                        #a, #b, check_a_ ? check_a_ : "(null)",              \
                        check_b_ ? check_b_ : "(null)");                     \
    } while (0)

/* Fail the whole program now: the current test is reported `not ok`, the
 * summary is printed and the program exits 1 (without running leak checks,
 * which would only add noise after a bail-out). */
static CHECK_UNUSED_ void check_summary_print_(void);
static CHECK_UNUSED_ void check_bail_(const char *file, int line, const char *what)
{
    check_fail_(file, line, "REQUIRE(%s) failed: stopping", what);
    if (check_cur_name_ != NULL) {
        printf("not ok - %s\n", check_cur_name_);
        check_failed_++;
        check_cur_name_ = NULL;
    }
    check_summary_print_();
    fflush(stdout);
    _Exit(1);
}
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        check_count_();                                                      \
        if (!(cond))                                                         \
            check_bail_(__FILE__, __LINE__, #cond);                          \
    } while (0)

/* ---- running tests ----------------------------------------------------------- */

static CHECK_UNUSED_ void check_summary_print_(void)
{
    if (check_finished_)
        return;
    check_finished_ = true;
    printf("# %s: %u passed, %u failed\n", check_progname_, check_passed_,
           check_failed_);
    fflush(stdout);
}

static CHECK_UNUSED_ void check_atexit_(void)
{
    if (check_finished_)
        return;
    check_summary_print_();
    if (check_failed_ > 0)
        _Exit(1); /* main() returned 0 but a test failed */
}

static CHECK_UNUSED_ void check_init_(void)
{
    if (check_atexit_set_)
        return;
    check_atexit_set_ = true;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    check_progname_ = program_invocation_short_name; /* <errno.h> */
#endif
    atexit(check_atexit_);
}

/* Run one test function and print `ok - name` or `not ok - name`. */
static CHECK_UNUSED_ void run_test(const char *name, void (*fn)(void))
{
    check_init_();
    check_cur_name_ = name;
    atomic_store_explicit(&check_cur_failures_, 0, memory_order_relaxed);
    double t0 = check_now();
    fn();
    double dt = check_now() - t0;
    unsigned long nfail = atomic_load_explicit(&check_cur_failures_,
                                               memory_order_relaxed);
    if (nfail == 0) {
        check_passed_++;
        printf("ok - %s\n", name);
    } else {
        check_failed_++;
        printf("not ok - %s\n# %s: %lu failed check%s\n", name, name, nfail,
               nfail == 1 ? "" : "s");
    }
    printf("#   %s took %.3f s\n", name, dt);
    fflush(stdout);
    check_cur_name_ = NULL;
}

/* Print the summary; returns the exit status for main (0 or 1). */
static CHECK_UNUSED_ int check_finish(void)
{
    check_init_();
    check_summary_print_();
    return check_failed_ > 0 ? 1 : 0;
}

/* Registration: TEST(name) { body } ... CHECK_MAIN() at the end of the file.
 * Tests run in the order they appear in the file. */
#define CHECK_MAX_TESTS_ 256
struct check_test_ {
    const char *name;
    void (*fn)(void);
    int line;
};
static struct check_test_ check_registry_[CHECK_MAX_TESTS_];
static unsigned check_nregistered_;

static CHECK_UNUSED_ void check_register_(const char *name, void (*fn)(void),
                                          int line)
{
    if (check_nregistered_ == CHECK_MAX_TESTS_) {
        fprintf(stderr, "check.h: more than %d tests\n", CHECK_MAX_TESTS_);
        abort();
    }
    check_registry_[check_nregistered_].name = name;
    check_registry_[check_nregistered_].fn = fn;
    check_registry_[check_nregistered_].line = line;
    check_nregistered_++;
}

#define TEST(name)                                                           \
    static void test_##name(void);                                           \
    __attribute__((constructor)) static void check_reg_##name(void)          \
    {                                                                        \
        check_register_(#name, test_##name, __LINE__);                                 \
    }                                                                        \
    static void test_##name(void)

/* Runs the registered tests; with arguments, only the tests named. */
static CHECK_UNUSED_ int check_run_registered(int argc, char **argv)
{
    /* constructors may run in any order: sort by line (insertion sort) */
    for (unsigned i = 1; i < check_nregistered_; i++)
        for (unsigned j = i; j > 0 && check_registry_[j - 1].line >
                                      check_registry_[j].line; j--) {
            struct check_test_ tmp = check_registry_[j];
            check_registry_[j] = check_registry_[j - 1];
            check_registry_[j - 1] = tmp;
        }
    for (unsigned i = 0; i < check_nregistered_; i++) {
        bool wanted = argc <= 1;
        for (int a = 1; a < argc && !wanted; a++)
            wanted = strcmp(argv[a], check_registry_[i].name) == 0;
        if (wanted)
            run_test(check_registry_[i].name, check_registry_[i].fn);
    }
    return check_finish();
}

#define CHECK_MAIN()                                                         \
    int main(int argc, char **argv) { return check_run_registered(argc, argv); }

/* ---- sizes ------------------------------------------------------------------ */

/* CHM_TEST_SCALE from the environment (default 1.0; tests/run.sh sets 1 for
 * the normal build and less for the sanitizer builds). */
static CHECK_UNUSED_ double chm_test_scale(void)
{
    /* 0: not read yet.  Atomic (relaxed) because worker threads may call
     * this first; every thread computes the same value. */
    static _Atomic double scale_cache;
    double scale = atomic_load_explicit(&scale_cache, memory_order_relaxed);
    if (scale == 0.0) {
        double s = 1.0;
        const char *e = getenv("CHM_TEST_SCALE");
        if (e != NULL && *e != '\0') {
            char *end;
            double v = strtod(e, &end);
            if (end != e && v > 0.0)
                s = v;
        }
        if (s < 0.001)
            s = 0.001;
        if (s > 1000.0)
            s = 1000.0;
        scale = s;
        atomic_store_explicit(&scale_cache, scale, memory_order_relaxed);
    }
    return scale;
}

/* n scaled by chm_test_scale(), at least 1. */
static CHECK_UNUSED_ size_t chm_test_scaled(size_t n)
{
    double v = (double)n * chm_test_scale();
    return v < 1.0 ? 1 : (size_t)v;
}

/* ---- a fast deterministic PRNG (splitmix64) ------------------------------------ */

typedef struct check_rng {
    uint64_t s;
} check_rng_t;

/* splitmix64's finalizer: a bijection on 64-bit words (0 maps to 0). */
static CHECK_UNUSED_ uint64_t check_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static CHECK_UNUSED_ void check_rng_seed(check_rng_t *r, uint64_t seed)
{
    r->s = seed;
}

static CHECK_UNUSED_ uint64_t check_rng_next(check_rng_t *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return check_mix64(r->s);
}

/* Uniform in [0, n) (n > 0), by multiply-high (Lemire; the tiny bias is
 * irrelevant for tests). */
static CHECK_UNUSED_ uint64_t check_rng_below(check_rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)check_rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1). */
static CHECK_UNUSED_ double check_rng_double(check_rng_t *r)
{
    return (double)(check_rng_next(r) >> 11) * 0x1.0p-53;
}

#endif /* CHM_TESTS_CHECK_H */
