/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "macro.h"
#include "testutil.h"

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bind_notify(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        return fd;
}

static pid_t spawn_opts(struct tu_daemon *d, const char *const *args, const struct tu_spawn_opts *o) {
        const char *argv[64];
        size_t n = 0;
        pid_t parent = getpid();

        argv[n++] = FDBRD_PATH;
        argv[n++] = "--socket";
        argv[n++] = d->socket;
        argv[n++] = "--policy";
        argv[n++] = d->policy;
        for (; args && *args && n < 62; args++)
                argv[n++] = *args;
        argv[n] = NULL;

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(122);
                int log = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (log < 0 || dup2(log, STDERR_FILENO) < 0)
                        _exit(120);
                /* Only its own descriptors: the tests count them, and one
                 * inherited above a low RLIMIT_NOFILE would skew the
                 * count against the limit. */
                if (close_range(3, ~0u, 0) < 0)
                        _exit(125);
                if (o && o->nofile) {
                        struct rlimit rl = { .rlim_cur = o->nofile, .rlim_max = o->nofile };
                        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                                _exit(123);
                }
                setenv("NOTIFY_SOCKET", d->notify, 1);
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                unsetenv("JOURNAL_STREAM");
                for (const char *const *e = o ? o->env : NULL; e && *e; e++)
                        if (putenv((char *) *e) < 0)
                                _exit(124);
                execv(argv[0], (char **) argv);
                _exit(121);
        }
        return pid;
}

pid_t tu_daemon_spawn(struct tu_daemon *d, const char *const *args) {
        return spawn_opts(d, args, NULL);
}

char *tu_subst_dir(const char *text, const char *dir) {
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        ck_assert_ptr_nonnull(m);
        for (const char *p = text; *p;) {
                const char *at = strstr(p, "@DIR@");
                if (!at) {
                        fputs(p, m);
                        break;
                }
                fwrite(p, 1, (size_t) (at - p), m);
                fputs(dir, m);
                p = at + 5;
        }
        fclose(m);
        return out;
}

void tu_daemon_start(struct tu_daemon *d, const char *policy_text, const char *const *args) {
        tu_daemon_start_opts(d, policy_text, args, NULL);
}

int tu_daemon_notify(struct tu_daemon *d, char *buf, size_t size, int timeout_ms) {
        struct pollfd p = { .fd = d->notify_fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) <= 0)
                return -1;
        ssize_t n = recv(d->notify_fd, buf, size, MSG_DONTWAIT);
        return n < 0 ? -1 : (int) n;
}

int tu_wait(pid_t pid, int timeout_ms) {
        long long end = now_ms() + timeout_ms;
        int status;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                ck_assert_int_ge(r, 0);
                if (r == pid)
                        return status;
                if (now_ms() > end) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        ck_abort_msg("process %d did not exit within %d ms", (int) pid, timeout_ms);
                }
                usleep(5000);
        }
}

void tu_daemon_stop(struct tu_daemon *d) {
        struct stat st;

        if (d->pid > 0) {
                ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
                int status = tu_wait(d->pid, 10000);
                d->pid = -1;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        char *log = tu_daemon_log(d);
                        ck_abort_msg("fdbrokerd did not exit cleanly (status 0x%x); log:\n%s", status, log);
                }
                ck_assert_msg(lstat(d->socket, &st) < 0 && errno == ENOENT, "socket not removed on exit");
        }
        if (d->notify_fd >= 0)
                close(d->notify_fd);
        tu_rm_rf(d->dir);
        free(d->dir);
        free(d->socket);
        free(d->policy);
        free(d->log);
        free(d->notify);
        free(d->baseline_fds);
        *d = (struct tu_daemon) { .pid = -1, .notify_fd = -1 };
}

char *tu_daemon_log(const struct tu_daemon *d) {
        FILE *f = fopen(d->log, "re");
        char *buf = NULL;
        size_t len = 0;

        if (!f)
                return strdup("");
        FILE *m = open_memstream(&buf, &len);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(f);
        fclose(m);
        return buf;
}

bool tu_log_has(const struct tu_daemon *d, ...) {
        char *log = tu_daemon_log(d);
        bool found = false;

        for (char *line = strtok(log, "\n"); line && !found; line = strtok(NULL, "\n")) {
                va_list ap;
                va_start(ap, d);
                found = true;
                for (const char *s; (s = va_arg(ap, const char *));)
                        if (!strstr(line, s))
                                found = false;
                va_end(ap);
        }
        free(log);
        return found;
}

