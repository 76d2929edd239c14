/* Test helper:
 *   images-tool gen DIR [--crit]        write every sample image into DIR
 *   images-tool show [--plain] [--payload] PATH   img_show() to stdout
 * The crit oracle test drives it, so it does not depend on the cryo CLI. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cryo.h"
#include "images/show.h"
#include "samples.h"
#include "util/log.h"

int main(int argc, char **argv)
{
	log_init(NULL, LOG_WARN);
	if (argc >= 3 && !strcmp(argv[1], "gen")) {
		int dirfd = open(argv[2], O_RDONLY | O_DIRECTORY);
		if (dirfd < 0) {
			perror(argv[2]);
			return 1;
		}
		return samples_write(dirfd, argc > 3 && !strcmp(argv[3], "--crit")) ? 1 : 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "show")) {
		unsigned flags = 0;
		int i;
		for (i = 2; i < argc - 1; i++) {
			if (!strcmp(argv[i], "--plain"))
				flags |= IMG_SHOW_PLAIN;
			else if (!strcmp(argv[i], "--payload"))
				flags |= IMG_SHOW_PAYLOAD;
		}
		return img_show(argv[argc - 1], STDOUT_FILENO, flags) ? 1 : 0;
	}
	fprintf(stderr, "usage: images-tool gen DIR [--crit] | show [--plain] [--payload] PATH\n");
	return 2;
}
