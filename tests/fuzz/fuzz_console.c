/*
 * The console's parsers of what a browser sends (server/console_parse.c):
 * the Cookie header, the Origin header against Host, the sign-in body and
 * the action-call body. The first byte picks the parser. Whatever the
 * input, each returns an error or a result that keeps its contract: a
 * cookie value of cookie-octets within the buffer, a sign-in with both
 * strings non-empty and within their limits, call parameters with unique
 * non-empty names and NUL-free values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_cookie(const char *s)
{
	char v[CONSOLE_SID_HEX + 1];
	size_t i;

	if (console_cookie_get(s, CONSOLE_COOKIE, v, sizeof(v)) != 0)
		return;
	if (strlen(v) > CONSOLE_SID_HEX)
		abort();
	for (i = 0; v[i] != '\0'; i++)
		if (v[i] <= ' ' || v[i] == ';' || v[i] == ',' || v[i] == '"' ||
		    v[i] == '\\' || (unsigned char)v[i] >= 0x7f)
			abort();
	(void)console_hex_ok(v, CONSOLE_SID_HEX);
}

static void
fuzz_origin(char *s)
{
	char *nl = strchr(s, '\n');
	int tls = 0;

	if (nl == NULL)
		return;
	*nl = '\0';
	if (console_origin_ok(s, nl + 1, tls) &&
	    strncmp(s, "http://", 7) != 0)
		abort();
	(void)console_origin_ok(s, nl + 1, 1);
}

static void
fuzz_signin(const char *s, size_t len)
{
	struct console_signin si;
	const char *field;

	if (console_signin_parse(s, len, &si, &field) != 0) {
		if (si.name != NULL || si.secret != NULL || field == NULL)
			abort();
		return;
	}
	if (si.name == NULL || si.secret == NULL || *si.name == '\0' ||
	    *si.secret == '\0' || strlen(si.name) > CONSOLE_NAME_MAX ||
	    strlen(si.secret) > CONSOLE_SECRET_MAX ||
	    (si.kind != CONSOLE_KIND_KEY && si.kind != CONSOLE_KIND_OPERATOR))
		abort();
	console_signin_free(&si);
}

static void
fuzz_call(const char *s, size_t len)
{
	struct lk_params p;
	char *action, field[3 * LK_PARAMS_NAME_MAX + 1];
	size_t i, j;

	if (console_call_parse(s, len, &action, &p, field,
	    sizeof(field)) != 0) {
		if (action != NULL || p.n != 0)
			abort();
		return;
	}
	if (action == NULL || *action == '\0' || p.n > LK_PARAMS_MAX)
		abort();
	for (i = 0; i < p.n; i++) {
		if (*p.v[i].name == '\0' ||
		    strlen(p.v[i].name) > LK_PARAMS_NAME_MAX ||
		    strlen(p.v[i].value) > LK_PARAMS_VALUE_MAX)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(p.v[i].name, p.v[j].name) == 0)
				abort();
	}
	free(action);
	lk_params_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';		/* headers arrive NUL-terminated */
	switch (data[0] % 4) {
	case 0:
		fuzz_cookie(s);
		break;
	case 1:
		fuzz_origin(s);
		break;
	case 2:
		fuzz_signin((const char *)data + 1, size - 1);
		break;
	default:
		fuzz_call((const char *)data + 1, size - 1);
		break;
	}
	free(s);
	return 0;
}
