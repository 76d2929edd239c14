/* Namespace files (criu's nsfile entries, FD_TYPES__NS): a descriptor a
 * task holds on /proc/PID/ns/KIND (setns(2) takes one, `ip netns` keeps
 * one bind-mounted).  Only the tree's own namespaces can be given back: the
 * restored ones, made new or joined (lib/ns, ns_dump_file and
 * ns_restore_open_file); a file on any other namespace (the host's while
 * the tree has its own, another tree's) is refused at dump, since nothing
 * would make that namespace again. */
#include "files/files-int.h"
#include "ns/ns.h"
#include "util/log.h"

#include "ns.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

static int nsfile_dump(struct fd_dump *d)
{
	int lfd = fd_dump_lfd(d);
	if (lfd < 0)
		return lfd;
	int type = ioctl(lfd, NS_GET_NSTYPE);
	if (type < 0)
		return_perror("ioctl(NS_GET_NSTYPE) on " FD_FMT " (%s)", FD_ARGS(d), d->path);
	const struct ns_desc *k = ns_desc_by_flag(type);
	if (!k) {
		pr_err(FD_FMT " is a namespace file (%s) of a kind cryo does not know (0x%x)",
		       FD_ARGS(d), d->path, type);
		return -EOPNOTSUPP;
	}
	uint32_t ns_id;
	int ret = d->fdm->ns ? ns_dump_file(d->fdm->ns, k, d->st.st_ino, &ns_id) : -EOPNOTSUPP;
	if (ret == -EOPNOTSUPP) {
		pr_err(FD_FMT " is a file of %s %s namespace (%s), which is not the tree's: cryo "
		       "restores descriptors on the tree's own namespaces only (nothing would "
		       "make that one again); close it before the dump", FD_ARGS(d),
		       strchr("AEIOU", k->what[0]) ? "an" : "a", k->what, d->path);
		return ret;
	}
	if (ret)
		return ret;
	NsFileEntry nfe = NS_FILE_ENTRY__INIT;
	nfe.has_id = nfe.has_ns_id = nfe.has_ns_cflag = nfe.has_flags = true;
	nfe.id = d->id;
	nfe.ns_id = ns_id;
	nfe.ns_cflag = type;
	nfe.flags = d->fi.flags;
	FileEntry fe = FILE_ENTRY__INIT;
	fe.nsf = &nfe;
	return files_emit(d, &fe);
}

static int nsfile_open(struct files_restore *fr, struct rst_file *f)
{
	const NsFileEntry *e = f->fe->nsf;
	char what[64];
	if (!e || !e->has_ns_id || !e->has_ns_cflag) {
		pr_err("files.img: namespace file %u has no ns_file_entry", f->fe->id);
		return -EINVAL;
	}
	const struct ns_desc *k = ns_desc_by_flag(e->ns_cflag);
	if (!k) {
		pr_err("files.img: namespace file %u is of an unknown kind (ns_cflag 0x%x)",
		       f->fe->id, e->ns_cflag);
		return -EINVAL;
	}
	snprintf(what, sizeof(what), "namespace file %u (%s)", f->fe->id, k->name);
	int fd = ns_restore_open_file(f->ns ? f->ns : &fr->ns, fr->tree_ids, k, e->ns_id);
	/* nsfs files are read-only, O_RDONLY is all they were opened with */
	return files_rst_adopt(f, fd, fd < 0 ? fd : 0, e->flags & ~O_ACCMODE, NULL, what);
}

const struct fd_kind fdk_nsfile = {
	.name = "namespace file",
	.fd_type = FD_TYPES__NS,
	.dump = nsfile_dump,
	.open = nsfile_open,
};
