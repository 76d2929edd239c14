#include "files/files-int.h"

const struct fd_kind fdk_inet = {
	.name = "inet socket",
	.fd_type = FD_TYPES__INETSK,
};
