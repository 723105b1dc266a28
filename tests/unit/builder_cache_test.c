/* Build cache keys and entries. */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "builder/cache.h"
#include "common/fileutil.h"
#include "format/blob.h"
#include "tests/unit/tap.h"

int main(void)
{
    char k1[FMT_DIGEST_MAX], k2[FMT_DIGEST_MAX], k3[FMT_DIGEST_MAX], k4[FMT_DIGEST_MAX];
    bld_cache_key("sha256:parent", "RUN echo hi", NULL, k1);
    bld_cache_key("sha256:parent", "RUN echo hi", NULL, k2);
    tap_ok(fmt_digest_is_valid(k1), "key is a digest");
    tap_is_str(k1, k2, "same inputs, same key");
    bld_cache_key("sha256:other", "RUN echo hi", NULL, k3);
    tap_ok(strcmp(k1, k3) != 0, "parent changes the key");
    bld_cache_key("sha256:parent", "RUN echo ho", NULL, k3);
    tap_ok(strcmp(k1, k3) != 0, "text changes the key");
    bld_cache_key("sha256:parent", "RUN echo hi", "content:x", k3);
    bld_cache_key("sha256:parent", "RUN echo hi", "content:y", k4);
    tap_ok(strcmp(k3, k4) != 0 && strcmp(k1, k3) != 0, "extra changes the key");

    char tmpl[] = "/tmp/strata-cache-test.XXXXXX";
    if (!mkdtemp(tmpl))
        return 1;
    struct error err = {0};
    struct fmt_store *s = NULL;
    tap_ok(fmt_store_open(tmpl, &s, &err) == 0, "open store (%s)", err.msg);
    if (s) {
        struct bld_cache_entry e;
        tap_is_int(bld_cache_get(s, k1, &e, &err), 0, "miss on an empty cache");
        char blob[FMT_DIGEST_MAX];
        fmt_blob_put(s, "layer-bytes", 11, blob, &err);
        struct bld_cache_entry put = {.has_layer = true};
        put.layer.media_type = (char *)FMT_MT_LAYER_GZIP;
        memcpy(put.layer.digest, blob, sizeof blob);
        put.layer.size = 11;
        put.layer.diff_id = (char *)"sha256:1111111111111111111111111111111111111111111111111111111111111111";
        put.layer.uncompressed_size = 2048;
        tap_ok(bld_cache_put(s, k1, &put, &err) == 0, "put (%s)", err.msg);
        tap_is_int(bld_cache_get(s, k1, &e, &err), 1, "hit");
        tap_ok(e.has_layer && !strcmp(e.layer.digest, blob) && e.layer.size == 11 &&
                   !strcmp(e.layer.diff_id, put.layer.diff_id) && e.layer.uncompressed_size == 2048 &&
                   !strcmp(e.layer.media_type, FMT_MT_LAYER_GZIP),
               "entry round-trips");
        bld_cache_entry_clear(&e);

        struct bld_cache_entry none = {.has_layer = false};
        tap_ok(bld_cache_put(s, k2 /* same as k1 */, &none, &err) == 0, "overwrite with an empty step");
        tap_is_int(bld_cache_get(s, k1, &e, &err), 1, "hit for a no-layer step");
        tap_ok(!e.has_layer, "no layer");
        bld_cache_entry_clear(&e);

        put.layer.digest[10] ^= 1; /* a blob that is not in the store */
        bld_cache_put(s, k3, &put, &err);
        tap_is_int(bld_cache_get(s, k3, &e, &err), 0, "entry whose blob is gone is a miss");

        char *path = NULL;
        path = malloc(strlen(tmpl) + 200);
        sprintf(path, "%s/cache/%s.json", tmpl, fmt_digest_hex(k4));
        atomic_write_at(AT_FDCWD, path, "{garbage", 8, 0600, &err);
        tap_is_int(bld_cache_get(s, k4, &e, &err), 0, "damaged entry is a miss");
        free(path);
        fmt_store_close(s);
    }
    rm_rf_at(AT_FDCWD, tmpl, &err);
    return tap_done();
}
