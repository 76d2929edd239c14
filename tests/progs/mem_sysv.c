/* mem_sysv: SysV shared memory attachments of one process, in the IPC
 * namespace cryo shares (see docs/memory.md for what is restored).
 *
 * State built before the checkpoint:
 *   - segment K (a private key chosen from the pid): 3 pages + 123 bytes with
 *     a pattern, attached read-write at k, and again read-only at kr; it is
 *     not removed, so it outlives the dumped process and the restore
 *     attaches the existing segment;
 *   - segment D (IPC_PRIVATE): 2 pages with a pattern, attached at d, then
 *     IPC_RMID'ed: it dies with the dumped process, so the restore must
 *     recreate it with the same id, contents and the "destroyed" mark.
 * After SIGTERM: contents, perms (rw-s / r--s), ids behind the mappings,
 * that K is still shared with the segment (a new shmat sees a write made
 * through k) and that D is marked SHM_DEST.  K is removed at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "zdtmtst.h"
#include "memkinds.h"

enum { S_K = 0x1100, S_D = 0x2200, S_NEW = 0x3300 };
static size_t pg, ksize;
static int kid = -1, did = -1;
static key_t key;
static char *k, *kr, *d;

static void check_area(const char *what, const void *buf, size_t len, uint64_t seed)
{
	ssize_t off = pattern_check(buf, len, seed);
	if (off >= 0)
		fail("%s (%p): byte %zd is 0x%02x, expected 0x%02x", what, buf, off,
		     ((const uint8_t *)buf)[off], pattern_byte(seed, off));
}

static void check_map(const char *what, const void *addr, const char *perms, int id)
{
	struct smaps_vma v;
	char want[64];
	if (smaps_lookup(addr, NULL, &v)) {
		fail("%s (%p): no longer mapped", what, addr);
		return;
	}
	if (strcmp(v.perms, perms))
		fail("%s (%p): mapped %s, expected %s", what, addr, v.perms, perms);
	snprintf(want, sizeof(want), "/SYSV%08x", id == did ? 0 : (unsigned)key);
	if (strncmp(v.path, want, strlen(want)))
		fail("%s (%p): maps says \"%s\", expected \"%s\"", what, addr, v.path, want);
}

int main(int argc, char **argv)
{
	test_doc = "SysV shared memory: a live segment and a removed one";
	test_init(argc, argv);
	pg = sysconf(_SC_PAGESIZE);
	ksize = 3 * pg + 123;

	key = 0x43590000 | (getpid() & 0xffff);
	kid = shmget(key, ksize, IPC_CREAT | IPC_EXCL | 0640);
	did = shmget(IPC_PRIVATE, 2 * pg, IPC_CREAT | 0600);
	if (kid < 0 || did < 0)
		setup_fail("shmget: %s", strerror(errno));
	k = shmat(kid, NULL, 0);
	kr = shmat(kid, NULL, SHM_RDONLY);
	d = shmat(did, NULL, 0);
	if (k == (void *)-1 || kr == (void *)-1 || d == (void *)-1)
		setup_fail("shmat: %s", strerror(errno));
	pattern_fill(k, ksize, S_K);
	pattern_fill(d, 2 * pg, S_D);
	if (shmctl(did, IPC_RMID, NULL))
		setup_fail("IPC_RMID: %s", strerror(errno));

	test_daemon();
	test_waitsig();

	check_map("segment K (rw)", k, "rw-s", kid);
	check_map("segment K (ro)", kr, "r--s", kid);
	check_map("removed segment D", d, "rw-s", did);
	check_area("segment K", k, ksize, S_K);
	check_area("segment K (read-only attach)", kr, ksize, S_K);
	if (zero_check(k + ksize, 3 * pg + pg - ksize) >= 0)
		fail("segment K: the tail of its last page is not zero");
	check_area("removed segment D", d, 2 * pg, S_D);

	struct shmid_ds ds;
	if (shmctl(did, IPC_STAT, &ds))
		fail_errno("IPC_STAT of removed segment %d", did);
	else if (!(ds.shm_perm.mode & SHM_DEST) || ds.shm_segsz != 2 * pg)
		fail("segment %d: mode 0%o size %zu, expected SHM_DEST and %zu bytes", did,
		     ds.shm_perm.mode, (size_t)ds.shm_segsz, 2 * pg);
	if (shmctl(kid, IPC_STAT, &ds))
		fail_errno("IPC_STAT of segment %d", kid);
	else if (ds.shm_perm.__key != key || (ds.shm_perm.mode & 0777) != 0640 || ds.shm_segsz != ksize)
		fail("segment %d: key 0x%x mode 0%o size %zu, expected 0x%x 0640 %zu", kid,
		     ds.shm_perm.__key, ds.shm_perm.mode & 0777, (size_t)ds.shm_segsz, key, ksize);

	pattern_fill(k, pg, S_NEW);
	char *again = shmat(kid, NULL, SHM_RDONLY);
	if (again == (void *)-1)
		fail_errno("shmat of segment %d after restore", kid);
	else if (pattern_check(again, pg, S_NEW) >= 0 || pattern_check(kr, pg, S_NEW) >= 0)
		fail("a write through the restored attachment is not in segment %d", kid);
	shmctl(kid, IPC_RMID, NULL);
	return test_verdict();
}
