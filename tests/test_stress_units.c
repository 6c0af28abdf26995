/*
 * test_stress_units.c - chmstress's building blocks, single-threaded:
 *
 *   key generators (cs_keygen.c): every draw in range; zipfian frequencies
 *     against zeta(n, theta) computed here, the scramble spreading the popular
 *     keys and reaching every index, the zeta cache and its Euler-Maclaurin
 *     form for huge ranges; uniform by a chi-square bound; hotspot's hot share;
 *     sequential's per-thread start and wrap; latest following the atomic
 *     insert count; bad key spaces refused.
 *   histogram (cs_hist.c): bucket bounds, quantiles within 1/16 of the exact
 *     order statistic of a sorted array, edge cases, merge.
 *   values (cs_value.c): encode/decode round trips, key_ok rejecting values
 *     of other keys, never 0.
 *
 * Sizes scale with CHM_TEST_SCALE (tests/run.sh); statistical bounds are
 * several standard deviations wide and the seeds are fixed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cs.h"

/* ---- helpers ----------------------------------------------------------- */

static size_t scaled_min(size_t n, size_t min)
{
    size_t s = chm_test_scaled(n);
    return s < min ? min : s;
}

/* sum_{i=1..n} i^-theta, the plain way. */
static double zeta_exact(uint64_t n, double theta)
{
    double s = 0.0;
    for (uint64_t i = 1; i <= n; i++)
        s += pow((double)i, -theta);
    return s;
}

/* zeta(n, theta) for large n: an exact head of 1000 terms plus the
 * Euler-Maclaurin tail (a different split than cs_keygen.c's). */
static double zeta_em(uint64_t n, double theta)
{
    const double m = 1000.0;
    double dn = (double)n, s = 1.0 - theta;
    double fm = pow(m, -theta), fn = pow(dn, -theta);
    double integral = (pow(dn, s) - pow(m, s)) / s;
    double d1 = -theta * fn / dn - -theta * fm / m;
    return zeta_exact(1000, theta) + integral + (fn - fm) / 2.0 + d1 / 12.0;
}

static cs_keyspace keyspace(uint64_t range, cs_dist dist)
{
    cs_keyspace ks;
    memset(&ks, 0, sizeof ks);
    ks.range = range;
    ks.dist = dist;
    ks.theta = 0.99;
    ks.hot_fraction = 0.2;
    ks.hot_op_fraction = 0.8;
    return ks;
}

/* Draw `draws` indices into counts[range]; returns the number out of range. */
static uint64_t draw_counts(const cs_keygen *g, cs_keycursor *c, uint64_t *counts,
                            uint64_t range, size_t draws)
{
    uint64_t bad = 0;
    memset(counts, 0, range * sizeof *counts);
    for (size_t i = 0; i < draws; i++) {
        uint64_t k = cs_keygen_next(g, c);
        if (k < range)
            counts[k]++;
        else
            bad++;
    }
    return bad;
}

