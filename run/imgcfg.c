#include "run/imgcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

struct strv {
    char **v;
    size_t n, cap;
};

static void strv_push(struct strv *s, char *x)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = x;
    s->v[s->n] = NULL;
}

static int push_json_array(struct strv *s, json_t *a, const char *what, struct error *err)
{
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return error_set(err, EINVAL, "image config `%s` is not a list", what);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        if (!json_is_string(x))
            return error_set(err, EINVAL, "image config `%s` has a non-string entry", what);
        strv_push(s, xstrdup(json_string_value(x)));
    }
    return 0;
}

int run_imgcfg_argv(json_t *config, const char *entrypoint, char *const *args, size_t n_args,
                    char ***argv, struct error *err)
{
    struct strv s = {0};
    if (entrypoint) {
        if (*entrypoint)
            strv_push(&s, xstrdup(entrypoint));
    } else if (push_json_array(&s, config ? json_object_get(config, "Entrypoint") : NULL,
                               "Entrypoint", err) < 0) {
        goto fail;
    }
    if (n_args) {
        for (size_t i = 0; i < n_args; i++)
            strv_push(&s, xstrdup(args[i]));
    } else if (!entrypoint &&
               push_json_array(&s, config ? json_object_get(config, "Cmd") : NULL, "Cmd", err) <
                   0) {
        goto fail;
    }
    if (!s.n) {
        error_set(err, EINVAL, "no command specified: the image has no ENTRYPOINT or CMD");
        goto fail;
    }
    *argv = s.v;
    return 0;
fail:
    strv_free(s.v);
    return -1;
}

static void env_set(struct strv *s, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
    for (size_t i = 0; i < s->n; i++) {
        if (!strncmp(s->v[i], kv, kl) && s->v[i][kl] == '=') {
            free(s->v[i]);
            s->v[i] = xstrdup(kv);
            return;
        }
    }
    strv_push(s, xstrdup(kv));
}

/* -e K / an env-file line K: the caller's value, or nothing */
static void env_apply(struct strv *s, const char *item)
{
    if (strchr(item, '=')) {
        env_set(s, item);
        return;
    }
    const char *v = getenv(item);
    if (v) {
        cleanup_free char *kv = xasprintf("%s=%s", item, v);
        env_set(s, kv);
    }
}

int run_imgcfg_env(json_t *config, const char *const *env_files, const char *const *cli_env,
                   char ***env, struct error *err)
{
    struct strv s = {0};
    strv_push(&s, NULL);
    s.n = 0;
    json_t *ie = config ? json_object_get(config, "Env") : NULL;
    if (json_is_array(ie)) {
        size_t i;
        json_t *x;
        json_array_foreach(ie, i, x) {
            if (json_is_string(x))
                env_set(&s, json_string_value(x));
        }
    }
    for (size_t f = 0; env_files && env_files[f]; f++) {
        cleanup_free char *data = NULL;
        size_t len;
        if (read_file_at(AT_FDCWD, env_files[f], &data, &len, err) < 0) {
            strv_free(s.v);
            return error_prefix(err, "env file");
        }
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            size_t n = strlen(line);
            if (n && line[n - 1] == '\r')
                line[--n] = '\0';
            while (*line == ' ' || *line == '\t')
                line++;
            if (!*line || *line == '#')
                continue;
            if (*line == '=') {
                strv_free(s.v);
                return error_set(err, EINVAL, "env file `%s`: a line has no variable name",
                                 env_files[f]);
            }
            env_apply(&s, line);
        }
    }
    for (size_t i = 0; cli_env && cli_env[i]; i++) {
        if (cli_env[i][0] == '=' || !cli_env[i][0]) {
            strv_free(s.v);
            return error_set(err, EINVAL, "invalid environment variable `%s`", cli_env[i]);
        }
        env_apply(&s, cli_env[i]);
    }
    *env = s.v;
    return 0;
}

const char *run_imgcfg_string(json_t *config, const char *key)
{
    json_t *v = config ? json_object_get(config, key) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    return s && *s ? s : NULL;
}
