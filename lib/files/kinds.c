/* The table of descriptor kinds (see files-int.h): lib/files' own, and the
 * ones other subsystems register (the socket kinds). */
#include "files/files-int.h"
#include "util/log.h"

#include <errno.h>

static const struct fd_kind *const own_kinds[FDK_MAX] = {
	[FDK_REG] = &fdk_reg,
	[FDK_MEMFD] = &fdk_memfd,
	[FDK_PIPE] = &fdk_pipe,
	[FDK_FIFO] = &fdk_fifo,
	[FDK_EVENTFD] = &fdk_eventfd,
	[FDK_EPOLL] = &fdk_epoll,
	[FDK_SIGNALFD] = &fdk_signalfd,
	[FDK_TIMERFD] = &fdk_timerfd,
	[FDK_INOTIFY] = &fdk_inotify,
	[FDK_FANOTIFY] = &fdk_fanotify,
	[FDK_TTY] = &fdk_tty,
	[FDK_PIDFD] = &fdk_pidfd,
	[FDK_NSFILE] = &fdk_nsfile,
	[FDK_TUN] = &fdk_tun,
	[FDK_BPFMAP] = &fdk_bpfmap,
};

/* Written only by fd_kind_register (always the same pointer for a kind):
 * code, not the state of a run. */
static const struct fd_kind *registered[FDK_MAX];

const struct fd_kind *fd_kind(enum fd_kind_id id)
{
	if ((unsigned)id >= FDK_MAX)
		return NULL;
	return own_kinds[id] ? own_kinds[id] : registered[id];
}

const struct fd_kind *fd_kind_of_type(int fd_type)
{
	for (int k = 0; k < FDK_MAX; k++) {
		const struct fd_kind *d = fd_kind(k);
		if (d && d->fd_type == fd_type)
			return d;
	}
	return NULL;
}

void fd_kind_register(enum fd_kind_id id, const struct fd_kind *k)
{
	if ((unsigned)id < FDK_MAX && !own_kinds[id])
		registered[id] = k;
}

int fd_kinds_check(void)
{
	for (int k = 0; k < FDK_MAX; k++) {
		const struct fd_kind *d = fd_kind(k);
		if (!d) {
			pr_err("descriptor kind %d has no code: its subsystem did not register it "
			       "(a bug: sockets_register_fd_kinds not called?)", k);
			return -EINVAL;
		}
		if (!d->name || !d->dump || !d->open) {
			pr_err("descriptor kind %d (%s) lacks a name, a dump or an open step", k,
			       d->name ? d->name : "?");
			return -EINVAL;
		}
		for (int j = 0; j < k; j++)
			if (fd_kind(j)->fd_type == d->fd_type) {
				pr_err("descriptor kinds %s and %s have the same image type %d",
				       fd_kind(j)->name, d->name, d->fd_type);
				return -EINVAL;
			}
	}
	return 0;
}
