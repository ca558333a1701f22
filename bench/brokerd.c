/* SPDX-License-Identifier: MIT */
/* Starting and stopping fdbrokerd from the build tree, the way systemd
 * would: in the foreground, READY=1 on a notify socket. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifndef FDBRD_PATH
#error "FDBRD_PATH must name the fdbrokerd binary"
#endif

#define READY_TIMEOUT_MS 10000
#define STOP_TIMEOUT_NS 5000000000ull

static int bind_notify(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void print_log(const char *path) {
        char buf[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return;
        fprintf(stderr, "fdbroker-bench: fdbrokerd's log:\n");
        fflush(stderr);
        while ((n = read(fd, buf, sizeof buf)) > 0)
                (void) !write(STDERR_FILENO, buf, (size_t) n);
        close(fd);
}

static _Noreturn void exec_daemon(const struct brokerd *d, const char *policy, const char *notify,
                                  unsigned max_clients) {
        char limit[16];
        int log, null;

        child_setup(SIGTERM);
        snprintf(limit, sizeof limit, "%u", max_clients);
        null = open("/dev/null", O_RDWR);
        log = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (null < 0 || log < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0 ||
            dup2(log, STDERR_FILENO) < 0)
                _exit(120);

        /* Nothing of a surrounding service manager may leak in: the daemon
         * must create its socket and log to stderr. */
        setenv("NOTIFY_SOCKET", notify, 1);
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDNAMES");
        unsetenv("JOURNAL_STREAM");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");

        const char *argv[] = {
                FDBRD_PATH,
                "--socket", d->socket,
                "--policy", policy,
                "--log-level", "notice",
                "--max-clients", limit,
                "--max-clients-per-uid", limit,
                NULL,
        };
        execv(argv[0], (char **) argv);
        fprintf(stderr, "fdbroker-bench: cannot run %s: %m\n", argv[0]);
        _exit(121);
}

static int wait_ready(struct brokerd *d, int notify_fd) {
        char buf[4096];
        uint64_t deadline = now_ns() + (uint64_t) READY_TIMEOUT_MS * 1000000u;

        while (now_ns() < deadline) {
                struct pollfd p = { .fd = notify_fd, .events = POLLIN };
                int k = poll(&p, 1, 100);
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k > 0) {
                        ssize_t n = recv(notify_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
                        if (n > 0) {
                                buf[n] = 0;
                                if (strstr(buf, "READY=1"))
                                        return 0;
                        }
                }
                if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
                        cleanup_del_pid(d->pid);
                        d->pid = 0;
                        return -ECHILD;
                }
        }
        return -ETIMEDOUT;
}

int brokerd_start(struct brokerd *d, const char *dir, const char *name, const char *policy,
                  unsigned max_clients) {
        char notify[108];
        int r;

        *d = (struct brokerd) { 0 };
        if ((size_t) snprintf(d->socket, sizeof d->socket, "%s/%s.sock", dir, name) >= sizeof d->socket ||
            (size_t) snprintf(notify, sizeof notify, "%s/%s.notify", dir, name) >= sizeof notify ||
            (size_t) snprintf(d->log, sizeof d->log, "%s/%s.log", dir, name) >= sizeof d->log)
                return -ENAMETOOLONG;
        if ((r = cleanup_add_file(d->socket)) < 0 || (r = cleanup_add_file(notify)) < 0 ||
            (r = cleanup_add_file(d->log)) < 0)
                return r;

        int notify_fd = bind_notify(notify);
        if (notify_fd < 0) {
                fprintf(stderr, "fdbroker-bench: %s: %s\n", notify, strerror(-notify_fd));
                return notify_fd;
        }

        d->pid = fork();
        if (d->pid < 0) {
                r = -errno;
                close(notify_fd);
                return r;
        }
        if (d->pid == 0)
                exec_daemon(d, policy, notify, max_clients);
        cleanup_add_pid(d->pid);

        r = wait_ready(d, notify_fd);
        close(notify_fd);
        (void) unlink(notify);
        if (r < 0) {
                fprintf(stderr, "fdbroker-bench: fdbrokerd (%s) did not become ready: %s\n", name,
                        r == -ECHILD ? "it exited" : strerror(-r));
                print_log(d->log);
                if (d->pid > 0)
                        (void) server_stop(d->pid);
                d->pid = 0;
                return r;
        }
        return 0;
}

int server_stop(pid_t pid) {
        int status;

        if (pid <= 0)
                return 0;
        (void) kill(pid, SIGTERM);
        uint64_t deadline = now_ns() + STOP_TIMEOUT_NS;
        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        break;
                if (r < 0) {
                        cleanup_del_pid(pid);
                        return -ECHILD;
                }
                if (now_ns() > deadline) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        break;
                }
                sleep_ns(5000000);
        }
        cleanup_del_pid(pid);
        /* The bare broker has no handler: SIGTERM is how it ends. */
        if ((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
            (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
                return 0;
        return -ECHILD;
}
