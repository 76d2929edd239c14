/* /proc parsers: fed with real-format text, including hostile corners
 * (comm with spaces and parentheses, " (deleted)" paths, VmFlags). */
#include "../unit.h"
#include "proc/proc.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static void test_maps(void)
{
	const char *text =
		"55d4cdbe0000-55d4cdbe1000 r--p 00000000 fe:01 1234   /usr/bin/my prog\n"
		"Size:                  4 kB\n"
		"VmFlags: rd mr mw me dw sd \n"
		"7f5a00ffb000-7f5a00ffd000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac sd hg dc \n"
		"7f5a00ffd000-7f5a01001000 r--p 00000000 00:00 0                          [vvar]\n"
		"7f00-8f00 rw-s 00001000 00:05 99 /dev/zero (deleted)\n"
		"7ffe6e5a3000-7ffe6e5c4000 rw-p 00000000 00:00 0                          [stack]\n"
		"VmFlags: rd wr mr mw me gd ac \n";
	struct proc_maps m;
	CHECK_INT(proc_parse_maps_text(text, &m), 0);
	CHECK_INT(m.n, 5);
	CHECK_INT(m.v[0].start, 0x55d4cdbe0000ULL);
	CHECK_INT(m.v[0].prot, PROT_READ);
	CHECK_STR(m.v[0].path, "/usr/bin/my prog");
	CHECK_INT(m.v[0].dev_major, 0xfe);
	CHECK_INT(m.v[0].ino, 1234);
	CHECK(m.v[0].has_vmflags && m.v[0].vm_softdirty);
	CHECK(m.v[1].path == NULL);
	CHECK(m.v[1].vm_hugepage && m.v[1].vm_dontfork && !m.v[1].vm_growsdown);
	CHECK_STR(m.v[2].path, "[vvar]");
	CHECK(m.v[3].shared && m.v[3].deleted);
	CHECK_STR(m.v[3].path, "/dev/zero");
	CHECK_INT(m.v[3].pgoff, 0x1000);
	CHECK(m.v[4].vm_growsdown);
	proc_maps_free(&m);

	/* every mnemonic lands in vmf; an unknown one is kept by name */
	CHECK_INT(proc_parse_maps_text("1000-2000 rw-p 0 00:00 0\n"
				       "VmFlags: rd wr mr mw me nr wf dd dp gu lf ac \n"
				       "3000-4000 rw-p 0 00:00 0\n"
				       "VmFlags: rd mr ?? zz \n", &m), 0);
	CHECK(m.v[0].vmf & VMF(DP) && m.v[0].vmf & VMF(NR) && m.v[0].vmf & VMF(GU));
	CHECK(m.v[0].vmf & VMF(LF) && m.v[0].vmf & VMF(AC) && m.v[0].vm_wipeonfork);
	CHECK(!(m.v[0].vmf & VMF(UNKNOWN)) && !m.v[0].vmf_unknown[0]);
	CHECK(m.v[1].vmf & VMF(UNKNOWN));
	CHECK_STR(m.v[1].vmf_unknown, "??");
	CHECK_STR(proc_vmf_name(VMF_SL), "sl");
	proc_maps_free(&m);

	/* the widest numbers and a path far past the fields (each line is
	 * parsed from a copy of its start) */
	char path[600], line[800];
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = 0;
	snprintf(line, sizeof(line), "7ffffffff000-800000000000 rw-p ffffffffffff000 fff:fffff "
		 "18446744073709551615                %s (deleted)\n", path);
	CHECK_INT(proc_parse_maps_text(line, &m), 0);
	CHECK_INT(m.n, 1);
	CHECK_INT(m.v[0].ino, 18446744073709551615ULL);
	CHECK_INT(m.v[0].dev_minor, 0xfffff);
	CHECK(m.v[0].deleted);
	CHECK_STR(m.v[0].path, path);
	proc_maps_free(&m);

	CHECK(proc_parse_maps_text("1000-0500 rw-p 0 00:00 0\n", &m) < 0);
	CHECK(proc_parse_maps_text("1000-2000 rw 0 00:00 0\n", &m) < 0);
}

