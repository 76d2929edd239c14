/* lib/task: the table's order (restore phases never go back, process items
 * before thread items, the credentials just before the TSC and speculation
 * controls, then the registers and the mask, timers armed after the pending signals are queued), and per-run
 * state kept in the run's context: two restores reading seccomp.img do not
 * see each other's (lib/creds used to keep it in a static, which a second
 * run's prepare freed under the first). */
#include "../unit.h"
#include "task/task.h"
#include "creds/creds.h"
#include "images/image.h"

#include "seccomp.pb-c.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int find(const char *name)
{
	for (int i = 0; i < task_nr_items; i++)
		if (!strcmp(task_items[i]->name, name))
			return i;
	return -1;
}

static void test_table(void)
{
	CHECK(task_nr_items > 0);
	for (int i = 0; i < task_nr_items; i++) {
		const struct task_item *it = task_items[i];
		CHECK(it->name && *it->name);
		CHECK(it->dump || it->restore);
		CHECK(it->phase < TASK_PH_NR);
		/* thread items run in the per-thread phase, process items before */
		CHECK((it->scope == TASK_PROC) == (it->phase != TASK_PH_THREAD));
		if (i)
			CHECK(task_items[i - 1]->phase <= it->phase);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(task_items[j]->name, it->name));
	}
	int n = task_nr_items;
	CHECK_INT(find("registers"), n - 2);
	CHECK_INT(find("signal mask"), n - 1);
	CHECK_INT(find("credentials"), n - 4);
	/* after seccomp, which may force-disable speculation itself */
	CHECK_INT(find("TSC and speculation controls"), n - 3);
	CHECK(find("pending signals") >= 0);
	CHECK(find("timers armed") > find("pending signals"));
	CHECK(find("shared seccomp filters") < find("robust list"));
	CHECK_INT(task_items[find("mm fields")]->phase, TASK_PH_MM);
}

static int write_seccomp(const char *dir, uint32_t nfilters)
{
	int dirfd = open(dir, O_DIRECTORY | O_RDONLY);
	if (dirfd < 0)
		return -1;
	SeccompEntry se = SECCOMP_ENTRY__INIT;
	SeccompFilter f[4], *fp[4];
	uint64_t insn = 0x7fff000000000006ULL;	/* BPF_RET|BPF_K, SECCOMP_RET_ALLOW */
	for (uint32_t i = 0; i < nfilters; i++) {
		seccomp_filter__init(&f[i]);
		f[i].has_filter = 1;
		f[i].filter.data = (uint8_t *)&insn;
		f[i].filter.len = sizeof(insn);
		if (i) {
			f[i].has_prev = 1;
			f[i].prev = i - 1;
		}
		fp[i] = &f[i];
	}
	se.n_seccomp_filters = nfilters;
	se.seccomp_filters = fp;
	struct cr_img *img;
	int ret = img_open(&img, dirfd, IMG_SECCOMP, IMG_WRITE, 0);
	if (!ret) {
		ret = img_write_msg(img, &se.base);
		int r2 = img_close(img);
		ret = ret ? ret : r2;
	}
	return ret ? -1 : dirfd;
}

static void test_two_runs(void)
{
	char a_dir[] = "/tmp/cryo-unit-task-XXXXXX", b_dir[] = "/tmp/cryo-unit-task-XXXXXX";
	CHECK(mkdtemp(a_dir) && mkdtemp(b_dir));
	int a_fd = write_seccomp(a_dir, 2), b_fd = write_seccomp(b_dir, 3);
	CHECK(a_fd >= 0 && b_fd >= 0);
	struct creds_restore a = { 0 }, b = { 0 }, none = { 0 };
	CHECK_INT(creds_restore_prepare(&a, a_fd), 0);
	CHECK_INT(creds_restore_prepare(&b, b_fd), 0);
	CHECK(a.seccomp && b.seccomp && a.seccomp != b.seccomp);
	if (a.seccomp && b.seccomp) {
		CHECK_INT(a.seccomp->n_seccomp_filters, 2);
		CHECK_INT(b.seccomp->n_seccomp_filters, 3);
	}
	creds_restore_finish(&b);
	CHECK(!b.seccomp);
	if (a.seccomp)	/* still the first run's */
		CHECK_INT(a.seccomp->n_seccomp_filters, 2);
	creds_restore_finish(&a);
	/* a directory without seccomp.img: nothing, and no error */
	unlinkat(b_fd, "seccomp.img", 0);
	CHECK_INT(creds_restore_prepare(&none, b_fd), 0);
	CHECK(!none.seccomp);
	close(a_fd);
	close(b_fd);
	char path[64];
	snprintf(path, sizeof(path), "%s/seccomp.img", a_dir);
	unlink(path);
	rmdir(a_dir);
	rmdir(b_dir);
}

int main(void)
{
	test_table();
	test_two_runs();
	return unit_done("task");
}
