/*
 * libFuzzer harness for lib/sshkey. The input is tried as a key line (with
 * and without the OpenSSL checks) and as a wire blob. Whatever is accepted
 * must re-encode to a line with no control character that parses back to
 * the same blob, type, size and comment, and its fingerprint must parse
 * back to its digest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sshkey.h"

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

static void
same_key(const struct lk_sshkey *a, const struct lk_sshkey *b, int comments)
{
	CHECK(a->type == b->type);
	CHECK(a->bits == b->bits);
	CHECK(a->bloblen == b->bloblen);
	CHECK(memcmp(a->blob, b->blob, a->bloblen) == 0);
	CHECK(a->point_off == b->point_off);
	CHECK(a->point_len == b->point_len);
	if (comments) {
		CHECK((a->comment == NULL) == (b->comment == NULL));
		CHECK(a->comment == NULL ||
		    strcmp(a->comment, b->comment) == 0);
	}
}

static void
check_line(const char *line)
{
	size_t i;

	for (i = 0; line[i] != '\0'; i++)
		CHECK(line[i] >= 0x20 && line[i] <= 0x7e);
	CHECK(i <= LK_SSHKEY_MAX_LINE);
}

/* Everything that holds for an accepted key. */
static void
check_key(const struct lk_sshkey *k)
{
	struct lk_sshkey *k2 = NULL;
	unsigned char dig[LK_SSHKEY_DIGEST_LEN], dig2[LK_SSHKEY_DIGEST_LEN];
	char fp[LK_SSHKEY_FP_SIZE], hex[LK_SSHKEY_HEX_SIZE], *line = NULL;
	size_t i;

	CHECK(k->blob != NULL && k->bloblen > 0 &&
	    k->bloblen <= LK_SSHKEY_MAX_BLOB);
	if (k->comment != NULL) {
		CHECK(strlen(k->comment) > 0);
		CHECK(strlen(k->comment) <= LK_SSHKEY_MAX_COMMENT);
		for (i = 0; k->comment[i] != '\0'; i++)
			CHECK(k->comment[i] >= 0x20 && k->comment[i] <= 0x7e);
		CHECK(k->comment[0] != ' ' &&
		    k->comment[strlen(k->comment) - 1] != ' ');
	}
	if (k->type == LK_KEY_RSA)
		CHECK(k->bits >= LK_SSHKEY_RSA_MIN_BITS &&
		    k->bits <= LK_SSHKEY_RSA_MAX_BITS);

	/* Re-encoded with its comment. */
	CHECK(lk_sshkey_to_line(k, 1, &line) == 0);
	check_line(line);
	CHECK(lk_sshkey_parse_line(line, strlen(line), &k2) == 0);
	same_key(k, k2, 1);
	lk_sshkey_free(k2);
	free(line);

	/* And without. */
	CHECK(lk_sshkey_to_line(k, 0, &line) == 0);
	check_line(line);
	CHECK(lk_sshkey_parse_line(line, strlen(line), &k2) == 0);
	same_key(k, k2, 0);
	CHECK(k2->comment == NULL);
	lk_sshkey_free(k2);
	free(line);

	/* The blob alone, under its own type. */
	CHECK(lk_sshkey_from_blob(k->blob, k->bloblen,
	    lk_sshkey_type_name(k), &k2) == 0);
	same_key(k, k2, 0);
	lk_sshkey_free(k2);

	CHECK(lk_sshkey_digest(k, dig) == 0);
	CHECK(lk_sshkey_fingerprint(k, fp) == 0);
	CHECK(strlen(fp) == LK_SSHKEY_FP_SIZE - 1);
	CHECK(lk_sshkey_fp_parse(fp, dig2) == 0);
	CHECK(memcmp(dig, dig2, sizeof(dig)) == 0);
	lk_sshkey_hex(dig, hex);
	CHECK(strlen(hex) == 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_sshkey *k = NULL, *n = NULL;
	int r, rn;

	/* As a line: the full parser and the one without OpenSSL agree. */
	r = lk_sshkey_parse_line((const char *)data, size, &k);
	rn = lk_sshkey_parse_line_nocrypto((const char *)data, size, &n);
	CHECK((r == 0) == (k != NULL));
	CHECK((rn == 0) == (n != NULL));
	if (rn != 0)
		CHECK(r == rn);
	else if (r != 0)
		CHECK(r == lk_sshkey_validate(n) && r == LK_ERR_KEY_POINT);
	else {
		same_key(k, n, 1);
		CHECK(lk_sshkey_validate(n) == 0);
		check_key(k);
	}
	CHECK(r <= 0);
	lk_sshkey_free(k);
	lk_sshkey_free(n);

	/* As a wire blob. */
	r = lk_sshkey_from_blob(data, size, NULL, &k);
	rn = lk_sshkey_from_blob_nocrypto(data, size, NULL, &n);
	if (rn != 0)
		CHECK(r == rn);
	else if (r == 0) {
		CHECK(k->comment == NULL);
		CHECK(k->bloblen == size && memcmp(k->blob, data, size) == 0);
		same_key(k, n, 1);
		check_key(k);
	}
	lk_sshkey_free(k);
	lk_sshkey_free(n);
	return 0;
}
