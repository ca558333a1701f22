/* SPDX-License-Identifier: MIT */
/* fdbroker run -- CMD: CMD starts under a seccomp filter whose listener
 * this process, its parent, serves on its event loop beside the broker
 * connection, so that calls of all of CMD's threads and children are
 * pipelined to the broker. */
#include "run.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fdpass.h"
#include "macro.h"

#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define MAX(a, b) ((a) > (b) ? (a) : (b))

struct run_state {
        struct run r;
        pid_t cmd;
        int cmd_status;
        bool cmd_done;
};

/* What the child tells the parent before it execs: 0 and the listener, or
 * the errno that kept it from installing the filter. */
struct run_hello {
        int error;
};

static void run_help(void) {
        printf("Usage: fdbroker [--socket PATH] run [--no-fallback] -- CMD [ARG...]\n"
               "\n"
               "Runs CMD so that its file system calls, and those of everything it\n"
               "starts, are asked of the broker first.  A refusal by policy lets the\n"
               "call run with CMD's own rights, or fails it with EACCES under\n"
               "--no-fallback.  Exit status: CMD's (128+N if killed by signal N);\n"
               "3 if the broker cannot be reached or the kernel cannot do it.\n");
}

static int run_refuse(const char *what, int error) {
        fprintf(stderr, "fdbroker: run: %s: %s\n", what, strerror(error));
        return CLI_EXIT_UNREACHABLE;
}

/* ---- the child: filter, hand over the listener, exec ------------------ */

static _Noreturn void run_child(int sock, char **argv) {
        struct run_hello hello = {};
        char go;

        int listener = run_filter_install();
        if (listener < 0)
                hello.error = -listener;
        if (fdpass_send(sock, &hello, sizeof hello, listener) < 0)
                _exit(127);
        safe_close(listener);

        /* The parent has set up everything to serve CMD, or said no. */
        if (read(sock, &go, 1) != 1)
                _exit(127);
        safe_close(sock);

        execvp(argv[0], argv);
        int e = errno;
        fprintf(stderr, "fdbroker: run: %s: %s\n", argv[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
}

/* ---- the parent ------------------------------------------------------- */

/* The listener must be what the child's seccomp() made, nothing else it
 * could have sent. */
static int run_check_listener(int fd) {
        char link[64], target[64];

        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        if (strcmp(target, "anon_inode:seccomp notify") != 0)
                return -EBADF;
        return 0;
}

/* ADDFD_FLAG_SEND (Linux 5.14) is what makes installing a descriptor and
 * answering one atomic step: without it another thread of CMD could close
 * or dup2 over the number between the two.  A kernel that knows the flag
 * looks for the notification (none: ENOENT); one that does not rejects the
 * flag (EINVAL). */
static int run_probe_addfd_send(int listener) {
        struct seccomp_notif_addfd add = {
                .id = 0,
                .flags = SECCOMP_ADDFD_FLAG_SEND,
                .srcfd = (uint32_t) listener,
        };
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) == 0)
                return 0;
        return errno == ENOENT ? 0 : -errno;
}

static void run_listener_cb(evutil_socket_t fd, short what, void *userdata) {
        struct run_state *s = userdata;

        int k = run_call_receive(&s->r);
        if (k < 0) {
                /* Nothing more can be served; the kernel answers CMD's
                 * calls ENOSYS once the listener is gone. */
                fprintf(stderr, "fdbroker: run: seccomp listener failed: %s\n", strerror(-k));
                s->r.listener_done = true;
        }
        if (s->r.listener_done)
                event_del(s->r.listener_ev);
}

static void run_sigchld_cb(evutil_socket_t sig, short what, void *userdata) {
        struct run_state *s = userdata;
        int status;
        pid_t pid;

        /* As subreaper this process also inherits CMD's orphans: they are
         * reaped here, so that they stop holding the filter. */
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                if (pid == s->cmd) {
                        s->cmd_done = true;
                        s->cmd_status = status;
                }
}

