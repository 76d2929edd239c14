/* UTS namespaces: the host and domain names (criu's utsns-ID.img).  cryo
 * reads and sets them from inside the namespace (setns of its own thread):
 * uname(2) and sethostname/setdomainname act on the caller's. */
#include "ns/ns-int.h"
#include "images/image.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "utsns.pb-c.h"

int utsns_dump(struct ns_dump *st, const struct ns_desc *d, pid_t pid, uint32_t id)
{
	struct utsname u;
	struct cr_img *img;
	int back, ret = ns_enter_pid(d, pid, &back);
	if (ret)
		return ret;
	ret = uname(&u) ? -errno : 0;
	int r2 = ns_leave(d, back);
	if (ret)
		return log_errno(ret, "uname in the UTS namespace of process %d failed", pid);
	if (r2)
		return r2;

	UtsnsEntry e = UTSNS_ENTRY__INIT;
	e.nodename = u.nodename;
	e.domainname = u.domainname;
	ret = img_open(&img, st->dirfd, IMG_UTSNS, IMG_WRITE, id);
	if (ret)
		return ret;
	ret = img_write_msg(img, &e.base);
	r2 = img_close(img);
	if (!ret)
		pr_info("UTS namespace %u (of process %d): host name \"%s\", domain name \"%s\"", id,
			pid, u.nodename, u.domainname);
	return ret ? ret : r2;
}

int utsns_create(const struct ns_desc *d, int dirfd, const struct ns_set *set, uint32_t id)
{
	struct cr_img *img;
	UtsnsEntry *e;
	int ret = img_open(&img, dirfd, IMG_UTSNS, IMG_READ, id);
	if (ret)
		return ret;
	ret = img_read_one(img, &utsns_entry__descriptor, (ProtobufCMessage **)&e);
	img_close(img);
	if (ret < 0)
		return ret;
	ret = 0;
	if (!e->nodename || !e->domainname) {
		pr_err("utsns-%u.img has no %s: the image is damaged", id,
		       !e->nodename ? "nodename" : "domainname");
		ret = -EINVAL;
	} else if (strlen(e->nodename) >= sizeof(((struct utsname *)0)->nodename) ||
		   strlen(e->domainname) >= sizeof(((struct utsname *)0)->domainname)) {
		pr_err("utsns-%u.img: a name longer than the kernel allows (64 bytes)", id);
		ret = -EINVAL;
	}
	int back = -1;
	if (!ret)
		ret = ns_enter(set, d, &back);
	if (!ret) {
		if (sethostname(e->nodename, strlen(e->nodename)))
			ret = log_errno(-errno, "sethostname(\"%s\") in the new UTS namespace failed",
					e->nodename);
		else if (setdomainname(e->domainname, strlen(e->domainname)))
			ret = log_errno(-errno, "setdomainname(\"%s\") in the new UTS namespace failed",
					e->domainname);
		int r2 = ns_leave(d, back);
		if (!ret)
			ret = r2;
	}
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return ret;
}
