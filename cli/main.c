/* cryo command line: a thin front end over libcryo.
 *
 *   parse (configuration files + argv, lib/options)
 *   -> refuse commands that are not available
 *   -> close --close FDs, resolve the images dir, chdir to the work dir,
 *      open the log there (criu order: -D and -W are relative to the
 *      starting directory, -o and --pidfile to the work directory)
 *   -> call libcryo and turn its result into criu's exit status (0 or 1).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cryo.h"
#include "rpc/rpc.h"
#include "util/log.h"

#define EXIT_OK 0
#define EXIT_FAIL 1	/* criu uses 1 for every failure */

static int close_requested_fds(const struct cryo_opts *o)
{
	for (int i = 0; i < o->close_fds.n; i++) {
		int fd = atoi(o->close_fds.v[i]);
		pr_info("Closing fd %d", fd);
		if (close(fd) && errno != EBADF) {
			pr_perror("--close %d failed", fd);
			return -errno;
		}
	}
	return 0;
}

/* Make images_dir absolute (it must exist), so that the chdir to the work
 * directory does not change what it names, and default the work dir to it. */
/* --exec-cmd: is @cmd something execvp() can run?  Checked before the
 * restore, so a typo fails before any process is made. */
static bool runnable(const char *cmd)
{
	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		char full[PATH_MAX];
		if (snprintf(full, sizeof(full), "%.*s/%s", (int)n, n ? p : ".", cmd) <
		    (int)sizeof(full) && access(full, X_OK) == 0)
			return true;
		p += n;
		if (*p)
			p++;
	}
	return false;
}

static int prepare_dirs(struct cryo_opts *o, bool needs_images)
{
	char *abs;

	if (needs_images) {
		struct stat st;
		if (stat(o->images_dir, &st)) {
			int e = errno;
			fprintf(stderr, "Error: can't use images directory %s: %s%s\n", o->images_dir,
				strerror(e), e == ENOENT ? " (create it first, or pass -D DIR)" : "");
			return -e;
		}
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "Error: images directory %s is not a directory\n", o->images_dir);
			return -ENOTDIR;
		}
		abs = realpath(o->images_dir, NULL);
		if (!abs) {
			int e = errno;
			fprintf(stderr, "Error: can't resolve images directory %s: %s\n",
				o->images_dir, strerror(e));
			return -e;
		}
		free(o->images_dir);
		o->images_dir = abs;
	}
	if (!o->work_dir) {
		o->work_dir = strdup(o->images_dir);
		if (!o->work_dir)
			return -ENOMEM;
	}
	if (chdir(o->work_dir)) {
		int e = errno;
		fprintf(stderr, "Error: can't change to work directory %s: %s\n", o->work_dir, strerror(e));
		return -e;
	}
	return 0;
}

/* Exit status of a restore that waited for the restored tree.  criu's
 * restore waits for the tree (reap_zombies() in cr-restore.c ignores the
 * children's statuses) and then exits 0: the restore itself succeeded.
 * We do the same, and log what the root did. */
static int restore_exit(int wait_status)
{
	if (WIFEXITED(wait_status))
		pr_info("Restored root task exited with status %d", WEXITSTATUS(wait_status));
	else if (WIFSIGNALED(wait_status))
		pr_info("Restored root task was killed by signal %d", WTERMSIG(wait_status));
	return EXIT_OK;
}

static int run(struct cryo_opts *o)
{
	struct cryo_error err = { 0 };	/* printed as it was logged: kept for the debug line */
	int ret, status = 0;

	if (o->command == CMD_HELP) {
		opts_print_help(stdout, CMD_NONE);
		return EXIT_OK;
	}
	if (close_requested_fds(o))
		return EXIT_FAIL;

	if (o->command == CMD_SHOW) {
		/* paths are relative to where cryo was started: no chdir */
		if (log_init(o->log_file, o->verbosity))
			return EXIT_FAIL;
		ret = cryo_show(o->command_arg, STDOUT_FILENO, &err);
		log_fini();
		return ret ? EXIT_FAIL : EXIT_OK;
	}

	if (o->command == CMD_SWRK) {
		/* every request brings its own directories and log */
		if (log_init(NULL, o->verbosity))
			return EXIT_FAIL;
		ret = rpc_swrk(o, o->swrk_fd);
		log_fini();
		return ret ? EXIT_FAIL : EXIT_OK;
	}

	if (prepare_dirs(o, o->command != CMD_CHECK && o->command != CMD_SERVICE))
		return EXIT_FAIL;
	if (log_init(o->log_file, o->verbosity))
		return EXIT_FAIL;
	pr_info("cryo %s (criu %s interface): %s, images in %s", CRYO_VERSION,
		CRYO_CRIU_COMPAT_VERSION, opts_command_name(o->command), o->images_dir);

	switch (o->command) {
	case CMD_DUMP:
		ret = cryo_dump(o, &err);
		break;
	case CMD_PRE_DUMP:
		ret = cryo_pre_dump(o, &err);
		break;
	case CMD_RESTORE:
		if (o->exec_cmd && !runnable(o->exec_argv[0])) {
			pr_err("--exec-cmd: %s is not an executable file here (nor in $PATH); "
			       "nothing was restored", o->exec_argv[0]);
			ret = -ENOENT;
			break;
		}
		ret = cryo_restore(o, &status, &err);
		if (!ret && o->exec_cmd) {
			/* the restored root is our child: the command becomes its parent */
			pr_info("restore done; executing %s", o->exec_argv[0]);
			log_fini();
			execvp(o->exec_argv[0], o->exec_argv);
			fprintf(stderr, "cryo: --exec-cmd: can't execute %s: %s (the restored "
				"tree runs on, adopted by init)\n", o->exec_argv[0], strerror(errno));
			return EXIT_FAIL;
		}
		if (!ret && !o->restore_detached) {
			log_fini();
			return restore_exit(status);
		}
		break;
	case CMD_CHECK:
		ret = cryo_check(o, &err);
		break;
	case CMD_SERVICE:
		ret = rpc_service(o);
		break;
	case CMD_PAGE_SERVER:
		ret = cryo_page_server(o, &err);
		break;
	case CMD_CPUINFO_DUMP:
	case CMD_CPUINFO_CHECK:
		ret = cryo_cpuinfo(o, &err);
		break;
	case CMD_DEDUP:
		ret = cryo_dedup(o, &err);
		break;
	case CMD_LAZY_PAGES:
		ret = cryo_lazy_pages(o, &err);
		break;
	case CMD_MIGRATE:
		ret = cryo_migrate(o, &err);
		break;
	default:
		pr_err("%s: not implemented yet", opts_command_name(o->command));
		ret = -ENOSYS;
		break;
	}
	if (ret < 0)
		pr_debug("%s failed (%s, first error at %s): %s", opts_command_name(o->command),
			 strerror(-err.code), err.where[0] ? err.where : "?", err.msg);
	log_fini();
	return ret ? EXIT_FAIL : EXIT_OK;
}

int main(int argc, char **argv)
{
	int ret;

	opts_init(&opts);
	ret = opts_parse_cmdline(&opts, argc, argv);
	if (ret == 1) {
		opts_free(&opts);
		return EXIT_OK;		/* --help, help, --version */
	}
	if (ret < 0) {
		opts_free(&opts);
		return EXIT_FAIL;
	}
	ret = run(&opts);
	opts_free(&opts);
	return ret;
}
