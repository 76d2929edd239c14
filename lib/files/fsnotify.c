#include "files/files-int.h"

const struct fd_kind fdk_inotify = {
	.name = "inotify instance",
	.fd_type = FD_TYPES__INOTIFY,
};

const struct fd_kind fdk_fanotify = {
	.name = "fanotify instance",
	.fd_type = FD_TYPES__FANOTIFY,
};
