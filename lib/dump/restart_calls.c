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
 * restart_syscall at the same ip and sp, with the same argument registers,
 * is known to be in that call.  The previous images directory is input: the
 * record is read as any image file (no symlink, no FIFO, bounded), and
 * what it says is used only where it matches and names a call the kernel
 * continues through restart_syscall (task/cpu.c). */
#include "dump/dump.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESTART_CALLS_FILE "cryo-restart-calls"
/* version 2: the argument registers too (version 1 had only ip and sp) */
#define RESTART_CALLS_HEAD "cryo-restart-calls 2"
#define RESTART_CALLS_MAX 65536
/* a line is at most ~200 bytes: a bigger file is not one a dump wrote */
#define RESTART_CALLS_MAX_BYTES ((off_t)RESTART_CALLS_MAX * 256)

/* The record as text, or NULL (warned) when there is none to use. */
static char *restart_calls_read(int prev_dirfd, int *err)
{
	*err = 0;
	int fd = open_image_file(prev_dirfd, RESTART_CALLS_FILE);
	if (fd == -ENOENT)
		return NULL;
	if (fd < 0) {
		pr_warn("%s of the previous dump can't be read (%s%s): ignored, so a call a thread "
			"goes on with through restart_syscall returns EINTR after a restore",
			RESTART_CALLS_FILE, fd == -ELOOP || fd == -EXDEV ? "a symbolic link: " :
			fd == -EBADFD ? "not a regular file: " : "", strerror(-fd));
		return NULL;
	}
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st)) {
		pr_warn("%s of the previous dump can't be read (%s): ignored", RESTART_CALLS_FILE,
			strerror(errno));
	} else if (st.st_size > RESTART_CALLS_MAX_BYTES) {
		pr_warn("%s of the previous dump is %lld bytes long, more than a dump writes: "
			"ignored", RESTART_CALLS_FILE, (long long)st.st_size);
	} else if (!(buf = xmalloc((size_t)st.st_size + 1))) {
		*err = -ENOMEM;
	} else {
		ssize_t n = read_all(fd, buf, (size_t)st.st_size);
		if (n < 0) {
			pr_warn("%s of the previous dump can't be read (%s): ignored",
				RESTART_CALLS_FILE, strerror((int)-n));
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	close(fd);
	return buf;
}

int restart_calls_load(struct dump_ctx *ctx, int prev_dirfd)
{
	int err;
	char *buf = restart_calls_read(prev_dirfd, &err);
	if (!buf)
		return err;
	/* a damaged record only costs what it would have told: a warning */
	char *save = NULL, *line = strtok_r(buf, "\n", &save);
	if (!line || strcmp(line, RESTART_CALLS_HEAD)) {
		pr_warn("%s of the previous dump is not one this cryo reads: ignored",
			RESTART_CALLS_FILE);
		free(buf);
		return 0;
	}
	int bad = 0;
	while ((line = strtok_r(NULL, "\n", &save)) && ctx->nr_restart_in < RESTART_CALLS_MAX) {
		struct restart_call c;
		unsigned long long nr, ip, sp, a[6];
		int end = 0;
		if (sscanf(line, "%d %llu %llx %llx %llx %llx %llx %llx %llx %llx%n", &c.tid, &nr,
			   &ip, &sp, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &end) != 10 ||
		    line[end] || c.tid <= 0 || !nr) {
			if (!bad++)
				pr_warn("%s of the previous dump: line \"%.40s\" ignored",
					RESTART_CALLS_FILE, line);
			continue;
		}
		c.nr = nr;
		c.ip = ip;
		c.sp = sp;
		for (int i = 0; i < 6; i++)
			c.args[i] = a[i];
		struct restart_call *n = realloc(ctx->restart_in,
						 (ctx->nr_restart_in + 1) * sizeof(*n));
		if (!n) {
			free(buf);
			return -ENOMEM;
		}
		ctx->restart_in = n;
		ctx->restart_in[ctx->nr_restart_in++] = c;
	}
	if (bad > 1)
		pr_warn("%s of the previous dump: %d damaged lines ignored in all", RESTART_CALLS_FILE,
			bad);
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
				memcpy(t->cont_in.args, c->args, sizeof(c->args));
			}
		}
	}
	free(ctx->restart_in);
	ctx->restart_in = NULL;
	ctx->nr_restart_in = 0;
}

int restart_calls_drop(struct dump_ctx *ctx)
{
	/* one left by an earlier dump into this directory would speak for
	 * threads it no longer knows */
	if (unlinkat(ctx->dirfd, RESTART_CALLS_FILE, 0) && errno != ENOENT)
		return log_errno(-errno, "can't remove the old %s of the images directory",
				 RESTART_CALLS_FILE);
	return 0;
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
			const uint64_t *a = t->cont_out.args;
			fprintf(f, "%d %llu %llx %llx %llx %llx %llx %llx %llx %llx\n", t->tid,
				(unsigned long long)t->cont_out.nr, (unsigned long long)t->cont_out.ip,
				(unsigned long long)t->cont_out.sp, (unsigned long long)a[0],
				(unsigned long long)a[1], (unsigned long long)a[2],
				(unsigned long long)a[3], (unsigned long long)a[4],
				(unsigned long long)a[5]);
			n++;
		}
	}
	if (fclose(f)) {
		free(out);
		return log_errno(-errno, "can't make the record of restarted calls");
	}
	int ret = n ? 0 : restart_calls_drop(ctx);
	if (n) {
		/* a fresh file right there, whatever was planted under the name */
		int fd = create_file_at(ctx->dirfd, RESTART_CALLS_FILE, 0, 0600);
		ret = fd < 0 ? fd : write_all(fd, out, len);
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
