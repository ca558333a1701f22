/* SPDX-License-Identifier: MIT */
#include "audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "log.h"
#include "wire.h"

static const char *errno_name(int e) {
        const char *n = e == 0 ? "0" : strerrorname_np(e);
        return n ? n : "?";
}

/* ---- the log budget ------------------------------------------------------ */

/* Tokens are counted in thousandths of a line, so that a rate per second
 * refills exactly per millisecond. */
#define TOKEN 1000LL

struct bucket {
        uid_t account;
        bool used;
        long long tokens;
        long long last_ms;                /* last refill */
        unsigned long long seen;          /* when last asked for, in B.clock */
        unsigned long long suppressed;    /* lines held back since the last one */
};

static struct {
        pthread_mutex_t lock;
        struct bucket b[AUDIT_SETS][AUDIT_WAYS];
        size_t tracked;
        bool all_started;
        long long all_tokens, all_last_ms;
        /* Held back for accounts that were forgotten before they could be
         * told: summed up in the next line let through. */
        unsigned long long forgotten;
        size_t sweep;                     /* next set to look at for summaries */
        unsigned long long clock;         /* counts lookups: orders the slots by use */
} B = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void refill(long long *tokens, long long *last_ms, long long now, long long rate, long long burst) {
        if (now > *last_ms) {
                long long add = (now - *last_ms) * rate;
                *tokens = burst * TOKEN - *tokens <= add ? burst * TOKEN : *tokens + add;
                *last_ms = now;
        }
}

/* Full and nothing to tell: the same as not being remembered. */
static bool bucket_idle(const struct bucket *b) {
        return b->tokens >= AUDIT_BURST * TOKEN && b->suppressed == 0;
}

static size_t set_of(uid_t account) {
        return (size_t) (((uint64_t) account * 0x9e3779b97f4a7c15ULL) >> 32) % AUDIT_SETS;
}

static struct bucket *bucket_get(uid_t account, long long now) {
        struct bucket *set = B.b[set_of(account)], *victim = NULL;

        for (size_t i = 0; i < AUDIT_WAYS; i++)
                if (set[i].used) {
                        refill(&set[i].tokens, &set[i].last_ms, now, AUDIT_RATE, AUDIT_BURST);
                        if (set[i].account == account) {
                                set[i].seen = ++B.clock;
                                return &set[i];
                        }
                }
        /* A free slot, else one that is as good as free, else the one
         * seen least recently (it gets a fresh budget when it comes back;
         * what it had held back is not lost but told in general). */
        for (size_t i = 0; i < AUDIT_WAYS && !victim; i++)
                if (!set[i].used)
                        victim = &set[i];
        for (size_t i = 0; i < AUDIT_WAYS && !victim; i++)
                if (bucket_idle(&set[i]))
                        victim = &set[i];
        if (!victim) {
                victim = &set[0];
                for (size_t i = 1; i < AUDIT_WAYS; i++)
                        if (set[i].seen < victim->seen)
                                victim = &set[i];
        }
        if (victim->used)
                B.forgotten += victim->suppressed;
        else
                B.tracked++;
        *victim = (struct bucket) {
                .account = account, .used = true, .tokens = AUDIT_BURST * TOKEN, .last_ms = now,
                .seen = ++B.clock,
        };
        return victim;
}

static bool all_take(long long now) {
        if (!B.all_started) {
                B.all_started = true;
                B.all_tokens = AUDIT_ALL_BURST * TOKEN;
                B.all_last_ms = now;
        }
        refill(&B.all_tokens, &B.all_last_ms, now, AUDIT_ALL_RATE, AUDIT_ALL_BURST);
        if (B.all_tokens < TOKEN)
                return false;
        B.all_tokens -= TOKEN;
        return true;
}

static void summary(const struct bucket *b) {
        log_always(LOG_NOTICE, "uid %u: %llu similar denials suppressed", (unsigned) b->account, b->suppressed);
}

/* Tells what one set of the table held back for accounts that are quiet
 * now, so that a burst followed by silence is still summed up; a set per
 * denial goes round the whole table. */
static void budget_sweep(long long now) {
        struct bucket *set = B.b[B.sweep];

        B.sweep = (B.sweep + 1) % AUDIT_SETS;
        for (size_t i = 0; i < AUDIT_WAYS; i++) {
                struct bucket *b = &set[i];
                if (!b->used || b->suppressed == 0)
                        continue;
                refill(&b->tokens, &b->last_ms, now, AUDIT_RATE, AUDIT_BURST);
                /* Not charged to the account: it may log again, and the
                 * summary is bounded by the budget of all together. */
                if (b->tokens < TOKEN || !all_take(now))
                        continue;
                summary(b);
                b->suppressed = 0;
        }
}

/* Whether a denial of account may be written now; called with the lock
 * held.  Writes the summaries of what was held back before it. */
static bool budget_take(uid_t account, long long now) {
        struct bucket *b = bucket_get(account, now);

        if (b->tokens < TOKEN || !all_take(now)) {
                b->suppressed++;
                return false;
        }
        b->tokens -= TOKEN;
        if (b->suppressed > 0) {
                summary(b);
                b->suppressed = 0;
        }
        if (B.forgotten > 0) {
                log_always(LOG_NOTICE, "%llu similar denials of other uids suppressed", B.forgotten);
                B.forgotten = 0;
        }
        return true;
}

size_t audit_budget_tracked(void) {
        pthread_mutex_lock(&B.lock);
        size_t n = B.tracked;
        pthread_mutex_unlock(&B.lock);
        return n;
}

