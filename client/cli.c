/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"

void cli_help(void) {
        printf("Usage: fdbroker [--socket PATH] COMMAND [ARG...]\n"
               "\n"
               "Opens, inspects and changes files through the fdbroker daemon, which\n"
               "decides by its policy.\n"
               "\n"
               "Commands:\n"
               "  ping                          check that the broker answers\n"
               "  cat PATH...                   copy files to standard output\n"
               "  check [--write] [--create] [--dir] PATH\n"
               "                                ask whether an access would be allowed\n"
               "                                (read by default)\n"
               "  write [--append] [--create] PATH\n"
               "                                copy standard input into a file, truncating\n"
               "                                it unless --append\n"
               "  exec [--read PATH | --write PATH | --append PATH | --rw PATH]...\n"
               "       [--create] [--mode MODE] -- CMD [ARG...]\n"
               "                                run CMD with the files open as descriptors\n"
               "                                3, 4, ... in command-line order, their\n"
               "                                numbers in $FDBROKER_FDS; opened as the\n"
               "                                shell's < (--read), > (--write, truncates),\n"
               "                                >> (--append) and <> (--rw); --create adds\n"
               "                                creating to every --write, --append and\n"
               "                                --rw, with MODE (octal, default 0666)\n"
               "  stat [--no-follow] PATH...    one line a path: type, permission bits,\n"
               "                                uid, gid, size, modification time (UTC),\n"
               "                                path; --no-follow: a final symlink itself\n"
               "  ls [-l] DIR                   the entries of DIR, sorted; -l: with the\n"
               "                                stat line of each (symlinks not followed)\n"
               "  readlink PATH                 the target of a symlink\n"
               "  mkdir [--mode MODE] PATH...   create directories (MODE octal, default\n"
               "                                0777, before the broker's umask of 022)\n"
               "  rm PATH...                    remove names that are not directories\n"
               "  rmdir PATH...                 remove empty directories\n"
               "  mv [--no-clobber] SRC DST     rename SRC to DST, atomically; with\n"
               "                                --no-clobber fail if DST exists\n"
               "  status                        the broker's counters (root only)\n"
               "  run [--no-fallback] -- CMD [ARG...]\n"
               "                                run CMD with its file system calls asked of\n"
               "                                the broker first; a refusal by policy lets\n"
               "                                the call run with CMD's own rights, or\n"
               "                                fails it with EACCES under --no-fallback\n"
               "\n"
               "Options:\n"
               "  --socket PATH   the broker's socket (default: $%s,\n"
               "                  else %s)\n"
               "  --help          show this help\n"
               "  --version       show the version\n"
               "\n"
               "Every PATH must be absolute and canonical (no '.' or '..' component, no\n"
               "'//', no trailing '/'): the broker judges the path as written, never\n"
               "relative to a directory of yours.\n"
               "\n"
               "Exit status: 0 success, 1 a request was refused (the broker's answer, or\n"
               "'Function not implemented' from a broker older than the command), 2 usage\n"
               "error, 3 the broker cannot be reached; for exec and run, CMD's status once it\n"
               "runs.\n",
               FDBR_SOCKET_ENV, FDBR_DEFAULT_SOCKET);
}

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

