/*
 * The check of a hello answer's "host_certificates" (issue 14, item 5):
 * input from latchkeyd that agent_hostcerts.c installs for sshd only when
 * every entry passes. Pure (no agent state, no I/O), so that
 * tests/unit/test_agent_hostcerts.c links it alone.
 *
 * An entry must be a JSON string of exactly "TYPE base64", as latchkeyd's
 * host CA writes it (server/hostca.c: no comment): a host certificate
 * that lib/sshcert.c parses and whose CA signature it verifies, of one of
 * the host keys this agent reported, at most one per key. A comment, an
 * embedded NUL, a plain key, a user certificate, a damaged signature, a
 * key not reported, a second certificate of one key, a non-string entry
 * or more than AGENT_HOSTKEYS_MAX entries refuse the whole list.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "sshcert.h"
#include "sshkey.h"

#include "agent.h"

/*
 * Whether v is a certificate of one of keys that none of hexes[0..n-1]
 * names; its key's hex name into hex. 0, LK_ERR_INVALID_FORMAT or
 * LK_ERR_ALLOC.
 */
static int
agent_hostcerts_check_one(const json_t *v, const json_t *keys,
    char **hexes, size_t n, char hex[LK_SSHKEY_HEX_SIZE])
{
	struct lk_sshcert *c = NULL;
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];
	const json_t *k;
	const char *s, *sp;
	char *kl = NULL;
	size_t i, len;
	int r, found = 0;

	if (!json_is_string(v) ||
	    (len = json_string_length(v)) > LK_SSHCERT_MAX_LINE)
		return LK_ERR_INVALID_FORMAT;
	s = json_string_value(v);
	/* One blank between the two fields and no other, nor a NUL. */
	if (strlen(s) != len || (sp = strchr(s, ' ')) == NULL ||
	    strchr(sp + 1, ' ') != NULL)
		return LK_ERR_INVALID_FORMAT;
	if ((r = lk_sshcert_parse_line(s, len, &c)) != 0 ||
	    (r = lk_sshkey_to_line(c->key, 0, &kl)) != 0 ||
	    (r = lk_sshkey_digest(c->key, dig)) != 0)
		goto out;
	json_array_foreach(keys, i, k)
		if (json_is_string(k) && strcmp(json_string_value(k), kl) == 0)
			found = 1;
	lk_sshkey_hex(dig, hex);
	for (i = 0; i < n; i++)
		if (strcmp(hexes[i], hex) == 0)
			found = 0;	/* a second for one key */
	r = found ? 0 : LK_ERR_INVALID_FORMAT;
 out:
	free(kl);
	lk_sshcert_free(c);
	return r == LK_ERR_ALLOC ? r : r != 0 ? LK_ERR_INVALID_FORMAT : 0;
}

int
agent_hostcerts_check(const json_t *certs, const json_t *keys,
    char **lines, char **hexes, size_t *np)
{
	char hex[LK_SSHKEY_HEX_SIZE];
	const json_t *v;
	size_t i, j, n = 0;
	int r;

	*np = 0;
	if (!json_is_array(certs) || !json_is_array(keys) ||
	    json_array_size(certs) > AGENT_HOSTKEYS_MAX)
		return LK_ERR_INVALID_FORMAT;
	json_array_foreach(certs, i, v) {
		if ((r = agent_hostcerts_check_one(v, keys, hexes, n, hex)) != 0)
			goto fail;
		if ((lines[n] = strdup(json_string_value(v))) == NULL ||
		    (hexes[n] = strdup(hex)) == NULL) {
			free(lines[n]);
			r = LK_ERR_ALLOC;
			goto fail;
		}
		n++;
	}
	*np = n;
	return 0;
 fail:
	for (j = 0; j < n; j++) {
		free(lines[j]);
		free(hexes[j]);
	}
	return r;
}
