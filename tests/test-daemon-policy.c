/* SPDX-License-Identifier: MIT */
/* The policy language enforced by a real daemon: unit= subjects from
 * cgroups, dir, device and follow on the opened file, a symlink-swap race,
 * drop-ins, --check-policy, --explain, reload, and the structured audit
 * records sent to the journal. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shim.h"
#include "macro.h"
#include "testutil.h"

static struct tu_daemon D;

#define path_in(rel) tu_daemon_path(&D, rel)
#define request_path(s, ...) tu_request_in(&D, s, __VA_ARGS__)

/* ---- unit= ----------------------------------------------------------- */

/* The cgroup v2 hierarchy systemd's library reads units from: the
 * "unified" mount on hybrid hosts, /sys/fs/cgroup itself on pure v2. */
static const char *cgroup_root(void) {
        if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0)
                return "/sys/fs/cgroup/unified";
        return "/sys/fs/cgroup";
}

struct unit_child {
        const char *cgroup;   /* cgroup.procs to join before dropping privileges, or NULL */
        const char *rel;
        int expect;
};

static int child_unit(void *arg) {
        const struct unit_child *u = arg;
        int s = tu_connect(D.socket);
        TU_REQUIRE(s >= 0);
        int st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, u->rel, NULL);
        TU_REQUIRE(st == u->expect, "status %d, expected %d", st, u->expect);
        close(s);
        return 0;
}

/* Joins a cgroup as root, then runs the unprivileged client in it. */
static void run_in_cgroup(const char *procs, const struct unit_child *u) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (procs) {
                        FILE *f = fopen(procs, "we");
                        if (!f || fprintf(f, "%d\n", (int) getpid()) < 0 || fclose(f) != 0)
                                _exit(3);
                }
                /* tu_run_as forks again: the grandchild inherits the cgroup */
                tu_run_as(TU_NOBODY, TU_NOBODY, child_unit, (void *) u);
                _exit(0);
        }
        int status = tu_wait(pid, 30000);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client in %s failed", procs ? procs : "-");
}

static const char unit_policy[] = "unit=fdbrtest-*.service @DIR@/data/** read\n"
                                  "unit=other.service @DIR@/other/** read\n";

/* A cgroup that looks like a systemd service to the unit lookup; returns
 * its cgroup.procs. */
static char *unit_cgroup(char **ret_cg) {
        char *data = path_in("data");
        tu_mkdir(data, 0700, 0, 0);
        free(data);
        char *file = path_in("data/f");
        tu_write_file(file, "unit data", 0600, 0, 0);
        free(file);

        char *cg = tu_strdupf("%s/system.slice/fdbrtest-%d.service", cgroup_root(), (int) getpid());
        char *slice = tu_strdupf("%s/system.slice", cgroup_root());
        (void) mkdir(slice, 0755);
        free(slice);
        ck_assert_msg(mkdir(cg, 0755) == 0, "mkdir %s: %s", cg, strerror(errno));
        *ret_cg = cg;
        return tu_strdupf("%s/cgroup.procs", cg);
}

static void unit_cgroup_remove(char *cg, char *procs) {
        /* the cgroup must be empty before it can go */
        for (int i = 0; i < 100 && rmdir(cg) < 0 && errno == EBUSY; i++)
                usleep(10000);
        ck_assert_int_eq(access(cg, F_OK), -1);
        free(cg);
        free(procs);
}

START_TEST(unit_subject) {
        tu_daemon_start(&D, unit_policy, NULL);
        char *cg, *procs = unit_cgroup(&cg);

        /* inside the unit: allowed; outside any unit: no unit= rule matches */
        run_in_cgroup(procs, &(struct unit_child) { procs, "data/f", 0 });
        run_in_cgroup(NULL, &(struct unit_child) { NULL, "data/f", EACCES });
        ck_assert(tu_log_has(&D, "deny", "unit=-", "data/f", NULL));
        unit_cgroup_remove(cg, procs);
        tu_daemon_stop(&D);
}
END_TEST

