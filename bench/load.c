/* SPDX-License-Identifier: MIT */
/* The load generator: libfdbroker on a libevent loop, the way a real
 * client uses the broker, against either server.  Everything it needs is
 * allocated before the clock starts; in the measured path it only reads
 * the clock, records into the histogram and submits the next request
 * (libfdbroker allocates its own request record). */

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "fdbroker.h"

/* A server that stops answering must not hang the benchmark. */
#define STALL_LIMIT_S 10
/* Length of one measured slice when two servers are compared. */
#define SLICE_S 0.25
/* Unmeasured start of each slice: the connections fill up their depth
 * before anything counts. */
#define SLICE_LEAD_S 0.02

/* Where results go between slices: late callbacks (of a stalled slice,
 * cancelled by load_close) must find somewhere to count. */
static struct load_result discard;

struct slot {
        struct load *load;
        fdbr_conn *conn;
        uint64_t t0;            /* when the request in flight was submitted */
};

struct load {
        const struct load_cfg *cfg;
        struct event_base *base;
        struct event *stall;
        struct slot *slots;
        size_t n_slots;
        fdbr_conn **conns;
        /* The slice running. */
        struct load_result *res;
        unsigned n_active;      /* slots with a request in flight */
        uint64_t window_start, window_end;
        bool stopping;          /* no new submissions */
        bool stalled;
};

static void fail(struct load *l, int error) {
        if (l->res->errors++ == 0)
                l->res->first_error = error;
        /* A failing server would otherwise be timed on its errors. */
        l->stopping = true;
}

static void submit(struct slot *s, uint64_t now);

static void on_done(fdbr_conn *conn, int result, void *userdata) {
        struct slot *s = userdata;
        struct load *l = s->load;
        uint64_t now = now_ns();

        l->n_active--;
        if (result >= 0) {
                if (l->cfg->path && !l->cfg->stat)
                        close(result);
                if (now >= l->window_start && now < l->window_end) {
                        hist_record(&l->res->lat, now - s->t0);
                        l->res->ops++;
                }
        } else
                fail(l, result);

        if (now >= l->window_end)
                l->stopping = true;
        if (!l->stopping)
                submit(s, now);
        if (l->n_active == 0)
                event_base_loopbreak(l->base);
}

static void on_stat_done(fdbr_conn *conn, int result, const struct statx *stx, void *userdata) {
        on_done(conn, result, userdata);
}

static void submit(struct slot *s, uint64_t now) {
        struct load *l = s->load;
        int r;

        s->t0 = now;
        /* O_CLOEXEC is how the descriptor arrives anyway: asking for it
         * spares the library a fcntl(). */
        if (l->cfg->stat)
                r = fdbr_conn_stat(s->conn, l->cfg->path, 0, on_stat_done, s);
        else if (l->cfg->path)
                r = fdbr_conn_open(s->conn, l->cfg->path, O_RDONLY | O_CLOEXEC, 0, on_done, s);
        else
                r = fdbr_conn_ping(s->conn, on_done, s);
        if (r < 0)
                fail(l, r);
        else
                l->n_active++;
}

static void on_stall(evutil_socket_t fd, short what, void *userdata) {
        struct load *l = userdata;

        fprintf(stderr, "fdbroker-bench: %u requests to %s unanswered %d s after the end, giving up\n",
                l->n_active, l->cfg->socket, STALL_LIMIT_S);
        fail(l, -ETIMEDOUT);
        l->stalled = true;
        event_base_loopbreak(l->base);
}

uint64_t cpu_self_ns(void) {
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return ((uint64_t) ru.ru_utime.tv_sec + (uint64_t) ru.ru_stime.tv_sec) * 1000000000u +
               ((uint64_t) ru.ru_utime.tv_usec + (uint64_t) ru.ru_stime.tv_usec) * 1000u;
}

struct server_sample {
        uint64_t cpu_ns, vcs, ivcs;
};

static void server_sample(const struct load *l, struct server_sample *ret) {
        *ret = (struct server_sample) { 0 };
        if (l->cfg->server > 0) {
                (void) proc_cpu_ns(l->cfg->server, &ret->cpu_ns);
                (void) proc_ctxt_switches(l->cfg->server, &ret->vcs, &ret->ivcs);
        }
}

