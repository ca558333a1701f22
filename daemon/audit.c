/* SPDX-License-Identifier: MIT */
#include "audit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "wire.h"

static const char *errno_name(int e) {
        const char *n = e == 0 ? "0" : strerrorname_np(e);
        return n ? n : "?";
}

void audit_log(const struct audit_record *rec) {
        char path[FDBR_WIRE_PATH_MAX * 4 + 3], unit[512], flags[128], rule[4200];

        if (!audit_wanted(rec->denied))
                return;

        log_quote(path, sizeof path, rec->path, rec->path_len);
        if (rec->id->unit)
                log_quote(unit, sizeof unit, rec->id->unit, strlen(rec->id->unit));
        else
                snprintf(unit, sizeof unit, "-");
        if (rec->rule)
                snprintf(rule, sizeof rule, "%s:%u", policy_rule_file(rec->rule), policy_rule_line(rec->rule));
        else
                snprintf(rule, sizeof rule, "-");

        log_always(rec->denied ? LOG_NOTICE : LOG_INFO,
                "%s uid=%u gid=%u pid=%d unit=%s op=%s path=%s flags=%s rule=%s status=%s%s%s%s gen=%u",
                rec->denied ? "deny" : "allow", (unsigned) rec->id->uid, (unsigned) rec->id->gid,
                (int) rec->id->pid, unit, wire_op_name(rec->op), path,
                wire_flags_format(rec->flags, flags, sizeof flags), rule, errno_name(rec->status),
                rec->reason ? " reason=\"" : "", rec->reason ? rec->reason : "", rec->reason ? "\"" : "",
                rec->generation);
}
