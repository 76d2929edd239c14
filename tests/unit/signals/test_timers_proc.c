/* The /proc/PID/timers parser of lib/signals: every notification form the
 * kernel prints, CPU clocks (negative IDs), sorting, and malformed text. */
#include "../unit.h"
#include "signals/signals-int.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *text, struct proc_timer **v, size_t *n)
{
	char *copy = strdup(text);
	int ret = timers_parse_proc(copy, "timers", v, n);
	free(copy);
	return ret;
}

static void test_forms(void)
{
	const char *text =
		"ID: 5000\n"
		"signal: 0/0000000000000000\n"
		"notify: none/pid.77\n"
		"ClockID: 1\n"
		"ID: 6\n"
		"signal: 37/0000000000006666\n"
		"notify: signal/tid.78\n"
		"ClockID: 7\n"
		"ID: 2\n"
		"signal: 14/0000000000000002\n"
		"notify: signal/pid.77\n"
		"ClockID: -6\n"
		"ID: 0\n"
		"signal: 34/ffff8000dead0000\n"
		"notify: thread/pid.77\n"
		"ClockID: -2\n";
	struct proc_timer *v;
	size_t n;

	CHECK_INT(parse(text, &v, &n), 0);
	CHECK_INT(n, 4);
	/* sorted by ID */
	CHECK_INT(v[0].id, 0);
	CHECK_INT(v[0].notify, SIGEV_THREAD);
	CHECK_INT(v[0].clock, -2);
	CHECK_INT(v[0].sival, 0xffff8000dead0000ULL);
	CHECK_INT(v[0].tid, 0);
	CHECK_INT(v[1].id, 2);
	CHECK_INT(v[1].signo, 14);
	CHECK_INT(v[1].clock, -6);
	CHECK_INT(v[1].notify, SIGEV_SIGNAL);
	CHECK_INT(v[2].id, 6);
	CHECK_INT(v[2].notify, SIGEV_SIGNAL | 4 /* SIGEV_THREAD_ID */);
	CHECK_INT(v[2].tid, 78);
	CHECK_INT(v[2].sival, 0x6666);
	CHECK_INT(v[3].id, 5000);
	CHECK_INT(v[3].notify, SIGEV_NONE);
	free(v);

	CHECK_INT(parse("", &v, &n), 0);
	CHECK_INT(n, 0);
}

static void test_hostile(void)
{
	struct proc_timer *v;
	size_t n;

	/* a field before any ID line */
	CHECK(parse("signal: 34/0\n", &v, &n) < 0);
	/* unknown notification, unknown target kind */
	CHECK(parse("ID: 1\nnotify: carrier/pid.1\n", &v, &n) < 0);
	CHECK(parse("ID: 1\nnotify: signal/pgid.1\n", &v, &n) < 0);
	/* negative or missing ID, duplicate IDs */
	CHECK(parse("ID: -1\n", &v, &n) < 0);
	CHECK(parse("ID: x\n", &v, &n) < 0);
	CHECK(parse("ID: 3\nID: 3\n", &v, &n) < 0);
	/* truncated signal line */
	CHECK(parse("ID: 1\nsignal: 34\n", &v, &n) < 0);
}

int main(void)
{
	test_forms();
	test_hostile();
	return unit_done("signals");
}
