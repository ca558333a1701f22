/* SPDX-License-Identifier: MIT */
#include "fsop.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "mounts.h"
#include "wire.h"

/* How often a create retries when the name appears and disappears under
 * it (open existing → ENOENT → create O_EXCL → EEXIST → ...). */
#define CREATE_RETRIES 8

/* What a CREATE check answers when the name is free: not a descriptor. */
#define NAME_FREE INT_MAX

/* What the checks need to know of a file. */
struct finfo {
        mode_t mode;
        nlink_t nlink;
        dev_t dev;
        uint64_t mnt_id;
};

/* /proc/self/fd, opened once: reopening and naming descriptors then costs
 * a lookup of one component instead of four. */
static int proc_fds = -1;

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
        struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
        int fd = (int) syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        return fd < 0 ? -errno : fd;
}

int fsop_probe(void) {
        int fd = sys_openat2(AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                             RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return fd;
        safe_close(fd);

        if (proc_fds < 0) {
                proc_fds = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (proc_fds < 0)
                        return -errno;
        }
        return 0;
}

void fsop_done(void) {
        proc_fds = safe_close(proc_fds);
}

static bool following(const struct fsop *op) {
        return op->granted & POLICY_FOLLOW;
}

static uint64_t resolve_flags(const struct fsop *op) {
        return RESOLVE_NO_MAGICLINKS | (following(op) ? 0 : RESOLVE_NO_SYMLINKS) |
               (op->cached ? RESOLVE_CACHED : 0);
}

static int deny(struct fsop *op, const char *reason) {
        op->denied = true;
        op->reason = reason;
        return -EACCES;
}

static int defer(struct fsop *op) {
        op->deferred = true;
        return -EAGAIN;
}

/* Without follow, the only way to meet ELOOP is a symlink the policy does
 * not let us follow: that is a refusal, not a filesystem error.  ENXIO is
 * what open(2) says for a FIFO without reader or a socket: those are never
 * opened, and the client learns only that, unless devices are granted and
 * the answer may really be about a device. */
static int map_resolve_error(struct fsop *op, int r) {
        if (r == -EAGAIN && op->cached)
                return defer(op); /* not all in the dentry cache */
        if ((r == -ELOOP || r == -EXDEV) && !following(op))
                return deny(op, "symlink not allowed");
        if (r == -ENXIO) {
                struct stat st;
                if (!(op->granted & POLICY_DEVICE) ||
                    (stat(op->path, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))))
                        return deny(op, "not a regular file, directory or device");
        }
        return r;
}

/* Cached, the attributes come from the inode as it is: a FUSE or NFS
 * filesystem would otherwise be asked to refresh them. */
static int inspect(const struct fsop *op, int fd, struct finfo *ret) {
        if (op->cached) {
                struct statx sx;
                if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
                          STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_MNT_ID, &sx) < 0)
                        return -errno;
                if (!(sx.stx_mask & STATX_MNT_ID))
                        return -EOPNOTSUPP;
                *ret = (struct finfo) {
                        .mode = sx.stx_mode, .nlink = sx.stx_nlink,
                        .dev = makedev(sx.stx_dev_major, sx.stx_dev_minor), .mnt_id = sx.stx_mnt_id,
                };
                return 0;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        *ret = (struct finfo) { .mode = st.st_mode, .nlink = st.st_nlink, .dev = st.st_dev };
        return 0;
}

/* The permission the type of the opened file needs, beyond the flags. */
static int type_need(struct fsop *op, mode_t m, unsigned *ret) {
        if (S_ISREG(m))
                *ret = 0;
        else if (S_ISLNK(m))
                /* O_PATH|O_NOFOLLOW reached the link itself: NOFOLLOW's own
                 * answer where links may be followed, else the policy's. */
                return following(op) ? -ELOOP : deny(op, "symlink not allowed");
        else if (S_ISDIR(m))
                *ret = POLICY_DIR;
        else if (S_ISCHR(m) || S_ISBLK(m))
                *ret = POLICY_DEVICE;
        else
                return deny(op, "not a regular file, directory or device");
        return 0;
}

/* Where fd really is, as the kernel names the dentry it was opened by. */
static int real_path(int fd, char *buf, size_t size) {
        char name[16];
        snprintf(name, sizeof name, "%d", fd);
        ssize_t n = readlinkat(proc_fds, name, buf, size);
        if (n < 0)
                return -errno;
        if ((size_t) n >= size)
                return -ENAMETOOLONG;
        buf[n] = 0;
        return (int) n;
}

/* Decides on path as the policy would, for the whole of need. */
static int allowed_at(struct fsop *op, const char *path, size_t len, unsigned need) {
        struct policy_verdict v;

        policy_match(op->policy, op->subject, path, len, need, &v);
        if (!policy_verdict_allows(&v, need)) {
                op->rule = v.rule;
                return deny(op, "real path not allowed");
        }
        return 0;
}

/* With follow, the decision is made again on the file actually opened:
 * its real path must be allowed for this client and access by the rules,
 * whatever path the client named.  A rename after the open cannot help an
 * attacker: the kernel names the dentry the file was reached by. */
