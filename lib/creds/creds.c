/* Credentials of each thread: uid/gid sets, supplementary groups, the five
 * capability sets, securebits and no_new_privs (creds_entry in the
 * thread's core), plus the hooks that tie lib/creds together.
 *
 * Dump: everything but securebits is read from /proc/PID/task/TID/status;
 * securebits with prctl(PR_GET_SECUREBITS) run in the stopped thread.
 *
 * Restore (the task is a fork of cryo: root, with cryo's capabilities),
 * in one batch of syscalls, after every other step of the thread:
 *   securebits = NO_SETUID_FIXUP (uid changes then leave capabilities alone)
 *   setgroups, setresgid, setfsgid, setresuid, setfsuid
 *   capset(inheritable = target, permitted/effective = still all of ours)
 *   ambient: clear, raise each target bit (needs it permitted+inheritable)
 *   PR_CAPBSET_DROP for each capability outside the target bounding set
 *   securebits = target; capset(target sets); PR_SET_NO_NEW_PRIVS
 * then the result is read back from /proc and compared with the image.
 *
 * A task in a user namespace other than cryo's (lib/ns/user.c) keeps its
 * ids in the image as it sees them, as criu's images do: /proc shows them
 * as cryo sees them, so they are mapped through the task's uid_map and
 * gid_map (dump) and back (the restore's check).  The task sets them
 * itself, from inside its namespace.  With setgroups "deny" there the
 * kernel refuses setgroups(2) altogether: the groups the task inherited
 * must then already be the image's. */
#include "creds/creds-int.h"
#include "proc/proc.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include "creds.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat/uapi-extra.h"

#define CAP_WORDS 2		/* u32 words per set in the image, as CRIU */
#define MAX_GROUPS 65536	/* NGROUPS_MAX of the kernel */

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

const char *cap_name(int cap)
{
	static char buf[4][16];
	static int slot;
	if (cap >= 0 && cap < (int)ARRAY_SIZE(cap_names))
		return cap_names[cap];
	char *b = buf[slot++ % 4];
	snprintf(b, sizeof(buf[0]), "capability %d", cap);
	return b;
}

/* "CAP_A, CAP_B" for a mask, into @buf. */
static const char *cap_list(uint64_t mask, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int c = 0; c < 64 && n < size; c++)
		if (mask & (1ULL << c))
			n += snprintf(buf + n, size - n, "%s%s", n ? ", " : "", cap_name(c));
	return buf;
}

