/*
 * Who is signed in to the console: operator accounts (scrypt password
 * hashes), access-key sign-in, sessions in the database, the limiter on
 * failed sign-ins and the gate that bounds password hashing (console.h).
 *
 * A session id is 256 random bits sent only in the cookie; the database
 * keeps its SHA-256, so a copy of the database signs no one in. A session
 * ends after CONSOLE_IDLE seconds without a request, CONSOLE_MAX_AGE after
 * sign-in, at sign-out, or as soon as its access key or operator is
 * disabled. Its CSRF token is a separate 128-bit value the page reads once
 * signed in and sends back in X-CSRF-Token.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64.h"
#include "console.h"
#include "err.h"
#include "log.h"
#include "store.h"

#define PW_LOG_N	15		/* scrypt N = 2^15: 32 MiB, ~0.1 s */
#define PW_R		8
#define PW_P		1
#define PW_SALT		16
#define PW_KEY		32
#define PW_MAXMEM	(64ULL * 1024 * 1024)
#define PW_PREFIX	"$scrypt$"
#define PW_HASH_MAX	256

#define TOUCH_EVERY	60		/* seconds between last_used writes */

static void	console_hash_counted(void);

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
	r = store_operator_create(lkd->db, name, hash, lkd_now());
	free(hash);
	return r;		/* LK_ERR_INVALID_FORMAT: the name is taken */
}

int
console_operator_list(json_t **outp)
{
	struct store_operator *ops = NULL;
	json_t *arr = NULL;
	char created[32], last[32];
	size_t i, n = 0;
	int r;

	*outp = NULL;
	if ((r = store_operator_list(lkd->db, &ops, &n)) != 0)
		return r;
	if ((arr = json_array()) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < n; i++) {
		lk_time_iso(ops[i].created, created, sizeof(created));
		lk_time_iso(ops[i].last_signin, last, sizeof(last));
		json_array_append_new(arr, json_pack("{s:s, s:b, s:s, s:s}",
		    "Name", ops[i].name, "Disabled", ops[i].disabled,
		    "CreationTime", created, "LastSignInTime", last));
	}
	*outp = arr;
 out:
	store_operator_list_free(ops, n);
	return r;
}

int
console_operator_disable(const char *name)
{
	return store_operator_disable(lkd->db, name);
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
	struct store_operator op;
	const char *hash;
	int known = 0, r;

	memset(&op, 0, sizeof(op));
	if (console_operator_name_ok(name)) {
		r = store_operator_get(lkd->db, name, &op);
		/* No database, no answer: neither yes nor no, nothing hashed. */
		if (r == LK_ERR_UNAVAILABLE)
			goto out;
		known = r == 0 && !op.disabled;
	}
	if ((r = console_hash_enter()) != 0)
		goto out;		/* LK_ERR_BUSY: nothing checked */
	pthread_once(&console_dummy_once, console_dummy_make);
	hash = known ? op.pw_hash : console_dummy;
	r = hash != NULL ? console_pw_check(password, hash) : LK_ERR_INTERNAL;
	console_hash_counted();
	console_hash_leave();
	if (!known || r != 0) {
		r = LK_ERR_NOT_FOUND;
		goto out;
	}
	(void)store_operator_signed_in(lkd->db, name, lkd_now());
 out:
	store_operator_free(&op);
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
	if (r == LK_ERR_UNAVAILABLE)
		return r;
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
	(void)store_csession_expire(lkd->db, now - CONSOLE_IDLE,
	    now - CONSOLE_MAX_AGE);
	if ((r = console_random_hex(CONSOLE_SID_BYTES, sid)) != 0 ||
	    (r = console_random_hex(CONSOLE_CSRF_BYTES, s->csrf)) != 0 ||
	    (r = lk_sig_sha256_hex(sid, CONSOLE_SID_HEX, hash)) != 0)
		return r;
	s->kind = kind;
	snprintf(s->principal, sizeof(s->principal), "%s", principal);
	s->created = now;
	return store_csession_create(lkd->db, hash, console_kind_name(kind),
	    principal, s->csrf, now);
}

/*
 * Whether the session's key or operator may still sign in: 1, 0, or
 * LK_ERR_UNAVAILABLE when the database cannot tell.
 */
