/* SPDX-License-Identifier: MIT */
/* What every subcommand does alike: its options, its connection, waiting
 * for its requests and saying how they failed. */
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("fdbroker: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nUsage: fdbroker [--socket PATH] "
              "{ping|cat|check|write|exec|stat|ls|readlink|mkdir|rm|rmdir|mv|status|run} [ARG...]\n"
              "Try 'fdbroker --help' for more information.\n",
              stderr);
        return CLI_EXIT_USAGE;
}

int cli_option_error(int opt, char **argv) {
        /* getopt_long() has advanced optind past the offending word. */
        const char *word = optind > 0 ? argv[optind - 1] : "?";

        if (opt == ':')
                return cli_usage_error("option '%s' needs an argument", word);
        if (optopt != 0)
                return cli_usage_error("unknown option '-%c'", optopt);
        return cli_usage_error("unknown option '%s'", word);
}

int cli_options(int argc, char **argv, const struct cli_options *opts) {
        static const struct option help_only[] = {
                CLI_OPTION_HELP,
                {},
        };
        int o, r;

        optind = 0;
        while ((o = getopt_long(argc, argv, opts->shortopts ?: "+:h", opts->longopts ?: help_only, NULL)) >= 0)
                switch (o) {
                case 0: /* set its flag */
                        break;
                case 'h':
                        (opts->help ?: cli_help)();
                        return CLI_EXIT_OK;
                case '?':
                case ':':
                        return cli_option_error(o, argv);
                default:
                        r = opts->parse(o, optarg, opts->userdata);
                        if (r >= 0)
                                return r;
                }

        int n = argc - optind;
        if (n < opts->min_operands || (opts->max_operands >= 0 && n > opts->max_operands))
                return cli_usage_error("%s", opts->operands_error);
        return -1;
}

int cli_mode_option(int opt, const char *arg, void *userdata) {
        char *end;

        errno = 0;
        unsigned long v = strtoul(arg, &end, 8);
        if (errno != 0 || end == arg || *end || *arg == '-' || *arg == '+' || v > 0777)
                return cli_usage_error("--mode needs octal permission bits (at most 0777), not '%s'", arg);
        *(mode_t *) userdata = (mode_t) v;
        return -1;
}

int cli_connect(struct cli *c) {
        c->base = event_base_new();
        if (!c->base) {
                (void) cli_error("cannot set up the event loop", -ENOMEM);
                return CLI_EXIT_UNREACHABLE;
        }

        int r = fdbr_conn_new(c->base, c->socket, &c->conn);
        if (r < 0)
                return cli_unreachable(c, r);
        return CLI_EXIT_OK;
}

void cli_disconnect(struct cli *c) {
        fdbr_conn_free(c->conn);
        c->conn = NULL;
        if (c->base)
                event_base_free(c->base);
        c->base = NULL;
}

void cli_request_done(fdbr_conn *conn, int result, void *userdata) {
        struct cli_request *req = userdata;

        req->done = true;
        req->result = result;
}

void cli_submitted(struct cli_request *req, int submitted) {
        if (submitted < 0)
                cli_request_done(NULL, submitted, req);
}

void cli_wait(struct cli *c, struct cli_request *reqs, size_t n) {
        for (size_t i = 0; i < n; i++)
                while (!reqs[i].done)
                        if (event_base_loop(c->base, EVLOOP_ONCE) != 0) {
                                /* Nothing left to wait for although a
                                 * request is pending: cannot happen with a
                                 * working loop, and nothing would help. */
                                fprintf(stderr, "fdbroker: event loop failed\n");
                                exit(CLI_EXIT_UNREACHABLE);
                        }
}

int cli_error(const char *what, int error) {
        if (what)
                fprintf(stderr, "fdbroker: %s: %s\n", what, strerror(-error));
        else
                fprintf(stderr, "fdbroker: %s\n", strerror(-error));
        return CLI_EXIT_REFUSED;
}

int cli_unreachable(const struct cli *c, int error) {
        fprintf(stderr, "fdbroker: cannot reach broker at %s: %s\n", c->socket, strerror(-error));
        return CLI_EXIT_UNREACHABLE;
}

int cli_fail(const struct cli *c, const char *what, int error) {
        switch (error) {
        case -ECONNRESET: /* the broker went away */
        case -ENOTCONN:   /* ... before this request was submitted */
        case -EBADMSG:    /* what answered is not a broker we can talk to */
                return cli_unreachable(c, error);
        default:
                return cli_error(what, error);
        }
}

int cli_settle(struct cli *c, struct cli_request *req) {
        cli_wait(c, req, 1);
        if (req->result < 0)
                return cli_fail(c, req->path, req->result);
        return CLI_EXIT_OK;
}

int cli_finish(struct cli *c, struct cli_request *req, int submitted) {
        cli_submitted(req, submitted);
        return cli_settle(c, req);
}

int cli_open(struct cli *c, const char *path, int flags, mode_t mode, int *ret_fd) {
        struct cli_request req = { .path = path };

        int r = cli_finish(c, &req, fdbr_conn_open(c->conn, path, flags, mode, cli_request_done, &req));
        if (r == CLI_EXIT_OK)
                *ret_fd = req.result;
        return r;
}
