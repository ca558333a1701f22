/* SPDX-License-Identifier: MIT */
/* The commands beyond reading and writing: stat, ls, readlink, mkdir, rm,
 * rmdir, mv and status.  Requests for several paths are all in flight at
 * once; results are reported in command-line order. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

        for (size_t i = 0; i < n; i++) {
                int r = fdbr_conn_stat(c->conn, s[i].req.path, flags, cli_stat_done, &s[i]);
                if (r < 0)
                        s[i].req = (struct cli_request) { .path = s[i].req.path, .done = true, .result = r };
        }
        for (size_t i = 0; i < n; i++) {
                cli_wait(c, &s[i].req, 1);
                if (s[i].req.result < 0) {
                        int r = cli_fail(c, s[i].req.path, s[i].req.result);
                        if (r == CLI_EXIT_UNREACHABLE)
                                return r;
                        ret = r;
                        continue;
                }
                cli_print_stat(&s[i].stx, s[i].name);
        }
        return ret;
}

/* Parses the common case: no option but --help.  Returns -1 to go on, or
 * the exit status. */
static int cli_no_options(int argc, char **argv) {
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
        return -1;
}

int cli_stat(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "no-follow", no_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int flags = 0, o, r;

        optind = 0;
        while ((o = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (o) {
                case 'n':
                        flags = AT_SYMLINK_NOFOLLOW;
                        break;
                case 'h':
                        cli_help();
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error(o, argv);
                }
        if (optind >= argc)
                return cli_usage_error("stat needs at least one PATH");

        size_t n = (size_t) (argc - optind);
        _cleanup_free_ struct cli_stat *s = calloc(n, sizeof(*s));
        if (!s) {
                fprintf(stderr, "fdbroker: %s\n", strerror(ENOMEM));
                return CLI_EXIT_REFUSED;
        }
        for (size_t i = 0; i < n; i++)
                s[i].req.path = s[i].name = argv[optind + (int) i];

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        return cli_stat_all(c, s, n, flags);
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

int cli_ls(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        bool lng = false;
        int o, r, fd = -1;

        optind = 0;
        while ((o = getopt_long(argc, argv, "+:lh", options, NULL)) >= 0)
                switch (o) {
                case 'l':
                        lng = true;
                        break;
                case 'h':
                        cli_help();
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error(o, argv);
                }
        if (argc - optind != 1)
                return cli_usage_error("ls needs exactly one DIR");
        const char *dir = argv[optind];

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        r = cli_open(c, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, &fd);
        if (r != CLI_EXIT_OK)
                return r;

        char **names = NULL;
        ssize_t n = cli_read_dir(fd, &names);
        if (n < 0) {
                fprintf(stderr, "fdbroker: %s: %s\n", dir, strerror((int) -n));
                return CLI_EXIT_REFUSED;
        }

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
                        fprintf(stderr, "fdbroker: %s\n", strerror(ENOMEM));
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
        if (submitted < 0)
                return cli_fail(c, t->req.path, submitted);
        cli_wait(c, &t->req, 1);
        if (t->req.result < 0)
                return cli_fail(c, t->req.path, t->req.result);

        fwrite(t->text, 1, t->len, stdout);
        if (t->len > 0 && t->text[t->len - 1] != '\n')
                putchar('\n');
        free(t->text);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
}

int cli_readlink(struct cli *c, int argc, char **argv) {
        int r = cli_no_options(argc, argv);
        if (r >= 0)
                return r;
        if (argc - optind != 1)
                return cli_usage_error("readlink needs exactly one PATH");

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        struct cli_text t = { .req.path = argv[optind] };
        return cli_text_finish(c, &t, fdbr_conn_readlink(c->conn, t.req.path, cli_text_done, &t));
}

int cli_status(struct cli *c, int argc, char **argv) {
        int r = cli_no_options(argc, argv);
        if (r >= 0)
                return r;
        if (optind < argc)
                return cli_usage_error("status takes no argument");

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        struct cli_text t = { .req.path = "status" };
        return cli_text_finish(c, &t, fdbr_conn_status(c->conn, cli_text_done, &t));
}

/* One request per path, all in flight; failures reported in order. */
static int cli_each(struct cli *c, char **paths, size_t n,
                    int (*submit)(struct cli *c, const char *path, mode_t mode, struct cli_request *req),
                    mode_t mode) {
        _cleanup_free_ struct cli_request *reqs = calloc(n, sizeof(*reqs));
        int ret = CLI_EXIT_OK;

        if (!reqs) {
                fprintf(stderr, "fdbroker: %s\n", strerror(ENOMEM));
                return CLI_EXIT_REFUSED;
        }
        for (size_t i = 0; i < n; i++) {
                reqs[i].path = paths[i];
                int r = submit(c, paths[i], mode, &reqs[i]);
                if (r < 0)
                        reqs[i] = (struct cli_request) { .path = paths[i], .done = true, .result = r };
        }
        for (size_t i = 0; i < n; i++) {
                cli_wait(c, &reqs[i], 1);
                if (reqs[i].result < 0) {
                        int r = cli_fail(c, reqs[i].path, reqs[i].result);
                        if (r == CLI_EXIT_UNREACHABLE)
                                return r;
                        ret = r;
                }
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

int cli_parse_mode(const char *s, mode_t *ret) {
        char *end;

        errno = 0;
        unsigned long v = strtoul(s, &end, 8);
        if (errno != 0 || end == s || *end || *s == '-' || *s == '+' || v > 0777)
                return -EINVAL;
        *ret = (mode_t) v;
        return 0;
}

int cli_mkdir(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "mode", required_argument, NULL, 'm' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        mode_t mode = 0777;
        int o, r;

        optind = 0;
        while ((o = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (o) {
                case 'm':
                        if (cli_parse_mode(optarg, &mode) < 0)
                                return cli_usage_error("--mode needs octal permission bits (at most 0777), not '%s'", optarg);
                        break;
                case 'h':
                        cli_help();
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error(o, argv);
                }
        if (optind >= argc)
                return cli_usage_error("mkdir needs at least one PATH");

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        return cli_each(c, argv + optind, (size_t) (argc - optind), submit_mkdir, mode);
}

int cli_rm(struct cli *c, int argc, char **argv) {
        int r = cli_no_options(argc, argv);
        if (r >= 0)
                return r;
        if (optind >= argc)
                return cli_usage_error("rm needs at least one PATH");

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        return cli_each(c, argv + optind, (size_t) (argc - optind), submit_unlink, 0);
}

int cli_rmdir(struct cli *c, int argc, char **argv) {
        int r = cli_no_options(argc, argv);
        if (r >= 0)
                return r;
        if (optind >= argc)
                return cli_usage_error("rmdir needs at least one PATH");

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;
        return cli_each(c, argv + optind, (size_t) (argc - optind), submit_rmdir, 0);
}

int cli_mv(struct cli *c, int argc, char **argv) {
        static const struct option options[] = {
                { "no-clobber", no_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        unsigned flags = 0;
        int o, r;

        optind = 0;
        while ((o = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (o) {
                case 'n':
                        flags = FDBR_RENAME_NOREPLACE;
                        break;
                case 'h':
                        cli_help();
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error(o, argv);
                }
        if (argc - optind != 2)
                return cli_usage_error("mv needs exactly SRC and DST");

        r = cli_connect(c);
        if (r != CLI_EXIT_OK)
                return r;

        /* Messages name SRC: the request is about moving it. */
        struct cli_request req = { .path = argv[optind] };
        r = fdbr_conn_rename(c->conn, argv[optind], argv[optind + 1], flags, cli_request_done, &req);
        if (r < 0)
                return cli_fail(c, req.path, r);
        cli_wait(c, &req, 1);
        return req.result < 0 ? cli_fail(c, req.path, req.result) : CLI_EXIT_OK;
}
