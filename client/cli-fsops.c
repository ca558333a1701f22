/* SPDX-License-Identifier: MIT */
/* The commands beyond reading and writing: stat, ls, readlink, mkdir, rm,
 * rmdir, mv and status.  Requests for several paths are all in flight at
 * once; results are reported in command-line order. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "macro.h"

/* A STAT in flight and its answer. */
struct cli_stat {
        struct cli_request req;
        char *owned_path; /* ls: DIR/NAME */
        const char *name; /* what the line names */
        struct statx stx;
};

static void cli_stat_done(fdbr_conn *conn, int result, const struct statx *stx, void *userdata) {
        struct cli_stat *s = userdata;

        if (result == 0)
                s->stx = *stx;
        cli_request_done(conn, result, &s->req);
}

static const char *cli_type_name(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG:
                return "regular";
        case S_IFDIR:
                return "directory";
        case S_IFLNK:
                return "symlink";
        case S_IFIFO:
                return "fifo";
        case S_IFSOCK:
                return "socket";
        case S_IFCHR:
                return "char-device";
        case S_IFBLK:
                return "block-device";
        default:
                return "unknown";
        }
}

/* TYPE MODE UID GID SIZE MTIME NAME, the time in UTC; a field the file
 * system did not give is "-". */
static void cli_print_stat(const struct statx *x, const char *name) {
        char mtime[64] = "-";

        if (x->stx_mask & STATX_MTIME) {
                time_t t = (time_t) x->stx_mtime.tv_sec;
                struct tm tm;
                if (gmtime_r(&t, &tm))
                        strftime(mtime, sizeof mtime, "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        printf("%s ", x->stx_mask & STATX_TYPE ? cli_type_name(x->stx_mode) : "-");
        if (x->stx_mask & STATX_MODE)
                printf("%04o ", (unsigned) (x->stx_mode & 07777));
        else
                printf("- ");
        if (x->stx_mask & STATX_UID)
                printf("%u ", (unsigned) x->stx_uid);
        else
                printf("- ");
        if (x->stx_mask & STATX_GID)
                printf("%u ", (unsigned) x->stx_gid);
        else
                printf("- ");
        if (x->stx_mask & STATX_SIZE)
                printf("%llu ", (unsigned long long) x->stx_size);
        else
                printf("- ");
        printf("%s %s\n", mtime, name);
}

/* Submits a STAT for each of n entries, waits for all, prints them in
 * order.  Returns the exit status. */
static int cli_stat_all(struct cli *c, struct cli_stat *s, size_t n, int flags) {
        int ret = CLI_EXIT_OK;

        for (size_t i = 0; i < n; i++)
                cli_submitted(&s[i].req, fdbr_conn_stat(c->conn, s[i].req.path, flags, cli_stat_done, &s[i]));
        for (size_t i = 0; i < n; i++) {
                int r = cli_settle(c, &s[i].req);
                if (r == CLI_EXIT_UNREACHABLE)
                        return r;
                if (r == CLI_EXIT_OK)
                        cli_print_stat(&s[i].stx, s[i].name);
                else
                        ret = r;
        }
        return ret;
}

int cli_stat(struct cli *c, int argc, char **argv) {
        int nofollow = 0;
        const struct option options[] = {
                { "no-follow", no_argument, &nofollow, 1 },
                CLI_OPTION_HELP,
                {},
        };
        int r = cli_options(argc, argv, &(struct cli_options) {
                .longopts = options,
                .min_operands = 1, .max_operands = -1, .operands_error = "stat needs at least one PATH" });
        if (r >= 0)
                return r;

        size_t n = (size_t) (argc - optind);
        _cleanup_free_ struct cli_stat *s = calloc(n, sizeof(*s));
        if (!s)
                return cli_error(NULL, -ENOMEM);
        for (size_t i = 0; i < n; i++)
                s[i].req.path = s[i].name = argv[optind + (int) i];

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        return cli_stat_all(c, s, n, nofollow ? AT_SYMLINK_NOFOLLOW : 0);
}

static int cli_name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in the directory fd (taken), without "." and "..", sorted
 * bytewise.  Returns the count, or -errno. */
static ssize_t cli_read_dir(int fd, char ***ret_names) {
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                safe_close(fd);
                return r;
        }

        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int r = 0;

        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = errno ? -errno : 0;
                        break;
                }
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n == cap) {
                        size_t k = cap ? cap * 2 : 64;
                        char **p = reallocarray(names, k, sizeof(*names));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        names = p;
                        cap = k;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);

        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                return r;
        }
        if (n > 0)
                qsort(names, n, sizeof(*names), cli_name_cmp);
        *ret_names = names;
        return (ssize_t) n;
}

