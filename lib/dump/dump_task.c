/* Driving the dump of a seized process's task state: each thread is made
 * ready for injected system calls (its registers captured, its mask read,
 * the rt_sigreturn guard set up), then every item of lib/task's table
 * saves its piece into core-TID.img (and the leader's mm fields into
 * mm-PID.img); the ids of shared objects and namespaces are added here. */
#include "dump/dump.h"
#include "images/image.h"
#include "seize/remote.h"
#include "task/task.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>

/* A shadow stack (CET) makes rt_sigreturn pop a token our frame has no
 * counterpart for: such a thread is injected into the unguarded way. */
static bool thread_has_shstk(pid_t pid, pid_t tid)
{
	char path[64], *st;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	if (read_file(AT_FDCWD, path, &st, false) < 0)
		return false;
	char *f = strstr(st, "\nx86_Thread_features:");
	bool on = false;
	if (f) {
		f += strlen("\nx86_Thread_features:");
		f[strcspn(f, "\n")] = '\0';
		on = strstr(f, "shstk") != NULL;
	}
	free(st);
	return on;
}

static int dump_thread(struct dump_ctx *ctx, struct seized_proc *p, struct seized_thread *t,
		       const struct task_code *code, MmEntry *mm, uint32_t *files_id)
{
	struct remote r = { .mem_fd = -1 };
	CoreEntry core = CORE_ENTRY__INIT;
	struct task_dump d = { .ctx = ctx, .p = p, .t = t, .r = &r, .leader = t->tid == p->pid,
			       .core = &core, .mm = mm };
	int ret;

	ret = task_cpu_capture(&d);
	if (ret)
		goto out_cs;
	if (!t->mask_dirty && ptrace(PTRACE_GETSIGMASK, t->tid, sizeof(t->sigmask), &t->sigmask)) {
		ret = -errno;
		pr_perror("PTRACE_GETSIGMASK of task %d failed", t->tid);
		goto out_cs;
	}
	t->mask_dirty = true;
	const struct sigreturn_gadget *guard = code->sigreturn.ip ? &code->sigreturn : NULL;
	if (guard && thread_has_shstk(p->pid, t->tid)) {
		pr_warn("thread %d has a shadow stack: cryo runs its system calls unguarded; "
			"should cryo be killed during one of them, the thread may crash", t->tid);
		guard = NULL;
	}
	ret = remote_dump_begin(&r, t->tid, &t->regs, t->sigmask, d.cs.xsave, d.cs.xsave_len, guard,
				code->syscall_ip);
	if (ret)
		goto out;

	core.thread_core = xzalloc(sizeof(*core.thread_core));
	if (!core.thread_core) {
		ret = -ENOMEM;
		goto out;
	}
	thread_core_entry__init(core.thread_core);
	core.thread_core->cg_set = t->cg_set;	/* criu's: every thread's, with cgroups managed */
	core.thread_core->has_cg_set = t->cg_set != 0;
	if (d.leader) {
		/* Process-wide state, from the leader. */
		TaskCoreEntry *tc = xzalloc(sizeof(*tc));
		if (!tc) {
			ret = -ENOMEM;
			goto out;
		}
		task_core_entry__init(tc);
		core.tc = tc;
		tc->has_task_state = tc->has_exit_code = tc->has_personality = 1;
		tc->has_flags = 1;
		tc->task_state = p->state;
		if (p->state == TASK_STOPPED) {	/* criu's stop_signo */
			tc->has_stop_signo = 1;
			tc->stop_signo = p->stop_signo;
		}
		tc->cg_set = dump_cg_set(ctx, p);
		tc->has_cg_set = tc->cg_set != 0;
		tc->comm = xstrdup(p->comm);
	}

	/* Every piece of task state (lib/task). */
	ret = task_dump_items(&d);
	if (ret)
		goto out;

	if (d.leader) {
		TaskKobjIdsEntry *ids = xmalloc(sizeof(*ids));
		if (!ids) {
			ret = -ENOMEM;
			goto out;
		}
		task_kobj_ids_entry__init(ids);
		core.ids = ids;
		ids->has_vm_id = ids->has_files_id = ids->has_fs_id = ids->has_sighand_id = 1;
		const struct dump_kobj_ids *k = dump_proc_kobj(ctx, p);
		if (!k) {
			ret = -EINVAL;
			goto out;
		}
		ids->vm_id = k->id[DUMP_KOBJ_VM];
		ids->files_id = k->id[DUMP_KOBJ_FILES];
		*files_id = ids->files_id;
		ids->fs_id = k->id[DUMP_KOBJ_FS];
		ids->sighand_id = k->id[DUMP_KOBJ_SIGHAND];
		ret = ns_dump_fill_ids(&ctx->ns, p->pid, ids);
		if (ret)
			goto out;
	}

	FAULT_POINT_RET(ret, "dump:task-state");
	if (ret)
		goto out;

	core.has_mtype = 1;
	core.mtype = CORE_ENTRY__MARCH__X86_64;
	struct cr_img *img;
	ret = img_open(&img, ctx->dirfd, IMG_CORE, IMG_WRITE, t->vtid);
	if (!ret) {
		ret = img_write_msg(img, &core.base);
		int r2 = img_close(img);
		ret = ret ? ret : r2;
	}
	if (!ret && core.ids && d.leader && p == ctx->tree.root) {
		/* kept for the inventory, whose root_ids name cryo's own
		 * namespaces (criu's: the dumping tool's), so that a restore
		 * knows which ones the root had of its own */
		ctx->root_ids = core.ids;
		core.ids = NULL;
		ret = ns_dump_self_ids(&ctx->ns, ctx->root_ids);
	}
out:
	/* Done with the thread as soon as its calls are: mask, registers and
	 * stack bytes back now, not at the end of the dump. */
	{
		int r2 = remote_dump_end(&r);
		if (!r2)
			t->regs_dirty = t->mask_dirty = false;
		ret = ret ? ret : r2;
	}
	/* Free what we built (all malloc'ed): the stack-allocated core itself
	 * is not freed, its members are. */
	if (core.thread_info)
		protobuf_c_message_free_unpacked(&core.thread_info->base, NULL);
	if (core.tc)
		protobuf_c_message_free_unpacked(&core.tc->base, NULL);
	if (core.ids)
		protobuf_c_message_free_unpacked(&core.ids->base, NULL);
	if (core.thread_core)
		protobuf_c_message_free_unpacked(&core.thread_core->base, NULL);
out_cs:
	task_dump_free(&d);
	return ret;
}

