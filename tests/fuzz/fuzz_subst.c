/*
 * {{name}} substitution on hostile input. The input is
 * "template \0 value-a \0 value-b": the template's declared names get
 * value a and b in turn (the first ten as Parameters, the rest as
 * defaults), the built-ins value b.
 *
 * Whenever lk_subst_apply() accepts, the script must read the same as
 * with harmless values. An independent, deliberately simple re-lexer
 * (below; it shares no code with lib/subst.c) reduces a script to its
 * skeleton: blanks, newlines, operators, expansions, comments, the start
 * and end of here-documents; all literal text (quoted, escaped, or in a
 * here-document body) vanishes. It reads as dash and bash do (both were
 * asked): a backslash-newline outside single quotes, comments and bodies
 * joins what is around it ("<\<nl><E" is "<<E"), and "$$" is one
 * expansion in a here-document body too ("$${" is the pid and a "{").
 * The skeleton with the hostile values must equal the skeleton with
 * every value "x". Constructs the re-lexer does
 * not model (backquotes, ${...}, arithmetic, case inside $(...), ...)
 * make it give up on a script; if it gives up on the hostile script but
 * not on the harmless one, a value changed how the script reads, which
 * is a failure too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "subst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SK_HEREDOCS	8
#define SK_DELIM	64
#define SK_DEPTH	64

struct sk {
	const char	*s;
	size_t		 n, i;
	char		*o;
	size_t		 olen, ocap;
	int		 bad;
	int		 depth;
	struct {
		char	 d[SK_DELIM];
		size_t	 dl;
		int	 quoted, strip;
	}		 hd[SK_HEREDOCS];
	size_t		 nhd;
};

static void
sk_out(struct sk *k, char c)
{
	char *p;

	if (k->olen == k->ocap) {
		k->ocap = k->ocap ? k->ocap * 2 : 256;
		if ((p = realloc(k->o, k->ocap)) == NULL)
			abort();
		k->o = p;
	}
	k->o[k->olen++] = c;
}

/* The byte j after i as written, or -1 past the end. */
static int
sk_raw(const struct sk *k, size_t j)
{
	return k->i + j < k->n ? (unsigned char)k->s[k->i + j] : -1;
}

/*
 * Outside single quotes, comments and here-document bodies a backslash-
 * newline is a line continuation, removed before the shell reads tokens:
 * dash and bash read "<\<newline><E" as "<<E" and "$\<newline>(" as "$(".
 * sk_skip() steps over continuations at p; sk_at() looks j characters
 * ahead as the shell reads them; sk_adv() consumes j of them.
 */
static size_t
sk_skip(const struct sk *k, size_t p)
{
	while (p + 1 < k->n && k->s[p] == '\\' && k->s[p + 1] == '\n')
		p += 2;
	return p;
}

static int
sk_at(const struct sk *k, size_t j)
{
	size_t p = sk_skip(k, k->i);

	while (j-- > 0 && p < k->n)
		p = sk_skip(k, p + 1);
	return p < k->n ? (unsigned char)k->s[p] : -1;
}

static void
sk_adv(struct sk *k, size_t j)
{
	while (j-- > 0) {
		k->i = sk_skip(k, k->i);
		if (k->i < k->n)
			k->i++;
	}
}

static int
sk_delimiter(int c)
{
	return c == -1 || c == ' ' || c == '\t' || c == '\n' || c == ';' ||
	    c == '&' || c == '|' || c == '<' || c == '>' || c == '(' ||
	    c == ')';
}

static int
sk_namechar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* After a $: a special parameter, which is the whole name ("$$" is one). */
static int
sk_special(int c)
{
	return c > 0 && strchr("$#?!@*-0123456789", c) != NULL;
}

static void	sk_plain(struct sk *, int);

