/* Weak stand-ins for libcryo entry points that are not written yet, so the
 * command line links and refuses cleanly on its own branch.  The executable
 * links libcryo as a whole archive (cli/meson.build), so the real, strong
 * definitions win as soon as they exist; then this file can go. */
#include <errno.h>

#include "cryo.h"
#include "util/log.h"

__attribute__((weak)) int cryo_check(struct cryo_opts *o)
{
	pr_err("check: not implemented yet");
	return -ENOSYS;
}

__attribute__((weak)) int cryo_show(const char *path, int out_fd)
{
	pr_err("show: not implemented yet");
	return -ENOSYS;
}
