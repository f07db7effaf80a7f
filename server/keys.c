/*
 * Access keys: an id, a secret and a policy. The secret is needed in clear
 * to check HMAC signatures, so it is stored encrypted (AES-256-GCM under
 * the master key file, which only latchkeyd's user can read), never in
 * clear and never logged. Nonces used in signatures are remembered for the
 * timestamp window to refuse replays.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "err.h"
#include "fsutil.h"
#include "latchkeyd.h"
#include "log.h"
#include "store.h"

#define KEYS_ID_CHARS		20
#define KEYS_SECRET_CHARS	30
#define KEYS_GCM_NONCE		12
#define KEYS_GCM_TAG		16
#define KEYS_SEALED_MAX		4096
#define KEYS_TAG_PREFIX		"tag:"
#define KEYS_ALNUM \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

int
keys_master_load(const char *path, int create)
{
	unsigned char key[LKD_MASTER_KEY_LEN];
	char *buf = NULL;
	size_t len;
	struct stat st;
	int r;

	r = lk_fs_read(path, 4096, &buf, &len);
	if (r == LK_ERR_NOT_FOUND && create) {
		if (RAND_bytes(key, sizeof(key)) != 1)
			return LK_ERR_INTERNAL;
		r = lk_fs_write_atomic(path, key, sizeof(key), 0600,
		    geteuid(), getegid());
		if (r == 0)
			memcpy(lkd->master, key, sizeof(key));
		OPENSSL_cleanse(key, sizeof(key));
		return r;
	}
	if (r != 0)
		return r;
	if (len != LKD_MASTER_KEY_LEN || stat(path, &st) == -1 ||
	    (st.st_mode & 077) != 0) {
		log_warnx("master key %s must be %d bytes with mode 0600", path,
		    LKD_MASTER_KEY_LEN);
		OPENSSL_cleanse(buf, len);
		free(buf);
		return LK_ERR_UNSAFE;
	}
	memcpy(lkd->master, buf, LKD_MASTER_KEY_LEN);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return 0;
}

/*
 * AES-256-GCM: out = nonce || ciphertext || tag; aad binds it to the id
 * (an access key's, or "host-ca" for hostca.c's private key).
 */
int
keys_seal(const char *aad, const void *data, size_t dlen,
    unsigned char **outp, size_t *lenp)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *out = NULL;
	int n, r = LK_ERR_INTERNAL;

	if (dlen > KEYS_SEALED_MAX - KEYS_GCM_NONCE - KEYS_GCM_TAG)
		return LK_ERR_TOO_LONG;
	if ((out = malloc(KEYS_GCM_NONCE + dlen + KEYS_GCM_TAG)) == NULL)
		return LK_ERR_ALLOC;
	if (RAND_bytes(out, KEYS_GCM_NONCE) != 1 ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, lkd->master,
	    out) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, out + KEYS_GCM_NONCE, &n, data,
	    (int)dlen) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + KEYS_GCM_NONCE + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KEYS_GCM_TAG,
	    out + KEYS_GCM_NONCE + dlen) != 1)
		goto out;
	*outp = out;
	*lenp = KEYS_GCM_NONCE + dlen + KEYS_GCM_TAG;
	out = NULL;
	r = 0;
 out:
	EVP_CIPHER_CTX_free(ctx);
	free(out);
	return r;
}

int
keys_open(const char *aad, const unsigned char *in, size_t len,
    unsigned char **outp, size_t *outlenp)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *data = NULL;
	size_t dlen;
	int n, r = LK_ERR_INTERNAL;

	*outp = NULL;
	if (len < KEYS_GCM_NONCE + KEYS_GCM_TAG || len > KEYS_SEALED_MAX)
		return LK_ERR_INVALID_FORMAT;
	dlen = len - KEYS_GCM_NONCE - KEYS_GCM_TAG;
	if ((data = malloc(dlen + 1)) == NULL)
		return LK_ERR_ALLOC;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, lkd->master,
	    in) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) != 1 ||
	    EVP_DecryptUpdate(ctx, data, &n, in + KEYS_GCM_NONCE,
	    (int)dlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KEYS_GCM_TAG,
	    (void *)(uintptr_t)(in + KEYS_GCM_NONCE + dlen)) != 1 ||
	    EVP_DecryptFinal_ex(ctx, data + n, &n) != 1) {
		log_warnx("keys open id=%s error=\"secret does not decrypt: "
		    "wrong master key?\"", aad);
		goto out;
	}
	data[dlen] = '\0';
	*outp = data;
	*outlenp = dlen;
	data = NULL;
	r = 0;
 out:
	EVP_CIPHER_CTX_free(ctx);
	if (data != NULL) {
		OPENSSL_cleanse(data, dlen);
		free(data);
	}
	return r;
}

