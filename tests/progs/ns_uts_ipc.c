/* ns_uts_ipc: a tree in UTS and IPC namespaces of its own (the test
 * unshares both, then forks a child that shares them) is dumped and
 * restored into new ones filled as they were:
 *   - host and domain names;
 *   - SysV shared memory: a segment attached by both processes, one
 *     attached by none, one removed while attached (SHM_DEST): ids, keys,
 *     owners, modes, sizes and contents;
 *   - a message queue: its size, owner, mode, and its messages with their
 *     types, in order;
 *   - a semaphore set: its values, owner and mode;
 *   - ipc sysctls (kernel.msgmax, msgmnb, msgmni, sem, shmmni, shmmax,
 *     shmall, a msg_next_id not used yet, and fs.mqueue.msg_max,
 *     msgsize_default, queues_max).
 * On SIGTERM each is checked exactly, and both processes must be in the
 * same UTS and IPC namespaces, not the ones the test started in.
 *   --mqueue  also open a POSIX message queue (cryo refuses it)
 *   --rmid    kernel.shm_rmid_forced 1 (a segment goes at its last detach),
 *             segment b attached by the child: each segment must survive
 *             the dump's and the restore's own attachments
 *   --orphan  kernel.shm_rmid_forced 1 and b attached by none: cryo refuses
 *             it (reading it would remove it; made by the restore, it would
 *             go when cryo exits) */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

static bool mqueue;
TEST_OPTION(mqueue, bool, "also open a POSIX message queue", 0);
static bool rmid;
TEST_OPTION(rmid, bool, "kernel.shm_rmid_forced 1, segment b attached by the child", 0);
static bool orphan;
TEST_OPTION(orphan, bool, "kernel.shm_rmid_forced 1, segment b attached by none (refused)", 0);

#define HOST "cryo-uts-test"
#define DOMAIN "ipc.cryo.example"
#define SZ_A (3 * 4096 + 100)
#define SZ_B 5000
#define SZ_C (2 * 4096)

static ino_t ns_ino(pid_t pid, const char *name)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, name);
	return stat(path, &st) ? 0 : st.st_ino;
}

static int write_sysctl(const char *name, const char *val)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	int fd = open(path, O_WRONLY);
	int ok = fd >= 0 && write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

static void check_sysctl(const char *name, const char *want)
{
	char path[96], buf[96] = "";
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		fail_errno("read %s", path);
		return;
	}
	buf[strcspn(buf, "\n")] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\t')
			*p = ' ';
	if (strcmp(buf, want))
		fail("kernel.%s is \"%s\", not \"%s\"", name, buf, want);
}

union semun_arg {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static const struct { long type; const char *text; } msgs[] = {
	{ 3, "three" }, { 1, "one" }, { 7, NULL /* 1000 bytes of pattern */ }, { 1, "uno" },
	{ 12, "" },
};
static const unsigned short semvals[5] = { 0, 1, 7, 32767, 42 };

static void check_shm(int id, key_t key, size_t size, unsigned mode, uid_t uid, gid_t gid,
		      uint64_t seed, const char *what)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		fail_errno("%s: shmctl(%d, IPC_STAT)", what, id);
		return;
	}
	if (ds.shm_perm.__key != key || ds.shm_segsz != size || (ds.shm_perm.mode & 0777) != mode ||
	    ds.shm_perm.uid != uid || ds.shm_perm.gid != gid)
		fail("%s %d: key 0x%x size %zu mode 0%o owner %d:%d, not 0x%x %zu 0%o %d:%d", what,
		     id, ds.shm_perm.__key, (size_t)ds.shm_segsz, ds.shm_perm.mode & 0777,
		     ds.shm_perm.uid, ds.shm_perm.gid, key, size, mode, uid, gid);
	if (key != IPC_PRIVATE && shmget(key, 0, 0) != id)
		fail("%s: key 0x%x finds %d, not %d", what, key, shmget(key, 0, 0), id);
	void *p = shmat(id, NULL, SHM_RDONLY);
	if (p == (void *)-1) {
		fail_errno("%s: shmat(%d)", what, id);
		return;
	}
	ssize_t bad = pattern_check(p, size, seed);
	if (bad >= 0)
		fail("%s %d: contents differ at offset %zd", what, id, bad);
	shmdt(p);
}

