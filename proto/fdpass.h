/* SPDX-License-Identifier: MIT */
#pragma once

/* Passing one record, with at most one descriptor, over an AF_UNIX
 * SOCK_SEQPACKET socket.  The sender always sends the record itself as real
 * data (a descriptor never travels alone); the receiver validates every
 * control message before it treats anything as a descriptor. */

#include <stdbool.h>
#include <stddef.h>

enum {
        /* The record was longer than the buffer (MSG_TRUNC); its tail is lost. */
        FDPASS_TRUNCATED = 1u << 0,
        /* The control data was not exactly what was expected: MSG_CTRUNC, a
         * foreign level or type, a wrong cmsg_len, more descriptors than
         * wanted, or a descriptor where none was wanted.  Every descriptor
         * that arrived has already been closed. */
        FDPASS_BAD_CONTROL = 1u << 1,
};

struct msghdr;

/* The one place that builds an SCM_RIGHTS message: points mh at control
 * (size bytes, aligned for a struct cmsghdr, e.g. a union with one) filled
 * with one message carrying the n descriptors of fds, which stay owned by
 * the caller.  Returns 0, or -ENOBUFS if control is too small. */
int fdpass_cmsg_rights(struct msghdr *mh, void *control, size_t size, const int *fds, size_t n);

struct fdpass_msg {
        size_t len;      /* bytes of data received, at most the buffer size */
        unsigned flags;  /* FDPASS_* */
        int fd;          /* the one expected descriptor (owned by the caller), or -1 */
};

/* What becomes of a descriptor that arrived but was not wanted (extra
 * ones, any at all when none was wanted, all of them when the control data
 * was bad): by default it is closed at once.  A program whose receiving
 * thread must never block in close() (the broker's event loop: a FUSE
 * file's flush, a TCP socket's linger) sets a handler that takes ownership
 * and closes it elsewhere.  Process-wide; set before receiving. */
typedef void (*fdpass_stray_fn)(int fd, void *userdata);
void fdpass_set_stray_handler(fdpass_stray_fn fn, void *userdata);

/* Sends buf (len >= 1) with fd attached when fd >= 0.  The descriptor stays
 * owned by the caller.  Never raises SIGPIPE.  Returns 0, or -errno
 * (-EAGAIN when a non-blocking socket is full). */
int fdpass_send(int sock, const void *buf, size_t len, int fd);

/* Receives one record into buf.  With want_fd, one descriptor in one
 * SCM_RIGHTS message is accepted and returned close-on-exec; without it, any
 * ancillary data is refused.  A return of 0 with ret->len == 0 is EOF (or a
 * zero-length record, which SOCK_SEQPACKET cannot tell apart).  Returns 0,
 * or -errno; ret is untouched on failure. */
int fdpass_recv(int sock, void *buf, size_t size, bool want_fd, struct fdpass_msg *ret);

/* Batches, one system call for many records: what a busy connection saves
 * is most of the per-record cost of the socket layer. */
#define FDPASS_BATCH_MAX 64

/* Receives up to count records (each into bufs[i], size bytes), judged one
 * by one exactly as fdpass_recv does.  Returns how many were received (an
 * EOF, len 0, is the last one), or -errno (-EAGAIN when none waits). */
int fdpass_recv_many(int sock, void *const *bufs, size_t size, size_t count, bool want_fd,
                     struct fdpass_msg *ret);

struct fdpass_out {
        const void *buf;
        size_t len;   /* >= 1 */
        int fd;       /* attached when >= 0, still owned by the caller */
};

/* Sends count records in order.  Returns how many the socket took (fewer
 * when it filled up: the rest are to be sent later), or -errno (-EAGAIN
 * when it took none). */
int fdpass_send_many(int sock, const struct fdpass_out *out, size_t count);
