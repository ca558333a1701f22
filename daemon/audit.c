/* SPDX-License-Identifier: MIT */
#include "audit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-journal.h>

#include "log.h"
#include "wire.h"

static const char *errno_name(int e) {
        const char *n = e == 0 ? "0" : strerrorname_np(e);
        return n ? n : "?";
}

/* Structured fields let an operator ask the journal directly, e.g.
 * journalctl FDBROKER_VERDICT=deny FDBROKER_UID=1000. */
static void audit_journal(const struct audit_record *rec, int priority, const char *message,
                          const char *flags, const char *rule) {
        (void) sd_journal_send("MESSAGE=%s", message,
                               "PRIORITY=%d", priority,
                               "SYSLOG_IDENTIFIER=fdbrokerd",
                               "FDBROKER_VERDICT=%s", rec->denied ? "deny" : "allow",
                               "FDBROKER_UID=%u", (unsigned) rec->id->uid,
                               "FDBROKER_GID=%u", (unsigned) rec->id->gid,
                               "FDBROKER_PID=%d", (int) rec->id->pid,
                               "FDBROKER_UNIT=%s", rec->id->unit ? rec->id->unit : "",
                               "FDBROKER_OP=%s", wire_op_name(rec->op),
                               "FDBROKER_PATH=%.*s", (int) rec->path_len, rec->path,
                               "FDBROKER_FLAGS=%s", flags,
                               "FDBROKER_RULE=%s", rule,
                               "FDBROKER_ERRNO=%d", rec->status,
                               "FDBROKER_STATUS=%s", errno_name(rec->status),
                               "FDBROKER_REASON=%s", rec->reason ? rec->reason : "",
                               "FDBROKER_JUDGED_PATH=%s", rec->judged_path ? rec->judged_path : "",
                               "FDBROKER_GENERATION=%u", rec->generation,
                               NULL);
}

void audit_log(const struct audit_record *rec) {
        char path[FDBR_WIRE_PATH_MAX * 4 + 3], unit[512], flags[128], rule[4200];
        char judged[sizeof path] = "";
        char line[sizeof path + sizeof judged + sizeof unit + sizeof rule + 512];
        int priority = rec->denied ? LOG_NOTICE : LOG_INFO;

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
        wire_flags_format(rec->flags, flags, sizeof flags);
        if (rec->judged_path) {
                memcpy(judged, " judged=", 8);
                log_quote(judged + 8, sizeof judged - 8, rec->judged_path, strlen(rec->judged_path));
        }

        snprintf(line, sizeof line,
                 "%s uid=%u gid=%u pid=%d unit=%s op=%s path=%s flags=%s rule=%s status=%s%s%s%s%s gen=%u",
                 rec->denied ? "deny" : "allow", (unsigned) rec->id->uid, (unsigned) rec->id->gid,
                 (int) rec->id->pid, unit, wire_op_name(rec->op), path, flags, rule, errno_name(rec->status),
                 rec->reason ? " reason=\"" : "", rec->reason ? rec->reason : "", rec->reason ? "\"" : "",
                 judged, rec->generation);

        if (log_is_journal())
                audit_journal(rec, priority, line, flags, rec->rule ? rule : "");
        else
                log_always(priority, "%s", line);
}