/* ---- raw protocol client ---------------------------------------------- */

int tu_connect(const char *socket_path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        strncpy(sa.sun_path, socket_path, sizeof sa.sun_path - 1);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int tu_send(int fd, uint16_t op, uint32_t id, uint32_t flags, uint32_t mode, const char *path) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        int n = wire_request_encode(buf, sizeof buf, op, id, flags, mode, path, path ? strlen(path) : 0);
        if (n < 0)
                return n;
        return fdpass_send(fd, buf, (size_t) n, -1);
}

/* One reply into buf; r->data points into it. */
static int recv_reply(int fd, uint8_t *buf, size_t size, struct wire_reply *r, int *ret_fd, int timeout_ms) {
        struct fdpass_msg m;
        struct pollfd p = { .fd = fd, .events = POLLIN };

        int k = poll(&p, 1, timeout_ms);
        if (k == 0)
                return -ETIMEDOUT;
        if (k < 0)
                return -errno;
        k = fdpass_recv(fd, buf, size, true, &m);
        if (k < 0)
                return k;
        if (m.len == 0)
                return -ECONNRESET;
        if (m.flags || wire_reply_decode(buf, m.len, r) < 0 || (r->nfds == 1) != (m.fd >= 0)) {
                if (m.fd >= 0)
                        close(m.fd);
                return -EBADMSG;
        }
        if (ret_fd)
                *ret_fd = m.fd;
        else if (m.fd >= 0)
                close(m.fd);
        return 0;
}

int tu_recv(int fd, struct wire_reply *r, int *ret_fd, int timeout_ms) {
        /* Room for any reply, data and all: a STAT's, a STATUS's. */
        static _Thread_local uint8_t buf[FDBR_WIRE_REPLY_MAX];

        int k = recv_reply(fd, buf, sizeof buf, r, ret_fd, timeout_ms);
        /* The data stays in this frame's buffer: never hand out a pointer
         * to it. */
        r->data = NULL;
        return k;
}

long long tu_status_on(int fd, const char *key) {
        static uint8_t buf[FDBR_WIRE_REPLY_MAX + 1];
        struct wire_reply r;

        ck_assert_int_eq(tu_send(fd, FDBR_OP_STATUS, 1, 0, 0, NULL), 0);
        int k = recv_reply(fd, buf, sizeof buf - 1, &r, NULL, 10000);
        ck_assert_msg(k == 0 && r.status == 0, "STATUS: %s, status %u", strerror(-k), k == 0 ? r.status : 0);
        char *text = (char *) buf + FDBR_WIRE_OFF_DATA;
        text[r.data_len] = 0;
        size_t len = strlen(key);
        for (const char *line = text, *nl; line; line = (nl = strchr(line, '\n')) ? nl + 1 : NULL)
                if (strncmp(line, key, len) == 0 && line[len] == '=')
                        return strtoll(line + len + 1, NULL, 10);
        return -1;
}

long long tu_status(const char *socket_path, const char *key) {
        int fd = tu_connect_ok(socket_path);
        long long v = tu_status_on(fd, key);
        close(fd);
        return v;
}

void tu_status_wait(const char *socket_path, const char *key, long long want, int timeout_ms) {
        long long end = tu_now_ms() + timeout_ms, v;
        while ((v = tu_status(socket_path, key)) != want) {
                ck_assert_msg(tu_now_ms() < end, "STATUS %s=%lld, still not %lld after %d ms", key, v, want,
                              timeout_ms);
                usleep(5000);
        }
}

int tu_request(int fd, uint16_t op, uint32_t flags, uint32_t mode, const char *path, int *ret_fd) {
        static uint32_t next_id = 1000;
        struct wire_reply r;
        int rfd = -1;
        uint32_t id = next_id++;

        int k = tu_send(fd, op, id, flags, mode, path);
        if (k < 0)
                return k;
        k = tu_recv(fd, &r, &rfd, 5000);
        if (k < 0)
                return k;
        if (r.id != id || r.op != op) {
                if (rfd >= 0)
                        close(rfd);
                return -EBADMSG;
        }
        if (ret_fd)
                *ret_fd = rfd;
        else if (rfd >= 0)
                close(rfd);
        return (int) r.status;
}

