/* SPDX-License-Identifier: MIT */
#pragma once

/* The fdbroker command: shared state and helpers of its subcommands. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fdbroker.h"

struct event_base;

enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_REFUSED = 1,
        CLI_EXIT_USAGE = 2,
        CLI_EXIT_UNREACHABLE = 3,
};

struct cli {
        const char *socket; /* as connected to, and as named in messages */
        struct event_base *base;
        fdbr_conn *conn;
};

/* One request and, once done, its result (a descriptor this struct owns,
 * 0, or -errno). */
struct cli_request {
        const char *path;
        bool done;
        int result;
};

/* Returns CLI_EXIT_OK, or CLI_EXIT_UNREACHABLE after saying why. */
int cli_connect(struct cli *c);
void cli_disconnect(struct cli *c);

/* fdbr_callback_t for a struct cli_request. */
void cli_request_done(fdbr_conn *conn, int result, void *userdata);

/* Runs the loop until every one of the n requests is done. */
void cli_wait(struct cli *c, struct cli_request *reqs, size_t n);

/* Reports a failed request: a lost connection as the broker being
 * unreachable, anything else as `fdbroker: WHAT: <strerror>`.  Returns the
 * exit status that goes with it. */
int cli_fail(const struct cli *c, const char *what, int error);

/* Opens path through the broker and waits.  Returns CLI_EXIT_OK with
 * *ret_fd, or the exit status after the message. */
int cli_open(struct cli *c, const char *path, int flags, mode_t mode, int *ret_fd);

/* Prints a usage error and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For getopt_long() returning '?' or ':' (the option strings start with
 * "+:"). */
int cli_option_error(int opt, char **argv);

void cli_help(void);

int cli_cat(struct cli *c, int argc, char **argv);
int cli_write(struct cli *c, int argc, char **argv);
int cli_exec(struct cli *c, int argc, char **argv);
int cli_stat(struct cli *c, int argc, char **argv);
int cli_ls(struct cli *c, int argc, char **argv);
int cli_readlink(struct cli *c, int argc, char **argv);
int cli_mkdir(struct cli *c, int argc, char **argv);
int cli_rm(struct cli *c, int argc, char **argv);
int cli_rmdir(struct cli *c, int argc, char **argv);
int cli_mv(struct cli *c, int argc, char **argv);
int cli_status(struct cli *c, int argc, char **argv);
int cli_run(struct cli *c, int argc, char **argv);

/* Octal permission bits, at most 0777.  Returns 0 or -EINVAL. */
int cli_parse_mode(const char *s, mode_t *ret);

/* cli-io.c */
enum io_side {
        IO_READ,
        IO_WRITE,
};

/* Copies in_fd to out_fd until EOF, through EINTR, short writes and
 * non-blocking descriptors.  Returns 0, or -errno and which side failed. */
int io_copy(int in_fd, int out_fd, enum io_side *ret_side);
