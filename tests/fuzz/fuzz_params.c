/*
 * The query/form parser and the signature canonicaliser on hostile input:
 * whatever parses must canonicalise for both signature versions, and a
 * refused input must leave the list unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_params p = { NULL, 0 };
	struct lk_sig_header h[2] = { { "host", "x" }, { "x-acs-date", "d" } };
	char *out = NULL, sig[LK_SIG_V3_SIZE], hashed[LK_SIG_V3_SIZE];
	char *id, *sh, *sg, *auth;
	size_t i, before;

	if (lk_params_parse(&p, (const char *)data, size) == 0) {
		for (i = 0; i < p.n; i++)
			if (strlen(p.v[i].name) == 0)
				abort();
		if (lk_sig_v1_string_to_sign("GET", &p, &out) != 0)
			abort();
		free(out);
		if (lk_sig_v3_canonical_request("POST", "/", &p, h, 2,
		    "host;x-acs-date", "e3", &out) != 0)
			abort();
		if (lk_sig_v3_compute("k", out, sig, hashed) != 0)
			abort();
		free(out);
		/* Parsing the same input again must fail (duplicates) or
		 * add nothing, and leave p as it was. */
		before = p.n;
		if (lk_params_parse(&p, (const char *)data, size) == 0 &&
		    p.n != before)
			abort();
		if (p.n != before)
			abort();
	}
	lk_params_free(&p);
	if ((auth = malloc(size + 1)) != NULL) {
		memcpy(auth, data, size);
		auth[size] = '\0';
		if (lk_sig_v3_parse_auth(auth, &id, &sh, &sg) == 0) {
			free(id);
			free(sh);
			free(sg);
		}
		free(auth);
	}
	return 0;
}
