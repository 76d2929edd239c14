/* task_misc: process and thread state that no other test checks exactly,
 * each set to a value a fresh process would not have:
 *   - sigaltstack of the main thread and of the others (address, size, one
 *     with SS_AUTODISARM)
 *   - sigactions with every flag a handler commonly carries (SA_SIGINFO,
 *     SA_ONSTACK, SA_NODEFER, SA_RESETHAND, SA_RESTART) and a handler mask,
 *     one ignored signal
 *   - scheduling policy per thread: SCHED_BATCH (main), SCHED_IDLE, and
 *     SCHED_RR priority 7 with SCHED_RESET_ON_FORK, SCHED_DEADLINE with its
 *     runtime, deadline and period (these two when permitted)
 *   - CPU affinity (restored with --with-cpu-affinity): the main thread on
 *     the first CPU it may use, thread 0 on the last
 *   - a robust futex list head per thread (one thread has its own head)
 *   - thread 1 is inside a signal handler running on its alternate stack
 *     (SS_ONSTACK) when dumped and returns from it after restore
 *   - names that confuse /proc parsers: "tm) x (1" (main), "t\n 0" (thread 0)
 *   - 3000 supplementary groups (a long "Groups:" line, a large setgroups)
 *   - a POSIX timer whose SIGEV_THREAD_ID target thread has exited (armed,
 *     1000 s): it must still exist, armed, after restore
 *   - /proc/self/coredump_filter
 *   - KSM for the whole process (PR_SET_MEMORY_MERGE), when the kernel has it
 *   - memory-deny-write-execute (PR_SET_MDWE, set last), when the kernel has it
 *   - the nice value of the session's autogroup (/proc/self/autogroup), when
 *     the kernel has autogroups
 *   - arg and env areas moved (PR_SET_MM_MAP, which needs no privilege
 *     while the executable stays) into a static buffer, as
 *     setproctitle-style programs do
 *   - mm fields: /proc/self/exe, cmdline, environ, auxv, the brk, and the
 *     start_code/end_code/start_stack/arg/env/start_brk fields of stat
 * All are read back after restore and compared exactly. */
#include <linux/futex.h>
#include <linux/prctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif
#define CORE_FILTER 0x5b
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif
#define NGROUPS 3000
static gid_t groups[NGROUPS], groups_now[NGROUPS + 1];
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

struct thr {
	pthread_t th;
	int idx;
	pid_t tid;
	int policy, prio;
	stack_t ss;
	cpu_set_t cpus;
	uint64_t dl[3];
	void *rl_head;
	size_t rl_len;
	volatile int go, ready;
	char err[256];
};

static struct thr t[3];
static struct robust_list_head own_head;
static char altstack[4][16384];
static bool rr_ok, dl_ok;

struct sched_attr_v1 {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};
static int cpu_first = -1, cpu_last = -1;

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static void h_info(int s, siginfo_t *i, void *u) { (void)s; (void)i; (void)u; }

#define SIG_ONSTACK 42
#define MAIN_NAME "tm) x (1"
#define THR0_NAME "t\n 0"
static volatile int onstack_in, onstack_go, onstack_flags = -1;
static volatile uintptr_t onstack_sp;

/* runs on thread 1's alternate stack until the test is told to check */
static void h_onstack(int s)
{
	stack_t cur;
	int here;
	(void)s;
	onstack_sp = (uintptr_t)&here;
	onstack_in = 1;
	while (!onstack_go)
		usleep(1000);
	sigaltstack(NULL, &cur);
	onstack_flags = cur.ss_flags;
	onstack_sp = (uintptr_t)&here;
}
static void h_plain(int s) { (void)s; }

struct sig_want {
	int sig;
	int flags;
	void *handler;
	int mask[2];
};

static struct sig_want sigs[] = {
	{ SIGUSR1, SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART, (void *)h_info, { SIGUSR2, 0 } },
	{ SIGUSR2, SA_RESETHAND, (void *)h_plain, { SIGINT, 40 } },
	{ SIGHUP, 0, (void *)SIG_IGN, { 0, 0 } },
	{ SIGCHLD, SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO, (void *)h_info, { SIGPIPE, 0 } },
	{ 45, SA_SIGINFO | SA_RESTART, (void *)h_info, { SIGQUIT, 50 } },
	{ SIG_ONSTACK, SA_ONSTACK, (void *)h_onstack, { 0, 0 } },
};