static uint64_t argmax(const uint64_t *counts, uint64_t n)
{
    uint64_t best = 0;
    for (uint64_t i = 1; i < n; i++)
        if (counts[i] > counts[best])
            best = i;
    return best;
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* |observed share - p| within 6 standard deviations of a binomial share. */
static bool share_close(uint64_t hits, size_t draws, double p)
{
    double obs = (double)hits / (double)draws;
    double sd = sqrt(p * (1.0 - p) / (double)draws);
    return fabs(obs - p) <= 6.0 * sd + 1e-9;
}

/* ---- zipfian ------------------------------------------------------------ */

TEST(zipfian_frequencies)
{
    const uint64_t n = 1000;
    const double theta = 0.99;
    size_t draws = scaled_min(1000000, 50000);
    cs_keyspace ks = keyspace(n, CS_DIST_ZIPFIAN);
    cs_keygen g;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    double zn = zeta_exact(n, theta);
    CHECK_MSG(fabs(g.zetan - zn) <= 1e-9 * zn, "zetan %.12f vs %.12f", g.zetan, zn);
    CHECK_MSG(fabs(g.zeta2theta - (1.0 + pow(0.5, theta))) < 1e-12, "%f",
              g.zeta2theta);
    CHECK_MSG(fabs(g.alpha - 100.0) < 1e-9, "alpha %f", g.alpha);

    cs_keycursor c;
    cs_keycursor_init(&g, &c, 42, 0, 1);
    uint64_t *counts = calloc(n, sizeof *counts);
    REQUIRE(counts != NULL);
    CHECK_EQ_U64(draw_counts(&g, &c, counts, n, draws), 0);

    /* the most popular index is rank 0, with exactly 1/zeta(n) of draws;
     * the second rank 1 with 0.5^theta/zeta(n) (Gray's exact fast paths) */
    uint64_t *sorted = malloc(n * sizeof *sorted);
    REQUIRE(sorted != NULL);
    memcpy(sorted, counts, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u64_desc);
    double p0 = 1.0 / zn, p1 = pow(0.5, theta) / zn;
    CHECK_MSG(share_close(sorted[0], draws, p0), "rank 0: %.5f, expected %.5f",
              (double)sorted[0] / (double)draws, p0);
    CHECK_MSG(share_close(sorted[1], draws, p1), "rank 1: %.5f, expected %.5f",
              (double)sorted[1] / (double)draws, p1);
    /* the top 10 and top 100 together: Gray's continuous approximation
     * overweights ranks 2..9 (rank 2 by ~17%, as in YCSB); the top 10 come
     * out ~4% heavy, the top 100 ~1.5% */
    for (uint64_t top = 10; top <= 100; top *= 10) {
        uint64_t hits = 0;
        double p = 0.0;
        for (uint64_t i = 0; i < top; i++) {
            hits += sorted[i];
            p += pow((double)(i + 1), -theta) / zn;
        }
        double obs = (double)hits / (double)draws;
        CHECK_MSG(fabs(obs - p) <= 0.08 * p, "top %" PRIu64 ": %.4f, expected %.4f",
                  top, obs, p);
    }

    /* the scramble: the 10 most popular indices are spread over the range,
     * not the first 10 */
    uint64_t top_idx[10], lo = UINT64_MAX, hi = 0, below10 = 0;
    uint64_t *tmp = malloc(n * sizeof *tmp);
    REQUIRE(tmp != NULL);
    memcpy(tmp, counts, n * sizeof *tmp);
    for (int t = 0; t < 10; t++) {
        top_idx[t] = argmax(tmp, n);
        tmp[top_idx[t]] = 0;
        lo = top_idx[t] < lo ? top_idx[t] : lo;
        hi = top_idx[t] > hi ? top_idx[t] : hi;
        below10 += top_idx[t] < 10;
    }
    CHECK_MSG(hi - lo > n / 4, "top 10 indices within [%" PRIu64 ", %" PRIu64 "]",
              lo, hi);
    CHECK_LT_U64(below10, 3);
    /* a bijection: every index is drawn (when the rarest expects >= 20) */
    double pmin = pow((double)n, -theta) / zn;
    if (pmin * (double)draws >= 20.0) {
        uint64_t zero = 0;
        for (uint64_t i = 0; i < n; i++)
            zero += counts[i] == 0;
        CHECK_EQ_U64(zero, 0);
    }
    free(tmp);
    free(sorted);
    free(counts);
    cs_keygen_destroy(&g);
}

TEST(zipfian_small_ranges_and_other_theta)
{
    /* range 1 and 2 use only the exact fast paths */
    for (uint64_t n = 1; n <= 5; n++) {
        cs_keyspace ks = keyspace(n, CS_DIST_ZIPFIAN);
        ks.theta = n == 3 ? 0.5 : 0.99;
        cs_keygen g;
        REQUIRE(cs_keygen_init(&g, &ks) == 0);
        cs_keycursor c;
        cs_keycursor_init(&g, &c, n, 0, 1);
        uint64_t counts[5];
        size_t draws = scaled_min(100000, 10000);
        CHECK_EQ_U64(draw_counts(&g, &c, counts, n, draws), 0);
        if (n == 2) {
            double zn = 1.0 + pow(0.5, 0.99);
            uint64_t top = counts[0] > counts[1] ? counts[0] : counts[1];
            CHECK_MSG(share_close(top, draws, 1.0 / zn), "n=2: %" PRIu64, top);
        }
        for (uint64_t i = 0; i < n; i++)
            CHECK_MSG(counts[i] > 0, "n=%" PRIu64 ": index %" PRIu64 " never drawn",
                      n, i);
    }
    /* low skew: rank 0's share is still 1/zeta(n, theta) */
    cs_keyspace ks = keyspace(5000, CS_DIST_ZIPFIAN);
    ks.theta = 0.3;
    cs_keygen g;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    cs_keycursor c;
    cs_keycursor_init(&g, &c, 7, 1, 4);
    uint64_t *counts = calloc(5000, sizeof *counts);
    REQUIRE(counts != NULL);
    size_t draws = scaled_min(500000, 50000);
    CHECK_EQ_U64(draw_counts(&g, &c, counts, 5000, draws), 0);
    double zn = zeta_exact(5000, 0.3);
    CHECK_MSG(share_close(counts[argmax(counts, 5000)], draws, 1.0 / zn),
              "theta 0.3: top %" PRIu64, counts[argmax(counts, 5000)]);
    free(counts);
}

TEST(zipfian_zeta_cache_and_huge_ranges)
{
    /* an exact zeta (n <= 2^22), a fresh theta: computed once, then cached */
    uint64_t n = scaled_min(UINT64_C(1) << 20, UINT64_C(1) << 16);
    cs_keyspace ks = keyspace(n, CS_DIST_ZIPFIAN);
    ks.theta = 0.777;
    cs_keygen g1, g2;
    double t0 = check_now();
    REQUIRE(cs_keygen_init(&g1, &ks) == 0);
    double first = check_now() - t0, again = 1e9;
    for (int i = 0; i < 3; i++) {
        t0 = check_now();
        REQUIRE(cs_keygen_init(&g2, &ks) == 0);
        double dt = check_now() - t0;
        again = dt < again ? dt : again;
    }
    CHECK_MSG(again * 4.0 < first, "first %.6f s, cached %.6f s", first, again);
    CHECK(g1.zetan == g2.zetan);
    double want = zeta_em(n, 0.777);
    CHECK_MSG(fabs(g1.zetan - want) <= 1e-9 * want, "%.12f vs %.12f", g1.zetan, want);

    /* beyond the exact limit: the Euler-Maclaurin form */
    const uint64_t big[] = {(UINT64_C(1) << 22) + 5, UINT64_C(1) << 30,
                            UINT64_C(1) << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        cs_keyspace kb = keyspace(big[i], CS_DIST_ZIPFIAN);
        cs_keygen g;
        t0 = check_now();
        REQUIRE(cs_keygen_init(&g, &kb) == 0);
        double dt = check_now() - t0;
        want = zeta_em(big[i], 0.99);
        CHECK_MSG(fabs(g.zetan - want) <= 1e-9 * want, "n=%" PRIu64 ": %.12f vs %.12f",
                  big[i], g.zetan, want);
        CHECK_MSG(dt < 5.0, "n=%" PRIu64 ": init took %.3f s", big[i], dt);
        cs_keycursor c;
        cs_keycursor_init(&g, &c, i, 0, 1);
        for (int d = 0; d < 10000; d++)
            CHECK_LT_U64(cs_keygen_next(&g, &c), big[i]);
    }
}

/* ---- uniform, hotspot, sequential ----------------------------------------- */

TEST(uniform_chi_square)
{
    const uint64_t n = 64;
    size_t draws = scaled_min(640000, 64000);
    cs_keyspace ks = keyspace(n, CS_DIST_UNIFORM);
    cs_keygen g;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    cs_keycursor c;
    cs_keycursor_init(&g, &c, 1, 0, 1);
    uint64_t counts[64];
    CHECK_EQ_U64(draw_counts(&g, &c, counts, n, draws), 0);
    double e = (double)draws / (double)n, chi2 = 0.0;
    for (uint64_t i = 0; i < n; i++)
        chi2 += ((double)counts[i] - e) * ((double)counts[i] - e) / e;
    double dof = (double)(n - 1);
    CHECK_MSG(chi2 < dof + 6.0 * sqrt(2.0 * dof), "chi2 %.1f, %g dof", chi2, dof);

    /* two threads' cursors give different streams */
    cs_keycursor a, b;
    cs_keycursor_init(&g, &a, 1, 0, 2);
    cs_keycursor_init(&g, &b, 1, 1, 2);
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += cs_keygen_next(&g, &a) == cs_keygen_next(&g, &b);
    CHECK_LT_INT(same, 10);

    /* range 1 and a huge range */
    ks.range = 1;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_U64(cs_keygen_next(&g, &c), 0);
    ks.range = (UINT64_C(1) << 63) + 12345;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    uint64_t high = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t k = cs_keygen_next(&g, &c);
        CHECK_LT_U64(k, ks.range);
        high += k >= (UINT64_C(1) << 62); /* about half */
    }
    CHECK_GT_U64(high, 400);
    CHECK_LT_U64(high, 600);
}

