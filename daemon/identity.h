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
        char *user_name;   /* NULL when unknown (userdb.c): %u rules match nothing */
        char *home;        /* likewise, for %h */
};

/* Reads the identity of the peer of a connected AF_UNIX socket.
 * with_unit looks the systemd unit up (pinned by SO_PEERPIDFD); the
 * account comes from accounts (see account.h); the user's name and home
 * come later, from userdb.c.  Returns 0 or -errno (the peer must then be
 * refused: a connection whose identity is unknown is not served). */
struct account_table;
int identity_from_peer(int fd, const struct account_table *accounts, bool with_unit, struct identity *ret);

/* Takes the user's name and home directory (either may be NULL). */
void identity_set_user(struct identity *id, const char *name, const char *home);

/* The policy engine's view of this identity (borrows the strings). */
void identity_subject(const struct identity *id, struct policy_subject *ret);

void identity_done(struct identity *id);
