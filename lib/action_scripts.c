/* --action-script (criu's action-scripts.c semantics).
 *
 * Each script is run as `sh -c SCRIPT`, in the order given, at every event
 * the pipelines fire (util/pipeline.h: pre-dump, post-dump; pre-restore,
 * setup-namespaces, post-setup-namespaces, post-restore, pre-resume,
 * network-unlock, post-resume), with criu's environment added to cryo's:
 * CRTOOLS_SCRIPT_ACTION (the event), CRTOOLS_IMAGE_DIR (the images
 * directory: criu gives a /proc/PID/fd link to it, a path to the same
 * directory) and CRTOOLS_INIT_PID (the tree's root, once there is one: not
 * at pre-restore).  stdin is /dev/null, stdout and stderr go to the log
 * (criu's cr_system).  A script that exits non-zero or is killed fails
 * the operation at that boundary, as criu's run_scripts; the other scripts
 * of that event still run (criu ORs their results).  The RPC's
 * notifications (notify_scripts) come after the scripts of each event. */
#include "action_scripts.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* cryo's environment without criu's variables, then @add (NULL-ended). */
static char **script_env(char *const *add)
{
	size_t n = 0, k = 0;
	while (environ && environ[n])
		n++;
	for (size_t i = 0; add[i]; i++)
		k++;
	char **env = xzalloc(sizeof(*env) * (n + k + 1));
	if (!env)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "CRTOOLS_", 8))
			env[j++] = environ[i];
	for (size_t i = 0; i < k; i++)
		env[j++] = add[i];
	return env;
}

static int wait_script(pid_t pid, const char *script, const char *event);

static int run_one(const char *script, char **env, const char *event)
{
	int logfd = log_get_fd();
	/* with SIGCHLD ignored (inherited so), the script would be reaped
	 * by the kernel and its status lost */
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
	bool restore_sigchld = !sigaction(SIGCHLD, NULL, &old) && old.sa_handler == SIG_IGN &&
			       !sigaction(SIGCHLD, &dfl, NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int ret = log_errno(-errno, "can't fork to run the %s action script %s", event,
				    script);
		if (restore_sigchld)
			sigaction(SIGCHLD, &old, NULL);
		return ret;
	}
	if (pid == 0) {
		/* the child of a cryo that may block signals for its tasks */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(logfd, STDOUT_FILENO) < 0 ||
		    dup2(logfd, STDERR_FILENO) < 0)
			_exit(127);
		/* nothing of cryo's: a restore holds the pages images open
		 * without close-on-exec for its tasks */
		close_range(3, ~0U, 0);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		execve("/bin/sh", (char *[]){ "sh", "-c", (char *)script, NULL }, env);
		_exit(127);
	}
	int ret = wait_script(pid, script, event);
	if (restore_sigchld)
		sigaction(SIGCHLD, &old, NULL);
	return ret;
}

static int wait_script(pid_t pid, const char *script, const char *event)
{
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return log_errno(-errno, "can't wait for the %s action script %s", event,
					 script);
	}
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	if (WIFEXITED(status))
		pr_err("the %s action script %s exited with status %d%s", event, script,
		       WEXITSTATUS(status),
		       WEXITSTATUS(status) == 127 ? " (not found, or /bin/sh could not run)" : "");
	else
		pr_err("the %s action script %s was killed by signal %d", event, script,
		       WTERMSIG(status));
	return -ECANCELED;
}

static int run_scripts(const char *event, int pid, void *arg)
{
	struct action_scripts *as = arg;
	const struct str_list *l = &as->opts->action_scripts;
	char action[64], dir[PATH_MAX + 32], init[32];
	char *add[4] = { action, dir, NULL, NULL };
	int ret = 0;

	snprintf(action, sizeof(action), "CRTOOLS_SCRIPT_ACTION=%s", event);
	snprintf(dir, sizeof(dir), "CRTOOLS_IMAGE_DIR=%s", as->image_dir);
	if (pid > 0) {
		snprintf(init, sizeof(init), "CRTOOLS_INIT_PID=%d", pid);
		add[2] = init;
	}
	char **env = script_env(add);
	if (!env)
		return -ENOMEM;
	for (int i = 0; i < l->n; i++) {
		pr_info("running the %s action script %s", event, l->v[i]);
		int r = run_one(l->v[i], env, event);
		if (r && !ret)
			ret = r;
	}
	free(env);
	if (!ret && as->next && as->next->notify)
		ret = as->next->notify(event, pid, as->next->arg);
	return ret;
}

/* A descriptor event goes to the front end's hook only (criu runs no
 * script for orphan-pts-master). */
static int forward_fd(const char *event, int fd, void *arg)
{
	struct action_scripts *as = arg;
	return as->next->notify_fd(event, fd, as->next->arg);
}

const struct pipeline_hook *action_scripts_install(struct action_scripts *as,
						   struct cryo_opts *o)
{
	const struct pipeline_hook *prev = o->notify;
	if (!o->action_scripts.n)
		return prev;
	memset(as, 0, sizeof(*as));
	as->opts = o;
	as->next = prev;
	as->hook.notify = run_scripts;
	as->hook.arg = as;
	if (prev && prev->notify_fd)
		as->hook.notify_fd = forward_fd;
	/* criu's CRTOOLS_IMAGE_DIR reaches the directory whatever the
	 * script's working directory: an absolute path */
	if (!o->images_dir || !realpath(o->images_dir, as->image_dir))
		snprintf(as->image_dir, sizeof(as->image_dir), "%s",
			 o->images_dir ? o->images_dir : ".");
	o->notify = &as->hook;
	return prev;
}
