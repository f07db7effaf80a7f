/*
 * Who is signed in to the console: operator accounts (scrypt password
 * hashes), access-key sign-in, sessions in the database, and a limiter on
 * failed sign-ins.
 *
 * A session id is 256 random bits sent only in the cookie; the database
 * keeps its SHA-256, so a copy of the database signs no one in. A session
 * ends after CONSOLE_IDLE seconds without a request, CONSOLE_MAX_AGE after
 * sign-in, at sign-out, or as soon as its access key or operator is
 * disabled. Its CSRF token is a separate 128-bit value the page reads once
 * signed in and sends back in X-CSRF-Token.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64.h"
#include "console.h"
#include "err.h"
#include "log.h"

#define PW_LOG_N	15		/* scrypt N = 2^15: 32 MiB, ~0.1 s */
#define PW_R		8
#define PW_P		1
#define PW_SALT		16
#define PW_KEY		32
#define PW_MAXMEM	(64ULL * 1024 * 1024)
#define PW_PREFIX	"$scrypt$"
#define PW_HASH_MAX	256

#define LIMIT_SLOTS	256		/* client addresses remembered */
#define LIMIT_WINDOW	300		/* seconds */
#define LIMIT_FAILS	10		/* failures per window, then 429 */
#define TOUCH_EVERY	60		/* seconds between last_used writes */

static void
console_hex(const unsigned char *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
console_random_hex(size_t nbytes, char *out)
{
	unsigned char b[64];

	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
		return LK_ERR_INTERNAL;
	console_hex(b, nbytes, out);
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

int
console_operator_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > CONSOLE_NAME_MAX || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
		    name[i] == '_' || name[i] == '-'))
			return 0;
	return 1;
}

static int
console_scrypt(const char *password, const unsigned char *salt,
    size_t saltlen, int logn, int r, int p, unsigned char key[PW_KEY])
{
	if (EVP_PBE_scrypt(password, strlen(password), salt, saltlen,
	    (uint64_t)1 << logn, (uint64_t)r, (uint64_t)p, PW_MAXMEM, key,
	    PW_KEY) != 1)
		return LK_ERR_INTERNAL;
	return 0;
}

/* "$scrypt$ln=15,r=8,p=1$SALT$KEY" with standard padded base64. */
int
console_pw_hash(const char *password, char **hashp)
{
	unsigned char salt[PW_SALT], key[PW_KEY];
	char *s64 = NULL, *k64 = NULL;
	int r;

	*hashp = NULL;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return LK_ERR_INTERNAL;
	if ((r = console_scrypt(password, salt, sizeof(salt), PW_LOG_N, PW_R,
	    PW_P, key)) != 0)
		goto out;
	if ((s64 = lk_b64_encode(salt, sizeof(salt), 1)) == NULL ||
	    (k64 = lk_b64_encode(key, sizeof(key), 1)) == NULL ||
	    asprintf(hashp, PW_PREFIX "ln=%d,r=%d,p=%d$%s$%s", PW_LOG_N, PW_R,
	    PW_P, s64, k64) == -1) {
		*hashp = NULL;
		r = LK_ERR_ALLOC;
	}
 out:
	OPENSSL_cleanse(key, sizeof(key));
	free(s64);
	free(k64);
	return r;
}

/* Reads "name=NUMBER" ending at sep from *sp, within [min, max]. */
static int
console_pw_field(const char **sp, const char *name, char sep, long long min,
    long long max, long long *vp)
{
	const char *s = *sp, *end;
	char num[16];
	size_t nlen = strlen(name);

	if (strncmp(s, name, nlen) != 0 || s[nlen] != '=' ||
	    (end = strchr(s + nlen + 1, sep)) == NULL ||
	    (size_t)(end - s - nlen - 1) >= sizeof(num))
		return LK_ERR_INVALID_FORMAT;
	memcpy(num, s + nlen + 1, (size_t)(end - s - nlen - 1));
	num[end - s - nlen - 1] = '\0';
	if (lk_parse_ll(num, min, max, vp) != 0)
		return LK_ERR_INVALID_FORMAT;
	*sp = end + 1;
	return 0;
}

