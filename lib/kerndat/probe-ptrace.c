/* kerndat probes that work on a live child: ptrace, pidfd, memory access,
 * map_files, kcmp, seccomp filter dump, clone3 with set_tid. */
#include "kerndat/kerndat-int.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* The child inherits this (same address); we read and write its copy. */
static volatile uint64_t probe_cookie;

static const enum kdat_feature ptrace_group[] = {
	KF_PTRACE_SEIZE, KF_PTRACE_XSTATE, KF_PTRACE_PEEKSIGINFO, KF_PTRACE_SIGMASK,
	KF_PTRACE_RSEQ_CONF, KF_SECCOMP_SUSPEND,
};

/* Seize + interrupt @pid and wait for its group-stop.  0 or -errno. */
static int seize_and_stop(pid_t pid, unsigned long options, char *why, size_t why_len)
{
	int st, ret;

	if (ptrace(PTRACE_SEIZE, pid, 0, options)) {
		int e = errno;
		snprintf(why, why_len, "PTRACE_SEIZE: %s", kdat_errname(e));
		return -e;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0)) {
		int e = errno;
		snprintf(why, why_len, "PTRACE_INTERRUPT: %s", kdat_errname(e));
		return -e;
	}
	ret = kdat_wait(pid, &st, KDAT_TIMEOUT_MS);
	if (ret < 0) {
		snprintf(why, why_len, "no stop after PTRACE_INTERRUPT: %s", kdat_errname(ret));
		return ret;
	}
	if (!WIFSTOPPED(st) || (st >> 16) != PTRACE_EVENT_STOP) {
		snprintf(why, why_len, "unexpected wait status %#x after PTRACE_INTERRUPT", st);
		return -EIO;
	}
	return 0;
}

static void probe_regs(pid_t pid)
{
	size_t len = 64 * 1024;
	void *buf = xzalloc(len);
	struct iovec iov = { buf, len };

	if (!buf) {
		kdat_set(KF_PTRACE_XSTATE, false, "out of memory");
		return;
	}
#if defined(__x86_64__) || defined(__i386__)
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) == 0)
		kdat_set(KF_PTRACE_XSTATE, true, "%zu bytes of xstate", iov.iov_len);
	else
		kdat_set(KF_PTRACE_XSTATE, false, "PTRACE_GETREGSET NT_X86_XSTATE: %s", kdat_errname(errno));
#else
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRFPREG, &iov) == 0)
		kdat_set(KF_PTRACE_XSTATE, true, "not x86: NT_PRFPREG works (%zu bytes)", iov.iov_len);
	else
		kdat_set(KF_PTRACE_XSTATE, false, "PTRACE_GETREGSET NT_PRFPREG: %s", kdat_errname(errno));
#endif
	free(buf);
}

static void probe_signals(pid_t pid)
{
	struct __ptrace_peeksiginfo_args a = { .off = 0, .flags = 0, .nr = 1 };
	siginfo_t si;
	uint64_t mask = 0;
	long r;

	r = ptrace(PTRACE_PEEKSIGINFO, pid, &a, &si);
	if (r >= 0)
		kdat_set(KF_PTRACE_PEEKSIGINFO, true, NULL);
	else
		kdat_set(KF_PTRACE_PEEKSIGINFO, false, "%s", kdat_errname(errno));

	if (ptrace(PTRACE_GETSIGMASK, pid, sizeof(mask), &mask))
		kdat_set(KF_PTRACE_SIGMASK, false, "PTRACE_GETSIGMASK: %s", kdat_errname(errno));
	else if (ptrace(PTRACE_SETSIGMASK, pid, sizeof(mask), &mask))
		kdat_set(KF_PTRACE_SIGMASK, false, "PTRACE_SETSIGMASK: %s", kdat_errname(errno));
	else
		kdat_set(KF_PTRACE_SIGMASK, true, NULL);
}

static void probe_rseq_conf(pid_t pid)
{
	struct __ptrace_rseq_configuration conf;
	long r;

	memset(&conf, 0, sizeof(conf));
	r = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, sizeof(conf), &conf);
	if (r > 0)
		kdat_set(KF_PTRACE_RSEQ_CONF, true, "%s",
			 conf.rseq_abi_pointer ? "child has an rseq area" : "child has no rseq area");
	else
		kdat_set(KF_PTRACE_RSEQ_CONF, false, "%s", kdat_errname(errno));
}

