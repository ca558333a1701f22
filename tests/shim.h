/* SPDX-License-Identifier: MIT */
#pragma once

/* The fault-injection shim (tests/faultinject) loaded into a test's
 * daemon: the environment that preloads it, and its control block. */

#include <stdbool.h>

#include "faultinject.h"
#include "harness.h"

struct tu_shim {
        char *dir;
        char *ctl_path;
        struct fault_ctl *ctl;
        char *env[6];
        struct tu_spawn_opts opts;   /* pass to tu_daemon_start_opts */
};

/* Prepares a shim that injects spec (see faultinject.h) once armed. */
void tu_shim_setup(struct tu_shim *s, const char *spec);
/* Fails the test unless the started daemon really loaded the shim. */
void tu_shim_check_loaded(const struct tu_shim *s);
void tu_shim_arm(struct tu_shim *s, bool on);
void tu_shim_done(struct tu_shim *s);
