/* SPDX-License-Identifier: MIT */
#include "lane.h"

#include <errno.h>

#include "macro.h"

static void lane_hold(struct lane *l, struct uidtab_entry *ue, struct lane_job *j) {
        unsigned i = l->index;

        j->held = true;
        j->held_next = NULL;
        *ue->lanes[i].held_tail = j;
        ue->lanes[i].held_tail = &j->held_next;
        ue->lanes[i].n_held++;
        l->n_held++;
}

static bool lane_unhold(struct lane *l, struct uidtab_entry *ue, struct lane_job *j) {
        unsigned i = l->index;

        for (struct lane_job **p = &ue->lanes[i].held_head; *p; p = &(*p)->held_next)
                if (*p == j) {
                        *p = j->held_next;
                        if (!*p)
                                ue->lanes[i].held_tail = p;
                        j->held_next = NULL;
                        j->held = false;
                        ue->lanes[i].n_held--;
                        l->n_held--;
                        return true;
                }
        return false;
}

static void lane_pool_run(struct pool_job *pj) {
        struct lane_job *j = container_of(pj, struct lane_job, pj);

        if (!atomic_load(&j->cancelled))
                j->run(j);
}

/* A job of ue enters or leaves the pool. */
static void lane_count(struct lane *l, struct uidtab_entry *ue, int delta) {
        ue->lanes[l->index].running += (unsigned) delta;
        l->n_running += (unsigned) delta;
}

/* Gives ue's freed share to the job of ue that waited longest. */
static void lane_run_held(struct lane *l, struct uidtab_entry *ue) {
        unsigned i = l->index;

        while (ue->lanes[i].held_head && ue->lanes[i].running < l->share) {
                struct lane_job *j = ue->lanes[i].held_head;
                lane_unhold(l, ue, j);
                if (pool_submit(&l->pool, &j->pj) == 0) {
                        lane_count(l, ue, 1);
                        continue;
                }
                /* No thread at all: say so rather than wait forever.
                 * Counted while it completes (see lane_pool_complete). */
                lane_count(l, ue, 1);
                j->complete(j, -EAGAIN);
                lane_count(l, ue, -1);
        }
}

static void lane_pool_complete(struct pool_job *pj) {
        struct lane_job *j = container_of(pj, struct lane_job, pj);
        struct lane *l = j->lane;
        struct uidtab_entry *ue = j->ue;

        /* The job still counts for ue while it completes: completing may
         * free the user's last connection, whose release would otherwise
         * free the entry under our feet. */
        j->complete(j, 0);
        lane_count(l, ue, -1);
        lane_run_held(l, ue);
        uidtab_put(l->uids, ue);
}

int lane_init(struct lane *l, struct event_base *base, struct uidtab *uids, unsigned index,
              unsigned threads, unsigned share) {
        if (index >= UIDTAB_LANES)
                return -EINVAL;
        *l = (struct lane) { .uids = uids, .index = index, .share = share ? share : 1 };
        return pool_init(&l->pool, base, threads);
}

int lane_submit(struct lane *l, struct uidtab_entry *ue, struct lane_job *j) {
        unsigned i = l->index;

        j->lane = l;
        j->ue = ue;
        j->held = false;
        atomic_store(&j->cancelled, false);
        j->pj.run = lane_pool_run;
        j->pj.complete = lane_pool_complete;
        if (ue->lanes[i].running >= l->share) {
                lane_hold(l, ue, j);
                return 0;
        }
        int r = pool_submit(&l->pool, &j->pj);
        if (r < 0)
                return r;
        lane_count(l, ue, 1);
        return 0;
}

bool lane_cancel(struct lane_job *j) {
        struct lane *l = j->lane;
        struct uidtab_entry *ue = j->ue;

        atomic_store(&j->cancelled, true);
        if (j->held) {
                lane_unhold(l, ue, j);
                uidtab_put(l->uids, ue);
                return true;
        }
        if (!pool_cancel(&l->pool, &j->pj))
                return false;
        lane_count(l, ue, -1);
        lane_run_held(l, ue);
        uidtab_put(l->uids, ue);
        return true;
}

unsigned lane_running(const struct lane *l, const struct uidtab_entry *ue) {
        return ue->lanes[l->index].running + ue->lanes[l->index].n_held;
}

void lane_done(struct lane *l) {
        pool_done(&l->pool);
}
