/* SPDX-License-Identifier: MIT */
#pragma once

/* The handlers of the filesystem ops other than OPEN and CHECK, for the
 * op table (ops.c): what each needs of the policy on the request path,
 * and what it does once that is granted. */

struct request;

/* STAT, READLINK (fs-stat.c) */
unsigned fs_need_stat(const struct request *r);
void fs_stat(struct request *r);
void fs_readlink(struct request *r);

/* MKDIR, UNLINK, RMDIR, RENAME (fs-names.c) */
unsigned fs_need_mkdir(const struct request *r);
unsigned fs_need_unlink(const struct request *r);
unsigned fs_need_rmdir(const struct request *r);
unsigned fs_need_rename(const struct request *r);
void fs_mkdir(struct request *r);
void fs_unlink(struct request *r);
void fs_rmdir(struct request *r);
void fs_rename(struct request *r);
