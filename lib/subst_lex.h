/*
 * Internal to lib/subst*.c: the POSIX sh quoting lexer (subst_lex.c) that
 * parameter substitution (subst.c) runs over templates and scripts.
 */
#ifndef LK_SUBST_LEX_H
#define LK_SUBST_LEX_H

#include <stddef.h>

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

int	lk__lex_ctx(const struct lex *lx, const char **whyp);
void	lk__lex_finish(struct lex *lx);
void	lk__lex_hole_effect(struct lex *lx, int ctx);
int	lk__lex_in_body(const struct lex *lx);
void	lk__lex_init(struct lex *lx, const char *s, size_t len, int holes);
int	lk__lex_namechar(int c);
int	lk__lex_same(const struct lex *a, const struct lex *b);
void	lk__lex_skip(struct lex *lx);
int	lk__lex_step(struct lex *lx);

#endif
