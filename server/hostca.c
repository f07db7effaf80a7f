/*
 * The optional host CA: its key, and the certificates it makes (see
 * hostca.h). The private key is read from the database once and kept in
 * memory (it is no more secret than the master key beside it); replicas
 * on one PostgreSQL share the one row store_hostca_add leaves.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "err.h"
#include "hostca.h"
#include "latchkeyd.h"
#include "log.h"
#include "sshcert.h"
#include "sshkey.h"
#include "store.h"

struct hostca_conf hostca_conf = { 0, HOSTCA_VALIDITY_DEFAULT };

static pthread_mutex_t hostca_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char hostca_priv[LK_SSHCERT_ED25519_LEN];
static char *hostca_pub;		/* NULL until loaded */

/* Reads the stored CA into hostca_priv and hostca_pub; NOT_FOUND. */
static int
hostca_read(void)
{
	unsigned char *sealed = NULL, *priv = NULL;
	unsigned char pub[LK_SSHCERT_ED25519_LEN];
	char *line = NULL, *mine = NULL;
	size_t len, plen = 0;
	int r;

	if ((r = store_hostca_get(&line, &sealed, &len)) != 0)
		return r;
	if ((r = keys_open(HOSTCA_AAD, sealed, len, &priv, &plen)) != 0)
		goto out;
	r = LK_ERR_INTERNAL;
	if (plen != LK_SSHCERT_ED25519_LEN ||
	    lk_sshcert_ca_public(priv, pub) != 0 ||
	    lk_sshcert_ca_line(pub, &mine) != 0 || strcmp(mine, line) != 0) {
		log_warnx("hostca load error=\"the stored CA key does not "
		    "match its public line\"");
		goto out;
	}
	memcpy(hostca_priv, priv, sizeof(hostca_priv));
	hostca_pub = line;
	line = NULL;
	r = 0;
 out:
	if (priv != NULL) {
		OPENSSL_cleanse(priv, plen);
		free(priv);
	}
	free(sealed);
	free(line);
	free(mine);
	return r;
}

/* Makes a CA and stores it unless another replica stored one first. */
static int
hostca_create(void)
{
	unsigned char priv[LK_SSHCERT_ED25519_LEN];
	unsigned char pub[LK_SSHCERT_ED25519_LEN], *sealed = NULL;
	char *line = NULL;
	size_t len;
	int r;

	if ((r = lk_sshcert_ca_generate(priv, pub)) != 0 ||
	    (r = lk_sshcert_ca_line(pub, &line)) != 0 ||
	    (r = keys_seal(HOSTCA_AAD, priv, sizeof(priv), &sealed,
	    &len)) != 0)
		goto out;
	if ((r = store_hostca_add(line, sealed, len, lkd_now())) == 0)
		log_info("hostca created key=\"%s\"", line);
 out:
	OPENSSL_cleanse(priv, sizeof(priv));
	free(sealed);
	free(line);
	return r;
}

/* With hostca_lock held: the CA loaded (made first if need be). */
static int
hostca_load_locked(void)
{
	int r;

	if (hostca_pub != NULL)
		return 0;
	if ((r = hostca_read()) != LK_ERR_NOT_FOUND)
		return r;
	if ((r = hostca_create()) != 0)
		return r;
	return hostca_read();
}

int
hostca_public(char **linep)
{
	int r;

	*linep = NULL;
	pthread_mutex_lock(&hostca_lock);
	if ((r = hostca_load_locked()) == 0 &&
	    (*linep = strdup(hostca_pub)) == NULL)
		r = LK_ERR_ALLOC;
	pthread_mutex_unlock(&hostca_lock);
	return r;
}

/* Adds s to the principals unless it is there or not a valid one. */
static void
hostca_add_principal(const char **p, size_t *np, const char *s)
{
	size_t i;

	if (s == NULL || !lk_sshcert_name_ok(s) ||
	    *np == LK_SSHCERT_MAX_PRINC)
		return;
	for (i = 0; i < *np; i++)
		if (strcmp(p[i], s) == 0)
			return;
	p[(*np)++] = s;
}

/*
 * The principals of inst: its id, its name (unless it names another
 * instance's id pattern "i-..."), its addresses; and them joined by
 * commas in *joinedp (new).
 */
static int
hostca_principals(const struct store_inst *inst, json_t *addrs,
    const char **p, size_t *np, char **joinedp)
{
	json_t *v;
	size_t i, len = 0;
	char *j;

	*np = 0;
	hostca_add_principal(p, np, inst->id);
	if (strncmp(inst->name, "i-", 2) != 0)
		hostca_add_principal(p, np, inst->name);
	json_array_foreach(addrs, i, v)
		hostca_add_principal(p, np, json_string_value(v));
	for (i = 0; i < *np; i++)
		len += strlen(p[i]) + 1;
	if ((j = calloc(1, len + 1)) == NULL)
		return LK_ERR_ALLOC;
	for (i = 0, len = 0; i < *np; i++) {
		if (i > 0)
			j[len++] = ',';
		memcpy(j + len, p[i], strlen(p[i]));	/* sized above */
		len += strlen(p[i]);
	}
	*joinedp = j;
	return 0;
}

