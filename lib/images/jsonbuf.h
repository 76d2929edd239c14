/* A growable JSON text buffer with crit's encodings (internal to
 * lib/images: `cryo show`). Out of memory is sticky (oom) and checked once
 * at the end. */
#ifndef CRYO_IMAGES_JSONBUF_H
#define CRYO_IMAGES_JSONBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 96

struct jb {
	char *p;
	size_t len, cap;
	bool oom;
	bool pretty;
	int depth;
	bool items[JSON_MAX_DEPTH];	/* container at depth has items already */
};

void jb_put(struct jb *j, const char *s, size_t n);
void jb_puts(struct jb *j, const char *s);
__attribute__((format(printf, 2, 3)))
void jb_printf(struct jb *j, const char *fmt, ...);
void jb_newline(struct jb *j);
/* Before a value inside an array, or a key inside an object. */
void jb_item(struct jb *j);
void jb_open(struct jb *j, char c);
void jb_close(struct jb *j, char c);
void jb_key(struct jb *j, const char *k);
/* A JSON string, ASCII only (like Python's json with ensure_ascii). Invalid
 * UTF-8 bytes come out as U+FFFD. */
void jb_str(struct jb *j, const char *s, size_t n);
/* Python's base64.encodebytes: 76-character lines, each ending in "\n". */
void jb_base64(struct jb *j, const uint8_t *p, size_t n);
/* Python's quopri.encodestring (crit's encoding of unix socket names). */
void jb_quopri(struct jb *j, const uint8_t *p, size_t n);

#endif