bool tu_closed(int fd, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char c;

        if (poll(&p, 1, timeout_ms) <= 0)
                return false;
        return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
}

/* ---- unprivileged clients --------------------------------------------- */

static int child_err_fd = -1;

void tu_child_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
        char msg[1024];
        int n = snprintf(msg, sizeof msg, "%s:%d: in child: %s", file, line, cond);
        /* fmt always starts with a space (see TU_REQUIRE) */
        if (fmt[1] && n > 0 && (size_t) n < sizeof msg) {
                va_list ap;
                va_start(ap, fmt);
                n += snprintf(msg + n, sizeof msg - (size_t) n, ":");
                vsnprintf(msg + n, sizeof msg - (size_t) n, fmt, ap);
                va_end(ap);
        }
        if (child_err_fd >= 0)
                (void) !write(child_err_fd, msg, strlen(msg));
}

struct tu_child tu_start_as(uid_t uid, gid_t gid, tu_child_fn fn, void *arg) {
        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(p[0]);
                child_err_fd = p[1];
                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
                        tu_child_fail(__FILE__, __LINE__, "drop privileges", "%s", strerror(errno));
                        _exit(1);
                }
                if (uid != 0 && setresuid(0, 0, 0) == 0) {
                        tu_child_fail(__FILE__, __LINE__, "privileges still held", " ");
                        _exit(1);
                }
                _exit(fn(arg) == 0 ? 0 : 1);
        }
        close(p[1]);
        return (struct tu_child) { .pid = pid, .uid = uid, .err_fd = p[0] };
}

void tu_join_as(struct tu_child *c) {
        char msg[1025] = "";
        ssize_t n, total = 0;
        while ((n = read(c->err_fd, msg + total, sizeof msg - 1 - (size_t) total)) > 0)
                total += n;
        msg[total] = 0;
        close(c->err_fd);
        c->err_fd = -1;
        int status = tu_wait(c->pid, 60000);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child as uid %u failed: %s",
                      (unsigned) c->uid, msg[0] ? msg : "(no message)");
}

void tu_run_as(uid_t uid, gid_t gid, tu_child_fn fn, void *arg) {
        struct tu_child c = tu_start_as(uid, gid, fn, arg);
        tu_join_as(&c);
}

/* ---- resilience tests ------------------------------------------------- */


void tu_daemon_start_opts(struct tu_daemon *d, const char *policy_text, const char *const *args,
                          const struct tu_spawn_opts *o) {
        char buf[4096];

        *d = (struct tu_daemon) { .pid = -1, .notify_fd = -1 };
        d->dir = tu_mkdtemp();
        d->socket = tu_strdupf("%s/fdbroker.sock", d->dir);
        d->policy = tu_strdupf("%s/policy.conf", d->dir);
        d->log = tu_strdupf("%s/daemon.log", d->dir);
        d->notify = tu_strdupf("%s/notify", d->dir);
        char *text = tu_subst_dir(policy_text, d->dir);
        tu_write_file(d->policy, text, 0644, 0, 0);
        free(text);
        d->notify_fd = bind_notify(d->notify);

        d->pid = spawn_opts(d, args, o);
        for (;;) {
                int n = tu_daemon_notify(d, buf, sizeof buf - 1, 10000);
                if (n < 0) {
                        char *log = tu_daemon_log(d);
                        ck_abort_msg("fdbrokerd did not become ready; its log:\n%s", log);
                }
                buf[n] = 0;
                if (strstr(buf, "READY=1"))
                        break;
        }
}

long long tu_now_ms(void) {
        return now_ms();
}

int tu_wait_fds(pid_t pid, int want, int timeout_ms) {
        long long end = now_ms() + timeout_ms;
        int n;

        while ((n = tu_count_fds(pid)) != want && now_ms() < end)
                usleep(10000);
        return n;
}

void tu_private_mounts(void) {
        ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s", strerror(errno));
        ck_assert_msg(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "private /: %s", strerror(errno));
}

int tu_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 253)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (nfds > 253)
                return -EINVAL;
        if (nfds > 0 && fdpass_cmsg_rights(&mh, control.buf, sizeof control.buf, fds, nfds) < 0)
                return -EINVAL;
        ssize_t k = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
        if (k < 0)
                return -errno;
        return (size_t) k == len ? 0 : -EIO;
}

