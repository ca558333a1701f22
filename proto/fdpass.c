/* SPDX-License-Identifier: MIT */
#include "fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "macro.h"

#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

/* Room to receive as many descriptors as one message can carry (the
 * kernel's SCM_MAX_FD), so that a peer that crams extra ones in gets them
 * installed here and handed to the stray handler, never cut with
 * MSG_CTRUNC: the kernel would then drop the rest itself, in the
 * receiving thread, and that last close may block (a FUSE flush, a TCP
 * linger). */
#define CONTROL_FDS 253

union control_buf {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * CONTROL_FDS)];
};

/* Sending needs room for one. */
union control_one {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
};

static fdpass_stray_fn stray_fn;
static void *stray_userdata;

void fdpass_set_stray_handler(fdpass_stray_fn fn, void *userdata) {
        stray_fn = fn;
        stray_userdata = userdata;
}

static void stray(int fd) {
        if (stray_fn)
                stray_fn(fd, stray_userdata);
        else
                safe_close(fd);
}

int fdpass_cmsg_rights(struct msghdr *mh, void *control, size_t size, const int *fds, size_t n) {
        size_t space = CMSG_SPACE(sizeof(int) * n);

        if (n == 0 || size < space)
                return -ENOBUFS;
        memset(control, 0, space);
        mh->msg_control = control;
        mh->msg_controllen = space;

        struct cmsghdr *cmsg = CMSG_FIRSTHDR(mh);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * n);
        return 0;
}

int fdpass_send(int sock, const void *buf, size_t len, int fd) {
        union control_one control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (len == 0)
                return -EINVAL;

        if (fd >= 0)
                (void) fdpass_cmsg_rights(&mh, control.buf, sizeof control.buf, &fd, 1); /* fits */

        for (;;) {
                ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
                if (n >= 0)
                        /* SOCK_SEQPACKET sends a record whole or not at all. */
                        return (size_t) n == len ? 0 : -EIO;
                if (errno != EINTR)
                        return -errno;
        }
}

/* Closes every descriptor a cmsg carries, however malformed its length. */
static void close_cmsg_fds(struct cmsghdr *cmsg) {
        if (cmsg->cmsg_level != SOL_SOCKET ||
            (cmsg->cmsg_type != SCM_RIGHTS && cmsg->cmsg_type != SCM_PIDFD) ||
            cmsg->cmsg_len < CMSG_LEN(0))
                return;

        size_t n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                stray(fd);
        }
}

/* Judges what one recvmsg returned: the flags and every control message.
 * Closes every descriptor that is not the one expected. */
static struct fdpass_msg check_received(struct msghdr *mh, size_t len, bool want_fd) {
        struct fdpass_msg m = { .len = len, .fd = -1 };

        if (mh->msg_flags & MSG_TRUNC)
                m.flags |= FDPASS_TRUNCATED;
        if (mh->msg_flags & MSG_CTRUNC)
                m.flags |= FDPASS_BAD_CONTROL;

        if (mh->msg_controllen > 0) {
                for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(mh); cmsg; cmsg = CMSG_NXTHDR(mh, cmsg)) {
                        bool ok = want_fd && m.fd < 0 && !(m.flags & FDPASS_BAD_CONTROL) &&
                                  cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
                                  cmsg->cmsg_len == CMSG_LEN(sizeof(int));
                        if (ok) {
                                memcpy(&m.fd, CMSG_DATA(cmsg), sizeof(int));
                                continue;
                        }
                        close_cmsg_fds(cmsg);
                        m.flags |= FDPASS_BAD_CONTROL;
                }
        }

        /* Once anything was wrong, the one good-looking descriptor is not
         * trusted either. */
        if ((m.flags & FDPASS_BAD_CONTROL) && m.fd >= 0) {
                stray(m.fd);
                m.fd = -1;
        }
        return m;
}

int fdpass_recv(int sock, void *buf, size_t size, bool want_fd, struct fdpass_msg *ret) {
        union control_buf control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof control.buf,
        };
        ssize_t n;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        *ret = check_received(&mh, (size_t) n, want_fd);
        return 0;
}

/* The headers of a batch of records, each with its own buffer and
 * control space; at most FDPASS_BATCH_MAX, at least one. */
struct batch {
        struct iovec iov[FDPASS_BATCH_MAX];
        struct mmsghdr mm[FDPASS_BATCH_MAX];
};

static int batch_check(size_t count) {
        return count == 0 || count > FDPASS_BATCH_MAX ? -EINVAL : 0;
}

static struct msghdr *batch_record(struct batch *b, size_t i, void *buf, size_t len) {
        b->iov[i] = (struct iovec) { .iov_base = buf, .iov_len = len };
        b->mm[i] = (struct mmsghdr) { .msg_hdr = { .msg_iov = &b->iov[i], .msg_iovlen = 1 } };
        return &b->mm[i].msg_hdr;
}

int fdpass_recv_many(int sock, void *const *bufs, size_t size, size_t count, bool want_fd,
                     struct fdpass_msg *ret) {
        union control_buf control[FDPASS_BATCH_MAX];
        struct batch b;
        int n = batch_check(count);

        for (size_t i = 0; n == 0 && i < count; i++) {
                struct msghdr *mh = batch_record(&b, i, bufs[i], size);
                mh->msg_control = control[i].buf;
                mh->msg_controllen = sizeof control[i].buf;
        }
        if (n < 0)
                return n;

        do
                n = recvmmsg(sock, b.mm, (unsigned) count, MSG_CMSG_CLOEXEC, NULL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        for (int i = 0; i < n; i++) {
                ret[i] = check_received(&b.mm[i].msg_hdr, b.mm[i].msg_len, want_fd);
                /* After EOF the kernel repeats empty records: one is enough. */
                if (ret[i].len == 0)
                        return i + 1;
        }
        return n;
}

int fdpass_send_many(int sock, const struct fdpass_out *out, size_t count) {
        union control_one control[FDPASS_BATCH_MAX];
        struct batch b;
        int n = batch_check(count);

        for (size_t i = 0; n == 0 && i < count; i++) {
                if (out[i].len == 0)
                        return -EINVAL;
                struct msghdr *mh = batch_record(&b, i, (void *) out[i].buf, out[i].len);
                if (out[i].fd >= 0)
                        (void) fdpass_cmsg_rights(mh, control[i].buf, sizeof control[i].buf, &out[i].fd,
                                                  1); /* fits */
        }
        if (n < 0)
                return n;

        do
                n = sendmmsg(sock, b.mm, (unsigned) count, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n;
}
