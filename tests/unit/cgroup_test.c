/* run/cgroup: layout detection and stats parsing on fake trees (v1, v2,
 * hybrid); the whole create/join/read path on canned v2 and hybrid trees
 * (limits written, only the needed hierarchies made, stats and the view's
 * meminfo read back; the recorded directories opened again, a tampered
 * one refused; a missing parent named); v1 delegation for uid 65534; then real cgroups on
 * this machine when root: limits written, a process joined, an OOM kill
 * seen, everything removed. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/cgroup.h"
#include "run/cgroup_internal.h"
#include "run/procview_internal.h"
#include "tests/unit/support/cgtree.h"
#include "tests/unit/tap.h"

static void test_parsers(void)
{
    uint64_t bits[16];
    char buf[64];
    tap_is_int(run_cg_cpulist_parse("0-3,6\n", bits, 1024), 5, "cpu list 0-3,6 has 5 cpus");
    run_cg_cpulist_format(bits, 1024, buf, sizeof buf);
    tap_is_str(buf, "0-3,6", "cpu list formats back");
    tap_is_int(run_cg_cpulist_parse("3-1", bits, 1024), -1, "a reversed range is refused");
    tap_is_int(run_cg_cpulist_parse("1,x", bits, 1024), -1, "garbage is refused");

    tap_is_int(run_cg_keyed("cache 10\noom_kill 3\n", "oom_kill"), 3, "keyed file lookup");
    tap_is_int(run_cg_keyed("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"), -1,
               "a key prefix does not match a longer key");

    struct run_cgroup_limits lim;
    struct error err;
    run_cgroup_limits_init(&lim);
    tap_ok(!run_cgroup_limits_any(&lim), "fresh limits are all none");
    tap_is_int(run_cgroup_limits_set_cpus(&lim, "1.5", &err), 0, "--cpus 1.5 parses");
    tap_is_int(lim.cpu_quota_us, 150000, "quota 150000");
    tap_is_int(lim.cpu_period_us, 100000, "period 100000");
    tap_ok(run_cgroup_limits_any(&lim), "a quota is a limit");
    tap_ok(run_cgroup_limits_set_cpus(&lim, "-1", &err) < 0, "--cpus -1 is refused");
    tap_ok(run_cgroup_limits_set_cpus(&lim, "1x", &err) < 0, "--cpus 1x is refused");

    struct run_cgroup_cpu_stats st = {.quota_us = 150000, .period_us = 100000};
    snprintf(st.cpuset, sizeof st.cpuset, "2-5");
    tap_is_int(run_cgroup_visible_cpus(NULL, &st, buf, sizeof buf), 2, "1.5 cpus of 2-5: two visible");
    tap_is_str(buf, "2-3", "the first two of the cpuset");
    st.quota_us = -1;
    tap_is_int(run_cgroup_visible_cpus(NULL, &st, buf, sizeof buf), 4, "no quota: the whole cpuset");
    st.quota_us = 50000;
    snprintf(st.cpuset, sizeof st.cpuset, "1");
    tap_is_int(run_cgroup_visible_cpus(NULL, &st, buf, sizeof buf), 1, "half a cpu is one cpu");
    tap_is_str(buf, "1", "online mask names the cpuset's cpu");
}

static void test_detect(void)
{
    struct run_cgroup_layout l;
    struct error err;

    /* pure v2 */
    cgt_put("v2/cgroup.controllers", "cpuset cpu io memory pids\n");
    cleanup_free char *v2 = cgt_at("v2");
    tap_is_int(run_cg_layout_detect(v2, "0::/user.slice/user-1000.slice/session-1.scope\n", &l,
                                    &err),
               0, "detect a v2 tree");
    tap_is_str(run_cgroup_mode_name(l.mode), "v2", "pure v2");
    tap_is_str(l.unified, v2, "the v2 tree is the root");
    tap_is_str(l.self_v2, "/user.slice/user-1000.slice/session-1.scope", "own v2 cgroup");
    tap_ok(!l.v1[RUN_CG_MEMORY], "no v1 memory");
    run_cg_layout_free(&l);

    /* pure v1, cpu and cpuacct comounted with the usual symlinks */
    const char *ctrls[] = {"memory", "cpu,cpuacct", "pids", "cpuset", "blkio", "freezer",
                           "systemd"};
    for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
        cleanup_free char *f = xasprintf("v1/%s/tasks", ctrls[i]);
        cgt_put(f, "");
    }
    cleanup_free char *v1 = cgt_at("v1");
    cleanup_free char *cpu = cgt_at("v1/cpu"), *cpuacct = cgt_at("v1/cpuacct");
    tap_ok(symlink("cpu,cpuacct", cpu) == 0 && symlink("cpu,cpuacct", cpuacct) == 0,
           "cpu and cpuacct symlinks");
    tap_is_int(run_cg_layout_detect(v1, "4:memory:/a\n3:cpu,cpuacct:/b\n1:name=systemd:/c\n",
                                    &l, &err),
               0, "detect a v1 tree");
    tap_is_str(run_cgroup_mode_name(l.mode), "v1", "pure v1");
    tap_ok(!l.unified, "no v2 tree");
    cleanup_free char *mem = cgt_at("v1/memory");
    tap_is_str(l.v1[RUN_CG_MEMORY], mem, "memory hierarchy");
    tap_ok(l.v1[RUN_CG_CPU] && l.v1[RUN_CG_CPUACCT], "cpu and cpuacct found");
    tap_ok(l.v1[RUN_CG_PIDS] && l.v1[RUN_CG_CPUSET] && l.v1[RUN_CG_BLKIO] &&
               l.v1[RUN_CG_FREEZER],
           "pids cpuset blkio freezer found");
    tap_is_str(l.self_v1[RUN_CG_CPUACCT], "/b", "own cgroup of a comounted controller");
    tap_is_str(l.self_v1[RUN_CG_MEMORY], "/a", "own memory cgroup");
    run_cg_layout_free(&l);

    /* hybrid: v1 controllers plus v2 at unified (this machine's layout) */
    cgt_put("hy/memory/tasks", "");
    cgt_put("hy/cpu/tasks", "");
    cgt_put("hy/pids/tasks", "");
    cgt_put("hy/systemd/tasks", "");
    cgt_put("hy/unified/cgroup.controllers", "hugetlb\n");
    cleanup_free char *hy = cgt_at("hy"), *uni = cgt_at("hy/unified");
    tap_is_int(run_cg_layout_detect(hy, "0::/\n", &l, &err), 0, "detect a hybrid tree");
    tap_is_str(run_cgroup_mode_name(l.mode), "hybrid", "hybrid");
    tap_is_str(l.unified, uni, "v2 tree at unified");
    tap_ok(l.v1[RUN_CG_MEMORY] && l.v1[RUN_CG_CPU] && !l.v1[RUN_CG_CPUSET],
           "v1 controllers that exist, only those");
    run_cg_layout_free(&l);

    cleanup_free char *missing = cgt_at("nothing-here");
    tap_is_int(run_cg_layout_detect(missing, "", &l, &err), 0, "a missing root is not an error");
    tap_is_str(run_cgroup_mode_name(l.mode), "none", "and means no cgroups");
    run_cg_layout_free(&l);
}

