/* SPDX-License-Identifier: MIT */
#pragma once

/* Closing descriptors whose close may block, off the event loop.  close()
 * runs the file's flush (a FUSE FLUSH request, which a hung or hostile
 * FUSE server never answers) and, for the last reference to a socket, its
 * linger: the loop never waits for either.  Each pending close counts
 * against the real user it was done for, like a reply the client has not
 * taken, so that nobody can fill the broker with stuck descriptors. */

#include <stdbool.h>

struct server;
struct uidtab_entry;

/* Takes ownership of fd (ignored when < 0) and closes it in the closer
 * lane, counted against ue. */
void closer_close(struct server *s, struct uidtab_entry *ue, int fd);

/* Disposes of a descriptor: on the loop when it is known not to block
 * (opened by the loop itself, which only opens files on local
 * filesystems), else as closer_close. */
void closer_dispose(struct server *s, struct uidtab_entry *ue, int fd, bool offloop);

/* Closes n descriptors opened on the loop (each >= 0, owned; the order of
 * fds is not kept): each run of consecutive numbers in one close_range,
 * as an O_PATH descriptor and the one reopened from it usually are. */
void closer_close_local(int *fds, unsigned n);

/* fdpass's stray handler for the server (userdata): a descriptor a client
 * sent goes to the closers, counted against the user being read. */
void closer_stray(int fd, void *userdata);
