#include "files/files-int.h"

const struct fd_kind fdk_netlink = {
	.name = "netlink socket",
	.fd_type = FD_TYPES__NETLINKSK,
};