TEST(hotspot_share)
{
    const uint64_t n = 1000;
    size_t draws = scaled_min(200000, 100000);
    cs_keyspace ks = keyspace(n, CS_DIST_HOTSPOT);
    cs_keygen g;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    cs_keycursor c;
    cs_keycursor_init(&g, &c, 3, 0, 1);
    uint64_t *counts = calloc(n, sizeof *counts);
    REQUIRE(counts != NULL);
    CHECK_EQ_U64(draw_counts(&g, &c, counts, n, draws), 0);
    uint64_t hot = 0, hot_min = UINT64_MAX, cold_min = UINT64_MAX;
    for (uint64_t i = 0; i < n; i++) {
        if (i < 200) {
            hot += counts[i];
            hot_min = counts[i] < hot_min ? counts[i] : hot_min;
        } else {
            cold_min = counts[i] < cold_min ? counts[i] : cold_min;
        }
    }
    CHECK_MSG(share_close(hot, draws, 0.8), "hot share %.4f",
              (double)hot / (double)draws);
    CHECK_GT_U64(hot_min, 0);
    CHECK_GT_U64(cold_min, 0);

    /* all ops hot; no hot keys; all keys hot; a tiny hot set rounds up to 1 */
    ks.hot_op_fraction = 1.0;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    for (int i = 0; i < 1000; i++)
        CHECK_LT_U64(cs_keygen_next(&g, &c), 200);
    ks.hot_fraction = 0.0;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    CHECK_EQ_U64(draw_counts(&g, &c, counts, n, 20000), 0);
    CHECK_GT_U64(counts[999] + counts[998] + counts[997], 0);
    ks.hot_fraction = 1.0;
    ks.hot_op_fraction = 0.0;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    CHECK_EQ_U64(draw_counts(&g, &c, counts, n, 20000), 0);
    ks.hot_fraction = 0.0001;
    ks.hot_op_fraction = 0.5;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    CHECK_EQ_U64(draw_counts(&g, &c, counts, n, 20000), 0);
    CHECK_MSG(share_close(counts[0], 20000, 0.5), "index 0: %" PRIu64, counts[0]);
    free(counts);
}

