/* lib/dump/restart_calls.c: the record of calls left to restart_syscall is
 * read back from the previous images directory, which is input.  What a
 * dump writes reads back the same; a damaged, old-format, oversized or
 * planted record (a symlink, a FIFO) only costs a warning and is not used;
 * the writer makes a fresh file whatever was planted under the name, and
 * removes an old record when it has none to write. */
#include "../unit.h"
#include "dump/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC "cryo-restart-calls"

static int dirfd_;

static void put(const char *text)
{
	unlinkat(dirfd_, REC, 0);
	int fd = openat(dirfd_, REC, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

/* restart_calls_load on the directory: its return, the records it took */
static int load(struct dump_ctx *ctx)
{
	free(ctx->restart_in);
	ctx->restart_in = NULL;
	ctx->nr_restart_in = 0;
	return restart_calls_load(ctx, dirfd_);
}

static void test_read(void)
{
	struct dump_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));

	unlinkat(dirfd_, REC, 0);
	CHECK_INT(load(&ctx), 0);	/* none */
	CHECK_INT(ctx.nr_restart_in, 0);

	put("cryo-restart-calls 2\n"
	    "42 7 401000 7ffc0000 1 2 3 4 5 6\n"
	    "garbage\n"
	    "43 7 401000 7ffc0000\n"			/* version 1's fields only */
	    "44 0 401000 7ffc0000 0 0 0 0 0 0\n"	/* nr 0: none */
	    "-5 7 401000 7ffc0000 0 0 0 0 0 0\n"
	    "45 7 401000 7ffc0000 0 0 0 0 0 0 trailing\n"
	    "46 230 401010 7ffc0100 0 0 7ffc0200 0 0 0\n");
	CHECK_INT(load(&ctx), 0);
	CHECK_INT(ctx.nr_restart_in, 2);
	if (ctx.nr_restart_in == 2) {
		CHECK_INT(ctx.restart_in[0].tid, 42);
		CHECK_INT(ctx.restart_in[0].nr, 7);
		CHECK_INT(ctx.restart_in[0].ip, 0x401000);
		CHECK_INT(ctx.restart_in[0].sp, 0x7ffc0000);
		CHECK_INT(ctx.restart_in[0].args[0], 1);
		CHECK_INT(ctx.restart_in[0].args[5], 6);
		CHECK_INT(ctx.restart_in[1].tid, 46);
		CHECK_INT(ctx.restart_in[1].args[2], 0x7ffc0200);
	}

	/* version 1 (no argument registers): not used */
	put("cryo-restart-calls 1\n42 7 401000 7ffc0000\n");
	CHECK_INT(load(&ctx), 0);
	CHECK_INT(ctx.nr_restart_in, 0);
	put("");
	CHECK_INT(load(&ctx), 0);
	CHECK_INT(ctx.nr_restart_in, 0);

	/* a symlink to a record elsewhere: not followed */
	char outside[] = "/tmp/cryo-rc-outside.XXXXXX";
	int ofd = mkstemp(outside);
	CHECK(ofd >= 0);
	const char *good = "cryo-restart-calls 2\n42 7 401000 7ffc0000 0 0 0 0 0 0\n";
	CHECK(write(ofd, good, strlen(good)) == (ssize_t)strlen(good));
	close(ofd);
	unlinkat(dirfd_, REC, 0);
	CHECK(!symlinkat(outside, dirfd_, REC));
	CHECK_INT(load(&ctx), 0);
	CHECK_INT(ctx.nr_restart_in, 0);

	/* a FIFO: no hang (the old reader blocked in open forever) */
	unlinkat(dirfd_, REC, 0);
	CHECK(!mkfifoat(dirfd_, REC, 0600));
	alarm(10);
	CHECK_INT(load(&ctx), 0);
	alarm(0);
	CHECK_INT(ctx.nr_restart_in, 0);

	/* far more than a dump writes (here a sparse 1 GiB file): not read */
	unlinkat(dirfd_, REC, 0);
	put("cryo-restart-calls 2\n42 7 401000 7ffc0000 0 0 0 0 0 0\n");
	int fd = openat(dirfd_, REC, O_WRONLY);
	CHECK(fd >= 0 && !ftruncate(fd, 1LL << 30));
	close(fd);
	CHECK_INT(load(&ctx), 0);
	CHECK_INT(ctx.nr_restart_in, 0);

	free(ctx.restart_in);
	unlink(outside);
}

static void test_write(void)
{
	struct seized_thread th[2];
	memset(th, 0, sizeof(th));
	th[0].tid = 100;
	th[0].cont_out.nr = 7;
	th[0].cont_out.ip = 0x401000;
	th[0].cont_out.sp = 0x7ffc0000;
	for (int i = 0; i < 6; i++)
		th[0].cont_out.args[i] = 0x10 + i;
	th[1].tid = 101;	/* nothing to record */
	struct seized_proc p;
	memset(&p, 0, sizeof(p));
	p.pid = 100;
	p.threads = th;
	p.nr_threads = 2;
	struct seized_proc *procs[1] = { &p };
	struct dump_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.dirfd = dirfd_;
	ctx.tree.procs = procs;
	ctx.tree.nr_procs = 1;

	/* a symlink planted under the name: the victim is left alone */
	char victim[] = "/tmp/cryo-rc-victim.XXXXXX";
	int vfd = mkstemp(victim);
	CHECK(vfd >= 0);
	CHECK(write(vfd, "victim", 6) == 6);
	close(vfd);
	unlinkat(dirfd_, REC, 0);
	CHECK(!symlinkat(victim, dirfd_, REC));
	CHECK_INT(restart_calls_save(&ctx), 0);
	struct stat st;
	CHECK(!stat(victim, &st) && st.st_size == 6);
	CHECK(!fstatat(dirfd_, REC, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode));
	unlink(victim);

	/* what it wrote reads back the same, for the same thread */
	struct dump_ctx rd;
	memset(&rd, 0, sizeof(rd));
	rd.tree = ctx.tree;
	CHECK_INT(restart_calls_load(&rd, dirfd_), 0);
	CHECK_INT(rd.nr_restart_in, 1);
	restart_calls_assign(&rd);
	CHECK_INT(th[0].cont_in.nr, 7);
	CHECK_INT(th[0].cont_in.ip, 0x401000);
	CHECK_INT(th[0].cont_in.sp, 0x7ffc0000);
	CHECK(!memcmp(th[0].cont_in.args, th[0].cont_out.args, sizeof(th[0].cont_in.args)));
	CHECK_INT(th[1].cont_in.nr, 0);

	/* nothing to record: an old record in the directory goes */
	th[0].cont_out.nr = 0;
	CHECK_INT(restart_calls_save(&ctx), 0);
	CHECK(faccessat(dirfd_, REC, F_OK, AT_SYMLINK_NOFOLLOW) && errno == ENOENT);
	CHECK_INT(restart_calls_save(&ctx), 0);	/* and none is no error */
}

int main(void)
{
	char dir[] = "/tmp/cryo-rc.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	dirfd_ = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	test_read();
	test_write();
	unlinkat(dirfd_, REC, 0);
	close(dirfd_);
	rmdir(dir);
	return unit_done("restart-calls");
}
