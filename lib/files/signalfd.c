/* signalfd: the signal mask ("sigmask:" in fdinfo) and the file flags.
 * The queued signals themselves belong to the reading task and are
 * restored with its pending signals. */
#include "files/events-int.h"
#include "util/log.h"

#include "signalfd.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int signalfd_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	SignalfdEntry e = SIGNALFD_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	const char *m = fdinfo_field(d->fdinfo, "sigmask:");
	unsigned long long mask;
	if (!m || sscanf(m, "%llx", &mask) != 1) {
		pr_err(FD_FMT ": no sigmask in its fdinfo", FD_ARGS(d));
		return -EINVAL;
	}
	int ret = fd_dump_fown(d, &fown);
	if (ret)
		return ret;
	e.has_id = e.has_flags = e.has_sigmask = 1;
	e.id = d->id;
	e.flags = d->fi.flags & ~O_CLOEXEC;
	e.sigmask = mask;
	e.fown = &fown;
	fe.sgfd = &e;
	return files_emit(d, &fe);
}

static int signalfd_open(struct files_restore *fr, struct rst_file *f)
{
	(void)fr;
	const SignalfdEntry *e = f->fe->sgfd;
	if (!e) {
		pr_err("files.img: signalfd %u has no signalfd entry", f->fe->id);
		return -EINVAL;
	}
	char what[32];
	snprintf(what, sizeof(what), "signalfd %u", f->fe->id);
	uint64_t mask = e->sigmask;
	/* the kernel's sigset is 8 bytes: use the raw call */
	int fd = syscall(SYS_signalfd4, -1, &mask, sizeof(mask), O_CLOEXEC);
	if (fd < 0)
		return_perror("signalfd() for %s (mask %#llx)", what, (unsigned long long)mask);
	return files_rst_adopt(f, fd, 0, e->flags, e->fown, what);
}

const struct fd_kind fdk_signalfd = {
	.name = "signalfd",
	.fd_type = FD_TYPES__SIGNALFD,
	.dump = signalfd_dump,
	.open = signalfd_open,
};
