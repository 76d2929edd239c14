/* rlimits_kept: rlimits.c restored by a cryo whose own hard RLIMIT_NOFILE
 * (1024, see rlimits_kept.desc) is below the dumped one (8000).  Raising a
 * hard limit needs CAP_SYS_RESOURCE, which cryo lacks here: the restore
 * must keep 1024/1024, restore every other limit exactly, and say so in its
 * log (checked by the test through --restore-log). */
#include "rlimits.c"
