/* SPDX-License-Identifier: MIT */
/* Parts 1 to 3: the floor, then the bare transport, fdbrokerd and the
 * peers' socketpair-per-request broker at each shape, on the same file,
 * measured in alternating slices so that the ratios compare the servers
 * under the same conditions. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct servers {
        pid_t bare, peer;
        char bare_socket[108];
        char peer_socket[108];
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
        if ((size_t) snprintf(s->peer_socket, sizeof s->peer_socket, "%s/peer.sock", o->dir) >=
            sizeof s->peer_socket)
                return -ENAMETOOLONG;
        r = peer_start(s->peer_socket, &s->peer);
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
        if (server_stop(s->peer) < 0) {
                fprintf(stderr, "fdbroker-bench: the socketpair broker did not end cleanly\n");
                r = -ECHILD;
        }
        if (server_stop(s->brokerd.pid) < 0) {
                fprintf(stderr, "fdbroker-bench: fdbrokerd did not exit cleanly, see its log above\n");
                r = -ECHILD;
        }
        s->bare = s->peer = s->brokerd.pid = 0;
        return r;
}

/* The three servers at one shape, their slices interleaved. */
static int run_one(const struct options *o, const struct shape *sh, const struct servers *s,
                   struct load_result *const res[3]) {
        struct load_cfg a = {
                .socket = s->bare_socket,
                .path = o->file,
                .conns = sh->conns,
                .depth = sh->depth,
                .server = s->bare,
        };
        struct load_cfg b = a, c = a;
        struct load *la = NULL, *lb = NULL;
        struct peer_load *lc = NULL;
        int r;

        b.socket = s->brokerd.socket;
        b.server = s->brokerd.pid;
        c.socket = s->peer_socket;
        c.server = s->peer;
        if ((r = load_open(&a, &la)) >= 0 && (r = load_open(&b, &lb)) >= 0 && (r = peer_open(&c, &lc)) >= 0) {
                struct runner rn[3] = { { load_slice_fn, la }, { load_slice_fn, lb }, { peer_slice, lc } };
                r = load_compare_n(rn, 3, o->warmup, o->seconds, res);
        }
        load_close(la);
        load_close(lb);
        peer_close(lc);
        return r;
}

/* Where the target for STAT is set (docs/performance.md). */
static const struct shape stat_shape = { 1, 32 };

/* STAT at its shape: the bare broker doing statx and fdbrokerd. */
static int run_stat(const struct options *o, const struct servers *s, struct load_result *bare,
                    struct load_result *brokerd) {
        struct load_cfg a = {
                .socket = s->bare_socket,
                .path = o->file,
                .stat = true,
                .conns = stat_shape.conns,
                .depth = stat_shape.depth,
                .server = s->bare,
        };
        struct load_cfg b = a;

        b.socket = s->brokerd.socket;
        b.server = s->brokerd.pid;
        return load_compare(&a, &b, o->warmup, o->seconds, bare, brokerd);
}

int run_shapes(const struct options *o) {
        struct servers s = { 0 };
        struct load_result *bare = NULL, *brokerd = NULL, *peer = NULL;
        unsigned max_conns = 0;
        int r;

        /* Three results with their histograms: allocated once, outside any
         * measurement. */
        bare = malloc(sizeof *bare);
        brokerd = malloc(sizeof *brokerd);
        peer = malloc(sizeof *peer);
        if (!bare || !brokerd || !peer) {
                r = -ENOMEM;
                goto out;
        }

        report_section("shapes", "load shapes: OPEN of the file; bare broker, fdbrokerd and a socketpair per request "
                       "(the peers' pattern) in alternating slices",
                       true);
        r = floor_run(o->file, o->warmup, o->seconds, peer);
        if (r < 0)
                goto out;
        report_floor(peer);
        double floor_ops = peer->ops_per_s;

        for (size_t i = 0; i < o->n_shapes; i++)
                if (o->shapes[i].conns > max_conns)
                        max_conns = o->shapes[i].conns;
        r = servers_start(o, &s, max_conns + 16);
        if (r < 0)
                goto out;

        for (size_t i = 0; i < o->n_shapes; i++) {
                const struct shape *sh = &o->shapes[i];

                r = run_one(o, sh, &s, (struct load_result *const[3]) { bare, brokerd, peer });
                if (r < 0)
                        goto out;
                report_shape(sh, "bare", bare, NULL, 0);
                bool one_by_one = sh->conns == 1 && sh->depth == 1;
                report_shape(sh, "fdbrokerd", brokerd, bare, one_by_one ? TARGET_P50_VS_BARE_1X1 : 0);
                report_shape_vs(sh, "socketpair", peer, "bare", bare, true);
                report_shape_vs(sh, "fdbrokerd", brokerd, "socketpair", peer, false);
                report_floor_share(sh, bare, brokerd, peer, floor_ops);
        }

        /* STAT: the bare broker does one statx(2) and replies with it. */
        report_section("stat", "STAT of the file; bare broker doing statx and fdbrokerd in alternating slices",
                       true);
        r = run_stat(o, &s, bare, brokerd);
        if (r < 0)
                goto out;
        report_shape(&stat_shape, "bare", bare, NULL, 0);
        report_shape(&stat_shape, "fdbrokerd", brokerd, bare, 0);

out:
        if (servers_stop(&s) < 0 && r == 0)
                r = -ECHILD;
        free(bare);
        free(brokerd);
        free(peer);
        return r;
}
