/* SPDX-License-Identifier: MIT */
#include "flags.h"

#include <errno.h>
#include <fcntl.h>

#include "wire.h"

/* Flags with a meaning for the broker, and flags that only shape the
 * descriptor on this side.  Everything else (O_PATH, O_TMPFILE, O_SYNC,
 * O_DIRECT, O_NOATIME, O_ASYNC, ...) would be silently lost on the way, so
 * it is refused instead. */
#define FLAGS_REMOTE (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY | O_NOFOLLOW)
#define FLAGS_LOCAL (O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_LARGEFILE)

int flags_from_open(int oflags, mode_t mode, struct flags_wire *ret) {
        unsigned f = (unsigned) oflags;
        uint32_t w = 0;

        if (f & ~(unsigned) (FLAGS_REMOTE | FLAGS_LOCAL))
                return -EINVAL;

        switch (f & O_ACCMODE) {
        case O_RDONLY:
                /* Reading a directory means listing it, which is what the
                 * `dir` permission grants; asking READ as well would demand
                 * `read` on the directory for no benefit. */
                w = (f & O_DIRECTORY) ? 0 : FDBR_F_READ;
                break;
        case O_WRONLY:
                w = FDBR_F_WRITE;
                break;
        case O_RDWR:
                w = FDBR_F_READ | FDBR_F_WRITE;
                break;
        default:
                return -EINVAL;
        }

        if (f & O_CREAT)
                w |= FDBR_F_CREATE;
        if (f & O_EXCL)
                w |= FDBR_F_EXCL;
        if (f & O_TRUNC)
                w |= FDBR_F_TRUNC;
        if (f & O_APPEND)
                w |= FDBR_F_APPEND;
        if (f & O_DIRECTORY)
                w |= FDBR_F_DIRECTORY;
        if (f & O_NOFOLLOW)
                w |= FDBR_F_NOFOLLOW;

        /* Like open(2): the mode matters only when creating, and bits beyond
         * the permission bits are dropped rather than refused.  The broker
         * never creates set-id or sticky files. */
        uint32_t m = (f & O_CREAT) ? (uint32_t) (mode & 0777) : 0;

        /* EXCL without CREATE is undefined for open(2) and refused by the
         * protocol: better a clear EINVAL here than a round trip. */
        int r = wire_flags_check(w, m);
        if (r < 0)
                return r;

        *ret = (struct flags_wire) {
                .flags = w,
                .mode = m,
                .cloexec = f & O_CLOEXEC,
                .nonblock = f & O_NONBLOCK,
        };
        return 0;
}

int flags_apply_local(int fd, const struct flags_wire *w) {
        if (!w->cloexec) {
                int fl = fcntl(fd, F_GETFD);
                if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
                        return -errno;
        }
        if (w->nonblock) {
                int fl = fcntl(fd, F_GETFL);
                if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                        return -errno;
        }
        return 0;
}
