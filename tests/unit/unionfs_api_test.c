/* unionfs library API: option parsing, and a real in-process mount
 * (ufs_mount_start / ufs_mount_stop) used across fork(), as run/ and
 * builder/ use it.  The mount part skips without /dev/fuse or privilege. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "tests/unit/tap.h"
#include "unionfs/unionfs.h"

static char *slurp(const char *path)
{
    char *buf = NULL;
    size_t len;
    struct error err;
    if (read_file_at(AT_FDCWD, path, &buf, &len, &err) < 0)
        return NULL;
    return buf;
}

static void test_options(void)
{
    struct ufs_options o = {0};
    struct ufs_parsed_options *st = NULL;
    struct error err = {0};
    int r = ufs_options_parse("lowerdir=/a:/b/c,upperdir=/u,workdir=/w,volatile,nodev,"
                              "uidmapping=0:1000:1:1:100000:65536,squash_to_root,noacl",
                              &o, &st, &err);
    tap_is_int(r, 0, "fuse-overlayfs options parse");
    tap_is_int((int)o.n_lowers, 2, "two lowers");
    tap_is_str(o.n_lowers == 2 ? o.lowers[1] : NULL, "/b/c", "lowers in order");
    tap_is_str(o.upper, "/u", "upperdir");
    tap_is_str(o.work, "/w", "workdir");
    tap_ok(o.volatile_mode && o.squash_to_root, "volatile and squash_to_root");
    tap_is_int((int)o.n_uidmap, 2, "two uid mapping ranges");
    tap_ok(o.n_uidmap == 2 && o.uidmap[1].container == 1 && o.uidmap[1].host == 100000 &&
               o.uidmap[1].count == 65536,
           "mapping range values");
    tap_is_str(o.fuse_opts, "nodev", "kernel options passed on, unknown ones dropped");
    ufs_options_free(st);
    memset(&o, 0, sizeof o);
    tap_ok(ufs_options_parse("uidmapping=0:x", &o, &st, &err) < 0, "bad mapping is refused");
    tap_ok(strstr(err.msg, "0:x") != NULL, "error names the value");
    ufs_options_free(st);
}

static void test_mount(void)
{
    char root[] = "/tmp/strata-ufs-api-XXXXXX";
    if (!mkdtemp(root)) {
        tap_skip("mkdtemp failed");
        return;
    }
    char lower[256], upper[256], work[256], mnt[256], path[512];
    snprintf(lower, sizeof lower, "%s/lower", root);
    snprintf(upper, sizeof upper, "%s/upper", root);
    snprintf(work, sizeof work, "%s/work", root);
    snprintf(mnt, sizeof mnt, "%s/mnt", root);
    mkdir(lower, 0755);
    mkdir(upper, 0755);
    mkdir(mnt, 0755);
    struct error err = {0};
    snprintf(path, sizeof path, "%s/hello", lower);
    atomic_write_at(AT_FDCWD, path, "lower\n", 6, 0644, &err);

    const char *lowers[] = {lower};
    struct ufs_options o = {.lowers = lowers, .n_lowers = 1, .upper = upper, .work = work,
                            .volatile_mode = true};
    struct ufs_mount *m = NULL;
    if (access("/dev/fuse", R_OK | W_OK) != 0 || ufs_mount_start(&o, mnt, &m, &err) < 0) {
        tap_skip("cannot mount FUSE here: %s", err.msg[0] ? err.msg : "no /dev/fuse");
        rm_rf_at(AT_FDCWD, root, &err);
        return;
    }
    tap_ok(1, "ufs_mount_start");
    snprintf(path, sizeof path, "%s/hello", mnt);
    char *s = slurp(path);
    tap_is_str(s, "lower\n", "lower file read through the mount");
    free(s);
    tap_is_int(atomic_write_at(AT_FDCWD, path, "upper\n", 6, 0644, &err), 0,
               "atomic write through the mount (temp + rename)");

    /* a forked child uses the mount; the serving threads stay in the parent */
    pid_t pid = fork();
    if (pid == 0) {
        char *c = slurp(path);
        _exit(c && !strcmp(c, "upper\n") ? 0 : 1);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a forked child reads the mount");

    tap_is_int(ufs_mount_stop(m, &err), 0, "ufs_mount_stop");
    struct stat sb;
    tap_ok(stat(path, &sb) < 0 && errno == ENOENT, "unmounted");
    snprintf(path, sizeof path, "%s/hello", upper);
    s = slurp(path);
    tap_is_str(s, "upper\n", "the write landed in the upper");
    free(s);
    snprintf(path, sizeof path, "%s/hello", lower);
    s = slurp(path);
    tap_is_str(s, "lower\n", "the lower is untouched");
    free(s);

    /* read-only: no upper */
    o.upper = o.work = NULL;
    tap_is_int(ufs_mount_start(&o, mnt, &m, &err), 0, "read-only mount");
    snprintf(path, sizeof path, "%s/new", mnt);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    tap_ok(fd < 0 && errno == EROFS, "writes fail with EROFS");
    if (fd >= 0)
        close(fd);
    tap_is_int(ufs_mount_stop(m, &err), 0, "stop the read-only mount");
    tap_is_int(ufs_mount_stop(NULL, &err), 0, "stopping NULL is a no-op");
    rm_rf_at(AT_FDCWD, root, &err);
}

int main(void)
{
    test_options();
    test_mount();
    return tap_done();
}
