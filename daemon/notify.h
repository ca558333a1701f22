/* SPDX-License-Identifier: MIT */
#pragma once

/* What the service manager sees of the daemon: readiness, a live status
 * line, and watchdog keep-alives sent from the event loop itself, so that a
 * loop that stalls stops them and gets the service restarted.  Without
 * NOTIFY_SOCKET all of this costs nothing. */

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>

struct server;

struct notifier {
        struct server *srv;
        struct event watchdog;
        struct event status;
        bool enabled;
        char last[256];
};

int notifier_start(struct notifier *n, struct event_base *base, struct server *srv);

/* Sends state (e.g. "READY=1\n", may be "") followed by a fresh STATUS=. */
void notifier_send(struct notifier *n, const char *state);

void notifier_stop(struct notifier *n);
