/* lib/ns/mountinfo.c: /proc/PID/mountinfo lines into the mount table
 * (escapes, optional fields, propagation, flags, super-block options
 * without ro/rw), the namespace's root, paths under a mount's root, and
 * criu's fstype codes. */
#include "../unit.h"
#include "ns/mnt-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static const char sample[] =
	"22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw\n"
	"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
	"30 27 0:40 / /tmp/with\\040space ro,relatime shared:7 master:3 - tmpfs cryo\\040t "
	"ro,size=64k,mode=751\n"
	"31 27 254:0 /srv/data /data rw,relatime unbindable - ext4 /dev/vda rw,discard\n";

int main(void)
{
	char path[] = "/tmp/cryo-unit-mountinfo-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, sample, sizeof(sample) - 1) == (ssize_t)sizeof(sample) - 1);
	close(fd);

	struct mnt_table t;
	CHECK_INT(mnt_table_read(path, &t), 0);
	unlink(path);
	CHECK_INT(t.n, 4);
	if (t.n == 4) {
		const struct mnt_info *m = &t.m[0];
		CHECK_INT(m->id, 22);
		CHECK_INT(m->parent, 27);
		CHECK_STR(m->fstype, "proc");
		CHECK_INT(m->mnt_flags, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME);
		CHECK_INT(m->shared, 5);
		CHECK_INT(m->master, 0);
		CHECK_STR(m->sb_opts, "");
		m = &t.m[2];
		CHECK_STR(m->mp, "/tmp/with space");
		CHECK_STR(m->source, "cryo t");
		CHECK_INT(m->maj, 0);
		CHECK_INT(m->min, 40);
		CHECK_INT(m->mnt_flags, MS_RDONLY | MS_RELATIME);
		CHECK_INT(m->sb_flags, MS_RDONLY);
		CHECK_STR(m->sb_opts, "size=64k,mode=751");
		CHECK_INT(m->shared, 7);
		CHECK_INT(m->master, 3);
		CHECK(!m->unbindable);
		CHECK(t.m[3].unbindable);
		CHECK_STR(t.m[3].root, "/srv/data");
		CHECK(mnt_root(&t) == &t.m[1]);
		CHECK(mnt_find(&t, 31) == &t.m[3]);
		CHECK(mnt_find(&t, 99) == NULL);
	}
	mnt_table_free(&t);

	/* this process's own: it parses, and has a root */
	CHECK_INT(mnt_table_read("/proc/self/mountinfo", &t), 0);
	CHECK(t.n > 0 && mnt_root(&t) != NULL);
	mnt_table_free(&t);

	const char *rest;
	CHECK(mnt_path_under("/a/b", "/a", &rest));
	CHECK_STR(rest, "/b");
	CHECK(mnt_path_under("/a", "/a", &rest));
	CHECK_STR(rest, "");
	CHECK(!mnt_path_under("/ab", "/a", &rest));
	CHECK(mnt_path_under("/x/y", "/", &rest));
	CHECK_STR(rest, "/x/y");
	CHECK(mnt_path_under("/", "/", &rest));
	CHECK_STR(rest, "");

	CHECK_INT(mnt_fstype_code("tmpfs"), 5);
	CHECK_INT(mnt_fstype_code("cgroup2"), 23);
	CHECK_INT(mnt_fstype_code("ext4"), 16);
	CHECK(mnt_fs_recreated("devpts") && !mnt_fs_recreated("overlay"));
	CHECK_INT(mnt_kdev(8, 1), (8 << 20) | 1);
	return unit_done("mountinfo");
}
