/* Test helper:
 *   images-tool gen DIR [--crit]        write every sample image into DIR
 *   images-tool show [--plain] [--payload] PATH   img_show() to stdout
 *   images-tool corpus DIR              samples as fuzz inputs (tests/fuzz)
 * The crit oracle test drives it, so it does not depend on the cryo CLI. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cryo.h"
#include "images/show.h"
#include "samples.h"
#include "util/log.h"
#include "util/util.h"

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
	if (argc >= 3 && !strcmp(argv[1], "corpus")) {
		size_t n;
		const struct sample *s = samples_get(&n);
		char tmpl[] = "/tmp/cryo-corpus-XXXXXX";
		if (!mkdtemp(tmpl))
			return 1;
		int tfd = open(tmpl, O_RDONLY | O_DIRECTORY);
		for (size_t i = 0; i < n; i++) {
			char name[64], path[4200];
			char *buf;
			if (sample_write(tfd, &s[i]))
				return 1;
			snprintf(name, sizeof(name), img_type_info(s[i].type)->pattern, s[i].id);
			ssize_t len = read_file(tfd, name, &buf, false);
			if (len < 0)
				return 1;
			snprintf(path, sizeof(path), "%s/sample-%02zu", argv[2], i);
			FILE *f = fopen(path, "w");
			if (!f)
				return 1;
			fputc(s[i].type, f);
			fputc(i & 3, f);
			fwrite(buf, 1, len, f);
			fclose(f);
			free(buf);
			unlinkat(tfd, name, 0);
		}
		close(tfd);
		rmdir(tmpl);
		return 0;
	}
	fprintf(stderr, "usage: images-tool gen DIR [--crit] | show [--plain] [--payload] PATH | corpus DIR\n");
	return 2;
}
