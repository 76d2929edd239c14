/* Pipes and FIFOs.
 *
 * Dump: one pipe_entry per open file description of a pipe end (pipe_id is
 * the pipe's inode number, flags say which end), and once per pipe the
 * bytes it holds, in pipes-data.img (fifo-data.img for FIFOs) with the
 * buffer size.  The bytes are copied without consuming them: tee() from
 * cryo's duplicate of a read end into a pipe of cryo's, then read out.
 * A pipe reached only through its write end is reopened for reading through
 * /proc/self/fd (non-blocking, so no writer is waited for).
 *
 * A FIFO is a file_entry of type FIFO pointing (regf_id) at a regular-file
 * entry holding its path and flags, as criu writes it.
 *
 * Restore: cryo creates each pipe once (pipe2), sets its size, writes the
 * bytes, and gives each dumped description its end; an end no description
 * had is closed at once (a reader whose writers were all gone sees the data
 * then EOF).  FIFOs are opened by path behind a temporary O_RDWR open, so
 * opening one end never waits for the other.
 */
#include "files/reg-int.h"
#include "util/log.h"
#include "util/util.h"

#include "pipe-data.pb-c.h"
#include "regfile.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* --- dump --- */

/* Pipes (by inode) whose data is already saved; per image type. */
struct pipes_seen {
	uint64_t *ino;
	int nr, cap;
};

static bool seen_add(struct files_dump *fdm, enum fd_kind_id k, uint64_t ino, bool *fresh)
{
	struct pipes_seen *s = fdm->kind_state[k];
	if (!s) {
		s = xzalloc(sizeof(*s));
		if (!s)
			return false;
		fdm->kind_state[k] = s;
	}
	for (int i = 0; i < s->nr; i++)
		if (s->ino[i] == ino) {
			*fresh = false;
			return true;
		}
	if (s->nr == s->cap) {
		int ncap = s->cap ? s->cap * 2 : 16;
		uint64_t *n = xrealloc(s->ino, ncap * sizeof(*n));
		if (!n)
			return false;
		s->ino = n;
		s->cap = ncap;
	}
	s->ino[s->nr++] = ino;
	*fresh = true;
	return true;
}

static void pipes_dump_finish(struct files_dump *fdm, bool ok, bool killed)
{
	(void)ok;
	(void)killed;
	for (int k = FDK_PIPE; k <= FDK_FIFO; k++) {
		struct pipes_seen *s = fdm->kind_state[k];
		if (s)
			free(s->ino);
		free(s);
		fdm->kind_state[k] = NULL;
	}
}

/* Whether the @queued bytes of the pipe behind @rfd, read back in one go,
 * are one packet: of a copy in @steal (empty) one byte is read, which
 * drops the rest of a packet and leaves the rest of a byte stream. */
static bool pipe_one_packet(int rfd, const int steal[2], int queued)
{
	char c;
	int left = -1;
	if (tee(rfd, steal[1], queued, SPLICE_F_NONBLOCK) != queued ||
	    read(steal[0], &c, 1) != 1 || ioctl(steal[0], FIONREAD, &left))
		return false;
	return left == 0 && queued > 1;
}

