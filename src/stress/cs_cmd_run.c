/*
 * cs_cmd_run.c - `chmstress run`: load the workload file, apply the flags
 * on top of it, run, check, write the result file and print the summary.
 *
 * Flags override the file: -m and -t replace its maps and thread counts
 * (lists: `-m chm,locked -t 1,2,4` runs every combination, side by side,
 * into one result file); -d/-n replace every phase's duration or op count.
 * -w may be given several times: the workloads run one after the other
 * with the same flags, into one result file (what `make bench` does).
 * A bad flag value is reported with the flag and what it expects (exit 2).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs.h"

static void cs_run_usage(FILE *f)
{
    fprintf(f,
        "usage: chmstress run -w FILE [-m MAP[,MAP..]] [-t N[,N..]]\n"
        "                     [-d SECONDS | -n OPS] [--seed N]\n"
        "                     [--check none|counts|linearizability]\n"
        "                     [-k KEYS] [-o OUT.json] [--repeat N]\n"
        "                     [--order shuffled|listed] [--quiet]\n"
        "\n"
        "  -w, --workload FILE   the workload (JSON; see chmstress(1)); repeat\n"
        "                        -w to run several into one result file\n"
        "  -m, --maps LIST       maps to run, comma-separated (chmstress list)\n"
        "  -t, --threads LIST    thread counts, comma-separated, 1..254\n"
        "  -d, --duration SECS   every phase runs this long\n"
        "  -n, --ops N           every phase runs N operations (all threads)\n"
        "      --seed N          seed of the key generators (0..2^63-1)\n"
        "  -k, --keys N          key range (overrides keys.range), 1..2^32\n"
        "      --check MODE      none | counts (default) | linearizability\n"
        "  -o, --out FILE        result file (default results/NAME-TIME.json)\n"
        "      --repeat N        run everything N times: medians and spread\n"
        "      --order ORDER     shuffled (default: each repeat runs its maps\n"
        "                        and thread counts in an order drawn from the\n"
        "                        seed) | listed (as given to -m and -t)\n"
        "  -q, --quiet           no progress line, no summary table\n"
        "  -h, --help            this help\n"
        "\n"
        "exit status: 0 all good, 1 a check failed, 2 bad usage or input,\n"
        "3 a resource failure, 130 interrupted (results so far are written).\n");
}

static int cs_flag_error(const char *flag, const char *value,
                         const char *expected)
{
    fprintf(stderr, "chmstress: run: %s '%s': expected %s\n"
            "Try 'chmstress run --help'.\n", flag, value, expected);
    return CS_EXIT_USAGE;
}

static bool cs_parse_u64(const char *s, uint64_t lo, uint64_t hi,
                         uint64_t *out)
{
    char *end;
    if (*s == '\0' || *s == '-' || *s == '+')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool cs_parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || errno != 0 || *end != '\0' || !(v > 0) || v > 86400)
        return false;
    *out = v;
    return true;
}

static int cs_parse_threads(const char *arg, cs_config *cfg)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", arg);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        if (n == CS_MAX_LIST || !cs_parse_u64(tok, 1, 254, &v))
            return cs_flag_error("-t", arg, "a comma-separated list of up to "
                                 "32 thread counts, each 1..254 (e.g. 1,2,4)");
        cfg->threads[n++] = (unsigned)v;
    }
    if (n == 0 || arg[strlen(arg) - 1] == ',' || arg[0] == ',' ||
        strstr(arg, ",,") != NULL)
        return cs_flag_error("-t", arg, "a comma-separated list of thread "
                             "counts, each 1..254 (e.g. 1,2,4)");
    cfg->nthreads = n;
    return CS_EXIT_OK;
}

static int cs_unknown_map(const char *arg, const char *name)
{
    char known[256] = "";
    for (int i = 0; cs_backends[i] != NULL; i++) {
        strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
        strncat(known, cs_backends[i]->name, sizeof known - strlen(known) - 1);
    }
    fprintf(stderr, "chmstress: run: -m '%s': unknown map '%s'; the maps "
            "are: %s\nTry 'chmstress list'.\n", arg, name, known);
    return CS_EXIT_USAGE;
}

static int cs_parse_maps(const char *arg, cs_config *cfg)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", arg);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (cs_backend_find(tok) == NULL)
            return cs_unknown_map(arg, tok);
        if (n == CS_MAX_LIST)
            return cs_flag_error("-m", arg, "at most 32 maps");
        snprintf(cfg->maps[n++], sizeof cfg->maps[0], "%s", tok);
    }
    if (n == 0 || arg[strlen(arg) - 1] == ',' || arg[0] == ',' ||
        strstr(arg, ",,") != NULL)
        return cs_flag_error("-m", arg, "a comma-separated list of maps "
                             "(e.g. chm,locked)");
    cfg->nmaps = n;
    return CS_EXIT_OK;
}

/* The flags, remembered until the file is loaded, then applied on top. */
#define CS_MAX_WORKLOADS 16

