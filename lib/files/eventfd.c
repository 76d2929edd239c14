/* eventfd: the counter, EFD_SEMAPHORE and the file flags.
 *
 * fdinfo gives "eventfd-count:" (hex) and, since Linux 6.6,
 * "eventfd-semaphore:" (without it, a warning: restored as a plain
 * counter).  The semaphore flag is kept in eventfd_file_entry's flags as
 * EFD_SEMAPHORE (bit 0, which no file-status flag of an eventfd uses: it is
 * always O_RDWR), criu's field with criu's meaning otherwise. */
#include "files/events-int.h"
#include "util/log.h"

#include "eventfd.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static int eventfd_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	EventfdFileEntry e = EVENTFD_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	const char *c = fdinfo_field(d->fdinfo, "eventfd-count:");
	unsigned long long count;
	if (!c || sscanf(c, "%llx", &count) != 1) {
		pr_err(FD_FMT ": no eventfd-count in its fdinfo", FD_ARGS(d));
		return -EINVAL;
	}
	const char *s = fdinfo_field(d->fdinfo, "eventfd-semaphore:");
	if (!s)
		pr_warn(FD_FMT " is an eventfd, but this kernel does not show whether it is a "
			"semaphore (eventfd-semaphore in fdinfo, Linux 6.6+): it is restored as a "
			"plain counter, as criu does", FD_ARGS(d));
	int ret = fd_dump_fown(d, &fown);
	if (ret)
		return ret;
	e.has_id = e.has_flags = e.has_counter = 1;
	e.id = d->id;
	e.flags = (d->fi.flags & ~O_CLOEXEC & ~EFD_SEMAPHORE) | (s && atoi(s) ? EFD_SEMAPHORE : 0);
	e.counter = count;
	e.fown = &fown;
	fe.efd = &e;
	return files_emit(d, &fe);
}

static int eventfd_open(struct files_restore *fr, struct rst_file *f)
{
	(void)fr;
	const EventfdFileEntry *e = f->fe->efd;
	if (!e) {
		pr_err("files.img: eventfd %u has no eventfd entry", f->fe->id);
		return -EINVAL;
	}
	char what[32];
	snprintf(what, sizeof(what), "eventfd %u", f->fe->id);
	int fd = eventfd(0, EFD_CLOEXEC | (e->flags & EFD_SEMAPHORE));
	if (fd < 0)
		return_perror("eventfd() for %s", what);
	int ret = 0;
	/* the initial value is 32-bit; a write sets all 64 bits */
	if (e->counter) {
		uint64_t v = e->counter;
		if (write(fd, &v, sizeof(v)) != sizeof(v)) {
			ret = -errno;
			pr_perror("can't set the counter of %s to %" PRIu64, what, v);
		}
	}
	return files_rst_adopt(f, fd, ret, e->flags & ~EFD_SEMAPHORE, e->fown, what);
}

const struct fd_kind fdk_eventfd = {
	.name = "eventfd",
	.fd_type = FD_TYPES__EVENTFD,
	.dump = eventfd_dump,
	.open = eventfd_open,
};
