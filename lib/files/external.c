/* External files: --external file[MNTID:INODE] on dump (the file is not
 * reopened at restore but given by whoever restores), --inherit-fd
 * fd[N]:KEY on restore (cryo's own descriptor N stands for the file the
 * images name KEY).  Keys as criu: file[MNTID:INODE] for external files
 * (both hexadecimal), the path without its leading '/' for regular files,
 * pipe:[INODE] and socket:[INODE] for pipes and sockets (their kinds look
 * them up with files_inherited_fd). */
#include "files/reg-int.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *external_file_key(struct fd_dump *d)
{
	static char key[64];
	const struct str_list *l = &d->fdm->opts->external;
	snprintf(key, sizeof(key), "file[%x:%llx]", d->fi.mnt_id,
		 (unsigned long long)d->st.st_ino);
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], key)) {
			pr_info(FD_FMT " (%s) is external: %s", FD_ARGS(d), d->path, key);
			return key;
		}
	return NULL;
}

int files_inherited_fd(struct files_restore *fr, const char *key)
{
	const struct str_list *l = &fr->opts->inherit_fd;
	for (int i = 0; i < l->n; i++) {
		const char *s = l->v[i];
		char *end;
		/* fd[N]:KEY, checked by the option parser */
		long n = strtol(s + 3, &end, 10);
		if (strncmp(end, "]:", 2) || strcmp(end + 2, key))
			continue;
		if (fcntl(n, F_GETFD) < 0) {
			pr_err("--inherit-fd %s: cryo has no fd %ld open (%s)", s, n, strerror(errno));
			return -EBADF;
		}
		pr_info("%s is inherited as fd %ld", key, n);
		return n;
	}
	return -1;
}
