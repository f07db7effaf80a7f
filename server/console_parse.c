/*
 * What a browser sends the console, parsed: the Cookie header, the Origin
 * header, the sign-in body and the action-call body. Every function here
 * is pure (no database, no globals) and bounded by the limits in
 * console.h, so that the unit tests and tests/fuzz/fuzz_console.c can
 * drive it with any bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "console.h"
#include "err.h"
#include "log.h"

/* RFC 6265 cookie-octet, without the DQUOTE form (we never set one). */
static int
console_cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
	    (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

int
console_cookie_get(const char *header, const char *name, char *out,
    size_t outsize)
{
	const char *p, *end, *eq, *semi;
	size_t nlen = strlen(name), vlen, i;
	int found = 0;

	if (outsize == 0)
		return LK_ERR_INTERNAL;
	out[0] = '\0';
	if (header == NULL)
		return LK_ERR_NOT_FOUND;
	if (strnlen(header, CONSOLE_COOKIE_MAX + 1) > CONSOLE_COOKIE_MAX)
		return LK_ERR_TOO_LONG;
	end = header + strlen(header);
	for (p = header; p < end; p = semi + 1) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if ((semi = memchr(p, ';', (size_t)(end - p))) == NULL)
			semi = end;
		if (semi == p)
			continue;		/* ";;" or a trailing ";" */
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq == NULL || (size_t)(eq - p) != nlen ||
		    memcmp(p, name, nlen) != 0) {
			if (semi == end)
				break;
			continue;		/* someone else's cookie */
		}
		if (found)
			return LK_ERR_INVALID_FORMAT;	/* ours twice */
		found = 1;
		vlen = (size_t)(semi - eq - 1);
		while (vlen > 0 && (eq[vlen] == ' ' || eq[vlen] == '\t'))
			vlen--;
		if (vlen >= outsize)
			return LK_ERR_TOO_LONG;
		for (i = 0; i < vlen; i++)
			if (!console_cookie_octet((unsigned char)eq[1 + i]))
				return LK_ERR_INVALID_FORMAT;
		memcpy(out, eq + 1, vlen);
		out[vlen] = '\0';
		if (semi == end)
			break;
	}
	return found ? 0 : LK_ERR_NOT_FOUND;
}

int
console_hex_ok(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || strlen(s) != len)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
console_origin_ok(const char *origin, const char *host, int tls)
{
	const char *scheme = tls ? "https://" : "http://";
	size_t slen = strlen(scheme), i;

	if (origin == NULL || host == NULL || *host == '\0')
		return 0;
	if (strlen(origin) > 512 || strlen(host) > 512)
		return 0;
	if (strncmp(origin, scheme, slen) != 0)
		return 0;
	origin += slen;
	for (i = 0; host[i] != '\0'; i++)
		if ((unsigned char)host[i] <= 0x20 || host[i] == '/' ||
		    host[i] == '@' || host[i] == '\\' ||
		    (unsigned char)host[i] >= 0x7f)
			return 0;
	return strcasecmp(origin, host) == 0;
}

/* A string member of o within max bytes; NULL when absent or wrong. */
static int
console_json_str(json_t *o, const char *key, size_t max, char **outp)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t len;

	*outp = NULL;
	if (!json_is_string(v))
		return LK_ERR_INVALID_FORMAT;
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0 || strlen(s) != len)
		return LK_ERR_INVALID_FORMAT;
	if (len > max)
		return LK_ERR_TOO_LONG;
	if ((*outp = strdup(s)) == NULL)
		return LK_ERR_ALLOC;
	return 0;
}

void
console_signin_free(struct console_signin *si)
{
	if (si->secret != NULL) {
		OPENSSL_cleanse(si->secret, strlen(si->secret));
		free(si->secret);
	}
	free(si->name);
	memset(si, 0, sizeof(*si));
}