/* SO_PEERPIDFD pins the peer while its unit is looked up.  When it fails
 * for a peer that is gone (EINVAL on Linux 6.5-6.15, ESRCH), its pid may
 * already be another process's: no unit= rule may match then.  Only
 * ENOPROTOOPT means a kernel without it, where the pid alone is used. */
static const struct {
        const char *fault;
        int expect;
} pidfd_cases[] = {
        { "getsockopt:EINVAL:opt=77", EACCES },
        { "getsockopt:ESRCH:opt=77", EACCES },
        { "getsockopt:ENOPROTOOPT:opt=77", 0 },
};

START_TEST(unit_pidfd_failure) {
        struct tu_shim shim;
        tu_shim_setup(&shim, pidfd_cases[_i].fault);
        tu_shim_arm(&shim, true);
        tu_daemon_start_opts(&D, unit_policy, NULL, &shim.opts);
        tu_shim_check_loaded(&shim);
        char *cg, *procs = unit_cgroup(&cg);

        run_in_cgroup(procs, &(struct unit_child) { procs, "data/f", pidfd_cases[_i].expect });
        ck_assert_msg(shim.ctl->injected[FAULT_GETSOCKOPT] > 0, "SO_PEERPIDFD was never asked for");
        unit_cgroup_remove(cg, procs);
        tu_daemon_stop(&D);
        tu_shim_done(&shim);
}
END_TEST

/* ---- dir, device ----------------------------------------------------- */

static int child_types(void *arg) {
        int s = tu_connect(D.socket), fd = -1, st;
        TU_REQUIRE(s >= 0);

        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_WRITE, 0, "data/null", &fd);
        TU_REQUIRE(st == 0, "device with device: %d", st);
        struct stat sb;
        TU_REQUIRE(fstat(fd, &sb) == 0 && S_ISCHR(sb.st_mode));
        TU_REQUIRE(write(fd, "x", 1) == 1);
        close(fd);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "data/zero", NULL);
        TU_REQUIRE(st == EACCES, "device without device: %d", st);
        st = request_path(s, FDBR_OP_CHECK, FDBR_F_READ, 0, "data/zero", NULL);
        TU_REQUIRE(st == EACCES, "check device without device: %d", st);

        /* a directory fd, with dir granted: usable with openat */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, "data/tree", &fd);
        TU_REQUIRE(st == 0, "dir: %d", st);
        TU_REQUIRE(fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode));
        close(fd);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "data/nodir", NULL);
        TU_REQUIRE(st == EACCES, "dir without dir: %d", st);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, "data/nodir", NULL);
        TU_REQUIRE(st == EACCES, "DIRECTORY without dir: %d", st);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, "data/tree/file", NULL);
        TU_REQUIRE(st == ENOTDIR, "DIRECTORY on a file: %d", st);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_DIRECTORY, 0, "data/tree", NULL);
        TU_REQUIRE(st == EACCES, "DIRECTORY|WRITE without write: %d", st);
        close(s);
        return 0;
}

START_TEST(dir_and_device) {
        tu_daemon_start(&D,
                        "uid=65534 @DIR@/data/null read,write,device\n"
                        "uid=65534 @DIR@/data/zero read\n"
                        "uid=65534 @DIR@/data/tree dir\n"
                        "uid=65534 @DIR@/data/tree/** read,dir\n"
                        "uid=65534 @DIR@/data/nodir read\n", NULL);
        char *p;
        tu_mkdir(p = path_in("data"), 0700, 0, 0); free(p);
        ck_assert_int_eq(mknod(p = path_in("data/null"), S_IFCHR | 0600, makedev(1, 3)), 0); free(p);
        ck_assert_int_eq(mknod(p = path_in("data/zero"), S_IFCHR | 0600, makedev(1, 5)), 0); free(p);
        tu_mkdir(p = path_in("data/tree"), 0700, 0, 0); free(p);
        tu_write_file(p = path_in("data/tree/file"), "x", 0600, 0, 0); free(p);
        tu_mkdir(p = path_in("data/nodir"), 0700, 0, 0); free(p);
        tu_run_as(TU_NOBODY, TU_NOBODY, child_types, NULL);
        tu_daemon_stop(&D);
}
END_TEST

