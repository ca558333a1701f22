/* SPDX-License-Identifier: MIT */
#pragma once

/* One client connection: reads records, answers them in order of
 * completion, queues replies the client is not ready to take, and stops
 * reading when too many are outstanding. */

#include "identity.h"

struct server;
struct conn;

struct uidtab_entry;

/* Takes ownership of fd, of *id (left empty) and of one connection counted
 * in ue. */
int conn_new(struct server *s, int fd, struct identity *id, struct uidtab_entry *ue, struct conn **ret);
/* Closes at once, a draining connection too (the broker is stopping): it
 * leaves the server's list.  When the broker itself ends a connection
 * whose client may not have read every descriptor it was sent, the
 * connection drains first (conn.c, conn_close). */
void conn_free(struct conn *c);

/* Answers what the client already sent, then closes once the replies are
 * out (the server is stopping); a draining connection closes now. */
void conn_shutdown(struct conn *c);
void conn_shutdown_all(struct server *s);

/* One descriptor counted against ue (in an untaken reply, or waiting to be
 * closed) is gone: connections stopped for lack of room are read again. */
void conn_fds_returned(struct server *s, struct uidtab_entry *ue);
void conn_close_done(struct server *s, struct uidtab_entry *ue);

/* ---- for the pipeline (request.c) and the deferral of work (defer.c) ---------- */

struct request;

struct server *conn_server(const struct conn *c);
/* The real user the connection is counted against. */
struct uidtab_entry *conn_account(const struct conn *c);
const struct identity *conn_identity(const struct conn *c);

/* Replies with r->out (taking its descriptor and data) and writes its
 * audit record; or replies with a bare status. */
void conn_answer(struct conn *c, struct request *r);
void conn_answer_status(struct conn *c, uint16_t op, uint32_t id, int status);

/* A request of c goes to a lane: c stays allocated (not necessarily
 * connected) until conn_job_end. */
void conn_job_begin(struct conn *c);
void conn_job_end(struct conn *c);
/* A received request that will never be answered (its client is gone). */
void conn_forget(struct conn *c);

void conn_settle(struct conn *c);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
