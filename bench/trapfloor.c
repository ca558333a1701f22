/* SPDX-License-Identifier: MIT */
/* The floor under a continued call of fdbroker run: the least a seccomp
 * user-notification supervisor can do, measured with the same CMD loop.  A
 * child installs a filter that traps only openat, hands the listener over
 * and execs the loop; this process answers every notification CONTINUE and
 * nothing else.  Whatever run costs above this is run's own. */

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "fdpass.h"
#include "seccomp-compat.h"

#if defined(__x86_64__)
#define FLOOR_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FLOOR_ARCH AUDIT_ARCH_AARCH64
#endif

static int floor_filter(void) {
        struct sock_filter prog[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FLOOR_ARCH, 0, 3),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog fprog = { .len = sizeof prog / sizeof prog[0], .filter = prog };

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        int fd = (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
        return fd < 0 ? -errno : fd;
}

/* Answers CONTINUE until no process uses the filter any more.  With
 * epoll, each notification is waited for as an event loop would. */
static int floor_serve(int listener, bool use_epoll) {
        struct seccomp_notif_sizes sizes = {};
        int ep = -1, r = 0;

        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
                return -errno;
        size_t nsize = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif
                                                                          : sizeof(struct seccomp_notif);
        size_t rsize = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp)
                               ? sizes.seccomp_notif_resp
                               : sizeof(struct seccomp_notif_resp);
        struct seccomp_notif *n = calloc(1, nsize);
        struct seccomp_notif_resp *resp = calloc(1, rsize);
        if (!n || !resp) {
                r = -ENOMEM;
                goto out;
        }
        if (use_epoll) {
                struct epoll_event ev = { .events = EPOLLIN };
                ep = epoll_create1(EPOLL_CLOEXEC);
                if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0) {
                        r = -errno;
                        goto out;
                }
        }
        for (;;) {
                if (use_epoll) {
                        struct epoll_event ev;
                        if (epoll_wait(ep, &ev, 1, -1) < 0) {
                                if (errno == EINTR)
                                        continue;
                                r = -errno;
                                break;
                        }
                        if (!(ev.events & EPOLLIN))
                                break; /* EPOLLHUP alone: no process left */
                }
                memset(n, 0, nsize);
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n) < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != ENOENT) {
                                r = -errno;
                                break;
                        }
                        /* The caller was interrupted, or nobody is left. */
                        struct pollfd p = { .fd = listener, .events = POLLIN };
                        if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) && !(p.revents & POLLIN))
                                break;
                        continue;
                }
                memset(resp, 0, rsize);
                resp->id = n->id;
                resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                (void) ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
        }
out:
        if (ep >= 0)
                close(ep);
        free(n);
        free(resp);
        return r;
}

int trapfloor_run(const char *const *argv, enum trapfloor_mode mode, double *ret) {
        int sp[2], out[2];
        char buf[64] = "";
        int r = 0;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        if (pipe2(out, O_CLOEXEC) < 0) {
                r = -errno;
                close(sp[0]);
                close(sp[1]);
                return r;
        }
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sp[0]);
                close(sp[1]);
                close(out[0]);
                close(out[1]);
                return r;
        }
        if (pid == 0) {
                child_setup(SIGKILL);
                close(sp[0]);
                dup2(out[1], 1);
                int l = floor_filter();
                int e = l < 0 ? -l : 0;
                if (fdpass_send(sp[1], &e, sizeof e, l) < 0 || l < 0)
                        _exit(126);
                close(l);
                execv(argv[0], (char **) argv);
                _exit(127);
        }
        cleanup_add_pid(pid);
        close(sp[1]);
        close(out[1]);

        int e = 0;
        struct fdpass_msg m = { .fd = -1 };
        r = fdpass_recv(sp[0], &e, sizeof e, true, &m);
        close(sp[0]);
        if (r == 0 && (e != 0 || m.fd < 0))
                r = e != 0 ? -e : -EPROTO;
        if (r == 0 && mode != TRAPFLOOR_BLOCKING &&
            ioctl(m.fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
                r = -errno;
        if (r == 0)
                r = floor_serve(m.fd, mode == TRAPFLOOR_EPOLL_SYNC);
        if (m.fd >= 0)
                close(m.fd);
        if (r < 0)
                (void) kill(pid, SIGKILL);

        ssize_t k = read(out[0], buf, sizeof buf - 1);
        buf[k > 0 ? k : 0] = 0;
        close(out[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        cleanup_del_pid(pid);
        if (r < 0) {
                fprintf(stderr, "fdbroker-bench: trap floor: %s\n", strerror(-r));
                return r;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || sscanf(buf, "%lf", ret) != 1) {
                fprintf(stderr, "fdbroker-bench: trap floor: the loop failed\n");
                return -ECHILD;
        }
        return 0;
}
