/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "cli.h"

#define IO_BUFFER_SIZE (128 * 1024)

/* A descriptor inherited non-blocking (a shared terminal or pipe) gives
 * EAGAIN; waiting for it is what a blocking one would have done. */
static int io_wait(int fd, short events) {
        struct pollfd p = { .fd = fd, .events = events };

        while (poll(&p, 1, -1) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static int io_write_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                int r = io_wait(fd, POLLOUT);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

int io_copy(int in_fd, int out_fd, enum io_side *ret_side) {
        /* The command is single-threaded; a static buffer cannot fail. */
        static char buf[IO_BUFFER_SIZE];

        for (;;) {
                ssize_t n = read(in_fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                int r = io_wait(in_fd, POLLIN);
                                if (r < 0) {
                                        *ret_side = IO_READ;
                                        return r;
                                }
                                continue;
                        }
                        *ret_side = IO_READ;
                        return -errno;
                }
                if (n == 0)
                        return 0;

                int r = io_write_all(out_fd, buf, (size_t) n);
                if (r < 0) {
                        *ret_side = IO_WRITE;
                        return r;
                }
        }
}
