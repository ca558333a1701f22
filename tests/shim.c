/* SPDX-License-Identifier: MIT */
#include "shim.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

void tu_shim_setup(struct tu_shim *s, const char *spec) {
        *s = (struct tu_shim) {};
        s->dir = tu_mkdtemp();
        s->ctl_path = tu_strdupf("%s/ctl", s->dir);
        int fd = open(s->ctl_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, sizeof(struct fault_ctl)), 0);
        s->ctl = mmap(NULL, sizeof(struct fault_ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert(s->ctl != MAP_FAILED);
        close(fd);

        /* Preloaded, the shim comes before a sanitizer runtime in the
         * library list, which ASan would otherwise refuse to start with. */
        const char *asan = getenv("ASAN_OPTIONS");
        s->env[0] = tu_strdupf("LD_PRELOAD=%s", FDBR_FAULTINJECT_PATH);
        s->env[1] = tu_strdupf("FDBR_FAULT=%s", spec);
        s->env[2] = tu_strdupf("FDBR_FAULT_CTL=%s", s->ctl_path);
        s->env[3] = tu_strdupf("ASAN_OPTIONS=%s%sverify_asan_link_order=0", asan ? asan : "", asan ? ":" : "");
        s->env[4] = NULL;
        s->opts = (struct tu_spawn_opts) { .env = (const char *const *) s->env };
}

void tu_shim_check_loaded(const struct tu_shim *s) {
        ck_assert_msg(__atomic_load_n(&s->ctl->magic, __ATOMIC_ACQUIRE) == FAULT_CTL_MAGIC,
                      "the fault-injection shim was not loaded into the daemon");
}

void tu_shim_arm(struct tu_shim *s, bool on) {
        __atomic_store_n(&s->ctl->armed, on ? 1u : 0u, __ATOMIC_SEQ_CST);
}

void tu_shim_done(struct tu_shim *s) {
        if (!s->ctl)
                return;
        munmap(s->ctl, sizeof *s->ctl);
        tu_rm_rf(s->dir);
        free(s->dir);
        free(s->ctl_path);
        for (int i = 0; s->env[i]; i++)
                free(s->env[i]);
        *s = (struct tu_shim) {};
}