TEST(sequential_partitions_and_wraps)
{
    cs_keyspace ks = keyspace(10, CS_DIST_SEQUENTIAL);
    cs_keygen g;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    const uint64_t starts[3] = {0, 3, 6};
    for (unsigned t = 0; t < 3; t++) {
        cs_keycursor c;
        cs_keycursor_init(&g, &c, 99, t, 3);
        for (uint64_t i = 0; i < 25; i++)
            CHECK_EQ_U64(cs_keygen_next(&g, &c), (starts[t] + i) % 10);
    }
    /* a large range split 7 ways, and more threads than keys */
    ks.range = (UINT64_C(1) << 62) + 3;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    for (unsigned t = 0; t < 7; t++) {
        cs_keycursor c;
        cs_keycursor_init(&g, &c, 0, t, 7);
        uint64_t want = (uint64_t)(((unsigned __int128)ks.range * t) / 7);
        CHECK_EQ_U64(cs_keygen_next(&g, &c), want);
        CHECK_EQ_U64(cs_keygen_next(&g, &c), want + 1);
    }
    ks.range = 3;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    for (unsigned t = 0; t < 8; t++) {
        cs_keycursor c;
        cs_keycursor_init(&g, &c, 0, t, 8);
        CHECK_EQ_U64(cs_keygen_next(&g, &c), t * 3 / 8);
    }
    /* the last index wraps to 0 */
    cs_keycursor c;
    cs_keycursor_init(&g, &c, 0, 2, 3);
    CHECK_EQ_U64(cs_keygen_next(&g, &c), 2);
    CHECK_EQ_U64(cs_keygen_next(&g, &c), 0);
}