/* ---- follow ------------------------------------------------------------ */

static const char follow_policy[] =
        "any @DIR@/data/** read\n"
        "uid=65534 @DIR@/links/** read,follow\n"
        "uid=65534 @DIR@/out/** read,write,create\n"
        "uid=65534 @DIR@/wlinks/** write,create,follow\n"
        /* /proc is out of every policy's reach: a wildcard cannot name it */
        "uid=65534 /*/*/root/** read,follow\n";

static int child_follow(void *arg) {
        int s = tu_connect(D.socket), fd = -1, st;
        char buf[64] = "";
        TU_REQUIRE(s >= 0);

        /* a link to an allowed file is followed */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "links/good", &fd);
        TU_REQUIRE(st == 0, "good link: %d", st);
        TU_REQUIRE(read(fd, buf, sizeof buf - 1) == 7 && strncmp(buf, "public\n", 7) == 0);
        close(fd);
        /* through a directory link, and a chain of links */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "links/dir/public", NULL);
        TU_REQUIRE(st == 0, "dir link: %d", st);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "links/chain", NULL);
        TU_REQUIRE(st == 0, "chain: %d", st);
        /* the target must itself be allowed */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "links/bad", NULL);
        TU_REQUIRE(st == EACCES, "bad link: %d", st);
        st = request_path(s, FDBR_OP_CHECK, FDBR_F_READ, 0, "links/bad", NULL);
        TU_REQUIRE(st == EACCES, "check bad link: %d", st);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "links/baddir/key", NULL);
        TU_REQUIRE(st == EACCES, "bad dir link: %d", st);
        /* and for the whole access: the target is only readable */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_WRITE, 0, "wlinks/to-data", NULL);
        TU_REQUIRE(st == EACCES, "write through link to read-only: %d", st);
        /* NOFOLLOW refuses a final link even under follow */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_NOFOLLOW, 0, "links/good", NULL);
        TU_REQUIRE(st == ELOOP || st == EACCES, "nofollow: %d", st);
        /* but not a link earlier in the path */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_NOFOLLOW, 0, "links/dir/public", NULL);
        TU_REQUIRE(st == 0, "nofollow, dir link: %d", st);
        /* create through a directory link: the real place must allow create */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, "wlinks/outdir/new", &fd);
        TU_REQUIRE(st == 0, "create via link into out/: %d", st);
        close(fd);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, "wlinks/datadir/new", NULL);
        TU_REQUIRE(st == EACCES, "create via link into data/: %d", st);
        /* a dangling link is not created through */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, "wlinks/dangling", NULL);
        TU_REQUIRE(st == EACCES, "create through dangling link: %d", st);
        /* magic links are never followed, and /proc matches no rule at all */
        char magic[64];
        snprintf(magic, sizeof magic, "/proc/%d/root/etc/hostname", (int) getpid());
        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_READ, 0, magic, NULL);
        TU_REQUIRE(st == EACCES, "magic link: %d", st);
        close(s);
        return 0;
}