static void read_file(const char *path, char *buf, size_t size, size_t *len)
{
	FILE *f = fopen(path, "r");
	*len = 0;
	if (!f)
		return;
	*len = fread(buf, 1, size, f);
	fclose(f);
}

/* stat fields 26-28 (start_code, end_code, start_stack) and 45-51 */
static void stat_fields(unsigned long long *out)
{
	char buf[4096];
	size_t len;
	read_file("/proc/self/stat", buf, sizeof(buf) - 1, &len);
	buf[len] = 0;
	char *p = strrchr(buf, ')') + 2;	/* field 3 */
	int field = 3, n = 0;
	for (char *tok = strtok(p, " "); tok; tok = strtok(NULL, " "), field++) {
		if ((field >= 26 && field <= 28) || (field >= 45 && field <= 51))
			out[n++] = strtoull(tok, NULL, 10);
	}
}

static void thr_read(struct thr *me)
{
	struct sched_param sp;
	me->policy = sched_getscheduler(0);
	sched_getparam(0, &sp);
	me->prio = sp.sched_priority;
	struct sched_attr_v1 a = { 0 };
	syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0);
	me->dl[0] = a.runtime;
	me->dl[1] = a.deadline;
	me->dl[2] = a.period;
	sigaltstack(NULL, &me->ss);
	CPU_ZERO(&me->cpus);
	sched_getaffinity(0, sizeof(me->cpus), &me->cpus);
	syscall(SYS_get_robust_list, 0, &me->rl_head, &me->rl_len);
}

static void *thr_fn(void *arg)
{
	struct thr *me = arg, now;
	struct sched_param sp = { 0 };

	me->tid = syscall(SYS_gettid);
	/* SIGTERM is the main thread's (it waits in sigsuspend) */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	/* thread 2's is disarmed while a handler runs on it (SS_AUTODISARM) */
	stack_t ss = { .ss_sp = altstack[1 + me->idx], .ss_size = sizeof(altstack[0]) - 512 * me->idx,
		       .ss_flags = me->idx == 2 ? SS_AUTODISARM : 0 };
	if (sigaltstack(&ss, NULL))
		snprintf(me->err, sizeof(me->err), "sigaltstack: %m");
	if (me->idx == 0) {
		prctl(PR_SET_NAME, THR0_NAME);
		if (pin(cpu_last))
			snprintf(me->err, sizeof(me->err), "sched_setaffinity: %m");
		if (sched_setscheduler(0, SCHED_IDLE, &sp))
			snprintf(me->err, sizeof(me->err), "SCHED_IDLE: %m");
		own_head.list.next = &own_head.list;
		own_head.futex_offset = -8;
		if (syscall(SYS_set_robust_list, &own_head, sizeof(own_head)))
			snprintf(me->err, sizeof(me->err), "set_robust_list: %m");
	} else if (me->idx == 1) {
		sp.sched_priority = 7;
		rr_ok = !sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &sp);
	} else {
		struct sched_attr_v1 a = { .size = sizeof(a), .policy = 6 /* SCHED_DEADLINE */,
			.runtime = 2000000, .deadline = 30000000, .period = 100000000 };
		dl_ok = !syscall(SYS_sched_setattr, 0, &a, 0);
	}
	thr_read(me);
	me->ready = 1;
	if (me->idx == 1) {
		/* wait in the handler on the alternate stack; back here after */
		syscall(SYS_tgkill, getpid(), me->tid, SIG_ONSTACK);
		uintptr_t lo = (uintptr_t)altstack[2], hi = lo + sizeof(altstack[0]);
		if (!(onstack_flags & SS_ONSTACK) || onstack_sp < lo || onstack_sp >= hi)
			snprintf(me->err, sizeof(me->err), "thread 1: in the handler ss_flags %d "
				 "sp %#lx, expected SS_ONSTACK and sp in [%#lx, %#lx)", onstack_flags,
				 (unsigned long)onstack_sp, (unsigned long)lo, (unsigned long)hi);
	}
	while (!me->go)
		usleep(1000);
	if (me->idx == 0) {
		char name[17] = { 0 };
		prctl(PR_GET_NAME, name);
		if (strcmp(name, THR0_NAME))
			snprintf(me->err, sizeof(me->err), "thread 0: name \"%s\"", name);
	}
	thr_read(&now);
	if (now.policy != me->policy || now.prio != me->prio)
		snprintf(me->err, sizeof(me->err), "thread %d: policy %#x prio %d, expected %#x prio %d",
			 me->idx, now.policy, now.prio, me->policy, me->prio);
	else if (memcmp(now.dl, me->dl, sizeof(me->dl)))
		snprintf(me->err, sizeof(me->err), "thread %d: runtime/deadline/period %llu/%llu/%llu, "
			 "expected %llu/%llu/%llu", me->idx, (unsigned long long)now.dl[0],
			 (unsigned long long)now.dl[1], (unsigned long long)now.dl[2],
			 (unsigned long long)me->dl[0], (unsigned long long)me->dl[1],
			 (unsigned long long)me->dl[2]);
	else if (now.ss.ss_sp != me->ss.ss_sp || now.ss.ss_size != me->ss.ss_size ||
		 now.ss.ss_flags != me->ss.ss_flags)
		snprintf(me->err, sizeof(me->err), "thread %d: sigaltstack %p/%zu/%d, expected %p/%zu/%d",
			 me->idx, now.ss.ss_sp, now.ss.ss_size, now.ss.ss_flags, me->ss.ss_sp,
			 me->ss.ss_size, me->ss.ss_flags);
	else if (!CPU_EQUAL(&now.cpus, &me->cpus))
		snprintf(me->err, sizeof(me->err), "thread %d: CPU affinity has %d CPUs, expected %d",
			 me->idx, CPU_COUNT(&now.cpus), CPU_COUNT(&me->cpus));
	else if (now.rl_head != me->rl_head || now.rl_len != me->rl_len)
		snprintf(me->err, sizeof(me->err), "thread %d: robust list %p/%zu, expected %p/%zu",
			 me->idx, now.rl_head, now.rl_len, me->rl_head, me->rl_len);
	if (me->idx == 0)	/* glibc's own head must be back before the thread exits */
		syscall(SYS_set_robust_list, me->rl_head == &own_head ? NULL : me->rl_head, 0);
	return NULL;
}

