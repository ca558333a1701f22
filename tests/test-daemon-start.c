/* SPDX-License-Identifier: MIT */
/* How fdbrokerd starts and stops: its socket file, signals, a kernel
 * without openat2. */

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"

static struct tu_daemon D;

START_TEST(socket_file) {
        struct stat st;
        tu_daemon_start(&D, "any /nothing read\n", NULL);
        ck_assert_int_eq(lstat(D.socket, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0666);
        tu_daemon_stop(&D); /* checks exit 0 and that the file is gone */
}
END_TEST

START_TEST(sigint_stops) {
        struct stat st;
        tu_daemon_start(&D, "any /nothing read\n", NULL);
        ck_assert_int_eq(kill(D.pid, SIGINT), 0);
        int status = tu_wait(D.pid, 10000);
        D.pid = -1;
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        ck_assert_int_eq(lstat(D.socket, &st), -1);
        tu_daemon_stop(&D);
}
END_TEST

/* Spawns a daemon on the scratch directory of D with socket path sock,
 * and returns its exit status (it is expected to exit by itself). */
static int spawn_expect_exit(const char *sock) {
        char *saved = D.socket;
        D.socket = (char *) sock;
        pid_t pid = tu_daemon_spawn(&D, NULL);
        D.socket = saved;
        int status = tu_wait(pid, 10000);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

START_TEST(socket_in_use_and_stale) {
        struct stat st;
        tu_daemon_start(&D, "any /nothing read\n", NULL);

        /* a second broker on a live socket refuses, and leaves it alone */
        ck_assert_int_eq(spawn_expect_exit(D.socket), 1);
        ck_assert(tu_log_has(&D, D.socket, "another broker is listening", NULL));
        int fd = tu_connect(D.socket);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(tu_request(fd, FDBR_OP_PING, 0, 0, NULL, NULL), 0);
        close(fd);

        /* a file that is not a socket is never replaced */
        char *plain = tu_strdupf("%s/plain", D.dir);
        tu_write_file(plain, "keep me", 0644, 0, 0);
        ck_assert_int_eq(spawn_expect_exit(plain), 1);
        ck_assert_int_eq(lstat(plain, &st), 0);
        ck_assert(S_ISREG(st.st_mode));

        /* a stale socket (nobody listening) is replaced */
        char *stale = tu_strdupf("%s/stale.sock", D.dir);
        int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, stale);
        ck_assert_int_eq(bind(s, (struct sockaddr *) &sa, sizeof sa), 0);
        close(s);
        char *saved = D.socket;
        D.socket = stale;
        pid_t pid = tu_daemon_spawn(&D, NULL);
        for (int i = 0; i < 500 && (fd = tu_connect(stale)) < 0; i++)
                usleep(10000);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(tu_request(fd, FDBR_OP_PING, 0, 0, NULL, NULL), 0);
        close(fd);
        kill(pid, SIGTERM);
        int status = tu_wait(pid, 10000);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        D.socket = saved;
        free(plain);
        free(stale);
        tu_daemon_stop(&D);
}
END_TEST

START_TEST(parent_created) {
        struct stat st;
        tu_daemon_start(&D, "any /nothing read\n", NULL);
        char *sock = tu_strdupf("%s/run/deeper/fdbroker.sock", D.dir);
        char *saved = D.socket;
        D.socket = sock;
        pid_t pid = tu_daemon_spawn(&D, NULL);
        int fd = -1;
        for (int i = 0; i < 500 && (fd = tu_connect(sock)) < 0; i++)
                usleep(10000);
        ck_assert_int_ge(fd, 0);
        close(fd);
        char *parent = tu_strdupf("%s/run/deeper", D.dir);
        ck_assert_int_eq(stat(parent, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        kill(pid, SIGTERM);
        tu_wait(pid, 10000);
        ck_assert_int_eq(lstat(sock, &st), -1);
        D.socket = saved;
        free(sock);
        free(parent);
        tu_daemon_stop(&D);
}
END_TEST

/* A seccomp filter that makes openat2 look absent (ENOSYS), as on a kernel
 * before 5.6 or under a container runtime that does not know it. */
static void deny_openat2(void) {
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof filter / sizeof filter[0], .filter = filter };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
                _exit(125);
}

START_TEST(no_openat2) {
        struct stat st;
        tu_daemon_start(&D, "any /nothing read\n", NULL);
        char *sock = tu_strdupf("%s/other.sock", D.dir);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int log = open(D.log, O_WRONLY | O_APPEND);
                dup2(log, 2);
                deny_openat2();
                execl(FDBRD_PATH, FDBRD_PATH, "--socket", sock, "--policy", D.policy, NULL);
                _exit(126);
        }
        int status = tu_wait(pid, 10000);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 1);
        ck_assert(tu_log_has(&D, "openat2", "refusing", NULL));
        /* it served nothing: no socket was made */
        ck_assert_int_eq(lstat(sock, &st), -1);
        free(sock);
        tu_daemon_stop(&D);
}
END_TEST

START_TEST(usage_errors) {
        static const char *const bad[][4] = {
                { "--max-clients", "0" }, { "--max-inflight", "-3" }, { "--log-level", "loud" },
                { "--bogus" }, { "extra-argument" }, { "--explain", "uid=1" },
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                pid_t pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        int devnull = open("/dev/null", O_WRONLY);
                        dup2(devnull, 2);
                        execl(FDBRD_PATH, FDBRD_PATH, bad[i][0], bad[i][1], bad[i][2], NULL);
                        _exit(126);
                }
                int status = tu_wait(pid, 10000);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s: status 0x%x", bad[i][0], status);
        }
}
END_TEST

int main(void) {
        Suite *s = suite_create("daemon-start");
        TCase *tc = tcase_create("start");
        tcase_add_test(tc, socket_file);
        tcase_add_test(tc, sigint_stops);
        tcase_add_test(tc, socket_in_use_and_stale);
        tcase_add_test(tc, parent_created);
        tcase_add_test(tc, no_openat2);
        tcase_add_test(tc, usage_errors);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
