/* Interval timers (ITIMER_REAL, which alarm() uses, ITIMER_VIRTUAL,
 * ITIMER_PROF) and POSIX timers (timer_create) of a process, in
 * task_core_entry.timers.
 *
 * Dump: getitimer, timer_gettime and timer_getoverrun run in a stopped thread
 * of the process; /proc/PID/timers lists the POSIX timers (ID, signal and
 * sigev_value, notification and target, clock).  Times are saved relative:
 * the time between dump and restore does not count.
 *
 * Restore: the POSIX timers are created with their IDs while the
 * process-wide state is restored (prctl(PR_TIMER_CREATE_RESTORE_IDS) makes
 * timer_create take the wanted ID, kernel 6.17+; older kernels hand out IDs
 * in increasing order, so the timers are created in ID order with fillers for
 * the holes, and a timer whose ID can't be reached is refused).  They are
 * armed, together with the interval timers, only after the leader's pending
 * signals are queued: the last thing before the registers. */
#include "signals/signals-int.h"
#include "kerndat/kerndat.h"
#include "proc/proc.h"
#include "seize/remote.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/util.h"

#include "timer.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include "compat/uapi-extra.h"

#define NSEC_PER_SEC 1000000000ULL
#define USEC_PER_SEC 1000000ULL
#define MAX_FILLERS 4096	/* legacy ID reproduction: timers created for holes */
#define TIMER_ID_MAX 0x7fffffff

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

/* The kernel's struct sigevent (64 bytes). */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

struct kitimerval {
	int64_t isec, iusec, vsec, vusec;
};

struct kitimerspec {
	int64_t isec, insec, vsec, vnsec;
};

static const char *itimer_names[] = { "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF" };

/* ---- dump ------------------------------------------------------------------ */

