/* Capabilities: Docker's default set, adjusted by --cap-drop then
 * --cap-add, is the bounding set; root in the container also gets it as
 * its effective, permitted and inheritable sets, other users get none. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/internal.h"

static const cap_value_t docker_default[] = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD,
    CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
    CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

static int parse_cap(const char *name, cap_value_t *out, bool *all, struct error *err)
{
    *all = false;
    if (!strcasecmp(name, "ALL")) {
        *all = true;
        return 0;
    }
    cleanup_free char *lower = xasprintf("%s%s", strncasecmp(name, "CAP_", 4) ? "cap_" : "",
                                         name);
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (cap_from_name(lower, out) < 0)
        return error_set(err, EINVAL, "unknown capability `%s`", name);
    return 0;
}

/* The final set as a bit mask over capability numbers. */
static int compute(const char *const *add, const char *const *drop, unsigned long long *mask,
                   struct error *err)
{
    unsigned long long m = 0;
    for (size_t i = 0; i < ARRAY_SIZE(docker_default); i++)
        m |= 1ULL << docker_default[i];
    unsigned long long every = 0;
    for (int c = 0; c <= CAP_LAST_CAP && c < 64; c++)
        every |= 1ULL << c;
    for (size_t i = 0; drop && drop[i]; i++) {
        cap_value_t v;
        bool all;
        if (parse_cap(drop[i], &v, &all, err) < 0)
            return -1;
        if (all)
            m = 0;
        else if (v < 64)
            m &= ~(1ULL << v);
    }
    for (size_t i = 0; add && add[i]; i++) {
        cap_value_t v;
        bool all;
        if (parse_cap(add[i], &v, &all, err) < 0)
            return -1;
        if (all)
            m = every;
        else if (v < 64)
            m |= 1ULL << v;
    }
    *mask = m;
    return 0;
}

int run_caps_mask(const char *const *add, const char *const *drop, unsigned long long *mask,
                  struct error *err)
{
    return compute(add, drop, mask, err);
}

int run_caps_bound(const char *const *add, const char *const *drop, struct error *err)
{
    unsigned long long m;
    if (compute(add, drop, &m, err) < 0)
        return -1;
    int last = (int)cap_max_bits();
    for (int c = 0; c < last; c++) {
        if (c < 64 && (m & (1ULL << c)))
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return error_errno(err, "drop capability %d from the bounding set", c);
    }
    return 0;
}

int run_caps_set_for(uid_t uid, const char *const *add, const char *const *drop,
                     struct error *err)
{
    unsigned long long m;
    if (compute(add, drop, &m, err) < 0)
        return -1;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    cap_t caps = cap_init();
    if (!caps)
        return error_errno(err, "cap_init");
    if (uid == 0) {
        cap_value_t list[64];
        int n = 0;
        for (int c = 0; c < 64; c++)
            if (m & (1ULL << c))
                list[n++] = c;
        if (n && (cap_set_flag(caps, CAP_EFFECTIVE, n, list, CAP_SET) < 0 ||
                  cap_set_flag(caps, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
                  cap_set_flag(caps, CAP_INHERITABLE, n, list, CAP_SET) < 0)) {
            cap_free(caps);
            return error_errno(err, "cap_set_flag");
        }
    }
    int r = cap_set_proc(caps);
    int saved = errno;
    cap_free(caps);
    if (r < 0) {
        errno = saved;
        return error_errno(err, "set capabilities");
    }
    return 0;
}
