/* Finding an option by name: exact, unique prefix, short letter, and the
 * nearest names to suggest for a typo. */
#include "options/options.h"
#include "options/internal.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* Each negatable option also answers to "no-NAME": candidate k of option i
 * is the name itself (k = 0) or the negated form (k = 1). */
static bool cand_name(const struct cryo_option *opt, int k, char *buf, size_t len)
{
	if (k == 0) {
		snprintf(buf, len, "%s", opt->name);
		return true;
	}
	if (!(opt->flags & OPTF_NEGATABLE))
		return false;
	snprintf(buf, len, "no-%s", opt->name);
	return true;
}

const struct cryo_option *opts_find(const char *name, size_t len, bool *neg, bool *ambiguous)
{
	size_t n_table;
	const struct cryo_option *tbl = opts_table(&n_table);
	const struct cryo_option *found = NULL;
	bool found_neg = false;
	int matches = 0;
	char buf[128];

	if (ambiguous)
		*ambiguous = false;
	/* exact */
	for (size_t i = 0; i < n_table; i++)
		for (int k = 0; k < 2; k++)
			if (cand_name(&tbl[i], k, buf, sizeof(buf)) &&
			    strlen(buf) == len && !strncmp(buf, name, len)) {
				*neg = k;
				return &tbl[i];
			}
	/* unambiguous prefix, as getopt_long allows */
	if (len == 0)
		return NULL;
	for (size_t i = 0; i < n_table; i++)
		for (int k = 0; k < 2; k++)
			if (cand_name(&tbl[i], k, buf, sizeof(buf)) &&
			    strlen(buf) > len && !strncmp(buf, name, len)) {
				if (found == &tbl[i] && found_neg == (bool)k)
					continue;
				found = &tbl[i];
				found_neg = k;
				matches++;
			}
	if (matches == 1) {
		*neg = found_neg;
		return found;
	}
	if (matches > 1 && ambiguous)
		*ambiguous = true;
	return NULL;
}

int opts_prefix_matches(const char *name, size_t len, char *out, size_t outlen)
{
	size_t n_table;
	const struct cryo_option *tbl = opts_table(&n_table);
	char buf[128];
	size_t used = 0;
	int n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n_table; i++)
		for (int k = 0; k < 2; k++)
			if (cand_name(&tbl[i], k, buf, sizeof(buf)) &&
			    strlen(buf) > len && !strncmp(buf, name, len)) {
				int w = snprintf(out + used, outlen - used, "%s--%s", n ? ", " : "", buf);
				if (w > 0 && used + w < outlen)
					used += w;
				n++;
			}
	return n;
}

const struct cryo_option *opts_find_short(char c)
{
	size_t n_table;
	const struct cryo_option *tbl = opts_table(&n_table);
	if (!c)
		return NULL;
	for (size_t i = 0; i < n_table; i++)
		if (tbl[i].short_name == c)
			return &tbl[i];
	return NULL;
}

/* Levenshtein distance with adjacent transpositions, for suggestions. */
size_t opts_edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t d[64][64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
			v = MIN(v, d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				v = MIN(v, d[i - 2][j - 2] + 1);
			d[i][j] = v;
		}
	return d[la][lb];
}

const char *opts_suggest(const char *name, size_t len)
{
	size_t n_table;
	const struct cryo_option *tbl = opts_table(&n_table);
	static char best[128];
	size_t best_d = SIZE_MAX;
	char buf[128];

	for (size_t i = 0; i < n_table; i++) {
		if (tbl[i].flags & OPTF_HIDDEN)
			continue;
		for (int k = 0; k < 2; k++) {
			if (!cand_name(&tbl[i], k, buf, sizeof(buf)))
				continue;
			size_t d = opts_edit_distance(name, len, buf, strlen(buf));
			if (d < best_d) {
				best_d = d;
				snprintf(best, sizeof(best), "%s", buf);
			}
		}
	}
	/* close enough to be a typo: a third of the name, at least 2 edits */
	if (best_d == SIZE_MAX || best_d > MAX((size_t)2, len / 3))
		return NULL;
	return best;
}