static int cmp_proc_timer(const void *a, const void *b)
{
	const struct proc_timer *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

/* /proc/PID/timers, one block per timer:
 *	ID: 3
 *	signal: 34/00000000deadbeef
 *	notify: signal/tid.1234		(signal|none|thread) / (pid|tid)
 *	ClockID: 1
 */
int timers_parse_proc(char *text, const char *what, struct proc_timer **out, size_t *nr)
{
	struct proc_timer *v = NULL, *cur = NULL;
	char *line, *save = NULL;
	size_t n = 0;

	*out = NULL;
	*nr = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char how[16], kind[8];
		int ok = 1;

		if (!strncmp(line, "ID:", 3)) {
			struct proc_timer *nv = xrealloc(v, (n + 1) * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cur = &v[n++];
			memset(cur, 0, sizeof(*cur));
			cur->id = -1;
			ok = sscanf(line, "ID: %d", &cur->id) == 1 && cur->id >= 0;
		} else if (!cur) {
			ok = 0;
		} else if (!strncmp(line, "signal:", 7)) {
			ok = sscanf(line, "signal: %d/%lx", &cur->signo, &cur->sival) == 2;
		} else if (!strncmp(line, "notify:", 7)) {
			ok = sscanf(line, "notify: %15[a-z]/%7[a-z].%d", how, kind, &cur->tid) == 3;
			if (ok) {
				if (!strcmp(how, "signal"))
					cur->notify = SIGEV_SIGNAL;
				else if (!strcmp(how, "none"))
					cur->notify = SIGEV_NONE;
				else if (!strcmp(how, "thread"))
					cur->notify = SIGEV_THREAD;
				else
					ok = 0;
				if (!strcmp(kind, "tid"))
					cur->notify |= SIGEV_THREAD_ID;
				else if (!strcmp(kind, "pid"))
					cur->tid = 0;
				else
					ok = 0;
			}
		} else if (!strncmp(line, "ClockID:", 8)) {
			ok = sscanf(line, "ClockID: %d", &cur->clock) == 1;
		}
		if (!ok) {
			pr_err("%s: unexpected line \"%s\": can't save the POSIX timers", what, line);
			free(v);
			return -EINVAL;
		}
	}
	if (n)
		xqsort(v, n, sizeof(*v), cmp_proc_timer);
	for (size_t i = 1; i < n; i++)
		if (v[i].id == v[i - 1].id) {
			pr_err("%s lists timer ID %d twice", what, v[i].id);
			free(v);
			return -EINVAL;
		}
	*out = v;
	*nr = n;
	return 0;
}

static int parse_proc_timers(pid_t pid, struct proc_timer **out, size_t *nr)
{
	char path[64], *buf;
	ssize_t len;

	*out = NULL;
	*nr = 0;
	snprintf(path, sizeof(path), "/proc/%d/timers", pid);
	len = read_file(AT_FDCWD, path, &buf, true);
	if (len < 0) {
		if (len == -ENOENT) {
			pr_warn("%s does not exist (kernel without CONFIG_CHECKPOINT_RESTORE?): POSIX timers of task %d, if any, are not saved",
				path, pid);
			return 0;
		}
		errno = (int)-len;
		return_perror("can't read %s", path);
	}
	int ret = timers_parse_proc(buf, path, out, nr);
	free(buf);
	return ret;
}

static ItimerEntry *new_itimer(const struct kitimerval *tv)
{
	ItimerEntry *ie = xmalloc(sizeof(*ie));
	if (!ie)
		return NULL;
	itimer_entry__init(ie);
	ie->has_isec = ie->has_iusec = ie->has_vsec = ie->has_vusec = 1;
	ie->isec = tv->isec;
	ie->iusec = tv->iusec;
	ie->vsec = tv->vsec;
	ie->vusec = tv->vusec;
	return ie;
}

static int dump_timers(struct remote *r, pid_t pid, TaskTimersEntry *tte)
{
	struct proc_timer *pt = NULL;
	size_t n = 0;
	char what[64];
	long lr;
	int ret;

	uint64_t slot = remote_scratch_alloc(r, 64);
	if (!slot)
		return -ENOSPC;

	for (int which = 0; which < 3; which++) {
		struct kitimerval tv;
		snprintf(what, sizeof(what), "getitimer(%s)", itimer_names[which]);
		lr = remote_call(r, what, __NR_getitimer, which, slot);
		if (lr)
			return lr < 0 ? (int)lr : -EIO;
		ret = remote_read(r, slot, &tv, sizeof(tv));
		if (ret)
			return ret;
		ItimerEntry *ie = new_itimer(&tv);
		if (!ie)
			return -ENOMEM;
		if (which == 0)
			tte->real = ie;
		else if (which == 1)
			tte->virt = ie;
		else
			tte->prof = ie;
		if (tv.vsec || tv.vusec || tv.isec || tv.iusec)
			pr_debug("task %d: %s %ld.%06ld, interval %ld.%06ld", pid, itimer_names[which],
				 (long)tv.vsec, (long)tv.vusec, (long)tv.isec, (long)tv.iusec);
	}

	ret = parse_proc_timers(pid, &pt, &n);
	if (ret || !n)
		return ret;
	tte->posix = xzalloc(n * sizeof(*tte->posix));
	if (!tte->posix) {
		free(pt);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct kitimerspec ts;
		snprintf(what, sizeof(what), "timer_gettime(%d)", pt[i].id);
		lr = remote_call(r, what, __NR_timer_gettime, pt[i].id, slot);
		if (lr) {
			ret = lr < 0 ? (int)lr : -EIO;
			break;
		}
		ret = remote_read(r, slot, &ts, sizeof(ts));
		if (ret)
			break;
		snprintf(what, sizeof(what), "timer_getoverrun(%d)", pt[i].id);
		lr = remote_call(r, what, __NR_timer_getoverrun, pt[i].id, 0);
		if (lr < 0) {
			ret = (int)lr;
			break;
		}
		/* /proc shows a notified thread's TID in cryo's PID
		 * namespace; the image (and the task's timer_create at
		 * restore) wants the tree's: the last value of its NSpid */
		pid_t inner = pt[i].tid;
		if (pt[i].notify & SIGEV_THREAD_ID) {
			struct proc_status tst;
			ret = proc_read_status_live(pid, pt[i].tid, &tst);
			if (ret == -ESRCH) {
				/* The thread it notifies has exited: the kernel
				 * drops its signals, so the timer only counts.
				 * It comes back as such, SIGEV_NONE (as criu).
				 * (/proc may show the dead thread's TID.) */
				pr_info("task %d: POSIX timer %d notifies thread %d, which has "
					"exited: restored without notification", pid, pt[i].id,
					pt[i].tid);
				pt[i].notify = SIGEV_NONE;
				ret = 0;
			} else if (ret) {
				break;
			} else {
				if (tst.nspid_levels)
					inner = tst.nspid[tst.nspid_levels - 1];
				proc_status_free(&tst);
			}
		}
		PosixTimerEntry *e = xmalloc(sizeof(*e));
		if (!e) {
			ret = -ENOMEM;
			break;
		}
		posix_timer_entry__init(e);
		e->has_it_id = e->has_clock_id = e->has_si_signo = e->has_it_sigev_notify = 1;
		e->has_sival_ptr = e->has_overrun = 1;
		e->has_isec = e->has_insec = e->has_vsec = e->has_vnsec = 1;
		e->it_id = pt[i].id;
		e->clock_id = (uint32_t)pt[i].clock;
		e->si_signo = pt[i].signo;
		e->it_sigev_notify = pt[i].notify;
		e->sival_ptr = pt[i].sival;
		e->overrun = (uint32_t)lr;
		e->isec = ts.isec;
		e->insec = ts.insec;
		e->vsec = ts.vsec;
		e->vnsec = ts.vnsec;
		if (pt[i].notify & SIGEV_THREAD_ID) {
			e->has_notify_thread_id = 1;
			e->notify_thread_id = inner;
		}
		tte->posix[tte->n_posix++] = e;
		pr_debug("task %d: POSIX timer %d: clock %d, notify %d, signal %d/0x%lx, %ld.%09ld, interval %ld.%09ld, overrun %ld",
			 pid, pt[i].id, pt[i].clock, pt[i].notify, pt[i].signo, pt[i].sival,
			 (long)ts.vsec, (long)ts.vnsec, (long)ts.isec, (long)ts.insec, lr);
	}
	free(pt);
	return ret;
}

int timers_dump(struct remote *r, pid_t pid, TaskCoreEntry *tc)
{
	size_t saved = r->scratch_used;
	TaskTimersEntry *tte = xmalloc(sizeof(*tte));
	if (!tte)
		return -ENOMEM;
	task_timers_entry__init(tte);
	tc->timers = tte;	/* freed with tc */
	int ret = dump_timers(r, pid, tte);
	r->scratch_used = saved;
	return ret;
}

/* ---- restore ---------------------------------------------------------------- */

static int check_itimer(pid_t pid, const char *name, const ItimerEntry *ie)
{
	if (!ie)
		return 0;
	if (ie->isec > INT64_MAX || ie->vsec > INT64_MAX || ie->iusec >= USEC_PER_SEC ||
	    ie->vusec >= USEC_PER_SEC) {
		pr_err("image: %s of task %d is invalid (%lu.%06lu s, interval %lu.%06lu s)", name, pid,
		       ie->vsec, ie->vusec, ie->isec, ie->iusec);
		return -EINVAL;
	}
	return 0;
}

static int check_posix_timer(pid_t pid, const PosixTimerEntry *e)
{
	unsigned notify = e->it_sigev_notify;

	if (!e->has_it_id || e->it_id > TIMER_ID_MAX) {
		pr_err("image: a POSIX timer of task %d has no valid ID", pid);
		return -EINVAL;
	}
	if (e->isec > INT64_MAX || e->vsec > INT64_MAX || e->insec >= NSEC_PER_SEC ||
	    e->vnsec >= NSEC_PER_SEC) {
		pr_err("image: POSIX timer %u of task %d has an invalid time (%lu.%09lu s, interval %lu.%09lu s)",
		       e->it_id, pid, e->vsec, e->vnsec, e->isec, e->insec);
		return -EINVAL;
	}
	if (notify != SIGEV_SIGNAL && notify != SIGEV_NONE && notify != SIGEV_THREAD &&
	    notify != (SIGEV_SIGNAL | SIGEV_THREAD_ID)) {
		pr_err("image: POSIX timer %u of task %d has an unknown notification %u", e->it_id,
		       pid, notify);
		return -EINVAL;
	}
	if ((notify & SIGEV_THREAD_ID) && (!e->has_notify_thread_id || e->notify_thread_id <= 0)) {
		pr_err("image: POSIX timer %u of task %d notifies a thread but names none", e->it_id,
		       pid);
		return -EINVAL;
	}
	if (notify != SIGEV_NONE && (e->si_signo < 1 || e->si_signo > 64)) {
		pr_err("image: POSIX timer %u of task %d has signal %u", e->it_id, pid, e->si_signo);
		return -EINVAL;
	}
	return 0;
}

static int cmp_timer_id(const void *a, const void *b)
{
	const PosixTimerEntry *x = *(PosixTimerEntry *const *)a, *y = *(PosixTimerEntry *const *)b;
	return (x->it_id > y->it_id) - (x->it_id < y->it_id);
}

static void fill_sigevent(struct ksigevent *ev, const PosixTimerEntry *e)
{
	memset(ev, 0, sizeof(*ev));
	ev->value = e->sival_ptr;
	ev->signo = (int32_t)e->si_signo;
	ev->notify = (int32_t)e->it_sigev_notify;
	if (e->it_sigev_notify & SIGEV_THREAD_ID)
		ev->tid = e->notify_thread_id;
}

static void explain_create_error(pid_t pid, const PosixTimerEntry *e, int err)
{
	if (err == EINVAL && (e->it_sigev_notify & SIGEV_THREAD_ID))
		pr_err("timer_create of POSIX timer %u (clock %d, signal %u to thread %d) in restored task %d failed: %s: thread %d must exist in the process first",
		       e->it_id, (int)e->clock_id, e->si_signo, e->notify_thread_id, pid,
		       strerror(err), e->notify_thread_id);
	else if (err == EBUSY)
		pr_err("timer_create of POSIX timer %u in restored task %d failed: the ID is already taken",
		       e->it_id, pid);
	else
		pr_err("timer_create of POSIX timer %u (clock %d, notify %u, signal %u) in restored task %d failed: %s",
		       e->it_id, (int)e->clock_id, e->it_sigev_notify, e->si_signo, pid,
		       strerror(err));
}

/* Kernel 6.17+: timer_create reads the wanted ID from *created_timer_id. */
static int create_with_ids(struct remote *r, pid_t pid, PosixTimerEntry **v, size_t n)
{
	struct remote_batch *b = xzalloc(sizeof(*b));
	int ret = 0;

	if (!b)
		return -ENOMEM;
	for (size_t start = 0; start < n && !ret;) {
		size_t idx[REMOTE_BATCH_MAX];
		remote_scratch_reset(r);
		b->n = 0;
		b->calls[b->n++] = (struct remote_call){ __NR_prctl,
			{ PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0, 0 }, 0 };
		for (; start < n && b->n < REMOTE_BATCH_MAX - 1 && b->n < 256; start++) {
			struct { struct ksigevent ev; int32_t id, pad; } arg;
			fill_sigevent(&arg.ev, v[start]);
			arg.id = (int32_t)v[start]->it_id;
			arg.pad = 0;
			uint64_t a = remote_scratch_put(r, &arg, sizeof(arg));
			if (!a) {
				ret = -ENOSPC;
				break;
			}
			idx[b->n] = start;
			b->calls[b->n++] = (struct remote_call){ __NR_timer_create,
				{ (uint64_t)(int64_t)(int32_t)v[start]->clock_id, a,
				  a + offsetof(typeof(arg), id), 0, 0, 0 }, 0 };
		}
		if (ret)
			break;
		b->calls[b->n++] = (struct remote_call){ __NR_prctl,
			{ PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0 }, 0 };
		int done = remote_batch_run(r, b);
		if (done < 0) {
			ret = done;
		} else if (done < b->n) {
			int err = (int)-b->calls[done].ret;
			if (b->calls[done].nr == __NR_prctl)
				pr_err("prctl(PR_TIMER_CREATE_RESTORE_IDS) in restored task %d failed: %s%s",
				       pid, strerror(err),
				       err == EPERM ? " (needs CAP_CHECKPOINT_RESTORE)" : "");
			else
				explain_create_error(pid, v[idx[done]], err);
			if (done > 0 && b->calls[done].nr != __NR_prctl)
				/* leave the ID mode off again */
				remote_syscall(r, __NR_prctl, PR_TIMER_CREATE_RESTORE_IDS,
					       PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0);
			ret = -err;
		}
	}
	remote_scratch_reset(r);
	free(b);
	return ret;
}

/* Older kernels: IDs are handed out in increasing order from 0 in a new
 * process.  Create the timers in ID order; a hole is filled with a timer
 * that is deleted at the end.  An ID below the next one the kernel hands
 * out can't be reached. */
static int create_in_order(struct remote *r, pid_t pid, PosixTimerEntry **v, size_t n)
{
	int *fillers = NULL;
	size_t nr_fillers = 0;
	int ret = 0;

	/* IDs start at 0 in a new process: the holes below the highest ID
	 * take that many placeholders. */
	if (v[n - 1]->it_id - (n - 1) > MAX_FILLERS) {
		pr_err("POSIX timer %u of task %d can't be restored with its ID: it would take more than %d placeholder timers; "
		       "kernel 6.17+ restores timer IDs exactly (prctl PR_TIMER_CREATE_RESTORE_IDS)",
		       v[n - 1]->it_id, pid, MAX_FILLERS);
		return -EOPNOTSUPP;
	}
	remote_scratch_reset(r);
	uint64_t a = remote_scratch_alloc(r, sizeof(struct ksigevent) + 8);
	if (!a)
		return -ENOSPC;
	for (size_t i = 0; i < n && !ret; i++) {
		struct { struct ksigevent ev; int32_t id, pad; } arg;
		fill_sigevent(&arg.ev, v[i]);
		arg.id = -1;
		arg.pad = 0;
		ret = remote_write(r, a, &arg, sizeof(arg));
		while (!ret) {
			long lr = remote_syscall(r, __NR_timer_create,
						 (uint64_t)(int64_t)(int32_t)v[i]->clock_id, a,
						 a + offsetof(typeof(arg), id), 0, 0, 0);
			if (lr < 0) {
				explain_create_error(pid, v[i], (int)-lr);
				ret = (int)lr;
				break;
			}
			int got;
			ret = remote_read(r, a + offsetof(typeof(arg), id), &got, sizeof(got));
			if (ret)
				break;
			if ((uint32_t)got == v[i]->it_id)
				break;
			/* not the one: delete it at the end */
			int *nf = xrealloc(fillers, (nr_fillers + 1) * sizeof(int));
			if (!nf) {
				ret = -ENOMEM;
				break;
			}
			fillers = nf;
			fillers[nr_fillers++] = got;
			if (got < 0 || (uint32_t)got > v[i]->it_id) {
				pr_err("POSIX timer %u of task %d can't be restored with its ID: the kernel handed out ID %d; "
				       "kernel 6.17+ restores timer IDs exactly (prctl PR_TIMER_CREATE_RESTORE_IDS)",
				       v[i]->it_id, pid, got);
				ret = -EOPNOTSUPP;
			} else if (nr_fillers > MAX_FILLERS) {
				pr_err("POSIX timer %u of task %d can't be restored with its ID: it would take more than %d placeholder timers; "
				       "kernel 6.17+ restores timer IDs exactly (prctl PR_TIMER_CREATE_RESTORE_IDS)",
				       v[i]->it_id, pid, MAX_FILLERS);
				ret = -EOPNOTSUPP;
			}
		}
	}
	for (size_t i = 0; i < nr_fillers; i++) {
		long lr = remote_syscall(r, __NR_timer_delete, fillers[i], 0, 0, 0, 0, 0);
		if (lr && !ret) {
			pr_err("timer_delete(%d) of a placeholder timer in restored task %d failed: %s",
			       fillers[i], pid, strerror((int)-lr));
			ret = (int)lr;
		}
	}
	if (nr_fillers)
		pr_debug("task %d: %zu placeholder timer(s) used to reach the timer IDs", pid,
			 nr_fillers);
	free(fillers);
	remote_scratch_reset(r);
	return ret;
}

int timers_restore_create(struct remote *r, pid_t pid, const TaskCoreEntry *tc)
{
	const TaskTimersEntry *tte = tc->timers;
	PosixTimerEntry **v;
	int ret;

	if (!tte)
		return 0;
	ret = check_itimer(pid, "ITIMER_REAL", tte->real);
	if (!ret)
		ret = check_itimer(pid, "ITIMER_VIRTUAL", tte->virt);
	if (!ret)
		ret = check_itimer(pid, "ITIMER_PROF", tte->prof);
	for (size_t i = 0; i < tte->n_posix && !ret; i++)
		ret = check_posix_timer(pid, tte->posix[i]);
	if (ret)
		return ret;

	if (tte->n_posix) {
		v = xmalloc(tte->n_posix * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, tte->posix, tte->n_posix * sizeof(*v));
		xqsort(v, tte->n_posix, sizeof(*v), cmp_timer_id);
		for (size_t i = 1; i < tte->n_posix; i++)
			if (v[i]->it_id == v[i - 1]->it_id) {
				pr_err("image: task %d has two POSIX timers with ID %u", pid, v[i]->it_id);
				free(v);
				return -EINVAL;
			}
		if (kdat_has(KF_TIMER_RESTORE_IDS) && !fault_inject("restore:timer-ids-in-order")) {
			ret = create_with_ids(r, pid, v, tte->n_posix);
		} else {
			pr_info("task %d: creating POSIX timers in ID order (%s)", pid,
				kdat_has(KF_TIMER_RESTORE_IDS) ? "CRYO_FAULT" : kdat_detail(KF_TIMER_RESTORE_IDS));
			ret = create_in_order(r, pid, v, tte->n_posix);
		}
		free(v);
		if (ret)
			return ret;
		pr_debug("task %d: %zu POSIX timer(s) created", pid, tte->n_posix);
	}
	return 0;
}

/* setitimer() adds one scheduler tick to the value of ITIMER_VIRTUAL and
 * ITIMER_PROF (so that they never fire early), and getitimer() reports it:
 * restoring the value read at dump as is would make the timer a tick later
 * with every checkpoint.  Find the tick (1 / CONFIG_HZ) once, on our own
 * ITIMER_VIRTUAL, and take it off again. */
static long cpu_itimer_tick_us(void)
{
	static long tick = -1;
	static const long hz_ticks[] = { 1000, 3333, 4000, 10000 };	/* HZ 1000, 300, 250, 100 */
	struct itimerval old, probe = { { 0, 0 }, { 1000, 0 } }, got;

	if (tick >= 0)
		return tick;
	tick = 0;
	if (setitimer(ITIMER_VIRTUAL, &probe, &old) || getitimer(ITIMER_VIRTUAL, &got)) {
		pr_warn("can't measure the CPU timer tick (setitimer: %s): restored ITIMER_VIRTUAL/PROF may be late by a tick",
			strerror(errno));
		return tick;
	}
	setitimer(ITIMER_VIRTUAL, &old, NULL);
	long extra = (got.it_value.tv_sec - 1000) * 1000000L + got.it_value.tv_usec;
	long best = 0, dist = 2000;
	for (size_t i = 0; i < ARRAY_SIZE(hz_ticks); i++) {
		long d = extra > hz_ticks[i] ? extra - hz_ticks[i] : hz_ticks[i] - extra;
		if (d < dist) {
			dist = d;
			best = hz_ticks[i];
		}
	}
	tick = best;
	pr_debug("CPU itimer tick: %ld us (measured %ld us)", tick, extra);
	return tick;
}

int timers_restore_arm(struct remote *r, pid_t pid, const TaskCoreEntry *tc)
{
	const TaskTimersEntry *tte = tc ? tc->timers : NULL;
	struct remote_batch *b;
	int ret = 0;

	if (!tte)
		return 0;

	b = xzalloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t start = 0; start < tte->n_posix + 1 && !ret;) {
		size_t idx[REMOTE_BATCH_MAX];
		remote_scratch_reset(r);
		b->n = 0;
		for (; start < tte->n_posix && b->n < 256; start++) {
			const PosixTimerEntry *e = tte->posix[start];
			if (!e->vsec && !e->vnsec && !e->isec && !e->insec)
				continue;	/* created disarmed */
			struct kitimerspec ts = { e->isec, e->insec, e->vsec, e->vnsec };
			uint64_t a = remote_scratch_put(r, &ts, sizeof(ts));
			if (!a) {
				ret = -ENOSPC;
				break;
			}
			idx[b->n] = start;
			b->calls[b->n++] = (struct remote_call){ __NR_timer_settime,
				{ e->it_id, 0, a, 0, 0, 0 }, 0 };
		}
		if (start == tte->n_posix) {
			/* the interval timers go last, with the last POSIX timers */
			const ItimerEntry *it[3] = { tte->real, tte->virt, tte->prof };
			for (int which = 0; which < 3; which++) {
				const ItimerEntry *ie = it[which];
				if (!ie || (!ie->isec && !ie->iusec && !ie->vsec && !ie->vusec))
					continue;
				struct kitimerval tv = { ie->isec, ie->iusec, ie->vsec, ie->vusec };
				if (which == ITIMER_REAL && !tv.vsec && !tv.vusec) {
					/* Expired, and waiting for its SIGALRM to be
					 * dequeued to start the next period: the kernel
					 * re-arms it then.  setitimer() with value 0 would
					 * drop the interval; let it expire at once instead
					 * (its SIGALRM, already queued, absorbs the new
					 * one) so that the dequeue re-arms it as before. */
					tv.vusec = 1;
				} else if (which != ITIMER_REAL) {
					long tick = cpu_itimer_tick_us();
					int64_t v = tv.vsec * (int64_t)USEC_PER_SEC + tv.vusec;
					if (tick && v > tick) {
						v -= tick;
						tv.vsec = v / (int64_t)USEC_PER_SEC;
						tv.vusec = v % (int64_t)USEC_PER_SEC;
					}
				}
				uint64_t a = remote_scratch_put(r, &tv, sizeof(tv));
				if (!a) {
					ret = -ENOSPC;
					break;
				}
				idx[b->n] = which;
				b->calls[b->n++] = (struct remote_call){ __NR_setitimer,
					{ which, a, 0, 0, 0, 0 }, 0 };
			}
			start++;
		}
		if (ret)
			break;
		int done = remote_batch_run(r, b);
		if (done < 0) {
			ret = done;
		} else if (done < b->n) {
			int err = (int)-b->calls[done].ret;
			if (b->calls[done].nr == __NR_setitimer)
				pr_err("setitimer(%s) in restored task %d failed: %s",
				       itimer_names[idx[done]], pid, strerror(err));
			else
				pr_err("timer_settime of POSIX timer %u in restored task %d failed: %s",
				       tte->posix[idx[done]]->it_id, pid, strerror(err));
			ret = -err;
		}
	}
	remote_scratch_reset(r);
	free(b);
	return ret;
}
