/* Driving one new task (a stopped fork of cryo) into its dumped state with
 * system calls run inside it.  Order matters (see docs/ARCHITECTURE.md):
 * trampoline, drop cryo's fds and rseq, unmap cryo, move the vDSO, map and
 * fill memory, then the phases of lib/task's table around the descriptors,
 * cwd, root and threads made here: mm fields, signal actions and settings,
 * signals and timers, per-thread state, and last the registers. */
#include "cgroup/cgroup.h"
#include "restore/restore.h"
#include "files/files.h"
#include "mem/page_source.h"
#include "arch/x86.h"
#include "proc/proc.h"
#include "seize/remote.h"
#include "task/task.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

#include "regfile.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sched.h>
#include <sched.h>
#include "seize/seize.h"

#define TASK_SIZE_MAX 0x7ffffffff000ULL
#define VDSO_TEMP_BASE 0x100000000ULL
#define RSEQ_FLAG_UNREGISTER 1

static bool overlaps(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 < e2 && s2 < e1;
}

/* An address for the trampoline, free both in our own layout (every new
 * task starts as our fork) and in every process's image. */
int pick_trampoline(struct rst_ctx *ctx, uint64_t *out)
{
	struct proc_maps own;
	int ret = proc_read_maps(getpid(), &own);
	if (ret)
		return ret;
	uint64_t a = 0x10000;	/* at or above vm.mmap_min_addr's usual value */
	for (bool moved = true; moved && a < TASK_SIZE_MAX;) {
		moved = false;
		for (int i = 0; i < own.n; i++)
			if (overlaps(a, a + TRAMPOLINE_SIZE, own.v[i].start, own.v[i].end)) {
				a = own.v[i].end;
				moved = true;
			}
		for (int k = 0; k < ctx->nr_procs; k++) {
			const MmEntry *mm = ctx->procs[k].mem.mm;
			for (size_t i = 0; mm && i < mm->n_vmas; i++) {
				const VmaEntry *v = mm->vmas[i];
				if (overlaps(a, a + TRAMPOLINE_SIZE, v->start, v->end)) {
					a = ROUND_UP(v->end, PAGE_SIZE);
					moved = true;
				}
			}
		}
	}
	proc_maps_free(&own);
	if (a >= TASK_SIZE_MAX) {
		pr_err("no room for the restore trampoline in the address space");
		return -ENOMEM;
	}
	*out = a;
	return 0;
}

static bool is_vdso_name(const char *p)
{
	return p && (!strcmp(p, "[vdso]") || !strcmp(p, "[vvar]") || !strcmp(p, "[vvar_vclock]"));
}

/* Unmap everything of cryo in the task but the trampoline and the vDSO. */
static int unmap_cryo(struct remote *r, uint64_t tramp, struct proc_maps *cur)
{
	uint64_t keep_s[8], keep_e[8];
	int nk = 0;
	keep_s[nk] = tramp;
	keep_e[nk++] = tramp + TRAMPOLINE_SIZE;
	for (int i = 0; i < cur->n && nk < 8; i++)
		if (is_vdso_name(cur->v[i].path)) {
			keep_s[nk] = cur->v[i].start;
			keep_e[nk++] = cur->v[i].end;
		}
	/* sort kept ranges */
	for (int i = 0; i < nk; i++)
		for (int j = i + 1; j < nk; j++)
			if (keep_s[j] < keep_s[i]) {
				uint64_t t = keep_s[i];
				keep_s[i] = keep_s[j];
				keep_s[j] = t;
				t = keep_e[i];
				keep_e[i] = keep_e[j];
				keep_e[j] = t;
			}
	uint64_t from = 0;
	for (int i = 0; i <= nk; i++) {
		uint64_t to = i < nk ? keep_s[i] : TASK_SIZE_MAX;
		if (to > from) {
			long ret = remote_call(r, "munmap", __NR_munmap, from, to - from);
			if (ret)
				return ret;
		}
		if (i < nk)
			from = keep_e[i];
	}
	return 0;
}

/* Move [vvar], [vvar_vclock] and [vdso] to where the dumped task had them.
 * Each must move whole (a partial mremap of these fails), through a free
 * spot in case old and new places overlap. */