typedef struct cs_run_flags {
    const char *workloads[CS_MAX_WORKLOADS];
    int nworkloads;
    const char *maps, *threads, *out, *check, *order;
    double duration;
    uint64_t ops, seed, repeat, keys;
    bool has_seed, quiet;
} cs_run_flags;

static int cs_parse_flag(int opt, const char *arg, cs_run_flags *f)
{
    switch (opt) {
    case 'w':
        if (f->nworkloads == CS_MAX_WORKLOADS)
            return cs_flag_error("-w", arg, "at most 16 workloads in one run");
        f->workloads[f->nworkloads++] = arg;
        return CS_EXIT_OK;
    case 'm': f->maps = arg; return CS_EXIT_OK;
    case 't': f->threads = arg; return CS_EXIT_OK;
    case 'o': f->out = arg; return CS_EXIT_OK;
    case 'q': f->quiet = true; return CS_EXIT_OK;
    case 'd':
        return cs_parse_seconds(arg, &f->duration) ? CS_EXIT_OK
            : cs_flag_error("-d", arg, "a duration in seconds, > 0 and <= 86400");
    case 'n':
        return cs_parse_u64(arg, 1, UINT64_MAX / 2, &f->ops) ? CS_EXIT_OK
            : cs_flag_error("-n", arg, "a positive whole number of operations");
    case 'S':
        f->has_seed = true;
        return cs_parse_u64(arg, 0, INT64_MAX, &f->seed) ? CS_EXIT_OK
            : cs_flag_error("--seed", arg, "a whole number 0..9223372036854775807");
    case 'C':
        if (strcmp(arg, "none") && strcmp(arg, "counts") &&
            strcmp(arg, "linearizability"))
            return cs_flag_error("--check", arg, "none, counts or linearizability");
        f->check = arg;
        return CS_EXIT_OK;
    case 'O':
        if (cs_order_from_name(arg) < 0)
            return cs_flag_error("--order", arg, "shuffled or listed");
        f->order = arg;
        return CS_EXIT_OK;
    case 'R':
        return cs_parse_u64(arg, 1, 1000, &f->repeat) ? CS_EXIT_OK
            : cs_flag_error("--repeat", arg, "a whole number 1..1000");
    case 'k':
        return cs_parse_u64(arg, 1, (uint64_t)1 << 32, &f->keys) ? CS_EXIT_OK
            : cs_flag_error("-k", arg, "a key range, a whole number 1..4294967296");
    default:
        return CS_EXIT_USAGE;
    }
}

