/* mem_hugetlb_refuse: the one kind of hugetlb memory cryo still refuses, a
 * SysV segment of huge pages (SHM_HUGETLB) mapped privately, which only
 * mmap() of its /proc/PID/map_files link can make (shmat always shares):
 * its untouched pages would have to show the segment, which cryo maps
 * again only with shmat.  The dump must refuse, naming the mapping, and
 * leave the process running unharmed (after SIGTERM the private copy and
 * the segment's contents are as they were).  vm.nr_hugepages is raised for
 * the test and put back at the end, the segment removed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "hugepool.h"

static int shmid = -1;

static void rm_segment(void)
{
	if (shmid >= 0)
		shmctl(shmid, IPC_RMID, NULL);
}

int main(int argc, char **argv)
{
	test_doc = "a SysV SHM_HUGETLB segment mapped privately: the dump refuses clearly";
	test_init(argc, argv);
	if (hugepool_grow(4))
		setup_fail("can't add 4 huge pages to vm.nr_hugepages");
	shmid = shmget(IPC_PRIVATE, HPAGE, IPC_CREAT | 0600 | SHM_HUGETLB);
	if (shmid < 0)
		setup_fail("shmget(SHM_HUGETLB): %s", strerror(errno));
	atexit(rm_segment);
	uint8_t *sh = shmat(shmid, NULL, 0);
	if (sh == (void *)-1)
		setup_fail("shmat: %s", strerror(errno));
	pattern_fill(sh, HPAGE, 1);
	char link[96];
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)sh,
		 (unsigned long)sh + HPAGE);
	int fd = open(link, O_RDWR | O_CLOEXEC);
	uint8_t *pr = fd < 0 ? MAP_FAILED :
		      mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (pr == MAP_FAILED)
		setup_fail("private mapping of %s: %s", link, strerror(errno));
	close(fd);
	pattern_fill(pr, HPAGE, 2);

	test_daemon();
	test_waitsig();

	if (pattern_check(sh, HPAGE, 1) >= 0)
		fail("the segment's contents changed");
	if (pattern_check(pr, HPAGE, 2) >= 0)
		fail("the private copy changed");
	return test_verdict();
}