/* A free range of @len bytes for this kernel's vDSO block, near the dumped
 * vDSO (a 5-byte jump reaches it), clear of the image's VMAs and the
 * trampoline.  0 if none. */
static uint64_t vdso_hole(const struct mem_image *mi, uint64_t tramp, uint64_t len)
{
	const MmEntry *mm = mi->mm;
	for (int dir = 0; dir < 2; dir++) {
		uint64_t a = dir == 0 ? ROUND_UP(mi->vdso_end, PAGE_SIZE) + (1 << 20)
				      : (mi->vdso_start - len - (1 << 20)) & PAGE_MASK;
		for (int tries = 0; tries < 4096 && a > 0x10000 && a + len < TASK_SIZE_MAX;
		     tries++) {
			uint64_t hit = 0, hit_start = 0;
			if (overlaps(a, a + len, tramp, tramp + TRAMPOLINE_SIZE)) {
				hit = tramp + TRAMPOLINE_SIZE;
				hit_start = tramp;
			}
			for (size_t i = 0; !hit && i < mm->n_vmas; i++)
				if (overlaps(a, a + len, mm->vmas[i]->start, mm->vmas[i]->end)) {
					hit = ROUND_UP(mm->vmas[i]->end, PAGE_SIZE);
					hit_start = mm->vmas[i]->start;
				}
			if (!hit)
				return a;
			a = dir == 0 ? hit : (hit_start - len) & PAGE_MASK;
		}
	}
	return 0;
}

/* Where the vDSO areas [@cs[i], @ce[i]) can pass through on their way to
 * @dst[i]: a range free in the task's layout @cur (MREMAP_FIXED replaces
 * whatever is there: a child's own memory, already restored, such as
 * ASan's shadow gap over 4 GiB), clear of the destinations and the
 * trampoline.  0 if none. */
static uint64_t vdso_temp_spot(const struct proc_maps *cur, const uint64_t *dst,
			       const uint64_t *cs, const uint64_t *ce, int n, uint64_t tramp)
{
	uint64_t span = ce[n - 1] - cs[0];
	uint64_t a = VDSO_TEMP_BASE;
	for (bool moved = true; moved && a + span < TASK_SIZE_MAX;) {
		moved = false;
		for (int i = 0; i < cur->n; i++)
			if (overlaps(a, a + span, cur->v[i].start, cur->v[i].end)) {
				a = ROUND_UP(cur->v[i].end, PAGE_SIZE);
				moved = true;
			}
		for (int i = 0; i < n; i++)
			if (overlaps(a, a + span, dst[i], dst[i] + (ce[i] - cs[i]))) {
				a = ROUND_UP(dst[i] + (ce[i] - cs[i]), PAGE_SIZE);
				moved = true;
			}
		if (overlaps(a, a + span, tramp, tramp + TRAMPOLINE_SIZE)) {
			a = tramp + TRAMPOLINE_SIZE;
			moved = true;
		}
	}
	return a + span < TASK_SIZE_MAX ? a : 0;
}

static bool vdso_proxy_forced(void)
{
	const char *e = getenv("CRYO_VDSO_PROXY");
	return e && *e && strcmp(e, "0");
}

/* Put this kernel's [vvar]/[vvar_vclock]/[vdso] where the image had them.
 * If their layout differs (another kernel), or CRYO_VDSO_PROXY=1 asks for
 * it (tests), they go to a free spot instead and the dumped vDSO comes back
 * at its old address as a proxy (mem/vdso.c). */
