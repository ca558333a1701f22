/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"

int cli_write(struct cli *c, int argc, char **argv) {
        int append = 0, create = 0;
        const struct option options[] = {
                { "append", no_argument, &append, 1 },
                { "create", no_argument, &create, 1 },
                CLI_OPTION_HELP,
                {},
        };
        int r = cli_options(argc, argv, &(struct cli_options) {
                .longopts = options,
                .min_operands = 1, .max_operands = 1, .operands_error = "write needs exactly one PATH" });
        if (r >= 0)
                return r;
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
        if (r < 0)
                return cli_error(side == IO_READ ? "standard input" : path, r);

        /* Where the file system reports errors late, close() is the last
         * chance to hear of them. */
        if (close(TAKE_FD(fd)) < 0 && errno != EINTR)
                return cli_error(path, -errno);
        return CLI_EXIT_OK;
}
