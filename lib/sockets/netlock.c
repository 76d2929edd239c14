/* The network lock around TCP repair (--network-lock): owned by sk_inet.c. */
#include "sockets/sockets.h"
