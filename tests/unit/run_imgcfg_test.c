/* ENTRYPOINT x CMD (the Dockerfile reference's table) and env merging. */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "run/imgcfg.h"
#include "tests/unit/tap.h"

static char *joined(char **v)
{
    static char buf[512];
    buf[0] = '\0';
    for (size_t i = 0; v && v[i]; i++) {
        if (i)
            strcat(buf, "|");
        strcat(buf, v[i]);
    }
    return buf;
}

static const char *argv_of(const char *cfg, const char *ep, char *const *args, size_t n)
{
    json_t *c = cfg ? json_loads(cfg, 0, NULL) : NULL;
    char **v = NULL;
    struct error err = {0};
    static char out[2048];
    if (run_imgcfg_argv(c, ep, args, n, &v, &err) < 0)
        snprintf(out, sizeof out, "error: %s", err.msg);
    else
        snprintf(out, sizeof out, "%s", joined(v));
    strv_free(v);
    json_decref(c);
    return out;
}

int main(void)
{
    char *none[] = {NULL};
    char *args[] = {"echo", "hi", NULL};
    /* no ENTRYPOINT */
    tap_ok(!strncmp(argv_of("{}", NULL, none, 0), "error: no command", 17), "nothing: error");
    tap_ok(!strcmp(argv_of("{\"Cmd\":[\"exec_cmd\",\"p1_cmd\"]}", NULL, none, 0), "exec_cmd|p1_cmd"),
           "CMD exec form alone");
    tap_ok(!strcmp(argv_of("{\"Cmd\":[\"/bin/sh\",\"-c\",\"exec_cmd p1_cmd\"]}", NULL, none, 0),
                   "/bin/sh|-c|exec_cmd p1_cmd"),
           "CMD shell form alone");
    /* ENTRYPOINT exec form */
    const char *ee = "{\"Entrypoint\":[\"exec_entry\",\"p1_entry\"]";
    char buf[256];
    snprintf(buf, sizeof buf, "%s}", ee);
    tap_ok(!strcmp(argv_of(buf, NULL, none, 0), "exec_entry|p1_entry"), "ENTRYPOINT exec, no CMD");
    snprintf(buf, sizeof buf, "%s,\"Cmd\":[\"exec_cmd\",\"p1_cmd\"]}", ee);
    tap_ok(!strcmp(argv_of(buf, NULL, none, 0), "exec_entry|p1_entry|exec_cmd|p1_cmd"),
           "ENTRYPOINT exec + CMD exec");
    snprintf(buf, sizeof buf, "%s,\"Cmd\":[\"/bin/sh\",\"-c\",\"exec_cmd p1_cmd\"]}", ee);
    tap_ok(!strcmp(argv_of(buf, NULL, none, 0), "exec_entry|p1_entry|/bin/sh|-c|exec_cmd p1_cmd"),
           "ENTRYPOINT exec + CMD shell");
    /* ENTRYPOINT shell form */
    const char *es = "{\"Entrypoint\":[\"/bin/sh\",\"-c\",\"exec_entry p1_entry\"]";
    snprintf(buf, sizeof buf, "%s,\"Cmd\":[\"exec_cmd\",\"p1_cmd\"]}", es);
    tap_ok(!strcmp(argv_of(buf, NULL, none, 0),
                   "/bin/sh|-c|exec_entry p1_entry|exec_cmd|p1_cmd"),
           "ENTRYPOINT shell + CMD exec");
    /* run arguments replace CMD, --entrypoint replaces ENTRYPOINT and CMD */
    snprintf(buf, sizeof buf, "%s,\"Cmd\":[\"exec_cmd\"]}", ee);
    tap_ok(!strcmp(argv_of(buf, NULL, args, 2), "exec_entry|p1_entry|echo|hi"), "args replace CMD");
    tap_ok(!strcmp(argv_of(buf, "/bin/ls", none, 0), "/bin/ls"), "--entrypoint drops CMD");
    tap_ok(!strcmp(argv_of(buf, "/bin/ls", args, 2), "/bin/ls|echo|hi"), "--entrypoint + args");
    tap_ok(!strcmp(argv_of(buf, "", args, 2), "echo|hi"), "--entrypoint '' clears it");
    tap_ok(!strncmp(argv_of("{\"Cmd\":\"x\"}", NULL, none, 0), "error: image config", 19),
           "malformed Cmd is an error");

    /* env */
    setenv("STRATA_TEST_HOSTVAR", "fromhost", 1);
    json_t *c = json_loads("{\"Env\":[\"PATH=/bin\",\"A=1\",\"B=2\"]}", 0, NULL);
    const char *cli[] = {"B=3", "C=4", "STRATA_TEST_HOSTVAR", "STRATA_TEST_UNSET_VAR", NULL};
    char **env = NULL;
    struct error err = {0};
    tap_ok(run_imgcfg_env(c, NULL, cli, &env, &err) == 0, "env merges");
    tap_ok(!strcmp(joined(env), "PATH=/bin|A=1|B=3|C=4|STRATA_TEST_HOSTVAR=fromhost"),
           "image env, -e override, bare -e from the host: %s", joined(env));
    strv_free(env);
    json_decref(c);
    tap_plan(tap_count);
    return tap_failed ? 1 : 0;
}
