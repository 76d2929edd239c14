/* Sample images: one of every kind cryo writes, with every CRIU-required
 * field set and values that exercise crit's special formats (hex, flags,
 * devices, IP addresses, socket states, unix names, payloads). */
#include "samples.h"

#include <string.h>
#include <sys/sysmacros.h>

#include "bpfmap-data.pb-c.h"
#include "cgroup.pb-c.h"
#include "core.pb-c.h"
#include "cpuinfo.pb-c.h"
#include "fdinfo.pb-c.h"
#include "file-lock.pb-c.h"
#include "fs.pb-c.h"
#include "ghost-file.pb-c.h"
#include "inventory.pb-c.h"
#include "ipc-msg.pb-c.h"
#include "ipc-sem.pb-c.h"
#include "ipc-shm.pb-c.h"
#include "ipc-var.pb-c.h"
#include "memfd.pb-c.h"
#include "mm.pb-c.h"
#include "mnt.pb-c.h"
#include "pagemap.pb-c.h"
#include "pidns.pb-c.h"
#include "pipe-data.pb-c.h"
#include "pstree.pb-c.h"
#include "remap-file-path.pb-c.h"
#include "seccomp.pb-c.h"
#include "sk-packet.pb-c.h"
#include "stats.pb-c.h"
#include "tcp-stream.pb-c.h"
#include "timens.pb-c.h"
#include "tty.pb-c.h"
#include "userns.pb-c.h"
#include "utsns.pb-c.h"

#define S(m, f, v) do { (m).has_##f = 1; (m).f = (v); } while (0)
#define REP(m, f, arr) do { (m).n_##f = sizeof(arr) / sizeof((arr)[0]); (m).f = (arr); } while (0)
#define M(x) ((const ProtobufCMessage *)&(x))

static struct sample all[64];
static size_t n_all;
static bool built;

static struct sample *add(enum img_type type, unsigned long id)
{
	struct sample *s = &all[n_all++];
	s->type = type;
	s->id = id;
	return s;
}

static void ent(struct sample *s, const ProtobufCMessage *m, const void *raw, size_t len)
{
	s->e[s->n].msg = m;
	s->e[s->n].raw = raw;
	s->e[s->n].raw_len = len;
	s->n++;
}

static FownEntry fown(void)
{
	FownEntry f = FOWN_ENTRY__INIT;
	S(f, uid, 1000); S(f, euid, 1000); S(f, signum, 0); S(f, pid_type, 0); S(f, pid, 0);
	return f;
}

static SkOptsEntry skopts(void)
{
	SkOptsEntry o = SK_OPTS_ENTRY__INIT;
	S(o, so_sndbuf, 212992); S(o, so_rcvbuf, 212992);
	S(o, so_snd_tmo_sec, 0); S(o, so_snd_tmo_usec, 0);
	S(o, so_rcv_tmo_sec, 0); S(o, so_rcv_tmo_usec, 0);
	S(o, reuseaddr, 1); S(o, so_keepalive, 0);
	return o;
}

/* ---- process tree, core, ids, mm, pagemap ---- */
static PstreeEntry pst[2];
static uint32_t threads0[] = { 100, 101 }, threads1[] = { 102 };
static TaskKobjIdsEntry ids, root_ids;
static InventoryEntry inv;

static UserX86RegsEntry gpregs;
static uint32_t st_space[32], xmm_space[64], ymmh[64];
static UserX86XsaveEntry xsave;
static UserX86FpregsEntry fpregs;
static UserDescT tls0;
static UserDescT *tls[] = { &tls0 };
static ThreadInfoX86 ti;
static ItimerEntry itv[3];
static PosixTimerEntry ptimer;
static PosixTimerEntry *ptimers[] = { &ptimer };
static TaskTimersEntry timers;
static RlimitEntry rl[3];
static RlimitEntry *rls[] = { &rl[0], &rl[1], &rl[2] };
static TaskRlimitsEntry rlimits;
static uint8_t siginfo_raw[128];
static SiginfoEntry sig0;
static SiginfoEntry *sigs[] = { &sig0 };
static SignalQueueEntry sq_s, sq_p;
static SaEntry sa[2];
static SaEntry *sas[] = { &sa[0], &sa[1] };
static TaskCoreEntry tc;
static ThreadSasEntry sas_e;
static uint32_t caps[] = { 0xffffffff, 0x1ff }, groups[] = { 4, 27, 1000 };
static CredsEntry creds;
static RseqEntry rseq;
static ThreadCoreEntry thc;
static CoreEntry core, core_thread;
static ThreadCoreEntry thc2;
static ThreadInfoX86 ti2;

static VmaEntry vma[3];
static VmaEntry *vmas[] = { &vma[0], &vma[1], &vma[2] };
static AioRingEntry aio;
static AioRingEntry *aios[] = { &aio };
static uint64_t auxv[] = { 33, 0x7ffd1000, 16, 0xbfebfbff, 0, 0 };
static MmEntry mm;

static PagemapHead pmh;
static PagemapEntry pme[3];
static uint8_t pages_raw[3 * 4096];

