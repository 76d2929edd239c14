/* sig_pending: pending signals of a single-threaded process, in both queues.
 *
 * State built before the checkpoint (every signal used here is blocked):
 *   - shared queue (sent to the process): SIGUSR1 by kill() (SI_USER);
 *     SIGRTMIN+2 five times and SIGRTMIN+5 three times by sigqueue() with
 *     different si_value, interleaved; SIGRTMIN+6 with a custom si_code and
 *     payload (rt_sigqueueinfo to itself); SIGWINCH queued while
 *     RLIMIT_SIGPENDING is 0, so that only its pending bit is set (no
 *     siginfo: the kernel delivers it as SI_USER from pid 0);
 *   - the thread's own queue: SIGUSR2 by tgkill(), SIGRTMIN+3
 *     three times and SIGRTMIN+2 once by rt_tgsigqueueinfo().
 * After SIGTERM: /proc/self/status SigPnd and ShdPnd must hold exactly those
 * signals, then each signal is dequeued with sigtimedwait() and its siginfo
 * checked (code, pid, uid, value), in the order it was queued (for
 * SIGRTMIN+2, the thread's entry comes first, as the kernel dequeues the
 * private queue first); nothing else may be pending.  The SIGTRAP handler
 * is still installed (the restore stops on int3).  Then the blocked
 * SIGUSR1 is queued again and unblocked: its handler must run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

struct want {
	int sig;
	int code;
	pid_t pid;
	int value;	/* for SI_QUEUE and the custom code */
	bool shared;
};

#define MAXW 32
static struct want wants[MAXW];
static int nr_wants;
static pid_t me;
static uid_t uid;
static volatile sig_atomic_t usr1_handled;

#define CUSTOM_CODE (-42)

static void add_want(int sig, int code, pid_t pid, int value, bool shared)
{
	wants[nr_wants++] = (struct want){ sig, code, pid, value, shared };
}

static void queue_self(int sig, int value)
{
	union sigval v = { .sival_int = value };
	if (sigqueue(me, sig, v))
		setup_fail("sigqueue(%d, %d): %s", sig, value, strerror(errno));
	add_want(sig, SI_QUEUE, me, value, true);
}

static void queue_thread(int sig, int value)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = me;
	si.si_uid = uid;
	si.si_value.sival_int = value;
	if (syscall(SYS_rt_tgsigqueueinfo, me, gettid(), sig, &si))
		setup_fail("rt_tgsigqueueinfo(%d, %d): %s", sig, value, strerror(errno));
	add_want(sig, SI_QUEUE, me, value, false);
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1_handled++;
}

static void on_trap(int sig)
{
	(void)sig;
}

static uint64_t mask_of(bool shared)
{
	uint64_t m = 0;
	for (int i = 0; i < nr_wants; i++)
		if (wants[i].shared == shared)
			m |= 1ULL << (wants[i].sig - 1);
	return m;
}

static uint64_t proc_mask(const char *key)
{
	char line[256];
	uint64_t m = ~0ULL;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return m;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			sscanf(line + strlen(key), "%lx", &m);
	fclose(f);
	return m;
}

