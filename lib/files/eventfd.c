#include "files/files-int.h"

const struct fd_kind fdk_eventfd = {
	.name = "eventfd",
	.fd_type = FD_TYPES__EVENTFD,
};
