/* SPDX-License-Identifier: MIT */
#pragma once

/* Which mounts are local filesystems that never call out to user space or
 * the network when a file is opened: only there may the event loop open a
 * file itself.  Everything else (FUSE, NFS, CIFS, overlay over who knows
 * what, unknown) goes to the worker pool. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* True when the mount with this id (statx STATX_MNT_ID) and device is
 * known to be local.  An unknown mount re-reads the mount table, at most
 * every so often; until then it counts as not local. */
bool mounts_is_local(uint64_t mnt_id, dev_t dev);

/* True if fstype names a filesystem whose open never leaves the kernel. */
bool mounts_fstype_is_local(const char *fstype);

void mounts_done(void);
