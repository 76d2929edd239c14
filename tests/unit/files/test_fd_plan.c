/* Placing a task's descriptors at restore (lib/files/fd_plan.c), against a
 * simulated fd table: received descriptors land at the lowest free
 * numbers, as SCM_RIGHTS puts them, and the planned dup3/close/fcntl calls
 * are carried out on the table.  After each task: every target holds its
 * file with its close-on-exec flag, slots of one file share it, and
 * nothing else is left open but the descriptor-passing socket. */
#include "../unit.h"
#include "files/files-int.h"
#include "files/fd_plan-int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>

#define TABLE 4096

struct sim {
	struct rst_file *file[TABLE];	/* NULL: free */
	bool cloexec[TABLE];
	int calls, bad;
};

static struct rst_file transport_file;

static int sim_call(void *arg, long nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct sim *t = arg;
	t->calls++;
	if (a1 >= TABLE || (nr == __NR_dup3 && a2 >= TABLE) || !t->file[a1]) {
		t->bad++;	/* on a free or impossible number */
		return -EBADF;
	}
	switch (nr) {
	case __NR_dup3:
		if (a1 == a2) {
			t->bad++;	/* dup3 refuses that */
			return -EINVAL;
		}
		if (t->file[a2] == &transport_file)
			t->bad++;	/* would close the transport */
		t->file[a2] = t->file[a1];
		t->cloexec[a2] = a3 & O_CLOEXEC;
		return 0;
	case __NR_close:
		if (t->file[a1] == &transport_file)
			t->bad++;
		t->file[a1] = NULL;
		return 0;
	case __NR_fcntl:
		if (a2 != F_SETFD || a3 != 0)
			t->bad++;
		t->cloexec[a1] = false;
		return 0;
	}
	t->bad++;
	return -ENOSYS;
}

/* What files_restore_fds does, with the table for a task: @targets[i]
 * holds file @which[i] (of @files), close-on-exec if @cloexec[i]. */
static void run(const int *targets, const int *which, const bool *cloexec, int nr,
		int transport)
{
	static struct rst_file files[TABLE];
	static struct fd_slot s[TABLE];
	static struct sim t;
	int maxfd;

	memset(&t, 0, sizeof(t));
	for (int i = 0; i < nr; i++)
		s[i] = (struct fd_slot){ .target = targets[i], .cloexec = cloexec[i],
					 .f = &files[which[i]] };
	CHECK_INT(fd_plan_slots(s, nr, 1, &maxfd), 0);
	t.file[transport] = &transport_file;
	if (transport <= maxfd) {	/* moved above every target */
		t.file[transport] = NULL;
		transport = maxfd + 1;
		t.file[transport] = &transport_file;
	}
	for (int from = 0; from < nr;) {
		int recv[FDS_PER_MSG], n = 0, to = from;
		while (to < nr && (s[to].src >= 0 || n < FDS_PER_MSG)) {
			if (s[to].src < 0) {
				/* received at the lowest free number, close-on-exec */
				int fd = 0;
				while (t.file[fd])
					fd++;
				t.file[fd] = s[to].f;
				t.cloexec[fd] = true;
				recv[n++] = fd;
			}
			to++;
		}
		CHECK_INT(fd_plan_chunk(s, from, to, recv, n, maxfd + 2, transport, sim_call, &t), 0);
		from = to;
	}
	CHECK_INT(t.bad, 0);
	int open_fds = 0;
	for (int fd = 0; fd < TABLE; fd++)
		open_fds += t.file[fd] != NULL;
	CHECK_INT(open_fds, nr + 1);	/* the targets and the transport */
	CHECK(t.file[transport] == &transport_file);
	for (int i = 0; i < nr; i++) {
		CHECK(t.file[targets[i]] == &files[which[i]]);
		CHECK_INT(t.cloexec[targets[i]], cloexec[i]);
	}
}

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245 + 12345;
	return (rnd_state >> 8) % n;
}

int main(void)
{
	/* the usual: 0, 1, 2 shared (one terminal), not close-on-exec */
	run((int[]){ 0, 1, 2 }, (int[]){ 0, 0, 0 }, (bool[]){ 0, 0, 0 }, 3, 100);
	/* targets where received ones land (0, 1), in reverse order of files */
	run((int[]){ 1, 0, 5 }, (int[]){ 0, 1, 2 }, (bool[]){ 1, 0, 1 }, 3, 100);
	/* the transport sits on a target: moved first */
	run((int[]){ 3, 100, 4 }, (int[]){ 0, 1, 0 }, (bool[]){ 0, 1, 1 }, 3, 100);
	/* a received one displaced (it sits on target 1) while the transport
	 * sits where the spare numbers start */
	run((int[]){ 1, 2 }, (int[]){ 0, 1 }, (bool[]){ 0, 0 }, 2, 4);
	/* nothing at all */
	run(NULL, NULL, NULL, 0, 100);
	/* a hole at 0, large numbers */
	run((int[]){ 1, 2000, 7 }, (int[]){ 2, 2, 1 }, (bool[]){ 0, 1, 0 }, 3, 100);

	/* many: more than one SCM_RIGHTS message, random numbers and sharing */
	for (int round = 0; round < 40; round++) {
		static int targets[1500], which[1500];
		static bool cloexec[1500];
		static bool used[TABLE];
		int nr = 1 + rnd(round < 20 ? 40 : 1500);
		memset(used, 0, sizeof(used));
		for (int i = 0; i < nr; i++) {
			int fd;
			do
				fd = rnd(round & 1 ? 3000 : nr + 8);
			while (used[fd]);
			used[fd] = true;
			targets[i] = fd;
			which[i] = rnd(round & 2 ? 4 : nr);
			cloexec[i] = rnd(2);
		}
		run(targets, which, cloexec, nr, rnd(2) ? 100 : (int)rnd(nr + 8));
		run(targets, which, cloexec, nr, 3001);
	}

	/* one number twice: refused */
	struct rst_file f;
	struct fd_slot dup[2] = { { .target = 3, .f = &f }, { .target = 3, .f = &f } };
	int maxfd;
	fprintf(stderr, "(an error about fd 3 listed twice is expected)\n");
	CHECK_INT(fd_plan_slots(dup, 2, 1, &maxfd), -EINVAL);

	/* gaps between targets, for the socket and spares */
	struct fd_slot g[3] = { { .target = 0 }, { .target = 5 }, { .target = 20 } };
	CHECK_INT(fd_plan_gap(g, 3, 4), 1);
	CHECK_INT(fd_plan_gap(g, 3, 5), 6);
	CHECK_INT(fd_plan_gap(g, 3, 15), -1);
	CHECK_INT(fd_plan_gap(g + 1, 2, 5), 0);
	return unit_done("fd-plan");
}
