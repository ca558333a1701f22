/* SPDX-License-Identifier: MIT */
/* Leaves nothing behind: no server process, no scratch directory, whether
 * the run ends normally, on an error, or on Ctrl-C.  The signal path may
 * only use async-signal-safe calls, hence fixed tables and no malloc. */

#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MAX_FILES 32
#define MAX_PIDS 16
#define MAX_MOUNTS 4
#define PATH_SIZE 256
/* How long a server gets to exit on SIGTERM before it is killed. */
#define STOP_WAIT_NS 3000000000ull

static pid_t owner;
static char dir[PATH_SIZE];
static char files[MAX_FILES][PATH_SIZE];
static volatile sig_atomic_t n_files;
static volatile pid_t pids[MAX_PIDS];
static char mounts[MAX_MOUNTS][PATH_SIZE];
static volatile int n_mounts;

static int copy_path(char *dst, const char *src) {
        size_t len = strlen(src);

        if (len >= PATH_SIZE)
                return -ENAMETOOLONG;
        memcpy(dst, src, len + 1);
        return 0;
}

int cleanup_set_dir(const char *path) {
        return copy_path(dir, path);
}

int cleanup_add_file(const char *path) {
        if (n_files >= MAX_FILES)
                return -ENOSPC;
        int r = copy_path(files[n_files], path);
        if (r < 0)
                return r;
        n_files = n_files + 1;
        return 0;
}

int cleanup_add_mount(const char *path) {
        if (n_mounts >= MAX_MOUNTS)
                return -ENOSPC;
        int r = copy_path(mounts[n_mounts], path);
        if (r < 0)
                return r;
        n_mounts = n_mounts + 1;
        return 0;
}

void cleanup_add_pid(pid_t pid) {
        for (unsigned i = 0; i < MAX_PIDS; i++)
                if (pids[i] == 0) {
                        pids[i] = pid;
                        return;
                }
}

void cleanup_del_pid(pid_t pid) {
        for (unsigned i = 0; i < MAX_PIDS; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
}

static bool any_child_left(void) {
        for (unsigned i = 0; i < MAX_PIDS; i++) {
                if (pids[i] == 0)
                        continue;
                if (waitpid(pids[i], NULL, WNOHANG) != 0)
                        pids[i] = 0; /* reaped, or not ours any more */
                else
                        return true;
        }
        return false;
}

static void stop_children(void) {
        for (unsigned i = 0; i < MAX_PIDS; i++)
                if (pids[i] > 0)
                        (void) kill(pids[i], SIGTERM);

        uint64_t deadline = now_ns() + STOP_WAIT_NS;
        while (any_child_left() && now_ns() < deadline)
                sleep_ns(10000000);

        for (unsigned i = 0; i < MAX_PIDS; i++)
                if (pids[i] > 0) {
                        (void) kill(pids[i], SIGKILL);
                        (void) waitpid(pids[i], NULL, 0);
                        pids[i] = 0;
                }
}

void cleanup_run(void) {
        /* A forked child inherits the handlers and the tables, but the
         * files and processes are the parent's to remove. */
        if (getpid() != owner)
                return;

        /* A signal in the middle of a normal cleanup waits for its end. */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGHUP);
        sigprocmask(SIG_BLOCK, &block, &old);

        stop_children();
        /* Mounts first: their points are among the files. */
        for (int i = n_mounts - 1; i >= 0; i--)
                (void) umount2(mounts[i], MNT_DETACH);
        n_mounts = 0;
        for (int i = n_files - 1; i >= 0; i--)
                if (unlink(files[i]) < 0 && errno == EISDIR)
                        (void) rmdir(files[i]);
        n_files = 0;
        if (dir[0]) {
                (void) rmdir(dir);
                dir[0] = 0;
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
}

static void on_signal(int sig) {
        cleanup_run();
        /* Die of the signal, so that the shell sees why. */
        signal(sig, SIG_DFL);
        raise(sig);
}

static void at_exit(void) {
        cleanup_run();
}

int cleanup_init(void) {
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
        struct sigaction sa = { .sa_handler = on_signal };

        owner = getpid();
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
                sigaddset(&sa.sa_mask, sigs[i]);
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
                if (sigaction(sigs[i], &sa, NULL) < 0)
                        return -errno;
        /* The servers are written to with MSG_NOSIGNAL, but a dead pipe
         * elsewhere must not kill the run before it cleaned up. */
        signal(SIGPIPE, SIG_IGN);
        if (atexit(at_exit) != 0)
                return -ENOMEM;
        return 0;
}

void child_setup(int death_signal) {
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
        sigset_t none;

        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
                signal(sigs[i], SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* A benchmark killed with SIGKILL must not leave servers running. */
        (void) prctl(PR_SET_PDEATHSIG, death_signal);
        if (getppid() != owner)
                _exit(EXIT_FAILURE); /* the parent is already gone */
}
