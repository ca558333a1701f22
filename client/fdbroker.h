/* SPDX-License-Identifier: MIT */
#ifndef FDBROKER_H
#define FDBROKER_H

/* libfdbroker: ask the fdbroker daemon to open, stat, create, remove and
 * rename files on your behalf.
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

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct stat;
struct statx;

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

/* Since FDBROKER_0.2: the other file system calls, each like its libc
 * namesake (0 or -1 with errno; fdbr_readlink() the length), for an
 * absolute, canonical path.
 *
 * Errors, besides the broker's answer (EACCES, ENOENT, EEXIST, ...):
 *   EINVAL       a bad argument, found before anything is sent: a relative
 *                or non-canonical path, an unknown flag;
 *   ENAMETOOLONG a path over 4095 bytes;
 *   ENOSYS       the broker predates the operation.  An older broker
 *                answers EINVAL to an op it does not know; since the library
 *                sent only requests it had checked to be valid, that EINVAL
 *                means "unknown op".  Where EINVAL is also a real answer of
 *                a current broker (READLINK of something that is not a
 *                symlink, RENAME of a directory into itself) the library
 *                asks once more, with a GRANTS request every current broker
 *                serves, before it says ENOSYS;
 *   ECONNREFUSED the broker cannot be reached (no socket, nobody listening,
 *                no permission to connect);
 *   ECONNRESET   the connection was lost before the answer;
 *   EBADMSG      the broker's reply was malformed. */

/* stat(2) and lstat(2): the fields the broker's statx(2) gave (its mask);
 * the others are 0. */
int fdbr_stat(const char *path, struct stat *buf);
int fdbr_lstat(const char *path, struct stat *buf);

/* statx(2) of path: flags 0, or AT_SYMLINK_NOFOLLOW to report a final
 * symlink itself.  The broker asks the kernel for STATX_BASIC_STATS |
 * STATX_BTIME | STATX_MNT_ID; buf->stx_mask says what the file system
 * gave. */
int fdbr_statx(const char *path, int flags, struct statx *buf);

/* readlink(2): copies at most size bytes of the target, not NUL-terminated,
 * and returns how many; EINVAL if path is not a symlink. */
ssize_t fdbr_readlink(const char *path, char *buf, size_t size);

/* mkdir(2): mode & 0777, before the broker's & ~022. */
int fdbr_mkdir(const char *path, mode_t mode);
int fdbr_unlink(const char *path);
int fdbr_rmdir(const char *path);

/* renameat2(2) flags fdbr_rename() takes: EEXIST rather than replacing dst.
 * The same value as RENAME_NOREPLACE. */
#define FDBR_RENAME_NOREPLACE (1u << 0)

/* rename(2) with flags 0 or FDBR_RENAME_NOREPLACE. */
int fdbr_rename(const char *src, const char *dst, unsigned flags);

/* The broker's counters (STATUS, uid 0 only, else EACCES), and the path
 * patterns the broker's policy grants the caller (GRANTS), as
 * NUL-terminated text in a buffer the caller frees with free(3).  Returns
 * NULL with errno on failure. */
char *fdbr_status(void);
char *fdbr_grants(void);

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

/* Completion of a STAT: result 0 and the statx, or a negative errno value
 * as above and NULL.  stx is valid until the callback returns. */
typedef void (*fdbr_stat_callback_t)(fdbr_conn *conn, int result, const struct statx *stx,
                                     void *userdata);

/* Completion of a READLINK, STATUS or GRANTS: result 0 and len bytes of
 * data (a NUL follows them, none is inside), or a negative errno value and
 * NULL, 0.  data is valid until the callback returns. */
typedef void (*fdbr_data_callback_t)(fdbr_conn *conn, int result, const char *data, size_t len,
                                     void *userdata);

/* Connects to socket_path (NULL: fdbr_socket_path()) and attaches the
 * connection to base.  The connect itself is synchronous: a local socket
 * answers at once.  Returns 0 and *ret_conn, or -errno: -ECONNREFUSED
 * whenever connect(2) fails (no such socket, nobody listening, no
 * permission, not a socket: the broker cannot be reached, which a caller
 * must be able to tell from the ENOENT or EACCES of a file it asked
 * about); -EINVAL, -ENAMETOOLONG: not a usable socket path; -EMFILE,
 * -ENOMEM ...: no resources here.
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

/* Since FDBROKER_0.2, with the same submission errors.  Arguments as for
 * the blocking calls above; a broker that predates an op completes it with
 * -ENOSYS (see there). */
int fdbr_conn_stat(fdbr_conn *conn, const char *path, int flags,
                   fdbr_stat_callback_t callback, void *userdata);
int fdbr_conn_readlink(fdbr_conn *conn, const char *path,
                       fdbr_data_callback_t callback, void *userdata);
int fdbr_conn_mkdir(fdbr_conn *conn, const char *path, mode_t mode,
                    fdbr_callback_t callback, void *userdata);
int fdbr_conn_unlink(fdbr_conn *conn, const char *path,
                     fdbr_callback_t callback, void *userdata);
int fdbr_conn_rmdir(fdbr_conn *conn, const char *path,
                    fdbr_callback_t callback, void *userdata);
int fdbr_conn_rename(fdbr_conn *conn, const char *src, const char *dst, unsigned flags,
                     fdbr_callback_t callback, void *userdata);
int fdbr_conn_status(fdbr_conn *conn, fdbr_data_callback_t callback, void *userdata);
int fdbr_conn_grants(fdbr_conn *conn, fdbr_data_callback_t callback, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
