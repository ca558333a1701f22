/* SPDX-License-Identifier: MIT */
#pragma once

/* The listening socket: inherited from systemd, or created by us. */

#include <stdbool.h>
#include <sys/types.h>

struct listen_socket {
        int fd;
        bool created;        /* we made the file and remove it on exit */
        char *path;
        dev_t dev;           /* identity of the socket file we made */
        ino_t ino;
};

/* Takes the socket passed by systemd.  Returns 1 when one suitable socket
 * was passed, 0 when none was, or -errno after logging what was received
 * and what is needed. */
int listen_inherit(struct listen_socket *ret);

/* Creates path (mode 0666; a missing parent directory is made 0755) and
 * listens on it.  A stale socket file left by a dead instance is replaced;
 * a live one, or anything that is not a socket, is not touched. */
int listen_create(const char *path, struct listen_socket *ret);

/* Closes the socket and removes the file if it is still the one we made. */
void listen_close(struct listen_socket *l);
