/* A network namespace's firewall: iptables and ip6tables rules, as criu
 * keeps them (iptables-ID.img, ip6tables-ID.img: the output of
 * iptables-save / ip6tables-save, given back to iptables-restore).  Read
 * when cryo's thread enters the namespace, before the network lock adds
 * its own rules there (ns_dump_enter_net), and put back once the
 * namespace's devices and routes are (netns_create), before the lock's.
 * nftables tables of the namespace's own (other than the ip/ip6 filter,
 * nat, mangle, raw and security tables iptables-nft keeps, which
 * iptables-save lists) go to nftables-ID.img, as `nft list table` prints
 * them, and back through `nft -f`. */
#include "ns/net-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run @argv with stdin from @in and stdout to @out (-1: /dev/null, or a
 * pipe read into *@text when @text); its exit status, 127 if it could not
 * be run, or a negative code (logged). */
static int run(char *const argv[], int in, int out, char **text)
{
	int p[2] = { -1, -1 };
	if (text && pipe2(p, O_CLOEXEC))
		return log_errno(-errno, "can't make a pipe for %s", argv[0]);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		if (text) {
			close(p[0]);
			close(p[1]);
		}
		return log_errno(-e, "can't fork to run %s", argv[0]);
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(in >= 0 ? in : null, 0);
		dup2(text ? p[1] : out >= 0 ? out : null, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	int ret = 0;
	if (text) {
		close(p[1]);
		size_t n = 0, cap = 4096;
		char *b = xmalloc(cap);
		for (ssize_t r; b; n += r) {
			if (cap - n < 1024) {
				char *nb = xrealloc(b, cap *= 2);
				if (!nb) {
					free(b);
					b = NULL;
					break;
				}
				b = nb;
			}
			r = read(p[0], b + n, cap - n - 1);
			if (r < 0 && errno == EINTR) {
				r = 0;
				continue;
			}
			if (r <= 0)
				break;
		}
		close(p[0]);
		if (b)
			b[n] = '\0';
		*text = b;
		if (!b)
			ret = -ENOMEM;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return log_errno(-errno, "waiting for %s failed", argv[0]);
	if (ret)
		return ret;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ip/ip6 filter, nat, mangle, raw, security: iptables-nft's */
static bool iptables_table(const char *fam, const char *name)
{
	return (!strcmp(fam, "ip") || !strcmp(fam, "ip6")) &&
	       (!strcmp(name, "filter") || !strcmp(name, "nat") || !strcmp(name, "mangle") ||
		!strcmp(name, "raw") || !strcmp(name, "security"));
}

/* The nftables tables of the namespace's own (not the ones iptables-nft
 * keeps for iptables-save: those would come back twice), each as
 * `nft list table` prints it, into nftables-@id.img: what `nft -f` reads
 * back (criu keeps the whole `nft list ruleset` there).  Without nft, no
 * table can have been made: no image. */
static int dump_nft(int dirfd, uint32_t id)
{
	char *argv[] = { "nft", "list", "tables", NULL }, *text = NULL;
	int ret = run(argv, -1, -1, &text);
	if (ret == 127 || ret > 0) {
		free(text);
		return 0;
	}
	struct cr_img *img = NULL;
	int n = 0;
	char *l = ret ? NULL : text;
	while (!ret && l && *l) {
		char *nl = strchr(l, '\n'), fam[16], name[64];
		if (nl)
			*nl = '\0';
		if (sscanf(l, "table %15s %63s", fam, name) == 2 && !iptables_table(fam, name)) {
			char *list[] = { "nft", "list", "table", fam, name, NULL };
			if (!img)
				ret = img_open(&img, dirfd, IMG_NFTABLES, IMG_WRITE, id);
			int st = ret ? 0 : run(list, -1, img_raw_fd(img), NULL);
			if (st)
				ret = log_errno(st < 0 ? st : -EIO, "nft list table %s %s failed (status "
						"%d) in network namespace %u", fam, name, st, id);
			n++;
		}
		l = nl ? nl + 1 : NULL;
	}
	free(text);
	int r2 = img_close(img);
	if (!ret && n)
		pr_info("network namespace %u: %d nftables table(s) saved", id, n);
	return ret ? ret : r2;
}

int netns_dump_tables(int dirfd, uint32_t id, bool ipv6)
{
	int ret = dump_nft(dirfd, id);
	for (int v6 = 0; !ret && v6 <= (ipv6 ? 1 : 0); v6++) {
		enum img_type type = v6 ? IMG_IP6TABLES : IMG_IPTABLES;
		char *argv[] = { v6 ? "ip6tables-save" : "iptables-save", NULL };
		struct cr_img *img;
		ret = img_open(&img, dirfd, type, IMG_WRITE, id);
		if (ret)
			break;
		int st = run(argv, -1, img_raw_fd(img), NULL);
		int r2 = img_close(img);
		if (st == 127)
			ret = log_errno(-ENOENT, "can't run %s to save the firewall rules of network "
					"namespace %u: install iptables", argv[0], id);
		else if (st)
			ret = log_errno(st < 0 ? st : -EIO, "%s failed (status %d) in network "
					"namespace %u", argv[0], st, id);
		else
			ret = r2;
	}
	return ret;
}

int netns_restore_tables(int dirfd, uint32_t id, bool ipv6)
{
	struct cr_img *nimg;
	int nret = img_open(&nimg, dirfd, IMG_NFTABLES, IMG_READ | IMG_MISSING_OK, id);
	if (nret && nret != -ENOENT)
		return nret;
	if (!nret) {
		char *argv[] = { "nft", "-f", "-", NULL };
		lseek(img_raw_fd(nimg), 0, SEEK_SET);
		int st = run(argv, img_raw_fd(nimg), -1, NULL);
		img_close(nimg);
		if (st == 127)
			return log_errno(-ENOENT, "can't run nft to restore the nftables tables of "
					 "network namespace %u: install nftables", id);
		if (st)
			return log_errno(st < 0 ? st : -EIO, "nft -f refused nftables-%u.img "
					 "(status %d)", id, st);
	}
	for (int v6 = 0; v6 <= (ipv6 ? 1 : 0); v6++) {
		enum img_type type = v6 ? IMG_IP6TABLES : IMG_IPTABLES;
		char *argv[] = { v6 ? "ip6tables-restore" : "iptables-restore", NULL };
		struct cr_img *img;
		int ret = img_open(&img, dirfd, type, IMG_READ | IMG_MISSING_OK, id);
		if (ret == -ENOENT)
			continue;	/* an older dump, or criu's without IPv6 */
		if (ret)
			return ret;
		int fd = img_raw_fd(img);
		off_t size = lseek(fd, 0, SEEK_END);
		lseek(fd, 0, SEEK_SET);
		int st = size > 0 ? run(argv, fd, -1, NULL) : 0;
		img_close(img);
		if (st == 127)
			return log_errno(-ENOENT, "can't run %s to restore the firewall rules of "
					 "network namespace %u: install iptables", argv[0], id);
		if (st)
			return log_errno(st < 0 ? st : -EIO, "%s refused %s (status %d)", argv[0],
					 img_type_info(type)->pattern, st);
	}
	return 0;
}
