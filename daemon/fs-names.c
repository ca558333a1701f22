/* SPDX-License-Identifier: MIT */
/* MKDIR, UNLINK, RMDIR, RENAME: ops on names.  The parent directory is
 * resolved as OPEN resolves a path and held by an O_PATH descriptor; the
 * final name is acted on with an *at() call on that descriptor and never
 * followed.  A parent swapped for a symlink after the decision is no way
 * out of the allowed tree: without `follow` the resolution refuses
 * symlinks, with it the parent's real path is judged, and the descriptor
 * keeps the judged directory whatever happens to its path later.
 *
 * Creating and removing names may wait for the disk (and any op on a
 * remote mount for the network): none of this runs on the loop. */
#include "fs-ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "request.h"
#include "wire.h"

#define NAME_MASK (STATX_TYPE | STATX_MODE | STATX_UID | STATX_NLINK)

/* A new directory made by the broker belongs to root: it is given to the
 * client through a descriptor of it, reached by its name again.  Only a
 * directory still owned by the broker is given away (the name may have
 * been swapped meanwhile by whoever may write the parent: their
 * directory is left alone).  If the owner cannot be set the directory is
 * removed again rather than left behind owned by root. */
static int give_dir(struct fsop *op, int dfd, const char *name, gid_t gid) {
        _cleanup_close_ int fd = fsop_openat2(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                                              0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
        struct stat st;
        if (fd < 0)
                return fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV ? -EEXIST : fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_uid != geteuid())
                return -EEXIST;
        if (fchown(fd, op->subject->uid, gid) < 0) {
                int r = -errno;
                struct stat b;
                if (fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && b.st_dev == st.st_dev &&
                    b.st_ino == st.st_ino)
                        (void) unlinkat(dfd, name, AT_REMOVEDIR);
                return r;
        }
        return 0;
}

/* The parent directory of op's path, held by descriptor, and the final
 * name; root_error when the path is "/", which has no final name. */
static int name_parent(struct fsop *op, const char **ret_name, int root_error) {
        const char *name;
        int dfd = fsop_open_parent(op, &name);
        if (dfd < 0)
                return dfd;
        if (!*name) {
                safe_close(dfd);
                return root_error;
        }
        *ret_name = name;
        return dfd;
}

static int names_mkdir(struct fsop *op) {
        const char *name;
        struct stat ds;

        if (op->cached)
                return fsop_defer(op);
        _cleanup_close_ int dfd = name_parent(op, &name, -EEXIST);
        if (dfd < 0)
                return dfd;
        if (fstat(dfd, &ds) < 0)
                return -errno;
        /* The group the kernel gives a directory the client makes itself. */
        gid_t gid = ds.st_mode & S_ISGID ? ds.st_gid : op->subject->gid;
        if (mkdirat(dfd, name, op->mode & 0777 & ~(mode_t) 022) < 0)
                return -errno;
        return give_dir(op, dfd, name, gid);
}

/* The file that name in dfd is, for the owner and real-path checks of
 * removing or replacing it. */
static int name_stat(int dfd, const char *name, struct statx *ret) {
        return statx(dfd, name, AT_SYMLINK_NOFOLLOW, NAME_MASK, ret) < 0 ? -errno : 0;
}

