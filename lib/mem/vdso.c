/* The vDSO "proxy": restoring on a kernel whose vDSO differs from the
 * dumped one.
 *
 * The restored program holds addresses of vDSO functions (glibc resolved
 * them at startup), so the old entry points must keep working.  The dumped
 * vDSO's pages (saved like private memory, as CRIU does) are mapped back at
 * their old address, and each function exported there gets a jump to the
 * function of the same name in this kernel's vDSO, which is moved to a free
 * spot nearby with its data pages ([vvar], [vvar_vclock]). */
#include "mem/mem.h"
#include "seize/remote.h"
#include "util/log.h"
#include "util/util.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

struct vdso_sym {
	char name[32];
	uint64_t off;		/* from the vDSO's first byte */
	uint64_t size;
};

#define VDSO_MAX_SYMS 64

/* Exported functions of the vDSO image @img (@len bytes). */
static int vdso_parse(const uint8_t *img, size_t len, struct vdso_sym *syms, const char *what)
{
	const Elf64_Ehdr *eh = (const void *)img;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_phoff > len || eh->e_phnum > (len - eh->e_phoff) / sizeof(Elf64_Phdr) ||
	    eh->e_shoff > len || eh->e_shnum > (len - eh->e_shoff) / sizeof(Elf64_Shdr)) {
		pr_err("%s is not a vDSO image cryo can read (bad ELF header)", what);
		return -EINVAL;
	}
	const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
	uint64_t bias = UINT64_MAX;
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < bias)
			bias = ph[i].p_vaddr;
	if (bias == UINT64_MAX)
		bias = 0;
	const Elf64_Shdr *sh = (const void *)(img + eh->e_shoff);
	int n = 0;
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *st = &sh[sh[i].sh_link];
		if (sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset ||
		    st->sh_offset > len || st->sh_size > len - st->sh_offset)
			break;
		const Elf64_Sym *sym = (const void *)(img + sh[i].sh_offset);
		size_t nsym = sh[i].sh_size / sizeof(Elf64_Sym);
		const char *str = (const char *)img + st->sh_offset;
		for (size_t k = 0; k < nsym && n < VDSO_MAX_SYMS; k++) {
			if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || sym[k].st_shndx == SHN_UNDEF ||
			    sym[k].st_name >= st->sh_size)
				continue;
			const char *name = str + sym[k].st_name;
			size_t l = strnlen(name, st->sh_size - sym[k].st_name);
			if (!l || l >= sizeof(syms[n].name) || sym[k].st_value < bias ||
			    sym[k].st_value - bias >= len)
				continue;
			memcpy(syms[n].name, name, l);
			syms[n].name[l] = '\0';
			syms[n].off = sym[k].st_value - bias;
			syms[n].size = sym[k].st_size;
			n++;
		}
		break;
	}
	if (!n) {
		pr_err("%s exports no functions cryo can find", what);
		return -EINVAL;
	}
	return n;
}

int vdso_proxy_patch(struct remote *r, uint64_t old_start, uint64_t old_end, uint64_t new_start)
{
	/* this kernel's vDSO: cryo's own is the same one the task has now */
	const uint8_t *own = (const void *)getauxval(AT_SYSINFO_EHDR);
	size_t old_len = old_end - old_start;
	struct vdso_sym *osym = xmalloc(2 * VDSO_MAX_SYMS * sizeof(*osym)), *nsym;
	uint8_t *old = xmalloc(old_len);
	int ret = 0, patched = 0;
	if (!osym || !old) {
		ret = -ENOMEM;
		goto out;
	}
	nsym = osym + VDSO_MAX_SYMS;
	if (!own) {
		pr_err("this kernel gives processes no vDSO (AT_SYSINFO_EHDR): cryo can't redirect "
		       "the dumped vDSO's functions");
		ret = -EOPNOTSUPP;
		goto out;
	}
	ret = remote_read(r, old_start, old, old_len);
	if (ret)
		goto out;
	int no = vdso_parse(old, old_len, osym, "the dumped vDSO");
	/* e_shoff + sections bound the image; 64 KiB is far above any vDSO */
	int nn = vdso_parse(own, 64 << 10, nsym, "this kernel's vDSO");
	if (no < 0 || nn < 0) {
		ret = no < 0 ? no : nn;
		goto out;
	}
	for (int i = 0; i < no; i++) {
		const struct vdso_sym *n = NULL;
		for (int k = 0; k < nn && !n; k++)
			if (!strcmp(osym[i].name, nsym[k].name))
				n = &nsym[k];
		if (!n) {
			/* nothing to send it to: a call there would run the old
			 * code against data pages that are gone; trap instead */
			uint8_t ud2[2] = { 0x0f, 0x0b };
			pr_warn("vDSO function %s of the dumped kernel has no counterpart here: "
				"calling it will fault", osym[i].name);
			ret = remote_write(r, old_start + osym[i].off, ud2, sizeof(ud2));
			if (ret)
				goto out;
			continue;
		}
		uint64_t from = old_start + osym[i].off, to = new_start + n->off;
		int64_t rel = (int64_t)(to - (from + 5));
		uint8_t code[12];
		size_t clen;
		if (rel == (int32_t)rel) {
			code[0] = 0xe9;	/* jmp rel32 */
			int32_t r32 = rel;
			memcpy(code + 1, &r32, 4);
			clen = 5;
		} else {
			code[0] = 0x48;	/* movabs $to, %rax; jmp *%rax */
			code[1] = 0xb8;
			memcpy(code + 2, &to, 8);
			code[10] = 0xff;
			code[11] = 0xe0;
			clen = 12;
		}
		if (osym[i].size && osym[i].size < clen) {
			pr_err("vDSO function %s is too small (%llu bytes) for a jump to this "
			       "kernel's vDSO", osym[i].name, (unsigned long long)osym[i].size);
			ret = -EOPNOTSUPP;
			goto out;
		}
		ret = remote_write(r, from, code, clen);
		if (ret)
			goto out;
		patched++;
	}
	pr_info("task %d: dumped vDSO at 0x%llx redirected to this kernel's at 0x%llx (%d "
		"functions)", r->tid, (unsigned long long)old_start, (unsigned long long)new_start,
		patched);
out:
	free(osym);
	free(old);
	return ret;
}
