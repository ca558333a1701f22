/* SPDX-License-Identifier: MIT */
/* fdbroker run against a real fdbrokerd: unmodified programs, run by an
 * unprivileged user, get from the broker what the policy grants them and
 * nothing else (security property 7).  The data tree is root-only, so a
 * read that succeeds is one CMD could not have made by itself; own.txt is
 * CMD's to read but the policy denies it, which tells the fallback to
 * CMD's own rights apart from the broker's answer. */

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
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "testutil.h"

static const char policy_text[] =
        "any @DIR@/data/** read\n"
        "any @DIR@/data/sub dir\n"
        "any @DIR@/data dir\n"
        "any @DIR@/data/denied.txt deny\n"
        "any @DIR@/data/own.txt deny\n"
        "uid=65534 @DIR@/data/out/** read,write,create,delete,dir\n"
        "uid=65534 @DIR@/data/out dir\n";

static struct tu_daemon D;

/* What the unprivileged CMDs run: copies of the build tree's programs and
 * of the example's script, which those users may not reach where they
 * are (a clone under /root, mode 0700).  Made once, in the parent
 * process, which removes them at its exit. */
static const char *cli, *helper, *helper_static = "", *sandbox_sh;

static void copy_programs(void) {
        if (cli)
                return;
        cli = tu_cli_path();
        helper = tu_public_copy(RUN_HELPER);
        if (RUN_HELPER_STATIC[0])
                helper_static = tu_public_copy(RUN_HELPER_STATIC);
        sandbox_sh = tu_public_copy(SANDBOX_SH);
}

static char *P(const char *rel) {
        return tu_strdupf("%s/%s", D.dir, rel);
}

static void setup(void) {
        tu_daemon_start(&D, policy_text, NULL);
        _cleanup_free_ char *data = P("data"), *pub = P("data/public.txt"), *den = P("data/denied.txt"),
                            *own = P("data/own.txt"), *sub = P("data/sub"), *subf = P("data/sub/file.txt"),
                            *out = P("data/out"), *mine = P("mine"), *minef = P("mine/file.txt");
        /* Searchable, not readable: CMD can chdir there and name files, not
         * list or read them. */
        tu_mkdir(data, 0711, 0, 0);
        tu_write_file(pub, "public data\n", 0600, 0, 0);
        tu_write_file(den, "SECRET\n", 0600, 0, 0);
        tu_write_file(own, "own data\n", 0644, 0, 0);
        tu_mkdir(sub, 0700, 0, 0);
        tu_write_file(subf, "sub file\n", 0600, 0, 0);
        tu_mkdir(out, 0700, 0, 0);
        tu_mkdir(mine, 0755, TU_NOBODY, TU_NOBODY);
        tu_write_file(minef, "mine\n", 0644, TU_NOBODY, TU_NOBODY);
}

static void teardown(void) {
        tu_daemon_stop(&D);
}

/* ---- running fdbroker run as the unprivileged user ---------------------- */

/* A kernel without what run needs, as a filter of the test's own shows it
 * to fdbroker run. */
enum deny {
        DENY_NONE,
        DENY_SECCOMP_ENOSYS, /* seccomp(2) unknown */
        DENY_SECCOMP_EINVAL, /* NEW_LISTENER unknown */
        DENY_ADDFD_EINVAL,   /* SECCOMP_IOCTL_NOTIF_ADDFD rejects ADDFD_FLAG_SEND */
};

struct job {
        const char *opts[4];  /* between "run" and "--" */
        const char *cmd[16];  /* CMD and its arguments */
        const char *socket;   /* NULL: the daemon's */
        bool direct;          /* CMD alone, without fdbroker run */
        bool sandbox;         /* fdbroker run inside docs/examples/bubblewrap */
        enum deny deny;       /* what the kernel seems to lack */
        int want_status;
        const char *want_out; /* exact stdout, or NULL */
        const char *want_err; /* a substring of stderr, or NULL */
};

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* Installed with prctl(), which the filter leaves alone: then seccomp(2),
 * or the ADDFD ioctl, fails as on a kernel without it.  args[1] is
 * seccomp()'s flags, or the ioctl's request (its low word, little-endian). */
