/* syscalls_timeout: threads asleep in timed system calls when dumped.
 *
 * Each of poll, ppoll, select, nanosleep (rem NULL), relative
 * clock_nanosleep (rem NULL), epoll_wait, futex FUTEX_WAIT (relative
 * timeout) and FUTEX_WAIT_BITSET (absolute timeout) is called once, raw
 * (no retry loop), by one thread with a 30 s timeout and by another with
 * a 1.5 s one, on objects that never become ready.  What cryo promises,
 * and what is checked after the restore:
 *   - no call returns EINTR (nor anything but its timeout result);
 *   - a 30 s call is still asleep when SIGTERM comes;
 *   - a 1.5 s call has returned with its timeout result, not before its
 *     original deadline (start + 1.5 s), and no later than 1.5 s (+0.5 s
 *     tolerance) after the process ran again: a call whose time left can't
 *     be known is restarted with its whole timeout.
 * The time the process ran again, for a call, is the end of the last
 * freeze (a gap over 50 ms seen by a 10 ms ticker thread) that began
 * before it returned.
 */
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LONG_MS 30000
#define SHORT_MS 1500
#define TOL_NS 500000000ULL

enum { C_POLL, C_PPOLL, C_SELECT, C_NANOSLEEP, C_CLOCK_NANOSLEEP, C_EPOLL, C_FUTEX,
       C_FUTEX_ABS, NR_CALLS };
static const char *names[NR_CALLS] = { "poll", "ppoll", "select", "nanosleep",
				       "clock_nanosleep", "epoll_wait", "futex(FUTEX_WAIT)",
				       "futex(FUTEX_WAIT_BITSET)" };

struct sleeper {
	int call, ms;
	uint64_t start, end;
	long ret;
	int err;
	volatile int done;
};

static struct sleeper sl[NR_CALLS * 2];
static int pipe_rd, epfd;
static uint32_t futex_word;
#define MAX_GAPS 64
static volatile uint64_t gap_start[MAX_GAPS], gap_end[MAX_GAPS];
static volatile int nr_gaps, ticker_stop;

