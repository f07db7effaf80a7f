#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "b64.h"
#include "err.h"
#include "sig.h"

/* A growable string for canonical forms; bounded by the params limits. */
struct sig_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 err;
};

static void
sig_buf_add(struct sig_buf *b, const char *s, size_t len)
{
	char *np;
	size_t ncap;

	if (b->err)
		return;
	if (len > SIZE_MAX / 2 - b->len - 1) {
		b->err = LK_ERR_TOO_LONG;
		return;
	}
	if (b->len + len + 1 > b->cap) {
		ncap = (b->len + len + 1) * 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->err = LK_ERR_ALLOC;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void
sig_buf_str(struct sig_buf *b, const char *s)
{
	sig_buf_add(b, s, strlen(s));
}

static int
sig_buf_finish(struct sig_buf *b, char **outp)
{
	if (b->err == 0 && b->p == NULL)
		sig_buf_add(b, "", 0);
	if (b->err != 0) {
		free(b->p);
		return b->err;
	}
	*outp = b->p;
	return 0;
}

struct sig_pair {
	char	*name;		/* encoded */
	char	*value;		/* encoded */
};

static int
sig_pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sig_pair *)a)->name,
	    ((const struct sig_pair *)b)->name);
}

/*
 * "n1=v1&n2=v2" over p's parameters except skip (may be NULL), names and
 * values encoded, sorted by encoded name.
 */
static int
sig_canonical_query(const struct lk_params *p, const char *skip, char **outp)
{
	struct sig_pair *pairs;
	struct sig_buf b = { NULL, 0, 0, 0 };
	size_t i, n = 0;
	int r = 0;

	*outp = NULL;
	if ((pairs = calloc(p->n + 1, sizeof(*pairs))) == NULL)
		return LK_ERR_ALLOC;
	for (i = 0; i < p->n; i++) {
		if (skip != NULL && strcmp(p->v[i].name, skip) == 0)
			continue;
		pairs[n].name = lk_params_encode(p->v[i].name,
		    strlen(p->v[i].name));
		pairs[n].value = lk_params_encode(p->v[i].value,
		    strlen(p->v[i].value));
		if (pairs[n].name == NULL || pairs[n++].value == NULL) {
			r = LK_ERR_ALLOC;
			goto out;
		}
	}
	qsort(pairs, n, sizeof(*pairs), sig_pair_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sig_buf_add(&b, "&", 1);
		sig_buf_str(&b, pairs[i].name);
		sig_buf_add(&b, "=", 1);
		sig_buf_str(&b, pairs[i].value);
	}
	r = sig_buf_finish(&b, outp);
 out:
	for (i = 0; i < n; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
	return r;
}

int
lk_sig_v1_string_to_sign(const char *method, const struct lk_params *p,
    char **outp)
{
	struct sig_buf b = { NULL, 0, 0, 0 };
	char *cq = NULL, *ecq = NULL;
	int r;

	*outp = NULL;
	if ((r = sig_canonical_query(p, "Signature", &cq)) != 0)
		return r;
	if ((ecq = lk_params_encode(cq, strlen(cq))) == NULL) {
		free(cq);
		return LK_ERR_ALLOC;
	}
	sig_buf_str(&b, method);
	sig_buf_str(&b, "&%2F&");
	sig_buf_str(&b, ecq);
	free(cq);
	free(ecq);
	return sig_buf_finish(&b, outp);
}

int
lk_sig_v1_compute(const char *secret, const char *sts, char sig[LK_SIG_V1_SIZE])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *key, *b64;
	size_t klen = strlen(secret);

	if ((key = malloc(klen + 2)) == NULL)
		return LK_ERR_ALLOC;
	memcpy(key, secret, klen);
	key[klen] = '&';
	key[klen + 1] = '\0';
	if (HMAC(EVP_sha1(), key, (int)klen + 1, (const unsigned char *)sts,
	    strlen(sts), mac, &maclen) == NULL || maclen != 20) {
		OPENSSL_cleanse(key, klen);
		free(key);
		return LK_ERR_INTERNAL;
	}
	OPENSSL_cleanse(key, klen);
	free(key);
	if ((b64 = lk_b64_encode(mac, maclen, 1)) == NULL)
		return LK_ERR_ALLOC;
	memcpy(sig, b64, LK_SIG_V1_SIZE - 1);
	sig[LK_SIG_V1_SIZE - 1] = '\0';
	free(b64);
	return 0;
}

static void
sig_hex(const unsigned char *d, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 0xf];
	}
	hex[2 * len] = '\0';
}

int
lk_sig_sha256_hex(const void *data, size_t len, char hex[LK_SIG_V3_SIZE])
{
	unsigned char d[32];
	unsigned int dlen = 0;

	if (EVP_Digest(data, len, d, &dlen, EVP_sha256(), NULL) != 1 ||
	    dlen != 32)
		return LK_ERR_INTERNAL;
	sig_hex(d, 32, hex);
	return 0;
}

