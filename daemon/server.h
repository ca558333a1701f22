/* SPDX-License-Identifier: MIT */
#pragma once

/* The server: the listening socket, the set of connections and the limits
 * on them, and the policy generation currently deciding. */

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <sys/queue.h>

#include "policy.h"
#include "lane.h"
#include "fdpass.h"
#include "log.h"
#include "uidtab.h"
#include "wire.h"

#define SERVER_MAX_CLIENTS_DEFAULT 4096
#define SERVER_MAX_PER_UID_DEFAULT 1024
#define SERVER_MAX_INFLIGHT_DEFAULT 64
#define SERVER_IDLE_TIMEOUT_DEFAULT 60      /* seconds */
#define SERVER_OPEN_TIMEOUT_DEFAULT 10000   /* milliseconds */
/* Descriptors kept free of connections, for the files being opened for
 * them and the daemon's own needs (journal, mount table, pidfds). */
#define SERVER_FD_RESERVE 64
/* Records read, and replies sent, per system call and per turn of one
 * connection before the loop moves on to others.  A connection's batch is
 * smaller still: never more than its room for jobs in the lanes
 * (CONN_JOBS_MAX, 8), since any record of it may go to a worker. */
#define SERVER_BATCH 32
/* Workers for cold lookups and creates on local mounts. */
#define SERVER_LOCAL_WORKERS 4
/* Threads that close descriptors whose close may block. */
#define SERVER_CLOSERS 16

enum { LANE_GENERAL, LANE_LOCAL, LANE_CLOSER };

/* A connection that may not send a descriptor yet tries again after 10
 * ms, doubling each time nothing changed, up to 1 s. */
#define SERVER_RETRY_STEPS 8
/* A draining connection (see conn_close) looks at what its client has
 * not read after 50 ms, doubling up to 3.2 s. */
#define SERVER_DRAIN_STEPS 7

enum { SERVER_ALLOWED, SERVER_DENIED, SERVER_FAILED };

/* Replies up to this size (a STAT's included) join the batch sent in one
 * call; larger ones go on their own. */
#define SERVER_OUT_INLINE (FDBR_WIRE_HEADER_SIZE + FDBR_WIRE_STATX_SIZE)

struct server_config {
        unsigned max_clients;
        unsigned max_clients_per_uid;
        unsigned max_inflight;
        unsigned idle_timeout_s;
        unsigned open_timeout_ms;
        unsigned max_workers;
        unsigned exit_idle_s;   /* 0: never */
        const char *subuid_path; /* NULL: SERVER_SUBUID_PATH */
};

/* Whose subordinate ids are whose (see account.h). */
#define SERVER_SUBUID_PATH "/etc/subuid"

struct conn;
LIST_HEAD(conn_list, conn);

struct server {
        struct event_base *base;
        struct server_config cfg;
        int listen_fd;                    /* not owned */
        struct evconnlistener *listener;
        struct event accept_retry;        /* re-arms accepting after EMFILE */
        struct event exit_idle;           /* --exit-idle: no clients for that long */
        int fd_ceiling;                   /* connections never take descriptors above this */
        bool stopping;
        struct event stop_deadline;
        struct ratelimit refused_log;
        struct policy *policy;
        unsigned generation;
        struct conn_list conns;
        unsigned n_conns;                 /* draining ones included */
        unsigned n_draining;              /* closed by us, kept until their descriptors are read */
        unsigned draining_fds;            /* ... what they were sent and may not have read (in fds_out) */
        struct uidtab uids;
        struct account_table *accounts;
        struct lane general;              /* work that may block anywhere */
        struct lane local;                /* work that stays on local mounts */
        struct lane closer;               /* closes that may block */
        unsigned uid_fds_max;             /* descriptors in untaken replies, and pending close, per user */
        unsigned fds_max;                 /* ... and in all */
        unsigned held_fds;
        unsigned closing_fds;
        unsigned fds_out;                 /* sent to clients, maybe not received yet (at most fds_max) */
        unsigned conn_out_max;            /* ... per connection */
        unsigned uid_out_max;             /* ... per user, past a few per connection */
        size_t fd_msg_size;               /* what one reply with a descriptor weighs in SIOCOUTQ */
        struct uidtab_entry *reading_ue;  /* whose records are being received, for stray descriptors */
        bool rights_refused;              /* SO_PASSRIGHTS is off: clients cannot send descriptors */
        /* Shared timeouts: libevent keeps equal timeouts in a queue, not the
         * heap, so thousands of connections cost nothing to time. */
        const struct timeval *idle_timeout;
        const struct timeval *open_timeout;
        const struct timeval *retry_timeouts[SERVER_RETRY_STEPS];
        const struct timeval *drain_timeouts[SERVER_DRAIN_STEPS];
        uint64_t n_requests;
        uint64_t n_denied;
        uint64_t n_deferred;              /* requests that went to a worker */
        uint64_t n_timed_out;
        uint64_t n_withdrawn;             /* deferred, never started: timed out or client gone */
        uint64_t n_discarded;             /* finished after the client heard ETIMEDOUT */
        uint64_t n_accept_pauses;         /* accepting paused, out of descriptors */
        /* Answers by op and verdict (STATUS). */
        uint64_t n_op[FDBR_OP_MAX + 1][3];
        time_t started;                   /* CLOCK_MONOTONIC seconds */
        /* Receive buffers shared by every connection: the loop reads one
         * connection at a time, and an idle connection then costs no
         * buffer.  One byte more than a record so the path can be
         * terminated. */
        char bufs[SERVER_BATCH][FDBR_WIRE_REQUEST_MAX + 1];
        /* Replies of the batch being handled, sent together. */
        struct fdpass_out outbox[SERVER_BATCH];
        uint8_t outrecs[SERVER_BATCH][SERVER_OUT_INLINE];
        bool outoff[SERVER_BATCH];        /* the descriptor is closed off the loop */
        int outpath[SERVER_BATCH];        /* the outcome's path_fd, or -1 */
        unsigned n_out;
};

/* Starts accepting on listen_fd.  Takes the policy reference. */
int server_init(struct server *s, struct event_base *base, int listen_fd, struct policy *policy,
                const struct server_config *cfg);
void server_done(struct server *s);

/* Swaps in a new policy (takes the reference); requests decided from now
 * on use it. */
void server_set_policy(struct server *s, struct policy *policy);

/* Stops cleanly: accepts nothing more (connections still in the backlog
 * are left to the next instance when systemd holds the socket), answers
 * what connected clients already sent, and ends the loop once they are
 * answered or after a grace period.  A second call ends it at once. */
void server_shutdown(struct server *s);

/* Reads /etc/subuid (at start; a reload reads it in a thread of its own,
 * see reload.h); keeps the old table when it cannot. */
void server_load_accounts(struct server *s);

/* Swaps in a table read elsewhere (takes it); NULL keeps the old one and
 * logs error, why it could not be read. */
void server_set_accounts(struct server *s, struct account_table *t, int error);

/* Where the subordinate ranges are read from. */
const char *server_subuid_path(const struct server *s);

/* The STATUS op's text: one key=value a line. */
void server_status_text(const struct server *s, FILE *f);

/* A short summary for STATUS=. */
void server_status(const struct server *s, char *buf, size_t size);

/* Called by a connection when it goes away, so accepting can resume if it
 * was paused for lack of descriptors. */
void server_conn_gone(struct server *s);