static void build_task(void)
{
	struct sample *s;

	pstree_entry__init(&pst[0]);
	S(pst[0], pid, 100); S(pst[0], ppid, 0); S(pst[0], pgid, 100); S(pst[0], sid, 1);
	REP(pst[0], threads, threads0);
	pstree_entry__init(&pst[1]);
	S(pst[1], pid, 102); S(pst[1], ppid, 100); S(pst[1], pgid, 100); S(pst[1], sid, 1);
	REP(pst[1], threads, threads1);
	s = add(IMG_PSTREE, 0);
	ent(s, M(pst[0]), NULL, 0);
	ent(s, M(pst[1]), NULL, 0);

	task_kobj_ids_entry__init(&ids);
	S(ids, vm_id, 1); S(ids, files_id, 2); S(ids, fs_id, 3); S(ids, sighand_id, 4);
	S(ids, pid_ns_id, 5); S(ids, net_ns_id, 6); S(ids, ipc_ns_id, 7); S(ids, uts_ns_id, 8);
	S(ids, mnt_ns_id, 9); S(ids, user_ns_id, 10); S(ids, cgroup_ns_id, 11);
	S(ids, time_ns_id, 12);
	ent(add(IMG_IDS, 100), M(ids), NULL, 0);

	user_x86_regs_entry__init(&gpregs);
	S(gpregs, r15, 15); S(gpregs, r14, 14); S(gpregs, r13, 13); S(gpregs, r12, 12);
	S(gpregs, bp, 0x7ffd0000); S(gpregs, bx, 1); S(gpregs, r11, 0x246); S(gpregs, r10, 8);
	S(gpregs, r9, 0); S(gpregs, r8, 0); S(gpregs, ax, 0xfffffffffffffe00ull);
	S(gpregs, cx, 0x7f0000001234); S(gpregs, dx, 0); S(gpregs, si, 0); S(gpregs, di, 0);
	S(gpregs, orig_ax, 230); S(gpregs, ip, 0x7f0000001234); S(gpregs, cs, 0x33);
	S(gpregs, flags, 0x246); S(gpregs, sp, 0x7ffd0000fff0); S(gpregs, ss, 0x2b);
	S(gpregs, fs_base, 0x7f0000100740); S(gpregs, gs_base, 0); S(gpregs, ds, 0);
	S(gpregs, es, 0); S(gpregs, fs, 0); S(gpregs, gs, 0);
	S(gpregs, mode, USER_X86_REGS_MODE__NATIVE);
	for (unsigned i = 0; i < 64; i++) {
		xmm_space[i] = i * 0x01010101u;
		ymmh[i] = ~i;
	}
	for (unsigned i = 0; i < 32; i++)
		st_space[i] = i;
	user_x86_xsave_entry__init(&xsave);
	S(xsave, xstate_bv, 7);
	REP(xsave, ymmh_space, ymmh);
	user_x86_fpregs_entry__init(&fpregs);
	S(fpregs, cwd, 0x37f); S(fpregs, swd, 0); S(fpregs, twd, 0); S(fpregs, fop, 0);
	S(fpregs, rip, 0); S(fpregs, rdp, 0); S(fpregs, mxcsr, 0x1f80);
	S(fpregs, mxcsr_mask, 0xffff);
	REP(fpregs, st_space, st_space);
	REP(fpregs, xmm_space, xmm_space);
	fpregs.xsave = &xsave;
	user_desc_t__init(&tls0);
	S(tls0, entry_number, 12); S(tls0, base_addr, 0); S(tls0, limit, 0xfffff);
	S(tls0, seg_32bit, 1); S(tls0, contents_h, 0); S(tls0, contents_l, 0);
	S(tls0, read_exec_only, 1); S(tls0, limit_in_pages, 1); S(tls0, seg_not_present, 1);
	S(tls0, usable, 0);
	thread_info_x86__init(&ti);
	S(ti, clear_tid_addr, 0x7f0000100a10);
	ti.gpregs = &gpregs;
	ti.fpregs = &fpregs;
	REP(ti, tls, tls);

	for (int i = 0; i < 3; i++) {
		itimer_entry__init(&itv[i]);
		S(itv[i], isec, i); S(itv[i], iusec, 500); S(itv[i], vsec, 0); S(itv[i], vusec, 0);
	}
	posix_timer_entry__init(&ptimer);
	S(ptimer, it_id, 0); S(ptimer, clock_id, 1); S(ptimer, si_signo, 14);
	S(ptimer, it_sigev_notify, 0); S(ptimer, sival_ptr, 0x55550000); S(ptimer, overrun, 0);
	S(ptimer, isec, 1); S(ptimer, insec, 0); S(ptimer, vsec, 0); S(ptimer, vnsec, 999);
	S(ptimer, notify_thread_id, -1);
	task_timers_entry__init(&timers);
	timers.real = &itv[0];
	timers.virt = &itv[1];
	timers.prof = &itv[2];
	REP(timers, posix, ptimers);
	for (int i = 0; i < 3; i++) {
		rlimit_entry__init(&rl[i]);
		S(rl[i], cur, i == 0 ? 8388608 : 1024);
		S(rl[i], max, i == 0 ? UINT64_MAX : 4096);
	}
	task_rlimits_entry__init(&rlimits);
	REP(rlimits, rlimits, rls);
	for (unsigned i = 0; i < sizeof(siginfo_raw); i++)
		siginfo_raw[i] = i * 7;
	siginfo_entry__init(&sig0);
	S(sig0, siginfo, ((ProtobufCBinaryData){ sizeof(siginfo_raw), siginfo_raw }));
	signal_queue_entry__init(&sq_s);
	REP(sq_s, signals, sigs);
	signal_queue_entry__init(&sq_p);
	for (int i = 0; i < 2; i++) {
		sa_entry__init(&sa[i]);
		S(sa[i], sigaction, i ? 0x5555000 : 1); S(sa[i], flags, 0x4000000);
		S(sa[i], restorer, 0x7f0000020000); S(sa[i], mask, 1ull << 13);
		S(sa[i], compat_sigaction, 0);
		S(sa[i], mask_extended, 0);
	}

	task_core_entry__init(&tc);
	S(tc, task_state, 1); S(tc, exit_code, 0); S(tc, personality, 0);
	S(tc, flags, 0x400040); S(tc, blk_sigset, 0x10000);
	tc.comm = "sample \"proc\"";
	tc.timers = &timers;
	tc.rlimits = &rlimits;
	S(tc, cg_set, 1);
	tc.signals_s = &sq_s;
	S(tc, old_seccomp_mode, SECCOMP_MODE__disabled);
	S(tc, loginuid, 4294967295u);
	S(tc, oom_score_adj, -500);
	REP(tc, sigactions, sas);
	S(tc, child_subreaper, 0);
	S(tc, blk_sigset_extended, 0);

	thread_sas_entry__init(&sas_e);
	S(sas_e, ss_sp, 0); S(sas_e, ss_size, 0); S(sas_e, ss_flags, 2);
	creds_entry__init(&creds);
	S(creds, uid, 1000); S(creds, gid, 1000); S(creds, euid, 1000); S(creds, egid, 1000);
	S(creds, suid, 1000); S(creds, sgid, 1000); S(creds, fsuid, 1000); S(creds, fsgid, 1000);
	REP(creds, cap_inh, caps); REP(creds, cap_prm, caps); REP(creds, cap_eff, caps);
	REP(creds, cap_bnd, caps);
	S(creds, secbits, 0);
	REP(creds, groups, groups);
	creds.lsm_profile = "unconfined";
	rseq_entry__init(&rseq);
	S(rseq, rseq_abi_pointer, 0x7f0000100fe0); S(rseq, rseq_abi_size, 32);
	S(rseq, signature, 0x53053053); S(rseq, rseq_cs_pointer, 0);
	thread_core_entry__init(&thc);
	S(thc, futex_rla, 0x7f0000100a20); S(thc, futex_rla_len, 24);
	S(thc, sched_nice, -5); S(thc, sched_policy, 0); S(thc, sched_prio, 0);
	S(thc, blk_sigset, 0);
	thc.sas = &sas_e;
	S(thc, pdeath_sig, 9);
	thc.signals_p = &sq_p;
	thc.creds = &creds;
	S(thc, seccomp_mode, SECCOMP_MODE__filter);
	S(thc, seccomp_filter, 1);
	thc.comm = "main";
	S(thc, blk_sigset_extended, 0);
	thc.rseq_entry = &rseq;

	core_entry__init(&core);
	S(core, mtype, CORE_ENTRY__MARCH__X86_64);
	core.thread_info = &ti;
	core.tc = &tc;
	core.thread_core = &thc;
	ent(add(IMG_CORE, 100), M(core), NULL, 0);

	/* A non-leader thread: no task part; non-ASCII comm. */
	thread_core_entry__init(&thc2);
	S(thc2, futex_rla, 0); S(thc2, futex_rla_len, 0);
	thc2.comm = "w\xc3\xb6rker-\xe2\x82\xac";
	thread_info_x86__init(&ti2);
	S(ti2, clear_tid_addr, 0);
	ti2.gpregs = &gpregs;
	ti2.fpregs = &fpregs;
	core_entry__init(&core_thread);
	S(core_thread, mtype, CORE_ENTRY__MARCH__X86_64);
	core_thread.thread_info = &ti2;
	core_thread.thread_core = &thc2;
	ent(add(IMG_CORE, 101), M(core_thread), NULL, 0);

	for (int i = 0; i < 3; i++)
		vma_entry__init(&vma[i]);
	S(vma[0], start, 0x400000); S(vma[0], end, 0x401000); S(vma[0], pgoff, 0);
	S(vma[0], shmid, 7); S(vma[0], prot, 5); S(vma[0], flags, 2); S(vma[0], status, 0x41);
	S(vma[0], fd, -1);
	S(vma[1], start, 0x7ffd0000); S(vma[1], end, 0x7ffd2000); S(vma[1], pgoff, 0);
	S(vma[1], shmid, 0); S(vma[1], prot, 3); S(vma[1], flags, 0x122); S(vma[1], status, 0x203);
	S(vma[1], fd, -1); S(vma[1], madv, 0x10000); S(vma[1], fdflags, 0);
	S(vma[2], start, 0x7f0000000000); S(vma[2], end, 0x7f0000001000); S(vma[2], pgoff, 4096);
	S(vma[2], shmid, 3); S(vma[2], prot, 0); S(vma[2], flags, 0x80000001u);
	S(vma[2], status, 0x80000000u | (1 << 4)); S(vma[2], fd, 3);
	aio_ring_entry__init(&aio);
	S(aio, id, 0x7f0000200000); S(aio, nr_req, 128); S(aio, ring_len, 4096);
	mm_entry__init(&mm);
	S(mm, mm_start_code, 0x400000); S(mm, mm_end_code, 0x401000);
	S(mm, mm_start_data, 0x600000); S(mm, mm_end_data, 0x601000);
	S(mm, mm_start_stack, 0x7ffd1000); S(mm, mm_start_brk, 0x602000); S(mm, mm_brk, 0x623000);
	S(mm, mm_arg_start, 0x7ffd1100); S(mm, mm_arg_end, 0x7ffd1200);
	S(mm, mm_env_start, 0x7ffd1200); S(mm, mm_env_end, 0x7ffd1fe0);
	S(mm, exe_file_id, 9);
	REP(mm, mm_saved_auxv, auxv);
	REP(mm, vmas, vmas);
	S(mm, dumpable, 1);
	REP(mm, aios, aios);
	S(mm, thp_disabled, 0);
	ent(add(IMG_MM, 100), M(mm), NULL, 0);

	pagemap_head__init(&pmh);
	S(pmh, pages_id, 1);
	for (int i = 0; i < 3; i++)
		pagemap_entry__init(&pme[i]);
	S(pme[0], vaddr, 0x400000); S(pme[0], nr_pages, 1); S(pme[0], flags, 4);
	S(pme[1], vaddr, 0x7ffd0000); S(pme[1], nr_pages, 2); S(pme[1], flags, 4 | 2 | 0x40);
	S(pme[2], vaddr, 0x600000); S(pme[2], nr_pages, 16); S(pme[2], in_parent, 1);
	S(pme[2], flags, 1);
	s = add(IMG_PAGEMAP, 100);
	ent(s, M(pmh), NULL, 0);
	for (int i = 0; i < 3; i++)
		ent(s, M(pme[i]), NULL, 0);
	s = add(IMG_SHMEM_PAGEMAP, 3);
	ent(s, M(pmh), NULL, 0);
	ent(s, M(pme[0]), NULL, 0);
	for (unsigned i = 0; i < sizeof(pages_raw); i++)
		pages_raw[i] = i ^ (i >> 8);
	ent(add(IMG_PAGES, 1), NULL, pages_raw, sizeof(pages_raw));

	task_kobj_ids_entry__init(&root_ids);
	S(root_ids, vm_id, 1); S(root_ids, files_id, 2); S(root_ids, fs_id, 3);
	S(root_ids, sighand_id, 4); S(root_ids, pid_ns_id, 5);
	inventory_entry__init(&inv);
	S(inv, img_version, 2); S(inv, fdinfo_per_id, 1);
	inv.root_ids = &root_ids;
	S(inv, ns_per_id, 1); S(inv, root_cg_set, 1); S(inv, lsmtype, LSMTYPE__NO_LSM);
	S(inv, dump_uptime, 123456789012ull); S(inv, pre_dump_mode, 1);
	S(inv, tcp_close, 0); S(inv, network_lock_method, 1);
}

