/* Where a task's descriptors go at restore (see fd_plan-int.h). */
#include "files/fd_plan-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>

static int cmp_slot(const void *a, const void *b)
{
	const struct fd_slot *x = a, *y = b;
	return x->target - y->target;
}

int fd_plan_slots(struct fd_slot *s, int nr, pid_t pid, int *maxfd)
{
	*maxfd = -1;
	xqsort(s, nr, sizeof(*s), cmp_slot);
	for (int i = 0; i < nr; i++) {
		if (i && s[i].target == s[i - 1].target) {
			pr_err("fdinfo of process %d lists fd %d twice", pid, s[i].target);
			return -EINVAL;
		}
		s[i].src = -1;
		for (int j = i - 1; j >= 0 && s[i].src < 0; j--)
			if (s[j].f == s[i].f)
				s[i].src = s[j].src >= 0 ? s[j].src : j;
		*maxfd = s[i].target;
	}
	return 0;
}

int fd_plan_chunk(struct fd_slot *s, int from, int to, int *recv, int nrecv, int spare_base,
		  int transport, fd_plan_call call, void *arg)
{
	/* recv[k] holds the k-th received fd; owner[k] is the slot it is for */
	int owner[FDS_PER_MSG];
	int spare = spare_base;	/* those of the last chunk were closed */
	for (int i = from, k = 0; i < to; i++)
		if (s[i].src < 0)
			owner[k++] = i;
	for (int i = from, k = 0; i < to; i++) {
		int t = s[i].target;
		/* whatever received descriptor sits on t moves out of the way */
		for (int j = 0; j < nrecv; j++)
			if (recv[j] == t && owner[j] != i) {
				/* a free number: not the descriptor-passing socket,
				 * nor where another received one sits */
				for (bool busy = true; busy;) {
					busy = spare == transport;
					for (int q = 0; q < nrecv && !busy; q++)
						busy = recv[q] == spare;
					if (busy)
						spare++;
				}
				int ret = call(arg, __NR_dup3, t, spare, O_CLOEXEC);
				if (!ret)
					ret = call(arg, __NR_close, t, 0, 0);
				if (ret)
					return ret;
				recv[j] = spare++;
			}
		int ret;
		if (s[i].src >= 0) {
			ret = call(arg, __NR_dup3, s[s[i].src].target, t, s[i].cloexec ? O_CLOEXEC : 0);
		} else {
			int at = recv[k];
			recv[k] = -1;
			k++;
			if (at == t)
				ret = s[i].cloexec ? 0 : call(arg, __NR_fcntl, t, F_SETFD, 0);
			else {
				ret = call(arg, __NR_dup3, at, t, s[i].cloexec ? O_CLOEXEC : 0);
				if (!ret)
					ret = call(arg, __NR_close, at, 0, 0);
			}
		}
		if (ret)
			return ret;
	}
	return 0;
}

int fd_plan_gap(const struct fd_slot *s, int nr, int len)
{
	int next = 0;	/* the lowest number above the targets so far */
	for (int i = 0; i < nr; i++) {
		if (s[i].target - next >= len)
			return next;
		next = s[i].target + 1;
	}
	return -1;
}
