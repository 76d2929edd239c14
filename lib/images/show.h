/* Images to JSON, in crit's layout ({"magic": "CORE", "entries": [...]}).
 * cryo_show() (lib/cryo.h) is img_show(path, fd, 0): like `crit show --nopl`. */
#ifndef CRYO_IMAGES_SHOW_H
#define CRYO_IMAGES_SHOW_H

/* Plain numbers, as `crit decode` without --pretty: no hex strings, flag
 * names, "major:minor" devices, IP address strings or state names. */
#define IMG_SHOW_PLAIN		0x1
/* Raw payloads (pipe data, socket queues, ghost file contents) in base64,
 * as crit does without --nopl; default is a "... <12KB>" summary. */
#define IMG_SHOW_PAYLOAD	0x2

/* @path: one image file, or a directory (every image in it, as one JSON
 * object keyed by file name; other files are skipped).  Returns 0, or a
 * negative code after logging (for a directory: after showing the rest). */
int img_show(const char *path, int out_fd, unsigned flags);

#endif
