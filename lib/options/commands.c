/* The commands cryo answers to: names, synopses, help texts. */
#include "options/options.h"
#include "options/internal.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* ---- commands ----------------------------------------------------------- */

static const struct cryo_command_desc commands[] = {
	{ "dump", CMD_DUMP, "", 0, 0,
	  "checkpoint a process tree into image files",
	  "Checkpoint the process tree rooted at -t PID: freeze it, save its state into image "
	  "files in the images directory (-D), then kill it (unless -R or -s).", NULL },
	{ "pre-dump", CMD_PRE_DUMP, "", 0, 0,
	  "save memory ahead of a dump, leaving the tree running",
	  "Save the memory of the tree rooted at -t PID while it keeps running, and start tracking "
	  "changes, so that a later dump with --prev-images-dir writes only what changed. "
	  "The tracking is held by a small cryo-track process until that dump.", NULL },
	{ "restore", CMD_RESTORE, "", 0, 0,
	  "restore processes from image files",
	  "Recreate the processes saved in the images directory. Without -d, cryo waits until "
	  "the restored tree exits.", NULL },
	{ "check", CMD_CHECK, "", 0, 0,
	  "check that the kernel supports checkpoint/restore",
	  "Check the kernel features cryo needs. Prints \"Looks good.\" and exits 0 when the "
	  "required ones are present.", NULL },
	{ "page-server", CMD_PAGE_SERVER, "", 0, 0,
	  "receive memory pages from a remote dump",
	  "Receive the pages of dump --page-server into the images directory (-D), as "
	  "pagemap-*.img and pages-*.img; exit when the dump is over. --port (and "
	  "--address), or --ps-socket.",
	  NULL },
	{ "lazy-pages", CMD_LAZY_PAGES, "", 0, 0,
	  "serve memory to a lazily restored tree",
	  "Fill in the memory of a tree restored with restore --lazy-pages from the images "
	  "directory: listen on lazy-pages.socket in the work directory (-W, else -D), copy each "
	  "page in on its first touch and the rest in the background, exit once every page is "
	  "there. If the daemon dies first, the restored processes are killed. With "
	  "--page-server --address A --port N, the pages a dump --lazy-pages kept are asked of "
	  "that dump (criu's PS_IOV_GET).", NULL },
	{ "service", CMD_SERVICE, "", 0, 0,
	  "serve RPC requests on a UNIX socket",
	  "Listen on a UNIX socket (--address PATH, default criu_service.socket in the work "
	  "directory, or the one systemd passes with LISTEN_FDS) for criu RPC requests "
	  "(rpc.proto, as libcriu and go-criu send them); each connection is served by a "
	  "process of its own. --daemon goes into the background once the socket listens, "
	  "--pidfile writes the service's PID.", NULL },
	{ "swrk", CMD_SWRK, "FD", 1, 1,
	  "serve RPC requests on an inherited socket (for libcriu)",
	  "Serve criu RPC requests on the already connected SOCK_SEQPACKET socket FD; started "
	  "by libcriu, go-criu (runc) and pycriu. A restored tree becomes the client's child.", NULL },
	{ "cpuinfo", CMD_CPUINFO_DUMP, "dump|check", 1, 1,
	  "save or check the CPU features",
	  "\"cpuinfo dump\" writes this CPU's features to cpuinfo.img; \"cpuinfo check\" checks "
	  "that this CPU can run images dumped on the CPU described there (--cpu-cap: which "
	  "checks; default fpu,ins).", NULL },
	{ "dedup", CMD_DEDUP, "", 0, 0,
	  "remove duplicate pages from parent images",
	  "Punch out of the previous dumps (down the parent links of the images directory, "
	  "-D) the pages its own pages replace, as dump --auto-dedup does; the files keep "
	  "their size and the images directory restores as before, the previous dumps can "
	  "then no longer be restored on their own.", NULL },
	{ "exec", CMD_EXEC, "", 0, 0,
	  "removed from criu",
	  "criu's exec command (run a system call in another task) was removed in favour of the "
	  "Compel library.",
	  "the exec command was removed from criu (its job is done by the Compel library), "
	  "and cryo does not provide it" },
	{ "show", CMD_SHOW, "FILE|DIR", 1, 1,
	  "decode image files to JSON",
	  "cryo extension: decode an image file, or every image in a directory, and print it as "
	  "JSON on standard output (criu's show moved to crit).", NULL },
	{ "migrate", CMD_MIGRATE, "", 0, 0,
	  "move a running process tree to another host",
	  "cryo extension. On the destination, migrate --listen PORT -D DIR takes one "
	  "migration; on the source, migrate -t PID --to HOST:PORT -D DIR sends it: pre-dumps "
	  "while the tree runs (up to --max-iterations, until --converge percent of the pages "
	  "stay unchanged), the final dump (with --lazy-pages the pages written since the last "
	  "pre-dump are served post-copy), then the restore on the destination. The source tree "
	  "is killed only once the destination says it runs there; any failure before that "
	  "leaves it running as it was.", NULL },
	{ "help", CMD_HELP, "[COMMAND]", 0, 1,
	  "explain the commands and their options",
	  "Print the list of commands, or what COMMAND does and every option that applies to it.", NULL },
};

const struct cryo_command_desc *opts_commands(size_t *n)
{
	*n = ARRAY_SIZE(commands);
	return commands;
}

const struct cryo_command_desc *opts_command_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

const struct cryo_command_desc *opts_command_desc(enum cryo_command cmd)
{
	if (cmd == CMD_CPUINFO_CHECK)
		cmd = CMD_CPUINFO_DUMP;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].cmd == cmd)
			return &commands[i];
	return NULL;
}

const char *opts_command_name(enum cryo_command cmd)
{
	switch (cmd) {
	case CMD_CPUINFO_DUMP: return "cpuinfo dump";
	case CMD_CPUINFO_CHECK: return "cpuinfo check";
	default: break;
	}
	const struct cryo_command_desc *d = opts_command_desc(cmd);
	return d ? d->name : "(none)";
}
