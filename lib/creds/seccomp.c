/* seccomp: strict mode and BPF filters, per thread.
 *
 * Dump: the mode comes from /proc/PID/task/TID/status; the filters from
 * PTRACE_SECCOMP_GET_FILTER (index 0 is the oldest) and their flags from
 * PTRACE_SECCOMP_GET_METADATA, all from outside.  Every filter of the dump
 * goes once into seccomp.img (seccomp_entry.seccomp_filters); each names
 * the filter installed before it (prev), and a thread's core names its
 * newest one (seccomp_filter).  Threads that inherited the same chain
 * share its entries: a filter with the same program, flags and prev is the
 * same entry.
 *
 * Restore: PTRACE_O_SUSPEND_SECCOMP is set on the thread first, so the
 * syscalls cryo runs in it afterwards (the credentials batch, the
 * trampoline's final munmap) are not filtered; then the filters are
 * installed oldest first with seccomp(SECCOMP_SET_MODE_FILTER), or strict
 * mode is entered.  They apply once cryo detaches.
 *
 * A filter installed with SECCOMP_FILTER_FLAG_TSYNC is one kernel object
 * that every thread points to.  Filters installed per thread would be
 * equal but distinct, and a later TSYNC by the program would then fail
 * (seccomp returns the TID of a thread whose filter is not an ancestor of
 * the caller's).  So the oldest filters that all threads of a process have
 * in common are installed once, by the leader with TSYNC, before any
 * thread's own (creds_restore_seccomp_shared); each thread then finds them
 * in place (installed_prefix) and adds the rest of its chain. */
#include "creds/creds-int.h"
#include "images/image.h"
#include "proc/proc.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include "seccomp.pb-c.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/ptrace.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "compat/uapi-extra.h"

#define MAX_INSNS 4096		/* BPF_MAXINSNS */
#define MAX_CHAIN 1024		/* filters stacked on one thread */
/* Flags worth re-applying; TSYNC and the listener ones describe how a
 * filter was installed, not the filter. */
#define KEEP_FLAGS (SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW)

/* One filter of the dump (struct creds_dump). */
struct creds_seccomp_filter {
	uint8_t *bpf;
	size_t len;		/* bytes */
	uint32_t flags;
	int prev;		/* index, -1 for none */
};

