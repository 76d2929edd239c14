#include "cryo.h"
#include "util/log.h"
int cryo_dump(struct cryo_opts *o) { pr_err("dump: not implemented yet"); return -ENOSYS; }
int cryo_pre_dump(struct cryo_opts *o) { pr_err("pre-dump: not implemented yet"); return -ENOSYS; }