static int pipe_data_dump(struct fd_dump *d, int img_type, const char *what)
{
	bool fresh;
	if (!seen_add(d->fdm, d->kind, d->st.st_ino, &fresh))
		return -ENOMEM;
	if (!fresh)
		return 0;
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	int rfd = lfd, ret = 0, steal[2] = { -1, -1 };
	char *buf = NULL;
	/* FIONREAD and F_GETPIPE_SZ work on either end */
	int size = fcntl(lfd, F_GETPIPE_SZ);
	int queued = 0;
	if (size < 0 || ioctl(lfd, FIONREAD, &queued))
		return_perror("can't get the size or fill of %s (" FD_FMT ")", what, FD_ARGS(d));
	if (queued > 0 && (d->fi.flags & O_ACCMODE) == O_WRONLY) {
		/* a read end of the same pipe, without waiting for a writer
		 * (only when there is data: for a FIFO, a new reader could
		 * let a writer blocked in open() go on) */
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", lfd);
		rfd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (rfd < 0)
			return_perror("can't open a read end of %s (" FD_FMT ") to copy its data",
				      what, FD_ARGS(d));
	}
	PipeDataEntry pde = PIPE_DATA_ENTRY__INIT;
	pde.has_pipe_id = pde.has_bytes = pde.has_size = 1;
	pde.pipe_id = d->st.st_ino;
	pde.size = size;
	if (queued > 0) {
		if (pipe2(steal, O_CLOEXEC)) {
			ret = -errno;
			pr_perror("can't create a pipe to copy the data of %s", what);
			goto out;
		}
		if (fcntl(steal[1], F_SETPIPE_SZ, size) < size) {
			ret = -errno;
			pr_perror("%s (" FD_FMT ") holds %d bytes in a %d-byte buffer, which cryo "
				  "can't copy: its own pipe can't be made that large (see "
				  "/proc/sys/fs/pipe-max-size; F_SETPIPE_SZ)", what, FD_ARGS(d),
				  queued, size);
			goto out;
		}
		/* tee duplicates the buffers: the task's pipe keeps its data */
		ssize_t n = tee(rfd, steal[1], queued, SPLICE_F_NONBLOCK);
		if (n != queued) {
			ret = n < 0 ? -errno : -EIO;
			pr_err("tee() of the %d bytes of %s (" FD_FMT ") copied %zd: %s", queued,
			       what, FD_ARGS(d), n, n < 0 ? strerror(errno) : "short copy");
			goto out;
		}
		buf = xmalloc(queued);
		if (!buf) {
			ret = -ENOMEM;
			goto out;
		}
		/* a packet-mode pipe's buffers keep their packet flag in the
		 * copy (tee), and a read stops at the end of a packet, where
		 * a byte stream's would go on: each read's length is a packet's
		 * (the read end carries no O_DIRECT, so the data tell) */
		pde.packets = xmalloc(queued * sizeof(*pde.packets));
		if (!pde.packets) {
			ret = -ENOMEM;
			goto out;
		}
		for (int got = 0; got < queued;) {
			ssize_t r = read(steal[0], buf + got, queued - got);
			if (r <= 0) {
				ret = r < 0 ? -errno : -EIO;
				pr_perror("reading back the data of %s", what);
				goto out;
			}
			got += r;
			pde.packets[pde.n_packets++] = r;
		}
		if (pde.n_packets == 1 && !pipe_one_packet(rfd, steal, queued))
			pde.n_packets = 0;
		pde.bytes = queued;
	}
	struct cr_img *img;
	ret = files_dump_img(d->fdm, img_type, &img);
	if (!ret)
		ret = img_write_msg(img, &pde.base);
	if (!ret && queued > 0)
		ret = img_write_raw(img, buf, queued);
	if (!ret)
		pr_debug("%s %lu: %d bytes of data%s, buffer %d bytes", what,
			 (unsigned long)d->st.st_ino, queued,
			 pde.n_packets ? " in packets" : "", size);
out:
	free(buf);
	free(pde.packets);
	if (steal[0] >= 0) {
		close(steal[0]);
		close(steal[1]);
	}
	if (rfd != lfd)
		close(rfd);
	return ret;
}

static int pipe_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT;
	PipeEntry pe = PIPE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	int ret = fd_dump_fown(d, &fown);
	if (ret)
		return ret;
	pe.has_id = pe.has_pipe_id = pe.has_flags = 1;
	pe.id = d->id;
	pe.pipe_id = d->st.st_ino;
	pe.flags = d->fi.flags & ~O_CLOEXEC;
	pe.fown = &fown;
	fe.pipe = &pe;
	ret = files_emit(d, &fe);
	if (ret)
		return ret;
	return pipe_data_dump(d, IMG_PIPES_DATA, "pipe");
}

