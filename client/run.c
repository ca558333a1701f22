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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"
#include "seccomp-compat.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))

struct run_state {
        struct run r;
        pid_t cmd;
        int cmd_status;
        bool cmd_done;
};

/* What the child leaves for the parent in their shared memory. */
struct run_child {
        char **argv;
        sigset_t mask;     /* to restore before exec */
        int listener;      /* in the shared descriptor table, or -1 */
        int filter_error;  /* errno that kept it from installing the filter */
        int addfd_error;   /* errno of the ADDFD_FLAG_SEND probe */
        int exec_error;    /* errno of execvp, when it returned */
        bool sync_wakeup;  /* SYNC_WAKE_UP is set: Linux 6.6 or later */
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

/* ---- the child: filter, probe, exec ---------------------------------- */

/* Runs in a child that shares this process's memory and descriptor table
 * and has it suspended until it execs or exits (CLONE_VM | CLONE_VFORK |
 * CLONE_FILES, as posix_spawn does): no page table is copied and the
 * listener it creates is at once the parent's, with nothing passed over a
 * socket and nobody else able to send something in its place.  Everything
 * that could refuse is done here, before exec, so that a refusal means CMD
 * never ran.  It only writes into its own struct; exec unshares the
 * descriptor table and closes the listener (close-on-exec) in CMD. */
static int run_child(void *userdata) {
        struct run_child *ch = userdata;

        int listener = run_filter_install();
        if (listener < 0) {
                ch->filter_error = -listener;
                _exit(127);
        }
        ch->listener = listener;
        int k = run_probe_addfd_send(listener);
        if (k < 0) {
                ch->addfd_error = -k;
                _exit(127);
        }
        /* Where the kernel has it (6.6): CMD's caller wakes on the CPU that
         * answered, which saves most of a continued call's cost. */
        ch->sync_wakeup = ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;

        (void) sigprocmask(SIG_SETMASK, &ch->mask, NULL);
        execvp(ch->argv[0], ch->argv);
        ch->exec_error = errno;
        _exit(ch->exec_error == ENOENT ? 127 : 126);
}

/* Starts the child on a stack of its own; returns its pid or -errno. */
static pid_t run_spawn(struct run_child *ch) {
        /* execvp's PATH search and the filter are the deepest users. */
        const size_t size = 256 * 1024;

        void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED)
                return -errno;
        pid_t pid = clone(run_child, (char *) stack + size, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, ch);
        int e = errno;
        (void) munmap(stack, size);
        return pid < 0 ? -e : pid;
}

/* ---- the parent ------------------------------------------------------- */

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
        struct run_child ch = { .listener = -1 };
        bool restore_mask = false;
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
        if (r < 0) {
                exit_status = cli_unreachable(c, r);
                goto out;
        }

        /* CMD's orphans come here rather than to init: they stay our
         * descendants (what ptrace_scope=1 lets us read the memory of) and
         * we see them go. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        /* Held until the loop listens for them: none may be lost (CMD may
         * be done before the loop first runs) or kill this process first. */
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGCHLD);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGHUP);
        ch.argv = cmd;
        if (sigprocmask(SIG_BLOCK, &block, &ch.mask) < 0) {
                exit_status = run_refuse("sigprocmask", errno);
                goto out;
        }
        restore_mask = true;

        s.cmd = run_spawn(&ch);
        s.r.listener = ch.listener;
        if (s.cmd < 0) {
                exit_status = run_refuse("cannot start the command", (int) -s.cmd);
                goto out;
        }
        if (ch.filter_error != 0) {
                /* ENOSYS: no seccomp(2); EINVAL: no NEW_LISTENER flag. */
                int e = ch.filter_error;
                exit_status = run_refuse(e == ENOSYS || e == EINVAL
                                                 ? "seccomp user notification is not available (cannot install the filter)"
                                                 : "cannot install the seccomp filter",
                                         e);
                goto kill;
        }
        if (ch.addfd_error != 0) {
                exit_status = run_refuse("the kernel lacks SECCOMP_ADDFD_FLAG_SEND (Linux 5.14)", ch.addfd_error);
                goto kill;
        }
        if (ch.exec_error != 0) {
                fprintf(stderr, "fdbroker: run: %s: %s\n", cmd[0], strerror(ch.exec_error));
                exit_status = ch.exec_error == ENOENT ? 127 : 126;
                goto kill;
        }

        s.r.recv_returns_on_hup = ch.sync_wakeup;

        /* The terminal's ^C and ^\ reach CMD too: they are CMD's to act
         * on; this process stays until CMD is done. */
        (void) signal(SIGINT, SIG_IGN);
        (void) signal(SIGQUIT, SIG_IGN);

        sigchld = evsignal_new(c->base, SIGCHLD, run_sigchld_cb, &s);
        sigterm = evsignal_new(c->base, SIGTERM, run_forward_cb, &s);
        sighup = evsignal_new(c->base, SIGHUP, run_forward_cb, &s);
        s.r.listener_ev = event_new(c->base, s.r.listener, EV_READ | EV_PERSIST, run_listener_cb, &s);
        if (!sigchld || !sigterm || !sighup || !s.r.listener_ev || event_add(sigchld, NULL) < 0 ||
            event_add(sigterm, NULL) < 0 || event_add(sighup, NULL) < 0 || event_add(s.r.listener_ev, NULL) < 0) {
                exit_status = run_refuse("cannot set up the event loop", ENOMEM);
                goto kill;
        }
        (void) sigprocmask(SIG_SETMASK, &ch.mask, NULL);
        restore_mask = false;

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
        run_call_free_spare(&s.r);
        if (restore_mask)
                (void) sigprocmask(SIG_SETMASK, &ch.mask, NULL);
        return exit_status;
}
