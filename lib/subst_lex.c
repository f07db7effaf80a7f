/*
 * The shell lexer behind parameter substitution (subst.c); subst.h states
 * the contract and docs/parameters.md the reasoning behind each context.
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

static void	lex_dollar(struct lex *, int);

void
lk__lex_init(struct lex *lx, const char *s, size_t len, int holes)
{
	memset(lx, 0, sizeof(*lx));
	lx->s = s;
	lx->len = len;
	lx->holes = holes;
	lx->nf = 1;
	lx->f[0].type = FR_TOP;
	lx->word_start = 1;
}

/* The byte k after pos as it is, or -1. */
static int
lex_raw(const struct lex *lx, size_t k)
{
	if (lx->pos + k >= lx->len)
		return -1;
	return (unsigned char)lx->s[lx->pos + k];
}

/*
 * Whether a backslash-newline is a line continuation here. Both shells
 * remove it before they tokenize, except inside '...', $'...', `...`,
 * comments and here-document bodies (where it is refused unquoted), so
 * "$\<newline>(" is "$(" and "<\<newline><" is "<<".
 */
static int
lex_cont(const struct lex *lx)
{
	switch (lx->f[lx->nf - 1].type) {
	case FR_SQ:
	case FR_ANSIC:
	case FR_BQ:
	case FR_BODY:
		return 0;
	default:
		return 1;
	}
}

static int
lex_iscont(const struct lex *lx, size_t p)
{
	return p + 1 < lx->len && lx->s[p] == '\\' && lx->s[p + 1] == '\n';
}

/* The k-th byte after pos as the shell reads it: continuations skipped. */
static int
lex_peek(const struct lex *lx, size_t k)
{
	size_t p = lx->pos;
	int cont = lex_cont(lx);

	for (;;) {
		while (cont && lex_iscont(lx, p))
			p += 2;
		if (p >= lx->len)
			return -1;
		if (k-- == 0)
			return (unsigned char)lx->s[p];
		p++;
	}
}

static int
lex_ishole(const struct lex *lx, int c)
{
	return lx->holes && c == 0;
}

static int
lex_stopped(const struct lex *lx)
{
	return lx->poison != NULL || lx->refuse != NULL;
}

static struct lex_frame *
lex_top(struct lex *lx)
{
	return &lx->f[lx->nf - 1];
}

int
lk__lex_in_body(const struct lex *lx)
{
	return lx->nf > 1 && lx->f[1].type == FR_BODY;
}

/* Tags the byte at pos with its class and the frame it is read in. */
static void
lex_emit_raw(struct lex *lx, enum lex_class cls)
{
	unsigned t = (unsigned)cls | (unsigned)lex_top(lx)->type << 4 |
	    (unsigned)lx->nf << 8;

	if (lx->tag != NULL)
		lx->tag(lx, lx->pos, t);
	lx->pos++;
}

/* Consumes the line continuations at pos, where they are ones. */
void
lk__lex_skip(struct lex *lx)
{
	while (lex_cont(lx) && lex_iscont(lx, lx->pos)) {
		lex_emit_raw(lx, T_SYN);
		lex_emit_raw(lx, T_SYN);
	}
}

/* The next byte as the shell reads it (see lex_peek()). */
static void
lex_emit(struct lex *lx, enum lex_class cls)
{
	lk__lex_skip(lx);
	lex_emit_raw(lx, cls);
}

static void
lex_poison(struct lex *lx, const char *why)
{
	if (!lex_stopped(lx)) {
		lx->poison = why;
		lx->poison_pos = lx->pos;
	}
}

static void
lex_refuse(struct lex *lx, const char *why, size_t pos)
{
	if (lx->refuse == NULL) {
		lx->refuse = why;
		lx->refuse_pos = pos;
	}
}

/*
 * A backslash as the last byte of the script. bash keeps it in "echo a\"
 * but drops it (as a line continuation) once a token has spanned lines,
 * so a value with a newline could turn a final "fi\" into "fi". Such a
 * template may hold no placeholder at all, before or after.
 */
static void
lex_tail_backslash(struct lex *lx)
{
	lex_poison(lx, WHY_TAIL_BS);
	lx->tail_bs = 1;
}

