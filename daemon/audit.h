/* SPDX-License-Identifier: MIT */
#pragma once

/* The audit trail: one record per decision.  Denials are written whatever
 * the log level, but at most a budget of lines per account (a token bucket
 * per account, and one for all together): a client that is refused in a
 * loop cannot flood the log.  What was held back is summed up in a line
 * "uid N: M similar denials suppressed" once the account may log again.
 * Only log lines are held back: the counters (STATUS=) count every
 * decision.  Allowed requests are logged only when the log level is info
 * or debug, so that a busy host does not pay for formatting what nobody
 * asked to see. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "identity.h"
#include "log.h"
#include "policy.h"

struct audit_record {
        const struct identity *id;
        /* Whose log budget a denial is charged to: the real user behind
         * the peer, as the caller determines it.  Always set by the
         * caller; it may differ from id->uid. */
        uid_t account;
        uint16_t op;
        const char *path;
        size_t path_len;
        const char *dst;                  /* RENAME's destination, or NULL */
        size_t dst_len;
        uint32_t flags;
        bool denied;
        const struct policy_rule *rule;   /* NULL: no rule matched */
        int status;                       /* 0 or a positive errno */
        const char *reason;               /* why refused, or NULL */
        const char *judged_path;          /* the real path a refusal was decided on, or NULL */
        unsigned generation;              /* policy generation that decided */
};

/* Denial lines per account: a burst, then a steady rate per second. */
#define AUDIT_BURST 20
#define AUDIT_RATE 10
/* And for all accounts together, so that many accounts at once are bounded
 * too. */
#define AUDIT_ALL_BURST 200
#define AUDIT_ALL_RATE 100
/* Accounts remembered at most (a fixed table: its memory is bounded
 * whatever the number of uids); when full, the least recently seen account
 * of the slot's set is forgotten. */
#define AUDIT_SETS 1024
#define AUDIT_WAYS 8
#define AUDIT_ACCOUNTS_MAX (AUDIT_SETS * AUDIT_WAYS)

/* A record as it is logged: the line, and the journal's fields. */
struct audit_text {
        char path[LOG_QUOTE_SIZE];          /* quoted, capped */
        char path_field[LOG_QUOTE_CAP + 1]; /* escaped, capped, unquoted */
        char dst[LOG_QUOTE_SIZE];           /* " dst=QUOTED", or empty */
        char dst_field[LOG_QUOTE_CAP + 1];
        char unit[LOG_QUOTE_SIZE];
        char unit_field[LOG_QUOTE_CAP + 1];
        char reason[LOG_QUOTE_SIZE];
        char judged[LOG_QUOTE_SIZE];        /* quoted, capped; empty when none */
        char judged_field[LOG_QUOTE_CAP + 1];
        char flags[128];
        char rule[4200];
        char line[sizeof(char[LOG_QUOTE_SIZE]) * 5 + 4200 + 128 + 256];
};

static inline bool audit_wanted(bool denied) {
        extern int log_max_level;
        return denied || log_max_level >= 6 /* LOG_INFO */;
}

void audit_format(const struct audit_record *rec, struct audit_text *ret);

void audit_log(const struct audit_record *rec);

/* audit_log at now_ms on CLOCK_MONOTONIC, for tests of the budget. */
void audit_log_at(const struct audit_record *rec, long long now_ms);

/* The number of accounts the budget table holds, and emptying it (tests). */
size_t audit_budget_tracked(void);
void audit_budget_reset(void);
