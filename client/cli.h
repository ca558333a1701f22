/* SPDX-License-Identifier: MIT */
#pragma once

/* The fdbroker command: shared state and helpers of its subcommands. */

#include <getopt.h>
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

/* cli-common.c */

/* A subcommand's options and operands, parsed by getopt_long() from
 * argv[0] on: --help (val 'h') and unknown options are handled here, an
 * option with a flag pointer sets its flag, any other goes to parse. */
struct cli_options {
        const char *shortopts;         /* NULL: "+:h"; else "+:" first, and 'h' */
        const struct option *longopts; /* NULL: --help alone */
        void (*help)(void);            /* NULL: cli_help() */
        /* With optarg.  Returns -1 to go on, or the exit status. */
        int (*parse)(int opt, const char *arg, void *userdata);
        void *userdata;
        int min_operands, max_operands; /* max -1: no limit */
        const char *operands_error;     /* the usage error otherwise */
};

#define CLI_OPTION_HELP { "help", no_argument, NULL, 'h' }

/* Returns -1 with optind at the first operand, or the exit status to end
 * with (after --help, or a usage error). */
int cli_options(int argc, char **argv, const struct cli_options *opts);

/* A parse callback for --mode: octal permission bits, at most 0777, into
 * the mode_t at userdata. */
int cli_mode_option(int opt, const char *arg, void *userdata);

/* Prints a usage error and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For getopt_long() returning '?' or ':' (the option strings start with
 * "+:"). */
int cli_option_error(int opt, char **argv);

/* Returns CLI_EXIT_OK, or CLI_EXIT_UNREACHABLE after saying why. */
int cli_connect(struct cli *c);
void cli_disconnect(struct cli *c);

/* fdbr_callback_t for a struct cli_request. */
void cli_request_done(fdbr_conn *conn, int result, void *userdata);

/* Records what submitting req returned: a failure is its result at once. */
void cli_submitted(struct cli_request *req, int submitted);

/* Runs the loop until every one of the n requests is done. */
void cli_wait(struct cli *c, struct cli_request *reqs, size_t n);

/* Says `fdbroker: WHAT: <strerror>` (without WHAT if NULL) and returns
 * CLI_EXIT_REFUSED. */
int cli_error(const char *what, int error);

/* Says the broker at c->socket cannot be reached and returns
 * CLI_EXIT_UNREACHABLE. */
int cli_unreachable(const struct cli *c, int error);

/* Reports a failed request: a lost connection as the broker being
 * unreachable, anything else as cli_error() does.  Returns the exit status
 * that goes with it. */
int cli_fail(const struct cli *c, const char *what, int error);

/* Waits for req and turns its outcome into an exit status, after the
 * message if it failed. */
int cli_settle(struct cli *c, struct cli_request *req);

/* cli_submitted() and cli_settle(), for one request just submitted. */
int cli_finish(struct cli *c, struct cli_request *req, int submitted);

/* Opens path through the broker and waits.  Returns CLI_EXIT_OK with
 * *ret_fd, or the exit status after the message. */
int cli_open(struct cli *c, const char *path, int flags, mode_t mode, int *ret_fd);

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

/* cli-io.c */
enum io_side {
        IO_READ,
        IO_WRITE,
};

/* Copies in_fd to out_fd until EOF, through EINTR, short writes and
 * non-blocking descriptors.  Returns 0, or -errno and which side failed. */
int io_copy(int in_fd, int out_fd, enum io_side *ret_side);
