/* SPDX-License-Identifier: MIT */
/* sizes: prints the size of many files, opened through fdbroker with the
 * asynchronous API of libfdbroker, on a libevent loop of our own.
 *
 *   sizes [-s SOCKET] [-j JOBS] [-t TIMEOUT_MS] [-v] [PATH...]
 *
 * Paths come from the command line, or one per line on standard input.  At
 * most JOBS requests are in flight on one connection; each completion
 * submits the next path, so the broker always has work queued and the
 * round trips overlap instead of adding up.  Output is "SIZE PATH" per
 * file, in the order the replies arrive.
 *
 * Build:  cc sizes.c $(pkg-config --cflags --libs libfdbroker libevent_core)
 */

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <fdbroker.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The same exit statuses as fdbroker(1). */
enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

struct sizes;

/* One per path: what the callback needs to know which path answered. */
struct request {
        struct sizes *s;
        const char *path;
};

struct sizes {
        struct event_base *base;
        fdbr_conn *conn;
        struct request *reqs;
        size_t n, next, done;
        unsigned jobs;
        unsigned max_in_flight;
        unsigned refused;
        bool lost;
        int interrupted; /* the signal that stopped us, or 0 */
};

static void on_open(fdbr_conn *conn, int result, void *userdata);

static void finish_if_done(struct sizes *s) {
        /* The connection keeps an event registered, so the loop does not end
         * by itself: say when there is nothing more to wait for. */
        if (fdbr_conn_pending(s->conn) == 0 && (s->done == s->n || s->lost || s->interrupted))
                event_base_loopbreak(s->base);
}

/* Tops the window up to s->jobs requests in flight. */
static void submit_more(struct sizes *s) {
        while (!s->lost && !s->interrupted && s->next < s->n && fdbr_conn_pending(s->conn) < s->jobs) {
                struct request *req = &s->reqs[s->next++];
                int r = fdbr_conn_open(s->conn, req->path, O_RDONLY | O_CLOEXEC, 0, on_open, req);
                if (r == -ENOTCONN) {
                        s->lost = true;
                        break;
                }
                if (r < 0) {
                        /* Refused before it left: a relative path, say.  No
                         * callback will come for it. */
                        fprintf(stderr, "sizes: %s: %s\n", req->path, strerror(-r));
                        s->refused++;
                        s->done++;
                        continue;
                }
                unsigned pending = fdbr_conn_pending(s->conn);
                if (pending > s->max_in_flight)
                        s->max_in_flight = pending;
        }
}

static void on_open(fdbr_conn *conn, int result, void *userdata) {
        struct request *req = userdata;
        struct sizes *s = req->s;
        struct stat st;

        s->done++;
        if (result >= 0) {
                if (fstat(result, &st) == 0)
                        printf("%" PRIdMAX " %s\n", (intmax_t) st.st_size, req->path);
                else
                        fprintf(stderr, "sizes: %s: %s\n", req->path, strerror(errno));
                close(result);
        } else if (result == -ECONNRESET || result == -EBADMSG) {
                if (!s->lost)
                        fprintf(stderr, "sizes: lost the broker: %s\n", strerror(-result));
                s->lost = true;
        } else if (result != -ECANCELED) {
                fprintf(stderr, "sizes: %s: %s\n", req->path, strerror(-result));
                s->refused++;
        }

        submit_more(s);
        finish_if_done(s);
}

/* The loop is ours, so other events live on it too: an interrupt cancels
 * whatever is still in flight (each callback then runs with -ECANCELED). */
static void on_signal(evutil_socket_t sig, short what, void *arg) {
        struct sizes *s = arg;

        s->interrupted = (int) sig;
        fdbr_conn_free(s->conn);
        s->conn = NULL;
        event_base_loopbreak(s->base);
}

static int read_paths(char ***ret, size_t *ret_n) {
        char **paths = NULL, *line = NULL;
        size_t n = 0, size = 0, cap = 0;
        ssize_t len;

        while ((len = getline(&line, &cap, stdin)) >= 0) {
                if (len > 0 && line[len - 1] == '\n')
                        line[--len] = 0;
                if (len == 0)
                        continue;
                if (n == size) {
                        size = size ? size * 2 : 64;
                        char **p = realloc(paths, size * sizeof(*paths));
                        if (!p)
                                goto fail;
                        paths = p;
                }
                if (!(paths[n] = strdup(line)))
                        goto fail;
                n++;
        }
        if (ferror(stdin))
                goto fail;
        free(line);
        *ret = paths;
        *ret_n = n;
        return 0;
fail:
        free(line);
        while (n > 0)
                free(paths[--n]);
        free(paths);
        return -1;
}

