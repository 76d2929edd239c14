/* mem_sysv_private_refuse: a SysV shared memory segment mapped MAP_PRIVATE
 * (through /proc/self/map_files; shmat always shares) can't be restored:
 * shmat can't make a private attachment.  The dump must refuse, naming
 * it, and leave the process running unharmed: after SIGTERM the private
 * mapping still holds its own page and shows the segment elsewhere.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_doc = "a private mapping of a SysV segment: the dump refuses clearly";
	test_init(argc, argv);
	size_t pg = sysconf(_SC_PAGESIZE);
	int id = shmget(IPC_PRIVATE, 2 * pg, IPC_CREAT | 0600);
	char *seg = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (seg == (void *)-1)
		setup_fail("shmget/shmat: %s", strerror(errno));
	shmctl(id, IPC_RMID, NULL);	/* gone with the last detach */
	pattern_fill(seg, 2 * pg, 41);
	char link[96];
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)seg,
		 (unsigned long)(seg + 2 * pg));
	int fd = open(link, O_RDWR);
	char *p = fd < 0 ? MAP_FAILED : mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		setup_fail("private mapping of %s: %s", link, strerror(errno));
	close(fd);
	pattern_fill(p, pg, 42);

	test_daemon();
	test_waitsig();

	if (pattern_check(p, pg, 42) >= 0)
		fail("the private page of the mapping changed");
	pattern_fill(seg + pg, pg, 43);
	if (pattern_check(p + pg, pg, 43) >= 0)
		fail("the untouched private page does not show the segment");
	if (pattern_check(seg, pg, 41) >= 0)
		fail("the segment changed");
	return test_verdict();
}
