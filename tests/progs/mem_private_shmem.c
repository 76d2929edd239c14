/* mem_private_shmem: MAP_PRIVATE mappings over shared memory objects.
 *
 * A private mapping of a shared file keeps the pages the task wrote (its
 * copy-on-write copies) and shows the file's current content everywhere
 * else, including later changes made to the file by anyone.  State built
 * before the checkpoint (file pages are patterns with one seed per page):
 *   - memfd M, 10 pages, fd kept open; mapped MAP_SHARED whole (msh) and
 *     MAP_PRIVATE whole (mpr).  mpr pages 1 and 3 are written (private
 *     copies), pages 0 and 2 only read; then, through the fd, file pages 2
 *     and 4 are changed and through msh file page 5: mpr must see those;
 *   - a MAP_PRIVATE mapping of M at offset 6 pages, 3 pages (mpo), its
 *     page 1 (file page 7) written;
 *   - a /dev/shm file (shm_open), 4 pages, mapped MAP_PRIVATE at offset 1
 *     page, 3 pages (dsp), page 0 written;
 *   - shared anonymous memory (sa, 4 pages) mapped again MAP_PRIVATE
 *     through /proc/self/map_files (sap), page 1 written;
 *   - a child forked afterwards that shares mpr's private copies and writes
 *     mpr page 8 itself.
 * After SIGTERM the parent checks every page, then changes the objects
 * (memfd pages 1 and 9 through the fd, /dev/shm page 3, sa page 3): the
 * untouched private pages must follow, the written ones must not.  Then it
 * signals the child, which checks its own view the same way.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NP 10
enum { S_FILE = 0x100, S_P1 = 0x201, S_P3 = 0x203, S_F2 = 0x302, S_F4 = 0x304, S_F5 = 0x305,
       S_O7 = 0x407, S_C8 = 0x508, S_F1N = 0x601, S_F9N = 0x609,
       S_DSH = 0x700, S_D1 = 0x801, S_D3N = 0x903,
       S_SA = 0xa00, S_SAP1 = 0xb01, S_SA3N = 0xc03 };

static size_t pg;
static int mfd, dfd;
static char *msh, *mpr, *mpo, *dsp, *sa, *sap;
static uint64_t fseed[NP];	/* current seed of each page of M */
static uint64_t dseed[4];	/* ... of the /dev/shm file */
static uint64_t saseed[4];	/* ... of the shared anonymous memory */
static char shm_name[64];

static void check_page(const char *who, const char *what, const char *base, int page, uint64_t seed)
{
	ssize_t off = pattern_check(base + page * pg, pg, seed);
	if (off >= 0)
		fail("%s: %s page %d: byte %zd is 0x%02x, expected 0x%02x (seed 0x%llx)", who, what,
		     page, off, (uint8_t)base[page * pg + off], pattern_byte(seed, off),
		     (unsigned long long)seed);
}

static void put_page(int fd, int page, uint64_t seed)
{
	char *buf = malloc(pg);
	pattern_fill(buf, pg, seed);
	if (pwrite(fd, buf, pg, page * pg) != (ssize_t)pg)
		fail_errno("pwrite page %d", page);
	free(buf);
}

/* The file M itself holds exactly fseed (private copies never reach it). */
static void check_file(const char *who)
{
	char *buf = malloc(NP * pg);
	if (pread(mfd, buf, NP * pg, 0) != (ssize_t)(NP * pg))
		fail_errno("%s: pread memfd", who);
	for (int i = 0; i < NP; i++)
		check_page(who, "memfd file", buf, i, fseed[i]);
	free(buf);
}

/* Everything but the child's own page 8; @child: the view of the child. */
static void check_all(const char *who, bool child)
{
	check_file(who);
	for (int i = 0; i < NP; i++) {
		check_page(who, "memfd shared mapping", msh, i, fseed[i]);
		uint64_t want = i == 1 ? S_P1 : i == 3 ? S_P3 : (i == 8 && child) ? S_C8 : fseed[i];
		check_page(who, "memfd private mapping", mpr, i, want);
	}
	check_page(who, "memfd private mapping at offset 6 pages", mpo, 0, fseed[6]);
	check_page(who, "memfd private mapping at offset 6 pages", mpo, 1, S_O7);
	check_page(who, "memfd private mapping at offset 6 pages", mpo, 2, fseed[8]);
	check_page(who, "/dev/shm private mapping", dsp, 0, S_D1);
	check_page(who, "/dev/shm private mapping", dsp, 1, dseed[2]);
	check_page(who, "/dev/shm private mapping", dsp, 2, dseed[3]);
	for (int i = 0; i < 4; i++) {
		check_page(who, "shared anonymous memory", sa, i, saseed[i]);
		check_page(who, "private mapping of shared anonymous memory", sap, i,
			   i == 1 ? S_SAP1 : saseed[i]);
	}
	char perms[5];
	if (!maps_perms(mpr, perms) && strcmp(perms, "rw-p"))
		fail("%s: memfd private mapping is %s, expected rw-p", who, perms);
	if (!maps_perms(mpo, perms) && strcmp(perms, "r--p"))
		fail("%s: memfd private mapping at an offset is %s, expected r--p", who, perms);
}