static void deny_install(enum deny deny) {
#ifdef TEST_AUDIT_ARCH
        uint32_t nr = deny == DENY_ADDFD_EINVAL ? SYS_ioctl : SYS_seccomp;
        struct sock_filter prog[] = {
                /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 0, 4),
                /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 2),
                /* 4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
                /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) SECCOMP_IOCTL_NOTIF_ADDFD, 1, 0),
                /* 6 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                /* 7 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (deny == DENY_SECCOMP_ENOSYS ? ENOSYS : EINVAL)),
        };
        if (deny == DENY_SECCOMP_ENOSYS)
                prog[4] = (struct sock_filter) BPF_STMT(BPF_JMP | BPF_JA, 2);
        else if (deny == DENY_SECCOMP_EINVAL)
                prog[5] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SECCOMP_FILTER_FLAG_NEW_LISTENER, 1, 0);
        struct sock_fprog fprog = { .len = ELEMENTSOF(prog), .filter = prog };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0)
                _exit(126);
#else
        (void) deny;
        _exit(126);
#endif
}

static int child_job(void *arg) {
        const struct job *j = arg;
        const char *argv[40] = { cli, "--socket", j->socket ? j->socket : D.socket, "run" };
        size_t n = 4;
        /* Inside the sandbox the socket is where fdbroker looks by
         * default; sandbox.sh binds it there. */
        if (j->sandbox) {
                const char *sb[] = { sandbox_sh, "--socket", D.socket, "--", cli, "run" };
                memcpy(argv, sb, sizeof sb);
                n = ELEMENTSOF(sb);
        }
        char out[4096], err[4096];
        int o[2], e[2];

        if (j->direct)
                n = j->sandbox ? 4 : 0;
        else
                for (size_t i = 0; i < ELEMENTSOF(j->opts) && j->opts[i]; i++)
                argv[n++] = j->opts[i];
        if (!j->direct)
                argv[n++] = "--";
        for (size_t i = 0; i < ELEMENTSOF(j->cmd) && j->cmd[i]; i++)
                argv[n++] = j->cmd[i];
        /* A direct CMD is written over the start of the array. */
        argv[n] = NULL;

        TU_REQUIRE(pipe2(o, O_CLOEXEC) == 0 && pipe2(e, O_CLOEXEC) == 0);
        pid_t pid = fork();
        TU_REQUIRE(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY);
                dup2(null, 0);
                dup2(o[1], 1);
                dup2(e[1], 2);
                if (j->sandbox)
                        setenv("FDBROKER", cli, 1);
                if (j->deny != DENY_NONE)
                        deny_install(j->deny);
                execv(argv[0], (char **) argv);
                _exit(127);
        }
        close(o[1]);
        close(e[1]);
        tu_read_all(o[0], out, sizeof out);
        tu_read_all(e[0], err, sizeof err);
        close(o[0]);
        close(e[0]);
        int st = tu_wait(pid, 50000);
        int status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;

        TU_REQUIRE(status == j->want_status, "%s: status %d, want %d; out '%s' err '%s'", j->cmd[0], status,
                   j->want_status, out, err);
        if (j->want_out)
                TU_REQUIRE(strcmp(out, j->want_out) == 0, "%s: out '%s', want '%s'; err '%s'", j->cmd[0], out,
                           j->want_out, err);
        if (j->want_err)
                TU_REQUIRE(strstr(err, j->want_err), "%s: err '%s', want '%s'", j->cmd[0], err, j->want_err);
        return 0;
}

static void run_job(const struct job *j) {
        tu_run_as(TU_NOBODY, TU_NOBODY, child_job, (void *) j);
}

static bool have_static(void) {
        if (helper_static[0])
                return true;
        fprintf(stderr, "test-run: no static toolchain: the static-binary case is skipped\n");
        return false;
}

/* ---- tests -------------------------------------------------------------- */

/* A file only the broker can read, read by plain cat. */
START_TEST(cat_brokered) {
        _cleanup_free_ char *pub = P("data/public.txt");
        /* Without run, the user cannot read it. */
        run_job(&(struct job) { .direct = true, .cmd = { "/bin/cat", pub }, .want_status = 1,
                                .want_err = "Permission denied" });
        run_job(&(struct job) { .cmd = { "/bin/cat", pub }, .want_status = 0, .want_out = "public data\n" });
}
END_TEST

/* A policy refusal continues the call with CMD's own rights: own.txt
 * (readable by everyone, denied by policy, so the broker cannot have
 * served it) is read; denied.txt (root's, denied) stays EACCES. */
