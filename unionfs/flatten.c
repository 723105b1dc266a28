/* ufs_upper_flatten: not implemented yet (see unionfs.h). */
#include <errno.h>

#include "unionfs/unionfs.h"

int ufs_upper_flatten(const struct ufs_options *o, struct error *err)
{
    (void)o;
    return error_set(err, ENOSYS, "flattening redirected directories is not implemented");
}