static int move_vdso(struct remote *r, struct mem_image *mi, struct proc_maps *cur,
		     uint64_t tramp, bool may_proxy)
{
	uint64_t img_s[4], img_e[4], cur_s[4], cur_e[4], dst[4];
	int ni = 0, nc = 0;
	for (size_t i = 0; i < mi->mm->n_vmas && ni < 4; i++) {
		const VmaEntry *v = mi->mm->vmas[i];
		if (v->status & (VMA_AREA_VDSO | VMA_AREA_VVAR)) {
			img_s[ni] = v->start;
			img_e[ni++] = v->end;
		}
	}
	for (int i = 0; i < cur->n && nc < 4; i++)
		if (is_vdso_name(cur->v[i].path)) {
			cur_s[nc] = cur->v[i].start;
			cur_e[nc++] = cur->v[i].end;
		}
	if (!ni) {
		/* The task had unmapped its vDSO: this kernel's goes away too (its
		 * place may be taken by the task's own mappings, and the task must
		 * not find a vDSO it had not). */
		for (int i = 0; i < nc; i++) {
			long ret = remote_syscall(r, __NR_munmap, cur_s[i], cur_e[i] - cur_s[i], 0, 0,
						  0, 0);
			if (ret)
				return log_errno(ret, "munmap of the vDSO area 0x%llx-0x%llx in restored task %d "
						 "(dumped without a vDSO) failed",
						 (unsigned long long)cur_s[i], (unsigned long long)cur_e[i], r->tid);
		}
		return 0;
	}
	bool same = ni == nc;
	for (int i = 0; same && i < ni; i++)
		same = img_e[i] - img_s[i] == cur_e[i] - cur_s[i];
	if (!same || (may_proxy && vdso_proxy_forced())) {
		if (!may_proxy || !mi->vdso_end || !nc) {
			pr_err("the vDSO of this kernel (%d areas) is laid out differently from the "
			       "dumped one (%d areas)%s", nc, ni,
			       !mi->vdso_end ? " and the image has no [vdso] to redirect"
					     : ": cryo can't redirect it in a process forked "
					       "this way");
			return -EOPNOTSUPP;
		}
		uint64_t span = cur_e[nc - 1] - cur_s[0];
		uint64_t hole = vdso_hole(mi, tramp, span);
		if (!hole) {
			pr_err("no free room near the dumped vDSO for this kernel's vDSO");
			return -ENOMEM;
		}
		for (int i = 0; i < nc; i++)
			dst[i] = hole + (cur_s[i] - cur_s[0]);
		mi->vdso_proxy = true;
		ni = nc;
		pr_info("task %d: vDSO %s: the dumped one comes back as a proxy", r->tid,
			same ? "proxy forced (CRYO_VDSO_PROXY)" : "of another layout");
	} else {
		for (int i = 0; i < ni; i++)
			dst[i] = img_s[i];
	}
	bool placed = true;
	for (int i = 0; i < ni; i++)
		placed &= dst[i] == cur_s[i];
	if (placed) {	/* a child forked where its parent put them */
		if (mi->vdso_proxy)
			mi->vdso_new = cur_s[nc - 1];
		return 0;
	}
	uint64_t base0 = cur_s[0];
	uint64_t temp = vdso_temp_spot(cur, dst, cur_s, cur_e, ni, tramp);
	if (!temp) {
		pr_err("task %d: no free room to move the vDSO through", r->tid);
		return -ENOMEM;
	}
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < ni; i++) {
			uint64_t len = cur_e[i] - cur_s[i];
			uint64_t to = pass == 0 ? temp + (cur_s[i] - base0) : dst[i];
			if (to == cur_s[i])
				continue;
			long ret = remote_syscall(r, __NR_mremap, cur_s[i], len, len,
						  MREMAP_MAYMOVE | MREMAP_FIXED, to, 0);
			if (ret < 0)
				return log_errno(ret, "mremap of vDSO area %d (0x%llx, %llu bytes) to 0x%llx in "
						 "restored task %d failed", i, (unsigned long long)cur_s[i],
						 (unsigned long long)len, (unsigned long long)to, r->tid);
			cur_s[i] = to;
			cur_e[i] = to + len;
		}
	if (mi->vdso_proxy)
		mi->vdso_new = cur_s[nc - 1];	/* [vdso] is the last area */
	return 0;
}

/* A child's vDSO: it came with the fork where its parent's is.  Placed
 * (mem_restore_inherited's before_map) while the child holds only what it
 * keeps of its parent's memory: its own VMAs may lie where the parent's
 * vDSO is, or the child had unmapped its vDSO. */
struct child_vdso {
	struct rst_ctx *ctx;
	struct rst_proc *p;
	struct remote *r;
};

