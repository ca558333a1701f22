/* SPDX-License-Identifier: MIT */
#pragma once

/* User names and home directories (%u, %h) without the event loop ever
 * waiting for the user database: lookups run in a thread of their own,
 * results are cached, and whoever waits for one is answered within a
 * deadline — "unknown" when the database is slow or unreachable (LDAP,
 * NIS, a hung nss module), which matches no rule that needs the name. */

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <sys/types.h>

/* How long a connection waits for its user's entry. */
#define USERDB_DEADLINE_MS 2000

/* Called on the loop with the entry of the uid asked for: name and home
 * are NULL when unknown, and valid only during the call. */
typedef void (*userdb_fn)(void *userdata, const char *name, const char *home);

/* One wait for an entry, embedded in its owner. */
struct userdb_wait {
        LIST_ENTRY(userdb_wait) link;
        uid_t uid;
        userdb_fn fn;
        void *userdata;
        struct event deadline;
        bool waiting;
};

int userdb_init(struct event_base *base);
void userdb_done(void);

/* Calls fn now, before returning, when uid's entry is known and fresh;
 * else starts a lookup (unless one runs) and calls fn later, on the loop,
 * at the latest after USERDB_DEADLINE_MS.  w must stay valid until then
 * or userdb_cancel(w). */
void userdb_get(uid_t uid, userdb_fn fn, void *userdata, struct userdb_wait *w);

/* The waiter goes away: fn will not be called. */
void userdb_cancel(struct userdb_wait *w);

/* Lookups done so far (STATUS, tests). */
unsigned long long userdb_lookups(void);