static int cap_last_cap(void)
{
	static int last = -1;
	if (last < 0) {
		char *s;
		if (read_file(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", &s, true) >= 0) {
			last = atoi(s);
			free(s);
		}
		if (last <= 0 || last > 63)
			last = CAP_LAST_CAP;
	}
	return last;
}

static uint64_t valid_caps(void)
{
	int last = cap_last_cap();
	return last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1;
}

/* ---- ids inside a user namespace ---------------------------------------- */

struct idmaps {
	struct proc_idmap uid, gid;
};

/* The maps of @pid's user namespace, or *@out NULL when it is cryo's own
 * (or the kernel has none): its ids need no mapping. */
static int task_idmaps(pid_t pid, struct idmaps **out)
{
	struct stat a, b;
	char path[64];
	*out = NULL;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	if (stat("/proc/self/ns/user", &b))
		return 0;
	if (stat(path, &a))
		return log_errno(-errno, "can't read the user namespace of process %d (%s)", pid,
				 path);
	if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return 0;
	struct idmaps *m = xmalloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	int ret = proc_read_idmap(pid, "uid_map", &m->uid);
	if (!ret)
		ret = proc_read_idmap(pid, "gid_map", &m->gid);
	if (ret) {
		free(m);
		return ret;
	}
	*out = m;
	return 0;
}

/* The kernel's overflow gid: what an unmapped group reads as inside. */
static uint32_t overflow_gid(void)
{
	static uint32_t gid;
	if (!gid) {
		char *s;
		gid = 65534;
		if (read_file(AT_FDCWD, "/proc/sys/kernel/overflowgid", &s, true) >= 0) {
			gid = (uint32_t)strtoul(s, NULL, 10);
			free(s);
		}
	}
	return gid;
}

/* @st's ids (as cryo sees them) as the task sees them, in place.  An
 * unmapped uid or gid is -EOVERFLOW with @bad naming it (the task reads
 * the overflow id); an unmapped supplementary group reads as the overflow
 * gid, as inside.  The groups are mapped first, whatever the ids. */
static int status_inside(const struct idmaps *m, struct proc_status *st, char *bad, size_t size)
{
	uint32_t v;
	if (!m)
		return 0;
	for (int i = 0; i < st->ngroups; i++)
		st->groups[i] = proc_idmap_inside(&m->gid, st->groups[i], &v) ? v : overflow_gid();
	for (int i = 0; i < 4; i++) {
		if (!proc_idmap_inside(&m->uid, st->uid[i], &v)) {
			snprintf(bad, size, "uid %u", st->uid[i]);
			return -EOVERFLOW;
		}
		st->uid[i] = v;
		if (!proc_idmap_inside(&m->gid, st->gid[i], &v)) {
			snprintf(bad, size, "gid %u", st->gid[i]);
			return -EOVERFLOW;
		}
		st->gid[i] = v;
	}
	return 0;
}

/* ---- dump --------------------------------------------------------------- */

static uint32_t *cap_words(uint64_t v, size_t *n)
{
	uint32_t *w = xmalloc(CAP_WORDS * sizeof(uint32_t));
	if (!w)
		return NULL;
	w[0] = (uint32_t)v;
	w[1] = (uint32_t)(v >> 32);
	*n = CAP_WORDS;
	return w;
}

static int dump_creds(struct remote *r, pid_t pid, pid_t tid, ThreadCoreEntry *tce)
{
	struct proc_status st;
	struct idmaps *maps;
	char bad[32];
	int ret = task_idmaps(pid, &maps);
	if (ret)
		return ret;
	ret = proc_read_status(pid, tid, &st);
	if (!ret && (ret = status_inside(maps, &st, bad, sizeof(bad)))) {
		pr_err("thread %d of process %d has %s (as cryo sees it), which its user namespace "
		       "does not map (/proc/%d/uid_map, gid_map): inside it reads as the overflow "
		       "id, which no restore can give back; map it, or have the thread change its "
		       "ids before the dump", tid, pid, bad, pid);
		proc_status_free(&st);
	}
	free(maps);
	if (ret)
		return ret;
	long secbits = remote_call(r, "prctl(PR_GET_SECUREBITS)", __NR_prctl, PR_GET_SECUREBITS,
				   0, 0, 0);
	if (secbits < 0) {
		proc_status_free(&st);
		return secbits;
	}
	CredsEntry *ce = xmalloc(sizeof(*ce));
	if (!ce) {
		proc_status_free(&st);
		return -ENOMEM;
	}
	creds_entry__init(ce);
	tce->creds = ce;	/* freed with the core from here on */
	ce->has_uid = ce->has_euid = ce->has_suid = ce->has_fsuid = 1;
	ce->has_gid = ce->has_egid = ce->has_sgid = ce->has_fsgid = 1;
	ce->uid = st.uid[0];
	ce->euid = st.uid[1];
	ce->suid = st.uid[2];
	ce->fsuid = st.uid[3];
	ce->gid = st.gid[0];
	ce->egid = st.gid[1];
	ce->sgid = st.gid[2];
	ce->fsgid = st.gid[3];
	ce->has_secbits = 1;
	ce->secbits = secbits;
	ce->has_no_new_privs = 1;
	ce->no_new_privs = st.no_new_privs;
	if (!(ce->cap_inh = cap_words(st.cap_inh, &ce->n_cap_inh)) ||
	    !(ce->cap_prm = cap_words(st.cap_prm, &ce->n_cap_prm)) ||
	    !(ce->cap_eff = cap_words(st.cap_eff, &ce->n_cap_eff)) ||
	    !(ce->cap_bnd = cap_words(st.cap_bnd, &ce->n_cap_bnd)) ||
	    !(ce->cap_amb = cap_words(st.cap_amb, &ce->n_cap_amb))) {
		proc_status_free(&st);
		return -ENOMEM;
	}
	if (st.ngroups) {
		ce->groups = xmalloc(st.ngroups * sizeof(uint32_t));
		if (!ce->groups) {
			proc_status_free(&st);
			return -ENOMEM;
		}
		memcpy(ce->groups, st.groups, st.ngroups * sizeof(uint32_t));
		ce->n_groups = st.ngroups;
	}
	pr_debug("thread %d: uid %u/%u/%u/%u gid %u/%u/%u/%u, %d groups, caps eff %llx prm %llx "
		 "inh %llx bnd %llx amb %llx, secbits %#lx, nnp %d", tid, ce->uid, ce->euid,
		 ce->suid, ce->fsuid, ce->gid, ce->egid, ce->sgid, ce->fsgid, st.ngroups,
		 (unsigned long long)st.cap_eff, (unsigned long long)st.cap_prm,
		 (unsigned long long)st.cap_inh, (unsigned long long)st.cap_bnd,
		 (unsigned long long)st.cap_amb, secbits, st.no_new_privs);
	proc_status_free(&st);
	return lsm_dump_thread(pid, tid, ce);
}

int creds_dump_proc(struct remote *r, pid_t pid, TaskCoreEntry *tc)
{
	return settings_dump_proc(r, pid, tc);
}

int creds_dump_thread(struct remote *r, struct creds_dump *cd, pid_t pid, pid_t tid,
		      ThreadCoreEntry *tce)
{
	int ret = dump_creds(r, pid, tid, tce);
	if (!ret)
		ret = seccomp_dump_thread(cd, pid, tid, tce);
	if (!ret)
		ret = settings_dump_thread(r, pid, tid, tce);
	return ret;
}

int creds_dump_finish(struct creds_dump *cd, int dirfd)
{
	return seccomp_dump_finish(cd, dirfd);
}

/* ---- restore ------------------------------------------------------------ */

struct target_caps {
	uint64_t inh, prm, eff, bnd, amb;
};

static int image_caps(pid_t tid, const char *set, const uint32_t *w, size_t n, uint64_t *out)
{
	if (n > CAP_WORDS) {
		pr_err("core-%d.img: the %s capability set has %zu words; at most %d are "
		       "expected", tid, set, n, CAP_WORDS);
		return -EINVAL;
	}
	*out = 0;
	for (size_t i = 0; i < n; i++)
		*out |= (uint64_t)w[i] << (32 * i);
	return 0;
}

static int check_image_creds(pid_t tid, const CredsEntry *ce, struct target_caps *t)
{
	int ret = 0;
	if ((ret = image_caps(tid, "inheritable", ce->cap_inh, ce->n_cap_inh, &t->inh)) ||
	    (ret = image_caps(tid, "permitted", ce->cap_prm, ce->n_cap_prm, &t->prm)) ||
	    (ret = image_caps(tid, "effective", ce->cap_eff, ce->n_cap_eff, &t->eff)) ||
	    (ret = image_caps(tid, "ambient", ce->cap_amb, ce->n_cap_amb, &t->amb)) ||
	    (ret = image_caps(tid, "bounding", ce->cap_bnd, ce->n_cap_bnd, &t->bnd)))
		return ret;
	/* An image without a bounding set (n == 0) keeps the full one. */
	if (!ce->n_cap_bnd)
		t->bnd = ~0ULL;
	t->bnd &= valid_caps();
	uint64_t unknown = (t->inh | t->prm | t->eff | t->amb) & ~valid_caps();
	if (unknown) {
		pr_err("thread %d had capabilities this kernel does not know (mask %#llx, the "
		       "last one here is %d): restore it on a kernel at least as new as the "
		       "one it was dumped on", tid, (unsigned long long)unknown, cap_last_cap());
		return -EOPNOTSUPP;
	}
	if ((t->eff & ~t->prm) || (t->amb & ~(t->prm & t->inh))) {
		pr_err("core-%d.img: inconsistent capability sets (effective %#llx, permitted "
		       "%#llx, inheritable %#llx, ambient %#llx)", tid,
		       (unsigned long long)t->eff, (unsigned long long)t->prm,
		       (unsigned long long)t->inh, (unsigned long long)t->amb);
		return -EINVAL;
	}
	if (ce->n_groups > MAX_GROUPS) {
		pr_err("core-%d.img: %zu supplementary groups; the kernel allows %d", tid,
		       ce->n_groups, MAX_GROUPS);
		return -EINVAL;
	}
	if (!ce->has_uid || !ce->has_euid || !ce->has_suid || !ce->has_fsuid || !ce->has_gid ||
	    !ce->has_egid || !ce->has_sgid || !ce->has_fsgid || !ce->has_secbits) {
		pr_err("core-%d.img: credentials lack a required uid, gid or securebits field", tid);
		return -EINVAL;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Read the thread's credentials back and compare with the image: a
 * mismatch (a step the kernel ignored silently, such as setfsuid) is an
 * error naming the field. */
static int verify_creds(struct remote *r, pid_t pid, pid_t tid, const CredsEntry *ce,
			const struct target_caps *t, const struct idmaps *maps)
{
	struct proc_status st;
	char bad[32];
	int ret = proc_read_status(pid, tid, &st);
	if (ret)
		return ret;
	if (status_inside(maps, &st, bad, sizeof(bad))) {
		pr_err("credentials of restored thread %d do not match the image: its %s (as cryo "
		       "sees it) is not mapped in its user namespace", tid, bad);
		proc_status_free(&st);
		return -EIO;
	}
	const uint32_t want_uid[4] = { ce->uid, ce->euid, ce->suid, ce->fsuid };
	const uint32_t want_gid[4] = { ce->gid, ce->egid, ce->sgid, ce->fsgid };
	char what[96] = "";
	uint64_t got = 0, want = 0;
	if (memcmp(st.uid, want_uid, sizeof(want_uid)))
		snprintf(what, sizeof(what), "uids are %u/%u/%u/%u, not %u/%u/%u/%u", st.uid[0],
			 st.uid[1], st.uid[2], st.uid[3], ce->uid, ce->euid, ce->suid, ce->fsuid);
	else if (memcmp(st.gid, want_gid, sizeof(want_gid)))
		snprintf(what, sizeof(what), "gids are %u/%u/%u/%u, not %u/%u/%u/%u", st.gid[0],
			 st.gid[1], st.gid[2], st.gid[3], ce->gid, ce->egid, ce->sgid, ce->fsgid);
	else if (st.cap_inh != t->inh)
		got = st.cap_inh, want = t->inh, snprintf(what, sizeof(what), "inheritable set");
	else if (st.cap_prm != t->prm)
		got = st.cap_prm, want = t->prm, snprintf(what, sizeof(what), "permitted set");
	else if (st.cap_eff != t->eff)
		got = st.cap_eff, want = t->eff, snprintf(what, sizeof(what), "effective set");
	else if ((st.cap_bnd & valid_caps()) != t->bnd)
		got = st.cap_bnd, want = t->bnd, snprintf(what, sizeof(what), "bounding set");
	else if (st.cap_amb != t->amb)
		got = st.cap_amb, want = t->amb, snprintf(what, sizeof(what), "ambient set");
	else if (!st.no_new_privs != !(ce->has_no_new_privs && ce->no_new_privs))
		snprintf(what, sizeof(what), "no_new_privs is %d", st.no_new_privs);
	else if ((size_t)st.ngroups != ce->n_groups) {
		snprintf(what, sizeof(what), "%d supplementary groups, not %zu", st.ngroups,
			 ce->n_groups);
	} else if (st.ngroups) {
		uint32_t *g = xmalloc(ce->n_groups * sizeof(uint32_t));
		if (!g) {
			proc_status_free(&st);
			return -ENOMEM;
		}
		memcpy(g, ce->groups, ce->n_groups * sizeof(uint32_t));
		xqsort(g, ce->n_groups, sizeof(uint32_t), cmp_u32);
		xqsort(st.groups, st.ngroups, sizeof(uint32_t), cmp_u32);
		if (memcmp(g, st.groups, ce->n_groups * sizeof(uint32_t)))
			snprintf(what, sizeof(what), "supplementary groups differ");
		free(g);
	}
	proc_status_free(&st);
	if (!what[0]) {
		long sb = remote_call(r, "prctl(PR_GET_SECUREBITS)", __NR_prctl, PR_GET_SECUREBITS,
				      0, 0, 0);
		if (sb < 0)
			return sb;
		if ((uint32_t)sb != ce->secbits)
			snprintf(what, sizeof(what), "securebits are %#lx, not %#x", sb, ce->secbits);
	}
	if (!what[0])
		return 0;
	if (want != got)
		pr_err("credentials of restored thread %d do not match the image: the capability "
		       "%s is %#llx, expected %#llx", tid, what, (unsigned long long)got,
		       (unsigned long long)want);
	else
		pr_err("credentials of restored thread %d do not match the image: %s", tid, what);
	return -EIO;
}

static int restore_creds(struct remote *r, pid_t pid, pid_t tid, const CredsEntry *ce)
{
	struct target_caps t;
	int ret = check_image_creds(tid, ce, &t);
	if (ret)
		return ret;

	/* What the new task (a fork of cryo) holds now. */
	struct proc_status cur;
	struct idmaps *maps;
	ret = task_idmaps(pid, &maps);
	if (ret)
		return ret;
	ret = proc_read_status(pid, tid, &cur);
	if (ret) {
		free(maps);
		return ret;
	}
	uint64_t cur_prm = cur.cap_prm, cur_eff = cur.cap_eff, cur_inh = cur.cap_inh;
	uint64_t cur_bnd = cur.cap_bnd;
	/* in a user namespace: no setgroups where the groups are already
	 * the image's (with setgroups "deny" the kernel refuses any; the
	 * new task's ids, cryo's, may be unmapped there: only its groups
	 * count here) */
	char bad[32];
	bool keep_groups = false;
	if (maps)
		(void)status_inside(maps, &cur, bad, sizeof(bad));
	if (maps && (size_t)cur.ngroups == ce->n_groups) {
		uint32_t *g = xmalloc((ce->n_groups + 1) * sizeof(uint32_t));
		if (g) {
			if (ce->n_groups)	/* groups is NULL when there are none */
				memcpy(g, ce->groups, ce->n_groups * sizeof(uint32_t));
			xqsort(g, ce->n_groups, sizeof(uint32_t), cmp_u32);
			xqsort(cur.groups, cur.ngroups, sizeof(uint32_t), cmp_u32);
			keep_groups = !ce->n_groups ||
				      !memcmp(g, cur.groups, ce->n_groups * sizeof(uint32_t));
			free(g);
		}
	}
	proc_status_free(&cur);
	char list[512];
	uint64_t missing = t.prm & ~cur_prm;
	if (missing) {
		pr_err("thread %d held %s, which cryo itself lacks: a restored task can only get "
		       "capabilities its restorer holds (run cryo with them)", tid,
		       cap_list(missing, list, sizeof(list)));
		free(maps);
		return -EPERM;
	}
	missing = t.inh & ~(cur_inh | cur_bnd);
	if (missing) {
		pr_err("thread %d had %s in its inheritable set, but cryo's bounding set lacks "
		       "them, so the kernel refuses to add them", tid,
		       cap_list(missing, list, sizeof(list)));
		free(maps);
		return -EPERM;
	}
	if (!(cur_eff & (1ULL << CAP_SETPCAP)) || !(cur_eff & (1ULL << CAP_SETUID)) ||
	    !(cur_eff & (1ULL << CAP_SETGID))) {
		pr_err("cryo needs CAP_SETUID, CAP_SETGID and CAP_SETPCAP to restore the "
		       "credentials of thread %d", tid);
		free(maps);
		return -EPERM;
	}

	struct remote_batch *b = xzalloc(sizeof(*b));
	const char **what = xzalloc(REMOTE_BATCH_MAX * sizeof(char *));
	if (!b || !what) {
		free(b);
		free(what);
		free(maps);
		return -ENOMEM;
	}
#define ADD(desc, nr, x1, x2, x3, x4)                                                     \
	do {                                                                              \
		what[b->n] = desc;                                                        \
		b->calls[b->n++] = (struct remote_call){ nr, { x1, x2, x3, x4, 0, 0 }, 0 }; \
	} while (0)

	remote_scratch_reset(r);
	uint64_t groups = 0;
	if (ce->n_groups) {
		groups = remote_scratch_put(r, ce->groups, ce->n_groups * sizeof(uint32_t));
		if (!groups) {
			ret = -ENOSPC;
			goto out;
		}
	}
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct mid[2] = {
		{ (uint32_t)cur_eff, (uint32_t)cur_prm, (uint32_t)t.inh },
		{ (uint32_t)(cur_eff >> 32), (uint32_t)(cur_prm >> 32), (uint32_t)(t.inh >> 32) },
	};
	struct __user_cap_data_struct fin[2] = {
		{ (uint32_t)t.eff, (uint32_t)t.prm, (uint32_t)t.inh },
		{ (uint32_t)(t.eff >> 32), (uint32_t)(t.prm >> 32), (uint32_t)(t.inh >> 32) },
	};
	/* capset writes nothing back, but the header may be updated: one each */
	uint64_t hdr1 = remote_scratch_put(r, &hdr, sizeof(hdr));
	uint64_t hdr2 = remote_scratch_put(r, &hdr, sizeof(hdr));
	uint64_t mid_a = remote_scratch_put(r, mid, sizeof(mid));
	uint64_t fin_a = remote_scratch_put(r, fin, sizeof(fin));
	if (!hdr1 || !hdr2 || !mid_a || !fin_a) {
		ret = -ENOSPC;
		goto out;
	}

	ADD("prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP)", __NR_prctl, PR_SET_SECUREBITS,
	    SECBIT_NO_SETUID_FIXUP, 0, 0);
	if (!keep_groups)
		ADD("setgroups", __NR_setgroups, ce->n_groups, groups, 0, 0);
	ADD("setresgid", __NR_setresgid, ce->gid, ce->egid, ce->sgid, 0);
	ADD("setfsgid", __NR_setfsgid, ce->fsgid, 0, 0, 0);
	ADD("setresuid", __NR_setresuid, ce->uid, ce->euid, ce->suid, 0);
	ADD("setfsuid", __NR_setfsuid, ce->fsuid, 0, 0, 0);
	ADD("capset (inheritable set)", __NR_capset, hdr1, mid_a, 0, 0);
	ADD("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", __NR_prctl, PR_CAP_AMBIENT,
	    PR_CAP_AMBIENT_CLEAR_ALL, 0, 0);
	for (int c = 0; c < 64; c++)
		if (t.amb & (1ULL << c))
			ADD("prctl(PR_CAP_AMBIENT_RAISE)", __NR_prctl, PR_CAP_AMBIENT,
			    PR_CAP_AMBIENT_RAISE, c, 0);
	for (int c = 0; c <= cap_last_cap(); c++)
		if ((cur_bnd & (1ULL << c)) && !(t.bnd & (1ULL << c)))
			ADD("prctl(PR_CAPBSET_DROP)", __NR_prctl, PR_CAPBSET_DROP, c, 0, 0);
	ADD("prctl(PR_SET_SECUREBITS)", __NR_prctl, PR_SET_SECUREBITS, ce->secbits, 0, 0);
	ADD("capset", __NR_capset, hdr2, fin_a, 0, 0);
	if (ce->has_no_new_privs && ce->no_new_privs)
		ADD("prctl(PR_SET_NO_NEW_PRIVS)", __NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0);
#undef ADD

	int done = remote_batch_run(r, b);
	if (done < 0) {
		ret = done;
	} else if (done < b->n) {
		const struct remote_call *c = &b->calls[done];
		if (c->nr == __NR_prctl && (c->a[0] == PR_CAP_AMBIENT || c->a[0] == PR_CAPBSET_DROP))
			pr_err("%s of %s in restored thread %d failed: %s", what[done],
			       cap_name((int)(c->a[0] == PR_CAP_AMBIENT ? c->a[2] : c->a[1])), tid,
			       strerror((int)-c->ret));
		else if (c->nr == __NR_prctl && c->a[0] == PR_SET_SECUREBITS && done > 0)
			pr_err("prctl(PR_SET_SECUREBITS, %#llx) in restored thread %d failed: %s",
			       (unsigned long long)c->a[1], tid, strerror((int)-c->ret));
		else
			pr_err("%s in restored thread %d failed: %s", what[done], tid,
			       strerror((int)-c->ret));
		ret = (int)c->ret;
	}
	if (!ret)
		ret = verify_creds(r, pid, tid, ce, &t, maps);
	if (!ret)
		pr_debug("thread %d: credentials restored (%d syscalls in one batch)", tid, b->n);
out:
	free(b);
	free(what);
	free(maps);
	return ret;
}

int creds_restore_proc(struct remote *r, pid_t pid, const TaskCoreEntry *tc)
{
	if (!tc)
		return 0;
	return settings_restore_proc(r, pid, tc);
}

int creds_restore_thread(struct remote *r, const struct creds_restore *cr, pid_t pid, pid_t tid,
			 const ThreadCoreEntry *tce)
{
	if (!tce)
		return 0;
	int ret = settings_restore_thread_early(r, pid, tid, tce);
	if (ret)
		return ret;
	/* A change of euid/fsuid makes the mm non-dumpable (fs.suid_dumpable):
	 * remember what the restore set, and put it back afterwards. */
	long dumpable = remote_call(r, "prctl(PR_GET_DUMPABLE)", __NR_prctl, PR_GET_DUMPABLE, 0,
				    0, 0);
	if (dumpable < 0)
		return dumpable;
	/* Filters go in while the task still has CAP_SYS_ADMIN (a task without
	 * no_new_privs needs it to install one); PTRACE_O_SUSPEND_SECCOMP keeps
	 * them from applying to the syscalls cryo still runs in the task. */
	ret = seccomp_restore_thread(r, cr, pid, tid, tce);
	if (!ret && tce->creds)
		ret = restore_creds(r, pid, tid, tce->creds);
	if (ret)
		return ret;
	long now = remote_call(r, "prctl(PR_GET_DUMPABLE)", __NR_prctl, PR_GET_DUMPABLE, 0, 0, 0);
	if (now < 0)
		return now;
	if (now != dumpable && (dumpable == 0 || dumpable == 1)) {
		long lr = remote_call(r, "prctl(PR_SET_DUMPABLE)", __NR_prctl, PR_SET_DUMPABLE,
				      dumpable, 0, 0);
		if (lr < 0)
			return lr;
	}
	return settings_restore_thread_late(r, pid, tid, tce);
}

int creds_restore_prepare(struct creds_restore *cr, int dirfd)
{
	return seccomp_restore_prepare(cr, dirfd);
}

void creds_restore_finish(struct creds_restore *cr)
{
	seccomp_restore_finish(cr);
	lsm_restore_finish(cr);
}