static int
console_principal_live(const struct console_session *s)
{
	struct store_operator op;
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
		if (r == LK_ERR_UNAVAILABLE)
			return r;
		return r == 0 && !disabled;
	}
	r = store_operator_get(lkd->db, s->principal, &op);
	disabled = op.disabled;
	store_operator_free(&op);
	if (r == LK_ERR_UNAVAILABLE)
		return r;
	return r == 0 && !disabled;
}

/* The stored session as console.h has it; 0 or LK_ERR_NOT_FOUND. */
static int
console_session_from(const struct store_csession *row,
    struct console_session *s)
{
	if (strlen(row->principal) > CONSOLE_NAME_MAX ||
	    !console_hex_ok(row->csrf, CONSOLE_CSRF_HEX))
		return LK_ERR_NOT_FOUND;
	s->kind = strcmp(row->kind, "operator") == 0 ?
	    CONSOLE_KIND_OPERATOR : CONSOLE_KIND_KEY;
	snprintf(s->principal, sizeof(s->principal), "%s", row->principal);
	snprintf(s->csrf, sizeof(s->csrf), "%s", row->csrf);
	s->created = row->created;
	return 0;
}

int
console_session_get(const char *sid, struct console_session *s)
{
	struct store_csession row;
	char hash[LK_SIG_V3_SIZE];
	int64_t now = lkd_now();
	int live = 1, r;

	memset(s, 0, sizeof(*s));
	memset(&row, 0, sizeof(row));
	if (!console_hex_ok(sid, CONSOLE_SID_HEX))
		return LK_ERR_NOT_FOUND;
	if ((r = lk_sig_sha256_hex(sid, CONSOLE_SID_HEX, hash)) != 0 ||
	    (r = store_csession_get(lkd->db, hash, &row)) != 0 ||
	    (r = console_session_from(&row, s)) != 0)
		goto out;
	if (row.last_used < now - CONSOLE_IDLE ||
	    s->created < now - CONSOLE_MAX_AGE ||
	    (live = console_principal_live(s)) == 0) {
		(void)store_csession_delete(lkd->db, hash);
		r = LK_ERR_NOT_FOUND;
		goto out;
	}
	if (live < 0) {
		r = live;	/* LK_ERR_UNAVAILABLE: the session stays */
		goto out;
	}
	if (now - row.last_used >= TOUCH_EVERY)
		(void)store_csession_touch(lkd->db, hash, now);
 out:
	if (r != 0)
		memset(s, 0, sizeof(*s));
	store_csession_free(&row);
	return r;
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
	return store_csession_delete(lkd->db, hash);
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
 * The sign-in limiter (see console.h): the counts are rows of the
 * database (store_climit_*), so that every latchkeyd on one database
 * shares them; a reservation is one transaction there.
 */
static pthread_mutex_t console_limit_lock = PTHREAD_MUTEX_INITIALIZER;
static int console_limit_ready;		/* the table is known to exist */
static int64_t console_limit_swept;	/* when this process last swept */

/*
 * Makes sure the counts' table exists (once per process, and again after
 * console_limit_clear); 0 or the database's error, to be tried again.
 * The lock is not held across the database: store_console_init() is safe
 * to run from several threads and replicas at once.
 */
static int
console_limit_init(void)
{
	int ready, r;

	pthread_mutex_lock(&console_limit_lock);
	ready = console_limit_ready;
	pthread_mutex_unlock(&console_limit_lock);
	if (ready)
		return 0;
	if ((r = store_console_init(lkd->db)) != 0) {
		log_warnx("console limiter cannot create its table: %s",
		    lk_err(r));
		return r;
	}
	pthread_mutex_lock(&console_limit_lock);
	console_limit_ready = 1;
	pthread_mutex_unlock(&console_limit_lock);
	return 0;
}

/*
 * Forgets the windows that ended, at most once per CONSOLE_LIMIT_SWEEP
 * seconds in this process (a clock set back sweeps too), so that the table
 * holds the entries of at most the last window and two sweeps' worth. The
 * sweep spares a margin of CONSOLE_LIMIT_SWEEP seconds on either side:
 * replicas' clocks agree only to about a second (the database's clock,
 * measured over a round trip), and one must not erase a window another
 * has just started.
 */
static void
console_limit_sweep(int64_t now)
{
	int due, r;

	pthread_mutex_lock(&console_limit_lock);
	due = console_limit_swept == 0 || now < console_limit_swept ||
	    now - console_limit_swept >= CONSOLE_LIMIT_SWEEP;
	if (due)
		console_limit_swept = now;
	pthread_mutex_unlock(&console_limit_lock);
	if (due && (r = store_climit_sweep(lkd->db, now -
	    CONSOLE_LIMIT_WINDOW - CONSOLE_LIMIT_SWEEP,
	    now + CONSOLE_LIMIT_SWEEP)) != 0)
		log_warnx("console limiter sweep: %s", lk_err(r));
}

/*
 * An address's key: IPv4 as it is, IPv6 as its /64 (what one host or
 * customer usually gets, so a new address costs an attacker nothing
 * within it), an IPv4-mapped IPv6 address as IPv4.
 */
static void
console_limit_addr_key(const char *client, char *out, size_t size)
{
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, client, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6) && inet_ntop(AF_INET,
		    &a6.s6_addr[12], buf, sizeof(buf)) != NULL) {
			snprintf(out, size, "%s", buf);
			return;
		}
		memset(&a6.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a6, buf, sizeof(buf)) != NULL) {
			snprintf(out, size, "%s/64", buf);
			return;
		}
	}
	snprintf(out, size, "%s", client);
}

