/* Terminals (the "terminal" descriptor kind): pseudo-terminal pairs made by
 * the tree, /dev/tty, and the terminal of the shell the tree was started
 * from (--shell-job).  tty.c dumps, tty_restore.c restores; see
 * docs/terminals.md for what is supported and refused.
 *
 * Image layout (criu's): every descriptor is a tty_file_entry in files.img
 * (plus a reg_file_entry with the device's path, pointed to by regf_id);
 * each terminal end once a tty_info_entry in tty-info.img, numbered
 * index*2+1 for a pty master, index*2 for a slave, fixed numbers for the
 * others; bytes queued in a pair go to tty-data.img.  Internal to
 * lib/files; the pipelines' hooks (tty_dump_tree, tty_restore_task) are in
 * files.h. */
#ifndef CRYO_FILES_TTY_INT_H
#define CRYO_FILES_TTY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <termios.h>

#include "fdinfo.pb-c.h"
#include "tty.pb-c.h"
#include "files/files.h"

struct files_dump;
struct files_restore;
struct remote;
struct seized_tree;

/* --- shared by tty.c, tty_common.c and tty_restore.c --- */

struct rst_file;
/* tty_restore.c: the kind's ->open and ->restore_finish */
int tty_open(struct files_restore *fr, struct rst_file *f);
void tty_restore_finish(struct files_restore *fr, bool ok);

#define TTY_NCC 19			/* the kernel's NCCS (termios c_cc) */
#define TTY_MAX_PTY_INDEX 1000		/* criu numbers pty ends below 2002 */
/* tty_info ids of the terminals that are not ptys (criu's numbering) */
#define TTY_INFO_CONSOLE (1002 << 1)
#define TTY_INFO_VT (1004 << 1)
#define TTY_INFO_CTTY (1006 << 1)
#define TTY_INFO_SERIAL 0
#define TTY_INFO_EXT 0		/* criu's too: one external terminal per dump */

static inline unsigned tty_pty_info_id(int index, bool master)
{
	return ((unsigned)index << 1) | (master ? 1 : 0);
}

void tty_termios_to_entry(const struct termios *t, TermiosEntry *e, uint32_t *cc);
void tty_termios_from_entry(const TermiosEntry *e, struct termios *t);

/* Put bytes back into a pty pair: @in (typed into the master, not yet read
 * from the slave) and @out (written by the slave side, not yet read from
 * the master), exactly as they were: the slave's termios is raw while they
 * go in (no echo, no newline translation), then set back.  Waits until
 * the line discipline has taken them.  @what names the pty in messages. */
int tty_pty_refill(int master, int slave, const void *in, size_t in_len, const void *out,
		   size_t out_len, const char *what);

/* tty_restore.c: open @ptmx until devpts hands out @index; its master */
int tty_open_ptmx_at(const char *ptmx, int index);
/* tty_hold.c: a pty made for a mount (files.h), adopted by the tty kind:
 * its master (now the caller's), or -1 if none is held */
int tty_devpts_take(dev_t dev, int index);

/* ioctl on a terminal that may be cryo's own without cryo being in its
 * foreground group: SIGTTOU is ignored around the call. */
int tty_ioctl_quiet(int fd, unsigned long req, void *arg);

#endif
