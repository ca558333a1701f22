/* SPDX-License-Identifier: MIT */
/* Parts 1 to 3: the floor, then the bare transport and fdbrokerd at each
 * shape, on the same file, measured in alternating slices so that the
 * ratios compare the two servers under the same conditions. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct servers {
        pid_t bare;
        char bare_socket[108];
        struct brokerd brokerd;
};

static int servers_start(const struct options *o, struct servers *s, unsigned max_conns) {
        int r;

        if ((size_t) snprintf(s->bare_socket, sizeof s->bare_socket, "%s/bare.sock", o->dir) >=
            sizeof s->bare_socket)
                return -ENAMETOOLONG;
        r = bare_start(s->bare_socket, &s->bare);
        if (r < 0)
                return r;
        return brokerd_start(&s->brokerd, o->dir, "fdbrokerd", o->policy, max_conns);
}

static int servers_stop(struct servers *s) {
        int r = 0;

        if (server_stop(s->bare) < 0) {
                fprintf(stderr, "fdbroker-bench: the bare broker did not end cleanly\n");
                r = -ECHILD;
        }
        if (server_stop(s->brokerd.pid) < 0) {
                fprintf(stderr, "fdbroker-bench: fdbrokerd did not exit cleanly, see its log above\n");
                r = -ECHILD;
        }
        s->bare = s->brokerd.pid = 0;
        return r;
}

/* Both servers at one shape, their slices interleaved. */
static int run_one(const struct options *o, const struct shape *sh, const struct servers *s, bool stat,
                   struct load_result *bare, struct load_result *brokerd) {
        struct load_cfg a = {
                .socket = s->bare_socket,
                .path = o->file,
                .stat = stat,
                .conns = sh->conns,
                .depth = sh->depth,
                .server = s->bare,
        };
        struct load_cfg b = a;

        b.socket = s->brokerd.socket;
        b.server = s->brokerd.pid;
        return load_compare(&a, &b, o->warmup, o->seconds, bare, brokerd);
}

/* Where the target for STAT is set (docs/performance.md). */
static const struct shape stat_shape = { 1, 32 };

int run_shapes(const struct options *o) {
        struct servers s = { 0 };
        struct load_result *bare = NULL, *brokerd = NULL;
        unsigned max_conns = 0;
        int r;

        /* Two results with their histograms: allocated once, outside any
         * measurement. */
        bare = malloc(sizeof *bare);
        brokerd = malloc(sizeof *brokerd);
        if (!bare || !brokerd) {
                r = -ENOMEM;
                goto out;
        }

        report_section("shapes", "load shapes: OPEN of the file; bare broker and fdbrokerd in alternating slices",
                       true);
        r = floor_run(o->file, o->warmup, o->seconds, bare);
        if (r < 0)
                goto out;
        report_floor(bare);

        for (size_t i = 0; i < o->n_shapes; i++)
                if (o->shapes[i].conns > max_conns)
                        max_conns = o->shapes[i].conns;
        r = servers_start(o, &s, max_conns + 16);
        if (r < 0)
                goto out;

        for (size_t i = 0; i < o->n_shapes; i++) {
                const struct shape *sh = &o->shapes[i];

                r = run_one(o, sh, &s, false, bare, brokerd);
                if (r < 0)
                        goto out;
                report_shape(sh, "bare", bare, NULL, 0);
                bool one_by_one = sh->conns == 1 && sh->depth == 1;
                report_shape(sh, "fdbrokerd", brokerd, bare, one_by_one ? TARGET_P50_VS_BARE_1X1 : 0);
        }

        /* STAT: the bare broker does one statx(2) and replies with it. */
        report_section("stat", "STAT of the file; bare broker doing statx and fdbrokerd in alternating slices",
                       true);
        r = run_one(o, &stat_shape, &s, true, bare, brokerd);
        if (r < 0)
                goto out;
        report_shape(&stat_shape, "bare", bare, NULL, 0);
        report_shape(&stat_shape, "fdbrokerd", brokerd, bare, 0);

out:
        if (servers_stop(&s) < 0 && r == 0)
                r = -ECHILD;
        free(bare);
        free(brokerd);
        return r;
}