int
console_signin_parse(const char *body, size_t len, struct console_signin *si,
    const char **fieldp)
{
	const char *idk, *secretk;
	json_t *o = NULL;
	int r;

	memset(si, 0, sizeof(*si));
	*fieldp = "";
	if (len > CONSOLE_SIGNIN_MAX)
		return LK_ERR_TOO_LONG;
	if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(o) || json_object_size(o) != 2) {
		r = LK_ERR_INVALID_FORMAT;
		goto out;
	}
	if (json_object_get(o, "AccessKeyId") != NULL) {
		si->kind = CONSOLE_KIND_KEY;
		idk = "AccessKeyId";
		secretk = "AccessKeySecret";
	} else {
		si->kind = CONSOLE_KIND_OPERATOR;
		idk = "Operator";
		secretk = "Password";
	}
	*fieldp = idk;
	if ((r = console_json_str(o, idk, CONSOLE_NAME_MAX, &si->name)) != 0)
		goto out;
	*fieldp = secretk;
	if ((r = console_json_str(o, secretk, CONSOLE_SECRET_MAX,
	    &si->secret)) != 0)
		goto out;
	*fieldp = "";
 out:
	if (r != 0)
		console_signin_free(si);
	json_decref(o);
	return r;
}

/* The text a JSON scalar stands for in a query string; NULL if none. */
static char *
console_param_text(json_t *v)
{
	char buf[32];

	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v))
			return NULL;		/* an embedded NUL */
		return strdup(json_string_value(v));
	}
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "true" : "false");
	return NULL;
}

static int
console_action_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CONSOLE_ACTION_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z')))
			return 0;
	return 1;
}

static int
console_params_add(struct lk_params *p, const char *name, json_t *v)
{
	struct lk_param *nv;
	char *value;

	if (*name == '\0' || strlen(name) > LK_PARAMS_NAME_MAX ||
	    lk_params_get(p, name) != NULL)
		return LK_ERR_INVALID_FORMAT;
	if (p->n == LK_PARAMS_MAX)
		return LK_ERR_TOO_LONG;
	if ((value = console_param_text(v)) == NULL)
		return LK_ERR_INVALID_FORMAT;
	if (strlen(value) > LK_PARAMS_VALUE_MAX) {
		free(value);
		return LK_ERR_TOO_LONG;
	}
	if ((nv = reallocarray(p->v, p->n + 1, sizeof(*nv))) == NULL) {
		free(value);
		return LK_ERR_ALLOC;
	}
	p->v = nv;
	if ((nv[p->n].name = strdup(name)) == NULL) {
		free(value);
		return LK_ERR_ALLOC;
	}
	nv[p->n++].value = value;
	return 0;
}

int
console_call_parse(const char *body, size_t len, char **actionp,
    struct lk_params *p, char *field, size_t fieldsize)
{
	json_t *o = NULL, *params, *v;
	const char *name;
	size_t nlen;
	int r = LK_ERR_INVALID_FORMAT;

	*actionp = NULL;
	snprintf(field, fieldsize, "%s", "");
	memset(p, 0, sizeof(*p));
	if (len > CONSOLE_CALL_MAX)
		return LK_ERR_TOO_LONG;
	if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(o))
		goto out;
	snprintf(field, fieldsize, "Action");
	if ((r = console_json_str(o, "Action", CONSOLE_ACTION_MAX,
	    actionp)) != 0 || !console_action_ok(*actionp)) {
		r = r ? r : LK_ERR_INVALID_FORMAT;
		goto out;
	}
	snprintf(field, fieldsize, "Params");
	params = json_object_get(o, "Params");
	if (json_object_size(o) != (params != NULL ? 2u : 1u) ||
	    (params != NULL && !json_is_object(params))) {
		r = LK_ERR_INVALID_FORMAT;
		goto out;
	}
	if (params != NULL) {
		json_object_keylen_foreach(params, name, nlen, v) {
			lk_vis(field, fieldsize, name, nlen);
			if (strlen(name) != nlen) {
				r = LK_ERR_INVALID_FORMAT;	/* a NUL */
				goto out;
			}
			if ((r = console_params_add(p, name, v)) != 0)
				goto out;
		}
	}
	snprintf(field, fieldsize, "%s", "");
	r = 0;
 out:
	if (r != 0) {
		free(*actionp);
		*actionp = NULL;
		lk_params_free(p);
	}
	json_decref(o);
	return r;
}
