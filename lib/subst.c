/*
 * Parameter substitution for shell scripts; subst.h states the contract
 * and docs/parameters.md the reasoning behind each shell context.
 *
 * The heart is a small lexer for POSIX sh quoting, with the bash and dash
 * extensions that move the end of a quote, a substitution or a command.
 * It runs twice. First over the template, in which each placeholder has
 * been replaced by one NUL byte (a "hole"): it learns the context of every
 * hole and records how every other byte is read (its "tag"). Then over the
 * finished script: every inserted byte must be read as literal text, the
 * lexer must leave each inserted fragment in the state it entered it (as
 * if the hole were one quoted word), and every template byte must be read
 * exactly as before. Whatever the lexer does not model precisely "poisons"
 * it: from there on the template may contain no placeholder.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "subst.h"
#include "subst_lex.h"

/* ------------------------------------------------------------------ */

/* The built-in environment parameters of Cloud Assistant. */
static const char *const subst_acs[] = {
	"RegionId", "AccountId", "InstanceId", "InstanceName", "InvokeId",
	"CommandId"
};
#define SUBST_NACS	 (sizeof(subst_acs) / sizeof(subst_acs[0]))
#define SUBST_ACS	 "ACS::"
#define SUBST_ACS_LEN	 5

struct subst_hole {
	size_t		 spos;		/* in the stripped template */
	size_t		 opos, olen;	/* the placeholder in the template */
	const char	*name;		/* in the template, nlen bytes */
	size_t		 nlen;
	int		 acs;		/* index into subst_acs; -1 custom;
					   -2 an unknown ACS:: name */
	int		 ctx;
};

struct subst_tmpl {
	const char	*src;
	char		*buf;		/* the template, holes as NUL bytes */
	size_t		 len;
	struct subst_hole *h;
	size_t		 nh;
	struct subst_hole **names;	/* first hole of each custom name */
	size_t		 nnames;
	unsigned short	*tags;		/* how each byte of buf is read */
	size_t		 khole;		/* holes met by the lexer so far */
	struct lex	 end;		/* the lexer after the template */
	const char	*why;		/* why the template is refused */
	size_t		 whypos;	/* where, in src */
	const struct subst_hole *whyhole;
	int		 poisoned;	/* why names a construct before it */
	size_t		 poisonpos;	/* where that construct is, in src */
};

/* The finished script and where each value went. */
struct subst_out {
	char		*p;
	size_t		 len;
	size_t		 cap;
	int		 err;
	size_t		*fs, *fe;	/* fragment k is [fs[k], fe[k]) */
};

