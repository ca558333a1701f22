/* SPDX-License-Identifier: MIT */
#pragma once

/* The mount table, as far as opening files on the event loop needs it.
 *
 * Only a local filesystem (one whose open never leaves the kernel: ext4,
 * xfs, tmpfs, ...) may be opened on the loop; FUSE, NFS, CIFS, overlay and
 * anything unknown go to the worker pool.  Two ways to know:
 *
 *  - after the fact, for a file reached with O_PATH, by its mount id and
 *    device (mounts_is_local);
 *  - before, for a path: the mount point that is its longest prefix, if
 *    local, with a descriptor of it to resolve the rest from with
 *    RESOLVE_NO_XDEV, which guarantees the file is on that very mount
 *    (mounts_fast_dir).
 *
 * The table follows changes of /proc/self/mountinfo, watched from the
 * event loop: a change marks it stale, and one read a little later, done
 * by a thread of its own and swapped in on the loop, serves every change
 * made meanwhile; reads are rate-limited, so churning mounts costs the
 * loop next to nothing.  While stale the table still answers, never
 * wrongly "local": only for mounts it holds a descriptor of (whose ids
 * the kernel cannot give to another mount meanwhile), and only where the
 * mount point still reaches that mount.  Everything here runs on the
 * loop. */

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads the table and starts watching it (base may be NULL: no watch). */
int mounts_init(struct event_base *base);
void mounts_done(void);

/* True when the mount with this id (statx STATX_MNT_ID) and device is
 * known to be local.  An unknown mount counts as not local. */
bool mounts_is_local(uint64_t mnt_id, dev_t dev);

/* For an absolute canonical path: the descriptor (O_PATH) of the local
 * mount holding it, and in *ret_rel the rest of the path relative to it
 * ("." for the mount point itself).  -1 when the mount is not local, holds
 * device nodes (devtmpfs: a device's open runs its driver), or is not
 * known. */
int mounts_fast_dir(const char *path, size_t len, const char **ret_rel);

/* Reads of the kernel's table so far, for the status line (and tests of
 * coalescing). */
uint64_t mounts_reloads(void);

/* True while a change of the kernel's table is not read yet. */
bool mounts_stale(void);

/* True if fstype names a filesystem whose open never leaves the kernel. */
bool mounts_fstype_is_local(const char *fstype);
