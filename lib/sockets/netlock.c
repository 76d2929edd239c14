/* The network lock (--network-lock iptables|nftables|skip).
 *
 * From the moment a TCP connection's state is read (in repair mode) until
 * the end of the dump, or while it has no socket at all (between a dump
 * that killed the tree and the restore), a packet from the peer must not
 * reach the stack: it would be answered with a reset (no socket) or acked
 * and then lost (a socket already read out), and a packet the socket sends
 * must not leave (the restore sends it again).  So every packet of the
 * connection is dropped, in both directions, from just before its socket
 * goes into repair mode at dump until the end of the dump or, when the
 * tree was killed, until the restored tasks run.  The peer only sees
 * silence and retransmits.
 *
 * Locks are per connection (the 4-tuple), as criu does when the network
 * namespace is not dumped:
 *   nftables: table "inet cryo", sets conn4/conn6 of
 *             saddr . sport . daddr . dport, chains on input and output
 *             dropping matching packets.  Remove leftovers with
 *             `nft delete table inet cryo`.
 *   iptables: chain CRYO in the filter table of iptables and ip6tables,
 *             jumped to from INPUT and OUTPUT, one DROP rule per direction,
 *             added and removed in batches by iptables-restore --noflush.
 *             Remove leftovers with `iptables -F CRYO` (and ip6tables).
 *
 * Packets carrying NETLOCK_MARK pass: the segments cryo itself injects at
 * restore to put a peer's FIN (or ACK of our FIN) back into a half-closed
 * connection (sk_tcp_fin.c) must reach the locked socket.
 */
#include "sockets/sk_inet-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

enum netlock_method netlock_method(const struct cryo_opts *o)
{
	const char *m = o ? o->network_lock : NULL;
	if (m && !strcmp(m, "nftables"))
		return NETLOCK_NFTABLES;
	if (m && !strcmp(m, "skip"))
		return NETLOCK_SKIP;
	return NETLOCK_IPTABLES;	/* criu's default */
}

const char *inet_conn_str(const struct inet_conn *c, char *buf, size_t size)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	inet_ntop(c->family, c->src, s, sizeof(s));
	inet_ntop(c->family, c->dst, d, sizeof(d));
	if (c->family == AF_INET6)
		snprintf(buf, size, "[%s]:%u -> [%s]:%u", s, c->sport, d, c->dport);
	else
		snprintf(buf, size, "%s:%u -> %s:%u", s, c->sport, d, c->dport);
	return buf;
}

/* Run @argv with @input on its stdin; its output goes to @out (cut).
 * Returns its exit status, or a negative code if it could not run. */
