/* SPDX-License-Identifier: MIT */
#include "fsop.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
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

/* Links a failed resolution is retraced through, as the kernel's limit,
 * and components: each costs a system call, and 40 links of 4 KiB of
 * "a/" each would otherwise make one request cost some 80,000.  A path
 * the client names has at most 2,048. */
#define WALK_LINKS_MAX 40
#define WALK_STEPS_MAX 4096

/* What the checks need to know of a file. */
struct finfo {
        mode_t mode;
        nlink_t nlink;
        uid_t uid;
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

void fsop_clear(struct fsop *op) {
        free(op->judged_path);
        op->judged_path = NULL;
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

/* Decides on path as the policy would, for the whole of need; fi is the
 * file found there (NULL: none, or one being created), whose owner the
 * permissions that only `owner` rules grant require to be the client. */
static int allowed_at(struct fsop *op, const char *path, size_t len, unsigned need, const struct finfo *fi) {
        struct policy_verdict v;
        const char *reason = NULL;

        policy_match(op->policy, op->subject, path, len, need, &v);
        if (!policy_verdict_allows(&v, need))
                reason = "real path not allowed";
        else if (fi && (need & ~POLICY_CREATE & v.owner_only) && fi->uid != op->subject->uid)
                reason = "real path not owned by the client";
        if (!reason)
                return 0;
        op->rule = v.rule;
        fsop_clear(op);
        op->judged_path = strndup(path, len); /* for the record only: NULL is bearable */
        return deny(op, reason);
}

/* Joins dir, name and the unresolved rest into buf as one canonical path,
 * up to the first ".." of the rest (that one would have been resolved
 * against what the walk never reached); -EINVAL if name itself is "..". */
static int join_failed(char *buf, size_t size, const char *dir, const char *name, const char *rest,
                       const char *suffix) {
        size_t len = strlen(dir);
        const char *parts[] = { name, rest, suffix };

        if (len >= size)
                return -ENAMETOOLONG;
        memcpy(buf, dir, len + 1);
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                for (const char *p = parts[i]; p && *p;) {
                        while (*p == '/')
                                p++;
                        size_t clen = strcspn(p, "/");
                        if (clen == 0)
                                break;
                        if (clen == 2 && p[0] == '.' && p[1] == '.')
                                return i == 0 ? -EINVAL : (int) len;
                        if (!(clen == 1 && p[0] == '.')) {
                                if (len + 1 + clen >= size)
                                        return -ENAMETOOLONG;
                                if (len > 1)
                                        buf[len++] = '/';
                                memcpy(buf + len, p, clen);
                                buf[len += clen] = 0;
                        }
                        p += clen;
                }
        }
        return (int) len;
}

/* The answer to a resolution under follow that failed.  The error may have
 * been met behind a symlink, where the client may not look: the kernel's
 * answer says whether a file it is not allowed to see exists.  So the path
 * is retraced one component at a time (O_PATH, no symlink followed by the
 * kernel, each link read and its target spliced in), and where this walk
 * itself fails:
 *  - before any symlink: the error is about the path the client named,
 *    which the policy allowed; it is passed through;
 *  - behind one: it is passed through only if the path where it was met
 *    (with the unresolved rest of the target appended) is allowed for this
 *    client and access, else EACCES, audited as a denial with that path.
 * The answer is the walk's own, never the first resolution's: a tree
 * changed in between cannot turn one into an oracle for the other.  A
 * loop, a magic link, a target too long to judge, or a walk that now
 * succeeds where the open failed, are EACCES. */
static int judge_failure(struct fsop *op, const char *path, bool want_dir, bool nofollow, const char *suffix) {
        char rest[2 * PATH_MAX + 2], tmp[sizeof rest], link[PATH_MAX + 1], dir[PATH_MAX + 1];
        char judged[PATH_MAX + 1];
        _cleanup_close_ int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        bool via_link = false;
        unsigned links = 0, steps = 0;
        size_t n = strlen(path);
        struct stat st;
        int r;

        if (cur < 0)
                return -errno;
        if (n >= sizeof rest)
                return deny(op, "followed path unknown");
        memcpy(rest, path, n + 1);

        for (char *p = rest;;) {
                while (*p == '/')
                        p++;
                if (!*p) {
                        if (fstat(cur, &st) < 0)
                                return -errno;
                        if (want_dir && !S_ISDIR(st.st_mode)) {
                                r = -ENOTDIR;
                                if (!via_link)
                                        return r;
                                int k = real_path(cur, judged, sizeof judged);
                                if (k < 0)
                                        return deny(op, "followed path unknown");
                                k = allowed_at(op, judged, (size_t) k, op->need, NULL);
                                return k < 0 ? k : r;
                        }
                        return deny(op, "path changed while resolving");
                }

                size_t clen = strcspn(p, "/");
                char *end = p + clen;
                bool last = end[strspn(end, "/")] == 0;
                char name[NAME_MAX + 1];
                if (clen > NAME_MAX)
                        return via_link ? deny(op, "followed path unknown") : -ENAMETOOLONG;
                if (++steps > WALK_STEPS_MAX)
                        return deny(op, "followed path too long to retrace");
                memcpy(name, p, clen);
                name[clen] = 0;

                int fd = sys_openat2(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS);
                if (fd < 0) {
                        if (!via_link)
                                return fd;
                        int k = real_path(cur, dir, sizeof dir);
                        if (k >= 0)
                                k = join_failed(judged, sizeof judged, dir, name, end, suffix);
                        if (k == -EINVAL)
                                /* ".." from a file: only that file was judged */
                                k = real_path(cur, judged, sizeof judged);
                        if (k < 0 || wire_path_check(judged, (size_t) k) < 0)
                                return deny(op, "followed path unknown");
                        k = allowed_at(op, judged, (size_t) k, op->need, NULL);
                        return k < 0 ? k : fd;
                }
                if (fstat(fd, &st) < 0) {
                        r = -errno;
                        safe_close(fd);
                        return r;
                }
                if (!S_ISLNK(st.st_mode) || (last && nofollow && !end[0])) {
                        safe_close(cur);
                        cur = fd;
                        p = end;
                        continue;
                }

                /* A symlink: its target takes its place in the rest. */
                struct statfs sf;
                via_link = true;
                if (++links > WALK_LINKS_MAX)
                        r = deny(op, "too many symlinks");
                else if (fstatfs(fd, &sf) < 0 || sf.f_type == PROC_SUPER_MAGIC)
                        r = deny(op, "magic link not followed");
                else {
                        ssize_t k = readlinkat(fd, "", link, sizeof link);
                        r = k < 0 ? -errno : (size_t) k >= sizeof link ? -ENAMETOOLONG : (int) k;
                }
                safe_close(fd);
                if (r < 0)
                        return op->denied ? r : deny(op, "followed path unknown");
                size_t llen = (size_t) r, elen = strlen(end);
                if (llen + elen + 1 > sizeof tmp)
                        return deny(op, "followed path unknown");
                memcpy(tmp, link, llen);
                memcpy(tmp + llen, end, elen + 1);
                memcpy(rest, tmp, llen + elen + 1);
                p = rest;
                if (link[0] == '/') {
                        safe_close(cur);
                        cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                        if (cur < 0)
                                return -errno;
                }
        }
}

/* Without follow, the only way to meet ELOOP is a symlink the policy does
 * not let us follow: that is a refusal, not a filesystem error.  Under
 * follow, a failure is judged by the path it was met on (judge_failure),
 * which never happens on the loop. */
/* suffix: path is the parent of a file to create, named suffix. */
static int map_resolve_error(struct fsop *op, int r, const char *path, const char *suffix) {
        if (r == -EAGAIN && op->cached)
                return defer(op); /* not all in the dentry cache */
        if (!following(op)) {
                if (r == -ELOOP || r == -EXDEV)
                        return deny(op, "symlink not allowed");
                return r;
        }
        if (op->cached)
                return defer(op);
        return judge_failure(op, path, suffix || (op->flags & FDBR_F_DIRECTORY),
                             !suffix && (op->flags & FDBR_F_NOFOLLOW), suffix);
}

/* Cached, the attributes come from the inode as it is: a FUSE or NFS
 * filesystem would otherwise be asked to refresh them. */
static int inspect(const struct fsop *op, int fd, struct finfo *ret) {
        if (op->cached) {
                struct statx sx;
                if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
                          STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_MNT_ID, &sx) < 0)
                        return -errno;
                if (!(sx.stx_mask & STATX_MNT_ID))
                        return -EOPNOTSUPP;
                *ret = (struct finfo) {
                        .mode = sx.stx_mode, .nlink = sx.stx_nlink, .uid = sx.stx_uid,
                        .dev = makedev(sx.stx_dev_major, sx.stx_dev_minor), .mnt_id = sx.stx_mnt_id,
                };
                return 0;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        *ret = (struct finfo) { .mode = st.st_mode, .nlink = st.st_nlink, .uid = st.st_uid, .dev = st.st_dev };
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
        return allowed_at(op, buf, (size_t) n, need, fi);
}

