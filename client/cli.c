/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
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

static int cli_ping(struct cli *c, int argc, char **argv) {
        int r = cli_options(argc, argv, &(struct cli_options) {
                .max_operands = 0, .operands_error = "ping takes no argument" });
        if (r >= 0)
                return r;

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        struct cli_request req = { .path = "ping" };
        return cli_finish(c, &req, fdbr_conn_ping(c->conn, cli_request_done, &req));
}

static int cli_check(struct cli *c, int argc, char **argv) {
        int wr = 0, create = 0, dir = 0;
        const struct option options[] = {
                { "write", no_argument, &wr, 1 },
                { "create", no_argument, &create, 1 },
                { "dir", no_argument, &dir, 1 },
                CLI_OPTION_HELP,
                {},
        };
        int r = cli_options(argc, argv, &(struct cli_options) {
                .longopts = options,
                .min_operands = 1, .max_operands = 1, .operands_error = "check needs exactly one PATH" });
        if (r >= 0)
                return r;
        const char *path = argv[optind];
        /* WRITE alone: asking for write must not also demand read. */
        int flags = (wr ? O_WRONLY : O_RDONLY) | (create ? O_CREAT : 0) | (dir ? O_DIRECTORY : 0);

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        struct cli_request req = { .path = path };
        return cli_finish(c, &req, fdbr_conn_check(c->conn, path, flags, cli_request_done, &req));
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