/* $ outside single quotes: $(...) recurses; ${ $(( $[ $' give up. */
static void
sk_dollar(struct sk *k)
{
	int c = sk_at(k, 1);

	if (c == '(' && sk_at(k, 2) != '(') {
		sk_out(k, 'S');
		sk_adv(k, 2);
		if (++k->depth > SK_DEPTH)
			k->bad = 1;
		else
			sk_plain(k, 1);
		k->depth--;
		sk_out(k, 'E');
		return;
	}
	if (c == '(' || c == '{' || c == '[' || c == '\'' || c == -1)
		k->bad = 1;
	sk_out(k, '$');
	sk_adv(k, 1);
	if (sk_special(c))
		sk_adv(k, 1);			/* $$, $#, $1...: one parameter */
}

static void
sk_dq(struct sk *k)
{
	int c;

	k->i++;
	while (!k->bad && (c = sk_at(k, 0)) != -1) {
		k->i = sk_skip(k, k->i);
		if (c == '"') {
			k->i++;
			return;
		}
		if (c == '`' || (c == '\n' && k->nhd > 0))
			k->bad = 1;
		else if (c == '\\')
			k->i += 2;
		else if (c == '$')
			sk_dollar(k);
		else
			k->i++;
	}
	k->bad = 1;
}

/* The delimiter after << or <<-; quoting anywhere makes the body literal. */
static void
sk_heredoc(struct sk *k)
{
	int c, q;

	if (k->nhd == SK_HEREDOCS) {
		k->bad = 1;
		return;
	}
	memset(&k->hd[k->nhd], 0, sizeof(k->hd[0]));
	sk_adv(k, 2);
	if (sk_at(k, 0) == '-') {
		k->hd[k->nhd].strip = 1;
		sk_adv(k, 1);
	}
	sk_out(k, 'H');
	while (sk_at(k, 0) == ' ' || sk_at(k, 0) == '\t')
		sk_adv(k, 1);
	while (!k->bad && !sk_delimiter(c = sk_at(k, 0))) {
		k->i = sk_skip(k, k->i);
		if (c == '$' || c == '`' || c == '#') {
			k->bad = 1;
			break;
		}
		if (c == '\'' || c == '"' || c == '\\') {
			k->hd[k->nhd].quoted = 1;
			k->i++;
			if (c == '\\') {
				q = sk_raw(k, 0);
				if (q == -1 || q == '\n')
					k->bad = 1;
			} else {
				while ((q = sk_raw(k, 0)) != c && q != -1 &&
				    q != '\n' && !k->bad) {
					if (c == '"' && (q == '$' || q == '`' ||
					    q == '\\'))
						k->bad = 1;
					else if (k->hd[k->nhd].dl == SK_DELIM)
						k->bad = 1;
					else
						k->hd[k->nhd].d[k->hd[k->nhd].dl++] =
						    (char)q;
					k->i++;
				}
				if (q != c)
					k->bad = 1;
				k->i++;
				continue;
			}
		}
		if (k->hd[k->nhd].dl == SK_DELIM)
			k->bad = 1;
		else
			k->hd[k->nhd].d[k->hd[k->nhd].dl++] = (char)sk_raw(k, 0);
		k->i++;
	}
	if (k->hd[k->nhd].dl == 0 && !k->hd[k->nhd].quoted)
		k->bad = 1;
	k->nhd++;
}

/*
 * One unquoted body line [i, eol): only $ is live; $( ${ $[ ` \<nl> give
 * up. As in dash and bash, a $ and the special parameter after it are one
 * expansion, paired left to right: "$$(" is the pid and a literal "(",
 * "$$$(" the pid and a command substitution. $' and $" are literal here.
 */
static void
sk_body_line(struct sk *k, size_t eol)
{
	size_t j;
	int c;

	for (j = k->i; j < eol; j++) {
		if (k->s[j] == '`')
			k->bad = 1;
		else if (k->s[j] == '\\') {
			if (++j >= eol)
				k->bad = 1;
		} else if (k->s[j] == '$') {
			c = j + 1 < eol ? (unsigned char)k->s[j + 1] : -1;
			if (c == '(' || c == '{' || c == '[')
				k->bad = 1;
			else if (sk_special(c))
				j++;	/* $$, $#, $1...: one parameter */
			sk_out(k, '$');
		}
	}
}

