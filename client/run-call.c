/* SPDX-License-Identifier: MIT */
/* One trapped call of CMD: decoded from the notification, its paths read
 * once from CMD's memory and made absolute, checked still valid, asked of
 * the broker, answered.
 *
 * What reaches CMD is one of three things, and nothing else:
 *   - the broker's answer to a request built only from what was read
 *     once and checked (a descriptor installed with ADDFD_FLAG_SEND, a
 *     status, a stat buffer written after the check);
 *   - SECCOMP_USER_NOTIF_FLAG_CONTINUE: the kernel runs the call as if run
 *     were not there, re-reading CMD's memory, with CMD's own rights.  That
 *     re-read is the race seccomp_unotify(2) warns about, and it is
 *     harmless here because the call can then only get what CMD could get
 *     by itself, with or without run;
 *   - nothing, when the notification is no longer valid (the caller died
 *     or was interrupted): the kernel has already answered it. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "macro.h"
#include "statx.h"
#include "seccomp-compat.h"

#if defined(__x86_64__)
#define RUN_AUDIT_ARCH AUDIT_ARCH_X86_64
#define RUN_KERNEL_O_LARGEFILE 0100000
#elif defined(__aarch64__)
#define RUN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define RUN_KERNEL_O_LARGEFILE 0400000
#endif
#include <linux/audit.h>

struct run_call {
        struct run *run;
        uint64_t id;
        pid_t pid;
        enum run_kind kind;
        enum run_kind asked; /* whose op the broker was asked: for ENOSYS */
        int oflags;    /* OPEN: what CMD asked, for O_CLOEXEC */
        bool nofollow; /* CMD asked not to follow a final symlink */
        bool want_dir; /* STAT: the path was spelt as a directory's; CHMOD: too */
        mode_t mode;   /* CHMOD: the mode to set */
        bool retried;  /* CHMOD: the open for writing after the one for reading */
        uint64_t buf, size;
        char path[PATH_MAX];
        char path2[PATH_MAX];
};

