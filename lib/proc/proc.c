#include "proc/proc.h"
#include "util/log.h"
#include "util/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void proc_maps_free(struct proc_maps *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* Indexed by VMF_*.  "dw" (VM_DENYWRITE, gone in 5.15) and "nl"
 * (VM_NONLINEAR, gone in 4.0) are what older kernels print. */
static const char vmf_names[VMF__MAX][3] = {
	"rd", "wr", "ex", "sh", "mr", "mw", "me", "ms", "gd", "pf",
	"lo", "io", "sr", "rr", "dc", "de", "lf", "ac", "nr", "ht",
	"sf", "ar", "wf", "dd", "bt", "sd", "mm", "hg", "nh", "mg",
	"um", "uw", "mt", "ui", "ss", "dp", "sl", "gu", "dw", "nl",
	"??",
};

const char *proc_vmf_name(int bit)
{
	return bit >= 0 && bit < VMF__MAX ? vmf_names[bit] : "??";
}

static void parse_vmflags(const char *p, struct proc_vma *v)
{
	v->has_vmflags = true;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!p[0] || !p[1])
			break;
		int bit = VMF_UNKNOWN;
		for (int i = 0; i < VMF_UNKNOWN; i++)
			if (p[0] == vmf_names[i][0] && p[1] == vmf_names[i][1]) {
				bit = i;
				break;
			}
		if (bit == VMF_UNKNOWN && !v->vmf_unknown[0])
			snprintf(v->vmf_unknown, sizeof(v->vmf_unknown), "%.2s", p);
		v->vmf |= 1ULL << bit;
		p += 2;
		while (*p && *p != ' ')	/* a longer mnemonic of a future kernel */
			p++;
	}
	uint64_t f = v->vmf;
	v->vm_growsdown = f & VMF(GD);
	v->vm_locked = f & VMF(LO);
	v->vm_dontfork = f & VMF(DC);
	v->vm_dontdump = f & VMF(DD);
	v->vm_wipeonfork = f & VMF(WF);
	v->vm_hugepage = f & VMF(HG);
	v->vm_nohugepage = f & VMF(NH);
	v->vm_mergeable = f & VMF(MG);
	v->vm_io = f & VMF(IO);
	v->vm_pfnmap = f & VMF(PF);
	v->vm_softdirty = f & VMF(SD);
	v->vm_shadow_stack = f & VMF(SS);
	v->vm_uffd_wp = f & VMF(UW);
	v->vm_uffd_missing = f & VMF(UM);
	v->vm_maywrite = f & VMF(MW);
	v->vm_hugetlb = f & VMF(HT);
	v->vm_seq_read = f & VMF(SR);
	v->vm_rand_read = f & VMF(RR);
}

/* A maps line: "start-end perms offset major:minor inode   path" */
static int parse_maps_line(const char *line, size_t len, struct proc_vma *v)
{
	char perms[8], head[128];
	unsigned long long start, end, off, ino;
	unsigned maj, min;
	int pos = 0;

	memset(v, 0, sizeof(*v));
	/* sscanf takes the length of its input first: given the rest of a
	 * smaps text of thousands of VMAs, the parse was quadratic.  The
	 * numbers before the path fit in far less than @head. */
	snprintf(head, sizeof(head), "%.*s", (int)MIN(len, sizeof(head) - 1), line);
	if (sscanf(head, "%llx-%llx %7s %llx %x:%x %llu%n", &start, &end, perms, &off, &maj,
		   &min, &ino, &pos) != 7)
		return -EINVAL;
	if (strlen(perms) != 4 || end <= start)
		return -EINVAL;
	v->start = start;
	v->end = end;
	v->pgoff = off;
	v->dev_major = maj;
	v->dev_minor = min;
	v->ino = ino;
	v->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	v->shared = perms[3] == 's';

	const char *p = line + pos;
	const char *e = line + len;
	while (p < e && *p == ' ')
		p++;
	if (p < e) {
		size_t plen = e - p;
		static const char del[] = " (deleted)";
		if (plen > sizeof(del) - 1 && !memcmp(e - (sizeof(del) - 1), del, sizeof(del) - 1)) {
			v->deleted = true;
			plen -= sizeof(del) - 1;
		}
		v->path = strndup(p, plen);
		if (!v->path)
			return -ENOMEM;
	}
	return 0;
}

