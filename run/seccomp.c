/* The default seccomp filter every container process gets: the calls
 * Docker's default profile keeps from a container fail with EPERM, with
 * the same relaxations for the capabilities the container was given.
 *
 * Docker writes its profile as an allowlist of ~350 calls; this one is
 * the complement, a short denylist under a default of ALLOW, so building
 * it costs a few dozen rules rather than hundreds on every start.  The
 * compat ABIs (i386 and x32 on x86_64, arm on aarch64) are in the filter
 * too, so a 32-bit call cannot step around it.  Compiling it still costs
 * milliseconds, so the caller (before it forks) reads the compiled BPF
 * from the store's cache/seccomp/, keyed by a hash of everything that
 * shapes it, and compiles and caches it only on a miss.  `strata run`
 * also keeps it in the container's directory (a hard link to the cache
 * entry: no block to free when the container goes), so `exec` loads the
 * very filter the container got, without libseccomp.  Each file starts
 * with a line giving the BPF's size and SHA-256, checked on every read.  With the /proc view,
 * the container gets this filter with the view's sysinfo trap in front
 * (one program, run/procview.c); the kept copy has no trap, so sysinfo is
 * allowed here and exec'd processes get the host's answer. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/digest.h"
#include "run/internal.h"

/* A call and the capability that lifts the ban (-1: never lifted). */
struct deny {
    const char *name;
    int cap;
    int cap2; /* a second capability that also lifts it, or -1 */
};

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static const struct deny denied[] = {
    /* the kernel keyring is not namespaced */
    {"keyctl", -1, -1}, {"add_key", -1, -1}, {"request_key", -1, -1},
    /* page-fault handling in user space: a kernel exploit staple */
    {"userfaultfd", -1, -1},
    /* another kernel, or none */
    {"kexec_load", -1, -1}, {"kexec_file_load", -1, -1},
    {"reboot", CAP_SYS_BOOT, -1},
    /* modules */
    {"init_module", CAP_SYS_MODULE, -1}, {"finit_module", CAP_SYS_MODULE, -1},
    {"delete_module", CAP_SYS_MODULE, -1}, {"create_module", -1, -1},
    {"get_kernel_syms", -1, -1}, {"query_module", -1, -1},
    {"acct", CAP_SYS_PACCT, -1},
    /* time is not namespaced */
    {"settimeofday", CAP_SYS_TIME, -1}, {"stime", CAP_SYS_TIME, -1},
    {"clock_settime", CAP_SYS_TIME, -1}, {"clock_settime64", CAP_SYS_TIME, -1},
    {"adjtimex", CAP_SYS_TIME, -1}, {"clock_adjtime", CAP_SYS_TIME, -1},
    {"clock_adjtime64", CAP_SYS_TIME, -1},
    /* namespaces and mounts (clone is filtered on its flags below) */
    {"unshare", CAP_SYS_ADMIN, -1}, {"setns", CAP_SYS_ADMIN, -1},
    {"mount", CAP_SYS_ADMIN, -1}, {"umount", CAP_SYS_ADMIN, -1},
    {"umount2", CAP_SYS_ADMIN, -1}, {"pivot_root", CAP_SYS_ADMIN, -1},
    {"fsopen", CAP_SYS_ADMIN, -1}, {"fsconfig", CAP_SYS_ADMIN, -1},
    {"fsmount", CAP_SYS_ADMIN, -1}, {"fspick", CAP_SYS_ADMIN, -1},
    {"open_tree", CAP_SYS_ADMIN, -1}, {"move_mount", CAP_SYS_ADMIN, -1},
    {"mount_setattr", CAP_SYS_ADMIN, -1},
    {"swapon", CAP_SYS_ADMIN, -1}, {"swapoff", CAP_SYS_ADMIN, -1},
    {"quotactl", CAP_SYS_ADMIN, -1}, {"quotactl_fd", CAP_SYS_ADMIN, -1},
    {"fanotify_init", CAP_SYS_ADMIN, -1}, {"lookup_dcookie", CAP_SYS_ADMIN, -1},
    {"name_to_handle_at", CAP_SYS_ADMIN, -1},
    {"sethostname", CAP_SYS_ADMIN, -1}, {"setdomainname", CAP_SYS_ADMIN, -1},
    {"syslog", CAP_SYS_ADMIN, CAP_SYSLOG},
    {"bpf", CAP_SYS_ADMIN, CAP_BPF},
    {"perf_event_open", CAP_SYS_ADMIN, CAP_PERFMON},
    /* the old container breakout */
    {"open_by_handle_at", CAP_DAC_READ_SEARCH, -1},
    /* inspecting other processes */
    {"kcmp", CAP_SYS_PTRACE, -1}, {"pidfd_getfd", CAP_SYS_PTRACE, -1},
    {"process_madvise", CAP_SYS_PTRACE, -1},
    /* NUMA policy and I/O privilege */
    {"get_mempolicy", CAP_SYS_NICE, -1}, {"set_mempolicy", CAP_SYS_NICE, -1},
    {"mbind", CAP_SYS_NICE, -1}, {"move_pages", CAP_SYS_NICE, -1},
    {"set_mempolicy_home_node", CAP_SYS_NICE, -1},
    {"iopl", CAP_SYS_RAWIO, -1}, {"ioperm", CAP_SYS_RAWIO, -1},
    {"vhangup", CAP_SYS_TTY_CONFIG, -1},
    {"chroot", CAP_SYS_CHROOT, -1},
    /* obsolete or rarely used, and poorly tested */
    {"nfsservctl", -1, -1}, {"uselib", -1, -1}, {"ustat", -1, -1}, {"sysfs", -1, -1},
    {"_sysctl", -1, -1}, {"vm86", -1, -1}, {"vm86old", -1, -1}, {"modify_ldt", -1, -1},
    /* io_uring bypasses syscall filtering altogether */
    {"io_uring_setup", -1, -1}, {"io_uring_enter", -1, -1}, {"io_uring_register", -1, -1},
};

