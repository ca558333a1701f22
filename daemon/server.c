/* SPDX-License-Identifier: MIT */
#include "server.h"

#include <errno.h>
#include <event2/listener.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "account.h"
#include "closer.h"
#include "conn.h"
#include "identity.h"
#include "log.h"
#include "macro.h"
#include "mounts.h"
#include "userdb.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

/* How long accepting pauses when the process is out of descriptors. */
#define ACCEPT_RETRY_MS 100
/* How long stopping waits for replies to requests already received. */
#define STOP_GRACE_S 3

static void server_pause_accept(struct server *s);

/* Exiting with no client is safe under socket activation: systemd keeps
 * the listening socket, connections arriving meanwhile wait in its backlog,
 * and the next instance, started for them, accepts them. */
static void server_on_exit_idle(evutil_socket_t fd, short what, void *arg) {
        struct server *s = arg;

        if (s->n_conns > 0)
                return;
        log_msg(LOG_NOTICE, "no clients for %u s, exiting (--exit-idle)", s->cfg.exit_idle_s);
        event_base_loopbreak(s->base);
}

static void server_arm_exit_idle(struct server *s) {
        if (s->cfg.exit_idle_s > 0 && s->n_conns == 0)
                evtimer_add(&s->exit_idle, &(struct timeval) { .tv_sec = s->cfg.exit_idle_s });
}

static void server_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg) {
        struct server *s = arg;
        _cleanup_close_ int cfd = fd;
        struct identity id;
        struct conn *c;
        int r;

        if (cfd >= s->fd_ceiling) {
                /* Out of descriptors but for the reserve: as if accept had
                 * failed with EMFILE. */
                log_ratelimited(&s->refused_log, LOG_WARNING,
                                "connection refused: descriptors nearly exhausted; pausing new connections");
                server_pause_accept(s);
                return;
        }
        if (s->n_conns >= s->cfg.max_clients) {
                log_ratelimited(&s->refused_log, LOG_WARNING,
                                "connection refused: %u clients, the limit (--max-clients)", s->n_conns);
                return;
        }

        r = identity_from_peer(cfd, s->accounts, policy_has_unit_rules(s->policy), &id);
        if (r < 0) {
                log_ratelimited(&s->refused_log, LOG_WARNING, "connection refused: cannot read peer identity: %s",
                                strerror(-r));
                return;
        }

        struct uidtab_entry *ue;
        r = uidtab_acquire(&s->uids, id.account, s->cfg.max_clients_per_uid, &ue);
        if (r < 0) {
                log_ratelimited(&s->refused_log, LOG_WARNING,
                                "connection refused: uid %u (account %u) %s (--max-clients-per-uid)", (unsigned) id.uid,
                                (unsigned) id.account, r == -EUSERS ? "is at its limit" : strerror(-r));
                identity_done(&id);
                return;
        }

        uid_t uid = id.uid;
        pid_t pid = id.pid;
        r = conn_new(s, cfd, &id, ue, &c);
        if (r < 0) {
                ue->conns--;
                uidtab_put(&s->uids, ue);
                identity_done(&id);
                log_ratelimited(&s->refused_log, LOG_WARNING, "connection refused: %s", strerror(-r));
                return;
        }
        TAKE_FD(cfd);
        event_del(&s->exit_idle);
        log_msg(LOG_DEBUG, "connection from pid=%d uid=%u", (int) pid, (unsigned) uid);
}

/* The listening socket stays readable while connections wait: without a
 * pause the loop would spin on it.  Resume on a timer, or earlier when a
 * connection closes and gives a descriptor back. */
static void server_pause_accept(struct server *s) {
        s->n_accept_pauses++;
        evconnlistener_disable(s->listener);
        event_add(&s->accept_retry, &(struct timeval) { 0, ACCEPT_RETRY_MS * 1000 });
}

static void server_on_accept_error(struct evconnlistener *l, void *arg) {
        struct server *s = arg;
        int e = EVUTIL_SOCKET_ERROR();

        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                log_ratelimited(&s->refused_log, LOG_WARNING, "accept: %s; pausing new connections", strerror(e));
                server_pause_accept(s);
                return;
        }
        log_ratelimited(&s->refused_log, LOG_WARNING, "accept: %s", strerror(e));
}

