/* SPDX-License-Identifier: MIT */
/* fdbrokerd as systemd runs it: socket activation (through
 * systemd-socket-activate and through a supervisor of our own that plays
 * systemd), a restart with clients queued on the socket, the notify
 * protocol and the watchdog, exit on idle, and the daemon inside the limits
 * its unit file sets.
 *
 * The daemon's LISTEN_* variables are recorded by systemd-probe.c, loaded
 * into it with LD_PRELOAD. */


#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "testutil.h"

#define DATA "hello from the broker\n"
/* Generous: a loaded machine, a sanitizer build. */
#define START_TIMEOUT_MS 20000
#define REPLY_TIMEOUT_MS 15000

/* ---- per-test fixture -------------------------------------------------- */

static struct {
        char *dir;
        char *policy;
        char *log;           /* stdout and stderr of everything started */
        char *notify_path;
        int notify_fd;
        char *listen_path;   /* the socket "systemd" holds */
        char *own_socket;    /* passed as --socket: must never be created */
        char *data;          /* a file the default policy grants for read */
        char *probe;         /* env-probe output */
} F = { .notify_fd = -1 };

/* For tu_log_has() and tu_daemon_log(), which only look at .log. */
static struct tu_daemon LD;

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void setup(void) {
        int on = 1;

        F.dir = tu_mkdtemp();
        F.policy = tu_strdupf("%s/policy.conf", F.dir);
        F.log = tu_strdupf("%s/daemon.log", F.dir);
        F.notify_path = tu_strdupf("%s/notify", F.dir);
        F.listen_path = tu_strdupf("%s/activate.sock", F.dir);
        F.own_socket = tu_strdupf("%s/own.sock", F.dir);
        F.data = tu_strdupf("%s/data.txt", F.dir);
        F.probe = tu_strdupf("%s/env-probe", F.dir);
        LD = (struct tu_daemon) { .log = F.log };

        tu_write_file(F.data, DATA, 0600, 0, 0);
        char *text = tu_strdupf("any %s read\n", F.data);
        tu_write_file(F.policy, text, 0644, 0, 0);
        free(text);

        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        F.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(F.notify_fd, 0);
        strcpy(sa.sun_path, F.notify_path);
        ck_assert_int_eq(bind(F.notify_fd, (struct sockaddr *) &sa, sizeof sa), 0);
        /* Arrival times from the kernel: the test may be scheduled late. */
        ck_assert_int_eq(setsockopt(F.notify_fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on), 0);
}

static void teardown(void) {
        tu_rm_rf(F.dir);
        if (F.notify_fd >= 0)
                close(F.notify_fd);
        free(F.dir);
        free(F.policy);
        free(F.log);
        free(F.notify_path);
        free(F.listen_path);
        free(F.own_socket);
        free(F.data);
        free(F.probe);
        F = (typeof(F)) { .notify_fd = -1 };
}

#define assert_log_has(...)                                                                  \
        do {                                                                                 \
                if (!tu_log_has(&LD, __VA_ARGS__, NULL)) {                                   \
                        char *text_ = tu_daemon_log(&LD);                                    \
                        ck_abort_msg("no log line with %s; the log:\n%s", #__VA_ARGS__, text_); \
                }                                                                            \
        } while (0)

static void log_reset(void) {
        int fd = open(F.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
}

/* ---- starting processes the way systemd does ----------------------------- */

struct spawn {
        const int *fds;           /* become 3, 4, ... */
        size_t n_fds;
        bool listen_env;          /* LISTEN_FDS=n_fds, LISTEN_PID=<the child> */
        bool notify;              /* NOTIFY_SOCKET */
        const char *watchdog_usec;
        pid_t watchdog_pid;       /* 0: the child itself; -1: not set */
        const char *const *env;   /* more VAR=VALUE */
        void (*pre_exec)(void *arg);
        void *pre_exec_arg;
};

/* Forks and execs argv with the descriptors and environment systemd would
 * give.  LISTEN_PID must name the process that calls sd_listen_fds(), so it
 * is set in the child, between fork and exec.  Returns the pid or -errno;
 * safe to call from a forked supervisor (no check assertions). */
static pid_t spawn_exec(const char *const *argv, const struct spawn *o) {
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0)
                return pid;

        char buf[32];
        int moved[8];

        /* A failed check ends the test process at once (_exit): whatever it
         * started must not outlive it. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        int log = open(F.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log < 0 || dup2(log, STDOUT_FILENO) < 0 || dup2(log, STDERR_FILENO) < 0)
                _exit(120);
        /* Out of the way first: a descriptor may already sit on 3 or 4. */
        for (size_t i = 0; i < o->n_fds && i < ELEMENTSOF(moved); i++)
                if ((moved[i] = fcntl(o->fds[i], F_DUPFD_CLOEXEC, 100)) < 0)
                        _exit(121);
        for (size_t i = 0; i < o->n_fds && i < ELEMENTSOF(moved); i++)
                if (dup2(moved[i], 3 + (int) i) < 0)
                        _exit(122);

        static const char *const clear[] = {
                "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                "WATCHDOG_PID", "JOURNAL_STREAM",
        };
        for (size_t i = 0; i < ELEMENTSOF(clear); i++)
                unsetenv(clear[i]);
        if (o->listen_env) {
                snprintf(buf, sizeof buf, "%zu", o->n_fds);
                setenv("LISTEN_FDS", buf, 1);
                snprintf(buf, sizeof buf, "%d", (int) getpid());
                setenv("LISTEN_PID", buf, 1);
        }
        if (o->notify)
                setenv("NOTIFY_SOCKET", F.notify_path, 1);
        if (o->watchdog_usec) {
                setenv("WATCHDOG_USEC", o->watchdog_usec, 1);
                if (o->watchdog_pid >= 0) {
                        snprintf(buf, sizeof buf, "%d", (int) (o->watchdog_pid ? o->watchdog_pid : getpid()));
                        setenv("WATCHDOG_PID", buf, 1);
                }
        }
        for (const char *const *e = o->env; e && *e; e++)
                putenv((char *) *e);
        if (o->pre_exec)
                o->pre_exec(o->pre_exec_arg);
        execv(argv[0], (char *const *) argv);
        _exit(127);
}

/* fdbrokerd with our policy, and a socket path of its own that it must not
 * create when it is given one. */
static pid_t spawn_daemon(const struct spawn *o, const char *const *args) {
        const char *argv[32] = { FDBRD_PATH, "--socket", F.own_socket, "--policy", F.policy };
        size_t n = 5;
        for (; args && *args && n < ELEMENTSOF(argv) - 1; args++)
                argv[n++] = *args;
        pid_t pid = spawn_exec(argv, o);
        ck_assert_msg(pid > 0, "fork: %s", strerror(-pid));
        return pid;
}

static void assert_exit(pid_t pid, int code) {
        int status = tu_wait(pid, START_TIMEOUT_MS);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != code) {
                char *text = tu_daemon_log(&LD);
                ck_abort_msg("process %d: wait status 0x%x, expected exit %d; log:\n%s", (int) pid, status,
                             code, text);
        }
}

/* SIGTERM, which a running daemon answers with a clean exit. */
static void stop(pid_t pid) {
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        assert_exit(pid, 0);
}

static int make_listener(const char *path, int type) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        /* SocketMode=0666: clients of any uid connect. */
        ck_assert_int_eq(chmod(path, 0666), 0);
        ck_assert_int_eq(listen(fd, 128), 0);
        return fd;
}

/* Connects once the path is there (its creator may still be starting). */
static int connect_retry(const char *path, int type) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        long long end = now_ms() + START_TIMEOUT_MS;

        ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
        strcpy(sa.sun_path, path);
        for (;;) {
                int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
                ck_assert_int_ge(fd, 0);
                if (connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0)
                        return fd;
                int e = errno;
                close(fd);
                ck_assert_msg(now_ms() < end, "connect %s: %s", path, strerror(e));
                sleep_ms(10);
        }
}

