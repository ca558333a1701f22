/* SPDX-License-Identifier: MIT */
#ifndef FDBROKER_H
#define FDBROKER_H

/* libfdbroker: ask the fdbroker daemon to open files on your behalf.
 *
 * Two ways to use it:
 *
 *  - Blocking, one call per file, like open(2):
 *
 *        int fd = fdbr_open("/srv/data/a.txt", O_RDONLY, 0);
 *
 *    The socket is $FDBROKER_SOCKET, or FDBR_DEFAULT_SOCKET.
 *
 *  - Asynchronous, on your own libevent loop: one connection, many requests
 *    in flight, a callback per request.
 *
 * Conventions: functions that return int give 0 (or a descriptor) on
 * success and a negative errno value on failure, except the blocking calls,
 * which follow open(2) and return -1 with errno set.  The library never
 * logs, never raises SIGPIPE and never touches signal handlers.  Every
 * descriptor it hands out is owned by the caller. */

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

#define FDBR_DEFAULT_SOCKET "/run/fdbroker/fdbroker.sock"
#define FDBR_SOCKET_ENV "FDBROKER_SOCKET"

/* The socket path the library uses when given NULL: $FDBROKER_SOCKET if set
 * and non-empty, else FDBR_DEFAULT_SOCKET. */
const char *fdbr_socket_path(void);

/* ---- blocking calls ------------------------------------------------------ */

/* Opens path through the broker.  flags: O_RDONLY, O_WRONLY or O_RDWR, plus
 * any of O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW,
 * O_CLOEXEC, O_NONBLOCK, O_NOCTTY, O_LARGEFILE; anything else is EINVAL.  mode is used with O_CREAT (the broker
 * applies & 0777 & ~022).  Returns the descriptor, or -1 with errno: the
 * broker's answer (EACCES, ENOENT, ...), or the reason it could not be
 * reached. */
int fdbr_open(const char *path, int flags, mode_t mode);

/* Asks whether fdbr_open() with these flags would succeed, without opening,
 * creating or truncating anything.  Returns 0, or -1 with errno. */
int fdbr_check(const char *path, int flags);

/* ---- asynchronous API ---------------------------------------------------- */

typedef struct fdbr_conn fdbr_conn;

/* Completion of one request.  result is the new descriptor (OPEN; the
 * callback owns it), 0 (CHECK, PING), or a negative errno value:
 *   the broker's status (-EACCES, -ENOENT, ...),
 *   -ETIMEDOUT when the request's timeout expired first,
 *   -ECONNRESET when the connection to the broker was lost,
 *   -ECANCELED when the connection was freed by the caller,
 *   -EBADMSG when the broker's reply was malformed.
 * Every request's callback runs exactly once, always from the event loop
 * (never from inside the call that submitted it).  The callback may submit
 * new requests and may free the connection. */
typedef void (*fdbr_callback_t)(fdbr_conn *conn, int result, void *userdata);

/* Connects to socket_path (NULL: fdbr_socket_path()) and attaches the
 * connection to base.  The connect itself is synchronous: a local socket
 * answers at once.  Returns 0 and *ret_conn, or -errno (-ENOENT,
 * -ECONNREFUSED, -EACCES, ... : the broker cannot be reached; -EINVAL,
 * -ENAMETOOLONG: not a usable socket path).
 *
 * The broker closes a connection that sends no request within its idle
 * timeout (60 s by default): connect when requests are about to follow.
 * Once a request was sent, an idle connection stays open. */
int fdbr_conn_new(struct event_base *base, const char *socket_path, fdbr_conn **ret_conn);

/* Closes the connection.  Callbacks of requests still pending run once with
 * -ECANCELED before this returns.  NULL is accepted. */
void fdbr_conn_free(fdbr_conn *conn);

/* Per-request timeout applied to requests submitted after this call, in
 * milliseconds; 0 (the default) waits forever. */
void fdbr_conn_set_timeout(fdbr_conn *conn, unsigned timeout_ms);

/* Number of requests submitted whose callback has not run yet. */
unsigned fdbr_conn_pending(const fdbr_conn *conn);

/* Submits requests.  flags and mode as for fdbr_open().  They return 0 when
 * the request is queued (the callback will run), or -errno when it was
 * refused at once, and the callback then never runs: -EINVAL for a bad
 * path or flags, -ENAMETOOLONG for a path over 4095 bytes, -ENOTCONN after
 * the connection was lost, -EBUSY with 65536 requests unanswered, -ENOBUFS
 * with 16 MiB of requests not yet taken by the socket, -ENOMEM. */
int fdbr_conn_open(fdbr_conn *conn, const char *path, int flags, mode_t mode,
                   fdbr_callback_t callback, void *userdata);
int fdbr_conn_check(fdbr_conn *conn, const char *path, int flags,
                    fdbr_callback_t callback, void *userdata);
int fdbr_conn_ping(fdbr_conn *conn, fdbr_callback_t callback, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
