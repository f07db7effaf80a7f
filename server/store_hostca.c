/*
 * The optional host CA's storage (issue 14, server/hostca.c): the table
 * host_ca(id, public_line, sealed, created), one row with id 1, and the
 * cert, cert_principals, cert_after and cert_before columns of
 * instance_host_keys. A key set that changes is replaced whole
 * (store_hostkeys.c), so a new key starts without a certificate.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

#define STORE_HOSTCA_SEALED_MAX	4096

struct store_hostca_row {
	char		*pub;
	unsigned char	*sealed;
	size_t		 len;
};

static int
store_hostca_get_cb(const struct lkdb_row *row, void *arg)
{
	struct store_hostca_row *ca = arg;
	const void *b;
	size_t len;

	if ((b = lkdb_blob(row, 1, &len)) == NULL || len == 0 ||
	    len > STORE_HOSTCA_SEALED_MAX)
		return LK_ERR_INVALID_FORMAT;
	if ((ca->pub = lkdb_col_str(row, 0)) == NULL ||
	    (ca->sealed = malloc(len)) == NULL)
		return LK_ERR_ALLOC;
	memcpy(ca->sealed, b, len);
	ca->len = len;
	return 1;
}

int
store_hostca_get(char **publicp, unsigned char **sealedp, size_t *lenp)
{
	struct store_hostca_row ca;
	int r;

	*publicp = NULL;
	*sealedp = NULL;
	*lenp = 0;
	memset(&ca, 0, sizeof(ca));
	r = lkdb_query(lkd->db, store_hostca_get_cb, &ca, "SELECT "
	    "public_line, sealed FROM host_ca WHERE id = 1", "");
	if (r == 0 && ca.sealed == NULL)
		r = LK_ERR_NOT_FOUND;
	if (r != 0) {
		free(ca.pub);
		free(ca.sealed);
		return r;
	}
	*publicp = ca.pub;
	*sealedp = ca.sealed;
	*lenp = ca.len;
	return 0;
}

int
store_hostca_add(const char *public_line, const unsigned char *sealed,
    size_t len, int64_t now)
{
	return lkdb_run(lkd->db, NULL, "INSERT INTO host_ca(id, public_line, "
	    "sealed, created) VALUES(1, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
	    "sbi", public_line, (const void *)sealed, len, now);
}

struct store_hostca_list {
	struct store_hostkey	*keys;
	size_t			 n;
};

static int
store_hostca_certs_cb(const struct lkdb_row *row, void *arg)
{
	struct store_hostca_list *l = arg;
	struct store_hostkey *k;

	if (l->n == STORE_HOSTKEYS_MAX)
		return 1;
	k = &l->keys[l->n++];	/* freed with the others on failure */
	if ((k->type = lkdb_col_str(row, 0)) == NULL ||
	    (k->b64 = lkdb_col_str(row, 1)) == NULL ||
	    (k->fingerprint = lkdb_col_str(row, 2)) == NULL ||
	    (k->cert = lkdb_col_str(row, 3)) == NULL ||
	    (k->cert_principals = lkdb_col_str(row, 4)) == NULL)
		return LK_ERR_ALLOC;
	k->cert_after = lkdb_int(row, 5);
	k->cert_before = lkdb_int(row, 6);
	k->first_seen = lkdb_int(row, 7);
	k->seen = lkdb_int(row, 8);
	return 0;
}

int
store_hostca_certs(const char *id, struct store_hostkey **keysp, size_t *np)
{
	struct store_hostca_list l;
	int r;

	*keysp = NULL;
	*np = 0;
	memset(&l, 0, sizeof(l));
	if ((l.keys = calloc(STORE_HOSTKEYS_MAX, sizeof(*l.keys))) == NULL)
		return LK_ERR_ALLOC;
	if ((r = lkdb_query(lkd->db, store_hostca_certs_cb, &l, "SELECT "
	    "key_type, key_b64, fingerprint, cert, cert_principals, "
	    "cert_after, cert_before, first_seen, seen FROM "
	    "instance_host_keys WHERE instance_id = ? ORDER BY fingerprint",
	    "s", id)) != 0 || l.n == 0) {
		store_hostkeys_free(l.keys, l.n);
		return r;
	}
	*keysp = l.keys;
	*np = l.n;
	return 0;
}

int
store_hostca_set_cert(const char *id, const char *fingerprint,
    const char *cert, const char *principals, int64_t after, int64_t before)
{
	return lkdb_run(lkd->db, NULL, "UPDATE instance_host_keys SET "
	    "cert = ?, cert_principals = ?, cert_after = ?, cert_before = ? "
	    "WHERE instance_id = ? AND fingerprint = ?", "ssiiss", cert,
	    principals, after, before, id, fingerprint);
}