static uint64_t delta(uint64_t a, uint64_t b) {
        return b > a ? b - a : 0;
}

void load_result_init(struct load_result *r) {
        memset(r, 0, sizeof *r);
}

void load_result_finish(struct load_result *r) {
        r->ops_per_s = r->window_ns ? (double) r->ops * 1e9 / (double) r->window_ns : 0;
        r->server_cpu = r->cpu_wall_ns ? (double) r->server_cpu_ns / (double) r->cpu_wall_ns : 0;
        r->client_cpu = r->cpu_wall_ns ? (double) r->client_cpu_ns / (double) r->cpu_wall_ns : 0;
        r->server_vcs_per_op = r->ops ? (double) r->server_vcs / (double) r->ops : 0;
        r->server_ivcs_per_op = r->ops ? (double) r->server_ivcs / (double) r->ops : 0;
}

void load_close(struct load *l) {
        if (!l)
                return;
        if (l->conns)
                for (unsigned i = 0; i < l->cfg->conns; i++)
                        fdbr_conn_free(l->conns[i]); /* callbacks of a stalled slice see stopping */
        if (l->stall)
                event_free(l->stall);
        free(l->conns);
        free(l->slots);
        if (l->base)
                event_base_free(l->base);
        free(l);
}

int load_open(const struct load_cfg *cfg, struct load **ret) {
        struct load *l;
        int r;

        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->cfg = cfg;
        l->res = &discard;
        l->n_slots = (size_t) cfg->conns * cfg->depth;
        l->base = event_base_new();
        l->conns = calloc(cfg->conns, sizeof *l->conns);
        l->slots = calloc(l->n_slots, sizeof *l->slots);
        if (l->base)
                l->stall = evtimer_new(l->base, on_stall, l);
        if (!l->base || !l->conns || !l->slots || !l->stall) {
                load_close(l);
                return -ENOMEM;
        }

        for (unsigned i = 0; i < cfg->conns; i++) {
                r = fdbr_conn_new(l->base, cfg->socket, &l->conns[i]);
                if (r < 0) {
                        fprintf(stderr, "fdbroker-bench: connection %u of %u to %s: %s\n", i + 1, cfg->conns,
                                cfg->socket, strerror(-r));
                        load_close(l);
                        return r;
                }
                for (unsigned k = 0; k < cfg->depth; k++)
                        l->slots[(size_t) i * cfg->depth + k] = (struct slot) { .load = l, .conn = l->conns[i] };
        }
        *ret = l;
        return 0;
}

int load_slice(struct load *l, double lead_s, double seconds, struct load_result *acc) {
        uint64_t start = now_ns();

        l->res = acc;
        l->stopping = l->stalled = false;
        l->window_start = start + (uint64_t) (lead_s * 1e9);
        l->window_end = l->window_start + (uint64_t) (seconds * 1e9);

        uint64_t stall_in = l->window_end - start + (uint64_t) STALL_LIMIT_S * 1000000000u;
        struct timeval tv = { .tv_sec = (time_t) (stall_in / 1000000000u),
                              .tv_usec = (suseconds_t) (stall_in % 1000000000u / 1000u) };
        if (evtimer_add(l->stall, &tv) < 0)
                return -ENOMEM;

        for (size_t i = 0; i < l->n_slots && !l->stopping; i++)
                submit(&l->slots[i], now_ns());

        /* Lead-in, unmeasured. */
        while (!l->stopping && l->n_active > 0 && now_ns() < l->window_start)
                if (event_base_loop(l->base, EVLOOP_ONCE) < 0)
                        break;

        /* The server is sampled at the edges of the window, within one
         * loop iteration of them: far below the clock-tick resolution of
         * /proc. */
        struct server_sample srv0, srv1;
        server_sample(l, &srv0);
        uint64_t cli0 = cpu_self_ns(), t0 = now_ns();

        /* The window ends with the first completion past it; the requests
         * still in flight then drain, and the loop breaks when the last
         * one is back. */
        while (!l->stopping && l->n_active > 0)
                if (event_base_loop(l->base, EVLOOP_ONCE) < 0)
                        break;
        server_sample(l, &srv1);
        uint64_t cli1 = cpu_self_ns(), t1 = now_ns();

        l->stopping = true;
        if (l->n_active > 0 && !l->stalled)
                (void) event_base_dispatch(l->base);
        (void) event_del(l->stall);

        acc->window_ns += l->window_end - l->window_start;
        acc->cpu_wall_ns += delta(t0, t1);
        acc->server_cpu_ns += delta(srv0.cpu_ns, srv1.cpu_ns);
        acc->client_cpu_ns += delta(cli0, cli1);
        acc->server_vcs += delta(srv0.vcs, srv1.vcs);
        acc->server_ivcs += delta(srv0.ivcs, srv1.ivcs);
        l->res = &discard;

        if (acc->errors == 0)
                return 0;
        int r = acc->first_error < 0 ? acc->first_error : -EIO;
        fprintf(stderr, "fdbroker-bench: %" PRIu64 " requests failed on %s, the first with: %s\n", acc->errors,
                l->cfg->socket, strerror(-r));
        return r;
}

