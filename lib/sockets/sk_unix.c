/* Unix sockets: the kind, and the sock_diag listing both sides use.
 * Dump: sk_unix_dump.c; restore: sk_unix_restore.c; what is supported:
 * docs/unix-sockets.md. */
#include "sockets/sk_unix-int.h"
#include "sockets/sockets.h"
#include "util/log.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct fd_kind fdk_unix = {
	.name = "unix socket",
	.fd_type = FD_TYPES__UNIXSK,
	.dump = usk_dump,
	.dump_end = usk_dump_end,
	.open = usk_open,
	.restore_finish = usk_restore_finish,
	.preopen = usk_preopen,
};

const char *usk_name_str(const void *name, size_t len, char *buf, size_t size)
{
	const unsigned char *n = name;
	size_t o = 0;
	if (!len) {
		snprintf(buf, size, "(unnamed)");
		return buf;
	}
	/* a path name's length counts its terminating NUL (how bind() sized it) */
	while (n[0] && len > 1 && !n[len - 1])
		len--;
	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = n[i];
		if (i == 0 && c == 0)
			buf[o++] = '@';
		else if (isprint(c))
			buf[o++] = c;
		else
			o += snprintf(buf + o, size - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

static int collect(struct nlmsghdr *h, void *arg)
{
	struct usk_list *l = arg;
	struct unix_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return 0;
	if (l->nr == l->cap) {
		int ncap = l->cap ? l->cap * 2 : 64;
		struct usk_diag *n = xrealloc(l->v, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->v = n;
		l->cap = ncap;
	}
	struct usk_diag *s = &l->v[l->nr];
	memset(s, 0, sizeof(*s));
	s->ino = m->udiag_ino;
	s->type = m->udiag_type;
	s->state = m->udiag_state;
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		void *p = RTA_DATA(a);
		size_t plen = RTA_PAYLOAD(a);
		switch (a->rta_type) {
		case UNIX_DIAG_NAME:
			if (plen > sizeof(s->name) - 1)
				plen = sizeof(s->name) - 1;
			memcpy(s->name, p, plen);
			s->namelen = plen;
			break;
		case UNIX_DIAG_VFS:
			if (plen >= sizeof(struct unix_diag_vfs)) {
				struct unix_diag_vfs *v = p;
				s->has_vfs = true;
				s->vfs_ino = v->udiag_vfs_ino;
				s->vfs_dev = v->udiag_vfs_dev;
			}
			break;
		case UNIX_DIAG_PEER:
			if (plen >= 4)
				memcpy(&s->peer, p, 4);
			break;
		case UNIX_DIAG_ICONS:
			if (plen >= 4) {
				s->icons = xmalloc(plen);
				if (!s->icons)
					return -ENOMEM;
				memcpy(s->icons, p, plen);
				s->nr_icons = plen / 4;
			}
			break;
		case UNIX_DIAG_RQLEN:
			if (plen >= sizeof(struct unix_diag_rqlen)) {
				struct unix_diag_rqlen *q = p;
				s->rq = q->udiag_rqueue;
				s->wq = q->udiag_wqueue;
			}
			break;
		case UNIX_DIAG_SHUTDOWN:
			if (plen >= 1)
				s->shutdown = *(uint8_t *)p;
			break;
		}
	}
	l->nr++;
	return 0;
}

static int cmp_ino(const void *a, const void *b)
{
	const struct usk_diag *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

int usk_list_all(struct usk_list *l)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req = {
		.h = { .nlmsg_flags = NLM_F_DUMP },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = ~0u,
		       .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER |
				     UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN },
	};
	/* UNIX_DIAG_SHUTDOWN comes without asking (Linux 3.19+) */
	memset(l, 0, sizeof(*l));
	int ret = sock_diag_query(&req, sizeof(req), collect, l);
	if (ret) {
		if (ret != -ENOMEM)
			pr_err("can't list unix sockets with sock_diag: %s (cryo needs "
			       "CONFIG_UNIX_DIAG, module unix_diag)", strerror(-ret));
		usk_list_free(l);
		return ret;
	}
	if (l->nr)
		xqsort(l->v, l->nr, sizeof(l->v[0]), cmp_ino);
	return 0;
}

void usk_list_free(struct usk_list *l)
{
	for (int i = 0; i < l->nr; i++)
		free(l->v[i].icons);
	free(l->v);
	l->v = NULL;
	l->nr = l->cap = 0;
}

struct usk_diag *usk_list_find(struct usk_list *l, uint32_t ino)
{
	struct usk_diag key = { .ino = ino };
	if (!l->nr)
		return NULL;
	return bsearch(&key, l->v, l->nr, sizeof(key), cmp_ino);
}
