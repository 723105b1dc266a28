/* registry/: option parsing helpers, URL building, platform default. */
#include <stdlib.h>
#include <string.h>

#include "registry/http.h"
#include "registry/progress.h"
#include "registry/pull.h"
#include "tests/unit/tap.h"

int main(void)
{
    tap_ok(reg_parse_size("123") == 123, "plain byte count");
    tap_ok(reg_parse_size("64k") == 65536, "k is KiB");
    tap_ok(reg_parse_size("8M") == 8 << 20, "M is MiB");
    tap_ok(reg_parse_size("8MiB") == 8 << 20, "MiB spelled out");
    tap_ok(reg_parse_size("1G") == 1 << 30, "G is GiB");
    tap_ok(reg_parse_size("") < 0 && reg_parse_size("x") < 0 && reg_parse_size("5q") < 0 &&
               reg_parse_size("-1") < 0,
           "garbage sizes are refused");

    bool b = false;
    tap_ok(reg_parse_bool(NULL, &b) == 0 && b, "a bare --flag is true");
    tap_ok(reg_parse_bool("false", &b) == 0 && !b, "false");
    tap_ok(reg_parse_bool("TRUE", &b) == 0 && b, "TRUE");
    tap_ok(reg_parse_bool("0", &b) == 0 && !b, "0");
    tap_ok(reg_parse_bool("maybe", &b) < 0, "maybe is refused");

    char *u = reg_url_add_query("/v2/a/blobs/uploads/", "mount", "sha256:ab");
    tap_is_str(u, "/v2/a/blobs/uploads/?mount=sha256%3Aab", "first query parameter, escaped");
    char *u2 = reg_url_add_query(u, "from", "x/y");
    tap_is_str(u2, "/v2/a/blobs/uploads/?mount=sha256%3Aab&from=x%2Fy", "second one with &");
    free(u);
    free(u2);

    const char *p = reg_default_platform();
    tap_ok(!strncmp(p, "linux/", 6), "the default platform is linux/ARCH (%s)", p);
#if defined(__x86_64__)
    tap_is_str(p, "linux/amd64", "linux/amd64 on x86-64");
#endif
    return tap_done();
}