/* The checks every descriptor (opened or O_PATH) goes through before it
 * may be returned. */
static int verify(struct fsop *op, int fd, const struct finfo *fi) {
        unsigned extra;
        int r = type_need(op, fi->mode, &extra);
        if (r < 0)
                return r;
        /* Permissions only `owner` rules give hold for the client's own
         * files; CREATE asks nothing more of a file that exists. */
        if (((op->need | extra) & ~POLICY_CREATE & op->owner_only) && fi->uid != op->subject->uid)
                return deny(op, "not owned by the client");
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
 * passed, and blocking mode for the client.  Every open is non-blocking:
 * a device's may wait for its driver, a regular file's for another
 * process's lease to be broken (tens of seconds, on the loop); F_SETFL
 * replaces exactly the status flags we opened with that it can change: of
 * those only O_APPEND is to stay. */
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

/* Reaches op->path with O_PATH and pflags.  On the loop it starts from
 * the local mount holding the path, with RESOLVE_NO_XDEV, so that the file
 * is known to be on that mount (whose opens never leave the kernel);
 * where there is no such mount, or under follow, *ret_local is false and
 * the caller looks the file's mount up once it is reached. */
static int reach(struct fsop *op, int pflags, bool *ret_local) {
        uint64_t resolve = resolve_flags(op);
        const char *rel = op->path;
        int mfd = AT_FDCWD;

        if (op->cached && !following(op)) {
                mfd = mounts_fast_dir(op->path, op->path_len, &rel);
                op->path_local = mfd >= 0 ? 1 : -1;
                if (mfd >= 0)
                        resolve |= RESOLVE_NO_XDEV;
                else {
                        mfd = AT_FDCWD;
                        rel = op->path;
                }
        }
        int fd = sys_openat2(mfd, rel, pflags, 0, resolve);
        if (fd == -EXDEV && mfd != AT_FDCWD)
                return defer(op); /* a mount the table does not know yet: anything may be there */
        if (fd < 0)
                return map_resolve_error(op, fd, op->path, NULL);
        *ret_local = mfd != AT_FDCWD;
        return fd;
}

/* Reaches the file with O_PATH, which opens nothing (no device driver, no
 * FIFO, no FUSE open), and judges it; only then is it opened for real,
 * through that same descriptor.  Every open goes this way: a direct open
 * of a name that turns out to be a FIFO has already released the writer
 * blocked on it, and one of a device has already run its driver, before
 * the type could be looked at. */
static int open_via_path(struct fsop *op) {
        int pflags = O_PATH | O_CLOEXEC | (op->flags & FDBR_F_DIRECTORY ? O_DIRECTORY : 0) |
                     (op->flags & FDBR_F_NOFOLLOW ? O_NOFOLLOW : 0);
        struct finfo fi;
        bool local = false;
        int r;

        _cleanup_close_ int fd = reach(op, pflags, &local);
        if (fd < 0)
                return fd;
        r = inspect(op, fd, &fi);
        if (r < 0)
                return r;
        /* A device's open runs its driver, which may wait: not on the loop. */
        if (op->cached && ((!local && !mounts_is_local(fi.mnt_id, fi.dev)) ||
                           (!op->check_only && (S_ISCHR(fi.mode) || S_ISBLK(fi.mode)))))
                return defer(op);
        r = verify(op, fd, &fi);
        if (r < 0)
                return r;
        if (op->check_only)
                return TAKE_FD(fd);
        r = reopen(fd, open_flags(op));
        /* On the loop the O_PATH descriptor is closed after the reply is
         * sent, with the reopened one: one system call for both. */
        if (r >= 0 && op->cached && op->keep_path_fd)
                op->path_fd = TAKE_FD(fd);
        return r;
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
                return map_resolve_error(op, dfd, parent, slash + 1);

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
                int r = allowed_at(op, buf, len, op->need, NULL);
                if (r < 0)
                        return r;
        }

        *ret_name = slash + 1;
        return TAKE_FD(dfd);
}

