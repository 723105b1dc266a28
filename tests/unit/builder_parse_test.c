/* The Containerfile parser: continuations, comments, directives, flags,
 * exec vs shell form, case-insensitivity, errors naming FILE:LINE. */
#include <string.h>

#include "builder/parse.h"
#include "common/cleanup.h"
#include "tests/unit/tap.h"

static struct bld_file *parse(const char *text, struct error *err)
{
    struct bld_file *f = NULL;
    if (bld_parse("Containerfile", text, strlen(text), &f, err) < 0)
        return NULL;
    return f;
}

int main(void)
{
    struct error err = {0};
    struct bld_file *f;

    f = parse("# a comment\nfrom busybox AS Build\n\nRun echo hi \\\n  there\n"
              "  # comment inside\nCOPY --from=build --chown=1:2 a b /c/\n",
              &err);
    tap_ok(f != NULL, "parses a simple file (%s)", err.msg);
    if (f) {
        tap_is_int(f->n_instrs, 3, "three instructions");
        tap_is_str(f->instrs[0].cmd, "from", "keyword lowercased");
        tap_is_str(f->instrs[0].args, "busybox AS Build", "FROM args kept as written");
        tap_is_int(f->instrs[0].line, 2, "FROM on line 2");
        tap_is_str(f->instrs[1].cmd, "run", "Run is RUN");
        tap_is_str(f->instrs[1].args, "echo hi   there", "continuation joined, leading space of next line kept");
        tap_is_int(f->instrs[1].line, 4, "RUN starts on line 4");
        tap_ok(f->instrs[1].json == NULL, "RUN shell form");
        tap_is_int(f->instrs[2].line, 7, "line numbers count continuation lines and comments");
        tap_is_int(f->instrs[2].n_flags, 2, "two flags");
        tap_is_str(bld_instr_flag(&f->instrs[2], "from", NULL), "build", "--from value");
        tap_is_str(bld_instr_flag(&f->instrs[2], "chown", NULL), "1:2", "--chown value");
        tap_is_str(f->instrs[2].args, "a b /c/", "COPY args after flags");
        bld_file_free(f);
    }

    f = parse("FROM x\nCMD [\"echo\", \"a b\"]\nCMD [\"echo\", bad]\nENTRYPOINT [1, 2]\n"
              "RUN [\"/bin/sh\",\"-c\",\"x\"]\nSHELL [\"/bin/bash\", \"-c\"]\n",
              &err);
    tap_ok(f != NULL, "parses exec forms");
    if (f) {
        tap_ok(f->instrs[1].json && f->instrs[1].n_json == 2, "valid JSON is exec form");
        tap_is_str(f->instrs[1].json ? f->instrs[1].json[1] : NULL, "a b", "exec form element");
        tap_ok(f->instrs[2].json == NULL, "invalid JSON falls back to shell form");
        tap_is_str(f->instrs[2].args, "[\"echo\", bad]", "shell form keeps the text");
        tap_ok(f->instrs[3].json == NULL, "non-string array falls back to shell form");
        tap_ok(f->instrs[4].json && f->instrs[4].n_json == 3, "RUN exec form");
        tap_ok(f->instrs[5].json != NULL, "SHELL JSON");
        bld_file_free(f);
    }

    f = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo hi\n", &err);
    tap_ok(f != NULL, "escape directive");
    if (f) {
        tap_is_int(f->escape, '`', "escape is backtick");
        tap_is_str(f->instrs[1].args, "dir c:\\   && echo hi", "backslash is literal, backtick continues");
        bld_file_free(f);
    }

    f = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n", &err);
    tap_ok(f && f->escape == '`', "syntax directive then escape");
    bld_file_free(f);

    f = parse("# some comment\n# escape=`\nFROM x\nRUN a \\\n b\n", &err);
    tap_ok(f && f->escape == '\\' && f->n_instrs == 2, "a directive after a comment is a comment");
    bld_file_free(f);

    f = parse("FROM x\n# escape=`\n", &err);
    tap_ok(f && f->escape == '\\', "a directive after an instruction is a comment");
    bld_file_free(f);

    f = parse("# escape=x\nFROM x\n", &err);
    tap_ok(!f && strstr(err.msg, "Containerfile:1"), "invalid escape token names line 1: %s", err.msg);

    f = parse("FROM x\nRUN echo a\nFROBNICATE all\n", &err);
    tap_ok(!f, "unknown instruction fails");
    tap_ok(strstr(err.msg, "Containerfile:3") && strstr(err.msg, "FROBNICATE"),
           "error names FILE:LINE and the instruction: %s", err.msg);

    f = parse("FROM x\nSHELL /bin/sh -c\n", &err);
    tap_ok(!f && strstr(err.msg, "Containerfile:2") && strstr(err.msg, "JSON"),
           "SHELL needs JSON: %s", err.msg);

    f = parse("FROM x\r\nRUN echo \\\r\n  crlf\r\n", &err);
    tap_ok(f && f->n_instrs == 2 && !strcmp(f->instrs[1].args, "echo   crlf"), "CRLF line endings");
    bld_file_free(f);

    f = parse("FROM x\nRUN echo a \\\n\n  b\nRUN last \\\n", &err);
    tap_ok(f && f->n_instrs == 3, "empty continuation line skipped; trailing escape at EOF ok");
    if (f) {
        tap_is_str(f->instrs[1].args, "echo a   b", "empty line inside continuation dropped");
        tap_is_str(f->instrs[2].args, "last", "escape at EOF dropped");
    }
    bld_file_free(f);

    f = parse("FROM x\nHEALTHCHECK --interval=5s --retries=3 CMD true\nRUN --network=none x\n", &err);
    tap_ok(f && f->instrs[1].n_flags == 2 && !strcmp(f->instrs[1].args, "CMD true"),
           "HEALTHCHECK flags");
    if (f) {
        bool present;
        tap_ok(bld_instr_flag(&f->instrs[1], "nope", &present) == NULL && !present, "absent flag");
        static const char *const none[] = {NULL};
        tap_ok(bld_instr_check_flags(f, &f->instrs[2], none, &err) < 0 &&
                   strstr(err.msg, "Containerfile:3") && strstr(err.msg, "--network"),
               "unknown flag error names line and flag: %s", err.msg);
    }
    bld_file_free(f);

    f = parse("", &err);
    tap_ok(f && f->n_instrs == 0, "empty file parses to nothing");
    bld_file_free(f);

    size_t n;
    char **v = bld_json_strv("[\"a\", \"b\\\"c\"]", &n);
    tap_ok(v && n == 2 && !strcmp(v[1], "b\"c"), "json strv unescapes");
    strv_free(v);
    tap_ok(bld_json_strv("{\"a\":1}", &n) == NULL, "json object is not a strv");

    return tap_done();
}