static int check_real(struct fsop *op, int fd, const struct finfo *fi, unsigned need) {
        char buf[PATH_MAX + 1];
        int n = real_path(fd, buf, sizeof buf);
        if (n < 0)
                return deny(op, "real path unknown");
        /* An unlinked file's name carries " (deleted)": never decide on it. */
        if (fi->nlink == 0 || wire_path_check(buf, (size_t) n) < 0)
                return deny(op, "real path unknown");
        return allowed_at(op, buf, (size_t) n, need);
}

/* The checks every descriptor (opened or O_PATH) goes through before it
 * may be returned. */
static int verify(struct fsop *op, int fd, const struct finfo *fi) {
        unsigned extra;
        int r = type_need(op, fi->mode, &extra);
        if (r < 0)
                return r;
        if (following(op))
                return check_real(op, fd, fi, op->need | extra);
        if (extra & ~op->granted)
                return deny(op, S_ISDIR(fi->mode) ? "directory not allowed" : "device not allowed");
        return 0;
}

static int open_flags(const struct fsop *op) {
        uint32_t f = op->flags;
        int o = O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

        if ((f & FDBR_F_READ) && (f & FDBR_F_WRITE))
                o |= O_RDWR;
        else if (f & FDBR_F_WRITE)
                o |= O_WRONLY;
        else
                o |= O_RDONLY;
        if (f & FDBR_F_APPEND)
                o |= O_APPEND;
        if (f & FDBR_F_DIRECTORY)
                o |= O_DIRECTORY;
        if (f & FDBR_F_NOFOLLOW)
                o |= O_NOFOLLOW;
        return o;
}

/* Re-opens an O_PATH descriptor with the real flags.  Going through the
 * descriptor's own magic link reaches exactly the checked inode. */
static int reopen(int pfd, int flags) {
        char name[16];
        snprintf(name, sizeof name, "%d", pfd);
        int fd = openat(proc_fds, name, flags & ~O_NOFOLLOW);
        return fd < 0 ? -errno : fd;
}

/* Finishes an opened descriptor: truncation only now that every check
 * passed, and blocking mode for the client.  F_SETFL replaces exactly the
 * status flags we opened with that it can change: of those only O_APPEND
 * is to stay. */
static int finish(struct fsop *op, int fd) {
        if ((op->flags & FDBR_F_TRUNC)) {
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0)
                        return -errno;
        }
        if (fcntl(fd, F_SETFL, op->flags & FDBR_F_APPEND ? O_APPEND : 0) < 0)
                return -errno;
        return 0;
}

/* Reaches the file with O_PATH, which opens nothing (no device driver, no
 * FIFO, no FUSE open), and judges it; only then is it opened for real,
 * through that same descriptor.  Used under follow (the target is not
 * known before), for CHECK (nothing is to be opened) and on the loop (the
 * filesystem is not known before). */
static int open_via_path(struct fsop *op) {
        int pflags = O_PATH | O_CLOEXEC | (op->flags & FDBR_F_DIRECTORY ? O_DIRECTORY : 0) |
                     (op->flags & FDBR_F_NOFOLLOW ? O_NOFOLLOW : 0);
        _cleanup_close_ int fd = sys_openat2(AT_FDCWD, op->path, pflags, 0, resolve_flags(op));
        struct finfo fi;
        int r;

        if (fd < 0)
                return map_resolve_error(op, fd);
        r = inspect(op, fd, &fi);
        if (r < 0)
                return r;
        /* A device's open runs its driver, which may wait: not on the loop. */
        if (op->cached && (!mounts_is_local(fi.mnt_id, fi.dev) ||
                           (!op->check_only && (S_ISCHR(fi.mode) || S_ISBLK(fi.mode)))))
                return defer(op);
        r = verify(op, fd, &fi);
        if (r < 0)
                return r;
        if (op->check_only)
                return TAKE_FD(fd);
        return reopen(fd, open_flags(op));
}

/* The loop's direct open: from the local mount holding the path, with
 * RESOLVE_NO_XDEV so that the file is known to be on that mount (whose
 * opens never leave the kernel) before anything is opened.  Returns false,
 * having done nothing, where the mount does not allow it; else true with
 * the descriptor or -errno in *ret. */
static bool open_on_mount(struct fsop *op, int *ret) {
        const char *rel;
        int mfd = mounts_fast_dir(op->path, op->path_len, &rel);
        if (mfd < 0)
                return false;
        int fd = sys_openat2(mfd, rel, open_flags(op), 0, resolve_flags(op) | RESOLVE_NO_XDEV);
        /* A mount the table does not know yet: anything may be there. */
        *ret = fd == -EXDEV ? defer(op) : fd;
        return true;
}

/* Opens an existing file.  Without follow the open is direct: the path is
 * exactly what the policy allowed and nothing on it is a symlink.  On the
 * loop that is possible only from a local mount; otherwise, and under
 * follow or for CHECK, the file is reached with O_PATH first. */
