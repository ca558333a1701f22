/* SPDX-License-Identifier: MIT */
#include "socket.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "export.h"
#include "fdbroker.h"
#include "macro.h"

FDBR_EXPORT const char *fdbr_socket_path(void) {
        /* A set-id program must not let whoever runs it pick the broker it
         * trusts for descriptors: secure_getenv() ignores the variable then. */
        const char *p = secure_getenv(FDBR_SOCKET_ENV);

        return p && *p ? p : FDBR_DEFAULT_SOCKET;
}

int socket_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);

        if (len == 0)
                return -EINVAL;
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;

        /* An AF_UNIX connect interrupted by a signal has not linked the
         * socket to the listener yet, so trying again is safe.  Every other
         * failure (ENOENT, EACCES, ENOTDIR, ELOOP, EPROTOTYPE, ...) means
         * there is no broker to talk to at this path, which a caller must
         * be able to tell from a missing or forbidden file it asked about:
         * ECONNREFUSED, always. */
        while (connect(fd, (const struct sockaddr *) &sa,
                       (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1)) < 0)
                if (errno != EINTR)
                        return -ECONNREFUSED;

        return TAKE_FD(fd);
}
