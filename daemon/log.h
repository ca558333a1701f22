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

/* Logs and returns r (a negative errno), for "return log_error_errno(r, ...)". */
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

/* Appends s (len bytes) to buf as a quoted string safe for a log line:
 * quote, backslash and anything not printable ASCII are escaped, so a path
 * cannot forge a second line or a field.  Returns the number of bytes
 * written (buf is always terminated). */
size_t log_quote(char *buf, size_t size, const char *s, size_t len);
