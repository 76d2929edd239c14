/* posix_timers_inorder: posix_timers.c, run with different metadata (see posix_timers_inorder.desc). */
#include "posix_timers.c"