/* Creates name in dfd, owned by the client.  The file is created O_EXCL, so
 * the descriptor is known to be the new file and fchown cannot be
 * redirected; if the ownership cannot be given away the file is removed
 * again rather than left behind owned by root.  Its group is the client's
 * primary group, or the directory's where that is set-group-ID, as the
 * kernel gives it when the client creates the file itself. */
static int create_new(struct fsop *op, int dfd, const char *name) {
        mode_t mode = op->mode & 0777 & ~(mode_t) 022;
        struct stat ds;
        gid_t gid = op->subject->gid;

        if (fstat(dfd, &ds) < 0)
                return -errno;
        if (ds.st_mode & S_ISGID)
                gid = ds.st_gid;
        _cleanup_close_ int fd = sys_openat2(dfd, name, (uint64_t) open_flags(op) | O_CREAT | O_EXCL, mode,
                                             RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return fd;

        if (fchown(fd, op->subject->uid, gid) < 0) {
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
                        int fd = open_via_path(op);
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
                fd = open_via_path(op);
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
                if (op->cached && op->keep_path_fd)
                        op->path_fd = safe_close(op->path_fd);
                return r;
        }
        return fd;
}

/* ---- for the handlers of the other ops (fs-*.c) ------------------------- */

int fsop_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
        return sys_openat2(dirfd, path, flags, mode, resolve);
}

