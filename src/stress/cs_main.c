/*
 * cs_main.c - chmstress's command line: global options and the commands.
 *
 * Commands: run (cs_cmd_run.c), compare and ratios (cs_cmd_compare.c), list, --help,
 * --version.  Exit codes follow DESIGN.md:
 * 0 good, 1 a check failed or a regression, 2 bad usage or input, 3 a
 * resource failure, 130 interrupted.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chm.h"
#include "cs.h"

#ifndef CS_GIT_COMMIT
#define CS_GIT_COMMIT "unknown"
#endif

/* Where `list` looks for workload files: $CS_WORKLOAD_DIR, else ./workloads. */
#define CS_WORKLOAD_DIR cs_workload_dir()

static const char *cs_workload_dir(void)
{
    const char *d = getenv("CS_WORKLOAD_DIR");
    return d != NULL && *d != '\0' ? d : "workloads";
}

static void cs_usage(FILE *f)
{
    fprintf(f,
            "usage: chmstress [--help] [--version] COMMAND [ARGS]\n"
            "\n"
            "Stress and benchmark tool for concurrent maps (libchm).\n"
            "\n"
            "commands:\n"
            "  list             the maps and the workload files (%s/*.json)\n"
            "  run -w FILE [-m MAP[,MAP..]] [-t N[,N..]] [-d SECONDS | -n OPS]\n"
            "      [--seed N] [--check none|counts|linearizability]\n"
            "      [-k KEYS] [-o OUT.json] [--repeat N] [--order shuffled|listed]\n"
            "      [--quiet]\n"
            "                   run a workload ('chmstress run --help' for each flag)\n"
            "  compare BASE.json NEW.json [--tolerance PCT] [--ratio MAP] [--best] [--cpu] [--strict]\n"
            "                   compare results with a baseline: exit 1 on a\n"
            "                   regression ('chmstress compare --help')\n"
            "  ratios RESULT.json [--map MAP]\n"
            "                   MAP (default chm) over every other map of one run\n"
            "\n"
            "options:\n"
            "  -h, --help       this help\n"
            "  -V, --version    version of chmstress and libchm, and the git commit\n"
            "\n"
            "exit status: 0 success, 1 a check failed, 2 bad usage or input,\n"
            "3 a resource failure.\n",
            CS_WORKLOAD_DIR);
}

static int cs_print_version(void)
{
    printf("chmstress %s (git %s)\nlibchm %s\n", CHM_VERSION, CS_GIT_COMMIT,
           CHM_VERSION);
    return CS_EXIT_OK;
}

static int cs_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cs_cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 'h') {
            printf("usage: chmstress list\n"
                   "Prints the maps chmstress can run and the workload files in "
                   "./%s.\n",
                   CS_WORKLOAD_DIR);
            return CS_EXIT_OK;
        }
        return cs_bad_option("list", opt, argv, optind - 1);
    }
    if (optind < argc) {
        fprintf(stderr, "chmstress: list: unexpected argument '%s'\nTry 'chmstress --help'.\n",
                argv[optind]);
        return CS_EXIT_USAGE;
    }

    printf("maps:\n");
    for (int i = 0; cs_backends[i] != NULL; i++)
        printf("  %-8s %s\n", cs_backends[i]->name, cs_backends[i]->description);

    printf("workloads (%s/):\n", CS_WORKLOAD_DIR);
    DIR *d = opendir(CS_WORKLOAD_DIR);
    if (d == NULL) {
        printf("  (none: no %s/ directory here)\n", CS_WORKLOAD_DIR);
        return CS_EXIT_OK;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int status = CS_EXIT_OK;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || e->d_name[0] == '.' || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (nn == NULL) {
                status = CS_EXIT_RESOURCE;
                break;
            }
            names = nn;
            cap = ncap;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            status = CS_EXIT_RESOURCE;
            break;
        }
        n++;
    }
    closedir(d);
    if (status != CS_EXIT_OK)
        fprintf(stderr, "chmstress: list: out of memory\n");
    if (n > 0)
        qsort(names, n, sizeof *names, cs_strcmp_p);
    for (size_t i = 0; i < n; i++) {
        printf("  %s/%s\n", CS_WORKLOAD_DIR, names[i]);
        free(names[i]);
    }
    if (n == 0 && status == CS_EXIT_OK)
        printf("  (none)\n");
    free(names);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    opterr = 0;
    /* "+": stop at the first non-option, the command; ":": report missing
     * arguments as ':' */
    while ((opt = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            cs_usage(stdout);
            return CS_EXIT_OK;
        case 'V':
            return cs_print_version();
        default:
            return cs_bad_option(NULL, opt, argv, optind - 1);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "chmstress: no command given\n");
        cs_usage(stderr);
        return CS_EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (strcmp(cmd, "list") == 0)
        return cs_cmd_list(sub_argc, sub_argv);
    if (strcmp(cmd, "run") == 0)
        return cs_cmd_run(sub_argc, sub_argv, CS_GIT_COMMIT);
    if (strcmp(cmd, "compare") == 0)
        return cs_cmd_compare(sub_argc, sub_argv);
    if (strcmp(cmd, "ratios") == 0)
        return cs_cmd_ratios(sub_argc, sub_argv);
    if (strcmp(cmd, "help") == 0) {
        cs_usage(stdout);
        return CS_EXIT_OK;
    }
    fprintf(stderr, "chmstress: unknown command '%s'\nTry 'chmstress --help'.\n", cmd);
    return CS_EXIT_USAGE;
}
