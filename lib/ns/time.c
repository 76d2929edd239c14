/* Time namespaces: the CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets
 * (criu's timens-ID.img).  As criu does, the image holds the namespace's
 * clock values at dump time, not its offsets: the restore picks offsets so
 * that the new namespace's clocks go on from those values, and the tree
 * sees neither a jump back nor the time it spent dumped.
 *
 * The kernel's rules (kernel/time/namespace.c) shape the restore:
 * - offsets can be written (/proc/PID/timens_offsets) only while no task
 *   has entered the namespace; the first one to enter freezes them;
 * - clone3(CLONE_NEWTIME) makes the child's namespace and enters it at
 *   once, with the parent's offsets: too late to write others (legacy
 *   clone() can't even take the flag, 0x80 is in CSIGNAL);
 * - unshare(CLONE_NEWTIME) changes only the caller's time_for_children,
 *   which its next children are born into (timens_on_fork), and whose
 *   offsets /proc/self/timens_offsets reads and writes.
 * So cryo unshares, writes the offsets, clones the root without the flag
 * (the root is born in the new namespace and freezes its offsets), and
 * goes back to its own with setns (which sets time and time_for_children,
 * and needs a single-threaded caller: cryo is one). */
#include "ns/ns-int.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "timens.pb-c.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080	/* glibc < 2.35; the UAPI value */
#endif

#define NSEC 1000000000LL

struct ts { long long sec, nsec; };

static struct ts ts_norm(long long sec, long long nsec)
{
	while (nsec < 0) {
		nsec += NSEC;
		sec--;
	}
	while (nsec >= NSEC) {
		nsec -= NSEC;
		sec++;
	}
	return (struct ts){ sec, nsec };
}

/* The offsets in /proc/@who/timens_offsets: those of @who's
 * time_for_children namespace (the kernel shows no other). */
