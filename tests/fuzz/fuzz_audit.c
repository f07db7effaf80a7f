/*
 * The audit verifier's reader of event lines (server/audit_line.c): a
 * file of JSON lines anyone may have edited. The input is split at
 * newlines into a chain, as `latchkeyd audit verify --file` reads it.
 * Contracts: a line accepted has a seq >= 1, a hex prev and hash, and its
 * hash is the SHA-256 of its canonical form; making a line from the
 * accepted line's object (without "hash") gives the same bytes back when
 * the input was compact; a chain step that fails says why; an accepted
 * chain's seqs go up by one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_hex(const char *h)
{
	size_t i;

	if (strlen(h) != 64)
		abort();
	for (i = 0; i < 64; i++)
		if (strchr("0123456789abcdef", h[i]) == NULL)
			abort();
}

/* An accepted line, made again from its object, is the same line. */
static void
fuzz_remake(const char *line, size_t len, const struct audit_line *l)
{
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	char *again = NULL, hash[AUDIT_HASH_SIZE];

	if (o == NULL)
		abort();		/* it was accepted as JSON */
	json_object_del(o, "hash");
	if (audit_line_make(o, &again, hash) == 0) {
		/*
		 * Equal bytes only when the input was jansson's compact
		 * form; when they are equal the hashes must be too.
		 */
		if (strlen(again) == len && memcmp(again, line, len) == 0 &&
		    strcmp(hash, l->hash) != 0)
			abort();
	}
	free(again);
	json_decref(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_chain c;
	struct audit_line l;
	const char *p = (const char *)data, *end = p + size, *nl;
	int64_t lineno = 0, prev_seq = 0;
	int ok = 1;

	audit_chain_init(&c);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		lineno++;
		if (audit_line_check(p, (size_t)(nl - p), &l) == 0) {
			if (l.seq < 1)
				abort();
			fuzz_hex(l.prev);
			fuzz_hex(l.hash);
			fuzz_remake(p, (size_t)(nl - p), &l);
		}
		if (ok) {
			if (audit_chain_step(&c, p, (size_t)(nl - p), lineno,
			    lineno & 1) != 0) {
				if (c.why[0] == '\0')
					abort();
				ok = 0;
			} else {
				if (c.n > 1 && c.last != prev_seq + 1)
					abort();
				prev_seq = c.last;
			}
		}
		p = nl + 1;
	}
	return 0;
}