/* ---- files ---- */
static FownEntry fowns[24];
static FileEntry fe[24];
static RegFileEntry reg, reg_dir;
static PipeEntry pipe_e;
static FifoEntry fifo_e;
static SkOptsEntry opts[4];
static UnixSkEntry usk;
static FilePermsEntry usk_perms;
static uint8_t usk_name[] = { 0, 'a', 'b', '=', ' ', 0xff, 'x' };
static InetSkEntry isk4, isk6;
static uint32_t ip4_src[] = { 0x0100007f }, ip4_dst[] = { 0x0a02000a };
static uint32_t ip6_src[] = { 0, 0, 0, 0x01000000 };
static uint32_t ip6_dst[] = { 0x000db820, 0, 0x00ff0000, 0x01000000 };
static IpOptsEntry ipopts;
static uint64_t bpf_insns[] = { 0x0000000000000006ull, 0xffff000000000006ull };
static EventfdFileEntry efd;
static EventpollTfdEntry tfd[2];
static EventpollTfdEntry *tfds[] = { &tfd[0], &tfd[1] };
static EventpollFileEntry epfd;
static SignalfdEntry sgfd;
static TimerfdEntry tmfd;
static uint64_t handle[] = { 0x1234, 0x5678 };
static FhEntry fh[2];
static InotifyWdEntry iwd;
static InotifyWdEntry *iwds[] = { &iwd };
static InotifyFileEntry ify;
static FanotifyInodeMarkEntry fie;
static FanotifyMountMarkEntry fme;
static FanotifyMarkEntry fmark[2];
static FanotifyMarkEntry *fmarks[] = { &fmark[0], &fmark[1] };
static FanotifyFileEntry ffy;
static TtyFileEntry ttyf;
static MemfdFileEntry mfd;
static NsFileEntry nsf;
static PacketSockEntry psk;
static NetlinkSkEntry nlsk;
static uint32_t nl_groups[] = { 1, 0x10 };
static FdinfoEntry fdi[4];
static BpfmapFileEntry bpf_e;

