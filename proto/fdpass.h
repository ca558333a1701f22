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

struct fdpass_msg {
        size_t len;      /* bytes of data received, at most the buffer size */
        unsigned flags;  /* FDPASS_* */
        int fd;          /* the one expected descriptor (owned by the caller), or -1 */
};

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
