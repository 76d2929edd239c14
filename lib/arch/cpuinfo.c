/* cpuinfo.img: the CPU features of the dumping machine, in criu's form
 * (cpuinfo_x86_entry, capability words in the layout of the kernel's
 * cpufeatures.h, criu's capability_ver 2), and the check that this CPU can
 * run what was dumped there (`cpuinfo check`, restore --cpu-cap).
 *
 * The check, per criu's --cpu-cap words:
 *   fpu  every XSAVE feature enabled there is enabled here (XCR0), and this
 *        CPU's XSAVE area is as large (the restored threads' state fits);
 *   ins  every instruction-set feature there is here (the bits below in
 *        INS_MASK: SSE*, AVX*, AES, BMI, ...: a program that probed CPUID
 *        at start uses them without asking again);
 *   cpu  every CPUID feature bit there is here.
 * The Linux-defined words (3, 7, 8, 11) are not CPUID bits and stay 0. */
#include "arch/cpuinfo.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include "cpuinfo.pb-c.h"

#include <cpuid.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NCAPS 20
#define CAP_VER 2

/* word -> CPUID leaf, subleaf, register (0 eax .. 3 edx); leaf 0: not CPUID */
static const struct { uint32_t leaf, sub; int reg; } words[NCAPS] = {
	[0] = { 0x1, 0, 3 },		[1] = { 0x80000001, 0, 3 },
	[4] = { 0x1, 0, 2 },		[6] = { 0x80000001, 0, 2 },
	[9] = { 0x7, 0, 1 },		[10] = { 0xd, 1, 0 },
	[12] = { 0x7, 1, 0 },		[13] = { 0x80000008, 0, 1 },
	[14] = { 0x6, 0, 0 },		[15] = { 0x8000000a, 0, 3 },
	[16] = { 0x7, 0, 2 },		[17] = { 0x80000007, 0, 1 },
	[18] = { 0x7, 0, 3 },		[19] = { 0x8000001f, 0, 0 },
};

#define B(n) (1u << (n))
/* instruction-set features, per word (what "ins" compares) */
static const uint32_t ins_mask[NCAPS] = {
	/* 1.EDX: fpu tsc cx8 sep cmov clflush mmx fxsr sse sse2 */
	[0] = B(0) | B(4) | B(8) | B(11) | B(15) | B(19) | B(23) | B(24) | B(25) | B(26),
	/* 8000_0001.EDX: syscall mmxext fxsr_opt rdtscp lm 3dnowext 3dnow */
	[1] = B(11) | B(22) | B(25) | B(27) | B(29) | B(30) | B(31),
	/* 1.ECX: sse3 pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes
	 * xsave avx f16c rdrand */
	[4] = B(0) | B(1) | B(3) | B(9) | B(12) | B(13) | B(19) | B(20) | B(22) | B(23) |
	      B(25) | B(26) | B(28) | B(29) | B(30),
	/* 8000_0001.ECX: lahf_lm abm sse4a misalignsse 3dnowprefetch xop fma4 tbm */
	[6] = B(0) | B(5) | B(6) | B(7) | B(8) | B(11) | B(16) | B(21),
	/* 7.0.EBX: fsgsbase bmi1 hle avx2 bmi2 erms invpcid rtm avx512f avx512dq rdseed
	 * adx avx512ifma clflushopt clwb avx512pf avx512er avx512cd sha avx512bw avx512vl */
	[9] = B(0) | B(3) | B(4) | B(5) | B(8) | B(9) | B(10) | B(11) | B(16) | B(17) |
	      B(18) | B(19) | B(21) | B(23) | B(24) | B(26) | B(27) | B(28) | B(29) | B(30) |
	      B(31),
	/* 0xd.1.EAX: xsaveopt xsavec xgetbv1 xsaves */
	[10] = B(0) | B(1) | B(2) | B(3),
	/* 7.1.EAX: avx_vnni avx512_bf16 */
	[12] = B(4) | B(5),
	/* 7.0.ECX: avx512vbmi pku avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni
	 * avx512_bitalg avx512_vpopcntdq rdpid movdiri movdir64b */
	[16] = B(1) | B(3) | B(6) | B(8) | B(9) | B(10) | B(11) | B(12) | B(14) | B(22) |
	       B(27) | B(28),
	/* 7.0.EDX: avx512_4vnniw avx512_4fmaps fsrm avx512_vp2intersect serialize
	 * amx_bf16 avx512_fp16 amx_tile amx_int8 */
	[18] = B(2) | B(3) | B(4) | B(8) | B(14) | B(22) | B(23) | B(24) | B(25),
};

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

struct cpu_now {
	uint32_t vendor, family, model, stepping;
	uint32_t caps[NCAPS];
	char model_id[49];
	uint64_t xfeatures;
	uint32_t xsave_size, xsave_size_max;
};

