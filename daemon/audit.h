/* SPDX-License-Identifier: MIT */
#pragma once

/* The audit trail: one record per decision.  Denials are always written;
 * allowed requests only when the log level is info or debug, so that a busy
 * host does not pay for formatting what nobody asked to see. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"
#include "policy.h"

struct audit_record {
        const struct identity *id;
        uint16_t op;
        const char *path;
        size_t path_len;
        uint32_t flags;
        bool denied;
        const struct policy_rule *rule;   /* NULL: no rule matched */
        int status;                       /* 0 or a positive errno */
        const char *reason;               /* why refused, or NULL */
        const char *judged_path;          /* the real path a refusal was decided on, or NULL */
        unsigned generation;              /* policy generation that decided */
};

static inline bool audit_wanted(bool denied) {
        extern int log_max_level;
        return denied || log_max_level >= 6 /* LOG_INFO */;
}

void audit_log(const struct audit_record *rec);
