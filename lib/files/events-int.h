/* Helpers shared by the event-descriptor kinds (eventfd, epoll, signalfd,
 * timerfd, inotify, fanotify): reading their /proc fdinfo text. */
#ifndef CRYO_FILES_EVENTS_INT_H
#define CRYO_FILES_EVENTS_INT_H

#include "files/files-int.h"

#include <string.h>

/* The text after "@key" at the start of a line of @fdinfo, or NULL. */
static inline const char *fdinfo_field(const char *fdinfo, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = fdinfo; p && *p;) {
		if (!strncmp(p, key, kl))
			return p + kl;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/* A FownEntry with every required field set and no owner. */
#define FOWN_NONE(f)                                                                   \
	do {                                                                           \
		(f)->has_uid = (f)->has_euid = (f)->has_signum = (f)->has_pid_type =  \
			(f)->has_pid = 1;                                              \
	} while (0)

/* irmap.c: a path to inode @dev/@ino found under one of @paths
 * (--irmap-scan-path) into @out: 0, or -ENOENT if none. */
int irmap_find(const struct str_list *paths, dev_t dev, ino_t ino, char *out, size_t size);

#endif