/* One request, answered within a timeout long enough for a daemon that is
 * only being started for it. */
static int request(int fd, uint16_t op, uint32_t flags, const char *path, int *ret_fd) {
        static uint32_t next_id = 1;
        struct wire_reply r;
        int rfd = -1;
        uint32_t id = next_id++;

        int k = tu_send(fd, op, id, flags, 0, path);
        if (k < 0)
                return k;
        k = tu_recv(fd, &r, &rfd, REPLY_TIMEOUT_MS);
        if (k < 0)
                return k;
        ck_assert_uint_eq(r.id, id);
        if (ret_fd)
                *ret_fd = rfd;
        else if (rfd >= 0)
                close(rfd);
        return (int) r.status;
}

static void assert_fd_reads(int fd, const char *want) {
        char buf[256];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        ck_assert_int_ge(n, 0);
        buf[n] = 0;
        ck_assert_str_eq(buf, want);
}

/* Opens the data file through fd and checks what comes back. */
static void assert_served(int fd) {
        int dfd = -1;
        int status = request(fd, FDBR_OP_OPEN, FDBR_F_READ, F.data, &dfd);
        ck_assert_msg(status == 0, "OPEN %s: %s", F.data, status > 0 ? strerror(status) : strerror(-status));
        ck_assert_int_ge(dfd, 0);
        assert_fd_reads(dfd, DATA);
        close(dfd);
}

/* ---- notify messages ------------------------------------------------------ */

struct note {
        char text[4096];
        long long ts_ms;      /* CLOCK_REALTIME arrival */
};

/* Next message within timeout_ms; false on timeout. */
static bool note_recv(struct note *n, int timeout_ms) {
        struct pollfd p = { .fd = F.notify_fd, .events = POLLIN };
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(struct timespec))];
        } control;
        struct iovec iov = { .iov_base = n->text, .iov_len = sizeof n->text - 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control };

        if (poll(&p, 1, timeout_ms) <= 0)
                return false;
        ssize_t k = recvmsg(F.notify_fd, &mh, MSG_DONTWAIT);
        ck_assert_int_ge(k, 0);
        n->text[k] = 0;
        n->ts_ms = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                        struct timespec ts;
                        memcpy(&ts, CMSG_DATA(c), sizeof ts);
                        n->ts_ms = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
                }
        ck_assert_msg(n->ts_ms > 0, "no arrival time on a notify message");
        return true;
}

/* The value of a "KEY=" line of the message, or NULL. */
static const char *note_get(const struct note *n, const char *key, char *buf, size_t size) {
        size_t klen = strlen(key);
        for (const char *line = n->text; *line;) {
                const char *end = strchrnul(line, '\n');
                if ((size_t) (end - line) > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
                        size_t len = (size_t) (end - line) - klen - 1;
                        if (len >= size)
                                len = size - 1;
                        memcpy(buf, line + klen + 1, len);
                        buf[len] = 0;
                        return buf;
                }
                line = *end ? end + 1 : end;
        }
        return NULL;
}

static bool note_is(const struct note *n, const char *key, const char *value) {
        char buf[256];
        const char *v = note_get(n, key, buf, sizeof buf);
        return v && strcmp(v, value) == 0;
}

/* Waits for a message with KEY=VALUE, skipping others; fails the test after
 * timeout_ms. */
static void note_expect(const char *key, const char *value, int timeout_ms, struct note *n) {
        long long end = now_ms() + timeout_ms;
        for (;;) {
                long long left = end - now_ms();
                if (left < 0 || !note_recv(n, (int) left)) {
                        char *text = tu_daemon_log(&LD);
                        ck_abort_msg("no %s=%s within %d ms; log:\n%s", key, value, timeout_ms, text);
                }
                if (note_is(n, key, value))
                        return;
        }
}

/* True if a message with KEY=VALUE arrives within timeout_ms. */
static bool note_within(const char *key, const char *value, int timeout_ms) {
        struct note n;
        long long end = now_ms() + timeout_ms;
        for (;;) {
                long long left = end - now_ms();
                if (left < 0 || !note_recv(&n, (int) left))
                        return false;
                if (note_is(&n, key, value))
                        return true;
        }
}

static void note_drain(void) {
        struct note n;
        while (note_recv(&n, 0))
                ;
}

/* The daemon on an inherited listening socket, as systemd starts it;
 * returns once it said READY=1. */
static pid_t start_activated(int lfd, struct spawn *o, const char *const *args, struct note *ready) {
        struct note n;
        o->fds = &lfd;
        o->n_fds = 1;
        o->listen_env = true;
        o->notify = true;
        pid_t pid = spawn_daemon(o, args);
        struct note *r = ready ? ready : &n;
        /* A daemon that dies on the way is reported as such, not as a
         * timeout. */
        for (long long end = now_ms() + START_TIMEOUT_MS;;) {
                if (note_recv(r, 100) && note_is(r, "READY", "1"))
                        return pid;
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        char *text = tu_daemon_log(&LD);
                        ck_abort_msg("fdbrokerd ended before READY=1, wait status 0x%x; log:\n%s", status, text);
                }
                if (now_ms() > end) {
                        char *text = tu_daemon_log(&LD);
                        ck_abort_msg("fdbrokerd sent no READY=1 within %d ms; log:\n%s", START_TIMEOUT_MS, text);
                }
        }
}

/* ---- a few things the kernel can tell about a process ------------------- */

/* Inode of the listening AF_UNIX socket bound to path, from /proc/net/unix
 * (connections accepted on it show the same path, but are not listening). */
static unsigned long unix_inode(const char *path) {
        FILE *f = fopen("/proc/net/unix", "re");
        char line[512];
        unsigned long found = 0;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof line, f)) {
                unsigned long flags, ino;
                int off = 0;
                if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %n", &flags, &ino, &off) != 2 || off == 0)
                        continue;
                line[strcspn(line, "\n")] = 0;
                if ((flags & 0x10000 /* __SO_ACCEPTCON */) && strcmp(line + off, path) == 0)
                        found = ino;
        }
        fclose(f);
        return found;
}

static void assert_fd_is_socket(pid_t pid, int fd, unsigned long ino) {
        char link[64], target[128], want[64];
        snprintf(link, sizeof link, "/proc/%d/fd/%d", (int) pid, fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        ck_assert_int_gt(n, 0);
        target[n] = 0;
        snprintf(want, sizeof want, "socket:[%lu]", ino);
        ck_assert_str_eq(target, want);
}

/* Watches dir for a name appearing in it, at any moment of the test. */
static int watch_dir(const char *dir) {
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ge(inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO), 0);
        return fd;
}

static bool watch_saw(int fd, const char *name) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool seen = false;
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;
                        if (ev->len > 0 && strcmp(ev->name, name) == 0)
                                seen = true;
                        p += sizeof *ev + ev->len;
                }
        return seen;
}

static void wait_stopped(pid_t pid) {
        int status;
        ck_assert_int_eq(waitpid(pid, &status, WUNTRACED), pid);
        ck_assert(WIFSTOPPED(status));
}

/* ---- socket activation through systemd-socket-activate ------------------- */