int
console_pw_check(const char *password, const char *hash)
{
	unsigned char *salt = NULL, *want = NULL, key[PW_KEY];
	size_t saltlen = 0, wantlen = 0;
	const char *s = hash, *dollar;
	long long logn, rr, pp;
	int r = LK_ERR_INVALID_FORMAT;

	if (strlen(hash) > PW_HASH_MAX ||
	    strncmp(s, PW_PREFIX, strlen(PW_PREFIX)) != 0)
		return r;
	s += strlen(PW_PREFIX);
	if (console_pw_field(&s, "ln", ',', 10, 20, &logn) != 0 ||
	    console_pw_field(&s, "r", ',', 1, 16, &rr) != 0 ||
	    console_pw_field(&s, "p", '$', 1, 4, &pp) != 0 ||
	    (dollar = strchr(s, '$')) == NULL ||
	    lk_b64_decode(s, (size_t)(dollar - s), 64, &salt, &saltlen) != 0 ||
	    lk_b64_decode(dollar + 1, strlen(dollar + 1), 64, &want,
	    &wantlen) != 0 || wantlen != PW_KEY || saltlen < 8)
		goto out;
	if ((r = console_scrypt(password, salt, saltlen, (int)logn, (int)rr,
	    (int)pp, key)) != 0)
		goto out;
	r = CRYPTO_memcmp(key, want, PW_KEY) == 0 ? 0 : LK_ERR_NOT_FOUND;
 out:
	OPENSSL_cleanse(key, sizeof(key));
	free(salt);
	free(want);
	return r;
}

int
console_operator_create(const char *name, const char *password)
{
	char *hash = NULL;
	size_t plen = strlen(password);
	int r;

	if (!console_operator_name_ok(name))
		return LK_ERR_USER_INVALID;
	if (plen < CONSOLE_PASSWORD_MIN)
		return LK_ERR_RANGE;
	if (plen > CONSOLE_SECRET_MAX)
		return LK_ERR_TOO_LONG;
	if ((r = console_pw_hash(password, &hash)) != 0)
		return r;
	r = lkdb_run(lkd->db, NULL, "INSERT INTO operators(name, pw_hash, "
	    "created) VALUES(?,?,?)", "ssi", name, hash, lkd_now());
	free(hash);
	return r;		/* LK_ERR_INVALID_FORMAT: the name is taken */
}

static int
console_operator_list_cb(sqlite3_stmt *st, void *arg)
{
	char created[32], last[32];

	lk_time_iso(sqlite3_column_int64(st, 2), created, sizeof(created));
	lk_time_iso(sqlite3_column_int64(st, 3), last, sizeof(last));
	json_array_append_new(arg, json_pack("{s:s, s:b, s:s, s:s}", "Name",
	    (const char *)sqlite3_column_text(st, 0), "Disabled",
	    sqlite3_column_int(st, 1), "CreationTime", created,
	    "LastSignInTime", last));
	return 0;
}

int
console_operator_list(json_t **outp)
{
	json_t *arr = json_array();
	int r;

	if (arr == NULL)
		return LK_ERR_ALLOC;
	if ((r = lkdb_query(lkd->db, console_operator_list_cb, arr,
	    "SELECT name, disabled, created, last_signin FROM operators "
	    "ORDER BY name", "")) != 0) {
		json_decref(arr);
		return r;
	}
	*outp = arr;
	return 0;
}

int
console_operator_disable(const char *name)
{
	int changes = 0, r;

	if ((r = lkdb_run(lkd->db, &changes, "UPDATE operators SET "
	    "disabled = 1 WHERE name = ?", "s", name)) != 0)
		return r;
	if (changes != 1)
		return LK_ERR_NOT_FOUND;
	return lkdb_run(lkd->db, NULL, "DELETE FROM console_sessions WHERE "
	    "kind = 'operator' AND principal = ?", "s", name);
}

