/*
 * lib/ws_key.c: the opening handshake's key check and accept value (RFC
 * 6455, section 4.2.2), and the close codes' names. The accept value is
 * checked against the RFC's own example, another published pair, and an
 * independent computation (OpenSSL's SHA-1 and base64) for random keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "b64.h"
#include "err.h"
#include "ws.h"

#define GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static void
accept_is(const char *key, const char *want)
{
	char out[LK_WS_ACCEPT_LEN + 1];

	assert_true(lk_ws_key_valid(key));
	memset(out, 'x', sizeof(out));
	assert_int_equal(lk_ws_accept(key, out), 0);
	assert_int_equal(strlen(out), LK_WS_ACCEPT_LEN);
	assert_string_equal(out, want);
}

/* RFC 6455 section 1.3, and the pair of section 4.1's example exchange. */
static void
test_accept_known(void **state)
{
	(void)state;
	accept_is("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	accept_is("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
	/* All zero and all one bits (an accept with '+' and '/'). */
	accept_is("AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
	accept_is("/////////////////////w==", "XXpj4jYzLM2yUE0C7TIgMwTQh2g=");
}

/* Random keys against SHA-1 and base64 done here with OpenSSL alone. */
static void
test_accept_random(void **state)
{
	unsigned char raw[16], md[SHA_DIGEST_LENGTH];
	char key[LK_WS_KEY_LEN + 1], buf[LK_WS_KEY_LEN + sizeof(GUID)];
	char want[LK_WS_ACCEPT_LEN + 1], out[LK_WS_ACCEPT_LEN + 1];
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		assert_int_equal(RAND_bytes(raw, sizeof(raw)), 1);
		assert_int_equal(EVP_EncodeBlock((unsigned char *)key, raw,
		    sizeof(raw)), LK_WS_KEY_LEN);
		assert_true(lk_ws_key_valid(key));
		snprintf(buf, sizeof(buf), "%s%s", key, GUID);
		SHA1((const unsigned char *)buf, strlen(buf), md);
		assert_int_equal(EVP_EncodeBlock((unsigned char *)want, md,
		    sizeof(md)), LK_WS_ACCEPT_LEN);
		assert_int_equal(lk_ws_accept(key, out), 0);
		assert_string_equal(out, want);
	}
}

static void
invalid(const char *key)
{
	char out[LK_WS_ACCEPT_LEN + 1], was[LK_WS_ACCEPT_LEN + 1];

	assert_false(lk_ws_key_valid(key));
	memset(out, 'x', sizeof(out));
	memset(was, 'x', sizeof(was));
	assert_int_equal(lk_ws_accept(key, out), LK_ERR_INVALID_FORMAT);
	/* A refused key leaves out as it was. */
	assert_memory_equal(out, was, sizeof(out));
}

static void
test_key_invalid(void **state)
{
	char big[4096];

	(void)state;
	invalid(NULL);
	invalid("");
	/* Wrong lengths around the right one. */
	invalid("dGhlIHNhbXBsZSBub25jZQ=");
	invalid("dGhlIHNhbXBsZSBub25jZQ===");
	invalid("dGhlIHNhbXBsZSBub25jZQ== ");
	invalid(" dGhlIHNhbXBsZSBub25jZQ==");
	invalid("dGhlIHNhbXBsZSBub25jZQ");
	/* 15 bytes (20 characters), 17 bytes (one '='), 18 bytes (none). */
	invalid("AAAAAAAAAAAAAAAAAAAA");
	invalid("AAAAAAAAAAAAAAAAAAAAAAA=");
	invalid("AAAAAAAAAAAAAAAAAAAAAAAA");
	/* 24 characters padded like 15 bytes are not valid base64. */
	invalid("AAAAAAAAAAAAAAAAAAAA====");
	invalid("AAAAAAAAAAAAAAAAAAAAA===");
	/* Non-canonical: the unused low bits of the last digit are set. */
	invalid("dGhlIHNhbXBsZSBub25jZR==");
	invalid("dGhlIHNhbXBsZSBub25jZf==");
	/* Characters outside the alphabet, the URL-safe one included. */
	invalid("dGhlIHNhbXBsZSBub25jZQ=A");
	invalid("dGhl=HNhbXBsZSBub25jZQ==");
	invalid("dGhlIHNhbXBsZSBub25j\tQ==");
	invalid("dGhlIHNhbXBsZSBub25jZQ\r\n");
	invalid("_____________________w==");
	invalid("---------------------w==");
	invalid("dGhlIHNhbXBsZSBub25j\xc3\xa9==");
	/* A NUL inside: the string ends there, so the length is wrong. */
	invalid("dGhlIHNhbXBs\0ZSBub25jZQ==");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	invalid(big);
	/* Sanity: the same function accepts the canonical key. */
	assert_true(lk_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
}

/* Every 16-byte key encodes to a valid key; lk_b64 and OpenSSL agree. */
static void
test_key_roundtrip(void **state)
{
	unsigned char raw[16];
	char *k;
	int i;

	(void)state;
	for (i = 0; i < 256; i++) {
		memset(raw, i, sizeof(raw));
		raw[i % 16] ^= 0x5a;
		assert_non_null(k = lk_b64_encode(raw, sizeof(raw), 1));
		assert_int_equal(strlen(k), LK_WS_KEY_LEN);
		assert_true(lk_ws_key_valid(k));
		free(k);
	}
}

static void
test_code_names(void **state)
{
	static const struct {
		int		 code;
		const char	*word;
	} codes[] = {
		{ LK_WS_NORMAL,		"normal" },
		{ LK_WS_GOING_AWAY,	"going away" },
		{ LK_WS_PROTOCOL,	"protocol" },
		{ LK_WS_ABNORMAL,	"lost" },
		{ LK_WS_TOO_BIG,	"too big" },
		{ LK_WS_INTERNAL,	"internal" },
		{ LK_WS_IDLE,		"idle" },
		{ LK_WS_AGENT_LOST,	"agent" },
		{ LK_WS_PORT_REFUSED,	"port" },
		{ LK_WS_ENDED,		"ended" },
		{ LK_WS_NO_AGENT,	"agent" },
		{ LK_WS_CLIENT_LOST,	"client" },
	};
	static const int unknown[] = { 0, -1, 999, 1003, 1005, 1007, 1010,
	    3000, 4006, 4999, 65535 };
	const char *dflt = lk_ws_code_name(0), *a, *b;
	size_t i, j;

	(void)state;
	assert_non_null(dflt);
	assert_string_equal(dflt, "closed");
	/* The numbers are the documented ones (docs/sessions.md). */
	assert_int_equal(LK_WS_NORMAL, 1000);
	assert_int_equal(LK_WS_GOING_AWAY, 1001);
	assert_int_equal(LK_WS_PROTOCOL, 1002);
	assert_int_equal(LK_WS_ABNORMAL, 1006);
	assert_int_equal(LK_WS_TOO_BIG, 1009);
	assert_int_equal(LK_WS_INTERNAL, 1011);
	assert_int_equal(LK_WS_IDLE, 4000);
	assert_int_equal(LK_WS_AGENT_LOST, 4001);
	assert_int_equal(LK_WS_PORT_REFUSED, 4002);
	assert_int_equal(LK_WS_ENDED, 4003);
	assert_int_equal(LK_WS_NO_AGENT, 4004);
	assert_int_equal(LK_WS_CLIENT_LOST, 4005);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		a = lk_ws_code_name(codes[i].code);
		assert_non_null(a);
		if (strstr(a, codes[i].word) == NULL)
			fail_msg("code %d: \"%s\" lacks \"%s\"", codes[i].code,
			    a, codes[i].word);
		assert_string_not_equal(a, dflt);
		/* Fits a close frame's reason (123 bytes). */
		assert_true(strlen(a) <= 123);
		for (j = 0; j < i; j++) {
			b = lk_ws_code_name(codes[j].code);
			if (strcmp(a, b) == 0)
				fail_msg("codes %d and %d share \"%s\"",
				    codes[i].code, codes[j].code, a);
		}
	}
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_string_equal(lk_ws_code_name(unknown[i]), dflt);
}

static void
test_limits(void **state)
{
	(void)state;
	/* The bridges' chunks fit a message; the high water holds one. */
	assert_true(LK_WS_CHUNK <= LK_WS_MSG_MAX);
	assert_true(LK_WS_MSG_MAX <= LK_WS_HIGH_WATER);
	assert_int_equal(LK_WS_MSG_MAX, 256 * 1024);
	assert_int_equal(LK_WS_KEY_LEN, 24);
	assert_int_equal(LK_WS_ACCEPT_LEN, 28);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_known),
		cmocka_unit_test(test_accept_random),
		cmocka_unit_test(test_key_invalid),
		cmocka_unit_test(test_key_roundtrip),
		cmocka_unit_test(test_code_names),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