static void test_fake_stats(void)
{
    struct error err;
    struct run_cgroup *cg = NULL;

    /* v1 container cgroup with canned accounting */
    cgt_put("v1/memory/strata/c1/memory.usage_in_bytes", "104857600\n");
    cgt_put("v1/memory/strata/c1/memory.memsw.usage_in_bytes", "115343360\n");
    cgt_put("v1/memory/strata/c1/memory.stat",
        "cache 1\ntotal_shmem 4096\nhierarchical_memory_limit 268435456\n"
        "hierarchical_memsw_limit 536870912\ntotal_active_file 20971520\n"
        "total_inactive_file 10485760\ntotal_active_anon 50000\n");
    cgt_put("v1/memory/strata/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    cgt_put("v1/cpu,cpuacct/strata/c1/cpu.cfs_quota_us", "50000\n");
    cgt_put("v1/cpu,cpuacct/strata/c1/cpu.cfs_period_us", "100000\n");
    cgt_put("v1/cpu,cpuacct/strata/c1/cpuacct.usage", "3000000000\n");
    cgt_put("v1/cpu,cpuacct/strata/c1/cpuacct.usage_user", "2000000000\n");
    cgt_put("v1/cpu,cpuacct/strata/c1/cpuacct.usage_sys", "1000000000\n");
    cgt_put("v1/cpuset/strata/c1/cpuset.effective_cpus", "1\n");
    cgt_put("v1/pids/strata/c1/cgroup.procs", "10\n11\n");
    cgt_put("v1/pids/strata/c1/tasks", "10\n11\n12\n");
    cgt_put("v1/blkio/strata/c1/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n");
    cgt_put("v1/blkio/strata/c1/blkio.throttle.io_serviced_recursive",
        "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\n");
    cgt_use("v1");
    tap_is_int(run_cgroup_open("c1", &cg, &err), 0, "open a v1 container cgroup");
    if (!cg)
        return;
    tap_ok(!run_cgroup_is_noop(cg), "it is a real one");
    struct run_cgroup_memory_stats m;
    tap_is_int(run_cgroup_memory_stats(cg, &m, &err), 0, "v1 memory stats");
    tap_is_int(m.limit, 268435456, "v1 limit from hierarchical_memory_limit");
    tap_is_int(m.usage, 104857600, "v1 usage");
    tap_is_int(m.cache, 31457280, "v1 reclaimable = active_file + inactive_file");
    tap_is_int(m.swap_limit, 268435456, "v1 swap = memsw - memory");
    tap_is_int(m.swap_usage, 10485760, "v1 swap usage = memsw usage - usage");
    tap_ok(run_cgroup_oom_killed(cg), "v1 oom_kill counter read");
    struct run_cgroup_cpu_stats c;
    run_cgroup_cpu_stats(cg, &c, &err);
    tap_is_int(c.quota_us, 50000, "v1 cfs quota");
    tap_is_str(c.cpuset, "1", "v1 effective cpus");
    tap_is_int(c.user_ns, 2000000000, "v1 user time");
    pid_t *pids;
    size_t n;
    run_cgroup_tasks(cg, false, &pids, &n, &err);
    tap_is_int(n, 2, "v1 processes");
    free(pids);
    run_cgroup_tasks(cg, true, &pids, &n, &err);
    tap_is_int(n, 3, "v1 threads");
    free(pids);
    struct run_cgroup_io_stat *io;
    run_cgroup_io_stats(cg, &io, &n, &err);
    tap_ok(n == 1 && io[0].major == 8 && io[0].read_bytes == 4096 && io[0].write_ios == 2,
           "v1 blkio per device");
    free(io);
    run_cgroup_free(cg);
    tap_ok(run_cgroup_open("nope", &cg, &err) < 0 && err.code == ENOENT,
           "opening a missing container fails with ENOENT");

    /* v2: a parent limit tighter than the container's own wins */
    cgt_put("v2/strata/memory.max", "134217728\n");
    cgt_put("v2/strata/c2/memory.max", "268435456\n");
    cgt_put("v2/strata/c2/memory.current", "52428800\n");
    cgt_put("v2/strata/c2/memory.swap.max", "0\n");
    cgt_put("v2/strata/c2/memory.swap.current", "0\n");
    cgt_put("v2/strata/c2/memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 0\n");
    cgt_put("v2/strata/c2/memory.stat", "anon 100\nfile 300\nactive_file 1000\ninactive_file 2000\n");
    cgt_put("v2/strata/c2/cpu.max", "100000 100000\n");
    cgt_put("v2/strata/c2/cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n");
    cgt_put("v2/strata/c2/cpuset.cpus", "\n");
    cgt_put("v2/strata/c2/cpuset.cpus.effective", "0-1\n");
    cgt_put("v2/strata/c2/pids.max", "max\n");
    cgt_put("v2/strata/c2/cgroup.procs", "7\n");
    cgt_put("v2/strata/c2/io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
    cleanup_free char *v2 = cgt_at("v2");
    setenv("STRATA_CGROUP_ROOT", v2, 1);
    tap_is_int(run_cgroup_open("c2", &cg, &err), 0, "open a v2 container cgroup");
    if (!cg)
        return;
    run_cgroup_memory_stats(cg, &m, &err);
    tap_is_int(m.limit, 134217728, "v2 effective limit is the parent's tighter one");
    tap_is_int(m.usage, 52428800, "v2 usage");
    tap_is_int(m.cache, 3000, "v2 reclaimable");
    tap_is_int(m.swap_limit, 0, "v2 swap limit");
    tap_ok(!run_cgroup_oom_killed(cg), "v2 oom_kill 0 is no kill");
    run_cgroup_cpu_stats(cg, &c, &err);
    tap_ok(c.quota_us == 100000 && c.period_us == 100000, "v2 cpu.max");
    tap_is_str(c.cpuset, "0-1", "v2 effective cpus");
    tap_is_int(c.usage_ns, 5000, "v2 usage in ns");
    run_cgroup_io_stats(cg, &io, &n, &err);
    tap_ok(n == 1 && io[0].write_bytes == 20 && io[0].read_ios == 1, "v2 io.stat");
    free(io);
    run_cgroup_free(cg);
    unsetenv("STRATA_CGROUP_ROOT");
    unsetenv("STRATA_CGROUP_PARENT");
}

/* ---- real cgroups (root) ---- */

static char real_id[64];

static void cleanup_real(void)
{
    struct run_cgroup *cg;
    struct error err;
    if (real_id[0] && run_cgroup_open(real_id, &cg, &err) == 0)
        run_cgroup_destroy(cg, &err);
}

/* A child blocked on a pipe until told to go; `hog` then allocates. */
static pid_t spawn(int *go, size_t hog)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
            _exit(3);
        for (size_t done = 0; done < hog; done += 1 << 20) {
            volatile char *m = malloc(1 << 20);
            if (!m)
                _exit(2);
            for (size_t i = 0; i < (1 << 20); i += 4096)
                m[i] = 1;
        }
        if (hog)
            _exit(0);
        pause();
        _exit(0);
    }
    close(p[0]);
    *go = p[1];
    return pid;
}