START_TEST(follow_rules) {
        char *p, *t;
        tu_daemon_start(&D, follow_policy, NULL);
        tu_mkdir(p = path_in("data"), 0700, 0, 0); free(p);
        tu_write_file(p = path_in("data/public"), "public\n", 0600, 0, 0); free(p);
        tu_mkdir(p = path_in("secret"), 0700, 0, 0); free(p);
        tu_write_file(p = path_in("secret/key"), "SECRET\n", 0600, 0, 0); free(p);
        tu_mkdir(p = path_in("out"), 0700, 0, 0); free(p);
        tu_mkdir(p = path_in("links"), 0700, 0, 0); free(p);
        tu_mkdir(p = path_in("wlinks"), 0700, 0, 0); free(p);

        static const char *const links[][2] = {
                { "links/good", "data/public" },   { "links/dir", "data" },
                { "links/chain", "links/good" },   { "links/bad", "secret/key" },
                { "links/baddir", "secret" },      { "wlinks/to-data", "data/public" },
                { "wlinks/outdir", "out" },        { "wlinks/datadir", "data" },
                { "wlinks/dangling", "out/never" },
        };
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                p = path_in(links[i][0]);
                t = path_in(links[i][1]);
                ck_assert_int_eq(symlink(t, p), 0);
                free(p);
                free(t);
        }
        tu_run_as(TU_NOBODY, TU_NOBODY, child_follow, NULL);

        struct stat st;
        ck_assert_int_eq(stat(p = path_in("out/new"), &st), 0); free(p);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);
        ck_assert_int_eq(access(p = path_in("data/new"), F_OK), -1); free(p);
        ck_assert_int_eq(access(p = path_in("out/never"), F_OK), -1); free(p);
        ck_assert(tu_log_has(&D, "deny", "links/bad", "real path not allowed", NULL));
        tu_daemon_stop(&D);
}
END_TEST

/* ---- the swap race ----------------------------------------------------- */

struct race {
        char dir[512];      /* swap/dir: a real directory or a symlink to the secret */
        char link[512];     /* swap/link: the other one */
        char req[512];      /* swap/dir/f */
        dev_t secret_dev;
        ino_t secret_ino;
        uint32_t flags;
        atomic_bool stop;
        unsigned swaps;
};

static void *swapper(void *arg) {
        struct race *r = arg;
        while (!atomic_load(&r->stop)) {
                if (renameat2(AT_FDCWD, r->dir, AT_FDCWD, r->link, RENAME_EXCHANGE) == 0)
                        r->swaps++;
        }
        return NULL;
}

static int child_race(void *arg) {
        struct race *r = arg;
        pthread_t t;
        unsigned ok = 0, refused = 0;
        int s = tu_connect(D.socket);
        TU_REQUIRE(s >= 0);
        TU_REQUIRE(pthread_create(&t, NULL, swapper, r) == 0);

        for (int i = 0; i < 4000; i++) {
                int fd = -1;
                int st = tu_request(s, FDBR_OP_OPEN, r->flags, 0, r->req, &fd);
                if (st == 0) {
                        struct stat sb;
                        TU_REQUIRE(fstat(fd, &sb) == 0);
                        TU_REQUIRE(!(sb.st_dev == r->secret_dev && sb.st_ino == r->secret_ino),
                                   "request %d returned the secret file", i);
                        close(fd);
                        ok++;
                } else {
                        TU_REQUIRE(st == EACCES || st == ENOENT || st == ELOOP, "status %d", st);
                        refused++;
                }
        }
        atomic_store(&r->stop, true);
        pthread_join(t, NULL);
        close(s);
        /* the race was real: both outcomes happened, and the names moved */
        TU_REQUIRE(ok > 0 && refused > 0, "ok %u refused %u", ok, refused);
        TU_REQUIRE(r->swaps > 100, "swaps %u", r->swaps);
        return 0;
}