static bool is_maps_line(const char *line)
{
	/* maps lines start with a hex address followed by '-' */
	const char *p = line;
	while (isxdigit((unsigned char)*p))
		p++;
	return p != line && *p == '-';
}

int proc_parse_maps_text(const char *text, struct proc_maps *out)
{
	int cap = 0;
	out->v = NULL;
	out->n = 0;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (is_maps_line(line)) {
			if (out->n == cap) {
				cap = cap ? cap * 2 : 64;
				struct proc_vma *nv = xrealloc(out->v, cap * sizeof(*nv));
				if (!nv) {
					proc_maps_free(out);
					return -ENOMEM;
				}
				out->v = nv;
			}
			int ret = parse_maps_line(line, len, &out->v[out->n]);
			if (ret) {
				pr_err("can't parse maps line: %.*s", (int)len, line);
				proc_maps_free(out);
				return ret;
			}
			out->n++;
		} else if (out->n && !strncmp(line, "VmFlags:", 8)) {
			char buf[256];
			snprintf(buf, sizeof(buf), "%.*s", (int)(len - 8), line + 8);
			parse_vmflags(buf, &out->v[out->n - 1]);
		}
		line = nl ? nl + 1 : line + len;
	}
	return 0;
}

int proc_read_maps(pid_t pid, struct proc_maps *out)
{
	char path[64], *text;
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	ssize_t n = read_file(AT_FDCWD, path, &text, false);
	if (n < 0)
		return n;
	int ret = proc_parse_maps_text(text, out);
	free(text);
	return ret;
}

int proc_parse_stat_text(const char *text, struct proc_stat *st)
{
	memset(st, 0, sizeof(*st));
	/* comm may contain spaces and ')': it ends at the last ')' */
	const char *lp = strchr(text, '(');
	const char *rp = strrchr(text, ')');
	if (!lp || !rp || rp < lp)
		return -EINVAL;
	st->pid = atoi(text);
	snprintf(st->comm, sizeof(st->comm), "%.*s", (int)(rp - lp - 1), lp + 1);

	unsigned long long f[64] = { 0 };
	char state;
	const char *p = rp + 2;
	if (sscanf(p, "%c", &state) != 1)
		return -EINVAL;
	st->state = state;
	p += 2;
	/* Fields 4.. of stat(5); signed ones are read as long long. */
	int nf = 0;
	while (*p && nf < 64) {
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (end == p)
			break;
		f[nf++] = (unsigned long long)v;
		p = end;
		while (*p == ' ')
			p++;
	}
	if (nf < 46)	/* up to arg_end (field 49) */
		return -EINVAL;
	/* f[0] is field 4 (ppid) */
#define F(n) f[(n) - 4]
	st->ppid = F(4);
	st->pgid = F(5);
	st->sid = F(6);
	st->flags = F(9);
	st->priority = (long)F(18);
	st->nice = (long)F(19);
	st->num_threads = F(20);
	st->start_time = F(22);
	st->start_code = F(26);
	st->end_code = F(27);
	st->start_stack = F(28);
	st->processor = F(39);
	st->rt_priority = F(40);
	st->policy = F(41);
	st->start_data = F(45);
	st->end_data = F(46);
	st->start_brk = F(47);
	st->arg_start = F(48);
	st->arg_end = F(49);
	if (nf >= 48) {
		st->env_start = F(50);
		st->env_end = F(51);
	}
	if (nf >= 49)
		st->exit_code = F(52);
#undef F
	return 0;
}

/* Read and parse /proc/PID[/task/TID]/NAME.  With gone_ok, a task that has
 * exited is -ESRCH, said by nobody (the caller knows whether that matters). */
