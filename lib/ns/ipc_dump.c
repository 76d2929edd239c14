/* IPC namespaces, dump side: the ipc sysctls (ipcns-var-ID.img) and every
 * SysV object of the namespace -- shared memory segments with their
 * contents (ipcns-shm-ID.img), message queues with their messages
 * (ipcns-msg-ID.img), semaphore sets with their values (ipcns-sem-ID.img),
 * in criu's layouts (docs/images.md).  cryo's thread enters the namespace
 * (setns): the *_STAT calls, msgrcv(MSG_COPY), shmat and /proc/sys/kernel
 * all act on the caller's IPC namespace. */
#include "ns/ns-int.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <limits.h>
#include <sched.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ipc-msg.pb-c.h"
#include "ipc-sem.pb-c.h"
#include "ipc-shm.pb-c.h"
#include "ipc-var.pb-c.h"

#ifndef MSG_COPY
#define MSG_COPY 040000		/* linux/msg.h: read message N without removing it */
#endif

union semun_arg {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *info;
};

/* --- the ipc sysctls (criu's list; the *_next_id ones separately) --- */

enum { V_U32, V_U64, V_SEM, V_NEXT };
static const struct ipc_sysctl {
	const char *path;
	int type;
	size_t has_off, off;	/* in IpcVarEntry */
} sysctls[] = {
#define F(name, field, type) { name, type, offsetof(IpcVarEntry, has_##field), \
			       offsetof(IpcVarEntry, field) }
	{ "kernel/sem", V_SEM, 0, 0 },
	F("kernel/msgmax", msg_ctlmax, V_U32),
	F("kernel/msgmnb", msg_ctlmnb, V_U32),
	F("kernel/msgmni", msg_ctlmni, V_U32),
	F("kernel/auto_msgmni", auto_msgmni, V_U32),
	F("kernel/shmmax", shm_ctlmax, V_U64),
	F("kernel/shmall", shm_ctlall, V_U64),
	F("kernel/shmmni", shm_ctlmni, V_U32),
	F("kernel/shm_rmid_forced", shm_rmid_forced, V_U32),
	F("fs/mqueue/queues_max", mq_queues_max, V_U32),
	F("fs/mqueue/msg_max", mq_msg_max, V_U32),
	F("fs/mqueue/msgsize_max", mq_msgsize_max, V_U32),
	F("fs/mqueue/msg_default", mq_msg_default, V_U32),
	F("fs/mqueue/msgsize_default", mq_msgsize_default, V_U32),
	F("kernel/msg_next_id", msg_next_id, V_NEXT),
	F("kernel/sem_next_id", sem_next_id, V_NEXT),
	F("kernel/shm_next_id", shm_next_id, V_NEXT),
#undef F
};

/* Read (or write) the sysctls of the IPC namespace cryo's thread is in.
 * Those this kernel lacks (auto_msgmni is gone from newer ones, the mqueue
 * ones need CONFIG_POSIX_MQUEUE) are left out of the image on dump and
 * skipped on restore.  @next: only the *_next_id ones, else all others. */
int ipcns_sysctls(IpcVarEntry *e, bool write_them, bool next)
{
	for (size_t i = 0; i < ARRAY_SIZE(sysctls); i++) {
		const struct ipc_sysctl *c = &sysctls[i];
		char path[64], buf[96];
		int ret = 0;

		if ((c->type == V_NEXT) != next)
			continue;
		snprintf(path, sizeof(path), "/proc/sys/%s", c->path);
		if (write_them) {
			protobuf_c_boolean *has = (void *)((char *)e + c->has_off);
			if (c->type == V_SEM) {
				if (e->n_sem_ctls != 4)
					continue;
				snprintf(buf, sizeof(buf), "%u %u %u %u", e->sem_ctls[0],
					 e->sem_ctls[1], e->sem_ctls[2], e->sem_ctls[3]);
			} else if (!*has) {
				continue;
			} else if (c->type == V_U64) {
				snprintf(buf, sizeof(buf), "%" PRIu64, *(uint64_t *)((char *)e + c->off));
			} else if (c->type == V_NEXT) {
				/* -1 reads "unset", which only the next get brings
				 * back (the kernel takes 0 and up): nothing to do */
				int32_t v = *(int32_t *)((char *)e + c->off);
				if (v < 0)
					continue;
				snprintf(buf, sizeof(buf), "%d", v);
			} else {
				snprintf(buf, sizeof(buf), "%u", *(uint32_t *)((char *)e + c->off));
			}
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0 && errno == ENOENT)
				continue;
			size_t n = strlen(buf);
			if (fd < 0 || write(fd, buf, n) != (ssize_t)n)
				ret = -errno;
			if (fd >= 0)
				close(fd);
			if (ret)
				return log_errno(ret, "can't set %s to %s in the new IPC namespace", path,
						 buf);
			continue;
		}
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (n < 0)
			ret = -errno;
		if (fd >= 0)
			close(fd);
		if (ret)
			return log_errno(ret, "can't read %s in the IPC namespace being dumped", path);
		buf[n] = '\0';
		if (c->type == V_SEM) {
			e->sem_ctls = xmalloc(4 * sizeof(uint32_t));
			if (!e->sem_ctls)
				return -ENOMEM;
			if (sscanf(buf, "%u %u %u %u", &e->sem_ctls[0], &e->sem_ctls[1],
				   &e->sem_ctls[2], &e->sem_ctls[3]) != 4)
				goto bad;
			e->n_sem_ctls = 4;
			continue;
		}
		void *v = (char *)e + c->off;
		int ok = c->type == V_U64 ? sscanf(buf, "%" SCNu64, (uint64_t *)v) :
			 c->type == V_NEXT ? sscanf(buf, "%" SCNd32, (int32_t *)v) :
			 sscanf(buf, "%" SCNu32, (uint32_t *)v);
		if (ok != 1)
			goto bad;
		*(protobuf_c_boolean *)((char *)e + c->has_off) = 1;
		continue;
bad:
		pr_err("can't parse %s (\"%s\")", path, buf);
		return -EINVAL;
	}
	return 0;
}

