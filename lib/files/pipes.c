#include "files/files-int.h"

const struct fd_kind fdk_pipe = {
	.name = "pipe",
	.fd_type = FD_TYPES__PIPE,
};

const struct fd_kind fdk_fifo = {
	.name = "FIFO",
	.fd_type = FD_TYPES__FIFO,
};
