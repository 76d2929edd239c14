/* rlimits: every resource limit set to its own value below what the test
 * was started with (lowering is always allowed), soft and hard.
 *
 * After SIGTERM each limit must be exactly what was set.
 *
 * With --kept-nofile N the test is restored by a cryo whose own hard
 * RLIMIT_NOFILE is N, below the test's (see rlimits_kept.desc): cryo can't
 * raise it (that needs CAP_SYS_RESOURCE), so the restored limit must be
 * N/N, every other limit exact, and the restore log (--restore-log) must
 * name RLIMIT_NOFILE in its warning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "zdtmtst.h"

static unsigned kept_nofile;
TEST_OPTION(kept_nofile, uint, "hard RLIMIT_NOFILE of the restoring cryo (rlimits_kept)", 0);
static char *restore_log;
TEST_OPTION(restore_log, string, "cryo's restore log, checked for the warning", 0);

#define NR 16
static const char *const names[NR] = {
	"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS",
	"LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
};
static struct rlimit set[NR];

/* A value below @max, different for each resource and for soft/hard. */
static rlim_t pick(int res, rlim_t max, int soft)
{
	rlim_t base = 1000 + res * 37 + (soft ? 0 : 500);

	if (res == RLIMIT_STACK || res == RLIMIT_DATA || res == RLIMIT_AS ||
	    res == RLIMIT_MEMLOCK || res == RLIMIT_FSIZE || res == RLIMIT_RSS ||
	    res == RLIMIT_MSGQUEUE)
		base = (64ULL << 20) * (res + 1) + (soft ? 0 : (16ULL << 20));	/* bytes */
	if (res == RLIMIT_NICE || res == RLIMIT_RTPRIO)
		base = soft ? 0 : 0;	/* only lowering: 0 is always below */
	if (res == RLIMIT_NOFILE)
		base = soft ? 3000 : 8000;
	if (res == RLIMIT_STACK && soft)
		base = 6 << 20;		/* above what the test uses */
	return base < max ? base : max;
}

int main(int argc, char **argv)
{
	test_doc = "resource limits lowered to distinct values, restored exactly";
	test_init(argc, argv);
	for (int res = 0; res < NR; res++) {
		struct rlimit cur;

		if (getrlimit(res, &cur))
			setup_fail("getrlimit(%s): %s", names[res], strerror(errno));
		set[res].rlim_max = pick(res, cur.rlim_max, 0);
		set[res].rlim_cur = pick(res, set[res].rlim_max, 1);
		if (set[res].rlim_cur > set[res].rlim_max)
			set[res].rlim_cur = set[res].rlim_max;
		if (setrlimit(res, &set[res]))
			setup_fail("setrlimit(%s, %llu/%llu): %s", names[res],
				   (unsigned long long)set[res].rlim_cur,
				   (unsigned long long)set[res].rlim_max, strerror(errno));
	}
	if (kept_nofile && set[RLIMIT_NOFILE].rlim_max <= kept_nofile)
		setup_fail("--kept-nofile %u is not below the test's hard RLIMIT_NOFILE %llu",
			   kept_nofile, (unsigned long long)set[RLIMIT_NOFILE].rlim_max);
	test_daemon();
	test_waitsig();

	for (int res = 0; res < NR; res++) {
		struct rlimit now, want = set[res];

		if (kept_nofile && res == RLIMIT_NOFILE) {
			want.rlim_max = kept_nofile;
			if (want.rlim_cur > kept_nofile)
				want.rlim_cur = kept_nofile;
		}
		if (getrlimit(res, &now)) {
			fail_errno("getrlimit(%s)", names[res]);
			continue;
		}
		if (now.rlim_cur != want.rlim_cur || now.rlim_max != want.rlim_max)
			fail("RLIMIT_%s is %llu/%llu (soft/hard), expected %llu/%llu", names[res],
			     (unsigned long long)now.rlim_cur, (unsigned long long)now.rlim_max,
			     (unsigned long long)want.rlim_cur, (unsigned long long)want.rlim_max);
	}
	if (restore_log) {
		char buf[65536];
		FILE *f = fopen(restore_log, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = '\0';
		if (!f)
			fail_errno("can't open the restore log %s", restore_log);
		else if (!strstr(buf, "RLIMIT_NOFILE") || !strstr(buf, "CAP_SYS_RESOURCE"))
			fail("the restore log %s does not report that RLIMIT_NOFILE could not be "
			     "restored", restore_log);
	}
	return test_verdict();
}
