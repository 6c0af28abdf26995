/*
 * test_misuse.c - misuse libchm can detect fails loudly in debug builds
 * (no NDEBUG): the process aborts with "libchm: misuse in FUNCTION: WHAT"
 * on stderr instead of corrupting the map.  Each case runs in a child
 * process; the parent checks it died of SIGABRT and said why.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chm.h"
#include "check.h"

/* Run fn in a child with stderr captured; true if it aborted with a
 * message containing `what`. */
static bool dies_with(void (*fn)(void), const char *what)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        /* sanitizers would turn the abort into their own report */
        signal(SIGABRT, SIG_DFL);
        fn();
        _exit(0); /* not reached if the misuse was caught */
    }
    close(pipefd[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(pipefd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(pipefd[0]);
    int st;
    waitpid(pid, &st, 0);
    bool aborted = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
    bool said = strstr(buf, "libchm: misuse") != NULL && strstr(buf, what) != NULL;
    if (!aborted || !said)
        printf("#   child status 0x%x, stderr: %s\n", st, buf);
    return aborted && said;
}

static void join_null_map(void)
{
    chm_thread_join(NULL);
}

static void get_with_bogus_handle(void)
{
    /* aligned as a handle is: the point is the missing magic, and UBSan
     * would report a misaligned one before the check could */
    static _Alignas(64) char junk[4096];
    chm_get((chm_thread_t *)junk, 1, NULL);
}

static void unpin_without_pin(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    chm_unpin(t);
}

static void leave_while_pinned(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    chm_pin(t);
    chm_thread_leave(t);
}

static void use_after_leave(void)
{
    chm_t *m = chm_new(NULL, 0);
    chm_thread_t *t = chm_thread_join(m);
    chm_thread_leave(t);
    chm_put(t, 1, 2, NULL);
}

static void free_with_joined_thread(void)
{
    chm_t *m = chm_new(NULL, 0);
    (void)chm_thread_join(m);
    chm_free(m);
}

static void test_misuse_aborts(void)
{
    CHECK(dies_with(join_null_map, "NULL map"));
    CHECK(dies_with(get_with_bogus_handle, "not a joined thread handle"));
    CHECK(dies_with(unpin_without_pin, "unpin without pin"));
    CHECK(dies_with(leave_while_pinned, "leaving while pinned"));
    CHECK(dies_with(use_after_leave, "not a joined thread handle"));
    CHECK(dies_with(free_with_joined_thread, "threads still joined"));
}

int main(void)
{
    run_test("misuse_aborts", test_misuse_aborts);
    return check_finish();
}