static void run_forward_cb(evutil_socket_t sig, short what, void *userdata) {
        struct run_state *s = userdata;

        if (!s->cmd_done)
                (void) kill(s->cmd, (int) sig);
}

/* GRANTS, once at start: the patterns worth asking about. */
struct run_grants_req {
        bool done;
        int result;
        struct run_grants *grants;
};

static void run_grants_done(fdbr_conn *conn, int result, const char *data, size_t len, void *userdata) {
        struct run_grants_req *g = userdata;

        g->done = true;
        g->result = result;
        if (result == 0)
                g->result = run_grants_parse(data, len, &g->grants);
}

/* Returns 0 and the set (NULL: ask about every path), or -errno. */
static int run_fetch_grants(struct cli *c, struct run_grants **ret) {
        struct run_grants_req g = {};

        int k = fdbr_conn_grants(c->conn, run_grants_done, &g);
        if (k < 0)
                return k;
        while (!g.done)
                if (event_base_loop(c->base, EVLOOP_ONCE) != 0)
                        return -EIO;
        switch (g.result) {
        case 0:
                *ret = g.grants;
                return 0;
        case -ENOSYS: /* a broker that predates GRANTS */
        case -ENOMEM:
                *ret = NULL;
                return 0;
        default:
                return g.result;
        }
}