static int add_filter(struct creds_dump *cd, const uint8_t *bpf, size_t len, uint32_t flags,
		      int prev)
{
	for (int i = 0; i < cd->nr_filters; i++) {
		struct creds_seccomp_filter *f = &cd->filters[i];
		if (f->prev == prev && f->flags == flags && f->len == len && !memcmp(f->bpf, bpf, len))
			return i;
	}
	struct creds_seccomp_filter *nv = xrealloc(cd->filters, (cd->nr_filters + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	cd->filters = nv;
	uint8_t *copy = xmalloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, bpf, len);
	cd->filters[cd->nr_filters] = (struct creds_seccomp_filter){ copy, len, flags, prev };
	return cd->nr_filters++;
}

/* Filter @idx (0 = the oldest) of @tid into a malloc'ed buffer. */
static int get_filter(pid_t tid, int idx, uint8_t **out, size_t *len, uint32_t *flags)
{
	long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)(long)idx, NULL);
	if (n < 0) {
		int e = errno;
		if (e == ENOENT)
			return -ENOENT;
		if (e == EMEDIUMTYPE)
			pr_err("seccomp filter %d of thread %d is not a classic BPF program: the "
			       "kernel can't hand it out, so it can't be dumped", idx, tid);
		else if (e == EACCES || e == EPERM)
			pr_err("PTRACE_SECCOMP_GET_FILTER on thread %d was refused: cryo needs "
			       "CAP_SYS_ADMIN and must not itself run under seccomp", tid);
		else if (e == EINVAL)
			pr_err("PTRACE_SECCOMP_GET_FILTER on thread %d failed: this kernel lacks "
			       "CONFIG_CHECKPOINT_RESTORE, so seccomp filters can't be read", tid);
		else
			pr_err("PTRACE_SECCOMP_GET_FILTER(%d) on thread %d failed: %s", idx, tid,
			       strerror(e));
		return -e;
	}
	if (n == 0 || n > MAX_INSNS) {
		pr_err("seccomp filter %d of thread %d has %ld instructions", idx, tid, n);
		return -EINVAL;
	}
	uint8_t *buf = xmalloc(n * sizeof(struct sock_filter));
	if (!buf)
		return -ENOMEM;
	long m = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)(long)idx, buf);
	if (m != n) {
		pr_perror("PTRACE_SECCOMP_GET_FILTER(%d) on thread %d returned %ld of %ld "
			  "instructions", idx, tid, m, n);
		free(buf);
		return -EIO;
	}
	struct seccomp_metadata md = { .filter_off = idx };
	if (ptrace(PTRACE_SECCOMP_GET_METADATA, tid, (void *)sizeof(md), &md) < 0) {
		pr_perror("PTRACE_SECCOMP_GET_METADATA(%d) on thread %d failed", idx, tid);
		free(buf);
		return -EIO;
	}
	/* SECCOMP_RET_USER_NOTIF hands syscalls to a supervisor holding the
	 * filter's listener fd; that link can't be recreated. */
	const struct sock_filter *insn = (const struct sock_filter *)buf;
	for (long i = 0; i < n; i++)
		if (insn[i].code == (BPF_RET | BPF_K) &&
		    (insn[i].k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF) {
			pr_err("seccomp filter %d of thread %d passes syscalls to a user-space "
			       "supervisor (SECCOMP_RET_USER_NOTIF): cryo can't restore the link "
			       "to the supervisor's listener, so it can't dump this thread", idx,
			       tid);
			free(buf);
			return -EOPNOTSUPP;
		}
	*out = buf;
	*len = n * sizeof(struct sock_filter);
	*flags = md.flags & KEEP_FLAGS;
	return 0;
}

int seccomp_dump_thread(struct creds_dump *cd, pid_t pid, pid_t tid, ThreadCoreEntry *tce)
{
	struct proc_status st;
	int ret = proc_read_status(pid, tid, &st);
	if (ret)
		return ret;
	int mode = st.seccomp;
	proc_status_free(&st);
	if (mode < 0)
		mode = 0;	/* kernel without seccomp: no "Seccomp:" line */
	if (mode > SECCOMP_MODE_FILTER) {
		pr_err("thread %d is in seccomp mode %d, which cryo does not know", tid, mode);
		return -EOPNOTSUPP;
	}
	tce->has_seccomp_mode = 1;
	tce->seccomp_mode = mode;
	if (mode != SECCOMP_MODE_FILTER)
		return 0;

	/* oldest first, as the kernel numbers them */
	struct { uint8_t *bpf; size_t len; uint32_t flags; } chain[MAX_CHAIN];
	int n = 0;
	for (;; n++) {
		if (n == MAX_CHAIN) {
			pr_err("thread %d has more than %d seccomp filters", tid, MAX_CHAIN);
			ret = -E2BIG;
			break;
		}
		ret = get_filter(tid, n, &chain[n].bpf, &chain[n].len, &chain[n].flags);
		if (ret == -ENOENT) {
			ret = 0;
			break;
		}
		if (ret)
			break;
	}
	if (!ret && !n) {
		pr_err("thread %d is in seccomp filter mode but the kernel lists no filter", tid);
		ret = -EIO;
	}
	int prev = -1;
	for (int i = 0; !ret && i < n; i++) {
		int idx = add_filter(cd, chain[i].bpf, chain[i].len, chain[i].flags, prev);
		if (idx < 0)
			ret = idx;
		prev = idx;
	}
	for (int i = 0; i < n; i++)
		free(chain[i].bpf);
	if (ret)
		return ret;
	tce->has_seccomp_filter = 1;
	tce->seccomp_filter = prev;
	pr_debug("thread %d: %d seccomp filter(s), newest is entry %d", tid, n, prev);
	return 0;
}

