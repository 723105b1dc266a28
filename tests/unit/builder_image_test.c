/* The image config and history as Docker writes them. */
#include <string.h>

#include "builder/image.h"
#include "common/cleanup.h"
#include "tests/unit/tap.h"

static char *get_json(const struct bld_image *img, const char *key)
{
    json_t *v = bld_image_get(img, key);
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : strdup("null");
}

static void is_json(const struct bld_image *img, const char *key, const char *want, const char *name)
{
    char *got = get_json(img, key);
    tap_is_str(got, want, name);
    free(got);
}

int main(void)
{
    struct error err = {0};
    const char *text = "FROM scratch\n"
                       "ENV A=1 B=\"two words\"\n"
                       "ENV C=$A-${B}\n"
                       "LABEL org.example=\"v $A\" other=x\n"
                       "EXPOSE 80 53/udp 8000-8001\n"
                       "VOLUME [\"/data\", \"/$A\"]\n"
                       "VOLUME /logs\n"
                       "USER app:$A\n"
                       "WORKDIR /srv\n"
                       "WORKDIR app/../web\n"
                       "STOPSIGNAL SIGINT\n"
                       "HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://x/\n"
                       "SHELL [\"/bin/bash\", \"-c\"]\n"
                       "CMD echo $HOME\n"
                       "ENTRYPOINT [\"/init\"]\n"
                       "EXPOSE 99999\n"
                       "HEALTHCHECK NONE\n"
                       "ENTRYPOINT top -b\n"
                       "CMD [\"x\"]\n"
                       "ENTRYPOINT [\"/e\"]\n"
                       "MAINTAINER me\n"
                       "USER\n";
    struct bld_file *f = NULL;
    if (bld_parse("Containerfile", text, strlen(text), &f, &err) < 0) {
        tap_ok(0, "parse: %s", err.msg);
        return tap_done();
    }
    struct bld_image img;
    bld_image_scratch(&img);
    struct bld_env args;
    bld_env_init(&args);
    char *cb = NULL;
    int rc;
#define APPLY(i) (free(cb), cb = NULL, rc = bld_image_apply(&img, f, &f->instrs[i], &(struct bld_scope){.env = &img.env, .args = &args}, &cb, &err))

    APPLY(1);
    APPLY(2);
    is_json(&img, "Env",
            "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"A=1\",\"B=two words\",\"C=1-two words\"]",
            "Env in order, expanded");
    tap_is_str(cb, "ENV C=1-two words", "ENV created_by");
    APPLY(3);
    is_json(&img, "Labels", "{\"org.example\":\"v 1\",\"other\":\"x\"}", "Labels");
    APPLY(4);
    is_json(&img, "ExposedPorts", "{\"53/udp\":{},\"80/tcp\":{},\"8000/tcp\":{},\"8001/tcp\":{}}",
            "ExposedPorts with default tcp and ranges");
    tap_is_str(cb, "EXPOSE 80/tcp 53/udp 8000/tcp 8001/tcp", "EXPOSE created_by");
    APPLY(5);
    APPLY(6);
    is_json(&img, "Volumes", "{\"/1\":{},\"/data\":{},\"/logs\":{}}", "Volumes (JSON expanded, shell form)");
    APPLY(7);
    is_json(&img, "User", "\"app:1\"", "User expanded");
    APPLY(8);
    APPLY(9);
    is_json(&img, "WorkingDir", "\"/srv/web\"", "relative WORKDIR joins the previous one, cleaned");
    tap_is_str(bld_image_workdir(&img), "/srv/web", "workdir accessor");
    APPLY(10);
    is_json(&img, "StopSignal", "\"SIGINT\"", "StopSignal");
    APPLY(11);
    is_json(&img, "Healthcheck",
            "{\"Interval\":30000000000,\"Retries\":3,\"Test\":[\"CMD-SHELL\",\"curl -f http://x/\"],\"Timeout\":90000000000}",
            "Healthcheck");
    APPLY(12);
    is_json(&img, "Shell", "[\"/bin/bash\",\"-c\"]", "Shell");
    APPLY(13);
    is_json(&img, "Cmd", "[\"/bin/bash\",\"-c\",\"echo $HOME\"]", "shell-form CMD uses SHELL, not expanded");
    tap_is_str(cb, "CMD [\"/bin/bash\",\"-c\",\"echo $HOME\"]", "CMD created_by");
    APPLY(14);
    is_json(&img, "Entrypoint", "[\"/init\"]", "Entrypoint exec form");
    is_json(&img, "Cmd", "[\"/bin/bash\",\"-c\",\"echo $HOME\"]", "CMD set in this stage survives ENTRYPOINT");
    tap_ok(APPLY(15) < 0 && strstr(err.msg, "Containerfile:16"), "bad port fails naming line: %s", err.msg);
    APPLY(16);
    is_json(&img, "Healthcheck", "{\"Test\":[\"NONE\"]}", "HEALTHCHECK NONE");
    APPLY(17);
    is_json(&img, "Entrypoint", "[\"/bin/bash\",\"-c\",\"top -b\"]", "shell-form ENTRYPOINT");

    /* an ENTRYPOINT drops a CMD inherited from the base image */
    struct bld_image child;
    bld_image_copy(&child, &img);
    tap_ok(!child.cmd_set, "copy starts with cmd_set false");
    free(cb);
    cb = NULL;
    rc = bld_image_apply(&child, f, &f->instrs[19], &(struct bld_scope){.env = &child.env}, &cb, &err);
    is_json(&child, "Cmd", "null", "inherited CMD reset by ENTRYPOINT");
    free(cb);
    cb = NULL;
    rc = bld_image_apply(&child, f, &f->instrs[18], &(struct bld_scope){.env = &child.env}, &cb, &err);
    free(cb);
    cb = NULL;
    rc = bld_image_apply(&child, f, &f->instrs[19], &(struct bld_scope){.env = &child.env}, &cb, &err);
    is_json(&child, "Cmd", "[\"x\"]", "CMD before ENTRYPOINT in the same stage kept");
    free(cb);
    cb = NULL;
    bld_image_clear(&child);

    APPLY(20);
    tap_is_str(json_string_value(json_object_get(img.doc, "author")), "me", "MAINTAINER sets author");
    tap_ok(APPLY(21) < 0 && strstr(err.msg, "Containerfile:22"), "USER without argument fails: %s", err.msg);

    bld_image_add_layer(&img, "sha256:aaaa");
    bld_image_add_history(&img, 0, "COPY a /b", false);
    bld_image_add_history(&img, 86400, "ENV x=y", true);
    bld_image_set_created(&img, 86400);
    cleanup_free char *ser = bld_image_serialize(&img);
    tap_ok(strstr(ser, "\"diff_ids\":[\"sha256:aaaa\"]") != NULL, "rootfs.diff_ids");
    tap_ok(strstr(ser, "{\"comment\":\"strata build\",\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"COPY a /b\"}") != NULL,
           "history entry for a layer: %s", ser);
    tap_ok(strstr(ser, "\"created_by\":\"ENV x=y\",\"empty_layer\":true") != NULL, "empty_layer history entry");
    tap_ok(strstr(ser, "\"created\":\"1970-01-02T00:00:00Z\"") != NULL, "image created");
    tap_ok(strstr(ser, "\"os\":\"linux\"") != NULL && strstr(ser, "\"architecture\"") != NULL, "os/architecture");

    struct bld_image from;
    tap_ok(bld_image_from_json(ser, strlen(ser), &from, &err) == 0, "reload config");
    tap_is_str(bld_env_get(&from.env, "C"), "1-two words", "Env read back from a base config");
    size_t n;
    const char **ids = bld_image_diff_ids(&from, &n);
    tap_ok(n == 1 && !strcmp(ids[0], "sha256:aaaa"), "diff ids read back");
    free(ids);
    bld_image_clear(&from);
    tap_ok(bld_image_from_json("[1]", 3, &from, &err) < 0, "non-object config rejected");

    tap_is_int(bld_parse_duration("1h2m3.5s"), 3723500000000LL, "duration h m s");
    tap_is_int(bld_parse_duration("500ms"), 500000000, "duration ms");
    tap_is_int(bld_parse_duration("5"), -1, "unitless duration rejected");

    free(cb);
    bld_env_clear(&args);
    bld_image_clear(&img);
    bld_file_free(f);
    return tap_done();
}
