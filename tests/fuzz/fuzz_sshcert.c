/*
 * libFuzzer harness for lib/sshcert's parser, the agent's check of the
 * host certificates latchkeyd hands it. The input is tried as a line and,
 * base64-encoded behind each certificate type name, as a blob. Whatever
 * is accepted must be a host certificate whose principals and key id pass
 * lk_sshcert_name_ok, whose key re-encodes to a line that parses back to
 * the same blob, and whose validity is a non-empty interval.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "err.h"
#include "sshcert.h"
#include "sshkey.h"

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

static const char *const types[] = {
	"ssh-ed25519-cert-v01@openssh.com",
	"ecdsa-sha2-nistp256-cert-v01@openssh.com",
	"ssh-rsa-cert-v01@openssh.com",
};

static void
accepted(const struct lk_sshcert *c)
{
	struct lk_sshkey *k = NULL;
	char *line = NULL;
	size_t i;

	CHECK(c->type == LK_SSHCERT_TYPE_HOST);
	CHECK(lk_sshcert_name_ok(c->key_id));
	CHECK(c->nprincipals > 0 && c->nprincipals <= LK_SSHCERT_MAX_PRINC);
	for (i = 0; i < c->nprincipals; i++)
		CHECK(lk_sshcert_name_ok(c->principals[i]));
	CHECK(c->valid_after < c->valid_before);
	CHECK(lk_sshkey_to_line(c->key, 0, &line) == 0);
	CHECK(lk_sshkey_parse_line(line, strlen(line), &k) == 0);
	CHECK(k->bloblen == c->key->bloblen);
	CHECK(memcmp(k->blob, c->key->blob, k->bloblen) == 0);
	lk_sshkey_free(k);
	free(line);
}

static void
try_line(const char *s, size_t len)
{
	struct lk_sshcert *c = NULL;
	int r;

	r = lk_sshcert_parse_line(s, len, &c);
	if (r == 0)
		accepted(c);
	else
		CHECK(c == NULL);
	lk_sshcert_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *b64, *line;
	size_t t, n;

	if (size > LK_SSHCERT_MAX_LINE + 16)
		return 0;
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	try_line(copy, size);
	free(copy);
	if (size == 0 || (b64 = lk_b64_encode(data + 1, size - 1, 1)) == NULL)
		return 0;
	t = data[0] % (sizeof(types) / sizeof(types[0]));
	n = strlen(types[t]) + 1 + strlen(b64);
	if ((line = malloc(n + 1)) != NULL) {
		snprintf(line, n + 1, "%s %s", types[t], b64);
		try_line(line, n);
		free(line);
	}
	free(b64);
	return 0;
}