/* The bodies of the pending here-documents, line by line. */
static void
sk_bodies(struct sk *k)
{
	const char *nl;
	size_t h, eol, b;

	for (h = 0; h < k->nhd && !k->bad; h++) {
		for (;;) {
			if (k->i >= k->n) {
				sk_out(k, 'X');
				break;
			}
			nl = memchr(k->s + k->i, '\n', k->n - k->i);
			eol = nl != NULL ? (size_t)(nl - k->s) : k->n;
			b = k->i;
			if (k->hd[h].strip)
				while (b < eol && k->s[b] == '\t')
					b++;
			if (eol - b == k->hd[h].dl &&
			    memcmp(k->s + b, k->hd[h].d, k->hd[h].dl) == 0) {
				k->i = nl != NULL ? eol + 1 : eol;
				sk_out(k, 'h');
				break;
			}
			if (!k->hd[h].quoted)
				sk_body_line(k, eol);
			k->i = nl != NULL ? eol + 1 : eol;
		}
	}
	k->nhd = 0;
}

/* At the start of a word: words that change how the rest is read. */
static void
sk_word_start(struct sk *k, int nested)
{
	static const char *const words[] = { "case", "[[", "]]" };
	size_t w, l;

	for (w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		l = strlen(words[w]);
		if (k->n - k->i >= l && memcmp(k->s + k->i, words[w], l) == 0 &&
		    (k->i + l == k->n || sk_delimiter((unsigned char)
		    k->s[k->i + l])) && (nested || w > 0))
			k->bad = 1;
	}
}

/* Unquoted text, to the end or (nested) to the ) of $(...). */
static void
sk_plain(struct sk *k, int nested)
{
	int c, ws = 1, paren = 0, prev = 0;

	while (!k->bad && (c = sk_at(k, 0)) != -1) {
		k->i = sk_skip(k, k->i);	/* now s[i] is c */
		if (ws && !sk_delimiter(c) && c != '#')
			sk_word_start(k, nested);
		switch (c) {
		case ' ':
		case '\t':
		case '\n':
		case ';':
		case '&':
		case '|':
			sk_out(k, c == '\t' ? ' ' : (char)c);
			k->i++;
			ws = 1;
			if (c == '\n' && k->nhd > 0) {
				if (nested)
					k->bad = 1;
				else
					sk_bodies(k);
			}
			prev = c;
			continue;
		case '<':
		case '>':
			if (sk_at(k, 1) == '(' || (c == '<' &&
			    sk_at(k, 1) == '<' && (nested || sk_at(k, 2) == '<')))
				k->bad = 1;
			else if (c == '<' && sk_at(k, 1) == '<')
				sk_heredoc(k);
			else {
				sk_out(k, (char)c);
				k->i++;
			}
			ws = 1;
			continue;
		case '(':
			if (!ws || sk_at(k, 1) == '(')
				k->bad = 1;
			sk_out(k, '(');
			k->i++;
			paren++;
			ws = 1;
			continue;
		case ')':
			k->i++;
			if (nested && paren == 0)
				return;
			if (paren > 0)
				paren--;
			sk_out(k, ')');
			ws = 1;
			continue;
		case '#':
			if (ws) {
				sk_out(k, 'C');
				while ((c = sk_raw(k, 0)) != -1 && c != '\n')
					k->i++;
				continue;
			}
			break;
		case '\'':
			k->i++;
			while ((c = sk_raw(k, 0)) != '\'' && c != -1) {
				if (c == '\n' && k->nhd > 0)
					k->bad = 1;
				k->i++;
			}
			if (c == -1)
				k->bad = 1;
			k->i++;
			ws = 0;
			continue;
		case '"':
			sk_dq(k);
			ws = 0;
			continue;
		case '\\':
			/* An escape: a continuation was skipped above. */
			if (sk_raw(k, 1) == -1)
				k->bad = 1;
			ws = 0;
			k->i += 2;
			continue;
		case '$':
			sk_dollar(k);
			ws = 0;
			continue;
		case '`':
			k->bad = 1;
			continue;
		case '[':
			if (!ws && sk_namechar(prev))
				k->bad = 1;	/* bash's name[...] */
			sk_out(k, '[');
			break;
		case '*':
		case '?':
		case ']':
		case '{':
		case '}':
		case '=':
			sk_out(k, (char)c);
			break;
		case '~':
			if (ws)
				sk_out(k, '~');
			break;
		}
		prev = c;
		k->i++;
		ws = 0;
	}
	if (nested)
		k->bad = 1;
}

