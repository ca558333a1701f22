/* SPDX-License-Identifier: MIT */
#pragma once

/* A bounded pool of threads for work that may block: opening a file on a
 * FUSE or network filesystem, a device, a cold lookup.  The event loop
 * never waits for it: jobs go in, completions come back through an eventfd
 * and are handed to the loop one by one. */

#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <stdbool.h>

#define POOL_THREADS_MAX_DEFAULT 32

struct pool_job {
        struct pool_job *next;
        void (*run)(struct pool_job *job);       /* in a worker */
        void (*complete)(struct pool_job *job);  /* then on the loop */
};

struct pool {
        pthread_mutex_t lock;
        pthread_cond_t wake;       /* workers wait here for jobs */
        pthread_cond_t gone;       /* pool_done waits here for workers to leave */
        struct pool_job *queue_head;
        struct pool_job **queue_tail;
        struct pool_job *done;     /* completed, for the loop */
        unsigned n_queued;
        unsigned n_threads;
        unsigned n_idle;
        unsigned max_threads;
        bool stopping;
        int efd;
        struct event ev;
};

int pool_init(struct pool *p, struct event_base *base, unsigned max_threads);

/* Queues a job.  A worker is started if none is idle and the limit allows.
 * Returns 0, or -errno when no worker exists and none can be started (the
 * job is then not queued). */
int pool_submit(struct pool *p, struct pool_job *job);

/* Takes a job off the queue if no worker has picked it up yet.  Returns
 * true when it was removed (it will neither run nor complete), false when
 * it is running or done (it completes as usual). */
bool pool_cancel(struct pool *p, struct pool_job *job);

/* Jobs waiting for a worker, and workers running. */
unsigned pool_queued(struct pool *p);
unsigned pool_threads(struct pool *p);

/* Stops the workers.  Waits a little for running jobs; a worker stuck in a
 * filesystem that never answers is left behind (the process is exiting).
 * Completions not yet delivered are delivered. */
void pool_done(struct pool *p);
