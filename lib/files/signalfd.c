#include "files/files-int.h"

const struct fd_kind fdk_signalfd = {
	.name = "signalfd",
	.fd_type = FD_TYPES__SIGNALFD,
};