/* Opens a frame; inside it a new word (or command) begins. */
static void
lex_push(struct lex *lx, int type, int flag)
{
	struct lex_frame *fr;

	if (lx->nf == LEX_DEPTH_MAX) {
		lex_poison(lx, "quotes and substitutions nested too deep");
		return;
	}
	fr = &lx->f[lx->nf++];
	fr->type = (unsigned char)type;
	fr->flag = (unsigned char)flag;
	fr->sub = lx->wsub;
	fr->depth = 0;
	lx->wsub = 0;
	lx->word_start = 1;
}

/* Closes the innermost frame; what follows continues the outer word. */
static void
lex_pop(struct lex *lx)
{
	struct lex_frame *fr = &lx->f[--lx->nf];

	lx->wsub = fr->sub;
	lx->word_start = 0;
	lx->wbare = 0;
	lx->wname = 0;
}

int
lk__lex_namechar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/*
 * One byte of the current word at the unquoted level; bare is 0 for
 * quotes, escapes and expansions. Follows whether the word is still a
 * plain name (for "case", "[[", "]]") and whether it has opened a bash
 * array subscript "name[", whose inside bash evaluates as arithmetic.
 */
static void
lex_wordbyte(struct lex *lx, int c, int bare)
{
	if (lx->word_start) {
		lx->word_start = 0;
		lx->wlen = 0;
		lx->wbare = 1;
		lx->wname = 1;
		lx->wsub = 0;
	}
	if (bare && lx->wsub > 0) {
		if (c == '[')
			lx->wsub++;
		else if (c == ']')
			lx->wsub--;
	} else if (bare && lx->wname && c == '[' && lx->wlen > 0)
		lx->wsub = 1;
	if (!bare || !lk__lex_namechar(c) || (lx->wlen == 0 && c >= '0' &&
	    c <= '9'))
		lx->wname = 0;
	if (!bare)
		lx->wbare = 0;
	else if (lx->wlen < sizeof(lx->word))
		lx->word[lx->wlen] = (char)c;
	lx->wlen++;
}

static int
lex_in_cmdsub(const struct lex *lx)
{
	size_t i;

	for (i = 1; i < lx->nf; i++)
		if (lx->f[i].type == FR_CMDSUB || lx->f[i].type == FR_PROCSUB)
			return 1;
	return 0;
}

/* A blank, newline or operator ends the current word. */
static void
lex_word_end(struct lex *lx)
{
	if (!lx->word_start && lx->wbare) {
		if (lx->wlen == 4 && memcmp(lx->word, "case", 4) == 0 &&
		    lex_in_cmdsub(lx))
			lex_poison(lx, "a case statement inside $(...)");
		else if (lx->wlen == 2 && memcmp(lx->word, "[[", 2) == 0)
			lx->dbracket = 1;
		else if (lx->wlen == 2 && memcmp(lx->word, "]]", 2) == 0)
			lx->dbracket = 0;
	}
	lx->word_start = 1;
	lx->wsub = 0;
}

static void
lex_comment(struct lex *lx)
{
	int c;

	if (lx->dbracket) {
		lex_poison(lx, "a # inside [[ ]]");
		return;
	}
	while ((c = lex_raw(lx, 0)) != -1 && c != '\n') {
		if (lex_ishole(lx, c)) {
			lex_refuse(lx, WHY_COMMENT, lx->pos);
			return;
		}
		lex_emit_raw(lx, T_COMMENT);
	}
}

static int
lex_delim_add(struct lex *lx, struct lex_heredoc *h, int c)
{
	if (h->dlen == LEX_DELIM_MAX) {
		lex_poison(lx, "a here-document delimiter too long");
		return -1;
	}
	h->delim[h->dlen++] = (char)c;
	return 0;
}

/* The inside of a quoted delimiter: 'abc' or "abc", up to the quote. */
static int
lex_delim_quoted(struct lex *lx, struct lex_heredoc *h, int q)
{
	int c, n;

	lex_emit(lx, T_DELIM);
	while ((c = lex_raw(lx, 0)) != q) {
		n = lex_raw(lx, 1);
		if (lex_ishole(lx, c)) {
			lex_refuse(lx, WHY_DELIM, lx->pos);
			return -1;
		}
		if (c == -1 || c == '\n' || (q == '"' && (c == '$' ||
		    c == '`'))) {
			lex_poison(lx, "an unusual here-document delimiter");
			return -1;
		}
		if (q == '"' && c == '\\' && (n == '"' || n == '\\')) {
			lex_emit_raw(lx, T_DELIM);
			c = n;
		}
		if (lex_delim_add(lx, h, c) != 0)
			return -1;
		lex_emit_raw(lx, T_DELIM);
	}
	lex_emit_raw(lx, T_DELIM);
	return 0;
}