static int child_vdso_place(void *arg)
{
	struct child_vdso *cv = arg;
	struct rst_proc *p = cv->p;
	if (p->parent->mem.vdso_proxy) {
		/* the parent's proxy and vDSO came with the fork */
		if (p->mem.vdso_start != p->parent->mem.vdso_start ||
		    p->mem.vdso_end != p->parent->mem.vdso_end) {
			pr_err("process %d had its vDSO elsewhere than its parent %d, and the "
			       "vDSO must be redirected on this kernel: not supported", p->pid,
			       p->parent->pid);
			return -EOPNOTSUPP;
		}
		p->mem.vdso_proxy = true;
		p->mem.vdso_new = p->parent->mem.vdso_new;
		return 0;
	}
	struct proc_maps cur = { 0 };
	int ret = proc_read_maps(p->pid, &cur);
	if (!ret)
		ret = move_vdso(cv->r, &p->mem, &cur, cv->ctx->trampoline, false);
	proc_maps_free(&cur);
	return ret;
}

static int restore_fs(struct remote *r, struct rst_ctx *ctx, struct rst_proc *p)
{
	const FileEntry *cwd = files_find(&ctx->files, p->fs->cwd_id);
	if (cwd && cwd->reg && cwd->reg->name) {
		/* a deleted one is recreated for the restore (a ghost) */
		const char *name = files_reg_open_path(&ctx->files, p->fs->cwd_id);
		if (!name)
			return -EINVAL;
		remote_scratch_reset(r);
		uint64_t path = remote_scratch_put(r, name, strlen(name) + 1);
		if (!path)
			return -ENOSPC;
		long ret = remote_syscall(r, __NR_chdir, path, 0, 0, 0, 0, 0);
		if (ret)
			return log_errno(ret, "can't change the working directory of process %d to %s", p->pid,
					 cwd->reg->name);
	}
	if (p->fs->has_umask)
		remote_syscall(r, __NR_umask, p->fs->umask & 0777, 0, 0, 0, 0, 0);
	return 0;
}

/* The packet rings the task had mapped (VMA_AREA_SOCKET vmas, see
 * sockets/sk_packet.c): mmap of the restored socket, now at its fd in the
 * task, at the dumped address.  The address range was left free when the
 * memory was restored. */
static int restore_socket_vmas(struct remote *r, struct rst_proc *p)
{
	const MmEntry *mm = p->mem.mm;
	for (size_t i = 0; mm && i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!(v->status & VMA_AREA_SOCKET))
			continue;
		int fd = -1;
		for (int k = 0; k < p->nr_fds && fd < 0; k++)
			if (p->fds[k]->id == v->shmid && p->fds[k]->type == FD_TYPES__PACKETSK)
				fd = p->fds[k]->fd;
		if (fd < 0) {
			pr_err("process %d mapped the rings of packet socket file %u at 0x%llx, but "
			       "has no descriptor of it to map them from", p->pid,
			       (unsigned)v->shmid, (unsigned long long)v->start);
			return -EINVAL;
		}
		long ret = remote_call(r, "mmap of a packet socket's rings", __NR_mmap, v->start,
				v->end - v->start, v->prot, MAP_SHARED | MAP_FIXED_NOREPLACE, fd);
		if (ret < 0 && ret >= -4095)
			return ret;
		if ((uint64_t)ret != v->start) {
			pr_err("the rings of packet socket fd %d of process %d were mapped at %#lx, "
			       "not 0x%llx", fd, p->pid, ret, (unsigned long long)v->start);
			return -EINVAL;
		}
		pr_debug("process %d: packet rings of fd %d mapped at 0x%llx-0x%llx", p->pid, fd,
			 (unsigned long long)v->start, (unsigned long long)v->end);
	}
	return 0;
}

/* The process whose fs-PID.img a process uses: itself, or the ancestor it
 * shares its root and cwd with (CLONE_FS). */
static struct rst_proc *fs_owner(struct rst_proc *p)
{
	while ((p->share_flags & CLONE_FS) && p->parent)
		p = p->parent;
	return p;
}

/* Is @p the last live process (in restore order) to share its fs? */
static bool last_of_fs(struct rst_ctx *ctx, struct rst_proc *p)
{
	struct rst_proc *owner = fs_owner(p);
	for (struct rst_proc *q = p + 1; q < ctx->procs + ctx->nr_procs; q++)
		if (q->state != TASK_DEAD && fs_owner(q) == owner)
			return false;
	return true;
}