static timer_t dead_timer;
static void *dead_timer_fn(void *arg)
{
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN + 9 };
	struct itimerspec its = { .it_value = { 1000, 0 } };
	(void)arg;
	ev._sigev_un._tid = syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &ev, &dead_timer) || timer_settime(dead_timer, 0, &its, NULL))
		return (void *)1;
	return NULL;
}

static char new_args[64] = "moved\0args\0";
static char new_env[64] = "MOVED=1\0ENV=2\0";
static char exe0[4096], cmd0[4096], env0[16384], auxv0[4096];
static size_t cmd0_len, env0_len, auxv0_len;

int main(int argc, char **argv)
{
	struct thr main_before, main_after;
	unsigned long long st0[10], st1[10];
	struct sched_param sp = { 0 };
	FILE *f;

	test_doc = "sigaltstacks, sigaction flags, sched policies, robust lists, coredump_filter, mm fields";
	test_init(argc, argv);

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa = { 0 };
		sa.sa_sigaction = sigs[i].handler;
		sa.sa_flags = sigs[i].flags;
		sigemptyset(&sa.sa_mask);
		for (int k = 0; k < 2; k++)
			if (sigs[i].mask[k])
				sigaddset(&sa.sa_mask, sigs[i].mask[k]);
		if (sigaction(sigs[i].sig, &sa, NULL))
			setup_fail("sigaction %d: %s", sigs[i].sig, strerror(errno));
	}
	stack_t ss = { .ss_sp = altstack[0], .ss_size = sizeof(altstack[0]) };
	if (sigaltstack(&ss, NULL))
		setup_fail("sigaltstack: %s", strerror(errno));
	cpu_set_t all;
	if (sched_getaffinity(0, sizeof(all), &all))
		setup_fail("sched_getaffinity: %s", strerror(errno));
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			cpu_last = c;
			if (cpu_first < 0)
				cpu_first = c;
		}
	if (sched_setscheduler(0, SCHED_BATCH, &sp))
		setup_fail("SCHED_BATCH: %s", strerror(errno));
	f = fopen("/proc/self/coredump_filter", "w");
	if (!f || fprintf(f, "%#x", CORE_FILTER) < 0 || fclose(f))
		setup_fail("coredump_filter: %s", strerror(errno));
	for (int i = 0; i < NGROUPS; i++)
		groups[i] = 20000 + 7 * i;
	if (setgroups(NGROUPS, groups))
		setup_fail("setgroups(%d): %s", NGROUPS, strerror(errno));
	pthread_t dt;
	void *dt_ret;
	if (pthread_create(&dt, NULL, dead_timer_fn, NULL) || pthread_join(dt, &dt_ret) || dt_ret)
		setup_fail("a timer for a thread that then exits");
	bool autogroup = false;
	f = fopen("/proc/self/autogroup", "w");
	if (f) {
		autogroup = fprintf(f, "7") > 0;
		autogroup &= !fclose(f);
	}
	if (!autogroup)
		test_msg("no autogroup nice value to check: %s", strerror(errno));
	if (sbrk(3 * 4096 + 100) == (void *)-1)
		setup_fail("sbrk: %s", strerror(errno));

	for (int i = 0; i < 3; i++) {
		t[i].idx = i;
		if (pthread_create(&t[i].th, NULL, thr_fn, &t[i]))
			setup_fail("pthread_create");
		while (!t[i].ready)
			usleep(1000);
		if (t[i].err[0])
			setup_fail("%s", t[i].err);
	}
	while (!onstack_in)
		usleep(1000);
	prctl(PR_SET_NAME, MAIN_NAME);
	if (!dl_ok)
		test_msg("SCHED_DEADLINE not permitted here: not checked in thread 2");
	if (!rr_ok)
		test_msg("SCHED_RR not permitted here: only SCHED_OTHER checked in thread 1");
	stat_fields(st0);
	struct prctl_mm_map map = {
		.start_code = st0[0], .end_code = st0[1], .start_stack = st0[2],
		.start_data = st0[3], .end_data = st0[4], .start_brk = st0[5],
		.brk = (uintptr_t)sbrk(0),
		.arg_start = (uintptr_t)new_args, .arg_end = (uintptr_t)new_args + 11,
		.env_start = (uintptr_t)new_env, .env_end = (uintptr_t)new_env + 14,
		.exe_fd = -1,
	};
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof(map), 0))
		setup_fail("PR_SET_MM_MAP: %s", strerror(errno));
	if (pin(cpu_first))
		setup_fail("sched_setaffinity: %s", strerror(errno));
	thr_read(&main_before);
	void *brk0 = sbrk(0);
	stat_fields(st0);
	if (readlink("/proc/self/exe", exe0, sizeof(exe0) - 1) < 0)
		setup_fail("readlink exe: %s", strerror(errno));
	read_file("/proc/self/cmdline", cmd0, sizeof(cmd0), &cmd0_len);
	read_file("/proc/self/environ", env0, sizeof(env0), &env0_len);
	read_file("/proc/self/auxv", auxv0, sizeof(auxv0), &auxv0_len);

	bool ksm = !prctl(67 /* PR_SET_MEMORY_MERGE */, 1, 0, 0, 0);
	if (!ksm)
		test_msg("PR_SET_MEMORY_MERGE: %s: not checked", strerror(errno));
	/* last: no mapping may gain PROT_EXEC after it */
	bool mdwe = !prctl(65 /* PR_SET_MDWE */, 1 /* PR_MDWE_REFUSE_EXEC_GAIN */, 0, 0, 0);
	if (!mdwe)
		test_msg("PR_SET_MDWE: %s: not checked", strerror(errno));

	test_daemon();
	test_waitsig();

	if (ksm && prctl(68 /* PR_GET_MEMORY_MERGE */, 0, 0, 0, 0) != 1)
		fail("KSM for the process (PR_GET_MEMORY_MERGE) is off");
	if (mdwe && prctl(66 /* PR_GET_MDWE */, 0, 0, 0, 0) != 1)
		fail("memory-deny-write-execute is %d, expected 1",
		     prctl(66 /* PR_GET_MDWE */, 0, 0, 0, 0));
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa;
		sigaction(sigs[i].sig, NULL, &sa);
		int flags = sa.sa_flags & ~SA_RESTORER;
		if ((void *)sa.sa_sigaction != sigs[i].handler || flags != sigs[i].flags)
			fail("signal %d: handler %p flags %#x, expected %p flags %#x", sigs[i].sig,
			     (void *)sa.sa_sigaction, flags, sigs[i].handler, sigs[i].flags);
		for (int s = 1; s < SIGRTMAX; s++) {
			bool want = s == sigs[i].mask[0] || s == sigs[i].mask[1];
			if (s != SIGKILL && s != SIGSTOP && !!sigismember(&sa.sa_mask, s) != want)
				fail("signal %d: handler mask has signal %d %s", sigs[i].sig, s,
				     want ? "missing" : "added");
		}
	}
	thr_read(&main_after);
	if (main_after.policy != main_before.policy || main_after.prio != main_before.prio)
		fail("main thread: policy %#x prio %d, expected %#x prio %d", main_after.policy,
		     main_after.prio, main_before.policy, main_before.prio);
	if (main_after.ss.ss_sp != main_before.ss.ss_sp ||
	    main_after.ss.ss_size != main_before.ss.ss_size ||
	    main_after.ss.ss_flags != main_before.ss.ss_flags)
		fail("main thread: sigaltstack %p/%zu/%d, expected %p/%zu/%d", main_after.ss.ss_sp,
		     main_after.ss.ss_size, main_after.ss.ss_flags, main_before.ss.ss_sp,
		     main_before.ss.ss_size, main_before.ss.ss_flags);
	if (!CPU_EQUAL(&main_after.cpus, &main_before.cpus))
		fail("main thread: CPU affinity has %d CPUs, expected only CPU %d",
		     CPU_COUNT(&main_after.cpus), cpu_first);
	if (main_after.rl_head != main_before.rl_head || main_after.rl_len != main_before.rl_len)
		fail("main thread: robust list %p/%zu, expected %p/%zu", main_after.rl_head,
		     main_after.rl_len, main_before.rl_head, main_before.rl_len);
	char name[17] = { 0 };
	prctl(PR_GET_NAME, name);
	if (strcmp(name, MAIN_NAME))
		fail("main thread: name \"%s\", expected \"%s\"", name, MAIN_NAME);
	onstack_go = 1;
	for (int i = 0; i < 3; i++) {
		t[i].go = 1;
		pthread_join(t[i].th, NULL);
		if (t[i].err[0])
			fail("%s", t[i].err);
	}

	char buf[16384];
	size_t len;
	read_file("/proc/self/coredump_filter", buf, sizeof(buf) - 1, &len);
	buf[len] = 0;
	if (strtoul(buf, NULL, 16) != CORE_FILTER)
		fail("coredump_filter is %s, expected %#x", buf, CORE_FILTER);
	int ng = getgroups(NGROUPS + 1, groups_now);
	if (ng != NGROUPS)
		fail("%d supplementary groups, expected %d", ng, NGROUPS);
	else
		for (int i = 0; i < NGROUPS; i++)
			if (groups_now[i] != groups[i]) {
				fail("group %d is %u, expected %u", i, groups_now[i], groups[i]);
				break;
			}
	struct itimerspec its;
	if (timer_gettime(dead_timer, &its))
		fail("the timer of the exited thread is gone: %s", strerror(errno));
	else if (its.it_value.tv_sec < 900 || its.it_value.tv_sec > 1000)
		fail("the timer of the exited thread has %lld s left, expected about 1000",
		     (long long)its.it_value.tv_sec);
	if (autogroup) {
		int nice = -100;
		read_file("/proc/self/autogroup", buf, sizeof(buf) - 1, &len);
		buf[len] = 0;
		char *p = strstr(buf, " nice ");
		if (!p || sscanf(p, " nice %d", &nice) != 1 || nice != 7)
			fail("autogroup is \"%s\", expected nice 7", buf);
	}
	if (sbrk(0) != brk0)
		fail("brk is %p, expected %p", sbrk(0), brk0);
	stat_fields(st1);
	static const int fno[10] = { 26, 27, 28, 45, 46, 47, 48, 49, 50, 51 };
	for (int i = 0; i < 10; i++)
		if (st0[i] != st1[i])
			fail("stat field %d is %#llx, expected %#llx", fno[i], st1[i], st0[i]);
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = 0;
	if (strcmp(buf, exe0))
		fail("exe is %s, expected %s", buf, exe0);
	read_file("/proc/self/cmdline", buf, sizeof(buf), &len);
	if (len != cmd0_len || memcmp(buf, cmd0, len))
		fail("cmdline differs (%zu bytes, expected %zu)", len, cmd0_len);
	read_file("/proc/self/environ", buf, sizeof(buf), &len);
	if (len != env0_len || memcmp(buf, env0, len))
		fail("environ differs (%zu bytes, expected %zu)", len, env0_len);
	read_file("/proc/self/auxv", buf, sizeof(buf), &len);
	if (len != auxv0_len || memcmp(buf, auxv0, len))
		fail("auxv differs (%zu bytes, expected %zu)", len, auxv0_len);
	pass();
	return 0;
}
