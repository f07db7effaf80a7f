/*
 * libFuzzer harness for lib/filespec: the SendFile task object the agent
 * reads from the server, and the name, directory and mode rules. Whatever
 * parses must satisfy the rules again (a name without '/' or control
 * characters, a mode up to 07777, content within the limit).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filespec.h"

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_filespec f;
	const char *why = NULL;
	unsigned int mode;
	char *s;

	if (lk_filespec_parse((const char *)data, size, &f, &why) == 0) {
		CHECK(why == NULL);
		CHECK(lk_file_name_valid(f.name));
		CHECK(strchr(f.name, '/') == NULL);
		CHECK(f.mode <= 07777);
		CHECK(f.len <= LK_FILE_DATA_MAX);
		lk_filespec_free(&f);
	} else
		CHECK(why != NULL && f.name == NULL && f.data == NULL);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (lk_file_name_valid(s))
		CHECK(strchr(s, '/') == NULL && strcmp(s, "..") != 0 &&
		    strchr(s, '\n') == NULL);
	if (lk_file_dir_valid(s))
		CHECK(s[0] == '/' && strstr(s, "/../") == NULL &&
		    strchr(s, '\n') == NULL);
	if (lk_file_mode_parse(s, &mode) == 0)
		CHECK(mode <= 07777);
	free(s);
	return 0;
}
