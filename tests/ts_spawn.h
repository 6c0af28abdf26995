/*
 * ts_spawn.h - run a program (chmstress) from a test and collect what it did.
 * Header-only: every function is static; include it after check.h (it
 * includes check.h itself for check_now() and REQUIRE()).
 * (Not named spawn.h: the tests compile with -Itests, and that name would
 * hide the system <spawn.h>.)
 *
 *   pid_t ts_spawn(bin, args, out_path, err_path)
 *       Starts bin with argv = {bin, args..., NULL} (args: NULL-terminated,
 *       without argv[0]; at most TS_MAX_ARGS), the test's environment,
 *       stdin /dev/null, stdout and stderr into out_path and err_path
 *       (created or truncated, mode 0600).  Returns the pid, or -1 with
 *       errno set when it did not start (E2BIG: too many args; otherwise
 *       posix_spawn's error, e.g. ENOENT for a missing bin).
 *
 *   int ts_wait(pid, timeout_s, &timed_out)
 *       Waits for pid.  timeout_s <= 0: as long as it takes.  Otherwise,
 *       still running after timeout_s seconds, it is killed with SIGKILL and
 *       reaped, and *timed_out (when not NULL) is set.  Returns the exit
 *       status: its exit code, 128 + N when a signal N ended it (137 after a
 *       timeout), -1 when waitpid fails (not EINTR, which is retried).
 *
 *   char *ts_slurp(path)
 *       The whole file, NUL-terminated, malloc'd (free it); "" when it
 *       cannot be read.  Out of memory: REQUIRE fails (the program stops).
 *
 *   ts_result ts_run(bin, args, out_path, err_path, timeout_s)
 *       ts_spawn + ts_wait + ts_slurp of both files: status as ts_wait
 *       (-1 when it did not start: spawn_error holds the error number),
 *       timed_out, and out / err (never NULL).  Free with ts_result_free().
 *
 *   const char *ts_path(dir, name)
 *       "dir/name" (cut at TS_PATH_MAX - 1 bytes) in a static ring of
 *       TS_PATH_RING buffers: it stays valid for the next TS_PATH_RING - 1
 *       calls.  Not thread-safe.
 *
 *   void ts_print_file(path, prefix, max_lines)
 *       Prints the file's first max_lines lines (all when max_lines <= 0),
 *       each after prefix (e.g. "#   | "), on stdout, the test log.
 *       Nothing when it cannot be read.
 */
#ifndef CHM_TESTS_TS_SPAWN_H
#define CHM_TESTS_TS_SPAWN_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

#define TS_MAX_ARGS 62 /* arguments after argv[0] */

static CHECK_UNUSED_ pid_t ts_spawn(const char *bin, const char *const *args,
                                    const char *out_path, const char *err_path)
{
    char *argv[TS_MAX_ARGS + 2];
    int n = 0;
    argv[n++] = (char *)bin;
    for (int i = 0; args[i] != NULL; i++) {
        if (n > TS_MAX_ARGS) {
            errno = E2BIG;
            return -1;
        }
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;

    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

static CHECK_UNUSED_ int ts_wait(pid_t pid, double timeout_s, bool *timed_out)
{
    double deadline = check_now() + timeout_s;
    int st = 0;
    if (timed_out != NULL)
        *timed_out = false;
    for (;;) {
        pid_t w = waitpid(pid, &st, timeout_s > 0 ? WNOHANG : 0);
        if (w == pid)
            break;
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (check_now() > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                    return -1;
            if (timed_out != NULL)
                *timed_out = true;
            break;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static CHECK_UNUSED_ char *ts_slurp(const char *path)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    REQUIRE(buf != NULL);
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        size_t r;
        while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
            n += r;
            if (n + 1 == cap) {
                cap *= 2;
                char *nbuf = realloc(buf, cap);
                REQUIRE(nbuf != NULL);
                buf = nbuf;
            }
        }
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

typedef struct ts_result {
    int status;      /* exit code; 128+N if a signal N ended it; -1 not run */
    int spawn_error; /* the error number when it did not start, else 0 */
    bool timed_out;  /* killed after timeout_s */
    char *out, *err; /* its whole stdout and stderr (malloc'd, never NULL) */
} ts_result;

static CHECK_UNUSED_ ts_result ts_run(const char *bin, const char *const *args,
                                      const char *out_path,
                                      const char *err_path, double timeout_s)
{
    ts_result r = {.status = -1};
    pid_t pid = ts_spawn(bin, args, out_path, err_path);
    if (pid < 0)
        r.spawn_error = errno;
    else
        r.status = ts_wait(pid, timeout_s, &r.timed_out);
    r.out = ts_slurp(out_path);
    r.err = ts_slurp(err_path);
    return r;
}

static CHECK_UNUSED_ void ts_result_free(ts_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

#define TS_PATH_RING 256
#define TS_PATH_MAX 600

static CHECK_UNUSED_ const char *ts_path(const char *dir, const char *name)
{
    static char ring[TS_PATH_RING][TS_PATH_MAX];
    static unsigned next;
    char *p = ring[next++ % TS_PATH_RING];
    snprintf(p, TS_PATH_MAX, "%s/%s", dir, name);
    return p;
}

static CHECK_UNUSED_ void ts_print_file(const char *path, const char *prefix,
                                        int max_lines)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[512];
    for (int i = 0; (max_lines <= 0 || i < max_lines) &&
                    fgets(line, sizeof line, f) != NULL;
         i++)
        printf("%s%s", prefix, line);
    fclose(f);
}

#endif /* CHM_TESTS_TS_SPAWN_H */
