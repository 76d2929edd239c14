/* Internals shared by shmem.c, shmem_dump.c and shmem_sysv.c (shared memory
 * objects). */
#ifndef CRYO_MEM_SHMEM_INT_H
#define CRYO_MEM_SHMEM_INT_H

#include "mem/mem.h"

enum shm_kind { SHM_ANON = 1, SHM_MEMFD, SHM_SYSV };

static inline int shmem_vma_kind(const VmaEntry *v)
{
	if (v->status & VMA_AREA_MEMFD)
		return SHM_MEMFD;
	if (v->status & VMA_AREA_SYSVIPC)
		return SHM_SYSV;
	if (v->status & VMA_ANON_SHARED)
		return SHM_ANON;
	return 0;
}

static inline const char *shm_kind_name(int k)
{
	return k == SHM_ANON ? "shared anonymous memory" : k == SHM_MEMFD ? "memfd" :
	       "SysV shared memory";
}

/* One object of the restore registry. */
struct shmem_obj {
	int kind;
	uint64_t key;			/* anon, sysv: shmid; memfd: inode_id */
	uint64_t size;
	const MemfdInodeEntry *mie;
	const IpcShmEntry *ipc;
	off_t ipc_data_off;		/* offset of the segment data in ipcns-shm-0.img */
	pid_t creator;			/* 0: not created yet */
	pid_t creator_procpid;		/* the creator as /proc in the tree shows it */
	uint64_t ref_start, ref_end;	/* a mapping of it in the creator */
	bool sysv_created;		/* this restore created the segment */
	bool sysv_rmid;			/* mark it destroyed once attached */
	void *sysv_fill;		/* cryo's attachment that filled it, kept
					 * until a task has it (kernel.shm_rmid_forced
					 * removes it at its last detach) */
	int cryo_fd;			/* if > 0, cryo's fd of the object: memfd: the
					 * description memfd_create made (memfd_open_hook);
					 * anon: opened through its creator's map_files.
					 * Other tasks' mappings are made from it. */
	bool orig_given;		/* memfd: that description went to a task */
};

/* SysV shared memory (shmem_sysv.c).  Dump: save segment @id, attached by
 * @pid and open in cryo as @fd, into ipcns-shm-0.img. */
int shmem_sysv_dump(struct mem_dump_shared *sd, int fd, pid_t pid, uint64_t id);
/* Restore: make the segment exist with its old id (recreated and filled if
 * it is gone). */
int shmem_sysv_prepare(struct shmem_registry *reg, struct shmem_obj *o);
/* Attach it in the task at the address of @mm's VMA @i (with pgoff 0). */
int shmem_sysv_attach(struct remote *r, const struct shmem_registry *reg, const MmEntry *mm,
		      size_t i, struct shmem_obj *o);

#endif