static void server_on_accept_retry(evutil_socket_t fd, short what, void *arg) {
        struct server *s = arg;
        evconnlistener_enable(s->listener);
}

static void server_on_stop_deadline(evutil_socket_t fd, short what, void *arg) {
        struct server *s = arg;
        log_msg(LOG_WARNING, "%u clients still not answered after %d s, stopping anyway", s->n_conns, STOP_GRACE_S);
        event_base_loopbreak(s->base);
}

void server_shutdown(struct server *s) {
        if (s->stopping) {
                event_base_loopbreak(s->base);
                return;
        }
        s->stopping = true;
        evconnlistener_disable(s->listener);
        event_del(&s->accept_retry);
        event_del(&s->exit_idle);
        evtimer_add(&s->stop_deadline, &(struct timeval) { .tv_sec = STOP_GRACE_S });
        conn_shutdown_all(s);
        if (s->n_conns == 0)
                event_base_loopbreak(s->base);
}

void server_conn_gone(struct server *s) {
        if (s->stopping) {
                if (s->n_conns == 0)
                        event_base_loopbreak(s->base);
                return;
        }
        server_arm_exit_idle(s);
        if (event_pending(&s->accept_retry, EV_TIMEOUT, NULL)) {
                event_del(&s->accept_retry);
                evconnlistener_enable(s->listener);
        }
}

static time_t server_now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec;
}

/* What the smallest reply with a descriptor counts for in SIOCOUTQ (the
 * kernel's size of its buffer), measured once: a connection's queued
 * bytes divided by it bound how many descriptors may still be unread. */
static size_t server_fd_msg_size(void) {
        int sv[2], outq = 0;
        uint8_t rec[FDBR_WIRE_REPLY_SIZE] = {};

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return 1;
        if (fdpass_send(sv[0], rec, sizeof rec, sv[1]) < 0 || ioctl(sv[0], SIOCOUTQ, &outq) < 0 || outq <= 0)
                outq = 1;
        safe_close(sv[0]);
        safe_close(sv[1]);
        return (size_t) outq;
}

/* A client has no reason to send the broker a descriptor, and closing one
 * may block (a FUSE file's flush, a TCP socket's linger).  With
 * SO_PASSRIGHTS off on the listening socket, which connections inherit
 * (even those not yet accepted), the kernel refuses the client's sendmsg
 * and no descriptor ever arrives. */
static int server_refuse_rights(int listen_fd) {
        int off = 0;
        if (setsockopt(listen_fd, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof off) < 0)
                return -errno;
        return 0;
}

