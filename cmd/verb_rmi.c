/* strata rmi: remove names (and with them, images) from the store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/gc.h"
#include "format/image.h"
#include "format/index.h"

struct container_search {
    const char *digest;
    char *found;
};

static int match_container(const char *id, const char *digest, void *arg)
{
    struct container_search *cs = arg;
    if (strcmp(digest, cs->digest))
        return 0;
    cs->found = xstrdup(id);
    return 1;
}

/* The first container (containers/<id>/image) using manifest digest, or NULL. */
static char *container_using(struct fmt_store *s, const char *digest)
{
    struct container_search cs = {digest, NULL};
    struct error e;
    fmt_gc_each_container_image(s, match_container, &cs, &e);
    return cs.found;
}

static int remove_one(struct fmt_store *s, const char *name, bool force, struct error *err)
{
    struct fmt_index idx;
    if (fmt_index_load(s, &idx, err) < 0)
        return -1;
    const struct fmt_index_entry *e = fmt_index_find(&idx, name);
    bool by_ref = e != NULL;
    size_t names = 0; /* entries for the same manifest */
    for (size_t i = 0; e && i < idx.n; i++)
        names += !strcmp(idx.entries[i].desc.digest, e->desc.digest);
    fmt_index_clear(&idx);

    struct fmt_image *img = NULL;
    if (fmt_image_resolve(s, name, &img, err) < 0) {
        if (!by_ref)
            return -1;
        /* a broken image can still be untagged */
        if (fmt_index_remove_ref(s, name, err) < 0)
            return -1;
        printf("Untagged: %s\n", name);
        return 0;
    }
    cleanup_free char *user = container_using(s, img->digest);
    /* untagging one of several names leaves the image, so it is always fine */
    if (user && !force && (!by_ref || names <= 1)) {
        error_set(err, EBUSY, "image `%s` is used by container `%s` (use --force to untag it)",
                  name, user);
        fmt_image_free(img);
        return -1;
    }
    int ret = 0;
    if (by_ref) {
        ret = fmt_index_remove_ref(s, name, err);
        if (ret == 0)
            printf("Untagged: %s\n", img->ref);
    } else {
        int n = fmt_index_remove_digest(s, img->digest, err);
        if (n < 0)
            ret = -1;
        else
            printf("Deleted: %s\n", img->digest);
    }
    fmt_image_free(img);
    return ret;
}

static int run_rmi(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {0}};
    bool force = false;
    int c;
    while ((c = cli_getopt(v, argc, argv, "f", opts)) != -1) {
        if (c == 'f')
            force = true;
        else
            return cli_exit_status(c);
    }
    if (optind >= argc)
        return cli_usage_error(v, "need at least one image");
    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    int status = 0;
    for (int i = optind; i < argc; i++) {
        struct error err = {0};
        if (remove_one(s, argv[i], force, &err) < 0)
            status = cli_fail(v, &err);
    }
    fmt_store_close(s);
    return status;
}

STRATA_VERB(rmi, "rmi", "remove images",
            "usage: strata rmi [-f] IMAGE...\n"
            "\n"
            "Given a name, remove that name; given an image id or digest, remove every\n"
            "name of that image.  An image used by a container is refused unless\n"
            "--force (removing one of several names is always allowed).  The blobs stay until `strata prune`, which removes whatever no\n"
            "name and no container references.\n"
            "\n"
            "  -f, --force   remove even when a container uses the image\n",
            run_rmi)