static int fifo_dump(struct fd_dump *d)
{
	FileEntry fe = FILE_ENTRY__INIT, rfe_file = FILE_ENTRY__INIT;
	FifoEntry fi = FIFO_ENTRY__INIT;
	RegFileEntry rfe = REG_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	char name[PATH_MAX], proc_link[64];
	size_t l = strlen(d->path);
	bool deleted = l > 10 && !strcmp(d->path + l - 10, " (deleted)");
	if (d->path[0] != '/') {
		pr_err(FD_FMT " is a FIFO that is not reachable by path (%s): cryo can't reopen "
		       "it", FD_ARGS(d), d->path);
		return -EOPNOTSUPP;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(deleted ? l - 10 : l), d->path);
	int ret = fd_dump_fown(d, &fown);
	if (ret)
		return ret;
	/* the path and flags, as a regular-file entry of its own id */
	struct fd_dump rd = *d;
	rd.kind = FDK_REG;
	rd.id = d->fdm->next_id++;
	rfe.has_id = rfe.has_flags = rfe.has_pos = rfe.has_mnt_id = rfe.has_size = rfe.has_mode = 1;
	rfe.id = rd.id;
	rfe.flags = d->fi.flags & ~O_CLOEXEC;
	rfe.pos = 0;
	rfe.fown = &fown;
	rfe.name = name;
	rfe.mnt_id = d->fi.mnt_id;
	rfe.size = 0;
	rfe.mode = d->st.st_mode;
	rfe_file.reg = &rfe;
	ret = files_emit(&rd, &rfe_file);
	if (ret)
		return ret;
	if (deleted) {
		/* a ghost FIFO, made for the restore (its data go as any FIFO's) */
		snprintf(proc_link, sizeof(proc_link), "/proc/%d/fd/%d", d->pid, d->fd);
		ret = ghost_dump(&rd, name, proc_link);
		if (ret)
			return ret;
	}
	fi.has_id = fi.has_pipe_id = fi.has_regf_id = 1;
	fi.id = d->id;
	fi.pipe_id = d->st.st_ino;
	fi.regf_id = rd.id;
	fe.fifo = &fi;
	ret = files_emit(d, &fe);
	if (ret)
		return ret;
	return pipe_data_dump(d, IMG_FIFO_DATA, "FIFO");
}

/* --- restore --- */

struct pipe_data {
	uint32_t pipe_id, size, bytes;
	char *data;
	uint32_t *packets;	/* packet mode: each packet's length */
	size_t nr_packets;
	bool used;
};

struct pipes_rst {
	struct pipe_data *pd;
	int nr;
	bool loaded;
};

static void pipes_rst_free(struct files_restore *fr, enum fd_kind_id k)
{
	struct pipes_rst *s = fr->kind_state[k];
	if (!s)
		return;
	for (int i = 0; i < s->nr; i++) {
		free(s->pd[i].data);
		free(s->pd[i].packets);
	}
	free(s->pd);
	free(s);
	fr->kind_state[k] = NULL;
}

static void pipes_restore_finish(struct files_restore *fr, bool ok)
{
	(void)ok;
	pipes_rst_free(fr, FDK_PIPE);
	pipes_rst_free(fr, FDK_FIFO);
}

/* The data saved for pipe @pipe_id in @img_type (pipes-data or fifo-data),
 * or NULL when none was (an image without the entry: nothing buffered). */
static int pipe_data_find(struct files_restore *fr, enum fd_kind_id k, int img_type,
			  uint32_t pipe_id, struct pipe_data **out)
{
	struct pipes_rst *s = fr->kind_state[k];
	*out = NULL;
	if (!s) {
		s = xzalloc(sizeof(*s));
		if (!s)
			return -ENOMEM;
		fr->kind_state[k] = s;
	}
	if (!s->loaded) {
		struct cr_img *img;
		s->loaded = true;
		int ret = img_open(&img, fr->dirfd, img_type, IMG_READ | IMG_MISSING_OK, 0);
		if (ret == -ENOENT)
			return 0;
		if (ret)
			return ret;
		int cap = 0;
		for (;;) {
			PipeDataEntry *pde;
			ret = img_read_msg(img, &pipe_data_entry__descriptor,
					   (ProtobufCMessage **)&pde);
			if (ret <= 0)
				break;
			if (s->nr == cap) {
				cap = cap ? cap * 2 : 16;
				struct pipe_data *n = xrealloc(s->pd, cap * sizeof(*n));
				if (!n) {
					ret = -ENOMEM;
					protobuf_c_message_free_unpacked(&pde->base, NULL);
					break;
				}
				s->pd = n;
			}
			struct pipe_data *p = &s->pd[s->nr++];
			*p = (struct pipe_data){ .pipe_id = pde->pipe_id, .bytes = pde->bytes,
						 .size = pde->has_size ? pde->size : 0 };
			uint64_t sum = 0;
			for (size_t j = 0; j < pde->n_packets; j++)
				sum += pde->packets[j];
			if (pde->n_packets && (sum != pde->bytes || !pde->packets[0])) {
				pr_err("pipe data of pipe %u: its packets add up to %llu bytes, "
				       "not %u (damaged images)", pde->pipe_id,
				       (unsigned long long)sum, pde->bytes);
				ret = -EINVAL;
			} else if (pde->n_packets) {
				p->packets = xmalloc(pde->n_packets * sizeof(*p->packets));
				if (p->packets) {
					memcpy(p->packets, pde->packets,
					       pde->n_packets * sizeof(*p->packets));
					p->nr_packets = pde->n_packets;
				} else {
					ret = -ENOMEM;
				}
			}
			protobuf_c_message_free_unpacked(&pde->base, NULL);
			if (ret < 0)
				break;
			if (p->bytes) {
				p->data = xmalloc(p->bytes);
				ret = p->data ? img_read_raw(img, p->data, p->bytes) : -ENOMEM;
				if (ret)
					break;
			}
		}
		img_close(img);
		if (ret < 0)
			return ret;
	}
	for (int i = 0; i < s->nr; i++)
		if (s->pd[i].pipe_id == pipe_id) {
			*out = &s->pd[i];
			return 0;
		}
	return 0;
}

