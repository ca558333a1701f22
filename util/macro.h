/* SPDX-License-Identifier: MIT */
#pragma once

/* Small helpers shared by every part of fdbroker: cleanup attributes and
 * descriptor ownership.  Kept tiny on purpose; anything bigger gets its own
 * module. */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* close() that keeps errno and never retries on EINTR: on Linux the
 * descriptor is gone even when close() reports EINTR. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) { safe_close(*fd); }
static inline void freep(void *p) { free(*(void **) p); }

#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)

/* Hands ownership on: returns the value and leaves -1 (or NULL) behind so
 * the cleanup attribute of the old owner does nothing. */
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))
