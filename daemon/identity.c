/* SPDX-License-Identifier: MIT */
#include "identity.h"

#include <errno.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <systemd/sd-login.h>

#include "account.h"
#include "macro.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

static int peer_groups(int fd, uint32_t *ret_n, gid_t **ret_groups) {
        gid_t small[64];
        socklen_t len = sizeof small;
        _cleanup_free_ gid_t *big = NULL;
        const gid_t *src = small;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, small, &len) < 0) {
                if (errno != ERANGE)
                        return -errno;
                /* len now holds the size the kernel needs. */
                if (len / sizeof(gid_t) > IDENTITY_GROUPS_MAX)
                        return -E2BIG;
                big = malloc(len);
                if (!big)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, big, &len) < 0)
                        return -errno;
                src = big;
        }

        uint32_t n = len / sizeof(gid_t);
        gid_t *groups = NULL;
        if (n > 0) {
                groups = malloc(n * sizeof(gid_t));
                if (!groups)
                        return -ENOMEM;
                memcpy(groups, src, n * sizeof(gid_t));
        }
        *ret_n = n;
        *ret_groups = groups;
        return 0;
}

/* A pidfd polls readable once its process has exited.  Unlike a signal 0,
 * this needs no CAP_KILL, which the confined broker does not have. */
static bool pidfd_exited(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        return poll(&p, 1, 0) != 0;
}

/* The unit comes from /proc/PID/cgroup, which names whatever process has
 * that pid now.  The pidfd pins the peer: if it is still alive after the
 * lookup, the pid was not reused and the answer is about the peer.  Only
 * a kernel without SO_PEERPIDFD (ENOPROTOOPT, before 6.5) is served by
 * the pid alone; any other failure — EINVAL or ESRCH for a peer already
 * reaped, whose pid may be another process's by now — matches no unit. */
static char *peer_unit(int pidfd, int pidfd_error, pid_t pid) {
        char *unit = NULL;

        if (pid <= 0 || (pidfd < 0 && pidfd_error != -ENOPROTOOPT))
                return NULL;

        if (sd_pid_get_unit(pid, &unit) < 0)
                return NULL;

        if (pidfd >= 0 && pidfd_exited(pidfd)) {
                free(unit);
                return NULL;
        }
        return unit;
}

/* The peer's pidfd, or -errno. */
static int peer_pidfd(int fd) {
        int pidfd = -1;
        socklen_t len = sizeof pidfd;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
                return -errno;
        return pidfd;
}

int identity_from_peer(int fd, const struct account_table *accounts, bool with_unit, struct identity *ret) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        struct identity id = {};
        int r;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (len != sizeof cred || cred.uid == (uid_t) -1 || cred.gid == (gid_t) -1)
                return -EPROTO;

        id.uid = cred.uid;
        id.gid = cred.gid;
        id.pid = cred.pid;
        r = peer_groups(fd, &id.n_groups, &id.groups);
        if (r < 0)
                return r;
        _cleanup_close_ int pidfd = peer_pidfd(fd);
        int pidfd_error = pidfd < 0 ? pidfd : 0;
        id.account = account_of(accounts, id.uid);
        if (with_unit)
                id.unit = peer_unit(pidfd, pidfd_error, id.pid);

        *ret = id;
        return 0;
}

void identity_set_user(struct identity *id, const char *name, const char *home) {
        free(id->user_name);
        free(id->home);
        /* Out of memory: as if unknown, which matches nothing. */
        id->user_name = name ? strdup(name) : NULL;
        id->home = home ? strdup(home) : NULL;
}

void identity_subject(const struct identity *id, struct policy_subject *ret) {
        *ret = (struct policy_subject) {
                .uid = id->uid,
                .gid = id->gid,
                .groups = id->groups,
                .n_groups = id->n_groups,
                .unit = id->unit,
                .user_name = id->user_name,
                .home = id->home,
        };
}

void identity_done(struct identity *id) {
        free(id->groups);
        free(id->unit);
        free(id->user_name);
        free(id->home);
        *id = (struct identity) {};
}