/* Size the pipe behind @wfd as dumped and write its bytes (once). */
static int pipe_data_fill(int wfd, struct pipe_data *p, const char *what)
{
	if (!p || p->used)
		return 0;
	p->used = true;
	int cur = fcntl(wfd, F_GETPIPE_SZ);
	if (cur < 0)
		return_perror("fcntl(F_GETPIPE_SZ) on %s %u", what, p->pipe_id);
	if (p->size && (unsigned)cur != p->size && fcntl(wfd, F_SETPIPE_SZ, p->size) < 0) {
		int e = errno;
		long max = -1;
		FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
		if (f) {
			if (fscanf(f, "%ld", &max) != 1)
				max = -1;
			fclose(f);
		}
		pr_err("can't give %s %u its buffer size of %u bytes: F_SETPIPE_SZ: %s "
		       "(without CAP_SYS_RESOURCE the limit is /proc/sys/fs/pipe-max-size, %ld; "
		       "raise it, or restore with CAP_SYS_RESOURCE)", what, p->pipe_id, p->size,
		       strerror(e), max);
		return -e;
	}
	if (!p->bytes)
		return 0;
	/* non-blocking: data that does not fit is an error, not a hang */
	int fl = fcntl(wfd, F_GETFL);
	int wfl = fl | O_NONBLOCK | (p->nr_packets ? O_DIRECT : 0);
	if (fl < 0 || fcntl(wfd, F_SETFL, wfl))
		return_perror("fcntl on %s %u", what, p->pipe_id);
	int ret = 0;
	/* in packet mode, one write per packet */
	for (uint32_t off = 0, k = 0; off < p->bytes;) {
		uint32_t len = k < p->nr_packets ? p->packets[k++] : p->bytes - off;
		ssize_t n = write(wfd, p->data + off, len);
		if (n >= 0 && p->nr_packets && (size_t)n != len) {
			pr_err("%s %u: packet %u of %u bytes written as %zd", what, p->pipe_id, k,
			       len, n);
			ret = -EIO;
			break;
		}
		if (n < 0) {
			ret = -errno;
			pr_perror("can't put back the %u bytes of %s %u (wrote %u)", p->bytes, what,
				  p->pipe_id, off);
			break;
		}
		off += n;
	}
	if (fcntl(wfd, F_SETFL, fl) && !ret)
		return_perror("fcntl(F_SETFL) on %s %u", what, p->pipe_id);
	return ret;
}

/* @fd becomes @f's, or is closed. */
static int pipe_end_setup(struct rst_file *f, int fd)
{
	const PipeEntry *pe = f->fe->pipe;
	char what[48];
	snprintf(what, sizeof(what), "pipe %u (file %u)", pe->pipe_id, f->fe->id);
	return files_rst_adopt(f, fd, 0, pe->flags, pe->fown, what);
}

