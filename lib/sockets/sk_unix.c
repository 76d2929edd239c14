#include "files/files-int.h"

const struct fd_kind fdk_unix = {
	.name = "unix socket",
	.fd_type = FD_TYPES__UNIXSK,
};
