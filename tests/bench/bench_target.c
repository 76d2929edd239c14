/* bench_target: the process the benchmark (scripts/bench) dumps and
 * restores, and the machine's own floors measured the same way.
 *
 *   bench_target mem MIB [--thp] --pidfile F
 *       MIB MiB of private anonymous memory, every page written with a
 *       pattern (--thp: MADV_HUGEPAGE first, so it is made of huge pages).
 *       Writes its PID to F when ready, then waits.  On SIGTERM it checks
 *       two words of every page and exits 0 if all are right, 3 if not.
 *   bench_target tree N MIB --pidfile F
 *       The same with N processes: the root and N-1 children, each with MIB
 *       MiB.  On SIGTERM the root checks itself, then terminates and reaps
 *       its children; it exits 0 only if every process was right.
 *   bench_target cow N MIB --pidfile F
 *       Like tree, but the root writes its MIB MiB before forking: the
 *       children share them copy-on-write, unchanged.
 *   bench_target jvm THREADS VMAS --pidfile F
 *       Shaped like a JVM: THREADS threads (waiting in pause()), VMAS small
 *       VMAs (two pages each, written, read-only and read-write in turn)
 *       and a 1 GiB heap reserved PROT_NONE, made read-write and written
 *       in 256 KiB runs every 640 KiB (400 MiB in all).  On SIGTERM it
 *       checks the runs, that the rest of the heap reads zero, and the
 *       small VMAs; exits 0 if all are right, 3 if not.
 *   bench_target fds N KINDS DIR --pidfile F
 *       N open descriptors of the kinds in the comma-separated KINDS (reg,
 *       dup, pipe, unix, eventfd, timerfd, epoll), in turn: reg opens one of
 *       100 files in DIR at its own offset, dup duplicates the previous
 *       regular file, pipe and unix hold a pipe or socket pair with one
 *       byte queued (both ends count), eventfd has counter 7, timerfd is
 *       armed an hour ahead, epoll watches the previous eventfd.  On SIGTERM
 *       it checks every descriptor (kind, offset, queued byte, counter) and
 *       exits 0 if all are right, 3 if not.
 *   bench_target floor-write MIB PATH
 *       Prints the nanoseconds to create PATH and write MIB MiB to it from a
 *       1 MiB buffer (the dump floor: tmpfs page allocation + one copy).
 *   bench_target floor-tcp MIB PATH
 *       Prints the nanoseconds to send MIB MiB from a 1 MiB buffer over a
 *       TCP connection on 127.0.0.1 to a child process that writes them to
 *       PATH (the floor of a dump through a page server on loopback: the
 *       socket's two copies + the file's one).
 *   bench_target floor-read MIB PATH [--thp]
 *       Prints the nanoseconds to mmap MIB MiB of fresh anonymous memory and
 *       pread PATH into it (the restore floor: page faults + one copy).
 *       --populate: MAP_POPULATE the memory first (no faults in the copy).
 *
 *   bench_target spawn OUT CMD [ARGS...]
 *       Runs CMD with stdout and stderr to the file OUT and prints
 *       "WALL_NS MAXRSS_KIB EXIT_STATUS CPU_US": the command's wall time
 *       from fork to exit, its peak RSS (wait4's ru_maxrss) and its CPU
 *       time (user + system).  A small forking
 *       parent, so the peak RSS is the command's own (a child forked from a
 *       big process such as Python carries that process's peak across exec).
 *
 * Only fds 0-2 stay open while waiting; output of floors goes to stdout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL
#define MAGIC 0x5eed0fbe7c40c0deULL

static char *mem;
static size_t mem_size;
static volatile sig_atomic_t got_term;
static pid_t kids[4096];
static int nr_kids;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ULL + t.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_target: %s: %s\n", what, strerror(errno));
	exit(2);
}

static uint64_t word(size_t page, size_t i)
{
	return (page * 512 + i) ^ MAGIC;
}

static void alloc_mem(size_t mib, int thp)
{
	mem_size = mib << 20;
	mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	if (thp && madvise(mem, mem_size, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE)");
	for (size_t p = 0; p < mem_size / PG; p++) {
		uint64_t *w = (uint64_t *)(mem + p * PG);
		for (size_t i = 0; i < PG / 8; i++)
			w[i] = word(p, i);
	}
}

static int check_mem(void)
{
	for (size_t p = 0; p < mem_size / PG; p++) {
		uint64_t *w = (uint64_t *)(mem + p * PG);
		if (w[0] != word(p, 0) || w[511] != word(p, 511) || w[p % 512] != word(p, p % 512))
			return 3;
	}
	return 0;
}

static void on_term(int sig)
{
	got_term = 1;
}

static void wait_term(void)
{
	sigset_t none;
	sigemptyset(&none);
	while (!got_term)
		sigsuspend(&none);
}

static void write_pidfile(const char *path)
{
	char tmp[4096], buf[32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("pidfile");
	int n = snprintf(buf, sizeof(buf), "%d\n", getpid());
	if (write(fd, buf, n) != n)
		die("pidfile write");
	close(fd);
	if (rename(tmp, path))
		die("pidfile rename");
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int run_mem(int nprocs, size_t mib, int thp, int cow, const char *pidfile)
{
	int ready[2];
	setup_signals();
	if (pipe(ready))
		die("pipe");
	if (cow)	/* written once, then shared copy-on-write by every child */
		alloc_mem(mib, thp);
	for (int i = 1; i < nprocs; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			close(ready[0]);
			if (!cow)
				alloc_mem(mib, thp);
			if (write(ready[1], "k", 1) != 1)
				die("ready pipe");
			close(ready[1]);
			wait_term();
			_exit(check_mem());
		}
		kids[nr_kids++] = pid;
	}
	close(ready[1]);
	if (!cow)
		alloc_mem(mib, thp);
	for (int i = 1; i < nprocs; i++) {
		char c;
		if (read(ready[0], &c, 1) != 1)
			die("a child failed to start");
	}
	close(ready[0]);
	write_pidfile(pidfile);
	wait_term();
	int ret = check_mem();
	for (int i = 0; i < nr_kids; i++)
		kill(kids[i], SIGTERM);
	for (int i = 0; i < nr_kids; i++) {
		int st;
		if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			ret = ret ? ret : 4;
	}
	return ret;
}

