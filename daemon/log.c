/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdint.h>
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

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 if
 * there is none; *ret_cp gets the code point. */
static size_t utf8_sequence(const unsigned char *s, size_t len, uint32_t *ret_cp) {
        size_t n;
        uint32_t cp, min;

        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, cp = s[0] & 0x1f, min = 0x80;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, cp = s[0] & 0x0f, min = 0x800;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (n > len)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        /* overlong forms, surrogates, beyond Unicode */
        if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;
        *ret_cp = cp;
        return n;
}

/* Characters that are valid but invisible and can move or break what a
 * reader sees: C1 controls (some terminals act on them), zero-width and
 * direction marks, line and paragraph separators, bidirectional embeddings,
 * overrides and isolates, the byte order mark, interlinear annotations. */
static bool cp_deceptive(uint32_t cp) {
        return (cp >= 0x80 && cp <= 0x9f) || cp == 0xad || cp == 0x61c || (cp >= 0x200b && cp <= 0x200f) ||
               (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
               (cp >= 0xfff9 && cp <= 0xfffb);
}

size_t log_escape(char *buf, size_t size, const char *s, size_t len, size_t *ret_consumed) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *u = (const unsigned char *) s;
        size_t n = 0, i = 0;

        if (size == 0) {
                if (ret_consumed)
                        *ret_consumed = 0;
                return 0;
        }
        while (i < len) {
                /* One unit: a character or an invalid byte, escaped whole
                 * or not at all.  At most 4 bytes of 4 escaped bytes. */
                char esc[16];
                size_t k = 0, step = 1;
                unsigned char c = u[i];
                uint32_t cp;

                if (c == '"' || c == '\\') {
                        esc[k++] = '\\';
                        esc[k++] = (char) c;
                } else if (c == '\n' || c == '\r' || c == '\t') {
                        esc[k++] = '\\';
                        esc[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                } else if (c >= 0x20 && c < 0x7f)
                        esc[k++] = (char) c;
                else if (c >= 0x80 && (step = utf8_sequence(u + i, len - i, &cp)) > 0 && !cp_deceptive(cp)) {
                        memcpy(esc, u + i, step);
                        k = step;
                } else {
                        /* a control character, an invalid byte, or every
                         * byte of a deceptive character */
                        if (step == 0)
                                step = 1;
                        for (size_t j = 0; j < step; j++) {
                                esc[k++] = '\\';
                                esc[k++] = 'x';
                                esc[k++] = hex[u[i + j] >> 4];
                                esc[k++] = hex[u[i + j] & 15];
                        }
                }
                if (n + k + 1 > size)
                        break;
                memcpy(buf + n, esc, k);
                n += k;
                i += step;
        }
        buf[n] = 0;
        if (ret_consumed)
                *ret_consumed = i;
        return n;
}

size_t log_quote(char *buf, size_t size, const char *s, size_t len) {
        char suffix[48];
        size_t consumed;

        int sl = snprintf(suffix, sizeof suffix, "...(%zu bytes)", len);
        /* Room for the quotes, the suffix in case it is needed, and the
         * terminator: the text gets the rest, up to the cap. */
        if (sl < 0 || size < 2 + (size_t) sl + 1) {
                if (size > 0)
                        buf[0] = 0;
                return 0;
        }
        size_t room = size - 2 - (size_t) sl - 1;
        if (room > LOG_QUOTE_CAP)
                room = LOG_QUOTE_CAP;

        size_t n = 0;
        buf[n++] = '"';
        n += log_escape(buf + n, room + 1, s, len, &consumed);
        buf[n++] = '"';
        if (consumed < len) {
                memcpy(buf + n, suffix, (size_t) sl);
                n += (size_t) sl;
        }
        buf[n] = 0;
        return n;
}