static void cpu_read(struct cpu_now *c)
{
	uint32_t r[4], max, maxext;
	memset(c, 0, sizeof(*c));
	__cpuid(0, max, r[1], r[2], r[3]);
	char vendor[13];
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	vendor[12] = '\0';
	c->vendor = !strcmp(vendor, "GenuineIntel") ? CPUINFO_X86_ENTRY__VENDOR__INTEL :
		    !strcmp(vendor, "AuthenticAMD") ? CPUINFO_X86_ENTRY__VENDOR__AMD :
		    CPUINFO_X86_ENTRY__VENDOR__UNKNOWN;
	__cpuid(0x80000000, maxext, r[1], r[2], r[3]);
	for (int w = 0; w < NCAPS; w++) {
		uint32_t leaf = words[w].leaf;
		if (!leaf || (leaf < 0x80000000 ? leaf > max : leaf > maxext))
			continue;
		__cpuid_count(leaf, words[w].sub, r[0], r[1], r[2], r[3]);
		c->caps[w] = r[words[w].reg];
	}
	__cpuid(1, r[0], r[1], r[2], r[3]);
	uint32_t fam = (r[0] >> 8) & 0xf, model = (r[0] >> 4) & 0xf;
	if (fam == 0xf)
		fam += (r[0] >> 20) & 0xff;
	if (fam >= 6)
		model |= ((r[0] >> 16) & 0xf) << 4;
	c->family = fam;
	c->model = model;
	c->stepping = r[0] & 0xf;
	if (maxext >= 0x80000004) {
		uint32_t *p = (uint32_t *)c->model_id;
		for (uint32_t l = 0; l < 3; l++)
			__cpuid(0x80000002 + l, p[4 * l], p[4 * l + 1], p[4 * l + 2], p[4 * l + 3]);
		c->model_id[48] = '\0';
	}
	/* OSXSAVE: XCR0 is readable */
	if ((c->caps[4] & B(27)) && max >= 0xd) {
		c->xfeatures = xgetbv0();
		__cpuid_count(0xd, 0, r[0], r[1], r[2], r[3]);
		c->xsave_size = r[1];
		c->xsave_size_max = r[2];
	}
}

int cpuinfo_dump(int dirfd)
{
	struct cpu_now c;
	cpu_read(&c);
	CpuinfoX86Entry x = CPUINFO_X86_ENTRY__INIT;
	CpuinfoX86Entry *xs[1] = { &x };
	CpuinfoEntry e = CPUINFO_ENTRY__INIT;
	x.has_vendor_id = x.has_cpu_family = x.has_model = x.has_stepping = 1;
	x.has_capability_ver = 1;
	x.vendor_id = c.vendor;
	x.cpu_family = c.family;
	x.model = c.model;
	x.stepping = c.stepping;
	x.capability_ver = CAP_VER;
	x.n_capability = NCAPS;
	x.capability = c.caps;
	/* the brand string is padded with spaces at the front on some CPUs */
	char *id = c.model_id;
	while (*id == ' ')
		id++;
	x.model_id = id;
	x.has_xfeatures_mask = x.has_xsave_size = x.has_xsave_size_max = 1;
	x.xfeatures_mask = c.xfeatures;
	x.xsave_size = c.xsave_size;
	x.xsave_size_max = c.xsave_size_max;
	e.n_x86_entry = 1;
	e.x86_entry = xs;
	struct cr_img *img;
	int ret = img_open(&img, dirfd, IMG_CPUINFO, IMG_WRITE, 0);
	if (ret)
		return ret;
	ret = img_write_msg(img, &e.base);
	int r2 = img_close(img);
	if (!ret)
		pr_info("cpuinfo.img: %s, family %u model %u, XCR0 %#llx", x.model_id, c.family,
			c.model, (unsigned long long)c.xfeatures);
	return ret ? ret : r2;
}

int cpuinfo_parse_caps(const char *spec, unsigned *caps)
{
	unsigned c = CPUINFO_CAP_FPU | CPUINFO_CAP_INS;
	bool inv = false;
	if (!spec)
		spec = "all";
	for (const char *p = spec; *p;) {
		if (*p == '^') {
			inv = !inv;
			p++;
			continue;
		}
		if (*p == ',') {
			inv = false;
			p++;
			continue;
		}
		static const struct { const char *w; unsigned bits; } ws[] = {
			{ "fpu", CPUINFO_CAP_FPU }, { "cpu", CPUINFO_CAP_CPU },
			{ "ins", CPUINFO_CAP_INS },
			{ "all", CPUINFO_CAP_FPU | CPUINFO_CAP_CPU | CPUINFO_CAP_INS },
			{ "none", 0 },
		};
		size_t i;
		for (i = 0; i < ARRAY_SIZE(ws); i++)
			if (!strncmp(p, ws[i].w, strlen(ws[i].w)))
				break;
		if (i == ARRAY_SIZE(ws)) {
			pr_err("--cpu-cap %s: expected fpu, cpu, ins, all or none", spec);
			return -EINVAL;
		}
		if (!ws[i].bits)
			c = inv ? c : 0;
		else if (inv)
			c &= ~ws[i].bits;
		else
			c |= ws[i].bits;
		p += strlen(ws[i].w);
	}
	*caps = c;
	return 0;
}

