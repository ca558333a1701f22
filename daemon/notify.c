/* SPDX-License-Identifier: MIT */
#include "notify.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "server.h"

/* The status line is refreshed this often while something changes. */
#define STATUS_INTERVAL_S 5

static void on_watchdog(evutil_socket_t fd, short what, void *arg) {
        (void) sd_notify(0, "WATCHDOG=1");
}

static void on_status(evutil_socket_t fd, short what, void *arg) {
        notifier_send(arg, "");
}

void notifier_send(struct notifier *n, const char *state) {
        char status[sizeof n->last];

        if (!n->enabled)
                return;
        server_status(n->srv, status, sizeof status);
        /* An idle broker does not chatter. */
        if (!state[0] && strcmp(status, n->last) == 0)
                return;
        memcpy(n->last, status, sizeof status);
        (void) sd_notifyf(0, "%sSTATUS=%s", state, status);
}

int notifier_start(struct notifier *n, struct event_base *base, struct server *srv) {
        uint64_t usec = 0;

        *n = (struct notifier) { .srv = srv, .enabled = getenv("NOTIFY_SOCKET") != NULL };
        evtimer_assign(&n->watchdog, base, on_watchdog, n);
        event_assign(&n->status, base, -1, EV_PERSIST, on_status, n);
        if (!n->enabled)
                return 0;

        event_add(&n->status, &(struct timeval) { .tv_sec = STATUS_INTERVAL_S });

        int r = sd_watchdog_enabled(0, &usec);
        if (r < 0)
                log_msg(LOG_WARNING, "ignoring a malformed watchdog setting: %s", strerror(-r));
        if (r > 0 && usec > 0) {
                /* Half the interval, as systemd recommends: one late ping is
                 * not yet a failure. */
                uint64_t half = usec / 2;
                struct timeval tv = { .tv_sec = (time_t) (half / 1000000), .tv_usec = (suseconds_t) (half % 1000000) };
                event_assign(&n->watchdog, base, -1, EV_PERSIST, on_watchdog, n);
                event_add(&n->watchdog, &tv);
                (void) sd_notify(0, "WATCHDOG=1");
                log_msg(LOG_INFO, "watchdog: keep-alive every %llu ms", (unsigned long long) half / 1000);
        }
        return 0;
}

void notifier_stop(struct notifier *n) {
        event_del(&n->watchdog);
        event_del(&n->status);
}