static int open_existing(struct fsop *op) {
        _cleanup_close_ int fd = -1;
        struct finfo fi;
        int r;

        if (op->check_only || following(op))
                return open_via_path(op);
        if (op->cached) {
                if (!open_on_mount(op, &fd))
                        return open_via_path(op);
        } else
                fd = sys_openat2(AT_FDCWD, op->path, open_flags(op), 0, resolve_flags(op));
        if (fd < 0)
                return op->deferred ? fd : map_resolve_error(op, fd);
        r = inspect(op, fd, &fi);
        if (r < 0)
                return r;
        r = verify(op, fd, &fi);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* Splits path into its parent directory (opened O_PATH) and final name. */
static int open_parent(struct fsop *op, const char **ret_name) {
        char parent[FDBR_WIRE_PATH_MAX + 1];
        const char *slash = strrchr(op->path, '/');
        size_t plen = (size_t) (slash - op->path);

        if (plen == 0)
                plen = 1; /* the parent of "/x" is "/" */
        memcpy(parent, op->path, plen);
        parent[plen] = 0;

        _cleanup_close_ int dfd = sys_openat2(AT_FDCWD, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                                              resolve_flags(op));
        if (dfd < 0)
                return map_resolve_error(op, dfd);

        if (following(op)) {
                /* The new file will be at <real parent>/<name>: that is the
                 * path the policy must allow, before anything is created. */
                char buf[PATH_MAX + 1];
                int n = real_path(dfd, buf, sizeof buf);
                size_t nlen = strlen(slash + 1);
                if (n < 0 || (size_t) n + 1 + nlen >= sizeof buf)
                        return deny(op, "real path unknown");
                size_t len = (size_t) n;
                if (len > 1)
                        buf[len++] = '/';
                memcpy(buf + len, slash + 1, nlen + 1);
                len += nlen;
                int r = allowed_at(op, buf, len, op->need);
                if (r < 0)
                        return r;
        }

        *ret_name = slash + 1;
        return TAKE_FD(dfd);
}

/* Creates name in dfd, owned by the client.  The file is created O_EXCL, so
 * the descriptor is known to be the new file and fchown cannot be
 * redirected; if the ownership cannot be given away the file is removed
 * again rather than left behind owned by root. */
static int create_new(struct fsop *op, int dfd, const char *name) {
        mode_t mode = op->mode & 0777 & ~(mode_t) 022;
        _cleanup_close_ int fd = sys_openat2(dfd, name, (uint64_t) open_flags(op) | O_CREAT | O_EXCL, mode,
                                             RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return fd;

        if (fchown(fd, op->subject->uid, op->subject->gid) < 0) {
                int r = -errno;
                struct stat a, b;
                if (fstat(fd, &a) == 0 && fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
                    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                        (void) unlinkat(dfd, name, 0);
                return r;
        }
        return TAKE_FD(fd);
}

static int open_create(struct fsop *op) {
        _cleanup_close_ int dfd = -1;
        const char *name = NULL;

        for (unsigned i = 0; i < CREATE_RETRIES; i++) {
                if (!(op->flags & FDBR_F_EXCL)) {
                        int fd = open_existing(op);
                        if (fd != -ENOENT)
                                return fd;
                }
                if (dfd < 0) {
                        dfd = open_parent(op, &name);
                        if (dfd < 0)
                                return dfd;
                }
                if (op->check_only) {
                        /* Nothing is created: report what OPEN would meet. */
                        struct stat st;
                        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                                return -EEXIST;
                        return errno == ENOENT ? NAME_FREE : -errno;
                }

                int fd = create_new(op, dfd, name);
                if (fd != -EEXIST || (op->flags & FDBR_F_EXCL))
                        return fd;

                /* Someone made the name meanwhile.  A symlink there is never
                 * created through, unlike open(2) would. */
                struct stat st;
                if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                        return deny(op, "symlink not allowed");
        }
        return -EEXIST;
}

/* What OPEN would meet beyond resolution, answered without opening for
 * real: writing a directory, writing on a read-only mount. */
static int check_access(int pfd, uint32_t flags) {
        struct stat st;
        struct statvfs sv;

        if (!(flags & (FDBR_F_WRITE | FDBR_F_TRUNC)))
                return 0;
        if (fstat(pfd, &st) < 0)
                return -errno;
        if ((flags & FDBR_F_WRITE) && S_ISDIR(st.st_mode))
                return -EISDIR;
        if (fstatvfs(pfd, &sv) == 0 && (sv.f_flag & ST_RDONLY))
                return -EROFS;
        return 0;
}

int fsop_run(struct fsop *op) {
        int fd, r;

        /* Creating allocates, truncating frees: both may wait for the disk. */
        if (op->cached && (op->flags & (FDBR_F_CREATE | FDBR_F_TRUNC)))
                return defer(op);

        if (op->flags & FDBR_F_CREATE)
                fd = open_create(op);
        else
                fd = open_existing(op);
        if (fd < 0)
                return fd;

        if (op->check_only) {
                if (fd == NAME_FREE)
                        return 0;
                r = check_access(fd, op->flags);
                safe_close(fd);
                return r;
        }

        r = finish(op, fd);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        return fd;
}
