/* SPDX-License-Identifier: MIT */
#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "account.h"
#include "macro.h"
#include "policy.h"

/* One reload at a time: the thread is the whole point, not parallelism. */
#define RELOAD_THREADS 1

static void reload_keep_first(const char *file, unsigned line, const char *message, void *userdata) {
        struct reload_result *res = userdata;
        /* A warning never refuses a reload: name what did. */
        if (strncmp(message, "warning: ", 9) == 0)
                return;
        if (res->problems++ == 0) {
                if (line > 0)
                        snprintf(res->why, sizeof res->why, "%s:%u: %s", file, line, message);
                else
                        snprintf(res->why, sizeof res->why, "%s: %s", file, message);
        }
}

/* In the thread: everything that may wait for a disk or the user
 * database.  Touches nothing but r->res and what it creates. */
static void reload_run(struct pool_job *job) {
        struct reloader *r = container_of(job, struct reloader, job);
        struct reload_result *res = &r->res;

        *res = (struct reload_result) {};
        int k = policy_load(r->policy_path, reload_keep_first, res, &res->policy);
        if (k < 0) {
                res->policy = NULL;
                res->policy_error = k;
                return;
        }
        k = account_table_load(r->subuid_path, &res->accounts);
        if (k < 0) {
                res->accounts = NULL;
                res->accounts_error = k;
        }
}

static void result_clear(struct reload_result *res) {
        policy_unref(res->policy);
        account_table_free(res->accounts);
        *res = (struct reload_result) {};
}

/* On the loop. */
static void reload_complete(struct pool_job *job) {
        struct reloader *r = container_of(job, struct reloader, job);

        r->running = false;
        if (r->stopping) {
                result_clear(&r->res);
                return;
        }
        bool more = r->again;
        r->again = false;
        r->done(r->userdata, &r->res, more);
        result_clear(&r->res);
        if (more && reload_request(r) < 0)
                r->done(r->userdata, &(struct reload_result) { .policy_error = -EAGAIN }, false);
}

int reload_init(struct reloader *r, struct event_base *base, const char *policy_path, const char *subuid_path,
                reload_fn done, void *userdata) {
        *r = (struct reloader) { .policy_path = policy_path, .subuid_path = subuid_path, .done = done,
                                 .userdata = userdata };
        r->pool.efd = -1;
        int k = pool_init(&r->pool, base, RELOAD_THREADS);
        if (k < 0)
                return k;
        r->started = true;
        return 0;
}

int reload_request(struct reloader *r) {
        if (!r->started || r->stopping)
                return -ESHUTDOWN;
        if (r->running) {
                r->again = true;
                return 0;
        }
        r->job = (struct pool_job) { .run = reload_run, .complete = reload_complete };
        int k = pool_submit(&r->pool, &r->job);
        if (k < 0)
                return k;
        r->running = true;
        return 1;
}

void reload_done(struct reloader *r) {
        if (!r->started)
                return;
        r->stopping = true;
        pool_done(&r->pool);
        r->started = false;
}