/* A root changed with chroot.  The dumped paths (the root's, the cwd's, every
 * file's and mapping's) were read by cryo, so they are relative to cryo's
 * root, and everything is opened by them before this: the root is changed
 * only after the files, memory, cwd and the settings opened through
 * /proc/self are in place, and before the credentials may drop
 * CAP_SYS_CHROOT; with processes sharing it (CLONE_FS), by the last of
 * them, once all have opened their executables by path.  chroot leaves the
 * cwd as it is, as the dumped one. */
static int restore_root(struct remote *r, struct rst_ctx *ctx, struct rst_proc *p)
{
	const FsEntry *fs = fs_owner(p)->fs;
	const FileEntry *root = fs ? files_find(&ctx->files, fs->root_id) : NULL;
	if (!root || !root->reg || !root->reg->name || !strcmp(root->reg->name, "/"))
		return 0;
	remote_scratch_reset(r);
	uint64_t path = remote_scratch_put(r, root->reg->name, strlen(root->reg->name) + 1);
	if (!path)
		return -ENOSPC;
	long ret = remote_syscall(r, __NR_chroot, path, 0, 0, 0, 0, 0);
	if (ret)
		return log_errno(ret, "can't change the root of process %d to %s (chroot)", p->pid,
				 root->reg->name);
	pr_debug("process %d: root changed to %s", p->pid, root->reg->name);
	return 0;
}

/* The other threads, created from inside the leader: each is stopped and
 * traced from its first instruction (PTRACE_O_TRACECLONE). */
static int create_threads(struct rst_proc *p)
{
	struct remote *lr = &rst_leader(p)->r;
	const uint64_t flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			       CLONE_SYSVSEM;
	for (int i = 1; i < p->nr_threads; i++) {
		struct rst_thread *t = &p->thr[i];
		remote_scratch_reset(lr);
		/* its TID at each PID namespace level, innermost first
		 * (one level: in the tree's namespace) */
		pid_t set_tid[PIDNS_LEVELS];
		for (int l = 0; l <= p->nslv; l++)
			set_tid[l] = t->nstid[p->nslv - l];
		pid_t expect = t->nstid[p->nslv];	/* as the leader sees it */
		uint64_t tid_addr = remote_scratch_put(lr, set_tid, (p->nslv + 1) * sizeof(pid_t));
		struct clone_args args = {
			.flags = flags,
			.set_tid = tid_addr,
			.set_tid_size = p->nslv + 1,
		};
		uint64_t a = remote_scratch_put(lr, &args, sizeof(args));
		if (!tid_addr || !a)
			return -ENOSPC;
		long ret = -EEXIST;
		/* the old thread may not be reaped yet: retry for a while */
		for (int waited = 0; ret == -EEXIST && waited <= 5000; waited += 10) {
			ret = remote_syscall(lr, __NR_clone3, a, sizeof(args), 0, 0, 0, 0);
			if (ret == -EEXIST)
				usleep(10000);
		}
		if (ret != expect || lr->new_child <= 0) {
			if (ret == -EEXIST)
				pid_in_use(t->vtid);
			else
				pr_err("clone3 of thread %d in process %d failed: %s", t->vtid, p->pid,
				       ret < 0 ? strerror(-ret) : "unexpected tid");
			return ret < 0 ? ret : -EIO;
		}
		/* the clone event reports the TID as cryo sees it */
		t->tid = lr->new_child;
		t->created = true;
		int status;
		ret = ptrace_wait_stop(t->tid, &status, 10000);
		if (ret)
			return ret;
		if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP) {
			pr_err("new thread %d did not stop as expected (status 0x%x)", t->tid, status);
			return -EIO;
		}
		ret = remote_init_sibling(&t->r, lr, t->tid);
		if (ret)
			return ret;
	}
	return 0;
}

/* Close what the new task inherited from cryo, except the pages images of
 * every process (children forked later still need theirs) and the socket
 * that will pass each task its descriptors. */
/* The pages images of every process (its own, then its previous dumps'),
 * into @fds (room for nr_pages_fds()). */
static int nr_pages_fds(const struct rst_ctx *ctx)
{
	int n = 0;
	for (int i = 0; i < ctx->nr_procs; i++)
		n += 1 + ctx->procs[i].prev.n;
	return n;
}

