// SPDX-License-Identifier: GPL-2.0
/*
 * ctr_launch: a small container launcher for tests/runner/container.py and
 * `scripts/bench container` (what runc does for a container, without runc).
 *
 * ctr_launch ROOT CGROUP_PROCS HOSTNAME CMD [ARG...]
 *
 * Starts CMD as PID 1 of new pid, mnt, net, ipc, uts and cgroup namespaces
 * with ROOT (a directory) as its root file system, pivot_root'ed:
 *   /proc (masked: /dev/null bound over kcore, keys, timer_list;
 *          sysrq-trigger read-only), /sys (read-only),
 *   /dev a tmpfs with null, zero, full, random, urandom and tty bound from
 *   the host, devpts (newinstance, ptmx -> pts/ptmx), shm (tmpfs) and
 *   mqueue; lo up; the host name HOSTNAME.
 * Before the namespaces are entered the child is written to CGROUP_PROCS
 * (a cgroup.procs file, "-" for none), so that its cgroup namespace is
 * rooted at that cgroup.  CMD's stdio is the container's /dev/null.
 * Prints the PID of the container's init (as the host sees it) and exits
 * once CMD is about to be executed; the init is reparented to the host's.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what, const char *obj)
{
	fprintf(stderr, "ctr_launch: %s %s: %s\n", what, obj ? obj : "", strerror(errno));
	exit(1);
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		     const char *data)
{
	if (mount(src, dst, type, flags, data))
		die("mount", dst);
}

static void mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) && errno != EEXIST)
		die("mkdir", path);
}

static void bind_ro(const char *src, const char *dst)
{
	do_mount(src, dst, NULL, MS_BIND, NULL);
	do_mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		 NULL);
}

/* /dev/null over a masked path (kernels without it: nothing to mask) */
static void mask(const char *path)
{
	if (access(path, F_OK) == 0)
		do_mount("dev/null", path, NULL, MS_BIND, NULL);
}

static void setup_dev(void)
{
	static const char *const devs[] = { "null", "zero", "full", "random", "urandom", "tty" };
	char host[64], path[64];

	do_mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		int fd;

		snprintf(host, sizeof(host), "/dev/%s", devs[i]);
		snprintf(path, sizeof(path), "dev/%s", devs[i]);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			die("create", path);
		close(fd);
		do_mount(host, path, NULL, MS_BIND, NULL);
	}
	mkdir_p("dev/pts", 0755);
	do_mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		 "newinstance,ptmxmode=0666,mode=0620,gid=5");
	if (symlink("pts/ptmx", "dev/ptmx"))
		die("symlink", "dev/ptmx");
	mkdir_p("dev/shm", 01777);
	do_mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
	mkdir_p("dev/mqueue", 0755);
	do_mount("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void lo_up(void)
{
	struct ifreq ifr = { 0 };
	int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sk < 0)
		die("socket", "AF_INET");
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(sk, SIOCGIFFLAGS, &ifr))
		die("SIOCGIFFLAGS", "lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(sk, SIOCSIFFLAGS, &ifr))
		die("SIOCSIFFLAGS", "lo");
	close(sk);
}

static void child(const char *root, const char *host, int go, int ready, char **cmd)
{
	char c;
	int fd;

	if (read(go, &c, 1) != 1)
		die("read", "sync pipe");
	close(go);
	/* after the move to the container's cgroup: the namespace's root */
	if (unshare(CLONE_NEWCGROUP))
		die("unshare", "CLONE_NEWCGROUP");
	do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	do_mount(root, root, NULL, MS_BIND | MS_REC, NULL);
	if (chdir(root))
		die("chdir", root);
	mkdir_p("proc", 0555);
	mkdir_p("sys", 0555);
	mkdir_p("dev", 0755);
	do_mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	do_mount("sysfs", "sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
	setup_dev();
	mask("proc/kcore");
	mask("proc/keys");
	mask("proc/timer_list");
	if (access("proc/sysrq-trigger", F_OK) == 0)
		bind_ro("proc/sysrq-trigger", "proc/sysrq-trigger");
	mkdir_p(".oldroot", 0700);
	if (syscall(SYS_pivot_root, ".", ".oldroot"))
		die("pivot_root", root);
	if (chdir("/"))
		die("chdir", "/");
	if (umount2("/.oldroot", MNT_DETACH))
		die("umount", "/.oldroot");
	rmdir("/.oldroot");
	lo_up();
	if (sethostname(host, strlen(host)))
		die("sethostname", host);
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		die("open", "/dev/null");
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	setsid();
	/* one byte: set up (a child that died above leaves the pipe empty) */
	if (write(ready, "r", 1) != 1)
		die("write", "ready pipe");
	execv(cmd[0], cmd);
	_exit(127);
}

int main(int argc, char **argv)
{
	int go[2], ready[2];
	char c;
	pid_t pid;

	if (argc < 5) {
		fprintf(stderr, "usage: ctr_launch ROOT CGROUP_PROCS HOSTNAME CMD [ARG...]\n");
		return 2;
	}
	if (pipe2(go, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
		die("pipe", NULL);
	pid = syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
			  CLONE_NEWUTS | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		die("clone", "namespaces");
	if (pid == 0) {
		close(go[1]);
		close(ready[0]);
		child(argv[1], argv[3], go[0], ready[1], argv + 4);
	}
	close(go[0]);
	close(ready[1]);
	if (strcmp(argv[2], "-")) {
		FILE *f = fopen(argv[2], "w");

		if (!f || fprintf(f, "%d\n", pid) < 0 || fclose(f))
			die("write", argv[2]);
	}
	if (write(go[1], "g", 1) != 1)
		die("write", "sync pipe");
	close(go[1]);
	if (read(ready[0], &c, 1) != 1) {
		waitpid(pid, NULL, 0);
		fprintf(stderr, "ctr_launch: the container's init %d died during setup\n", pid);
		return 1;
	}
	printf("%d\n", pid);
	return 0;
}
