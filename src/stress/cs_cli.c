/*
 * cs_cli.c - the command line's bad-flag messages, shared by every command
 * (cs_main.c: global options and `list`; cs_cmd_run.c: `run`;
 * cs_cmd_compare.c: `compare` and `ratios`), kept in one place so that the
 * commands' wording does not drift apart by copy.  The wording differs by
 * command and tests check it byte for byte: see each function in cs.h.
 * Every function prints to stderr, ends with a pointer to --help, and
 * returns CS_EXIT_USAGE (2) for the command to return.
 *
 * Concurrency: none needed - the command line is parsed by the main thread
 * before any other starts.  cs_bad_option reads getopt's global optopt.
 */
#include <getopt.h>
#include <stdio.h>

#include "cs.h"

/* Print "Try 'chmstress [CMD ]--help'[ (usage: USAGE)].\n" to stderr: the
 * last line of every bad-flag message (cmd NULL: the global --help; usage
 * NULL: no usage line).  No errors (stderr's are ignored, as everywhere in
 * the command line). */
static void cs_try_help(const char *cmd, const char *usage)
{
    fprintf(stderr, "Try 'chmstress %s%s--help'%s%s%s.\n",
            cmd != NULL ? cmd : "", cmd != NULL ? " " : "",
            usage != NULL ? " (usage: " : "", usage != NULL ? usage : "",
            usage != NULL ? ")" : "");
}

/* "chmstress: CMD: WHAT 'ARG'" and the --help line (cs.h).  Main thread
 * only; returns CS_EXIT_USAGE, nothing fails. */
int cs_usage_error(const char *cmd, const char *what, const char *arg,
                   const char *usage)
{
    fprintf(stderr, "chmstress: %s: %s '%s'\n", cmd, what, arg);
    cs_try_help(cmd, usage);
    return CS_EXIT_USAGE;
}

/* cs_usage_error with the WHAT for getopt_long's ':' or '?' (cs.h).  Main
 * thread only; returns CS_EXIT_USAGE, nothing fails. */
int cs_bad_flag(const char *cmd, int opt, const char *arg, const char *usage)
{
    return cs_usage_error(cmd, opt == ':' ? "option needs a value:"
                                          : "unknown option",
                          arg, usage);
}

/* A bad global or `list` option, in main's wording (cs.h).  Main thread
 * only (reads getopt's optopt); returns CS_EXIT_USAGE, nothing fails. */
int cs_bad_option(const char *cmd, int opt, char **argv, int failed_at)
{
    const char *sep = cmd != NULL ? ": " : "";
    if (cmd == NULL)
        cmd = "";
    if (opt == ':') {
        fprintf(stderr, "chmstress: %s%soption '%s' needs an argument\n", cmd, sep,
                argv[failed_at]);
    } else if (optopt != 0) {
        fprintf(stderr, "chmstress: %s%sunknown option '-%c'\n", cmd, sep, optopt);
    } else {
        fprintf(stderr, "chmstress: %s%sunknown option '%s'\n", cmd, sep,
                argv[failed_at]);
    }
    cs_try_help(NULL, NULL);
    return CS_EXIT_USAGE;
}
