/* The restore's planning, without root: the tree as pstree.img gives it
 * (parents before children, no duplicates, thread lists), the sessions
 * cryo can recreate, and the sharing a child gets from its parent
 * (CLONE_FILES / CLONE_FS) or that is refused. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../errcap.h"
#include "../unit.h"
#include "images/image.h"
#include "restore/restore.h"
#include "seize/seize.h"
#include "pstree.pb-c.h"

static char dir[] = "/tmp/cryo-unit-plan.XXXXXX";
static int dirfd;

struct p { int pid, ppid, pgid, sid; int threads[3]; };

/* pstree.img with @n entries. */
static void put_tree(const struct p *ps, int n)
{
	struct cr_img *img;
	unlinkat(dirfd, "pstree.img", 0);
	CHECK_INT(img_open(&img, dirfd, IMG_PSTREE, IMG_WRITE, 0), 0);
	for (int i = 0; i < n; i++) {
		PstreeEntry pe = PSTREE_ENTRY__INIT;
		uint32_t th[3];
		size_t nt = 0;
		pe.has_pid = pe.has_ppid = pe.has_pgid = pe.has_sid = true;
		pe.pid = ps[i].pid;
		pe.ppid = ps[i].ppid;
		pe.pgid = ps[i].pgid;
		pe.sid = ps[i].sid;
		for (; nt < 3 && ps[i].threads[nt]; nt++)
			th[nt] = ps[i].threads[nt];
		pe.n_threads = nt;
		pe.threads = th;
		CHECK_INT(img_write_msg(img, &pe.base), 0);
	}
	CHECK_INT(img_close(img), 0);
}

static void ctx_free(struct rst_ctx *c)
{
	for (int i = 0; i < c->nr_procs; i++)
		free(c->procs[i].thr);
	free(c->procs);
	*c = (struct rst_ctx){ 0 };
}

/* load_pstree on @ps: its result; the error's text in err_first(). */
static int load(struct rst_ctx *c, const struct p *ps, int n)
{
	put_tree(ps, n);
	*c = (struct rst_ctx){ .dirfd = dirfd };
	err_reset();
	return load_pstree(c);
}

static void test_tree(void)
{
	struct rst_ctx c;

	/* a root, two children, a grandchild with threads */
	const struct p ok[] = {
		{ 100, 1, 100, 100, { 100 } },
		{ 101, 100, 100, 100, { 101 } },
		{ 102, 100, 102, 100, { 0 } },
		{ 103, 101, 100, 100, { 103, 104, 105 } },
	};
	CHECK_INT(load(&c, ok, 4), 0);
	CHECK_INT(c.nr_procs, 4);
	CHECK(c.procs[1].parent == &c.procs[0]);
	CHECK(c.procs[3].parent == &c.procs[1]);
	CHECK_INT(c.procs[2].nr_threads, 1);	/* no thread list: the leader alone */
	CHECK_INT(c.procs[3].nr_threads, 3);
	CHECK_INT(c.procs[3].thr[0].tid, 103);	/* the leader first */
	CHECK_INT(c.procs[3].thr[2].tid, 105);
	CHECK_INT(c.procs[3].pages_fd, -1);
	ctx_free(&c);

	/* a thread list that lacks the process itself */
	const struct p noleader[] = { { 100, 1, 100, 100, { 7, 8 } } };
	CHECK_INT(load(&c, noleader, 1), -EINVAL);
	CHECK(err_first() && strstr(err_first(), "does not contain the process itself"));
	ctx_free(&c);

	/* a child listed before its parent */
	const struct p order[] = { { 100, 1, 100, 100, { 0 } }, { 102, 101, 100, 100, { 0 } },
				   { 101, 100, 100, 100, { 0 } } };
	CHECK_INT(load(&c, order, 3), -EINVAL);
	CHECK(err_first() && strstr(err_first(), "the parent 101 of process 102 is not listed"));
	ctx_free(&c);

	/* the same PID twice */
	const struct p twice[] = { { 100, 1, 100, 100, { 0 } }, { 101, 100, 100, 100, { 0 } },
				   { 101, 100, 100, 100, { 0 } } };
	CHECK_INT(load(&c, twice, 3), -EINVAL);
	CHECK(err_first() && strstr(err_first(), "process 101 is listed twice"));
	ctx_free(&c);

	/* no process, a bad PID */
	CHECK_INT(load(&c, NULL, 0), -EINVAL);
	CHECK(err_first() && strstr(err_first(), "holds no process"));
	ctx_free(&c);
	const struct p neg[] = { { -5, 1, 1, 1, { 0 } } };
	CHECK_INT(load(&c, neg, 1), -EINVAL);
	CHECK(err_first() && strstr(err_first(), "invalid pid -5"));
	ctx_free(&c);
}

