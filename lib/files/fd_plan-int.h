/* Planning where a task's descriptors go at restore (fd_plan.c), apart
 * from the task it is carried out in, so it can be tested alone: the fd
 * table as dumped becomes sorted slots, and each batch of descriptors the
 * task received (SCM_RIGHTS puts them at the lowest free numbers) becomes
 * the dup3/close/fcntl calls that move them to their numbers. */
#ifndef CRYO_FILES_FD_PLAN_INT_H
#define CRYO_FILES_FD_PLAN_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* At most this many descriptors per SCM_RIGHTS message (the kernel's
 * SCM_MAX_FD). */
#define FDS_PER_MSG 253

struct rst_file;

struct fd_slot {
	int target;		/* the fd number it had */
	bool cloexec;
	struct rst_file *f;
	int src;		/* index of the first slot with the same file, or -1 */
};

/* Sort @s[0..@nr) by target and link every slot to the first one of its
 * file (src): only those are passed, the others are dup3s of them.
 * *@maxfd: the highest target (-1 if none).  -EINVAL (logged) if two
 * slots of process @pid have one target. */
int fd_plan_slots(struct fd_slot *s, int nr, pid_t pid, int *maxfd);

/* Where the calls of a plan go: (__NR_dup3, old, new, flags),
 * (__NR_close, fd), (__NR_fcntl, fd, F_SETFD, 0).  Nonzero stops it. */
typedef int (*fd_plan_call)(void *arg, long nr, uint64_t a1, uint64_t a2, uint64_t a3);

/* The calls that put slots [@from, @to) in place: the first ones of their
 * files (src -1) were received at @recv[0..@nrecv) in order (@recv is
 * updated as they move).  A received descriptor that sits on another
 * slot's target moves out of the way first, to a number from @spare_base
 * up that is neither @transport nor another received one (@spare_base is
 * above every target).  Every received descriptor ends at its target or
 * closed. */
int fd_plan_chunk(struct fd_slot *s, int from, int to, int *recv, int nrecv, int spare_base,
		  int transport, fd_plan_call call, void *arg);

/* The lowest number that starts @len numbers none of the @nr slots
 * (sorted) targets, under the highest target; -1 if there is none. */
int fd_plan_gap(const struct fd_slot *s, int nr, int len);

#endif
