/* SPDX-License-Identifier: MIT */
/* fdbrokerd: opens files on behalf of sandboxed clients after a policy
 * check, and hands them the descriptor. */

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "confine.h"
#include "explain.h"
#include "fsop.h"
#include "listen.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "policy.h"
#include "reload.h"
#include "server.h"

/* FDBR_DEFAULT_SOCKET comes from the build, which reads it from fdbroker.h. */
#define DEFAULT_SOCKET FDBR_DEFAULT_SOCKET
#define DEFAULT_POLICY FDBR_DEFAULT_POLICY

struct options {
        const char *socket;
        const char *policy;
        bool check_policy;
        bool strict;
        const char *explain_subject;
        const char *explain_path;
        const char *explain_access;
        struct server_config cfg;
};

static void usage(FILE *f) {
        fprintf(f,
                "Usage: fdbrokerd [OPTION]...\n"
                "Open files on behalf of sandboxed clients, as a policy allows, and pass\n"
                "them the descriptor over an AF_UNIX SOCK_SEQPACKET socket.\n"
                "\n"
                "  --socket PATH              listen on PATH (default %s);\n"
                "                             ignored when systemd passes the socket\n"
                "  --policy FILE              policy file (default %s)\n"
                "  --check-policy             validate the policy, print every problem as\n"
                "                             FILE:LINE: reason (warnings as FILE:LINE: warning:\n"
                "                             reason), exit 0 or 1; serve nothing; on success\n"
                "                             print how many rules from how many files\n"
                "  --strict                   with --check-policy: warnings are errors too\n"
                "  --explain SUBJECT [PATH ACCESS]\n"
                "                             decide one request without serving: print every\n"
                "                             matching rule and the verdict; exit 0 allowed,\n"
                "                             1 denied, 2 error.  Without PATH and ACCESS: list\n"
                "                             the rules that apply to SUBJECT.  SUBJECT: any, or\n"
                "                             user=, uid=, group=, gid=, unit=, comma-separated;\n"
                "                             ACCESS: read, write, append, create, delete, stat,\n"
                "                             dir, device, comma-separated\n"
                "  --log-level LEVEL          error, warning, notice (default), info, debug;\n"
                "                             denials are always logged, allowed requests\n"
                "                             from info on\n"
                "  --max-clients N            connections in total (default %u)\n"
                "  --max-clients-per-uid N    connections per real user (default %u): a uid\n"
                "                             in a user namespace counts against the user\n"
                "                             whose subordinate range (/etc/subuid) holds it\n"
                "  --subuid FILE              where subordinate ranges are read from\n"
                "                             (default /etc/subuid; read again on SIGHUP)\n"
                "  --max-inflight N           requests in flight per connection before the\n"
                "                             broker stops reading it (default %u)\n"
                "  --idle-timeout SECONDS     close a connection that sends no request for\n"
                "                             this long after connecting (default %u)\n"
                "  --open-timeout MS          answer ETIMEDOUT to a request whose open is\n"
                "                             still blocked in the filesystem (default %u)\n"
                "  --max-workers N            threads for opens that may block (default %u;\n"
                "                             a quarter of them at most per real user)\n"
                "  --exit-idle SECONDS        under socket activation, exit after this long\n"
                "                             without clients (systemd starts it again on the\n"
                "                             next connection; nothing is lost)\n"
                "  --version                  print the version and exit\n"
                "  --help                     print this help and exit\n"
                "\n"
                "Signals: SIGHUP reloads the policy (an invalid one is refused and the old\n"
                "one kept); SIGTERM and SIGINT stop the broker.\n",
                DEFAULT_SOCKET, DEFAULT_POLICY, SERVER_MAX_CLIENTS_DEFAULT, SERVER_MAX_PER_UID_DEFAULT,
                SERVER_MAX_INFLIGHT_DEFAULT, SERVER_IDLE_TIMEOUT_DEFAULT, SERVER_OPEN_TIMEOUT_DEFAULT,
                POOL_THREADS_MAX_DEFAULT);
}

