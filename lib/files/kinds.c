/* The table of descriptor kinds (see files-int.h). */
#include "files/files-int.h"

const struct fd_kind *const fd_kinds[FDK_MAX] = {
	[FDK_REG] = &fdk_reg,
	[FDK_MEMFD] = &fdk_memfd,
	[FDK_PIPE] = &fdk_pipe,
	[FDK_FIFO] = &fdk_fifo,
	[FDK_UNIX] = &fdk_unix,
	[FDK_INET] = &fdk_inet,
	[FDK_NETLINK] = &fdk_netlink,
	[FDK_PACKET] = &fdk_packet,
	[FDK_EVENTFD] = &fdk_eventfd,
	[FDK_EPOLL] = &fdk_epoll,
	[FDK_SIGNALFD] = &fdk_signalfd,
	[FDK_TIMERFD] = &fdk_timerfd,
	[FDK_INOTIFY] = &fdk_inotify,
	[FDK_FANOTIFY] = &fdk_fanotify,
	[FDK_TTY] = &fdk_tty,
	[FDK_PIDFD] = &fdk_pidfd,
};