/* systemd-socket-activate passes only the environment it is told to (-E). */
static pid_t spawn_socket_activate(const char *const *sa_args) {
        char *asan = tu_strdupf("ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                                getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
                                getenv("ASAN_OPTIONS") ? ":" : "");
        char *preload = tu_strdupf("LD_PRELOAD=%s", FDBR_ENV_PROBE_PATH);
        char *probe = tu_strdupf("FDBR_ENV_PROBE=%s", F.probe);
        const char *argv[40] = { SYSTEMD_SOCKET_ACTIVATE };
        size_t n = 1;

        for (; *sa_args; sa_args++)
                argv[n++] = *sa_args;
        argv[n++] = "-E";
        argv[n++] = asan;
        argv[n++] = "-E";
        argv[n++] = preload;
        argv[n++] = "-E";
        argv[n++] = probe;
        const char *tail[] = { FDBRD_PATH, "--socket", F.own_socket, "--policy", F.policy, NULL };
        for (size_t i = 0; tail[i]; i++)
                argv[n++] = tail[i];
        argv[n] = NULL;

        pid_t pid = spawn_exec(argv, &(struct spawn) {});
        ck_assert_int_gt(pid, 0);
        free(asan);
        free(preload);
        free(probe);
        return pid;
}

START_TEST(activation_served) {
        setup();
        int w = watch_dir(F.dir);
        pid_t pid = spawn_socket_activate((const char *[]) { "--seqpacket", "-l", F.listen_path, NULL });

        /* The first connection makes systemd-socket-activate exec the daemon
         * in its own process, with the socket as fd 3. */
        int c = connect_retry(F.listen_path, SOCK_SEQPACKET);
        ck_assert_int_eq(request(c, FDBR_OP_PING, 0, NULL, NULL), 0);
        assert_served(c);

        /* It serves exactly the socket it was given, and made none. */
        unsigned long ino = unix_inode(F.listen_path);
        ck_assert_uint_ne(ino, 0);
        assert_fd_is_socket(pid, 3, ino);
        ck_assert_uint_eq(unix_inode(F.own_socket), 0);
        assert_log_has("socket passed by systemd", "inherited");

        /* A second client is served as well: nothing was one-shot. */
        int c2 = tu_connect(F.listen_path);
        ck_assert_int_ge(c2, 0);
        assert_served(c2);
        close(c2);
        close(c);

        stop(pid);
        /* The socket file is systemd's to remove (RemoveOnStop=), not the
         * daemon's; its own path never came to exist. */
        struct stat st;
        ck_assert_int_eq(lstat(F.listen_path, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_msg(!watch_saw(w, "own.sock"), "the daemon created %s", F.own_socket);
        ck_assert_int_eq(lstat(F.own_socket, &st), -1);
        close(w);

        /* LISTEN_* were there at exec and gone by exit (sd_listen_fds(1)). */
        FILE *f = fopen(F.probe, "re");
        ck_assert_ptr_nonnull(f);
        char line[512], want[128];
        bool started = false, exited = false;
        while (fgets(line, sizeof line, f)) {
                snprintf(want, sizeof want, "start pid=%d LISTEN_FDS=1 LISTEN_PID=%d ", (int) pid, (int) pid);
                if (strncmp(line, want, strlen(want)) == 0)
                        started = true;
                snprintf(want, sizeof want, "exit pid=%d LISTEN_FDS=- LISTEN_PID=- LISTEN_FDNAMES=-\n", (int) pid);
                if (strcmp(line, want) == 0)
                        exited = true;
        }
        fclose(f);
        char *probe = tu_daemon_log(&(struct tu_daemon) { .log = F.probe });
        ck_assert_msg(started, "the probe did not see LISTEN_FDS=1 LISTEN_PID=%d at start:\n%s", (int) pid, probe);
        ck_assert_msg(exited, "LISTEN_* still set when the daemon exited:\n%s", probe);
        free(probe);
        teardown();
}
END_TEST

START_TEST(activation_stream_refused) {
        setup();
        int w = watch_dir(F.dir);
        pid_t pid = spawn_socket_activate((const char *[]) { "-l", F.listen_path, NULL });
        int c = connect_retry(F.listen_path, SOCK_STREAM);
        assert_exit(pid, 1);
        /* What it got, and what it needs. */
        assert_log_has("SOCK_STREAM", "listening AF_UNIX SOCK_SEQPACKET socket is needed");
        ck_assert_msg(!watch_saw(w, "own.sock"), "the daemon created a socket of its own");
        close(c);
        close(w);
        teardown();
}
END_TEST

START_TEST(activation_two_refused) {
        setup();
        char *second = tu_strdupf("%s/second.sock", F.dir);
        pid_t pid = spawn_socket_activate(
                (const char *[]) { "--seqpacket", "-l", F.listen_path, "-l", second, NULL });
        int c = connect_retry(F.listen_path, SOCK_SEQPACKET);
        assert_exit(pid, 1);
        assert_log_has("2 sockets passed", "exactly one listening AF_UNIX SOCK_SEQPACKET socket is needed");
        struct stat st;
        ck_assert_int_eq(lstat(F.own_socket, &st), -1);
        close(c);
        free(second);
        teardown();
}
END_TEST

/* What an unprivileged client gets from connect(). */
static int connect_errno(void *arg) {
        int fd = tu_connect(arg);
        TU_REQUIRE(fd == -EACCES, "connect as nobody: %s, expected EACCES", fd >= 0 ? "connected" : strerror(-fd));
        return 0;
}

/* A passed socket that other users cannot connect to is served as it is,
 * and the log says so at start, with the path, mode, owner and the fix:
 * otherwise every non-root client fails with EACCES and nothing of the
 * broker's says why. */
START_TEST(activation_unreachable_socket_warned) {
        setup();
        /* systemd-socket-activate makes its socket 0644, whatever the umask. */
        pid_t pid = spawn_socket_activate((const char *[]) { "--seqpacket", "-l", F.listen_path, NULL });
        int c = connect_retry(F.listen_path, SOCK_SEQPACKET);
        ck_assert_int_eq(request(c, FDBR_OP_PING, 0, NULL, NULL), 0);
        struct stat st;
        ck_assert_int_eq(stat(F.listen_path, &st), 0);
        ck_assert_msg(!(st.st_mode & S_IWOTH), "systemd-socket-activate made its socket %04o", st.st_mode & 07777);
        tu_run_as(65534, 65534, connect_errno, F.listen_path);
        assert_log_has(F.listen_path, "mode 0644", "owner root(0):", "other users cannot connect",
                       "SocketMode=0666", "chmod 0666");
        close(c);
        stop(pid);

        /* SocketMode=0666 in a directory every user may search: not a word. */
        log_reset();
        char *open_path = tu_strdupf("%s/open.sock", F.dir);
        int lfd = make_listener(open_path, SOCK_SEQPACKET);
        pid = start_activated(lfd, &(struct spawn) {}, NULL, NULL);
        ck_assert_msg(!tu_log_has(&LD, "passed socket", NULL), "warned about a reachable socket:\n%s",
                      tu_daemon_log(&LD));
        stop(pid);
        close(lfd);

        /* DirectoryMode=0700: the socket is 0666, its directory is not
         * searchable by others. */
        log_reset();
        char *closed_dir = tu_strdupf("%s/closed", F.dir);
        char *closed_path = tu_strdupf("%s/fdbroker.sock", closed_dir);
        ck_assert_int_eq(mkdir(closed_dir, 0700), 0);
        lfd = make_listener(closed_path, SOCK_SEQPACKET);
        pid = start_activated(lfd, &(struct spawn) {}, NULL, NULL);
        tu_run_as(65534, 65534, connect_errno, closed_path);
        assert_log_has(closed_dir, "directory of the passed socket has mode 0700", "DirectoryMode=0755");
        ck_assert(!tu_log_has(&LD, "fdbroker.sock: passed socket", NULL));
        stop(pid);
        close(lfd);
        free(open_path);
        free(closed_dir);
        free(closed_path);
        teardown();
}
END_TEST

/* ---- socket activation by our own supervisor ------------------------------ */

/* Anything but one listening AF_UNIX SOCK_SEQPACKET socket is refused at
 * start, with what was received and what is needed. */
START_TEST(inherited_non_sockets_refused) {
        setup();
        int p[2], sp[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        int file = open(F.data, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file, 0);
        char *dgram_path = tu_strdupf("%s/dgram.sock", F.dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, dgram_path);
        int dgram = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_eq(bind(dgram, (struct sockaddr *) &sa, sizeof sa), 0);
        int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        bool have_tcp = tcp >= 0 && bind(tcp, (struct sockaddr *) &in, sizeof in) == 0 && listen(tcp, 1) == 0;

        const struct {
                int fd;
                const char *said;
        } cases[] = {
                { p[0], "not a socket" },
                { file, "not a socket" },
                { sp[0], "not listening" },
                { dgram, "SOCK_DGRAM" },
                { tcp, "AF_INET SOCK_STREAM" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (cases[i].fd == tcp && !have_tcp)
                        continue;
                log_reset();
                pid_t pid = spawn_daemon(&(struct spawn) { .fds = &cases[i].fd, .n_fds = 1, .listen_env = true },
                                         NULL);
                assert_exit(pid, 1);
                assert_log_has("fd 3: ", cases[i].said, "a listening AF_UNIX SOCK_SEQPACKET socket is needed");
                struct stat st;
                ck_assert_int_eq(lstat(F.own_socket, &st), -1);
        }
        close(p[0]);
        close(p[1]);
        close(sp[0]);
        close(sp[1]);
        close(file);
        close(dgram);
        if (tcp >= 0)
                close(tcp);
        free(dgram_path);
        teardown();
}
END_TEST

/* ---- restart with clients queued ------------------------------------------ */

#define N_QUEUED 16

/* N_QUEUED clients connect, each sending one OPEN (ids from base on),
 * while no instance accepts. */
static void queue_clients(int c[N_QUEUED], uint32_t base) {
        for (int i = 0; i < N_QUEUED; i++) {
                c[i] = tu_connect(F.listen_path);
                ck_assert_int_ge(c[i], 0);
                ck_assert_int_eq(tu_send(c[i], FDBR_OP_OPEN, base + (uint32_t) i, FDBR_F_READ, 0, F.data), 0);
        }
}

/* Every one of them gets its file, and is closed. */
static void expect_queued_served(int c[N_QUEUED], uint32_t base) {
        for (int i = 0; i < N_QUEUED; i++) {
                struct wire_reply r;
                int fd = -1;
                int k = tu_recv(c[i], &r, &fd, REPLY_TIMEOUT_MS);
                ck_assert_msg(k == 0, "queued client %d: %s", i, strerror(-k));
                ck_assert_uint_eq(r.id, base + (uint32_t) i);
                ck_assert_uint_eq(r.status, 0);
                ck_assert_int_ge(fd, 0);
                assert_fd_reads(fd, DATA);
                close(fd);
                close(c[i]);
        }
}

START_TEST(restart_serves_queued_clients) {
        setup();
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        pid_t first = start_activated(lfd, &(struct spawn) {}, NULL, NULL);

        /* A client the first instance accepted. */
        int early = tu_connect(F.listen_path);
        ck_assert_int_ge(early, 0);
        ck_assert_int_eq(request(early, FDBR_OP_PING, 0, NULL, NULL), 0);

        /* Stopped, it accepts nothing: these wait in the socket's backlog,
         * each with its request already sent. */
        ck_assert_int_eq(kill(first, SIGSTOP), 0);
        wait_stopped(first);
        int c[N_QUEUED];
        queue_clients(c, 100);
        ck_assert_int_eq(kill(first, SIGKILL), 0);
        int status = tu_wait(first, START_TIMEOUT_MS);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* The dead instance's own connection is gone with it. */
        ck_assert(tu_closed(early, 5000));
        close(early);

        /* The next instance, on the very same socket, answers every one. */
        pid_t second = start_activated(lfd, &(struct spawn) {}, NULL, NULL);
        expect_queued_served(c, 100);
        stop(second);
        close(lfd);
        teardown();
}
END_TEST

/* systemctl restart sends SIGTERM, not SIGKILL.  Whatever the stopping
 * instance accepted in its last turn of the loop it answers before it
 * exits; whatever it did not accept waits for the next instance.  Either
 * way no queued client is lost. */
START_TEST(restart_sigterm_serves_queued_clients) {
        setup();
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        pid_t first = start_activated(lfd, &(struct spawn) {}, NULL, NULL);

        ck_assert_int_eq(kill(first, SIGSTOP), 0);
        wait_stopped(first);
        int c[N_QUEUED];
        queue_clients(c, 200);
        /* Both at once: the listener and the signal are ready in the same
         * turn of the loop when it wakes. */
        ck_assert_int_eq(kill(first, SIGTERM), 0);
        ck_assert_int_eq(kill(first, SIGCONT), 0);
        int status = tu_wait(first, START_TIMEOUT_MS);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        pid_t second = start_activated(lfd, &(struct spawn) {}, NULL, NULL);
        expect_queued_served(c, 200);
        stop(second);
        close(lfd);
        teardown();
}
END_TEST

/* ---- the notify protocol ---------------------------------------------------- */

START_TEST(notify_ready_status_stopping) {
        setup();
        struct note ready, n;
        char status[256];
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        pid_t pid = start_activated(lfd, &(struct spawn) {}, NULL, &ready);

        /* READY=1 comes with the summary, in the same message. */
        ck_assert_msg(note_get(&ready, "STATUS", status, sizeof status), "READY=1 without STATUS=: %s", ready.text);
        ck_assert_msg(strstr(status, "0 clients") && strstr(status, "policy generation 1"), "STATUS=%s", status);
        /* It is ready when it says so. */
        int c = tu_connect(F.listen_path);
        ck_assert_int_ge(c, 0);
        ck_assert_int_eq(request(c, FDBR_OP_PING, 0, NULL, NULL), 0);
        close(c);

        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        note_expect("STOPPING", "1", START_TIMEOUT_MS, &n);
        assert_exit(pid, 0);
        close(lfd);
        teardown();
}
END_TEST

START_TEST(notify_status_follows_requests) {
        setup();
        struct note ready, n;
        char before[256], after[256];
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        pid_t pid = start_activated(lfd, &(struct spawn) {}, NULL, &ready);
        ck_assert_ptr_nonnull(note_get(&ready, "STATUS", before, sizeof before));

        int c = tu_connect(F.listen_path);
        ck_assert_int_ge(c, 0);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(request(c, FDBR_OP_PING, 0, NULL, NULL), 0);
        char *secret = tu_strdupf("%s/not-granted", F.dir);
        ck_assert_int_eq(request(c, FDBR_OP_OPEN, FDBR_F_READ, secret, NULL), EACCES);
        close(c);
        long long t0 = now_ms();

        /* The status line is refreshed every 5 s while it changes. */
        bool changed = false;
        while (!changed && now_ms() - t0 < 12000) {
                if (!note_recv(&n, 500))
                        continue;
                changed = note_get(&n, "STATUS", after, sizeof after) && strcmp(after, before) != 0;
        }
        ck_assert_msg(changed, "no new STATUS= within 12 s; still: %s", before);
        long long took = now_ms() - t0;
        ck_assert_msg(took < 8000, "STATUS= changed only after %lld ms", took);
        ck_assert_msg(strstr(after, "1 denied"), "STATUS=%s (after one denial)", after);
        ck_assert_msg(!strstr(after, " 0 requests"), "STATUS=%s (after four requests)", after);
        free(secret);
        stop(pid);
        close(lfd);
        teardown();
}
END_TEST

static unsigned long long monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long) ts.tv_sec * 1000000ULL + (unsigned long long) ts.tv_nsec / 1000;
}

START_TEST(notify_reload) {
        setup();
        struct note n;
        char buf[256];
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        pid_t pid = start_activated(lfd, &(struct spawn) {}, NULL, NULL);

        /* RELOADING=1 carries the time it began, as systemd wants it. */
        unsigned long long t0 = monotonic_usec();
        ck_assert_int_eq(kill(pid, SIGHUP), 0);
        note_expect("RELOADING", "1", START_TIMEOUT_MS, &n);
        unsigned long long t1 = monotonic_usec();
        ck_assert_msg(note_get(&n, "MONOTONIC_USEC", buf, sizeof buf), "RELOADING=1 without MONOTONIC_USEC=");
        unsigned long long at = strtoull(buf, NULL, 10);
        ck_assert_msg(at >= t0 && at <= t1, "MONOTONIC_USEC=%llu, not within [%llu, %llu]", at, t0, t1);
        note_expect("READY", "1", START_TIMEOUT_MS, &n);
        ck_assert_msg(note_get(&n, "STATUS", buf, sizeof buf) && strstr(buf, "policy generation 2"),
                      "after a reload: %s", n.text);

        /* An invalid policy is refused: READY=1 again, the old one serves. */
        tu_write_file(F.policy, "this is not a rule\n", 0644, 0, 0);
        ck_assert_int_eq(kill(pid, SIGHUP), 0);
        note_expect("RELOADING", "1", START_TIMEOUT_MS, &n);
        note_expect("READY", "1", START_TIMEOUT_MS, &n);
        ck_assert_msg(note_get(&n, "STATUS", buf, sizeof buf) && strstr(buf, "policy generation 2"),
                      "after a refused reload: %s", n.text);
        assert_log_has("reload refused");
        int c = tu_connect(F.listen_path);
        ck_assert_int_ge(c, 0);
        assert_served(c);
        close(c);
        stop(pid);
        close(lfd);
        teardown();
}
END_TEST

/* Collects count WATCHDOG=1 arrival times (ms) within timeout_ms. */
static void collect_pings(long long *at, int count, int timeout_ms) {
        struct note n;
        long long end = now_ms() + timeout_ms;
        for (int got = 0; got < count;) {
                long long left = end - now_ms();
                ck_assert_msg(left > 0 && note_recv(&n, (int) left), "only %d WATCHDOG=1 in %d ms", got, timeout_ms);
                if (note_is(&n, "WATCHDOG", "1"))
                        at[got++] = n.ts_ms;
        }
}

START_TEST(watchdog_pings) {
        setup();
        long long at[11];
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        /* 200 ms: a ping every 100 ms, half the interval. */
        pid_t pid = start_activated(lfd, &(struct spawn) { .watchdog_usec = "200000" }, NULL, NULL);

        collect_pings(at, (int) ELEMENTSOF(at), 10000);
        long long min = at[1] - at[0];
        for (size_t i = 1; i < ELEMENTSOF(at); i++)
                if (at[i] - at[i - 1] < min)
                        min = at[i] - at[i - 1];
        double mean = (double) (at[ELEMENTSOF(at) - 1] - at[0]) / (double) (ELEMENTSOF(at) - 1);
        printf("watchdog: mean interval %.1f ms, shortest %lld ms (WATCHDOG_USEC=200000)\n", mean, min);
        ck_assert_msg(mean >= 70 && mean <= 250, "mean interval %.1f ms, expected about 100", mean);
        ck_assert_msg(min >= 40, "two pings %lld ms apart: the timer does not pace them", min);
        stop(pid);
        close(lfd);
        teardown();
}
END_TEST

START_TEST(watchdog_only_when_asked) {
        setup();
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);

        /* No WATCHDOG_USEC: no pings. */
        pid_t pid = start_activated(lfd, &(struct spawn) {}, NULL, NULL);
        ck_assert_msg(!note_within("WATCHDOG", "1", 700), "WATCHDOG=1 without WATCHDOG_USEC");
        stop(pid);
        note_drain();

        /* WATCHDOG_PID names another process: the watchdog is not ours. */
        pid = start_activated(lfd, &(struct spawn) { .watchdog_usec = "200000", .watchdog_pid = 1 }, NULL, NULL);
        ck_assert_msg(!note_within("WATCHDOG", "1", 700), "WATCHDOG=1 although WATCHDOG_PID=1");
        stop(pid);
        note_drain();

        /* WATCHDOG_PID unset counts as ours. */
        pid = start_activated(lfd, &(struct spawn) { .watchdog_usec = "200000", .watchdog_pid = -1 }, NULL, NULL);
        ck_assert_msg(note_within("WATCHDOG", "1", 2000), "no WATCHDOG=1 with WATCHDOG_USEC and no WATCHDOG_PID");
        stop(pid);
        close(lfd);
        teardown();
}
END_TEST

/* A loop that does not run must not ping: first the whole process stopped,
 * then only its main thread, held by ptrace, while any other thread runs on
 * (a watchdog driven by a thread of its own would go on pinging). */
START_TEST(watchdog_stops_with_the_loop) {
        setup();
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        pid_t pid = start_activated(lfd, &(struct spawn) { .watchdog_usec = "200000" }, NULL, NULL);
        ck_assert(note_within("WATCHDOG", "1", 2000));

        ck_assert_int_eq(kill(pid, SIGSTOP), 0);
        wait_stopped(pid);
        note_drain();
        ck_assert_msg(!note_within("WATCHDOG", "1", 500), "WATCHDOG=1 from a stopped daemon");
        ck_assert_int_eq(kill(pid, SIGCONT), 0);
        ck_assert_msg(note_within("WATCHDOG", "1", 2000), "no WATCHDOG=1 after SIGCONT");

        /* Only the thread that runs the loop (the main thread) stops. */
        ck_assert_msg(ptrace(PTRACE_SEIZE, pid, NULL, NULL) == 0, "PTRACE_SEIZE: %s", strerror(errno));
        ck_assert_int_eq(ptrace(PTRACE_INTERRUPT, pid, NULL, NULL), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, __WALL), pid);
        ck_assert(WIFSTOPPED(status));
        note_drain();
        bool pinged = note_within("WATCHDOG", "1", 500);
        ck_assert_int_eq(ptrace(PTRACE_DETACH, pid, NULL, NULL), 0);
        ck_assert_msg(!pinged, "WATCHDOG=1 while the event loop was held");
        ck_assert_msg(note_within("WATCHDOG", "1", 2000), "no WATCHDOG=1 once the loop runs again");

        int c = tu_connect(F.listen_path);
        ck_assert_int_ge(c, 0);
        assert_served(c);
        close(c);
        stop(pid);
        close(lfd);
        teardown();
}
END_TEST