START_TEST(fallback_own_rights) {
        _cleanup_free_ char *own = P("data/own.txt"), *den = P("data/denied.txt");
        run_job(&(struct job) { .cmd = { "/bin/cat", own }, .want_status = 0, .want_out = "own data\n" });
        run_job(&(struct job) { .cmd = { helper, "cat", den }, .want_status = 1, .want_out = "ERRNO EACCES\n" });
}
END_TEST

/* --no-fallback: a refusal is EACCES even where CMD's own rights would do. */
START_TEST(no_fallback) {
        if (!have_static())
                return;
        _cleanup_free_ char *own = P("data/own.txt"), *pub = P("data/public.txt");
        run_job(&(struct job) { .opts = { "--no-fallback" },
                                .cmd = { helper_static, "cat", own },
                                .want_status = 1,
                                .want_out = "ERRNO EACCES\n" });
        run_job(&(struct job) { .opts = { "--no-fallback" },
                                .cmd = { helper_static, "cat", pub },
                                .want_status = 0,
                                .want_out = "public data\n" });
}
END_TEST

START_TEST(exit_status) {
        run_job(&(struct job) { .cmd = { "/bin/sh", "-c", "exit 7" }, .want_status = 7 });
        run_job(&(struct job) { .cmd = { "/bin/sh", "-c", "kill -TERM $$" }, .want_status = 128 + SIGTERM });
        run_job(&(struct job) { .cmd = { "/nonexistent/cmd" }, .want_status = 127, .want_err = "/nonexistent/cmd" });
}
END_TEST

/* No broker: refused before CMD runs, exit 3, and a message that says so. */
START_TEST(unreachable) {
        _cleanup_free_ char *sock = P("no-such.sock"), *flag = P("mine/ran");
        run_job(&(struct job) { .socket = sock,
                                .cmd = { "/bin/touch", flag },
                                .want_status = 3,
                                .want_err = "cannot reach broker" });
        ck_assert_int_eq(access(flag, F_OK), -1);
}
END_TEST

START_TEST(static_binary) {
        if (!have_static())
                return;
        _cleanup_free_ char *pub = P("data/public.txt");
        run_job(&(struct job) { .cmd = { helper_static, "cat", pub }, .want_status = 0, .want_out = "public data\n" });
        run_job(&(struct job) { .cmd = { helper_static, "threads", pub, "public data\n", "50" },
                                .want_status = 0 });
}
END_TEST

/* 8 threads opening at once, each call answered with its own file. */
START_TEST(threads8) {
        _cleanup_free_ char *pub = P("data/public.txt");
        run_job(&(struct job) { .cmd = { helper, "threads", pub, "public data\n", "200" },
                                .want_status = 0,
                                .want_out = "bad 0 of 1600\n" });
}
END_TEST

/* The filter and the supervisor follow fork and exec: a shell pipeline,
 * coreutils, python3. */
START_TEST(fork_exec) {
        _cleanup_free_ char *pub = P("data/public.txt"), *sub = P("data/sub"), *script = NULL, *py = NULL;
        script = tu_strdupf("cat %s | /bin/cat; (exec /bin/cat %s/file.txt) && ls %s && wc -c < %s", pub, sub, sub,
                            pub);
        run_job(&(struct job) { .cmd = { "/bin/sh", "-c", script },
                                .want_status = 0,
                                .want_out = "public data\nsub file\nfile.txt\n12\n" });
        if (access("/usr/bin/python3", X_OK) == 0) {
                py = tu_strdupf("import os\n"
                                "print(open('%s').read(), end='')\n"
                                "print(os.listdir('%s'))\n",
                                pub, sub);
                run_job(&(struct job) { .cmd = { "/usr/bin/python3", "-S", "-c", py },
                                        .want_status = 0,
                                        .want_out = "public data\n['file.txt']\n" });
        }
}
END_TEST

/* Relative paths against CMD's cwd, dirfd-relative openat, "." and ".."
 * removed, O_CLOEXEC as asked. */
START_TEST(relative_and_dirfd) {
        _cleanup_free_ char *data = P("data");
        run_job(&(struct job) { .cmd = { helper, "relative", data, "public.txt", "sub", "public data\n" },
                                .want_status = 0,
                                .want_out = "ok\n" });
}
END_TEST

/* /proc works as CMD's own and never reaches the broker. */
START_TEST(proc_untouched) {
        run_job(&(struct job) { .cmd = { helper, "proc" }, .want_status = 0, .want_out = "ok\n" });
        ck_assert_msg(!tu_log_has(&D, "/proc", NULL), "a /proc path reached the broker");
}
END_TEST

