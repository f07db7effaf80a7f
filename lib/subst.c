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

#define LEX_DEPTH_MAX	32	/* nested quotes and substitutions */
#define LEX_HEREDOC_MAX	8	/* here-documents on one command line */
#define LEX_DELIM_MAX	64	/* bytes of a here-document delimiter */

enum lex_frame_type {
	FR_TOP, FR_CMDSUB, FR_PROCSUB, FR_DQ, FR_SQ, FR_ANSIC, FR_BQ,
	FR_BRACE, FR_ARITH, FR_ARITHB, FR_BODY
};

/* How a byte was read: the low four bits of its tag. */
enum lex_class {
	T_LIT = 1,	/* literal text: quoted, escaped, here-document text */
	T_QUOTE,	/* a ' or " that opens or closes a quoted string */
	T_ESC,		/* a backslash that quotes the next byte */
	T_SYN,		/* blanks, operators, $, the marks of substitutions */
	T_WORD,		/* an unquoted word byte (globs, tildes...) */
	T_COMMENT,
	T_OPAQUE,	/* inside `...`, $'...', ${...} or arithmetic */
	T_DELIM,	/* a here-document delimiter word */
	T_END		/* the newline after a here-document terminator */
};

/* The context of a hole, which decides how its value is written. */
enum subst_ctx { CTX_WORD = 1, CTX_SQ, CTX_DQ, CTX_BODY_Q, CTX_BODY_U };

#define WHY_COMMENT	"is inside a comment"
#define WHY_BQ		"is inside backquotes `...`; use $(...) instead"
#define WHY_ARITH	"is inside arithmetic: $((...)), ((...)) or $[...]"
#define WHY_BRACE	"is inside a parameter expansion ${...}"
#define WHY_ANSIC	"is inside $'...'"
#define WHY_DELIM	"is a here-document delimiter"
#define WHY_DOLLAR	"follows an unquoted $"
#define WHY_BACKSLASH	"follows a backslash"
#define WHY_BODY_SUB	"is inside a substitution within a here-document"
#define WHY_DBRACKET	"is inside [[ ... ]], whose operands bash may " \
			"evaluate; use [ ... ]"
#define WHY_SUBSCRIPT	"is inside an array subscript, which bash evaluates"
#define WHY_OPEN	"is in a script whose quotes or substitutions are " \
			"not closed at its end"
#define WHY_TAIL_BS	"is in a script that ends with a backslash, which " \
			"bash drops or keeps depending on the values"

struct lex_frame {
	unsigned char	type;
	unsigned char	flag;	/* BRACE: within "..." or a body; ARITH: the
				   ((...)) command; BODY: here-document index */
	unsigned short	sub;	/* subscript depth outside, restored on pop */
	unsigned short	depth;	/* ( or [ open inside */
};

struct lex_heredoc {
	char	delim[LEX_DELIM_MAX];
	size_t	dlen;
	int	quoted;
	int	strip;		/* <<- */
};

struct lex;
typedef void lex_tag_fn(struct lex *, size_t, unsigned);
typedef void lex_hole_fn(struct lex *, int, int);

struct lex {
	const char		*s;
	size_t			 len;
	size_t			 pos;
	int			 holes;		/* NUL bytes are holes */
	struct lex_frame	 f[LEX_DEPTH_MAX];
	size_t			 nf;
	struct lex_heredoc	 hd[LEX_HEREDOC_MAX];
	size_t			 nhd;		/* pending or being read */
	size_t			 line_start;	/* of the body line */
	int			 at_line_start;
	int			 body_hole;	/* a hole in this body */
	int			 word_start;	/* a new word begins here */
	int			 wbare;		/* the word is plain so far */
	int			 wname;		/* ... and a shell name */
	unsigned short		 wsub;		/* inside name[...] */
	char			 word[4];
	size_t			 wlen;
	int			 dbracket;	/* inside [[ ]] */
	const char		*poison;
	size_t			 poison_pos;
	int			 tail_bs;	/* poison: \ at the very end */
	const char		*refuse;
	size_t			 refuse_pos;
	lex_tag_fn		*tag;
	lex_hole_fn		*hole;
	void			*arg;
};