int main(int argc, char **argv)
{
	test_doc = "SysV IPC objects and host names of a tree's own namespaces come back";
	test_init(argc, argv);

	ino_t host_uts = ns_ino(getpid(), "uts"), host_ipc = ns_ino(getpid(), "ipc");
	if (unshare(CLONE_NEWUTS | CLONE_NEWIPC))
		setup_fail("unshare(CLONE_NEWUTS | CLONE_NEWIPC): %s", strerror(errno));
	if (sethostname(HOST, strlen(HOST)) || setdomainname(DOMAIN, strlen(DOMAIN)))
		setup_fail("sethostname/setdomainname: %s", strerror(errno));
	if (write_sysctl("msgmax", "12345") || write_sysctl("msgmnb", "30000") ||
	    write_sysctl("sem", "300 64000 50 256") || write_sysctl("shmmni", "777"))
		setup_fail("ipc sysctls: %s", strerror(errno));

	/* ids that are not the first ones: a few objects made and removed */
	for (int i = 0; i < 3; i++) {
		shmctl(shmget(IPC_PRIVATE, 4096, 0600), IPC_RMID, NULL);
		msgctl(msgget(IPC_PRIVATE, 0600), IPC_RMID, NULL);
		semctl(semget(IPC_PRIVATE, 1, 0600), 0, IPC_RMID);
	}
	int shm_a = shmget(0xC0FFEE, SZ_A, IPC_CREAT | 0640);
	int shm_b = shmget(0xB0B, SZ_B, IPC_CREAT | 0604);
	int shm_c = shmget(IPC_PRIVATE, SZ_C, IPC_CREAT | 0600);
	if (shm_a < 0 || shm_b < 0 || shm_c < 0)
		setup_fail("shmget: %s", strerror(errno));
	char *a = shmat(shm_a, NULL, 0), *c = shmat(shm_c, NULL, 0);
	char *b = shmat(shm_b, NULL, 0);
	if (a == (void *)-1 || b == (void *)-1 || c == (void *)-1)
		setup_fail("shmat: %s", strerror(errno));
	pattern_fill(a, SZ_A, 1);
	pattern_fill(b, SZ_B, 2);
	pattern_fill(c, SZ_C, 3);
	shmdt(b);	/* b: attached by nobody */
	struct shmid_ds sds = { 0 };
	sds.shm_perm.uid = 1234;
	sds.shm_perm.gid = 5678;
	sds.shm_perm.mode = 0660;
	if (shmctl(shm_a, IPC_SET, &sds) || shmctl(shm_c, IPC_RMID, NULL))
		setup_fail("shmctl: %s", strerror(errno));

	int mq = msgget(0xBEEF, IPC_CREAT | 0620);
	if (mq < 0)
		setup_fail("msgget: %s", strerror(errno));
	struct msqid_ds mds;
	if (msgctl(mq, IPC_STAT, &mds))
		setup_fail("msgctl: %s", strerror(errno));
	mds.msg_qbytes = 20000;
	mds.msg_perm.uid = 4321;
	if (msgctl(mq, IPC_SET, &mds))
		setup_fail("msgctl IPC_SET: %s", strerror(errno));
	struct { long mtype; char mtext[1000]; } m;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		m.mtype = msgs[i].type;
		size_t len = msgs[i].text ? strlen(msgs[i].text) : sizeof(m.mtext);
		if (msgs[i].text)
			memcpy(m.mtext, msgs[i].text, len);
		else
			pattern_fill(m.mtext, len, 4);
		if (msgsnd(mq, &m, len, IPC_NOWAIT))
			setup_fail("msgsnd: %s", strerror(errno));
	}

	int sem = semget(0xFACE, 5, IPC_CREAT | 0600);
	if (sem < 0 || semctl(sem, 0, SETALL, (union semun_arg){ .array = (unsigned short *)semvals }))
		setup_fail("semget/SETALL: %s", strerror(errno));

	/* the other ipc sysctls, last: a *_next_id set and not used yet;
	 * shm_rmid_forced removes a segment at its last detach (cryo's too)
	 * and one nobody attached when its creator exits */
	if ((rmid || orphan) && write_sysctl("shm_rmid_forced", "1"))
		setup_fail("shm_rmid_forced: %s", strerror(errno));
	if (write_sysctl("msgmni", "555") || write_sysctl("shmmax", "123456789") ||
	    write_sysctl("shmall", "2345678") ||
	    write_sysctl("../fs/mqueue/msg_max", "77") ||
	    write_sysctl("../fs/mqueue/msgsize_default", "999") ||
	    write_sysctl("../fs/mqueue/queues_max", "33") || write_sysctl("msg_next_id", "4242"))
		setup_fail("ipc sysctls: %s", strerror(errno));

	mqd_t pmq = (mqd_t)-1;
	if (mqueue) {
		struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 64 };
		pmq = mq_open("/cryo-test", O_CREAT | O_RDWR, 0600, &attr);
		if (pmq == (mqd_t)-1 || mq_send(pmq, "hi", 2, 5))
			setup_fail("mq_open/mq_send: %s", strerror(errno));
	}

	int sync[2];
	if (pipe(sync))
		setup_fail("pipe: %s", strerror(errno));
	pid_t kid = fork();
	if (kid < 0)
		setup_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		test_forked_child();
		if (rmid && shmat(shm_b, NULL, SHM_RDONLY) == (void *)-1)
			setup_fail("shmat b in the child: %s", strerror(errno));
		if (write(sync[1], "k", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char k;
	if (read(sync[0], &k, 1) != 1)
		setup_fail("the child did not start");

	test_daemon();
	test_waitsig();

	ino_t uts = ns_ino(getpid(), "uts"), ipc = ns_ino(getpid(), "ipc");
	if (uts == host_uts || ipc == host_ipc)
		fail("back in the namespaces the test started in (uts %s, ipc %s)",
		     uts == host_uts ? "yes" : "no", ipc == host_ipc ? "yes" : "no");
	if (ns_ino(kid, "uts") != uts || ns_ino(kid, "ipc") != ipc)
		fail("the child %d is in other namespaces than its parent", kid);

	struct utsname u;
	if (uname(&u))
		fail_errno("uname");
	else if (strcmp(u.nodename, HOST) || strcmp(u.domainname, DOMAIN))
		fail("host name \"%s\", domain name \"%s\": not \"%s\", \"%s\"", u.nodename,
		     u.domainname, HOST, DOMAIN);

	check_sysctl("msgmax", "12345");
	check_sysctl("msgmnb", "30000");
	check_sysctl("sem", "300 64000 50 256");
	check_sysctl("shmmni", "777");
	check_sysctl("msgmni", "555");
	check_sysctl("shmmax", "123456789");
	check_sysctl("shmall", "2345678");
	check_sysctl("shm_rmid_forced", rmid || orphan ? "1" : "0");
	check_sysctl("../fs/mqueue/msg_max", "77");
	check_sysctl("../fs/mqueue/msgsize_default", "999");
	check_sysctl("../fs/mqueue/queues_max", "33");
	check_sysctl("msg_next_id", "4242");

	/* a: still attached here, same contents through the old mapping */
	check_shm(shm_a, 0xC0FFEE, SZ_A, 0660, 1234, 5678, 1, "segment a");
	ssize_t bad = pattern_check(a, SZ_A, 1);
	if (bad >= 0)
		fail("segment a's mapping differs at offset %zd", bad);
	pattern_fill(a, 64, 9);	/* and it is the segment: a write shows there */
	char *a2 = shmat(shm_a, NULL, SHM_RDONLY);
	if (a2 == (void *)-1 || pattern_check(a2, 64, 9) >= 0)
		fail("segment a's mapping is not segment %d", shm_a);
	if (a2 != (void *)-1)
		shmdt(a2);
	pattern_fill(a, 64, 1);
	check_shm(shm_b, 0xB0B, SZ_B, 0604, 0, 0, 2, "segment b");
	/* c: removed while attached, so only our mapping (and the child's) */
	struct shmid_ds cds;
	if (shmctl(shm_c, IPC_STAT, &cds))
		fail_errno("segment c: shmctl(%d, IPC_STAT)", shm_c);
	else if (!(cds.shm_perm.mode & SHM_DEST) || cds.shm_segsz != SZ_C)
		fail("segment c %d: mode 0%o size %zu, not removed with %d bytes", shm_c,
		     cds.shm_perm.mode, (size_t)cds.shm_segsz, SZ_C);
	else if (cds.shm_nattch != 2)
		fail("segment c: %lu attachments, not 2", (unsigned long)cds.shm_nattch);
	bad = pattern_check(c, SZ_C, 3);
	if (bad >= 0)
		fail("segment c differs at offset %zd", bad);

	if (msgctl(mq, IPC_STAT, &mds))
		fail_errno("msgctl(%d, IPC_STAT)", mq);
	else if (mds.msg_perm.__key != 0xBEEF || (mds.msg_perm.mode & 0777) != 0620 ||
		 mds.msg_perm.uid != 4321 || mds.msg_qbytes != 20000 ||
		 mds.msg_qnum != sizeof(msgs) / sizeof(msgs[0]))
		fail("queue %d: key 0x%x mode 0%o uid %d qbytes %lu qnum %lu", mq,
		     mds.msg_perm.__key, mds.msg_perm.mode & 0777, mds.msg_perm.uid,
		     (unsigned long)mds.msg_qbytes, (unsigned long)mds.msg_qnum);
	if (msgget(0xBEEF, 0) != mq)
		fail("key 0xBEEF finds queue %d, not %d", msgget(0xBEEF, 0), mq);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		ssize_t len = msgrcv(mq, &m, sizeof(m.mtext), 0, IPC_NOWAIT);
		size_t want = msgs[i].text ? strlen(msgs[i].text) : sizeof(m.mtext);
		if (len < 0) {
			fail_errno("msgrcv of message %zu", i);
			break;
		}
		if (m.mtype != msgs[i].type || (size_t)len != want ||
		    (msgs[i].text ? memcmp(m.mtext, msgs[i].text, len) :
				    pattern_check(m.mtext, len, 4) >= 0))
			fail("message %zu: type %ld, %zd bytes: not the one sent (type %ld, %zu "
			     "bytes)", i, m.mtype, len, msgs[i].type, want);
	}

	unsigned short vals[5];
	struct semid_ds semds;
	if (semctl(sem, 0, GETALL, (union semun_arg){ .array = vals }) < 0 ||
	    semctl(sem, 0, IPC_STAT, (union semun_arg){ .buf = &semds }) < 0)
		fail_errno("semctl(%d)", sem);
	else if (memcmp(vals, semvals, sizeof(vals)) || semds.sem_nsems != 5 ||
		 (semds.sem_perm.mode & 0777) != 0600 || semget(0xFACE, 0, 0) != sem)
		fail("semaphore set %d: values %u %u %u %u %u, %lu semaphores, mode 0%o", sem,
		     vals[0], vals[1], vals[2], vals[3], vals[4], (unsigned long)semds.sem_nsems,
		     semds.sem_perm.mode & 0777);

	int st;
	if (waitpid(kid, &st, WNOHANG) != 0)
		fail("the child %d is gone", kid);
	kill(kid, SIGKILL);
	waitpid(kid, &st, 0);
	if (pmq != (mqd_t)-1)
		mq_unlink("/cryo-test");
	return test_verdict();
}
