/* IPC namespaces, restore side: cryo enters the new namespace (the root's
 * clone3 made it) and fills it from ipcns-*-ID.img: the ipc sysctls, then
 * each SysV object with its old id (kernel.{shm,msg,sem}_next_id is taken,
 * and reset, by the next get of its kind), key, owner and mode, then the
 * *_next_id values the namespace had.  Creator ids (cuid, cgid) and times
 * are the kernel's to set: they read as cryo's and the restore's. */
#include "ns/ns-int.h"
#include "images/image.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "ipc-msg.pb-c.h"
#include "ipc-sem.pb-c.h"
#include "ipc-shm.pb-c.h"

union semun_arg {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int set_next_id(const char *kind, int id)
{
	char path[64], buf[16];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s_next_id", kind);
	int n = snprintf(buf, sizeof(buf), "%d", id);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ret = fd < 0 || write(fd, buf, n) != n ? -errno : 0;
	if (fd >= 0)
		close(fd);
	if (ret)
		return log_errno(ret, "can't set %s to %d to recreate SysV object %d", path, id, id);
	return 0;
}

static int write_rmid_forced(void)
{
	int fd = open("/proc/sys/kernel/shm_rmid_forced", O_WRONLY | O_CLOEXEC);
	int ret = fd < 0 || write(fd, "1", 1) != 1 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	if (ret)
		return log_errno(ret, "can't set kernel.shm_rmid_forced to 1 in the new IPC "
				 "namespace");
	return 0;
}

static int check_desc(const IpcDescEntry *d, const char *img)
{
	if (!d || !d->has_id || !d->has_key || !d->has_mode || !d->has_uid || !d->has_gid) {
		pr_err("%s: an object without its description (key, id, owner, mode)", img);
		return -EINVAL;
	}
	return 0;
}

/* The get made the object with id @got: it must be the dumped one's. */
static int check_id(const char *what, const IpcDescEntry *d, int got, int (*rm)(int))
{
	if (got < 0)
		return log_errno(-errno, "can't recreate SysV %s %u (key 0x%x)", what, d->id, d->key);
	if ((uint32_t)got == d->id)
		return 0;
	rm(got);
	pr_err("recreating SysV %s %u (key 0x%x) gave id %d: the kernel did not take "
	       "kernel.*_next_id", what, d->id, d->key, got);
	return -EEXIST;
}

static int shm_rm(int id) { return shmctl(id, IPC_RMID, NULL); }
static int msg_rm(int id) { return msgctl(id, IPC_RMID, NULL); }
static int sem_rm(int id) { return semctl(id, 0, IPC_RMID); }

static int restore_shm(struct cr_img *img)
{
	for (;;) {
		IpcShmEntry *e;
		int ret = img_read_msg(img, &ipc_shm_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			return ret;
		const IpcDescEntry *d = e->desc;
		ret = check_desc(d, img_name(img));
		if (!ret && e->has_in_pagemaps && e->in_pagemaps) {
			pr_err("%s: segment %u has its contents in pagemaps: not supported",
			       img_name(img), d->id);
			ret = -EOPNOTSUPP;
		}
		if (!ret && (d->mode & SHM_DEST)) {
			/* Removed while attached: it lives only through its
			 * attachments, and the shared memory registry (lib/mem)
			 * recreates it when the first task attaches it. */
			ret = img_skip_raw(img, ROUND_UP(e->size, 4));
			protobuf_c_message_free_unpacked(&e->base, NULL);
			if (ret)
				return ret;
			continue;
		}
		if (!ret)
			ret = set_next_id("shm", d->id);
		if (!ret)
			ret = check_id("shared memory segment", d,
				       shmget(d->key, e->size, IPC_CREAT | IPC_EXCL | (d->mode & 0777) |
					      (e->has_hugetlb_flag ? (int)e->hugetlb_flag : 0)),
				       shm_rm);
		void *addr = (void *)-1;
		if (!ret) {
			addr = shmat(d->id, NULL, 0);
			if (addr == (void *)-1)
				ret = log_errno(-errno, "can't attach the new SysV segment %u to fill it",
						d->id);
		}
		if (!ret)
			ret = img_read_raw(img, addr, e->size);
		if (addr != (void *)-1)
			shmdt(addr);
		if (!ret)
			ret = img_skip_raw(img, ROUND_UP(e->size, 4) - e->size);
		if (!ret) {
			struct shmid_ds ds = { 0 };
			ds.shm_perm.uid = d->uid;
			ds.shm_perm.gid = d->gid;
			ds.shm_perm.mode = d->mode & 0777;
			if (shmctl(d->id, IPC_SET, &ds) < 0)
				ret = log_errno(-errno, "can't set owner and mode of SysV segment %u",
						d->id);
		}
		if (!ret && (d->mode & SHM_LOCKED) && shmctl(d->id, SHM_LOCK, NULL) < 0)
			ret = log_errno(-errno, "can't lock SysV segment %u in memory (SHM_LOCK) as "
					"it was", d->id);
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (ret)
			return ret;
	}
}

static int restore_msg_queue(struct cr_img *img, const IpcMsgEntry *e)
{
	const IpcDescEntry *d = e->desc;
	int ret = set_next_id("msg", d->id);
	if (!ret)
		ret = check_id("message queue", d, msgget(d->key, IPC_CREAT | IPC_EXCL | (d->mode & 0777)),
			       msg_rm);
	if (ret)
		return ret;
	/* Room first (raising qbytes over msgmnb takes CAP_SYS_RESOURCE),
	 * owner and mode with it: cryo, root, may send whatever the mode. */
	struct msqid_ds ds = { 0 };
	ds.msg_perm.uid = d->uid;
	ds.msg_perm.gid = d->gid;
	ds.msg_perm.mode = d->mode & 0777;
	ds.msg_qbytes = e->qbytes;
	if (msgctl(d->id, IPC_SET, &ds) < 0)
		return log_errno(-errno, "can't set the size (%u bytes), owner and mode of SysV "
				 "message queue %u", e->qbytes, d->id);
	struct { long mtype; char mtext[]; } *m = NULL;
	for (uint32_t n = 0; !ret && n < e->qnum; n++) {
		IpcMsg *im;
		ret = img_read_one(img, &ipc_msg__descriptor, (ProtobufCMessage **)&im);
		if (ret < 0)
			break;
		ret = 0;
		uint32_t len = im->msize;
		long type = im->mtype;
		protobuf_c_message_free_unpacked(&im->base, NULL);
		if (type <= 0 || len > e->qbytes) {
			pr_err("%s: message %u of queue %u has type %ld and %u bytes (the queue "
			       "holds %u): the image is damaged", img_name(img), n, d->id, type, len,
			       e->qbytes);
			ret = -EINVAL;
			break;
		}
		void *nm = xrealloc(m, sizeof(*m) + len + 1);
		if (!nm) {
			ret = -ENOMEM;
			break;
		}
		m = nm;
		m->mtype = type;
		ret = img_read_raw(img, m->mtext, len);
		if (!ret)
			ret = img_skip_raw(img, ROUND_UP(len, 8) - len);
		if (!ret && msgsnd(d->id, m, len, IPC_NOWAIT) < 0)
			ret = log_errno(-errno, "msgsnd of message %u (type %ld, %u bytes) to the new "
					"SysV queue %u failed", n, type, len, d->id);
	}
	free(m);
	return ret;
}

static int restore_msg(struct cr_img *img)
{
	for (;;) {
		IpcMsgEntry *e;
		int ret = img_read_msg(img, &ipc_msg_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			return ret;
		ret = check_desc(e->desc, img_name(img));
		if (!ret)
			ret = restore_msg_queue(img, e);
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (ret)
			return ret;
	}
}

static int restore_sem(struct cr_img *img)
{
	for (;;) {
		IpcSemEntry *e;
		int ret = img_read_msg(img, &ipc_sem_entry__descriptor, (ProtobufCMessage **)&e);
		if (ret <= 0)
			return ret;
		const IpcDescEntry *d = e->desc;
		unsigned short *vals = NULL;
		ret = check_desc(d, img_name(img));
		if (!ret && (!e->nsems || e->nsems > 65536)) {
			pr_err("%s: semaphore set %u has %u semaphores: the image is damaged",
			       img_name(img), d->id, e->nsems);
			ret = -EINVAL;
		}
		if (!ret && !(vals = xmalloc(e->nsems * sizeof(*vals))))
			ret = -ENOMEM;
		if (!ret)
			ret = img_read_raw(img, vals, e->nsems * sizeof(*vals));
		if (!ret)
			ret = img_skip_raw(img, ROUND_UP(e->nsems * sizeof(*vals), 8) -
					   e->nsems * sizeof(*vals));
		if (!ret)
			ret = set_next_id("sem", d->id);
		if (!ret)
			ret = check_id("semaphore set", d,
				       semget(d->key, e->nsems, IPC_CREAT | IPC_EXCL | (d->mode & 0777)),
				       sem_rm);
		if (!ret && semctl(d->id, 0, SETALL, (union semun_arg){ .array = vals }) < 0)
			ret = log_errno(-errno, "can't set the values of SysV semaphore set %u", d->id);
		if (!ret) {
			struct semid_ds ds = { 0 };
			ds.sem_perm.uid = d->uid;
			ds.sem_perm.gid = d->gid;
			ds.sem_perm.mode = d->mode & 0777;
			if (semctl(d->id, 0, IPC_SET, (union semun_arg){ .buf = &ds }) < 0)
				ret = log_errno(-errno, "can't set owner and mode of SysV semaphore "
						"set %u", d->id);
		}
		free(vals);
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (ret)
			return ret;
	}
}

static int restore_one(int dirfd, enum img_type type, uint32_t id, int (*fn)(struct cr_img *))
{
	struct cr_img *img;
	int ret = img_open(&img, dirfd, type, IMG_READ, id);
	if (ret)
		return ret;
	ret = fn(img);
	img_close(img);
	return ret;
}

int ipcns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	struct cr_img *img;
	IpcVarEntry *var;
	int back = -1;
	int ret = img_open(&img, dirfd, IMG_IPC_VAR, IMG_READ, id);
	if (ret)
		return ret;
	ret = img_read_one(img, &ipc_var_entry__descriptor, (ProtobufCMessage **)&var);
	img_close(img);
	if (ret < 0)
		return ret;
	ret = ns_enter(set, d, &back);
	if (ret)
		goto out;
	/* The limits first (criu's order): the objects were made under them.
	 * In a namespace a new user namespace owns, only that namespace's
	 * root may write them (the kernel compares the writer's euid with its
	 * uid, no capability helps): cryo's thread takes that euid meanwhile. */
	/* kernel.shm_rmid_forced after the objects: set, the restore's own
	 * detach from each segment it fills would remove it (no process of
	 * the tree has attached it yet) */
	struct userns_euid as;
	bool rmid = var->has_shm_rmid_forced && var->shm_rmid_forced;
	var->has_shm_rmid_forced = 0;
	ret = userns_as_root(set, &as);
	if (!ret) {
		ret = ipcns_sysctls(var, true, false);
		int r3 = userns_as_self(&as);
		if (!ret)
			ret = r3;
	}
	if (!ret)
		ret = restore_one(dirfd, IMG_IPC_SHM, id, restore_shm);
	if (!ret)
		ret = restore_one(dirfd, IMG_IPC_MSG, id, restore_msg);
	if (!ret)
		ret = restore_one(dirfd, IMG_IPC_SEM, id, restore_sem);
	if (!ret && rmid && !(ret = userns_as_root(set, &as))) {
		ret = write_rmid_forced();
		int r3 = userns_as_self(&as);
		if (!ret)
			ret = r3;
	}
	if (!ret)
		ret = ipcns_sysctls(var, true, true);
	int r2 = ns_leave(d, back);
	if (!ret)
		ret = r2;
out:
	protobuf_c_message_free_unpacked(&var->base, NULL);
	return ret;
}