static unsigned parse_number(const char *opt, const char *s, unsigned max) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v == 0 || v > max) {
                fprintf(stderr, "sizes: %s: not a number from 1 to %u: '%s'\n", opt, max, s);
                exit(EXIT_USAGE);
        }
        return (unsigned) v;
}

int main(int argc, char **argv) {
        struct sizes s = { .jobs = 32 };
        const char *socket_path = NULL;
        unsigned timeout_ms = 0;
        bool verbose = false;
        char **paths, **stdin_paths = NULL;
        struct event *sigs[2] = {};
        int o, r, ret = EXIT_UNREACHABLE;

        while ((o = getopt(argc, argv, "s:j:t:vh")) >= 0)
                switch (o) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'j':
                        s.jobs = parse_number("-j", optarg, 65536);
                        break;
                case 't':
                        timeout_ms = parse_number("-t", optarg, 3600000);
                        break;
                case 'v':
                        verbose = true;
                        break;
                case 'h':
                        printf("Usage: sizes [-s SOCKET] [-j JOBS] [-t TIMEOUT_MS] [-v] [PATH...]\n"
                               "Prints the size of each file, opened through fdbroker with at most\n"
                               "JOBS requests in flight (default 32).  Without PATH, reads paths\n"
                               "from standard input, one per line.\n");
                        return 0;
                default:
                        return EXIT_USAGE;
                }

        if (optind < argc) {
                paths = argv + optind;
                s.n = (size_t) (argc - optind);
        } else {
                if (read_paths(&stdin_paths, &s.n) < 0) {
                        fprintf(stderr, "sizes: reading paths: %s\n", strerror(errno));
                        return EXIT_USAGE;
                }
                paths = stdin_paths;
        }

        s.reqs = calloc(s.n ? s.n : 1, sizeof(*s.reqs));
        s.base = event_base_new();
        if (!s.reqs || !s.base) {
                fprintf(stderr, "sizes: out of memory\n");
                goto out;
        }
        for (size_t i = 0; i < s.n; i++)
                s.reqs[i] = (struct request) { .s = &s, .path = paths[i] };

        /* The identity the broker decides on is ours as of this connect. */
        r = fdbr_conn_new(s.base, socket_path, &s.conn);
        if (r < 0) {
                fprintf(stderr, "sizes: cannot reach the broker at %s: %s\n",
                        socket_path ? socket_path : fdbr_socket_path(), strerror(-r));
                goto out;
        }
        if (timeout_ms > 0)
                fdbr_conn_set_timeout(s.conn, timeout_ms);

        sigs[0] = evsignal_new(s.base, SIGINT, on_signal, &s);
        sigs[1] = evsignal_new(s.base, SIGTERM, on_signal, &s);
        if (!sigs[0] || !sigs[1] || evsignal_add(sigs[0], NULL) < 0 || evsignal_add(sigs[1], NULL) < 0) {
                fprintf(stderr, "sizes: cannot handle signals\n");
                goto out;
        }

        submit_more(&s);
        if (fdbr_conn_pending(s.conn) > 0)
                event_base_dispatch(s.base);

        /* Flushed first, so that the summary comes after the sizes. */
        bool output_failed = fflush(stdout) != 0 || ferror(stdout);
        if (verbose)
                fprintf(stderr, "sizes: %zu files, %u refused, at most %u requests in flight\n", s.n, s.refused,
                        s.max_in_flight);
        if (output_failed) {
                fprintf(stderr, "sizes: standard output: %s\n", strerror(errno));
                ret = EXIT_REFUSED;
        } else if (s.interrupted)
                ret = 128 + s.interrupted;
        else if (s.lost)
                ret = EXIT_UNREACHABLE;
        else
                ret = s.refused ? EXIT_REFUSED : 0;

out:
        fdbr_conn_free(s.conn);
        for (size_t i = 0; i < 2; i++)
                if (sigs[i])
                        event_free(sigs[i]);
        if (s.base)
                event_base_free(s.base);
        free(s.reqs);
        if (stdin_paths) {
                for (size_t i = 0; i < s.n; i++)
                        free(stdin_paths[i]);
                free(stdin_paths);
        }
        return ret;
}
