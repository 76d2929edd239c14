/* `cryo migrate -t PID --to HOST:PORT -D DIR`: the source (migrate.h).
 *
 * Pre-copy as LXD does it: pre-dump N into DIR/N (the first one whole, the
 * next ones only what was written since, PE_PARENT for the rest), sent as
 * soon as it is written, until --max-iterations or until --converge
 * percent of the pages scanned were unchanged since the previous one.  The
 * final dump (DIR/final, --prev-images-dir ../N --track-mem) then freezes
 * the tree for good; from its post-dump notification (images committed,
 * tree still frozen and seized) the directory is sent and the destination
 * restores, holding the restored tree before its release; its "ready" is
 * the hook's answer: a failure (or no answer) fails the dump, whose undo
 * lets the tree go on as it was (network unlocked, nothing killed).  Once
 * ready, the tree here is doomed (it dies with this cryo, doom_tree) and
 * the destination gets GO, which lets its tree run; the dump goes on to
 * its release, which kills the tree here (with --lazy-pages, after serving
 * the pages written since the last pre-dump to the destination's
 * lazy-pages daemon).  A lost GO leaves no tree running, never two. */
#include <arpa/inet.h>
#include <dirent.h>
#include <endian.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cryo.h"
#include "images/image.h"
#include "mem/ps_tls.h"
#include "mem/track.h"
#include "migrate/migrate-int.h"
#include "migrate/migrate.h"
#include "stats.pb-c.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/pipeline.h"
#include "util/util.h"

#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static int connect_dest(const char *host, int port, char *peer, size_t len)
{
	const char *gai_err;

	snprintf(peer, len, "%s:%d", host, port);
	int sk = tcp_connect(host, port, &gai_err);
	if (gai_err) {
		pr_err("migrate: can't resolve the destination %s: %s", host, gai_err);
		return sk;
	}
	if (sk < 0)
		return log_errno(sk, "migrate: can't connect to the destination %s (is `cryo "
				 "migrate --listen %d -D DIR` running there?)", peer, port);
	int ret = mig_set_timeouts(sk);
	if (ret) {
		close(sk);
		return ret;
	}
	return sk;
}

/* A free TCP port for the final dump's lazy pages on @address (NULL: any):
 * the kernel picks one, which the dump binds again a moment later. */
static int pick_port(const char *address)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	bool v4 = address && inet_pton(AF_INET, address, &a4.sin_addr) == 1;
	if (address && !v4 && inet_pton(AF_INET6, address, &a.sin6_addr) != 1) {
		pr_err("migrate --lazy-pages: --address %s is not an IP address: name the one to "
		       "serve the pages on, or give --port", address);
		return -EINVAL;
	}
	int sk = socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sk < 0 && !address && errno == EAFNOSUPPORT) {
		v4 = true;	/* no IPv6 here: the IPv4 wildcard */
		sk = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (sk < 0)
		return log_errno(-errno, "migrate: can't create a socket to find a free port");
	socklen_t l = v4 ? sizeof(a4) : sizeof(a);
	struct sockaddr *sa = v4 ? (struct sockaddr *)&a4 : (struct sockaddr *)&a;
	int ret = bind(sk, sa, l) || getsockname(sk, sa, &l) ? -errno : 0;
	close(sk);
	if (ret)
		return log_errno(ret, "migrate: can't find a free port for the lazy pages");
	return ntohs(v4 ? a4.sin_port : a.sin6_port);
}

struct src_run {
	struct cryo_opts *o;
	struct mig_conn c;
	int basefd;
	uint64_t bytes;			/* images sent */
	uint64_t t_freeze;		/* the final dump's start */
	int lazy_port;
	bool committed;			/* the destination got ready, the tree
					 * here is doomed */
	bool restored;			/* the destination said it runs */
	const struct pipeline_hook *next;	/* the front end's hook */
};

