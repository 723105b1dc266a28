/* Hostile layers: every trick to write outside the target is refused with
 * an error naming the entry, and a canary beside the target is untouched. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>

#include "format/layer_unpack.h"
#include "tests/unit/layer_util.h"
#include "tests/unit/tap.h"

static char scratch[] = "/tmp/strata-hostile-XXXXXX";
static int scratch_fd = -1;
static int case_no;

static bool canary_intact(void)
{
    cleanup_free char *c = read_text(scratch_fd, "canary");
    if (!c || strcmp(c, "safe\n") != 0)
        return false;
    /* nothing new appeared beside the targets */
    DIR *d = opendir(scratch);
    struct dirent *de;
    bool clean = true;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            strcmp(de->d_name, "canary") && strncmp(de->d_name, "target", 6))
            clean = false;
    closedir(d);
    return clean;
}

/* Unpacks t into a fresh target; returns the unpack status, err filled. */
static int unpack(struct tarbuf *t, int *target_fd, struct error *err)
{
    char name[32];
    snprintf(name, sizeof name, "target%d", ++case_no);
    mkdirat(scratch_fd, name, 0755);
    *target_fd = openat(scratch_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    t->out.pos = 0;
    struct fmt_layer_unpack_opts o = {.rootless = -1};
    return fmt_layer_unpack(mem_source, &t->out, "hostile.tar", *target_fd, &o, NULL, err);
}

static void refused(struct tarbuf *t, const char *entry, const char *why)
{
    struct error err = {0};
    int fd = -1;
    tar_end(t);
    int r = unpack(t, &fd, &err);
    tap_ok(r < 0, "%s: refused", why);
    if (!tap_ok(strstr(err.msg, entry) != NULL, "%s: error names `%s`", why, entry))
        tap_diag("  error: %s", err.msg);
    tap_ok(canary_intact(), "%s: canary untouched", why);
    close(fd);
    tar_end(t);
    membuf_free(&t->out);
}

int main(void)
{
    if (!mkdtemp(scratch))
        return 1;
    chmod(scratch, 0755);
    scratch_fd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    write_file(scratch_fd, "canary", "safe\n", 0644);
    cleanup_free char *abs_canary = xasprintf("%s/canary", scratch);
    struct tarbuf t;

    tar_begin(&t);
    tar_add(&t, 'f', "ok", "fine\n");
    tar_add(&t, 'f', "../canary", "pwned\n");
    refused(&t, "../canary", "`..` entry");

    tar_begin(&t);
    tar_add(&t, 'f', "a/../../canary", "pwned\n");
    refused(&t, "a/../../canary", "`..` in the middle");

    tar_begin(&t);
    tar_add(&t, 'l', "link", scratch);
    tar_add(&t, 'f', "link/canary", "pwned\n");
    refused(&t, "link/canary", "write through an absolute symlink");

    tar_begin(&t);
    tar_add(&t, 'l', "up", "..");
    tar_add(&t, 'f', "up/canary", "pwned\n");
    refused(&t, "up/canary", "write through a relative symlink");

    tar_begin(&t);
    tar_add(&t, 'd', "d", NULL);
    tar_add(&t, 'l', "d/sub", scratch);
    tar_add(&t, 'd', "d/sub/x", NULL);
    refused(&t, "d/sub/x", "mkdir through a nested symlink");

    tar_begin(&t);
    tar_add(&t, 'h', "hl", "../canary");
    refused(&t, "../canary", "hard link to `..`");

    tar_begin(&t);
    tar_add(&t, 'h', "hl", abs_canary);
    refused(&t, "hl", "hard link to an absolute outside path");

    tar_begin(&t);
    tar_add(&t, 'l', "ln", scratch);
    tar_add(&t, 'h', "hl", "ln/canary");
    refused(&t, "hl", "hard link through a symlink");

    tar_begin(&t);
    tar_add(&t, 'h', "hl", "missing");
    refused(&t, "hl", "hard link to a missing target");

    /* a 5000-byte name (pax path record): over PATH_MAX */
    tar_begin(&t);
    {
        char *longname = xmalloc(5001);
        for (int i = 0; i < 5000; i++)
            longname[i] = (i % 100 == 99) ? '/' : 'a';
        longname[5000] = '\0';
        tar_add(&t, 'f', longname, "x\n");
        free(longname);
    }
    refused(&t, "aaaa", "oversized name");

    /* malformed: the second header's checksum is broken */
    tar_begin(&t);
    tar_add(&t, 'f', "first", "1\n");
    tar_add(&t, 'f', "second", "2\n");
    tar_end(&t);
    t.out.p[1024 + 148] ^= 0x55; /* header 512 + data 512, then the second header */
    refused(&t, "first", "corrupt header");

    /* absolute names are stripped (docker's policy), not refused */
    tar_begin(&t);
    tar_add(&t, 'f', "/abs/file", "inside\n");
    {
        struct error err = {0};
        int fd = -1;
        tar_end(&t);
        int r = unpack(&t, &fd, &err);
        tap_ok(r == 0, "absolute name: accepted (leading / stripped)");
        cleanup_free char *c = read_text(fd, "abs/file");
        tap_ok(c && !strcmp(c, "inside\n"), "absolute name: landed inside the target");
        tap_ok(canary_intact(), "absolute name: canary untouched");
        close(fd);
        tar_end(&t);
        membuf_free(&t.out);
    }

    /* a file replacing a planted symlink replaces the link, not its target */
    tar_begin(&t);
    tar_add(&t, 'l', "s", abs_canary);
    tar_add(&t, 'f', "s", "pwned\n");
    {
        struct error err = {0};
        int fd = -1;
        tar_end(&t);
        int r = unpack(&t, &fd, &err);
        tap_ok(r == 0, "file over a symlink: accepted");
        struct stat st;
        tap_ok(fstatat(fd, "s", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode),
               "file over a symlink: the link was replaced by a file");
        tap_ok(canary_intact(), "file over a symlink: canary untouched");
        close(fd);
        tar_end(&t);
        membuf_free(&t.out);
    }

    /* not a tar at all */
    {
        struct membuf junk = {0};
        struct error err = {0};
        mem_sink(&junk, "this is not a tar archive, just text\n", 37, &err);
        int fd = -1;
        char name[32];
        snprintf(name, sizeof name, "target%d", ++case_no);
        mkdirat(scratch_fd, name, 0755);
        fd = openat(scratch_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = fmt_layer_unpack(mem_source, &junk, "junk.tar", fd, NULL, NULL, &err);
        tap_ok(r < 0 && strstr(err.msg, "junk.tar"), "non-tar input refused, named");
        close(fd);
        membuf_free(&junk);
    }

    struct error err = {0};
    close(scratch_fd);
    rm_rf_at(AT_FDCWD, scratch, &err);
    return tap_done();
}
