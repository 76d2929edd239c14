/* cpuinfo.img and the CPU check (cpuinfo.c): `cryo cpuinfo dump|check`,
 * dump/restore --cpu-cap, RPC CPUINFO_DUMP/CPUINFO_CHECK. */
#ifndef CRYO_ARCH_CPUINFO_H
#define CRYO_ARCH_CPUINFO_H

/* criu's CPU_CAP_* bits */
#define CPUINFO_CAP_FPU 1u
#define CPUINFO_CAP_CPU 2u
#define CPUINFO_CAP_INS 4u

/* Write this CPU's cpuinfo.img into @dirfd. */
int cpuinfo_dump(int dirfd);
/* Can this CPU run what @dirfd's cpuinfo.img (@where names the directory)
 * describes, for the checks @caps? 0, or a negative code (logged). */
int cpuinfo_check(int dirfd, const char *where, unsigned caps);
/* criu's --cpu-cap words ("fpu,^ins", "all", "none"; NULL: all) -> bits,
 * starting from criu's default fpu,ins. */
int cpuinfo_parse_caps(const char *spec, unsigned *caps);

#endif