/* ---- latest ----------------------------------------------------------------- */

TEST(latest_follows_the_insert_count)
{
    const uint64_t n = 1000;
    size_t draws = scaled_min(200000, 20000);
    cs_keyspace ks = keyspace(n, CS_DIST_LATEST);
    cs_keygen g;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    _Atomic uint64_t latest = 100;
    g.latest = &latest;
    cs_keycursor c;
    cs_keycursor_init(&g, &c, 5, 0, 1);
    uint64_t *counts = calloc(n, sizeof *counts);
    REQUIRE(counts != NULL);

    /* 100 inserted: draws in [0, 100), the newest the most popular, with
     * rank 0's share of a zipfian over 100 */
    CHECK_EQ_U64(draw_counts(&g, &c, counts, 100, draws), 0);
    CHECK_EQ_U64(argmax(counts, 100), 99);
    CHECK_GT_U64(counts[99], counts[98]);
    CHECK_GT_U64(counts[98], counts[90]);
    double z100 = zeta_exact(100, 0.99);
    CHECK_MSG(share_close(counts[99], draws, 1.0 / z100), "newest %.4f, expected %.4f",
              (double)counts[99] / (double)draws, 1.0 / z100);
    CHECK_MSG(share_close(counts[98], draws, pow(0.5, 0.99) / z100), "second %.4f",
              (double)counts[98] / (double)draws);

    /* the count grows: the hot spot moves */
    atomic_store(&latest, 500);
    CHECK_EQ_U64(draw_counts(&g, &c, counts, 500, draws), 0);
    CHECK_EQ_U64(argmax(counts, 500), 499);

    /* 0, beyond the range, or no counter: the whole range */
    const uint64_t odd[] = {0, 5000};
    for (int i = 0; i < 2; i++) {
        atomic_store(&latest, odd[i]);
        CHECK_EQ_U64(draw_counts(&g, &c, counts, n, draws), 0);
        CHECK_EQ_U64(argmax(counts, n), 999);
    }
    g.latest = NULL;
    CHECK_EQ_U64(draw_counts(&g, &c, counts, n, draws), 0);
    CHECK_EQ_U64(argmax(counts, n), 999);

    /* one key, and a few keys under low skew (rejection falls back) */
    g.latest = &latest;
    atomic_store(&latest, 1);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_U64(cs_keygen_next(&g, &c), 0);
    ks = keyspace(100000, CS_DIST_LATEST);
    ks.theta = 0.1;
    REQUIRE(cs_keygen_init(&g, &ks) == 0);
    g.latest = &latest;
    atomic_store(&latest, 3);
    CHECK_EQ_U64(draw_counts(&g, &c, counts, 3, 10000), 0);
    CHECK(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
    free(counts);
}

TEST(bad_keyspaces_refused)
{
    cs_keygen g;
    cs_keyspace ks = keyspace(0, CS_DIST_UNIFORM);
    CHECK_NE_INT(cs_keygen_init(&g, &ks), 0);
    ks = keyspace(10, CS_DIST_ZIPFIAN);
    ks.theta = 1.0;
    CHECK_NE_INT(cs_keygen_init(&g, &ks), 0);
    ks.theta = 0.0;
    CHECK_NE_INT(cs_keygen_init(&g, &ks), 0);
    ks = keyspace(10, CS_DIST_LATEST);
    ks.theta = NAN;
    CHECK_NE_INT(cs_keygen_init(&g, &ks), 0);
    ks = keyspace(10, CS_DIST_HOTSPOT);
    ks.hot_fraction = 1.5;
    CHECK_NE_INT(cs_keygen_init(&g, &ks), 0);
    ks = keyspace(10, CS_DIST_HOTSPOT);
    ks.hot_op_fraction = -0.1;
    CHECK_NE_INT(cs_keygen_init(&g, &ks), 0);
    ks = keyspace(10, CS_DIST_COUNT);
    CHECK_NE_INT(cs_keygen_init(&g, &ks), 0);
    /* theta is ignored where it is not used */
    ks = keyspace(10, CS_DIST_UNIFORM);
    ks.theta = 0.0;
    CHECK_EQ_INT(cs_keygen_init(&g, &ks), 0);
}

/* ---- histogram ----------------------------------------------------------------- */

/* The upper bound of v's bucket, seen through a quantile: a histogram of
 * {v, UINT64_MAX} at q = 0.5 is the bucket bound of v (max is larger). */
static uint64_t bucket_upper(uint64_t v)
{
    cs_hist h;
    cs_hist_init(&h);
    cs_hist_add(&h, v);
    cs_hist_add(&h, UINT64_MAX);
    return cs_hist_quantile(&h, 0.5);
}

TEST(hist_buckets)
{
    /* exact below 16 */
    for (uint64_t v = 0; v < 16; v++)
        CHECK_EQ_U64(bucket_upper(v), v);
    /* above: 16 linear sub-buckets per power of two, up to 2^44 */
    for (unsigned e = 4; e < 44; e++) {
        uint64_t width = UINT64_C(1) << (e - 4);
        for (uint64_t sub = 0; sub < 16; sub++) {
            uint64_t lo = (UINT64_C(1) << e) + sub * width, hi = lo + width - 1;
            if (e == 43 && sub == 15)
                hi = UINT64_MAX; /* the last bucket also takes all beyond */
            CHECK_EQ_U64(bucket_upper(lo), hi);
            CHECK_EQ_U64(bucket_upper(hi), hi);
            CHECK_EQ_U64(bucket_upper(lo + width / 2), hi);
            CHECK_LE_U64((width - 1) * 16, lo); /* relative error <= 1/16 */
        }
    }
    /* beyond the last group: the last bucket, reported as max */
    CHECK_EQ_U64(bucket_upper(UINT64_C(1) << 44), UINT64_MAX);
    cs_hist h;
    cs_hist_init(&h);
    cs_hist_add(&h, UINT64_C(1) << 50);
    cs_hist_add(&h, (UINT64_C(1) << 50) + 7);
    CHECK_EQ_U64(cs_hist_quantile(&h, 0.5), (UINT64_C(1) << 50) + 7);
}

TEST(hist_empty_and_small)
{
    cs_hist h;
    cs_hist_init(&h);
    CHECK_EQ_U64(h.count, 0);
    CHECK_EQ_U64(cs_hist_quantile(&h, 0.0), 0);
    CHECK_EQ_U64(cs_hist_quantile(&h, 0.5), 0);
    CHECK_EQ_U64(cs_hist_quantile(&h, 1.0), 0);

    /* 0..15 once each: every quantile exact */
    for (uint64_t v = 0; v < 16; v++)
        cs_hist_add(&h, 15 - v);
    CHECK_EQ_U64(h.count, 16);
    CHECK_EQ_U64(h.sum_ns, 120);
    CHECK_EQ_U64(h.min_ns, 0);
    CHECK_EQ_U64(h.max_ns, 15);
    for (unsigned k = 1; k <= 16; k++)
        CHECK_EQ_U64(cs_hist_quantile(&h, k / 16.0), k - 1);
    CHECK_EQ_U64(cs_hist_quantile(&h, 0.0), 0);
    CHECK_EQ_U64(cs_hist_quantile(&h, -1.0), 0);
    CHECK_EQ_U64(cs_hist_quantile(&h, 2.0), 15);

    /* one value: every quantile is that value (clamped to max) */
    cs_hist_init(&h);
    cs_hist_add(&h, 1000);
    CHECK_EQ_U64(h.min_ns, 1000);
    CHECK_EQ_U64(cs_hist_quantile(&h, 0.001), 1000);
    CHECK_EQ_U64(cs_hist_quantile(&h, 0.5), 1000);
    CHECK_EQ_U64(cs_hist_quantile(&h, 1.0), 1000);
}

/* n values spread over 2^0 .. 2^42 (log-uniform), a few exact small ones */
static uint64_t *random_latencies(size_t n, uint64_t seed)
{
    uint64_t *v = malloc(n * sizeof *v);
    if (v == NULL)
        return NULL;
    check_rng_t r;
    check_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        unsigned e = (unsigned)check_rng_below(&r, 43);
        v[i] = (UINT64_C(1) << e) + check_rng_below(&r, UINT64_C(1) << e);
        if (i % 10 == 0)
            v[i] = check_rng_below(&r, 20);
    }
    return v;
}

