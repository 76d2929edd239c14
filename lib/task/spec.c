/* Per-thread CPU controls only the thread itself can read and set:
 *
 *   PR_SET_TSC           RDTSC allowed or SIGSEGV (x86 CR4.TSD)  tce.cryo_tsc
 *   PR_SET_SPECULATION_CTRL, per misfeature:                     tce.cryo_spec_*
 *     PR_SPEC_STORE_BYPASS, PR_SPEC_INDIRECT_BRANCH, PR_SPEC_L1D_FLUSH
 *     (enable, disable, force-disable, disable-noexec)
 *
 * PR_GET_TSC and PR_GET_SPECULATION_CTRL answer for the calling task only:
 * one injected prctl each.  /proc/PID/status has Speculation_Store_Bypass
 * and SpeculationIndirectBranch lines, but they can't tell disable-noexec
 * from the default and L1D flush has none.
 *
 * Whether a misfeature can be controlled per task (PR_SPEC_PRCTL in the
 * answer) depends on the CPU and the kernel's boot mode, the same for
 * every task: cryo asks for itself once and injects nothing for the ones
 * it can't (on CPUs that are not affected, or with mitigations forced on
 * or off at boot).  A thread's value is saved only when it differs from
 * cryo's own, which is what a fresh task has (speculation enabled; L1D
 * flush off), so an ordinary process moves to a machine with other
 * mitigations; one that chose a mitigation gets it back or the restore
 * fails saying why.  The TSC mode is saved
 * when it is SIGSEGV (a fresh task may read the TSC).
 *
 * Restored after the credentials (TASK_PH_THREAD): installing a seccomp
 * filter makes the kernel force-disable speculation on its own (unless
 * the filter had SECCOMP_FILTER_FLAG_SPEC_ALLOW), and force-disable is
 * one-way: set before, the filter's restore would see it; set after, the
 * value already there is compared first and only a missing one is set.
 * Neither prctl needs a privilege, so a thread that dropped its
 * capabilities sets its own. */
#include "task/task-int.h"
#include "restore/restore.h"
#include "seize/remote.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifndef PR_SPEC_L1D_FLUSH
#define PR_SPEC_L1D_FLUSH 2
#endif
#ifndef PR_SPEC_DISABLE_NOEXEC
#define PR_SPEC_DISABLE_NOEXEC (1UL << 4)
#endif

static const struct spec {
	int which;
	const char *name;
} specs[] = {
	{ PR_SPEC_STORE_BYPASS, "speculative store bypass (PR_SPEC_STORE_BYPASS)" },
	{ PR_SPEC_INDIRECT_BRANCH, "indirect branch speculation (PR_SPEC_INDIRECT_BRANCH)" },
	{ PR_SPEC_L1D_FLUSH, "L1D flush on context switch (PR_SPEC_L1D_FLUSH)" },
};
#define NR_SPECS ((int)(sizeof(specs) / sizeof(specs[0])))

static const char *spec_mode(uint32_t v)
{
	switch (v & ~(uint32_t)PR_SPEC_PRCTL) {
	case PR_SPEC_ENABLE:		return "enabled";
	case PR_SPEC_DISABLE:		return "disabled";
	case PR_SPEC_FORCE_DISABLE:	return "force-disabled";
	case PR_SPEC_DISABLE_NOEXEC:	return "disabled until exec";
	case 0:				return "not affected";
	default:			return "unknown";
	}
}

/* What a task forked by cryo has (the restored threads start with it):
 * asked once, of cryo itself; -1 where a task can't control it. */
static long spec_self(int i)
{
	static long self[NR_SPECS];
	static bool known[NR_SPECS];
	if (!known[i]) {
		long v = prctl(PR_GET_SPECULATION_CTRL, specs[i].which, 0, 0, 0);
		self[i] = v >= 0 && (v & PR_SPEC_PRCTL) ? v : -1;
		known[i] = true;
	}
	return self[i];
}

static uint32_t *spec_field(ThreadCoreEntry *tce, int i, protobuf_c_boolean **has)
{
	switch (i) {
	case 0: *has = &tce->has_cryo_spec_store_bypass; return &tce->cryo_spec_store_bypass;
	case 1: *has = &tce->has_cryo_spec_indirect_branch; return &tce->cryo_spec_indirect_branch;
	default: *has = &tce->has_cryo_spec_l1d_flush; return &tce->cryo_spec_l1d_flush;
	}
}