/* ---- exit on idle, under a supervisor that starts on demand ----------------- */

/* Plays systemd for a socket unit: holds the listening socket and, while no
 * daemon runs, starts one as soon as a connection waits on it.  Reports
 * "start PID" and "exit PID STATUS" lines on a pipe. */
struct supervisor {
        pid_t pid;
        int ctl;         /* closing it stops the supervisor */
        int events;
        char buf[4096];
        size_t len;
};

static void report(int fd, const char *what, pid_t pid, int status) {
        char line[64];
        int n = snprintf(line, sizeof line, "%s %d %d\n", what, (int) pid, status);
        (void) !write(fd, line, (size_t) n);
}

__attribute__((noreturn)) static void supervise(int lfd, int ctl, int events, const char *const *args) {
        const char *argv[32] = { FDBRD_PATH, "--socket", F.own_socket, "--policy", F.policy };
        size_t n = 5;
        pid_t daemon = -1;
        int status;

        for (; args && *args && n < ELEMENTSOF(argv) - 1; args++)
                argv[n++] = *args;
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = ctl, .events = POLLIN },
                        { .fd = lfd, .events = daemon < 0 ? POLLIN : 0 },
                };
                (void) poll(p, 2, 10);
                if (p[0].revents)
                        break;
                if (daemon > 0 && waitpid(daemon, &status, WNOHANG) == daemon) {
                        report(events, "exit", daemon, status);
                        daemon = -1;
                        continue; /* look at the socket again before starting */
                }
                if (daemon < 0 && (p[1].revents & POLLIN)) {
                        daemon = spawn_exec(argv, &(struct spawn) { .fds = &lfd, .n_fds = 1, .listen_env = true });
                        if (daemon < 0)
                                _exit(2);
                        report(events, "start", daemon, 0);
                }
        }
        if (daemon > 0) {
                kill(daemon, SIGTERM);
                (void) waitpid(daemon, &status, 0);
                report(events, "exit", daemon, status);
        }
        _exit(0);
}