static int list_pages_fds(const struct rst_ctx *ctx, int *fds)
{
	int n = 0;
	for (int i = 0; i < ctx->nr_procs; i++) {
		const struct rst_proc *p = &ctx->procs[i];
		if (p->pages_fd >= 0)
			fds[n++] = p->pages_fd;
		for (int j = 0; j < p->prev.n; j++)
			if (page_prevs_fd(&p->prev, j) >= 0)
				fds[n++] = page_prevs_fd(&p->prev, j);
	}
	return n;
}

static int close_cryo_fds(struct remote *r, struct rst_ctx *ctx)
{
	int *keep = xmalloc(sizeof(int) * (nr_pages_fds(ctx) + 1));
	if (!keep)
		return -ENOMEM;
	int n = list_pages_fds(ctx, keep);
	keep[n++] = files_transport_fd(&ctx->files);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (keep[j] < keep[i]) {
				int t = keep[i];
				keep[i] = keep[j];
				keep[j] = t;
			}
	int from = 0;
	for (int i = 0; i < n; i++) {
		if (keep[i] > from)
			remote_call(r, "close_range", __NR_close_range, from, keep[i] - 1);
		from = keep[i] + 1;
	}
	free(keep);
	return remote_call(r, "close_range", __NR_close_range, from, ~0U);
}

int restore_task_memory(struct rst_ctx *ctx, struct rst_proc *p)
{
	struct remote *r = &rst_leader(p)->r;
	struct proc_maps cur = { 0 };
	long ret = 0;

	if (!p->parent) {
		/* A fork of cryo: drop cryo's descriptors, rseq and memory. */
		close_cryo_fds(r, ctx);
		/* glibc's rseq area of cryo would be written by the kernel after
		 * we unmap it: unregister it first */
		struct __ptrace_rseq_configuration rc;
		if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, p->pid, sizeof(rc), &rc) == sizeof(rc) &&
		    rc.rseq_abi_pointer) {
			ret = remote_call(r, "rseq unregistration", __NR_rseq, rc.rseq_abi_pointer,
				   rc.rseq_abi_size, RSEQ_FLAG_UNREGISTER, rc.signature);
			if (ret)
				goto out;
		}
		ret = proc_read_maps(p->pid, &cur);
		if (!ret)
			ret = unmap_cryo(r, ctx->trampoline, &cur);
		if (!ret)
			ret = move_vdso(r, &p->mem, &cur, ctx->trampoline, true);
		if (ret)
			goto out;
		pr_debug("task %d: cryo unmapped, vDSO in place", p->pid);
		FAULT_POINT_RET(ret, "restore:memory");
		if (!ret) {
			struct page_source src;
			ret = page_source_local(&src, &p->mem, p->pages_fd);
			src.parent = page_prevs_head(&p->prev);
			if (!ret)
				ret = mem_restore_vmas_shared(r, &p->mem, &ctx->files, &src, &ctx->shmem);
			page_source_fini(&src);
		}
		if (!ret && p->mem.vdso_proxy)
			ret = vdso_proxy_patch(r, p->mem.vdso_start, p->mem.vdso_end, p->mem.vdso_new);
		if (!ret)
			ret = aio_restore_rings(r, p->mem.mm, p->pages_fd);
		/* --lazy-pages: made now, while the task has cryo's credentials */
		if (!ret && p->mem.lazy)
			ret = lazy_restore_uffd(&ctx->lazy, r, p->pid);
	} else {
		/* A fork of its restored parent: keep what is shared with it. */
		struct mem_source anc[64];
		int nanc = 0;
		for (struct rst_proc *a = p->parent; a && nanc < (int)ARRAY_SIZE(anc); a = a->parent)
			anc[nanc++] = (struct mem_source){ &a->mem, a->pages_fd,
							   page_prevs_head(&a->prev) };
		struct mem_source self = { &p->mem, p->pages_fd, page_prevs_head(&p->prev) };
		struct child_vdso cv = { ctx, p, r };
		ret = mem_restore_inherited(r, &self, anc, nanc, &ctx->files, &ctx->shmem,
					    &ctx->cow, child_vdso_place, &cv);
		if (!ret && p->mem.lazy)
			ret = lazy_restore_uffd(&ctx->lazy, r, p->pid);
		if (!ret)
			ret = aio_restore_rings(r, p->mem.mm, p->pages_fd);
	}
	if (!ret)
		pr_debug("task %d: memory restored", p->pid);