static void test_stat(void)
{
	/* comm with a space and a ')' : the parser must split at the last ')' */
	const char *text = "4242 (we) ird) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 "
			   "12345 1000 100 18446744073709551615 4194304 4198400 140736 0 0 0 0 0 "
			   "0 0 0 0 17 1 0 0 0 0 0 6295552 6295600 6299648 140737 140740 140740 "
			   "140760 3\n";
	struct proc_stat st;
	CHECK_INT(proc_parse_stat_text(text, &st), 0);
	CHECK_INT(st.pid, 4242);
	CHECK_STR(st.comm, "we) ird");
	CHECK_INT(st.state, 'S');
	CHECK_INT(st.ppid, 1);
	CHECK_INT(st.pgid, 4242);
	CHECK_INT(st.nice, 0);
	CHECK_INT(st.num_threads, 1);
	CHECK_INT(st.start_code, 4194304);
	CHECK_INT(st.end_code, 4198400);
	CHECK_INT(st.start_data, 6295552);
	CHECK_INT(st.start_brk, 6299648);
	CHECK_INT(st.arg_start, 140737);
	CHECK_INT(st.env_start, 140740);
	CHECK_INT(st.env_end, 140760);
	CHECK_INT(st.exit_code, 3);
	CHECK(proc_parse_stat_text("12 (x S 1", &st) < 0);
	CHECK(proc_parse_stat_text("12 (x) S 1 2 3\n", &st) < 0);
}

static void test_status(void)
{
	const char *text = "Name:\tcat\nUmask:\t0027\nState:\tS (sleeping)\nTgid:\t77\nPPid:\t1\n"
			   "TracerPid:\t0\nUid:\t0\t1\t2\t3\nGid:\t4\t5\t6\t7\nGroups:\t10 20 \n"
			   "NSpid:\t77\t5\nSigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\n"
			   "SigBlk:\t0000000000010000\nSigCgt:\t0000000000004002\n"
			   "CapEff:\t000001ffffffffff\nNoNewPrivs:\t1\nSeccomp:\t2\n";
	struct proc_status st;
	CHECK_INT(proc_parse_status_text(text, &st), 0);
	CHECK_INT(st.umask, 027);
	CHECK(st.has_umask);
	CHECK_INT(st.tgid, 77);
	CHECK_INT(st.uid[3], 3);
	CHECK_INT(st.gid[1], 5);
	CHECK_INT(st.ngroups, 2);
	CHECK_INT(st.groups[1], 20);
	CHECK_INT(st.nspid_levels, 2);
	CHECK_INT(st.nspid[1], 5);
	CHECK_INT(st.sig_pnd, 0x100);
	CHECK_INT(st.sig_blk, 0x10000);
	CHECK_INT(st.cap_eff, 0x1ffffffffffULL);
	CHECK_INT(st.no_new_privs, 1);
	CHECK_INT(st.seccomp, 2);
	proc_status_free(&st);
}

static void test_fdinfo(void)
{
	struct proc_fdinfo fi;
	CHECK_INT(proc_parse_fdinfo_text("pos:\t4096\nflags:\t02102001\nmnt_id:\t31\nino:\t77\n", &fi), 0);
	CHECK_INT(fi.pos, 4096);
	CHECK_INT(fi.flags, 02102001);
	CHECK_INT(fi.mnt_id, 31);
	CHECK_INT(fi.ino, 77);
	CHECK(proc_parse_fdinfo_text("mnt_id: 3\n", &fi) < 0);
}

static void test_idmap(void)
{
	struct proc_idmap m;
	uint32_t v = 0;
	CHECK_INT(proc_parse_idmap_text("         0     100000      65536\n", &m), 0);
	CHECK_INT(m.n, 1);
	CHECK(proc_idmap_inside(&m, 100005, &v) && v == 5);
	CHECK(!proc_idmap_inside(&m, 0, &v));
	CHECK(!proc_idmap_inside(&m, 165536, &v));
	CHECK(proc_idmap_outside(&m, 65535, &v) && v == 165535);
	CHECK(!proc_idmap_outside(&m, 65536, &v));
	CHECK_INT(proc_parse_idmap_text("0 300000 10\n10 0 1\n11 300011 100\n", &m), 0);
	CHECK_INT(m.n, 3);
	CHECK(proc_idmap_inside(&m, 0, &v) && v == 10);
	CHECK(proc_idmap_outside(&m, 110, &v) && v == 300110);
	CHECK(!proc_idmap_outside(&m, 111, &v));
	CHECK_INT(proc_parse_idmap_text("0 0 4294967295\n", &m), 0);
	CHECK(proc_idmap_inside(&m, 1234, &v) && v == 1234);
	CHECK_INT(proc_parse_idmap_text("", &m), 0);
	CHECK_INT(m.n, 0);
	CHECK(proc_parse_idmap_text("0 1\n", &m) < 0);
	CHECK(proc_parse_idmap_text("0 1 2 3\n", &m) < 0);
	CHECK(proc_parse_idmap_text("0 1 0\n", &m) < 0);
	CHECK(proc_parse_idmap_text("4294967295 0 2\n", &m) < 0);
}

int main(void)
{
	test_maps();
	test_stat();
	test_status();
	test_fdinfo();
	test_idmap();
	return unit_done("proc");
}