static int parse_limit(const char *name, const char *s, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v == 0 || v > INT_MAX) {
                fprintf(stderr, "fdbrokerd: %s: invalid value '%s' (a number from 1 to %d)\n", name, s, INT_MAX);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

/* Returns 0 to run, 1 to exit successfully, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o) {
        enum { OPT_SOCKET = 0x100, OPT_POLICY, OPT_CHECK, OPT_STRICT, OPT_EXPLAIN, OPT_LOG, OPT_MAXC, OPT_MAXU, OPT_MAXI, OPT_IDLE, OPT_OPENT, OPT_WORKERS, OPT_EXIT_IDLE, OPT_SUBUID, OPT_VERSION, OPT_HELP };
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, OPT_SOCKET },
                { "policy", required_argument, NULL, OPT_POLICY },
                { "check-policy", no_argument, NULL, OPT_CHECK },
                { "strict", no_argument, NULL, OPT_STRICT },
                { "explain", required_argument, NULL, OPT_EXPLAIN },
                { "log-level", required_argument, NULL, OPT_LOG },
                { "max-clients", required_argument, NULL, OPT_MAXC },
                { "max-clients-per-uid", required_argument, NULL, OPT_MAXU },
                { "max-inflight", required_argument, NULL, OPT_MAXI },
                { "idle-timeout", required_argument, NULL, OPT_IDLE },
                { "open-timeout", required_argument, NULL, OPT_OPENT },
                { "max-workers", required_argument, NULL, OPT_WORKERS },
                { "exit-idle", required_argument, NULL, OPT_EXIT_IDLE },
                { "subuid", required_argument, NULL, OPT_SUBUID },
                { "version", no_argument, NULL, OPT_VERSION },
                { "help", no_argument, NULL, OPT_HELP },
                {},
        };
        int c, level;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case OPT_SOCKET:
                        o->socket = optarg;
                        break;
                case OPT_POLICY:
                        o->policy = optarg;
                        break;
                case OPT_CHECK:
                        o->check_policy = true;
                        break;
                case OPT_STRICT:
                        o->strict = true;
                        break;
                case OPT_EXPLAIN:
                        o->explain_subject = optarg;
                        break;
                case OPT_LOG:
                        level = log_level_parse(optarg);
                        if (level < 0) {
                                fprintf(stderr, "fdbrokerd: --log-level: unknown level '%s' "
                                                "(error, warning, notice, info, debug)\n", optarg);
                                return -1;
                        }
                        log_set_level(level);
                        break;
                case OPT_MAXC:
                        if (parse_limit("--max-clients", optarg, &o->cfg.max_clients) < 0)
                                return -1;
                        break;
                case OPT_MAXU:
                        if (parse_limit("--max-clients-per-uid", optarg, &o->cfg.max_clients_per_uid) < 0)
                                return -1;
                        break;
                case OPT_MAXI:
                        if (parse_limit("--max-inflight", optarg, &o->cfg.max_inflight) < 0)
                                return -1;
                        break;
                case OPT_IDLE:
                        if (parse_limit("--idle-timeout", optarg, &o->cfg.idle_timeout_s) < 0)
                                return -1;
                        break;
                case OPT_OPENT:
                        if (parse_limit("--open-timeout", optarg, &o->cfg.open_timeout_ms) < 0)
                                return -1;
                        break;
                case OPT_WORKERS:
                        if (parse_limit("--max-workers", optarg, &o->cfg.max_workers) < 0 ||
                            o->cfg.max_workers > 1024) {
                                fprintf(stderr, "fdbrokerd: --max-workers: at most 1024\n");
                                return -1;
                        }
                        break;
                case OPT_EXIT_IDLE:
                        if (parse_limit("--exit-idle", optarg, &o->cfg.exit_idle_s) < 0)
                                return -1;
                        break;
                case OPT_SUBUID:
                        o->cfg.subuid_path = optarg;
                        break;
                case OPT_VERSION:
                        printf("fdbrokerd %s\n", FDBR_VERSION);
                        return 1;
                case OPT_HELP:
                        usage(stdout);
                        return 1;
                default:
                        fprintf(stderr, "Try 'fdbrokerd --help' for more information.\n");
                        return -1;
                }
        }
        if (o->explain_subject && argc - optind > 0) {
                if (argc - optind != 2) {
                        fprintf(stderr, "fdbrokerd: --explain needs SUBJECT [PATH ACCESS], "
                                        "e.g. --explain user=alice /srv/data/a.txt read,write\n");
                        return -1;
                }
                o->explain_path = argv[optind];
                o->explain_access = argv[optind + 1];
                optind += 2;
        }
        if (o->strict && !o->check_policy) {
                fprintf(stderr, "fdbrokerd: --strict goes with --check-policy\n");
                return -1;
        }
        if (optind < argc) {
                fprintf(stderr, "fdbrokerd: unexpected argument '%s'\n"
                                "Try 'fdbrokerd --help' for more information.\n", argv[optind]);
                return -1;
        }
        return 0;
}

/* ---- policy loading ---------------------------------------------------- */

static void print_diag(const char *file, unsigned line, const char *message, void *userdata) {
        if (line > 0)
                fprintf(stderr, "%s:%u: %s\n", file, line, message);
        else
                fprintf(stderr, "%s: %s\n", file, message);
}

/* ---- the running daemon ------------------------------------------------ */

struct daemon {
        struct event_base *base;
        struct server server;
        struct notifier notifier;
        struct reloader reloader;
        const char *policy_path;
        struct event *sigs[3];
};

/* On the loop, once the thread has read the files: the swap itself. */
static void reload_finished(void *userdata, struct reload_result *res, bool more) {
        struct daemon *d = userdata;

        if (!res->policy) {
                log_always(LOG_ERR, "reload refused, still serving policy generation %u: %s%s",
                           d->server.generation, res->problems ? res->why : strerror(-res->policy_error),
                           res->problems > 1 ? " (and more problems; see fdbrokerd --check-policy)" : "");
        } else {
                server_set_policy(&d->server, TAKE_PTR(res->policy));
                server_set_accounts(&d->server, TAKE_PTR(res->accounts), res->accounts_error);
                log_always(LOG_NOTICE, "policy reloaded from %s: generation %u, %zu rules", d->policy_path,
                           d->server.generation, policy_rule_count(d->server.policy));
        }
        /* The manager hears READY=1 once, when the last one asked for is in. */
        if (!more)
                notifier_send(&d->notifier, "READY=1\n");
}

/* The loop only starts the reload: reading the files and resolving the
 * names in them may wait on the user database (reload.h). */
static void reload(struct daemon *d) {
        struct timespec ts;

        int r = reload_request(&d->reloader);
        if (r == 0)
                return; /* one runs: another follows it, RELOADING=1 was said */
        if (r < 0) {
                log_always(LOG_ERR, "reload not started, still serving policy generation %u: %s",
                           d->server.generation, strerror(-r));
                return;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        (void) sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                          (unsigned long long) ts.tv_sec * 1000000ULL + (unsigned long long) ts.tv_nsec / 1000);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
        struct daemon *d = arg;

        if (sig == SIGHUP) {
                reload(d);
                return;
        }
        log_msg(LOG_NOTICE, "%s received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        notifier_send(&d->notifier, "STOPPING=1\n");
        server_shutdown(&d->server);
}

/* A daemon started with 0, 1 or 2 closed would hand those numbers to the
 * first sockets it opens, and a stray write to "stderr" would go to a
 * client. */
static int sanitize_std_fds(void) {
        for (int fd = 0; fd < 3; fd++) {
                if (fcntl(fd, F_GETFD) >= 0)
                        continue;
                int n = open("/dev/null", O_RDWR);
                if (n < 0)
                        return -errno;
                if (n != fd) {
                        if (dup2(n, fd) < 0)
                                return -errno;
                        close(n);
                }
        }
        return 0;
}

/* Every client costs a descriptor, and each in-flight reply another:
 * use all the process may have. */
static void raise_nofile(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char **argv) {
        struct options o = {
                .socket = DEFAULT_SOCKET,
                .policy = DEFAULT_POLICY,
                .cfg = {
                        .max_clients = SERVER_MAX_CLIENTS_DEFAULT,
                        .max_clients_per_uid = SERVER_MAX_PER_UID_DEFAULT,
                        .max_inflight = SERVER_MAX_INFLIGHT_DEFAULT,
                        .idle_timeout_s = SERVER_IDLE_TIMEOUT_DEFAULT,
                        .open_timeout_ms = SERVER_OPEN_TIMEOUT_DEFAULT,
                        .max_workers = POOL_THREADS_MAX_DEFAULT,
                },
        };
        /* Static: a reload thread still in the user database at exit is
         * left behind and writes into d.reloader until the process ends. */
        static struct daemon d;
        struct listen_socket ls = { .fd = -1 };
        struct policy *policy = NULL;
        int r, ret = EXIT_FAILURE;

        if (sanitize_std_fds() < 0)
                return EXIT_FAILURE;
        log_setup();
        r = parse_args(argc, argv, &o);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;
        d.policy_path = o.policy;

        struct policy_load_options lo = { .diag = print_diag, .strict = o.strict };
        r = policy_load_with(o.policy, &lo, &policy);
        if (o.check_policy) {
                if (r >= 0)
                        printf("policy OK: %zu rule%s from %zu file%s\n", policy_rule_count(policy),
                               policy_rule_count(policy) == 1 ? "" : "s", policy_file_count(policy),
                               policy_file_count(policy) == 1 ? "" : "s");
                policy_unref(policy);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (o.explain_subject) {
                if (r < 0)
                        return EXPLAIN_ERROR;
                r = explain_run(policy, o.explain_subject, o.explain_path, o.explain_access);
                policy_unref(policy);
                return r;
        }
        if (r < 0) {
                log_always(LOG_ERR, "%s: policy not loaded, not serving", o.policy);
                return EXIT_FAILURE;
        }

        r = fsop_probe();
        if (r < 0) {
                log_always(LOG_ERR, "openat2() is not available (%s): refusing to run without safe path "
                           "resolution (Linux 5.6 or later needed, and openat2 allowed by seccomp)", strerror(-r));
                goto out;
        }

        raise_nofile();
        /* Created files get exactly the mode computed for them. */
        umask(0);
        signal(SIGPIPE, SIG_IGN);

        /* From the moment the socket exists a stop request must be handled
         * (the socket removed, exit 0), not kill us with the default
         * action: held until the loop's handlers are in place. */
        static const int signals[] = { SIGTERM, SIGINT, SIGHUP };
        sigset_t held, previous;
        sigemptyset(&held);
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                sigaddset(&held, signals[i]);
        sigprocmask(SIG_BLOCK, &held, &previous);

        r = listen_inherit(&ls);
        if (r < 0)
                goto out;
        if (r == 0) {
                if (listen_create(o.socket, &ls) < 0)
                        goto out;
                if (o.cfg.exit_idle_s > 0) {
                        /* Nobody would start us again for the next client. */
                        log_msg(LOG_WARNING, "--exit-idle ignored: the socket was not passed by systemd");
                        o.cfg.exit_idle_s = 0;
                }
        }

        d.base = event_base_new();
        if (!d.base) {
                log_always(LOG_ERR, "cannot create the event loop");
                goto out;
        }
        r = server_init(&d.server, d.base, ls.fd, TAKE_PTR(policy), &o.cfg);
        if (r < 0) {
                log_always(LOG_ERR, "cannot start the server: %s", strerror(-r));
                goto out;
        }

        r = reload_init(&d.reloader, d.base, d.policy_path, server_subuid_path(&d.server), reload_finished, &d);
        if (r < 0) {
                log_always(LOG_ERR, "cannot start the reload thread: %s", strerror(-r));
                goto out;
        }

        for (size_t i = 0; i < ELEMENTSOF(signals); i++) {
                d.sigs[i] = evsignal_new(d.base, signals[i], on_signal, &d);
                if (!d.sigs[i] || evsignal_add(d.sigs[i], NULL) < 0) {
                        log_always(LOG_ERR, "cannot handle signals");
                        goto out;
                }
        }
        /* Socket, policy and /proc/self/fd are in hand: from here on
         * nothing needs more than the broker keeps. */
        if (confine_self() < 0)
                goto out;
        sigprocmask(SIG_SETMASK, &previous, NULL);

        log_msg(LOG_NOTICE, "serving %s (%s), policy %s with %zu rules",
                ls.created ? ls.path : "socket passed by systemd", ls.created ? "created" : "inherited",
                o.policy, policy_rule_count(d.server.policy));
        notifier_start(&d.notifier, d.base, &d.server);
        notifier_send(&d.notifier, "READY=1\n");

        if (event_base_dispatch(d.base) < 0)
                log_always(LOG_ERR, "event loop failed");
        else
                ret = EXIT_SUCCESS;

        notifier_send(&d.notifier, "STOPPING=1\n");
        notifier_stop(&d.notifier);
        char status[256];
        server_status(&d.server, status, sizeof status);
        log_msg(LOG_INFO, "stopped: %s", status);
out:
        for (size_t i = 0; i < ELEMENTSOF(d.sigs); i++)
                if (d.sigs[i])
                        event_free(d.sigs[i]);
        /* Before the server: a reload finishing now must not swap into it. */
        reload_done(&d.reloader);
        if (d.base)
                server_done(&d.server);
        policy_unref(policy);
        listen_close(&ls);
        fsop_done();
        if (d.base)
                event_base_free(d.base);
        return ret;
}