static void race(uint32_t flags, bool follow) {
        tu_daemon_start(&D,
                        follow ? "uid=65534 @DIR@/swap/** read,follow\n" : "uid=65534 @DIR@/swap/** read\n",
                        NULL);
        char *p;
        tu_mkdir(p = path_in("secret"), 0700, 0, 0); free(p);
        tu_write_file(p = path_in("secret/f"), "SECRET", 0600, 0, 0);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0); free(p);

        /* the swap tree belongs to the unprivileged attacker */
        tu_mkdir(p = path_in("swap"), 0755, TU_NOBODY, TU_NOBODY); free(p);
        tu_mkdir(p = path_in("swap/dir"), 0755, TU_NOBODY, TU_NOBODY); free(p);
        tu_write_file(p = path_in("swap/dir/f"), "allowed", 0644, TU_NOBODY, TU_NOBODY); free(p);
        char *secret = path_in("secret");
        ck_assert_int_eq(symlink(secret, p = path_in("swap/link")), 0); free(p);
        ck_assert_int_eq(lchown(p = path_in("swap/link"), TU_NOBODY, TU_NOBODY), 0); free(p);
        free(secret);

        struct race *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert(r != MAP_FAILED);
        snprintf(r->dir, sizeof r->dir, "%s/swap/dir", D.dir);
        snprintf(r->link, sizeof r->link, "%s/swap/link", D.dir);
        snprintf(r->req, sizeof r->req, "%s/swap/dir/f", D.dir);
        r->secret_dev = st.st_dev;
        r->secret_ino = st.st_ino;
        r->flags = flags;
        tu_run_as(TU_NOBODY, TU_NOBODY, child_race, r);
        munmap(r, sizeof *r);
        tu_daemon_stop(&D);
}

START_TEST(race_follow) {
        race(FDBR_F_READ, true);
}
END_TEST

START_TEST(race_nofollow) {
        race(FDBR_F_READ, false);
}
END_TEST

/* ---- drop-ins, --check-policy, --explain --------------------------------- */

static int run_cmd(const char *const *argv, char **ret_out, char **ret_err) {
        char *dir = tu_mkdtemp();
        char *out = tu_strdupf("%s/out", dir), *err = tu_strdupf("%s/err", dir);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
                        _exit(125);
                execv(argv[0], (char **) argv);
                _exit(126);
        }
        int status = tu_wait(pid, 30000);
        struct tu_daemon fake = { .log = out };
        *ret_out = tu_daemon_log(&fake);
        fake.log = err;
        *ret_err = tu_daemon_log(&fake);
        tu_rm_rf(dir);
        free(dir);
        free(out);
        free(err);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

