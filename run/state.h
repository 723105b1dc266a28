/* Containers in the store: STORE/containers/<id>/ holds config.json (how
 * it was asked to run), state.json (absent until the container first
 * starts: "created"; then written atomically: Status, Pid,
 * the monitor's pid and start time, ExitCode, OOMKilled, times, and where
 * the cgroup is: CgroupPaths, {hierarchy: directory}, CgroupMode and
 * CgroupPath, podman's hierarchy-relative path), `image`
 * (the image's manifest digest, read by the store's prune), upper/ and
 * work/ (the container layer), and `log` (stdout/stderr, unless --rm in the foreground).
 *
 * "running" is never trusted from the file alone: the process that owns
 * the container (the monitor: `strata run` itself, or its detached child)
 * must still be alive with the recorded start time, else the container is
 * reported as exited. */
#ifndef STRATA_RUN_STATE_H
#define STRATA_RUN_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

struct run_cgroup;

struct run_ctr {
    char *id;
    char *dir;      /* STORE/containers/<id> */
    int dirfd;
    json_t *config; /* config.json */
    json_t *state;  /* state.json */
};

/* Creates containers/<id>/ with config (Name must be unique among
 * containers; it is checked under containers/.lock), upper/, work/, the
 * `image` file when image_digest is not NULL, and state "created".  config
 * gets Id, Name (generated when absent) and Created. */
int run_ctr_create(const char *store_root, json_t *config, const char *image_digest,
                   struct run_ctr **out, struct error *err);
/* By full id, name, or unique id prefix; err->code ENOENT when none. */
int run_ctr_find(const char *store_root, const char *name_or_id, struct run_ctr **out,
                 struct error *err);
/* Every container, oldest first. */
int run_ctr_list(const char *store_root, struct run_ctr ***out, size_t *n, struct error *err);
void run_ctr_list_free(struct run_ctr **v, size_t n);
void run_ctr_free(struct run_ctr *c);

/* Re-reads state.json. */
int run_ctr_reload(struct run_ctr *c, struct error *err);
/* Writes state.json atomically. */
int run_ctr_save_state(struct run_ctr *c, struct error *err);

/* "created", "running" or "exited", after the liveness check. */
const char *run_ctr_status(struct run_ctr *c);
bool run_ctr_is_running(struct run_ctr *c);
/* The container's main process (host pid) when running, else 0. */
pid_t run_ctr_pid(struct run_ctr *c);
/* The monitor's pid when alive, else 0. */
pid_t run_ctr_monitor(struct run_ctr *c);

/* Records "running" (the caller is the monitor) and, when cg is not
 * NULL, its cgroup's directories / "exited". */
int run_ctr_mark_running(struct run_ctr *c, pid_t pid, const struct run_cgroup *cg,
                         struct error *err);
int run_ctr_mark_exited(struct run_ctr *c, int exit_code, bool oom_killed, const char *error,
                        struct error *err);

/* Sends sig to the running container's main process. */
int run_ctr_signal(struct run_ctr *c, int sig, struct error *err);
/* Waits up to timeout_ms for the main process to end, then for the owner
 * to record it (up to 5 s more).  True when the main process ended. */
bool run_ctr_wait_stopped(struct run_ctr *c, int timeout_ms);

/* "TERM", "SIGTERM" or "15" -> 15; -1 when unknown. */
int run_signal_parse(const char *s);

/* Opens the container's `log` for appending (a detached or foreground
 * run keeps stdout and stderr there for `logs`); returns the fd or <0. */
int run_ctr_open_log(struct run_ctr *c, struct error *err);

/* The container's cgroup (for exec, rm, inspect): the directories
 * recorded at its start, never placed again from the environment.  A
 * container recorded without them (started by an older strata, or that
 * never started) is looked for where its config's CgroupParent, else
 * $STRATA_CGROUP_PARENT, puts it.  err->code ENOENT when it has none. */
int run_ctr_cgroup_open(struct run_ctr *c, struct run_cgroup **out, struct error *err);

/* Removes the cgroup (if left) and the directory. */
int run_ctr_remove(struct run_ctr *c, struct error *err);

/* The `inspect` document (Id, Name, Created, Image, Config, State, ...). */
json_t *run_ctr_inspect(struct run_ctr *c);

/* RFC 3339 with nanoseconds, UTC, malloc'd. */
char *run_time_now(void);
/* Parses run_time_now()'s format; -1 when unparsable. */
double run_time_parse(const char *s);

#endif
