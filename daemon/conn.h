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
void conn_free(struct conn *c);

/* Answers what the client already sent, then closes once the replies are
 * out (the server is stopping). */
void conn_shutdown(struct conn *c);
void conn_shutdown_all(struct server *s);

/* One descriptor counted against ue (in an untaken reply, or waiting to be
 * closed) is gone: connections stopped for lack of room are read again. */
void conn_fds_returned(struct server *s, struct uidtab_entry *ue);
void conn_close_done(struct server *s, struct uidtab_entry *ue);
