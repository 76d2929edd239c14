/* Cgroups (--manage-cgroups): criu's cgroup.img.  The dump groups the
 * tree's processes into cgroup sets (one per distinct /proc/PID/cgroup;
 * set 1 is the dumping cryo's own, the inventory's root_cg_set) and, in
 * the modes that restore properties, saves the cgroup directories the
 * tree lives in below cryo's with criu's default property list.  The
 * restore makes the directories per mode, sets the properties and puts
 * each process into its set's cgroups before it runs. */
#ifndef CRYO_CGROUP_H
#define CRYO_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cryo_opts;
struct cg_dump;
struct cg_restore;

#define CG_ROOT_SET 1	/* the dumping tool's own cgroups (criu's root_cg_set) */

/* Dump: cryo's own set first; then each process's and thread's; then
 * cgroup.img.  Errors are logged. */
int cg_dump_init(struct cg_dump **out, const struct cryo_opts *o);
int cg_dump_task(struct cg_dump *cg, pid_t pid, const char *comm, uint32_t *set);
/* thread @tid of @pid: its own set (threads may sit in other cgroups: v1
 * "tasks", v2 threaded subtrees); *set = 0 without --manage-cgroups */
int cg_dump_thread(struct cg_dump *cg, pid_t pid, pid_t tid, const char *comm, uint32_t *set);
int cg_dump_write(struct cg_dump *cg, int dirfd);
void cg_dump_free(struct cg_dump *cg);

/* Restore: read cgroup.img and check it against the host and the mode;
 * @sets/@nr: the sets the live processes are in. *out stays NULL when the
 * mode leaves cgroups alone (ignore, or no --manage-cgroups). */
int cg_restore_prepare(struct cg_restore **out, const struct cryo_opts *o, int dirfd,
		       uint32_t root_set, const uint32_t *sets, int nr);
/* make the directories and set the properties (per mode) */
int cg_restore_dirs(struct cg_restore *cg);
/* put process @pid into the cgroups of set @set (before it runs) */
int cg_restore_place(struct cg_restore *cg, pid_t pid, uint32_t set);
/* thread @tid of process @pid (put into its process's set already) into
 * the cgroups of set @set where they differ; @set 0: left there */
int cg_restore_place_thread(struct cg_restore *cg, pid_t pid, pid_t tid, uint32_t set);
/* cryo back into its own cgroups, after it put itself into the root's
 * (cg_restore_place(cg, getpid(), ...)) to make the root's cgroup
 * namespace there */
int cg_restore_self_back(struct cg_restore *cg);
/* a failed restore: remove the directories cryo made (the tasks are gone) */
void cg_restore_undo(struct cg_restore *cg);
void cg_restore_free(struct cg_restore *cg);

/* --freeze-cgroup: freeze (v2 cgroup.freeze or v1 freezer.state) with a
 * guard that thaws it should cryo die; cg_thaw thaws and ends the guard. */
struct cg_freezer;
int cg_freeze(struct cg_freezer **out, const char *dir, unsigned timeout_s);
bool cg_freezer_v1(const struct cg_freezer *f);
/* v1 cgroup frozen before the dump: cg_thaw thaws it anyway (the caught
 * tasks stay in ptrace stops); cg_refreeze(dir) once they are let go */
bool cg_freezer_refreeze(const struct cg_freezer *f);
int cg_refreeze(const char *dir);
int cg_thaw(struct cg_freezer *f);

#endif
