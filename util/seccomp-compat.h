/* SPDX-License-Identifier: MIT */
#pragma once

/* Seccomp user-notification names newer than the oldest kernel headers
 * fdbroker builds against (Debian 12's).  The kernel is asked at run time
 * whether it has them; these are only the numbers to ask with. */
#include <linux/seccomp.h>

#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
