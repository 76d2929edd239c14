#include "files/files-int.h"

const struct fd_kind fdk_memfd = {
	.name = "memfd",
	.fd_type = FD_TYPES__MEMFD,
};
