/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int log_max_level = LOG_NOTICE;
static bool log_to_journal;

/* JOURNAL_STREAM is "DEV:INO" of the stream systemd connected; it is only
 * ours if stderr still is that stream (a child with redirected stderr
 * inherits the variable). */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
}

void log_setup(void) {
        log_to_journal = stderr_is_journal();
}

bool log_is_journal(void) {
        return log_to_journal;
}

void log_set_level(int level) {
        log_max_level = level;
}

int log_get_level(void) {
        return log_max_level;
}

int log_level_parse(const char *s) {
        static const struct { const char *name; int level; } table[] = {
                { "error", LOG_ERR },   { "err", LOG_ERR },     { "warning", LOG_WARNING },
                { "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
        };
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                if (strcmp(s, table[i].name) == 0)
                        return table[i].level;
        return -EINVAL;
}

static void log_vmsg(int level, const char *fmt, va_list ap) {
        char line[24576];
        int n;

        if (log_to_journal)
                n = snprintf(line, sizeof line, "<%d>", level);
        else
                n = snprintf(line, sizeof line, "fdbrokerd: ");
        /* One byte stays free for the newline; a longer message is cut. */
        size_t room = sizeof line - (size_t) n - 1;
        int k = vsnprintf(line + n, room, fmt, ap);
        if (k < 0)
                return;
        size_t len = (size_t) n + ((size_t) k < room ? (size_t) k : room - 1);
        line[len++] = '\n';
        /* One write per line so that concurrent writers never interleave
         * inside a line; a failing stderr is not worth dying for. */
        (void) !write(STDERR_FILENO, line, len);
}

void log_msg(int level, const char *fmt, ...) {
        va_list ap;

        if (!log_enabled(level))
                return;
        int saved = errno;
        va_start(ap, fmt);
        log_vmsg(level, fmt, ap);
        va_end(ap);
        errno = saved;
}

void log_always(int level, const char *fmt, ...) {
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        log_vmsg(level, fmt, ap);
        va_end(ap);
        errno = saved;
}

#define RATELIMIT_INTERVAL_MS 5000
#define RATELIMIT_BURST 10

void log_ratelimited(struct ratelimit *rl, int level, const char *fmt, ...) {
        struct timespec ts;
        char msg[1024];
        va_list ap;

        if (!log_enabled(level))
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long now = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now - rl->begin_ms >= RATELIMIT_INTERVAL_MS) {
                rl->begin_ms = now;
                rl->n = 0;
        }
        if (rl->n++ >= RATELIMIT_BURST) {
                rl->suppressed++;
                return;
        }
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (rl->suppressed > 0) {
                log_msg(level, "%s (%u similar messages suppressed)", msg, rl->suppressed);
                rl->suppressed = 0;
        } else
                log_msg(level, "%s", msg);
}

int log_errno(int level, int r, const char *fmt, ...) {
        va_list ap;

        if (log_enabled(level)) {
                int saved = errno;
                va_start(ap, fmt);
                log_vmsg(level, fmt, ap);
                va_end(ap);
                errno = saved;
        }
        return r;
}

size_t log_quote(char *buf, size_t size, const char *s, size_t len) {
        static const char hex[] = "0123456789abcdef";
        size_t n = 0;

        if (size < 3) {
                if (size > 0)
                        buf[0] = 0;
                return 0;
        }
        buf[n++] = '"';
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char esc[4];
                size_t k = 0;

                if (c == '"' || c == '\\') {
                        esc[k++] = '\\';
                        esc[k++] = (char) c;
                } else if (c < 0x20 || c >= 0x7f) {
                        esc[k++] = '\\';
                        esc[k++] = 'x';
                        esc[k++] = hex[c >> 4];
                        esc[k++] = hex[c & 15];
                } else
                        esc[k++] = (char) c;

                /* keep room for the closing quote and the terminator */
                if (n + k + 2 > size)
                        break;
                memcpy(buf + n, esc, k);
                n += k;
        }
        buf[n++] = '"';
        buf[n] = 0;
        return n;
}
