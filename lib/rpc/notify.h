/* criu's notifications ("pre-dump", "post-dump", "pre-restore",
 * "post-restore", ...) to an RPC client that asked for them
 * (criu_opts.notify_scripts).  Today the RPC code calls this around the
 * operations; a stage hook in lib/ can call it at the exact stage later.
 */
#ifndef CRYO_RPC_NOTIFY_H
#define CRYO_RPC_NOTIFY_H

#include <sys/types.h>

/* Tell the client that stage @script is reached (@pid: the tree's root,
 * 0 if none yet) and wait for its answer.  0 when no RPC client asked for
 * notifications; a negative code (logged) when the client answered with a
 * failure or went away: the operation must then fail. */
int rpc_notify(const char *script, pid_t pid);

#endif