/* ---- jvm: a process shaped like a JVM ---- */

#define JVM_HEAP (1UL << 30)
#define JVM_RUN (256UL << 10)	/* touched runs of 256 KiB ... */
#define JVM_STRIDE (640UL << 10)	/* ... one every 640 KiB: 40% of the heap */

static char *jvm_heap, *jvm_small;
static size_t jvm_nvmas;

static void *jvm_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();	/* SIGTERM is blocked here: only the main thread takes it */
	return NULL;
}

static int jvm_check(void)
{
	for (size_t off = 0; off < JVM_HEAP; off += PG) {
		uint64_t *w = (uint64_t *)(jvm_heap + off);
		bool touched = off % JVM_STRIDE < JVM_RUN;
		size_t p = off / PG;
		if (touched ? (w[0] != word(p, 0) || w[511] != word(p, 511)) : (w[0] || w[511]))
			return 3;
	}
	for (size_t i = 0; i < jvm_nvmas * 2; i++)
		if (((uint64_t *)(jvm_small + i * PG))[1] != word(i, 1))
			return 3;
	return 0;
}

/* NTHREADS threads, NVMAS small VMAs (two pages each, read-only and
 * read-write in turn, all written), and a 1 GiB heap reserved PROT_NONE,
 * made read-write and touched in 256 KiB runs every 640 KiB (400 MiB). */
static int run_jvm(int nthreads, size_t nvmas, const char *pidfile)
{
	setup_signals();
	jvm_nvmas = nvmas;
	jvm_heap = mmap(NULL, JVM_HEAP, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (jvm_heap == MAP_FAILED || mprotect(jvm_heap, JVM_HEAP, PROT_READ | PROT_WRITE))
		die("heap");
	for (size_t off = 0; off < JVM_HEAP; off += JVM_STRIDE)
		for (size_t o = off; o < off + JVM_RUN; o += PG)
			for (size_t i = 0; i < PG / 8; i++)
				((uint64_t *)(jvm_heap + o))[i] = word(o / PG, i);
	jvm_small = mmap(NULL, nvmas * 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (jvm_small == MAP_FAILED)
		die("small mappings");
	for (size_t i = 0; i < nvmas * 2; i++)
		((uint64_t *)(jvm_small + i * PG))[1] = word(i, 1);
	for (size_t v = 0; v < nvmas; v += 2)
		if (mprotect(jvm_small + v * 2 * PG, 2 * PG, PROT_READ))
			die("mprotect");
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, jvm_thread, NULL))
			die("pthread_create");
	}
	write_pidfile(pidfile);
	wait_term();
	return jvm_check();
}

enum { K_REG, K_DUP, K_PIPE, K_UNIX, K_EVENTFD, K_TIMERFD, K_EPOLL, K_MAX };
static const char *const kind_names[K_MAX] = { "reg", "dup", "pipe", "unix", "eventfd",
					       "timerfd", "epoll" };