static int run_tool(char *const argv[], const char *input, char *out, size_t outsz)
{
	int in[2], op[2];
	if (pipe2(in, O_CLOEXEC))
		return_perror("can't create a pipe for %s", argv[0]);
	if (pipe2(op, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return_perror("can't create a pipe for %s", argv[0]);
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(in[0]); close(in[1]); close(op[0]); close(op[1]);
		errno = e;
		return_perror("can't fork to run %s", argv[0]);
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(op[1], 1);
		dup2(op[1], 2);
		execvp(argv[0], argv);
		dprintf(2, "can't run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	if (input)
		write_all(in[1], input, strlen(input));
	close(in[1]);
	size_t n = 0;
	for (;;) {
		char tmp[512];
		ssize_t r = read(op[0], tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		size_t k = (size_t)r < outsz - 1 - n ? (size_t)r : outsz - 1 - n;
		memcpy(out + n, tmp, k);
		n += k;
	}
	out[n] = '\0';
	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	close(op[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return_perror("waiting for %s failed", argv[0]);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* --- nftables --- */

static const char nft_setup[] =
	"add table inet cryo\n"
	"add set inet cryo conn4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; }\n"
	"add set inet cryo conn6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; }\n"
	"add set inet cryo pass4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; }\n"
	"add set inet cryo pass6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; }\n";
/* passN: connections unlocked by netlock_unlock_keep, still in connN until
 * netlock_tidy (adding an element commits at once; deleting one makes nft
 * wait 10-20 ms for an RCU grace period before it exits) */
#define NFT_PASS_RULES(verb)                                                                   \
	verb " rule inet cryo input ip saddr . tcp sport . ip daddr . tcp dport @pass4 accept\n"  \
	verb " rule inet cryo input ip6 saddr . tcp sport . ip6 daddr . tcp dport @pass6 accept\n" \
	verb " rule inet cryo output ip saddr . tcp sport . ip daddr . tcp dport @pass4 accept\n" \
	verb " rule inet cryo output ip6 saddr . tcp sport . ip6 daddr . tcp dport @pass6 accept\n"
/* chains made by a cryo without them: first in the chains */
static const char nft_pass_insert[] = NFT_PASS_RULES("insert");
/* the chains and rules only once (a second "add rule" would duplicate it) */
static const char nft_chains[] =
	"add chain inet cryo input { type filter hook input priority -300; }\n"
	"add chain inet cryo output { type filter hook output priority -300; }\n"
	"add rule inet cryo input meta mark 0xc114 accept\n"
	"add rule inet cryo output meta mark 0xc114 accept\n"
	NFT_PASS_RULES("add")
	"add rule inet cryo input ip saddr . tcp sport . ip daddr . tcp dport @conn4 drop\n"
	"add rule inet cryo input ip6 saddr . tcp sport . ip6 daddr . tcp dport @conn6 drop\n"
	"add rule inet cryo output ip saddr . tcp sport . ip daddr . tcp dport @conn4 drop\n"
	"add rule inet cryo output ip6 saddr . tcp sport . ip6 daddr . tcp dport @conn6 drop\n";

static int nft_run(const char *script, const char *what)
{
	char *argv[] = { "nft", "-f", "-", NULL };
	char out[1024];
	int st = run_tool(argv, script, out, sizeof(out));
	if (st < 0)
		return st;
	if (st) {
		pr_err("network lock (nftables): %s failed: nft exited with %d: %s%s", what, st, out,
		       st == 127 ? " (install nftables, or choose --network-lock iptables)" : "");
		return -EIO;
	}
	return 0;
}

/* 0: no chains, 1: chains without the pass rules, 2: with them */
static int nft_chain_state(void)
{
	char *argv[] = { "nft", "list", "chain", "inet", "cryo", "input", NULL };
	char out[4096];
	if (run_tool(argv, NULL, out, sizeof(out)))
		return 0;
	return strstr(out, "@pass4") ? 2 : 1;
}

static char *nft_set_elements(const char *verb, const struct inet_conn *c, int n, bool pass);

/* One element per direction of each connection. */
static char *nft_elements(const char *verb, const struct inet_conn *c, int n)
{
	return nft_set_elements(verb, c, n, false);
}

static char *nft_set_elements(const char *verb, const struct inet_conn *c, int n, bool pass)
{
	size_t cap = 256 + n * 2 * 200;
	char *s = xmalloc(cap), *p = s;
	if (!s)
		return NULL;
	for (int i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		inet_ntop(c[i].family, c[i].src, a, sizeof(a));
		inet_ntop(c[i].family, c[i].dst, b, sizeof(b));
		const char *set = c[i].family == AF_INET6 ? (pass ? "pass6" : "conn6") :
					 (pass ? "pass4" : "conn4");
		p += snprintf(p, cap - (p - s), "%s element inet cryo %s { %s . %u . %s . %u, %s . %u . %s . %u }\n",
			      verb, set, a, c[i].sport, b, c[i].dport, b, c[i].dport, a, c[i].sport);
	}
	return s;
}

/* --- iptables --- */

static int ipt(const char *tool, const char *what, bool quiet, ...)
{
	char *argv[24] = { (char *)tool, "-w" };
	int argc = 2;
	va_list ap;
	va_start(ap, quiet);
	for (char *a; (a = va_arg(ap, char *)) && argc < 23;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	char out[1024];
	int st = run_tool(argv, NULL, out, sizeof(out));
	if (st > 0 && !quiet)
		pr_err("network lock (iptables): %s failed: %s exited with %d: %s%s", what, tool, st,
		       out, st == 127 ? " (install iptables, or choose --network-lock nftables)" : "");
	return st < 0 ? st : st ? -EIO : 0;
}

static int ipt_setup_once(const char *tool, bool quiet)
{
	/* exists already: fine */
	ipt(tool, "creating chain CRYO", true, "-N", "CRYO", NULL);
	/* first in the chain: cryo's own injected segments pass */
	if (ipt(tool, "checking the mark rule", true, "-C", "CRYO", "-m", "mark", "--mark",
		"0xc114", "-j", "RETURN", NULL) &&
	    ipt(tool, "adding the mark rule", quiet, "-I", "CRYO", "-m", "mark", "--mark", "0xc114",
		"-j", "RETURN", NULL))
		return -EIO;
	for (int i = 0; i < 2; i++) {
		const char *ch = i ? "OUTPUT" : "INPUT";
		if (ipt(tool, "checking the jump to CRYO", true, "-C", ch, "-j", "CRYO", NULL) &&
		    ipt(tool, "adding the jump to CRYO", quiet, "-I", ch, "-j", "CRYO", NULL))
			return -EIO;
	}
	return 0;
}

static int ipt_setup(const char *tool)
{
	/* another cryo unlocking its last connection may remove the chain
	 * between our steps: try again */
	int ret = -EIO;
	for (int i = 0; i < 3 && ret; i++)
		ret = ipt_setup_once(tool, i < 2);
	return ret;
}

/* The rule for one direction, exactly as `iptables -S` prints it (so the
 * rules already there can be recognised). */
static void ipt_rule(char *buf, size_t size, const struct inet_conn *c, int dir)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	const char *mask = c->family == AF_INET6 ? "128" : "32";
	inet_ntop(c->family, dir ? c->dst : c->src, a, sizeof(a));
	inet_ntop(c->family, dir ? c->src : c->dst, b, sizeof(b));
	snprintf(buf, size, "CRYO -s %s/%s -d %s/%s -p tcp -m tcp --sport %u --dport %u -j DROP", a,
		 mask, b, mask, dir ? c->dport : c->sport, dir ? c->sport : c->dport);
}

/* All connections of one family in one iptables-restore run: locking adds
 * the rules not there yet (a restore locks again what the dump left),
 * unlocking deletes those that are there. */
static int ipt_batch(int family, const struct inet_conn *c, int n, bool lock)
{
	bool v6 = family == AF_INET6;
	const char *tool = v6 ? "ip6tables" : "iptables";
	int ret = lock ? ipt_setup(tool) : 0;
	if (ret)
		return ret;
	char *argv_s[] = { (char *)tool, "-w", "-S", "CRYO", NULL };
	size_t cap = 64 * 1024 + (size_t)n * 2 * 160;
	char *cur = xmalloc(cap), *script = xmalloc(cap);
	if (!cur || !script) {
		free(cur);
		free(script);
		return -ENOMEM;
	}
	int st = run_tool(argv_s, NULL, cur, cap - 2);
	if (st)
		cur[0] = '\0';	/* no chain: nothing to remove */
	strcat(cur, "\n");	/* run_tool cut the last line's end */
	size_t len = snprintf(script, cap, "*filter\n");
	int nr = 0;
	for (int i = 0; i < n; i++) {
		if (c[i].family != family)
			continue;
		for (int dir = 0; dir < 2; dir++) {
			char rule[256], line[300];
			ipt_rule(rule, sizeof(rule), &c[i], dir);
			snprintf(line, sizeof(line), "-A %s\n", rule);
			bool there = strstr(cur, line) != NULL;
			if (there == lock)
				continue;
			len += snprintf(script + len, cap - len, "%s %s\n", lock ? "-A" : "-D", rule);
			nr++;
		}
	}
	snprintf(script + len, cap - len, "COMMIT\n");
	if (nr) {
		char tool_r[32];
		snprintf(tool_r, sizeof(tool_r), "%s-restore", tool);
		char *argv_r[] = { tool_r, "-w", "--noflush", NULL };
		st = run_tool(argv_r, script, cur, cap < 1024 ? cap : 1024);
		if (st > 0)
			pr_err("network lock (iptables): %s %d rule(s) failed: %s exited with %d: %s%s",
			       lock ? "adding" : "removing", nr, tool_r, st, cur,
			       st == 127 ? " (install iptables, or choose --network-lock nftables)" : "");
		ret = st < 0 ? st : st ? -EIO : 0;
	}
	free(cur);
	free(script);
	return ret;
}

/* Once no connection is locked any more, what the lock set up goes too, so
 * that no empty table or chain is left on the host.  (Another cryo locking
 * at this very moment re-creates them.) */
static void ipt_cleanup(int family)
{
	bool v6 = family == AF_INET6;
	const char *tool = v6 ? "ip6tables" : "iptables";
	char *argv[] = { (char *)tool, "-w", "-S", "CRYO", NULL };
	char out[256];
	if (run_tool(argv, NULL, out, sizeof(out)))
		return;		/* no chain */
	if (strstr(out, "-A CRYO -s"))
		return;		/* still locking something */
	ipt(tool, "removing the mark rule", true, "-F", "CRYO", NULL);
	ipt(tool, "removing the jump to CRYO", true, "-D", "INPUT", "-j", "CRYO", NULL);
	ipt(tool, "removing the jump to CRYO", true, "-D", "OUTPUT", "-j", "CRYO", NULL);
	ipt(tool, "removing chain CRYO", true, "-X", "CRYO", NULL);
}

static void nft_cleanup(void)
{
	char out[512];
	for (int i = 0; i < 2; i++) {
		char *argv[] = { "nft", "list", "set", "inet", "cryo", i ? "conn6" : "conn4", NULL };
		if (run_tool(argv, NULL, out, sizeof(out)))
			return;		/* no table */
		if (strstr(out, "elements"))
			return;		/* still locking something */
	}
	char *argv[] = { "nft", "delete", "table", "inet", "cryo", NULL };
	run_tool(argv, NULL, out, sizeof(out));
}

/* Let @c through (passN), still in connN until netlock_tidy. */
static int nft_pass(const struct inet_conn *c, int n)
{
	char *argv[] = { "nft", "-f", "-", NULL };
	char out[512];
	char *el = nft_set_elements("add", c, n, true);
	int ret = !el || run_tool(argv, el, out, sizeof(out)) ? -EIO : 0;
	free(el);
	return ret;	/* failed: the caller deletes them instead */
}

/* Every connection let through (passN) out of passN and connN.  The
 * elements are read back from the table (nft prints them as it reads
 * them): the unlock may have run in another process (a restore into a
 * PID namespace of its own), and another cryo's are as good as unlocked. */
static void nft_unpass(void)
{
	size_t sz = 256 * 1024;
	char *out = xmalloc(sz), *script = xmalloc(2 * sz + 256);
	for (int v6 = 0; out && script && v6 < 2; v6++) {
		char *argv_l[] = { "nft", "list", "set", "inet", "cryo", v6 ? "pass6" : "pass4", NULL };
		char *argv[] = { "nft", "-f", "-", NULL };
		if (run_tool(argv_l, NULL, out, sz))
			continue;
		char *b = strstr(out, "elements = {"), *e = b ? strchr(b, '}') : NULL;
		if (!e)
			continue;
		b += strlen("elements = {");
		*e = '\0';
		if (strlen(out) >= sz - 2)
			pr_warn("network lock (nftables): more connections in pass%d than cryo reads "
				"at once: `nft delete table inet cryo` removes the rest", v6 ? 6 : 4);
		snprintf(script, 2 * sz + 256,
			 "delete element inet cryo conn%d {%s}\ndelete element inet cryo pass%d {%s}\n",
			 v6 ? 6 : 4, b, v6 ? 6 : 4, b);
		char res[512];
		if (run_tool(argv, script, res, sizeof(res)))
			pr_warn("network lock (nftables): can't take the connections let through out "
				"of the lock: %s", res);
	}
	free(out);
	free(script);
}

/* --- the interface --- */

static bool mapped(const uint32_t *a)
{
	return !a[0] && !a[1] && a[2] == htonl(0xffff);
}

static bool same_conn(const struct inet_conn *a, const struct inet_conn *b)
{
	size_t al = a->family == AF_INET6 ? 16 : 4;
	if (a->family != b->family)
		return false;
	if (!memcmp(a->src, b->src, al) && !memcmp(a->dst, b->dst, al) && a->sport == b->sport &&
	    a->dport == b->dport)
		return true;
	/* both ends of one loopback connection lock the same packets */
	return !memcmp(a->src, b->dst, al) && !memcmp(a->dst, b->src, al) && a->sport == b->dport &&
	       a->dport == b->sport;
}

/* The chain CRYO / table "inet cryo" is shared by every cryo of the host:
 * one removing it once empty (ipt_cleanup, nft_cleanup) while another has
 * just created it and not yet jumped to it or filled it would take the
 * other's lock away.  Changes are serialised by an flock on this file.
 * Nothing of the host's rules is remembered between two changes (another
 * cryo, or an unlock of this one, may have removed the chain or table
 * since): each lock checks for them again under the flock, once per
 * family and run of the tool. */
#define NETLOCK_FILE "/run/cryo-netlock.lock"

static int netlock_serialise(void)
{
	int fd = open(NETLOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		pr_warn("can't open %s (%s): changes to the network lock are not serialised with "
			"other cryo processes", NETLOCK_FILE, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	return fd;
}

static int netlock_apply_locked(enum netlock_method m, const struct inet_conn *c, int n,
				bool lock, bool tidy);

/* @tidy (unlock): taken out of the lock, the chain / table gone once it
 * locks nothing; else (netlock_unlock_keep) left for netlock_tidy */
static int netlock_apply(enum netlock_method m, const struct inet_conn *c, int n, bool lock,
			 bool tidy)
{
	if (m == NETLOCK_SKIP || n == 0)
		return 0;
	int lfd = netlock_serialise();
	int ret = netlock_apply_locked(m, c, n, lock, tidy);
	if (lfd >= 0)
		close(lfd);
	return ret;
}

static int netlock_apply_locked(enum netlock_method m, const struct inet_conn *c, int n,
				bool lock, bool tidy)
{
	char buf[128];
	/* each connection once */
	struct inet_conn *u = xmalloc(n * sizeof(*u));
	if (!u)
		return -ENOMEM;
	int nu = 0;
	for (int i = 0; i < n; i++) {
		struct inet_conn x = c[i];
		/* an IPv6 socket talking IPv4 (::ffff:a.b.c.d): IPv4 packets */
		if (x.family == AF_INET6 && mapped(x.src) && mapped(x.dst)) {
			x.family = AF_INET;
			x.src[0] = x.src[3];
			x.dst[0] = x.dst[3];
			x.src[1] = x.src[2] = x.src[3] = x.dst[1] = x.dst[2] = x.dst[3] = 0;
		}
		int j = 0;
		while (j < nu && !same_conn(&x, &u[j]))
			j++;
		if (j == nu)
			u[nu++] = x;
	}
	c = u;
	n = nu;
	int ret = 0;
	for (int i = 0; i < n; i++)
		pr_info("network lock (%s): %s %s", m == NETLOCK_NFTABLES ? "nftables" : "iptables",
			lock ? "locking" : "unlocking", inet_conn_str(&c[i], buf, sizeof(buf)));
	if (m == NETLOCK_IPTABLES) {
		ret = ipt_batch(AF_INET, c, n, lock);
		if (!ret || !lock) {
			int r = ipt_batch(AF_INET6, c, n, lock);
			ret = ret ? ret : r;
		}
		if (!lock && tidy) {
			ipt_cleanup(AF_INET);
			ipt_cleanup(AF_INET6);
		}
		free(u);
		return ret;
	}
	char *el = nft_elements(lock ? "add" : "delete", c, n);
	if (!el) {
		free(u);
		return -ENOMEM;
	}
	if (lock) {
		int chains = nft_chain_state();
		size_t len = strlen(nft_setup) + strlen(nft_chains) + strlen(el) + 1;
		char *s = xmalloc(len);
		if (!s) {
			free(el);
			free(u);
			return -ENOMEM;
		}
		snprintf(s, len, "%s%s%s", nft_setup,
			 chains == 2 ? "" : chains ? nft_pass_insert : nft_chains, el);
		ret = nft_run(s, "locking connections");
		free(s);
	} else if (!tidy && !nft_pass(c, n)) {
		ret = 0;	/* let through; out of connN at netlock_tidy */
	} else {
		char *argv[] = { "nft", "-f", "-", NULL };
		char out[512];
		ret = run_tool(argv, el, out, sizeof(out)) ? -EIO : 0;
		/* one element already gone (removed by hand) fails the whole
		 * batch: then each on its own, a missing one being fine */
		for (int i = 0; ret && i < n; i++) {
			char *one = nft_elements("delete", &c[i], 1);
			if (one)
				run_tool(argv, one, out, sizeof(out));
			free(one);
		}
		ret = 0;
		if (tidy)
			nft_cleanup();
	}
	free(el);
	free(u);
	return ret;
}

int netlock_lock(enum netlock_method m, const struct inet_conn *c, int n)
{
	return netlock_apply(m, c, n, true, false);
}

int netlock_unlock(enum netlock_method m, const struct inet_conn *c, int n)
{
	return netlock_apply(m, c, n, false, true);
}

int netlock_unlock_keep(enum netlock_method m, const struct inet_conn *c, int n)
{
	return netlock_apply(m, c, n, false, false);
}

void sk_network_lock_tidy(const struct cryo_opts *o)
{
	enum netlock_method m = netlock_method(o);
	if (m == NETLOCK_SKIP)
		return;
	int lfd = netlock_serialise();
	if (m == NETLOCK_IPTABLES) {
		ipt_cleanup(AF_INET);
		ipt_cleanup(AF_INET6);
	} else {
		nft_unpass();
		nft_cleanup();
	}
	if (lfd >= 0)
		close(lfd);
	pr_debug("network lock: tidied up");
}

unsigned sk_network_lock_method(const struct cryo_opts *o)
{
	return netlock_method(o);
}
