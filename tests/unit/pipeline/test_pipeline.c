/* The stage engine (lib/util/pipeline.c): stages run in order, a failure
 * undoes the stages done so far in reverse, fault injection by stage name
 * (CRYO_FAULT=PIPELINE:STAGE, kill:..., list), notifications at the
 * boundaries, skipped stages and the point of no return.  No root needed. */
#include "util/pipeline.h"
#include "../unit.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* What happened, in order: "run:a undo:a notify:x ..." */
struct trace {
	char log[512];
	const char *fail_run;		/* the stage whose run fails */
	const char *fail_event;		/* the event the hook fails */
	bool skip_c;
};

static void add(struct trace *t, const char *what, const char *name)
{
	size_t n = strlen(t->log);
	snprintf(t->log + n, sizeof(t->log) - n, "%s%s:%s", n ? " " : "", what, name);
}

#define STAGE_FN(x)                                                            \
	static int run_##x(void *arg)                                          \
	{                                                                      \
		struct trace *t = arg;                                         \
		add(t, "run", #x);                                             \
		return t->fail_run && !strcmp(t->fail_run, #x) ? -ENOENT : 0;  \
	}                                                                      \
	static __attribute__((unused)) void undo_##x(void *arg)                \
	{                                                                      \
		add(arg, "undo", #x);                                          \
	}
STAGE_FN(a)
STAGE_FN(b)
STAGE_FN(c)
STAGE_FN(d)
STAGE_FN(e)

static bool want_c(void *arg)
{
	return !((struct trace *)arg)->skip_c;
}

static int hook(const char *event, int pid, void *arg)
{
	struct trace *t = arg;
	add(t, "notify", event);
	return t->fail_event && !strcmp(t->fail_event, event) ? -EPERM : 0;
}

/* b has no undo; c may be skipped; d is the point of no return. */
static const struct stage stages[] = {
	{ .name = "a", .run = run_a, .undo = undo_a, .before = "pre-a" },
	{ .name = "b", .run = run_b, .flags = STAGE_POINT },
	{ .name = "c", .run = run_c, .undo = undo_c, .wanted = want_c, .after = "post-c",
	  .flags = STAGE_POINT },
	{ .name = "d", .run = run_d, .undo = undo_d, .after = "post-d",
	  .flags = STAGE_POINT | STAGE_COMMIT },
	{ .name = "e", .run = run_e, .undo = undo_e, .flags = STAGE_KILL_POINT },
};

static int run_with(struct trace *t, const char *fault)
{
	struct pipeline_hook h = { .notify = hook, .arg = t };
	struct pipeline pl = PIPELINE("t", stages, &h);
	if (fault)
		setenv("CRYO_FAULT", fault, 1);
	else
		unsetenv("CRYO_FAULT");
	return pipeline_run(&pl, t);
}

static void test_order(void)
{
	struct trace t = { 0 };
	CHECK_INT(run_with(&t, NULL), 0);
	CHECK_STR(t.log, "notify:pre-a run:a run:b run:c notify:post-c run:d notify:post-d run:e");
}

static void test_undo_reverse(void)
{
	struct trace t = { .fail_run = "d" };
	CHECK_INT(run_with(&t, NULL), -ENOENT);
	/* the failed stage is not undone, b has no undo */
	CHECK_STR(t.log, "notify:pre-a run:a run:b run:c notify:post-c run:d undo:c undo:a");

	struct trace t2 = { .fail_run = "a" };
	CHECK_INT(run_with(&t2, NULL), -ENOENT);
	CHECK_STR(t2.log, "notify:pre-a run:a");
}

static void test_skipped(void)
{
	struct trace t = { .skip_c = true, .fail_run = "d" };
	CHECK_INT(run_with(&t, NULL), -ENOENT);
	CHECK_STR(t.log, "notify:pre-a run:a run:b run:d undo:a");
	/* a skipped stage has no fault point either */
	struct trace t2 = { .skip_c = true };
	CHECK_INT(run_with(&t2, "t:c"), 0);
	CHECK_STR(t2.log, "notify:pre-a run:a run:b run:d notify:post-d run:e");
}

static void test_fault_by_name(void)
{
	struct trace t = { 0 };
	CHECK_INT(run_with(&t, "t:c"), -EIO);
	CHECK_STR(t.log, "notify:pre-a run:a run:b undo:a");

	/* one of several, and only the named pipeline's */
	struct trace t2 = { 0 };
	CHECK_INT(run_with(&t2, "x:b,t:d"), -EIO);
	CHECK_STR(t2.log, "notify:pre-a run:a run:b run:c notify:post-c undo:c undo:a");

	/* a stage without STAGE_POINT is no fault point */
	struct trace t3 = { 0 };
	CHECK_INT(run_with(&t3, "t:a"), 0);
	/* past the point of no return, a kill-only point can't fail */
	struct trace t4 = { 0 };
	CHECK_INT(run_with(&t4, "t:e"), 0);
}

static void test_hooks(void)
{
	/* a failing `after` hook undoes its stage too */
	struct trace t = { .fail_event = "post-c" };
	CHECK_INT(run_with(&t, NULL), -EPERM);
	CHECK_STR(t.log, "notify:pre-a run:a run:b run:c notify:post-c undo:c undo:a");

	/* a failing `before` hook: the stage does not run */
	struct trace t2 = { .fail_event = "pre-a" };
	CHECK_INT(run_with(&t2, NULL), -EPERM);
	CHECK_STR(t2.log, "notify:pre-a");

	/* no hook at all */
	struct trace t3 = { 0 };
	struct pipeline pl = PIPELINE("t", stages, NULL);
	unsetenv("CRYO_FAULT");
	CHECK_INT(pipeline_run(&pl, &t3), 0);
	CHECK_STR(t3.log, "run:a run:b run:c run:d run:e");
}

static void test_commit(void)
{
	/* after d (and its hook) nothing is undone; e's failure is returned */
	struct trace t = { .fail_run = "e" };
	CHECK_INT(run_with(&t, NULL), -ENOENT);
	CHECK_STR(t.log, "notify:pre-a run:a run:b run:c notify:post-c run:d notify:post-d run:e");

	/* the commit stage's own hook failing: not committed, undone */
	struct trace t2 = { .fail_event = "post-d" };
	CHECK_INT(run_with(&t2, NULL), -EPERM);
	CHECK_STR(t2.log, "notify:pre-a run:a run:b run:c notify:post-c run:d notify:post-d "
			  "undo:d undo:c undo:a");
}

/* Run the pipeline in a child with CRYO_FAULT=@fault, its stderr and the
 * trace into a pipe: returns the wait status, *@out what it wrote. */
static int in_child(const char *fault, char *out, size_t size)
{
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct trace t = { 0 };
		dup2(p[1], 2);
		int ret = run_with(&t, fault);
		dprintf(2, "trace: %s\nret: %d\n", t.log, ret);
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < size && (r = read(p[0], out + n, size - 1 - n)) > 0)
		n += r;
	out[n] = '\0';
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static void test_kill_and_list(void)
{
	char out[2048];
	/* kill:t:c: cryo dies at c's boundary, after a and b ran */
	int st = in_child("kill:t:c", out, sizeof(out));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	CHECK(strstr(out, "fault-kill: t:c#1") != NULL);
	CHECK(strstr(out, "trace:") == NULL);

	/* kill-only points are killed at too */
	st = in_child("kill:t:e", out, sizeof(out));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	/* list: every fault point reached, in order, kill-only ones left out */
	st = in_child("list", out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	const char *b = strstr(out, "fault-stage: t:b\n");
	const char *c = strstr(out, "fault-stage: t:c\n");
	const char *d = strstr(out, "fault-stage: t:d\n");
	CHECK(b && c && d && b < c && c < d);
	CHECK(strstr(out, "fault-stage: t:a") == NULL);
	CHECK(strstr(out, "fault-stage: t:e") == NULL);
	CHECK(strstr(out, "ret: 0\n") != NULL);
}

int main(void)
{
	/* first: fault.c counts each point's hits (kill:STAGE is the first
	 * hit), and the children inherit the counts */
	test_kill_and_list();
	test_order();
	test_undo_reverse();
	test_skipped();
	test_fault_by_name();
	test_hooks();
	test_commit();
	return unit_done("pipeline");
}