/* The changes the parent makes after the restore. */
static void later_changes(bool apply)
{
	if (apply) {
		put_page(mfd, 1, S_F1N);
		put_page(mfd, 9, S_F9N);
		put_page(dfd, 3, S_D3N);
		pattern_fill(sa + 3 * pg, pg, S_SA3N);
	}
	fseed[1] = S_F1N;
	fseed[9] = S_F9N;
	dseed[3] = S_D3N;
	saseed[3] = S_SA3N;
}

static char *map(size_t len, int prot, int flags, int fd, off_t off, const char *what)
{
	char *p = mmap(NULL, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		setup_fail("mmap %s: %s", what, strerror(errno));
	return p;
}

int main(int argc, char **argv)
{
	test_doc = "MAP_PRIVATE over memfd, /dev/shm and shared anonymous memory";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);

	/* memfd M */
	mfd = memfd_create("cryo-privmix", 0);
	if (mfd < 0 || ftruncate(mfd, NP * pg))
		setup_fail("memfd: %s", strerror(errno));
	for (int i = 0; i < NP; i++)
		put_page(mfd, i, fseed[i] = S_FILE + i);
	msh = map(NP * pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0, "memfd shared");
	mpr = map(NP * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0, "memfd private");
	volatile char c = mpr[0] + mpr[2 * pg];
	(void)c;
	pattern_fill(mpr + pg, pg, S_P1);
	pattern_fill(mpr + 3 * pg, pg, S_P3);
	put_page(mfd, 2, fseed[2] = S_F2);
	put_page(mfd, 4, fseed[4] = S_F4);
	pattern_fill(msh + 5 * pg, pg, fseed[5] = S_F5);
	mpo = map(3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 6 * pg, "memfd private at 6");
	pattern_fill(mpo + pg, pg, S_O7);
	if (mprotect(mpo, 3 * pg, PROT_READ))
		setup_fail("mprotect: %s", strerror(errno));

	/* /dev/shm */
	/* the PID alone repeats in the ns flavour (2 every time) and /dev/shm
	 * is the host's there: a run that failed must not stop the next */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(shm_name, sizeof(shm_name), "/cryo-mps-%d-%ld", getpid(), (long)now.tv_nsec);
	dfd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (dfd < 0 || ftruncate(dfd, 4 * pg))
		setup_fail("shm_open %s: %s", shm_name, strerror(errno));
	for (int i = 0; i < 4; i++)
		put_page(dfd, i, dseed[i] = S_DSH + i);
	dsp = map(3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, dfd, pg, "/dev/shm private");
	pattern_fill(dsp, pg, S_D1);

	/* shared anonymous memory, mapped again privately */
	sa = map(4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0, "shared anon");
	for (int i = 0; i < 4; i++)
		pattern_fill(sa + i * pg, pg, saseed[i] = S_SA + i);
	char link[96];
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)sa,
		 (unsigned long)(sa + 4 * pg));
	int afd = open(link, O_RDWR);
	if (afd < 0)
		setup_fail("open %s: %s", link, strerror(errno));
	sap = map(4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, afd, 0, "shared anon private");
	close(afd);
	pattern_fill(sap + pg, pg, S_SAP1);

	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		pattern_fill(mpr + 8 * pg, pg, S_C8);
		while (test_go())
			test_sleep_ms(20);
		later_changes(false);	/* the parent made them before signalling */
		check_all("child", true);
		_exit(test_failures() ? 1 : 0);
	}
	test_sleep_ms(50);

	test_daemon();
	test_waitsig();

	check_all("parent", false);
	later_changes(true);
	check_all("parent, after changing the objects", false);

	int st;
	kill(kid, SIGTERM);
	if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the child found its memory wrong (status 0x%x, see its messages)", st);
	shm_unlink(shm_name);
	return test_verdict();
}