static void forget_dumped(struct creds_dump *cd)
{
	for (int i = 0; i < cd->nr_filters; i++)
		free(cd->filters[i].bpf);
	free(cd->filters);
	cd->filters = NULL;
	cd->nr_filters = 0;
}

int seccomp_dump_finish(struct creds_dump *cd, int dirfd)
{
	int ret = 0;
	if (dirfd >= 0 && cd->nr_filters) {
		SeccompEntry se = SECCOMP_ENTRY__INIT;
		SeccompFilter *fv = xzalloc(cd->nr_filters * sizeof(*fv));
		SeccompFilter **fp = xzalloc(cd->nr_filters * sizeof(*fp));
		if (!fv || !fp) {
			free(fv);
			free(fp);
			forget_dumped(cd);
			return -ENOMEM;
		}
		for (int i = 0; i < cd->nr_filters; i++) {
			seccomp_filter__init(&fv[i]);
			fv[i].has_filter = 1;
			fv[i].filter.data = cd->filters[i].bpf;
			fv[i].filter.len = cd->filters[i].len;
			fv[i].has_flags = 1;
			fv[i].flags = cd->filters[i].flags;
			if (cd->filters[i].prev >= 0) {
				fv[i].has_prev = 1;
				fv[i].prev = cd->filters[i].prev;
			}
			fp[i] = &fv[i];
		}
		se.n_seccomp_filters = cd->nr_filters;
		se.seccomp_filters = fp;
		struct cr_img *img;
		ret = img_open(&img, dirfd, IMG_SECCOMP, IMG_WRITE, 0);
		if (!ret) {
			ret = img_write_msg(img, &se.base);
			int r2 = img_close(img);
			ret = ret ? ret : r2;
		}
		free(fv);
		free(fp);
	}
	forget_dumped(cd);
	return ret;
}

/* ---- restore ------------------------------------------------------------ */

