/* SPDX-License-Identifier: MIT */
/* Memory per idle connection, and whether a crowd of idle connections
 * slows down a client that is not idle. */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"
#include "fdpass.h"
#include "wire.h"

#define REPLY_TIMEOUT_MS 5000
/* Descriptors beyond the idle connections: the load generator, the
 * listening and epoll sockets, stdio. */
#define FD_MARGIN 256

/* Connects and has one PING answered: once the reply is here, the daemon
 * has accepted the connection and set it up, so the memory it costs is
 * in the RSS read afterwards. */
static int connect_and_ping(const char *path, uint32_t id) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        struct fdpass_msg m;
        struct wire_reply rep;
        int fd, r;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                r = -errno;
                goto fail;
        }
        int len = wire_request_encode(buf, sizeof buf, FDBR_OP_PING, id, 0, 0, NULL, 0);
        r = len < 0 ? len : fdpass_send(fd, buf, (size_t) len, -1);
        if (r < 0)
                goto fail;

        struct pollfd p = { .fd = fd, .events = POLLIN };
        r = poll(&p, 1, REPLY_TIMEOUT_MS);
        if (r <= 0) {
                r = r < 0 ? -errno : -ETIMEDOUT;
                goto fail;
        }
        r = fdpass_recv(fd, buf, sizeof buf, false, &m);
        if (r < 0)
                goto fail;
        if (m.len == 0) {
                r = -ECONNRESET; /* refused: a limit of the daemon */
                goto fail;
        }
        if (m.flags || wire_reply_decode(buf, m.len, &rep) < 0 || rep.id != id || rep.status != 0) {
                r = -EBADMSG;
                goto fail;
        }
        return fd;
fail:
        close(fd);
        return r;
}

static int new_client(const struct options *o, const struct brokerd *d, const char *path, const char *name,
                      struct load_result *res) {
        struct load_cfg cfg = {
                .socket = d->socket,
                .path = path,
                .conns = 1,
                .depth = 1,
        };
        int r = load_run(&cfg, o->warmup, o->seconds / 2, res);
        if (r >= 0)
                report_latency(name, res);
        return r;
}

static int idle_measure(const struct options *o, const struct brokerd *d, int *fds, struct load_result *res) {
        char name[96];
        long before, after;
        int r;

        /* The new client's latency alone first: the reference for the same
         * latency with the crowd connected. */
        if ((r = new_client(o, d, NULL, "new client PING, no other client", res)) < 0 ||
            (r = new_client(o, d, o->file, "new client OPEN, no other client", res)) < 0)
                return r;

        if ((r = proc_rss_kib(d->pid, &before)) < 0)
                return r;

        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < o->idle_conns; i++) {
                fds[i] = connect_and_ping(d->socket, i + 1);
                if (fds[i] < 0) {
                        r = fds[i];
                        fprintf(stderr, "fdbroker-bench: idle connection %u of %u: %s\n", i + 1, o->idle_conns,
                                strerror(-r));
                        return r;
                }
        }
        uint64_t t1 = now_ns();

        if ((r = proc_rss_kib(d->pid, &after)) < 0)
                return r;

        report_value("RSS before connecting", (double) before, "KiB");
        snprintf(name, sizeof name, "RSS with %u connections", o->idle_conns);
        report_value(name, (double) after, "KiB");
        report_value("connect + first PING, each", (double) (t1 - t0) / 1000.0 / o->idle_conns, "us");
        report_check("RSS per idle connection, KiB", (double) (after - before) / o->idle_conns, "<=",
                     TARGET_KIB_PER_IDLE_CONN);

        snprintf(name, sizeof name, "new client PING, %u idle", o->idle_conns);
        if ((r = new_client(o, d, NULL, name, res)) < 0)
                return r;
        snprintf(name, sizeof name, "new client OPEN, %u idle", o->idle_conns);
        return new_client(o, d, o->file, name, res);
}

int run_idle(const struct options *o) {
        struct brokerd d = { 0 };
        struct load_result *res = NULL;
        int *fds = NULL;
        char title[128];
        int r;

        snprintf(title, sizeof title, "idle connections: fdbrokerd with %u connections, each answered one PING",
                 o->idle_conns);
        report_section("idle", title, false);

        long want = (long) o->idle_conns + FD_MARGIN;
        long have = nofile_raise(want);
        if (have < want) {
                fprintf(stderr, "fdbroker-bench: %u idle connections need %ld descriptors, RLIMIT_NOFILE allows %ld; "
                                "raise it (ulimit -n) or use --skip-rss\n",
                        o->idle_conns, want, have);
                return have < 0 ? (int) have : -EMFILE;
        }

        res = malloc(sizeof *res);
        fds = malloc(o->idle_conns * sizeof *fds);
        if (!res || !fds) {
                r = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < o->idle_conns; i++)
                fds[i] = -1;

        r = brokerd_start(&d, o->dir, "fdbrokerd-idle", o->policy, 2 * o->idle_conns + FD_MARGIN);
        if (r < 0)
                goto out;
        r = idle_measure(o, &d, fds, res);

out:
        if (fds)
                for (unsigned i = 0; i < o->idle_conns; i++)
                        if (fds[i] >= 0)
                                close(fds[i]);
        if (server_stop(d.pid) < 0) {
                fprintf(stderr, "fdbroker-bench: fdbrokerd did not exit cleanly\n");
                if (r == 0)
                        r = -ECHILD;
        }
        free(fds);
        free(res);
        return r;
}
