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
 * keeps no such capability.  What is reachable is the peer's uid_map
 * (readable by anyone), which tells whether it is in a user namespace at
 * all, and /etc/subuid, the only way an unprivileged user gets ids beyond
 * its own (newuidmap maps nothing else): a kernel uid in a user's
 * subordinate range is charged to that user. */

#include <stdbool.h>
#include <sys/types.h>

struct account_table;

/* Reads path (/etc/subuid), resolving user names through the user
 * database: called where that may block (start, reload), never per
 * connection.  A missing file is an empty table. */
int account_table_load(const char *path, struct account_table **ret);
void account_table_free(struct account_table *t);

/* The account of a peer of kernel uid uid and pid pid (pidfd pins it,
 * -1 if none).  Never fails: whatever cannot be read leaves uid itself. */
uid_t account_of(const struct account_table *t, uid_t uid, pid_t pid, int pidfd);

/* The owner of uid's subordinate range, or uid itself. */
uid_t account_subuid_owner(const struct account_table *t, uid_t uid);
