/*
 * Signature 1.0 and V3 against the known answers in the project's API
 * reference (verified against the official SDKs' own requests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "params.h"
#include "sig.h"

static void
parse(struct lk_params *p, const char *s)
{
	assert_int_equal(lk_params_parse(p, s, strlen(s)), 0);
}

static void
test_v1_docs_get(void **state)
{
	struct lk_params p = { NULL, 0 };
	char *sts = NULL, sig[LK_SIG_V1_SIZE];

	(void)state;
	parse(&p, "AccessKeyId=testid&Action=DescribeRegions&Format=XML"
	    "&SignatureMethod=HMAC-SHA1"
	    "&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
	    "&SignatureVersion=1.0&Timestamp=2016-02-23T12%3A46%3A24Z"
	    "&Version=2014-05-26&Signature=ignored");
	assert_int_equal(lk_sig_v1_string_to_sign("GET", &p, &sts), 0);
	assert_string_equal(sts, "GET&%2F&AccessKeyId%3Dtestid%26Action%3D"
	    "DescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26"
	    "SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26"
	    "SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
	    "%26Version%3D2014-05-26");
	assert_int_equal(lk_sig_v1_compute("testsecret", sts, sig), 0);
	assert_string_equal(sig, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
	free(sts);
	lk_params_free(&p);
}

static void
test_v1_popcore_post(void **state)
{
	struct lk_params p = { NULL, 0 };
	char *sts = NULL, sig[LK_SIG_V1_SIZE];

	(void)state;
	parse(&p, "AccessKeyId=testid&Action=InvokeCommand"
	    "&CommandId=cmd-ACS-ECS-SendSshPublicKey-linux.sh&Format=JSON"
	    "&InstanceId.1=i-abc&Parameters=%7B%22username%22%3A%22root%22%2C"
	    "%22sshPublicKey%22%3A%22ssh-ed25519%20AAAA%2B%2F%3D%20me%40host"
	    "%22%7D&RegionId=cn-hangzhou&SignatureMethod=HMAC-SHA1"
	    "&SignatureNonce=nonce-1&SignatureVersion=1.0"
	    "&Timestamp=2024-01-01T00%3A00%3A00Z&Version=2014-05-26");
	assert_string_equal(lk_params_get(&p, "Parameters"),
	    "{\"username\":\"root\",\"sshPublicKey\":"
	    "\"ssh-ed25519 AAAA+/= me@host\"}");
	assert_int_equal(lk_sig_v1_string_to_sign("POST", &p, &sts), 0);
	assert_true(strncmp(sts, "POST&%2F&AccessKeyId%3Dtestid%26Action%3D"
	    "InvokeCommand", 50) == 0);
	assert_int_equal(lk_sig_v1_compute("testsecret", sts, sig), 0);
	assert_string_equal(sig, "hsVwylV0L+Bljdt5KWwUBmEPZ9A=");
	/* An altered parameter changes the signature. */
	free(p.v[4].value);
	p.v[4].value = strdup("i-abd");
	free(sts);
	assert_int_equal(lk_sig_v1_string_to_sign("POST", &p, &sts), 0);
	assert_int_equal(lk_sig_v1_compute("testsecret", sts, sig), 0);
	assert_string_not_equal(sig, "hsVwylV0L+Bljdt5KWwUBmEPZ9A=");
	/* So does a wrong secret. */
	assert_int_equal(lk_sig_v1_compute("testsecreT", sts, sig), 0);
	assert_string_not_equal(sig, "hsVwylV0L+Bljdt5KWwUBmEPZ9A=");
	free(sts);
	lk_params_free(&p);
}

static void
test_v3_known_answer(void **state)
{
	struct lk_params q = { NULL, 0 };
	struct lk_sig_header h[] = {
		{ "host", "127.0.0.1:8080" },
		{ "x-acs-action", "DescribeCommands" },
		{ "x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb924"
		    "27ae41e4649b934ca495991b7852b855" },
		{ "x-acs-date", "2024-01-01T00:00:00Z" },
		{ "x-acs-signature-nonce",
		    "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" },
		{ "x-acs-version", "2014-05-26" },
		{ "accept", "application/json" },	/* not signed */
	};
	const char *signed_h = "host;x-acs-action;x-acs-content-sha256;"
	    "x-acs-date;x-acs-signature-nonce;x-acs-version";
	char *creq = NULL, sig[LK_SIG_V3_SIZE], hashed[LK_SIG_V3_SIZE];
	char empty[LK_SIG_V3_SIZE];

	(void)state;
	parse(&q, "Name=ACS-ECS-SendSshPublicKey-linux.sh&Provider=AlibabaCloud"
	    "&RegionId=cn-hangzhou");
	assert_int_equal(lk_sig_sha256_hex("", 0, empty), 0);
	assert_string_equal(empty, h[2].value);
	assert_int_equal(lk_sig_v3_canonical_request("POST", "/", &q, h,
	    sizeof(h) / sizeof(h[0]), signed_h, empty, &creq), 0);
	assert_int_equal(lk_sig_v3_compute("testsecret", creq, sig, hashed), 0);
	assert_string_equal(hashed, "3945cdc1d91bda9b5c4f2dcf01975ab6bd8874d1"
	    "8744da7c3a0f750dbe7ecf33");
	assert_string_equal(sig, "54d5915e0fb243c9638d584c640a7f36c1ce2bb6"
	    "6993d02fdeef9af122a5863b");
	free(creq);
	/* A signed header that is missing is an error, not an empty value. */
	assert_int_equal(lk_sig_v3_canonical_request("POST", "/", &q, h, 2,
	    signed_h, empty, &creq), LK_ERR_INVALID_FORMAT);
	lk_params_free(&q);
}

