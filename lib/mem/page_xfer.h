/* criu's page server protocol (criu/page-xfer.c), on a TCP stream.
 *
 * Every command is one 24-byte header in the sender's byte order (criu
 * sends its struct as it is in memory: little-endian on x86):
 *
 *   u32 cmd       the command in the low 16 bits, PE_* flags above them
 *   u32 nr_pages  pages of the run (PS_IOV_ADD, PS_IOV_ADD_F, PS_IOV_HOLE)
 *   u64 vaddr     the run's first address (shmem: the offset in the object)
 *   u64 dst_id    which pagemap: the id << 8 | its type (1 a process's
 *                 pagemap-PID, 2 a shared memory object's pagemap-shmem-ID;
 *                 older criu versions used other type numbers, still read)
 *
 * The dump side opens one pagemap at a time (PS_IOV_OPEN2, answered with
 * one byte: 1 if the server has a parent image of it), sends its runs in
 * address order (PS_IOV_ADD_F with the entry's flags, followed by
 * nr_pages * 4096 bytes of contents when PE_PRESENT is among them) and ends
 * the session with PS_IOV_FLUSH or PS_IOV_FLUSH_N_CLOSE, answered with a
 * 32-bit status (0: everything was received and written).  PS_IOV_PARENT
 * asks whether a parent image exists (32-bit answer).  PS_IOV_ADD and
 * PS_IOV_HOLE are the older forms of PE_PRESENT and PE_PARENT runs,
 * PS_IOV_OPEN an open without an answer; PS_IOV_GET belongs to lazy pages. */
#ifndef CRYO_MEM_PAGE_XFER_H
#define CRYO_MEM_PAGE_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ps_iov {
	uint32_t cmd;
	uint32_t nr_pages;
	uint64_t vaddr;
	uint64_t dst_id;
};
_Static_assert(sizeof(struct ps_iov) == 24, "criu's struct page_server_iov is 24 bytes");

#define PS_IOV_ADD 1
#define PS_IOV_HOLE 2
#define PS_IOV_OPEN 3
#define PS_IOV_OPEN2 4
#define PS_IOV_PARENT 5
#define PS_IOV_ADD_F 6
#define PS_IOV_GET 7
#define PS_IOV_FLUSH 0x1023
#define PS_IOV_FLUSH_N_CLOSE 0x1024

#define PS_CMD_BITS 16
#define PS_CMD_MASK ((1u << PS_CMD_BITS) - 1)
#define PS_TYPE_BITS 8
#define PS_TYPE_MASK ((1u << PS_TYPE_BITS) - 1)
#define PS_ID_MAX ((1ULL << (64 - PS_TYPE_BITS)) - 1)

enum ps_type {
	PS_TYPE_PID = 1,	/* pagemap-PID.img */
	PS_TYPE_SHMEM = 2,	/* pagemap-shmem-ID.img */
};

static inline uint32_t ps_cmd(uint32_t cmd, uint32_t flags)
{
	return flags << PS_CMD_BITS | cmd;
}

static inline uint32_t ps_cmd_of(uint32_t cmd)
{
	return cmd & PS_CMD_MASK;
}

static inline uint32_t ps_flags_of(uint32_t cmd)
{
	return cmd >> PS_CMD_BITS;
}

static inline uint64_t ps_dst_id(enum ps_type type, uint64_t id)
{
	return id << PS_TYPE_BITS | type;
}

/* The type of @dst_id (PS_TYPE_*, the numbers older criu versions sent
 * mapped to today's), its id in *id; -1 for a type no criu sent. */
int ps_dst_decode(uint64_t dst_id, uint64_t *id);

/* What a page server accepts of one header before acting on it: a known
 * command, flags only where they belong (PE_PARENT, PE_LAZY, PE_PRESENT,
 * not PE_PRESENT with PE_PARENT), a run of at least one page at a page
 * aligned address that does not wrap.  0, or -EBADMSG with @why filled. */
int ps_iov_check(const struct ps_iov *pi, char *why, size_t whylen);

/* The PE_* flags of the pagemap entry an add command writes (PS_IOV_ADD:
 * PE_PRESENT, PS_IOV_HOLE: PE_PARENT, PS_IOV_ADD_F: its own). */
uint32_t ps_entry_flags(const struct ps_iov *pi);

/* The name of a command, for messages ("ADD_F", or "0x1234"). */
const char *ps_cmd_name(uint32_t cmd, char *buf, size_t len);

#endif