/* The skeleton of s in a new string, or NULL when the re-lexer gives up. */
static char *
skeleton(const char *s)
{
	struct sk k;

	memset(&k, 0, sizeof(k));
	k.s = s;
	k.n = strlen(s);
	sk_plain(&k, 0);
	sk_out(&k, '\0');
	if (k.bad || k.nhd > 0) {
		free(k.o);
		return NULL;
	}
	return k.o;
}

/* ---- the harness -------------------------------------------------- */

static const char *const acs[] = {
	"ACS::RegionId", "ACS::AccountId", "ACS::InstanceId",
	"ACS::InstanceName", "ACS::InvokeId", "ACS::CommandId",
};
#define NACS	(sizeof(acs) / sizeof(acs[0]))

/* Applies with value a and b in turn, or with "x" everywhere. */
static int
apply(const char *tmpl, char **names, size_t n, const char *a,
    const char *b, char **outp)
{
	struct lk_subst_param v[LK_SUBST_VALS_MAX], d[LK_SUBST_NAMES_MAX];
	struct lk_subst_param env[NACS];
	const char *code = NULL;
	size_t i, nv = 0, nd = 0;
	int r;

	for (i = 0; i < n; i++) {
		if (nv < LK_SUBST_VALS_MAX) {
			v[nv].name = names[i];
			v[nv++].value = i % 2 ? b : a;
		} else {
			d[nd].name = names[i];
			d[nd++].value = i % 2 ? b : a;
		}
	}
	for (i = 0; i < NACS; i++) {
		env[i].name = acs[i];
		env[i].value = b;
	}
	r = lk_subst_apply(tmpl, v, nv, d, nd, env, NACS, outp, &code);
	if ((r == 0) != (code == NULL) || (r == 0) != (*outp != NULL))
		abort();
	if (r == 0 && strlen(*outp) > LK_SUBST_OUTPUT_MAX)
		abort();
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *tmpl, *a, *b, **names = NULL, *out = NULL;
	char *ref = NULL, *s1, *s2, msg[256];
	const char *code = NULL;
	size_t n = 0;
	int r;

	if ((buf = malloc(size + 3)) == NULL)
		return 0;
	memcpy(buf, data, size);
	/* Three NULs: a and b exist (maybe empty) whatever the input. */
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	tmpl = buf;
	a = tmpl + strlen(tmpl) + 1;
	b = a + strlen(a) + 1;
	(void)lk_subst_check_value((const char *)data, size, &code);
	lk_subst_explain(tmpl, msg, sizeof(msg));
	r = lk_subst_scan(tmpl, &names, &n, &code);
	if ((r == 0) != (msg[0] == '\0') || (r == 0) != (code == NULL) ||
	    (r != 0 && (names != NULL || n != 0)))
		abort();
	if (r != 0) {
		/* Refused when created: refused when run, for the same. */
		if (lk_subst_apply(tmpl, NULL, 0, NULL, 0, NULL, 0, &out,
		    &code) == 0)
			abort();
		goto done;
	}
	if (apply(tmpl, names, n, a, b, &out) != 0 ||
	    apply(tmpl, names, n, "x", "x", &ref) != 0)
		goto done;
	if ((s2 = skeleton(ref)) != NULL) {
		if ((s1 = skeleton(out)) == NULL || strcmp(s1, s2) != 0)
			abort();
		free(s1);
		free(s2);
	}
 done:
	free(out);
	free(ref);
	lk_subst_names_free(names, n);
	free(buf);
	return 0;
}
