/* prctl_tsc_spec: per-thread CPU controls.
 *   - a second thread makes RDTSC fault (PR_SET_TSC, PR_TSC_SIGSEGV); the
 *     main thread keeps it allowed
 *   - speculation controls (PR_SET_SPECULATION_CTRL), where this CPU and
 *     kernel let a task set them: the main thread force-disables
 *     speculative store bypass; the second thread disables it until exec,
 *     disables indirect branch speculation and turns L1D flushing on.
 *     Each one the kernel refuses here (ENXIO, EINVAL, EPERM, ERANGE: not
 *     affected, or a mitigation mode chosen at boot) is reported and not
 *     checked.
 * After SIGTERM each thread reads its own values (the prctls answer for
 * the calling thread only) and compares them with those read before the
 * dump.  The second thread never reads the TSC itself (no vDSO clock calls):
 * it waits on a pipe.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef PR_SPEC_L1D_FLUSH
#define PR_SPEC_L1D_FLUSH 2
#endif
#ifndef PR_SPEC_DISABLE_NOEXEC
#define PR_SPEC_DISABLE_NOEXEC (1UL << 4)
#endif

#define NR_SPEC 3
static const char *const spec_names[NR_SPEC] = { "store bypass", "indirect branch",
						 "L1D flush" };

struct thr {
	const char *name;
	int tsc_set;			/* 0: leave */
	unsigned long spec_set[NR_SPEC];	/* 0: leave */
	int tsc;			/* read before the dump */
	int spec[NR_SPEC];
	int bad;			/* failures found by the thread itself */
	char msg[512];
};

static struct thr threads[2] = {
	{ .name = "main", .spec_set = { PR_SPEC_FORCE_DISABLE, 0, 0 } },
	{ .name = "second", .tsc_set = PR_TSC_SIGSEGV,
	  .spec_set = { PR_SPEC_DISABLE_NOEXEC, PR_SPEC_DISABLE, PR_SPEC_ENABLE } },
};
static int wake[2], ready[2];

static int get_tsc(void)
{
	int v = -1;
	if (prctl(PR_GET_TSC, &v, 0, 0, 0))
		return -errno;
	return v;
}

static void build(struct thr *t)
{
	if (t->tsc_set && prctl(PR_SET_TSC, t->tsc_set, 0, 0, 0))
		snprintf(t->msg, sizeof(t->msg), "PR_SET_TSC: %s", strerror(errno));
	for (int i = 0; i < NR_SPEC; i++) {
		if (t->spec_set[i] &&
		    prctl(PR_SET_SPECULATION_CTRL, i, t->spec_set[i], 0, 0)) {
			size_t n = strlen(t->msg);
			snprintf(t->msg + n, sizeof(t->msg) - n, "%s%s can't be set here (%s)",
				 n ? "; " : "", spec_names[i], strerror(errno));
		}
		t->spec[i] = prctl(PR_GET_SPECULATION_CTRL, i, 0, 0, 0);
	}
	t->tsc = get_tsc();
}

/* Compares, without printing (the second thread must not call into the
 * vDSO for timestamps): the result goes into t->msg. */
static void verify(struct thr *t)
{
	size_t n = 0;
	int v = get_tsc();
	t->msg[0] = '\0';
	if (v != t->tsc) {
		n += snprintf(t->msg + n, sizeof(t->msg) - n, "TSC mode %d, before the dump %d; ",
			      v, t->tsc);
		t->bad++;
	}
	for (int i = 0; i < NR_SPEC; i++) {
		int s = prctl(PR_GET_SPECULATION_CTRL, i, 0, 0, 0);
		if (s != t->spec[i]) {
			n += snprintf(t->msg + n, sizeof(t->msg) - n, "%s control %#x, before the "
				      "dump %#x; ", spec_names[i], s, t->spec[i]);
			t->bad++;
		}
	}
}

static void *second(void *arg)
{
	struct thr *t = &threads[1];
	char c = 0;
	build(t);
	if (write(ready[1], &c, 1) != 1)
		t->bad++;
	if (read(wake[0], &c, 1) != 1)
		t->bad++;
	verify(t);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;
	char c = 0;

	test_doc = "per-thread TSC mode and speculation controls";
	test_init(argc, argv);
	if (pipe(wake) || pipe(ready))
		setup_fail("pipe: %s", strerror(errno));
	if (pthread_create(&th, NULL, second, NULL))
		setup_fail("pthread_create");
	if (read(ready[0], &c, 1) != 1)
		setup_fail("the second thread did not start");
	build(&threads[0]);
	for (int i = 0; i < 2; i++) {
		if (threads[i].msg[0])
			test_msg("%s thread: %s", threads[i].name, threads[i].msg);
		test_msg("%s thread: TSC mode %d, speculation %#x %#x %#x", threads[i].name,
			 threads[i].tsc, threads[i].spec[0], threads[i].spec[1], threads[i].spec[2]);
	}
	if (threads[1].tsc != PR_TSC_SIGSEGV)
		setup_fail("the second thread's TSC mode is %d, not PR_TSC_SIGSEGV", threads[1].tsc);

	test_daemon();
	test_waitsig();

	if (write(wake[1], &c, 1) != 1)
		fail("can't wake the second thread: %s", strerror(errno));
	pthread_join(th, NULL);
	verify(&threads[0]);
	for (int i = 0; i < 2; i++)
		if (threads[i].bad)
			fail("%s thread: %s", threads[i].name, threads[i].msg);
	return test_verdict();
}
