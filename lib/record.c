#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "record.h"


struct record_cursor {
	const char	*p;
	size_t		 left;
};

/*
 * Takes the next line, which must start with "name " (or equal name when
 * name ends the line, for the magic), and returns its value.
 */
static int
record_field(struct record_cursor *c, const char *name, char *val,
    size_t valsize)
{
	const char *nl;
	size_t linelen, nlen = strlen(name), vlen;

	if ((nl = memchr(c->p, '\n', c->left)) == NULL)
		return LK_ERR_RECORD;
	linelen = (size_t)(nl - c->p);
	if (memchr(c->p, '\0', linelen) != NULL)
		return LK_ERR_RECORD;
	if (linelen < nlen + 1 || memcmp(c->p, name, nlen) != 0 ||
	    c->p[nlen] != ' ')
		return LK_ERR_RECORD;
	vlen = linelen - nlen - 1;
	if (vlen == 0 || vlen >= valsize)
		return LK_ERR_RECORD;
	memcpy(val, c->p + nlen + 1, vlen);
	val[vlen] = '\0';
	c->p = nl + 1;
	c->left -= linelen + 1;
	return 0;
}

static int
record_time(struct record_cursor *c, const char *name, int64_t *tp)
{
	char val[32];
	long long v;

	if (record_field(c, name, val, sizeof(val)) != 0 ||
	    lk_parse_ll(val, 0, LK_RECORD_TIME_MAX, &v) != 0)
		return LK_ERR_RECORD;
	*tp = v;
	return 0;
}

int
lk_record_parse(const char *buf, size_t len, struct lk_record **recp)
{
	struct record_cursor c = { buf, len };
	struct lk_record *rec = NULL;
	char *keyline = NULL;
	size_t mlen = strlen(LK_RECORD_MAGIC);
	int r = LK_ERR_RECORD;

	*recp = NULL;
	if (len > LK_RECORD_MAX)
		return LK_ERR_TOO_LONG;
	if (len < mlen + 1 || memcmp(buf, LK_RECORD_MAGIC, mlen) != 0 ||
	    buf[mlen] != '\n')
		return LK_ERR_RECORD;
	c.p += mlen + 1;
	c.left -= mlen + 1;
	if ((rec = calloc(1, sizeof(*rec))) == NULL ||
	    (keyline = malloc(LK_SSHKEY_MAX_LINE + 1)) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	if (record_field(&c, "user", rec->user, sizeof(rec->user)) != 0 ||
	    lk_user_valid(rec->user) != 0 ||
	    record_time(&c, "created", &rec->created) != 0 ||
	    record_time(&c, "not-after", &rec->not_after) != 0 ||
	    rec->not_after < rec->created ||
	    record_field(&c, "key", keyline, LK_SSHKEY_MAX_LINE + 1) != 0)
		goto out;
	if (c.left != 0)
		goto out;
	if ((r = lk_sshkey_parse_line_nocrypto(keyline, strlen(keyline),
	    &rec->key)) != 0) {
		r = r == LK_ERR_ALLOC ? r : LK_ERR_RECORD;
		goto out;
	}
	*recp = rec;
	rec = NULL;
	r = 0;
 out:
	free(keyline);
	lk_record_free(rec);
	return r;
}

int
lk_record_format(const struct lk_record *rec, char **bufp, size_t *lenp)
{
	char *keyline = NULL, *buf = NULL;
	size_t size;
	int n, r;

	*bufp = NULL;
	*lenp = 0;
	if (lk_user_valid(rec->user) != 0 || rec->created < 0 ||
	    rec->not_after < rec->created || rec->not_after > LK_RECORD_TIME_MAX)
		return LK_ERR_INVALID_FORMAT;
	if ((r = lk_sshkey_to_line(rec->key, 1, &keyline)) != 0)
		return r;
	size = strlen(keyline) + 256;
	if ((buf = malloc(size)) == NULL) {
		free(keyline);
		return LK_ERR_ALLOC;
	}
	n = snprintf(buf, size, "%s\nuser %s\ncreated %" PRId64
	    "\nnot-after %" PRId64 "\nkey %s\n", LK_RECORD_MAGIC, rec->user,
	    rec->created, rec->not_after, keyline);
	free(keyline);
	if (n < 0 || (size_t)n >= size || (size_t)n > LK_RECORD_MAX) {
		free(buf);
		return LK_ERR_TOO_LONG;
	}
	*bufp = buf;
	*lenp = (size_t)n;
	return 0;
}

void
lk_record_free(struct lk_record *rec)
{
	if (rec == NULL)
		return;
	lk_sshkey_free(rec->key);
	free(rec);
}