/* Whether k's stored certificate may be handed out again at now. */
static int
hostca_keep(const struct store_hostkey *k, const char *principals,
    int64_t now)
{
	return k->cert[0] != '\0' && strcmp(k->cert_principals,
	    principals) == 0 && k->cert_before - k->cert_after ==
	    hostca_conf.validity + HOSTCA_BACKDATE &&
	    now >= k->cert_after &&
	    now < k->cert_after + (k->cert_before - k->cert_after) / 2;
}

/* A new certificate for k, stored; its line into *linep. */
static int
hostca_sign(const char *id, const struct store_hostkey *k,
    const char *const *p, size_t np, const char *joined, int64_t now,
    char **linep)
{
	struct lk_sshcert_spec spec;
	struct lk_sshkey *key = NULL;
	char keyid[16 + STORE_AGENT_ID_MAX], *pub = NULL;
	int r;

	*linep = NULL;
	snprintf(keyid, sizeof(keyid), "latchkey:%s", id);
	if (asprintf(&pub, "%s %s", k->type, k->b64) == -1)
		return LK_ERR_ALLOC;
	if ((r = lk_sshkey_parse_line(pub, strlen(pub), &key)) != 0)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.key_id = keyid;
	spec.principals = p;
	spec.nprincipals = np;
	spec.serial = (uint64_t)now;
	spec.valid_after = (uint64_t)(now - HOSTCA_BACKDATE);
	spec.valid_before = (uint64_t)(now + hostca_conf.validity);
	pthread_mutex_lock(&hostca_lock);
	if ((r = hostca_load_locked()) == 0)
		r = lk_sshcert_sign_host(key, hostca_priv, &spec, NULL, linep);
	pthread_mutex_unlock(&hostca_lock);
	if (r != 0)
		goto out;
	if ((r = store_hostca_set_cert(id, k->fingerprint, *linep, joined,
	    now - HOSTCA_BACKDATE, now + hostca_conf.validity)) != 0) {
		free(*linep);
		*linep = NULL;
		goto out;
	}
	log_info("hostca issued instance=%s key=%s principals=%s "
	    "valid_before=%lld", id, k->fingerprint, joined,
	    (long long)(now + hostca_conf.validity));
 out:
	lk_sshkey_free(key);
	free(pub);
	return r;
}

int
hostca_issue(const char *id, int64_t now, json_t **certsp)
{
	struct store_inst inst;
	struct store_hostkey *keys = NULL;
	const char *p[LK_SSHCERT_MAX_PRINC];
	json_t *certs = NULL, *addrs = NULL;
	char *joined = NULL, *line;
	size_t n = 0, np, i;
	int r;

	*certsp = NULL;
	memset(&inst, 0, sizeof(inst));
	if ((r = store_inst_get(lkd->db, id, &inst)) != 0)
		return r;
	if ((addrs = json_loads(inst.addresses, 0, NULL)) == NULL ||
	    !json_is_array(addrs)) {
		json_decref(addrs);
		addrs = json_array();
	}
	if ((certs = json_array()) == NULL || addrs == NULL ||
	    (r = hostca_principals(&inst, addrs, p, &np, &joined)) != 0) {
		r = r != 0 ? r : LK_ERR_ALLOC;
		goto out;
	}
	if ((r = store_hostca_certs(id, &keys, &n)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (hostca_keep(&keys[i], joined, now)) {
			if (json_array_append_new(certs,
			    json_string(keys[i].cert)) != 0)
				r = LK_ERR_ALLOC;
		} else if ((r = hostca_sign(id, &keys[i], p, np, joined, now,
		    &line)) == 0) {
			if (json_array_append_new(certs,
			    json_string(line)) != 0)
				r = LK_ERR_ALLOC;
			free(line);
		}
		if (r != 0)
			goto out;
	}
	*certsp = certs;
	certs = NULL;
 out:
	json_decref(certs);
	json_decref(addrs);
	free(joined);
	store_hostkeys_free(keys, n);
	store_inst_free(&inst);
	return r;
}

void
hostca_forget(void)
{
	pthread_mutex_lock(&hostca_lock);
	OPENSSL_cleanse(hostca_priv, sizeof(hostca_priv));
	free(hostca_pub);
	hostca_pub = NULL;
	pthread_mutex_unlock(&hostca_lock);
}
