/* The socket descriptor kinds, registered with lib/files (which sits below
 * lib/sockets and names none of them). */
#include "files/files-int.h"
#include "sockets/sockets.h"

extern const struct fd_kind fdk_unix, fdk_inet, fdk_netlink, fdk_packet;

void sockets_register_fd_kinds(void)
{
	fd_kind_register(FDK_UNIX, &fdk_unix);
	fd_kind_register(FDK_INET, &fdk_inet);
	fd_kind_register(FDK_NETLINK, &fdk_netlink);
	fd_kind_register(FDK_PACKET, &fdk_packet);
}