/* ptrace and process_vm_* are safe with seccomp from Linux 4.8 on (a
 * tracer can no longer change a filtered call); before, CAP_SYS_PTRACE. */
static const char *const ptrace_calls[] = {"ptrace", "process_vm_readv", "process_vm_writev"};

static bool kernel_at_least(int maj, int min)
{
    struct utsname u;
    int a = 0, b = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &a, &b) != 2)
        return false;
    return a > maj || (a == maj && b >= min);
}

static bool has(unsigned long long caps, int cap)
{
    return cap >= 0 && cap < 64 && (caps & (1ULL << cap));
}

/* A call unknown to this libseccomp (or to every ABI in the filter) has
 * nothing to deny. */
static int deny_call(scmp_filter_ctx ctx, const char *name, uint32_t action, unsigned n,
                     const struct scmp_arg_cmp *args)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    int r = seccomp_rule_add_array(ctx, action, nr, n, args);
    return r == -EDOM || r == -EFAULT ? 0 : r;
}

static int add_arches(scmp_filter_ctx ctx)
{
    uint32_t native = seccomp_arch_native();
    uint32_t compat[2] = {0, 0};
    if (native == SCMP_ARCH_X86_64) {
        compat[0] = SCMP_ARCH_X86;
        compat[1] = SCMP_ARCH_X32;
    } else if (native == SCMP_ARCH_AARCH64) {
        compat[0] = SCMP_ARCH_ARM;
    }
    for (int i = 0; i < 2 && compat[i]; i++) {
        int r = seccomp_arch_add(ctx, compat[i]);
        if (r < 0 && r != -EEXIST)
            return r;
    }
    return 0;
}

