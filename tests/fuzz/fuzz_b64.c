/*
 * libFuzzer harness for lib/b64. Decoding accepts only the canonical
 * encoding, so whatever decodes must encode back to the input exactly;
 * and any bytes must survive an encode/decode round trip.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "err.h"

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
	unsigned char *out = NULL;
	size_t outlen = 0;
	char *enc;
	int r;

	/* Decode, then encode: the input comes back. */
	r = lk_b64_decode((const char *)data, size, size, &out, &outlen);
	if (r == 0) {
		CHECK(out != NULL && outlen > 0 && outlen <= size);
		CHECK((enc = lk_b64_encode(out, outlen, 1)) != NULL);
		CHECK(strlen(enc) == size && memcmp(enc, data, size) == 0);
		free(enc);
		free(out);
		/* A tighter limit than needed is refused as too long. */
		CHECK(lk_b64_decode((const char *)data, size, outlen - 1, &out,
		    &outlen) == LK_ERR_TOO_LONG);
		CHECK(out == NULL);
	} else {
		CHECK(r == LK_ERR_KEY_BASE64 || r == LK_ERR_TOO_LONG);
		CHECK(out == NULL && outlen == 0);
	}

	/* Encode, then decode: the bytes come back. */
	CHECK((enc = lk_b64_encode(data, size, 1)) != NULL);
	CHECK(strlen(enc) == (size + 2) / 3 * 4);
	if (size > 0) {
		CHECK(lk_b64_decode(enc, strlen(enc), size, &out, &outlen) ==
		    0);
		CHECK(outlen == size && memcmp(out, data, size) == 0);
		free(out);
	}
	free(enc);
	/* Unpadded output is the padded one without its '='. */
	CHECK((enc = lk_b64_encode(data, size, 0)) != NULL);
	CHECK(strlen(enc) == (size * 4 + 2) / 3);
	CHECK(strchr(enc, '=') == NULL);
	free(enc);
	return 0;
}