/* pages written and left unchanged by the pre-dump in @dir */
static int read_stats(int basefd, const char *dir, uint64_t *written, uint64_t *unchanged)
{
	int dfd = openat(basefd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_errno(-errno, "migrate: can't open %s", dir);
	struct cr_img *img;
	StatsEntry *se = NULL;
	int ret = img_open(&img, dfd, IMG_STATS_DUMP, IMG_READ, 0);
	if (!ret) {
		ret = img_read_one(img, &stats_entry__descriptor, (ProtobufCMessage **)&se);
		img_close(img);
	}
	close(dfd);
	if (ret < 0)
		return ret;
	if (!se->dump) {
		stats_entry__free_unpacked(se, NULL);
		pr_err("migrate: %s/stats-dump.img has no dump statistics", dir);
		return -EINVAL;
	}
	*written = se->dump->pages_written;
	*unchanged = se->dump->pages_skipped_parent;
	stats_entry__free_unpacked(se, NULL);
	return 0;
}

/* Seccomp mode of thread @tid of @pid from its status; -1: unknown. */
static int thread_seccomp(pid_t pid, pid_t tid, char *state)
{
	char path[64], line[256];
	int mode = -1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	*state = '?';
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "State:", 6))
			sscanf(line + 6, " %c", state);
		else if (!strncmp(line, "Seccomp:", 8))
			mode = atoi(line + 8);
	}
	fclose(f);
	return mode;
}

/* Make every thread of process @pid and of its descendants (all frozen,
 * seized by this thread for the dump) die with this cryo: PTRACE_O_EXITKILL
 * on top of the options the seize gave.  From then on nothing lets the
 * tree run again: the dump's release kills it, and a cryo that dies before
 * that kills it too. */
