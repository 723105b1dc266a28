/* run_setcfg STORE IMAGE NEWREF JSON: a copy of IMAGE (same layers) whose
 * config's "config" object has JSON's members merged in, tagged NEWREF.
 * For the run tests: ENTRYPOINT/CMD/Env/WorkingDir/User/StopSignal without
 * depending on the builder. */
#include <stdio.h>
#include <string.h>

#include "format/image.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: run_setcfg STORE IMAGE NEWREF JSON\n");
        return 2;
    }
    struct error err = {0};
    struct fmt_store *s = NULL;
    struct fmt_image *img = NULL;
    json_error_t je;
    json_t *add = json_loads(argv[4], 0, &je);
    if (!json_is_object(add)) {
        fprintf(stderr, "run_setcfg: bad JSON: %s\n", je.text);
        return 2;
    }
    if (fmt_store_open(argv[1], &s, &err) < 0 || fmt_image_resolve(s, argv[2], &img, &err) < 0)
        goto fail;
    json_t *cfg = json_deep_copy(img->config);
    json_t *c = json_object_get(cfg, "config");
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(cfg, "config", c);
    }
    json_object_update(c, add);
    int r = fmt_image_commit(s, cfg, img->manifest.layers, img->manifest.n_layers, argv[3], NULL,
                             &err);
    json_decref(cfg);
    if (r < 0)
        goto fail;
    json_decref(add);
    fmt_image_free(img);
    fmt_store_close(s);
    return 0;
fail:
    fprintf(stderr, "run_setcfg: %s\n", err.msg);
    json_decref(add);
    fmt_image_free(img);
    if (s)
        fmt_store_close(s);
    return 1;
}