/* The delimiter word after << or <<-, with quote removal. */
static int
lex_delim(struct lex *lx, struct lex_heredoc *h)
{
	size_t start = lx->pos;
	int c, n;

	for (;;) {
		lk__lex_skip(lx);
		c = lex_raw(lx, 0);
		n = lex_raw(lx, 1);
		if (lex_ishole(lx, c)) {
			lex_refuse(lx, WHY_DELIM, lx->pos);
			return -1;
		}
		if (c == -1 || c == ' ' || c == '\t' || c == '\n' ||
		    c == ';' || c == '&' || c == '|' || c == '<' || c == '>' ||
		    c == '(' || c == ')')
			break;
		if (c == '$' || c == '`' || (c == '#' && lx->pos == start) ||
		    (c == '\\' && (n == -1 || n == '\n'))) {
			lex_poison(lx, "an unusual here-document delimiter");
			return -1;
		}
		if (c == '\'' || c == '"') {
			h->quoted = 1;
			if (lex_delim_quoted(lx, h, c) != 0)
				return -1;
			continue;
		}
		if (c == '\\') {
			h->quoted = 1;
			lex_emit_raw(lx, T_DELIM);
			if (lex_ishole(lx, n)) {
				lex_refuse(lx, WHY_DELIM, lx->pos);
				return -1;
			}
			c = n;
		}
		if (lex_delim_add(lx, h, c) != 0)
			return -1;
		lex_emit_raw(lx, T_DELIM);
	}
	if (h->dlen == 0 && !h->quoted) {
		lex_poison(lx, "a here-document without a delimiter");
		return -1;
	}
	return 0;
}

/* << or <<- and its delimiter; the body starts after the next newline. */
static void
lex_heredoc(struct lex *lx)
{
	struct lex_heredoc *h;

	if (lx->nf != 1) {
		lex_poison(lx, "a here-document inside a substitution");
		return;
	}
	if (lx->nhd == LEX_HEREDOC_MAX) {
		lex_poison(lx, "too many here-documents on one line");
		return;
	}
	h = &lx->hd[lx->nhd];
	memset(h, 0, sizeof(*h));
	lex_word_end(lx);
	lex_emit(lx, T_SYN);
	lex_emit(lx, T_SYN);
	if (lex_peek(lx, 0) == '-') {
		h->strip = 1;
		lex_emit(lx, T_SYN);
	}
	while (lex_peek(lx, 0) == ' ' || lex_peek(lx, 0) == '\t')
		lex_emit(lx, T_SYN);
	if (lex_delim(lx, h) == 0)
		lx->nhd++;
}

static void
lex_body_begin(struct lex *lx, size_t i)
{
	lex_push(lx, FR_BODY, (int)i);
	lx->line_start = lx->pos;
	lx->at_line_start = 1;
	lx->body_hole = 0;
}

/* Whether the body line that ends at pos is the terminator. */
static int
lex_body_eol(const struct lex *lx)
{
	const struct lex_heredoc *h = &lx->hd[lx->f[lx->nf - 1].flag];
	size_t b = lx->line_start;

	if (h->strip)
		while (b < lx->pos && lx->s[b] == '\t')
			b++;
	return lx->pos - b == h->dlen &&
	    memcmp(lx->s + b, h->delim, h->dlen) == 0;
}

static void
lex_body_end(struct lex *lx)
{
	size_t i = lx->f[lx->nf - 1].flag;

	lex_pop(lx);
	if (i + 1 < lx->nhd)
		lex_body_begin(lx, i + 1);
	else {
		lx->nhd = 0;
		lx->word_start = 1;
	}
}