static void probe_suspend_seccomp(pid_t pid)
{
	unsigned long o = PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP;

	if (ptrace(PTRACE_SETOPTIONS, pid, 0, o) == 0) {
		kdat_set(KF_SECCOMP_SUSPEND, true, NULL);
		ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);
	} else if (errno == EPERM) {
		kdat_set(KF_SECCOMP_SUSPEND, false, "EPERM: needs CAP_SYS_ADMIN");
	} else {
		kdat_set(KF_SECCOMP_SUSPEND, false, "%s", kdat_errname(errno));
	}
}

static void probe_mem(pid_t pid)
{
	uint64_t want = 0x6372796f2d6d656dULL, got = 0, put = want ^ 0xffff;
	struct iovec l = { &got, sizeof(got) }, r = { (void *)&probe_cookie, sizeof(got) };
	char path[64];
	bool vm_ok = false, mem_ok = false;
	int fd;

	/* process_vm_readv: the child's cookie still holds the value it had at fork */
	if (process_vm_readv(pid, &l, 1, &r, 1, 0) != sizeof(got)) {
		kdat_set(KF_PROCESS_VM, false, "process_vm_readv: %s", kdat_errname(errno));
	} else if (got != want) {
		kdat_set(KF_PROCESS_VM, false, "process_vm_readv read %#llx, expected %#llx",
			 (unsigned long long)got, (unsigned long long)want);
	} else {
		l.iov_base = &put;
		if (process_vm_writev(pid, &l, 1, &r, 1, 0) != sizeof(put))
			kdat_set(KF_PROCESS_VM, false, "process_vm_writev: %s", kdat_errname(errno));
		else {
			kdat_set(KF_PROCESS_VM, true, NULL);
			want = put;
			vm_ok = true;
		}
	}

	/* /proc/PID/mem: read back what process_vm_writev put there, then write */
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		kdat_set(KF_PROC_PID_MEM, false, "open %s: %s", path, kdat_errname(errno));
	} else {
		off_t off = (off_t)(uintptr_t)&probe_cookie;
		got = 0;
		if (pread(fd, &got, sizeof(got), off) != sizeof(got))
			kdat_set(KF_PROC_PID_MEM, false, "pread: %s", kdat_errname(errno));
		else if (got != want)
			kdat_set(KF_PROC_PID_MEM, false, "read %#llx, expected %#llx",
				 (unsigned long long)got, (unsigned long long)want);
		else if (pwrite(fd, &want, sizeof(want), off) != sizeof(want))
			kdat_set(KF_PROC_PID_MEM, false, "pwrite: %s", kdat_errname(errno));
		else {
			kdat_set(KF_PROC_PID_MEM, true, NULL);
			mem_ok = true;
		}
		close(fd);
	}
	if (vm_ok || mem_ok)
		kdat_set(KF_MEM_ACCESS, true, "%s", vm_ok && mem_ok ? "process_vm_readv and /proc/PID/mem" :
			 vm_ok ? "process_vm_readv only" : "/proc/PID/mem only");
	else
		kdat_set(KF_MEM_ACCESS, false, "neither process_vm_readv nor /proc/PID/mem work");
}

static void probe_map_files(pid_t pid)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/map_files", pid);
	d = opendir(path);
	if (!d) {
		kdat_set(KF_MAP_FILES, false, "opendir %s: %s", path, kdat_errname(errno));
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/map_files/%s", pid, de->d_name);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l < 0) {
			kdat_set(KF_MAP_FILES, false, "readlink %s: %s", path, kdat_errname(errno));
			goto out;
		}
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			kdat_set(KF_MAP_FILES, false, "open %s: %s", path,
				 errno == EPERM ? "EPERM: needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN"
						: kdat_errname(errno));
			goto out;
		}
		close(fd);
		n++;
		break;
	}
	if (n)
		kdat_set(KF_MAP_FILES, true, NULL);
	else
		kdat_set(KF_MAP_FILES, false, "map_files of the probe child is empty");
out:
	closedir(d);
}

