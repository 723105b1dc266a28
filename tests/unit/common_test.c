/* common/: error formatting, atomic writes, mkdir -p / rm -rf, locks. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "tests/unit/tap.h"

int main(void)
{
    struct error err = {0};
    char tmpl[] = "/tmp/strata-common-XXXXXX";
    tap_ok(mkdtemp(tmpl) != NULL, "make a scratch directory");
    cleanup_close int dir = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    errno = ENOENT;
    tap_is_int(error_errno(&err, "open `%s`", "x"), -1, "error setters return -1");
    tap_is_str(err.msg, "open `x`: No such file or directory", "errno message has context");
    error_prefix(&err, "load `%s`", "img");
    tap_is_str(err.msg, "load `img`: open `x`: No such file or directory", "prefix keeps cause");

    tap_is_int(atomic_write_at(dir, "f", "hello", 5, 0640, &err), 0, "atomic write");
    char *buf = NULL;
    size_t len = 0;
    tap_is_int(read_file_at(dir, "f", &buf, &len, &err), 0, "read back");
    tap_is_str(buf, "hello", "content is what was written");
    free(buf);
    struct stat st;
    fstatat(dir, "f", &st, 0);
    tap_is_int(st.st_mode & 07777, 0640, "mode is the one asked for, not the umask's");
    tap_is_int(atomic_write_at(dir, "f", "bye", 3, 0600, &err), 0, "atomic overwrite");
    read_file_at(dir, "f", &buf, &len, &err);
    tap_is_str(buf, "bye", "overwrite replaced the whole file");
    free(buf);

    tap_is_int(mkdir_p_at(dir, "a/b/c", 0755, &err), 0, "mkdir -p");
    tap_is_int(mkdir_p_at(dir, "a/b/c", 0755, &err), 0, "mkdir -p is idempotent");
    tap_ok(mkdir_p_at(dir, "f/x", 0755, &err) < 0, "mkdir -p under a file fails");
    tap_ok(symlinkat("/", dir, "a/b/escape") == 0, "plant a symlink to /");
    tap_is_int(rm_rf_at(dir, "a", &err), 0, "rm -rf");
    tap_ok(!path_exists_at(dir, "a"), "tree is gone");
    tap_ok(access("/etc/passwd", F_OK) == 0, "rm -rf did not follow the symlink");
    tap_is_int(rm_rf_at(dir, "missing", &err), 0, "rm -rf of a missing path succeeds");

    int lk = lock_file_at(dir, "lock", true, &err);
    tap_ok(lk >= 0, "take an exclusive lock");
    close(lk);

    rm_rf_at(AT_FDCWD, tmpl, &err);
    return tap_done();
}