int seccomp_restore_prepare(struct creds_restore *cr, int dirfd)
{
	struct cr_img *img;
	SeccompEntry *loaded = NULL;
	seccomp_restore_finish(cr);
	int ret = img_open(&img, dirfd, IMG_SECCOMP, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	ret = img_read_one(img, &seccomp_entry__descriptor, (ProtobufCMessage **)&loaded);
	img_close(img);
	if (ret < 0)
		return ret;
	cr->seccomp = loaded;
	ret = 0;
	for (size_t i = 0; i < loaded->n_seccomp_filters; i++) {
		const SeccompFilter *f = loaded->seccomp_filters[i];
		size_t insns = f->filter.len / sizeof(struct sock_filter);
		if (!f->has_filter || f->filter.len % sizeof(struct sock_filter) || !insns ||
		    insns > MAX_INSNS) {
			pr_err("seccomp.img: filter %zu is %zu bytes long, not 1 to %d BPF "
			       "instructions", i, f->filter.len, MAX_INSNS);
			ret = -EINVAL;
		} else if (f->has_prev && f->prev >= loaded->n_seccomp_filters) {
			pr_err("seccomp.img: filter %zu follows filter %u, which does not exist", i,
			       f->prev);
			ret = -EINVAL;
		}
	}
	if (ret) {
		seccomp_restore_finish(cr);
		return ret;
	}
	pr_debug("seccomp.img: %zu filter(s)", loaded->n_seccomp_filters);
	return 0;
}

void seccomp_restore_finish(struct creds_restore *cr)
{
	if (cr->seccomp)
		protobuf_c_message_free_unpacked(&cr->seccomp->base, NULL);
	cr->seccomp = NULL;
}

/* Indexes of the thread's filters, oldest first, into @chain. */
static int image_chain(const SeccompEntry *loaded, pid_t tid, uint32_t newest, int *chain, int *n)
{
	if (!loaded || newest >= loaded->n_seccomp_filters) {
		pr_err("core-%d.img: seccomp filter %u is not in seccomp.img%s", tid, newest,
		       loaded ? "" : " (the dump has no seccomp.img)");
		return -EINVAL;
	}
	int k = 0;
	int64_t i = newest;
	while (i >= 0) {
		if (k == MAX_CHAIN) {
			pr_err("seccomp.img: the chain of filters of thread %d is longer than %d "
			       "(a loop?)", tid, MAX_CHAIN);
			return -EINVAL;
		}
		chain[k++] = i;
		const SeccompFilter *f = loaded->seccomp_filters[i];
		i = f->has_prev ? (int64_t)f->prev : -1;
	}
	for (int a = 0, b = k - 1; a < b; a++, b--) {
		int t = chain[a];
		chain[a] = chain[b];
		chain[b] = t;
	}
	*n = k;
	return 0;
}

/* How many filters the thread already has (inherited from the thread that
 * cloned it); they must be the oldest ones of its chain. */
static int installed_prefix(const SeccompEntry *loaded, pid_t tid, const int *chain, int n)
{
	int have = 0;
	for (;; have++) {
		long c = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)(long)have, NULL);
		if (c < 0)
			break;
	}
	if (!have)
		return 0;
	if (have > n) {
		pr_err("restored thread %d already has %d seccomp filters, more than the %d it "
		       "had", tid, have, n);
		return -EINVAL;
	}
	for (int i = 0; i < have; i++) {
		uint8_t *bpf;
		size_t len;
		uint32_t flags;
		int ret = get_filter(tid, i, &bpf, &len, &flags);
		if (ret)
			return ret;
		const SeccompFilter *f = loaded->seccomp_filters[chain[i]];
		bool same = len == f->filter.len && !memcmp(bpf, f->filter.data, len);
		free(bpf);
		if (!same) {
			pr_err("restored thread %d inherited seccomp filters that differ from its "
			       "own: threads must be created before filters are installed", tid);
			return -EINVAL;
		}
	}
	return have;
}

static int suspend_seccomp(pid_t tid)
{
	if (ptrace(PTRACE_SETOPTIONS, tid, 0, RESTORE_PTRACE_OPTIONS | PTRACE_O_SUSPEND_SECCOMP)) {
		int e = errno;
		pr_err("can't set PTRACE_O_SUSPEND_SECCOMP on restored thread %d: %s%s", tid,
		       strerror(e), e == EPERM ? " (cryo needs CAP_SYS_ADMIN and must not run "
						 "under seccomp itself)" : "");
		return -e;
	}
	return 0;
}

/* Install filters @chain[@from..@to) in the thread driven by @r (@tid),
 * with @extra_flags. */
static int install_chain(struct remote *r, const SeccompEntry *loaded, pid_t tid,
			 const int *chain, int from, int to, int n, uint32_t extra_flags)
{
	for (int i = from; i < to; i++) {
		const SeccompFilter *f = loaded->seccomp_filters[chain[i]];
		remote_scratch_reset(r);
		uint64_t prog = remote_scratch_put(r, f->filter.data, f->filter.len);
		struct {
			uint16_t len, pad[3];
			uint64_t filter;
		} fprog = { (uint16_t)(f->filter.len / sizeof(struct sock_filter)), { 0 }, prog };
		uint64_t fa = prog ? remote_scratch_put(r, &fprog, sizeof(fprog)) : 0;
		if (!fa)
			return -ENOSPC;
		uint32_t flags = (f->has_flags ? f->flags & KEEP_FLAGS : 0) | extra_flags;
		long lr = remote_syscall(r, __NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, fa, 0, 0, 0);
		if (lr > 0) {	/* TSYNC: a thread that can't be synchronized */
			pr_err("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) of filter %d in restored "
			       "thread %d failed: thread %ld has other filters", i + 1, tid, lr);
			return -EINVAL;
		}
		if (lr) {
			pr_err("seccomp(SECCOMP_SET_MODE_FILTER) of filter %d (of %d, %u "
			       "instructions) in restored thread %d failed: %s", i + 1, n, fprog.len,
			       tid, strerror(lr < 0 ? (int)-lr : EIO));
			return lr < 0 ? lr : -EIO;
		}
	}
	return 0;
}