static int build(scmp_filter_ctx ctx, unsigned long long caps)
{
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    int r = add_arches(ctx);
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(denied); i++) {
        if (has(caps, denied[i].cap) || has(caps, denied[i].cap2))
            continue;
        r = deny_call(ctx, denied[i].name, eperm, 0, NULL);
    }
    if (r == 0 && !has(caps, CAP_SYS_PTRACE) && !kernel_at_least(4, 8)) {
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(ptrace_calls); i++)
            r = deny_call(ctx, ptrace_calls[i], eperm, 0, NULL);
    }
    if (r == 0 && !has(caps, CAP_SYS_ADMIN)) {
        /* clone may make threads and processes, not namespaces; clone3's
         * flags sit in memory a filter cannot read, so it says ENOSYS
         * and the C library falls back to clone */
        const scmp_datum_t ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
        struct scmp_arg_cmp flags = SCMP_A0(SCMP_CMP_MASKED_EQ, ns, ns);
        /* one rule per namespace bit: any of them set is refused */
        for (unsigned b = 0; r == 0 && b < 64; b++) {
            if (!(ns & (1ULL << b)))
                continue;
            flags = (struct scmp_arg_cmp)SCMP_A0(SCMP_CMP_MASKED_EQ, 1ULL << b, 1ULL << b);
            r = deny_call(ctx, "clone", eperm, 1, &flags);
        }
        if (r == 0)
            r = deny_call(ctx, "clone3", SCMP_ACT_ERRNO(ENOSYS), 0, NULL);
    }
    /* personality: only Linux, PER_LINUX32, UNAME26 (bits 3 and 17) and the
     * query 0xffffffff.  A rule compares an argument once, so the rest is
     * one rule per other bit, each also requiring bit 31 clear (no persona
     * uses it; the query has it), and one for anything above 32 bits. */
    for (unsigned b = 0; r == 0 && b < 31; b++) {
        if (b == 3 || b == 17)
            continue;
        struct scmp_arg_cmp bit =
            SCMP_A0(SCMP_CMP_MASKED_EQ, (1ULL << b) | (1ULL << 31), 1ULL << b);
        r = deny_call(ctx, "personality", eperm, 1, &bit);
    }
    if (r == 0) {
        struct scmp_arg_cmp high = SCMP_A0(SCMP_CMP_GT, 0xffffffffULL);
        r = deny_call(ctx, "personality", eperm, 1, &high);
    }
    if (r == 0) {
        /* vsock reaches the hypervisor's host, outside any namespace */
        struct scmp_arg_cmp af = SCMP_A0(SCMP_CMP_EQ, 40 /* AF_VSOCK */);
        r = deny_call(ctx, "socket", eperm, 1, &af);
    }
    return r;
}

/* What the filter is made of, hashed: a change to the tables (or a new
 * libseccomp) never reuses a filter compiled before it. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t filter_key(unsigned long long caps)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < ARRAY_SIZE(denied); i++) {
        h = fnv(h, denied[i].name, strlen(denied[i].name) + 1);
        h = fnv(h, &denied[i].cap, sizeof denied[i].cap);
        h = fnv(h, &denied[i].cap2, sizeof denied[i].cap2);
    }
    for (size_t i = 0; i < ARRAY_SIZE(ptrace_calls); i++)
        h = fnv(h, ptrace_calls[i], strlen(ptrace_calls[i]) + 1);
    const struct scmp_version *v = seccomp_version();
    unsigned parts[5] = {v->major, v->minor, v->micro, seccomp_arch_native(),
                         kernel_at_least(4, 8)};
    h = fnv(h, parts, sizeof parts);
    h = fnv(h, &caps, sizeof caps);
    /* the rules in build() that are not tables */
    static const char rev[] = "clone-bits clone3-enosys personality-bits vsock v1 file-v1";
    return fnv(h, rev, sizeof rev);
}

static int compile(unsigned long long caps, struct run_seccomp *out, struct error *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return error_set(err, ENOMEM, "seccomp: init failed");
    int r = build(ctx, caps);
    if (r < 0) {
        seccomp_release(ctx);
        return error_code(err, -r, "seccomp: build the default filter");
    }
    cleanup_close int fd = memfd_create("strata-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        seccomp_release(ctx);
        return error_errno(err, "seccomp: memfd_create");
    }
    r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (r < 0)
        return error_code(err, -r, "seccomp: export the default filter");
    if (lseek(fd, 0, SEEK_SET) < 0)
        return error_errno(err, "seccomp: rewind the filter");
    char *buf = NULL;
    size_t len = 0;
    if (read_all_fd(fd, &buf, &len, err) < 0)
        return -1;
    out->insns = (struct sock_filter *)buf;
    out->len = len;
    return 0;
}

static bool valid(size_t len)
{
    return len > 0 && len % sizeof(struct sock_filter) == 0 &&
           len / sizeof(struct sock_filter) <= BPF_MAXINSNS;
}

/* The files' first line: "strata-seccomp 1 <bytes> sha256:<hex>\n". */
#define FILE_MAGIC "strata-seccomp 1 "