static void
lex_body(struct lex *lx)
{
	const struct lex_heredoc *h = &lx->hd[lex_top(lx)->flag];
	int c = lex_raw(lx, 0), n = lex_raw(lx, 1);

	if (h->strip && lx->at_line_start && c == '\t') {
		lex_emit(lx, T_SYN);
		return;
	}
	if (c == '\n') {
		if (lex_body_eol(lx)) {
			lex_emit(lx, T_END);
			lex_body_end(lx);
			return;
		}
		lex_emit(lx, T_LIT);
		lx->line_start = lx->pos;
		lx->at_line_start = 1;
		return;
	}
	lx->at_line_start = 0;
	if (h->quoted) {
		lex_emit(lx, T_LIT);
		return;
	}
	if (c == '\\') {
		if (lex_ishole(lx, n))
			lex_refuse(lx, WHY_BACKSLASH, lx->pos + 1);
		else if (n == '\n')
			lex_poison(lx, "a backslash-newline in a here-document");
		else if (n == -1)
			lex_tail_backslash(lx);
		else {
			lex_emit(lx, T_ESC);
			lex_emit_raw(lx, T_LIT);
		}
	} else if (c == '$')
		lex_dollar(lx, 1);
	else if (c == '`') {
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_BQ, 0);
	} else
		lex_emit(lx, T_LIT);
}

/*
 * A $ at pos. where: 0 unquoted, 1 inside "..." or a here-document body,
 * 2 inside ${...}.
 */
static void
lex_dollar(struct lex *lx, int where)
{
	int n = lex_peek(lx, 1), n2 = lex_peek(lx, 2), c;

	if (lex_ishole(lx, n)) {
		lex_refuse(lx, WHY_DOLLAR, lx->pos + 1);
		return;
	}
	if (n == '(') {
		lex_emit(lx, T_SYN);
		lex_emit(lx, T_SYN);
		if (n2 == '(') {
			lex_emit(lx, T_SYN);
			lex_push(lx, FR_ARITH, 0);
		} else
			lex_push(lx, FR_CMDSUB, 0);
	} else if (n == '{') {
		lex_emit(lx, T_SYN);
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_BRACE, where != 0);
		c = lex_peek(lx, 0);
		if (c == ' ' || c == '\t' || c == '\n' || c == '|' ||
		    c == ';' || c == '(')
			lex_poison(lx, "a ${ command; } substitution");
	} else if (n == '[') {
		lex_emit(lx, T_SYN);
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_ARITHB, 0);
	} else if (n == '\'' && where == 0) {
		lex_emit(lx, T_SYN);
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_ANSIC, 0);
	} else if (n == '\'' && where == 2)
		lex_poison(lx, "$'...' inside ${...}");
	else if (n != -1 && n != 0 && strchr("$#?!@*-0123456789", n) != NULL) {
		/* A special parameter: "$${" is the pid, then "{". */
		lex_emit(lx, T_SYN);
		lex_emit(lx, T_SYN);
	} else
		lex_emit(lx, T_SYN);
}

/* ( at the unquoted level: a subshell, ((...)), or name(). */
static void
lex_paren_open(struct lex *lx)
{
	struct lex_frame *fr = lex_top(lx);
	int n = lex_peek(lx, 1);

	if (lx->dbracket) {
		lex_poison(lx, "a ( inside [[ ]]");
		return;
	}
	if (!lx->word_start) {
		if (lx->wname && n == ')') {
			lex_word_end(lx);
			lex_emit(lx, T_SYN);
			lex_emit(lx, T_SYN);
			return;
		}
		lex_poison(lx, "a ( right after a word (bash array or "
		    "extended glob)");
		return;
	}
	lex_word_end(lx);
	lex_emit(lx, T_SYN);
	if (n == '(') {
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_ARITH, 1);
	} else if (fr->type != FR_TOP)
		fr->depth++;
}

static void
lex_paren_close(struct lex *lx)
{
	struct lex_frame *fr = lex_top(lx);

	if (lx->dbracket) {
		lex_poison(lx, "a ) inside [[ ]]");
		return;
	}
	if (fr->type != FR_TOP && fr->depth == 0) {
		lex_emit(lx, T_SYN);
		lex_pop(lx);		/* $(...) is part of a word */
		return;
	}
	if (fr->depth > 0)
		fr->depth--;
	lex_word_end(lx);
	lex_emit(lx, T_SYN);
}

