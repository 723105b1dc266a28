#include "common/dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void dl_table_load(const char *soname, const struct dl_sym *syms, size_t n, void *table)
{
    /* RTLD_LOCAL: nothing else resolves against it; RTLD_NOW: a missing
     * symbol shows here, not in the middle of a layer write */
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "strata: cannot load `%s`: %s\n", soname, dlerror());
        _exit(127);
    }
    for (size_t i = 0; i < n; i++) {
        void *f = dlsym(h, syms[i].name);
        if (!f) {
            fprintf(stderr, "strata: `%s` lacks `%s`\n", soname, syms[i].name);
            _exit(127);
        }
        memcpy((char *)table + syms[i].offset, &f, sizeof f);
    }
}
