/* SPDX-License-Identifier: MIT */
#pragma once

/* The broker answers STAT with a struct statx; callers that want a struct
 * stat (fdbr_stat(), `run` answering stat(2)) convert it here. */

#include <sys/stat.h>
#include <sys/sysmacros.h>

/* Fields outside stx_mask are 0 in the broker's statx already. */
static inline struct stat statx_to_stat(const struct statx *x) {
        return (struct stat) {
                .st_dev = makedev(x->stx_dev_major, x->stx_dev_minor),
                .st_ino = x->stx_ino,
                .st_mode = x->stx_mode,
                .st_nlink = x->stx_nlink,
                .st_uid = x->stx_uid,
                .st_gid = x->stx_gid,
                .st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor),
                .st_size = (off_t) x->stx_size,
                .st_blksize = (blksize_t) x->stx_blksize,
                .st_blocks = (blkcnt_t) x->stx_blocks,
                .st_atim = { .tv_sec = x->stx_atime.tv_sec, .tv_nsec = x->stx_atime.tv_nsec },
                .st_mtim = { .tv_sec = x->stx_mtime.tv_sec, .tv_nsec = x->stx_mtime.tv_nsec },
                .st_ctim = { .tv_sec = x->stx_ctime.tv_sec, .tv_nsec = x->stx_ctime.tv_nsec },
        };
}