static void build_files(void)
{
	struct sample *files = add(IMG_FILES, 0), *fdinfo = add(IMG_FDINFO, 2);
	int k = 0;

	for (int i = 0; i < 24; i++) {
		fowns[i] = fown();
		file_entry__init(&fe[i]);
	}
	for (int i = 0; i < 4; i++)
		opts[i] = skopts();

	reg_file_entry__init(&reg);
	S(reg, id, 1); S(reg, flags, 02100002); S(reg, pos, 4096);
	reg.fown = &fowns[0];
	reg.name = "/tmp/a file\twith \\ and \x01";
	S(reg, mnt_id, 22); S(reg, size, 8192); S(reg, mode, 0100644);
	S(fe[k], type, FD_TYPES__REG); S(fe[k], id, 1); fe[k].reg = &reg; k++;

	reg_file_entry__init(&reg_dir);
	S(reg_dir, id, 9); S(reg_dir, flags, 0200000 | 0x10000000); S(reg_dir, pos, 0);
	reg_dir.fown = &fowns[1];
	reg_dir.name = "/";
	S(fe[k], type, FD_TYPES__REG); S(fe[k], id, 9); fe[k].reg = &reg_dir; k++;

	pipe_entry__init(&pipe_e);
	S(pipe_e, id, 2); S(pipe_e, pipe_id, 777); S(pipe_e, flags, 04000);
	pipe_e.fown = &fowns[2];
	S(fe[k], type, FD_TYPES__PIPE); S(fe[k], id, 2); fe[k].pipe = &pipe_e; k++;

	fifo_entry__init(&fifo_e);
	S(fifo_e, id, 3); S(fifo_e, pipe_id, 778); S(fifo_e, regf_id, 4);
	S(fe[k], type, FD_TYPES__FIFO); S(fe[k], id, 3); fe[k].fifo = &fifo_e; k++;

	unix_sk_entry__init(&usk);
	S(usk, id, 5); S(usk, ino, 31337); S(usk, type, 1); S(usk, state, 10);
	S(usk, flags, 04000); S(usk, uflags, 0); S(usk, backlog, 128); S(usk, peer, 0);
	usk.fown = &fowns[3];
	usk.opts = &opts[0];
	S(usk, name, ((ProtobufCBinaryData){ sizeof(usk_name), usk_name }));
	S(usk, shutdown, SK_SHUTDOWN__NONE);
	file_perms_entry__init(&usk_perms);
	S(usk_perms, mode, 0777); S(usk_perms, uid, 0); S(usk_perms, gid, 0);
	usk.file_perms = &usk_perms;
	S(usk, mnt_id, -1);
	S(fe[k], type, FD_TYPES__UNIXSK); S(fe[k], id, 5); fe[k].usk = &usk; k++;

	ip_opts_entry__init(&ipopts);
	S(ipopts, freebind, 1);
	opts[1].n_so_filter = 2;
	opts[1].so_filter = bpf_insns;
	inet_sk_entry__init(&isk4);
	S(isk4, id, 6); S(isk4, ino, 4242); S(isk4, family, 2); S(isk4, type, 1);
	S(isk4, proto, 6); S(isk4, state, 1); S(isk4, src_port, 8080); S(isk4, dst_port, 40000);
	S(isk4, flags, 0x802); S(isk4, backlog, 0);
	REP(isk4, src_addr, ip4_src); REP(isk4, dst_addr, ip4_dst);
	isk4.fown = &fowns[4];
	isk4.opts = &opts[1];
	isk4.ip_opts = &ipopts;
	S(isk4, shutdown, SK_SHUTDOWN__BOTH);
	S(fe[k], type, FD_TYPES__INETSK); S(fe[k], id, 6); fe[k].isk = &isk4; k++;

	inet_sk_entry__init(&isk6);
	S(isk6, id, 7); S(isk6, ino, 4243); S(isk6, family, 10); S(isk6, type, 2);
	S(isk6, proto, 17); S(isk6, state, 7); S(isk6, src_port, 53); S(isk6, dst_port, 0);
	S(isk6, flags, 0); S(isk6, backlog, 0);
	REP(isk6, src_addr, ip6_src); REP(isk6, dst_addr, ip6_dst);
	isk6.fown = &fowns[5];
	isk6.opts = &opts[2];
	S(isk6, v6only, 1);
	isk6.ifname = "eth0";
	S(fe[k], type, FD_TYPES__INETSK); S(fe[k], id, 7); fe[k].isk = &isk6; k++;

	eventfd_file_entry__init(&efd);
	S(efd, id, 8); S(efd, flags, 02004002); S(efd, counter, 42);
	efd.fown = &fowns[6];
	S(fe[k], type, FD_TYPES__EVENTFD); S(fe[k], id, 8); fe[k].efd = &efd; k++;

	for (int i = 0; i < 2; i++) {
		eventpoll_tfd_entry__init(&tfd[i]);
		S(tfd[i], id, 10); S(tfd[i], tfd, 3 + i); S(tfd[i], events, 0x19);
		S(tfd[i], data, 0xdeadbeefcafeull + i);
	}
	S(tfd[1], dev, 0x800001); S(tfd[1], inode, 99); S(tfd[1], pos, 0);
	eventpoll_file_entry__init(&epfd);
	S(epfd, id, 10); S(epfd, flags, 02);
	epfd.fown = &fowns[7];
	REP(epfd, tfd, tfds);
	S(fe[k], type, FD_TYPES__EVENTPOLL); S(fe[k], id, 10); fe[k].epfd = &epfd; k++;

	signalfd_entry__init(&sgfd);
	S(sgfd, id, 11); S(sgfd, flags, 04002); S(sgfd, sigmask, 0x4002);
	sgfd.fown = &fowns[8];
	S(fe[k], type, FD_TYPES__SIGNALFD); S(fe[k], id, 11); fe[k].sgfd = &sgfd; k++;

	timerfd_entry__init(&tmfd);
	S(tmfd, id, 12); S(tmfd, flags, 02); S(tmfd, clockid, 1); S(tmfd, ticks, 3);
	S(tmfd, settime_flags, 1); S(tmfd, vsec, 1); S(tmfd, vnsec, 0); S(tmfd, isec, 5);
	S(tmfd, insec, 500);
	tmfd.fown = &fowns[9];
	S(fe[k], type, FD_TYPES__TIMERFD); S(fe[k], id, 12); fe[k].tfd = &tmfd; k++;

	for (int i = 0; i < 2; i++) {
		fh_entry__init(&fh[i]);
		S(fh[i], bytes, 8); S(fh[i], type, 1);
		REP(fh[i], handle, handle);
	}
	fh[1].path = "/etc";
	inotify_wd_entry__init(&iwd);
	S(iwd, id, 13); S(iwd, i_ino, 1234); S(iwd, mask, 0x800003ff); S(iwd, ignored_mask, 0);
	S(iwd, s_dev, (8 << 20) | 1); S(iwd, wd, 1);
	iwd.f_handle = &fh[0];
	inotify_file_entry__init(&ify);
	S(ify, id, 13); S(ify, flags, 04000);
	ify.fown = &fowns[10];
	REP(ify, wd, iwds);
	S(fe[k], type, FD_TYPES__INOTIFY); S(fe[k], id, 13); fe[k].ify = &ify; k++;

	fanotify_inode_mark_entry__init(&fie);
	S(fie, i_ino, 77);
	fie.f_handle = &fh[1];
	fanotify_mount_mark_entry__init(&fme);
	S(fme, mnt_id, 30);
	fme.path = "/mnt";
	for (int i = 0; i < 2; i++) {
		fanotify_mark_entry__init(&fmark[i]);
		S(fmark[i], id, 14); S(fmark[i], mflags, 0x1); S(fmark[i], mask, 0x8);
		S(fmark[i], ignored_mask, 0); S(fmark[i], s_dev, (253 << 20) | 3);
	}
	S(fmark[0], type, MARK_TYPE__INODE);
	fmark[0].ie = &fie;
	S(fmark[1], type, MARK_TYPE__MOUNT);
	fmark[1].me = &fme;
	fanotify_file_entry__init(&ffy);
	S(ffy, id, 14); S(ffy, flags, 0); S(ffy, faflags, 0x10); S(ffy, evflags, 0);
	ffy.fown = &fowns[11];
	REP(ffy, mark, fmarks);
	S(fe[k], type, FD_TYPES__FANOTIFY); S(fe[k], id, 14); fe[k].ffy = &ffy; k++;

	tty_file_entry__init(&ttyf);
	S(ttyf, id, 15); S(ttyf, tty_info_id, 1); S(ttyf, flags, 0102); S(ttyf, regf_id, 16);
	ttyf.fown = &fowns[12];
	S(fe[k], type, FD_TYPES__TTY); S(fe[k], id, 15); fe[k].tty = &ttyf; k++;

	memfd_file_entry__init(&mfd);
	S(mfd, id, 17); S(mfd, flags, 02000002); S(mfd, pos, 10); S(mfd, inode_id, 1);
	mfd.fown = &fowns[13];
	S(fe[k], type, FD_TYPES__MEMFD); S(fe[k], id, 17); fe[k].memfd = &mfd; k++;

	ns_file_entry__init(&nsf);
	S(nsf, id, 18); S(nsf, ns_id, 5); S(nsf, ns_cflag, 0x20000000); S(nsf, flags, 0);
	S(fe[k], type, FD_TYPES__NS); S(fe[k], id, 18); fe[k].nsf = &nsf; k++;

	packet_sock_entry__init(&psk);
	S(psk, id, 19); S(psk, type, 3); S(psk, protocol, 0x300); S(psk, flags, 2);
	S(psk, ifindex, 1); S(psk, version, 0); S(psk, reserve, 0); S(psk, aux_data, 0);
	S(psk, orig_dev, 0); S(psk, vnet_hdr, 0); S(psk, loss, 0); S(psk, timestamp, 0);
	S(psk, copy_thresh, 0);
	psk.fown = &fowns[14];
	psk.opts = &opts[3];
	S(fe[k], type, FD_TYPES__PACKETSK); S(fe[k], id, 19); fe[k].psk = &psk; k++;

	netlink_sk_entry__init(&nlsk);
	S(nlsk, id, 20); S(nlsk, ino, 555); S(nlsk, protocol, 0); S(nlsk, state, 0);
	S(nlsk, flags, 02); S(nlsk, portid, 100); S(nlsk, dst_portid, 0); S(nlsk, dst_group, 0);
	REP(nlsk, groups, nl_groups);
	nlsk.fown = &fowns[15];
	nlsk.opts = &opts[0];
	S(fe[k], type, FD_TYPES__NETLINKSK); S(fe[k], id, 20); fe[k].nlsk = &nlsk; k++;

	bpfmap_file_entry__init(&bpf_e);
	S(bpf_e, id, 21); S(bpf_e, flags, 0); S(bpf_e, pos, 0); S(bpf_e, map_type, 1);
	S(bpf_e, key_size, 4); S(bpf_e, value_size, 8); S(bpf_e, map_id, 33);
	S(bpf_e, max_entries, 64); S(bpf_e, map_flags, 1); S(bpf_e, memlock, 4800);
	S(bpf_e, frozen, 1); S(bpf_e, ifindex, 0); S(bpf_e, map_extra, 0);
	bpf_e.map_name = "cryo_hash";
	bpf_e.fown = &fowns[16];
	S(fe[k], type, FD_TYPES__BPFMAP); S(fe[k], id, 21); fe[k].bpf = &bpf_e; k++;

	for (int i = 0; i < k; i++)
		ent(files, M(fe[i]), NULL, 0);

	for (int i = 0; i < 4; i++) {
		fdinfo_entry__init(&fdi[i]);
		S(fdi[i], id, i + 1); S(fdi[i], flags, i == 1); S(fdi[i], fd, i);
		S(fdi[i], type, i == 1 ? FD_TYPES__PIPE : FD_TYPES__REG);
		ent(fdinfo, M(fdi[i]), NULL, 0);
	}
}