START_TEST(io_uring_refused) {
        run_job(&(struct job) { .cmd = { helper, "iouring" }, .want_status = 0, .want_out = "ok\n" });
}
END_TEST

/* Property 7: a thread of CMD rewrites the path while the supervisor reads
 * it.  Whatever mixture is read, only the broker's answer for a path it
 * checked, or the kernel's answer to CMD, comes back: never the content of
 * denied.txt, which the broker could read but the policy refuses. */
START_TEST(race_path_buffer) {
        _cleanup_free_ char *pub = P("data/public.txt"), *den = P("data/denied.txt");
        run_job(&(struct job) { .cmd = { helper, "race", pub, "public data\n", den, "3000" }, .want_status = 0 });
        if (helper_static[0])
                run_job(&(struct job) { .cmd = { helper_static, "race", pub, "public data\n", den, "3000" },
                                        .want_status = 0 });
}
END_TEST

/* Property 7: the dirfd number is dup2()ed over and closed by another
 * thread during openat(): the answer is the broker's for the directory it
 * was when read, or CMD's own. */
START_TEST(race_dirfd) {
        _cleanup_free_ char *sub = P("data/sub"), *mine = P("mine");
        run_job(&(struct job) { .cmd = { helper, "dirfd", sub, "sub file\n", mine, "mine\n", "file.txt", "3000" },
                                .want_status = 0 });
}
END_TEST

/* CMD's children die in the middle of their calls, again and again: the
 * supervisor keeps serving, and the exit status is CMD's. */
START_TEST(fork_kill) {
        _cleanup_free_ char *pub = P("data/public.txt");
        run_job(&(struct job) { .cmd = { helper, "forkkill", pub, "public data\n", "100" },
                                .want_status = 0,
                                .want_out = "ok\n" });
}
END_TEST

/* Creation through the broker: the new file is the user's, and EEXIST is
 * the broker's answer, not a fallback. */
START_TEST(create_file) {
        _cleanup_free_ char *f = P("data/out/new.txt");
        run_job(&(struct job) { .cmd = { helper, "create", f }, .want_status = 0, .want_out = "ok\n" });
        struct stat st;
        ck_assert_int_eq(stat(f, &st), 0);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);
        run_job(&(struct job) { .cmd = { helper, "create", f }, .want_status = 1, .want_out = "ERRNO EEXIST\n" });
}
END_TEST

/* Ops 4-9 (stat, readlink, mkdir, unlink, rmdir, rename) through coreutils.
 * A broker that predates them answers ENOSYS: the calls then run as CMD's
 * own, which inside data/out is EACCES, and the test says it was skipped. */
START_TEST(fs_ops) {
        _cleanup_free_ char *out = P("data/out"), *f = P("data/out/f"), *l = P("data/out/l"), *script = NULL;
        tu_write_file(f, "f\n", 0644, TU_NOBODY, TU_NOBODY);
        ck_assert_int_eq(symlink("f", l), 0);

        int s = tu_connect_ok(D.socket);
        int st = tu_request(s, FDBR_OP_STAT, 0, 0, f, NULL);
        close(s);
        if (st == EINVAL) {
                fprintf(stderr, "test-run: fs_ops skipped: the broker predates STAT\n");
                return;
        }
        ck_assert_int_eq(st, 0);

        /* chdir(2) is not brokered: absolute paths throughout. */
        script = tu_strdupf("O=%s; stat -c %%s $O/f && readlink $O/l && mkdir $O/d && mv $O/f $O/d/g && "
                            "rm $O/d/g $O/l && rmdir $O/d && ls $O",
                            out);
        run_job(&(struct job) { .cmd = { "/bin/sh", "-c", script }, .want_status = 0, .want_out = "2\nf\n" });
}
END_TEST

/* bwrap, and an unprivileged user namespace for it, as the user. */
static int child_bwrap_works(void *arg) {
        (void) arg;
        pid_t pid = fork();
        TU_REQUIRE(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                dup2(null, 1);
                dup2(null, 2);
                execlp("bwrap", "bwrap", "--ro-bind", "/", "/", "--unshare-user", "true", (char *) NULL);
                _exit(127);
        }
        int st = tu_wait(pid, 20000);
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static bool have_bwrap(void) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0 ||
                    setresuid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0)
                        _exit(1);
                _exit(child_bwrap_works(NULL));
        }
        int st = tu_wait(pid, 30000);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return true;
        fprintf(stderr, "test-run: bwrap missing or no unprivileged user namespaces: the sandbox case is skipped\n");
        return false;
}

