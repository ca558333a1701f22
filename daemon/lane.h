/* SPDX-License-Identifier: MIT */
#pragma once

/* A lane: threads for one kind of work that may block (opening on a hung
 * FUSE mount, truncating a huge file, closing a descriptor whose close
 * waits for a FLUSH), shared fairly between real users.  Each user may
 * have at most `share` jobs in a lane's threads at once; the rest wait in
 * that user's own queue, in order, and hold no thread.  A job that has not
 * started can be cancelled, and then never runs. */

#include <stdatomic.h>
#include <stdbool.h>

#include "pool.h"
#include "uidtab.h"

struct lane_job {
        struct pool_job pj;
        struct lane *lane;
        struct uidtab_entry *ue;        /* the real user it is counted against */
        struct lane_job *held_next;
        bool held;                      /* waiting for one of its user's share */
        atomic_bool cancelled;          /* checked by the thread before it starts */
        void (*run)(struct lane_job *j);                /* in a thread */
        /* On the loop, once per submitted job that was not cancelled.
         * status 0: it ran; -EAGAIN: no thread could be started, it never
         * ran.  May free the job. */
        void (*complete)(struct lane_job *j, int status);
};

struct lane {
        struct pool pool;
        struct uidtab *uids;
        unsigned index;                 /* into uidtab_entry's per-lane counts */
        unsigned share;
        unsigned n_running;             /* every user's jobs handed to the pool */
        unsigned n_held;                /* every user's jobs waiting for a share */
};

int lane_init(struct lane *l, struct event_base *base, struct uidtab *uids, unsigned index,
              unsigned threads, unsigned share);

/* Starts j (run and complete set) for ue, or queues it behind ue's share.
 * The entry is held until the job completes or is cancelled.  Returns 0,
 * or -errno when no thread exists and none can be started (j is then not
 * submitted). */
int lane_submit(struct lane *l, struct uidtab_entry *ue, struct lane_job *j);

/* Withdraws a job that has not started: returns true, and the job will
 * neither run nor complete (the caller frees it).  Returns false when it
 * is running or has run: it will still complete, and its thread may check
 * the cancelled flag before it begins. */
bool lane_cancel(struct lane_job *j);

/* Jobs of ue running in the lane, and waiting for its share. */
unsigned lane_running(const struct lane *l, const struct uidtab_entry *ue);

void lane_done(struct lane *l);
