#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "params.h"

static int
params_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes len bytes into a new NUL-terminated string of at most max. */
static int
params_decode(const char *s, size_t len, size_t max, char **outp)
{
	char *out;
	size_t i, o = 0;
	int hi, lo;

	*outp = NULL;
	if ((out = malloc(len + 1)) == NULL)
		return LK_ERR_ALLOC;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			if (len - i < 3)
				goto bad;
			if ((hi = params_hexval(s[i + 1])) < 0 ||
			    (lo = params_hexval(s[i + 2])) < 0)
				goto bad;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+')
			c = ' ';
		if (c == '\0')
			goto bad;
		out[o++] = c;
	}
	if (o > max) {
		free(out);
		return LK_ERR_TOO_LONG;
	}
	out[o] = '\0';
	*outp = out;
	return 0;
 bad:
	free(out);
	return LK_ERR_INVALID_FORMAT;
}

const char *
lk_params_get(const struct lk_params *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return p->v[i].value;
	return NULL;
}

int
lk_params_parse(struct lk_params *p, const char *s, size_t len)
{
	struct lk_param *v = NULL;
	const char *pair, *end = s + len, *amp, *eq;
	char *name = NULL, *value = NULL;
	size_t n = p->n, i;
	int r;

	if (len > LK_PARAMS_INPUT_MAX)
		return LK_ERR_TOO_LONG;
	/* Work on a copy of the array so that p is unchanged on error. */
	if ((v = calloc(LK_PARAMS_MAX, sizeof(*v))) == NULL)
		return LK_ERR_ALLOC;
	if (n > 0)
		memcpy(v, p->v, n * sizeof(*v));
	for (pair = s; pair < end; pair = amp + 1) {
		if ((amp = memchr(pair, '&', (size_t)(end - pair))) == NULL)
			amp = end;
		if (amp == pair)
			continue;
		if ((eq = memchr(pair, '=', (size_t)(amp - pair))) == NULL)
			eq = amp;
		if (eq == pair) {
			r = LK_ERR_INVALID_FORMAT;
			goto fail;
		}
		if (n == LK_PARAMS_MAX) {
			r = LK_ERR_TOO_LONG;
			goto fail;
		}
		if ((r = params_decode(pair, (size_t)(eq - pair),
		    LK_PARAMS_NAME_MAX, &name)) != 0 ||
		    (r = params_decode(eq == amp ? eq : eq + 1,
		    eq == amp ? 0 : (size_t)(amp - eq - 1),
		    LK_PARAMS_VALUE_MAX, &value)) != 0)
			goto fail;
		for (i = 0; i < n; i++)
			if (strcmp(v[i].name, name) == 0) {
				r = LK_ERR_INVALID_FORMAT;
				goto fail;
			}
		if (name[0] == '\0') {
			r = LK_ERR_INVALID_FORMAT;
			goto fail;
		}
		v[n].name = name;
		v[n++].value = value;
		name = value = NULL;
		if (amp == end)
			break;
	}
	free(p->v);
	p->v = v;
	p->n = n;
	return 0;
 fail:
	free(name);
	free(value);
	for (i = p->n; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	return r;
}

char *
lk_params_encode(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out;
	size_t i, o = 0;

	if (len > (SIZE_MAX - 1) / 3 || (out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
	return out;
}

void
lk_params_free(struct lk_params *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].value);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}
