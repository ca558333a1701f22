/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"

int cli_cat(struct cli *c, int argc, char **argv) {
        int ret = CLI_EXIT_OK;
        int r = cli_options(argc, argv, &(struct cli_options) {
                .min_operands = 1, .max_operands = -1, .operands_error = "cat needs at least one PATH" });
        if (r >= 0)
                return r;

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
                        ret = cli_error(path, r);
                        continue;
                }
                /* Nobody is reading any more: nothing to say, and no point
                 * in going on. */
                return r == -EPIPE ? CLI_EXIT_REFUSED : cli_error("standard output", r);
        }

        return ret;
}
