/*
 * The host keys an agent reports, checked with lib/sshkey.c's parser: an
 * agent is trusted with its own instance only, so its report is read as
 * hostile input. See hostkeys.h for what passes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "hostkeys.h"
#include "sshkey.h"
#include "store.h"

/* The key types sshd uses as host keys (no security-key types). */
static int
hostkeys_type_ok(const struct lk_sshkey *k)
{
	switch (k->type) {
	case LK_KEY_ED25519:
	case LK_KEY_ECDSA_P256:
	case LK_KEY_ECDSA_P384:
	case LK_KEY_ECDSA_P521:
	case LK_KEY_RSA:
		return 1;
	default:
		return 0;
	}
}

/* One report line into *out; LK_ERR_INVALID_FORMAT or LK_ERR_ALLOC. */
static int
hostkeys_one(const json_t *v, struct store_hostkey *out)
{
	struct lk_sshkey *k = NULL;
	const char *s = json_string_value(v);
	char fp[LK_SSHKEY_FP_SIZE], *line = NULL, *sp;
	size_t len, i;
	int r = LK_ERR_INVALID_FORMAT;

	if (s == NULL || (len = json_string_length(v)) > LK_SSHKEY_MAX_LINE)
		return LK_ERR_INVALID_FORMAT;
	for (i = 0; i < len; i++)	/* NUL, tab, newline, DEL ... */
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return LK_ERR_INVALID_FORMAT;
	if (lk_sshkey_parse_line(s, len, &k) != 0 || !hostkeys_type_ok(k))
		goto out;
	if ((r = lk_sshkey_to_line(k, 0, &line)) != 0)
		goto out;
	r = LK_ERR_INVALID_FORMAT;
	/* Exactly the canonical form: no comment, blank or other spelling. */
	if (strlen(line) != len || memcmp(line, s, len) != 0 ||
	    (sp = strchr(line, ' ')) == NULL ||
	    lk_sshkey_fingerprint(k, fp) != 0)
		goto out;
	*sp = '\0';
	r = LK_ERR_ALLOC;
	if ((out->type = strdup(line)) == NULL ||
	    (out->b64 = strdup(sp + 1)) == NULL ||
	    (out->fingerprint = strdup(fp)) == NULL)
		goto out;
	r = 0;
 out:
	free(line);
	lk_sshkey_free(k);
	return r;
}

int
hostkeys_parse(const json_t *a, struct store_hostkey **keysp, size_t *np)
{
	struct store_hostkey *keys = NULL;
	const json_t *v;
	size_t i, j, n;
	int r;

	*keysp = NULL;
	*np = 0;
	if (a == NULL)
		return 0;
	if (!json_is_array(a) || (n = json_array_size(a)) > STORE_HOSTKEYS_MAX)
		return LK_ERR_INVALID_FORMAT;
	if (n == 0)
		return 0;
	if ((keys = calloc(n, sizeof(*keys))) == NULL)
		return LK_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		v = json_array_get(a, i);
		if ((r = hostkeys_one(v, &keys[i])) != 0)
			goto fail;
		for (j = 0; j < i; j++)
			if (strcmp(keys[j].fingerprint,
			    keys[i].fingerprint) == 0) {
				r = LK_ERR_INVALID_FORMAT;
				goto fail;
			}
	}
	*keysp = keys;
	*np = n;
	return 0;
 fail:
	store_hostkeys_free(keys, n);
	return r;
}
