/* cryo check / kerndat: run the real probes on this machine.
 *
 * Needs root (exit 77 otherwise).  Features that legitimately vary between
 * kernels and hosts are reported, not failed; what must hold everywhere
 * (cache consistency, name lookup, output contract, dirty-track coherence)
 * is checked strictly.  Where the kernel offers uffd WP_ASYNC and
 * PAGEMAP_SCAN, mem_dirty_track must resolve to that path.
 */
#include "cryo.h"
#include "kerndat/kerndat.h"
#include "util/log.h"
#include "util/util.h"
#include "../unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Kernel version as major*100+minor. */
static int kver(void)
{
	struct utsname u;
	int a = 0, b = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &a, &b) != 2)
		return 0;
	return a * 100 + b;
}

/* Run cryo_check in a child with stdout/stderr captured; returns its value
 * and the output in @out. */
static int run_check(struct cryo_opts *o, char *out, size_t len)
{
	int p[2], st;
	pid_t pid;
	size_t got = 0;

	if (pipe(p))
		return -999;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 1);
		dup2(p[1], 2);
		log_init(NULL, LOG_WARN);
		int r = cryo_check(o, NULL);
		fflush(stdout);
		_exit(r < 0 ? 200 : r);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], out + got, len - 1 - got);
		if (n <= 0)
			break;
		got += n;
		if (got >= len - 1)
			break;
	}
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
	static char out[65536];
	struct cryo_opts o;
	int fds_before, fds_after, r;

	if (geteuid() != 0) {
		printf("check: needs root, skipping\n");
		return 77;
	}
	log_init(NULL, LOG_WARN);

	/* lookup by criu names and aliases */
	CHECK_INT(kdat_lookup("mem_dirty_track"), KF_MEM_DIRTY_TRACK);
	CHECK_INT(kdat_lookup("uffd-noncoop"), KF_UFFD_NONCOOP);
	CHECK_INT(kdat_lookup("get_rseq_conf"), KF_PTRACE_RSEQ_CONF);
	CHECK_INT(kdat_lookup("ptrace_get_rseq_conf"), KF_PTRACE_RSEQ_CONF);
	CHECK_INT(kdat_lookup("network_lock_nftables"), KF_NFTABLES);
	CHECK_INT(kdat_lookup("no-such-feature"), -ENOENT);
	static const char *const criu_names[] = {
		"mnt_id", "mem_dirty_track", "aio_remap", "timerfd", "tun", "tun_ns", "userns",
		"fdinfo_lock", "seccomp_suspend", "seccomp_filters", "loginuid", "cgroupns", "autofs",
		"tcp_half_closed", "compat_cr", "uffd", "uffd-noncoop", "can_map_vdso", "sk_ns",
		"sk_unix_file", "net_diag_raw", "nsid", "link_nsid", "kcmp_epoll", "timens",
		"external_net_ns", "clone3_set_tid", "newifindex", "nftables", "has_ipt_legacy",
		"pidfd_store", "ns_pid", "apparmor_stacking", "network_lock_nftables",
		"sockopt_buf_lock", "memfd_hugetlb", "move_mount_set_group", "openat2", "get_rseq_conf",
	};
	for (size_t i = 0; i < sizeof(criu_names) / sizeof(criu_names[0]); i++) {
		if (kdat_lookup(criu_names[i]) < 0) {
			fprintf(stderr, "criu feature name %s unknown\n", criu_names[i]);
			CHECK(0);
		}
	}

	/* every probe runs, cleans up its fds and children */
	fds_before = count_fds();
	uint64_t t0 = now_ns();
	kdat_probe_all();
	uint64_t t1 = now_ns();
	fds_after = count_fds();
	CHECK_INT(fds_after, fds_before);
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);	/* no child left */
	printf("all probes: %.2f s\n", (t1 - t0) / 1e9);
	CHECK(t1 - t0 < 20ULL * 1000000000ULL);

	for (int f = 0; f < KF__MAX; f++) {
		const struct kdat_info *i = kdat_info(f);
		CHECK(i && i->name && i->descr && i->needed_by && i->hint);
		printf("  %-3s %-24s %s\n", kdat_has(f) ? "yes" : "no", i->name, kdat_detail(f));
	}
	CHECK(kdat_info(KF__MAX) == NULL);

	/* cache: second answers are identical and instant */
	uint64_t t2 = now_ns();
	for (int f = 0; f < KF__MAX; f++)
		(void)kdat_has(f);
	CHECK(now_ns() - t2 < 10000000ULL);

	/* must hold on any kernel cryo supports at all (>= 5.6) as root */
	if (kver() >= 506) {
		static const enum kdat_feature must[] = {
			KF_PTRACE_SEIZE, KF_PTRACE_PEEKSIGINFO, KF_PTRACE_SIGMASK, KF_MEM_ACCESS,
			KF_PIDFD_OPEN, KF_PIDFD_GETFD, KF_KCMP, KF_MEMFD, KF_CAP_SYS_ADMIN,
		};
		for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
			if (!kdat_has(must[i]))
				fprintf(stderr, "expected %s: %s\n", kdat_info(must[i])->name, kdat_detail(must[i]));
			CHECK(kdat_has(must[i]));
		}
	}
	/* things that vary: report */
	static const enum kdat_feature vary[] = {
		KF_CLONE3_SET_TID, KF_PR_SET_MM_MAP, KF_MAP_FILES, KF_UFFD, KF_UFFD_WP_ASYNC,
		KF_PAGEMAP_SCAN, KF_SOFT_DIRTY, KF_TCP_REPAIR, KF_TIMENS, KF_SOCK_DIAG_UNIX,
		KF_SOCK_DIAG_TCP, KF_TIMER_RESTORE_IDS,
	};
	for (size_t i = 0; i < sizeof(vary) / sizeof(vary[0]); i++)
		if (!kdat_has(vary[i]))
			printf("note: %s missing here: %s\n", kdat_info(vary[i])->name, kdat_detail(vary[i]));

	/* dirty tracking: coherent with its components, uffd preferred */
	enum kdat_dirty_track dt = kdat_dirty_track();
	printf("mem_dirty_track: %s\n", kdat_dirty_track_name(dt));
	CHECK_INT(kdat_has(KF_MEM_DIRTY_TRACK), dt != KDAT_DT_NONE);
	if (dt == KDAT_DT_SOFT_DIRTY)
		CHECK(kdat_has(KF_SOFT_DIRTY));
	if (kdat_has(KF_UFFD_WP_ASYNC) && kdat_has(KF_PAGEMAP_SCAN)) {
		CHECK_INT(dt, KDAT_DT_UFFD_WP_SCAN);
		CHECK_STR(kdat_dirty_track_name(dt), "uffd-wp async + PAGEMAP_SCAN");
	}
	if (!kdat_has(KF_SOFT_DIRTY) && !(kdat_has(KF_UFFD_WP_ASYNC) && kdat_has(KF_PAGEMAP_SCAN)))
		CHECK_INT(dt, KDAT_DT_NONE);
	/* soft-dirty is the fallback: never none where it works */
	if (kdat_has(KF_SOFT_DIRTY))
		CHECK(dt != KDAT_DT_NONE);

	/* kdat_require: 0 when present, -EOPNOTSUPP when not */
	CHECK_INT(kdat_require(KF_PTRACE_SEIZE, "test"), 0);
	CHECK_INT(kdat_require(KF_COMPAT_CR, "test"), -EOPNOTSUPP);

	/* kdat_reset re-probes to the same answers */
	bool seize = kdat_has(KF_PTRACE_SEIZE), pms = kdat_has(KF_PAGEMAP_SCAN);
	kdat_reset();
	CHECK_INT(kdat_has(KF_PTRACE_SEIZE), seize);
	CHECK_INT(kdat_has(KF_PAGEMAP_SCAN), pms);
	CHECK_INT(kdat_dirty_track(), dt);

	/* cryo_check output contract */
	memset(&o, 0, sizeof(o));	/* opts_init() lives in the options module */
	r = run_check(&o, out, sizeof(out));
	bool basics = true;
	for (int f = 0; f < KF__MAX; f++)
		if (kdat_info(f)->basic && !kdat_has(f))
			basics = false;
	if (basics) {
		CHECK_INT(r, 0);
		CHECK(strstr(out, "Looks good.\n") != NULL);
	} else {
		CHECK_INT(r, 1);
		CHECK(strstr(out, "Does not look good.") != NULL);
		printf("basic features missing here:\n%s", out);
	}

	o.check_feature = "mem_dirty_track";
	r = run_check(&o, out, sizeof(out));
	if (dt != KDAT_DT_NONE) {
		CHECK_INT(r, 0);
		CHECK(strstr(out, "mem_dirty_track is supported\n") != NULL);
		CHECK(strstr(out, kdat_dirty_track_name(dt)) != NULL);
	} else {
		CHECK(r != 0);
		CHECK(strstr(out, "mem_dirty_track is NOT supported") != NULL);
	}
	printf("--feature mem_dirty_track:\n%s", out);

	o.check_feature = "compat_cr";
	r = run_check(&o, out, sizeof(out));
	CHECK(r != 0);
	CHECK(strstr(out, "compat_cr is NOT supported") != NULL);

	o.check_feature = "bogus";
	r = run_check(&o, out, sizeof(out));
	CHECK_INT(r, 200);	/* negative return */

	o.check_feature = "list";
	r = run_check(&o, out, sizeof(out));
	CHECK_INT(r, 0);
	CHECK(strstr(out, "mem_dirty_track") && strstr(out, "clone3_set_tid"));

	o.check_feature = NULL;
	o.check_all = true;
	r = run_check(&o, out, sizeof(out));
	CHECK(r == 0 || r == 2 || (!basics && r == 1));
	CHECK(strstr(out, "mem_dirty_track") != NULL);
	int lines = 0;
	for (char *p = out; (p = strstr(p, "\n[")); p++)
		lines++;
	CHECK(lines >= KF__MAX - 1);

	return unit_done("check");
}