static void probe_pidfd_kcmp(pid_t pid, int child_fd)
{
	int pidfd, fd;
	long r;

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		int e = errno;
		kdat_set(KF_PIDFD_OPEN, false, "%s", kdat_errname(e));
		kdat_set(KF_PIDFD_GETFD, false, "pidfd_open failed");
		kdat_set(KF_PIDFD_SEND_SIGNAL, false, "pidfd_open failed");
		kdat_set(KF_PIDFD_STORE, false, "pidfd_open: %s", kdat_errname(e));
	} else {
		kdat_set(KF_PIDFD_OPEN, true, NULL);
		if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0))
			kdat_set(KF_PIDFD_SEND_SIGNAL, false, "%s", kdat_errname(errno));
		else
			kdat_set(KF_PIDFD_SEND_SIGNAL, true, NULL);
		fd = syscall(SYS_pidfd_getfd, pidfd, child_fd, 0);
		if (fd < 0) {
			kdat_set(KF_PIDFD_GETFD, false, "%s", kdat_errname(errno));
			kdat_set(KF_PIDFD_STORE, false, "pidfd_getfd: %s", kdat_errname(errno));
		} else {
			/* the stolen fd must be the child's file: kcmp says so */
			r = syscall(SYS_kcmp, getpid(), pid, KCMP_FILE, fd, child_fd);
			if (r == 0 || (r < 0 && errno == ENOSYS)) {
				kdat_set(KF_PIDFD_GETFD, true, NULL);
				kdat_set(KF_PIDFD_STORE, true, NULL);
			} else {
				kdat_set(KF_PIDFD_GETFD, false, "stolen fd is not the child's file (kcmp %ld)", r);
				kdat_set(KF_PIDFD_STORE, false, "pidfd_getfd returned a wrong file");
			}
			close(fd);
		}
		close(pidfd);
	}

	/* our child_fd and the child's child_fd are the same file (fork) */
	r = syscall(SYS_kcmp, getpid(), pid, KCMP_FILE, child_fd, child_fd);
	if (r == 0)
		kdat_set(KF_KCMP, true, NULL);
	else if (r < 0)
		kdat_set(KF_KCMP, false, "%s", errno == ENOSYS ? "ENOSYS: kernel built without CONFIG_KCMP"
							    : kdat_errname(errno));
	else
		kdat_set(KF_KCMP, false, "kcmp says a forked fd differs (%ld)", r);
}

void kdat_probe_ptrace(void)
{
	char why[160] = "";
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC)) {
		pr_perror("kerndat: can't make a pipe");
		return;
	}
	probe_cookie = 0x6372796f2d6d656dULL;
	pid = kdat_fork_sleeper();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return;
	}

	/* no ptrace needed: pidfd, kcmp */
	probe_pidfd_kcmp(pid, p[0]);

	if (seize_and_stop(pid, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL, why, sizeof(why)) < 0) {
		kdat_set(KF_PTRACE_SEIZE, false, "%s", why);
		for (size_t i = 1; i < ARRAY_SIZE(ptrace_group); i++)
			kdat_set(ptrace_group[i], false, "ptrace seize failed: %s", why);
	} else {
		kdat_set(KF_PTRACE_SEIZE, true, NULL);
		probe_regs(pid);
		probe_signals(pid);
		probe_rseq_conf(pid);
		probe_suspend_seccomp(pid);
	}
	/* memory and map_files work on a stopped, traced child */
	probe_mem(pid);
	probe_map_files(pid);

	kdat_kill_reap(pid);
	close(p[0]);
	close(p[1]);
}

/* ---- seccomp filter dump -------------------------------------------------- */