static int doom_proc(pid_t pid, int depth)
{
	char path[64];
	int ret = 0;
	if (depth > 64) {
		pr_err("migrate: the tree below %d is too deep", pid);
		return -ELOOP;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return log_errno(-errno, "migrate: can't list the threads of %d", pid);
	struct dirent *de;
	while (!ret && (de = readdir(d))) {
		pid_t tid = atoi(de->d_name);
		if (tid <= 0)
			continue;
		char state;
		int sc = thread_seccomp(pid, tid, &state);
		long popts = PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL |
			    (sc > 0 ? PTRACE_O_SUSPEND_SECCOMP : 0);
		if (ptrace(PTRACE_SETOPTIONS, tid, 0, popts) && !(errno == ESRCH &&
								 (state == 'Z' || state == 'X')))
			ret = log_errno(-errno, "migrate: can't make task %d of the tree die with "
					"cryo (PTRACE_SETOPTIONS)", tid);
		char cpath[80], buf[4096];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%d/children", pid, tid);
		int fd = open(cpath, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
		if (fd >= 0)
			close(fd);
		if (n < 0)
			n = 0;
		buf[n] = '\0';
		for (char *t, *sp = buf; !ret && (t = strtok_r(sp, " \n", &sp));)
			ret = doom_proc(atoi(t), depth + 1);
	}
	closedir(d);
	return ret;
}

static int doom_tree(pid_t root)
{
	int ret = doom_proc(root, 0);
	if (!ret)
		pr_info("migrate: the tree here dies with this cryo from now on");
	return ret;
}

static int final_hook(const char *event, int pid, void *arg)
{
	struct src_run *r = arg;
	if (r->next && r->next->notify) {
		int ret = r->next->notify(event, pid, r->next->arg);
		if (ret)
			return ret;
	}
	if (!strcmp(event, "pre-dump") && r->o->lazy_pages) {
		/* the lazy pages' listener is up: the destination starts its
		 * daemon now, while the tree is being dumped */
		struct mig_restore lz = { .flags = htole32(MIG_RESTORE_LAZY),
					  .lazy_port = htole32(r->lazy_port) };
		return mig_send(&r->c, MIG_LAZY, NULL, &lz, sizeof(lz));
	}
	if (strcmp(event, "post-dump"))
		return 0;
	int ret = mig_send_dir(&r->c, r->basefd, "final", &r->bytes);
	if (ret)
		return ret;
	struct mig_restore rq = { .flags = htole32(r->o->lazy_pages ? MIG_RESTORE_LAZY : 0),
				  .lazy_port = htole32(r->lazy_port) };
	pr_info("migrate: images sent, %s restores", r->c.peer);
	ret = mig_send(&r->c, MIG_RESTORE, NULL, &rq, sizeof(rq));
	if (!ret && fault_inject_fail_only("migrate:lose-ready")) {
		pr_err("fault injected at migrate:lose-ready (CRYO_FAULT)");
		shutdown(r->c.sk, SHUT_RDWR);
		ret = -ECONNRESET;
	}
	if (!ret)
		ret = mig_wait_result(&r->c, "the restore");
	/* phase two: from here on the tree here must never run again, even
	 * if this cryo dies, before the destination may let its copy go */
	if (!ret)
		ret = doom_tree(r->o->pid);
	if (ret) {
		pr_err("migrate: the tree (%d) goes on running here (the destination, without "
		       "its go, kills the tree it restored)", r->o->pid);
		return ret;
	}
	/* no way back: a failure now leaves no tree running rather than two */
	r->committed = true;
	if (fault_inject_fail_only("migrate:lose-go")) {
		pr_err("fault injected at migrate:lose-go (CRYO_FAULT)");
		shutdown(r->c.sk, SHUT_RDWR);
		ret = -ECONNRESET;
	}
	if (!ret)
		ret = mig_send(&r->c, MIG_GO, NULL, NULL, 0);
	if (!ret)
		ret = mig_wait_result(&r->c, "to let the tree run");
	if (ret) {
		pr_err("migrate: %s did not confirm that the tree runs there: it does if it got "
		       "the go; if not, it killed the tree it restored and keeps the images (its "
		       "-D/final, for `cryo restore`). The tree here is killed all the same",
		       r->c.peer);
		return 0;	/* the dump goes on to kill it */
	}
	r->restored = true;
	pr_msg("migrate: the tree runs on %s (%llu ms after the freeze); killing it here", r->c.peer,
	       (unsigned long long)(now_ms() - r->t_freeze));
	return 0;
}

/* A failure after pre-dumps: end their tracking now rather than leave a
 * cryo-track holder and the tree's write-protection to a dump that will
 * not come (and a next pre-dump would take them for the tree's own). */
static void end_tracking(int basefd, const char *dir)
{
	struct mem_track t = { 0 };
	int dfd = openat(basefd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	if (!mem_track_take(dfd, dir, &t))
		pr_info("migrate: ended the memory tracking of %s", dir);
	mem_track_free(&t);
	close(dfd);
}

static int iterate(struct src_run *r, char *last, size_t lastlen)
{
	struct cryo_opts *o = r->o;
	char dir[PATH_MAX], prev[32];
	for (int i = 1; i <= o->migrate_iters; i++) {
		char name[16];
		snprintf(name, sizeof(name), "%d", i);
		if (mkdirat(r->basefd, name, 0700) && errno != EEXIST)
			return log_errno(-errno, "migrate: can't create %s/%s", o->images_dir, name);
		snprintf(dir, sizeof(dir), "%s/%s", o->images_dir, name);
		snprintf(prev, sizeof(prev), "../%s", last);
		struct cryo_opts po = *o;	/* the strings stay o's */
		po.command = CMD_PRE_DUMP;
		po.images_dir = dir;
		po.prev_images_dir = last[0] ? prev : NULL;
		po.track_mem = last[0];
		po.lazy_pages = false;
		po.port = 0;
		struct cryo_error err;
		uint64_t t0 = now_ms();
		int ret = cryo_pre_dump(&po, &err);
		if (ret) {
			pr_err("migrate: pre-copy iteration %d failed: the tree goes on running here", i);
			return ret;
		}
		snprintf(last, lastlen, "%s", name);
		uint64_t t1 = now_ms(), before = r->bytes;
		ret = mig_send_dir(&r->c, r->basefd, name, &r->bytes);
		if (ret)
			return ret;
		uint64_t written = 0, same = 0;
		ret = read_stats(r->basefd, name, &written, &same);
		if (ret)
			return ret;
		unsigned pct = written + same ? (unsigned)(same * 100 / (written + same)) : 100;
		pr_msg("migrate: pre-copy %d: %llu pages written, %llu unchanged (%u%%), %llu bytes "
		       "sent, %llu ms + %llu ms", i, (unsigned long long)written,
		       (unsigned long long)same, pct, (unsigned long long)(r->bytes - before),
		       (unsigned long long)(t1 - t0), (unsigned long long)(now_ms() - t1));
		if (i > 1 && pct >= (unsigned)o->migrate_converge) {
			pr_info("migrate: converged (%u%% >= %d%% unchanged)", pct, o->migrate_converge);
			break;
		}
	}
	return 0;
}

int migrate_source(struct cryo_opts *o)
{
	struct src_run r = { .o = o, .c = { .sk = -1 }, .basefd = -1, .next = o->notify };
	char peer[300], last[16] = "", dir[PATH_MAX], prev[32];
	uint64_t t0 = now_ms();
	int ret;

	r.basefd = open(o->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.basefd < 0)
		return log_errno(-errno, "migrate: can't open the images directory %s", o->images_dir);
	if (o->lazy_pages) {
		r.lazy_port = o->port ? o->port : pick_port(o->address);
		if (r.lazy_port < 0) {
			ret = r.lazy_port;
			goto out;
		}
	}
	/* before anything touches the tree: unusable certificate files or an
	 * unreachable destination leave it alone */
	if (o->tls && (ret = mig_tls_check(o, true)))
		goto out;
	ret = connect_dest(o->migrate_to, o->migrate_port, peer, sizeof(peer));
	if (ret < 0)
		goto out;
	r.c.sk = ret;
	r.c.peer = peer;
	ret = o->tls ? mig_tls_start(&r.c, o, false, o->migrate_to) : 0;
	if (!ret)
		ret = mig_send(&r.c, MIG_HELLO, MIG_HELLO_NAME, NULL, 0);
	if (!ret) {
		ret = mig_wait_result(&r.c, "to take the migration");
		if ((ret == -EPIPE || ret == -ECONNRESET) && !o->tls)
			pr_err("migrate: %s ended the connection at the first message: does the "
			       "destination use --tls? Then so must this end", peer);
	}
	if (!ret)
		ret = iterate(&r, last, sizeof(last));
	if (ret)
		goto out;

	if (mkdirat(r.basefd, "final", 0700) && errno != EEXIST) {
		ret = log_errno(-errno, "migrate: can't create %s/final", o->images_dir);
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/final", o->images_dir);
	snprintf(prev, sizeof(prev), "../%s", last);
	struct pipeline_hook hook = { .notify = final_hook, .arg = &r };
	struct cryo_opts fo = *o;
	fo.command = CMD_DUMP;
	fo.images_dir = dir;
	fo.prev_images_dir = last[0] ? prev : NULL;
	fo.track_mem = last[0];
	fo.port = r.lazy_port;
	fo.notify = &hook;
	struct cryo_error err;
	r.t_freeze = now_ms();
	ret = cryo_dump(&fo, &err);
	if (!ret && r.committed && !r.restored) {
		pr_err("migrate: the tree was killed here, and %s may not run it (see above)", peer);
		ret = -EIO;
	} else if (!ret) {
		pr_msg("migrate: done in %llu ms: %llu bytes of images sent in %s pre-copy "
		       "iteration(s) and the final dump", (unsigned long long)(now_ms() - t0),
		       (unsigned long long)r.c.sent, last[0] ? last : "no");
	} else if (r.restored) {
		pr_err("migrate: the tree runs on %s, but the end of the dump here failed", peer);
	} else if (r.committed) {
		pr_err("migrate: the end of the dump here failed after the hand-over began: the "
		       "tree here dies with this cryo");
	}
out:
	if (ret && last[0] && !r.committed)
		end_tracking(r.basefd, last);
	ps_tls_end(r.c.tls);
	if (r.c.sk >= 0)
		close(r.c.sk);
	close(r.basefd);
	return ret;
}
