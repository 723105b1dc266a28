/* The store: an OCI image layout on disk (oci-layout, index.json,
 * blobs/sha256/) plus strata's own directories beside it:
 *   layers/<diff_id hex>/   unpacked layers, shared read-only union lowers
 *   containers/<id>/        container state, upper/, work/, log
 *   cache/                  build cache
 * skopeo and umoci read the root directly as `oci:ROOT:NAME`. */
#ifndef STRATA_FORMAT_STORE_H
#define STRATA_FORMAT_STORE_H

#include "common/error.h"

struct fmt_store {
    char *root;    /* absolute path */
    int root_fd;   /* O_PATH|O_DIRECTORY on root */
    int blobs_fd;  /* blobs/sha256 */
    /* -1, or a shared flock on FMT_STORE_GC_LOCK, taken by the first blob
     * write and held until close: a blob written but not yet referenced
     * from index.json must survive a concurrent `strata prune`, which takes
     * the lock exclusively. */
    int gc_lock_fd;
};

/* Opens the store at root, creating the layout (and parents) if missing. */
/* The lock file (in the root) that serialises index.json writers. */
#define FMT_STORE_INDEX_LOCK "index.json.lock"
#define FMT_STORE_GC_LOCK "gc.lock"

int fmt_store_open(const char *root, struct fmt_store **out, struct error *err);
void fmt_store_close(struct fmt_store *s);

/* Takes the shared gc lock (see gc_lock_fd) if this handle does not hold it
 * yet.  Blob writers call it; call it yourself before writing anything else
 * prune could collect (an unpacked layer dir). */
int fmt_store_hold_gc(struct fmt_store *s, struct error *err);

#endif
