/* SPDX-License-Identifier: MIT */
/* An LD_PRELOAD module for test-systemd: records the daemon's LISTEN_*
 * variables at start and at exit, one line each, to the file named by
 * $FDBR_ENV_PROBE.  /proc/PID/environ cannot show them: it is the block the
 * process was started with, and unsetenv() does not touch it. */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void probe_record(const char *phase) {
        const char *out = getenv("FDBR_ENV_PROBE");
        const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID"), *names = getenv("LISTEN_FDNAMES");
        char line[512];

        if (!out)
                return;
        int n = snprintf(line, sizeof line, "%s pid=%d LISTEN_FDS=%s LISTEN_PID=%s LISTEN_FDNAMES=%s\n", phase,
                         (int) getpid(), fds ? fds : "-", pid ? pid : "-", names ? names : "-");
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || n <= 0)
                return;
        (void) !write(fd, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
        close(fd);
}

__attribute__((constructor)) static void probe_start(void) {
        probe_record("start");
}

__attribute__((destructor)) static void probe_exit(void) {
        probe_record("exit");
}