/* Inside the bubblewrap example, where the data does not exist at all:
 * cat alone finds nothing, under fdbroker run it gets what the policy
 * grants, and still nothing else. */
START_TEST(bubblewrap_sandbox) {
        if (!have_bwrap())
                return;
        _cleanup_free_ char *pub = P("data/public.txt"), *den = P("data/denied.txt"), *sub = P("data/sub"),
                            *script = NULL;
        run_job(&(struct job) { .sandbox = true, .direct = true, .cmd = { "cat", pub }, .want_status = 1,
                                .want_err = "No such file or directory" });
        run_job(&(struct job) { .sandbox = true, .cmd = { "cat", pub }, .want_status = 0,
                                .want_out = "public data\n" });
        run_job(&(struct job) { .sandbox = true, .cmd = { "cat", den }, .want_status = 1,
                                .want_err = "No such file or directory" });
        script = tu_strdupf("cat %s/file.txt && ls %s && wc -c < %s", sub, sub, pub);
        run_job(&(struct job) { .sandbox = true, .cmd = { "sh", "-c", script }, .want_status = 0,
                                .want_out = "sub file\nfile.txt\n12\n" });
}
END_TEST

/* A kernel without seccomp user notification, or without atomic
 * ADDFD_FLAG_SEND: refused with 3 before CMD runs, and said why. */