struct fd_rec {
	int fd, peer, kind;
	off_t off;
};

static int run_fds(int n, const char *kinds, const char *dir, const char *pidfile)
{
	int use[K_MAX], nuse = 0;
	for (int k = 0; k < K_MAX; k++) {
		const char *p = strstr(kinds, kind_names[k]);
		size_t l = strlen(kind_names[k]);
		if (p && (p == kinds || p[-1] == ',') && (p[l] == ',' || !p[l]))
			use[nuse++] = k;
	}
	if (!nuse) {
		fprintf(stderr, "bench_target: no known kind in %s\n", kinds);
		return 2;
	}
	struct fd_rec *recs = calloc(n + 2, sizeof(*recs));
	int nrec = 0, opened = 0, last_reg = -1, last_efd = -1;
	setup_signals();
	for (int i = 0; opened < n; i++) {
		struct fd_rec *r = &recs[nrec];
		int k = use[i % nuse], two[2];
		r->kind = k;
		r->peer = -1;
		switch (k) {
		case K_DUP:
			if (last_reg >= 0) {
				r->fd = dup(last_reg);
				r->off = recs[nrec - 1].off;
				for (int j = nrec - 1; j >= 0; j--)
					if (recs[j].fd == last_reg)
						r->off = recs[j].off;
				break;
			}
			r->kind = k = K_REG;
			/* fall through */
		case K_REG: {
			char path[4096];
			snprintf(path, sizeof(path), "%s/f%d", dir, i % 100);
			r->fd = open(path, O_RDWR | O_CREAT, 0600);
			if (r->fd >= 0 && ftruncate(r->fd, 8192))
				die("ftruncate");
			r->off = i % 4096;
			if (r->fd >= 0)
				lseek(r->fd, r->off, SEEK_SET);
			last_reg = r->fd;
			break;
		}
		case K_PIPE:
		case K_UNIX:
			if (k == K_PIPE ? pipe(two) : socketpair(AF_UNIX, SOCK_STREAM, 0, two))
				die("pipe/socketpair");
			if (write(two[1], "x", 1) != 1)
				die("write");
			r->fd = two[0];
			r->peer = two[1];
			opened++;
			break;
		case K_EVENTFD:
			r->fd = eventfd(7, 0);
			last_efd = r->fd;
			break;
		case K_TIMERFD: {
			struct itimerspec its = { .it_value = { 3600, 0 } };
			r->fd = timerfd_create(CLOCK_MONOTONIC, 0);
			if (r->fd >= 0 && timerfd_settime(r->fd, 0, &its, NULL))
				die("timerfd_settime");
			break;
		}
		case K_EPOLL: {
			r->fd = epoll_create1(0);
			struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
			if (last_efd >= 0 && r->fd >= 0 && epoll_ctl(r->fd, EPOLL_CTL_ADD, last_efd, &ev))
				die("epoll_ctl");
			r->peer = last_efd;
			break;
		}
		}
		if (r->fd < 0)
			die(kind_names[k]);
		opened++;
		nrec++;
	}
	write_pidfile(pidfile);
	wait_term();
	int bad = 0;
	for (int i = 0; i < nrec && !bad; i++) {
		struct fd_rec *r = &recs[i];
		char c;
		uint64_t v;
		switch (r->kind) {
		case K_REG:
		case K_DUP:
			bad = lseek(r->fd, 0, SEEK_CUR) != r->off;
			break;
		case K_PIPE:
		case K_UNIX:
			bad = read(r->fd, &c, 1) != 1 || c != 'x';
			break;
		case K_EVENTFD:
			bad = read(r->fd, &v, 8) != 8 || v != 7;
			break;
		case K_TIMERFD: {
			struct itimerspec its;
			bad = timerfd_gettime(r->fd, &its) || its.it_value.tv_sec < 3000;
			break;
		}
		case K_EPOLL: {
			struct epoll_event ev;
			/* the eventfd was read above only if it came first */
			bad = epoll_wait(r->fd, &ev, 1, 0) < 0;
			break;
		}
		}
		if (bad)
			fprintf(stderr, "bench_target: fd %d (%s) is wrong after restore\n", r->fd,
				kind_names[r->kind]);
	}
	return bad ? 3 : 0;
}

static int floor_write(size_t mib, const char *path)
{
	size_t chunk = 1 << 20;
	char *buf = malloc(chunk);
	memset(buf, 0x5a, chunk);
	uint64_t t0 = now_ns();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path);
	for (size_t done = 0; done < (mib << 20); done += chunk)
		if (write(fd, buf, chunk) != (ssize_t)chunk)
			die("write");
	close(fd);
	printf("%llu\n", (unsigned long long)(now_ns() - t0));
	return 0;
}