/* < or > at the unquoted level. */
static void
lex_redir(struct lex *lx)
{
	int c = lex_peek(lx, 0), n = lex_peek(lx, 1);

	lex_word_end(lx);
	if (n == '(') {			/* bash process substitution */
		lex_emit(lx, T_SYN);
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_PROCSUB, 0);
	} else if (c == '<' && n == '<' && lex_peek(lx, 2) == '<') {
		lex_emit(lx, T_SYN);	/* bash here-string */
		lex_emit(lx, T_SYN);
		lex_emit(lx, T_SYN);
	} else if (c == '<' && n == '<')
		lex_heredoc(lx);
	else
		lex_emit(lx, T_SYN);
}

/*
 * Inside "name[" bash reads up to the matching ] as one word, blanks and
 * all; dash reads on as usual. Both agree on quotes, so only bytes that
 * could end a command or start a comment in one of them are refused.
 */
static int
lex_plain_subscript(struct lex *lx, int c)
{
	if (c == '\n' || c == ';' || c == '&' || c == '|' || c == '<' ||
	    c == '>' || c == '(' || c == ')' || c == '#') {
		lex_poison(lx, "an operator, newline or # inside name[...]");
		return 1;
	}
	if (c == ' ' || c == '\t') {
		lex_emit(lx, T_SYN);
		return 1;
	}
	return 0;
}

/* The unquoted level: the script itself, $(...) and <(...). */
static void
lex_plain(struct lex *lx)
{
	int c = lex_raw(lx, 0), n = lex_raw(lx, 1);

	if (lx->wsub > 0 && lex_plain_subscript(lx, c))
		return;
	switch (c) {
	case ' ':
	case '\t':
	case ';':
	case '&':
	case '|':
		lex_word_end(lx);
		lex_emit(lx, T_SYN);
		return;
	case '\n':
		lex_word_end(lx);
		lex_emit(lx, T_SYN);
		if (lx->nhd > 0 && lx->nf == 1)
			lex_body_begin(lx, 0);
		return;
	case '#':
		if (lx->word_start) {
			lex_comment(lx);
			return;
		}
		break;
	case '\'':
	case '"':
		lex_wordbyte(lx, c, 0);
		lex_emit(lx, T_QUOTE);
		lex_push(lx, c == '"' ? FR_DQ : FR_SQ, 0);
		return;
	case '\\':			/* lk__lex_step() took continuations */
		if (lex_ishole(lx, n))
			lex_refuse(lx, WHY_BACKSLASH, lx->pos + 1);
		else if (n == -1)
			lex_tail_backslash(lx);
		else {
			lex_wordbyte(lx, c, 0);
			lex_emit(lx, T_ESC);
			lex_emit_raw(lx, T_LIT);
		}
		return;
	case '$':
		lex_wordbyte(lx, c, 0);
		lex_dollar(lx, 0);
		return;
	case '`':
		lex_wordbyte(lx, c, 0);
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_BQ, 0);
		return;
	case '(':
		lex_paren_open(lx);
		return;
	case ')':
		lex_paren_close(lx);
		return;
	case '<':
	case '>':
		lex_redir(lx);
		return;
	}
	lex_wordbyte(lx, c, 1);
	lex_emit(lx, T_WORD);
}

static void
lex_dq(struct lex *lx)
{
	int c = lex_raw(lx, 0), n = lex_raw(lx, 1);

	if (c == '"') {
		lex_emit(lx, T_QUOTE);
		lex_pop(lx);
	} else if (c == '\\') {		/* not a continuation here */
		if (lex_ishole(lx, n))
			lex_refuse(lx, WHY_BACKSLASH, lx->pos + 1);
		else if (n == -1)
			lex_tail_backslash(lx);
		else {
			lex_emit(lx, T_ESC);
			lex_emit_raw(lx, T_LIT);
		}
	} else if (c == '$')
		lex_dollar(lx, 1);
	else if (c == '`') {
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_BQ, 0);
	} else
		lex_emit(lx, T_LIT);
}

/* `...`, $'...': only where they end matters; holes are refused. */
static void
lex_opaque(struct lex *lx)
{
	int type = lex_top(lx)->type, c = lex_raw(lx, 0);
	int n = lex_raw(lx, 1);

	if (c == '\\' && type == FR_ANSIC) {
		/* dash ends $'a\' at the second quote, bash does not. */
		lex_poison(lx, "a backslash inside $'...'");
	} else if (c == '\\') {
		if (lex_ishole(lx, n))
			lex_refuse(lx, WHY_BQ, lx->pos + 1);
		else {
			lex_emit_raw(lx, T_OPAQUE);
			if (n != -1)
				lex_emit_raw(lx, T_OPAQUE);
		}
	} else if ((c == '`' && type == FR_BQ) ||
	    (c == '\'' && type == FR_ANSIC)) {
		lex_emit(lx, T_SYN);
		lex_pop(lx);
	} else
		lex_emit(lx, T_OPAQUE);
}