int cli_run(struct cli *c, int argc, char **argv) {
        int no_fallback = 0;
        const struct option options[] = {
                { "no-fallback", no_argument, &no_fallback, 1 },
                CLI_OPTION_HELP,
                {},
        };
        struct run_state s = { .r.listener = -1, .cmd = -1 };
        struct seccomp_notif_sizes sizes = {};
        struct event *sigchld = NULL, *sigterm = NULL, *sighup = NULL;
        _cleanup_close_ int sock = -1, peer = -1;
        int r, exit_status = CLI_EXIT_UNREACHABLE;

        r = cli_options(argc, argv, &(struct cli_options) {
                .longopts = options, .help = run_help,
                .min_operands = 1, .max_operands = -1,
                .operands_error = "run needs a command: run [--no-fallback] -- CMD [ARG...]" });
        if (r >= 0)
                return r;
        s.r.no_fallback = no_fallback;
        char **cmd = argv + optind;

        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
                return run_refuse("seccomp user notification is not available", errno);
        s.r.notif_size = MAX((size_t) sizes.seccomp_notif, sizeof(struct seccomp_notif));
        s.r.resp_size = MAX((size_t) sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp));
        _cleanup_free_ void *notif_buf = calloc(1, s.r.notif_size);
        _cleanup_free_ void *resp_buf = calloc(1, s.r.resp_size);
        if (!notif_buf || !resp_buf)
                return run_refuse("cannot start", ENOMEM);
        s.r.notif_buf = notif_buf;
        s.r.resp_buf = resp_buf;

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        s.r.base = c->base;
        s.r.conn = c->conn;
        s.r.socket = c->socket;

        /* A broker that answers, and what it grants: asked before CMD
         * starts, so that a broker that is not there is said at once. */
        r = run_fetch_grants(c, &s.r.grants);
        if (r < 0)
                return cli_unreachable(c, r);

        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
                exit_status = run_refuse("socketpair", errno);
                goto out;
        }
        sock = sp[0];
        peer = sp[1];

        /* CMD's orphans come here rather than to init: they stay our
         * descendants (what ptrace_scope=1 lets us read the memory of) and
         * we see them go. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        sigchld = evsignal_new(c->base, SIGCHLD, run_sigchld_cb, &s);
        sigterm = evsignal_new(c->base, SIGTERM, run_forward_cb, &s);
        sighup = evsignal_new(c->base, SIGHUP, run_forward_cb, &s);
        if (!sigchld || !sigterm || !sighup || event_add(sigchld, NULL) < 0 || event_add(sigterm, NULL) < 0 ||
            event_add(sighup, NULL) < 0) {
                exit_status = run_refuse("cannot set up the event loop", ENOMEM);
                goto out;
        }

        fflush(NULL);
        s.cmd = fork();
        if (s.cmd < 0) {
                exit_status = run_refuse("fork", errno);
                goto out;
        }
        if (s.cmd == 0) {
                safe_close(sock);
                run_child(peer, cmd);
        }
        peer = safe_close(peer);

        /* The terminal's ^C and ^\ reach CMD too: they are CMD's to act
         * on; this process stays until CMD is done. */
        (void) signal(SIGINT, SIG_IGN);
        (void) signal(SIGQUIT, SIG_IGN);

        struct run_hello hello;
        struct fdpass_msg m;
        r = fdpass_recv(sock, &hello, sizeof hello, true, &m);
        if (r < 0 || m.len != sizeof hello || m.flags) {
                safe_close(r == 0 ? m.fd : -1);
                exit_status = run_refuse("starting the command", r < 0 ? -r : EPROTO);
                goto kill;
        }
        s.r.listener = m.fd;
        if (hello.error != 0 || s.r.listener < 0) {
                /* ENOSYS: no seccomp(2); EINVAL: no NEW_LISTENER flag. */
                int e = hello.error != 0 ? hello.error : EPROTO;
                exit_status = run_refuse(e == ENOSYS || e == EINVAL
                                                 ? "seccomp user notification is not available (cannot install the filter)"
                                                 : "cannot install the seccomp filter",
                                         e);
                goto kill;
        }
        r = run_check_listener(s.r.listener);
        if (r < 0) {
                exit_status = run_refuse("not a seccomp listener", -r);
                goto kill;
        }
        r = run_probe_addfd_send(s.r.listener);
        if (r < 0) {
                exit_status = run_refuse("the kernel lacks SECCOMP_ADDFD_FLAG_SEND (Linux 5.14)", -r);
                goto kill;
        }
        /* Where the kernel has it (6.6): CMD's caller wakes on the CPU that
         * answered, which saves most of a continued call's cost. */
        (void) ioctl(s.r.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);

        s.r.listener_ev = event_new(c->base, s.r.listener, EV_READ | EV_PERSIST, run_listener_cb, &s);
        if (!s.r.listener_ev || event_add(s.r.listener_ev, NULL) < 0) {
                exit_status = run_refuse("cannot set up the event loop", ENOMEM);
                goto kill;
        }

        if (write(sock, "g", 1) != 1) {
                exit_status = run_refuse("starting the command", errno);
                goto kill;
        }
        sock = safe_close(sock);

        /* Served until CMD is done and no process of its is left under the
         * filter (a child it left behind still has its calls trapped). */
        while (!s.cmd_done || !s.r.listener_done)
                if (event_base_loop(c->base, EVLOOP_ONCE) < 0) {
                        exit_status = run_refuse("event loop", EIO);
                        goto kill;
                }

        if (WIFEXITED(s.cmd_status))
                exit_status = WEXITSTATUS(s.cmd_status);
        else if (WIFSIGNALED(s.cmd_status))
                exit_status = 128 + WTERMSIG(s.cmd_status);
        goto out;

kill:
        if (s.cmd > 0 && !s.cmd_done) {
                (void) kill(s.cmd, SIGKILL);
                (void) waitpid(s.cmd, NULL, 0);
        }
out:
        /* Callbacks of requests still pending run now, for calls whose
         * callers are gone. */
        fdbr_conn_free(c->conn);
        c->conn = NULL;
        if (s.r.listener_ev)
                event_free(s.r.listener_ev);
        if (sigchld)
                event_free(sigchld);
        if (sigterm)
                event_free(sigterm);
        if (sighup)
                event_free(sighup);
        safe_close(s.r.listener);
        run_grants_free(s.r.grants);
        return exit_status;
}