static int cs_apply_flags(const cs_run_flags *f, cs_config *cfg)
{
    int rc = CS_EXIT_OK;
    if (f->maps != NULL && (rc = cs_parse_maps(f->maps, cfg)) != CS_EXIT_OK)
        return rc;
    if (f->threads != NULL &&
        (rc = cs_parse_threads(f->threads, cfg)) != CS_EXIT_OK)
        return rc;
    for (int i = 0; i < cfg->nphases; i++) {
        if (f->duration > 0) {
            cfg->phases[i].duration_s = f->duration;
            cfg->phases[i].ops = 0;
        } else if (f->ops > 0) {
            cfg->phases[i].ops = f->ops;
            cfg->phases[i].duration_s = 0;
        }
    }
    if (f->has_seed)
        cfg->seed = f->seed;
    if (f->keys > 0)
        cfg->keys.range = f->keys;
    if (f->check != NULL)
        cfg->check = strcmp(f->check, "none") == 0 ? CS_CHECK_NONE
                   : strcmp(f->check, "counts") == 0 ? CS_CHECK_COUNTS
                   : CS_CHECK_LINEARIZABILITY;
    if (f->repeat > 0)
        cfg->repeat = (unsigned)f->repeat;
    if (f->order != NULL)
        cfg->order = (cs_order)cs_order_from_name(f->order);
    if (f->out != NULL)
        snprintf(cfg->out, sizeof cfg->out, "%s", f->out);
    cfg->quiet = f->quiet;
    return rc;
}

/* scan needs an ordered map: refuse before anything runs. */
static int cs_check_scan(const cs_config *cfg)
{
    for (int m = 0; m < cfg->nmaps; m++) {
        const cs_backend *be = cs_backend_find(cfg->maps[m]);
        for (int p = 0; p < cfg->nphases; p++)
            if (be != NULL && !be->ordered && cfg->phases[p].mix[CS_OP_SCAN]) {
                fprintf(stderr, "chmstress: run: %s: phases[%d].mix.scan: map "
                        "'%s' is not ordered and cannot scan; drop scan from "
                        "the mix or run an ordered map\n", cfg->path, p,
                        cfg->maps[m]);
                return CS_EXIT_USAGE;
            }
    }
    return CS_EXIT_OK;
}

static void cs_on_sigint(int sig)
{
    (void)sig;
    atomic_store_explicit(&cs_interrupted, 1, memory_order_relaxed);
    signal(SIGINT, SIG_DFL); /* a second ^C ends the process at once */
}

/* results/NAME-TIME.json; with several workloads NAME is theirs joined
 * by '+' (cut short when long). */
static void cs_default_out(cs_config *cfgs, int n)
{
    if (cfgs[0].out[0] != '\0')
        return;
    char stamp[32], names[200] = "";
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (int i = 0; i < n; i++) {
        strncat(names, i ? "+" : "", sizeof names - strlen(names) - 1);
        strncat(names, cfgs[i].name, sizeof names - strlen(names) - 1);
    }
    snprintf(cfgs[0].out, sizeof cfgs[0].out, "results/%s-%s.json", names,
             stamp);
}

static void cs_print_evidence(const cs_report *rep)
{
    for (size_t i = 0; i < rep->nchecks; i++) {
        const cs_check_result *c = &rep->checks[i];
        if (c->passed)
            continue;
        fprintf(stderr, "chmstress: CHECK FAILED: %s, %u threads, repeat %u: "
                "%llu violation(s); %llu keys checked, %llu present, size() "
                "%llu\n", c->map, c->threads, c->repeat,
                (unsigned long long)c->violations,
                (unsigned long long)c->keys_checked,
                (unsigned long long)c->present,
                (unsigned long long)c->size_reported);
        for (int k = 0; k < c->nevidence; k++)
            fprintf(stderr, "  %s\n", c->evidence[k]);
        if (c->lin_failed > 0)
            fprintf(stderr, "  linearizability: %llu of %llu keys cannot be "
                    "linearized; the first:\n  %s",
                    (unsigned long long)c->lin_failed,
                    (unsigned long long)c->lin_keys, c->lin_evidence);
    }
}

/* Run the n workloads in order (a resource failure or ^C stops the rest),
 * then write one result file and print a summary per workload. */
