/*
 * libcriu's option setters: each fills a field of the RPC's criu_opts
 * message, which is sent as it is with the next request (cryo maps the
 * fields onto its options, refusing the ones it does not support with a
 * message the request's answer carries).  Every criu_set_X is
 * criu_local_set_X on the options of criu_init_opts().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcriu-int.h"

criu_opts *lc_global;

/* criu's libcriu exports its version string too. */
const char *criu_lib_version = CRIU_VERSION;

void lc_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("libcriu: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int criu_local_init_opts(criu_opts **o)
{
	criu_opts *opts;

	if (!o)
		return -EINVAL;
	criu_local_free_opts(*o);
	*o = NULL;

	opts = calloc(1, sizeof(*opts));
	if (!opts)
		return -ENOMEM;
	opts->rpc = malloc(sizeof(*opts->rpc));
	if (!opts->rpc) {
		free(opts);
		return -ENOMEM;
	}
	criu_opts__init(opts->rpc);
	opts->comm = CRIU_COMM_BIN;
	opts->service_fd = -1;
	opts->swrk_pid = -1;
	*o = opts;
	return 0;
}

int criu_init_opts(void)
{
	return criu_local_init_opts(&lc_global);
}

void criu_local_free_opts(criu_opts *opts)
{
	if (!opts)
		return;
	/* Everything in rpc was malloc()ed, as protobuf-c's unpacker would. */
	criu_opts__free_unpacked(opts->rpc, NULL);
	free(opts->service_address);
	free(opts->service_binary);
	free(opts);
}

void criu_free_opts(void)
{
	criu_local_free_opts(lc_global);
	lc_global = NULL;
}

/* ---- helpers ---- */

static int set_str(char **dst, const char *s)
{
	char *copy = NULL;

	if (s) {
		copy = strdup(s);
		if (!copy)
			return -ENOMEM;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* Appends one element to a repeated field (an array of pointers). */
static int add_ptr(size_t *n, void *arrp, void *elem)
{
	void ***arr = arrp;
	void **grown = realloc(*arr, (*n + 1) * sizeof(void *));

	if (!grown)
		return -ENOMEM;
	grown[*n] = elem;
	*arr = grown;
	(*n)++;
	return 0;
}

static int add_str(size_t *n, char ***arr, const char *s)
{
	char *copy;
	int ret;

	if (!s)
		return -EINVAL;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	ret = add_ptr(n, arr, copy);
	if (ret)
		free(copy);
	return ret;
}

/* ---- the service ---- */

void criu_local_set_service_comm(criu_opts *opts, enum criu_service_comm comm)
{
	opts->comm = comm;
}

int criu_local_set_service_address(criu_opts *opts, const char *path)
{
	opts->comm = CRIU_COMM_SK;
	return set_str(&opts->service_address, path ? path : LC_DEFAULT_SERVICE_ADDRESS);
}

void criu_local_set_service_fd(criu_opts *opts, int fd)
{
	opts->comm = CRIU_COMM_FD;
	opts->service_fd = fd;
}

int criu_local_set_service_binary(criu_opts *opts, const char *path)
{
	opts->comm = CRIU_COMM_BIN;
	return set_str(&opts->service_binary, path);
}

/* Exported by criu's libcriu (not in criu.h): back to the default service. */
void criu_free_service(criu_opts *opts)
{
	if (!opts)
		return;
	free(opts->service_address);
	free(opts->service_binary);
	opts->service_address = opts->service_binary = NULL;
	opts->comm = CRIU_COMM_BIN;
}

void criu_local_set_notify_cb(criu_opts *opts, int (*cb)(char *action, criu_notify_arg_t na))
{
	opts->notify = cb;
	opts->rpc->has_notify_scripts = true;
	opts->rpc->notify_scripts = true;
}

int criu_notify_pid(criu_notify_arg_t na)
{
	return na && na->has_pid ? na->pid : 0;
}

int criu_get_orphan_pts_master_fd(void)
{
	/* cryo refuses orphan_pts_master, so no descriptor ever comes. */
	return -1;
}

/* ---- scalar fields ---- */

#define LC_SCALAR(name, field, type)                                            \
	void criu_local_set_##name(criu_opts *opts, type v)                     \
	{                                                                       \
		opts->rpc->has_##field = true;                                  \
		opts->rpc->field = v;                                           \
	}

LC_SCALAR(pid, pid, int)
LC_SCALAR(images_dir_fd, images_dir_fd, int)
LC_SCALAR(work_dir_fd, work_dir_fd, int)
LC_SCALAR(leave_running, leave_running, bool)
LC_SCALAR(ext_unix_sk, ext_unix_sk, bool)
LC_SCALAR(tcp_established, tcp_established, bool)
LC_SCALAR(tcp_skip_in_flight, tcp_skip_in_flight, bool)
LC_SCALAR(tcp_close, tcp_close, bool)
LC_SCALAR(weak_sysctls, weak_sysctls, bool)
LC_SCALAR(evasive_devices, evasive_devices, bool)
LC_SCALAR(shell_job, shell_job, bool)
LC_SCALAR(skip_file_rwx_check, skip_file_rwx_check, bool)
LC_SCALAR(unprivileged, unprivileged, bool)
LC_SCALAR(orphan_pts_master, orphan_pts_master, bool)
LC_SCALAR(file_locks, file_locks, bool)
LC_SCALAR(track_mem, track_mem, bool)
LC_SCALAR(auto_dedup, auto_dedup, bool)
LC_SCALAR(force_irmap, force_irmap, bool)
LC_SCALAR(link_remap, link_remap, bool)
LC_SCALAR(log_level, log_level, int)
LC_SCALAR(cpu_cap, cpu_cap, unsigned int)
LC_SCALAR(manage_cgroups, manage_cgroups, bool)
LC_SCALAR(timeout, timeout, unsigned int)
LC_SCALAR(auto_ext_mnt, auto_ext_mnt, bool)
LC_SCALAR(ext_sharing, ext_sharing, bool)
LC_SCALAR(ext_masters, ext_masters, bool)
LC_SCALAR(ghost_limit, ghost_limit, unsigned int)
LC_SCALAR(pidfd_store_sk, pidfd_store_sk, int)
LC_SCALAR(mntns_compat_mode, mntns_compat_mode, bool)

void criu_local_set_empty_ns(criu_opts *opts, int namespaces)
{
	opts->rpc->has_empty_ns = true;
	opts->rpc->empty_ns = (uint32_t)namespaces;
}

void criu_local_set_manage_cgroups_mode(criu_opts *opts, enum criu_cg_mode mode)
{
	/* libcriu's enum and rpc.proto's have the same values. */
	opts->rpc->has_manage_cgroups_mode = true;
	opts->rpc->manage_cgroups_mode = (CriuCgMode)mode;
}

int criu_local_set_network_lock(criu_opts *opts, enum criu_network_lock_method method)
{
	if (method < CRIU_NETWORK_LOCK_IPTABLES || method > CRIU_NETWORK_LOCK_SKIP)
		return -EINVAL;
	opts->rpc->has_network_lock = true;
	opts->rpc->network_lock = (CriuNetworkLockMethod)method;
	return 0;
}

int criu_local_set_pre_dump_mode(criu_opts *opts, enum criu_pre_dump_mode mode)
{
	if (mode != CRIU_PRE_DUMP_SPLICE && mode != CRIU_PRE_DUMP_READ)
		return -EINVAL;
	opts->rpc->has_pre_dump_mode = true;
	opts->rpc->pre_dump_mode = (CriuPreDumpMode)mode;
	return 0;
}

/* ---- string fields ---- */

#define LC_STRING(name, field)                                                  \
	int criu_local_set_##name(criu_opts *opts, const char *s)               \
	{                                                                       \
		return set_str(&opts->rpc->field, s);                           \
	}

LC_STRING(parent_images, parent_img)
LC_STRING(log_file, log_file)
LC_STRING(root, root)
LC_STRING(freeze_cgroup, freeze_cgroup)
LC_STRING(lsm_profile, lsm_profile)
LC_STRING(lsm_mount_context, lsm_mount_context)
LC_STRING(config_file, config_file)

int criu_local_add_cg_props(criu_opts *opts, const char *stream)
{
	return set_str(&opts->rpc->cgroup_props, stream);
}

int criu_local_add_cg_props_file(criu_opts *opts, const char *path)
{
	return set_str(&opts->rpc->cgroup_props_file, path);
}

int criu_local_add_cg_yard(criu_opts *opts, const char *path)
{
	return set_str(&opts->rpc->cgroup_yard, path);
}

/* ---- repeated fields ---- */

#define LC_STRINGS(name, field)                                                 \
	int criu_local_add_##name(criu_opts *opts, const char *s)               \
	{                                                                       \
		return add_str(&opts->rpc->n_##field, &opts->rpc->field, s);    \
	}

LC_STRINGS(enable_fs, enable_fs)
LC_STRINGS(skip_mnt, skip_mnt)
LC_STRINGS(irmap_path, irmap_scan_paths)
LC_STRINGS(cg_dump_controller, cgroup_dump_controller)
LC_STRINGS(external, external)

int criu_local_set_exec_cmd(criu_opts *opts, int argc, char *argv[])
{
	int i, ret;

	if (argc < 1 || !argv)
		return -EINVAL;
	for (i = 0; i < argc; i++) {
		ret = add_str(&opts->rpc->n_exec_cmd, &opts->rpc->exec_cmd, argv[i]);
		if (ret)
			return ret;
	}
	return 0;
}

int criu_local_add_unix_sk(criu_opts *opts, unsigned int inode)
{
	UnixSk *u;

	/* criu's rule: adding one turns ext_unix_sk on, unless it was turned off. */
	if (opts->rpc->has_ext_unix_sk && !opts->rpc->ext_unix_sk)
		return -EINVAL;
	criu_local_set_ext_unix_sk(opts, true);

	u = malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	unix_sk__init(u);
	u->has_inode = true;
	u->inode = inode;
	if (add_ptr(&opts->rpc->n_unix_sk_ino, &opts->rpc->unix_sk_ino, u)) {
		free(u);
		return -ENOMEM;
	}
	return 0;
}

int criu_local_add_ext_mount(criu_opts *opts, const char *key, const char *val)
{
	ExtMountMap *m;

	if (!key || !val)
		return -EINVAL;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	ext_mount_map__init(m);
	if (set_str(&m->key, key) || set_str(&m->val, val) ||
	    add_ptr(&opts->rpc->n_ext_mnt, &opts->rpc->ext_mnt, m)) {
		ext_mount_map__free_unpacked(m, NULL);
		return -ENOMEM;
	}
	return 0;
}

int criu_local_add_veth_pair(criu_opts *opts, const char *in, const char *out)
{
	CriuVethPair *p;

	if (!in || !out)
		return -EINVAL;
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	criu_veth_pair__init(p);
	if (set_str(&p->if_in, in) || set_str(&p->if_out, out) ||
	    add_ptr(&opts->rpc->n_veths, &opts->rpc->veths, p)) {
		criu_veth_pair__free_unpacked(p, NULL);
		return -ENOMEM;
	}
	return 0;
}

int criu_local_add_cg_root(criu_opts *opts, const char *ctrl, const char *path)
{
	CgroupRoot *r;

	if (!path)
		return -EINVAL;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	cgroup_root__init(r);
	if (set_str(&r->ctrl, ctrl) || set_str(&r->path, path) ||
	    add_ptr(&opts->rpc->n_cg_root, &opts->rpc->cg_root, r)) {
		cgroup_root__free_unpacked(r, NULL);
		return -ENOMEM;
	}
	return 0;
}

int criu_local_add_inherit_fd(criu_opts *opts, int fd, const char *key)
{
	InheritFd *f;

	if (fd < 0 || !key)
		return -EINVAL;
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	inherit_fd__init(f);
	f->has_fd = true;
	f->fd = fd;
	if (set_str(&f->key, key) || add_ptr(&opts->rpc->n_inherit_fd, &opts->rpc->inherit_fd, f)) {
		inherit_fd__free_unpacked(f, NULL);
		return -ENOMEM;
	}
	return 0;
}

int criu_local_join_ns_add(criu_opts *opts, const char *ns, const char *ns_file, const char *extra_opt)
{
	JoinNamespace *j;

	if (!ns || !ns_file)
		return -EINVAL;
	j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	join_namespace__init(j);
	if (set_str(&j->ns, ns) || set_str(&j->ns_file, ns_file) || set_str(&j->extra_opt, extra_opt) ||
	    add_ptr(&opts->rpc->n_join_ns, &opts->rpc->join_ns, j)) {
		join_namespace__free_unpacked(j, NULL);
		return -ENOMEM;
	}
	return 0;
}

int criu_local_set_page_server_address_port(criu_opts *opts, const char *address, int port)
{
	CriuPageServerInfo *ps = opts->rpc->ps;

	if (!ps) {
		ps = malloc(sizeof(*ps));
		if (!ps)
			return -ENOMEM;
		criu_page_server_info__init(ps);
		opts->rpc->ps = ps;
	}
	if (set_str(&ps->address, address))
		return -ENOMEM;
	ps->has_port = true;
	ps->port = port;
	return 0;
}

/* ---- the global forms ---- */

#define LC_GLOBAL_VOID(name, type)                                              \
	void criu_set_##name(type v) { criu_local_set_##name(lc_global, v); }
#define LC_GLOBAL_INT(name, type)                                               \
	int criu_set_##name(type v) { return criu_local_set_##name(lc_global, v); }
#define LC_GLOBAL_ADD(name)                                                     \
	int criu_add_##name(const char *s) { return criu_local_add_##name(lc_global, s); }

void criu_set_service_comm(enum criu_service_comm comm) { criu_local_set_service_comm(lc_global, comm); }
LC_GLOBAL_INT(service_address, const char *)
LC_GLOBAL_VOID(service_fd, int)
LC_GLOBAL_INT(service_binary, const char *)
LC_GLOBAL_VOID(pid, int)
LC_GLOBAL_VOID(images_dir_fd, int)
LC_GLOBAL_INT(parent_images, const char *)
LC_GLOBAL_VOID(work_dir_fd, int)
LC_GLOBAL_VOID(leave_running, bool)
LC_GLOBAL_VOID(ext_unix_sk, bool)
LC_GLOBAL_VOID(tcp_established, bool)
LC_GLOBAL_VOID(tcp_skip_in_flight, bool)
LC_GLOBAL_VOID(tcp_close, bool)
LC_GLOBAL_VOID(weak_sysctls, bool)
LC_GLOBAL_VOID(evasive_devices, bool)
LC_GLOBAL_VOID(shell_job, bool)
LC_GLOBAL_VOID(skip_file_rwx_check, bool)
LC_GLOBAL_VOID(unprivileged, bool)
LC_GLOBAL_VOID(orphan_pts_master, bool)
LC_GLOBAL_VOID(file_locks, bool)
LC_GLOBAL_VOID(track_mem, bool)
LC_GLOBAL_VOID(auto_dedup, bool)
LC_GLOBAL_VOID(force_irmap, bool)
LC_GLOBAL_VOID(link_remap, bool)
LC_GLOBAL_VOID(log_level, int)
LC_GLOBAL_INT(log_file, const char *)
LC_GLOBAL_VOID(cpu_cap, unsigned int)
LC_GLOBAL_INT(root, const char *)
LC_GLOBAL_VOID(manage_cgroups, bool)
LC_GLOBAL_VOID(manage_cgroups_mode, enum criu_cg_mode)
LC_GLOBAL_INT(freeze_cgroup, const char *)
LC_GLOBAL_INT(lsm_profile, const char *)
LC_GLOBAL_INT(lsm_mount_context, const char *)
LC_GLOBAL_VOID(timeout, unsigned int)
LC_GLOBAL_VOID(auto_ext_mnt, bool)
LC_GLOBAL_VOID(ext_sharing, bool)
LC_GLOBAL_VOID(ext_masters, bool)
LC_GLOBAL_VOID(ghost_limit, unsigned int)
LC_GLOBAL_INT(pre_dump_mode, enum criu_pre_dump_mode)
LC_GLOBAL_VOID(pidfd_store_sk, int)
LC_GLOBAL_INT(network_lock, enum criu_network_lock_method)
LC_GLOBAL_VOID(mntns_compat_mode, bool)
LC_GLOBAL_INT(config_file, const char *)
LC_GLOBAL_VOID(empty_ns, int)
LC_GLOBAL_ADD(enable_fs)
LC_GLOBAL_ADD(skip_mnt)
LC_GLOBAL_ADD(irmap_path)
LC_GLOBAL_ADD(cg_props)
LC_GLOBAL_ADD(cg_props_file)
LC_GLOBAL_ADD(cg_dump_controller)
LC_GLOBAL_ADD(cg_yard)
LC_GLOBAL_ADD(external)

int criu_add_unix_sk(unsigned int inode) { return criu_local_add_unix_sk(lc_global, inode); }
int criu_set_exec_cmd(int argc, char *argv[]) { return criu_local_set_exec_cmd(lc_global, argc, argv); }
int criu_add_ext_mount(const char *key, const char *val) { return criu_local_add_ext_mount(lc_global, key, val); }
int criu_add_veth_pair(const char *in, const char *out) { return criu_local_add_veth_pair(lc_global, in, out); }
int criu_add_cg_root(const char *ctrl, const char *path) { return criu_local_add_cg_root(lc_global, ctrl, path); }
int criu_add_inherit_fd(int fd, const char *key) { return criu_local_add_inherit_fd(lc_global, fd, key); }
int criu_join_ns_add(const char *ns, const char *ns_file, const char *extra_opt)
{
	return criu_local_join_ns_add(lc_global, ns, ns_file, extra_opt);
}
int criu_set_page_server_address_port(const char *address, int port)
{
	return criu_local_set_page_server_address_port(lc_global, address, port);
}
void criu_set_notify_cb(int (*cb)(char *action, criu_notify_arg_t na)) { criu_local_set_notify_cb(lc_global, cb); }
