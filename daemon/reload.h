/* SPDX-License-Identifier: MIT */
#pragma once

/* SIGHUP's work off the event loop.  Reading the policy resolves user= and
 * group= names, and /etc/subuid its owners' names, through the user
 * database: with a directory service gone that takes as long as its
 * timeouts, and on the loop every client would wait for it.  So a thread
 * reads both into new objects, and the loop swaps them in when they are
 * ready.  A reload asked for while one runs is not lost and not repeated
 * either: one more runs after it, for every request that came meanwhile. */

#include <event2/event.h>
#include <stdbool.h>

#include "pool.h"

struct policy;
struct account_table;

struct reload_result {
        struct policy *policy;          /* NULL when refused */
        int policy_error;               /* -errno when refused */
        char why[512];                  /* the first error, when refused for one */
        unsigned problems;              /* errors found (warnings do not count) */
        struct account_table *accounts; /* NULL when the file could not be read */
        int accounts_error;
};

struct reloader;

/* On the loop, once a reload is read: takes what it wants out of res (and
 * sets those pointers to NULL); the rest is freed after the call.  more is
 * true when another reload follows at once. */
typedef void (*reload_fn)(void *userdata, struct reload_result *res, bool more);

struct reloader {
        struct pool pool;
        struct pool_job job;
        const char *policy_path;        /* not owned: argv, the server's config */
        const char *subuid_path;
        reload_fn done;
        void *userdata;
        bool started;
        bool running;                   /* the job is queued or in the thread */
        bool again;                     /* asked for while running */
        bool stopping;
        struct reload_result res;       /* written by the thread, read on the loop */
};

int reload_init(struct reloader *r, struct event_base *base, const char *policy_path, const char *subuid_path,
                reload_fn done, void *userdata);

/* Starts a reload, or notes that one more is wanted after the one that
 * runs.  Returns 1 when one started, 0 when coalesced, -errno when it
 * could not start (nothing changes then). */
int reload_request(struct reloader *r);

/* Stops: a reload still running is waited for a little, then left behind
 * (the process is exiting); done is not called any more.  r must stay
 * valid while such a thread may run: give it static storage. */
void reload_done(struct reloader *r);