static void test_real(void)
{
    struct error err = {0};
    enum run_cgroup_mode mode;
    run_cgroup_detect_mode(&mode, &err);
    tap_diag("this machine's cgroup layout: %s", run_cgroup_mode_name(mode));
    if (geteuid() != 0 || mode == RUN_CGROUP_MODE_NONE) {
        tap_skip("real cgroups need root and a cgroup filesystem");
        return;
    }
    snprintf(real_id, sizeof real_id, "unit-%d", (int)getpid());
    atexit(cleanup_real);

    struct run_cgroup_limits lim;
    run_cgroup_limits_init(&lim);
    lim.memory = 64 << 20;
    lim.pids_max = 20;
    lim.cpuset_cpus = "0";
    run_cgroup_limits_set_cpus(&lim, "0.5", &err);
    struct run_cgroup *cg = NULL;
    if (!tap_ok(run_cgroup_create(real_id, &lim, &cg, &err) == 0, "create a cgroup with limits")) {
        tap_diag("%s", err.msg);
        return;
    }
    tap_diag("cgroup at %s", run_cgroup_path(cg));
    struct run_cgroup_memory_stats m;
    tap_is_int(run_cgroup_memory_stats(cg, &m, &err), 0, "memory stats");
    tap_is_int(m.limit, 64 << 20, "memory limit is in force");
    struct run_cgroup_cpu_stats c;
    run_cgroup_cpu_stats(cg, &c, &err);
    tap_ok(c.quota_us == 50000 && c.period_us == 100000, "cpu quota 0.5");
    tap_is_str(c.cpuset, "0", "cpuset 0");
    char vis[64];
    tap_is_int(run_cgroup_visible_cpus(cg, &c, vis, sizeof vis), 1, "one cpu visible");

    int go;
    pid_t child = spawn(&go, 0);
    tap_is_int(run_cgroup_add_pid(cg, child, &err), 0, "add a process");
    pid_t *pids;
    size_t n;
    run_cgroup_tasks(cg, false, &pids, &n, &err);
    tap_ok(n == 1 && pids[0] == child, "the cgroup lists exactly that process");
    free(pids);
    cleanup_free char *pcg = NULL;
    {
        cleanup_free char *p = xasprintf("/proc/%d/cgroup", (int)child);
        size_t len;
        read_file_at(AT_FDCWD, p, &pcg, &len, &err);
    }
    cleanup_free char *needle = xasprintf("/strata/%s\n", real_id);
    tap_ok(pcg && strstr(pcg, needle), "/proc/PID/cgroup shows strata/ID");

    struct run_cgroup *again = NULL;
    tap_is_int(run_cgroup_open(real_id, &again, &err), 0, "open it again by id");
    if (again) {
        tap_is_str(run_cgroup_path(again), run_cgroup_path(cg), "same place");
        run_cgroup_free(again);
    }

    /* a hog over the limit is OOM-killed, not throttled */
    int go2;
    pid_t hog = spawn(&go2, 256 << 20);
    run_cgroup_add_pid(cg, hog, &err);
    tap_ok(!run_cgroup_oom_killed(cg), "no OOM kill yet");
    if (write(go2, "x", 1) != 1)
        tap_diag("write: %s", strerror(errno));
    int st;
    waitpid(hog, &st, 0);
    close(go2);
    tap_ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the hog died of SIGKILL (exit 137)");
    tap_ok(run_cgroup_oom_killed(cg), "the cgroup reports the OOM kill");

    /* destroy kills what is left and removes every directory */
    cleanup_free char *path = xstrdup(run_cgroup_path(cg));
    tap_is_int(run_cgroup_destroy(cg, &err), 0, "destroy with a live process");
    waitpid(child, &st, 0);
    close(go);
    tap_ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the process was killed");
    tap_ok(access(path, F_OK) < 0, "the cgroup directory is gone");
    tap_ok(run_cgroup_open(real_id, &cg, &err) < 0, "nothing left to open");

    /* docker's --memory-swap: total memory+swap; default 2 x memory;
     * -1 unlimited (v1: memory.memsw.limit_in_bytes) */
    struct {
        int64_t swap;
        int64_t want;
        const char *name;
    } sw[] = {{RUN_CGROUP_NONE, 2 * (64 << 20), "default: memsw = 2 x memory"},
              {96 << 20, 96 << 20, "--memory-swap 96m: memsw = 96m"},
              {RUN_CGROUP_SWAP_UNLIMITED, -1, "--memory-swap -1: memsw unlimited"}};
    for (size_t i = 0; i < ARRAY_SIZE(sw); i++) {
        run_cgroup_limits_init(&lim);
        lim.memory = 64 << 20;
        lim.memory_swap = sw[i].swap;
        if (run_cgroup_create(real_id, &lim, &cg, &err) < 0) {
            tap_ok(0, "%s", sw[i].name);
            tap_diag("%s", err.msg);
            continue;
        }
        const char *d = cg->v1dir[RUN_CG_MEMORY];
        if (d && run_cg_exists(d, "memory.memsw.limit_in_bytes")) {
            int64_t v = run_cg_read_int(d, "memory.memsw.limit_in_bytes");
            tap_ok(sw[i].want < 0 ? v > (INT64_C(1) << 60) : v == sw[i].want, "%s", sw[i].name);
        } else {
            tap_skip("%s: no v1 swap accounting here", sw[i].name);
        }
        run_cgroup_destroy(cg, &err);
    }
    run_cgroup_limits_init(&lim);
    lim.memory = 64 << 20;
    lim.memory_swap = 32 << 20;
    tap_ok(run_cgroup_create(real_id, &lim, &cg, &err) < 0 && strstr(err.msg, "below the memory"),
           "--memory-swap below -m is refused");

    /* invalid cpuset: a clear error, nothing left behind */
    run_cgroup_limits_init(&lim);
    lim.cpuset_cpus = "0-4095";
    tap_ok(run_cgroup_create(real_id, &lim, &cg, &err) < 0, "an impossible cpuset fails");
    tap_diag("%s", err.msg);
    tap_ok(strstr(err.msg, "cpuset.cpus") != NULL, "the error names cpuset.cpus");
    tap_ok(run_cgroup_open(real_id, &cg, &err) < 0, "and leaves no cgroup");
}