static int read_task_file(pid_t pid, pid_t tid, const char *name, bool gone_ok,
			  int (*parse)(const char *text, void *out), void *out)
{
	char path[64], *text;
	if (tid && tid != pid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", pid, tid, name);
	else
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	ssize_t n = read_file(AT_FDCWD, path, &text, gone_ok);
	if ((n == -ENOENT || n == -ESRCH) && gone_ok)
		return -ESRCH;
	if (n < 0) {
		if (gone_ok)
			pr_err("can't read %s: %s", path, strerror((int)-n));
		return n;
	}
	int ret = parse(text, out);
	if (ret)
		pr_err("can't parse %s", path);
	free(text);
	return ret;
}

static int parse_stat(const char *text, void *st) { return proc_parse_stat_text(text, st); }

static int read_stat(pid_t pid, pid_t tid, struct proc_stat *st, bool gone_ok)
{
	return read_task_file(pid, tid, "stat", gone_ok, parse_stat, st);
}

void proc_status_free(struct proc_status *st)
{
	free(st->groups);
	st->groups = NULL;
}

static uint64_t hex64(const char *p)
{
	return strtoull(p, NULL, 16);
}

int proc_parse_status_text(const char *text, struct proc_status *st)
{
	memset(st, 0, sizeof(*st));
	st->seccomp = -1;
	st->no_new_privs = -1;
	st->nspgid_inner = st->nssid_inner = -1;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		const char *colon = strchr(line, ':');
		if (!colon || (nl && colon > nl))
			goto next;
		const char *val = colon + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		size_t klen = colon - line;
#define KEY(k) (klen == sizeof(k) - 1 && !strncmp(line, k, klen))
		if (KEY("State"))
			st->state = *val;
		else if (KEY("Umask")) {
			st->umask = strtoul(val, NULL, 8);
			st->has_umask = true;
		} else if (KEY("Tgid"))
			st->tgid = atoi(val);
		else if (KEY("PPid"))
			st->ppid = atoi(val);
		else if (KEY("TracerPid"))
			st->tracer_pid = atoi(val);
		else if (KEY("Uid") || KEY("Gid")) {
			uint32_t *d = KEY("Uid") ? st->uid : st->gid;
			if (sscanf(val, "%u %u %u %u", &d[0], &d[1], &d[2], &d[3]) != 4)
				return -EINVAL;
		} else if (KEY("Groups")) {
			const char *p = val;
			while (*p && *p != '\n') {
				char *end;
				unsigned long g = strtoul(p, &end, 10);
				if (end == p)
					break;
				uint32_t *ng = xrealloc(st->groups, (st->ngroups + 1) * sizeof(*ng));
				if (!ng)
					return -ENOMEM;
				st->groups = ng;
				st->groups[st->ngroups++] = g;
				p = end;
				while (*p == ' ')
					p++;
			}
		} else if (KEY("NSpid")) {
			const char *p = val;
			while (*p && *p != '\n' && st->nspid_levels < 32) {
				char *end;
				long v = strtol(p, &end, 10);
				if (end == p)
					break;
				st->nspid[st->nspid_levels++] = v;
				p = end;
				while (*p == ' ' || *p == '\t')
					p++;
			}
		} else if (KEY("NSpgid") || KEY("NSsid")) {
			/* the last of the values is the innermost namespace's */
			const char *p = val;
			long last = -1;
			bool pg = KEY("NSpgid");
			while (*p && *p != '\n') {
				char *end;
				long v = strtol(p, &end, 10);
				if (end == p)
					break;
				last = v;
				/* every level too (nested PID namespaces) */
				if (pg && st->nspgid_levels < 32)
					st->nspgid[st->nspgid_levels++] = v;
				else if (!pg && st->nssid_levels < 32)
					st->nssid[st->nssid_levels++] = v;
				p = end;
				while (*p == ' ' || *p == '\t')
					p++;
			}
			if (KEY("NSpgid"))
				st->nspgid_inner = last;
			else
				st->nssid_inner = last;
		} else if (KEY("SigPnd"))
			st->sig_pnd = hex64(val);
		else if (KEY("ShdPnd"))
			st->shd_pnd = hex64(val);
		else if (KEY("SigBlk"))
			st->sig_blk = hex64(val);
		else if (KEY("SigIgn"))
			st->sig_ign = hex64(val);
		else if (KEY("SigCgt"))
			st->sig_cgt = hex64(val);
		else if (KEY("CapInh"))
			st->cap_inh = hex64(val);
		else if (KEY("CapPrm"))
			st->cap_prm = hex64(val);
		else if (KEY("CapEff"))
			st->cap_eff = hex64(val);
		else if (KEY("CapBnd"))
			st->cap_bnd = hex64(val);
		else if (KEY("CapAmb"))
			st->cap_amb = hex64(val);
		else if (KEY("NoNewPrivs"))
			st->no_new_privs = atoi(val);
		else if (KEY("Seccomp"))
			st->seccomp = atoi(val);
#undef KEY
next:
		if (!nl)
			break;
		line = nl + 1;
	}
	return 0;
}

