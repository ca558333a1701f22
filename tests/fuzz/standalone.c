/* SPDX-License-Identifier: MIT */
/* Runs a harness without libFuzzer over the inputs kept in the tree, so
 * that every build, with any compiler, replays them:
 *
 *     fuzz-regress-NAME FILE|DIRECTORY...
 *
 * Directories are read in name order, not recursively; names starting with
 * '.' are skipped.  No inputs at all is an error: a corpus that went
 * missing must not pass as a test that found nothing. */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Only some harnesses need to set themselves up. */
#pragma weak LLVMFuzzerInitialize

struct input {
        char *name;
        uint8_t *data;
        size_t size;
};

struct inputs {
        struct input *v;
        size_t n, cap;
};

static int read_input(const char *path, struct inputs *in) {
        FILE *f = fopen(path, "rbe");
        uint8_t *data = NULL;
        size_t size = 0, cap = 0;

        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                if (size == cap) {
                        cap = cap ? cap * 2 : 4096;
                        data = realloc(data, cap);
                        if (!data)
                                abort();
                }
                size_t k = fread(data + size, 1, cap - size, f);
                size += k;
                if (k == 0)
                        break;
        }
        int failed = ferror(f);
        fclose(f);
        if (failed) {
                fprintf(stderr, "%s: read error\n", path);
                free(data);
                return -1;
        }

        if (in->n == in->cap) {
                in->cap = in->cap ? in->cap * 2 : 64;
                in->v = reallocarray(in->v, in->cap, sizeof *in->v);
                if (!in->v)
                        abort();
        }
        in->v[in->n++] = (struct input) { .name = strdup(path), .data = data, .size = size };
        return 0;
}

static int skip_dot(const struct dirent *e) {
        return e->d_name[0] != '.';
}

static int read_arg(const char *path, struct inputs *in) {
        struct stat st;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode))
                return read_input(path, in);

        struct dirent **names;
        int n = scandir(path, &names, skip_dot, alphasort);
        if (n < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                char *p;

                if (r == 0 && asprintf(&p, "%s/%s", path, names[i]->d_name) >= 0) {
                        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
                                r = read_input(p, in);
                        free(p);
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        struct inputs in = {};

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
                return 2;
        }
        /* Everything is read first: a harness may change directory when it
         * sets itself up. */
        for (int i = 1; i < argc; i++)
                if (read_arg(argv[i], &in) < 0)
                        return 1;
        if (in.n == 0) {
                fprintf(stderr, "%s: no inputs\n", argv[0]);
                return 1;
        }

        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);

        for (size_t i = 0; i < in.n; i++) {
                /* A copy of exactly its size, so that AddressSanitizer sees a
                 * harness or the code under test reading past the end. */
                uint8_t *copy = malloc(in.v[i].size ? in.v[i].size : 1);

                if (!copy)
                        abort();
                memcpy(copy, in.v[i].data, in.v[i].size);
                fprintf(stderr, "%s (%zu bytes)\n", in.v[i].name, in.v[i].size);
                (void) LLVMFuzzerTestOneInput(copy, in.v[i].size);
                free(copy);
                free(in.v[i].name);
                free(in.v[i].data);
        }
        fprintf(stderr, "%zu inputs, no failure\n", in.n);
        free(in.v);
        return 0;
}