static void
lex_brace(struct lex *lx)
{
	struct lex_frame *fr = lex_top(lx);
	int c = lex_raw(lx, 0), n = lex_raw(lx, 1);

	switch (c) {
	case '}':
		lex_emit(lx, T_SYN);
		lex_pop(lx);
		return;
	case '\'':
		/* Quotes in "${x:-'a}'}": dash ends at the }, bash does not. */
		if (fr->flag)
			lex_poison(lx, "a ' inside \"${...}\"");
		else {
			lex_emit(lx, T_QUOTE);
			lex_push(lx, FR_SQ, 0);
		}
		return;
	case '"':
		lex_emit(lx, T_QUOTE);
		lex_push(lx, FR_DQ, 0);
		return;
	case '\\':
		if (lex_ishole(lx, n))
			lex_refuse(lx, WHY_BRACE, lx->pos + 1);
		else {
			lex_emit(lx, T_OPAQUE);
			if (n != -1)
				lex_emit_raw(lx, T_OPAQUE);
		}
		return;
	case '$':
		lex_dollar(lx, 2);
		return;
	case '`':
		lex_emit(lx, T_SYN);
		lex_push(lx, FR_BQ, 0);
		return;
	case '{':
		lex_poison(lx, "a { inside ${...}");
		return;
	}
	lex_emit(lx, T_OPAQUE);
}

/*
 * $((...)), ((...)) and $[...]. In dash ((...)) is two subshells, so
 * anything that could read differently as commands is refused.
 */
static void
lex_arith(struct lex *lx)
{
	struct lex_frame *fr = lex_top(lx);
	int c = lex_peek(lx, 0), n = lex_peek(lx, 1), cmd = fr->flag;
	int b = fr->type == FR_ARITHB;

	if (c == '(' || (b && c == '[')) {
		fr->depth++;
		lex_emit(lx, T_SYN);
	} else if ((c == ')' && !b) || (c == ']' && b)) {
		if (fr->depth > 0) {
			fr->depth--;
			lex_emit(lx, T_SYN);
		} else if (b) {
			lex_emit(lx, T_SYN);
			lex_pop(lx);
		} else if (n == ')') {
			lex_emit(lx, T_SYN);
			lex_emit(lx, T_SYN);
			lex_pop(lx);
			if (cmd)
				lx->word_start = 1;
		} else
			lex_poison(lx, "an unbalanced ) in arithmetic");
	} else if (c == '\'' || c == '"' || c == '\\' || c == '`' ||
	    c == '{' || c == '}' || c == '#' || c == '[' || c == ']' ||
	    (c == '<' && n == '<') || (c == '$' && (n == '(' || n == '{' ||
	    n == '[' || n == '\'' || n == '"')))
		lex_poison(lx, "quotes, brackets or substitutions inside "
		    "arithmetic");
	else
		lex_emit(lx, T_OPAQUE);
}

/*
 * The context of a hole at the current state, or 0 with *whyp set when
 * no value can be made literal there.
 */
int
lk__lex_ctx(const struct lex *lx, const char **whyp)
{
	int top = lx->f[lx->nf - 1].type;
	size_t i;

	*whyp = NULL;
	for (i = lx->nf; i-- > 1 && *whyp == NULL; ) {
		if (lx->f[i].type == FR_BQ)
			*whyp = WHY_BQ;
		else if (lx->f[i].type == FR_ARITH ||
		    lx->f[i].type == FR_ARITHB)
			*whyp = WHY_ARITH;
		else if (lx->f[i].type == FR_BRACE)
			*whyp = WHY_BRACE;
		else if (lx->f[i].type == FR_ANSIC)
			*whyp = WHY_ANSIC;
		else if (lx->f[i].sub > 0)
			*whyp = WHY_SUBSCRIPT;
	}
	if (*whyp == NULL && top != FR_BODY) {
		if (lk__lex_in_body(lx))
			*whyp = WHY_BODY_SUB;
		else if (lx->dbracket)
			*whyp = WHY_DBRACKET;
		else if (lx->wsub > 0)
			*whyp = WHY_SUBSCRIPT;
	}
	if (*whyp != NULL)
		return 0;
	switch (top) {
	case FR_SQ:
		return CTX_SQ;
	case FR_DQ:
		return CTX_DQ;
	case FR_BODY:
		return lx->hd[lx->f[lx->nf - 1].flag].quoted ? CTX_BODY_Q :
		    CTX_BODY_U;
	default:
		return CTX_WORD;
	}
}