static void supervisor_start(struct supervisor *s, int lfd, const char *const *args) {
        int ctl[2], ev[2];
        ck_assert_int_eq(pipe2(ctl, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ev, O_CLOEXEC), 0);
        *s = (struct supervisor) { .ctl = ctl[1], .events = ev[0] };
        s->pid = fork();
        ck_assert_int_ge(s->pid, 0);
        if (s->pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(ctl[1]);
                close(ev[0]);
                supervise(lfd, ctl[0], ev[1], args);
        }
        close(ctl[0]);
        close(ev[1]);
}

/* Next event within timeout_ms: false on timeout. */
static bool supervisor_event(struct supervisor *s, char *what, pid_t *pid, int *status, int timeout_ms) {
        long long end = now_ms() + timeout_ms;
        for (;;) {
                char *nl = memchr(s->buf, '\n', s->len);
                if (nl) {
                        int p = 0;
                        *nl = 0;
                        ck_assert_int_eq(sscanf(s->buf, "%15s %d %d", what, &p, status), 3);
                        *pid = p;
                        size_t used = (size_t) (nl + 1 - s->buf);
                        memmove(s->buf, nl + 1, s->len - used);
                        s->len -= used;
                        return true;
                }
                struct pollfd p = { .fd = s->events, .events = POLLIN };
                long long left = end - now_ms();
                if (left < 0 || poll(&p, 1, (int) left) <= 0)
                        return false;
                ssize_t k = read(s->events, s->buf + s->len, sizeof s->buf - s->len);
                if (k <= 0)
                        return false;
                s->len += (size_t) k;
        }
}