static int cpuctl_dump(struct task_dump *d)
{
	ThreadCoreEntry *tce = d->core->thread_core;
	uint64_t slot = remote_scratch_alloc(d->r, sizeof(int));
	if (!slot)
		return -ENOSPC;
	int tsc = 0;
	long lr = remote_syscall(d->r, __NR_prctl, PR_GET_TSC, slot, 0, 0, 0, 0);
	if (!lr) {
		int ret = remote_read(d->r, slot, &tsc, sizeof(tsc));
		if (ret)
			return ret;
		if (tsc == PR_TSC_SIGSEGV) {
			tce->has_cryo_tsc = 1;
			tce->cryo_tsc = tsc;
		}
	} else if (lr != -EINVAL) {	/* EINVAL: not x86 */
		return log_errno((int)lr, "prctl(PR_GET_TSC) in thread %d failed", d->t->tid);
	}
	for (int i = 0; i < NR_SPECS; i++) {
		long self = spec_self(i);
		if (self < 0)
			continue;
		lr = remote_syscall(d->r, __NR_prctl, PR_GET_SPECULATION_CTRL, specs[i].which, 0,
				    0, 0, 0);
		if (lr < 0)
			return log_errno((int)lr, "prctl(PR_GET_SPECULATION_CTRL, %s) in thread %d "
					 "failed", specs[i].name, d->t->tid);
		if (!(lr & PR_SPEC_PRCTL) || lr == self)
			continue;
		protobuf_c_boolean *has;
		uint32_t *v = spec_field(tce, i, &has);
		*has = 1;
		*v = (uint32_t)lr;
		pr_debug("thread %d: %s %s", d->t->tid, specs[i].name, spec_mode(*v));
	}
	return 0;
}

static int spec_restore(const struct task_rst *tr, int i, uint32_t want)
{
	pid_t tid = tr->t->tid;
	long cur = remote_syscall(tr->r, __NR_prctl, PR_GET_SPECULATION_CTRL, specs[i].which, 0,
				  0, 0, 0);
	if (cur == want)
		return 0;
	if (cur < 0 || !(cur & PR_SPEC_PRCTL)) {
		pr_err("thread %d had %s %s by prctl, but on this machine a task can't control it "
		       "(%s%s): the CPU is not affected or the kernel's mitigation mode is set at "
		       "boot (spec_store_bypass_disable=, spectre_v2_user=, l1d_flush=); restore "
		       "on a machine whose CPU and boot options allow it", tid, specs[i].name,
		       spec_mode(want), cur < 0 ? "prctl: " : "the kernel reports it ",
		       cur < 0 ? strerror((int)-cur) : spec_mode((uint32_t)cur));
		return -EOPNOTSUPP;
	}
	uint32_t mode = want & ~(uint32_t)PR_SPEC_PRCTL;
	long ret = remote_syscall(tr->r, __NR_prctl, PR_SET_SPECULATION_CTRL, specs[i].which,
				  mode, 0, 0, 0);
	long now = ret ? ret : remote_syscall(tr->r, __NR_prctl, PR_GET_SPECULATION_CTRL,
					      specs[i].which, 0, 0, 0, 0);
	if (ret || now != want) {
		pr_err("can't set %s back to %s in restored thread %d (it is %s): %s", specs[i].name,
		       spec_mode(want), tid, spec_mode((uint32_t)cur),
		       ret == -EPERM ? "force-disabled can't be undone (a seccomp filter "
		       "installed without SECCOMP_FILTER_FLAG_SPEC_ALLOW forces it)" :
		       ret ? strerror((int)-ret) : "the kernel kept another value");
		return ret < 0 ? (int)ret : -EIO;
	}
	return 0;
}

static int cpuctl_restore(const struct task_rst *tr)
{
	const ThreadCoreEntry *tce = tr->t->core->thread_core;
	if (!tce)
		return 0;
	if (tce->has_cryo_tsc && tce->cryo_tsc != PR_TSC_ENABLE) {
		long ret = remote_syscall(tr->r, __NR_prctl, PR_SET_TSC, tce->cryo_tsc, 0, 0, 0, 0);
		if (ret) {
			pr_err("prctl(PR_SET_TSC, %u) in restored thread %d failed: %s (the dumped "
			       "thread made RDTSC fault; this kernel or CPU can't)", tce->cryo_tsc,
			       tr->t->tid, strerror((int)-ret));
			return ret < 0 ? (int)ret : -EIO;
		}
	}
	const uint32_t want[NR_SPECS] = {
		tce->has_cryo_spec_store_bypass ? tce->cryo_spec_store_bypass : 0,
		tce->has_cryo_spec_indirect_branch ? tce->cryo_spec_indirect_branch : 0,
		tce->has_cryo_spec_l1d_flush ? tce->cryo_spec_l1d_flush : 0,
	};
	for (int i = 0; i < NR_SPECS; i++) {
		if (!want[i])
			continue;
		int ret = spec_restore(tr, i, want[i]);
		if (ret)
			return ret;
	}
	return 0;
}

const struct task_item task_item_cpuctl = {
	"TSC and speculation controls", TASK_THREAD, TASK_PH_THREAD, cpuctl_dump, cpuctl_restore,
};
