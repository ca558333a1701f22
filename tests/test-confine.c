/* SPDX-License-Identifier: MIT */
/* The broker confines itself once serving: four capabilities in every set,
 * no_new_privs, a system-call filter; requests and reloads still work, and
 * started unprivileged it says what it cannot do. */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"

#define NOBODY 65534
/* CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER */
#define FOUR_CAPS 0xfULL

static struct tu_daemon D;

/* A field of /proc/PID/status as a number (hexadecimal for Cap*), or
 * ~0 when absent. */
static unsigned long long status_field(pid_t pid, const char *key) {
        char path[64], line[256];
        unsigned long long v = ~0ULL;
        size_t klen = strlen(key);

        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof line, f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':')
                        v = strtoull(line + klen + 1, NULL, strncmp(key, "Cap", 3) == 0 ? 16 : 10);
        fclose(f);
        return v;
}

static char *read_file(const char *path) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        FILE *m = open_memstream(&buf, &size);
        ck_assert_ptr_nonnull(m);
        for (int c; (c = fgetc(f)) != EOF;)
                fputc(c, m);
        fclose(f);
        fclose(m);
        return buf;
}

/* Waits until the log of a daemon has a line containing text. */
static bool log_within(const char *log_path, const char *text, int timeout_ms) {
        for (long long end = tu_now_ms() + timeout_ms;; usleep(10 * 1000)) {
                char *s = read_file(log_path);
                bool found = s && strstr(s, text);
                free(s);
                if (found)
                        return true;
                if (tu_now_ms() > end)
                        return false;
        }
}

START_TEST(capabilities_dropped) {
        tu_daemon_start(&D, "any @DIR@/data/** read\n", NULL);

        ck_assert_uint_eq(status_field(D.pid, "CapEff"), FOUR_CAPS);
        ck_assert_uint_eq(status_field(D.pid, "CapPrm"), FOUR_CAPS);
        ck_assert_uint_eq(status_field(D.pid, "CapInh"), FOUR_CAPS);
        ck_assert_uint_eq(status_field(D.pid, "CapBnd"), FOUR_CAPS);
        ck_assert_uint_eq(status_field(D.pid, "CapAmb"), 0);
        ck_assert_uint_eq(status_field(D.pid, "NoNewPrivs"), 1);
        ck_assert_uint_eq(status_field(D.pid, "Seccomp"), 2);
        tu_daemon_stop(&D);
}
END_TEST

struct create_args {
        const char *socket;
        const char *path;
};

static int create_as_client(void *arg) {
        const struct create_args *a = arg;
        int s = tu_connect(a->socket);
        TU_REQUIRE(s >= 0, "connect: %s", strerror(-s));
        int fd = -1;
        int st = tu_request(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0600, a->path, &fd);
        TU_REQUIRE(st == 0 && fd >= 0, "create: status %d", st);
        TU_REQUIRE(write(fd, "x", 1) == 1);
        close(fd);
        close(s);
        return 0;
}

/* What the confined broker is for still works: reading a root-only file,
 * creating one owned by the client (fchown under CAP_CHOWN), re-reading
 * the policy on SIGHUP; and no call of all that was refused. */
START_TEST(confined_still_serves) {
        tu_daemon_start(&D, "any @DIR@/data/f read\nany @DIR@/data/out/** read,write,create\n", NULL);
        char *data = tu_strdupf("%s/data", D.dir), *f = tu_strdupf("%s/f", data), *out = tu_strdupf("%s/out", data);
        char *created = tu_strdupf("%s/new", out), *g = tu_strdupf("%s/g", data);
        ck_assert_int_eq(mkdir(data, 0700), 0);
        ck_assert_int_eq(mkdir(out, 0700), 0);
        tu_write_file(f, "secret", 0600, 0, 0);
        tu_write_file(g, "later", 0600, 0, 0);

        int s = tu_connect(D.socket), fd = -1;
        ck_assert_int_ge(s, 0);
        ck_assert_int_eq(tu_request(s, FDBR_OP_OPEN, FDBR_F_READ, 0, f, &fd), 0);
        close(fd);

        tu_run_as(NOBODY, NOBODY, create_as_client, &(struct create_args) { D.socket, created });
        struct stat st;
        ck_assert_int_eq(stat(created, &st), 0);
        ck_assert_uint_eq(st.st_uid, NOBODY);
        ck_assert_uint_eq(st.st_gid, NOBODY);

        /* g is not in the policy until the reload. */
        ck_assert_int_eq(tu_request(s, FDBR_OP_OPEN, FDBR_F_READ, 0, g, NULL), EACCES);
        char *text = tu_subst_dir("any @DIR@/data/* read\n", D.dir);
        tu_write_file(D.policy, text, 0644, 0, 0);
        ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
        ck_assert(log_within(D.log, "policy reloaded", 10000));
        ck_assert_int_eq(tu_request(s, FDBR_OP_OPEN, FDBR_F_READ, 0, g, &fd), 0);
        close(fd);
        close(s);

        ck_assert_msg(!tu_log_has(&D, "seccomp", NULL), "a system call was refused:\n%s", tu_daemon_log(&D));
        tu_daemon_stop(&D);
        free(text);
        free(data), free(f), free(out), free(created), free(g);
}
END_TEST

/* Started as nobody: a warning that nothing beyond nobody's own access can
 * be granted, and still no_new_privs and the filter. */
START_TEST(unprivileged_warns) {
        char *dir = tu_mkdtemp();
        ck_assert_int_eq(chmod(dir, 0755), 0);
        char *policy = tu_strdupf("%s/policy.conf", dir), *run = tu_strdupf("%s/run", dir), *sock = tu_strdupf("%s/s", run);
        char *log = tu_strdupf("%s/log", dir);
        tu_write_file(policy, "any /nothing read\n", 0644, 0, 0);
        ck_assert_int_eq(mkdir(run, 0755), 0);
        ck_assert_int_eq(chown(run, NOBODY, NOBODY), 0);

        /* nobody may not reach the build tree (a clone under /root). */
        char *daemon = tu_public_copy(FDBRD_PATH);

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || setgroups(0, NULL) < 0 ||
                    setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        _exit(127);
                unsetenv("NOTIFY_SOCKET");
                execl(daemon, daemon, "--socket", sock, "--policy", policy, (char *) NULL);
                _exit(127);
        }
        bool warned = log_within(log, "can grant nothing beyond the starting user's own access", 10000);
        bool serving = log_within(log, "serving", 10000);
        unsigned long long nnp = status_field(pid, "NoNewPrivs"), filter = status_field(pid, "Seccomp");
        kill(pid, SIGTERM);
        int status = tu_wait(pid, 10000);
        char *text = read_file(log);
        ck_assert_msg(warned && serving, "log:\n%s", text);
        ck_assert_uint_eq(nnp, 1);
        ck_assert_uint_eq(filter, 2);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(text);
        tu_rm_rf(dir);
        free(dir);
        free(policy), free(run), free(sock), free(log), free(daemon);
}
END_TEST

int main(void) {
        if (geteuid() != 0) {
                fprintf(stderr, "test-confine: needs root\n");
                return 77;
        }
        Suite *s = suite_create("confine");
        TCase *tc = tcase_create("confine");
        tcase_add_test(tc, capabilities_dropped);
        tcase_add_test(tc, confined_still_serves);
        tcase_add_test(tc, unprivileged_warns);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