static void fill_desc(IpcDescEntry *d, const struct ipc_perm *p, int id)
{
	d->has_key = d->has_uid = d->has_gid = d->has_cuid = d->has_cgid = 1;
	d->has_mode = d->has_id = 1;
	d->key = p->__key;
	d->uid = p->uid;
	d->gid = p->gid;
	d->cuid = p->cuid;
	d->cgid = p->cgid;
	d->mode = p->mode;
	d->id = id;
}

static int write_pad(struct cr_img *img, size_t len, size_t align)
{
	static const char zero[8];
	size_t pad = ROUND_UP(len, align) - len;
	return pad ? img_write_raw(img, zero, pad) : 0;
}

/* The huge page size of a SysV segment cryo attached at @addr (SHM_HUGETLB:
 * the segment lives on hugetlbfs, its block size the page size), or 0. */
static long attached_hugetlb_page(void *addr)
{
	char line[256], link[96];
	unsigned long s, e;
	long ret = 0;
	FILE *f = fopen("/proc/self/maps", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &s, &e) != 2 || s != (unsigned long)addr)
			continue;
		struct statfs sfs;
		snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", s, e);
		if (!statfs(link, &sfs) && sfs.f_type == HUGETLBFS_MAGIC)
			ret = sfs.f_bsize;
		break;
	}
	if (f)
		fclose(f);
	return ret;
}

/* kernel.shm_rmid_forced of the namespace cryo's thread is in (0 if
 * unreadable) */
static bool rmid_forced(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/shm_rmid_forced", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	return n > 0 && atoi(buf) != 0;
}

static int dump_shm(struct cr_img *img)
{
	struct shm_info info;
	int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
	if (max < 0)
		return log_errno(-errno, "shmctl(SHM_INFO) in the IPC namespace being dumped failed");
	bool forced = rmid_forced();
	for (int i = 0; i <= max; i++) {
		struct shmid_ds ds;
		int id = shmctl(i, SHM_STAT, &ds);
		if (id < 0) {
			if (errno == EINVAL)
				continue;	/* a free slot */
			return log_errno(-errno, "shmctl(%d, SHM_STAT) failed", i);
		}
		IpcDescEntry de = IPC_DESC_ENTRY__INIT;
		IpcShmEntry se = IPC_SHM_ENTRY__INIT;
		fill_desc(&de, &ds.shm_perm, id);
		se.desc = &de;
		se.has_size = 1;
		se.size = ds.shm_segsz;
		se.has_in_pagemaps = 1;	/* contents follow the entry */
		/* With kernel.shm_rmid_forced, the last detach removes a segment
		 * (and so would cryo's, from one attached by none), and one
		 * attached by none lives only while the process that made it
		 * does: the restore's segments are made by cryo, which exits. */
		if (forced && ds.shm_nattch == 0) {
			pr_err("SysV segment %d (key 0x%x) is attached by no process while "
			       "kernel.shm_rmid_forced is 1 in its IPC namespace: cryo can neither "
			       "read it without removing it nor make it outlive the restore (attach "
			       "it in a process of the tree, or set kernel.shm_rmid_forced to 0)",
			       id, ds.shm_perm.__key);
			return -EOPNOTSUPP;
		}
		/* cryo's attachment counts in shm_nattch only while it reads */
		void *addr = shmat(id, NULL, SHM_RDONLY);
		if (addr == (void *)-1)
			return log_errno(-errno, "can't attach SysV segment %d (key 0x%x, %zu bytes) "
					 "to save its contents", id, ds.shm_perm.__key,
					 (size_t)ds.shm_segsz);
		long hpage = attached_hugetlb_page(addr);
		if (hpage > 0) {
			se.has_hugetlb_flag = 1;
			se.hugetlb_flag = SHM_HUGETLB | ((uint32_t)__builtin_ctzl(hpage) << 26);
		}
		int ret = img_write_msg(img, &se.base);
		if (!ret)
			ret = img_write_raw(img, addr, ds.shm_segsz);
		shmdt(addr);
		if (!ret)
			ret = write_pad(img, ds.shm_segsz, 4);
		if (ret)
			return ret;
		pr_info("SysV segment %d: key 0x%x, %zu bytes, mode 0%o", id, ds.shm_perm.__key,
			(size_t)ds.shm_segsz, ds.shm_perm.mode);
	}
	return 0;
}