/* Rootless (uid 65534) in a child: no limits -> a no-op or real cgroup,
 * limits -> on this v1/hybrid machine a plain error. */
static void test_rootless(void)
{
    enum run_cgroup_mode mode;
    struct error err;
    run_cgroup_detect_mode(&mode, &err);
    if (geteuid() != 0) {
        tap_skip("rootless checks need root to switch to uid 65534");
        return;
    }
    int p[2];
    if (pipe(p) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(9);
        char out[1200];
        struct run_cgroup *cg = NULL;
        int a = run_cgroup_create("rootless-unit", NULL, &cg, &err);
        bool noop = a == 0 && run_cgroup_is_noop(cg);
        if (cg)
            run_cgroup_destroy(cg, &err);
        struct run_cgroup_limits lim;
        run_cgroup_limits_init(&lim);
        lim.memory = 64 << 20;
        int b = run_cgroup_create("rootless-unit", &lim, &cg, &err);
        if (b == 0)
            run_cgroup_destroy(cg, &err);
        int len = snprintf(out, sizeof out, "%d %d %d %s", a, noop, b, b < 0 ? err.msg : "");
        if (write(p[1], out, (size_t)len) < 0)
            _exit(8);
        _exit(0);
    }
    close(p[1]);
    char buf[1200] = {0};
    ssize_t got = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    waitpid(pid, NULL, 0);
    int a = -9, noop = -9, b = -9;
    sscanf(got > 0 ? buf : "", "%d %d %d", &a, &noop, &b);
    tap_is_int(a, 0, "rootless create without limits succeeds");
    if (mode == RUN_CGROUP_MODE_V1 || mode == RUN_CGROUP_MODE_HYBRID) {
        tap_ok(noop == 1, "rootless on v1: a no-op cgroup");
        tap_ok(b < 0, "rootless on v1: a memory limit is refused");
        tap_ok(strstr(buf, "cannot enforce --memory") != NULL, "with a plain message");
        tap_diag("%s", buf);
    } else {
        tap_skip("rootless v1 refusal: this machine is not v1/hybrid");
    }
}

/* The v2 code path on a real cgroup2 tree: this machine's unified
 * hierarchy, used as if it were a pure v2 root (it has no controllers, so
 * limits must be refused plainly; creation, joining and cgroup.kill work). */
