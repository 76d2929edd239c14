/* posix_timers_bigid: posix_timers.c, run with different metadata (see posix_timers_bigid.desc). */
#include "posix_timers.c"