static int dump_msg_queue(struct cr_img *img, int id, const struct msqid_ds *ds)
{
	IpcDescEntry de = IPC_DESC_ENTRY__INIT;
	IpcMsgEntry me = IPC_MSG_ENTRY__INIT;
	fill_desc(&de, &ds->msg_perm, id);
	me.desc = &de;
	me.has_qbytes = me.has_qnum = 1;
	me.qbytes = ds->msg_qbytes;
	me.qnum = ds->msg_qnum;
	int ret = img_write_msg(img, &me.base);
	if (ret)
		return ret;
	/* No message is longer than the bytes the queue holds. */
	size_t bufsz = sizeof(long) + ds->__msg_cbytes + 1;
	struct { long mtype; char mtext[]; } *m = xmalloc(bufsz);
	if (!m)
		return -ENOMEM;
	for (msgqnum_t n = 0; !ret && n < ds->msg_qnum; n++) {
		/* MSG_COPY: message number n, left in the queue */
		ssize_t len = msgrcv(id, m, bufsz - sizeof(long), n, IPC_NOWAIT | MSG_COPY);
		if (len < 0) {
			ret = -errno;
			if (ret == -ENOSYS)
				pr_err("msgrcv(MSG_COPY) is not available (a kernel without "
				       "CONFIG_CHECKPOINT_RESTORE): cryo can't read the messages "
				       "of queue %d without taking them", id);
			else
				log_errno(ret, "msgrcv(MSG_COPY) of message %lu of queue %d (%lu "
					  "messages) failed", (unsigned long)n, id,
					  (unsigned long)ds->msg_qnum);
			break;
		}
		IpcMsg im = IPC_MSG__INIT;
		im.has_mtype = im.has_msize = 1;
		im.mtype = m->mtype;
		im.msize = len;
		ret = img_write_msg(img, &im.base);
		if (!ret)
			ret = img_write_raw(img, m->mtext, len);
		if (!ret)
			ret = write_pad(img, len, 8);
	}
	free(m);
	if (!ret)
		pr_info("SysV message queue %d: key 0x%x, %lu messages", id, ds->msg_perm.__key,
			(unsigned long)ds->msg_qnum);
	return ret;
}

static int dump_msg(struct cr_img *img)
{
	struct msginfo info;
	int max = msgctl(0, MSG_INFO, (struct msqid_ds *)&info);
	if (max < 0)
		return log_errno(-errno, "msgctl(MSG_INFO) in the IPC namespace being dumped failed");
	for (int i = 0; i <= max; i++) {
		struct msqid_ds ds;
		int id = msgctl(i, MSG_STAT, &ds);
		if (id < 0) {
			if (errno == EINVAL)
				continue;
			return log_errno(-errno, "msgctl(%d, MSG_STAT) failed", i);
		}
		int ret = dump_msg_queue(img, id, &ds);
		if (ret)
			return ret;
	}
	return 0;
}

