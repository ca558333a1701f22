/* SPDX-License-Identifier: MIT */
#pragma once

/* Runs a real fdbrokerd for a test: its own temporary directory, socket,
 * policy and notify socket; stderr captured to a file; started, waited for
 * until READY=1, stopped with SIGTERM.  And a raw protocol client, so tests
 * speak the wire format exactly as an outside client would. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

struct tu_daemon {
        pid_t pid;
        char *dir;          /* scratch directory, removed at stop */
        char *socket;
        char *policy;
        char *log;          /* daemon's stderr */
        char *notify;       /* NOTIFY_SOCKET path */
        int notify_fd;
        int baseline;       /* descriptors with no client, see tu_daemon_baseline */
        char *baseline_fds; /* what they are */
};

/* Replaces every "@DIR@" in text with dir (malloc'ed result). */
char *tu_subst_dir(const char *text, const char *dir);

/* Writes policy_text to dir/policy.conf, "@DIR@" replaced by the scratch
 * directory, and starts the daemon with it and
 * the given extra arguments (NULL-terminated, may be NULL).  Returns once
 * READY=1 arrived; fails the test otherwise. */
void tu_daemon_start(struct tu_daemon *d, const char *policy_text, const char *const *args);

/* Starts the daemon but does not wait; returns its pid.  For tests of
 * start-up failures. */
pid_t tu_daemon_spawn(struct tu_daemon *d, const char *const *args);

/* Waits for pid with a timeout; returns its wait status. */
int tu_wait(pid_t pid, int timeout_ms);

/* SIGTERM, waits, checks exit status 0 and that the socket file is gone,
 * removes the scratch directory. */
void tu_daemon_stop(struct tu_daemon *d);

/* Reads the next notify message into buf within timeout; returns its
 * length or -1 on timeout. */
int tu_daemon_notify(struct tu_daemon *d, char *buf, size_t size, int timeout_ms);

/* Contents of the daemon's stderr so far (malloc'ed). */
char *tu_daemon_log(const struct tu_daemon *d);

/* True if the log holds a line containing every one of the given
 * substrings (NULL-terminated). */
bool tu_log_has(const struct tu_daemon *d, ...) __attribute__((sentinel));

/* ---- raw protocol client ---------------------------------------------- */

/* Connects a blocking SOCK_SEQPACKET socket; returns the fd or -errno. */
int tu_connect(const char *socket_path);

/* Sends a request record (path may be NULL for none). Returns 0 or -errno. */
int tu_send(int fd, uint16_t op, uint32_t id, uint32_t flags, uint32_t mode, const char *path);

/* Receives one reply within timeout_ms; on success returns 0, fills *r and
 * *ret_fd (-1 when none).  -ETIMEDOUT, -ECONNRESET on EOF, -EBADMSG for a
 * reply that breaks the protocol. */
int tu_recv(int fd, struct wire_reply *r, int *ret_fd, int timeout_ms);

/* One request, one reply.  Returns the status (0 or positive errno), or a
 * negative errno if the exchange itself failed; *ret_fd gets the
 * descriptor if any (may be NULL: then it is closed). */
int tu_request(int fd, uint16_t op, uint32_t flags, uint32_t mode, const char *path, int *ret_fd);

/* True if the peer closed the connection (EOF within timeout_ms). */
bool tu_closed(int fd, int timeout_ms);

/* Reads fd to its end (or size - 1 bytes) into buf, NUL-terminated;
 * returns the length. */
int tu_read_all(int fd, char *buf, size_t size);

/* The fdbroker command's run: exit status (-1: killed) and output. */
struct tu_cli_run {
        int status;
        char out[4096];
        char err[1024];
};

/* Runs the command (tu_cli_path(): call it once as root before running
 * this as another uid) with "--socket socket" and args, in this process's
 * identity, stdin from in (or empty).  Returns 0, or -1 if it could not
 * be started. */
int tu_run_cli(const char *socket, const char *const *args, const char *in, struct tu_cli_run *r);

/* Starts a daemon with policy_text that logs to journald, played by the
 * test in a private mount namespace (this process enters one): returns the
 * journal's socket, on which its structured records arrive as datagrams
 * (rcvbuf bytes of room).  The daemon's stderr is its JOURNAL_STREAM. */
int tu_daemon_start_journal(struct tu_daemon *d, const char *policy_text, int rcvbuf);

/* ---- unprivileged clients --------------------------------------------- */

/* The fdbroker command for clients of other uids: the build tree may be
 * out of their reach (a clone under /root, mode 0700), so they run a copy
 * (with a copy of libfdbroker, found through LD_LIBRARY_PATH, which this
 * sets) in a directory everyone can search.  Made once per process. */
const char *tu_cli_path(void);

/* A copy of the file at path (an executable of the build tree, say) in
 * that same directory, mode kept, for other uids to run (malloc'ed). */