int server_init(struct server *s, struct event_base *base, int listen_fd, struct policy *policy,
                const struct server_config *cfg) {
        s->general.pool.efd = -1;
        s->local.pool.efd = -1;
        s->closer.pool.efd = -1;
        s->base = base;
        s->cfg = *cfg;
        s->listen_fd = listen_fd;
        s->policy = policy;
        s->generation = 1;
        LIST_INIT(&s->conns);
        evtimer_assign(&s->accept_retry, base, server_on_accept_retry, s);
        evtimer_assign(&s->exit_idle, base, server_on_exit_idle, s);
        evtimer_assign(&s->stop_deadline, base, server_on_stop_deadline, s);
        struct rlimit rl;
        s->fd_ceiling = INT_MAX;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < INT_MAX) {
                int limit = (int) rl.rlim_cur;
                s->fd_ceiling = limit - (limit / 4 < SERVER_FD_RESERVE ? limit / 4 : SERVER_FD_RESERVE);
        }
        /* Untaken replies may hold a quarter of what connections may use,
         * a uid a quarter of that (but never less than one connection's
         * worth of requests in flight). */
        s->fds_max = (s->fd_ceiling == INT_MAX ? 1u << 20 : (unsigned) s->fd_ceiling) / 4;
        s->uid_fds_max = s->fds_max / 4 > cfg->max_inflight ? s->fds_max / 4 : cfg->max_inflight;
        /* Descriptors sent and not yet received: a quarter of the budget
         * (at most 64) per connection, a quarter per user. */
        s->conn_out_max = s->fds_max / 4 > 64 ? 64 : s->fds_max / 4 > 0 ? s->fds_max / 4 : 1;
        s->uid_out_max = s->fds_max / 4 > s->conn_out_max ? s->fds_max / 4 : s->conn_out_max;
        server_arm_exit_idle(s);
        server_load_accounts(s);
        s->fd_msg_size = server_fd_msg_size();
        s->started = server_now_s();

        struct timeval idle = { .tv_sec = cfg->idle_timeout_s };
        struct timeval open = { .tv_sec = cfg->open_timeout_ms / 1000, .tv_usec = cfg->open_timeout_ms % 1000 * 1000 };
        s->idle_timeout = event_base_init_common_timeout(base, &idle);
        s->open_timeout = event_base_init_common_timeout(base, &open);
        if (!s->idle_timeout || !s->open_timeout)
                return -ENOMEM;
        /* Common timeouts: adding one never allocates, so a retry is
         * never lost to a failed allocation. */
        static const unsigned retry_ms[SERVER_RETRY_STEPS] = { 10, 20, 40, 80, 160, 320, 640, 1000 };
        for (unsigned i = 0; i < SERVER_RETRY_STEPS; i++) {
                struct timeval tv = { .tv_sec = retry_ms[i] / 1000, .tv_usec = retry_ms[i] % 1000 * 1000 };
                s->retry_timeouts[i] = event_base_init_common_timeout(base, &tv);
                if (!s->retry_timeouts[i])
                        return -ENOMEM;
        }
        for (unsigned i = 0; i < SERVER_DRAIN_STEPS; i++) {
                unsigned ms = 50u << i;
                struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };
                s->drain_timeouts[i] = event_base_init_common_timeout(base, &tv);
                if (!s->drain_timeouts[i])
                        return -ENOMEM;
        }
        /* Each real user gets a quarter of the general workers, half of
         * the local ones, a quarter of the closers: one user's hung
         * filesystem or slow disk never takes a lane from the others. */
        int r = lane_init(&s->general, base, &s->uids, LANE_GENERAL, cfg->max_workers, cfg->max_workers / 4);
        if (r < 0)
                return r;
        r = lane_init(&s->local, base, &s->uids, LANE_LOCAL, SERVER_LOCAL_WORKERS, SERVER_LOCAL_WORKERS / 2);
        if (r < 0)
                return r;
        r = lane_init(&s->closer, base, &s->uids, LANE_CLOSER, SERVER_CLOSERS, SERVER_CLOSERS / 4);
        if (r < 0)
                return r;
        r = server_refuse_rights(listen_fd);
        if (r < 0 && r != -ENOPROTOOPT)
                return r;
        s->rights_refused = r == 0;
        fdpass_set_stray_handler(closer_stray, s);
        if (!s->rights_refused)
                log_msg(LOG_NOTICE, "the kernel cannot refuse descriptors sent by clients (SO_PASSRIGHTS, Linux 6.16); "
                                    "any that arrive are closed off the event loop");
        r = userdb_init(base);
        if (r < 0)
                return r;
        r = mounts_init(base);
        if (r < 0)
                return r;

        /* backlog -1: the socket is already listening (ours or systemd's). */
        s->listener = evconnlistener_new(base, server_on_accept, s, LEV_OPT_CLOSE_ON_EXEC, -1, listen_fd);
        if (!s->listener)
                return -ENOMEM;
        evconnlistener_set_error_cb(s->listener, server_on_accept_error);
        return 0;
}

void server_done(struct server *s) {
        /* conn_free closes draining connections too: each call takes one
         * off the list. */
        while (!LIST_EMPTY(&s->conns))
                conn_free(LIST_FIRST(&s->conns));
        /* Requests still in workers complete into closed connections, and
         * the descriptors they opened go to the closers. */
        lane_done(&s->general);
        lane_done(&s->local);
        lane_done(&s->closer);
        event_del(&s->accept_retry);
        event_del(&s->exit_idle);
        event_del(&s->stop_deadline);
        if (s->listener)
                evconnlistener_free(s->listener);
        s->listener = NULL;
        uidtab_done(&s->uids);
        account_table_free(s->accounts);
        s->accounts = NULL;
        mounts_done();
        userdb_done();
        policy_unref(s->policy);
        s->policy = NULL;
}

const char *server_subuid_path(const struct server *s) {
        return s->cfg.subuid_path ? s->cfg.subuid_path : SERVER_SUBUID_PATH;
}