int cli_connect(struct cli *c) {
        c->base = event_base_new();
        if (!c->base) {
                fprintf(stderr, "fdbroker: cannot set up the event loop: %s\n", strerror(ENOMEM));
                return CLI_EXIT_UNREACHABLE;
        }

        int r = fdbr_conn_new(c->base, c->socket, &c->conn);
        if (r < 0) {
                fprintf(stderr, "fdbroker: cannot reach broker at %s: %s\n", c->socket, strerror(-r));
                return CLI_EXIT_UNREACHABLE;
        }
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

int cli_fail(const struct cli *c, const char *what, int error) {
        switch (error) {
        case -ECONNRESET: /* the broker went away */
        case -ENOTCONN:   /* ... before this request was submitted */
        case -EBADMSG:    /* what answered is not a broker we can talk to */
                fprintf(stderr, "fdbroker: cannot reach broker at %s: %s\n", c->socket, strerror(-error));
                return CLI_EXIT_UNREACHABLE;
        default:
                fprintf(stderr, "fdbroker: %s: %s\n", what, strerror(-error));
                return CLI_EXIT_REFUSED;
        }
}

/* Waits for one request just submitted (submitted: what the submitting
 * call returned) and turns its outcome into an exit status. */
static int cli_finish(struct cli *c, struct cli_request *req, int submitted) {
        if (submitted < 0)
                return cli_fail(c, req->path, submitted);
        cli_wait(c, req, 1);
        if (req->result < 0)
                return cli_fail(c, req->path, req->result);
        return CLI_EXIT_OK;
}

int cli_open(struct cli *c, const char *path, int flags, mode_t mode, int *ret_fd) {
        struct cli_request req = { .path = path };

        int r = cli_finish(c, &req, fdbr_conn_open(c->conn, path, flags, mode, cli_request_done, &req));
        if (r == CLI_EXIT_OK)
                *ret_fd = req.result;
        return r;
}

static int cli_ping(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int o;

        optind = 0;
        while ((o = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (o) {
                case 'h':
                        cli_help();
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error(o, argv);
                }
        if (optind < argc)
                return cli_usage_error("ping takes no argument");

        int r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        struct cli_request req = { .path = "ping" };
        return cli_finish(c, &req, fdbr_conn_ping(c->conn, cli_request_done, &req));
}

static int cli_check(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "write", no_argument, NULL, 'w' },
                { "create", no_argument, NULL, 'c' },
                { "dir", no_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int flags = O_RDONLY, extra = 0, o;

        optind = 0;
        while ((o = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (o) {
                case 'w':
                        /* WRITE alone: asking for write must not also demand read. */
                        flags = O_WRONLY;
                        break;
                case 'c':
                        extra |= O_CREAT;
                        break;
                case 'd':
                        extra |= O_DIRECTORY;
                        break;
                case 'h':
                        cli_help();
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error(o, argv);
                }
        if (argc - optind != 1)
                return cli_usage_error("check needs exactly one PATH");
        const char *path = argv[optind];

        int r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        struct cli_request req = { .path = path };
        return cli_finish(c, &req, fdbr_conn_check(c->conn, path, flags | extra, cli_request_done, &req));
}

/* With 0, 1 or 2 closed, the first descriptors the broker hands out would
 * take their place: cat would write into the file it reads. */
static int cli_fix_std_fds(void) {
        for (int fd = 0; fd < 3; fd++) {
                if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
                        continue;
                /* Lower numbers are open, so this lands on fd. */
                int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
                if (n < 0)
                        return -errno;
                if (n != fd) {
                        safe_close(n);
                        return -EBADF;
                }
        }
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        static const struct {
                const char *name;
                int (*run)(struct cli *c, int argc, char **argv);
        } commands[] = {
                { "ping", cli_ping },
                { "cat", cli_cat },
                { "check", cli_check },
                { "write", cli_write },
                { "exec", cli_exec },
                { "stat", cli_stat },
                { "ls", cli_ls },
                { "readlink", cli_readlink },
                { "mkdir", cli_mkdir },
                { "rm", cli_rm },
                { "rmdir", cli_rmdir },
                { "mv", cli_mv },
                { "status", cli_status },
                { "run", cli_run },
        };
        struct cli c = {};
        int o, r;

        r = cli_fix_std_fds();
        if (r < 0) {
                fprintf(stderr, "fdbroker: cannot open /dev/null: %s\n", strerror(-r));
                return CLI_EXIT_REFUSED;
        }

        opterr = 0;
        while ((o = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (o) {
                case 's':
                        if (!*optarg)
                                return cli_usage_error("--socket needs a path");
                        c.socket = optarg;
                        break;
                case 'h':
                        cli_help();
                        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
                case 'V':
                        printf("fdbroker %s\n", FDBR_VERSION);
                        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
                default:
                        return cli_option_error(o, argv);
                }

        if (optind >= argc)
                return cli_usage_error("no command given");
        if (!c.socket)
                c.socket = fdbr_socket_path();

        const char *name = argv[optind];
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(name, commands[i].name) == 0) {
                        r = commands[i].run(&c, argc - optind, argv + optind);
                        cli_disconnect(&c);
                        return r;
                }

        return cli_usage_error("unknown command '%s'", name);
}
