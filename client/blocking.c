/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "conn.h"
#include "export.h"
#include "fdbroker.h"
#include "macro.h"
#include "wire.h"

/* One blocking call: what to submit, and where its answer goes. */
struct blocking_call {
        uint16_t op;
        const char *path;
        int oflags;           /* OPEN, CHECK */
        struct conn_op o;     /* the other ops */
        struct statx *stx;    /* STAT */
        char *buf;            /* READLINK */
        size_t size;
        char *text;           /* STATUS, GRANTS: a copy the caller frees */
        bool done;
        int result;
};

static void blocking_done(fdbr_conn *conn, int result, void *userdata) {
        struct blocking_call *call = userdata;

        call->done = true;
        call->result = result;
}

static void blocking_stat_done(fdbr_conn *conn, int result, const struct statx *stx, void *userdata) {
        struct blocking_call *call = userdata;

        if (result == 0)
                *call->stx = *stx;
        blocking_done(conn, result, userdata);
}

static void blocking_data_done(fdbr_conn *conn, int result, const char *data, size_t len, void *userdata) {
        struct blocking_call *call = userdata;

        if (result == 0 && call->op == FDBR_OP_READLINK) {
                /* readlink(2) truncates silently. */
                size_t n = len < call->size ? len : call->size;
                memcpy(call->buf, data, n);
                result = (int) n;
        } else if (result == 0) {
                call->text = strndup(data, len);
                if (!call->text)
                        result = -ENOMEM;
        }
        blocking_done(conn, result, userdata);
}

static int blocking_submit(fdbr_conn *conn, struct blocking_call *call) {
        switch (call->op) {
        case FDBR_OP_OPEN:
                return fdbr_conn_open(conn, call->path, call->oflags, call->o.mode, blocking_done, call);
        case FDBR_OP_CHECK:
                return fdbr_conn_check(conn, call->path, call->oflags, blocking_done, call);
        case FDBR_OP_STAT:
                return fdbr_conn_stat(conn, call->o.path, call->o.flags, blocking_stat_done, call);
        case FDBR_OP_READLINK:
                return fdbr_conn_readlink(conn, call->o.path, blocking_data_done, call);
        case FDBR_OP_MKDIR:
                return fdbr_conn_mkdir(conn, call->o.path, call->o.mode, blocking_done, call);
        case FDBR_OP_UNLINK:
                return fdbr_conn_unlink(conn, call->o.path, blocking_done, call);
        case FDBR_OP_RMDIR:
                return fdbr_conn_rmdir(conn, call->o.path, blocking_done, call);
        case FDBR_OP_RENAME:
                return fdbr_conn_rename(conn, call->o.path, call->o.path2, (unsigned) call->o.flags,
                                        blocking_done, call);
        case FDBR_OP_STATUS:
                return fdbr_conn_status(conn, blocking_data_done, call);
        case FDBR_OP_GRANTS:
                return fdbr_conn_grants(conn, blocking_data_done, call);
        default:
                return -EINVAL;
        }
}

/* A private loop, so that the call neither needs nor disturbs one the
 * caller may run, and works from any thread. */
static struct event_base *blocking_base_new(void) {
        struct event_config *cfg = event_config_new();
        if (!cfg)
                return NULL;

        /* The base is used by this thread alone, and a library call should
         * not change behaviour with the caller's EVENT_* variables. */
        (void) event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
        (void) event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV);
        struct event_base *base = event_base_new_with_config(cfg);
        event_config_free(cfg);
        return base;
}

/* Returns the descriptor (OPEN), the length (READLINK), 0 or -errno. */
static int blocking_run(struct blocking_call *call) {
        fdbr_conn *conn = NULL;
        int r;

        /* A bad argument is told as such, whether or not a broker is there. */
        if (call->op == FDBR_OP_OPEN || call->op == FDBR_OP_CHECK) {
                struct flags_wire flags;
                size_t len;
                r = conn_prepare(call->path, call->oflags, call->o.mode, &flags, &len);
        } else {
                char buf[FDBR_WIRE_PATHS_MAX];
                struct flags_wire flags;
                size_t len;
                call->o.op = call->op;
                r = conn_op_prepare(&call->o, buf, &len, &flags);
        }
        if (r < 0)
                return r;

        struct event_base *base = blocking_base_new();
        if (!base)
                return -ENOMEM;

        r = fdbr_conn_new(base, NULL, &conn);
        if (r < 0) {
                event_base_free(base);
                return r;
        }

        call->result = -EIO;
        r = blocking_submit(conn, call);
        while (r >= 0 && !call->done) {
                int k = event_base_loop(base, EVLOOP_ONCE);
                /* 1: nothing left to wait for, which cannot be while the
                 * request is pending; either way the loop is of no use. */
                if (k != 0 && !call->done)
                        r = -EIO;
        }

        /* Runs the callback with -ECANCELED if the loop gave up. */
        fdbr_conn_free(conn);
        event_base_free(base);

        if (r < 0) {
                if (call->done && call->result >= 0 && call->op == FDBR_OP_OPEN)
                        safe_close(call->result);
                free(call->text);
                call->text = NULL;
                return r;
        }
        return call->result;
}