static const char *
sig_header_value(const struct lk_sig_header *h, size_t nh, const char *name,
    size_t namelen)
{
	size_t i;

	for (i = 0; i < nh; i++)
		if (strlen(h[i].name) == namelen &&
		    memcmp(h[i].name, name, namelen) == 0)
			return h[i].value;
	return NULL;
}

/* Appends "name:value\n" with the value's surrounding blanks trimmed. */
static void
sig_add_header(struct sig_buf *b, const char *name, size_t namelen,
    const char *value)
{
	const char *end = value + strlen(value);

	while (*value == ' ' || *value == '\t')
		value++;
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	sig_buf_add(b, name, namelen);
	sig_buf_add(b, ":", 1);
	sig_buf_add(b, value, (size_t)(end - value));
	sig_buf_add(b, "\n", 1);
}

int
lk_sig_v3_canonical_request(const char *method, const char *path,
    const struct lk_params *query, const struct lk_sig_header *h, size_t nh,
    const char *signed_headers, const char *payload_hash, char **outp)
{
	struct sig_buf b = { NULL, 0, 0, 0 };
	const char *name, *semi, *value;
	char *cq = NULL;
	int r;

	*outp = NULL;
	if ((r = sig_canonical_query(query, NULL, &cq)) != 0)
		return r;
	sig_buf_str(&b, method);
	sig_buf_add(&b, "\n", 1);
	sig_buf_str(&b, path);
	sig_buf_add(&b, "\n", 1);
	sig_buf_str(&b, cq);
	sig_buf_add(&b, "\n", 1);
	free(cq);
	for (name = signed_headers; *name != '\0'; name = semi + 1) {
		if ((semi = strchr(name, ';')) == NULL)
			semi = name + strlen(name);
		if (semi == name || (value = sig_header_value(h, nh, name,
		    (size_t)(semi - name))) == NULL) {
			free(b.p);
			return LK_ERR_INVALID_FORMAT;
		}
		sig_add_header(&b, name, (size_t)(semi - name), value);
		if (*semi == '\0')
			break;
	}
	sig_buf_add(&b, "\n", 1);
	sig_buf_str(&b, signed_headers);
	sig_buf_add(&b, "\n", 1);
	sig_buf_str(&b, payload_hash);
	return sig_buf_finish(&b, outp);
}

int
lk_sig_v3_compute(const char *secret, const char *creq,
    char sig[LK_SIG_V3_SIZE], char hashed[LK_SIG_V3_SIZE])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char sts[sizeof(LK_SIG_V3_ALGORITHM) + LK_SIG_V3_SIZE];
	int r;

	if ((r = lk_sig_sha256_hex(creq, strlen(creq), hashed)) != 0)
		return r;
	memcpy(sts, LK_SIG_V3_ALGORITHM "\n", sizeof(LK_SIG_V3_ALGORITHM));
	memcpy(sts + sizeof(LK_SIG_V3_ALGORITHM), hashed, LK_SIG_V3_SIZE);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)sts, strlen(sts), mac, &maclen) == NULL ||
	    maclen != 32)
		return LK_ERR_INTERNAL;
	sig_hex(mac, 32, sig);
	return 0;
}

/* Copies the value of "key=" from one comma-separated item. */
static int
sig_auth_item(const char *item, size_t len, const char *key, char **outp)
{
	size_t klen = strlen(key);

	if (len <= klen || strncmp(item, key, klen) != 0 || *outp != NULL)
		return 0;
	if ((*outp = strndup(item + klen, len - klen)) == NULL)
		return LK_ERR_ALLOC;
	return 1;
}

int
lk_sig_v3_parse_auth(const char *auth, char **idp, char **signedp,
    char **sigp)
{
	const char *p, *comma;
	size_t alen = strlen(LK_SIG_V3_ALGORITHM), len;
	int r;

	*idp = *signedp = *sigp = NULL;
	if (strncmp(auth, LK_SIG_V3_ALGORITHM, alen) != 0 || auth[alen] != ' ')
		return LK_ERR_INVALID_FORMAT;
	for (p = auth + alen + 1; *p != '\0'; p = comma + 1) {
		while (*p == ' ')
			p++;
		if ((comma = strchr(p, ',')) == NULL)
			comma = p + strlen(p);
		len = (size_t)(comma - p);
		if ((r = sig_auth_item(p, len, "Credential=", idp)) == 0 &&
		    (r = sig_auth_item(p, len, "SignedHeaders=", signedp)) == 0 &&
		    (r = sig_auth_item(p, len, "Signature=", sigp)) == 0)
			r = LK_ERR_INVALID_FORMAT;	/* unknown or repeated */
		if (r < 0)
			goto fail;
		if (*comma == '\0')
			break;
	}
	if (*idp != NULL && *signedp != NULL && *sigp != NULL)
		return 0;
	r = LK_ERR_INVALID_FORMAT;
 fail:
	free(*idp);
	free(*signedp);
	free(*sigp);
	*idp = *signedp = *sigp = NULL;
	return r;
}

int
lk_sig_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return 0;
	return CRYPTO_memcmp(a, b, la) == 0;
}