static int names_remove(struct fsop *op, bool dir) {
        const char *name;
        struct statx sx;
        int r;

        if (op->cached)
                return fsop_defer(op);
        _cleanup_close_ int dfd = name_parent(op, &name, dir ? -EBUSY : -EISDIR);
        if (dfd < 0)
                return dfd;
        r = name_stat(dfd, name, &sx);
        if (r < 0)
                return r;
        if (dir != S_ISDIR(sx.stx_mode))
                return dir ? -ENOTDIR : -EISDIR;
        r = fsop_check_name(op, dfd, name, &sx, op->need);
        if (r < 0)
                return r;
        return unlinkat(dfd, name, dir ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
}

/* A refusal decided on RENAME's destination, cited with its rule. */
static int deny_dst(struct fsop *op, const struct policy_rule *rule, const char *dst, const char *reason) {
        fsop_clear(op);
        op->rule = rule;
        op->judged_path = strdup(dst); /* for the record only: NULL is bearable */
        return fsop_deny(op, reason);
}

/* What a decision on the destination's fsop left for the record goes to
 * the request's. */
static int take_report(struct fsop *op, struct fsop *d, int r) {
        if (d->denied) {
                fsop_clear(op);
                op->denied = true;
                op->reason = d->reason;
                op->rule = d->rule;
                op->judged_path = TAKE_PTR(d->judged_path);
        }
        fsop_clear(d);
        return r;
}

/* src is op->path; dst follows it in the path area.  The destination is
 * decided here, by its own verdict: `create` always, `delete` too where an
 * existing name is replaced.  Where `delete` is not granted the rename is
 * made RENAME_NOREPLACE whatever the flags, so that a name appearing
 * between the check and the rename is not replaced either. */
static int names_rename(struct fsop *op, const char *dst, size_t dst_len, uint32_t flags) {
        struct policy_verdict dv;
        struct statx sx;
        const char *sname, *dname;
        int r;

        policy_match(op->policy, op->subject, dst, dst_len, POLICY_CREATE | POLICY_DELETE, &dv);
        if (!policy_verdict_allows(&dv, POLICY_CREATE))
                return deny_dst(op, dv.rule, dst,
                                dv.denied ? "destination: deny rule"
                                : dv.rule ? "destination: permission not granted"
                                          : "destination: no rule");
        if (op->cached)
                return fsop_defer(op);

        _cleanup_close_ int sdfd = name_parent(op, &sname, -EBUSY);
        if (sdfd < 0)
                return sdfd;
        r = name_stat(sdfd, sname, &sx);
        if (r < 0)
                return r;
        r = fsop_check_name(op, sdfd, sname, &sx, op->need);
        if (r < 0)
                return r;

        struct fsop d = *op;
        d.path = dst;
        d.path_len = dst_len;
        d.need = POLICY_CREATE;
        d.granted = dv.granted;
        d.owner_only = dv.owner_only;
        d.judged_path = NULL;
        _cleanup_close_ int ddfd = name_parent(&d, &dname, -EBUSY);
        if (ddfd < 0)
                return take_report(op, &d, ddfd);

        bool replace = !(flags & FDBR_F_EXCL) && policy_verdict_allows(&dv, POLICY_DELETE);
        if (!(flags & FDBR_F_EXCL)) {
                r = name_stat(ddfd, dname, &sx);
                if (r == 0 && !replace)
                        return take_report(op, &d, deny_dst(&d, dv.rule, dst, "destination exists, delete not granted"));
                if (r == 0) {
                        d.need = POLICY_DELETE;
                        r = fsop_check_name(&d, ddfd, dname, &sx, POLICY_DELETE);
                        if (r < 0)
                                return take_report(op, &d, r);
                } else if (r != -ENOENT)
                        return take_report(op, &d, r);
        }
        fsop_clear(&d);
        if (renameat2(sdfd, sname, ddfd, dname, replace ? 0 : RENAME_NOREPLACE) < 0)
                return -errno;
        return 0;
}

unsigned fs_need_mkdir(const struct request *r) {
        return POLICY_CREATE | POLICY_DIR;
}

unsigned fs_need_unlink(const struct request *r) {
        return POLICY_DELETE;
}

unsigned fs_need_rmdir(const struct request *r) {
        return POLICY_DELETE | POLICY_DIR;
}

/* The request path is the source; the destination is decided by the
 * handler. */
unsigned fs_need_rename(const struct request *r) {
        return POLICY_DELETE;
}

void fs_mkdir(struct request *r) {
        request_fs_result(r, names_mkdir(&r->fs));
}

void fs_unlink(struct request *r) {
        request_fs_result(r, names_remove(&r->fs, false));
}

void fs_rmdir(struct request *r) {
        request_fs_result(r, names_remove(&r->fs, true));
}

void fs_rename(struct request *r) {
        const char *dst = r->path + r->src_len + 1;
        request_fs_result(r, names_rename(&r->fs, dst, r->path_len - r->src_len - 1, r->flags));
}