/* Cores with the ids and the subreaper bit check_sessions/check_shared read. */
struct ids { unsigned vm, files, fs, sighand; bool subreaper; };

static void give_cores(struct rst_ctx *c, const struct ids *ids, CoreEntry *cores,
		       TaskCoreEntry *tcs, TaskKobjIdsEntry *kids)
{
	for (int i = 0; i < c->nr_procs; i++) {
		cores[i] = (CoreEntry)CORE_ENTRY__INIT;
		tcs[i] = (TaskCoreEntry)TASK_CORE_ENTRY__INIT;
		kids[i] = (TaskKobjIdsEntry)TASK_KOBJ_IDS_ENTRY__INIT;
		kids[i].vm_id = ids[i].vm;
		kids[i].files_id = ids[i].files;
		kids[i].fs_id = ids[i].fs;
		kids[i].sighand_id = ids[i].sighand;
		tcs[i].has_child_subreaper = true;
		tcs[i].child_subreaper = ids[i].subreaper;
		cores[i].tc = &tcs[i];
		cores[i].ids = &kids[i];
		c->procs[i].core = &cores[i];
		c->procs[i].state = TASK_ALIVE;
	}
}

static void test_sessions_sharing(void)
{
	struct rst_ctx c;
	CoreEntry cores[4];
	TaskCoreEntry tcs[4];
	TaskKobjIdsEntry kids[4];

	/* 101 shares its fd table and cwd with its parent, 102 only its fd
	 * table; 103 is in a session whose leader (50) left, under a subreaper */
	const struct p tree[] = {
		{ 100, 1, 100, 100, { 0 } },
		{ 101, 100, 100, 100, { 0 } },
		{ 102, 100, 100, 100, { 0 } },
		{ 103, 100, 50, 50, { 0 } },
	};
	struct ids ids[] = { { 1, 1, 1, 1, true }, { 2, 1, 1, 2, false },
			     { 3, 1, 3, 3, false }, { 4, 4, 4, 4, false } };
	CHECK_INT(load(&c, tree, 4), 0);
	give_cores(&c, ids, cores, tcs, kids);
	CHECK_INT(check_sessions(&c), 0);
	CHECK_INT(check_shared(&c), 0);
	CHECK_INT(c.procs[1].share_flags, CLONE_FILES | CLONE_FS);
	CHECK_INT(c.procs[2].share_flags, CLONE_FILES);
	CHECK_INT(c.procs[3].share_flags, 0);

	/* the same without the subreaper: that session can't be made */
	c.procs[0].core->tc->child_subreaper = false;
	err_reset();
	CHECK_INT(check_sessions(&c), -EOPNOTSUPP);
	CHECK(err_first() && strstr(err_first(), "is not a child subreaper"));
	c.procs[0].core->tc->child_subreaper = true;

	/* a session whose leader is in the tree but not an ancestor */
	c.procs[3].sid = 101;
	err_reset();
	CHECK_INT(check_sessions(&c), -EOPNOTSUPP);
	CHECK(err_first() && strstr(err_first(), "whose leader is in the tree"));
	c.procs[3].sid = 50;

	/* memory shared between two processes (not a vfork child): refused */
	for (int i = 0; i < 4; i++)
		c.procs[i].share_flags = 0;
	kids[3].vm_id = 2;
	err_reset();
	CHECK_INT(check_shared(&c), -EOPNOTSUPP);
	CHECK(err_first() && strstr(err_first(), "processes 101 and 103 share their memory"));
	kids[3].vm_id = 4;

	/* a child sharing its fd table with its parent, in a leaderless
	 * session: refused */
	kids[3].files_id = 1;
	err_reset();
	CHECK_INT(check_shared(&c), -EOPNOTSUPP);
	CHECK(err_first() && strstr(err_first(), "session whose leader left the tree"));
	ctx_free(&c);
}

int main(void)
{
	log_init(NULL, -1);
	if (!mkdtemp(dir))
		return 1;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	test_tree();
	test_sessions_sharing();
	unlinkat(dirfd, "pstree.img", 0);
	close(dirfd);
	rmdir(dir);
	return unit_done("restore-plan");
}