static char *encode(const struct run_seccomp *f, size_t *len)
{
    char digest[FMT_DIGEST_MAX];
    fmt_digest_buffer(f->insns, f->len, digest);
    char *head = xasprintf(FILE_MAGIC "%zu %s\n", f->len, digest);
    size_t h = strlen(head);
    char *buf = xmalloc(h + f->len);
    memcpy(buf, head, h);
    memcpy(buf + h, f->insns, f->len);
    free(head);
    *len = h + f->len;
    return buf;
}

/* Takes buf (malloc'd, n bytes) on success; says what is wrong otherwise. */
static const char *decode(char *buf, size_t n, struct run_seccomp *out)
{
    char *nl = memchr(buf, '\n', n < 160 ? n : 160);
    if (n < sizeof FILE_MAGIC || memcmp(buf, FILE_MAGIC, sizeof FILE_MAGIC - 1) || !nl)
        return "not a strata seccomp filter";
    *nl = '\0';
    size_t len = 0;
    char want[FMT_DIGEST_MAX] = "";
    if (sscanf(buf + sizeof FILE_MAGIC - 1, "%zu %71s", &len, want) != 2)
        return "bad header";
    size_t body = (size_t)(nl + 1 - buf);
    if (len != n - body || !valid(len))
        return "wrong size";
    char got[FMT_DIGEST_MAX];
    fmt_digest_buffer(nl + 1, len, got);
    if (strcmp(got, want))
        return "wrong digest";
    memmove(buf, nl + 1, len);
    out->insns = (struct sock_filter *)buf;
    out->len = len;
    return NULL;
}

int run_seccomp_prepare(const char *const *cap_add, const char *const *cap_drop,
                        const char *cache_dir, struct run_seccomp *out, struct error *err)
{
    *out = (struct run_seccomp){0};
    unsigned long long caps;
    if (run_caps_mask(cap_add, cap_drop, &caps, err) < 0)
        return -1;
    cleanup_free char *path = NULL;
    if (cache_dir) {
        path = xasprintf("%s/seccomp-%016llx.bpf", cache_dir,
                         (unsigned long long)filter_key(caps));
        char *buf = NULL;
        size_t len = 0;
        struct error ignore = {0};
        if (read_file_at(AT_FDCWD, path, &buf, &len, &ignore) == 0) {
            /* a damaged entry is compiled again (and replaced) */
            if (!decode(buf, len, out)) {
                out->file = path;
                path = NULL;
                return 0;
            }
            free(buf);
        }
    }
    if (compile(caps, out, err) < 0)
        return -1;
    if (!valid(out->len)) {
        run_seccomp_free(out);
        return error_set(err, EINVAL, "seccomp: the compiled filter has a bad size");
    }
    if (path) {
        /* best effort: a read-only store just compiles every time */
        struct error ignore = {0};
        size_t n;
        cleanup_free char *file = encode(out, &n);
        if (mkdir_p_at(AT_FDCWD, cache_dir, 0755, &ignore) == 0 &&
            atomic_write_at(AT_FDCWD, path, file, n, 0644, &ignore) == 0) {
            out->file = path;
            path = NULL;
        }
    }
    return 0;
}

int run_seccomp_save(const struct run_seccomp *f, const char *path, struct error *err)
{
    if (f->file && link(f->file, path) == 0)
        return 0;
    /* another file system, or a cache that could not be written */
    size_t n;
    cleanup_free char *file = encode(f, &n);
    return atomic_write_at(AT_FDCWD, path, file, n, 0644, err);
}

int run_seccomp_read(const char *path, struct run_seccomp *out, struct error *err)
{
    *out = (struct run_seccomp){0};
    char *buf = NULL;
    size_t len = 0;
    if (read_file_at(AT_FDCWD, path, &buf, &len, err) < 0)
        return -1;
    const char *why = decode(buf, len, out);
    if (why) {
        free(buf);
        return error_set(err, EINVAL, "seccomp: the container's filter `%s` is damaged (%s)",
                         path, why);
    }
    return 0;
}

int run_seccomp_load(const struct run_seccomp *f, struct error *err)
{
    struct sock_fprog prog = {
        .len = (unsigned short)(f->len / sizeof(struct sock_filter)),
        .filter = f->insns,
    };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
        return error_errno(err, "seccomp: load the default filter");
    return 0;
}

void run_seccomp_free(struct run_seccomp *f)
{
    free(f->insns);
    free(f->file);
    *f = (struct run_seccomp){0};
}