out:
	proc_maps_free(&cur);
	return ret;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close the tree's pages images in the task: one close_range per run of
 * consecutive numbers (they are opened one after the other), all in one
 * batch, instead of a stop per process of the tree (a 500-process tree
 * made 250,000 stops).  A failed close is ignored, as before: a pages image
 * left open is harmless. */
static int close_pages_fds(struct remote *r, struct rst_ctx *ctx)
{
	int *fds = xmalloc(sizeof(int) * (nr_pages_fds(ctx) + 1)), n = 0, ret = 0;
	struct remote_batch *b = xzalloc(sizeof(*b));
	if (!fds || !b) {
		ret = -ENOMEM;
		goto out;
	}
	n = list_pages_fds(ctx, fds);
	xqsort(fds, n, sizeof(int), cmp_int);
	for (int i = 0; i < n;) {
		int j = i + 1;
		while (j < n && fds[j] <= fds[j - 1] + 1)
			j++;
		b->calls[b->n++] = (struct remote_call){ __NR_close_range,
			{ fds[i], fds[j - 1], 0, 0, 0, 0 }, 0 };
		if (b->n == REMOTE_BATCH_MAX || j == n) {
			int got = remote_batch_run(r, b);
			b->n = 0;
			if (got < 0) {
				ret = got;
				break;
			}
		}
		i = j;
	}
out:
	free(fds);
	free(b);
	return ret;
}

int restore_task_state(struct rst_ctx *ctx, struct rst_proc *p)
{
	struct remote *r = &rst_leader(p)->r;
	long ret = 0;

	/* A descriptor table shared with the parent (CLONE_FILES) got its
	 * descriptors from the parent, already restored; so did a shared
	 * cwd and umask (CLONE_FS). */
	bool own_fds = !(p->share_flags & CLONE_FILES);

	/* the pages images of the whole tree: all forks are done */
	if (own_fds)
		ret = close_pages_fds(r, ctx);

	if (!ret)	/* brk, dumpable, THP, exe... */
		ret = task_restore_phase(ctx, p, TASK_PH_MM);
	if (!ret)	/* controlling terminal and /dev/tty, before the fds go in */
		ret = tty_restore_task(&ctx->files, r, p->vpid, p->sid, p->fds,
				       own_fds ? p->nr_fds : 0);
	if (!ret && own_fds)
		ret = files_restore_fds(&ctx->files, r, p->pid, p->fds, p->nr_fds);
	if (!ret)
		ret = restore_socket_vmas(r, p);
	if (!ret)	/* every mapping is in place, the children forked */
		ret = mem_restore_seals(r, p->mem.mm);
	if (!ret && !(p->share_flags & CLONE_FS))
		ret = restore_fs(r, ctx, p);
	if (!ret)	/* signal actions, personality, rlimits and other settings */
		ret = task_restore_phase(ctx, p, TASK_PH_PROC);
	if (!ret && last_of_fs(ctx, p))
		ret = restore_root(r, ctx, p);
	if (!ret)
		ret = create_threads(p);
	/* threads in other cgroups than their process's (criu's thread cg_set) */
	for (int i = 1; !ret && ctx->cg && i < p->nr_threads; i++) {
		const ThreadCoreEntry *tc = p->thr[i].core->thread_core;
		if (tc && tc->has_cg_set)
			ret = cg_restore_place_thread(ctx->cg, p->pid, p->thr[i].tid, tc->cg_set);
	}
	if (!ret)	/* where its next children are born, as at the dump */
		ret = pidns_restore_children(ctx, p, true);
	if (!ret)	/* shared pending signals, timers */
		ret = task_restore_phase(ctx, p, TASK_PH_THREADS);
	if (!ret)
		FAULT_POINT_RET(ret, "restore:task-state");
	if (!ret)	/* seccomp filters shared by all threads */
		ret = task_restore_phase(ctx, p, TASK_PH_SHARED);
	/* Each thread's own state, the leader last (it removes the trampoline);
	 * the registers and mask last of all. */
	if (!ret)
		ret = task_restore_phase(ctx, p, TASK_PH_THREAD);
	pr_debug("task %d: restored with %d thread(s)", p->pid, p->nr_threads);
	return ret;
}