char *tu_fd_list(pid_t pid) {
        char path[64], target[256], *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        ck_assert_ptr_nonnull(m);
        snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        for (struct dirent *de; d && (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                char *link = tu_strdupf("%s/%s", path, de->d_name);
                ssize_t n = readlink(link, target, sizeof target - 1);
                free(link);
                target[n < 0 ? 0 : n] = 0;
                fprintf(m, " %s:%s", de->d_name, target);
        }
        if (d)
                closedir(d);
        fclose(m);
        /* check refuses failure messages of more than a few KiB. */
        if (len > 1500)
                strcpy(out + 1500 - 4, " ...");
        return out;
}

int tu_settled_fds(const struct tu_daemon *d, const char *path) {
        long long end = now_ms() + 10000;
        int last = -1;

        for (;;) {
                int fd = tu_connect(d->socket);
                ck_assert_msg(fd >= 0, "connect: %s", strerror(-fd));
                if (path) {
                        int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, path, NULL);
                        ck_assert_msg(st == 0, "%s: status %d", path, st);
                }
                /* Answered after the daemon closed its copy of the
                 * descriptor it sent. */
                ck_assert_int_eq(tu_request(fd, FDBR_OP_PING, 0, 0, NULL, NULL), 0);
                int with = tu_count_fds(d->pid);
                close(fd);
                int n = tu_wait_fds(d->pid, with - 1, 5000);
                if (n == with - 1 && n == last)
                        return n;
                ck_assert_msg(now_ms() < end, "the daemon's descriptor count does not settle (%d, then %d)", last, n);
                last = n;
                usleep(100000);
        }
}

void tu_daemon_baseline(struct tu_daemon *d, const char *path) {
        d->baseline = tu_settled_fds(d, path);
        free(d->baseline_fds);
        d->baseline_fds = tu_fd_list(d->pid);
}

void tu_daemon_expect_baseline(struct tu_daemon *d, const char *after) {
        int n = tu_wait_fds(d->pid, d->baseline, 15000);
        if (n != d->baseline) {
                char *log = tu_daemon_log(d), *now = tu_fd_list(d->pid);
                size_t len = strlen(log);
                ck_abort_msg("after %s the daemon holds %d descriptors, %d before:\n now   %s\n before %s\n"
                             "the end of its log:\n%s", after, n, d->baseline, now, d->baseline_fds,
                             log + (len > 2000 ? len - 2000 : 0));
        }
}

char *tu_daemon_path(const struct tu_daemon *d, const char *rel) {
        return tu_strdupf("%s/%s", d->dir, rel);
}

int tu_request_in(const struct tu_daemon *d, int fd, uint16_t op, uint32_t flags, uint32_t mode, const char *rel,
                  int *ret_fd) {
        _cleanup_free_ char *path = tu_daemon_path(d, rel);
        return tu_request(fd, op, flags, mode, path, ret_fd);
}

int tu_child_expect(const struct tu_daemon *d, const struct tu_want *want, size_t n) {
        _cleanup_close_ int s = tu_connect(d->socket);
        TU_REQUIRE(s >= 0, "connect: %s", strerror(-s));
        for (size_t i = 0; i < n; i++) {
                int fd = -1;
                int st = tu_request_in(d, s, want[i].op, want[i].flags, want[i].mode, want[i].rel, &fd);
                if (fd >= 0)
                        close(fd);
                TU_REQUIRE(st == (int) want[i].status, "%s: status %d, not %u", want[i].what, st, want[i].status);
                TU_REQUIRE((st == 0) == (fd >= 0), "%s: descriptor %d with status %d", want[i].what, fd, st);
        }
        return 0;
}

int tu_connect_ok(const char *socket_path) {
        int fd = tu_connect(socket_path);
        ck_assert_msg(fd >= 0, "connect: %s", strerror(-fd));
        return fd;
}