TEST(hist_quantiles_within_one_sixteenth)
{
    size_t n = scaled_min(200000, 10000);
    uint64_t *v = random_latencies(n, 11);
    REQUIRE(v != NULL);
    cs_hist h;
    cs_hist_init(&h);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        cs_hist_add(&h, v[i]);
        sum += v[i];
    }
    qsort(v, n, sizeof *v, cmp_u64);
    CHECK_EQ_U64(h.count, n);
    CHECK_EQ_U64(h.sum_ns, sum);
    CHECK_EQ_U64(h.min_ns, v[0]);
    CHECK_EQ_U64(h.max_ns, v[n - 1]);
    const double qs[] = {0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9,
                         0.95, 0.99, 0.999, 0.9999, 0.99999};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double rk = ceil(qs[i] * (double)n);
        size_t rank = rk < 1.0 ? 1 : (size_t)rk;
        uint64_t exact = v[rank - 1], got = cs_hist_quantile(&h, qs[i]);
        CHECK_MSG(got >= exact && (got - exact) * 16 <= exact,
                  "q=%g: %" PRIu64 " vs exact %" PRIu64, qs[i], got, exact);
    }
    CHECK_EQ_U64(cs_hist_quantile(&h, 1.0), v[n - 1]);
    /* quantiles never decrease with q */
    uint64_t prev = 0;
    for (int k = 0; k <= 1000; k++) {
        uint64_t q = cs_hist_quantile(&h, k / 1000.0);
        CHECK_GE_U64(q, prev);
        prev = q;
    }
    free(v);
}