/* The ticket's two entries, address first: the order of the checks. */
static void
console_limit_entries(const struct console_limit_ticket *t,
    struct store_climit e[2])
{
	e[0].kind = "addr";
	e[0].name = t->addr_key;
	e[0].window_start = t->addr_start;
	e[1].kind = "acct";
	e[1].name = t->acct_key;
	e[1].window_start = t->acct_start;
}

int
console_limit_reserve(const char *client, enum console_kind kind,
    const char *name, int64_t now, struct console_limit_ticket *t,
    enum console_limit_which *whichp)
{
	struct store_climit e[2];
	size_t full;
	int r;

	memset(t, 0, sizeof(*t));
	*whichp = CONSOLE_LIMIT_NONE;
	if ((r = console_limit_init()) != 0)
		return r;
	console_limit_addr_key(client != NULL ? client : "-", t->addr_key,
	    sizeof(t->addr_key));
	/* Operators and keys apart: "o:ops" is not the key id "ops". */
	snprintf(t->acct_key, sizeof(t->acct_key), "%c:%s",
	    kind == CONSOLE_KIND_OPERATOR ? 'o' : 'k', name);
	console_limit_entries(t, e);
	r = store_climit_take(lkd->db, e, 2, now, CONSOLE_LIMIT_WINDOW,
	    CONSOLE_LIMIT_SKEW, CONSOLE_LIMIT_FAILS, &full);
	if (r == LK_ERR_RANGE) {
		*whichp = full == 0 ? CONSOLE_LIMIT_ADDR : CONSOLE_LIMIT_ACCOUNT;
		return r;
	}
	if (r != 0) {
		log_warnx("console limiter: %s", lk_err(r));
		return r == LK_ERR_UNAVAILABLE ? r : LK_ERR_INTERNAL;
	}
	t->addr_start = e[0].window_start;
	t->acct_start = e[1].window_start;
	t->taken = 1;
	return 0;
}

void
console_limit_giveback(const struct console_limit_ticket *t)
{
	struct store_climit e[2];
	int r;

	if (!t->taken)
		return;
	console_limit_entries(t, e);
	/* Not given back: it stays counted until its window ends. */
	if ((r = store_climit_give(lkd->db, e, 2)) != 0)
		log_warnx("console limiter give-back: %s", lk_err(r));
}

int
console_limit_clear(void)
{
	int r;

	pthread_mutex_lock(&console_limit_lock);
	console_limit_ready = 0;
	console_limit_swept = 0;
	pthread_mutex_unlock(&console_limit_lock);
	if ((r = console_limit_init()) != 0)
		return r;
	return store_climit_clear(lkd->db);
}

