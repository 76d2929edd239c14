#include "files/files-int.h"

const struct fd_kind fdk_epoll = {
	.name = "epoll instance",
	.fd_type = FD_TYPES__EVENTPOLL,
};
