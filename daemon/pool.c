/* SPDX-License-Identifier: MIT */
#include "pool.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

/* Workers above this many exit after a while without work. */
#define POOL_THREADS_KEEP 2
#define POOL_IDLE_SECONDS 30
/* Filesystem work needs little stack; thousands of hung FUSE opens must
 * not cost gigabytes. */
#define POOL_STACK_SIZE (256 * 1024)
/* How long pool_done waits for running jobs. */
#define POOL_DRAIN_MS 2000

static void pool_deliver(struct pool *p) {
        pthread_mutex_lock(&p->lock);
        struct pool_job *list = p->done;
        p->done = NULL;
        pthread_mutex_unlock(&p->lock);

        while (list) {
                struct pool_job *j = list;
                list = j->next;
                j->next = NULL;
                j->complete(j);
        }
}

static void pool_on_wake(evutil_socket_t fd, short what, void *arg) {
        uint64_t n;
        (void) !read(fd, &n, sizeof n);
        pool_deliver(arg);
}

static void *pool_worker(void *arg) {
        struct pool *p = arg;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->queue_head && !p->stopping) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += POOL_IDLE_SECONDS;
                        p->n_idle++;
                        int r = pthread_cond_timedwait(&p->wake, &p->lock, &ts);
                        p->n_idle--;
                        if (r == ETIMEDOUT && !p->queue_head && p->n_threads > POOL_THREADS_KEEP)
                                goto out;
                }
                if (!p->queue_head)
                        break; /* stopping and nothing left */

                struct pool_job *j = p->queue_head;
                p->queue_head = j->next;
                if (!p->queue_head)
                        p->queue_tail = &p->queue_head;
                p->n_queued--;
                pthread_mutex_unlock(&p->lock);

                j->run(j);

                pthread_mutex_lock(&p->lock);
                bool was_empty = !p->done;
                j->next = p->done;
                p->done = j;
                /* One wakeup per batch: the loop drains the whole list. */
                if (was_empty)
                        (void) !write(p->efd, &(uint64_t) { 1 }, sizeof(uint64_t));
        }
out:
        p->n_threads--;
        pthread_cond_broadcast(&p->gone);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int pool_init(struct pool *p, struct event_base *base, unsigned max_threads) {
        *p = (struct pool) { .max_threads = max_threads ? max_threads : 1 };
        p->queue_tail = &p->queue_head;
        p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->efd < 0)
                return -errno;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->wake, NULL);
        pthread_cond_init(&p->gone, NULL);
        event_assign(&p->ev, base, p->efd, EV_READ | EV_PERSIST, pool_on_wake, p);
        event_add(&p->ev, NULL);
        return 0;
}

/* Called with the lock held. */
static int pool_spawn(struct pool *p) {
        pthread_attr_t attr;
        pthread_t t;
        sigset_t all, old;
        int r;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, POOL_STACK_SIZE);
        /* Signals are the loop's business; but for SIGSYS, which reports a
         * refused system call and would kill the process if blocked. */
        sigfillset(&all);
        sigdelset(&all, SIGSYS);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&t, &attr, pool_worker, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r != 0)
                return -r;
        p->n_threads++;
        return 0;
}

int pool_submit(struct pool *p, struct pool_job *job) {
        pthread_mutex_lock(&p->lock);
        /* More queued jobs than idle workers: another worker helps, so that
         * one hung open does not hold up the next. */
        if (p->n_idle <= p->n_queued && p->n_threads < p->max_threads) {
                int r = pool_spawn(p);
                if (r < 0 && p->n_threads == 0) {
                        pthread_mutex_unlock(&p->lock);
                        return r;
                }
        }
        job->next = NULL;
        *p->queue_tail = job;
        p->queue_tail = &job->next;
        p->n_queued++;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

bool pool_cancel(struct pool *p, struct pool_job *job) {
        bool found = false;

        pthread_mutex_lock(&p->lock);
        for (struct pool_job **q = &p->queue_head; *q; q = &(*q)->next)
                if (*q == job) {
                        *q = job->next;
                        if (!*q)
                                p->queue_tail = q;
                        job->next = NULL;
                        p->n_queued--;
                        found = true;
                        break;
                }
        pthread_mutex_unlock(&p->lock);
        return found;
}

unsigned pool_queued(struct pool *p) {
        pthread_mutex_lock(&p->lock);
        unsigned n = p->n_queued;
        pthread_mutex_unlock(&p->lock);
        return n;
}

unsigned pool_threads(struct pool *p) {
        pthread_mutex_lock(&p->lock);
        unsigned n = p->n_threads;
        pthread_mutex_unlock(&p->lock);
        return n;
}

void pool_done(struct pool *p) {
        struct timespec ts;

        if (p->efd < 0)
                return;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->wake);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (POOL_DRAIN_MS % 1000) * 1000000L;
        ts.tv_sec += POOL_DRAIN_MS / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (p->n_threads > 0)
                if (pthread_cond_timedwait(&p->gone, &p->lock, &ts) == ETIMEDOUT)
                        break;
        bool all_gone = p->n_threads == 0;
        pthread_mutex_unlock(&p->lock);

        pool_deliver(p);
        event_del(&p->ev);
        if (all_gone) {
                /* Nobody can touch the pool any more. */
                pthread_cond_destroy(&p->wake);
                pthread_cond_destroy(&p->gone);
                pthread_mutex_destroy(&p->lock);
                p->efd = safe_close(p->efd);
        }
}
