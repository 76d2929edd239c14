/* The record of calls left to restart_syscall (dump.h).
 *
 * A thread stopped in a call with a relative timeout and no place where
 * the kernel writes the time left (poll, FUTEX_WAIT, nanosleep without
 * rem...) goes on, once let go, through restart_syscall: the kernel keeps
 * the deadline in the thread's restart block.  A later dump then finds the
 * thread in restart_syscall, whose registers no longer say which call it
 * continues; a restored task has no restart block, so the call would
 * return EINTR there.  The dump that let the thread go writes the call's
 * number here, with the user ip and sp it returns to; the next dump of the
 * tree (--prev-images-dir) reads it back, and a thread found in
 * restart_syscall at the same ip and sp is known to be in that call. */
#include "dump/dump.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESTART_CALLS_FILE "cryo-restart-calls"
#define RESTART_CALLS_HEAD "cryo-restart-calls 1"
#define RESTART_CALLS_MAX 65536

int restart_calls_load(struct dump_ctx *ctx, int prev_dirfd)
{
	char *buf = NULL;
	ssize_t len = read_file(prev_dirfd, RESTART_CALLS_FILE, &buf, true);
	if (len == -ENOENT)
		return 0;
	if (len < 0)
		return log_errno((int)len, "can't read %s of the previous dump", RESTART_CALLS_FILE);
	/* a damaged record only costs what it would have told: a warning */
	char *save = NULL, *line = strtok_r(buf, "\n", &save);
	if (!line || strcmp(line, RESTART_CALLS_HEAD)) {
		pr_warn("%s of the previous dump is not one this cryo reads: ignored",
			RESTART_CALLS_FILE);
		free(buf);
		return 0;
	}
	while ((line = strtok_r(NULL, "\n", &save)) && ctx->nr_restart_in < RESTART_CALLS_MAX) {
		struct restart_call c;
		unsigned long long nr, ip, sp;
		if (sscanf(line, "%d %llu %llx %llx", &c.tid, &nr, &ip, &sp) != 4 || c.tid <= 0) {
			pr_warn("%s of the previous dump: line \"%.40s\" ignored", RESTART_CALLS_FILE,
				line);
			continue;
		}
		c.nr = nr;
		c.ip = ip;
		c.sp = sp;
		struct restart_call *n = realloc(ctx->restart_in,
						 (ctx->nr_restart_in + 1) * sizeof(*n));
		if (!n) {
			free(buf);
			return -ENOMEM;
		}
		ctx->restart_in = n;
		ctx->restart_in[ctx->nr_restart_in++] = c;
	}
	free(buf);
	return 0;
}

void restart_calls_assign(struct dump_ctx *ctx)
{
	for (int k = 0; k < ctx->nr_restart_in; k++) {
		const struct restart_call *c = &ctx->restart_in[k];
		for (int i = 0; i < ctx->tree.nr_procs; i++) {
			struct seized_proc *p = ctx->tree.procs[i];
			for (int j = 0; j < p->nr_threads; j++) {
				struct seized_thread *t = &p->threads[j];
				if (t->tid != c->tid)
					continue;
				t->cont_in.nr = c->nr;
				t->cont_in.ip = c->ip;
				t->cont_in.sp = c->sp;
			}
		}
	}
	free(ctx->restart_in);
	ctx->restart_in = NULL;
	ctx->nr_restart_in = 0;
}

int restart_calls_save(struct dump_ctx *ctx)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return log_errno(-errno, "can't make the record of restarted calls");
	int n = 0;
	fprintf(f, "%s\n", RESTART_CALLS_HEAD);
	for (int i = 0; i < ctx->tree.nr_procs; i++) {
		struct seized_proc *p = ctx->tree.procs[i];
		for (int j = 0; p->state != TASK_DEAD && j < p->nr_threads; j++) {
			const struct seized_thread *t = &p->threads[j];
			if (!t->cont_out.nr)
				continue;
			fprintf(f, "%d %llu %llx %llx\n", t->tid, (unsigned long long)t->cont_out.nr,
				(unsigned long long)t->cont_out.ip,
				(unsigned long long)t->cont_out.sp);
			n++;
		}
	}
	if (fclose(f)) {
		free(out);
		return log_errno(-errno, "can't make the record of restarted calls");
	}
	int ret = 0;
	if (n) {
		int fd = openat(ctx->dirfd, RESTART_CALLS_FILE,
				O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		ret = fd < 0 ? -errno : write_all(fd, out, len);
		if (fd >= 0 && close(fd) && !ret)
			ret = -errno;
		if (ret)
			log_errno(ret, "can't write %s in the images directory", RESTART_CALLS_FILE);
		else
			pr_info("%d thread(s) go on with a call through restart_syscall: recorded in "
				"%s for the next dump", n, RESTART_CALLS_FILE);
	}
	free(out);
	return ret;
}
