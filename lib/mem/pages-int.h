/* Inside the pages code of mem/ (dump and restore) and its unit tests:
 * /proc/PID/pagemap entry bits and the decisions taken on them. */
#ifndef CRYO_MEM_PAGES_INT_H
#define CRYO_MEM_PAGES_INT_H

#include <stdbool.h>
#include <stdint.h>

/* Documentation/admin-guide/mm/pagemap.rst */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN_MASK ((1ULL << 55) - 1)

/* Is the page of pagemap entry @e saved, when the pagemap (not
 * PAGEMAP_SCAN) is read?  @anon: a private anonymous VMA (or the vDSO),
 * where every present page is the process's own but the shared zero page
 * (@zero_pfn, 0 if unknown); elsewhere only private copies of file pages
 * are.  @guard_bit: the guard-marker bit (PM_GUARD_REGION), which also
 * reads as swapped. */
static inline bool pm_page_saved(uint64_t e, bool anon, uint64_t zero_pfn, uint64_t guard_bit)
{
	if (e & guard_bit)
		return false;
	if (e & PM_SWAPPED)
		return true;
	if (!(e & PM_PRESENT))
		return false;
	if (anon)
		return !zero_pfn || (e & PM_PFN_MASK) != zero_pfn;
	return !(e & PM_FILE);
}

/* Is a child's page (entry @child) still its parent's own page (@parent:
 * the parent's entry at the same address)?  The same physical page
 * mapped in both, not exclusively.  PFNs are shown to CAP_SYS_ADMIN only
 * (0 otherwise): then never. */
static inline bool pm_page_cow_shared(uint64_t child, uint64_t parent)
{
	uint64_t pfn = child & PM_PFN_MASK;
	return (child & PM_PRESENT) && !(child & PM_EXCLUSIVE) && (parent & PM_PRESENT) && pfn &&
	       pfn == (parent & PM_PFN_MASK);
}

#endif