static void test_real_v2(void)
{
    struct error err = {0};
    const char *uni = "/sys/fs/cgroup/unified";
    if (geteuid() != 0 || access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) < 0) {
        tap_skip("real v2 path: needs root and a cgroup2 tree at %s", uni);
        return;
    }
    setenv("STRATA_CGROUP_ROOT", uni, 1);
    char id[64];
    snprintf(id, sizeof id, "unit-v2-%d", (int)getpid());
    struct run_cgroup *cg = NULL;
    if (!tap_ok(run_cgroup_create(id, NULL, &cg, &err) == 0, "v2: create without limits")) {
        tap_diag("%s", err.msg);
        unsetenv("STRATA_CGROUP_ROOT");
        unsetenv("STRATA_CGROUP_PARENT");
        return;
    }
    tap_is_str(run_cgroup_mode_name(run_cgroup_get_mode(cg)), "v2", "v2: detected as pure v2");
    cleanup_free char *want = xasprintf("%s/strata/%s", uni, id);
    tap_is_str(run_cgroup_path(cg), want, "v2: strata/ID under the root");
    int go;
    pid_t child = spawn(&go, 0);
    tap_is_int(run_cgroup_add_pid(cg, child, &err), 0, "v2: add a process");
    pid_t *pids;
    size_t n;
    run_cgroup_tasks(cg, false, &pids, &n, &err);
    tap_ok(n == 1 && pids[0] == child, "v2: cgroup.procs lists it");
    free(pids);
    struct run_cgroup_cpu_stats c;
    run_cgroup_cpu_stats(cg, &c, &err);
    tap_ok(c.usage_ns >= 0, "v2: cpu usage from the core cpu.stat");
    tap_is_int(run_cgroup_destroy(cg, &err), 0, "v2: destroy through cgroup.kill");
    int st;
    waitpid(child, &st, 0);
    close(go);
    tap_ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "v2: the process was killed");
    tap_ok(access(want, F_OK) < 0, "v2: the directory is gone");

    struct run_cgroup_limits lim;
    run_cgroup_limits_init(&lim);
    lim.memory = 64 << 20;
    tap_ok(run_cgroup_create(id, &lim, &cg, &err) < 0, "v2 without a memory controller: -m fails");
    tap_ok(strstr(err.msg, "cannot enforce the memory limit") != NULL, "v2: and says so plainly");
    tap_diag("%s", err.msg);
    tap_ok(access(want, F_OK) < 0, "v2: nothing left behind");
    unsetenv("STRATA_CGROUP_ROOT");
    unsetenv("STRATA_CGROUP_PARENT");
}

/* What run_cg_v2_base (or run_cg_v1_base of controller ctrl) answers to
 * uid 65534 in a canned tree, $STRATA_CGROUP_PARENT set to parent (or
 * unset): the directory, or the error's message. */
struct base_query {
    const char *root, *self, *parent;
    bool v2;
    int ctrl;
};

static char *base_as_65534(const struct base_query *q)
{
    int p[2];
    if (pipe(p) < 0)
        return xstrdup("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        if (setresuid(65534, 65534, 65534) < 0)
            _exit(9);
        if (q->parent)
            setenv("STRATA_CGROUP_PARENT", q->parent, 1);
        else
            unsetenv("STRATA_CGROUP_PARENT");
        struct run_cgroup_layout l;
        struct error err = {0};
        run_cg_layout_detect(q->root, q->self, &l, &err);
        char *base = q->v2 ? run_cg_v2_base(&l, true, &err)
                           : run_cg_v1_base(&l, q->ctrl, true, &err);
        dprintf(p[1], "%s", base ? base : err.msg);
        _exit(0);
    }
    close(p[1]);
    char buf[1024] = {0};
    if (read(p[0], buf, sizeof buf - 1) < 0)
        buf[0] = 0;
    close(p[0]);
    waitpid(pid, NULL, 0);
    return xstrdup(buf);
}

/* Rootless v2: the delegated subtree is the topmost ancestor of our
 * cgroup that we own (a fake tree, chowned to 65534). */
static void test_delegation(void)
{
    if (geteuid() != 0) {
        tap_skip("delegation walk: needs root to chown a fake tree");
        return;
    }
    chmod(cgt_dir(), 0755); /* uid 65534 walks it */
    cgt_put("dg/cgroup.controllers", "memory pids\n");
    cgt_put("dg/user.slice/user-65534.slice/user@65534.service/app.slice/t.scope/cgroup.procs", "");
    const char *owned[] = {"dg/user.slice/user-65534.slice/user@65534.service",
                           "dg/user.slice/user-65534.slice/user@65534.service/app.slice",
                           "dg/user.slice/user-65534.slice/user@65534.service/app.slice/t.scope"};
    for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
        cleanup_free char *d = cgt_at(owned[i]);
        if (chown(d, 65534, 65534) < 0)
            tap_diag("chown %s: %s", d, strerror(errno));
    }
    cleanup_free char *root = cgt_at("dg");
    struct base_query q = {.root = root, .v2 = true,
        .self = "0::/user.slice/user-65534.slice/user@65534.service/app.slice/t.scope\n"};
    cleanup_free char *buf = base_as_65534(&q);
    cleanup_free char *want = xasprintf("%s/user.slice/user-65534.slice/user@65534.service/strata", root);
    tap_is_str(buf, want, "rootless v2: strata/ goes under user@UID.service, the delegated root");

    /* a caller in a cgroup it does not own has no delegation */
    struct run_cgroup_layout l;
    struct error err;
    run_cg_layout_detect(root, "0::/user.slice\n", &l, &err);
    if (fork() == 0) {
        if (setresuid(65534, 65534, 65534) < 0)
            _exit(9);
        char *base = run_cg_v2_base(&l, true, &err);
        _exit(base == NULL && strstr(err.msg, "not delegated") ? 0 : 1);
    }
    int st;
    wait(&st);
    tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rootless v2 outside a delegated tree: a plain error");
    run_cg_layout_free(&l);
}