static int floor_tcp(size_t mib, const char *path)
{
	size_t chunk = 1 << 20, size = mib << 20;
	char *buf = malloc(chunk);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int lsk = socket(AF_INET, SOCK_STREAM, 0);
	if (lsk < 0 || bind(lsk, (struct sockaddr *)&a, sizeof(a)) || listen(lsk, 1) ||
	    getsockname(lsk, (struct sockaddr *)&a, &al))
		die("listen");
	memset(buf, 0x5a, chunk);
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		int sk = accept(lsk, NULL, NULL);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (sk < 0 || fd < 0)
			die("accept/open");
		for (size_t done = 0; done < size;) {
			ssize_t n = recv(sk, buf, chunk, MSG_WAITALL);
			if (n <= 0 || write(fd, buf, n) != n)
				die("recv/write");
			done += n;
		}
		_exit(0);
	}
	int sk = socket(AF_INET, SOCK_STREAM, 0);
	if (sk < 0 || connect(sk, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	for (size_t done = 0; done < size;) {
		ssize_t n = send(sk, buf, chunk, 0);
		if (n <= 0)
			die("send");
		done += n;
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("receiver");
	printf("%llu\n", (unsigned long long)(now_ns() - t0));
	close(sk);
	close(lsk);
	return 0;
}

static int floor_read(size_t mib, const char *path, int thp, int populate)
{
	size_t size = mib << 20;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	uint64_t t0 = now_ns();
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (thp && madvise(p, size, MADV_HUGEPAGE))
		die("madvise");
	for (size_t done = 0; done < size;) {
		ssize_t n = pread(fd, p + done, (size - done > (1UL << 30) ? (1UL << 30) : size - done), done);
		if (n <= 0)
			die("pread");
		done += n;
	}
	printf("%llu\n", (unsigned long long)(now_ns() - t0));
	return 0;
}

static int spawn(const char *out, char **argv)
{
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) < 0)
		die("wait4");
	uint64_t wall = now_ns() - t0;
	printf("%llu %ld %d %llu\n", (unsigned long long)wall, ru.ru_maxrss,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
	       (unsigned long long)((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
				    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "spawn"))
		return spawn(argv[2], argv + 3);

	const char *pidfile = NULL;
	int thp = 0, populate = 0;
	char *pos[4];
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--thp"))
			thp = 1;
		else if (!strcmp(argv[i], "--populate"))
			populate = 1;
		else if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (npos < 4)
			pos[npos++] = argv[i];
	}
	/* Nothing but stdio may stay open in a process to dump. */
	syscall(SYS_close_range, 3, ~0U, 0);
	if (npos >= 2 && !strcmp(pos[0], "mem") && pidfile)
		return run_mem(1, strtoul(pos[1], NULL, 0), thp, 0, pidfile);
	if (npos >= 3 && (!strcmp(pos[0], "tree") || !strcmp(pos[0], "cow")) && pidfile) {
		int n = atoi(pos[1]);
		if (n < 1 || n > 4096)
			n = 1;
		return run_mem(n, strtoul(pos[2], NULL, 0), thp, !strcmp(pos[0], "cow"), pidfile);
	}
	if (npos >= 3 && !strcmp(pos[0], "jvm") && pidfile)
		return run_jvm(atoi(pos[1]), strtoul(pos[2], NULL, 0), pidfile);
	if (npos >= 4 && !strcmp(pos[0], "fds") && pidfile)
		return run_fds(atoi(pos[1]), pos[2], pos[3], pidfile);
	if (npos >= 3 && !strcmp(pos[0], "floor-write"))
		return floor_write(strtoul(pos[1], NULL, 0), pos[2]);
	if (npos >= 3 && !strcmp(pos[0], "floor-tcp"))
		return floor_tcp(strtoul(pos[1], NULL, 0), pos[2]);
	if (npos >= 3 && !strcmp(pos[0], "floor-read"))
		return floor_read(strtoul(pos[1], NULL, 0), pos[2], thp, populate);
	fprintf(stderr, "usage: bench_target mem MIB [--thp] --pidfile F | tree|cow N MIB --pidfile F |\n"
			"       fds N KINDS DIR --pidfile F | jvm THREADS VMAS --pidfile F |\n"
			"       floor-write MIB PATH | floor-tcp MIB PATH | floor-read MIB PATH [--thp|--populate]\n");
	return 2;
}
