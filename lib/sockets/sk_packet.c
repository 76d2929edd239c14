#include "files/files-int.h"

const struct fd_kind fdk_packet = {
	.name = "packet socket",
	.fd_type = FD_TYPES__PACKETSK,
};