/* Rootless v1: the caller's own cgroup in each hierarchy, when chowned to
 * it (its topmost owned ancestor), or $STRATA_CGROUP_PARENT when writable;
 * a fake hybrid tree chowned to 65534. */
static char *v1_base_as(const char *root, const char *self, int c, const char *parent)
{
    struct base_query q = {.root = root, .self = self, .ctrl = c, .parent = parent};
    return base_as_65534(&q);
}

static void test_delegation_v1(void)
{
    if (geteuid() != 0) {
        tap_skip("v1 delegation: needs root to chown a fake tree");
        return;
    }
    chmod(cgt_dir(), 0755);
    cgt_put("d1/unified/cgroup.controllers", "");
    cgt_put("d1/memory/tasks", "");
    cgt_put("d1/memory/deleg/sub/tasks", "");
    cgt_put("d1/cpu/tasks", "");
    cgt_put("d1/cpu/other/tasks", "");
    const char *owned[] = {"d1/memory/deleg", "d1/memory/deleg/sub"};
    for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
        cleanup_free char *d = cgt_at(owned[i]);
        if (chown(d, 65534, 65534) < 0)
            tap_diag("chown %s: %s", d, strerror(errno));
    }
    cleanup_free char *root = cgt_at("d1");
    const char *self = "4:memory:/deleg/sub\n1:cpu:/other\n0::/\n";
    cleanup_free char *mem = v1_base_as(root, self, RUN_CG_MEMORY, NULL);
    cleanup_free char *want = xasprintf("%s/memory/deleg/strata", root);
    tap_is_str(mem, want, "rootless v1: strata/ under the topmost owned ancestor of our cgroup");
    cleanup_free char *cpu = v1_base_as(root, self, RUN_CG_CPU, NULL);
    tap_ok(strstr(cpu, "no cgroup of the `cpu` hierarchy is delegated to uid 65534") != NULL,
           "rootless v1, a hierarchy not delegated: a plain error naming it");
    tap_ok(strstr(cpu, "STRATA_CGROUP_PARENT") != NULL, "... saying how to delegate");
    cleanup_free char *par = v1_base_as(root, "0::/\n", RUN_CG_MEMORY, "/deleg");
    tap_is_str(par, want, "STRATA_CGROUP_PARENT=/deleg: strata/ under it");
    cleanup_free char *ro = v1_base_as(root, "0::/\n", RUN_CG_CPU, "/other");
    tap_ok(strstr(ro, "is not writable by uid 65534") != NULL,
           "STRATA_CGROUP_PARENT not writable: refused");
    cleanup_free char *bad = v1_base_as(root, "0::/\n", RUN_CG_MEMORY, "/deleg/../..");
    tap_ok(strstr(bad, "without `..`") != NULL, "STRATA_CGROUP_PARENT with `..`: refused");
}

/* The whole v2 path on canned files (this host's v2 controllers are bound
 * to v1, so the real tree cannot carry limits): create writes memory.max,
 * memory.swap.max, cpu.max, pids.max and cpuset.cpus; add_pid writes
 * cgroup.procs; the readers take memory.current, memory.stat's file LRUs
 * (not `file`, which holds shmem), memory.swap.*, cpu.max,
 * cpuset.cpus.effective, cpu.stat and memory.events' oom_kill; the /proc
 * view renders MemTotal/MemAvailable from them. */