int fsop_reach(struct fsop *op, int pflags, bool *ret_local) {
        return reach(op, pflags, ret_local);
}

int fsop_deny(struct fsop *op, const char *reason) {
        return deny(op, reason);
}

int fsop_defer(struct fsop *op) {
        return defer(op);
}

int fsop_resolve_error(struct fsop *op, int r, const char *path, const char *suffix) {
        return map_resolve_error(op, r, path, suffix);
}

int fsop_open_parent(struct fsop *op, const char **ret_name) {
        return open_parent(op, ret_name);
}

static struct finfo finfo_of(const struct statx *sx) {
        return (struct finfo) {
                .mode = sx->stx_mode, .nlink = sx->stx_nlink, .uid = sx->stx_uid,
                .dev = makedev(sx->stx_dev_major, sx->stx_dev_minor), .mnt_id = sx->stx_mnt_id,
        };
}

int fsop_check_reached(struct fsop *op, int fd, const struct statx *sx, unsigned need) {
        struct finfo fi = finfo_of(sx);
        if ((need & ~POLICY_CREATE & op->owner_only) && fi.uid != op->subject->uid)
                return deny(op, "not owned by the client");
        if (following(op))
                return check_real(op, fd, &fi, need);
        return 0;
}

int fsop_check_name(struct fsop *op, int dfd, const char *name, const struct statx *sx, unsigned need) {
        struct finfo fi = finfo_of(sx);
        if ((need & ~POLICY_CREATE & op->owner_only) && fi.uid != op->subject->uid)
                return deny(op, "not owned by the client");
        if (!following(op))
                return 0;
        /* The parent's real path was judged for creating; what is removed
         * or replaced is judged again, with its owner, at its real name. */
        char buf[PATH_MAX + 1];
        int n = real_path(dfd, buf, sizeof buf);
        size_t nlen = strlen(name);
        if (n < 0 || (size_t) n + 1 + nlen >= sizeof buf)
                return deny(op, "real path unknown");
        size_t len = (size_t) n;
        if (len > 1)
                buf[len++] = '/';
        memcpy(buf + len, name, nlen + 1);
        return allowed_at(op, buf, len + nlen, need, &fi);
}
