/* The user namespace steps (lib/ns/user.c) on real namespaces, without a
 * tree dump: a child in a new user namespace with maps of several lines
 * and setgroups "deny"; its dump step writes userns-ID.img; the create
 * step writes the maps of another child's new, empty user namespace from
 * it, which must then read the same (maps and setgroups).  A child nested
 * one level deeper is refused.  Needs root (skipped otherwise). */
#include "../unit.h"
#include "ns/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *uid_map = "0 200000 1000\n1000 300000 10\n1010 201010 64526\n";
static const char *gid_map = "0 200000 5\n5 400000 5\n10 200010 65526\n";

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	int ok = fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

static void read_str(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* "a b c\n" lines, whitespace-normalized */
static void normalize(const char *in, char *out, size_t size)
{
	unsigned long a, b, c;
	int used;
	size_t len = 0;
	out[0] = '\0';
	while (sscanf(in, " %lu %lu %lu%n", &a, &b, &c, &used) == 3 && len < size) {
		len += snprintf(out + len, size - len, "%lu %lu %lu\n", a, b, c);
		in += used;
	}
}

/* A child in a new user namespace (@levels deep; only the first level
 * has maps: only a process of the parent namespace may write them); with
 * @maps, its maps and setgroups deny are written (by us, from outside).
 * It pauses; returns its PID. */
static pid_t userns_child(bool maps, int levels)
{
	int p[2], q[2];
	if (pipe(p) || pipe(q))
		return -1;
	pid_t kid = fork();
	if (kid < 0)
		return -1;
	if (!kid) {
		char c;
		close(p[0]);
		close(q[1]);
		for (int i = 0; i < levels; i++) {
			if (unshare(CLONE_NEWUSER))
				_exit(1);
			/* wait for the maps of this level */
			if (write(p[1], "u", 1) != 1 || (maps && !i && read(q[0], &c, 1) != 1))
				_exit(1);
			/* a user namespace is made only by a process whose ids are
			 * mapped where it is: take root's of the new one */
			if (maps && !i && (setresgid(0, 0, 0) || setresuid(0, 0, 0)))
				_exit(1);
		}
		for (;;)
			pause();
	}
	close(p[1]);
	close(q[0]);
	for (int i = 0; i < levels; i++) {
		char c, path[64];
		if (read(p[0], &c, 1) != 1)
			return -1;
		if (!maps || i)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/setgroups", kid);
		if (write_str(path, "deny"))
			return -1;
		snprintf(path, sizeof(path), "/proc/%d/uid_map", kid);
		if (write_str(path, uid_map))
			return -1;
		snprintf(path, sizeof(path), "/proc/%d/gid_map", kid);
		if (write_str(path, gid_map) || write(q[1], "m", 1) != 1)
			return -1;
	}
	close(p[0]);
	close(q[1]);
	return kid;
}

static void end(pid_t kid)
{
	if (kid <= 0)	/* never kill(-1) or a group */
		return;
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
}

int main(void)
{
	if (geteuid()) {
		printf("userns: needs root, skipped\n");
		return 77;
	}
	char dir[] = "/tmp/cryo-unit-userns-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dirfd >= 0);
	const struct ns_desc *d = ns_desc(NS_USER);
	CHECK(ns_creatable(d) && d->dump);

	pid_t src = userns_child(true, 1);
	CHECK(src > 0);
	struct ns_dump st;
	CHECK_INT(ns_dump_init(&st, dirfd), 0);
	CHECK_INT(d->dump(&st, d, src, 5), 0);

	/* one level deeper: refused, naming the nesting */
	pid_t deep = userns_child(true, 2);
	CHECK(deep > 0);
	fprintf(stderr, "(an error about a nested user namespace is expected)\n");
	CHECK_INT(d->dump(&st, d, deep, 6), -EOPNOTSUPP);
	end(deep);
	ns_dump_fini(&st);

	pid_t dst = userns_child(false, 1);
	CHECK(dst > 0);
	struct ns_set set;
	ns_set_self(&set);
	CHECK_INT(d->create(d, dirfd, &set, 5), -EINVAL);	/* no root process */
	set.root = dst;
	CHECK_INT(d->create(d, dirfd, &set, 5), 0);

	char a[4096], b[4096], path[64];
	const char *files[] = { "uid_map", "gid_map", "setgroups" };
	for (int i = 0; i < 3; i++) {
		char x[4096], y[4096];
		snprintf(path, sizeof(path), "/proc/%d/%s", src, files[i]);
		read_str(path, a, sizeof(a));
		snprintf(path, sizeof(path), "/proc/%d/%s", dst, files[i]);
		read_str(path, b, sizeof(b));
		if (i < 2) {
			normalize(a, x, sizeof(x));
			normalize(b, y, sizeof(y));
			CHECK_STR(y, x);
			CHECK_STR(y, i ? gid_map : uid_map);
		} else {
			CHECK_STR(b, a);
			CHECK_STR(b, "deny\n");
		}
	}
	/* ns_enter never enters a user namespace (no way back) */
	snprintf(path, sizeof(path), "/proc/%d/ns/user", dst);
	set.fd[NS_USER] = open(path, O_RDONLY | O_CLOEXEC);
	int back;
	fprintf(stderr, "(an error about entering a user namespace is expected)\n");
	CHECK_INT(ns_enter(&set, d, &back), -EINVAL);
	ns_set_close(&set);
	end(src);
	end(dst);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return unit_done("userns");
}
