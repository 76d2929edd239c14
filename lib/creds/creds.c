#include "creds/creds.h"
#include "seize/remote.h"
#include "util/log.h"

int creds_dump_proc(struct remote *r, pid_t pid, TaskCoreEntry *tc) { return 0; }
int creds_dump_thread(struct remote *r, pid_t pid, pid_t tid, ThreadCoreEntry *tce) { return 0; }
int creds_restore_proc(struct remote *r, pid_t pid, const TaskCoreEntry *tc) { return 0; }
int creds_restore_thread(struct remote *r, pid_t pid, pid_t tid, const ThreadCoreEntry *tce)
{
	return 0;
}
