/* ev_fanotify: fanotify init flags, inode marks with ignored masks, a
 * mount mark.
 *
 * State built before the checkpoint (a directory D next to the outfile):
 *   fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
 *   an inode mark on D (FAN_OPEN | FAN_EVENT_ON_CHILD); an ignored mask
 *   (FAN_OPEN, FAN_MARK_IGNORED_SURV_MODIFY) on D/ign; a mount mark on
 *   /dev/shm's mount (FAN_CLOSE_WRITE).
 * After SIGTERM: fdinfo lists the same flags and marks (sorted, handles
 *   included; the mount mark's mnt_id names /dev/shm's mount in this
 *   process's mountinfo, as before); opening D/a gives a FAN_OPEN event from this process,
 *   opening D/ign gives none; a file written in /dev/shm gives
 *   FAN_CLOSE_WRITE.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

/* The mount point of mount @id in this process's mountinfo, or "?". */
static void mount_point(int id, char *mp, size_t size)
{
	char l[4096], m[4096];
	int i;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	snprintf(mp, size, "?");
	while (f && fgets(l, sizeof(l), f))
		if (sscanf(l, "%d %*d %*u:%*u %*s %4095s", &i, m) == 2 && i == id)
			snprintf(mp, size, "%s", m);
	if (f)
		fclose(f);
}

/* fdinfo's fanotify lines, sorted; a mount mark's mnt_id (a restore in a
 * mount namespace of its own makes new mounts, with new ids) is given as
 * the mount point it names in this process's mountinfo. */
static void marks(int fd, char *out, size_t size)
{
	char p[64], buf[8192];
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	int f = open(p, O_RDONLY);
	ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	if (f >= 0)
		close(f);
	buf[n > 0 ? n : 0] = 0;
	char *lines[32];
	int nl = 0;
	for (char *l = strtok(buf, "\n"); l && nl < 32; l = strtok(NULL, "\n"))
		if (!strncmp(l, "fanotify", 8))
			lines[nl++] = l;
	for (int i = 0; i < nl; i++)
		for (int j = i + 1; j < nl; j++)
			if (strcmp(lines[j], lines[i]) < 0) {
				char *t = lines[i];
				lines[i] = lines[j];
				lines[j] = t;
			}
	out[0] = 0;
	for (int i = 0; i < nl; i++) {
		unsigned id;
		char rest[256], mp[4096];
		if (sscanf(lines[i], "fanotify mnt_id:%x %255[^\n]", &id, rest) == 2) {
			mount_point(id, mp, sizeof(mp));
			snprintf(out + strlen(out), size - strlen(out), "fanotify mount:%s %s\n",
				 mp, rest);
			continue;
		}
		snprintf(out + strlen(out), size - strlen(out), "%s\n", lines[i]);
	}
}

/* Events of this process with @mask bits, counted; their fds closed. */
static int my_events(int fa, uint64_t mask)
{
	char buf[8192] __attribute__((aligned(8)));
	int n = 0;
	ssize_t len;
	while ((len = read(fa, buf, sizeof(buf))) > 0) {
		struct fanotify_event_metadata *m = (void *)buf;
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			if (m->pid == getpid() && (m->mask & mask))
				n++;
			if (m->fd >= 0)
				close(m->fd);
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	test_doc = "fanotify flags, inode and mount marks, ignored masks";
	test_init(argc, argv);
	char dir[2048], d[4096], a[4200], ign[4200], shm[256];
	snprintf(dir, sizeof(dir), "%s", test_outfile() ? test_outfile() : "./x");
	snprintf(d, sizeof(d), "%s/ev_fanotify.d", dirname(dir));
	snprintf(a, sizeof(a), "%s/a", d);
	snprintf(ign, sizeof(ign), "%s/ign", d);
	snprintf(shm, sizeof(shm), "/dev/shm/cryo-ev_fanotify.%d", getpid());
	mkdir(d, 0700);
	close(open(a, O_CREAT | O_WRONLY, 0600));
	close(open(ign, O_CREAT | O_WRONLY, 0600));
	int fa = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
	if (fa < 0)
		setup_fail("fanotify_init: %s", strerror(errno));
	if (fanotify_mark(fa, FAN_MARK_ADD, FAN_OPEN | FAN_EVENT_ON_CHILD, AT_FDCWD, d) ||
	    fanotify_mark(fa, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY,
			  FAN_OPEN, AT_FDCWD, ign) ||
	    fanotify_mark(fa, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD, "/dev/shm"))
		setup_fail("fanotify_mark: %s", strerror(errno));
	char before[4096], after[4096];
	marks(fa, before, sizeof(before));
	if (!strstr(before, "fanotify mount:/dev/shm "))
		setup_fail("no mount mark on /dev/shm in fdinfo:\n%s", before);
	my_events(fa, ~0ull);

	test_daemon();
	test_waitsig();

	marks(fa, after, sizeof(after));
	if (strcmp(before, after))
		fail("marks differ:\nbefore:\n%safter:\n%s", before, after);
	if (!(fcntl(fa, F_GETFL) & O_NONBLOCK))
		fail("lost O_NONBLOCK");
	my_events(fa, ~0ull);
	close(open(ign, O_RDONLY));
	if (my_events(fa, FAN_OPEN))
		fail("opening D/ign was reported: its ignored mask was lost");
	close(open(a, O_RDONLY));
	if (my_events(fa, FAN_OPEN) != 1)
		fail("opening D/a was not reported once");
	int s = open(shm, O_CREAT | O_WRONLY, 0600);
	if (s < 0 || write(s, "x", 1) != 1)
		fail("%s: %s", shm, strerror(errno));
	close(s);
	unlink(shm);
	if (my_events(fa, FAN_CLOSE_WRITE) != 1)
		fail("the write in /dev/shm was not reported: the mount mark was lost");
	pass();
	return 0;
}
