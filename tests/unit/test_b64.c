/*
 * lib/b64: strict base64. Only the canonical encoding decodes, so that
 * encoding the result always gives back the input.
 */
#include "unit.h"

#include "b64.h"
#include "err.h"

/* Decodes s (with its length taken exactly, no NUL needed). */
static int
dec(const char *s, size_t len, size_t maxout, unsigned char **outp,
    size_t *outlenp)
{
	char *copy;
	int r;

	/* An exact-size heap copy, so ASan sees any read past len. */
	assert_non_null(copy = malloc(len ? len : 1));
	memcpy(copy, s, len);
	r = lk_b64_decode(copy, len, maxout, outp, outlenp);
	free(copy);
	return r;
}

static void
expect_decode(const char *s, const char *want)
{
	unsigned char *out = NULL;
	size_t outlen = 0;

	assert_int_equal(dec(s, strlen(s), 1024, &out, &outlen), 0);
	assert_int_equal(outlen, strlen(want));
	assert_memory_equal(out, want, outlen);
	free(out);
}

static void
expect_bad(const char *s, size_t len, int want)
{
	unsigned char *out = (unsigned char *)1;
	size_t outlen = 99;

	assert_int_equal(dec(s, len, 1024, &out, &outlen), want);
	assert_null(out);
	assert_int_equal(outlen, 0);
}

static void
expect_encode(const char *in, int pad, const char *want)
{
	char *s;

	assert_non_null(s = lk_b64_encode((const unsigned char *)in,
	    strlen(in), pad));
	assert_string_equal(s, want);
	free(s);
}

static void
test_decode_rfc4648_vectors(void **state)
{
	(void)state;
	expect_decode("Zg==", "f");
	expect_decode("Zm8=", "fo");
	expect_decode("Zm9v", "foo");
	expect_decode("Zm9vYg==", "foob");
	expect_decode("Zm9vYmE=", "fooba");
	expect_decode("Zm9vYmFy", "foobar");
}

static void
test_encode_rfc4648_vectors(void **state)
{
	(void)state;
	expect_encode("", 1, "");
	expect_encode("f", 1, "Zg==");
	expect_encode("fo", 1, "Zm8=");
	expect_encode("foo", 1, "Zm9v");
	expect_encode("foob", 1, "Zm9vYg==");
	expect_encode("fooba", 1, "Zm9vYmE=");
	expect_encode("foobar", 1, "Zm9vYmFy");
}

static void
test_encode_unpadded(void **state)
{
	(void)state;
	expect_encode("", 0, "");
	expect_encode("f", 0, "Zg");
	expect_encode("fo", 0, "Zm8");
	expect_encode("foo", 0, "Zm9v");
	expect_encode("foob", 0, "Zm9vYg");
}

static void
test_decode_empty_refused(void **state)
{
	(void)state;
	expect_bad("", 0, LK_ERR_KEY_BASE64);
}

static void
test_decode_length_not_multiple_of_four(void **state)
{
	(void)state;
	expect_bad("Z", 1, LK_ERR_KEY_BASE64);
	expect_bad("Zg", 2, LK_ERR_KEY_BASE64);	/* unpadded */
	expect_bad("Zg=", 3, LK_ERR_KEY_BASE64);
	expect_bad("Zm9vY", 5, LK_ERR_KEY_BASE64);
	expect_bad("Zm9vYmFy=", 9, LK_ERR_KEY_BASE64);
}