int proc_read_stat(pid_t pid, pid_t tid, struct proc_stat *st)
{
	return read_stat(pid, tid, st, false);
}

int proc_read_stat_live(pid_t pid, pid_t tid, struct proc_stat *st)
{
	return read_stat(pid, tid, st, true);
}

static int parse_status(const char *text, void *st) { return proc_parse_status_text(text, st); }

static int read_status(pid_t pid, pid_t tid, struct proc_status *st, bool gone_ok)
{
	return read_task_file(pid, tid, "status", gone_ok, parse_status, st);
}

int proc_read_status(pid_t pid, pid_t tid, struct proc_status *st)
{
	return read_status(pid, tid, st, false);
}

int proc_read_status_live(pid_t pid, pid_t tid, struct proc_status *st)
{
	return read_status(pid, tid, st, true);
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return x < y ? -1 : x > y;
}

static int list_dir_pids(const char *path, pid_t **out, int *n, bool gone_ok)
{
	DIR *d = opendir(path);
	if (!d) {
		int e = errno;
		if (gone_ok && e == ENOENT)
			return -ESRCH;
		pr_perror("can't open %s", path);
		return -e;
	}
	pid_t *v = NULL;
	int cnt = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			pid_t *nv = xrealloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = atoi(de->d_name);
	}
	closedir(d);
	if (cnt)
		xqsort(v, cnt, sizeof(*v), cmp_pid);
	*out = v;
	*n = cnt;
	return 0;
}

int proc_list_dir_pids(const char *path, pid_t **out, int *n)
{
	return list_dir_pids(path, out, n, false);
}

int proc_list_dir_pids_live(const char *path, pid_t **out, int *n)
{
	return list_dir_pids(path, out, n, true);
}

/* CRYO_TEST_SLOW_CHILDREN=USEC (tests only): read each children file a few
 * bytes at a time, sleeping USEC between reads.  The kernel then resumes
 * its walk of the list by position at each read, as it does past a page of
 * output or when cryo is preempted in the read: a race with children that
 * exit during the listing becomes likely enough to test. */
static ssize_t read_children_file(const char *path, char **out)
{
	static long slow_us = -1;
	if (slow_us < 0) {
		const char *e = getenv("CRYO_TEST_SLOW_CHILDREN");
		slow_us = e ? atol(e) : 0;
		if (slow_us > 0)
			pr_warn("CRYO_TEST_SLOW_CHILDREN: children lists read slowly (tests only)");
	}
	if (slow_us <= 0)
		return read_file(AT_FDCWD, path, out, true);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (ssize_t r;; len += r) {
		if (len + 16 > cap) {
			char *nb = xrealloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, 16);
		if (r < 0 && errno == EINTR) {
			r = 0;
			continue;
		}
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		usleep(slow_us);
	}
	close(fd);
	buf[len] = 0;
	*out = buf;
	return len;
}

int proc_list_children(pid_t pid, pid_t **out, int *n)
{
	char path[64];
	pid_t *tids, *kids = NULL;
	int ntids, nk = 0, cap = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	int ret = proc_list_dir_pids(path, &tids, &ntids);
	if (ret)
		return ret;
	for (int i = 0; i < ntids; i++) {
		char *text;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tids[i]);
		ssize_t len = read_children_file(path, &text);
		if (len == -ENOENT)
			continue;	/* thread exited meanwhile */
		if (len < 0) {
			pr_err("can't read %s: %s", path, strerror(-len));
			free(tids);
			free(kids);
			return len;
		}
		for (char *p = text; *p;) {
			char *end;
			long c = strtol(p, &end, 10);
			if (end == p)
				break;
			if (nk == cap) {
				cap = cap ? cap * 2 : 16;
				pid_t *nv = xrealloc(kids, cap * sizeof(*nv));
				if (!nv) {
					free(text);
					free(tids);
					free(kids);
					return -ENOMEM;
				}
				kids = nv;
			}
			kids[nk++] = c;
			p = end;
			while (*p == ' ')
				p++;
		}
		free(text);
	}
	free(tids);
	if (nk)
		xqsort(kids, nk, sizeof(*kids), cmp_pid);
	int u = 0;
	for (int i = 0; i < nk; i++)
		if (!u || kids[u - 1] != kids[i])
			kids[u++] = kids[i];
	*out = kids;
	*n = u;
	return 0;
}