static int blocking_errno(int r) {
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return r;
}

FDBR_EXPORT int fdbr_open(const char *path, int flags, mode_t mode) {
        struct blocking_call call = { .op = FDBR_OP_OPEN, .path = path, .oflags = flags, .o.mode = mode };
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_check(const char *path, int flags) {
        struct blocking_call call = { .op = FDBR_OP_CHECK, .path = path, .oflags = flags };
        int r = blocking_errno(blocking_run(&call));
        return r < 0 ? r : 0;
}

FDBR_EXPORT int fdbr_statx(const char *path, int flags, struct statx *buf) {
        struct statx stx;
        struct blocking_call call = { .op = FDBR_OP_STAT, .o = { .path = path, .flags = flags }, .stx = &stx };

        if (!buf)
                return blocking_errno(-EFAULT);
        int r = blocking_errno(blocking_run(&call));
        if (r == 0)
                *buf = stx;
        return r;
}

static void stat_from_statx(struct stat *st, const struct statx *x) {
        /* Fields outside the mask are 0 in the broker's statx already. */
        *st = (struct stat) {
                .st_dev = makedev(x->stx_dev_major, x->stx_dev_minor),
                .st_ino = x->stx_ino,
                .st_mode = x->stx_mode,
                .st_nlink = x->stx_nlink,
                .st_uid = x->stx_uid,
                .st_gid = x->stx_gid,
                .st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor),
                .st_size = (off_t) x->stx_size,
                .st_blksize = (blksize_t) x->stx_blksize,
                .st_blocks = (blkcnt_t) x->stx_blocks,
                .st_atim = { .tv_sec = x->stx_atime.tv_sec, .tv_nsec = x->stx_atime.tv_nsec },
                .st_mtim = { .tv_sec = x->stx_mtime.tv_sec, .tv_nsec = x->stx_mtime.tv_nsec },
                .st_ctim = { .tv_sec = x->stx_ctime.tv_sec, .tv_nsec = x->stx_ctime.tv_nsec },
        };
}

static int blocking_stat(const char *path, int flags, struct stat *buf) {
        struct statx stx;

        if (!buf)
                return blocking_errno(-EFAULT);
        int r = fdbr_statx(path, flags, &stx);
        if (r == 0)
                stat_from_statx(buf, &stx);
        return r;
}

FDBR_EXPORT int fdbr_stat(const char *path, struct stat *buf) {
        return blocking_stat(path, 0, buf);
}

FDBR_EXPORT int fdbr_lstat(const char *path, struct stat *buf) {
        return blocking_stat(path, AT_SYMLINK_NOFOLLOW, buf);
}

FDBR_EXPORT ssize_t fdbr_readlink(const char *path, char *buf, size_t size) {
        struct blocking_call call = { .op = FDBR_OP_READLINK, .o.path = path, .buf = buf, .size = size };

        /* As readlink(2): a buffer of no size is EINVAL. */
        if (size == 0)
                return blocking_errno(-EINVAL);
        if (!buf)
                return blocking_errno(-EFAULT);
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_mkdir(const char *path, mode_t mode) {
        struct blocking_call call = { .op = FDBR_OP_MKDIR, .o = { .path = path, .mode = mode } };
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_unlink(const char *path) {
        struct blocking_call call = { .op = FDBR_OP_UNLINK, .o.path = path };
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_rmdir(const char *path) {
        struct blocking_call call = { .op = FDBR_OP_RMDIR, .o.path = path };
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_rename(const char *src, const char *dst, unsigned flags) {
        if (flags & ~FDBR_RENAME_NOREPLACE)
                return blocking_errno(-EINVAL);
        struct blocking_call call = {
                .op = FDBR_OP_RENAME, .o = { .path = src, .path2 = dst, .flags = (int) flags },
        };
        return blocking_errno(blocking_run(&call));
}

static char *blocking_text(uint16_t op) {
        struct blocking_call call = { .op = op };

        int r = blocking_run(&call);
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        return call.text;
}

FDBR_EXPORT char *fdbr_status(void) {
        return blocking_text(FDBR_OP_STATUS);
}

FDBR_EXPORT char *fdbr_grants(void) {
        return blocking_text(FDBR_OP_GRANTS);
}
