/* The UTS and IPC namespace steps (lib/ns uts.c, ipc_dump.c,
 * ipc_restore.c) on real namespaces, without a tree dump: a child fills a
 * new UTS+IPC namespace; its dump steps write the images; the create steps
 * fill another new namespace from them, which must then hold the same
 * names, sysctls and SysV objects (ids, keys, owners, modes, contents,
 * messages in order, semaphore values).  Needs root (skipped otherwise). */
#include "../unit.h"
#include "ns/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

union semun_arg {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

struct ids { int shm, shm_unattached, msg, sem; };

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	int ok = fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* A child in new UTS and IPC namespaces; with @populate, it makes the
 * objects and reports their ids.  Returns its PID (it pauses). */
static pid_t ns_child(bool populate, struct ids *ids)
{
	int p[2];
	if (pipe(p))
		return -1;
	pid_t kid = fork();
	if (kid)
		close(p[1]);
	if (kid < 0 || kid > 0) {
		struct ids got = { -1, -1, -1, -1 };
		if (kid > 0 && read(p[0], &got, sizeof(got)) != sizeof(got))
			kid = -1;
		close(p[0]);
		if (ids)
			*ids = got;
		return kid;
	}
	struct ids my = { 0 };
	if (unshare(CLONE_NEWUTS | CLONE_NEWIPC))
		_exit(1);
	if (populate) {
		if (sethostname("unit-host", 9) || setdomainname("unit.domain", 11) ||
		    write_str("/proc/sys/kernel/msgmax", "4321") ||
		    write_str("/proc/sys/kernel/msg_next_id", "777"))
			_exit(1);
		my.msg = msgget(0x2222, IPC_CREAT | 0640);	/* takes id 777 */
		shmctl(shmget(IPC_PRIVATE, 100, 0600), IPC_RMID, NULL);
		my.shm = shmget(0x1111, 10000, IPC_CREAT | 0604);
		my.shm_unattached = shmget(IPC_PRIVATE, 3000, IPC_CREAT | 0600);
		my.sem = semget(0x3333, 3, IPC_CREAT | 0660);
		unsigned char *a = shmat(my.shm, NULL, 0), *b = shmat(my.shm_unattached, NULL, 0);
		if (my.msg < 0 || my.shm < 0 || my.shm_unattached < 0 || my.sem < 0 ||
		    a == (void *)-1 || b == (void *)-1)
			_exit(1);
		fill(a, 10000, 1);
		fill(b, 3000, 2);
		shmdt(b);
		struct shmid_ds sds = { 0 };
		sds.shm_perm.uid = 11;
		sds.shm_perm.gid = 22;
		sds.shm_perm.mode = 0644;
		unsigned short vals[3] = { 5, 0, 300 };
		struct { long type; char text[8]; } m[3] = { { 9, "nine" }, { 2, "two" }, { 9, "again" } };
		for (int i = 0; i < 3; i++)
			if (msgsnd(my.msg, &m[i], strlen(m[i].text), 0))
				_exit(1);
		if (shmctl(my.shm, IPC_SET, &sds) ||
		    semctl(my.sem, 0, SETALL, (union semun_arg){ .array = vals }))
			_exit(1);
	}
	if (write(p[1], &my, sizeof(my)) != sizeof(my))
		_exit(1);
	for (;;)
		pause();
}

static void check_restored(const struct ids *ids)
{
	struct utsname u;
	CHECK_INT(uname(&u), 0);
	CHECK_STR(u.nodename, "unit-host");
	CHECK_STR(u.domainname, "unit.domain");

	char buf[64] = "";
	int fd = open("/proc/sys/kernel/msgmax", O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0);
	if (fd >= 0)
		close(fd);
	CHECK_INT(atoi(buf), 4321);

	CHECK_INT(shmget(0x1111, 0, 0), ids->shm);
	struct shmid_ds ds;
	CHECK_INT(shmctl(ids->shm, IPC_STAT, &ds), 0);
	CHECK_INT(ds.shm_segsz, 10000);
	CHECK_INT(ds.shm_perm.uid, 11);
	CHECK_INT(ds.shm_perm.gid, 22);
	CHECK_INT(ds.shm_perm.mode & 0777, 0644);
	unsigned char want[10000];
	unsigned char *a = shmat(ids->shm, NULL, SHM_RDONLY);
	CHECK(a != (void *)-1);
	if (a != (void *)-1) {
		fill(want, 10000, 1);
		CHECK(!memcmp(a, want, 10000));
		shmdt(a);
	}
	CHECK_INT(shmctl(ids->shm_unattached, IPC_STAT, &ds), 0);
	CHECK_INT(ds.shm_segsz, 3000);
	CHECK_INT(ds.shm_perm.__key, IPC_PRIVATE);
	a = shmat(ids->shm_unattached, NULL, SHM_RDONLY);
	CHECK(a != (void *)-1);
	if (a != (void *)-1) {
		fill(want, 3000, 2);
		CHECK(!memcmp(a, want, 3000));
		shmdt(a);
	}

	CHECK_INT(ids->msg, 777);
	CHECK_INT(msgget(0x2222, 0), ids->msg);
	struct msqid_ds mds;
	CHECK_INT(msgctl(ids->msg, IPC_STAT, &mds), 0);
	CHECK_INT(mds.msg_qnum, 3);
	CHECK_INT(mds.msg_perm.mode & 0777, 0640);
	static const struct { long type; const char *text; } m[3] = {
		{ 9, "nine" }, { 2, "two" }, { 9, "again" } };
	for (int i = 0; i < 3; i++) {
		struct { long type; char text[16]; } got = { 0 };
		ssize_t n = msgrcv(ids->msg, &got, sizeof(got.text) - 1, 0, IPC_NOWAIT);
		CHECK_INT(n, strlen(m[i].text));
		CHECK_INT(got.type, m[i].type);
		CHECK_STR(got.text, m[i].text);
	}

	unsigned short vals[3] = { 1, 1, 1 };
	CHECK_INT(semget(0x3333, 0, 0), ids->sem);
	CHECK(semctl(ids->sem, 0, GETALL, (union semun_arg){ .array = vals }) >= 0);
	CHECK_INT(vals[0], 5);
	CHECK_INT(vals[1], 0);
	CHECK_INT(vals[2], 300);
}

int main(void)
{
	if (geteuid()) {
		printf("ipcns: needs root, skipped\n");
		return 77;
	}
	char dir[] = "/tmp/cryo-unit-ipcns-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dirfd >= 0);

	struct ids ids;
	pid_t src = ns_child(true, &ids);
	CHECK(src > 0 && ids.shm >= 0);
	struct ns_dump st;
	CHECK_INT(ns_dump_init(&st, dirfd), 0);
	const struct ns_desc *uts = ns_desc(NS_UTS), *ipc = ns_desc(NS_IPC);
	CHECK_INT(uts->dump(&st, uts, src, 3), 0);
	CHECK_INT(ipc->dump(&st, ipc, src, 4), 0);
	ns_dump_fini(&st);

	pid_t dst = ns_child(false, NULL);
	CHECK(dst > 0);
	struct ns_set set;
	ns_set_self(&set);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/uts", dst);
	set.fd[NS_UTS] = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", dst);
	set.fd[NS_IPC] = open(path, O_RDONLY | O_CLOEXEC);
	CHECK_INT(uts->create(uts, dirfd, &set, 3), 0);
	CHECK_INT(ipc->create(ipc, dirfd, &set, 4), 0);

	/* look from inside the new ones */
	int back_uts, back_ipc;
	CHECK_INT(ns_enter(&set, uts, &back_uts), 0);
	CHECK_INT(ns_enter(&set, ipc, &back_ipc), 0);
	check_restored(&ids);
	CHECK_INT(ns_leave(ipc, back_ipc), 0);
	CHECK_INT(ns_leave(uts, back_uts), 0);
	ns_set_close(&set);

	/* and cryo's own host name was never touched */
	struct utsname u;
	CHECK_INT(uname(&u), 0);
	CHECK(strcmp(u.nodename, "unit-host"));

	kill(src, SIGKILL);
	kill(dst, SIGKILL);
	waitpid(src, NULL, 0);
	waitpid(dst, NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (getenv("CRYO_UNIT_KEEP"))	/* to look at the images (crit decode) */
		printf("images kept in %s\n", dir);
	else
		CHECK_INT(system(cmd), 0);
	return unit_done("ipcns");
}