START_TEST(check_policy) {
        char *dir = tu_mkdtemp();
        char *main_p = tu_strdupf("%s/policy.conf", dir), *d = tu_strdupf("%s/policy.d", dir);
        char *a = tu_strdupf("%s/10-a.conf", d), *b = tu_strdupf("%s/20-b.conf", d);
        char *out, *err;

        tu_write_file(main_p, "include policy.d/*.conf\nany /srv/** read\n", 0644, 0, 0);
        tu_mkdir(d, 0755, 0, 0);
        tu_write_file(a, "# users\nuser=root /root/** read\n", 0644, 0, 0);
        tu_write_file(b, "any /srv/x wirte\nuser=no-such-user-here /x read\n", 0644, 0, 0);

        const char *const argv[] = { FDBRD_PATH, "--check-policy", "--policy", main_p, NULL };
        int st = run_cmd(argv, &out, &err);
        ck_assert_int_eq(st, 1);
        char *e1 = tu_strdupf("%s:1: unknown permission 'wirte'", b);
        char *e2 = tu_strdupf("%s:2: warning: unknown user 'no-such-user-here'", b);
        ck_assert_msg(strstr(err, e1) && strstr(err, e2), "stderr: %s", err);
        free(out); free(err); free(e1);

        tu_write_file(b, "any /srv/x write\n", 0644, 0, 0);
        st = run_cmd(argv, &out, &err);
        ck_assert_int_eq(st, 0);
        ck_assert_str_eq(err, "");
        /* success says what was read */
        ck_assert_str_eq(out, "policy OK: 3 rules from 3 files\n");
        free(out); free(err);

        /* warnings: a stale name, a drop-in the glob skips; --strict fails on them */
        tu_write_file(b, "any /srv/x write\nuser=no-such-user-here /x read\n", 0644, 0, 0);
        char *skipped = tu_strdupf("%s/70-www.cfg", d);
        tu_write_file(skipped, "any /www read\n", 0644, 0, 0);
        st = run_cmd(argv, &out, &err);
        ck_assert_int_eq(st, 0);
        ck_assert_str_eq(out, "policy OK: 4 rules from 3 files\n");
        e1 = tu_strdupf("%s:1: warning: %s not included (does not match *.conf)", main_p, skipped);
        ck_assert_msg(strstr(err, e1) && strstr(err, e2), "stderr: %s", err);
        free(out); free(err); free(e1);
        const char *const argv_strict[] = { FDBRD_PATH, "--check-policy", "--strict", "--policy", main_p, NULL };
        st = run_cmd(argv_strict, &out, &err);
        ck_assert_int_eq(st, 1);
        ck_assert_str_eq(out, "");
        ck_assert_msg(strstr(err, e2), "stderr: %s", err);
        free(out); free(err); free(e2);
        ck_assert_int_eq(unlink(skipped), 0);
        free(skipped);

        /* a policy file another user could change */
        tu_write_file(b, "any /srv/x write\n", 0664, 0, 4242);
        st = run_cmd(argv, &out, &err);
        ck_assert_int_eq(st, 1);
        e1 = tu_strdupf("%s: writable by its group (mode 0664)", b);
        ck_assert_msg(strstr(err, e1), "stderr: %s", err);
        free(out); free(err); free(e1);
        tu_write_file(b, "any /srv/x write\n", 0644, 0, 0);

        /* an invalid policy stops the daemon from starting, with the reason */
        tu_write_file(b, "any relative/x read\n", 0644, 0, 0);
        const char *const argv2[] = { FDBRD_PATH, "--policy", main_p, "--socket", "/nonexistent/x.sock", NULL };
        st = run_cmd(argv2, &out, &err);
        ck_assert_int_eq(st, 1);
        e1 = tu_strdupf("%s:1: pattern must be absolute", b);
        ck_assert_msg(strstr(err, e1), "stderr: %s", err);
        free(out); free(err); free(e1);

        /* a missing policy too */
        const char *const argv3[] = { FDBRD_PATH, "--policy", "/nonexistent/policy.conf", NULL };
        st = run_cmd(argv3, &out, &err);
        ck_assert_int_eq(st, 1);
        ck_assert_msg(strstr(err, "/nonexistent/policy.conf"), "stderr: %s", err);
        free(out); free(err);

        tu_rm_rf(dir);
        free(dir); free(main_p); free(d); free(a); free(b);
}
END_TEST

/* --explain: the subject, path and access asked about, the exit status,
 * and what the output (@DIR@: the policy's directory) must and must not
 * say, or the error output. */
static const struct explain_case {
        const char *subject, *path, *access;
        int status;
        const char *out[3];
        const char *not_out;
        const char *err;
} explain_cases[] = {
        { "user=nobody", "/srv/data/a.txt", "read,write", 0,
          { "@DIR@/policy.conf:1: any /srv/data/** read", "@DIR@/policy.conf:2:", "verdict: allow" }, NULL, NULL },
        /* the deny rule, through the user's group */
        { "user=nobody", "/srv/data/secret", "read", 1, { "deny rule at @DIR@/policy.conf:3" }, NULL, NULL },
        /* access not granted, and no rule */
        { "uid=4242", "/srv/data/a", "write", 1, { "not granted: write" }, NULL, NULL },
        { "uid=4242", "/etc/shadow", "read", 1, { "no rule matches" }, NULL, NULL },
        /* unit= in the subject */
        { "uid=4242,unit=app@3.service", "/srv/app/x", "read,create", 0, {}, NULL, NULL },
        /* any: only the rules for every client */
        { "any", "/srv/data/a", "write", 1, { "not granted: write" }, NULL, NULL },
        /* no path: the rules that apply to the subject, in file order */
        { "user=nobody", NULL, NULL, 0,
          { "@DIR@/policy.conf:1: any /srv/data/** read\n  @DIR@/policy.conf:2: user=nobody /srv/data/** write\n"
            "  @DIR@/policy.conf:3: group=nogroup /srv/data/secret deny\n" },
          "unit=app", NULL },
        /* errors */
        { "who=1", "/srv/app/x", "read", 2, {}, NULL, "unknown subject 'who'" },
        { "uid=1", "/srv/../x", "read", 2, {}, NULL, NULL },
};