void server_set_accounts(struct server *s, struct account_table *t, int error) {
        if (!t) {
                log_msg(LOG_WARNING, "%s: %s; subordinate uids count as users of their own",
                        server_subuid_path(s), strerror(-error));
                return;
        }
        account_table_free(s->accounts);
        s->accounts = t;
}

void server_load_accounts(struct server *s) {
        struct account_table *t = NULL;
        int r = account_table_load(server_subuid_path(s), &t);
        server_set_accounts(s, r < 0 ? NULL : t, r);
}

void server_set_policy(struct server *s, struct policy *policy) {
        policy_unref(s->policy);
        s->policy = policy;
        s->generation++;
}

void server_status(const struct server *s, char *buf, size_t size) {
        snprintf(buf, size,
                 "%u clients, %llu requests (%llu in workers), %llu denied, %llu timed out, policy generation %u "
                 "(%zu rules), mount table read %llu times, up %lld s",
                 s->n_conns, (unsigned long long) s->n_requests, (unsigned long long) s->n_deferred,
                 (unsigned long long) s->n_denied, (unsigned long long) s->n_timed_out, s->generation,
                 policy_rule_count(s->policy), (unsigned long long) mounts_reloads(),
                 (long long) (server_now_s() - s->started));
}

void server_status_text(const struct server *s, FILE *f) {
        static const char *const verdicts[] = { "allowed", "denied", "failed" };

        fprintf(f, "version=%s\n", FDBR_VERSION);
        fprintf(f, "uptime_s=%lld\n", (long long) (server_now_s() - s->started));
        fprintf(f, "clients=%u\n", s->n_conns);
        fprintf(f, "clients_draining=%u\n", s->n_draining);
        fprintf(f, "requests=%llu\n", (unsigned long long) s->n_requests);
        fprintf(f, "denied=%llu\n", (unsigned long long) s->n_denied);
        fprintf(f, "in_workers=%llu\n", (unsigned long long) s->n_deferred);
        fprintf(f, "timed_out=%llu\n", (unsigned long long) s->n_timed_out);
        fprintf(f, "withdrawn=%llu\n", (unsigned long long) s->n_withdrawn);
        fprintf(f, "discarded=%llu\n", (unsigned long long) s->n_discarded);
        fprintf(f, "accept_pauses=%llu\n", (unsigned long long) s->n_accept_pauses);
        const struct {
                const char *name;
                const struct lane *lane;
        } lanes[] = { { "general", &s->general }, { "local", &s->local }, { "closer", &s->closer } };
        for (size_t i = 0; i < ELEMENTSOF(lanes); i++) {
                fprintf(f, "lane_%s_running=%u\n", lanes[i].name, lanes[i].lane->n_running);
                fprintf(f, "lane_%s_waiting=%u\n", lanes[i].name, lanes[i].lane->n_held);
        }
        fprintf(f, "policy_generation=%u\n", s->generation);
        fprintf(f, "policy_rules=%zu\n", policy_rule_count(s->policy));
        fprintf(f, "descriptors_held=%u\n", s->held_fds);
        fprintf(f, "descriptors_closing=%u\n", s->closing_fds);
        fprintf(f, "descriptors_unread=%u\n", s->fds_out);
        fprintf(f, "descriptors_draining=%u\n", s->draining_fds);
        fprintf(f, "mount_table_reads=%llu\n", (unsigned long long) mounts_reloads());
        fprintf(f, "user_lookups=%llu\n", userdb_lookups());
        for (unsigned op = 1; op <= FDBR_OP_MAX; op++)
                for (unsigned v = 0; v < 3; v++)
                        if (s->n_op[op][v]) {
                                char name[16];
                                size_t i = 0;
                                for (const char *n = wire_op_name((uint16_t) op); *n && i + 1 < sizeof name; n++)
                                        name[i++] = (char) (*n >= 'A' && *n <= 'Z' ? *n - 'A' + 'a' : *n);
                                name[i] = 0;
                                fprintf(f, "requests_%s_%s=%llu\n", name, verdicts[v],
                                        (unsigned long long) s->n_op[op][v]);
                        }
        fprintf(f, "refuses_client_descriptors=%s\n", s->rights_refused ? "yes" : "no");
}