static int pipe_open(struct files_restore *fr, struct rst_file *f)
{
	const PipeEntry *pe = f->fe->pipe;
	if (!pe || !pe->has_pipe_id) {
		pr_err("files.img: pipe entry %u has no pipe_entry", f->fe->id);
		return -EINVAL;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return_perror("can't create pipe %u", pe->pipe_id);
	struct pipe_data *pd;
	int ret = pipe_data_find(fr, FDK_PIPE, IMG_PIPES_DATA, pe->pipe_id, &pd);
	if (!ret)
		ret = pipe_data_fill(p[1], pd, "pipe");
	/* every description of this pipe gets its end now: the first of
	 * each end takes the pipe's own, further ones reopen it */
	bool taken[2] = { false, false };
	for (int i = 0; i < fr->nr_files && !ret; i++) {
		struct rst_file *o = &fr->rf[i];
		if (o->fe->type != FD_TYPES__PIPE || !o->fe->pipe ||
		    o->fe->pipe->pipe_id != pe->pipe_id || o->lfd >= 0)
			continue;
		int acc = o->fe->pipe->flags & O_ACCMODE;
		int end = acc == O_WRONLY ? 1 : 0;
		int fd;
		bool own = !taken[end] && acc != O_RDWR;
		if (own) {
			fd = p[end];
			taken[end] = true;
		} else {
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", p[end]);
			fd = open(path, acc | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0) {
				ret = -errno;
				pr_perror("can't reopen pipe %u for file %u", pe->pipe_id,
					  o->fe->id);
				break;
			}
		}
		ret = pipe_end_setup(o, fd);
		if (ret && own)
			p[end] = -1;	/* closed there */
	}
	if (ret) {
		/* undo: no entry keeps a descriptor closed here */
		for (int i = 0; i < fr->nr_files; i++) {
			struct rst_file *o = &fr->rf[i];
			if (o->fe->type != FD_TYPES__PIPE || !o->fe->pipe ||
			    o->fe->pipe->pipe_id != pe->pipe_id || o->lfd < 0)
				continue;
			if (o->lfd != p[0] && o->lfd != p[1])
				close(o->lfd);
			o->lfd = -1;
		}
	}
	for (int e = 0; e < 2; e++)
		if ((!taken[e] || ret) && p[e] >= 0)
			close(p[e]);
	return ret;
}

static int fifo_open(struct files_restore *fr, struct rst_file *f)
{
	const FifoEntry *fi = f->fe->fifo;
	if (!fi || !fi->has_regf_id) {
		pr_err("files.img: FIFO entry %u has no fifo_entry or regf_id", f->fe->id);
		return -EINVAL;
	}
	const FileEntry *re = files_find(fr, fi->regf_id);
	if (!re || !re->reg || !re->reg->name) {
		pr_err("files.img: FIFO %u names file %u for its path, which is missing",
		       f->fe->id, fi->regf_id);
		return -EINVAL;
	}
	const RegFileEntry *rf = re->reg;
	/* its name, or a ghost FIFO recreated for the restore */
	const char *path = files_reg_open_path(fr, fi->regf_id);
	if (!path)
		return -EINVAL;
	/* a reader and a writer of our own, so neither open waits */
	int fake = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fake < 0)
		return_perror("can't open FIFO %s (file %u)", rf->name, f->fe->id);
	struct stat st;
	if (fstat(fake, &st) || !S_ISFIFO(st.st_mode)) {
		pr_err("%s is no longer a FIFO: can't restore file %u", rf->name, f->fe->id);
		close(fake);
		return -EINVAL;
	}
	struct pipe_data *pd;
	int ret = pipe_data_find(fr, FDK_FIFO, IMG_FIFO_DATA, fi->pipe_id, &pd);
	if (!ret)
		ret = pipe_data_fill(fake, pd, "FIFO");
	int fd = -1;
	if (!ret) {
		/* (open refuses O_DIRECT on a FIFO: adopting sets it with F_SETFL) */
		unsigned flags = (rf->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_DIRECT)) |
				 O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
		fd = open(path, flags);
		if (fd < 0) {
			ret = -errno;
			pr_perror("can't open FIFO %s (file %u)", rf->name, f->fe->id);
		}
	}
	close(fake);
	return files_rst_adopt(f, fd, ret, rf->flags, rf->fown, rf->name);
}

const struct fd_kind fdk_pipe = {
	.name = "pipe",
	.fd_type = FD_TYPES__PIPE,
	.dump = pipe_dump,
	.open = pipe_open,
	.dump_finish = pipes_dump_finish,
	.restore_finish = pipes_restore_finish,
};

const struct fd_kind fdk_fifo = {
	.name = "FIFO",
	.fd_type = FD_TYPES__FIFO,
	.dump = fifo_dump,
	.open = fifo_open,
};