static void block_term(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void *ticker(void *a)
{
	block_term();
	uint64_t last = test_now_ns();
	while (!ticker_stop) {
		struct timespec req = { 0, 10000000 }, rem;
		while (nanosleep(&req, &rem) && errno == EINTR)
			req = rem;
		uint64_t now = test_now_ns();
		if (now - last > 50000000ULL && nr_gaps < MAX_GAPS) {	/* a freeze */
			gap_start[nr_gaps] = last;
			gap_end[nr_gaps++] = now;
		}
		last = now;
	}
	return NULL;
}

static void *sleeper(void *a)
{
	struct sleeper *s = a;
	block_term();
	struct timespec ts = { s->ms / 1000, (s->ms % 1000) * 1000000L };
	struct timeval tv = { s->ms / 1000, (s->ms % 1000) * 1000 };
	struct pollfd pfd = { .fd = pipe_rd, .events = POLLIN };
	struct epoll_event ev;
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(pipe_rd, &rd);
	s->start = test_now_ns();
	switch (s->call) {
	case C_POLL:
		s->ret = syscall(SYS_poll, &pfd, 1, s->ms);
		break;
	case C_PPOLL:
		s->ret = syscall(SYS_ppoll, &pfd, 1, &ts, NULL, 8);
		break;
	case C_SELECT:
		s->ret = syscall(SYS_select, pipe_rd + 1, &rd, NULL, NULL, &tv);
		break;
	case C_NANOSLEEP:
		s->ret = syscall(SYS_nanosleep, &ts, NULL);
		break;
	case C_CLOCK_NANOSLEEP:
		s->ret = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
		break;
	case C_EPOLL:
		s->ret = syscall(SYS_epoll_wait, epfd, &ev, 1, s->ms);
		break;
	case C_FUTEX:
		s->ret = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
		break;
	case C_FUTEX_ABS: {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t d = (uint64_t)now.tv_sec * 1000000000ULL + now.tv_nsec +
			     (uint64_t)s->ms * 1000000ULL;
		struct timespec abs = { d / 1000000000ULL, d % 1000000000ULL };
		s->start = (uint64_t)now.tv_sec * 1000000000ULL + now.tv_nsec;
		s->ret = syscall(SYS_futex, &futex_word, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL,
				 FUTEX_BITSET_MATCH_ANY);
		break;
	}
	}
	s->err = s->ret < 0 ? errno : 0;
	s->end = test_now_ns();
	s->done = 1;
	return NULL;
}

/* what the call returns when its time is up */
static int timed_out(const struct sleeper *s)
{
	if (s->call == C_FUTEX || s->call == C_FUTEX_ABS)
		return s->ret == -1 && s->err == ETIMEDOUT;
	return s->ret == 0;
}

int main(int argc, char **argv)
{
	pthread_t th[NR_CALLS * 2], tick;
	test_doc = "threads asleep in timed system calls: no EINTR, short ones end on time";
	test_init(argc, argv);

	int p[2];
	if (pipe(p))
		setup_fail("pipe: %s", strerror(errno));
	pipe_rd = p[0];		/* p[1] stays open: never readable, never EOF */
	epfd = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, pipe_rd, &ev))
		setup_fail("epoll: %s", strerror(errno));
	if (pthread_create(&tick, NULL, ticker, NULL))
		setup_fail("pthread_create");
	for (int i = 0; i < NR_CALLS * 2; i++) {
		sl[i].call = i % NR_CALLS;
		sl[i].ms = i < NR_CALLS ? LONG_MS : SHORT_MS;
		if (pthread_create(&th[i], NULL, sleeper, &sl[i]))
			setup_fail("pthread_create");
	}
	test_sleep_ms(50);	/* all inside their calls */
	test_daemon();
	test_waitsig();

	/* the short ones should be done: give them some more time if not */
	uint64_t deadline = test_now_ns() + SHORT_MS * 1000000ULL + TOL_NS;
	for (int i = NR_CALLS; i < NR_CALLS * 2; i++)
		while (!sl[i].done && test_now_ns() < deadline)
			test_sleep_ms(10);
	for (int g = 0; g < nr_gaps; g++)
		test_msg("ran again %.3f s after the short calls began",
			 ((double)gap_end[g] - (double)sl[NR_CALLS].start) / 1e9);

	for (int i = 0; i < NR_CALLS * 2; i++) {
		struct sleeper *s = &sl[i];
		const char *kind = i < NR_CALLS ? "30 s" : "1.5 s";
		if (!s->done) {
			if (i >= NR_CALLS)
				fail("%s %s: still asleep %.3f s after it began", kind,
				     names[s->call], ((double)test_now_ns() - s->start) / 1e9);
			continue;
		}
		/* the last time it ran again: the end of the last freeze that
		 * began before it returned (seen up to 10 ms late) */
		uint64_t resume = s->start;
		for (int g = 0; g < nr_gaps; g++)
			if (gap_start[g] < s->end && gap_end[g] > resume)
				resume = gap_end[g];
		double took = ((double)s->end - (double)s->start) / 1e9;
		if (s->ret < 0 && s->err == EINTR) {
			fail("%s %s returned EINTR after %.3f s", kind, names[s->call], took);
			continue;
		}
		if (i < NR_CALLS) {
			fail("%s %s returned %ld (%s) after %.3f s", kind, names[s->call], s->ret,
			     s->ret < 0 ? strerror(s->err) : "no error", took);
			continue;
		}
		if (!timed_out(s))
			fail("%s %s returned %ld (%s), not its timeout", kind, names[s->call], s->ret,
			     s->ret < 0 ? strerror(s->err) : "no error");
		if (s->end + 1000000ULL < s->start + SHORT_MS * 1000000ULL)
			fail("%s %s ended early: after %.3f s", kind, names[s->call], took);
		if (s->end > resume + SHORT_MS * 1000000ULL + TOL_NS)
			fail("%s %s ended %.3f s after the process ran again (more than 1.5 s + "
			     "0.5 s)", kind, names[s->call], ((double)s->end - (double)resume) / 1e9);
	}
	pass();
	_exit(0);	/* the 30 s sleepers are still asleep */
}
