/* SPDX-License-Identifier: MIT */
/* The peers' pattern: a socketpair per request, blocking on both sides.
 * The client makes a socketpair, sends one end with the request over its
 * connection to the broker and waits on the other end; the broker, one
 * thread per connection reading it with blocking calls, opens the file and
 * answers on the end it was given, then closes it.  This is how the
 * brokers of the Chromium and Firefox sandboxes work.  It speaks the same
 * records as fdbrokerd, so only the transport differs: the new socket and
 * the descriptor passed with every request, and a thread woken for each.
 *
 * The load side is blocking too, as those clients are: one thread per
 * request in flight, several of them sharing a connection when the shape
 * asks for more than one in flight on it. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "fdpass.h"
#include "wire.h"

/* Enough for the few syscalls of the loop; the default 8 MiB per thread
 * would only be address space, but 256 of them are not needed. */
#define THREAD_STACK (256u * 1024u)

/* ---- the server ---------------------------------------------------------- */

static void peer_answer(int conn_fd) {
        static _Thread_local char buf[FDBR_WIRE_REQUEST_MAX + 1];

        for (;;) {
                struct fdpass_msg m;
                int r = fdpass_recv(conn_fd, buf, FDBR_WIRE_REQUEST_MAX, true, &m);
                if (r < 0 || m.len == 0)
                        break;
                /* Without its reply socket a request cannot be answered:
                 * the client broke the protocol. */
                if (m.fd < 0 || (m.flags & (FDPASS_TRUNCATED | FDPASS_BAD_CONTROL))) {
                        if (m.fd >= 0)
                                close(m.fd);
                        break;
                }

                struct wire_request req;
                struct wire_reply rep = { 0 };
                uint8_t rec[FDBR_WIRE_REPLY_SIZE];
                int ofd = -1;

                wire_request_echo(buf, m.len, &rep.op, &rep.id);
                r = wire_request_decode(buf, m.len, &req);
                if (r < 0)
                        rep.status = (uint32_t) -r;
                else if (req.op != FDBR_OP_PING) {
                        buf[FDBR_WIRE_HEADER_SIZE + req.path_len] = 0;
                        int flags = (req.flags & FDBR_F_WRITE) ? ((req.flags & FDBR_F_READ) ? O_RDWR : O_WRONLY)
                                                               : O_RDONLY;
                        ofd = open(req.path, flags | O_CLOEXEC | O_NOCTTY);
                        if (ofd < 0)
                                rep.status = (uint32_t) errno;
                }
                rep.nfds = ofd >= 0;
                wire_reply_encode(rec, &rep);
                (void) fdpass_send(m.fd, rec, FDBR_WIRE_REPLY_SIZE, ofd);
                if (ofd >= 0)
                        close(ofd);
                close(m.fd);
        }
        close(conn_fd);
}

static void *peer_conn_thread(void *arg) {
        peer_answer((int) (intptr_t) arg);
        return NULL;
}

static _Noreturn void peer_main(int lfd) {
        pthread_attr_t attr;

        if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, THREAD_STACK) != 0 ||
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0) {
                fprintf(stderr, "fdbroker-bench: peer broker: thread attributes\n");
                _exit(EXIT_FAILURE);
        }
        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        fprintf(stderr, "fdbroker-bench: peer broker: accept: %m\n");
                        _exit(EXIT_FAILURE);
                }
                pthread_t t;
                if (pthread_create(&t, &attr, peer_conn_thread, (void *) (intptr_t) fd) != 0)
                        close(fd);
        }
}

int peer_start(const char *sock_path, pid_t *ret_pid) {
        return server_fork("peer broker", sock_path, false, peer_main, ret_pid);
}

/* ---- the load side ------------------------------------------------------- */

struct peer_worker {
        struct peer_load *load;
        int conn_fd;
        pthread_t thread;
        struct hist lat;
        uint64_t ops, errors;
        int first_error;
};

struct peer_load {
        const struct load_cfg *cfg;
        int *conns;
        struct peer_worker *workers;
        size_t n_workers;
        uint8_t req[FDBR_WIRE_REQUEST_MAX];
        size_t req_len;
        /* Workers wait for go: the window starts once every thread of
         * the slice exists, whatever their creation took. */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool go;
        uint64_t window_start, window_end;
        /* The edges of the window are sampled by the first worker to cross
         * each: a sleeping thread among hundreds of busy ones would wake
         * far too late. */
        atomic_bool start_seen, end_seen;
        uint64_t t0, t1, cli0, cli1, srv0, srv1;
};

static void peer_sample(const struct peer_load *l, uint64_t *ret_t, uint64_t *ret_cli, uint64_t *ret_srv) {
        *ret_srv = 0;
        if (l->cfg->server > 0)
                (void) proc_cpu_ns(l->cfg->server, ret_srv);
        *ret_cli = cpu_self_ns();
        *ret_t = now_ns();
}

static int peer_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* One request the peers' way.  Returns 0 or -errno. */
static int peer_request(struct peer_load *l, int conn_fd) {
        uint8_t rec[FDBR_WIRE_REPLY_SIZE];
        struct wire_reply rep;
        struct fdpass_msg m;
        int sv[2], r;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        r = fdpass_send(conn_fd, l->req, l->req_len, sv[1]);
        close(sv[1]);
        if (r == 0)
                r = fdpass_recv(sv[0], rec, sizeof rec, true, &m);
        close(sv[0]);
        if (r < 0)
                return r;
        if (m.fd >= 0)
                close(m.fd);
        if (wire_reply_decode(rec, m.len, &rep) < 0)
                return -EPROTO;
        if (rep.status != 0)
                return -(int) rep.status;
        return m.fd >= 0 ? 0 : -EPROTO;
}

