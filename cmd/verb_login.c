/* strata login REGISTRY: check credentials against a registry and keep them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/registry_flags.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "registry/auth.h"
#include "registry/client.h"
#include "registry/progress.h"
#include "registry/ref.h"

static const char usage[] =
    "usage: strata login [OPTIONS] REGISTRY\n"
    "\n"
    "Checks a username and password against REGISTRY (basic or token auth)\n"
    "and stores them in the auth file, mode 0600: $REGISTRY_AUTH_FILE, else\n"
    "$XDG_RUNTIME_DIR/containers/auth.json (shared with podman and skopeo),\n"
    "else ~/.config/strata/auth.json.\n"
    "\n"
    "options:\n"
    "  -u, --username USER     the user name (asked for on a terminal if missing)\n"
    "  -p, --password PASS     the password (visible to other users: prefer\n"
    "                          --password-stdin)\n"
    "      --password-stdin    read the password from standard input\n"
    "      --authfile FILE     the auth file to write\n"
    "      --tls-verify=BOOL   verify TLS (default true; false also allows http)\n"
    "      --cert-dir DIR      CA certificates and client cert/key (certs.d layout)\n";

enum { OPT_STDIN = 256 };

/* One line from f without its newline; NULL at EOF. */
static char *read_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static char *prompt(const char *what, bool secret)
{
    if (!isatty(STDIN_FILENO))
        return NULL;
    fprintf(stderr, "%s: ", what);
    fflush(stderr);
    struct termios old, quiet;
    bool restore = false;
    if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    char *line = read_line(stdin);
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return line;
}

static int run_login(struct cli *cli, const struct verb *self, int argc, char **argv)
{
    static const struct option opts[] = {
        {"username", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"password-stdin", no_argument, NULL, OPT_STDIN},
        REG_FLAGS_CONNECT,
        {0},
    };
    struct reg_opts o;
    reg_opts_init(&o);
    cleanup_free char *user = NULL, *password = NULL;
    bool from_stdin = false;
    int c;
    while ((c = cli_getopt(self, argc, argv, "u:p:", opts)) != -1) {
        int shared = registry_flag_apply(self, c, optarg, &o, NULL);
        if (shared < 0)
            return cli_exit_status(shared);
        if (shared)
            continue;
        switch (c) {
        case 'u':
            free(user);
            user = xstrdup(optarg);
            break;
        case 'p':
            free(password);
            password = xstrdup(optarg);
            break;
        case OPT_STDIN:
            from_stdin = true;
            break;
        default:
            return cli_exit_status(c);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(self, "expected one registry");
    if (from_stdin && password)
        return cli_usage_error(self, "--password and --password-stdin exclude each other");
    struct error err = {0};
    cleanup_free char *registry = reg_registry_normalize(argv[optind], &err);
    if (!registry)
        return cli_fail(self, &err);
    if (!user && !(user = prompt("Username", false)))
        return cli_usage_error(self, "--username is needed (stdin is not a terminal)");
    if (from_stdin) {
        password = read_line(stdin);
        if (!password)
            return cli_usage_error(self, "--password-stdin: nothing on standard input");
    } else if (!password && !(password = prompt("Password", true))) {
        return cli_usage_error(self, "--password or --password-stdin is needed");
    }
    if (!*user)
        return cli_usage_error(self, "the username is empty");
    if (strchr(user, ':'))
        return cli_usage_error(self, "the username cannot contain `:`");

    o.username = user;
    o.password = password;
    cleanup_free char *path = o.auth_file ? xstrdup(o.auth_file) : reg_auth_file_path(&err);
    struct reg_client *client = NULL;
    if (!path || reg_client_new(registry, &o, &client, &err) < 0 ||
        reg_client_check_login(client, &err) < 0) {
        reg_client_free(client);
        return cli_fail(self, &err);
    }
    reg_client_free(client);
    if (reg_auth_set(path, registry, user, password, &err) < 0)
        return cli_fail(self, &err);
    printf("Login Succeeded!\n");
    return 0;
}

STRATA_VERB(login, "login", "log in to a registry (credentials kept in auth.json)", usage,
            run_login)
