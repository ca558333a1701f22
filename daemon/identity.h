/* SPDX-License-Identifier: MIT */
#pragma once

/* Who is at the other end of a connection, as the kernel says: taken once
 * at accept time and never from anything the client sends. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"

/* A peer may belong to many groups; past this, the connection is refused
 * rather than decided on a partial list. */
#define IDENTITY_GROUPS_MAX 65536

struct identity {
        uid_t uid;
        /* The real user every limit counts this peer against: its uid, or
         * for a peer in a user namespace, the user who owns the
         * namespace's ids (see account.h). */
        uid_t account;
        gid_t gid;
        pid_t pid;
        uint32_t n_groups;
        gid_t *groups;     /* supplementary groups, SO_PEERGROUPS */
        char *unit;        /* systemd unit, NULL when the lookup failed */
        char *user_name;   /* NULL when unknown or not looked up */
        bool user_name_done;
};

/* Reads the identity of the peer of a connected AF_UNIX socket.
 * with_unit looks the systemd unit up (pinned by SO_PEERPIDFD), with_name
 * the user name; the account comes from accounts (see account.h).  Returns 0 or -errno (the peer must then be refused: a
 * connection whose identity is unknown is not served). */
struct account_table;
int identity_from_peer(int fd, const struct account_table *accounts, bool with_unit, bool with_name,
                       struct identity *ret);

/* Looks up the user name if not done yet; failure leaves it NULL. */
void identity_resolve_user_name(struct identity *id);

/* The policy engine's view of this identity (borrows the strings). */
void identity_subject(const struct identity *id, struct policy_subject *ret);

void identity_done(struct identity *id);
