/* Shared by the files of lib/rpc. */
#ifndef CRYO_RPC_INT_H
#define CRYO_RPC_INT_H

#include "rpc/rpc.h"

/* Serve requests on the connected socket @sk until the client is done. */
int rpc_serve(int sk, const struct rpc_peer *peer);
int rpc_send_resp(int sk, const CriuResp *resp);
int rpc_send_error(int sk, CriuReqType type, int code, const char *msg);
/* One notification on @sk (criu's NOTIFY answer: @script, @pid if
 * non-zero, descriptor @fd attached if >= 0) and the client's reply:
 * 0, or a negative code (-ECANCELED: the client's script failed). */
int rpc_notify_one(int sk, const char *script, int pid, int fd);
/* SO_PEERCRED's pid (a socketpair: its creator), 0 if unknown */
pid_t rpc_peer_pid(int sk);

#endif
