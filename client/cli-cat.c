/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"

int cli_cat(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int ret = CLI_EXIT_OK, o, r;

        optind = 0;
        while ((o = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (o) {
                case 'h':
                        cli_help();
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error(o, argv);
                }
        if (optind >= argc)
                return cli_usage_error("cat needs at least one PATH");

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        /* A reader that went away (`| head`) ends the copy through EPIPE
         * instead of killing us; only this command writes to a pipe that
         * may close, and exec must not pass the disposition on. */
        (void) signal(SIGPIPE, SIG_IGN);

        for (int i = optind; i < argc; i++) {
                const char *path = argv[i];
                _cleanup_close_ int fd = -1;
                enum io_side side;

                r = cli_open(c, path, O_RDONLY | O_CLOEXEC, 0, &fd);
                if (r == CLI_EXIT_UNREACHABLE)
                        return r;
                if (r != CLI_EXIT_OK) {
                        ret = r;
                        continue;
                }

                r = io_copy(fd, STDOUT_FILENO, &side);
                if (r >= 0)
                        continue;
                if (side == IO_READ) {
                        fprintf(stderr, "fdbroker: %s: %s\n", path, strerror(-r));
                        ret = CLI_EXIT_REFUSED;
                        continue;
                }
                /* Nobody is reading any more: nothing to say, and no point
                 * in going on. */
                if (r != -EPIPE)
                        fprintf(stderr, "fdbroker: standard output: %s\n", strerror(-r));
                return CLI_EXIT_REFUSED;
        }

        return ret;
}
