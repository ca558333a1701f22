/* SPDX-License-Identifier: MIT */
#pragma once

/* Connects a blocking AF_UNIX SOCK_SEQPACKET socket (close-on-exec) to
 * path.  Returns the descriptor or -errno (-ENAMETOOLONG when the path does
 * not fit sockaddr_un). */
int socket_connect(const char *path);
