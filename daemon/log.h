/* SPDX-License-Identifier: MIT */
#pragma once

/* Daemon logging: one line per event on stderr.  When stderr is the
 * journal's stream, lines carry a "<N>" priority prefix that journald
 * understands; otherwise they are prefixed with the program name. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/* LOG_ERR ... LOG_DEBUG from syslog.h are the levels. */
void log_setup(void);

/* True when stderr is connected to the journal: structured records then go
 * to it directly. */
bool log_is_journal(void);
void log_set_level(int level);
int log_get_level(void);
static inline bool log_enabled(int level) {
        extern int log_max_level;
        return level <= log_max_level;
}

/* Parses "error", "warning", "notice", "info", "debug".  Returns the level
 * or -EINVAL. */
int log_level_parse(const char *s);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes whatever the log level, for records that must never be dropped
 * (denials); level only sets the priority. */
void log_always(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs and returns r (a negative errno), for "return log_errno(LOG_ERR, r, ...)". */
int log_errno(int level, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* At most a burst of messages per interval from one source, so that a
 * client storming the broker cannot flood its log; what was held back is
 * counted in the next message let through. */
struct ratelimit {
        long long begin_ms;
        unsigned n;
        unsigned suppressed;
};

void log_ratelimited(struct ratelimit *rl, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* How much of one client-supplied string (a path, a unit or user name) a
 * log line carries: at most this many bytes of its escaped form.  A path of
 * 4,095 bytes escapes to 16 KiB; logged whole, one client could write
 * megabytes per second.  Beyond the cap the line says how long the string
 * really was. */
#define LOG_QUOTE_CAP 512
/* What log_quote writes at most: the capped text, two quotes,
 * "...(N bytes)" and the terminator. */
#define LOG_QUOTE_SIZE (LOG_QUOTE_CAP + 48)

/* Writes the escaped form of the longest prefix of s (len bytes) that fits
 * in size - 1 bytes, terminated.  Printable ASCII and valid UTF-8 stay as
 * they are; quote, backslash, control characters (\n, \r, \t, else \xNN),
 * bytes that are not valid UTF-8 and the invisible characters that can
 * reorder or break a line on display (C1 controls, bidirectional
 * overrides, U+2028 ...) are escaped, each of their bytes as \xNN.  A
 * character or an escape sequence is never cut: the output is always a
 * whole escaped prefix.  Sets *ret_consumed (may be NULL) to the input
 * bytes covered; returns the bytes written. */
size_t log_escape(char *buf, size_t size, const char *s, size_t len, size_t *ret_consumed);

/* Appends s (len bytes) to buf as a quoted string safe for a log line:
 * "ESCAPED" (log_escape), and when the escaped form is longer than
 * LOG_QUOTE_CAP (or than buf allows) a prefix of it followed by
 * "...(LEN bytes)", LEN being the real length of s.  A path can thus
 * neither forge a second line or a field, nor make a line long.  Returns
 * the number of bytes written (buf is always terminated; it is left empty
 * when size is too small for even the quotes and the length). */
size_t log_quote(char *buf, size_t size, const char *s, size_t len);

static inline const char *log_quote_into(char *buf, const char *s, size_t len) {
        log_quote(buf, LOG_QUOTE_SIZE, s, len);
        return buf;
}

/* log_quote for a "%s" argument, in a buffer that lives as long as the
 * enclosing block: log_msg(..., "for %s", LOG_QUOTED(path, len)). */
#define LOG_QUOTED(s, len) log_quote_into((char[LOG_QUOTE_SIZE]) {}, (s), (len))