static void test_canned_v2(void)
{
    struct error err = {0};
    const char *id = "cv2";
    cgt_v2("cv", id, "2-3");
    cgt_use("cv");

    struct run_cgroup_limits lim;
    run_cgroup_limits_init(&lim);
    lim.memory = 256 << 20;
    lim.pids_max = 50;
    lim.cpuset_cpus = "2-3";
    tap_is_int(run_cgroup_limits_set_cpus(&lim, "1.5", &err), 0, "--cpus 1.5");
    struct run_cgroup *cg = NULL;
    if (!tap_ok(run_cgroup_create(id, &lim, &cg, &err) == 0, "canned v2: create with limits")) {
        tap_diag("%s", err.msg);
        unsetenv("STRATA_CGROUP_ROOT");
        unsetenv("STRATA_CGROUP_PARENT");
        return;
    }
    tap_is_str(run_cgroup_mode_name(run_cgroup_get_mode(cg)), "v2", "canned v2: pure v2");
    cleanup_free char *dir = cgt_at("cv/strata/cv2");
    tap_is_str(run_cgroup_path(cg), dir, "canned v2: <root>/strata/ID");
    char *v;
    tap_is_str((v = cgt_first_line("cv/strata/cv2/memory.max")), "268435456", "memory.max = -m");
    free(v);
    tap_is_str((v = cgt_first_line("cv/strata/cv2/memory.swap.max")), "268435456",
               "memory.swap.max = as much swap as memory (docker's default)");
    free(v);
    tap_is_str((v = cgt_first_line("cv/strata/cv2/cpu.max")), "150000 100000", "cpu.max from --cpus 1.5");
    free(v);
    tap_is_str((v = cgt_first_line("cv/strata/cv2/pids.max")), "50", "pids.max");
    free(v);
    tap_is_str((v = cgt_first_line("cv/strata/cv2/cpuset.cpus")), "2-3", "cpuset.cpus");
    free(v);
    tap_ok((v = cgt_first_line("cv/strata/cgroup.subtree_control")) && v[0] == '+',
           "the controllers are enabled for the children");
    free(v);
    tap_is_int(run_cgroup_add_pid(cg, getpid(), &err), 0, "add_pid");
    char me[32];
    snprintf(me, sizeof me, "%d", (int)getpid());
    tap_is_str((v = cgt_first_line("cv/strata/cv2/cgroup.procs")), me, "cgroup.procs has the pid");
    free(v);

    struct run_cgroup_memory_stats m;
    tap_is_int(run_cgroup_memory_stats(cg, &m, &err), 0, "canned v2: memory stats");
    tap_is_int(m.limit, 268435456, "limit from memory.max (the parent has none)");
    tap_is_int(m.usage, 104857600, "usage from memory.current");
    tap_is_int(m.cache, 24857600, "reclaimable = active_file + inactive_file, not `file`");
    tap_is_int(m.shmem, 20000000, "shmem");
    tap_is_int(m.swap_limit, 268435456, "swap limit from memory.swap.max");
    tap_is_int(m.swap_usage, 4096, "swap usage from memory.swap.current");
    tap_ok(run_cgroup_oom_killed(cg), "memory.events oom_kill 1: OOM-killed");
    cleanup_free char *host = xstrdup("MemTotal:       16000000 kB\nMemFree:         8000000 kB\n"
                                      "MemAvailable:   12000000 kB\nSwapTotal:       1000000 kB\n"
                                      "SwapFree:        1000000 kB\n");
    cleanup_free char *mi = run_pv_meminfo(host, &m);
    tap_ok(strstr(mi, "MemTotal:         262144 kB") != NULL, "view: MemTotal = memory.max");
    /* free = 256 MiB - 100 MiB = 156 MiB; available adds the 23.7 MiB of file LRUs */
    tap_ok(strstr(mi, "MemFree:          159744 kB") != NULL, "view: MemFree = max - current");
    tap_ok(strstr(mi, "MemAvailable:     184019 kB") != NULL,
           "view: MemAvailable = free + reclaimable file pages");
    if (!strstr(mi, "MemAvailable:     184019 kB"))
        tap_diag("%s", mi);
    tap_ok(strstr(mi, "SwapTotal:        262144 kB") != NULL, "view: SwapTotal = memory.swap.max");

    struct run_cgroup_cpu_stats c;
    run_cgroup_cpu_stats(cg, &c, &err);
    tap_ok(c.quota_us == 150000 && c.period_us == 100000, "cpu.max read back");
    tap_is_str(c.cpuset, "2-3", "cpuset.cpus.effective");
    tap_ok(c.usage_ns == 7000000 && c.user_ns == 4000000 && c.system_ns == 3000000,
           "cpu.stat in ns");
    char list[64];
    tap_is_int(run_cgroup_visible_cpus(cg, &c, list, sizeof list), 2,
               "view: ceil(1.5) = 2 cpus of the cpuset");
    tap_is_str(list, "2-3", "view: the cpuset's cpus");
    /* no quota ("max"), a memory limit of "max": unlimited */
    cgt_put("cv/strata/cv2/cpu.max", "max 100000\n");
    cgt_put("cv/strata/cv2/memory.max", "max\n");
    cgt_put("cv/strata/cv2/memory.events", "oom 0\noom_kill 0\n");
    run_cgroup_cpu_stats(cg, &c, &err);
    tap_ok(c.quota_us == -1 && c.period_us == 100000, "cpu.max `max 100000`: no quota");
    run_cgroup_memory_stats(cg, &m, &err);
    tap_is_int(m.limit, -1, "memory.max `max`: no limit");
    tap_ok(!run_cgroup_oom_killed(cg), "oom_kill 0: not OOM-killed");
    run_cgroup_free(cg);

    /* a request the tree cannot carry (no pids.max in the child) fails plainly */
    cgt_put("cv/strata/cv3/memory.max", "");
    cgt_put("cv/strata/cv3/cgroup.procs", "");
    run_cgroup_limits_init(&lim);
    lim.pids_max = 10;
    tap_ok(run_cgroup_create("cv3", &lim, &cg, &err) < 0 &&
               strstr(err.msg, "cannot enforce the pids limit") != NULL,
           "canned v2 without the pids controller: --pids-limit refused");
    unsetenv("STRATA_CGROUP_ROOT");
    unsetenv("STRATA_CGROUP_PARENT");
}

/* Hybrid on canned files: a container with -m and --cpus gets directories
 * in memory, cpu and the v2 tracker only (none in pids, cpuset, blkio,
 * freezer), its limits in the v1 files, and stats from v1 memory plus the
 * v2 tracker's cpu.stat. */