START_TEST(explain) {
        char *dir = tu_mkdtemp();
        char *pol = tu_strdupf("%s/policy.conf", dir);
        tu_write_file(pol,
                      "any /srv/data/** read\n"
                      "user=nobody /srv/data/** write\n"
                      "group=nogroup /srv/data/secret deny\n"
                      "unit=app@*.service /srv/app/** read,create\n", 0644, 0, 0);

        for (size_t i = 0; i < ELEMENTSOF(explain_cases); i++) {
                const struct explain_case *c = &explain_cases[i];
                const char *const argv[] = { FDBRD_PATH, "--policy", pol, "--explain", c->subject, c->path,
                                             c->access, NULL };
                char *out, *err;
                ck_assert_msg(run_cmd(argv, &out, &err) == c->status, "%s %s: %s%s", c->subject, c->path, out, err);
                for (size_t k = 0; k < ELEMENTSOF(c->out) && c->out[k]; k++) {
                        _cleanup_free_ char *want = tu_subst_dir(c->out[k], dir);
                        ck_assert_msg(strstr(out, want), "%s %s: no '%s' in %s", c->subject, c->path, want, out);
                }
                ck_assert_msg(!c->not_out || !strstr(out, c->not_out), "%s: %s", c->subject, out);
                ck_assert_msg(!c->err || strstr(err, c->err), "%s: %s", c->subject, err);
                free(out);
                free(err);
        }
        tu_rm_rf(dir);
        free(dir);
        free(pol);
}
END_TEST

/* ---- reload ------------------------------------------------------------ */

static bool notify_until(const char *what, char *buf, size_t size) {
        for (;;) {
                int n = tu_daemon_notify(&D, buf, size - 1, 5000);
                if (n < 0)
                        return false;
                buf[n] = 0;
                if (strstr(buf, what))
                        return true;
        }
}

START_TEST(reload) {
        static const char *const args[] = { "--log-level", "info", NULL };
        char buf[1024], *p;
        tu_daemon_start(&D, "any @DIR@/a/** read\n", args);
        tu_mkdir(p = path_in("a"), 0755, 0, 0); free(p);
        tu_mkdir(p = path_in("b"), 0755, 0, 0); free(p);
        tu_write_file(p = path_in("a/f"), "a", 0644, 0, 0); free(p);
        tu_write_file(p = path_in("b/f"), "b", 0644, 0, 0); free(p);

        int s = tu_connect(D.socket);
        ck_assert_int_eq(request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "a/f", NULL), 0);
        ck_assert_int_eq(request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "b/f", NULL), EACCES);

        /* a valid new policy: swapped in, announced, used by the same connection */
        char *text = tu_subst_dir("include policy.d/*.conf\n", D.dir);
        tu_write_file(D.policy, text, 0644, 0, 0); free(text);
        tu_mkdir(p = path_in("policy.d"), 0755, 0, 0); free(p);
        text = tu_subst_dir("any @DIR@/b/** read\n", D.dir);
        tu_write_file(p = path_in("policy.d/b.conf"), text, 0644, 0, 0); free(p); free(text);
        ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
        ck_assert(notify_until("RELOADING=1", buf, sizeof buf));
        ck_assert(notify_until("READY=1", buf, sizeof buf));
        ck_assert_msg(strstr(buf, "STATUS=") && strstr(buf, "generation 2"), "%s", buf);
        ck_assert_int_eq(request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "a/f", NULL), EACCES);
        ck_assert_int_eq(request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "b/f", NULL), 0);
        ck_assert(tu_log_has(&D, "allow", "a/f", "gen=1", NULL));
        ck_assert(tu_log_has(&D, "allow", "b/f", "gen=2", NULL));

        /* an invalid one: refused, logged with its first error, old one kept */
        tu_write_file(p = path_in("policy.d/c.conf"), "any /x bogus\n", 0644, 0, 0);
        ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
        ck_assert(notify_until("READY=1", buf, sizeof buf));
        ck_assert_msg(strstr(buf, "generation 2"), "%s", buf);
        char *where = tu_strdupf("%s:1: unknown permission 'bogus'", p);
        ck_assert(tu_log_has(&D, "reload refused", "generation 2", where, NULL));
        free(where); free(p);
        ck_assert_int_eq(request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "b/f", NULL), 0);
        close(s);
        tu_daemon_stop(&D);
}
END_TEST

