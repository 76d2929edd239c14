/* The sockets' per-run state lives in the restore context: two restores in
 * one process (an RPC service, a test running a stage twice) must not see
 * each other's queued data, and releasing one frees only its own. */
#include "../unit.h"

#include "files/files.h"
#include "images/image.h"
#include "sockets/sockets.h"

#include "sk-packet.pb-c.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A directory with sk-queues.img holding @n messages @msgs[i] for file @id. */
static int make_dir(char *tmpl, uint32_t id, const char *const *msgs, int n)
{
	if (!mkdtemp(tmpl))
		return -1;
	int dfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct cr_img *img;
	if (dfd < 0 || img_open(&img, dfd, IMG_SK_QUEUES, IMG_WRITE, 0))
		return -1;
	for (int i = 0; i < n; i++) {
		SkPacketEntry pe = SK_PACKET_ENTRY__INIT;
		pe.has_id_for = pe.has_length = 1;
		pe.id_for = id;
		pe.length = strlen(msgs[i]);
		if (img_write_msg(img, &pe.base) || img_write_raw(img, msgs[i], pe.length))
			return -1;
	}
	return img_close(img) ? -1 : dfd;
}

struct seen {
	char text[256];
	int nr;
};

static int collect(const void *data, size_t len, const void *addr, size_t addr_len, void *arg)
{
	struct seen *s = arg;
	(void)addr;
	(void)addr_len;
	strncat(s->text, data, len);
	strcat(s->text, "|");
	s->nr++;
	return 0;
}

static void cleanup(const char *dir, int dfd)
{
	unlinkat(dfd, "sk-queues.img", 0);
	close(dfd);
	rmdir(dir);
}

int main(void)
{
	char da[] = "/tmp/cryo-unit-skq-XXXXXX", db[] = "/tmp/cryo-unit-skq-XXXXXX";
	const char *a_msgs[] = { "one", "two" }, *b_msgs[] = { "other" };
	int fa = make_dir(da, 7, a_msgs, 2), fb = make_dir(db, 7, b_msgs, 1);
	if (fa < 0 || fb < 0) {
		fprintf(stderr, "can't write the test images\n");
		return 1;
	}
	struct files_restore ra = { .dirfd = fa }, rb = { .dirfd = fb };
	struct seen s = { 0 };

	/* run A loads its queues first */
	CHECK(sk_queue_has(&ra, 7));
	CHECK(!sk_queue_has(&ra, 8));
	CHECK_INT(sk_queue_foreach(&ra, 7, collect, &s), 0);
	CHECK_STR(s.text, "one|two|");
	CHECK(ra.sockets != NULL);

	/* run B, while A's are still loaded: its own image, not A's */
	memset(&s, 0, sizeof(s));
	CHECK(sk_queue_has(&rb, 7));
	CHECK_INT(sk_queue_foreach(&rb, 7, collect, &s), 0);
	CHECK_STR(s.text, "other|");

	/* A ends: B keeps its own */
	sk_queue_release(&ra);
	CHECK(ra.sockets == NULL);
	memset(&s, 0, sizeof(s));
	CHECK_INT(sk_queue_foreach(&rb, 7, collect, &s), 0);
	CHECK_STR(s.text, "other|");
	sk_queue_release(&rb);
	CHECK(rb.sockets == NULL);

	/* the same context used again after a release reads its image anew */
	memset(&s, 0, sizeof(s));
	CHECK_INT(sk_queue_foreach(&ra, 7, collect, &s), 0);
	CHECK_INT(s.nr, 2);
	sk_queue_release(&ra);
	sk_queue_release(&ra);	/* twice: nothing left, nothing done */

	cleanup(da, fa);
	cleanup(db, fb);
	return unit_done("sockets-state");
}