struct console_oprow {
	char	*hash;
	int	 disabled;
};

static int
console_oprow_cb(sqlite3_stmt *st, void *arg)
{
	struct console_oprow *row = arg;

	row->hash = lkdb_col_str(st, 0);
	row->disabled = sqlite3_column_int(st, 1);
	return row->hash == NULL ? LK_ERR_ALLOC : 1;
}

/*
 * A hash nobody's password matches, checked when the name is unknown or
 * disabled, so that a failure takes as long whatever the reason.
 */
static pthread_once_t console_dummy_once = PTHREAD_ONCE_INIT;
static char *console_dummy;

static void
console_dummy_make(void)
{
	char pw[CONSOLE_CSRF_HEX + 1];

	if (console_random_hex(CONSOLE_CSRF_BYTES, pw) == 0 &&
	    console_pw_hash(pw, &console_dummy) != 0)
		console_dummy = NULL;
	OPENSSL_cleanse(pw, sizeof(pw));
}

int
console_operator_verify(const char *name, const char *password)
{
	struct console_oprow row;
	int r;

	memset(&row, 0, sizeof(row));
	pthread_once(&console_dummy_once, console_dummy_make);
	if (!console_operator_name_ok(name) || (r = lkdb_query(lkd->db,
	    console_oprow_cb, &row, "SELECT pw_hash, disabled FROM operators "
	    "WHERE name = ?", "s", name)) != 0 || row.hash == NULL ||
	    row.disabled) {
		if (console_dummy != NULL)
			(void)console_pw_check(password, console_dummy);
		r = LK_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = console_pw_check(password, row.hash)) != 0) {
		r = LK_ERR_NOT_FOUND;
		goto out;
	}
	(void)lkdb_run(lkd->db, NULL, "UPDATE operators SET last_signin = ? "
	    "WHERE name = ?", "is", lkd_now(), name);
 out:
	free(row.hash);
	return r;
}

