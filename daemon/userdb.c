/* SPDX-License-Identifier: MIT */
#include "userdb.h"

#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "macro.h"
#include "pool.h"

/* Entries kept; a full cache forgets the oldest entry no one waits for. */
#define USERDB_ENTRIES_MAX 4096
#define USERDB_BUCKETS 1024
/* How long an answer is believed: a name known, or known not to exist. */
#define USERDB_TTL_FOUND_S 300
#define USERDB_TTL_MISSING_S 30
/* getpwuid_r's buffer: grown on ERANGE up to this. */
#define USERDB_BUF_MAX 65536
/* Lookups at once: one that hangs in the database holds one thread, the
 * others go on. */
#define USERDB_THREADS 4

struct entry {
        struct pool_job job;
        struct entry *next;              /* in its bucket */
        uid_t uid;
        bool pending;                    /* a lookup is queued or running */
        bool known;                      /* the answer below is valid */
        char *name, *home;               /* NULL when the user does not exist */
        /* Written by the worker, read on the loop after the handover. */
        char *new_name, *new_home;
        bool new_found;
        time_t expires;
        LIST_HEAD(, userdb_wait) waiters;
};

static struct {
        struct event_base *base;
        const struct timeval *deadline;
        struct entry *buckets[USERDB_BUCKETS];
        unsigned n_entries;
        struct pool pool;
        bool started;
        unsigned long long lookups;
} U;

static time_t now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec;
}

static struct entry **find(uid_t uid) {
        struct entry **p = &U.buckets[hash_id(uid) % USERDB_BUCKETS];
        while (*p && (*p)->uid != uid)
                p = &(*p)->next;
        return p;
}

static void entry_free(struct entry *e) {
        free(e->name);
        free(e->home);
        free(e);
}

/* Makes room by forgetting the entry that expires first among those no
 * one waits for. */
static void evict_one(void) {
        struct entry **victim = NULL;
        for (unsigned b = 0; b < USERDB_BUCKETS; b++)
                for (struct entry **p = &U.buckets[b]; *p; p = &(*p)->next)
                        if (!(*p)->pending && (!victim || (*p)->expires < (*victim)->expires))
                                victim = p;
        if (!victim)
                return;
        struct entry *e = *victim;
        *victim = e->next;
        entry_free(e);
        U.n_entries--;
}

/* In a worker. */
static void userdb_lookup(struct pool_job *job) {
        struct entry *e = container_of(job, struct entry, job);
        size_t size = 4096;

        e->new_found = false;
        for (;;) {
                struct passwd pw, *res = NULL;
                char *buf = malloc(size);
                if (!buf)
                        return;
                int r = getpwuid_r(e->uid, &pw, buf, size, &res);
                if (r == ERANGE && size < USERDB_BUF_MAX) {
                        free(buf);
                        size *= 2;
                        continue;
                }
                if (r == 0 && res) {
                        e->new_found = true;
                        e->new_name = strdup(res->pw_name);
                        e->new_home = res->pw_dir ? strdup(res->pw_dir) : NULL;
                }
                free(buf);
                return;
        }
}

static void notify(struct entry *e) {
        struct userdb_wait *w;
        while ((w = LIST_FIRST(&e->waiters))) {
                LIST_REMOVE(w, link);
                w->waiting = false;
                event_del(&w->deadline);
                w->fn(w->userdata, e->name, e->home);
        }
}

/* On the loop. */
static void userdb_complete(struct pool_job *job) {
        struct entry *e = container_of(job, struct entry, job);

        free(e->name);
        free(e->home);
        e->name = TAKE_PTR(e->new_name);
        e->home = TAKE_PTR(e->new_home);
        e->pending = false;
        e->known = true;
        e->expires = now_s() + (e->new_found ? USERDB_TTL_FOUND_S : USERDB_TTL_MISSING_S);
        U.lookups++;
        notify(e);
}

static void userdb_on_deadline(evutil_socket_t fd, short what, void *arg) {
        struct userdb_wait *w = arg;
        LIST_REMOVE(w, link);
        w->waiting = false;
        w->fn(w->userdata, NULL, NULL);
}

int userdb_init(struct event_base *base) {
        U.base = base;
        struct timeval tv = { .tv_sec = USERDB_DEADLINE_MS / 1000, .tv_usec = USERDB_DEADLINE_MS % 1000 * 1000 };
        U.deadline = event_base_init_common_timeout(base, &tv);
        if (!U.deadline)
                return -ENOMEM;
        int r = pool_init(&U.pool, base, USERDB_THREADS);
        if (r < 0)
                return r;
        U.started = true;
        return 0;
}

void userdb_get(uid_t uid, userdb_fn fn, void *userdata, struct userdb_wait *w) {
        struct entry **p = find(uid), *e = *p;

        if (e && e->known && !e->pending && e->expires > now_s()) {
                fn(userdata, e->name, e->home);
                return;
        }
        if (!e) {
                if (U.n_entries >= USERDB_ENTRIES_MAX)
                        evict_one();
                e = calloc(1, sizeof *e);
                if (!e) {
                        fn(userdata, NULL, NULL);
                        return;
                }
                e->uid = uid;
                LIST_INIT(&e->waiters);
                p = find(uid);
                e->next = *p;
                *p = e;
                U.n_entries++;
        }
        if (!e->pending) {
                e->job = (struct pool_job) { .run = userdb_lookup, .complete = userdb_complete };
                if (!U.started || pool_submit(&U.pool, &e->job) < 0) {
                        fn(userdata, NULL, NULL);
                        return;
                }
                e->pending = true;
        }
        /* A stale answer is not given even at the deadline: the name may
         * belong to someone else by now. */
        *w = (struct userdb_wait) { .uid = uid, .fn = fn, .userdata = userdata, .waiting = true };
        evtimer_assign(&w->deadline, U.base, userdb_on_deadline, w);
        evtimer_add(&w->deadline, U.deadline);
        LIST_INSERT_HEAD(&e->waiters, w, link);
}

void userdb_cancel(struct userdb_wait *w) {
        if (!w->waiting)
                return;
        LIST_REMOVE(w, link);
        event_del(&w->deadline);
        w->waiting = false;
}

unsigned long long userdb_lookups(void) {
        return U.lookups;
}

void userdb_done(void) {
        if (!U.started)
                return;
        /* Lookups still running complete now, or are left behind (the
         * process is exiting): their entries are kept for them. */
        pool_done(&U.pool);
        U.started = false;
        for (unsigned b = 0; b < USERDB_BUCKETS; b++)
                for (struct entry **p = &U.buckets[b]; *p;) {
                        struct entry *e = *p;
                        if (e->pending) {
                                p = &e->next;
                                continue;
                        }
                        *p = e->next;
                        entry_free(e);
                        U.n_entries--;
                }
}