START_TEST(seccomp_unavailable) {
        _cleanup_free_ char *flag = P("mine/ran");
        static const struct {
                enum deny deny;
                const char *err;
        } cases[] = {
                { DENY_SECCOMP_ENOSYS, "seccomp user notification is not available" },
                { DENY_SECCOMP_EINVAL, "seccomp user notification is not available" },
                { DENY_ADDFD_EINVAL, "the kernel lacks SECCOMP_ADDFD_FLAG_SEND" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                run_job(&(struct job) { .deny = cases[i].deny, .cmd = { "/bin/touch", flag }, .want_status = 3,
                                        .want_err = cases[i].err });
                ck_assert_int_eq(access(flag, F_OK), -1);
        }
        /* The filter alone lets run and CMD work: the refusals above are
         * the denied call's. */
        run_job(&(struct job) { .deny = DENY_ADDFD_EINVAL, .direct = true, .cmd = { "/bin/touch", flag },
                                .want_status = 0 });
        ck_assert_int_eq(access(flag, F_OK), 0);
}
END_TEST

/* cp and stat of coreutils; python3's os.stat, os.listdir and
 * shutil.copy: files only the broker can read, copied to a directory only
 * the broker can write, and the copies are the user's. */
START_TEST(coreutils_python) {
        _cleanup_free_ char *pub = P("data/public.txt"), *sub = P("data/sub"), *out = P("data/out"),
                            *cpd = P("data/out/cp.txt"), *pyd = P("data/out/py.txt"), *mined = P("mine/py.txt"), *script = NULL, *py = NULL;
        script = tu_strdupf("cp %s %s && stat -c '%%s %%F' %s %s && stat -c %%U:%%s %s && cat %s", pub, cpd, pub,
                            sub, cpd, cpd);
        run_job(&(struct job) { .cmd = { "/bin/sh", "-c", script },
                                .want_status = 0,
                                .want_out = "12 regular file\n4096 directory\nnobody:12\npublic data\n" });
        struct stat st;
        ck_assert_int_eq(stat(cpd, &st), 0);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);

        if (access("/usr/bin/python3", X_OK) != 0) {
                fprintf(stderr, "test-run: no python3: its part of coreutils_python is skipped\n");
                return;
        }
        /* shutil.copy ends with chmod(): into the user's own directory the
         * kernel does it; into one only the broker reaches the broker opens
         * the copy, which is the user's, and run changes its mode. */
        py = tu_strdupf("import os, shutil, stat\n"
                        "s = os.stat('%s')\n"
                        "print(s.st_size, stat.S_ISREG(s.st_mode), stat.S_ISDIR(os.stat('%s').st_mode))\n"
                        "print(sorted(os.listdir('%s')))\n"
                        "shutil.copy('%s', '%s')\n"
                        "print(open('%s').read(), end='')\n"
                        "shutil.copyfile('%s', '%s')\n"
                        "print(open('%s').read(), end='')\n"
                        "os.chmod('%s', 0o640)\n"
                        "shutil.copy('%s', '%s')\n"
                        "print(oct(os.stat('%s').st_mode & 0o7777))\n",
                        pub, sub, out, pub, mined, mined, pub, pyd, pyd, pyd, pub, pyd, pyd);
        run_job(&(struct job) { .cmd = { "/usr/bin/python3", "-S", "-c", py },
                                .want_status = 0,
                                .want_out = "12 True True\n['cp.txt']\npublic data\npublic data\n0o600\n" });
        ck_assert_int_eq(stat(pyd, &st), 0);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);
        ck_assert_int_eq(stat(mined, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

/* chmod of a file only the broker reaches: the broker opens it, run
 * changes the mode with the user's own rights.  The user's own file
 * changes; root's file, which the policy lets the user read, does not:
 * the kernel refuses a mode change by anyone but the owner. */
START_TEST(chmod_brokered) {
        _cleanup_free_ char *nob = P("data/out/nobody.txt"), *pub = P("data/public.txt"), *den = P("data/denied.txt");
        struct stat st;

        tu_write_file(nob, "nobody's\n", 0600, TU_NOBODY, TU_NOBODY);
        /* Without run, the user cannot reach its own file. */
        run_job(&(struct job) { .direct = true, .cmd = { helper, "chmod", nob, "0640" }, .want_status = 1,
                                .want_out = "ERRNO EACCES\n" });
        run_job(&(struct job) { .cmd = { helper, "chmod", nob, "0640" }, .want_status = 0, .want_out = "0640\n" });
        ck_assert_int_eq(stat(nob, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);

        /* Readable through the broker, but root's. */
        run_job(&(struct job) { .cmd = { helper, "chmod", pub, "0666" }, .want_status = 1,
                                .want_out = "ERRNO EPERM\n" });
        ck_assert_int_eq(stat(pub, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        /* Denied by policy: continued, and the kernel's answer to the user
         * (data/ is searchable) is that of a file it does not own. */
        run_job(&(struct job) { .cmd = { helper, "chmod", den, "0666" }, .want_status = 1,
                                .want_out = "ERRNO EPERM\n" });
        ck_assert_int_eq(stat(den, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

/* run started by root, CMD dropping to nobody: the supervisor (root) must
 * not change a mode for a caller with fewer rights than its own.  The
 * broker does serve root's connection data/public.txt; the chmod must be
 * the kernel's answer to nobody. */
START_TEST(chmod_other_creds) {
        _cleanup_free_ char *pub = P("data/public.txt");
        struct stat st;

        if (access("/usr/bin/setpriv", X_OK) != 0) {
                fprintf(stderr, "test-run: no setpriv: chmod_other_creds is skipped\n");
                return;
        }
        child_job(&(struct job) { .cmd = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                           helper, "chmod", pub, "0666" },
                                  .want_status = 1,
                                  .want_out = "ERRNO EPERM\n" });
        ck_assert_int_eq(stat(pub, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        /* As root, the same call is root's to make. */
        child_job(&(struct job) { .cmd = { helper, "chmod", pub, "0640" }, .want_status = 0, .want_out = "0640\n" });
}
END_TEST

static Suite *run_suite(void) {
        Suite *s = suite_create("run");
        TCase *tc = tcase_create("run");
        tcase_add_unchecked_fixture(tc, copy_programs, NULL);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, cat_brokered);
        tcase_add_test(tc, fallback_own_rights);
        tcase_add_test(tc, no_fallback);
        tcase_add_test(tc, exit_status);
        tcase_add_test(tc, unreachable);
        tcase_add_test(tc, static_binary);
        tcase_add_test(tc, threads8);
        tcase_add_test(tc, fork_exec);
        tcase_add_test(tc, relative_and_dirfd);
        tcase_add_test(tc, proc_untouched);
        tcase_add_test(tc, io_uring_refused);
        tcase_add_test(tc, race_path_buffer);
        tcase_add_test(tc, race_dirfd);
        tcase_add_test(tc, fork_kill);
        tcase_add_test(tc, create_file);
        tcase_add_test(tc, fs_ops);
        tcase_add_test(tc, bubblewrap_sandbox);
        tcase_add_test(tc, seccomp_unavailable);
        tcase_add_test(tc, coreutils_python);
        tcase_add_test(tc, chmod_brokered);
        tcase_add_test(tc, chmod_other_creds);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(run_suite());
}
