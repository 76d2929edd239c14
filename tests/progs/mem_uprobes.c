/* mem_uprobes: a process whose code a uprobe probes.
 *
 * Before the checkpoint: a uprobe (tracefs uprobe_events, "p:cryo_upr_PID
 * EXE:OFFSET") on probed(), enabled and hit, so the kernel has made the
 * process's [uprobes] area.  Dumped with --allow-uprobes (without it the
 * dump must refuse: mem_uprobes_refuse).
 * After SIGTERM: probed() still computes right with the probe on (the
 * breakpoint is stepped out of line in a [uprobes] area made again), and
 * after the probe is removed (the kernel puts the original instruction
 * back, also in the restored page that had the breakpoint) it runs
 * without a SIGTRAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define TRACEFS "/sys/kernel/tracing"

static char event[64];

__attribute__((noinline)) int probed(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

static int tracefs_write(const char *file, const char *text)
{
	char p[128];
	snprintf(p, sizeof(p), TRACEFS "/%s", file);
	int fd = open(p, O_WRONLY | O_APPEND);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -e;
}

static bool has_uprobes_area(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char l[512];
	bool yes = false;
	while (f && fgets(l, sizeof(l), f))
		if (strstr(l, "[uprobes]"))
			yes = true;
	if (f)
		fclose(f);
	return yes;
}

/* the file offset of @addr in its mapping of /proc/self/exe */
static long file_offset(const void *addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char l[512];
	long off = -1;
	while (f && fgets(l, sizeof(l), f)) {
		unsigned long s, e, o;
		if (sscanf(l, "%lx-%lx %*s %lx", &s, &e, &o) == 3 && (unsigned long)addr >= s &&
		    (unsigned long)addr < e)
			off = (long)((unsigned long)addr - s + o);
	}
	if (f)
		fclose(f);
	return off;
}

static void remove_probe(void)
{
	char t[96];
	snprintf(t, sizeof(t), "events/uprobes/%s/enable", event);
	tracefs_write(t, "0");
	snprintf(t, sizeof(t), "-:%s\n", event);
	tracefs_write("uprobe_events", t);
}

int main(int argc, char **argv)
{
	test_doc = "a process with a uprobe on its code (--allow-uprobes)";
	test_init(argc, argv);
	struct stat st;
	if (stat(TRACEFS "/uprobe_events", &st) && mount("nodev", TRACEFS, "tracefs", 0, NULL))
		setup_fail("mount tracefs on " TRACEFS ": %s", strerror(errno));
	char exe[512], def[700], en[128];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	long off = file_offset((void *)probed);
	if (n <= 0 || off < 0)
		setup_fail("can't find probed() in /proc/self/exe");
	exe[n] = '\0';
	snprintf(event, sizeof(event), "cryo_upr_%d", getpid());
	snprintf(def, sizeof(def), "p:%s %s:0x%lx\n", event, exe, off);
	snprintf(en, sizeof(en), "events/uprobes/%s/enable", event);
	int ret = tracefs_write("uprobe_events", def);
	if (ret || (ret = tracefs_write(en, "1"))) {
		remove_probe();
		setup_fail("uprobe %s: %s", def, strerror(-ret));
	}
	volatile int sum = 0;
	for (int i = 0; i < 10; i++)
		sum += probed(i);
	if (!has_uprobes_area()) {
		remove_probe();
		setup_fail("the probe was hit but the process has no [uprobes] area");
	}
	test_daemon();
	test_waitsig();

	int bad = 0;
	for (int i = 0; i < 1000; i++)
		if (probed(i) != i * 3 + 1)
			bad++;
	if (bad)
		fail("probed() returned wrong values %d times with the probe on", bad);
	if (!has_uprobes_area())
		fail("no [uprobes] area after the probe was hit after the restore");
	remove_probe();
	for (int i = 0; i < 1000; i++)
		if (probed(i) != i * 3 + 1)
			bad++;
	if (bad)
		fail("probed() returned wrong values %d times after the probe was removed", bad);
	pass();
	return 0;
}
