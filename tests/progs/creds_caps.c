/* creds_caps: a process that gave up root but kept some capabilities.
 *
 * State built before the checkpoint (as root, in this order):
 *   - supplementary groups 1000, 2000, 3000;
 *   - inheritable {NET_BIND_SERVICE, NET_RAW, SYS_BOOT}, then CAP_SYS_BOOT,
 *     CAP_MKNOD and CAP_SYS_MODULE dropped from the bounding set: SYS_BOOT
 *     stays inheritable, which the kernel only allows to be set while the
 *     bounding set has it, so a restore must set the inheritable set before
 *     it drops the bounding set;
 *   - securebits KEEP_CAPS | NOROOT | NOROOT_LOCKED, then gids 1001/1002/1003
 *     and fsgid 1004, uids 2001/2002/2003 and fsuid 2004;
 *   - CAP_NET_BIND_SERVICE raised in the ambient set, then
 *     SECBIT_NO_CAP_AMBIENT_RAISE added (a restore must raise ambient caps
 *     before it sets the final securebits);
 *   - permitted {DAC_OVERRIDE, KILL, NET_BIND_SERVICE, NET_RAW, SYS_NICE},
 *     effective {DAC_OVERRIDE, KILL, NET_RAW} (DAC_OVERRIDE so the test can
 *     still write its outfile), inheritable {NET_BIND_SERVICE, NET_RAW,
 *     SYS_BOOT};
 *   - no_new_privs; dumpable set back to 1 (the uid change cleared it).
 * After SIGTERM: every /proc/self/status credential line, securebits and
 * dumpable must be exactly as before, and the capabilities must work:
 * kill(1, 0) succeeds (CAP_KILL), setpriority(-5) fails (CAP_SYS_NICE is
 * permitted, not effective).
 */
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <grp.h>
#include <unistd.h>

#include "zdtmtst.h"

#define BIT(c) (1ULL << (c))

static const char *const keys[] = {
	"Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
	"NoNewPrivs:",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static char before[NKEYS][256];
static long secbits_before, dumpable_before;

static int status_lines(char out[NKEYS][256])
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	for (size_t i = 0; i < NKEYS; i++)
		out[i][0] = '\0';
	while (fgets(line, sizeof(line), f))
		for (size_t i = 0; i < NKEYS; i++)
			if (!strncmp(line, keys[i], strlen(keys[i])))
				snprintf(out[i], sizeof(out[i]), "%s", line);
	fclose(f);
	return 0;
}

static unsigned long long status_caps(char lines[NKEYS][256], const char *key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i], key))
			return strtoull(lines[i] + strlen(key), NULL, 16);
	return ~0ULL;
}

static int capset_sets(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};
	return syscall(SYS_capset, &h, d);
}

static const uint64_t want_prm = BIT(CAP_DAC_OVERRIDE) | BIT(CAP_KILL) |
	BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_NET_RAW) | BIT(CAP_SYS_NICE);
static const uint64_t want_eff = BIT(CAP_DAC_OVERRIDE) | BIT(CAP_KILL) | BIT(CAP_NET_RAW);
static const uint64_t want_inh = BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_NET_RAW) | BIT(CAP_SYS_BOOT);
static const uint64_t want_amb = BIT(CAP_NET_BIND_SERVICE);
static const long want_secbits = SECBIT_KEEP_CAPS | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
				 SECBIT_NO_CAP_AMBIENT_RAISE;

static void build_state(void)
{
	gid_t groups[] = { 1000, 2000, 3000 };
	uint64_t all;
	char lines[NKEYS][256];

	if (setgroups(3, groups))
		setup_fail("setgroups: %s", strerror(errno));
	if (status_lines(lines))
		setup_fail("can't read /proc/self/status");
	all = status_caps(lines, "CapPrm:");
	/* CAP_SYS_BOOT goes into the inheritable set while the bounding set
	 * still has it, and stays there when it is dropped from the latter */
	if (capset_sets(all, all, want_inh))
		setup_fail("capset (inheritable): %s", strerror(errno));
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) ||
	    prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0) ||
	    prctl(PR_CAPBSET_DROP, CAP_SYS_MODULE, 0, 0, 0))
		setup_fail("PR_CAPBSET_DROP: %s", strerror(errno));
	if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0))
		setup_fail("PR_SET_SECUREBITS: %s", strerror(errno));
	if (setresgid(1001, 1002, 1003) || setfsgid(1004) < 0)
		setup_fail("setresgid: %s", strerror(errno));
	if (setresuid(2001, 2002, 2003))
		setup_fail("setresuid: %s", strerror(errno));
	/* KEEP_CAPS kept the permitted set; the effective one is empty now */
	if (capset_sets(all & ~(BIT(CAP_SYS_BOOT) | BIT(CAP_MKNOD) | BIT(CAP_SYS_MODULE)),
			all & ~(BIT(CAP_SYS_BOOT) | BIT(CAP_MKNOD) | BIT(CAP_SYS_MODULE)), want_inh))
		setup_fail("capset (raise effective): %s", strerror(errno));
	setfsuid(2004);
	if ((int)setfsuid(-1) != 2004)
		setup_fail("setfsuid(2004) did not take");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0))
		setup_fail("PR_CAP_AMBIENT_RAISE: %s", strerror(errno));
	if (prctl(PR_SET_SECUREBITS, want_secbits, 0, 0, 0))
		setup_fail("PR_SET_SECUREBITS (final): %s", strerror(errno));
	if (capset_sets(want_eff, want_prm, want_inh))
		setup_fail("capset (final): %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		setup_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		setup_fail("PR_SET_DUMPABLE: %s", strerror(errno));

	if (status_lines(before))
		setup_fail("can't read /proc/self/status");
	secbits_before = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	dumpable_before = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (status_caps(before, "CapEff:") != want_eff || status_caps(before, "CapPrm:") != want_prm ||
	    status_caps(before, "CapInh:") != want_inh || status_caps(before, "CapAmb:") != want_amb ||
	    secbits_before != want_secbits)
		setup_fail("the credentials did not come out as planned: %s%s%s%s secbits %#lx",
			   before[3], before[4], before[5], before[7], secbits_before);
	for (size_t i = 0; i < NKEYS; i++)
		test_msg("before: %.*s", (int)strcspn(before[i], "\n"), before[i]);
}

static void check_state(void)
{
	char now[NKEYS][256];
	long v;

	if (status_lines(now)) {
		fail_errno("can't read /proc/self/status");
		return;
	}
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(now[i], before[i]))
			fail("%s changed: was \"%.*s\", now \"%.*s\"", keys[i],
			     (int)strcspn(before[i], "\n"), before[i], (int)strcspn(now[i], "\n"),
			     now[i]);
	v = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (v != secbits_before)
		fail("securebits are %#lx, were %#lx", v, secbits_before);
	v = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (v != dumpable_before)
		fail("dumpable is %ld, was %ld", v, dumpable_before);
	if (kill(1, 0))
		fail_errno("kill(1, 0) with CAP_KILL effective");
	errno = 0;
	if (setpriority(PRIO_PROCESS, 0, -5) == 0)
		fail("setpriority(-5) succeeded without CAP_SYS_NICE effective");
	else if (errno != EACCES && errno != EPERM)
		fail_errno("setpriority(-5) failed in an unexpected way");
}

int main(int argc, char **argv)
{
	test_doc = "uids, gids, groups, capability sets, securebits, no_new_privs";
	test_init(argc, argv);
	build_state();
	test_daemon();
	test_waitsig();
	check_state();
	return test_verdict();
}
