/* SPDX-License-Identifier: MIT */
#include "closer.h"

#include <stdlib.h>
#include <unistd.h>

#include "conn.h"
#include "lane.h"
#include "log.h"
#include "macro.h"
#include "server.h"

struct closejob {
        struct lane_job lj;
        struct server *srv;
        int fd;
};

static void closer_run(struct lane_job *j) {
        struct closejob *cj = container_of(j, struct closejob, lj);

        /* The number is free as soon as close() is entered; only the
         * thread waits for the flush or the linger. */
        cj->fd = safe_close(cj->fd);
}

static void closer_complete(struct lane_job *j, int status) {
        struct closejob *cj = container_of(j, struct closejob, lj);
        struct server *s = cj->srv;
        struct uidtab_entry *ue = j->ue;

        if (status < 0)
                /* No thread could be started at all: a last resort, as a
                 * descriptor kept forever would be worse. */
                cj->fd = safe_close(cj->fd);
        conn_close_done(s, ue);
        free(cj);
}

void closer_close(struct server *s, struct uidtab_entry *ue, int fd) {
        if (fd < 0)
                return;
        struct closejob *cj = malloc(sizeof *cj);
        if (!cj) {
                log_msg(LOG_WARNING, "out of memory: closing a descriptor on the event loop");
                safe_close(fd);
                return;
        }
        *cj = (struct closejob) { .srv = s, .fd = fd };
        cj->lj.run = closer_run;
        cj->lj.complete = closer_complete;
        ue->closing++;
        s->closing_fds++;
        if (lane_submit(&s->closer, ue, &cj->lj) < 0) {
                log_msg(LOG_WARNING, "no closer thread: closing a descriptor on the event loop");
                ue->closing--;
                s->closing_fds--;
                safe_close(fd);
                free(cj);
        }
}

void closer_dispose(struct server *s, struct uidtab_entry *ue, int fd, bool offloop) {
        if (fd < 0)
                return;
        if (offloop)
                closer_close(s, ue, fd);
        else
                safe_close(fd);
}

void closer_close_local(int *fds, unsigned n) {
        /* Insertion sort: at most two descriptors per reply of a batch. */
        for (unsigned i = 1; i < n; i++)
                for (unsigned j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
                        int t = fds[j];
                        fds[j] = fds[j - 1];
                        fds[j - 1] = t;
                }
        for (unsigned i = 0; i < n;) {
                unsigned j = i;
                while (j + 1 < n && fds[j + 1] == fds[j] + 1)
                        j++;
                if (j == i || close_range((unsigned) fds[i], (unsigned) fds[j], 0) < 0)
                        for (unsigned k = i; k <= j; k++)
                                safe_close(fds[k]);
                i = j + 1;
        }
}

void closer_stray(int fd, void *userdata) {
        struct server *s = userdata;

        if (s->reading_ue)
                closer_close(s, s->reading_ue, fd);
        else
                safe_close(fd);
}
