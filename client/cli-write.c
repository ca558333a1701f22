/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"

int cli_write(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "append", no_argument, NULL, 'a' },
                { "create", no_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        bool append = false, create = false;
        int o, r;

        optind = 0;
        while ((o = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (o) {
                case 'a':
                        append = true;
                        break;
                case 'c':
                        create = true;
                        break;
                case 'h':
                        cli_help();
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error(o, argv);
                }
        if (argc - optind != 1)
                return cli_usage_error("write needs exactly one PATH");
        const char *path = argv[optind];

        int flags = O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC) | (create ? O_CREAT : 0);
        _cleanup_close_ int fd = -1;

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        /* 0666 like any program creating a file; the broker applies ~022. */
        r = cli_open(c, path, flags, 0666, &fd);
        if (r != CLI_EXIT_OK)
                return r;
        cli_disconnect(c);

        enum io_side side;
        r = io_copy(STDIN_FILENO, fd, &side);
        if (r < 0) {
                fprintf(stderr, "fdbroker: %s: %s\n", side == IO_READ ? "standard input" : path, strerror(-r));
                return CLI_EXIT_REFUSED;
        }

        /* Where the file system reports errors late, close() is the last
         * chance to hear of them. */
        if (close(TAKE_FD(fd)) < 0 && errno != EINTR) {
                fprintf(stderr, "fdbroker: %s: %s\n", path, strerror(errno));
                return CLI_EXIT_REFUSED;
        }
        return CLI_EXIT_OK;
}
