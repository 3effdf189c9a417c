// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Replays a fuzz target's corpus without libFuzzer: each file of the given
 * directories once through LLVMFuzzerTestOneInput, as TAP for tests/run.sh.
 * A crash or sanitizer report ends the binary; run.sh counts what is left
 * unreported as failed. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int visible(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
#ifdef PW_CORPUS
	/* make test runs it without arguments: its own corpus. */
	char *own[] = { argv[0], PW_CORPUS, NULL };
#endif
	struct dirent **list[8];
	int counts[8], total = 0, i, j, k = 0;

#ifdef PW_CORPUS
	if (argc == 1) {
		argv = own;
		argc = 2;
	}
#endif
	if (argc < 2 || argc > 9) {
		fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		counts[i - 1] = scandir(argv[i], &list[i - 1], visible, by_name);
		if (counts[i - 1] < 0) {
			perror(argv[i]);
			return 1;
		}
		total += counts[i - 1];
	}
	printf("1..%d\n", total);
	for (i = 1; i < argc; i++) {
		for (j = 0; j < counts[i - 1]; j++) {
			const char *name = list[i - 1][j]->d_name;
			char path[4096], *buf = NULL;
			size_t len = 0;
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s", argv[i], name);
			k++;
			f = fopen(path, "rb");
			if (!f) {
				printf("not ok %d - %s: cannot open\n", k, path);
				continue;
			}
			buf = malloc(1 << 20);
			len = buf ? fread(buf, 1, 1 << 20, f) : 0;
			fclose(f);
			LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
			free(buf);
			printf("ok %d - %s\n", k, name);
			fflush(stdout);
			free(list[i - 1][j]);
		}
		free(list[i - 1]);
	}
	return 0;
}
