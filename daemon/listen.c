/* SPDX-License-Identifier: MIT */
#include "listen.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "macro.h"

static const char *describe_fd(int fd, char *buf, size_t size) {
        int type = 0, listening = 0;
        socklen_t len = sizeof type;
        struct sockaddr_storage ss;
        socklen_t slen = sizeof ss;

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
                snprintf(buf, size, "fd %d: not a socket", fd);
                return buf;
        }
        len = sizeof listening;
        (void) getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
        if (getsockname(fd, (struct sockaddr *) &ss, &slen) < 0)
                ss.ss_family = AF_UNSPEC;
        snprintf(buf, size, "fd %d: %s %s socket%s", fd,
                 ss.ss_family == AF_UNIX ? "AF_UNIX" : ss.ss_family == AF_INET ? "AF_INET" :
                 ss.ss_family == AF_INET6 ? "AF_INET6" : "non-unix",
                 type == SOCK_STREAM ? "SOCK_STREAM" : type == SOCK_DGRAM ? "SOCK_DGRAM" :
                 type == SOCK_SEQPACKET ? "SOCK_SEQPACKET" : "other",
                 listening ? ", listening" : ", not listening");
        return buf;
}

/* "name(uid)" for the log; the number alone when the database does not
 * know it.  Called at start, before any thread exists. */
static const char *owner_name(uid_t uid, gid_t gid, char *buf, size_t size) {
        const struct passwd *pw = getpwuid(uid);
        char user[64];

        if (pw)
                snprintf(user, sizeof user, "%s(%u)", pw->pw_name, (unsigned) uid);
        else
                snprintf(user, sizeof user, "%u", (unsigned) uid);
        const struct group *gr = getgrgid(gid);
        if (gr)
                snprintf(buf, size, "%s:%s(%u)", user, gr->gr_name, (unsigned) gid);
        else
                snprintf(buf, size, "%s:%u", user, (unsigned) gid);
        return buf;
}

/* systemd serves the socket with SocketMode= (0666 in our unit), but other
 * supervisors do not: systemd-socket-activate makes it 0644, whatever the
 * umask.  Connecting needs write permission on the socket file and search
 * permission on every directory above it; a client refused either gets
 * EACCES before it ever reaches us, so nothing of ours would show why.
 * Only "other" is judged: a socket meant for one group is still worth a
 * word, since the policy, not the file mode, is where access is decided. */
/* What at path keeps other users out, whatever the policy grants them, and
 * how the unit or chmod gives them in. */
static void warn_mode(const char *path, const struct stat *st, const char *what, const char *effect,
                      const char *setting, const char *mode, const char *chmod_mode) {
        char who[128];

        log_msg(LOG_WARNING,
                "%s: %s has mode %04o, owner %s: other users cannot %s (EACCES) whatever the policy grants "
                "them; give it mode %s (%s=%s in the .socket unit, or chmod %s %s)",
                path, what, (unsigned) (st->st_mode & 07777), owner_name(st->st_uid, st->st_gid, who, sizeof who),
                effect, mode, setting, mode, chmod_mode, path);
}

static void warn_unreachable(int fd) {
        struct sockaddr_un sa = {};
        socklen_t len = sizeof sa;
        struct stat st;

        if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0 || len <= offsetof(struct sockaddr_un, sun_path) ||
            sa.sun_path[0] != '/')
                return;  /* abstract or unnamed: no file, no mode */
        /* The kernel may return sun_path without a terminator when it is
         * full; sa is one byte too short to add one, so copy. */
        char path[sizeof sa.sun_path + 1];
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        memcpy(path, sa.sun_path, n);
        path[n] = 0;

        if (stat(path, &st) < 0) {
                log_msg(LOG_WARNING, "%s: the passed socket's file cannot be examined (%m); clients may not reach it",
                        path);
                return;
        }
        if (!S_ISSOCK(st.st_mode))
                return;
        if (!(st.st_mode & S_IWOTH))
                warn_mode(path, &st, "passed socket", "connect", "SocketMode", "0666", "0666");

        for (char *slash = strrchr(path, '/'); slash && slash > path; slash = strrchr(path, '/')) {
                *slash = 0;
                if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH))
                        warn_mode(path, &st, "directory of the passed socket", "reach the socket",
                                  "DirectoryMode", "0755", "o+x");
        }
}

