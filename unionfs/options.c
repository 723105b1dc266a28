/* fuse-overlayfs's command-line options (what containers-storage passes as
 * mount_program options): lowerdir, upperdir, workdir, volatile, fsync=0,
 * uidmapping/gidmapping, squash_to_root.  Generic mount options the kernel
 * understands are passed on; fuse-overlayfs-only tuning knobs are ignored. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "unionfs/unionfs.h"

struct ufs_parsed_options {
    char *copy;                 /* the option string, cut in place */
    const char **lowers;
    struct ufs_idmap_range *uidmap, *gidmap;
    char *fuse_opts;
};

static const char *const passthrough[] = {
    "rw", "ro", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "async", "sync",
    "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime",
    "lazytime", "dirsync", "allow_other", "allow_root", "auto_unmount", NULL,
};

static bool is_passthrough(const char *opt)
{
    for (const char *const *p = passthrough; *p; p++)
        if (!strcmp(opt, *p))
            return true;
    return !strncmp(opt, "max_read=", 9) || !strncmp(opt, "blksize=", 8);
}

/* "C:H:N[:C:H:N...]" (triples may also be separated by '/'). */
static int parse_map(const char *s, struct ufs_idmap_range **out, size_t *n, struct error *err)
{
    size_t cap = 0;
    *n = 0;
    const char *p = s;
    while (*p) {
        unsigned long v[3];
        for (int i = 0; i < 3; i++) {
            char *end;
            errno = 0;
            v[i] = strtoul(p, &end, 10);
            if (errno || end == p || (i < 2 && *end != ':'))
                return error_set(err, EINVAL, "bad id mapping `%s`", s);
            p = end + (i < 2);
        }
        if (*p == ':' || *p == '/')
            p++;
        else if (*p)
            return error_set(err, EINVAL, "bad id mapping `%s`", s);
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        (*out)[(*n)++] = (struct ufs_idmap_range){(unsigned)v[0], (unsigned)v[1], (unsigned)v[2]};
    }
    return 0;
}

int ufs_options_parse(const char *optstr, struct ufs_options *o,
                      struct ufs_parsed_options **storage, struct error *err)
{
    struct ufs_parsed_options *st = xzalloc(sizeof *st);
    *storage = st;
    st->copy = xstrdup(optstr);
    size_t fo_len = 0;
    st->fuse_opts = xzalloc(strlen(optstr) + 1);
    for (char *save = NULL, *opt = strtok_r(st->copy, ",", &save); opt;
         opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        const char *val = eq ? eq + 1 : NULL;
        size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
#define KEY(k) (klen == strlen(k) && !strncmp(opt, k, klen))
        if (KEY("lowerdir") && val) {
            size_t n = 1;
            for (const char *c = val; *c; c++)
                n += *c == ':';
            free(st->lowers);
            st->lowers = xcalloc(n, sizeof *st->lowers);
            o->n_lowers = 0;
            for (char *s2 = NULL, *l = strtok_r((char *)val, ":", &s2); l;
                 l = strtok_r(NULL, ":", &s2))
                st->lowers[o->n_lowers++] = l;
            o->lowers = st->lowers;
        } else if (KEY("upperdir") && val) {
            o->upper = val;
        } else if (KEY("workdir") && val) {
            o->work = val;
        } else if (KEY("volatile") || (KEY("fsync") && val && !strcmp(val, "0"))) {
            o->volatile_mode = true;
        } else if (KEY("durable_copyup") || (KEY("fsync") && val && !strcmp(val, "2"))) {
            o->durable_copyup = true;
        } else if (KEY("passthrough") && val && (!strcmp(val, "off") || !strcmp(val, "on"))) {
            o->no_passthrough = !strcmp(val, "off");
        } else if (KEY("squash_to_root")) {
            o->squash_to_root = true;
        } else if (KEY("uidmapping") && val) {
            if (parse_map(val, &st->uidmap, &o->n_uidmap, err) < 0)
                return -1;
            o->uidmap = st->uidmap;
        } else if (KEY("gidmapping") && val) {
            if (parse_map(val, &st->gidmap, &o->n_gidmap, err) < 0)
                return -1;
            o->gidmap = st->gidmap;
        } else if (KEY("rootless_override") || KEY("override_stat")) {
            o->rootless_override = true;
        } else if (is_passthrough(opt)) {
            if (fo_len)
                st->fuse_opts[fo_len++] = ',';
            strcpy(st->fuse_opts + fo_len, opt);
            fo_len += strlen(opt);
        }
#undef KEY
    }
    o->fuse_opts = fo_len ? st->fuse_opts : NULL;
    return 0;
}

void ufs_options_free(struct ufs_parsed_options *st)
{
    if (!st)
        return;
    free(st->copy);
    free(st->lowers);
    free(st->uidmap);
    free(st->gidmap);
    free(st->fuse_opts);
    free(st);
}