/* What a hole does to the state: it is a quoted part of a word. */
void
lk__lex_hole_effect(struct lex *lx, int ctx)
{
	if (ctx == CTX_BODY_Q || ctx == CTX_BODY_U) {
		lx->at_line_start = 0;
		lx->body_hole = 1;
	} else if (ctx == CTX_WORD)
		lex_wordbyte(lx, 0, 0);
}

static void
lex_hole(struct lex *lx)
{
	const char *why;
	int ctx;

	if ((ctx = lk__lex_ctx(lx, &why)) == 0) {
		lex_refuse(lx, why, lx->pos);
		return;
	}
	if (lx->hole != NULL)
		lx->hole(lx, ctx, 0);
	lk__lex_hole_effect(lx, ctx);
	lx->pos++;
	if (lx->hole != NULL)
		lx->hole(lx, ctx, 1);
}

/* Reads one token's worth; 0 at the end, on poison or refusal. */
int
lk__lex_step(struct lex *lx)
{
	int c, top;

	if (lex_stopped(lx))
		return 0;
	lk__lex_skip(lx);
	if (lx->pos >= lx->len)
		return 0;
	c = lex_raw(lx, 0);
	top = lex_top(lx)->type;
	if (lex_ishole(lx, c))
		lex_hole(lx);
	else if (c == '\n' && lx->nhd > 0 && top != FR_TOP && top != FR_BODY)
		lex_poison(lx, "a newline inside quotes or a substitution "
		    "while a here-document is open");
	else if (top == FR_TOP || top == FR_CMDSUB || top == FR_PROCSUB)
		lex_plain(lx);
	else if (top == FR_DQ)
		lex_dq(lx);
	else if (top == FR_SQ) {
		if (c == '\'') {
			lex_emit(lx, T_QUOTE);
			lex_pop(lx);
		} else
			lex_emit(lx, T_LIT);
	} else if (top == FR_BQ || top == FR_ANSIC)
		lex_opaque(lx);
	else if (top == FR_BRACE)
		lex_brace(lx);
	else if (top == FR_ARITH || top == FR_ARITHB)
		lex_arith(lx);
	else
		lex_body(lx);
	return !lex_stopped(lx);
}

/* At the end of input a here-document's last line may end it. */
void
lk__lex_finish(struct lex *lx)
{
	if (!lex_stopped(lx) && lex_top(lx)->type == FR_BODY &&
	    lex_body_eol(lx))
		lex_body_end(lx);
}

/* Whether two lexers would read whatever follows alike. */
int
lk__lex_same(const struct lex *a, const struct lex *b)
{
	size_t i;

	if (a->nf != b->nf || a->nhd != b->nhd ||
	    a->word_start != b->word_start || a->wbare != b->wbare ||
	    a->wname != b->wname || a->wsub != b->wsub ||
	    a->dbracket != b->dbracket ||
	    (a->poison == NULL) != (b->poison == NULL) ||
	    (a->refuse == NULL) != (b->refuse == NULL))
		return 0;
	for (i = 0; i < a->nf; i++)
		if (a->f[i].type != b->f[i].type ||
		    a->f[i].flag != b->f[i].flag ||
		    a->f[i].sub != b->f[i].sub ||
		    a->f[i].depth != b->f[i].depth)
			return 0;
	for (i = 0; i < a->nhd; i++)
		if (a->hd[i].quoted != b->hd[i].quoted ||
		    a->hd[i].strip != b->hd[i].strip ||
		    a->hd[i].dlen != b->hd[i].dlen ||
		    memcmp(a->hd[i].delim, b->hd[i].delim, a->hd[i].dlen) != 0)
			return 0;
	/*
	 * Not compared: the position in a <<- body line. Whether a tab is
	 * stripped shows in the tags of the bytes that follow.
	 */
	return 1;
}