/*
 * The hashing gate (see console.h): a counter of running checks and one
 * of waiters under a lock, and a condition on a monotonic clock.
 */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 slots;
	int		 queue;
	int		 running;
	int		 running_max;
	int		 waiting;
	uint64_t	 hashed;
	uint64_t	 busy;
} console_gate = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t console_gate_once = PTHREAD_ONCE_INIT;

static void
console_gate_init(void)
{
	pthread_condattr_t ca;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	console_gate.slots = n < 1 ? 1 : n > CONSOLE_HASH_MAX ?
	    CONSOLE_HASH_MAX : (int)n;
	console_gate.queue = console_gate.slots;
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&console_gate.cond, &ca) != 0)
		fatalx("console: cannot make the hashing gate");
	pthread_condattr_destroy(&ca);
}

int
console_hash_slots(void)
{
	pthread_once(&console_gate_once, console_gate_init);
	return console_gate.slots;
}

int
console_hash_queue(void)
{
	pthread_once(&console_gate_once, console_gate_init);
	return console_gate.queue;
}

int
console_signin_workers(void)
{
	return console_hash_slots() + console_hash_queue();
}

int
console_hash_enter(void)
{
	struct timespec until;
	int r = 0, w = 0;

	pthread_once(&console_gate_once, console_gate_init);
	pthread_mutex_lock(&console_gate.lock);
	/* Waiters go first: a newcomer takes a free slot only if none wait. */
	if (console_gate.running >= console_gate.slots ||
	    console_gate.waiting > 0) {
		if (console_gate.waiting >= console_gate.queue) {
			r = LK_ERR_BUSY;
			goto out;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += CONSOLE_HASH_WAIT_MS / 1000;
		until.tv_nsec += (CONSOLE_HASH_WAIT_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		console_gate.waiting++;
		while (console_gate.running >= console_gate.slots && w == 0)
			w = pthread_cond_timedwait(&console_gate.cond,
			    &console_gate.lock, &until);
		console_gate.waiting--;
		if (console_gate.running >= console_gate.slots) {
			r = LK_ERR_BUSY;
			goto out;
		}
	}
	if (++console_gate.running > console_gate.running_max)
		console_gate.running_max = console_gate.running;
 out:
	if (r != 0)
		console_gate.busy++;
	pthread_mutex_unlock(&console_gate.lock);
	return r;
}

void
console_hash_leave(void)
{
	pthread_mutex_lock(&console_gate.lock);
	if (console_gate.running > 0)
		console_gate.running--;
	pthread_cond_signal(&console_gate.cond);
	pthread_mutex_unlock(&console_gate.lock);
}

void
console_hash_stats(struct console_hash_stats *st)
{
	pthread_once(&console_gate_once, console_gate_init);
	pthread_mutex_lock(&console_gate.lock);
	st->hashed = console_gate.hashed;
	st->busy = console_gate.busy;
	st->running = console_gate.running;
	st->running_max = console_gate.running_max;
	st->waiting = console_gate.waiting;
	pthread_mutex_unlock(&console_gate.lock);
}

static void
console_hash_counted(void)
{
	pthread_mutex_lock(&console_gate.lock);
	console_gate.hashed++;
	pthread_mutex_unlock(&console_gate.lock);
}

int
console_signin_verify(enum console_kind kind, const char *name,
    const char *secret, const char *client, enum console_limit_which *whichp)
{
	struct console_limit_ticket t;
	int64_t now = lkd_now();
	int r;

	if ((r = console_limit_reserve(client, kind, name, now, &t,
	    whichp)) != 0)
		return r;	/* full, or no database: nothing checked */
	console_limit_sweep(now);
	r = kind == CONSOLE_KIND_KEY ? console_key_verify(name, secret) :
	    console_operator_verify(name, secret);
	/*
	 * Success, or nothing checked (no hashing slot, no database): this
	 * attempt's reservation goes back.
	 */
	if (r == 0 || r == LK_ERR_BUSY || r == LK_ERR_UNAVAILABLE) {
		console_limit_giveback(&t);
		return r;
	}
	return LK_ERR_NOT_FOUND;
}
