/*
 * libFuzzer harness for lib/record. An accepted record must format, and
 * the formatted text must parse back to an equal record and format to the
 * same bytes again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "record.h"
#include "sshkey.h"

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

static void
same_record(const struct lk_record *a, const struct lk_record *b)
{
	CHECK(strcmp(a->user, b->user) == 0);
	CHECK(a->created == b->created);
	CHECK(a->not_after == b->not_after);
	CHECK(a->key->type == b->key->type);
	CHECK(a->key->bits == b->key->bits);
	CHECK(a->key->bloblen == b->key->bloblen);
	CHECK(memcmp(a->key->blob, b->key->blob, a->key->bloblen) == 0);
	CHECK((a->key->comment == NULL) == (b->key->comment == NULL));
	CHECK(a->key->comment == NULL ||
	    strcmp(a->key->comment, b->key->comment) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_record *rec = NULL, *rec2 = NULL;
	char *buf = NULL, *buf2 = NULL;
	size_t len, len2, i;
	int r;

	r = lk_record_parse((const char *)data, size, &rec);
	CHECK((r == 0) == (rec != NULL));
	if (r != 0) {
		CHECK(r == LK_ERR_RECORD || r == LK_ERR_TOO_LONG);
		return 0;
	}
	CHECK(rec->created >= 0 && rec->not_after >= rec->created);
	CHECK(size > 0 && data[size - 1] == '\n');

	CHECK(lk_record_format(rec, &buf, &len) == 0);
	CHECK(len == strlen(buf) && len <= LK_RECORD_MAX);
	for (i = 0; i < len; i++)
		CHECK(buf[i] == '\n' || (buf[i] >= 0x20 && buf[i] <= 0x7e));
	CHECK(lk_record_parse(buf, len, &rec2) == 0);
	same_record(rec, rec2);
	CHECK(lk_record_format(rec2, &buf2, &len2) == 0);
	CHECK(len2 == len && memcmp(buf, buf2, len) == 0);

	free(buf);
	free(buf2);
	lk_record_free(rec);
	lk_record_free(rec2);
	return 0;
}
