/*
 * Request parameters of the ECS OpenAPI: the query string and the
 * application/x-www-form-urlencoded body, decoded and merged into one
 * bounded list. Names are unique; values are NUL-free strings.
 */
#ifndef LK_PARAMS_H
#define LK_PARAMS_H

#include <stddef.h>

#define LK_PARAMS_MAX		256		/* parameters per request */
#define LK_PARAMS_NAME_MAX	128		/* bytes per decoded name */
#define LK_PARAMS_VALUE_MAX	(96 * 1024)	/* bytes per decoded value */
#define LK_PARAMS_INPUT_MAX	(1024 * 1024)	/* bytes of encoded input */

struct lk_param {
	char	*name;
	char	*value;
};

struct lk_params {
	struct lk_param	*v;
	size_t		 n;
};

/*
 * Decodes "a=1&b=x%20y" (len bytes; '+' is a space) and appends the
 * pairs to p. A pair without '=' has an empty value; empty pairs ("&&")
 * are ignored. Refused, with p unchanged: bad percent escapes, NUL bytes,
 * an empty or over-long name, a name given twice (here or already in p),
 * too many pairs, too much input. Returns 0, LK_ERR_INVALID_FORMAT,
 * LK_ERR_TOO_LONG or LK_ERR_ALLOC.
 */
int		 lk_params_parse(struct lk_params *p, const char *s, size_t len);

/* The value of name, or NULL. Names are compared exactly. */
const char	*lk_params_get(const struct lk_params *p, const char *name);

/*
 * RFC 3986 percent-encoding as the ECS signature needs it: A-Z a-z 0-9
 * - _ . ~ stay, every other byte becomes %XY (upper-case hex). Returns a
 * new string or NULL when out of memory.
 */
char		*lk_params_encode(const char *s, size_t len);

void		 lk_params_free(struct lk_params *p);

#endif
