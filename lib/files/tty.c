#include "files/files-int.h"

const struct fd_kind fdk_tty = {
	.name = "terminal",
	.fd_type = FD_TYPES__TTY,
};