static int run_send(struct run *r, uint64_t id, int64_t val, int error, uint32_t flags) {
        struct seccomp_notif_resp *resp = r->resp_buf;

        memset(resp, 0, r->resp_size);
        resp->id = id;
        resp->val = val;
        resp->error = error;
        resp->flags = flags;
        if (ioctl(r->listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0)
                /* ENOENT: the caller is gone or was interrupted; the
                 * kernel has answered it. */
                return -errno;
        return 0;
}

void run_call_continue(struct run *r, uint64_t id) {
        (void) run_send(r, id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

static bool run_id_valid(struct run *r, uint64_t id) {
        return ioctl(r->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static void run_call_free(struct run_call *c) {
        c->run->inflight--;
        free(c);
}

static void run_lost(struct run *r, int error) {
        if (r->lost)
                return;
        r->lost = true;
        fprintf(stderr, "fdbroker: run: lost the broker at %s (%s): calls now run with the program's own rights\n",
                r->socket, strerror(-error));
}

/* The broker did not give what was asked. */
static void run_call_refused(struct run_call *c, int result) {
        struct run *r = c->run;

        switch (result) {
        case -ELOOP:
                /* A symlink the policy does not let the broker follow:
                 * a refusal like EACCES, unless CMD itself refused to
                 * follow it. */
                if (c->nofollow)
                        break;
                __attribute__((fallthrough));
        case -EACCES:
                if (r->no_fallback)
                        result = -EACCES;
                else
                        goto cont;
                break;
        case -ENOSYS:
                r->unsupported[c->asked] = true;
                goto cont;
        case -ECONNRESET:
        case -ENOTCONN:
        case -EBADMSG:
        case -ETIMEDOUT:
                run_lost(r, result);
                goto cont;
        case -ECANCELED:
                goto cont;
        default:
                /* access(2) is advisory: only "it does not exist" is worth
                 * more than what the kernel says to CMD itself. */
                if (c->kind == RUN_ACCESS && result != -ENOENT)
                        goto cont;
                break;
        }
        (void) run_send(r, c->id, 0, result, 0);
        run_call_free(c);
        return;
cont:
        run_call_continue(r, c->id);
        run_call_free(c);
}

static void run_call_plain_done(fdbr_conn *conn, int result, void *userdata) {
        struct run_call *c = userdata;
        struct run *r = c->run;

        if (result < 0) {
                run_call_refused(c, result);
                return;
        }

        if (c->kind == RUN_OPEN) {
                _cleanup_close_ int fd = result;
                struct seccomp_notif_addfd add = {
                        .id = c->id,
                        .flags = SECCOMP_ADDFD_FLAG_SEND,
                        .srcfd = (uint32_t) fd,
                        .newfd_flags = (c->oflags & O_CLOEXEC) ? O_CLOEXEC : 0,
                };
                /* Installed and answered in one step: no other thread of
                 * CMD can see, close or replace the number before the call
                 * returns it. */
                if (ioctl(r->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0 && errno != ENOENT)
                        (void) run_send(r, c->id, 0, -errno, 0);
        } else
                (void) run_send(r, c->id, 0, 0, 0);
        run_call_free(c);
}

/* chmod of a file only the broker reaches: the broker opens it (for
 * reading, else for writing; never creating or truncating) and the
 * supervisor, with the caller's own credentials (checked before asking),
 * changes its mode through the descriptor.  The kernel decides with that
 * user's rights, so nothing is given beyond what owning the file gives;
 * the broker's refusal continues the call as usual. */
static int run_call_chmod_open(struct run_call *c, int flags);

static void run_call_chmod_done(fdbr_conn *conn, int result, void *userdata) {
        struct run_call *c = userdata;
        struct run *r = c->run;

        if (result < 0) {
                /* Not readable by policy: perhaps writable.  A directory
                 * is never opened for writing. */
                if (result == -EACCES && !c->retried && !c->want_dir) {
                        c->retried = true;
                        int k = run_call_chmod_open(c, O_WRONLY);
                        if (k == 0)
                                return;
                        result = k;
                }
                run_call_refused(c, result == -EISDIR ? -EACCES : result);
                return;
        }

        _cleanup_close_ int fd = result;
        (void) run_send(r, c->id, 0, fchmod(fd, c->mode) < 0 ? -errno : 0, 0);
        run_call_free(c);
}

static int run_call_chmod_open(struct run_call *c, int flags) {
        return fdbr_conn_open(c->run->conn, c->path, flags | (c->want_dir ? O_DIRECTORY : 0), 0, run_call_chmod_done,
                              c);
}

/* Writes len bytes into CMD's buffer at c->buf, then answers val. */
static void run_call_write_back(struct run_call *c, const void *data, size_t len, int64_t val) {
        struct run *r = c->run;

        _cleanup_close_ int mem = run_mem_open(c->pid);
        /* The descriptor pins the address space that was there when it was
         * opened: valid now means it was CMD's caller's. */
        if (!run_id_valid(r, c->id))
                goto done;
        if (mem < 0) {
                run_call_continue(r, c->id);
                goto done;
        }
        if (pwrite(mem, data, len, (off_t) c->buf) != (ssize_t) len) {
                (void) run_send(r, c->id, 0, -EFAULT, 0);
                goto done;
        }
        (void) run_send(r, c->id, val, 0, 0);
done:
        run_call_free(c);
}

static void run_call_stat_done(fdbr_conn *conn, int result, const struct statx *sx, void *userdata) {
        struct run_call *c = userdata;

        if (result < 0) {
                run_call_refused(c, result);
                return;
        }
        if (c->want_dir && !S_ISDIR(sx->stx_mode)) {
                run_call_refused(c, -ENOTDIR);
                return;
        }

        if (c->kind == RUN_ACCESS) {
                (void) run_send(c->run, c->id, 0, 0, 0);
                run_call_free(c);
                return;
        }
        if (c->kind == RUN_STATX) {
                run_call_write_back(c, sx, sizeof *sx, 0);
                return;
        }

        struct stat st = statx_to_stat(sx);
        run_call_write_back(c, &st, sizeof st, 0);
}

static void run_call_data_done(fdbr_conn *conn, int result, const char *data, size_t len, void *userdata) {
        struct run_call *c = userdata;

        if (result < 0) {
                run_call_refused(c, result);
                return;
        }
        if (len > c->size)
                len = c->size;
        run_call_write_back(c, data, len, (int64_t) len);
}

/* Reads the path at args[idx] relative to args[dirfd_idx] into out. */
static int run_call_path(pid_t pid, const struct seccomp_data *d, int idx, int dirfd_idx, char *out,
                         bool *ret_dir) {
        char raw[PATH_MAX], base[PATH_MAX];

        ssize_t n = run_mem_read_string(pid, d->args[idx], raw, sizeof raw);
        if (n < 0)
                return (int) n;
        if (n == 0)
                return -ENOENT;
        if (raw[0] != '/') {
                int dirfd = dirfd_idx >= 0 ? (int) d->args[dirfd_idx] : AT_FDCWD;
                int k = run_path_dirfd(pid, dirfd, base);
                if (k < 0)
                        return k;
        }
        return run_path_join(raw[0] == '/' ? NULL : base, raw, out, ret_dir);
}

/* Decodes and checks n, and submits its request.  Returns 0 when the
 * request is on its way (c is then the callback's), 1 to continue the
 * call, 2 when the notification is gone, -errno when the submission was
 * refused (the call then continues too). */
static int run_call_start(struct run_call *c, const struct seccomp_notif *n, const struct run_syscall *sc) {
        struct run *r = c->run;
        const struct seccomp_data *d = &n->data;
        bool dir = false, dir2 = false;
        int flags = 0, mode = 0, umask_ = -1, k;

        c->kind = sc->kind;
        c->buf = sc->buf >= 0 ? d->args[sc->buf] : 0;
        c->size = sc->size >= 0 ? d->args[sc->size] : 0;

        switch (sc->kind) {
        case RUN_OPEN:
                if (sc->openat2) {
                        struct open_how how;
                        /* A larger struct from a newer libc may ask for
                         * something this one cannot see. */
                        if (c->size != sizeof how || run_mem_read(c->pid, c->buf, &how, sizeof how) < 0)
                                return 1;
                        if (how.resolve != 0 || how.flags > (uint64_t) INT32_MAX ||
                            (how.mode != 0 && !(how.flags & O_CREAT)))
                                return 1;
                        flags = (int) how.flags;
                        mode = (int) how.mode;
                } else {
                        flags = sc->flags >= 0 ? (int) d->args[sc->flags] : sc->fixed_flags;
                        mode = (int) d->args[sc->mode];
                }
                flags &= ~RUN_KERNEL_O_LARGEFILE;
                /* What the broker cannot express runs as CMD's own. */
                if ((flags & O_PATH) || (flags & O_TMPFILE) == O_TMPFILE) /* O_TMPFILE includes O_DIRECTORY */
                        return 1;
                c->oflags = flags;
                c->nofollow = flags & O_NOFOLLOW;
                break;
        case RUN_STAT:
        case RUN_STATX:
                flags = sc->flags >= 0 ? (int) d->args[sc->flags] : sc->fixed_flags;
                if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE))
                        return 1; /* AT_EMPTY_PATH: a descriptor, not a path */
                c->nofollow = flags & AT_SYMLINK_NOFOLLOW;
                break;
        case RUN_ACCESS: {
                int amode = (int) d->args[sc->flags];
                int aflags = sc->flags2 >= 0 ? (int) d->args[sc->flags2] : 0;
                /* No broker op says "may execute"; the kernel's answer to
                 * CMD is the right one there. */
                if (amode & ~(R_OK | W_OK) || aflags & ~(AT_SYMLINK_NOFOLLOW | AT_EACCESS))
                        return 1;
                c->nofollow = aflags & AT_SYMLINK_NOFOLLOW;
                flags = amode;
                break;
        }
        case RUN_READLINK:
                if ((int64_t) c->size <= 0 || c->size > INT32_MAX)
                        return 1;
                break;
        case RUN_MKDIR:
                mode = (int) d->args[sc->mode];
                break;
        case RUN_UNLINK:
                if (sc->flags2 >= 0) {
                        int uflags = (int) d->args[sc->flags2];
                        if (uflags & ~AT_REMOVEDIR)
                                return 1;
                        if (uflags & AT_REMOVEDIR)
                                c->kind = RUN_RMDIR;
                }
                break;
        case RUN_RMDIR:
                break;
        case RUN_RENAME:
                flags = sc->flags2 >= 0 ? (int) d->args[sc->flags2] : 0;
                if (flags & ~(int) FDBR_RENAME_NOREPLACE)
                        return 1;
                break;
        case RUN_CHMOD:
                /* AT_SYMLINK_NOFOLLOW (links have no mode on Linux),
                 * AT_EMPTY_PATH (a descriptor): CMD's own. */
                if (sc->flags2 >= 0 && d->args[sc->flags2] != 0)
                        return 1;
                c->mode = (mode_t) d->args[sc->mode] & 07777;
                c->retried = false;
                break;
        case _RUN_KIND_MAX:
                return 1;
        }

        /* The op the broker is asked, for remembering one it predates. */
        c->asked = c->kind == RUN_STATX || (c->kind == RUN_ACCESS && flags == F_OK) ? RUN_STAT
                   : c->kind == RUN_CHMOD                                           ? RUN_OPEN
                                                                                    : c->kind;
        if (r->unsupported[c->asked])
                return 1;

        /* Everything that comes from CMD is read now, once. */
        k = run_call_path(c->pid, d, sc->path, sc->dirfd, c->path, &dir);
        if (k < 0)
                return 1;
        if (sc->path2 >= 0 && run_call_path(c->pid, d, sc->path2, sc->dirfd2, c->path2, &dir2) < 0)
                return 1;

        /* Continued without checking that the notification is still valid:
         * a CONTINUE grants nothing (the kernel runs the call with CMD's own
         * rights, reading CMD's memory again), so a path read from a process
         * that was no longer the caller can at worst continue a call that
         * the broker might have answered, never give CMD anything.  Most
         * calls end here, and the check would be a third system call. */
        if (run_path_is_proc(c->path) || (sc->path2 >= 0 && run_path_is_proc(c->path2)))
                return 1;
        if (!run_grants_may_match(r->grants, c->path) &&
            (sc->path2 < 0 || !run_grants_may_match(r->grants, c->path2)))
                return 1;

        if ((c->kind == RUN_OPEN && (flags & O_CREAT)) || c->kind == RUN_MKDIR) {
                umask_ = run_mem_umask(c->pid);
                if (umask_ < 0)
                        return 1;
        }
        /* This process changes the mode in CMD's name: only for a caller
         * that could do to the file whatever this process can. */
        if (c->kind == RUN_CHMOD && run_mem_same_creds(c->pid) != 1)
                return 1;

        /* What is sent to the broker is only now known to be what the
         * caller wrote: the caller is still the process that was stopped,
         * so the pid, its memory, cwd and descriptors read above were its
         * own. */
        if (!run_id_valid(r, c->id))
                return 2;

        switch (c->kind) {
        case RUN_OPEN:
                if (dir) {
                        if (flags & O_CREAT)
                                return 1;
                        flags |= O_DIRECTORY;
                }
                return fdbr_conn_open(r->conn, c->path, flags, (mode_t) (mode & ~umask_ & 0777), run_call_plain_done,
                                      c);
        case RUN_STAT:
        case RUN_STATX:
                c->want_dir = dir;
                return fdbr_conn_stat(r->conn, c->path, c->nofollow ? AT_SYMLINK_NOFOLLOW : 0, run_call_stat_done,
                                      c);
        case RUN_ACCESS:
                c->want_dir = dir;
                if (flags == F_OK)
                        return fdbr_conn_stat(r->conn, c->path, c->nofollow ? AT_SYMLINK_NOFOLLOW : 0,
                                              run_call_stat_done, c);
                flags = (flags & R_OK) && (flags & W_OK) ? O_RDWR : (flags & W_OK) ? O_WRONLY : O_RDONLY;
                return fdbr_conn_check(r->conn, c->path, flags | (c->nofollow ? O_NOFOLLOW : 0) | (dir ? O_DIRECTORY : 0),
                                       run_call_plain_done, c);
        case RUN_READLINK:
                if (dir)
                        return 1;
                return fdbr_conn_readlink(r->conn, c->path, run_call_data_done, c);
        case RUN_MKDIR:
                return fdbr_conn_mkdir(r->conn, c->path, (mode_t) (mode & ~umask_ & 0777), run_call_plain_done, c);
        case RUN_UNLINK:
                if (dir)
                        return 1;
                return fdbr_conn_unlink(r->conn, c->path, run_call_plain_done, c);
        case RUN_RMDIR:
                return fdbr_conn_rmdir(r->conn, c->path, run_call_plain_done, c);
        case RUN_RENAME:
                if (dir || dir2)
                        return 1;
                return fdbr_conn_rename(r->conn, c->path, c->path2, (unsigned) flags, run_call_plain_done, c);
        case RUN_CHMOD:
                c->want_dir = dir;
                return run_call_chmod_open(c, O_RDONLY);
        case _RUN_KIND_MAX:
                break;
        }
        return 1;
}

static void run_call_handle(struct run *r, const struct seccomp_notif *n) {
        const struct run_syscall *sc = n->data.arch == RUN_AUDIT_ARCH ? run_syscall_find(n->data.nr) : NULL;

        if (!sc || r->lost) {
                run_call_continue(r, n->id);
                return;
        }

        /* A call is decoded in the spare, which becomes the request's only
         * when one is sent: a continued call allocates nothing, and its
         * paths (two PATH_MAX buffers) are not cleared first. */
        struct run_call *c = r->spare;
        if (!c) {
                c = malloc(sizeof *c);
                if (!c) {
                        run_call_continue(r, n->id);
                        return;
                }
                r->spare = c;
        }
        c->run = r;
        c->id = n->id;
        c->pid = (pid_t) n->pid;
        c->oflags = 0;
        c->nofollow = c->want_dir = false;
        c->path[0] = c->path2[0] = 0;

        int k = run_call_start(c, n, sc);
        if (k == 0) {
                r->spare = NULL;
                r->inflight++;
                return;
        }
        if (k == -ENOTCONN)
                run_lost(r, k);
        if (k != 2)
                run_call_continue(r, c->id);
}

void run_call_free_spare(struct run *r) {
        free(r->spare);
        r->spare = NULL;
}

/* Whether the listener has a notification to receive, or has hung up. */
static int run_call_pending(struct run *r) {
        struct pollfd p = { .fd = r->listener, .events = POLLIN };

        if (poll(&p, 1, 0) < 0)
                return errno == EINTR ? 0 : -errno;
        if (!(p.revents & POLLIN) && (p.revents & (POLLHUP | POLLERR)))
                r->listener_done = true;
        return !!(p.revents & POLLIN);
}

int run_call_receive(struct run *r) {
        struct seccomp_notif *n = r->notif_buf;

        /* Receiving with nothing to receive blocks whatever the descriptor's
         * flags, so it must be known that something is there.  The loop
         * said the listener is ready: a notification is waiting, or one
         * whose caller was interrupted is still counted (the kernel then
         * answers ENOENT at once), or nobody uses the filter any more.
         * Since Linux 6.6 (the kernel that has SYNC_WAKE_UP) receiving
         * returns at once in that last case too, so no poll() is needed
         * first.  One notification a turn: the next epoll_wait costs what a
         * poll() looking for another would, and a single-threaded caller
         * never has another waiting. */
        if (!r->recv_returns_on_hup) {
                int k = run_call_pending(r);
                if (k <= 0)
                        return k;
        }

        memset(n, 0, r->notif_size);
        if (ioctl(r->listener, SECCOMP_IOCTL_NOTIF_RECV, n) < 0) {
                /* ENOENT: the caller died or was interrupted between the
                 * wakeup and now, or no process is left. */
                if (errno == ENOENT) {
                        int k = run_call_pending(r);
                        return k < 0 ? k : 0;
                }
                return errno == EINTR ? 0 : -errno;
        }
        run_call_handle(r, n);
        return 0;
}
