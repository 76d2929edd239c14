/* The JSON text buffer of `cryo show` (jsonbuf.h). */
#include "images/jsonbuf.h"
#include "util/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jb_put(struct jb *j, const char *s, size_t n)
{
	if (j->oom)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = MAX(j->cap * 2, j->len + n + 4096);
		char *p = realloc(j->p, cap);
		if (!p) {
			j->oom = true;
			return;
		}
		j->p = p;
		j->cap = cap;
	}
	memcpy(j->p + j->len, s, n);
	j->len += n;
}

void jb_puts(struct jb *j, const char *s) { jb_put(j, s, strlen(s)); }

void jb_printf(struct jb *j, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	jb_put(j, buf, MIN((size_t)n, sizeof(buf) - 1));
}

void jb_newline(struct jb *j)
{
	if (!j->pretty)
		return;
	jb_put(j, "\n", 1);
	for (int i = 0; i < j->depth; i++)
		jb_put(j, "    ", 4);
}

/* Before a value inside an array, or a key inside an object. */
void jb_item(struct jb *j)
{
	if (j->depth > 0) {
		if (j->items[j->depth])
			jb_puts(j, j->pretty ? "," : ", ");
		j->items[j->depth] = true;
		jb_newline(j);
	}
}

void jb_open(struct jb *j, char c)
{
	jb_put(j, &c, 1);
	if (j->depth + 1 < JSON_MAX_DEPTH)
		j->depth++;
	j->items[j->depth] = false;
}

void jb_close(struct jb *j, char c)
{
	bool had = j->items[j->depth];
	if (j->depth > 0)
		j->depth--;
	if (had)
		jb_newline(j);
	jb_put(j, &c, 1);
}

void jb_key(struct jb *j, const char *k)
{
	jb_item(j);
	jb_str(j, k, strlen(k));
	jb_puts(j, ": ");
}

/* Decode one UTF-8 sequence; returns its length, or 0 if invalid. */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned len;
	uint32_t c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2;
		c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (unsigned i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* A JSON string, ASCII only (like Python's json with ensure_ascii). Invalid
 * UTF-8 bytes come out as U+FFFD. */
void jb_str(struct jb *j, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	jb_put(j, "\"", 1);
	for (size_t i = 0; i < n;) {
		uint32_t c;
		size_t l = utf8_dec(s + i, n - i, &c);
		if (!l) {
			c = 0xfffd;
			l = 1;
		}
		i += l;
		switch (c) {
		case '"': jb_puts(j, "\\\""); continue;
		case '\\': jb_puts(j, "\\\\"); continue;
		case '\n': jb_puts(j, "\\n"); continue;
		case '\r': jb_puts(j, "\\r"); continue;
		case '\t': jb_puts(j, "\\t"); continue;
		case '\b': jb_puts(j, "\\b"); continue;
		case '\f': jb_puts(j, "\\f"); continue;
		}
		if (c >= 0x20 && c < 0x7f) {
			char ch = c;
			jb_put(j, &ch, 1);
		} else if (c < 0x10000) {
			jb_printf(j, "\\u%04x", c);
		} else {
			c -= 0x10000;
			jb_printf(j, "\\u%04x\\u%04x", 0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
		}
	}
	jb_put(j, "\"", 1);
}

/* Python's base64.encodebytes: 76-character lines, each ending in "\n". */
void jb_base64(struct jb *j, const uint8_t *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	jb_put(j, "\"", 1);
	for (size_t line = 0; line < n; line += 57) {
		size_t end = MIN(n, line + 57);
		for (size_t i = line; i < end; i += 3) {
			uint32_t v = p[i] << 16;
			size_t left = end - i;
			if (left > 1)
				v |= p[i + 1] << 8;
			if (left > 2)
				v |= p[i + 2];
			char o[4] = { tab[(v >> 18) & 63], tab[(v >> 12) & 63],
				      left > 1 ? tab[(v >> 6) & 63] : '=',
				      left > 2 ? tab[v & 63] : '=' };
			jb_put(j, o, 4);
		}
		jb_puts(j, "\\n");
	}
	jb_put(j, "\"", 1);
}

/* Python's quopri.encodestring (crit's encoding of unix socket names). */
void jb_quopri(struct jb *j, const uint8_t *p, size_t n)
{
	struct jb t = { 0 };
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		char tok[4];
		size_t tl;
		bool at_eol = i + 1 == n || p[i + 1] == '\n';

		if (c == '\n') {
			jb_put(&t, "\n", 1);
			col = 0;
			continue;
		}
		if (c == '=' || c < ' ' || c > '~' ? c != '\t' || at_eol
						   : (c == ' ' && at_eol)) {
			snprintf(tok, sizeof(tok), "=%02X", c);
			tl = 3;
		} else {
			tok[0] = c;
			tl = 1;
		}
		/* Soft line break keeps lines within 76 characters. */
		if (col + tl > 75 && !(at_eol && col + tl <= 76)) {
			jb_put(&t, "=\n", 2);
			col = 0;
		}
		jb_put(&t, tok, tl);
		col += tl;
	}
	if (t.oom)
		j->oom = true;
	jb_str(j, t.p ? t.p : "", t.len);
	free(t.p);
}
