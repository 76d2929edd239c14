#include "files/files-int.h"

const struct fd_kind fdk_timerfd = {
	.name = "timerfd",
	.fd_type = FD_TYPES__TIMERFD,
};
