/*
 * The audit trail's lines (docs/audit.md): an event's canonical line, its
 * hash, and the check of a chain of lines. Pure functions over bytes: the
 * verifier reads lines from a file anyone may have edited, so every line
 * is hostile input (tests/fuzz/fuzz_audit.c).
 *
 * A line always ends with ,"hash":"<64 hex>"} and its canonical form is
 * the bytes before that suffix followed by '}': hashes are checked over
 * the bytes read, never over a re-serialisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "err.h"
#include "sig.h"

#define AUDIT_SUFFIX_HEAD	",\"hash\":\""
#define AUDIT_SUFFIX_LEN	(sizeof(AUDIT_SUFFIX_HEAD) - 1 + 64 + 2)

static int
audit_hex64(const char *s, size_t len)
{
	size_t i;

	if (len != 64)
		return 0;
	for (i = 0; i < 64; i++)
		if (strchr("0123456789abcdef", s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}

/* SHA-256 of prefix[0..plen) followed by '}'. */
static int
audit_hash_canon(const char *prefix, size_t plen, char hash[AUDIT_HASH_SIZE])
{
	char *canon;
	int r;

	if ((canon = malloc(plen + 1)) == NULL)
		return LK_ERR_ALLOC;
	memcpy(canon, prefix, plen);
	canon[plen] = '}';
	r = lk_sig_sha256_hex(canon, plen + 1, hash) != 0 ? LK_ERR_INTERNAL : 0;
	free(canon);
	return r;
}

int
audit_line_make(json_t *obj, char **linep, char hash[AUDIT_HASH_SIZE])
{
	char *canon = NULL, *line = NULL;
	size_t clen;
	int r;

	*linep = NULL;
	if ((canon = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		return LK_ERR_ALLOC;
	clen = strlen(canon);
	if (clen + AUDIT_SUFFIX_LEN - 1 > AUDIT_LINE_MAX) {
		r = LK_ERR_TOO_LONG;
		goto out;
	}
	if (clen < 2 || canon[clen - 1] != '}' ||
	    lk_sig_sha256_hex(canon, clen, hash) != 0) {
		r = LK_ERR_INTERNAL;
		goto out;
	}
	/* canon without its '}', the suffix, and the '}' back. */
	if (asprintf(&line, "%.*s" AUDIT_SUFFIX_HEAD "%s\"}", (int)(clen - 1),
	    canon, hash) == -1) {
		line = NULL;
		r = LK_ERR_ALLOC;
		goto out;
	}
	*linep = line;
	line = NULL;
	r = 0;
 out:
	free(canon);
	free(line);
	return r;
}

static int
audit_line_fields(json_t *o, struct audit_line *l, const char *hash)
{
	json_t *v = json_object_get(o, "v"), *seq = json_object_get(o, "seq");
	json_t *prev = json_object_get(o, "prev");
	json_t *h = json_object_get(o, "hash");

	if (!json_is_integer(v) || json_integer_value(v) != AUDIT_VERSION ||
	    !json_is_integer(seq) || json_integer_value(seq) < 1 ||
	    !json_is_string(prev) || !audit_hex64(json_string_value(prev),
	    json_string_length(prev)) || !json_is_string(h) ||
	    strcmp(json_string_value(h), hash) != 0 ||
	    !json_is_string(json_object_get(o, "kind")) ||
	    !json_is_string(json_object_get(o, "time")))
		return LK_ERR_INVALID_FORMAT;
	l->seq = (int64_t)json_integer_value(seq);
	memcpy(l->prev, json_string_value(prev), AUDIT_HASH_SIZE);
	memcpy(l->hash, hash, AUDIT_HASH_SIZE);
	return 0;
}

int
audit_line_check(const char *line, size_t len, struct audit_line *l)
{
	char hash[AUDIT_HASH_SIZE], want[AUDIT_HASH_SIZE];
	const char *suf;
	json_error_t jerr;
	json_t *o = NULL;
	size_t plen;
	int r;

	memset(l, 0, sizeof(*l));
	if (len > AUDIT_LINE_MAX || len < AUDIT_SUFFIX_LEN + 1 ||
	    memchr(line, '\0', len) != NULL || line[0] != '{')
		return LK_ERR_INVALID_FORMAT;
	plen = len - AUDIT_SUFFIX_LEN;
	suf = line + plen;
	if (memcmp(suf, AUDIT_SUFFIX_HEAD, sizeof(AUDIT_SUFFIX_HEAD) - 1) !=
	    0 || !audit_hex64(suf + sizeof(AUDIT_SUFFIX_HEAD) - 1, 64) ||
	    memcmp(line + len - 2, "\"}", 2) != 0)
		return LK_ERR_INVALID_FORMAT;
	memcpy(want, suf + sizeof(AUDIT_SUFFIX_HEAD) - 1, 64);
	want[64] = '\0';
	if ((o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL || !json_is_object(o)) {
		r = LK_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = audit_hash_canon(line, plen, hash)) != 0)
		goto out;
	if (strcmp(hash, want) != 0) {
		r = LK_ERR_RECORD;
		goto out;
	}
	r = audit_line_fields(o, l, hash);
 out:
	json_decref(o);
	return r;
}

void
audit_chain_init(struct audit_chain *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->hash, sizeof(c->hash), "%s", AUDIT_ZERO_HASH);
}

int
audit_chain_step(struct audit_chain *c, const char *line, size_t len,
    int64_t lineno, int from_start)
{
	struct audit_line l;
	int r;

	if ((r = audit_line_check(line, len, &l)) != 0) {
		snprintf(c->why, sizeof(c->why), "line %lld%s: %s",
		    (long long)lineno, c->n > 0 ? "" : " (the first)",
		    r == LK_ERR_RECORD ? "altered: its hash does not match "
		    "its content" : "not an audit event line (malformed or "
		    "altered)");
		if (l.seq == 0 && c->n > 0)
			snprintf(c->why + strlen(c->why), sizeof(c->why) -
			    strlen(c->why), " (expected seq %lld)",
			    (long long)c->last + 1);
		return -1;
	}
	if (c->n == 0 && !from_start) {
		/* A rotated file: its first line anchors the check. */
	} else if (l.seq != c->last + 1) {
		snprintf(c->why, sizeof(c->why), "line %lld: expected seq "
		    "%lld, found seq %lld: %s", (long long)lineno,
		    (long long)c->last + 1, (long long)l.seq, l.seq > c->last +
		    1 ? "event missing or moved" : "event reordered or "
		    "repeated");
		return -1;
	} else if (strcmp(l.prev, c->hash) != 0) {
		snprintf(c->why, sizeof(c->why), "event seq %lld (line %lld): "
		    "its prev is not the hash of event %lld: an event before "
		    "it was altered, removed or replaced", (long long)l.seq,
		    (long long)lineno, (long long)c->last);
		return -1;
	}
	if (c->n == 0)
		c->first = l.seq;
	c->n++;
	c->last = l.seq;
	memcpy(c->hash, l.hash, AUDIT_HASH_SIZE);
	return 0;
}