static void build_state(void)
{
	sigset_t all;
	struct rlimit rl, zero;

	me = getpid();
	uid = getuid();
	sigfillset(&all);
	sigdelset(&all, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &all, NULL))
		setup_fail("sigprocmask: %s", strerror(errno));
	struct sigaction sa = { .sa_handler = on_usr1 };
	if (sigaction(SIGUSR1, &sa, NULL))
		setup_fail("sigaction: %s", strerror(errno));
	/* queueing the signals at restore must not cost the SIGTRAP handler */
	struct sigaction st = { .sa_handler = on_trap, .sa_flags = SA_RESTART };
	if (sigaction(SIGTRAP, &st, NULL))
		setup_fail("sigaction: %s", strerror(errno));

	/* shared queue */
	if (kill(me, SIGUSR1))
		setup_fail("kill: %s", strerror(errno));
	add_want(SIGUSR1, SI_USER, me, 0, true);
	for (int i = 0; i < 5; i++) {
		queue_self(SIGRTMIN + 2, 100 + i);
		if (i < 3)
			queue_self(SIGRTMIN + 5, 200 + i);
	}
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGRTMIN + 6;
	si.si_code = CUSTOM_CODE;
	si.si_pid = 4242;
	si.si_uid = 4343;
	si.si_value.sival_int = 0x5a5a;
	if (syscall(SYS_rt_sigqueueinfo, me, SIGRTMIN + 6, &si))
		setup_fail("rt_sigqueueinfo: %s", strerror(errno));
	add_want(SIGRTMIN + 6, CUSTOM_CODE, 4242, 0x5a5a, true);

	/* a pending bit without a siginfo */
	if (getrlimit(RLIMIT_SIGPENDING, &rl))
		setup_fail("getrlimit: %s", strerror(errno));
	zero = (struct rlimit){ 0, rl.rlim_max };
	if (setrlimit(RLIMIT_SIGPENDING, &zero))
		setup_fail("RLIMIT_SIGPENDING: %s", strerror(errno));
	union sigval v = { .sival_int = 77 };
	int r = sigqueue(me, SIGWINCH, v);
	int e = errno;
	if (setrlimit(RLIMIT_SIGPENDING, &rl))
		setup_fail("RLIMIT_SIGPENDING back: %s", strerror(errno));
	if (r)
		setup_fail("sigqueue(SIGWINCH) over the limit: %s", strerror(e));
	add_want(SIGWINCH, SI_USER, 0, 0, true);

	/* the thread's own queue */
	/* tgkill's si_code differs between kernels (SI_TKILL, or SI_USER
	 * since 6.9): see what this one delivers, then queue it for real. */
	siginfo_t probe;
	sigset_t usr2;
	struct timespec now = { 0, 0 };
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	if (syscall(SYS_tgkill, me, gettid(), SIGUSR2) ||
	    sigtimedwait(&usr2, &probe, &now) != SIGUSR2)
		setup_fail("tgkill probe: %s", strerror(errno));
	if (syscall(SYS_tgkill, me, gettid(), SIGUSR2))
		setup_fail("tgkill: %s", strerror(errno));
	add_want(SIGUSR2, probe.si_code, me, 0, false);
	for (int i = 0; i < 3; i++)
		queue_thread(SIGRTMIN + 3, 300 + i);
	queue_thread(SIGRTMIN + 2, 900);

	if (proc_mask("SigPnd:") != mask_of(false) || proc_mask("ShdPnd:") != mask_of(true))
		setup_fail("pending masks before the checkpoint: SigPnd %lx ShdPnd %lx, expected %lx %lx",
			   proc_mask("SigPnd:"), proc_mask("ShdPnd:"), mask_of(false), mask_of(true));
}

static void check_state(void)
{
	uint64_t sp = proc_mask("SigPnd:"), shp = proc_mask("ShdPnd:");
	struct timespec zero = { 0, 0 };

	if (sp != mask_of(false))
		fail("SigPnd (per-thread) is %016lx, expected %016lx", sp, mask_of(false));
	if (shp != mask_of(true))
		fail("ShdPnd (shared) is %016lx, expected %016lx", shp, mask_of(true));

	/* Per signal number: private entries first, then shared, each in
	 * queue order. */
	for (int sig = 1; sig <= 64; sig++) {
		for (int pass = 0; pass < 2; pass++) {
			for (int i = 0; i < nr_wants; i++) {
				struct want *w = &wants[i];
				if (w->sig != sig || w->shared != (pass == 1))
					continue;
				sigset_t set;
				siginfo_t si;
				sigemptyset(&set);
				sigaddset(&set, sig);
				int got = sigtimedwait(&set, &si, &zero);
				if (got != sig) {
					fail("signal %d (%s, value %d) is no longer pending: sigtimedwait: %s",
					     sig, w->shared ? "shared" : "per-thread", w->value,
					     strerror(errno));
					continue;
				}
				if (si.si_code != w->code || si.si_pid != w->pid)
					fail("signal %d: si_code %d si_pid %d, expected %d %d", sig,
					     si.si_code, si.si_pid, w->code, w->pid);
				if (w->code == SI_QUEUE && si.si_value.sival_int != w->value)
					fail("signal %d: si_value %d, expected %d (queue order lost?)",
					     sig, si.si_value.sival_int, w->value);
				if (w->code == CUSTOM_CODE &&
				    (si.si_value.sival_int != w->value || si.si_uid != 4343))
					fail("signal %d: custom siginfo value %d uid %d, expected %d 4343",
					     sig, si.si_value.sival_int, si.si_uid, w->value);
				if ((w->code == SI_QUEUE || w->code == SI_USER || w->code == SI_TKILL) &&
				    w->pid && si.si_uid != uid)
					fail("signal %d: si_uid %d, expected %d", sig, si.si_uid, uid);
			}
		}
	}
	sigset_t pend;
	sigpending(&pend);
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGTERM && sigismember(&pend, sig) == 1)
			fail("signal %d is still pending after everything was dequeued", sig);

	struct sigaction cur;
	sigaction(SIGTRAP, NULL, &cur);
	if (cur.sa_handler != on_trap || !(cur.sa_flags & SA_RESTART))
		fail("SIGTRAP handler is %p flags %#x, expected %p with SA_RESTART",
		     (void *)cur.sa_handler, cur.sa_flags, (void *)on_trap);

	/* The handler still works. */
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	kill(me, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	if (usr1_handled != 1)
		fail("SIGUSR1 handler ran %d times, expected 1", (int)usr1_handled);
}

int main(int argc, char **argv)
{
	test_doc = "pending signals: shared and per-thread queues, siginfo, order";
	test_init(argc, argv);
	build_state();
	test_daemon();
	test_waitsig();
	check_state();
	return test_verdict();
}