char *tu_public_copy(const char *path);

/* Runs fn in a forked child that dropped to uid/gid (no supplementary
 * groups).  fn returns 0 on success; TU_REQUIRE in it reports the failing
 * condition, which the parent turns into a test failure. */
typedef int (*tu_child_fn)(void *arg);
void tu_run_as(uid_t uid, gid_t gid, tu_child_fn fn, void *arg);

/* tu_run_as in two halves, for a client that must stay alive while the
 * test looks at the daemon: tu_start_as returns once the child runs,
 * tu_join_as waits for it and fails the test as tu_run_as does. */
struct tu_child {
        pid_t pid;
        uid_t uid;
        int err_fd;
};
struct tu_child tu_start_as(uid_t uid, gid_t gid, tu_child_fn fn, void *arg);
void tu_join_as(struct tu_child *c);

#define TU_REQUIRE(cond, ...)                                                       \
        do {                                                                        \
                if (!(cond)) {                                                      \
                        tu_child_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__);   \
                        return 1;                                                   \
                }                                                                   \
        } while (0)

void tu_child_fail(const char *file, int line, const char *cond, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* ---- resilience tests ------------------------------------------------- */

struct tu_spawn_opts {
        /* "NAME=VALUE" strings added to the daemon's environment,
         * NULL-terminated; may be NULL. */
        const char *const *env;
        /* Soft and hard RLIMIT_NOFILE of the daemon (it raises soft to
         * hard itself, so both are set); 0 inherits this process's. */
        unsigned long nofile;
};

/* tu_daemon_start, with options.  The daemon also dies with the test
 * process (PR_SET_PDEATHSIG), so that a failed test leaves none behind. */
void tu_daemon_start_opts(struct tu_daemon *d, const char *policy_text, const char *const *args,
                          const struct tu_spawn_opts *o);

/* CLOCK_MONOTONIC in milliseconds. */
long long tu_now_ms(void);

/* Polls the daemon's descriptor count until it equals want or timeout_ms
 * passed; returns the last count seen. */
int tu_wait_fds(pid_t pid, int want, int timeout_ms);

/* Moves this process (and every child it starts from now on) into a mount
 * namespace of its own with private propagation: mounts made for a test
 * vanish with its processes even when it fails half-way. */
void tu_private_mounts(void);

/* Sends one record with nfds descriptors in one SCM_RIGHTS message (nfds
 * may be 0).  Returns 0 or -errno. */
int tu_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags);

/* What pid's descriptors are, "FD:TARGET" space-separated, cut at 1500
 * bytes (malloc'ed): for the message when a count does not add up. */
char *tu_fd_list(pid_t pid);

/* The daemon's descriptor count with no client, once steady: past
 * start-up (a PING answered), after it served path (may be NULL) and so
 * set up whatever it keeps for serving files, and the same twice in a
 * row 100 ms apart. */
int tu_settled_fds(const struct tu_daemon *d, const char *path);

/* Records what the daemon holds with no client (tu_settled_fds of path),
 * for tu_daemon_expect_baseline. */
void tu_daemon_baseline(struct tu_daemon *d, const char *path);

/* Fails the test unless the daemon is back to its baseline within 15 s,
 * naming what it holds now and before, and the end of its log. */
void tu_daemon_expect_baseline(struct tu_daemon *d, const char *after);

/* The number under key in the broker's STATUS reply (asked as root, on a
 * connection of its own), -1 when the reply has no such key. */
long long tu_status(const char *socket_path, const char *key);

/* The same, asked on the client connection fd (a root client's). */
long long tu_status_on(int fd, const char *key);

/* Polls STATUS until key equals want; fails the test after timeout_ms. */
void tu_status_wait(const char *socket_path, const char *key, long long want, int timeout_ms);

/* rel in d's scratch directory (malloc'ed). */
char *tu_daemon_path(const struct tu_daemon *d, const char *rel);

/* tu_request for rel in d's scratch directory. */
int tu_request_in(const struct tu_daemon *d, int fd, uint16_t op, uint32_t flags, uint32_t mode, const char *rel,
                  int *ret_fd);

/* A request for a file in a test daemon's directory and the answer it
 * must get (with a descriptor when it is 0). */
struct tu_want {
        uint16_t op;
        uint32_t flags, mode;
        const char *rel;
        uint32_t status;
        const char *what; /* for the message */
};

/* In a tu_run_as child: sends each request to d on one connection, in
 * order; the first answer that is not the one wanted fails the child.
 * Returns what a tu_child_fn returns. */
int tu_child_expect(const struct tu_daemon *d, const struct tu_want *want, size_t n);

/* tu_connect that must succeed. */
int tu_connect_ok(const char *socket_path);

void tu_set_nonblock(int fd);