START_TEST(exit_on_idle) {
        setup();
        struct supervisor s;
        char what[16];
        pid_t p;
        int status, starts = 0, exits = 0;
        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        supervisor_start(&s, lfd, (const char *[]) { "--exit-idle", "1", NULL });

        /* Nothing runs until someone connects. */
        ck_assert(!supervisor_event(&s, what, &p, &status, 300));
        int c = tu_connect(F.listen_path);
        ck_assert_int_ge(c, 0);
        assert_served(c);
        ck_assert(supervisor_event(&s, what, &p, &status, 1000));
        ck_assert_str_eq(what, "start");
        pid_t first = p;
        starts++;

        /* A connected client keeps it, however quiet. */
        ck_assert_msg(!supervisor_event(&s, what, &p, &status, 1800), "%s %d with a client connected", what, (int) p);
        close(c);
        long long t0 = now_ms();
        ck_assert_msg(supervisor_event(&s, what, &p, &status, 10000), "no exit after 10 s without clients");
        long long idle = now_ms() - t0;
        ck_assert_str_eq(what, "exit");
        ck_assert_int_eq(p, first);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit on idle: wait status 0x%x", status);
        ck_assert_msg(idle >= 900, "exited %lld ms after the last client left, --exit-idle 1", idle);
        exits++;
        assert_log_has("no clients for 1 s, exiting");

        /* Clients at intervals around the idle time, so that some arrive
         * while an instance is deciding to exit, or exiting: none may be
         * lost, and every exit is a clean one. */
        static const int gap_ms[] = { 1000, 950, 1050, 900, 1100, 980, 1020, 700, 1300, 1000, 990, 1010, 1000, 960, 1040, 1000 };
        for (size_t i = 0; i < ELEMENTSOF(gap_ms); i++) {
                sleep_ms(gap_ms[i]);
                c = tu_connect(F.listen_path);
                ck_assert_msg(c >= 0, "client %zu: connect: %s", i, strerror(-c));
                assert_served(c);
                close(c);
                while (supervisor_event(&s, what, &p, &status, 0)) {
                        if (strcmp(what, "start") == 0) {
                                ck_assert_int_ne(p, first);
                                starts++;
                        } else {
                                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                                              "instance %d: wait status 0x%x", (int) p, status);
                                exits++;
                        }
                }
        }

        close(s.ctl);
        while (supervisor_event(&s, what, &p, &status, START_TIMEOUT_MS)) {
                if (strcmp(what, "start") == 0) {
                        starts++;
                        continue;
                }
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "instance %d: wait status 0x%x",
                              (int) p, status);
                exits++;
        }
        assert_exit(s.pid, 0);
        printf("exit on idle: %d instances served %zu clients\n", starts, ELEMENTSOF(gap_ms) + 1);
        ck_assert_int_eq(starts, exits);
        ck_assert_msg(starts >= 3, "only %d instances: the daemon did not exit while idle", starts);
        close(s.events);
        close(lfd);
        teardown();
}
END_TEST

/* ---- the daemon within its unit's limits ------------------------------------- */

/* The parts of fdbroker.service that decide what the daemon may do,
 * applied here the way systemd applies them: the capability bounding set
 * (after execve root keeps only those), no new privileges, and the system
 * call filter with its error number, built from systemd's own group lists.
 * Mount namespacing and the rest need PID 1 and are not reproduced. */
struct limits {
        uint64_t keep;         /* capability bounding set */
        char **allow;          /* allowed system calls */
        size_t n_allow;
        int errno_action;
        bool af_unix_only;
        unsigned long nofile;  /* LimitNOFILE=, or what this process may set */
};