/* ---- everything else ---- */
static FsEntry fs;
static DumpStatsEntry dstats;
static RestoreStatsEntry rstats;
static StatsEntry st_dump, st_restore;
static uint8_t filt0[16] = { 6, 0, 0, 0, 0, 0, 0xff, 0x7f }, filt1[8] = { 6, 0, 0, 0, 0, 0, 5, 0 };
static SeccompFilter sf[2];
static SeccompFilter *sfs[] = { &sf[0], &sf[1] };
static SeccompEntry secc;
static TermiosEntry tio;
static uint32_t c_cc[19] = { 3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22 };
static WinsizeEntry ws;
static TtyPtyEntry ttypty;
static TtyInfoEntry ttyi;
static uint8_t tty_bytes[] = "echo hi\r";
static TtyDataEntry ttyd;
static PipeDataEntry pd[2], fd_e;
static BpfmapDataEntry bpfd;
/* two u32 keys, then two u64 values */
static uint8_t bpf_bytes[24] = { 3, 0, 0, 0, 10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static uint8_t pipe_bytes[300], fifo_bytes[] = "fifo!";
static SkPacketEntry skq[2];
static uint32_t rights[] = { 5, 6 };
static ScmEntry scm;
static ScmEntry *scms[] = { &scm };
static uint8_t skq_bytes[] = "hello over a unix socket";
static TcpStreamEntry tcp;
static uint8_t tcp_bytes[] = "GET / HTTP/1.0\r\n\r\nHTTP/1.0 200 OK\r\n";
static GhostFileEntry ghost, ghost_ch;
static Timeval atim, mtim;
static uint8_t ghost_bytes[] = "deleted but open";
static GhostChunkEntry gch[2];
static FileLockEntry fl[2];
static RemapFilePathEntry remap;
static uint32_t capab[] = { 0xbfebfbff, 0x7ffafbff, 0, 0x2c100800 };
static CpuinfoX86Entry cpux;
static CpuinfoX86Entry *cpuxs[] = { &cpux };
static CpuinfoEntry cpu;
static MemfdInodeEntry mino;
static UtsnsEntry uts;
static uint32_t sem_ctls[] = { 32000, 1024000000, 500, 32000 };
static IpcVarEntry ipcv;
static IpcDescEntry idesc[3];
static IpcShmEntry shm;
static uint8_t shm_data[13 + 3] = "shared memory";
static IpcSemEntry sem;
static uint16_t sem_vals[3 + 1] = { 1, 2, 65535, 0 };
static IpcMsgEntry msgq;
static IpcMsg msg[2];
static uint8_t msg_buf[64];
static size_t msg_len;
static PidnsEntry pidns;
static Timespec mono, boot;
static TimensEntry timens;
static UidGidExtent ext[2];
static UidGidExtent *exts[] = { &ext[0], &ext[1] };
static UsernsEntry userns;
static MntEntry mnt[2];
static CgroupPerms cperm;
static CgroupPropEntry cprop;
static CgroupPropEntry *cprops[] = { &cprop };
static CgroupDirEntry cdir_child, cdir;
static CgroupDirEntry *cdir_children[] = { &cdir_child }, *cdirs[] = { &cdir };
static char *cnames[] = { "cpu", "cpuacct" };
static CgControllerEntry cctl;
static CgControllerEntry *cctls[] = { &cctl };
static CgMemberEntry cmem;
static CgMemberEntry *cmems[] = { &cmem };
static CgSetEntry cset;
static CgSetEntry *csets[] = { &cset };
static CgroupEntry cg;

static void build_misc(void)
{
	struct sample *s;

	fs_entry__init(&fs);
	S(fs, cwd_id, 9); S(fs, root_id, 9); S(fs, umask, 022);
	ent(add(IMG_FS, 100), M(fs), NULL, 0);

	dump_stats_entry__init(&dstats);
	S(dstats, freezing_time, 1500); S(dstats, frozen_time, 40000); S(dstats, memdump_time, 2000);
	S(dstats, memwrite_time, 3000); S(dstats, pages_scanned, 1000);
	S(dstats, pages_skipped_parent, 0); S(dstats, pages_written, 900); S(dstats, pages_lazy, 0);
	S(dstats, page_pipes, 2); S(dstats, page_pipe_bufs, 4);
	stats_entry__init(&st_dump);
	st_dump.dump = &dstats;
	ent(add(IMG_STATS_DUMP, 0), M(st_dump), NULL, 0);
	restore_stats_entry__init(&rstats);
	S(rstats, pages_compared, 0); S(rstats, pages_skipped_cow, 0); S(rstats, forking_time, 300);
	S(rstats, restore_time, 5000); S(rstats, pages_restored, 900);
	stats_entry__init(&st_restore);
	st_restore.restore = &rstats;
	ent(add(IMG_STATS_RESTORE, 0), M(st_restore), NULL, 0);

	for (int i = 0; i < 2; i++)
		seccomp_filter__init(&sf[i]);
	S(sf[0], filter, ((ProtobufCBinaryData){ sizeof(filt0), filt0 }));
	S(sf[1], filter, ((ProtobufCBinaryData){ sizeof(filt1), filt1 }));
	S(sf[1], prev, 0); S(sf[1], flags, 1);
	seccomp_entry__init(&secc);
	REP(secc, seccomp_filters, sfs);
	ent(add(IMG_SECCOMP, 0), M(secc), NULL, 0);

	termios_entry__init(&tio);
	S(tio, c_iflag, 0x500); S(tio, c_oflag, 5); S(tio, c_cflag, 0xbf); S(tio, c_lflag, 0x8a3b);
	S(tio, c_line, 0); S(tio, c_ispeed, 15); S(tio, c_ospeed, 15);
	REP(tio, c_cc, c_cc);
	winsize_entry__init(&ws);
	S(ws, ws_row, 24); S(ws, ws_col, 80); S(ws, ws_xpixel, 0); S(ws, ws_ypixel, 0);
	tty_pty_entry__init(&ttypty);
	S(ttypty, index, 3);
	tty_info_entry__init(&ttyi);
	S(ttyi, id, 1); S(ttyi, type, TTY_TYPE__PTY); S(ttyi, locked, 0); S(ttyi, exclusive, 0);
	S(ttyi, packet_mode, 0); S(ttyi, sid, 100); S(ttyi, pgrp, 100);
	S(ttyi, rdev, (136 << 8) | 3);
	ttyi.termios = &tio;
	ttyi.termios_locked = &tio;
	ttyi.winsize = &ws;
	ttyi.pty = &ttypty;
	S(ttyi, dev, 0x16); S(ttyi, uid, 1000); S(ttyi, gid, 5);
	ent(add(IMG_TTY_INFO, 0), M(ttyi), NULL, 0);
	tty_data_entry__init(&ttyd);
	S(ttyd, tty_id, 1);
	S(ttyd, data, ((ProtobufCBinaryData){ sizeof(tty_bytes) - 1, tty_bytes }));
	ent(add(IMG_TTY_DATA, 0), M(ttyd), NULL, 0);

	for (unsigned i = 0; i < sizeof(pipe_bytes); i++)
		pipe_bytes[i] = 'a' + i % 26;
	s = add(IMG_PIPES_DATA, 0);
	pipe_data_entry__init(&pd[0]);
	S(pd[0], pipe_id, 777); S(pd[0], bytes, sizeof(pipe_bytes)); S(pd[0], size, 65536);
	ent(s, M(pd[0]), pipe_bytes, sizeof(pipe_bytes));
	pipe_data_entry__init(&pd[1]);
	S(pd[1], pipe_id, 779); S(pd[1], bytes, 0);
	ent(s, M(pd[1]), NULL, 0);
	pipe_data_entry__init(&fd_e);
	S(fd_e, pipe_id, 778); S(fd_e, bytes, sizeof(fifo_bytes) - 1);
	ent(add(IMG_FIFO_DATA, 0), M(fd_e), fifo_bytes, sizeof(fifo_bytes) - 1);

	bpfmap_data_entry__init(&bpfd);
	S(bpfd, map_id, 33); S(bpfd, keys_bytes, 8); S(bpfd, values_bytes, 16); S(bpfd, count, 2);
	ent(add(IMG_BPFMAP_DATA, 0), M(bpfd), bpf_bytes, sizeof(bpf_bytes));

	s = add(IMG_SK_QUEUES, 0);
	scm_entry__init(&scm);
	S(scm, type, 1);
	REP(scm, rights, rights);
	for (int i = 0; i < 2; i++)
		sk_packet_entry__init(&skq[i]);
	S(skq[0], id_for, 5); S(skq[0], length, sizeof(skq_bytes) - 1);
	REP(skq[0], scm, scms);
	ent(s, M(skq[0]), skq_bytes, sizeof(skq_bytes) - 1);
	S(skq[1], id_for, 5); S(skq[1], length, 5);
	ent(s, M(skq[1]), skq_bytes, 5);

	tcp_stream_entry__init(&tcp);
	S(tcp, inq_len, 18); S(tcp, inq_seq, 0x12345678); S(tcp, outq_len, sizeof(tcp_bytes) - 1 - 18);
	S(tcp, outq_seq, 0x9abcdef0); S(tcp, opt_mask, 0x7); S(tcp, snd_wscale, 7);
	S(tcp, mss_clamp, 65483); S(tcp, rcv_wscale, 7); S(tcp, timestamp, 100000);
	S(tcp, cork, 0); S(tcp, nodelay, 1); S(tcp, unsq_len, 0); S(tcp, snd_wl1, 1);
	S(tcp, snd_wnd, 65536); S(tcp, max_window, 65536); S(tcp, rcv_wnd, 65536);
	S(tcp, rcv_wup, 1);
	ent(add(IMG_TCP_STREAM, 0x10f2), M(tcp), tcp_bytes, sizeof(tcp_bytes) - 1);

	timeval__init(&atim);
	S(atim, tv_sec, 1700000000); S(atim, tv_usec, 1);
	timeval__init(&mtim);
	S(mtim, tv_sec, 1700000001); S(mtim, tv_usec, 2);
	ghost_file_entry__init(&ghost);
	S(ghost, uid, 0); S(ghost, gid, 0); S(ghost, mode, 0100600);
	S(ghost, dev, (8 << 20) | 2); S(ghost, ino, 4444);
	ghost.atim = &atim;
	ghost.mtim = &mtim;
	S(ghost, size, sizeof(ghost_bytes) - 1);
	ent(add(IMG_GHOST_FILE, 0x1f), M(ghost), ghost_bytes, sizeof(ghost_bytes) - 1);
	ghost_file_entry__init(&ghost_ch);
	S(ghost_ch, uid, 0); S(ghost_ch, gid, 0); S(ghost_ch, mode, 020644);
	S(ghost_ch, rdev, makedev(1, 3)); S(ghost_ch, chunks, 1); S(ghost_ch, size, 1 << 20);
	s = add(IMG_GHOST_FILE, 0x20);
	ent(s, M(ghost_ch), NULL, 0);
	for (int i = 0; i < 2; i++) {
		ghost_chunk_entry__init(&gch[i]);
		S(gch[i], len, 4 + i); S(gch[i], off, i * 65536);
		ent(s, M(gch[i]), ghost_bytes + i, 4 + i);
	}

	s = add(IMG_FILE_LOCKS, 0);
	for (int i = 0; i < 2; i++) {
		file_lock_entry__init(&fl[i]);
		S(fl[i], flag, 1 << i); S(fl[i], type, i); S(fl[i], pid, 100); S(fl[i], fd, 3);
		S(fl[i], start, i ? 0 : 100); S(fl[i], len, i ? -1 : 0);
		ent(s, M(fl[i]), NULL, 0);
	}

	remap_file_path_entry__init(&remap);
	S(remap, orig_id, 1); S(remap, remap_id, 0x1f); S(remap, remap_type, REMAP_TYPE__GHOST);
	ent(add(IMG_REMAP_FPATH, 0), M(remap), NULL, 0);

	cpuinfo_x86_entry__init(&cpux);
	S(cpux, vendor_id, CPUINFO_X86_ENTRY__VENDOR__INTEL); S(cpux, cpu_family, 6);
	S(cpux, model, 143); S(cpux, stepping, 8); S(cpux, capability_ver, 2);
	REP(cpux, capability, capab);
	cpux.model_id = "Intel(R) Xeon(R) Platinum";
	S(cpux, xfeatures_mask, 0x2e7); S(cpux, xsave_size, 2696); S(cpux, xsave_size_max, 2696);
	cpuinfo_entry__init(&cpu);
	REP(cpu, x86_entry, cpuxs);
	ent(add(IMG_CPUINFO, 0), M(cpu), NULL, 0);

	memfd_inode_entry__init(&mino);
	mino.name = "memfd:shm";
	S(mino, uid, 1000); S(mino, gid, 1000); S(mino, size, 4096); S(mino, shmid, 3);
	S(mino, seals, 0x1 | 0x8 | 0x100); S(mino, inode_id, 1);
	ent(add(IMG_MEMFD_INODE, 0), M(mino), NULL, 0);

	utsns_entry__init(&uts);
	uts.nodename = "sample-host";
	uts.domainname = "(none)";
	ent(add(IMG_UTSNS, 8), M(uts), NULL, 0);

	ipc_var_entry__init(&ipcv);
	REP(ipcv, sem_ctls, sem_ctls);
	S(ipcv, msg_ctlmax, 8192); S(ipcv, msg_ctlmnb, 16384); S(ipcv, msg_ctlmni, 32000);
	S(ipcv, auto_msgmni, 0); S(ipcv, shm_ctlmax, UINT64_MAX - 16777216);
	S(ipcv, shm_ctlall, UINT64_MAX - 16777216); S(ipcv, shm_ctlmni, 4096);
	S(ipcv, shm_rmid_forced, 0); S(ipcv, mq_queues_max, 256); S(ipcv, mq_msg_max, 10);
	S(ipcv, mq_msgsize_max, 8192);
	ent(add(IMG_IPC_VAR, 7), M(ipcv), NULL, 0);

	for (int i = 0; i < 3; i++) {
		ipc_desc_entry__init(&idesc[i]);
		S(idesc[i], key, 0x1234 + i); S(idesc[i], uid, 0); S(idesc[i], gid, 0);
		S(idesc[i], cuid, 0); S(idesc[i], cgid, 0); S(idesc[i], mode, 0600);
		S(idesc[i], id, i);
	}
	ipc_shm_entry__init(&shm);
	shm.desc = &idesc[0];
	S(shm, size, 13);
	ent(add(IMG_IPC_SHM, 7), M(shm), shm_data, 16);
	ipc_sem_entry__init(&sem);
	sem.desc = &idesc[1];
	S(sem, nsems, 3);
	ent(add(IMG_IPC_SEM, 7), M(sem), sem_vals, 8);
	ipc_msg_entry__init(&msgq);
	msgq.desc = &idesc[2];
	S(msgq, qbytes, 16384); S(msgq, qnum, 2);
	/* Two messages: u32 length, ipc_msg, data padded to 8. */
	for (int i = 0; i < 2; i++) {
		ipc_msg__init(&msg[i]);
		S(msg[i], mtype, i + 1); S(msg[i], msize, 3 + 6 * i);
		uint32_t l = ipc_msg__get_packed_size(&msg[i]);
		memcpy(msg_buf + msg_len, &l, 4);
		msg_len += 4;
		msg_len += ipc_msg__pack(&msg[i], msg_buf + msg_len);
		memcpy(msg_buf + msg_len, i ? "second msg" : "one", 3 + 6 * i);
		msg_len += 3 + 6 * i;
		msg_len += (8 - (3 + 6 * i) % 8) % 8;
	}
	ent(add(IMG_IPC_MSG, 7), M(msgq), msg_buf, msg_len);

	pidns_entry__init(&pidns);
	pidns.ext_key = "extpid";
	ent(add(IMG_PIDNS, 5), M(pidns), NULL, 0);

	timespec__init(&mono);
	S(mono, tv_sec, 100); S(mono, tv_nsec, 5);
	timespec__init(&boot);
	S(boot, tv_sec, 200); S(boot, tv_nsec, 999999999);
	timens_entry__init(&timens);
	timens.monotonic = &mono;
	timens.boottime = &boot;
	ent(add(IMG_TIMENS, 12), M(timens), NULL, 0);

	for (int i = 0; i < 2; i++) {
		uid_gid_extent__init(&ext[i]);
		S(ext[i], first, i * 1000); S(ext[i], lower_first, 100000 + i * 1000);
		S(ext[i], count, 1000);
	}
	userns_entry__init(&userns);
	REP(userns, uid_map, exts);
	REP(userns, gid_map, exts);
	ent(add(IMG_USERNS, 10), M(userns), NULL, 0);

	s = add(IMG_MNTS, 9);
	for (int i = 0; i < 2; i++) {
		mnt_entry__init(&mnt[i]);
		S(mnt[i], fstype, i ? 1 : 5); S(mnt[i], mnt_id, 20 + i);
		S(mnt[i], root_dev, (0 << 20) | (21 + i)); S(mnt[i], parent_mnt_id, 20);
		S(mnt[i], flags, 0x200000 | 0x2); mnt[i].root = "/";
		mnt[i].mountpoint = i ? "/proc" : "/"; mnt[i].source = i ? "proc" : "tmpfs";
		mnt[i].options = i ? "" : "size=1g";
		S(mnt[i], shared_id, 0); S(mnt[i], master_id, 0); S(mnt[i], sb_flags, 0x1);
		ent(s, M(mnt[i]), NULL, 0);
	}

	cgroup_perms__init(&cperm);
	S(cperm, mode, 0755); S(cperm, uid, 0); S(cperm, gid, 0);
	cgroup_prop_entry__init(&cprop);
	cprop.name = "cpu.shares";
	cprop.value = "1024";
	cprop.perms = &cperm;
	cgroup_dir_entry__init(&cdir_child);
	cdir_child.dir_name = "child";
	cgroup_dir_entry__init(&cdir);
	cdir.dir_name = "sample";
	REP(cdir, children, cdir_children);
	REP(cdir, properties, cprops);
	cdir.dir_perms = &cperm;
	cg_controller_entry__init(&cctl);
	REP(cctl, cnames, cnames);
	REP(cctl, dirs, cdirs);
	cg_member_entry__init(&cmem);
	cmem.name = "cpu,cpuacct";
	cmem.path = "/sample";
	S(cmem, cgns_prefix, 0);
	cg_set_entry__init(&cset);
	S(cset, id, 1);
	REP(cset, ctls, cmems);
	cgroup_entry__init(&cg);
	REP(cg, sets, csets);
	REP(cg, controllers, cctls);
	ent(add(IMG_CGROUP, 0), M(cg), NULL, 0);
}

/* Fields newer than crit 3.17 (still CRIU's numbers). */
static TaskCoreEntry tc_new;
static ThreadCoreEntry thc_new;
static CoreEntry core_new;
static PluginsEntry plugins;
static char *plugin_names[] = { "amdgpu" };
static InventoryEntry inv_new;

static void build_newer(void)
{
	tc_new = tc;
	S(tc_new, stop_signo, 19);
	thc_new = thc;
	S(thc_new, cg_set, 2);
	core_new = core;
	core_new.tc = &tc_new;
	core_new.thread_core = &thc_new;
	struct sample *s = add(IMG_CORE, 102);
	s->newer_than_crit = true;
	ent(s, M(core_new), NULL, 0);

	plugins_entry__init(&plugins);
	REP(plugins, plugins, plugin_names);
	inv_new = inv;
	inv_new.plugins_entry = &plugins;
	inv_new.dump_criu_run_id = "run-1";
}

const struct sample *samples_get(size_t *n)
{
	if (!built) {
		build_task();
		build_files();
		build_misc();
		build_newer();
		built = true;
	}
	*n = n_all;
	return all;
}

int sample_write(int dirfd, const struct sample *s)
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, s->type, IMG_WRITE, s->id);
	if (ret)
		return ret;
	for (size_t i = 0; i < s->n && !ret; i++) {
		if (s->e[i].msg)
			ret = img_write_msg(img, s->e[i].msg);
		if (!ret && s->e[i].raw_len)
			ret = img_write_raw(img, s->e[i].raw, s->e[i].raw_len);
	}
	int r2 = img_close(img);
	return ret ? ret : r2;
}

int samples_write(int dirfd, bool crit_only)
{
	size_t n;
	const struct sample *s = samples_get(&n);
	int ret = img_dir_begin_dump(dirfd);

	for (size_t i = 0; i < n && !ret; i++)
		if (!crit_only || !s[i].newer_than_crit)
			ret = sample_write(dirfd, &s[i]);
	if (!ret)
		ret = img_dir_commit(dirfd, crit_only ? &inv : &inv_new);
	return ret;
}
