/* --cgroup-props / --cgroup-props-file: criu's per-controller property
 * lists, in its YAML-like form:
 *
 *   "cpu":
 *    - "strategy": "replace"
 *    - "properties": ["cpu.shares", "cpu.cfs_quota_us"]
 *
 * "replace" puts the list in place of criu's default for that controller,
 * "merge" (the default strategy) adds it.  Quotes are optional; blanks and
 * line breaks are not significant. */
#include "cgroup/cgroup-int.h"
#include "util/log.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tok {
	const char *s;	/* the input */
	size_t pos;
	char word[256];	/* the last word read */
};

/* the next token: one of ":-[]," or a word (kind 'w', in t->word); 0 at end */
static int next(struct tok *t)
{
	const char *s = t->s;
	while (s[t->pos] && isspace((unsigned char)s[t->pos]))
		t->pos++;
	char c = s[t->pos];
	if (!c)
		return 0;
	if (strchr(":-[],", c)) {
		t->pos++;
		return c;
	}
	size_t n = 0;
	if (c == '"') {
		t->pos++;
		while (s[t->pos] && s[t->pos] != '"' && n + 1 < sizeof(t->word))
			t->word[n++] = s[t->pos++];
		if (s[t->pos] != '"')
			return -1;
		t->pos++;
	} else {
		while (s[t->pos] && !isspace((unsigned char)s[t->pos]) && !strchr(":[],\"", s[t->pos]) &&
		       n + 1 < sizeof(t->word))
			t->word[n++] = s[t->pos++];
	}
	t->word[n] = 0;
	return n ? 'w' : -1;
}

static int bad(const char *what, const struct tok *t, const char *want)
{
	pr_err("%s: expected %s at offset %zu (criu's form: \"cpu\": - \"strategy\": "
	       "\"replace\" - \"properties\": [\"cpu.shares\"])", what, want, t->pos);
	return -EINVAL;
}

static int add_str(char ***v, int *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return (nv[(*n)++] = xstrdup(s)) ? 0 : -ENOMEM;
}

int cg_props_parse(struct cg_props *p, const char *text, const char *what)
{
	struct tok t = { .s = text };
	int k = next(&t);
	while (k) {
		if (k != 'w')
			return bad(what, &t, "a controller name");
		struct cg_props_ctl *v = realloc(p->ctls, (p->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->ctls = v;
		v = &p->ctls[p->n++];
		memset(v, 0, sizeof(*v));
		if (!(v->name = xstrdup(t.word)))
			return -ENOMEM;
		if (next(&t) != ':')
			return bad(what, &t, "':' after the controller name");
		while ((k = next(&t)) == '-') {
			if (next(&t) != 'w')
				return bad(what, &t, "\"strategy\" or \"properties\"");
			bool strat = !strcmp(t.word, "strategy");
			if (!strat && strcmp(t.word, "properties"))
				return bad(what, &t, "\"strategy\" or \"properties\"");
			if (next(&t) != ':')
				return bad(what, &t, "':'");
			if (strat) {
				if (next(&t) != 'w' || (strcmp(t.word, "replace") && strcmp(t.word, "merge")))
					return bad(what, &t, "\"replace\" or \"merge\"");
				v->replace = !strcmp(t.word, "replace");
				continue;
			}
			if (next(&t) != '[')
				return bad(what, &t, "'['");
			int c = next(&t);
			while (c == 'w') {
				if (strchr(t.word, '/') || t.word[0] == '.')
					return bad(what, &t, "a property file name");
				int ret = add_str(&v->props, &v->nr, t.word);
				if (ret)
					return ret;
				c = next(&t);
				if (c == ',')
					c = next(&t);
			}
			if (c != ']')
				return bad(what, &t, "a property name or ']'");
		}
	}
	return 0;
}

void cg_props_free(struct cg_props *p)
{
	for (int i = 0; p && i < p->n; i++) {
		for (int k = 0; k < p->ctls[i].nr; k++)
			free(p->ctls[i].props[k]);
		free(p->ctls[i].props);
		free(p->ctls[i].name);
	}
	if (p) {
		free(p->ctls);
		p->ctls = NULL;
		p->n = 0;
	}
}

/* The properties to save in hierarchy @name: per controller, criu's
 * default list, replaced or extended by @p's entry for it. */
int cg_props_for(const struct cg_props *p, const char *name, char ***out, int *nr)
{
	char ctls[256], *sv;
	int ret = 0;
	*out = NULL;
	*nr = 0;
	snprintf(ctls, sizeof(ctls), "%s", name);
	bool v2 = !strcmp(name, CG_V2_NAME);	/* one controller, named "" */
	for (char *c = v2 ? ctls : strtok_r(ctls, ",", &sv); !ret && c;
	     c = v2 ? NULL : strtok_r(NULL, ",", &sv)) {
		const struct cg_props_ctl *e = NULL;
		for (int i = 0; p && i < p->n && !e; i++)
			if (cg_names_ctl(c, p->ctls[i].name, strlen(p->ctls[i].name)))
				e = &p->ctls[i];
		if (!e || !e->replace)
			for (int i = 0; !ret && cg_prop_at(c, i); i++)
				ret = add_str(out, nr, cg_prop_at(c, i));
		for (int i = 0; e && !ret && i < e->nr; i++) {
			bool dup = false;
			for (int k = 0; k < *nr && !dup; k++)
				dup = !strcmp((*out)[k], e->props[i]);
			if (!dup)
				ret = add_str(out, nr, e->props[i]);
		}
	}
	return ret;
}