TEST(hist_merge)
{
    size_t n = scaled_min(100000, 10000);
    uint64_t *v = random_latencies(n, 12);
    REQUIRE(v != NULL);
    cs_hist all, parts[3], merged, empty;
    cs_hist_init(&all);
    cs_hist_init(&merged);
    cs_hist_init(&empty);
    for (int p = 0; p < 3; p++)
        cs_hist_init(&parts[p]);
    for (size_t i = 0; i < n; i++) {
        cs_hist_add(&all, v[i]);
        cs_hist_add(&parts[i % 3], v[i]);
    }
    cs_hist_merge(&merged, &empty); /* empty into empty */
    CHECK_EQ_U64(merged.count, 0);
    for (int p = 0; p < 3; p++)
        cs_hist_merge(&merged, &parts[p]);
    cs_hist_merge(&merged, &empty); /* empty changes nothing */
    CHECK_EQ_U64(merged.count, all.count);
    CHECK_EQ_U64(merged.sum_ns, all.sum_ns);
    CHECK_EQ_U64(merged.min_ns, all.min_ns);
    CHECK_EQ_U64(merged.max_ns, all.max_ns);
    CHECK(memcmp(merged.b, all.b, sizeof all.b) == 0);
    const double qs[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        CHECK_EQ_U64(cs_hist_quantile(&merged, qs[i]), cs_hist_quantile(&all, qs[i]));

    /* the minimum of a merge into an empty histogram is the source's */
    cs_hist a, b;
    cs_hist_init(&a);
    cs_hist_init(&b);
    cs_hist_add(&b, 500);
    cs_hist_merge(&a, &b);
    CHECK_EQ_U64(a.min_ns, 500);
    CHECK_EQ_U64(a.max_ns, 500);
    cs_hist_add(&b, 7);
    cs_hist_merge(&a, &b);
    CHECK_EQ_U64(a.min_ns, 7);
    CHECK_EQ_U64(a.count, 3);
    free(v);
}

/* ---- values ----------------------------------------------------------------------- */

TEST(value_round_trips)
{
    check_rng_t r;
    check_rng_seed(&r, 77);
    size_t n = scaled_min(200000, 20000);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = check_rng_next(&r);
        if (i % 4 == 0)
            k = i; /* small indices too */
        unsigned w = (unsigned)check_rng_below(&r, 256);
        uint64_t seq = 1 + check_rng_below(&r, (UINT64_C(1) << 36) - 1);
        if (i % 7 == 0)
            seq = 1 + i % 3;
        uint64_t v = cs_value_make(k, w, seq);
        CHECK_NE_U64(v, 0);
        CHECK_EQ_U64(cs_value_writer(v), w);
        CHECK_EQ_U64(cs_value_seq(v), seq);
        CHECK(cs_value_key_ok(v, k));
    }
    uint64_t v = cs_value_make(0, CS_PREFILL_WRITER, 1);
    CHECK_EQ_U64(cs_value_writer(v), CS_PREFILL_WRITER);
    CHECK_EQ_U64(cs_value_seq(v), 1);
    CHECK(cs_value_key_ok(v, 0));
    v = cs_value_make(UINT64_MAX, 0, (UINT64_C(1) << 36) - 1);
    CHECK_EQ_U64(cs_value_seq(v), (UINT64_C(1) << 36) - 1);
    CHECK(cs_value_key_ok(v, UINT64_MAX));
    /* a sequence past 36 bits wraps, skipping 0 */
    v = cs_value_make(5, 0, UINT64_C(1) << 36);
    CHECK_NE_U64(v, 0);
    CHECK_EQ_U64(cs_value_seq(v), 1);
    CHECK(cs_value_key_ok(v, 5));
}