/* "a,b,c" (or NULL / "*" for everything) as a JSON array or "*". */
static json_t *
keys_list_json(const char *list)
{
	json_t *arr;
	const char *p, *comma;

	if (list == NULL || strcmp(list, "*") == 0)
		return json_string("*");
	if ((arr = json_array()) == NULL)
		return NULL;
	for (p = list; *p != '\0'; p = comma + 1) {
		if ((comma = strchr(p, ',')) == NULL)
			comma = p + strlen(p);
		if (comma > p)
			json_array_append_new(arr, json_stringn(p,
			    (size_t)(comma - p)));
		if (*comma == '\0')
			break;
	}
	return arr;
}

int
keys_create(const char *description, const char *actions,
    const char *instances, const char *users, char **idp, char **secretp)
{
	char id[4 + KEYS_ID_CHARS + 1], secret[KEYS_SECRET_CHARS + 1];
	unsigned char *sealed = NULL;
	size_t slen;
	json_t *pol;
	char *poltext = NULL;
	int r;

	*idp = *secretp = NULL;
	if ((r = lkd_random_id("LTAI", KEYS_ID_CHARS, KEYS_ALNUM, id,
	    sizeof(id))) != 0 ||
	    (r = lkd_random_id("", KEYS_SECRET_CHARS, KEYS_ALNUM, secret,
	    sizeof(secret))) != 0)
		return r;
	pol = json_pack("{s:o?, s:o?, s:o?}", "Actions", keys_list_json(actions),
	    "Instances", keys_list_json(instances), "Users",
	    keys_list_json(users));
	if (pol == NULL || (poltext = json_dumps(pol, JSON_COMPACT |
	    JSON_PRESERVE_ORDER)) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	if ((r = keys_seal(id, secret, strlen(secret), &sealed, &slen)) != 0)
		goto out;
	if ((r = store_key_create(lkd->db, id, sealed, slen, poltext,
	    description, lkd_now())) != 0)
		goto out;
	if ((*idp = strdup(id)) == NULL || (*secretp = strdup(secret)) == NULL)
		r = LK_ERR_ALLOC;
 out:
	OPENSSL_cleanse(secret, sizeof(secret));
	json_decref(pol);
	free(poltext);
	free(sealed);
	return r;
}

static char **
keys_policy_list(json_t *v)
{
	char **list;
	size_t i, n;

	if (v == NULL || json_is_string(v) || !json_is_array(v))
		return NULL;		/* "*" or absent: everything */
	n = json_array_size(v);
	if ((list = calloc(n + 1, sizeof(*list))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(v, i));

		list[i] = strdup(s ? s : "");
	}
	return list;
}

static int	keys_policy_tags_load(struct lkd_policy *);

int
keys_lookup(const char *id, char **secretp, struct lkd_policy *pol,
    int *disabledp)
{
	struct store_key k;
	json_t *p = NULL;
	size_t slen;
	int r;

	memset(pol, 0, sizeof(*pol));
	*secretp = NULL;
	if ((r = store_key_get(lkd->db, id, &k)) != 0)
		return r;
	*disabledp = k.disabled;
	if ((r = keys_open(id, k.sealed, k.sealedlen,
	    (unsigned char **)secretp, &slen)) != 0)
		goto out;
	if ((p = json_loads(k.policy, 0, NULL)) == NULL) {
		r = LK_ERR_INVALID_FORMAT;
		goto out;
	}
	pol->actions = keys_policy_list(json_object_get(p, "Actions"));
	pol->instances = keys_policy_list(json_object_get(p, "Instances"));
	pol->users = keys_policy_list(json_object_get(p, "Users"));
	r = keys_policy_tags_load(pol);
 out:
	json_decref(p);
	store_key_free(&k);
	return r;
}

static void
keys_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void
keys_policy_free(struct lkd_policy *pol)
{
	keys_strv_free(pol->actions);
	keys_strv_free(pol->instances);
	keys_strv_free(pol->users);
	store_tag_ids_free(pol->tag_ids);
	memset(pol, 0, sizeof(*pol));
}

int
keys_policy_action(const struct lkd_policy *pol, const char *action)
{
	size_t i;

	if (pol->actions == NULL)
		return 1;
	for (i = 0; pol->actions[i] != NULL; i++)
		if (strcmp(pol->actions[i], action) == 0)
			return 1;
	return 0;
}

/*
 * The instances the "tag:KEY=VALUE" entries of pol name, into
 * pol->tag_ids (a malformed entry names none: a policy fails closed).
 */
static int
keys_policy_tags_load(struct lkd_policy *pol)
{
	struct store_tag t;
	char key[STORE_TAG_KEY_MAX + 1], **ids, **all = NULL, **v;
	const char *e, *eq;
	size_t i, j, n, nall = 0;
	int r;

	for (i = 0; pol->instances != NULL &&
	    (e = pol->instances[i]) != NULL; i++) {
		if (strncmp(e, KEYS_TAG_PREFIX, 4) != 0 ||
		    (eq = strchr(e + 4, '=')) == NULL ||
		    (n = (size_t)(eq - (e + 4))) == 0 || n >= sizeof(key))
			continue;
		memcpy(key, e + 4, n);
		key[n] = '\0';
		t.key = key;
		t.value = eq + 1;
		if ((r = store_tag_ids(STORE_TAG_INSTANCE, &t, 1, &ids,
		    &n)) != 0)
			goto fail;
		if ((v = reallocarray(all, nall + n + 1, sizeof(*v))) == NULL) {
			store_tag_ids_free(ids);
			r = LK_ERR_ALLOC;
			goto fail;
		}
		all = v;
		for (j = 0; j < n; j++)
			all[nall++] = ids[j];
		all[nall] = NULL;
		free(ids);		/* its strings are all's now */
	}
	if (all == NULL && (all = calloc(1, sizeof(*all))) == NULL)
		return LK_ERR_ALLOC;
	pol->tag_ids = all;
	return 0;
 fail:
	store_tag_ids_free(all);
	return r;
}

int
keys_policy_instance(const struct lkd_policy *pol, const char *id,
    const char *name)
{
	const char *e;
	size_t i;

	if (pol->instances == NULL)
		return 1;
	for (i = 0; (e = pol->instances[i]) != NULL; i++) {
		if (strncmp(e, KEYS_TAG_PREFIX, 4) == 0) {
			if (store_tag_ids_has(pol->tag_ids, id))
				return 1;
			continue;
		}
		if (fnmatch(e, id, 0) == 0 ||
		    (name != NULL && fnmatch(e, name, 0) == 0))
			return 1;
	}
	return 0;
}

int
keys_policy_entry_valid(const char *e)
{
	char key[STORE_TAG_KEY_MAX + 1];
	const char *eq;
	size_t n;

	if (strncmp(e, KEYS_TAG_PREFIX, 4) != 0)
		return *e != '\0';
	if ((eq = strchr(e + 4, '=')) == NULL ||
	    (n = (size_t)(eq - (e + 4))) == 0 || n >= sizeof(key))
		return 0;
	memcpy(key, e + 4, n);
	key[n] = '\0';
	return store_tag_key_valid(key) && store_tag_value_valid(eq + 1);
}

/*
 * Whether tag key is one that an access key's Instances policy names
 * ("tag:KEY=..."), in any access key: 1, 0, or an error. Such a key is
 * "guarded": only a key with no Instances restriction may set or remove
 * it (docs/api.md, "Tags and policies").
 */
int
keys_tag_guarded(const char *key)
{
	struct store_key *keys = NULL;
	json_t *p, *v, *e;
	const char *s;
	size_t i, j, n = 0, klen = strlen(key);
	int r, found = 0;

	if ((r = store_key_list(lkd->db, &keys, &n)) != 0)
		return r;
	for (i = 0; i < n && !found; i++) {
		if ((p = json_loads(keys[i].policy, 0, NULL)) == NULL)
			continue;
		v = json_object_get(p, "Instances");
		json_array_foreach(v, j, e) {
			s = json_string_value(e);
			if (s != NULL && strncmp(s, KEYS_TAG_PREFIX, 4) == 0 &&
			    strncmp(s + 4, key, klen) == 0 &&
			    s[4 + klen] == '=')
				found = 1;
		}
		json_decref(p);
	}
	store_key_list_free(keys, n);
	return found;
}

int
keys_policy_user(const struct lkd_policy *pol, const char *user)
{
	size_t i;

	if (pol->users == NULL)
		return 1;
	for (i = 0; pol->users[i] != NULL; i++)
		if (strcmp(pol->users[i], user) == 0)
			return 1;
	return 0;
}

int
keys_list(json_t **outp)
{
	struct store_key *keys = NULL;
	json_t *arr = NULL, *pol;
	char when[32];
	size_t i, n = 0;
	int r;

	*outp = NULL;
	if ((r = store_key_list(lkd->db, &keys, &n)) != 0)
		return r;
	if ((arr = json_array()) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < n; i++) {
		pol = json_loads(keys[i].policy, 0, NULL);
		lk_time_iso(keys[i].created, when, sizeof(when));
		json_array_append_new(arr, json_pack("{s:s, s:o?, s:b, s:s, "
		    "s:s}", "AccessKeyId", keys[i].id, "Policy", pol,
		    "Disabled", keys[i].disabled, "CreationTime", when,
		    "Description", keys[i].description));
	}
	*outp = arr;
 out:
	store_key_list_free(keys, n);
	return r;
}

int
keys_disable(const char *id)
{
	return store_key_disable(lkd->db, id);
}

/*
 * A signature's nonce, at most once per key: nonces older than twice the
 * timestamp window go first (a request that old is refused by its
 * timestamp), then the nonce is noted. LK_ERR_RANGE: used already.
 */
int
keys_nonce_use(const char *id, const char *nonce, int64_t now)
{
	int r;

	if ((r = store_nonce_sweep(lkd->db, now - 2 * LKD_TIME_WINDOW)) != 0)
		return r;
	r = store_nonce_use(lkd->db, id, nonce, now);
	return r == LK_ERR_INVALID_FORMAT ? LK_ERR_RANGE : r;
}