static void
test_v3_parse_auth(void **state)
{
	char *id, *sh, *sig;

	(void)state;
	assert_int_equal(lk_sig_v3_parse_auth("ACS3-HMAC-SHA256 Credential=testid,"
	    "SignedHeaders=host;x-acs-date,Signature=abc", &id, &sh, &sig), 0);
	assert_string_equal(id, "testid");
	assert_string_equal(sh, "host;x-acs-date");
	assert_string_equal(sig, "abc");
	free(id);
	free(sh);
	free(sig);
	assert_int_equal(lk_sig_v3_parse_auth("ACS3-HMAC-SHA1 Credential=a,"
	    "SignedHeaders=b,Signature=c", &id, &sh, &sig), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_sig_v3_parse_auth("ACS3-HMAC-SHA256 Credential=a,"
	    "SignedHeaders=b", &id, &sh, &sig), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_sig_v3_parse_auth("ACS3-HMAC-SHA256 Credential=a,"
	    "Credential=b,SignedHeaders=b,Signature=c", &id, &sh, &sig),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_sig_v3_parse_auth("ACS3-HMAC-SHA256 Credential=a,"
	    "SignedHeaders=b,Signature=c,Extra=d", &id, &sh, &sig),
	    LK_ERR_INVALID_FORMAT);
	assert_null(id);
}

static void
test_equal(void **state)
{
	(void)state;
	assert_true(lk_sig_equal("abc", "abc"));
	assert_false(lk_sig_equal("abc", "abd"));
	assert_false(lk_sig_equal("abc", "abcd"));
	assert_false(lk_sig_equal("", "a"));
}

static void
test_params_hostile(void **state)
{
	struct lk_params p = { NULL, 0 };
	char *big;

	(void)state;
	parse(&p, "a=1&&b&c=x+y%2Bz");
	assert_int_equal(p.n, 3);
	assert_string_equal(lk_params_get(&p, "b"), "");
	assert_string_equal(lk_params_get(&p, "c"), "x y+z");
	assert_null(lk_params_get(&p, "d"));
	/* Each refusal leaves p as it was. */
	assert_int_equal(lk_params_parse(&p, "d=1&a=2", 7), LK_ERR_INVALID_FORMAT);
	assert_int_equal(p.n, 3);
	assert_null(lk_params_get(&p, "d"));
	assert_int_equal(lk_params_parse(&p, "d=%0", 4), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_params_parse(&p, "d=%zz", 5), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_params_parse(&p, "d=%00", 5), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_params_parse(&p, "d=a\0b", 5), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_params_parse(&p, "=1", 2), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_params_parse(&p, "%00=1", 5), LK_ERR_INVALID_FORMAT);
	assert_int_equal(p.n, 3);
	big = malloc(LK_PARAMS_INPUT_MAX + 2);
	memset(big, 'a', LK_PARAMS_INPUT_MAX + 1);
	big[0] = 'z';
	big[1] = '=';
	assert_int_equal(lk_params_parse(&p, big, LK_PARAMS_INPUT_MAX + 1),
	    LK_ERR_TOO_LONG);
	assert_int_equal(lk_params_parse(&p, big, LK_PARAMS_VALUE_MAX + 3),
	    LK_ERR_TOO_LONG);
	free(big);
	assert_int_equal(p.n, 3);
	lk_params_free(&p);
}

static void
test_params_too_many(void **state)
{
	struct lk_params p = { NULL, 0 };
	char buf[16];
	size_t i;

	(void)state;
	for (i = 0; i < LK_PARAMS_MAX; i++) {
		int n = snprintf(buf, sizeof(buf), "p%zu=1", i);
		assert_int_equal(lk_params_parse(&p, buf, (size_t)n), 0);
	}
	assert_int_equal(lk_params_parse(&p, "x=1", 3), LK_ERR_TOO_LONG);
	assert_int_equal(p.n, LK_PARAMS_MAX);
	lk_params_free(&p);
}

static void
test_encode(void **state)
{
	char *e;

	(void)state;
	e = lk_params_encode("a b*~!'()+/=\xe4", 13);
	assert_string_equal(e, "a%20b%2A~%21%27%28%29%2B%2F%3D%E4");
	free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_docs_get),
		cmocka_unit_test(test_v1_popcore_post),
		cmocka_unit_test(test_v3_known_answer),
		cmocka_unit_test(test_v3_parse_auth),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_params_hostile),
		cmocka_unit_test(test_params_too_many),
		cmocka_unit_test(test_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
