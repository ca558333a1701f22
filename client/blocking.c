/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conn.h"
#include "export.h"
#include "fdbroker.h"
#include "macro.h"
#include "statx.h"
#include "wire.h"

/* One blocking call: the request, and where its answer goes. */
struct blocking_call {
        struct conn_op o;
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

        if (result == 0 && call->o.op == FDBR_OP_READLINK) {
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

static const struct conn_callbacks blocking_callbacks = {
        .plain = blocking_done,
        .stat = blocking_stat_done,
        .data = blocking_data_done,
};

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
        struct conn_wire w;
        int r;

        /* Checked once, before connecting: a bad argument is told as such,
         * whether or not a broker is there. */
        r = conn_op_prepare(&call->o, &w);
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
        r = conn_submit_wire(conn, &w, &blocking_callbacks, call);
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
                if (call->done && call->result >= 0 && call->o.op == FDBR_OP_OPEN)
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
        struct blocking_call call = { .o = { .op = FDBR_OP_OPEN, .path = path, .flags = flags, .mode = mode } };
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_check(const char *path, int flags) {
        struct blocking_call call = { .o = { .op = FDBR_OP_CHECK, .path = path, .flags = flags } };
        int r = blocking_errno(blocking_run(&call));
        return r < 0 ? r : 0;
}

FDBR_EXPORT int fdbr_statx(const char *path, int flags, struct statx *buf) {
        struct statx stx;
        struct blocking_call call = { .o = { .op = FDBR_OP_STAT, .path = path, .flags = flags }, .stx = &stx };

        if (!buf)
                return blocking_errno(-EFAULT);
        int r = blocking_errno(blocking_run(&call));
        if (r == 0)
                *buf = stx;
        return r;
}

static int blocking_stat(const char *path, int flags, struct stat *buf) {
        struct statx stx;

        if (!buf)
                return blocking_errno(-EFAULT);
        int r = fdbr_statx(path, flags, &stx);
        if (r == 0)
                *buf = statx_to_stat(&stx);
        return r;
}

FDBR_EXPORT int fdbr_stat(const char *path, struct stat *buf) {
        return blocking_stat(path, 0, buf);
}

FDBR_EXPORT int fdbr_lstat(const char *path, struct stat *buf) {
        return blocking_stat(path, AT_SYMLINK_NOFOLLOW, buf);
}

FDBR_EXPORT ssize_t fdbr_readlink(const char *path, char *buf, size_t size) {
        struct blocking_call call = { .o = { .op = FDBR_OP_READLINK, .path = path }, .buf = buf, .size = size };

        /* As readlink(2): a buffer of no size is EINVAL. */
        if (size == 0)
                return blocking_errno(-EINVAL);
        if (!buf)
                return blocking_errno(-EFAULT);
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_mkdir(const char *path, mode_t mode) {
        struct blocking_call call = { .o = { .op = FDBR_OP_MKDIR, .path = path, .mode = mode } };
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_unlink(const char *path) {
        struct blocking_call call = { .o = { .op = FDBR_OP_UNLINK, .path = path } };
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_rmdir(const char *path) {
        struct blocking_call call = { .o = { .op = FDBR_OP_RMDIR, .path = path } };
        return blocking_errno(blocking_run(&call));
}

FDBR_EXPORT int fdbr_rename(const char *src, const char *dst, unsigned flags) {
        if (flags & ~FDBR_RENAME_NOREPLACE)
                return blocking_errno(-EINVAL);
        struct blocking_call call = {
                .o = { .op = FDBR_OP_RENAME, .path = src, .path2 = dst, .flags = (int) flags },
        };
        return blocking_errno(blocking_run(&call));
}

static char *blocking_text(uint16_t op) {
        struct blocking_call call = { .o.op = op };

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