void kdat_probe_seccomp_filters(void)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(insns), .filter = insns };
	char why[160] = "";
	int sync[2], st;
	pid_t pid, parent = getpid();
	char c;

	if (pipe2(sync, O_CLOEXEC)) {
		pr_perror("kerndat: can't make a pipe");
		return;
	}
	pid = fork();
	if (pid < 0) {
		pr_perror("kerndat: can't fork a probe child");
		close(sync[0]);
		close(sync[1]);
		return;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(1);
		close(sync[0]);
		c = 0;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
			c = 1;
		if (write(sync[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(sync[1]);

	struct pollfd pfd = { sync[0], POLLIN, 0 };
	if (poll(&pfd, 1, KDAT_TIMEOUT_MS) != 1 || read(sync[0], &c, 1) != 1) {
		kdat_set(KF_SECCOMP_FILTERS, false, "probe child did not report");
	} else if (c) {
		kdat_set(KF_SECCOMP_FILTERS, false, "can't install a seccomp filter (CONFIG_SECCOMP_FILTER off?)");
	} else if (seize_and_stop(pid, PTRACE_O_EXITKILL, why, sizeof(why)) < 0) {
		kdat_set(KF_SECCOMP_FILTERS, false, "%s", why);
	} else {
		long n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, NULL);
		if (n == (long)ARRAY_SIZE(insns))
			kdat_set(KF_SECCOMP_FILTERS, true, NULL);
		else if (n >= 0)
			kdat_set(KF_SECCOMP_FILTERS, false, "filter has %ld instructions, expected %zu",
				 n, ARRAY_SIZE(insns));
		else if (errno == EACCES || errno == EPERM)
			kdat_set(KF_SECCOMP_FILTERS, false, "%s: needs CAP_SYS_ADMIN", kdat_errname(errno));
		else
			kdat_set(KF_SECCOMP_FILTERS, false, "%s (CONFIG_CHECKPOINT_RESTORE off?)", kdat_errname(errno));
	}
	(void)st;
	kdat_kill_reap(pid);
	close(sync[0]);
}

/* ---- clone3 with set_tid --------------------------------------------------- */

static pid_t pick_free_pid(unsigned *seed)
{
	char *buf = NULL, path[32];
	long max = 32768;

	if (read_file(AT_FDCWD, "/proc/sys/kernel/pid_max", &buf, true) > 0)
		max = strtol(buf, NULL, 10);
	free(buf);
	if (max < 1000)
		max = 32768;
	for (int i = 0; i < 64; i++) {
		pid_t cand = max / 2 + (pid_t)(rand_r(seed) % (max / 2 - 1));
		struct stat stbuf;
		snprintf(path, sizeof(path), "/proc/%d", cand);
		if (stat(path, &stbuf) < 0 && errno == ENOENT)
			return cand;
	}
	return -1;
}

void kdat_probe_clone3(void)
{
	unsigned seed = (unsigned)now_ns() ^ (unsigned)getpid();
	int last_err = 0;

	for (int attempt = 0; attempt < 5; attempt++) {
		pid_t want = pick_free_pid(&seed), pid;
		pid_t set_tid[1] = { want };
		struct clone_args args;
		int st;

		if (want < 0)
			break;
		memset(&args, 0, sizeof(args));
		args.exit_signal = SIGCHLD;
		args.set_tid = (uintptr_t)set_tid;
		args.set_tid_size = 1;
		pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid == 0)
			_exit(0);	/* child: fork semantics, own address space */
		if (pid < 0) {
			last_err = errno;
			if (last_err == EEXIST || last_err == EBUSY)
				continue;	/* raced with a new task, try another */
			break;
		}
		int ret = kdat_wait(pid, &st, KDAT_TIMEOUT_MS);
		if (pid != want) {
			kdat_set(KF_CLONE3_SET_TID, false, "asked for PID %d, got %d", want, pid);
			return;
		}
		if (ret < 0) {
			kdat_set(KF_CLONE3_SET_TID, false, "child %d not reaped: %s", pid, kdat_errname(ret));
			return;
		}
		kdat_set(KF_CLONE3_SET_TID, true, "created PID %d on request", pid);
		return;
	}
	switch (last_err) {
	case ENOSYS:
		kdat_set(KF_CLONE3_SET_TID, false, "ENOSYS: no clone3 (kernel < 5.3)");
		break;
	case E2BIG:
	case EINVAL:
		kdat_set(KF_CLONE3_SET_TID, false, "%s: kernel lacks set_tid (< 5.5)", kdat_errname(last_err));
		break;
	case EPERM:
		kdat_set(KF_CLONE3_SET_TID, false,
			 "EPERM: needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over the PID namespace");
		break;
	case 0:
		kdat_set(KF_CLONE3_SET_TID, false, "found no free PID to try");
		break;
	default:
		kdat_set(KF_CLONE3_SET_TID, false, "%s", kdat_errname(last_err));
	}
}