void audit_budget_reset(void) {
        pthread_mutex_lock(&B.lock);
        memset(B.b, 0, sizeof B.b);
        B.tracked = 0;
        B.all_started = false;
        B.forgotten = 0;
        B.sweep = 0;
        B.clock = 0;
        pthread_mutex_unlock(&B.lock);
}

/* ---- the record ---------------------------------------------------------- */

void audit_format(const struct audit_record *rec, struct audit_text *ret) {
        log_quote(ret->path, sizeof ret->path, rec->path, rec->path_len);
        log_escape(ret->path_field, sizeof ret->path_field, rec->path, rec->path_len, NULL);
        ret->dst[0] = ret->dst_field[0] = 0;
        if (rec->dst) {
                size_t n = (size_t) snprintf(ret->dst, sizeof ret->dst, " dst=");
                log_quote(ret->dst + n, sizeof ret->dst - n, rec->dst, rec->dst_len);
                log_escape(ret->dst_field, sizeof ret->dst_field, rec->dst, rec->dst_len, NULL);
        }
        if (rec->id->unit) {
                log_quote(ret->unit, sizeof ret->unit, rec->id->unit, strlen(rec->id->unit));
                log_escape(ret->unit_field, sizeof ret->unit_field, rec->id->unit, strlen(rec->id->unit), NULL);
        } else {
                snprintf(ret->unit, sizeof ret->unit, "-");
                ret->unit_field[0] = 0;
        }
        if (rec->reason)
                log_quote(ret->reason, sizeof ret->reason, rec->reason, strlen(rec->reason));
        if (rec->rule)
                snprintf(ret->rule, sizeof ret->rule, "%s:%u", policy_rule_file(rec->rule),
                         policy_rule_line(rec->rule));
        else
                snprintf(ret->rule, sizeof ret->rule, "-");
        wire_flags_format(rec->flags, ret->flags, sizeof ret->flags);
        ret->judged[0] = ret->judged_field[0] = 0;
        if (rec->judged_path) {
                log_quote(ret->judged, sizeof ret->judged, rec->judged_path, strlen(rec->judged_path));
                log_escape(ret->judged_field, sizeof ret->judged_field, rec->judged_path, strlen(rec->judged_path),
                           NULL);
        }

        snprintf(ret->line, sizeof ret->line,
                 "%s uid=%u gid=%u pid=%d unit=%s op=%s path=%s%s flags=%s rule=%s status=%s%s%s%s%s gen=%u",
                 rec->denied ? "deny" : "allow", (unsigned) rec->id->uid, (unsigned) rec->id->gid,
                 (int) rec->id->pid, ret->unit, wire_op_name(rec->op), ret->path, ret->dst, ret->flags, ret->rule,
                 errno_name(rec->status), rec->reason ? " reason=" : "", rec->reason ? ret->reason : "",
                 rec->judged_path ? " judged=" : "", ret->judged, rec->generation);
}

/* Structured fields let an operator ask the journal directly, e.g.
 * journalctl FDBROKER_VERDICT=deny FDBROKER_UID=1000.  Strings a client
 * chose are escaped and capped as in the message, the path's real length
 * in a field of its own. */
static void audit_journal(const struct audit_record *rec, int priority, const struct audit_text *t) {
        (void) sd_journal_send("MESSAGE=%s", t->line,
                               "PRIORITY=%d", priority,
                               "SYSLOG_IDENTIFIER=fdbrokerd",
                               "FDBROKER_VERDICT=%s", rec->denied ? "deny" : "allow",
                               "FDBROKER_UID=%u", (unsigned) rec->id->uid,
                               "FDBROKER_ACCOUNT=%u", (unsigned) rec->account,
                               "FDBROKER_GID=%u", (unsigned) rec->id->gid,
                               "FDBROKER_PID=%d", (int) rec->id->pid,
                               "FDBROKER_UNIT=%s", t->unit_field,
                               "FDBROKER_OP=%s", wire_op_name(rec->op),
                               "FDBROKER_PATH=%s", t->path_field,
                               "FDBROKER_PATH_BYTES=%zu", rec->path_len,
                               "FDBROKER_DST_PATH=%s", t->dst_field,
                               "FDBROKER_FLAGS=%s", t->flags,
                               "FDBROKER_RULE=%s", rec->rule ? t->rule : "",
                               "FDBROKER_ERRNO=%d", rec->status,
                               "FDBROKER_STATUS=%s", errno_name(rec->status),
                               "FDBROKER_REASON=%s", rec->reason ? rec->reason : "",
                               "FDBROKER_JUDGED_PATH=%s", t->judged_field,
                               "FDBROKER_GENERATION=%u", rec->generation,
                               NULL);
}

void audit_log_at(const struct audit_record *rec, long long now_ms) {
        static struct audit_text text;
        int priority = rec->denied ? LOG_NOTICE : LOG_INFO;

        if (!audit_wanted(rec->denied))
                return;

        pthread_mutex_lock(&B.lock);
        if (rec->denied) {
                budget_sweep(now_ms);
                if (!budget_take(rec->account, now_ms)) {
                        pthread_mutex_unlock(&B.lock);
                        return;
                }
        }
        /* Formatted under the lock: the text is too large for a stack that
         * may be a worker's. */
        audit_format(rec, &text);
        if (log_is_journal())
                audit_journal(rec, priority, &text);
        else
                log_always(priority, "%s", text.line);
        pthread_mutex_unlock(&B.lock);
}

void audit_log(const struct audit_record *rec) {
        struct timespec ts;

        /* An allowed request is not logged by default: not even the clock
         * is read for it. */
        if (!audit_wanted(rec->denied))
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        audit_log_at(rec, (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
