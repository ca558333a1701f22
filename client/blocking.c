/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>

#include "conn.h"
#include "export.h"
#include "fdbroker.h"
#include "macro.h"
#include "wire.h"

struct blocking_call {
        bool done;
        int result;
};

static void blocking_done(fdbr_conn *conn, int result, void *userdata) {
        struct blocking_call *call = userdata;

        call->done = true;
        call->result = result;
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

/* Returns the descriptor (OPEN), 0 (CHECK) or -errno. */
static int blocking_run(uint16_t op, const char *path, int oflags, mode_t mode) {
        struct blocking_call call = { .result = -EIO };
        struct flags_wire flags;
        fdbr_conn *conn = NULL;
        size_t len;
        int r;

        /* A bad argument is told as such, whether or not a broker is there. */
        r = conn_prepare(path, oflags, mode, &flags, &len);
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

        if (op == FDBR_OP_OPEN)
                r = fdbr_conn_open(conn, path, oflags, mode, blocking_done, &call);
        else
                r = fdbr_conn_check(conn, path, oflags, blocking_done, &call);

        while (r >= 0 && !call.done) {
                int k = event_base_loop(base, EVLOOP_ONCE);
                /* 1: nothing left to wait for, which cannot be while the
                 * request is pending; either way the loop is of no use. */
                if (k != 0 && !call.done)
                        r = -EIO;
        }

        /* Runs the callback with -ECANCELED if the loop gave up. */
        fdbr_conn_free(conn);
        event_base_free(base);

        if (r < 0) {
                if (call.done && call.result >= 0 && op == FDBR_OP_OPEN)
                        safe_close(call.result);
                return r;
        }
        return call.result;
}

FDBR_EXPORT int fdbr_open(const char *path, int flags, mode_t mode) {
        int r = blocking_run(FDBR_OP_OPEN, path, flags, mode);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return r;
}

FDBR_EXPORT int fdbr_check(const char *path, int flags) {
        int r = blocking_run(FDBR_OP_CHECK, path, flags, 0);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return 0;
}
