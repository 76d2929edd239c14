/* timerfd: clock, remaining time, interval, settime flags, pending ticks.
 *
 * fdinfo shows the time left until the next expiry (relative, also for
 * TFD_TIMER_ABSTIME timers) and the interval.  As criu does, the time left
 * runs again from the restore: the time between dump and restore does not
 * count (a timer 3 s from expiry at the dump expires 3 s after the
 * restore).  An absolute timer is re-armed as absolute, at now + time left
 * on its clock, so it keeps TFD_TIMER_ABSTIME (and TFD_TIMER_CANCEL_ON_SET).
 * A periodic timer that expired and was not read yet shows no time left
 * (the kernel restarts it only on read): it is re-armed one interval away.
 * Expirations not yet read (ticks) are put back with TFD_IOC_SET_TICKS
 * (a kernel built with CONFIG_CHECKPOINT_RESTORE). */
#include "files/events-int.h"
#include "util/log.h"

#include "timerfd.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>

#include "compat/uapi-extra.h"

static int pair(const char *fdinfo, const char *key, unsigned long long *s, unsigned long long *ns)
{
	const char *p = fdinfo_field(fdinfo, key);
	return p && sscanf(p, " (%llu, %llu)", s, ns) == 2 ? 0 : -1;
}

static int timerfd_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	TimerfdEntry e = TIMERFD_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	const char *c = fdinfo_field(d->fdinfo, "clockid:");
	const char *t = fdinfo_field(d->fdinfo, "ticks:");
	const char *f = fdinfo_field(d->fdinfo, "settime flags:");
	unsigned clockid, flags;
	unsigned long long ticks, vs, vns, is, ins;
	if (!c || !t || !f || sscanf(c, "%u", &clockid) != 1 || sscanf(t, "%llu", &ticks) != 1 ||
	    sscanf(f, "%o", &flags) != 1 || pair(d->fdinfo, "it_value:", &vs, &vns) ||
	    pair(d->fdinfo, "it_interval:", &is, &ins)) {
		pr_err(FD_FMT ": can't parse its timerfd fdinfo", FD_ARGS(d));
		return -EINVAL;
	}
	int ret = fd_dump_fown(d, &fown);
	if (ret)
		return ret;
	e.has_id = e.has_flags = e.has_clockid = e.has_ticks = e.has_settime_flags = 1;
	e.has_vsec = e.has_vnsec = e.has_isec = e.has_insec = 1;
	e.id = d->id;
	e.flags = d->fi.flags & ~O_CLOEXEC;
	e.fown = &fown;
	e.clockid = clockid;
	e.ticks = ticks;
	e.settime_flags = flags;
	e.vsec = vs;
	e.vnsec = vns;
	e.isec = is;
	e.insec = ins;
	fe.tfd = &e;
	return files_emit(d, &fe);
}

static int timerfd_open(struct files_restore *fr, struct rst_file *f)
{
	(void)fr;
	const TimerfdEntry *e = f->fe->tfd;
	if (!e) {
		pr_err("files.img: timerfd %u has no timerfd entry", f->fe->id);
		return -EINVAL;
	}
	char what[32];
	snprintf(what, sizeof(what), "timerfd %u", f->fe->id);
	if (e->vnsec >= 1000000000 || e->insec >= 1000000000) {
		pr_err("files.img: %s has nanoseconds out of range", what);
		return -EINVAL;
	}
	int fd = timerfd_create(e->clockid, TFD_CLOEXEC);
	if (fd < 0)
		return_perror("timerfd_create(clock %u) for %s", e->clockid, what);
	struct itimerspec its = {
		.it_value = { (time_t)e->vsec, (long)e->vnsec },
		.it_interval = { (time_t)e->isec, (long)e->insec },
	};
	int ret = 0;
	bool armed = e->vsec || e->vnsec;
	if (!armed && e->ticks && (e->isec || e->insec)) {
		/* a periodic timer that expired and was not read: the kernel
		 * leaves it stopped (time left 0) until a read forwards it;
		 * the next expiry is one interval away */
		its.it_value = its.it_interval;
		armed = true;
	}
	if (armed && (e->settime_flags & TFD_TIMER_ABSTIME)) {
		struct timespec now = { 0, 0 };
		if (clock_gettime(e->clockid, &now)) {
			ret = -errno;
			pr_perror("clock_gettime(%u) for %s", e->clockid, what);
		}
		its.it_value.tv_sec += now.tv_sec;
		its.it_value.tv_nsec += now.tv_nsec;
		if (its.it_value.tv_nsec >= 1000000000) {
			its.it_value.tv_nsec -= 1000000000;
			its.it_value.tv_sec++;
		}
	}
	if (!ret && armed && timerfd_settime(fd, e->settime_flags, &its, NULL)) {
		ret = -errno;
		pr_perror("timerfd_settime(flags %#x, %" PRIu64 ".%09" PRIu64 " s, interval "
			  "%" PRIu64 ".%09" PRIu64 " s) for %s", e->settime_flags, e->vsec,
			  e->vnsec, e->isec, e->insec, what);
	}
	if (!ret && e->ticks) {
		uint64_t ticks = e->ticks;
		if (ioctl(fd, TFD_IOC_SET_TICKS, &ticks)) {
			ret = -errno;
			if (errno == ENOTTY)
				pr_err("%s has %" PRIu64 " expirations not yet read, which this "
				       "kernel can't restore (TFD_IOC_SET_TICKS needs a kernel "
				       "built with CONFIG_CHECKPOINT_RESTORE)", what, ticks);
			else
				pr_perror("TFD_IOC_SET_TICKS(%" PRIu64 ") for %s", ticks, what);
		}
	}
	return files_rst_adopt(f, fd, ret, e->flags, e->fown, what);
}

const struct fd_kind fdk_timerfd = {
	.name = "timerfd",
	.fd_type = FD_TYPES__TIMERFD,
	.dump = timerfd_dump,
	.open = timerfd_open,
};