int creds_restore_seccomp_shared(struct remote *r, const struct creds_restore *cr, pid_t pid,
				 const pid_t *tids, const ThreadCoreEntry *const *tces, int n)
{
	const SeccompEntry *loaded = cr->seccomp;
	if (n < 2 || !loaded)
		return 0;
	int lead[MAX_CHAIN], other[MAX_CHAIN];
	int nl, shared = -1;
	for (int t = 0; t < n; t++) {
		const ThreadCoreEntry *c = tces[t];
		if (!c || !c->has_seccomp_mode || c->seccomp_mode != SECCOMP_MODE_FILTER ||
		    !c->has_seccomp_filter)
			return 0;	/* a thread without filters: nothing is common */
		int *chain = t ? other : lead, k;
		int ret = image_chain(loaded, tids[t], c->seccomp_filter, chain, t ? &k : &nl);
		if (ret)
			return ret;
		if (!t) {
			shared = nl;
			continue;
		}
		int common = 0;
		while (common < k && common < shared && other[common] == lead[common])
			common++;
		shared = common;
	}
	if (shared <= 0)
		return 0;
	/* every thread gets the filters now: cryo's later syscalls in them
	 * must not be filtered */
	for (int t = 0; t < n; t++) {
		int ret = suspend_seccomp(tids[t]);
		if (ret)
			return ret;
	}
	int ret = install_chain(r, loaded, tids[0], lead, 0, shared, nl, SECCOMP_FILTER_FLAG_TSYNC);
	if (!ret)
		pr_debug("process %d: %d seccomp filter(s) shared by its %d threads installed "
			 "with TSYNC", pid, shared, n);
	return ret;
}

int seccomp_restore_thread(struct remote *r, const struct creds_restore *cr, pid_t pid, pid_t tid,
			   const ThreadCoreEntry *tce)
{
	const SeccompEntry *loaded = cr->seccomp;
	int mode = tce->has_seccomp_mode ? (int)tce->seccomp_mode : SECCOMP_MODE_DISABLED;
	if (mode == SECCOMP_MODE_DISABLED)
		return 0;
	int ret = suspend_seccomp(tid);
	if (ret)
		return ret;
	if (mode == SECCOMP_MODE_STRICT) {
		long lr = remote_call(r, "seccomp(SECCOMP_SET_MODE_STRICT)", __NR_seccomp,
				      SECCOMP_SET_MODE_STRICT, 0, 0, 0);
		if (lr)
			return lr < 0 ? lr : -EIO;
		pr_debug("thread %d: seccomp strict mode", tid);
		return 0;
	}
	if (!tce->has_seccomp_filter) {
		pr_err("core-%d.img: seccomp filter mode without a filter", tid);
		return -EINVAL;
	}
	int chain[MAX_CHAIN];
	int n;
	ret = image_chain(loaded, tid, tce->seccomp_filter, chain, &n);
	if (ret)
		return ret;
	int have = installed_prefix(loaded, tid, chain, n);
	if (have < 0)
		return have;
	ret = install_chain(r, loaded, tid, chain, have, n, n, 0);
	if (ret)
		return ret;
	pr_debug("thread %d: %d seccomp filter(s) installed (%d inherited or shared)", tid,
		 n - have, have);
	return 0;
}
