/* cryo check: report which kernel features cryo can use, criu-style.
 *
 *   cryo check                 basic requirements; "Looks good." when present
 *   cryo check --all           every feature, one line each
 *   cryo check --feature NAME  one feature: "NAME is supported" / "is NOT supported"
 *   cryo check --feature list  the feature names
 *
 * Return value (the exit status): 0 good / supported; 1 basic requirement
 * (or the asked feature) missing; 2 only non-basic features missing
 * (criu's "Looks good but some kernel features are missing"); negative
 * errno for a usage error (unknown feature name).
 */
#include "cryo.h"
#include "kerndat/kerndat.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

#define CHECK_GOOD "Looks good."
#define CHECK_BAD "Does not look good."
#define CHECK_MAYBE "Looks good but some kernel features are missing\n" \
		    "which, depending on your process tree, may cause\n" \
		    "dump or restore failure."

static void print_missing(enum kdat_feature f)
{
	const struct kdat_info *i = kdat_info(f);
	const char *d = kdat_detail(f);

	pr_msg("Error: %s: %s is missing (%s); needed by: %s; what helps: %s\n",
	       i->name, i->descr, d[0] ? d : "no details", i->needed_by, i->hint);
}

static int check_basic(void)
{
	int missing = 0;

	for (int f = 0; f < KF__MAX; f++) {
		if (!kdat_info(f)->basic || kdat_has(f))
			continue;
		print_missing(f);
		missing++;
	}
	pr_msg("%s\n", missing ? CHECK_BAD : CHECK_GOOD);
	return missing ? 1 : 0;
}

static int check_all(void)
{
	int basic_missing = 0, extra_missing = 0;

	kdat_probe_all();
	for (int f = 0; f < KF__MAX; f++) {
		const struct kdat_info *i = kdat_info(f);
		const char *d = kdat_detail(f);

		if (kdat_has(f)) {
			pr_msg("[yes] %s: %s%s; used for: %s%s%s%s\n", i->name, i->descr,
			       i->basic ? " [basic]" : "", i->needed_by, d[0] ? " (" : "", d, d[0] ? ")" : "");
			continue;
		}
		pr_msg("[NO ] %s: %s%s%s; disables: %s; found: %s; what helps: %s\n", i->name, i->descr,
		       i->basic ? " [basic]" : "", i->alternative ? " [optional]" : "", i->needed_by,
		       d[0] ? d : "missing", i->hint);
		if (i->basic)
			basic_missing++;
		else if (!i->alternative)
			extra_missing++;
	}
	if (basic_missing) {
		pr_msg("%s\n", CHECK_BAD);
		return 1;
	}
	pr_msg("%s\n", extra_missing ? CHECK_MAYBE : CHECK_GOOD);
	return extra_missing ? 2 : 0;
}

static void list_features(void)
{
	for (int f = 0; f < KF__MAX; f++) {
		const struct kdat_info *i = kdat_info(f);
		pr_msg("%-24s %s%s\n", i->name, i->descr, i->basic ? " [basic]" : "");
	}
}

static int check_one(const char *name)
{
	int f;

	if (!strcmp(name, "list")) {
		list_features();
		return 0;
	}
	f = kdat_lookup(name);
	if (f < 0) {
		pr_err("Unknown feature %s (cryo check --feature list shows them)\n", name);
		return -ENOENT;
	}
	if (kdat_has(f)) {
		pr_msg("%s is supported\n", name);
		if (f == KF_MEM_DIRTY_TRACK) {
			pr_msg("mem_dirty_track mechanism: %s\n", kdat_dirty_track_name(kdat_dirty_track()));
			if (kdat_dirty_track() != KDAT_DT_SOFT_DIRTY)
				pr_msg("mem_dirty_track fallback: soft-dirty %s%s\n",
				       kdat_has(KF_SOFT_DIRTY) ? "works" : "does not work: ",
				       kdat_has(KF_SOFT_DIRTY) ? "" : kdat_detail(KF_SOFT_DIRTY));
			else
				pr_msg("mem_dirty_track: uffd-wp async + PAGEMAP_SCAN does not work: %s\n",
				       kdat_detail(KF_MEM_DIRTY_TRACK));
		} else if (kdat_detail(f)[0])
			pr_info("%s: %s\n", name, kdat_detail(f));
		return 0;
	}

	const struct kdat_info *i = kdat_info(f);
	const char *d = kdat_detail(f);
	pr_msg("%s is NOT supported%s%s\n", name, d[0] ? ": " : "", d);
	pr_msg("  %s; needed by: %s; what helps: %s\n", i->descr, i->needed_by, i->hint);
	return 1;
}

int kdat_check(struct cryo_opts *o)
{
	if (o && o->check_feature)
		return check_one(o->check_feature);
	if (o && o->check_all)
		return check_all();
	return check_basic();
}