static void test_canned_hybrid(void)
{
    struct error err = {0};
    const char *h[] = {"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer"};
    for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
        cleanup_free char *f = xasprintf("ch/%s/tasks", h[i]);
        cgt_put(f, "");
    }
    cgt_put("ch/unified/cgroup.controllers", "");
    cgt_put("ch/unified/cgroup.subtree_control", "");
    cgt_put("ch/memory/strata/ch1/memory.limit_in_bytes", "");
    cgt_put("ch/memory/strata/ch1/memory.memsw.limit_in_bytes", "");
    cgt_put("ch/memory/strata/ch1/cgroup.procs", "");
    cgt_put("ch/memory/strata/ch1/memory.usage_in_bytes", "1048576\n");
    cgt_put("ch/memory/strata/ch1/memory.stat", "hierarchical_memory_limit 67108864\n"
                                            "total_active_file 0\ntotal_inactive_file 0\n");
    cgt_put("ch/cpu/strata/ch1/cpu.cfs_quota_us", "");
    cgt_put("ch/cpu/strata/ch1/cpu.cfs_period_us", "");
    cgt_put("ch/cpu/strata/ch1/cgroup.procs", "");
    cgt_put("ch/unified/strata/ch1/cgroup.procs", "");
    cgt_put("ch/unified/strata/ch1/cpu.stat", "usage_usec 9\nuser_usec 5\nsystem_usec 4\n");
    cgt_use("ch");
    struct run_cgroup_limits lim;
    run_cgroup_limits_init(&lim);
    lim.memory = 64 << 20;
    run_cgroup_limits_set_cpus(&lim, "0.5", &err);
    struct run_cgroup *cg = NULL;
    if (!tap_ok(run_cgroup_create("ch1", &lim, &cg, &err) == 0, "canned hybrid: create")) {
        tap_diag("%s", err.msg);
        unsetenv("STRATA_CGROUP_ROOT");
        unsetenv("STRATA_CGROUP_PARENT");
        return;
    }
    tap_is_str(run_cgroup_mode_name(run_cgroup_get_mode(cg)), "hybrid", "canned hybrid: detected");
    int made = 0;
    for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
        cleanup_free char *d = xasprintf("ch/%s/strata/ch1", h[i]);
        cleanup_free char *p = cgt_at(d);
        made += access(p, F_OK) == 0;
    }
    tap_is_int(made, 2, "canned hybrid: only memory and cpu among the v1 hierarchies");
    char *v;
    tap_is_str((v = cgt_first_line("ch/memory/strata/ch1/memory.limit_in_bytes")), "67108864",
               "memory.limit_in_bytes");
    free(v);
    tap_is_str((v = cgt_first_line("ch/memory/strata/ch1/memory.memsw.limit_in_bytes")), "134217728",
               "memsw = 2 x memory by default");
    free(v);
    tap_is_str((v = cgt_first_line("ch/cpu/strata/ch1/cpu.cfs_quota_us")), "50000", "cfs quota");
    free(v);
    /* add_pid pins us to the one cpu --cpus 0.5 shows: undo it after */
    cpu_set_t saved;
    sched_getaffinity(0, sizeof saved, &saved);
    tap_is_int(run_cgroup_add_pid(cg, getpid(), &err), 0, "canned hybrid: add_pid");
    cpu_set_t pinned;
    sched_getaffinity(0, sizeof pinned, &pinned);
    tap_ok(CPU_COUNT(&pinned) == 1 || CPU_COUNT(&saved) == 1,
           "--cpus 0.5 pins the process to one cpu (nproc agrees with the view)");
    sched_setaffinity(0, sizeof saved, &saved);
    char me[32];
    snprintf(me, sizeof me, "%d", (int)getpid());
    tap_ok((v = cgt_first_line("ch/unified/strata/ch1/cgroup.procs")) && !strcmp(v, me),
           "the v2 tracker has the pid");
    free(v);
    struct run_cgroup_cpu_stats c;
    run_cgroup_cpu_stats(cg, &c, &err);
    tap_ok(c.quota_us == 50000 && c.usage_ns == 9000, "quota from v1 cpu, usage from v2 cpu.stat");
    struct run_cgroup_memory_stats m;
    run_cgroup_memory_stats(cg, &m, &err);
    tap_ok(m.limit == 67108864 && m.usage == 1048576, "memory from v1");

    /* what run records, and other verbs open again without placing it */
    struct run_cgroup_dir d[RUN_CGROUP_MAX_DIRS];
    size_t n = run_cgroup_dirs(cg, d);
    tap_is_int((int)n, 3, "canned hybrid: three directories to record (v2 tracker, memory, cpu)");
    tap_is_str(run_cgroup_rel_path(cg), "/strata/ch1", "the path below the hierarchy");
    tap_is_int(run_cgroup_mode_parse("hybrid"), RUN_CGROUP_MODE_HYBRID, "mode names parse back");
    tap_is_int(run_cgroup_mode_parse("v3"), -1, "... and unknown ones do not");
    /* neither the root nor the parent of the environment is consulted */
    setenv("STRATA_CGROUP_ROOT", "/nonexistent", 1);
    setenv("STRATA_CGROUP_PARENT", "/elsewhere", 1);
    struct run_cgroup *again = NULL;
    tap_is_int(run_cgroup_open_dirs("ch1", RUN_CGROUP_MODE_HYBRID, d, n, &again, &err), 0,
               "open from the recorded directories");
    if (again) {
        tap_is_str(run_cgroup_path(again), run_cgroup_path(cg), "... the same cgroup");
        run_cgroup_cpu_stats(again, &c, &err);
        tap_ok(c.quota_us == 50000, "... whose stats read back");
        run_cgroup_free(again);
    }
    unsetenv("STRATA_CGROUP_PARENT");
    cleanup_free char *other = cgt_at("ch/memory/strata/other");
    struct run_cgroup_dir bad[] = {{"memory", other}};
    tap_ok(run_cgroup_open_dirs("ch1", RUN_CGROUP_MODE_HYBRID, bad, 1, &again, &err) < 0 &&
               err.code == EINVAL,
           "a recorded directory not named after the container is refused");
    cleanup_free char *gone = cgt_at("ch/memory/strata/gone/ch1");
    struct run_cgroup_dir missing[] = {{"memory", gone}};
    tap_ok(run_cgroup_open_dirs("ch1", RUN_CGROUP_MODE_HYBRID, missing, 1, &again, &err) < 0 &&
               err.code == ENOENT,
           "recorded directories all gone: ENOENT");
    run_cgroup_free(cg);

    /* an explicit parent that is not there: an error naming the path */
    cgt_use("ch");
    cg = NULL;
    tap_ok(run_cgroup_create_in("ch2", "/nope", NULL, &cg, &err) < 0 &&
               strstr(err.msg, "unified/nope` does not exist"),
           "a cgroup parent that does not exist is refused, naming it");
    run_cgroup_free(cg);
    unsetenv("STRATA_CGROUP_ROOT");
    unsetenv("STRATA_CGROUP_PARENT");
}

int main(void)
{
    if (!cgt_init())
        return 1;
    test_parsers();
    test_detect();
    test_fake_stats();
    test_canned_v2();
    test_canned_hybrid();
    test_real();
    test_real_v2();
    test_delegation();
    test_delegation_v1();
    test_rootless();
    cgt_cleanup();
    return tap_done();
}