static void	lex_dollar(struct lex *, int);

static void
lex_init(struct lex *lx, const char *s, size_t len, int holes)
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

static int
lex_in_body(const struct lex *lx)
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
static void
lex_skip(struct lex *lx)
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
	lex_skip(lx);
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

static int
lex_namechar(int c)
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
	if (!bare || !lex_namechar(c) || (lx->wlen == 0 && c >= '0' &&
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
		lex_skip(lx);
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
	case '\\':			/* lex_step() took continuations */
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
static int
lex_ctx(const struct lex *lx, const char **whyp)
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
		if (lex_in_body(lx))
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
static void
lex_hole_effect(struct lex *lx, int ctx)
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

	if ((ctx = lex_ctx(lx, &why)) == 0) {
		lex_refuse(lx, why, lx->pos);
		return;
	}
	if (lx->hole != NULL)
		lx->hole(lx, ctx, 0);
	lex_hole_effect(lx, ctx);
	lx->pos++;
	if (lx->hole != NULL)
		lx->hole(lx, ctx, 1);
}

/* Reads one token's worth; 0 at the end, on poison or refusal. */
static int
lex_step(struct lex *lx)
{
	int c, top;

	if (lex_stopped(lx))
		return 0;
	lex_skip(lx);
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
static void
lex_finish(struct lex *lx)
{
	if (!lex_stopped(lx) && lex_top(lx)->type == FR_BODY &&
	    lex_body_eol(lx))
		lex_body_end(lx);
}

/* Whether two lexers would read whatever follows alike. */
static int
lex_same(const struct lex *a, const struct lex *b)
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
	for (name = p; lex_namechar((unsigned char)*p) || *p == '-'; p++)
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
	if (h == NULL && lex_in_body(lx) && lx->body_hole)
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
	lex_init(&lx, t->buf, t->len, 1);
	lx.tag = subst_tag_record;
	lx.hole = subst_hole_record;
	lx.arg = t;
	while (lex_step(&lx))
		;
	if (lx.refuse != NULL)
		return subst_fail(t, lx.refuse, subst_hole_at(t,
		    lx.refuse_pos), LK_SUBST_E_CONTENT, errcodep,
		    LK_ERR_INVALID_FORMAT);
	lex_finish(&lx);
	if (lx.tail_bs)
		return subst_fail(t, WHY_TAIL_BS, &t->h[0], LK_SUBST_E_CONTENT,
		    errcodep, LK_ERR_INVALID_FORMAT);
	if (lx.poison != NULL)
		return subst_poisoned(t, &lx, errcodep);
	if (lx.nf > 1 && !(lx.nf == 2 && lex_in_body(&lx)))
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

	if (lex_ctx(lx, &why) != t->h[k].ctx)
		return -1;
	want = *lx;
	lex_hole_effect(&want, t->h[k].ctx);
	while (lx->pos < o->fe[k])
		if (!lex_step(lx) || lx->pos > o->fe[k])
			return -1;
	return lex_same(lx, &want) ? 0 : -1;
}

static int
subst_verify_run(struct lex *lx, struct subst_verify *v)
{
	const struct subst_tmpl *t = v->t;
	const struct subst_out *o = v->o;
	size_t k = 0, p0;

	for (;;) {
		lex_skip(lx);
		for (; k < t->nh && lx->pos == o->fs[k]; k++)
			if (subst_verify_fragment(lx, t, o, k) != 0 || v->bad)
				return -1;
		p0 = lx->pos;
		if (!lex_step(lx))
			break;
		if (v->bad || (k < t->nh && p0 < o->fs[k] && lx->pos > o->fs[k]))
			return -1;
	}
	if (v->bad || k != t->nh || lx->refuse != NULL)
		return -1;
	lex_finish(lx);
	if (t->end.poison != NULL || lx->poison != NULL)
		return lx->poison != NULL && t->end.poison != NULL &&
		    subst_verify_spos(v, lx->poison_pos) ==
		    t->end.poison_pos ? 0 : -1;
	return lex_same(lx, &t->end) ? 0 : -1;
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
	lex_init(&lx, o->p, o->len, 0);
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