int load_run(const struct load_cfg *cfg, double warmup_s, double seconds, struct load_result *ret) {
        struct load *l;
        int r;

        load_result_init(ret);
        r = load_open(cfg, &l);
        if (r < 0)
                return r;
        r = load_slice(l, warmup_s, seconds, ret);
        load_close(l);
        load_result_finish(ret);
        return r;
}

int load_slice_fn(void *ctx, double lead_s, double seconds, struct load_result *acc) {
        return load_slice(ctx, lead_s, seconds, acc);
}

int load_compare_n(const struct runner *rn, size_t n, double warmup_s, double seconds,
                   struct load_result *const *ret) {
        struct load_result *warm = malloc(sizeof *warm);
        int r = 0;

        for (size_t k = 0; k < n; k++)
                load_result_init(ret[k]);
        if (!warm)
                return -ENOMEM;

        for (size_t k = 0; k < n && r >= 0; k++) {
                load_result_init(warm);
                r = rn[k].slice(rn[k].ctx, 0, warmup_s, warm);
        }

        unsigned slices = (unsigned) (seconds / SLICE_S + 0.5);
        if (slices < 1)
                slices = 1;
        /* Rounds alternate in direction, a b c c b a a b c ...: no server
         * always goes first or last. */
        for (unsigned round = 0; round < slices && r >= 0; round++)
                for (size_t j = 0; j < n && r >= 0; j++) {
                        size_t k = round % 2 ? n - 1 - j : j;
                        r = rn[k].slice(rn[k].ctx, SLICE_LEAD_S, seconds / slices, ret[k]);
                }
        free(warm);
        for (size_t k = 0; k < n; k++)
                load_result_finish(ret[k]);
        return r;
}

int load_compare(const struct load_cfg *a, const struct load_cfg *b, double warmup_s, double seconds,
                 struct load_result *ret_a, struct load_result *ret_b) {
        struct load *la = NULL, *lb = NULL;
        int r;

        if ((r = load_open(a, &la)) >= 0 && (r = load_open(b, &lb)) >= 0) {
                struct runner rn[] = { { load_slice_fn, la }, { load_slice_fn, lb } };
                struct load_result *res[] = { ret_a, ret_b };
                r = load_compare_n(rn, 2, warmup_s, seconds, res);
        }
        load_close(la);
        load_close(lb);
        return r;
}

static int open_close(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                fprintf(stderr, "fdbroker-bench: %s: %s\n", path, strerror(-r));
                return r;
        }
        close(fd);
        return 0;
}

int floor_run(const char *path, double warmup_s, double seconds, struct load_result *ret) {
        int r;

        load_result_init(ret);
        uint64_t t = now_ns();
        uint64_t window_start = t + (uint64_t) (warmup_s * 1e9);
        uint64_t window_end = window_start + (uint64_t) (seconds * 1e9);

        for (; t < window_start; t = now_ns())
                if ((r = open_close(path)) < 0)
                        return r;

        uint64_t cli0 = cpu_self_ns(), t0 = t;
        while (t < window_end) {
                uint64_t begin = t;
                if ((r = open_close(path)) < 0)
                        return r;
                t = now_ns();
                hist_record(&ret->lat, t - begin);
                ret->ops++;
        }
        ret->window_ns = ret->cpu_wall_ns = t - t0;
        ret->client_cpu_ns = cpu_self_ns() - cli0;
        load_result_finish(ret);
        return 0;
}