static const struct {
        const char *name;
        int cap;
} cap_names[] = {
        { "CAP_CHOWN", CAP_CHOWN }, { "CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE },
        { "CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH }, { "CAP_FOWNER", CAP_FOWNER },
        { "CAP_FSETID", CAP_FSETID }, { "CAP_KILL", CAP_KILL }, { "CAP_SETGID", CAP_SETGID },
        { "CAP_SETUID", CAP_SETUID }, { "CAP_SETPCAP", CAP_SETPCAP }, { "CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE },
        { "CAP_NET_ADMIN", CAP_NET_ADMIN }, { "CAP_NET_RAW", CAP_NET_RAW }, { "CAP_IPC_LOCK", CAP_IPC_LOCK },
        { "CAP_IPC_OWNER", CAP_IPC_OWNER }, { "CAP_SYS_CHROOT", CAP_SYS_CHROOT }, { "CAP_SYS_PTRACE", CAP_SYS_PTRACE },
        { "CAP_SYS_ADMIN", CAP_SYS_ADMIN }, { "CAP_SYS_RESOURCE", CAP_SYS_RESOURCE }, { "CAP_MKNOD", CAP_MKNOD },
        { "CAP_AUDIT_WRITE", CAP_AUDIT_WRITE }, { "CAP_SETFCAP", CAP_SETFCAP },
};

/* One group of `systemd-analyze syscall-filter`: name, then members (system
 * calls or other groups). */
struct group {
        char *name;
        char **members;
        size_t n;
};

struct groups {
        struct group *v;
        size_t n;
};

static void strv_add(char ***v, size_t *n, const char *s) {
        for (size_t i = 0; i < *n; i++)
                if (strcmp((*v)[i], s) == 0)
                        return;
        *v = reallocarray(*v, *n + 1, sizeof **v);
        ck_assert_ptr_nonnull(*v);
        (*v)[(*n)++] = strdup(s);
}

static void strv_remove(char **v, size_t *n, const char *s) {
        for (size_t i = 0; i < *n; i++)
                if (strcmp(v[i], s) == 0) {
                        free(v[i]);
                        v[i] = v[--*n];
                        return;
                }
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static void groups_load(struct groups *g) {
        FILE *f = popen("systemd-analyze syscall-filter --no-pager 2>/dev/null", "re");
        char line[256];
        struct group *cur = NULL;

        ck_assert_ptr_nonnull(f);
        *g = (struct groups) {};
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                if (line[0] == '@') {
                        g->v = reallocarray(g->v, g->n + 1, sizeof *g->v);
                        ck_assert_ptr_nonnull(g->v);
                        cur = &g->v[g->n++];
                        *cur = (struct group) { .name = strdup(line) };
                } else if (line[0] == ' ' && cur) {
                        char *s = line + strspn(line, " ");
                        if (*s && *s != '#')
                                strv_add(&cur->members, &cur->n, s);
                } else if (line[0])
                        cur = NULL; /* the commented lists at the end */
        }
        ck_assert_int_eq(pclose(f), 0);
        ck_assert_msg(g->n > 10, "systemd-analyze syscall-filter listed %zu groups", g->n);
}

static void groups_free(struct groups *g) {
        for (size_t i = 0; i < g->n; i++) {
                free(g->v[i].name);
                strv_free(g->v[i].members, g->v[i].n);
        }
        free(g->v);
}

/* Adds or removes name (a system call or a group, recursively). */
static void filter_apply(const struct groups *g, struct limits *l, const char *name, bool add, int depth) {
        ck_assert_int_lt(depth, 16);
        if (name[0] != '@') {
                if (add)
                        strv_add(&l->allow, &l->n_allow, name);
                else
                        strv_remove(l->allow, &l->n_allow, name);
                return;
        }
        for (size_t i = 0; i < g->n; i++)
                if (strcmp(g->v[i].name, name) == 0) {
                        for (size_t k = 0; k < g->v[i].n; k++)
                                filter_apply(g, l, g->v[i].members[k], add, depth + 1);
                        return;
                }
        ck_abort_msg("unknown system call group %s", name);
}

static bool strv_has(char **v, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

static void limits_load(struct limits *l) {
        FILE *f = fopen(FDBR_SERVICE_UNIT, "re");
        char line[1024];
        struct groups g;
        bool seen_filter = false, nnp = false;

        ck_assert_msg(f, "%s: %s", FDBR_SERVICE_UNIT, strerror(errno));
        groups_load(&g);
        *l = (struct limits) { .errno_action = -1 };
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                char *v = strchr(line, '=');
                if (line[0] == '#' || !v)
                        continue;
                *v++ = 0;
                if (strcmp(line, "CapabilityBoundingSet") == 0) {
                        for (char *save = NULL, *w = strtok_r(v, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                                size_t i = 0;
                                while (i < ELEMENTSOF(cap_names) && strcmp(cap_names[i].name, w) != 0)
                                        i++;
                                ck_assert_msg(i < ELEMENTSOF(cap_names), "unknown capability %s", w);
                                l->keep |= 1ULL << cap_names[i].cap;
                        }
                } else if (strcmp(line, "SystemCallFilter") == 0) {
                        bool invert = v[0] == '~';
                        /* The first assignment decides: an allow list. */
                        ck_assert_msg(seen_filter || !invert, "the unit's system call filter is a deny list");
                        seen_filter = true;
                        for (char *save = NULL, *w = strtok_r(v + invert, " ", &save); w;
                             w = strtok_r(NULL, " ", &save))
                                filter_apply(&g, l, w, !invert, 0);
                } else if (strcmp(line, "SystemCallErrorNumber") == 0) {
                        ck_assert_str_eq(v, "EPERM");
                        l->errno_action = EPERM;
                } else if (strcmp(line, "RestrictAddressFamilies") == 0) {
                        ck_assert_str_eq(v, "AF_UNIX");
                        l->af_unix_only = true;
                } else if (strcmp(line, "NoNewPrivileges") == 0)
                        nnp = strcmp(v, "yes") == 0;
                else if (strcmp(line, "LimitNOFILE") == 0)
                        l->nofile = strtoul(v, NULL, 10);
        }
        fclose(f);
        groups_free(&g);
        ck_assert_msg(l->keep != 0 && seen_filter && nnp && l->errno_action > 0 && l->nofile > 0,
                      "%s lacks part of its limits", FDBR_SERVICE_UNIT);
        /* Without CAP_SYS_RESOURCE (in a container) the hard limit cannot
         * be raised here; what matters is that the daemon raises its soft
         * limit to the hard one through the filter. */
        struct rlimit rl;
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_max < l->nofile)
                l->nofile = rl.rlim_max;
        ck_assert_uint_gt(l->nofile, 1024);
        /* The broker refuses to run without openat2, and gives new files
         * away with fchown. */
        ck_assert(strv_has(l->allow, l->n_allow, "openat2"));
        ck_assert(strv_has(l->allow, l->n_allow, "fchown"));
        ck_assert(!strv_has(l->allow, l->n_allow, "setuid"));
}

/* libseccomp, as systemd uses it; loaded at run time, so that building the
 * tests needs no more than the library systemd itself depends on. */
struct scmp_arg_cmp {
        unsigned int arg;
        int op;
        uint64_t datum_a, datum_b;
};
#define SCMP_ACT_ALLOW 0x7fff0000U
#define SCMP_ACT_ERRNO(x) (0x00050000U | ((uint32_t) (x) & 0x0000ffffU))
#define SCMP_CMP_EQ 4

static void apply_limits(void *arg) {
        const struct limits *l = arg;
        void *(*init)(uint32_t);
        int (*resolve)(const char *);
        int (*rule_add)(void *, uint32_t, int, unsigned int, ...);
        int (*load)(void *);

        /* Started as systemd would before raising it: soft below hard. */
        if (setrlimit(RLIMIT_NOFILE, &(struct rlimit) { .rlim_cur = 1024, .rlim_max = l->nofile }) < 0)
                _exit(130);
        /* CAP_SETPCAP last: dropping needs it. */
        for (int cap = 63; cap >= 0; cap--) {
                int c = cap == 0 ? CAP_SETPCAP : cap == CAP_SETPCAP ? 0 : cap;
                if (!(l->keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        _exit(131);
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(132);

        void *lib = dlopen("libseccomp.so.2", RTLD_NOW);
        if (!lib)
                _exit(133);
        *(void **) &init = dlsym(lib, "seccomp_init");
        *(void **) &resolve = dlsym(lib, "seccomp_syscall_resolve_name");
        *(void **) &rule_add = dlsym(lib, "seccomp_rule_add");
        *(void **) &load = dlsym(lib, "seccomp_load");
        if (!init || !resolve || !rule_add || !load)
                _exit(134);
        void *ctx = init(SCMP_ACT_ERRNO(l->errno_action));
        if (!ctx)
                _exit(135);
        for (size_t i = 0; i < l->n_allow; i++) {
                int nr = resolve(l->allow[i]);
                if (nr < 0)
                        continue; /* not a system call of this architecture */
                if (l->af_unix_only && strcmp(l->allow[i], "socket") == 0)
                        (void) rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                                        (struct scmp_arg_cmp) { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX });
                else
                        (void) rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        }
        if (load(ctx) < 0)
                _exit(136);
}

static void limits_free(struct limits *l) {
        strv_free(l->allow, l->n_allow);
        *l = (struct limits) {};
}

/* What a client needs from a root broker: the files belong to another
 * user, so only the kept capabilities get the broker through. */
struct client_case {
        const char *dir;
        bool expect_create;
};

static int client_uses_broker(void *arg) {
        const struct client_case *cc = arg;
        char path[512];
        struct stat st;
        int fd = -1;

        int c = tu_connect(F.listen_path);
        TU_REQUIRE(c >= 0);

        snprintf(path, sizeof path, "%s/secret", cc->dir);
        TU_REQUIRE(open(path, O_RDONLY) < 0, "nobody can read %s by itself", path);
        int r = request(c, FDBR_OP_OPEN, FDBR_F_READ, path, &fd);
        TU_REQUIRE(r == 0, "read %s: %s", path, strerror(r > 0 ? r : -r));
        char buf[64] = "";
        TU_REQUIRE(pread(fd, buf, sizeof buf - 1, 0) > 0 && strcmp(buf, "secret\n") == 0);
        close(fd);

        snprintf(path, sizeof path, "%s/log", cc->dir);
        r = request(c, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_TRUNC, path, &fd);
        TU_REQUIRE(r == 0, "write %s: %s", path, strerror(r > 0 ? r : -r));
        TU_REQUIRE(write(fd, "x", 1) == 1);
        close(fd);

        r = request(c, FDBR_OP_OPEN, FDBR_F_DIRECTORY, cc->dir, &fd);
        TU_REQUIRE(r == 0, "directory %s: %s", cc->dir, strerror(r > 0 ? r : -r));
        close(fd);

        snprintf(path, sizeof path, "%s/new", cc->dir);
        uint32_t id = 77;
        struct wire_reply rep;
        TU_REQUIRE(tu_send(c, FDBR_OP_OPEN, id, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0640, path) == 0);
        TU_REQUIRE(tu_recv(c, &rep, &fd, REPLY_TIMEOUT_MS) == 0);
        if (cc->expect_create) {
                TU_REQUIRE(rep.status == 0, "create %s: %s", path, strerror((int) rep.status));
                TU_REQUIRE(fstat(fd, &st) == 0);
                TU_REQUIRE(st.st_uid == TU_NOBODY && st.st_gid == TU_NOBODY && (st.st_mode & 07777) == 0640,
                           "created %u:%u %o", (unsigned) st.st_uid, (unsigned) st.st_gid, st.st_mode & 07777);
                close(fd);
        } else
                TU_REQUIRE(rep.status == EPERM, "create without CAP_CHOWN: status %u", rep.status);
        close(c);
        return 0;
}

/* A daemon under the limits; returns once it is ready. */
static pid_t start_limited(int lfd, struct limits *l) {
        char *asan = tu_strdupf("ASAN_OPTIONS=%s%sdetect_leaks=0", getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
                                getenv("ASAN_OPTIONS") ? ":" : "");
        /* LeakSanitizer stops the process with ptrace at exit, which the
         * unit's filter (rightly) refuses; every other test checks leaks. */
        const char *env[] = { asan, NULL };
        pid_t pid = start_activated(lfd, &(struct spawn) { .env = env, .pre_exec = apply_limits, .pre_exec_arg = l },
                                    NULL, NULL);
        free(asan);
        return pid;
}

static uint64_t proc_status_hex(pid_t pid, const char *key) {
        char path[64], line[256];
        uint64_t v = UINT64_MAX;
        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        size_t klen = strlen(key);
        while (fgets(line, sizeof line, f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':')
                        v = strtoull(line + klen + 1, NULL, strcmp(key, "NoNewPrivs") == 0 || strcmp(key, "Seccomp") == 0 ? 10 : 16);
        fclose(f);
        ck_assert_msg(v != UINT64_MAX, "no %s in %s", key, path);
        return v;
}

static unsigned long long soft_nofile(pid_t pid) {
        struct rlimit rl;
        ck_assert_int_eq(prlimit(pid, RLIMIT_NOFILE, NULL, &rl), 0);
        return (unsigned long long) rl.rlim_cur;
}

START_TEST(unit_limits_suffice) {
        setup();
        struct limits l;
        struct stat st;
        limits_load(&l);

        /* Another user's private tree: neither nobody nor a root without
         * DAC capabilities gets in. */
        char *priv = tu_strdupf("%s/private", F.dir);
        tu_mkdir(priv, 0700, 4321, 4321);
        char *secret = tu_strdupf("%s/secret", priv), *logf = tu_strdupf("%s/log", priv);
        char *created = tu_strdupf("%s/new", priv);
        tu_write_file(secret, "secret\n", 0600, 4321, 4321);
        tu_write_file(logf, "old\n", 0600, 4321, 4321);
        char *text = tu_strdupf("uid=%d %s read,dir\nuid=%d %s/** read,write,create\n", TU_NOBODY, priv, TU_NOBODY, priv);
        tu_write_file(F.policy, text, 0644, 0, 0);
        free(text);

        int lfd = make_listener(F.listen_path, SOCK_SEQPACKET);
        pid_t pid = start_limited(lfd, &l);
        ck_assert_uint_eq(proc_status_hex(pid, "CapEff"), l.keep);
        ck_assert_uint_eq(proc_status_hex(pid, "CapBnd"), l.keep);
        ck_assert_uint_eq(proc_status_hex(pid, "NoNewPrivs"), 1);
        ck_assert_uint_eq(proc_status_hex(pid, "Seccomp"), 2);
        /* It raised its own descriptor limit through the filter. */
        ck_assert_uint_eq(soft_nofile(pid), l.nofile);

        tu_run_as(TU_NOBODY, TU_NOBODY, client_uses_broker, &(struct client_case) { priv, true });
        ck_assert_int_eq(stat(created, &st), 0);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);

        /* Reload and stop work as well under the filter. */
        ck_assert_int_eq(kill(pid, SIGHUP), 0);
        struct note n;
        note_expect("READY", "1", START_TIMEOUT_MS, &n);
        ck_assert_msg(note_get(&n, "STATUS", (char[256]) {}, 256), "%s", n.text);
        stop(pid);

        /* The limits are real: without CAP_CHOWN, no file is created (and
         * none is left behind owned by root). */
        ck_assert_int_eq(unlink(created), 0);
        l.keep &= ~(1ULL << CAP_CHOWN);
        pid = start_limited(lfd, &l);
        tu_run_as(TU_NOBODY, TU_NOBODY, client_uses_broker, &(struct client_case) { priv, false });
        ck_assert_int_eq(lstat(created, &st), -1);
        stop(pid);

        close(lfd);
        limits_free(&l);
        free(priv);
        free(secret);
        free(logf);
        free(created);
        teardown();
}
END_TEST

int main(void) {
        Suite *s = suite_create("systemd");

        TCase *tc = tcase_create("activation");
        tcase_add_test(tc, activation_served);
        tcase_add_test(tc, activation_stream_refused);
        tcase_add_test(tc, activation_two_refused);
        tcase_add_test(tc, activation_unreachable_socket_warned);
        tcase_add_test(tc, inherited_non_sockets_refused);
        tcase_add_test(tc, restart_serves_queued_clients);
        tcase_add_test(tc, restart_sigterm_serves_queued_clients);
        suite_add_tcase(s, tc);

        /* Waits of several seconds are the point of these two cases. */
        tc = tcase_create("notify");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, notify_ready_status_stopping);
        tcase_add_test(tc, notify_status_follows_requests);
        tcase_add_test(tc, notify_reload);
        tcase_add_test(tc, watchdog_pings);
        tcase_add_test(tc, watchdog_only_when_asked);
        tcase_add_test(tc, watchdog_stops_with_the_loop);
        suite_add_tcase(s, tc);

        tc = tcase_create("idle");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, exit_on_idle);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_add_test(tc, unit_limits_suffice);
        suite_add_tcase(s, tc);

        return tu_run_suite(s);
}
