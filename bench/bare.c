/* SPDX-License-Identifier: MIT */
/* The bare transport: the least a broker can do and still speak the
 * protocol.  One process, one epoll loop, no policy, no audit: decode the
 * record, open() the path, send the reply with the descriptor.  What
 * fdbrokerd costs beyond this is what the policy, the safe resolution and
 * the bookkeeping cost. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"
#include "fdpass.h"
#include "wire.h"

/* Records handled per wakeup, as fdbrokerd does, so that one busy
 * connection does not starve the others. */
#define READ_BUDGET 32
#define MAX_EVENTS 64

int listen_seqpacket(const char *path, bool nonblock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* The reply must not be lost.  The load generator reads all the time and
 * has few requests in flight, so a full socket is rare and short: waiting
 * for it here is simpler than a reply queue and costs nothing when it
 * does not happen. */
static int send_reply(int fd, const void *rec, size_t len, int ofd) {
        for (;;) {
                int r = fdpass_send(fd, rec, len, ofd);
                if (r != -EAGAIN)
                        return r;
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                (void) poll(&p, 1, 1000);
        }
}

static int handle(int fd, char *buf, const struct fdpass_msg *m) {
        struct wire_request req;
        struct wire_reply rep = { 0 };
        uint8_t rec[FDBR_WIRE_REPLY_SIZE + FDBR_WIRE_STATX_SIZE];
        struct statx sx;
        int ofd = -1, r;

        wire_request_echo(buf, m->len, &rep.op, &rep.id);
        r = wire_request_decode(buf, m->len, &req);
        if (r == 0 && (m->flags & (FDPASS_TRUNCATED | FDPASS_BAD_CONTROL)))
                r = -EINVAL;
        if (r < 0)
                rep.status = (uint32_t) -r;
        else if (req.op == FDBR_OP_STAT) {
                /* What a STAT costs at the least: one statx(2), the data
                 * in the reply. */
                buf[FDBR_WIRE_HEADER_SIZE + req.path_len] = 0;
                if (statx(AT_FDCWD, req.path, 0, STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID, &sx) < 0)
                        rep.status = (uint32_t) errno;
                else {
                        rep.data = &sx;
                        rep.data_len = sizeof sx;
                }
        } else if (req.op != FDBR_OP_PING) {
                /* The buffer has a spare byte past the largest record. */
                buf[FDBR_WIRE_HEADER_SIZE + req.path_len] = 0;
                int flags = (req.flags & FDBR_F_WRITE) ? ((req.flags & FDBR_F_READ) ? O_RDWR : O_WRONLY) : O_RDONLY;
                ofd = open(req.path, flags | O_CLOEXEC | O_NOCTTY);
                if (ofd < 0)
                        rep.status = (uint32_t) errno;
                else if (req.op == FDBR_OP_CHECK) {
                        close(ofd);
                        ofd = -1;
                }
        }
        rep.nfds = ofd >= 0;
        size_t len = wire_reply_encode(rec, &rep);
        r = send_reply(fd, rec, len, ofd);
        if (ofd >= 0)
                close(ofd);
        return r;
}

/* Serves one connection until its socket is drained or the budget is
 * spent.  Returns -ECONNRESET when the connection is over. */
static int serve(int fd, char *buf) {
        for (unsigned budget = READ_BUDGET; budget > 0; budget--) {
                struct fdpass_msg m;
                int r = fdpass_recv(fd, buf, FDBR_WIRE_REQUEST_MAX, false, &m);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0 || m.len == 0)
                        return -ECONNRESET;
                if (handle(fd, buf, &m) < 0)
                        return -ECONNRESET;
        }
        return 0;
}

static void accept_all(int epfd, int lfd) {
        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return; /* EAGAIN, or out of descriptors: try at the next wakeup */
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
                if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                        close(fd);
        }
}

static _Noreturn void bare_main(int lfd) {
        static char buf[FDBR_WIRE_REQUEST_MAX + 1];
        struct epoll_event evs[MAX_EVENTS];

        int epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
        if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
                fprintf(stderr, "fdbroker-bench: bare broker: epoll: %m\n");
                _exit(EXIT_FAILURE);
        }

        for (;;) {
                int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
                if (n < 0 && errno != EINTR) {
                        fprintf(stderr, "fdbroker-bench: bare broker: epoll_wait: %m\n");
                        _exit(EXIT_FAILURE);
                }
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;
                        if (fd == lfd)
                                accept_all(epfd, lfd);
                        else if (serve(fd, buf) < 0)
                                close(fd); /* also leaves the epoll set */
                }
        }
}

int server_fork(const char *name, const char *sock_path, bool nonblock, void (*run)(int lfd),
                pid_t *ret_pid) {
        int lfd = listen_seqpacket(sock_path, nonblock);
        if (lfd < 0) {
                fprintf(stderr, "fdbroker-bench: %s: %s: %s\n", name, sock_path, strerror(-lfd));
                return lfd;
        }
        int r = cleanup_add_file(sock_path);
        if (r < 0) {
                close(lfd);
                return r;
        }

        /* The socket listens before the fork: a client may connect as soon
         * as this returns. */
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                close(lfd);
                return r;
        }
        if (pid == 0) {
                child_setup(SIGKILL);
                run(lfd);
                _exit(EXIT_FAILURE);
        }
        close(lfd);
        cleanup_add_pid(pid);
        *ret_pid = pid;
        return 0;
}

int bare_start(const char *sock_path, pid_t *ret_pid) {
        return server_fork("bare broker", sock_path, true, bare_main, ret_pid);
}