static int cs_execute(cs_config *cfgs, int n, const char *git_commit)
{
    cs_default_out(cfgs, n);
    const char *out = cfgs[0].out;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cs_on_sigint;
    sigaction(SIGINT, &sa, NULL);
    cs_report *reps = calloc((size_t)n, sizeof *reps);
    if (reps == NULL) {
        fprintf(stderr, "chmstress: run: out of memory\n");
        return CS_EXIT_RESOURCE;
    }
    int code = CS_EXIT_OK, ran = 0;
    while (ran < n && (code == CS_EXIT_OK || code == CS_EXIT_CHECK)) {
        int c = cs_run_all(&cfgs[ran], &reps[ran]);
        snprintf(reps[ran].git_commit, sizeof reps[ran].git_commit, "%s",
                 git_commit);
        ran++;
        if (c != CS_EXIT_OK)
            code = c;
    }
    if (code == CS_EXIT_RESOURCE)
        fprintf(stderr, "chmstress: run stopped: a resource failure (memory "
                "or threads); results so far are written\n");
    for (int i = 0; i < ran; i++)
        cs_print_evidence(&reps[i]);
    int wr = cs_result_write_many(reps, (size_t)ran, out, code);
    for (int i = 0; i < ran; i++) {
        if (!cfgs[0].quiet)
            cs_result_summary(&reps[i], stdout);
        cs_report_free(&reps[i]);
    }
    free(reps);
    if (wr == CS_EXIT_OK && !cfgs[0].quiet)
        printf("results: %s\n", out);
    if (code == CS_EXIT_OK && wr != CS_EXIT_OK)
        code = wr;
    return code;
}

/* Load, override and validate every workload before anything runs. */
static int cs_prepare(const cs_run_flags *f, cs_config *cfgs)
{
    for (int i = 0; i < f->nworkloads; i++) {
        int rc = cs_workload_load(f->workloads[i], &cfgs[i]);
        if (rc == CS_EXIT_OK)
            rc = cs_apply_flags(f, &cfgs[i]);
        if (rc == CS_EXIT_OK)
            rc = cs_config_validate(&cfgs[i]);
        if (rc == CS_EXIT_OK)
            rc = cs_check_scan(&cfgs[i]);
        if (rc != CS_EXIT_OK)
            return rc;
    }
    return CS_EXIT_OK;
}

int cs_cmd_run(int argc, char **argv, const char *git_commit)
{
    static const struct option opts[] = {
        {"workload", required_argument, NULL, 'w'},
        {"maps", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'},
        {"ops", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 'S'},
        {"check", required_argument, NULL, 'C'},
        {"out", required_argument, NULL, 'o'},
        {"repeat", required_argument, NULL, 'R'},
        {"order", required_argument, NULL, 'O'},
        {"keys", required_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cs_run_flags f;
    memset(&f, 0, sizeof f);
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":w:m:t:d:n:o:k:qh", opts, NULL)) != -1) {
        if (opt == 'h') {
            cs_run_usage(stdout);
            return CS_EXIT_OK;
        }
        if (opt == '?' || opt == ':')
            return cs_bad_flag("run", opt, argv[optind - 1], NULL);
        int rc = cs_parse_flag(opt, optarg, &f);
        if (rc != CS_EXIT_OK)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "chmstress: run: unexpected argument '%s'\nTry "
                "'chmstress run --help'.\n", argv[optind]);
        return CS_EXIT_USAGE;
    }
    if (f.duration > 0 && f.ops > 0) {
        fprintf(stderr, "chmstress: run: -d and -n exclude each other: "
                "expected one of them (a phase runs for a time or for a "
                "number of operations)\n");
        return CS_EXIT_USAGE;
    }
    if (f.nworkloads == 0) {
        fprintf(stderr, "chmstress: run: no workload: give one with -w FILE "
                "(see 'chmstress list')\n");
        return CS_EXIT_USAGE;
    }
    cs_config *cfgs = calloc((size_t)f.nworkloads, sizeof *cfgs); /* large */
    if (cfgs == NULL) {
        fprintf(stderr, "chmstress: run: out of memory\n");
        return CS_EXIT_RESOURCE;
    }
    int rc = cs_prepare(&f, cfgs);
    if (rc == CS_EXIT_OK)
        rc = cs_execute(cfgs, f.nworkloads, git_commit);
    free(cfgs);
    return rc;
}
