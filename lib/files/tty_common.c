/* Terminals: what the dump and restore sides share (see tty.h). */
#include "files/files-int.h"
#include "files/tty-int.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void tty_termios_to_entry(const struct termios *t, TermiosEntry *e, uint32_t *cc)
{
	e->has_c_iflag = e->has_c_oflag = e->has_c_cflag = e->has_c_lflag = 1;
	e->has_c_line = e->has_c_ispeed = e->has_c_ospeed = 1;
	e->c_iflag = t->c_iflag;
	e->c_oflag = t->c_oflag;
	e->c_cflag = t->c_cflag;
	e->c_lflag = t->c_lflag;
	e->c_line = t->c_line;
	e->c_ispeed = cfgetispeed(t);
	e->c_ospeed = cfgetospeed(t);
	for (int i = 0; i < TTY_NCC; i++)
		cc[i] = t->c_cc[i];
	e->n_c_cc = TTY_NCC;
	e->c_cc = cc;
}

void tty_termios_from_entry(const TermiosEntry *e, struct termios *t)
{
	memset(t, 0, sizeof(*t));
	t->c_iflag = e->c_iflag;
	t->c_oflag = e->c_oflag;
	t->c_cflag = e->c_cflag;	/* carries the speed too */
	t->c_lflag = e->c_lflag;
	t->c_line = e->c_line;
	for (size_t i = 0; i < e->n_c_cc && i < TTY_NCC; i++)
		t->c_cc[i] = e->c_cc[i];
}

int tty_ioctl_quiet(int fd, unsigned long req, void *arg)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGTTOU, &ign, &old);
	int r = ioctl(fd, req, arg);
	int e = errno;
	sigaction(SIGTTOU, &old, NULL);
	errno = e;
	return r;
}

static int write_retry(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, 1000) <= 0)
				return -EAGAIN;
			continue;
		}
		if (n < 0)
			return -errno;
		buf += n;
		len -= n;
	}
	return 0;
}

/* The line discipline takes written bytes in a work item: wait for them. */
static bool wait_inq(int fd, size_t want)
{
	for (int i = 0; i < 2000; i++) {
		int n = 0;
		if (ioctl(fd, TIOCINQ, &n) || (size_t)n >= want)
			return true;
		usleep(1000);
	}
	return false;
}

int tty_pty_refill(int master, int slave, const void *in, size_t in_len, const void *out,
		   size_t out_len, const char *what)
{
	struct termios old, raw, lck, nolck;
	memset(&old, 0, sizeof(old));
	memset(&lck, 0, sizeof(lck));
	memset(&nolck, 0, sizeof(nolck));
	if (ioctl(slave, TCGETS, &old) || ioctl(slave, TIOCGLCKTRMIOS, &lck))
		return_perror("can't read the settings of %s", what);
	bool locked = memcmp(&lck, &nolck, sizeof(lck)) != 0;
	if (locked && ioctl(slave, TIOCSLCKTRMIOS, &nolck))
		return_perror("can't unlock the settings of %s (TIOCSLCKTRMIOS needs CAP_SYS_ADMIN)",
			      what);
	/* raw: the bytes were processed (echoed, translated) when they first
	 * came in; they must not be processed again */
	raw = old;
	/* flow control and EXTPROC stay: changing them sends a packet-mode
	 * master a status report */
	raw.c_iflag &= IXON | IXOFF | IXANY;
	raw.c_oflag &= ~OPOST;
	raw.c_lflag &= EXTPROC;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	int ret = 0;
	if (tty_ioctl_quiet(slave, TCSETS, &raw)) {
		ret = -errno;
		pr_perror("can't set %s raw to put its queued bytes back", what);
	}
	if (!ret && in_len) {
		ret = write_retry(master, in, in_len);
		if (ret)
			pr_err("can't put %zu queued input bytes back into %s: %s", in_len, what,
			       strerror(-ret));
		else if (!wait_inq(slave, in_len))
			pr_warn("%s: the line discipline has not taken all %zu input bytes yet", what,
				in_len);
	}
	if (!ret && out_len) {
		ret = write_retry(slave, out, out_len);
		if (ret)
			pr_err("can't put %zu queued output bytes back into %s: %s", out_len, what,
			       strerror(-ret));
		else if (!wait_inq(master, out_len))
			pr_warn("%s: the master has not taken all %zu output bytes yet", what, out_len);
	}
	if (tty_ioctl_quiet(slave, TCSETS, &old) && !ret) {
		ret = -errno;
		pr_perror("can't set the settings of %s back", what);
	}
	if (locked && ioctl(slave, TIOCSLCKTRMIOS, &lck) && !ret) {
		ret = -errno;
		pr_perror("can't lock the settings of %s again", what);
	}
	return ret;
}