/* SHA-256 of both, compared in constant time: lengths do not leak. */
static int
console_secret_equal(const char *a, const char *b)
{
	unsigned char ha[32], hb[32];
	unsigned int n;

	if (EVP_Digest(a, strlen(a), ha, &n, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(b, strlen(b), hb, &n, EVP_sha256(), NULL) != 1)
		return 0;
	return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

int
console_key_verify(const char *id, const char *secret)
{
	struct lkd_policy pol;
	char *real = NULL;
	int disabled = 0, ok, r;

	r = keys_lookup(id, &real, &pol, &disabled);
	keys_policy_free(&pol);
	ok = console_secret_equal(secret, r == 0 ? real :
	    "latchkey-console-no-such-key");
	if (real != NULL) {
		OPENSSL_cleanse(real, strlen(real));
		free(real);
	}
	return r == 0 && ok && !disabled ? 0 : LK_ERR_NOT_FOUND;
}

static const char *
console_kind_name(enum console_kind kind)
{
	return kind == CONSOLE_KIND_OPERATOR ? "operator" : "key";
}

int
console_session_create(enum console_kind kind, const char *principal,
    char sid[CONSOLE_SID_HEX + 1], struct console_session *s)
{
	char hash[LK_SIG_V3_SIZE];
	int64_t now = lkd_now();
	int r;

	memset(s, 0, sizeof(*s));
	if (strlen(principal) > CONSOLE_NAME_MAX)
		return LK_ERR_TOO_LONG;
	(void)lkdb_run(lkd->db, NULL, "DELETE FROM console_sessions WHERE "
	    "last_used < ? OR created < ?", "ii", now - CONSOLE_IDLE,
	    now - CONSOLE_MAX_AGE);
	if ((r = console_random_hex(CONSOLE_SID_BYTES, sid)) != 0 ||
	    (r = console_random_hex(CONSOLE_CSRF_BYTES, s->csrf)) != 0 ||
	    (r = lk_sig_sha256_hex(sid, CONSOLE_SID_HEX, hash)) != 0)
		return r;
	s->kind = kind;
	snprintf(s->principal, sizeof(s->principal), "%s", principal);
	s->created = now;
	return lkdb_run(lkd->db, NULL, "INSERT INTO console_sessions(id_hash, "
	    "kind, principal, csrf, created, last_used) VALUES(?,?,?,?,?,?)",
	    "ssssii", hash, console_kind_name(kind), principal, s->csrf, now,
	    now);
}

struct console_srow {
	struct console_session	*s;
	int64_t			 last_used;
	int			 found;
};

static int
console_srow_cb(sqlite3_stmt *st, void *arg)
{
	struct console_srow *row = arg;
	const char *kind = (const char *)sqlite3_column_text(st, 0);
	const char *principal = (const char *)sqlite3_column_text(st, 1);
	const char *csrf = (const char *)sqlite3_column_text(st, 2);

	if (kind == NULL || principal == NULL || csrf == NULL ||
	    strlen(principal) > CONSOLE_NAME_MAX ||
	    !console_hex_ok(csrf, CONSOLE_CSRF_HEX))
		return 1;		/* not found */
	row->s->kind = strcmp(kind, "operator") == 0 ?
	    CONSOLE_KIND_OPERATOR : CONSOLE_KIND_KEY;
	snprintf(row->s->principal, sizeof(row->s->principal), "%s",
	    principal);
	snprintf(row->s->csrf, sizeof(row->s->csrf), "%s", csrf);
	row->s->created = sqlite3_column_int64(st, 3);
	row->last_used = sqlite3_column_int64(st, 4);
	row->found = 1;
	return 1;
}

/* Whether the session's key or operator may still sign in. */
static int
console_principal_live(const struct console_session *s)
{
	struct console_oprow row;
	struct lkd_policy pol;
	char *secret = NULL;
	int disabled = 1, r;

	if (s->kind == CONSOLE_KIND_KEY) {
		r = keys_lookup(s->principal, &secret, &pol, &disabled);
		keys_policy_free(&pol);
		if (secret != NULL) {
			OPENSSL_cleanse(secret, strlen(secret));
			free(secret);
		}
		return r == 0 && !disabled;
	}
	memset(&row, 0, sizeof(row));
	r = lkdb_query(lkd->db, console_oprow_cb, &row, "SELECT pw_hash, "
	    "disabled FROM operators WHERE name = ?", "s", s->principal);
	free(row.hash);
	return r == 0 && row.hash != NULL && !row.disabled;
}

int
console_session_get(const char *sid, struct console_session *s)
{
	struct console_srow row;
	char hash[LK_SIG_V3_SIZE];
	int64_t now = lkd_now();
	int r;

	memset(s, 0, sizeof(*s));
	memset(&row, 0, sizeof(row));
	row.s = s;
	if (!console_hex_ok(sid, CONSOLE_SID_HEX))
		return LK_ERR_NOT_FOUND;
	if ((r = lk_sig_sha256_hex(sid, CONSOLE_SID_HEX, hash)) != 0 ||
	    (r = lkdb_query(lkd->db, console_srow_cb, &row, "SELECT kind, "
	    "principal, csrf, created, last_used FROM console_sessions "
	    "WHERE id_hash = ?", "s", hash)) != 0)
		return r;
	if (!row.found)
		return LK_ERR_NOT_FOUND;
	if (row.last_used < now - CONSOLE_IDLE ||
	    s->created < now - CONSOLE_MAX_AGE || !console_principal_live(s)) {
		(void)lkdb_run(lkd->db, NULL, "DELETE FROM console_sessions "
		    "WHERE id_hash = ?", "s", hash);
		memset(s, 0, sizeof(*s));
		return LK_ERR_NOT_FOUND;
	}
	if (now - row.last_used >= TOUCH_EVERY)
		(void)lkdb_run(lkd->db, NULL, "UPDATE console_sessions SET "
		    "last_used = ? WHERE id_hash = ?", "is", now, hash);
	return 0;
}

int
console_session_delete(const char *sid)
{
	char hash[LK_SIG_V3_SIZE];
	int r;

	if (!console_hex_ok(sid, CONSOLE_SID_HEX))
		return LK_ERR_NOT_FOUND;
	if ((r = lk_sig_sha256_hex(sid, CONSOLE_SID_HEX, hash)) != 0)
		return r;
	return lkdb_run(lkd->db, NULL, "DELETE FROM console_sessions WHERE "
	    "id_hash = ?", "s", hash);
}

int
console_session_identity(const struct console_session *s, char *key_id,
    size_t size, struct lkd_policy *pol)
{
	char *secret = NULL;
	int disabled = 0, r;

	memset(pol, 0, sizeof(*pol));
	if (s->kind == CONSOLE_KIND_OPERATOR) {
		/* Operators have the whole policy: NULL lists. */
		snprintf(key_id, size, "%s%s", CONSOLE_OPERATOR_PREFIX,
		    s->principal);
		return 0;
	}
	snprintf(key_id, size, "%s", s->principal);
	r = keys_lookup(s->principal, &secret, pol, &disabled);
	if (secret != NULL) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	if (r == 0 && disabled)
		r = LK_ERR_NOT_FOUND;
	if (r != 0)
		keys_policy_free(pol);
	return r;
}

/*
 * The sign-in limiter: per client address, at most LIMIT_FAILS failures in
 * LIMIT_WINDOW seconds; then every attempt is refused until the window
 * ends. A fixed table; when it is full the oldest entry goes.
 */
static struct {
	char	addr[64];
	int64_t	first;
	int	fails;
} console_limits[LIMIT_SLOTS];
static pthread_mutex_t console_limit_lock = PTHREAD_MUTEX_INITIALIZER;

static int
console_limit_slot(const char *client, int create, int64_t now)
{
	size_t i, oldest = 0;

	for (i = 0; i < LIMIT_SLOTS; i++) {
		if (console_limits[i].addr[0] != '\0' &&
		    strcmp(console_limits[i].addr, client) == 0) {
			if (now - console_limits[i].first >= LIMIT_WINDOW) {
				console_limits[i].first = now;
				console_limits[i].fails = 0;
			}
			return (int)i;
		}
		if (console_limits[i].first < console_limits[oldest].first)
			oldest = i;
	}
	if (!create)
		return -1;
	snprintf(console_limits[oldest].addr, sizeof(console_limits[0].addr),
	    "%s", client);
	console_limits[oldest].first = now;
	console_limits[oldest].fails = 0;
	return (int)oldest;
}

int
console_limit_check(const char *client)
{
	int i, r = 0;

	pthread_mutex_lock(&console_limit_lock);
	if ((i = console_limit_slot(client, 0, lkd_now())) >= 0 &&
	    console_limits[i].fails >= LIMIT_FAILS)
		r = LK_ERR_RANGE;
	pthread_mutex_unlock(&console_limit_lock);
	return r;
}

void
console_limit_fail(const char *client)
{
	int i;

	pthread_mutex_lock(&console_limit_lock);
	if ((i = console_limit_slot(client, 1, lkd_now())) >= 0)
		console_limits[i].fails++;
	pthread_mutex_unlock(&console_limit_lock);
}

void
console_limit_ok(const char *client)
{
	int i;

	pthread_mutex_lock(&console_limit_lock);
	if ((i = console_limit_slot(client, 0, lkd_now())) >= 0)
		memset(&console_limits[i], 0, sizeof(console_limits[i]));
	pthread_mutex_unlock(&console_limit_lock);
}