void tu_set_nonblock(int fd) {
        int fl = fcntl(fd, F_GETFL);
        ck_assert_int_ge(fl, 0);
        ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static char *cli_dir;
static pid_t cli_owner;

static void cli_cleanup(void) {
        if (cli_dir && getpid() == cli_owner)
                tu_rm_rf(cli_dir);
}

/* The directory everyone can search that copies go to, made once per
 * process and removed at its exit. */
static const char *public_dir(void) {
        if (cli_dir)
                return cli_dir;
        char *dir = tu_mkdtemp();
        ck_assert_int_eq(chmod(dir, 0755), 0);
        cli_dir = dir;
        cli_owner = getpid();
        atexit(cli_cleanup);
        return cli_dir;
}

char *tu_public_copy(const char *path) {
        char *to = tu_strdupf("%s/%s", public_dir(), strrchr(path, '/') + 1);
        char *cmd = tu_strdupf("cp -p '%s' '%s'", path, to);
        ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
        free(cmd);
        return to;
}

const char *tu_cli_path(void) {
        static char *path;
        if (path)
                return path;
        char *src_dir = tu_strdupf("%s", FDBR_CLI_PATH);
        *strrchr(src_dir, '/') = 0;
        char *cmd = tu_strdupf("cp '%s'/libfdbroker.so* '%s/'", src_dir, public_dir());
        ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
        ck_assert_int_eq(setenv("LD_LIBRARY_PATH", public_dir(), 1), 0);
        path = tu_public_copy(FDBR_CLI_PATH);
        free(cmd);
        free(src_dir);
        return path;
}

/* Every suite that starts daemons needs root: it runs them as root and
 * its clients as other users. */
__attribute__((constructor)) static void harness_require_root(void) {
        tu_require_root();
}

int tu_daemon_start_journal(struct tu_daemon *d, const char *policy_text, int rcvbuf) {
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        (void) mkdir("/run/systemd", 0755);
        (void) mkdir("/run/systemd/journal", 0755);
        ck_assert_int_eq(mount("tmpfs", "/run/systemd/journal", "tmpfs", 0, "mode=0755"), 0);
        int j = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket" };
        ck_assert_int_eq(bind(j, (struct sockaddr *) &sa, sizeof sa), 0);
        ck_assert_int_eq(setsockopt(j, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);

        /* stderr of the daemon is its log file: JOURNAL_STREAM names it */
        char *dir = tu_mkdtemp();
        char *log = tu_strdupf("%s/daemon.log", dir);
        tu_write_file(log, "", 0644, 0, 0);
        struct stat st;
        ck_assert_int_eq(stat(log, &st), 0);
        char js[64];
        snprintf(js, sizeof js, "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);

        /* tu_daemon_spawn unsets JOURNAL_STREAM: started by hand */
        *d = (struct tu_daemon) { .pid = -1, .notify_fd = -1, .dir = dir, .log = log };
        d->socket = tu_strdupf("%s/s", dir);
        d->policy = tu_strdupf("%s/p.conf", dir);
        d->notify = tu_strdupf("%s/n", dir);
        tu_write_file(d->policy, policy_text, 0644, 0, 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_APPEND);
                if (fd < 0 || dup2(fd, 2) < 0)
                        _exit(126);
                setenv("JOURNAL_STREAM", js, 1);
                execl(FDBRD_PATH, FDBRD_PATH, "--socket", d->socket, "--policy", d->policy, (char *) NULL);
                _exit(127);
        }
        d->pid = pid;
        int s = -1;
        for (int i = 0; i < 500 && (s = tu_connect(d->socket)) < 0; i++)
                usleep(10000);
        ck_assert_msg(s >= 0, "the daemon does not accept on %s", d->socket);
        close(s);
        return j;
}

int tu_read_all(int fd, char *buf, size_t size) {
        size_t n = 0;
        ssize_t k;
        while (n < size - 1 && (k = read(fd, buf + n, size - 1 - n)) > 0)
                n += (size_t) k;
        buf[n] = 0;
        return (int) n;
}

int tu_run_cli(const char *socket, const char *const *args, const char *in, struct tu_cli_run *r) {
        const char *cli = tu_cli_path();
        int o[2], e[2], i[2];
        if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0 || pipe2(i, O_CLOEXEC) < 0)
                return -1;
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                const char *argv[32] = { cli, "--socket", socket };
                size_t n = 3;
                for (; *args && n < 31; args++)
                        argv[n++] = *args;
                dup2(i[0], 0);
                dup2(o[1], 1);
                dup2(e[1], 2);
                execv(argv[0], (char **) argv);
                _exit(127);
        }
        close(i[0]);
        close(o[1]);
        close(e[1]);
        if (in)
                (void) !write(i[1], in, strlen(in));
        close(i[1]);
        tu_read_all(o[0], r->out, sizeof r->out);
        tu_read_all(e[0], r->err, sizeof r->err);
        close(o[0]);
        close(e[0]);
        int st;
        waitpid(pid, &st, 0);
        r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return 0;
}
