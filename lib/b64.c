#include <stdint.h>
#include <stdlib.h>

#include "b64.h"
#include "err.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
lk_b64_decode(const char *s, size_t len, size_t maxout, unsigned char **outp,
    size_t *outlenp)
{
	unsigned char *out = NULL;
	size_t i, o = 0, pad = 0, outlen;
	int v[4], r = LK_ERR_KEY_BASE64;

	*outp = NULL;
	*outlenp = 0;
	if (len == 0 || len % 4 != 0)
		return LK_ERR_KEY_BASE64;
	if (s[len - 1] == '=')
		pad++;
	if (s[len - 2] == '=')
		pad++;
	outlen = len / 4 * 3 - pad;
	if (outlen > maxout)
		return LK_ERR_TOO_LONG;
	if ((out = malloc(outlen + 1)) == NULL)
		return LK_ERR_ALLOC;
	for (i = 0; i < len; i += 4) {
		int j, last = (i + 4 == len);

		for (j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)s[i + j];

			if (c == '=' && last && (size_t)j >= 4 - pad)
				v[j] = 0;
			else if ((v[j] = b64_value(c)) < 0)
				goto out;
		}
		out[o++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
		if (last && pad == 2) {
			if ((v[1] & 0x0f) != 0)
				goto out;	/* non-zero padding bits */
			break;
		}
		out[o++] = (unsigned char)(((v[1] & 0x0f) << 4) | (v[2] >> 2));
		if (last && pad == 1) {
			if ((v[2] & 0x03) != 0)
				goto out;
			break;
		}
		out[o++] = (unsigned char)(((v[2] & 0x03) << 6) | v[3]);
	}
	if (o != outlen) {
		r = LK_ERR_INTERNAL;
		goto out;
	}
	*outp = out;
	*outlenp = outlen;
	out = NULL;
	r = 0;
 out:
	free(out);
	return r;
}

char *
lk_b64_encode(const unsigned char *p, size_t len, int pad)
{
	char *out;
	size_t i, o = 0;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t n = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];

		out[o++] = b64_alphabet[(n >> 18) & 63];
		out[o++] = b64_alphabet[(n >> 12) & 63];
		out[o++] = b64_alphabet[(n >> 6) & 63];
		out[o++] = b64_alphabet[n & 63];
	}
	if (len - i == 1) {
		uint32_t n = (uint32_t)p[i] << 16;

		out[o++] = b64_alphabet[(n >> 18) & 63];
		out[o++] = b64_alphabet[(n >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t n = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = b64_alphabet[(n >> 18) & 63];
		out[o++] = b64_alphabet[(n >> 12) & 63];
		out[o++] = b64_alphabet[(n >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}