int proc_parse_fdinfo_text(const char *text, struct proc_fdinfo *fi)
{
	memset(fi, 0, sizeof(*fi));
	bool got_pos = false, got_flags = false;
	for (const char *line = text; *line;) {
		if (!strncmp(line, "pos:", 4)) {
			fi->pos = strtoull(line + 4, NULL, 10);
			got_pos = true;
		} else if (!strncmp(line, "flags:", 6)) {
			fi->flags = strtoul(line + 6, NULL, 8);
			got_flags = true;
		} else if (!strncmp(line, "mnt_id:", 7))
			fi->mnt_id = atoi(line + 7);
		else if (!strncmp(line, "ino:", 4))
			fi->ino = strtoull(line + 4, NULL, 10);
		const char *nl = strchr(line, '\n');
		if (!nl)
			break;
		line = nl + 1;
	}
	return got_pos && got_flags ? 0 : -EINVAL;
}

static int stat_quiet(pid_t pid, struct proc_stat *st)
{
	char path[64], *text;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(AT_FDCWD, path, &text, true) < 0)
		return -ESRCH;
	int ret = proc_parse_stat_text(text, st);
	free(text);
	return ret;
}

/* The kernel's test for an orphaned process group (will_become_orphaned_pgrp):
 * no live member has a parent in another group of the same session.  A
 * terminal stop signal (SIGTSTP, SIGTTIN, SIGTTOU) sent to a member of such
 * a group is dropped. */
bool proc_pgrp_orphaned(pid_t pgid)
{
	pid_t *pids;
	int n;
	bool orphaned = true;
	if (proc_list_dir_pids("/proc", &pids, &n))
		return false;
	for (int i = 0; i < n && orphaned; i++) {
		struct proc_stat st, pst;
		if (stat_quiet(pids[i], &st) || st.pgid != pgid || st.state == 'Z' ||
		    st.state == 'X' || st.ppid <= 1 || stat_quiet(st.ppid, &pst))
			continue;
		if (pst.pgid != pgid && pst.sid == st.sid)
			orphaned = false;
	}
	free(pids);
	return orphaned;
}

/* ---- user namespace id maps -------------------------------------------- */

int proc_parse_idmap_text(const char *text, struct proc_idmap *m)
{
	m->n = 0;
	for (const char *p = text; *p;) {
		unsigned long long first, lower, count;
		int used = 0;
		const char *nl = strchr(p, '\n');
		if (sscanf(p, " %llu %llu %llu%n", &first, &lower, &count, &used) != 3 ||
		    (nl && p + used > nl) || m->n == PROC_IDMAP_MAX || !count ||
		    first + count > 1ULL << 32 || lower + count > 1ULL << 32)
			return -EINVAL;
		m->e[m->n++] = (struct proc_idmap_extent){ first, lower, count };
		p += used;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '\n')
			return -EINVAL;
		if (*p)
			p++;
	}
	return 0;
}

int proc_read_idmap(pid_t pid, const char *which, struct proc_idmap *m)
{
	char path[64], *text;
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, which);
	ssize_t n = read_file(AT_FDCWD, path, &text, false);
	if (n < 0)
		return n;
	int ret = proc_parse_idmap_text(text, m);
	if (ret)
		pr_err("can't parse %s: not lines of \"first lower count\"", path);
	free(text);
	return ret;
}

bool proc_idmap_inside(const struct proc_idmap *m, uint32_t lower, uint32_t *inside)
{
	for (int i = 0; i < m->n; i++)
		if (lower >= m->e[i].lower && lower - m->e[i].lower < m->e[i].count) {
			*inside = m->e[i].first + (lower - m->e[i].lower);
			return true;
		}
	return false;
}

bool proc_idmap_outside(const struct proc_idmap *m, uint32_t inside, uint32_t *lower)
{
	for (int i = 0; i < m->n; i++)
		if (inside >= m->e[i].first && inside - m->e[i].first < m->e[i].count) {
			*lower = m->e[i].lower + (inside - m->e[i].first);
			return true;
		}
	return false;
}
