/* sig_pending_threads_lr: sig_pending_threads.c dumped with --leave-running
 * (see sig_pending_threads_lr.desc). */
#include "sig_pending_threads.c"