static int read_offsets(const char *who, struct ts *mono, struct ts *boot)
{
	char path[64], *buf = NULL;
	bool got_m = false, got_b = false;

	snprintf(path, sizeof(path), "/proc/%s/timens_offsets", who);
	int ret = read_file(AT_FDCWD, path, &buf, false);
	if (ret < 0)
		return log_errno(ret, "can't read %s", path);
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n'), name[16];
		long long sec, nsec;
		if (nl)
			*nl = 0;
		if (sscanf(line, "%15s %lld %lld", name, &sec, &nsec) == 3) {
			/* the kernel names the clocks when it shows them */
			if (!strcmp(name, "monotonic")) {
				*mono = ts_norm(sec, nsec);
				got_m = true;
			} else if (!strcmp(name, "boottime")) {
				*boot = ts_norm(sec, nsec);
				got_b = true;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
	if (!got_m || !got_b) {
		pr_err("%s has no %s line: this kernel's format is not known to cryo", path,
		       got_m ? "boottime" : "monotonic");
		return -EINVAL;
	}
	return 0;
}

static int now(clockid_t clk, struct ts *t)
{
	struct timespec v;
	if (clock_gettime(clk, &v))
		return log_errno(-errno, "clock_gettime(%s)",
				 clk == CLOCK_MONOTONIC ? "CLOCK_MONOTONIC" : "CLOCK_BOOTTIME");
	*t = (struct ts){ v.tv_sec, v.tv_nsec };
	return 0;
}

/* cryo's own offsets: /proc/self shows its time_for_children's, which are
 * its own unless cryo was started by a process that unshared it. */
static int self_offsets(struct ts *mono, struct ts *boot)
{
	struct stat a, b;
	if (stat("/proc/self/ns/time", &a) || stat("/proc/self/ns/time_for_children", &b))
		return log_errno(-errno, "can't read cryo's own time namespace (/proc/self/ns/time)");
	if (a.st_ino != b.st_ino) {
		pr_err("cryo runs with a time_for_children namespace other than its own (time:[%llu], "
		       "time_for_children:[%llu]): it can't tell its own clock offsets; run cryo from "
		       "a process that did not unshare its time namespace",
		       (unsigned long long)a.st_ino, (unsigned long long)b.st_ino);
		return -EINVAL;
	}
	return read_offsets("self", mono, boot);
}

/* Write timens-@id.img: the clock values @m, @b. */
static int write_values(int dirfd, uint32_t id, struct ts m, struct ts b)
{
	TimensEntry e = TIMENS_ENTRY__INIT;
	Timespec mono = TIMESPEC__INIT, boot = TIMESPEC__INIT;
	mono.has_tv_sec = mono.has_tv_nsec = boot.has_tv_sec = boot.has_tv_nsec = 1;
	mono.tv_sec = m.sec;
	mono.tv_nsec = m.nsec;
	boot.tv_sec = b.sec;
	boot.tv_nsec = b.nsec;
	e.monotonic = &mono;
	e.boottime = &boot;
	struct cr_img *img;
	int ret = img_open(&img, dirfd, IMG_TIMENS, IMG_WRITE, id);
	if (ret)
		return ret;
	ret = img_write_msg(img, &e.base);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

/* Read timens-@id.img (-ENOENT unlogged if @missing_ok and it is absent). */
static int read_values(int dirfd, uint32_t id, bool missing_ok, struct ts *m, struct ts *b)
{
	struct cr_img *img;
	TimensEntry *e;
	int ret = img_open(&img, dirfd, IMG_TIMENS, IMG_READ | (missing_ok ? IMG_MISSING_OK : 0), id);
	if (ret)
		return ret;
	ret = img_read_one(img, &timens_entry__descriptor, (ProtobufCMessage **)&e);
	img_close(img);
	if (ret < 0)
		return ret;
	ret = 0;
	if (!e->monotonic || !e->boottime || !e->monotonic->has_tv_sec || !e->boottime->has_tv_sec ||
	    e->monotonic->tv_nsec >= NSEC || e->boottime->tv_nsec >= NSEC ||
	    e->monotonic->tv_sec > INT64_MAX / 4 || e->boottime->tv_sec > INT64_MAX / 4) {
		pr_err("timens-%u.img has no valid monotonic and boottime values: the image is "
		       "damaged", id);
		ret = -EINVAL;
	} else {
		*m = (struct ts){ (long long)e->monotonic->tv_sec, (long long)e->monotonic->tv_nsec };
		*b = (struct ts){ (long long)e->boottime->tv_sec, (long long)e->boottime->tv_nsec };
	}
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return ret;
}

int timens_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id)
{
	struct ts so_m, so_b, to_m, to_b, m, b;
	char who[16];
	(void)d;

	/* The task's time_for_children is its own namespace
	 * (ns_dump_check_task), so its offsets are the namespace's; its
	 * clocks are cryo's less cryo's offsets plus its own. */
	snprintf(who, sizeof(who), "%d", pid);
	int ret = self_offsets(&so_m, &so_b);
	if (!ret)
		ret = read_offsets(who, &to_m, &to_b);
	if (!ret)
		ret = now(CLOCK_MONOTONIC, &m);
	if (!ret)
		ret = now(CLOCK_BOOTTIME, &b);
	if (ret)
		return ret;
	m = ts_norm(m.sec - so_m.sec + to_m.sec, m.nsec - so_m.nsec + to_m.nsec);
	b = ts_norm(b.sec - so_b.sec + to_b.sec, b.nsec - so_b.nsec + to_b.nsec);
	if (m.sec < 0 || b.sec < 0) {
		pr_err("the time namespace of process %d reads a negative clock (monotonic %lld s, "
		       "boottime %lld s): /proc/%d/timens_offsets is not what cryo expects", pid,
		       m.sec, b.sec, pid);
		return -EINVAL;
	}
	ret = write_values(st->dirfd, id, m, b);
	if (!ret)
		pr_info("time namespace %u (of process %d): monotonic %lld.%09lld, boottime "
			"%lld.%09lld (offsets %lld.%09lld, %lld.%09lld)", id, pid, m.sec, m.nsec,
			b.sec, b.nsec, to_m.sec, to_m.nsec, to_b.sec, to_b.nsec);
	return ret;
}

int timens_dump_own(struct ns_dump *st)
{
	struct ts m, b;
	int ret = now(CLOCK_MONOTONIC, &m);
	if (!ret)
		ret = now(CLOCK_BOOTTIME, &b);
	if (!ret)
		ret = write_values(st->dirfd, 0, m, b);
	return ret;
}

/* Make cryo's time_for_children a new namespace whose clocks read @want_m
 * and @want_b now (*@back: cryo's own, for ns_leave). */
static int new_ns(uint32_t id, struct ts want_m, struct ts want_b, int *back)
{
	struct ts o_m, o_b, m, b;
	char buf[128];

	int ret = self_offsets(&o_m, &o_b);
	if (ret)
		return ret;
	int self = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return log_errno(-errno, "can't open cryo's own time namespace (/proc/self/ns/time)");
	if (unshare(CLONE_NEWTIME)) {
		ret = log_errno(-errno, "unshare(CLONE_NEWTIME) for the tree's new time namespace");
		close(self);
		return ret;
	}
	/* From here cryo's time_for_children is the new namespace (its
	 * offsets, copied from cryo's, are o_m and o_b): on failure, go back. */
	*back = self;
	ret = now(CLOCK_MONOTONIC, &m);
	if (!ret)
		ret = now(CLOCK_BOOTTIME, &b);
	if (ret)
		return ret;
	/* new offset = old offset + (wanted value - cryo's clock now) */
	m = ts_norm(o_m.sec + want_m.sec - m.sec, o_m.nsec + want_m.nsec - m.nsec);
	b = ts_norm(o_b.sec + want_b.sec - b.sec, o_b.nsec + want_b.nsec - b.nsec);
	int len = snprintf(buf, sizeof(buf), "%d %lld %lld\n%d %lld %lld\n", CLOCK_MONOTONIC,
			   m.sec, m.nsec, CLOCK_BOOTTIME, b.sec, b.nsec);
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "can't open /proc/self/timens_offsets");
	ssize_t n = write(fd, buf, len);
	ret = n == len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	if (ret)
		return log_errno(ret, "writing the offsets of the tree's new time namespace (monotonic "
				 "%lld.%09lld, boottime %lld.%09lld) to /proc/self/timens_offsets", m.sec,
				 m.nsec, b.sec, b.nsec);
	pr_info("new time namespace for the tree (timens-%u.img): offsets monotonic %lld.%09lld, "
		"boottime %lld.%09lld, so its clocks go on from %lld.%09lld and %lld.%09lld", id,
		m.sec, m.nsec, b.sec, b.nsec, want_m.sec, want_m.nsec, want_b.sec, want_b.nsec);
	return 0;
}

int timens_pre_clone(const struct ns_desc *d, int dirfd, uint32_t id, int *back)
{
	struct ts m, b;
	(void)d;
	*back = -1;
	int ret = read_values(dirfd, id, false, &m, &b);
	return ret ? ret : new_ns(id, m, b, back);
}

int timens_pre_clone_own(int dirfd, int *back)
{
	struct ts want_m, want_b, m, b;
	*back = -1;
	int ret = read_values(dirfd, 0, true, &want_m, &want_b);
	if (ret == -ENOENT)
		return 0;	/* an older dump, or a kernel without time namespaces */
	if (!ret)
		ret = now(CLOCK_MONOTONIC, &m);
	if (!ret)
		ret = now(CLOCK_BOOTTIME, &b);
	if (ret)
		return ret;
	bool back_m = m.sec < want_m.sec || (m.sec == want_m.sec && m.nsec < want_m.nsec);
	bool back_b = b.sec < want_b.sec || (b.sec == want_b.sec && b.nsec < want_b.nsec);
	if (!back_m && !back_b)
		return 0;
	pr_info("the tree was dumped in the dumping tool's time namespace, whose clocks read more "
		"than cryo's do now (monotonic %lld.%09lld > %lld.%09lld or boottime %lld.%09lld > "
		"%lld.%09lld: a restore after a reboot, or on another machine): restoring it into "
		"a new time namespace so its clocks don't go back, as criu does", want_m.sec,
		want_m.nsec, m.sec, m.nsec, want_b.sec, want_b.nsec, b.sec, b.nsec);
	return new_ns(0, want_m, want_b, back);
}

int timens_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	/* Made and filled before the root's clone (timens_pre_clone): the
	 * root was born in it, which froze its offsets.  Nothing is left. */
	(void)d, (void)dirfd, (void)set, (void)id;
	return 0;
}