TEST(value_key_ok_rejects_other_keys)
{
    /* a tag is 20 bits: a wrong key passes with probability 2^-20, so a
     * handful of passes in ~10^5 tries would already be suspicious */
    size_t n = scaled_min(200000, 20000);
    uint64_t pass_next = 0, pass_random = 0;
    check_rng_t r;
    check_rng_seed(&r, 78);
    for (size_t k = 0; k < n; k++) {
        uint64_t v = cs_value_make(k, (unsigned)(k % 8), 1 + k);
        pass_next += cs_value_key_ok(v, k + 1);
        uint64_t other = check_rng_next(&r);
        if (other != k)
            pass_random += cs_value_key_ok(v, other);
        CHECK(!cs_value_key_ok(0, k));
    }
    CHECK_LE_U64(pass_next, 3);
    CHECK_LE_U64(pass_random, 3);

    /* tags of consecutive indices spread over the 20 bits */
    enum { N = 4096 };
    static uint64_t tags[N];
    for (uint64_t k = 0; k < N; k++)
        tags[k] = cs_value_make(k, 0, 1) >> 44;
    qsort(tags, N, sizeof tags[0], cmp_u64);
    unsigned distinct = 1;
    for (unsigned i = 1; i < N; i++)
        distinct += tags[i] != tags[i - 1];
    CHECK_GT_U64(distinct, 4000);
    CHECK_GT_U64(tags[N - 1], UINT64_C(1) << 19); /* the top bit is used */
}

CHECK_MAIN()
