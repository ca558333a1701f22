/* SPDX-License-Identifier: MIT */
/* STAT and READLINK: what a path is, without ever opening it for I/O.
 * The file is reached with O_PATH as OPEN reaches it (symlinks only under
 * `follow`, judged on the real path), which runs no driver and releases
 * no FIFO writer, and is looked at through that descriptor. */
#include "fs-ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "macro.h"
#include "mounts.h"
#include "request.h"
#include "wire.h"

_Static_assert(sizeof(struct statx) == FDBR_WIRE_STATX_SIZE, "the reply carries the kernel's struct statx");

#define STAT_MASK (STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID)

/* Reaches op->path with O_PATH (the final symlink itself with nofollow)
 * and fills *ret_sx.  On the loop it resolves from the local mount holding
 * the path where it can, and otherwise defers unless the file turns out
 * to be on a local mount: a FUSE or NFS server is never asked anything
 * there.  Returns the O_PATH descriptor or -errno. */
static int stat_reach(struct fsop *op, bool nofollow, struct statx *ret_sx) {
        bool local = false;
        _cleanup_close_ int fd = fsop_reach(op, O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0), &local);
        if (fd < 0)
                return fd;

        if (statx(fd, "", AT_EMPTY_PATH | (op->cached ? AT_STATX_DONT_SYNC : 0), STAT_MASK, ret_sx) < 0)
                return -errno;
        if (op->cached && !local &&
            (!(ret_sx->stx_mask & STATX_MNT_ID) ||
             !mounts_is_local(ret_sx->stx_mnt_id, makedev(ret_sx->stx_dev_major, ret_sx->stx_dev_minor))))
                return fsop_defer(op);

        int r = fsop_check_reached(op, fd, ret_sx, op->need);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* The reply's data, once the outcome is final. */
static void reply_data(struct request *r, int k, void *data, size_t len) {
        request_fs_result(r, k < 0 ? k : 0);
        if (k >= 0 && !r->fs.deferred && r->out.status == 0) {
                r->out.data = data;
                r->out.data_len = (uint32_t) len;
        } else
                free(data);
}

unsigned fs_need_stat(const struct request *r) {
        return POLICY_STAT;
}

void fs_stat(struct request *r) {
        struct statx *sx = malloc(sizeof *sx);
        if (!sx) {
                request_fs_result(r, -ENOMEM);
                return;
        }
        int k = stat_reach(&r->fs, r->flags & FDBR_F_NOFOLLOW, sx);
        if (k >= 0)
                safe_close(k);
        reply_data(r, k, sx, sizeof *sx);
}

void fs_readlink(struct request *r) {
        struct statx sx;
        _cleanup_close_ int fd = -1;
        char *buf = NULL;

        /* The final link is never followed: judge_failure must see it so. */
        r->fs.flags |= FDBR_F_NOFOLLOW;
        int k = fd = stat_reach(&r->fs, true, &sx);
        if (k >= 0 && !S_ISLNK(sx.stx_mode))
                k = -EINVAL;
        if (k >= 0 && !(buf = malloc(PATH_MAX)))
                k = -ENOMEM;
        if (k >= 0) {
                /* On the loop the link is known to be on a local mount:
                 * reading it never leaves the kernel. */
                ssize_t n = readlinkat(fd, "", buf, PATH_MAX);
                k = n < 0 ? -errno : (size_t) n > FDBR_WIRE_PATH_MAX ? -ENAMETOOLONG : (int) n;
        }
        reply_data(r, k, buf, k > 0 ? (size_t) k : 0);
}