static void
test_decode_bad_characters(void **state)
{
	(void)state;
	expect_bad("Zm9v!AAA", 8, LK_ERR_KEY_BASE64);
	expect_bad("Zm-v", 4, LK_ERR_KEY_BASE64);	/* url-safe alphabet */
	expect_bad("Zm_v", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm9 ", 4, LK_ERR_KEY_BASE64);
	expect_bad(" Zm9", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm9\n", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm\r\n", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm\0v", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm\xc3\xa9", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm9v\x80\x81\x82\x83", 8, LK_ERR_KEY_BASE64);
}

static void
test_decode_trailing_garbage(void **state)
{
	(void)state;
	expect_bad("Zm9vYmFy!!!!", 12, LK_ERR_KEY_BASE64);
	expect_bad("Zg==Zg==", 8, LK_ERR_KEY_BASE64);	/* padding inside */
	expect_bad("Zg==AAAA", 8, LK_ERR_KEY_BASE64);
	expect_bad("Zm9vYmFy\0\0\0\0", 12, LK_ERR_KEY_BASE64);
}

static void
test_decode_misplaced_padding(void **state)
{
	(void)state;
	expect_bad("====", 4, LK_ERR_KEY_BASE64);
	expect_bad("Z===", 4, LK_ERR_KEY_BASE64);
	expect_bad("=Zm9", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm=v", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zg=a", 4, LK_ERR_KEY_BASE64);
	expect_bad("Z=g=", 4, LK_ERR_KEY_BASE64);
	expect_bad("AAAA====", 8, LK_ERR_KEY_BASE64);
	expect_bad("Zm9v=g==", 8, LK_ERR_KEY_BASE64);
}

static void
test_decode_nonzero_pad_bits(void **state)
{
	(void)state;
	/* "Zh==" and "Zm9=" carry bits that encoding would have zeroed. */
	expect_bad("Zh==", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zv==", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm9=", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm/=", 4, LK_ERR_KEY_BASE64);
	expect_bad("Zm9vYh==", 8, LK_ERR_KEY_BASE64);
	/* Their canonical neighbours are fine. */
	expect_decode("Zg==", "f");
	expect_decode("Zm8=", "fo");
}

static void
test_decode_maxout(void **state)
{
	unsigned char *out;
	size_t outlen;

	(void)state;
	assert_int_equal(dec("Zm9vYmFy", 8, 6, &out, &outlen), 0);
	assert_int_equal(outlen, 6);
	free(out);
	assert_int_equal(dec("Zm9vYmFy", 8, 5, &out, &outlen),
	    LK_ERR_TOO_LONG);
	assert_null(out);
	assert_int_equal(dec("Zg==", 4, 1, &out, &outlen), 0);
	assert_int_equal(outlen, 1);
	free(out);
	assert_int_equal(dec("Zg==", 4, 0, &out, &outlen), LK_ERR_TOO_LONG);
	assert_int_equal(dec("Zm8=", 4, 1, &out, &outlen), LK_ERR_TOO_LONG);
}

static void
test_decode_whole_alphabet(void **state)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char *out;
	size_t outlen;
	char *back;

	(void)state;
	assert_int_equal(dec(alpha, 64, 100, &out, &outlen), 0);
	assert_int_equal(outlen, 48);
	assert_non_null(back = lk_b64_encode(out, outlen, 1));
	assert_string_equal(back, alpha);
	free(back);
	free(out);
}

static void
test_round_trip_every_length(void **state)
{
	unsigned char in[300], *out;
	size_t n, outlen, i;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (n = 1; n <= sizeof(in); n++) {
		assert_non_null(s = lk_b64_encode(in, n, 1));
		assert_int_equal(strlen(s), (n + 2) / 3 * 4);
		assert_int_equal(dec(s, strlen(s), n, &out, &outlen), 0);
		assert_int_equal(outlen, n);
		assert_memory_equal(out, in, n);
		free(out);
		free(s);
	}
}

static void
test_round_trip_every_byte(void **state)
{
	unsigned char in[256], *out;
	size_t outlen, i;
	char *s;

	(void)state;
	for (i = 0; i < 256; i++)
		in[i] = (unsigned char)(255 - i);
	assert_non_null(s = lk_b64_encode(in, sizeof(in), 1));
	assert_int_equal(dec(s, strlen(s), 256, &out, &outlen), 0);
	assert_int_equal(outlen, 256);
	assert_memory_equal(out, in, 256);
	free(out);
	free(s);
}

/* Every single-character change to a canonical string is either refused
 * or decodes to something that encodes back to the changed string. */
static void
test_decode_is_canonical(void **state)
{
	static const char chars[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	    "=-_ .\n\t\0";
	char s[] = "Zm9vYmE=";
	unsigned char *out;
	size_t outlen, i, j;
	char *back;
	int r;

	(void)state;
	for (i = 0; i < 8; i++) {
		for (j = 0; j < sizeof(chars); j++) {
			char saved = s[i];

			s[i] = chars[j];
			r = dec(s, 8, 100, &out, &outlen);
			if (r == 0) {
				assert_non_null(back = lk_b64_encode(out,
				    outlen, 1));
				assert_int_equal(strlen(back), 8);
				assert_memory_equal(back, s, 8);
				free(back);
				free(out);
			} else {
				assert_int_equal(r, LK_ERR_KEY_BASE64);
			}
			s[i] = saved;
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_rfc4648_vectors),
		cmocka_unit_test(test_encode_rfc4648_vectors),
		cmocka_unit_test(test_encode_unpadded),
		cmocka_unit_test(test_decode_empty_refused),
		cmocka_unit_test(test_decode_length_not_multiple_of_four),
		cmocka_unit_test(test_decode_bad_characters),
		cmocka_unit_test(test_decode_trailing_garbage),
		cmocka_unit_test(test_decode_misplaced_padding),
		cmocka_unit_test(test_decode_nonzero_pad_bits),
		cmocka_unit_test(test_decode_maxout),
		cmocka_unit_test(test_decode_whole_alphabet),
		cmocka_unit_test(test_round_trip_every_length),
		cmocka_unit_test(test_round_trip_every_byte),
		cmocka_unit_test(test_decode_is_canonical),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
