/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"

#define EXEC_FD_FIRST 3
#define EXEC_ENV "FDBROKER_FDS"

struct exec_file {
        struct cli_request req; /* path, and the descriptor once open */
        int flags;
};

static void exec_files_close(struct exec_file *files, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (files[i].req.done && files[i].req.result >= 0)
                        files[i].req.result = safe_close(files[i].req.result);
}

/* Puts fds[i] at EXEC_FD_FIRST + i, without close-on-exec.  Everything is
 * first moved above the target range, so that no dup2() overwrites a
 * descriptor still to be placed, whatever numbers the broker's arrived
 * on. */
static int exec_place(int *fds, size_t n) {
        int top = EXEC_FD_FIRST + (int) n;

        for (size_t i = 0; i < n; i++) {
                int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, top);
                if (fd < 0)
                        return -errno;
                safe_close(fds[i]);
                fds[i] = fd;
        }
        for (size_t i = 0; i < n; i++) {
                int target = EXEC_FD_FIRST + (int) i;
                /* dup2() leaves the new descriptor without close-on-exec. */
                if (dup2(fds[i], target) < 0)
                        return -errno;
                safe_close(fds[i]);
                fds[i] = target;
        }
        return 0;
}

static char *exec_fds_env(size_t n) {
        /* "3 4 5": each number needs at most 11 characters with its space. */
        char *s = malloc(n * 12 + 1), *p = s;
        if (!s)
                return NULL;

        *p = 0;
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%s%d", i ? " " : "", EXEC_FD_FIRST + (int) i);
        return s;
}

/* What the options say. */
struct exec_args {
        struct exec_file *files; /* never more than words on the command line */
        size_t n;
        bool create, have_mode;
        mode_t mode;
};

static int exec_option(int opt, const char *arg, void *userdata) {
        struct exec_args *a = userdata;

        switch (opt) {
        /* The shell's redirections: <, >, >> and <>. */
        case 'r':
        case 'w':
        case 'a':
        case 'b':
                a->files[a->n++] = (struct exec_file) {
                        .req.path = arg,
                        .flags = (opt == 'r'   ? O_RDONLY
                                  : opt == 'w' ? O_WRONLY | O_TRUNC
                                  : opt == 'a' ? O_WRONLY | O_APPEND
                                               : O_RDWR) |
                                 O_CLOEXEC,
                };
                return -1;
        case 'c':
                a->create = true;
                return -1;
        default:
                a->have_mode = true;
                return cli_mode_option(opt, arg, &a->mode);
        }
}

int cli_exec(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "read", required_argument, NULL, 'r' },
                { "write", required_argument, NULL, 'w' },
                { "append", required_argument, NULL, 'a' },
                { "rw", required_argument, NULL, 'b' },
                { "create", no_argument, NULL, 'c' },
                { "mode", required_argument, NULL, 'm' },
                CLI_OPTION_HELP,
                {},
        };
        _cleanup_free_ struct exec_file *files = calloc((size_t) argc, sizeof(*files));
        struct exec_args a = { .files = files, .mode = 0666 };
        int r;

        if (!files)
                return cli_error(NULL, -ENOMEM);
        r = cli_options(argc, argv, &(struct cli_options) {
                .longopts = options, .parse = exec_option, .userdata = &a,
                .min_operands = 1, .max_operands = -1, .operands_error = "exec needs a command after --" });
        if (r >= 0)
                return r;
        if (a.have_mode && !a.create)
                return cli_usage_error("--mode is only used with --create");
        size_t n = a.n;
        mode_t mode = a.mode;

        /* As the shell: a file to write is created, one to read must be
         * there. */
        if (a.create)
                for (size_t i = 0; i < n; i++)
                        if ((files[i].flags & O_ACCMODE) != O_RDONLY)
                                files[i].flags |= O_CREAT;
        if (n > (size_t) (INT_MAX - EXEC_FD_FIRST))
                return cli_usage_error("too many files");
        char **cmd = argv + optind;

        if (n > 0) {
                r = cli_connect(c);
                if (r != CLI_EXIT_OK)
                        return r;

                /* All in flight at once: one round trip, not one per file. */
                for (size_t i = 0; i < n; i++)
                        cli_submitted(&files[i].req,
                                      fdbr_conn_open(c->conn, files[i].req.path, files[i].flags,
                                                     files[i].flags & O_CREAT ? mode : 0, cli_request_done,
                                                     &files[i].req));
                for (size_t i = 0; i < n; i++)
                        cli_wait(c, &files[i].req, 1);

                for (size_t i = 0; i < n; i++)
                        if (files[i].req.result < 0) {
                                exec_files_close(files, n);
                                return cli_fail(c, files[i].req.path, files[i].req.result);
                        }

                /* Our own socket and loop must not reach CMD. */
                cli_disconnect(c);
        }

        _cleanup_free_ int *fds = calloc(n ?: 1, sizeof(int));
        _cleanup_free_ char *env = exec_fds_env(n);
        if (!fds || !env) {
                exec_files_close(files, n);
                return cli_error(NULL, -ENOMEM);
        }
        for (size_t i = 0; i < n; i++)
                fds[i] = TAKE_FD(files[i].req.result);

        r = exec_place(fds, n);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        safe_close(fds[i]);
                return cli_error("cannot place descriptors", r);
        }

        if (setenv(EXEC_ENV, env, 1) < 0)
                return cli_error(EXEC_ENV, -errno);

        fflush(stdout);
        execvp(cmd[0], cmd);

        /* As a shell says it: 127 not found, 126 found but not runnable. */
        r = errno;
        (void) cli_error(cmd[0], -r);
        return r == ENOENT || r == ENOTDIR ? 127 : 126;
}