int listen_inherit(struct listen_socket *ret) {
        char desc[128];
        int n = sd_listen_fds(1);

        if (n < 0)
                return log_errno(LOG_ERR, n, "cannot read passed sockets: %s", strerror(-n));
        if (n == 0)
                return 0;
        if (n > 1) {
                for (int i = 0; i < n; i++)
                        log_msg(LOG_ERR, "passed %s", describe_fd(SD_LISTEN_FDS_START + i, desc, sizeof desc));
                return log_errno(LOG_ERR, -EINVAL,
                                 "%d sockets passed; exactly one listening AF_UNIX SOCK_SEQPACKET socket is needed", n);
        }

        int fd = SD_LISTEN_FDS_START;
        if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0)
                return log_errno(LOG_ERR, -EINVAL,
                                 "passed %s; a listening AF_UNIX SOCK_SEQPACKET socket is needed",
                                 describe_fd(fd, desc, sizeof desc));

        /* sd_listen_fds(1) set close-on-exec; the loop needs non-blocking. */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return log_errno(LOG_ERR, -errno, "cannot set passed socket non-blocking: %m");

        warn_unreachable(fd);
        *ret = (struct listen_socket) { .fd = fd };
        return 1;
}

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (char *s = p + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

/* A socket file nobody listens on is left by an instance that died; one
 * that answers belongs to a running broker and must not be stolen. */
static int remove_stale(const char *path, const struct sockaddr_un *sa, socklen_t salen) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) sa, salen) == 0 || errno == EAGAIN)
                return -EADDRINUSE;
        if (errno != ECONNREFUSED)
                return -errno;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int listen_create(const char *path, struct listen_socket *ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        int r;

        if (len == 0 || len >= sizeof sa.sun_path)
                return log_errno(LOG_ERR, -ENAMETOOLONG, "%s: socket path too long (at most %zu bytes)", path,
                                 sizeof sa.sun_path - 1);
        memcpy(sa.sun_path, path, len);
        socklen_t salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1);

        r = mkdir_parents(path);
        if (r < 0)
                return log_errno(LOG_ERR, r, "%s: cannot create parent directory: %s", path, strerror(-r));

        r = remove_stale(path, &sa, salen);
        if (r == -EADDRINUSE)
                return log_errno(LOG_ERR, r, "%s: another broker is listening there", path);
        if (r == -EEXIST)
                return log_errno(LOG_ERR, r, "%s: exists and is not a socket; not replacing it", path);
        if (r < 0)
                return log_errno(LOG_ERR, r, "%s: %s", path, strerror(-r));

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_errno(LOG_ERR, -errno, "socket: %m");

        /* The file gets its mode at bind time: clients of every uid must be
         * able to connect, the policy decides what they get. */
        mode_t old = umask(0111);
        r = bind(fd, (const struct sockaddr *) &sa, salen);
        umask(old);
        if (r < 0)
                return log_errno(LOG_ERR, -errno, "%s: bind: %m", path);

        struct stat st;
        if (stat(path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                (void) unlink(path);
                return log_errno(LOG_ERR, r, "%s: listen: %s", path, strerror(-r));
        }

        char *p = strdup(path);
        if (!p) {
                (void) unlink(path);
                return -ENOMEM;
        }
        *ret = (struct listen_socket) {
                .fd = TAKE_FD(fd), .created = true, .path = p, .dev = st.st_dev, .ino = st.st_ino,
        };
        return 0;
}

void listen_close(struct listen_socket *l) {
        struct stat st;

        if (l->created && l->path && lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
                (void) unlink(l->path);
        safe_close(l->fd);
        free(l->path);
        *l = (struct listen_socket) { .fd = -1 };
}
