/*
 * libFuzzer harness for lib/cast.c. The first byte picks the part:
 *  - even: the check latchkeyd makes of an uploaded recording. An
 *    accepted recording has its size within bounds, parses line by line
 *    as JSON, and its counts are consistent.
 *  - odd: the rest is a terminal's output, written by the writer in
 *    reads of sizes taken from the input; what it writes always passes
 *    the check, stays within its limit, and its "o" events hold as many
 *    characters as the output had (every byte that is not UTF-8 one
 *    U+FFFD).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cast.h"
#include "err.h"

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_writer(const uint8_t *data, size_t size)
{
	struct lk_cast_info info;
	struct lk_cast c;
	char why[128], *buf;
	size_t off = 0, n, len;
	FILE *f = tmpfile();
	long t = 0;

	CHECK(f != NULL);
	CHECK(lk_cast_open(&c, fileno(f), LK_CAST_MAX_MIN, 80, 24, "xterm",
	    0, 0) == 0);
	while (off < size) {
		n = 1 + data[off] % 17;
		off++;
		if (n > size - off)
			n = size - off;
		if (n == 17 - 1)
			lk_cast_resize(&c, t, 1 + (int)n, 2);
		lk_cast_output(&c, t += 7, data + off, n);
		off += n;
	}
	lk_cast_close(&c, t);
	len = (size_t)ftell(f);
	CHECK(len <= LK_CAST_MAX_MIN);
	rewind(f);
	CHECK((buf = malloc(len + 1)) != NULL);
	CHECK(fread(buf, 1, len, f) == len);
	fclose(f);
	CHECK(lk_cast_check(buf, len, &info, why, sizeof(why)) == 0);
	CHECK(info.width == 80 && info.height == 24);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_cast_info info;
	char why[128];

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		if (lk_cast_check((const char *)data + 1, size - 1, &info, why,
		    sizeof(why)) == 0) {
			CHECK(size > 1 && data[size - 1] == '\n');
			CHECK(memchr(data + 1, '\0', size - 1) == NULL);
			CHECK(info.width >= 1 && info.width <= LK_CAST_DIM_MAX);
			CHECK(info.height >= 1 && info.height <= LK_CAST_DIM_MAX);
			CHECK(info.output <= size);
		} else
			CHECK(why[0] != '\0');
	} else
		fuzz_writer(data + 1, size - 1);
	return 0;
}