static int dump_zombie(struct dump_ctx *ctx, struct seized_proc *p)
{
	CoreEntry core = CORE_ENTRY__INIT;
	TaskCoreEntry tc = TASK_CORE_ENTRY__INIT;
	struct cr_img *img;
	if (p->exit_code & 0x80) {
		/* a status with WCOREDUMP can only come from a core dump */
		pr_err("zombie %d (%s), a child of %d, was killed by signal %d and dumped core: "
		       "cryo can't recreate the core-dump flag of its exit status (it would have "
		       "to dump core again); dump once its parent has reaped it", p->pid, p->comm,
		       p->ppid, p->exit_code & 0x7f);
		return -EOPNOTSUPP;
	}
	core.has_mtype = 1;
	core.mtype = CORE_ENTRY__MARCH__X86_64;
	core.tc = &tc;
	tc.has_task_state = tc.has_exit_code = tc.has_personality = tc.has_flags = 1;
	tc.has_blk_sigset = 1;
	tc.task_state = TASK_DEAD;
	tc.exit_code = p->exit_code;
	tc.comm = p->comm;
	int ret = img_open(&img, ctx->dirfd, IMG_CORE, IMG_WRITE, p->vpid);
	if (ret)
		return ret;
	ret = img_write_msg(img, &core.base);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

int dump_task_cores(struct dump_ctx *ctx, struct seized_proc *p, MmEntry *mm,
		    const struct task_code *code, uint32_t *files_id)
{
	if (p->state == TASK_DEAD)
		return dump_zombie(ctx, p);
	for (int i = 0; i < p->nr_threads; i++) {
		int ret = dump_thread(ctx, p, &p->threads[i], code, mm, files_id);
		if (ret)
			return ret;
	}
	return 0;
}

int dump_leader_call(struct dump_ctx *ctx, struct seized_proc *p, const struct proc_maps *maps,
		     int (*fn)(struct remote *r, void *arg), void *arg)
{
	struct seized_thread *t = NULL;
	for (int i = 0; i < p->nr_threads; i++)
		if (p->threads[i].tid == p->pid)
			t = &p->threads[i];
	if (!t) {
		pr_err("process %d: its main thread is gone; cryo can't run calls in it", p->pid);
		return -ESRCH;
	}
	struct task_code code = { 0 };
	remote_find_syscall(p->pid, maps, &code.syscall_ip);
	if (remote_find_sigreturn(p->pid, maps, &ctx->sigreturn_memo, &code.sigreturn))
		pr_warn("process %d (%s): no rt_sigreturn instruction sequence in its code; cryo "
			"runs its system calls in it unguarded", p->pid, p->comm);
	struct remote r = { .mem_fd = -1 };
	CoreEntry core = CORE_ENTRY__INIT;
	struct task_dump d = { .ctx = ctx, .p = p, .t = t, .r = &r, .leader = true, .core = &core };
	int ret = task_cpu_capture(&d);
	if (ret)
		goto out;
	if (!t->mask_dirty && ptrace(PTRACE_GETSIGMASK, t->tid, sizeof(t->sigmask), &t->sigmask)) {
		ret = log_errno(-errno, "PTRACE_GETSIGMASK of task %d failed", t->tid);
		goto out;
	}
	t->mask_dirty = true;
	const struct sigreturn_gadget *guard = code.sigreturn.ip ? &code.sigreturn : NULL;
	if (guard && thread_has_shstk(p->pid, t->tid))
		guard = NULL;
	ret = remote_dump_begin(&r, t->tid, &t->regs, t->sigmask, d.cs.xsave, d.cs.xsave_len, guard,
				code.syscall_ip);
	if (!ret)
		ret = fn(&r, arg);
	int r2 = remote_dump_end(&r);
	if (!r2)
		t->regs_dirty = t->mask_dirty = false;
	ret = ret ? ret : r2;
out:
	task_dump_free(&d);
	return ret;
}
