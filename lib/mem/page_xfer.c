/* criu's page server protocol: decoding and checking headers (page_xfer.h). */
#include "mem/page_xfer.h"
#include "mem/mem.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>

int ps_dst_decode(uint64_t dst_id, uint64_t *id)
{
	*id = dst_id >> PS_TYPE_BITS;
	/* criu before 3.3 sent its CR_FD_* enum values, which changed from
	 * one version to the next; criu's own server still maps them */
	switch (dst_id & PS_TYPE_MASK) {
	case PS_TYPE_PID:
	case 10: case 11: case 16: case 17:
		return PS_TYPE_PID;
	case PS_TYPE_SHMEM:
	case 27: case 28: case 29: case 32: case 33: case 34:
		return PS_TYPE_SHMEM;
	default:
		return -1;
	}
}

const char *ps_cmd_name(uint32_t cmd, char *buf, size_t len)
{
	static const char *const names[] = {
		[PS_IOV_ADD] = "ADD", [PS_IOV_HOLE] = "HOLE", [PS_IOV_OPEN] = "OPEN",
		[PS_IOV_OPEN2] = "OPEN2", [PS_IOV_PARENT] = "PARENT", [PS_IOV_ADD_F] = "ADD_F",
		[PS_IOV_GET] = "GET",
	};
	uint32_t c = ps_cmd_of(cmd);
	if (c < sizeof(names) / sizeof(names[0]) && names[c])
		return names[c];
	if (c == PS_IOV_FLUSH)
		return "FLUSH";
	if (c == PS_IOV_FLUSH_N_CLOSE)
		return "FLUSH_N_CLOSE";
	snprintf(buf, len, "0x%x", cmd);
	return buf;
}

uint32_t ps_entry_flags(const struct ps_iov *pi)
{
	switch (ps_cmd_of(pi->cmd)) {
	case PS_IOV_ADD:
		return PE_PRESENT;
	case PS_IOV_HOLE:
		return PE_PARENT;
	default:
		return ps_flags_of(pi->cmd);
	}
}

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -EBADMSG)

int ps_iov_check(const struct ps_iov *pi, char *why, size_t whylen)
{
	uint32_t c = ps_cmd_of(pi->cmd), fl = ps_flags_of(pi->cmd);
	uint64_t id;

	switch (c) {
	case PS_IOV_FLUSH:
	case PS_IOV_FLUSH_N_CLOSE:
		if (fl)
			return WHY("command 0x%x: flags 0x%x on a flush", pi->cmd, fl);
		return 0;
	case PS_IOV_OPEN:
	case PS_IOV_OPEN2:
	case PS_IOV_PARENT:
		if (fl)
			return WHY("command 0x%x: flags 0x%x on an open", pi->cmd, fl);
		break;
	case PS_IOV_ADD:
	case PS_IOV_HOLE:
		if (fl)
			return WHY("command 0x%x: flags 0x%x on an old-style add", pi->cmd, fl);
		break;
	case PS_IOV_ADD_F:
		if (!fl || (fl & ~(uint32_t)(PE_PRESENT | PE_PARENT | PE_LAZY)))
			return WHY("ADD_F with flags 0x%x (known: PE_PARENT 1, PE_LAZY 2, "
				   "PE_PRESENT 4)", fl);
		if ((fl & PE_PRESENT) && (fl & PE_PARENT))
			return WHY("ADD_F with flags 0x%x: pages both present and in the parent", fl);
		break;
	case PS_IOV_GET:
		return WHY("GET (a lazy-pages request for pages): cryo page-server only "
			   "receives a dump's pages");
	default:
		return WHY("unknown command 0x%x", pi->cmd);
	}
	if (ps_dst_decode(pi->dst_id, &id) < 0)
		return WHY("destination 0x%llx: unknown image type %u",
			   (unsigned long long)pi->dst_id, (unsigned)(pi->dst_id & PS_TYPE_MASK));
	if (c == PS_IOV_OPEN || c == PS_IOV_OPEN2 || c == PS_IOV_PARENT)
		return 0;
	if (!pi->nr_pages)
		return WHY("a run of 0 pages at 0x%llx", (unsigned long long)pi->vaddr);
	if (pi->vaddr & (PAGE_SIZE - 1))
		return WHY("a run at 0x%llx, not page aligned", (unsigned long long)pi->vaddr);
	if (pi->vaddr + (uint64_t)pi->nr_pages * PAGE_SIZE < pi->vaddr)
		return WHY("a run of %u pages at 0x%llx wraps around", pi->nr_pages,
			   (unsigned long long)pi->vaddr);
	return 0;
}