static int cli_ls_option(int opt, const char *arg, void *userdata) {
        *(bool *) userdata = true; /* -l */
        return -1;
}

int cli_ls(struct cli *c, int argc, char **argv) {
        bool lng = false;
        int r, fd = -1;

        r = cli_options(argc, argv, &(struct cli_options) {
                .shortopts = "+:lh", .parse = cli_ls_option, .userdata = &lng,
                .min_operands = 1, .max_operands = 1, .operands_error = "ls needs exactly one DIR" });
        if (r >= 0)
                return r;
        const char *dir = argv[optind];

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        r = cli_open(c, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, &fd);
        if (r != CLI_EXIT_OK)
                return r;

        char **names = NULL;
        ssize_t n = cli_read_dir(fd, &names);
        if (n < 0)
                return cli_error(dir, (int) n);

        int ret = CLI_EXIT_OK;
        if (!lng)
                for (ssize_t i = 0; i < n; i++)
                        printf("%s\n", names[i]);
        else if (n > 0) {
                struct cli_stat *s = calloc((size_t) n, sizeof(*s));
                if (!s)
                        ret = CLI_EXIT_REFUSED;
                for (ssize_t i = 0; s && i < n; i++) {
                        /* "/" joins without a second slash: paths stay
                         * canonical. */
                        if (asprintf(&s[i].owned_path, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, names[i]) < 0) {
                                s[i].owned_path = NULL;
                                ret = CLI_EXIT_REFUSED;
                                break;
                        }
                        s[i].req.path = s[i].owned_path;
                        s[i].name = names[i];
                }
                if (ret == CLI_EXIT_OK)
                        /* The entries themselves, as ls -l shows them. */
                        ret = cli_stat_all(c, s, (size_t) n, AT_SYMLINK_NOFOLLOW);
                else
                        (void) cli_error(NULL, -ENOMEM);
                for (ssize_t i = 0; s && i < n; i++)
                        free(s[i].owned_path);
                free(s);
        }

        for (ssize_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return ret;
}

struct cli_text {
        struct cli_request req;
        char *text;
        size_t len;
};

static void cli_text_done(fdbr_conn *conn, int result, const char *data, size_t len, void *userdata) {
        struct cli_text *t = userdata;

        if (result == 0) {
                t->text = malloc(len + 1);
                if (!t->text)
                        result = -ENOMEM;
                else {
                        memcpy(t->text, data, len + 1);
                        t->len = len;
                }
        }
        cli_request_done(conn, result, &t->req);
}

/* Waits for a text request and prints the text, ending it with a newline
 * if it has none. */
static int cli_text_finish(struct cli *c, struct cli_text *t, int submitted) {
        int r = cli_finish(c, &t->req, submitted);
        if (r != CLI_EXIT_OK)
                return r;

        fwrite(t->text, 1, t->len, stdout);
        if (t->len > 0 && t->text[t->len - 1] != '\n')
                putchar('\n');
        free(t->text);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
}

int cli_readlink(struct cli *c, int argc, char **argv) {
        int r = cli_options(argc, argv, &(struct cli_options) {
                .min_operands = 1, .max_operands = 1, .operands_error = "readlink needs exactly one PATH" });
        if (r >= 0)
                return r;

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        struct cli_text t = { .req.path = argv[optind] };
        return cli_text_finish(c, &t, fdbr_conn_readlink(c->conn, t.req.path, cli_text_done, &t));
}

int cli_status(struct cli *c, int argc, char **argv) {
        int r = cli_options(argc, argv, &(struct cli_options) {
                .max_operands = 0, .operands_error = "status takes no argument" });
        if (r >= 0)
                return r;

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        struct cli_text t = { .req.path = "status" };
        return cli_text_finish(c, &t, fdbr_conn_status(c->conn, cli_text_done, &t));
}

typedef int (*cli_submit_t)(struct cli *c, const char *path, mode_t mode, struct cli_request *req);

/* Parses the operands (at least one PATH) and options, then sends one
 * request per path, all in flight; failures are reported in order. */
static int cli_each(struct cli *c, int argc, char **argv, const struct cli_options *opts, cli_submit_t submit,
                    const mode_t *mode) {
        int ret = CLI_EXIT_OK;
        int r = cli_options(argc, argv, opts);
        if (r >= 0)
                return r;

        size_t n = (size_t) (argc - optind);
        _cleanup_free_ struct cli_request *reqs = calloc(n, sizeof(*reqs));
        if (!reqs)
                return cli_error(NULL, -ENOMEM);

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        for (size_t i = 0; i < n; i++) {
                reqs[i].path = argv[optind + (int) i];
                cli_submitted(&reqs[i], submit(c, reqs[i].path, mode ? *mode : 0, &reqs[i]));
        }
        for (size_t i = 0; i < n; i++) {
                r = cli_settle(c, &reqs[i]);
                if (r == CLI_EXIT_UNREACHABLE)
                        return r;
                if (r != CLI_EXIT_OK)
                        ret = r;
        }
        return ret;
}

static int submit_mkdir(struct cli *c, const char *path, mode_t mode, struct cli_request *req) {
        return fdbr_conn_mkdir(c->conn, path, mode, cli_request_done, req);
}

static int submit_unlink(struct cli *c, const char *path, mode_t mode, struct cli_request *req) {
        return fdbr_conn_unlink(c->conn, path, cli_request_done, req);
}

static int submit_rmdir(struct cli *c, const char *path, mode_t mode, struct cli_request *req) {
        return fdbr_conn_rmdir(c->conn, path, cli_request_done, req);
}

int cli_mkdir(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "mode", required_argument, NULL, 'm' },
                CLI_OPTION_HELP,
                {},
        };
        mode_t mode = 0777;

        return cli_each(c, argc, argv,
                        &(struct cli_options) {
                                .longopts = options, .parse = cli_mode_option, .userdata = &mode,
                                .min_operands = 1, .max_operands = -1, .operands_error = "mkdir needs at least one PATH" },
                        submit_mkdir, &mode);
}