static int
subst_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
subst_caseeq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (subst_lower((unsigned char)a[i]) !=
		    subst_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Whether s starts with the ACS:: prefix, in any case. */
static int
subst_acs_prefix(const char *s)
{
	size_t i;

	for (i = 0; i < SUBST_ACS_LEN; i++)
		if (s[i] == '\0' || subst_lower((unsigned char)s[i]) !=
		    subst_lower((unsigned char)SUBST_ACS[i]))
			return 0;
	return 1;
}

static int
subst_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Whether s starts a placeholder; if so its length and its name. */
static int
subst_placeholder(const char *s, size_t *lenp, const char **namep,
    size_t *nlenp, int *acsp)
{
	const char *p = s + 2, *name;

	if (s[0] != '{' || s[1] != '{')
		return 0;
	while (subst_blank((unsigned char)*p))
		p++;
	if ((*acsp = subst_acs_prefix(p)) != 0)
		p += SUBST_ACS_LEN;
	for (name = p; lk__lex_namechar((unsigned char)*p) || *p == '-'; p++)
		;
	if (p == name)
		return 0;
	*namep = name;
	*nlenp = (size_t)(p - name);
	while (subst_blank((unsigned char)*p))
		p++;
	if (p[0] != '}' || p[1] != '}')
		return 0;
	*lenp = (size_t)(p + 2 - s);
	return 1;
}

static void
subst_tmpl_free(struct subst_tmpl *t)
{
	free(t->buf);
	free(t->h);
	free(t->names);
	free(t->tags);
	memset(t, 0, sizeof(*t));
}

/* Records why a template or a call is refused, for lk_subst_explain(). */
static int
subst_fail(struct subst_tmpl *t, const char *why, const struct subst_hole *h,
    const char *code, const char **errcodep, int r)
{
	t->why = why;
	t->whyhole = h;
	t->whypos = h != NULL ? h->opos : 0;
	*errcodep = code;
	return r;
}

/* The limits and the built-ins of one placeholder's name. */
static int
subst_name(struct subst_tmpl *t, struct subst_hole *h, int acs,
    const char **errcodep)
{
	size_t i;

	h->acs = -1;
	if (acs) {
		for (i = 0; i < SUBST_NACS; i++)
			if (subst_caseeq(h->name, h->nlen, subst_acs[i],
			    strlen(subst_acs[i]))) {
				h->acs = (int)i;
				return 0;
			}
		h->acs = -2;
		return subst_fail(t, "is not a built-in parameter", h,
		    LK_SUBST_E_CONTENT, errcodep, LK_ERR_INVALID_FORMAT);
	}
	if (h->nlen > LK_SUBST_NAME_MAX)
		return subst_fail(t, "has a name longer than 64 bytes", h,
		    LK_SUBST_E_KEY_LONG, errcodep, LK_ERR_TOO_LONG);
	for (i = 0; i < t->nnames; i++)
		if (subst_caseeq(t->names[i]->name, t->names[i]->nlen,
		    h->name, h->nlen))
			return 0;
	if (t->nnames == LK_SUBST_NAMES_MAX)
		return subst_fail(t, "is one parameter more than the limit "
		    "of 20", h, LK_SUBST_E_COUNT, errcodep, LK_ERR_RANGE);
	t->names[t->nnames++] = h;
	return 0;
}

/* Finds the placeholders; t->buf is the template with each one a NUL. */
static int
subst_prepare(struct subst_tmpl *t, const char *tmpl, const char **errcodep)
{
	struct subst_hole *h;
	const char *name;
	size_t len, i = 0, o = 0, plen, nlen;
	int acs, r;

	memset(t, 0, sizeof(*t));
	t->src = tmpl;
	if ((len = strnlen(tmpl, LK_SUBST_TEMPLATE_MAX + 1)) >
	    LK_SUBST_TEMPLATE_MAX)
		return subst_fail(t, "the script is longer than 65536 bytes",
		    NULL, LK_SUBST_E_CONTENT_LONG, errcodep, LK_ERR_TOO_LONG);
	if ((t->buf = malloc(len + 1)) == NULL ||
	    (t->h = calloc(len / 5 + 1, sizeof(*t->h))) == NULL ||
	    (t->names = calloc(LK_SUBST_NAMES_MAX, sizeof(*t->names))) == NULL)
		return subst_fail(t, "out of memory", NULL,
		    LK_SUBST_E_INTERNAL, errcodep, LK_ERR_ALLOC);
	while (i < len) {
		if (!subst_placeholder(tmpl + i, &plen, &name, &nlen, &acs)) {
			t->buf[o++] = tmpl[i++];
			continue;
		}
		h = &t->h[t->nh++];
		h->spos = o;
		h->opos = i;
		h->olen = plen;
		h->name = name;
		h->nlen = nlen;
		if ((r = subst_name(t, h, acs, errcodep)) != 0)
			return r;
		t->buf[o++] = '\0';
		i += plen;
	}
	t->buf[o] = '\0';
	t->len = o;
	return 0;
}

static void
subst_tag_record(struct lex *lx, size_t pos, unsigned tag)
{
	struct subst_tmpl *t = lx->arg;

	t->tags[pos] = (unsigned short)tag;
}

static void
subst_hole_record(struct lex *lx, int ctx, int after)
{
	struct subst_tmpl *t = lx->arg;

	if (after)
		t->khole++;
	else
		t->h[t->khole].ctx = ctx;
}

/* The template position of a byte of t->buf. */
static size_t
subst_opos(const struct subst_tmpl *t, size_t spos)
{
	size_t i;

	for (i = t->nh; i-- > 0; )
		if (t->h[i].spos < spos)
			return t->h[i].opos + t->h[i].olen +
			    (spos - t->h[i].spos - 1);
	return spos;
}

static const struct subst_hole *
subst_hole_at(const struct subst_tmpl *t, size_t spos)
{
	size_t i;

	for (i = 0; i < t->nh; i++)
		if (t->h[i].spos >= spos)
			return &t->h[i];
	return &t->h[t->nh - 1];
}

/* After a poison: refused if a placeholder follows it or its body. */
static int
subst_poisoned(struct subst_tmpl *t, const struct lex *lx,
    const char **errcodep)
{
	const struct subst_hole *h = NULL;
	size_t i;

	for (i = 0; i < t->nh && h == NULL; i++)
		if (t->h[i].spos >= lx->poison_pos)
			h = &t->h[i];
	if (h == NULL && lk__lex_in_body(lx) && lx->body_hole)
		h = &t->h[t->khole - 1];
	if (h == NULL)
		return 0;
	t->poisoned = 1;
	t->poisonpos = subst_opos(t, lx->poison_pos);
	return subst_fail(t, lx->poison, h, LK_SUBST_E_CONTENT, errcodep,
	    LK_ERR_INVALID_FORMAT);
}

/* Learns the context of every placeholder, or refuses the template. */
static int
subst_lex(struct subst_tmpl *t, const char **errcodep)
{
	struct lex lx;

	if (t->nh == 0)
		return 0;
	if ((t->tags = calloc(t->len + 1, sizeof(*t->tags))) == NULL)
		return subst_fail(t, "out of memory", NULL,
		    LK_SUBST_E_INTERNAL, errcodep, LK_ERR_ALLOC);
	lk__lex_init(&lx, t->buf, t->len, 1);
	lx.tag = subst_tag_record;
	lx.hole = subst_hole_record;
	lx.arg = t;
	while (lk__lex_step(&lx))
		;
	if (lx.refuse != NULL)
		return subst_fail(t, lx.refuse, subst_hole_at(t,
		    lx.refuse_pos), LK_SUBST_E_CONTENT, errcodep,
		    LK_ERR_INVALID_FORMAT);
	lk__lex_finish(&lx);
	if (lx.tail_bs)
		return subst_fail(t, WHY_TAIL_BS, &t->h[0], LK_SUBST_E_CONTENT,
		    errcodep, LK_ERR_INVALID_FORMAT);
	if (lx.poison != NULL)
		return subst_poisoned(t, &lx, errcodep);
	if (lx.nf > 1 && !(lx.nf == 2 && lk__lex_in_body(&lx)))
		return subst_fail(t, WHY_OPEN, &t->h[0], LK_SUBST_E_CONTENT,
		    errcodep, LK_ERR_INVALID_FORMAT);
	t->end = lx;
	return 0;
}

static size_t
subst_line(const char *s, size_t pos)
{
	size_t i, line = 1;

	for (i = 0; i < pos && s[i] != '\0'; i++)
		if (s[i] == '\n')
			line++;
	return line;
}

static void
subst_message(const struct subst_tmpl *t, char *buf, size_t bufsz)
{
	const struct subst_hole *h = t->whyhole;
	int nlen;

	if (t->why == NULL) {
		buf[0] = '\0';
		return;
	}
	if (h == NULL) {
		snprintf(buf, bufsz, "%s", t->why);
		return;
	}
	nlen = (int)(h->nlen > LK_SUBST_NAME_MAX ? LK_SUBST_NAME_MAX :
	    h->nlen);
	if (t->poisoned)
		snprintf(buf, bufsz, "line %zu: {{%s%.*s}} comes after %s "
		    "(line %zu), which latchkey cannot follow safely",
		    subst_line(t->src, t->whypos), h->acs != -1 ? SUBST_ACS : "",
		    nlen, h->name, t->why, subst_line(t->src, t->poisonpos));
	else
		snprintf(buf, bufsz, "line %zu: {{%s%.*s}} %s",
		    subst_line(t->src, t->whypos), h->acs != -1 ? SUBST_ACS : "",
		    nlen, h->name, t->why);
}

void
lk_subst_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
lk_subst_scan(const char *tmpl, char ***namesp, size_t *np,
    const char **errcodep)
{
	struct subst_tmpl t;
	char **names = NULL;
	const char *code = NULL;
	size_t i;
	int r;

	*namesp = NULL;
	*np = 0;
	if ((r = subst_prepare(&t, tmpl, &code)) != 0 ||
	    (r = subst_lex(&t, &code)) != 0)
		goto out;
	if (t.nnames > 0 && (names = calloc(t.nnames, sizeof(*names))) == NULL)
		goto alloc;
	for (i = 0; i < t.nnames; i++)
		if ((names[i] = strndup(t.names[i]->name,
		    t.names[i]->nlen)) == NULL)
			goto alloc;
	*namesp = names;
	*np = t.nnames;
	names = NULL;
	goto out;
 alloc:
	r = LK_ERR_ALLOC;
	code = LK_SUBST_E_INTERNAL;
 out:
	lk_subst_names_free(names, t.nnames);
	subst_tmpl_free(&t);
	if (errcodep != NULL)
		*errcodep = code;
	return r;
}

void
lk_subst_explain(const char *tmpl, char *buf, size_t bufsz)
{
	struct subst_tmpl t;
	const char *code;

	if (bufsz == 0)
		return;
	if (subst_prepare(&t, tmpl, &code) == 0)
		(void)subst_lex(&t, &code);
	subst_message(&t, buf, bufsz);
	subst_tmpl_free(&t);
}

int
lk_subst_check_value(const char *v, size_t len, const char **errcodep)
{
	int r = 0;

	if (memchr(v, '\0', len) != NULL)
		r = LK_ERR_BAD_CHAR;
	else if (len > LK_SUBST_VALUE_MAX)
		r = LK_ERR_TOO_LONG;
	if (errcodep != NULL)
		*errcodep = r == 0 ? NULL : LK_SUBST_E_INVALID;
	return r;
}

/* ------------------------------------------------------------------ */

/* The value of name (nlen bytes) in p, whose names carry prefix. */
static const char *
subst_lookup(const struct lk_subst_param *p, size_t n, const char *prefix,
    const char *name, size_t nlen)
{
	size_t i, plen = prefix != NULL ? strlen(prefix) : 0;

	for (i = 0; i < n; i++) {
		if (p[i].name == NULL || p[i].value == NULL)
			continue;
		if (plen > 0 && !subst_acs_prefix(p[i].name))
			continue;
		if (subst_caseeq(p[i].name + plen, strlen(p[i].name + plen),
		    name, nlen))
			return p[i].value;
	}
	return NULL;
}

/* The caller's Parameters: count, keys, duplicates, sizes, matches. */
static int
subst_check_vals(struct subst_tmpl *t, const struct lk_subst_param *vals,
    size_t nvals, const char **errcodep)
{
	size_t i, j, nl;
	int found;

	if (nvals > LK_SUBST_VALS_MAX)
		return subst_fail(t, NULL, NULL, LK_SUBST_E_COUNT, errcodep,
		    LK_ERR_RANGE);
	for (i = 0; i < nvals; i++) {
		if (vals[i].name == NULL || vals[i].value == NULL)
			return subst_fail(t, NULL, NULL, LK_SUBST_E_INVALID,
			    errcodep, LK_ERR_INVALID_FORMAT);
		if ((nl = strnlen(vals[i].name, LK_SUBST_NAME_MAX + 1)) >
		    LK_SUBST_NAME_MAX)
			return subst_fail(t, NULL, NULL, LK_SUBST_E_KEY_LONG,
			    errcodep, LK_ERR_TOO_LONG);
		for (j = 0; j < i; j++)
			if (subst_caseeq(vals[j].name, strlen(vals[j].name),
			    vals[i].name, nl))
				return subst_fail(t, NULL, NULL,
				    LK_SUBST_E_DUPLICATE, errcodep,
				    LK_ERR_INVALID_FORMAT);
		if (strnlen(vals[i].value, LK_SUBST_VALUE_MAX + 1) >
		    LK_SUBST_VALUE_MAX)
			return subst_fail(t, NULL, NULL, LK_SUBST_E_INVALID,
			    errcodep, LK_ERR_TOO_LONG);
		for (j = 0, found = 0; j < t->nnames && !found; j++)
			found = subst_caseeq(t->names[j]->name,
			    t->names[j]->nlen, vals[i].name, nl);
		if (!found)
			return subst_fail(t, NULL, NULL, LK_SUBST_E_NOT_MATCHED,
			    errcodep, LK_ERR_INVALID_FORMAT);
	}
	return 0;
}

/* The value of every hole: given, else default; built-ins from env. */
static int
subst_resolve(struct subst_tmpl *t, const struct lk_subst_param *vals,
    size_t nvals, const struct lk_subst_param *defaults, size_t ndefaults,
    const struct lk_subst_param *env, size_t nenv, const char **hv,
    const char **errcodep)
{
	const struct subst_hole *h;
	const char *v;
	size_t i;

	for (i = 0; i < t->nh; i++) {
		h = &t->h[i];
		if (h->acs >= 0)
			v = subst_lookup(env, nenv, SUBST_ACS, subst_acs[h->acs],
			    strlen(subst_acs[h->acs]));
		else if ((v = subst_lookup(vals, nvals, NULL, h->name,
		    h->nlen)) == NULL)
			v = subst_lookup(defaults, ndefaults, NULL, h->name,
			    h->nlen);
		if (v == NULL)
			return subst_fail(t, NULL, h, LK_SUBST_E_MISSING,
			    errcodep, LK_ERR_NOT_FOUND);
		if (strnlen(v, LK_SUBST_VALUE_MAX + 1) > LK_SUBST_VALUE_MAX)
			return subst_fail(t, NULL, h, LK_SUBST_E_INVALID,
			    errcodep, LK_ERR_TOO_LONG);
		hv[i] = v;
	}
	return 0;
}

static void
out_put(struct subst_out *o, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (o->err != 0)
		return;
	if (n > LK_SUBST_OUTPUT_MAX - o->len) {
		o->err = LK_ERR_TOO_LONG;
		return;
	}
	if (o->len + n + 1 > o->cap) {
		cap = o->cap < 256 ? 256 : o->cap;
		while (cap < o->len + n + 1)
			cap *= 2;
		if (cap > LK_SUBST_OUTPUT_MAX + 1)
			cap = LK_SUBST_OUTPUT_MAX + 1;
		if ((p = realloc(o->p, cap)) == NULL) {
			o->err = LK_ERR_ALLOC;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* v as one single-quoted word: 'it'\''s'. */
static void
out_word(struct subst_out *o, const char *v)
{
	const char *q;

	out_put(o, "'", 1);
	while ((q = strchr(v, '\'')) != NULL) {
		out_put(o, v, (size_t)(q - v));
		out_put(o, "'\\''", 4);
		v = q + 1;
	}
	out_put(o, v, strlen(v));
	out_put(o, "'", 1);
}

/* v in an unquoted here-document body: \, $ and ` escaped. */
static void
out_body(struct subst_out *o, const char *v)
{
	size_t n;

	while (*v != '\0') {
		n = strcspn(v, "\\$`");
		out_put(o, v, n);
		v += n;
		if (*v != '\0') {
			out_put(o, "\\", 1);
			out_put(o, v++, 1);
		}
	}
}

static int
subst_emit(const struct subst_tmpl *t, const char **hv, struct subst_out *o)
{
	const struct subst_hole *h;
	size_t k, prev = 0;

	out_put(o, "", 0);
	for (k = 0; k < t->nh; k++) {
		h = &t->h[k];
		out_put(o, t->buf + prev, h->spos - prev);
		o->fs[k] = o->len;
		if (h->ctx == CTX_SQ)
			out_put(o, "'", 1);
		else if (h->ctx == CTX_DQ)
			out_put(o, "\"", 1);
		if (h->ctx == CTX_BODY_Q)
			out_put(o, hv[k], strlen(hv[k]));
		else if (h->ctx == CTX_BODY_U)
			out_body(o, hv[k]);
		else
			out_word(o, hv[k]);
		if (h->ctx == CTX_SQ)
			out_put(o, "'", 1);
		else if (h->ctx == CTX_DQ)
			out_put(o, "\"", 1);
		o->fe[k] = o->len;
		prev = h->spos + 1;
	}
	out_put(o, t->buf + prev, t->len - prev);
	return o->err;
}

/* ------------------------------------------------------------------ */

struct subst_verify {
	const struct subst_tmpl	*t;
	const struct subst_out	*o;
	size_t			*cum;	/* bytes of fragments before k */
	int			 bad;
};

/* The template position of output byte pos, or SIZE_MAX in a value. */
static size_t
subst_verify_spos(const struct subst_verify *v, size_t pos)
{
	size_t lo = 0, hi = v->t->nh, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v->o->fs[mid] <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && pos < v->o->fe[lo - 1])
		return SIZE_MAX;
	return pos - v->cum[lo] + lo;
}

/* A value byte must be literal; a template byte read as before. */
static void
subst_verify_tag(struct lex *lx, size_t pos, unsigned tag)
{
	struct subst_verify *v = lx->arg;
	size_t spos = subst_verify_spos(v, pos);
	unsigned cls = tag & 0xf;

	if (spos == SIZE_MAX) {
		if (cls != T_LIT && cls != T_QUOTE && cls != T_ESC)
			v->bad = 1;
	} else if (spos >= v->t->len || v->t->tags[spos] != tag)
		v->bad = 1;
}

/* Reads fragment k: literal, and leaving the lexer as a hole would. */
static int
subst_verify_fragment(struct lex *lx, const struct subst_tmpl *t,
    const struct subst_out *o, size_t k)
{
	struct lex want;
	const char *why;

	if (lk__lex_ctx(lx, &why) != t->h[k].ctx)
		return -1;
	want = *lx;
	lk__lex_hole_effect(&want, t->h[k].ctx);
	while (lx->pos < o->fe[k])
		if (!lk__lex_step(lx) || lx->pos > o->fe[k])
			return -1;
	return lk__lex_same(lx, &want) ? 0 : -1;
}

static int
subst_verify_run(struct lex *lx, struct subst_verify *v)
{
	const struct subst_tmpl *t = v->t;
	const struct subst_out *o = v->o;
	size_t k = 0, p0;

	for (;;) {
		lk__lex_skip(lx);
		for (; k < t->nh && lx->pos == o->fs[k]; k++)
			if (subst_verify_fragment(lx, t, o, k) != 0 || v->bad)
				return -1;
		p0 = lx->pos;
		if (!lk__lex_step(lx))
			break;
		if (v->bad || (k < t->nh && p0 < o->fs[k] && lx->pos > o->fs[k]))
			return -1;
	}
	if (v->bad || k != t->nh || lx->refuse != NULL)
		return -1;
	lk__lex_finish(lx);
	if (t->end.poison != NULL || lx->poison != NULL)
		return lx->poison != NULL && t->end.poison != NULL &&
		    subst_verify_spos(v, lx->poison_pos) ==
		    t->end.poison_pos ? 0 : -1;
	return lk__lex_same(lx, &t->end) ? 0 : -1;
}

/*
 * Reads the finished script with the same lexer: each value literal, the
 * rest read exactly as the template was.
 */
static int
subst_verify(const struct subst_tmpl *t, const struct subst_out *o)
{
	struct subst_verify v;
	struct lex lx;
	size_t k;
	int r;

	if (t->nh == 0)
		return 0;
	if ((v.cum = calloc(t->nh + 1, sizeof(*v.cum))) == NULL)
		return LK_ERR_ALLOC;
	for (k = 0; k < t->nh; k++)
		v.cum[k + 1] = v.cum[k] + (o->fe[k] - o->fs[k]);
	v.t = t;
	v.o = o;
	v.bad = 0;
	lk__lex_init(&lx, o->p, o->len, 0);
	lx.tag = subst_verify_tag;
	lx.arg = &v;
	r = subst_verify_run(&lx, &v) == 0 ? 0 : LK_ERR_INVALID_FORMAT;
	free(v.cum);
	return r;
}

int
lk_subst_apply(const char *tmpl, const struct lk_subst_param *vals,
    size_t nvals, const struct lk_subst_param *defaults, size_t ndefaults,
    const struct lk_subst_param *env, size_t nenv, char **outp,
    const char **errcodep)
{
	struct subst_tmpl t;
	struct subst_out o;
	const char **hv = NULL, *code = NULL;
	int r;

	*outp = NULL;
	memset(&o, 0, sizeof(o));
	if ((r = subst_prepare(&t, tmpl, &code)) != 0 ||
	    (r = subst_lex(&t, &code)) != 0 ||
	    (r = subst_check_vals(&t, vals, nvals, &code)) != 0)
		goto out;
	if ((hv = calloc(t.nh + 1, sizeof(*hv))) == NULL ||
	    (o.fs = calloc(t.nh + 1, sizeof(*o.fs))) == NULL ||
	    (o.fe = calloc(t.nh + 1, sizeof(*o.fe))) == NULL) {
		r = LK_ERR_ALLOC;
		code = LK_SUBST_E_INTERNAL;
		goto out;
	}
	if ((r = subst_resolve(&t, vals, nvals, defaults, ndefaults, env,
	    nenv, hv, &code)) != 0)
		goto out;
	if ((r = subst_emit(&t, hv, &o)) != 0) {
		code = r == LK_ERR_TOO_LONG ? LK_SUBST_E_CONTENT_LONG :
		    LK_SUBST_E_INTERNAL;
		goto out;
	}
	if ((r = subst_verify(&t, &o)) != 0) {
		code = r == LK_ERR_ALLOC ? LK_SUBST_E_INTERNAL :
		    LK_SUBST_E_INVALID;
		goto out;
	}
	*outp = o.p;
	o.p = NULL;
 out:
	free(o.p);
	free(o.fs);
	free(o.fe);
	free(hv);
	subst_tmpl_free(&t);
	if (errcodep != NULL)
		*errcodep = code;
	return r;
}
