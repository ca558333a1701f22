/* SPDX-License-Identifier: MIT */
#pragma once

/* The real user a peer is accounted to.  A process in a user namespace
 * appears with a kernel uid that its namespace maps, and Debian gives
 * every user 65,536 of them (/etc/subuid): counted by uid, one user would
 * get 65,536 times every limit.  So limits are charged to the user the ids
 * belong to.
 *
 * The owner of the peer's namespace itself (NS_GET_OWNER_UID on the
 * namespace of its pidfd) is out of reach: the kernel asks for
 * CAP_SYS_PTRACE to hand out another user's namespace, and the broker
 * keeps no such capability.  /etc/subuid is what unprivileged users get
 * ids beyond their own from (newuidmap maps nothing else): a kernel uid
 * in a user's subordinate range is charged to that user, whichever
 * namespace the process is in; any other uid is its own account. */

#include <stdbool.h>
#include <sys/types.h>

struct account_table;

/* Reads path (/etc/subuid), resolving user names through the user
 * database: called where that may block (start, reload), never per
 * connection.  A missing file is an empty table. */
int account_table_load(const char *path, struct account_table **ret);
void account_table_free(struct account_table *t);

/* The account of kernel uid uid: the owner of the subordinate range
 * holding it, or uid itself. */
uid_t account_of(const struct account_table *t, uid_t uid);