int cli_rm(struct cli *c, int argc, char **argv) {
        return cli_each(c, argc, argv,
                        &(struct cli_options) {
                                .min_operands = 1, .max_operands = -1, .operands_error = "rm needs at least one PATH" },
                        submit_unlink, NULL);
}

int cli_rmdir(struct cli *c, int argc, char **argv) {
        return cli_each(c, argc, argv,
                        &(struct cli_options) {
                                .min_operands = 1, .max_operands = -1, .operands_error = "rmdir needs at least one PATH" },
                        submit_rmdir, NULL);
}

int cli_mv(struct cli *c, int argc, char **argv) {
        int noclobber = 0;
        const struct option options[] = {
                { "no-clobber", no_argument, &noclobber, 1 },
                CLI_OPTION_HELP,
                {},
        };
        int r = cli_options(argc, argv, &(struct cli_options) {
                .longopts = options,
                .min_operands = 2, .max_operands = 2, .operands_error = "mv needs exactly SRC and DST" });
        if (r >= 0)
                return r;

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        /* Messages name SRC: the request is about moving it. */
        struct cli_request req = { .path = argv[optind] };
        return cli_finish(c, &req,
                          fdbr_conn_rename(c->conn, argv[optind], argv[optind + 1],
                                           noclobber ? FDBR_RENAME_NOREPLACE : 0, cli_request_done, &req));
}