static int dump_sem(struct cr_img *img)
{
	struct seminfo info;
	int max = semctl(0, 0, SEM_INFO, (union semun_arg){ .info = &info });
	if (max < 0)
		return log_errno(-errno, "semctl(SEM_INFO) in the IPC namespace being dumped failed");
	for (int i = 0; i <= max; i++) {
		struct semid_ds ds;
		int id = semctl(i, 0, SEM_STAT, (union semun_arg){ .buf = &ds });
		if (id < 0) {
			if (errno == EINVAL)
				continue;
			return log_errno(-errno, "semctl(%d, SEM_STAT) failed", i);
		}
		unsigned short *vals = xmalloc(ds.sem_nsems * sizeof(*vals) + 1);
		if (!vals)
			return -ENOMEM;
		int ret = 0;
		if (semctl(id, 0, GETALL, (union semun_arg){ .array = vals }) < 0)
			ret = log_errno(-errno, "semctl(%d, GETALL) failed", id);
		IpcDescEntry de = IPC_DESC_ENTRY__INIT;
		IpcSemEntry se = IPC_SEM_ENTRY__INIT;
		fill_desc(&de, &ds.sem_perm, id);
		se.desc = &de;
		se.has_nsems = 1;
		se.nsems = ds.sem_nsems;
		if (!ret)
			ret = img_write_msg(img, &se.base);
		/* criu's layout: the values as u16, padded to 8 bytes */
		if (!ret)
			ret = img_write_raw(img, vals, ds.sem_nsems * sizeof(*vals));
		if (!ret)
			ret = write_pad(img, ds.sem_nsems * sizeof(*vals), 8);
		free(vals);
		if (ret)
			return ret;
		pr_info("SysV semaphore set %d: key 0x%x, %lu semaphores", id, ds.sem_perm.__key,
			(unsigned long)ds.sem_nsems);
	}
	return 0;
}

/* POSIX message queues live in the namespace's own mqueue file system,
 * which only a mount shows: a helper forked in the namespace mounts it in
 * a mount namespace of its own and reports the first queue's name (none:
 * an empty line).  cryo can't save them yet, so a namespace with one is
 * refused. */
static int check_mqueues(pid_t pid)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return log_errno(-errno, "pipe2 failed");
	pid_t kid = fork();
	if (kid < 0) {
		close(p[0]);
		close(p[1]);
		return log_errno(-errno, "fork of the POSIX message queue probe failed");
	}
	if (kid == 0) {
		char out[NAME_MAX + 2] = "\n";
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("mqueue", "/tmp", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
			_exit(2);
		/* plain system calls only: cryo may have other threads
		 * (malloc's lock is not ours to take after fork) */
		char buf[4096] __attribute__((aligned(8)));
		int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
		long got = dir < 0 ? -1 : syscall(SYS_getdents64, dir, buf, sizeof(buf));
		for (long off = 0; off < got;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			size_t len = strlen(de->d_name);
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && len <= NAME_MAX) {
				memcpy(out, de->d_name, len);
				out[len] = '\n';
				out[len + 1] = '\0';
				break;
			}
			off += de->d_reclen;
		}
		_exit(got >= 0 && write(p[1], out, strlen(out)) > 0 ? 0 : 3);
	}
	close(p[1]);
	char name[NAME_MAX + 2] = "";
	ssize_t n = read(p[0], name, sizeof(name) - 1);
	close(p[0]);
	int st;
	waitpid(kid, &st, 0);
	if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		pr_err("can't look for POSIX message queues in the IPC namespace of process %d "
		       "(a helper that mounts its mqueue file system failed, status 0x%x)", pid, st);
		return -EIO;
	}
	name[strcspn(name, "\n")] = '\0';
	if (!*name)
		return 0;
	pr_err("the IPC namespace of process %d holds POSIX message queues (/%s and maybe "
	       "more): cryo can't save them yet (their messages and attributes live in the "
	       "namespace's mqueue file system); remove them with mq_unlink before the dump, "
	       "or use SysV message queues", pid, name);
	return -EOPNOTSUPP;
}

static int dump_one(int dirfd, enum img_type type, uint32_t id, int (*fn)(struct cr_img *))
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, type, IMG_WRITE, id);
	if (ret)
		return ret;
	ret = fn(img);
	int r2 = img_close(img);
	return ret ? ret : r2;
}

int ipcns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id)
{
	IpcVarEntry var = IPC_VAR_ENTRY__INIT;
	int back, ret = ns_enter_pid(d, pid, &back);
	if (ret)
		return ret;
	ret = check_mqueues(pid);
	if (!ret)
		ret = ipcns_sysctls(&var, false, false);
	if (!ret)
		ret = ipcns_sysctls(&var, false, true);
	if (!ret) {
		struct cr_img *img;
		/* criu requires these; a kernel without auto_msgmni reads as 0 */
		var.has_auto_msgmni = 1;
		ret = img_open(&img, st->dirfd, IMG_IPC_VAR, IMG_WRITE, id);
		if (!ret) {
			ret = img_write_msg(img, &var.base);
			int r2 = img_close(img);
			if (!ret)
				ret = r2;
		}
	}
	if (!ret)
		ret = dump_one(st->dirfd, IMG_IPC_SHM, id, dump_shm);
	if (!ret)
		ret = dump_one(st->dirfd, IMG_IPC_MSG, id, dump_msg);
	if (!ret)
		ret = dump_one(st->dirfd, IMG_IPC_SEM, id, dump_sem);
	int r2 = ns_leave(d, back);
	free(var.sem_ctls);
	if (ret)
		pr_err("can't save the IPC namespace of process %d", pid);
	return ret ? ret : r2;
}