/* "bits 3, 17 of word 9" style list for a message */
static void missing_bits(char *buf, size_t size, int w, uint32_t miss)
{
	size_t used = strlen(buf);
	used += snprintf(buf + used, size > used ? size - used : 0, "%sword %d bit", used ? "; " :
			 "", w);
	for (int b = 0; b < 32; b++)
		if (miss & B(b))
			used += snprintf(buf + used, size > used ? size - used : 0, " %d", b);
}

int cpuinfo_check(int dirfd, const char *where, unsigned caps)
{
	struct cr_img *img;
	CpuinfoEntry *e = NULL;
	int ret = img_open(&img, dirfd, IMG_CPUINFO, IMG_READ | IMG_MISSING_OK, 0);
	if (ret == -ENOENT) {
		pr_err("%s has no cpuinfo.img: it was dumped without --cpu-cap (or write one with "
		       "\"cryo cpuinfo dump\" on the dumping machine)", where);
		return -ENOENT;
	}
	if (ret)
		return ret;
	ret = img_read_msg(img, &cpuinfo_entry__descriptor, (ProtobufCMessage **)&e);
	img_close(img);
	if (ret <= 0) {
		if (!ret)
			pr_err("%s/cpuinfo.img is empty", where);
		return ret ? ret : -EINVAL;
	}
	ret = 0;
	if (e->n_ppc64_entry || e->n_s390_entry || e->n_x86_entry != 1) {
		pr_err("%s/cpuinfo.img describes %s, not one x86 CPU: it was dumped on another "
		       "architecture", where, e->n_x86_entry ? "several x86 CPUs" : "no x86 CPU");
		ret = -EINVAL;
		goto out;
	}
	const CpuinfoX86Entry *x = e->x86_entry[0];
	struct cpu_now c;
	cpu_read(&c);
	if ((caps & CPUINFO_CAP_FPU) && (x->xfeatures_mask & ~c.xfeatures)) {
		pr_err("this CPU lacks XSAVE features the dumping one had enabled (XCR0 %#llx there, "
		       "%#llx here, missing %#llx): restored threads would lose register state "
		       "(--cpu-cap=^fpu skips this check, at that risk)",
		       (unsigned long long)x->xfeatures_mask, (unsigned long long)c.xfeatures,
		       (unsigned long long)(x->xfeatures_mask & ~c.xfeatures));
		ret = -EOPNOTSUPP;
		goto out;
	}
	if ((caps & CPUINFO_CAP_FPU) && x->xsave_size_max > c.xsave_size_max) {
		pr_err("this CPU's XSAVE area (%u bytes) is smaller than the dumping one's (%u)",
		       c.xsave_size_max, x->xsave_size_max);
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (caps & (CPUINFO_CAP_CPU | CPUINFO_CAP_INS)) {
		if (x->capability_ver != CAP_VER) {
			pr_err("%s/cpuinfo.img has capability words of version %u; cryo reads version "
			       "%u", where, x->capability_ver, CAP_VER);
			ret = -EINVAL;
			goto out;
		}
		char miss[1024] = "";
		for (int w = 0; w < NCAPS && w < (int)x->n_capability; w++) {
			uint32_t want = x->capability[w];
			if (!(caps & CPUINFO_CAP_CPU))
				want &= ins_mask[w];
			if (!words[w].leaf)
				want = 0;	/* Linux-defined: not the CPU's */
			if (want & ~c.caps[w])
				missing_bits(miss, sizeof(miss), w, want & ~c.caps[w]);
		}
		if (miss[0]) {
			pr_err("this CPU (%s) lacks %s the dumping one (%s) had: %s (the kernel's "
			       "cpufeatures.h words; --cpu-cap=%s skips this check)", c.model_id,
			       caps & CPUINFO_CAP_CPU ? "CPU features" : "instruction-set features",
			       x->model_id ? x->model_id : "?", miss,
			       caps & CPUINFO_CAP_CPU ? "^cpu,^ins" : "^ins");
			ret = -EOPNOTSUPP;
			goto out;
		}
	}
	pr_info("this CPU can run what %s describes (checked:%s%s%s)", where,
		caps & CPUINFO_CAP_FPU ? " fpu" : "", caps & CPUINFO_CAP_INS ? " ins" : "",
		caps & CPUINFO_CAP_CPU ? " cpu" : "");
out:
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return ret;
}