static void *peer_worker_main(void *arg) {
        struct peer_worker *w = arg;
        struct peer_load *l = w->load;

        pthread_mutex_lock(&l->lock);
        while (!l->go)
                pthread_cond_wait(&l->cond, &l->lock);
        pthread_mutex_unlock(&l->lock);

        for (uint64_t t = now_ns(); t < l->window_end;) {
                uint64_t t0 = t;
                int r = peer_request(l, w->conn_fd);
                t = now_ns();
                if (r < 0) {
                        if (w->errors++ == 0)
                                w->first_error = r;
                        break;
                }
                if (t >= l->window_start && t < l->window_end) {
                        hist_record(&w->lat, t - t0);
                        w->ops++;
                }
                if (t >= l->window_start && !atomic_exchange(&l->start_seen, true))
                        peer_sample(l, &l->t0, &l->cli0, &l->srv0);
        }
        if (!atomic_exchange(&l->end_seen, true))
                peer_sample(l, &l->t1, &l->cli1, &l->srv1);
        return NULL;
}

void peer_close(struct peer_load *l) {
        if (!l)
                return;
        if (l->conns)
                for (unsigned i = 0; i < l->cfg->conns; i++)
                        if (l->conns[i] >= 0)
                                close(l->conns[i]);
        free(l->conns);
        free(l->workers);
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->lock);
        free(l);
}

int peer_open(const struct load_cfg *cfg, struct peer_load **ret) {
        struct peer_load *l = calloc(1, sizeof *l);
        int r;

        if (!l)
                return -ENOMEM;
        pthread_mutex_init(&l->lock, NULL);
        pthread_cond_init(&l->cond, NULL);
        l->cfg = cfg;
        l->n_workers = (size_t) cfg->conns * cfg->depth;
        l->conns = malloc(cfg->conns * sizeof *l->conns);
        l->workers = calloc(l->n_workers, sizeof *l->workers);
        if (!l->conns || !l->workers) {
                peer_close(l);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < cfg->conns; i++)
                l->conns[i] = -1;

        r = cfg->path ? wire_request_encode(l->req, sizeof l->req, FDBR_OP_OPEN, 1, FDBR_F_READ, 0, cfg->path,
                                            strlen(cfg->path))
                      : wire_request_encode(l->req, sizeof l->req, FDBR_OP_PING, 1, 0, 0, NULL, 0);
        if (r < 0) {
                peer_close(l);
                return r;
        }
        l->req_len = (size_t) r;

        for (unsigned i = 0; i < cfg->conns; i++) {
                l->conns[i] = peer_connect(cfg->socket);
                if (l->conns[i] < 0) {
                        r = l->conns[i];
                        fprintf(stderr, "fdbroker-bench: connection %u of %u to %s: %s\n", i + 1, cfg->conns,
                                cfg->socket, strerror(-r));
                        peer_close(l);
                        return r;
                }
                for (unsigned k = 0; k < cfg->depth; k++)
                        l->workers[(size_t) i * cfg->depth + k] =
                                (struct peer_worker) { .load = l, .conn_fd = l->conns[i] };
        }
        *ret = l;
        return 0;
}

int peer_slice(void *ctx, double lead_s, double seconds, struct load_result *acc) {
        struct peer_load *l = ctx;
        pthread_attr_t attr;
        size_t started = 0;
        int r = 0;

        l->go = false;
        atomic_store(&l->start_seen, false);
        atomic_store(&l->end_seen, false);

        if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, THREAD_STACK) != 0)
                return -ENOMEM;
        for (; started < l->n_workers; started++) {
                struct peer_worker *w = &l->workers[started];
                hist_reset(&w->lat);
                w->ops = w->errors = 0;
                w->first_error = 0;
                if (pthread_create(&w->thread, &attr, peer_worker_main, w) != 0) {
                        r = -EAGAIN;
                        break;
                }
        }
        pthread_attr_destroy(&attr);

        pthread_mutex_lock(&l->lock);
        l->window_start = now_ns() + (uint64_t) (lead_s * 1e9);
        l->window_end = l->window_start + (uint64_t) (seconds * 1e9);
        if (r < 0)
                l->window_end = 0; /* the threads that started leave at once */
        l->go = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);

        for (size_t i = 0; i < started; i++) {
                struct peer_worker *w = &l->workers[i];
                (void) pthread_join(w->thread, NULL);
                hist_merge(&acc->lat, &w->lat);
                acc->ops += w->ops;
                if (w->errors && acc->errors == 0)
                        acc->first_error = w->first_error;
                acc->errors += w->errors;
        }
        if (r < 0)
                return r;

        acc->window_ns += l->window_end - l->window_start;
        /* Its main thread only accepts: its context switches say nothing,
         * and are not counted. */
        if (atomic_load(&l->start_seen) && l->t1 > l->t0) {
                acc->cpu_wall_ns += l->t1 - l->t0;
                acc->server_cpu_ns += l->srv1 > l->srv0 ? l->srv1 - l->srv0 : 0;
                acc->client_cpu_ns += l->cli1 > l->cli0 ? l->cli1 - l->cli0 : 0;
        }
        if (acc->errors == 0)
                return 0;
        r = acc->first_error < 0 ? acc->first_error : -EIO;
        fprintf(stderr, "fdbroker-bench: requests failed on %s, the first with: %s\n", l->cfg->socket,
                strerror(-r));
        return r;
}