/* ---- journal records -------------------------------------------------- */

/* Plays journald in a private mount namespace: the daemon's structured
 * records arrive on a socket the test owns, and the host's journal (if
 * any) is untouched. */
START_TEST(journal_fields) {
        int j = tu_daemon_start_journal(&D, "any /nothing/** read\n", 1 << 20);
        int s = tu_connect(D.socket);
        ck_assert_int_ge(s, 0);
        ck_assert_int_eq(tu_request(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "/etc/sh\nadow", NULL), EACCES);
        close(s);

        char buf[65536];
        size_t len = 0;
        bool found = false;
        for (int i = 0; i < 50 && !found; i++) {
                ssize_t n = recv(j, buf, sizeof buf - 1, MSG_DONTWAIT);
                if (n < 0) {
                        usleep(20000);
                        continue;
                }
                len = (size_t) n;
                if (memmem(buf, len, "FDBROKER_VERDICT=deny", 21))
                        found = true;
        }
        ck_assert_msg(found, "no structured record received");
        /* the datagram holds binary fields: search it with memmem */
#define HAS(s) ck_assert_msg(memmem(buf, len, s, strlen(s)), "missing %s", s)
        HAS("PRIORITY=5\n");
        HAS("SYSLOG_IDENTIFIER=fdbrokerd\n");
        HAS("FDBROKER_UID=0\n");
        HAS("FDBROKER_OP=OPEN\n");
        HAS("FDBROKER_STATUS=EACCES\n");
        HAS("FDBROKER_ERRNO=13\n");
        HAS("FDBROKER_RULE=\n");
        HAS("FDBROKER_GENERATION=1\n");
        /* a path with a newline travels escaped, as in the message, with
         * its real length */
        HAS("FDBROKER_PATH=/etc/sh\\nadow\n");
        HAS("FDBROKER_PATH_BYTES=12\n");
        HAS("MESSAGE=deny uid=0");
#undef HAS
        close(j);
        tu_daemon_stop(&D);
}
END_TEST

int main(void) {
        Suite *s = suite_create("daemon-policy");
        TCase *tc = tcase_create("policy");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, unit_subject);
        tcase_add_loop_test(tc, unit_pidfd_failure, 0, (int) ELEMENTSOF(pidfd_cases));
        tcase_add_test(tc, dir_and_device);
        tcase_add_test(tc, follow_rules);
        tcase_add_test(tc, race_follow);
        tcase_add_test(tc, race_nofollow);
        tcase_add_test(tc, check_policy);
        tcase_add_test(tc, explain);
        tcase_add_test(tc, reload);
        tcase_add_test(tc, journal_fields);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
