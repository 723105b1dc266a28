/* registry/: reference parsing as Docker does it, auth.json round trips. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/xalloc.h"
#include "registry/auth.h"
#include "registry/ref.h"
#include "tests/unit/tap.h"

#define DIG "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void check(const char *in, const char *want)
{
    struct reg_ref r;
    struct error err = {0};
    if (reg_ref_parse(in, &r, &err) < 0) {
        tap_ok(want == NULL, "`%s` is refused (%s)", in, err.msg);
        return;
    }
    char *got = reg_ref_format(&r);
    tap_ok(want && !strcmp(got, want), "`%s` → `%s` (want `%s`)", in, got, want ? want : "error");
    free(got);
    reg_ref_clear(&r);
}

int main(void)
{
    unsetenv("STRATA_REGISTRY");
    setenv("STRATA_REGISTRY_CONF", "/nonexistent", 1);
    check("busybox", "docker.io/library/busybox:latest");
    check("busybox:1.36", "docker.io/library/busybox:1.36");
    check("user/app", "docker.io/user/app:latest");
    check("docker.io/busybox", "docker.io/library/busybox:latest");
    check("index.docker.io/library/busybox", "docker.io/library/busybox:latest");
    check("localhost/app", "localhost/app:latest");
    check("localhost:5000/a/b:v1", "localhost:5000/a/b:v1");
    check("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest");
    check("quay.io/org/img@" DIG, "quay.io/org/img@" DIG);
    check("quay.io/org/img:t@" DIG, "quay.io/org/img:t@" DIG);
    check("Example.COM/app", "example.com/app:latest");
    check("ns_x/a__b.c-d--e", "docker.io/ns_x/a__b.c-d--e:latest");
    check("UPPER", NULL);
    check("app:", NULL);
    check("app:-bad", NULL);
    check("app@sha256:abc", NULL);
    check("a//b", NULL);
    check("a_", NULL);
    check("", NULL);
    check("host:99999999/app", NULL);

    setenv("STRATA_REGISTRY", "127.0.0.1:5000", 1);
    check("busybox", "127.0.0.1:5000/busybox:latest");
    unsetenv("STRATA_REGISTRY");
    char conf[] = "/tmp/strata-regconf-XXXXXX";
    int fd = mkstemp(conf);
    const char *text = "# test\ndefault-registry = \"registry.example:8443\"\n";
    tap_ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write conf");
    close(fd);
    setenv("STRATA_REGISTRY_CONF", conf, 1);
    check("tools/x", "registry.example:8443/tools/x:latest");
    unlink(conf);

    struct error err = {0};
    char *n = reg_registry_normalize("https://Index.Docker.io/v1/", &err);
    tap_is_str(n, "docker.io", "normalise a pasted docker hub URL");
    free(n);
    tap_ok(reg_registry_normalize("not a host", &err) == NULL, "refuse a non-host registry");

    char *b = reg_base64_encode("user:pa:ss", 10);
    tap_is_str(b, "dXNlcjpwYTpzcw==", "base64 encode");
    size_t len;
    char *d = reg_base64_decode(b, &len);
    tap_ok(d && len == 10 && !strcmp(d, "user:pa:ss"), "base64 round trip");
    free(b);
    free(d);

    char dir[] = "/tmp/strata-auth-XXXXXX";
    tap_ok(mkdtemp(dir) != NULL, "scratch dir");
    char *path = xasprintf("%s/sub/auth.json", dir);
    char *u = NULL, *p = NULL;
    tap_is_int(reg_auth_get(path, "r.example", &u, &p, &err), 0, "no file: no entry");
    tap_is_int(reg_auth_set(path, "r.example", "alice", "s:cret", &err), 0, "store creds");
    tap_is_int(reg_auth_set(path, "other:5000", "bob", "pw", &err), 0, "store a second");
    struct stat st;
    tap_ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "auth.json is 0600");
    tap_is_int(reg_auth_get(path, "r.example", &u, &p, &err), 1, "entry found");
    tap_ok(u && p && !strcmp(u, "alice") && !strcmp(p, "s:cret"), "user and password back");
    free(u);
    free(p);
    tap_is_int(reg_auth_remove(path, "r.example", &err), 1, "remove");
    tap_is_int(reg_auth_remove(path, "r.example", &err), 0, "remove again: nothing");
    u = p = NULL;
    tap_is_int(reg_auth_get(path, "other:5000", &u, &p, &err), 1, "the other one is kept");
    free(u);
    free(p);
    tap_ok(atomic_write_at(AT_FDCWD, path, "{not json", 9, 0600, &err) == 0, "damage it");
    tap_ok(reg_auth_get(path, "x", &u, &p, &err) < 0 && strstr(err.msg, path),
           "a damaged file is an error naming it");
    free(path);
    rm_rf_at(AT_FDCWD, dir, &err);
    return tap_done();
}
