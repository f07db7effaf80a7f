/*
 * lib/keystore: the on-disk key store. Every case gets a fresh store under
 * a root-owned 0755 scratch directory in /run (the tests run as root), so
 * ownership, modes and symlinks can be checked for real.
 */
#include "unit.h"

#include <dirent.h>

#include "err.h"
#include "record.h"
#include "sshkey.h"
#include "keystore.h"

#include "keys.h"

#define TTL	3600

struct sctx {
	char		 root[64];	/* /run/lk-unit.XXXXXX, 0755 */
	char		 path[128];	/* root/keys: the store */
	struct lk_store	*store;		/* opened for writing */
};

static int
setup(void **state)
{
	struct sctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	snprintf(c->root, sizeof(c->root), "/run/lk-unit.XXXXXX");
	if (mkdtemp(c->root) == NULL || chmod(c->root, 0755) == -1)
		goto fail;
	snprintf(c->path, sizeof(c->path), "%s/keys", c->root);
	if (lk_store_open(c->path, LK_STORE_WRITE | LK_STORE_CREATE,
	    &c->store) != 0)
		goto fail;
	*state = c;
	return 0;
 fail:
	t_rm_rf(c->root);
	free(c);
	return -1;
}

static int
teardown(void **state)
{
	struct sctx *c = *state;

	lk_store_close(c->store);
	t_rm_rf(c->root);
	free(c);
	return 0;
}

/* A distinct ed25519 key for each i (ed25519 points are not checked). */
static struct lk_sshkey *
mkkey(unsigned int i)
{
	struct tbuf b = { NULL, 0, 0 };
	struct lk_sshkey *k;
	unsigned char pk[32];

	memset(pk, 0xab, sizeof(pk));
	pk[0] = (unsigned char)(i >> 24);
	pk[1] = (unsigned char)(i >> 16);
	pk[2] = (unsigned char)(i >> 8);
	pk[3] = (unsigned char)i;
	tbuf_cstring(&b, "ssh-ed25519");
	tbuf_string(&b, pk, sizeof(pk));
	assert_int_equal(lk_sshkey_from_blob(b.p, b.len, "ssh-ed25519", &k),
	    0);
	tbuf_free(&b);
	return k;
}

static void
keyhex(const struct lk_sshkey *k, char hex[LK_SSHKEY_HEX_SIZE])
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];

	assert_int_equal(lk_sshkey_digest(k, dig), 0);
	lk_sshkey_hex(dig, hex);
}

/* root/keys/user[/key's hex] in a new string. */
static char *
rpath(struct sctx *c, const char *user, const struct lk_sshkey *k)
{
	char hex[LK_SSHKEY_HEX_SIZE], *s;

	if (k == NULL)
		assert_true(asprintf(&s, "%s/%s", c->path, user) > 0);
	else {
		keyhex(k, hex);
		assert_true(asprintf(&s, "%s/%s/%s", c->path, user, hex) > 0);
	}
	return s;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
put(struct sctx *c, const char *user, const struct lk_sshkey *k,
    int64_t now, int64_t ttl, struct lk_store_put_result *res)
{
	struct lk_store_put_result dummy;

	assert_int_equal(lk_store_put(c->store, user, k, now, ttl,
	    res ? res : &dummy), 0);
}

/* What lk_store_list reported. */
#define MAXREC	64
struct coll {
	int	 n;
	int	 stop_after;	/* return 7 after this many, if > 0 */
	struct {
		char		 user[LK_USER_MAX + 1];
		int64_t		 created;
		int64_t		 not_after;
		char		 hex[LK_SSHKEY_HEX_SIZE];
		char		*line;
	} r[MAXREC];
};

static int
collect(const struct lk_record *rec, void *arg)
{
	struct coll *co = arg;

	assert_true(co->n < MAXREC);
	snprintf(co->r[co->n].user, sizeof(co->r[co->n].user), "%s",
	    rec->user);
	co->r[co->n].created = rec->created;
	co->r[co->n].not_after = rec->not_after;
	keyhex(rec->key, co->r[co->n].hex);
	assert_int_equal(lk_sshkey_to_line(rec->key, 1, &co->r[co->n].line),
	    0);
	co->n++;
	if (co->stop_after > 0 && co->n >= co->stop_after)
		return 7;
	return 0;
}

static void
coll_free(struct coll *co)
{
	int i;

	for (i = 0; i < co->n; i++)
		free(co->r[i].line);
	memset(co, 0, sizeof(*co));
}

/* Lists user (all keys, or only k) at now into co; returns the result. */
static int
list(struct sctx *c, const char *user, const struct lk_sshkey *k,
    int64_t now, struct coll *co)
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];

	coll_free(co);
	if (k != NULL)
		assert_int_equal(lk_sshkey_digest(k, dig), 0);
	return lk_store_list(c->store, user, k ? dig : NULL, now, collect, co);
}

static int
coll_has(const struct coll *co, const struct lk_sshkey *k)
{
	char hex[LK_SSHKEY_HEX_SIZE];
	int i;

	keyhex(k, hex);
	for (i = 0; i < co->n; i++)
		if (strcmp(co->r[i].hex, hex) == 0)
			return 1;
	return 0;
}

/* Writes a file as root with mode, like a record. */
static void
plant(const char *path, const void *data, size_t len, mode_t mode)
{
	t_write_file(path, data, len, mode);
	assert_int_equal(chown(path, 0, 0), 0);
}

/* ---- put and list ---- */

static void
test_put_then_list(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k = mkkey(1);
	struct coll co = { 0 };
	char hex[LK_SSHKEY_HEX_SIZE], *f;
	struct stat st;

	memset(&res, 0x55, sizeof(res));
	put(c, "alice", k, 1000, 60, &res);
	assert_int_equal(res.renewed, 0);
	assert_int_equal(res.expired, 0);
	assert_int_equal(res.evicted, 0);
	assert_true(res.not_after == 1060);

	assert_int_equal(list(c, "alice", NULL, 1000, &co), 0);
	assert_int_equal(co.n, 1);
	assert_string_equal(co.r[0].user, "alice");
	assert_true(co.r[0].created == 1000);
	assert_true(co.r[0].not_after == 1060);
	keyhex(k, hex);
	assert_string_equal(co.r[0].hex, hex);

	/* The record is root-owned 0640 in a root-owned 0750 directory. */
	f = rpath(c, "alice", k);
	assert_int_equal(lstat(f, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(f);
	f = rpath(c, "alice", NULL);
	assert_int_equal(lstat(f, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(count_entries(f), 1);
	free(f);
	assert_int_equal(lstat(c->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);

	/* Other users see nothing. */
	assert_int_equal(list(c, "bob", NULL, 1000, &co), 0);
	assert_int_equal(co.n, 0);
	coll_free(&co);
	lk_sshkey_free(k);
}

/* Real keys of every type survive the store unchanged. */
static void
test_put_every_key_type(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *k[TK_RSA1024];
	struct coll co = { 0 };
	char *line;
	int i;

	for (i = 0; i < TK_RSA1024; i++) {
		assert_int_equal(lk_sshkey_parse_line(tkeys[i].line,
		    strlen(tkeys[i].line), &k[i]), 0);
		put(c, "alice", k[i], 1000 + i, TTL, NULL);
	}
	assert_int_equal(list(c, "alice", NULL, 1000, &co), 0);
	assert_int_equal(co.n, TK_RSA1024);
	for (i = 0; i < TK_RSA1024; i++) {
		assert_int_equal(list(c, "alice", k[i], 1000, &co), 0);
		assert_int_equal(co.n, 1);
		assert_int_equal(lk_sshkey_to_line(k[i], 1, &line), 0);
		assert_string_equal(co.r[0].line, line);
		assert_string_equal(co.r[0].line, tkeys[i].line);
		free(line);
		lk_sshkey_free(k[i]);
	}
	coll_free(&co);
}

static void
test_list_expiry_boundary(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *k = mkkey(1);
	struct coll co = { 0 };

	put(c, "alice", k, 1000, 60, NULL);
	assert_int_equal(list(c, "alice", NULL, 1059, &co), 0);
	assert_int_equal(co.n, 1);
	assert_int_equal(list(c, "alice", NULL, 1060, &co), 0);
	assert_int_equal(co.n, 0);
	assert_int_equal(list(c, "alice", k, 1059, &co), 0);
	assert_int_equal(co.n, 1);
	assert_int_equal(list(c, "alice", k, 1060, &co), 0);
	assert_int_equal(co.n, 0);
	assert_int_equal(list(c, "alice", NULL, 5000, &co), 0);
	assert_int_equal(co.n, 0);
	coll_free(&co);
	lk_sshkey_free(k);
}

static void
test_renew_same_key(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k = mkkey(1);
	struct coll co = { 0 };
	char *d = rpath(c, "alice", NULL);

	put(c, "alice", k, 1000, 60, &res);
	assert_int_equal(res.renewed, 0);
	put(c, "alice", k, 1030, 60, &res);
	assert_int_equal(res.renewed, 1);
	assert_int_equal(res.evicted, 0);
	assert_int_equal(res.expired, 0);
	assert_true(res.not_after == 1090);
	assert_int_equal(count_entries(d), 1);
	assert_int_equal(list(c, "alice", NULL, 1075, &co), 0);
	assert_int_equal(co.n, 1);
	assert_true(co.r[0].created == 1030);
	assert_true(co.r[0].not_after == 1090);

	/* Pushing again after expiry is a new key, not a renewal. */
	put(c, "alice", k, 2000, 60, &res);
	assert_int_equal(res.renewed, 0);
	assert_int_equal(res.expired, 1);
	assert_int_equal(count_entries(d), 1);
	coll_free(&co);
	lk_sshkey_free(k);
	free(d);
}

/* ---- the per-user cap ---- */

static void
test_cap_evicts_oldest(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k[LK_STORE_MAX_PER_USER + 2];
	struct coll co = { 0 };
	char *d = rpath(c, "alice", NULL), *f;
	unsigned int i;

	for (i = 0; i < LK_STORE_MAX_PER_USER + 2; i++)
		k[i] = mkkey(i);
	for (i = 0; i < LK_STORE_MAX_PER_USER; i++) {
		put(c, "alice", k[i], 1000 + i, 100000, &res);
		assert_int_equal(res.evicted, 0);
	}
	assert_int_equal(count_entries(d), LK_STORE_MAX_PER_USER);

	put(c, "alice", k[LK_STORE_MAX_PER_USER], 2000, 100000, &res);
	assert_int_equal(res.evicted, 1);
	assert_int_equal(count_entries(d), LK_STORE_MAX_PER_USER);
	f = rpath(c, "alice", k[0]);
	assert_false(exists(f));
	free(f);
	f = rpath(c, "alice", k[1]);
	assert_true(exists(f));
	free(f);

	put(c, "alice", k[LK_STORE_MAX_PER_USER + 1], 2001, 100000, &res);
	assert_int_equal(res.evicted, 1);
	f = rpath(c, "alice", k[1]);
	assert_false(exists(f));
	free(f);

	assert_int_equal(list(c, "alice", NULL, 2001, &co), 0);
	assert_int_equal(co.n, LK_STORE_MAX_PER_USER);
	assert_false(coll_has(&co, k[0]));
	assert_false(coll_has(&co, k[1]));
	for (i = 2; i < LK_STORE_MAX_PER_USER + 2; i++)
		assert_true(coll_has(&co, k[i]));

	/* Renewing a live key at the cap evicts nothing. */
	put(c, "alice", k[5], 2002, 100000, &res);
	assert_int_equal(res.renewed, 1);
	assert_int_equal(res.evicted, 0);
	assert_int_equal(count_entries(d), LK_STORE_MAX_PER_USER);

	coll_free(&co);
	for (i = 0; i < LK_STORE_MAX_PER_USER + 2; i++)
		lk_sshkey_free(k[i]);
	free(d);
}

/* "Oldest" is by creation time, not by the order of the pushes. */
static void
test_cap_evicts_by_created_time(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k[LK_STORE_MAX_PER_USER + 1];
	char *f;
	unsigned int i;

	for (i = 0; i <= LK_STORE_MAX_PER_USER; i++)
		k[i] = mkkey(100 + i);
	for (i = 0; i < LK_STORE_MAX_PER_USER; i++)
		put(c, "alice", k[i], 5000 - i, 100000, NULL);
	put(c, "alice", k[LK_STORE_MAX_PER_USER], 6000, 100000, &res);
	assert_int_equal(res.evicted, 1);
	f = rpath(c, "alice", k[LK_STORE_MAX_PER_USER - 1]);	/* 4969 */
	assert_false(exists(f));
	free(f);
	f = rpath(c, "alice", k[0]);
	assert_true(exists(f));
	free(f);
	for (i = 0; i <= LK_STORE_MAX_PER_USER; i++)
		lk_sshkey_free(k[i]);
}

/* Within one second, the first pushed goes first. */
static void
test_cap_same_second_oldest_push(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k[LK_STORE_MAX_PER_USER + 1];
	char *f;
	unsigned int i;

	for (i = 0; i <= LK_STORE_MAX_PER_USER; i++)
		k[i] = mkkey(1000 + i);
	for (i = 0; i < LK_STORE_MAX_PER_USER; i++)
		put(c, "alice", k[i], 7000, 100000, NULL);
	put(c, "alice", k[LK_STORE_MAX_PER_USER], 7000, 100000, &res);
	assert_int_equal(res.evicted, 1);
	f = rpath(c, "alice", k[0]);
	assert_false(exists(f));
	free(f);
	for (i = 1; i <= LK_STORE_MAX_PER_USER; i++) {
		f = rpath(c, "alice", k[i]);
		assert_true(exists(f));
		free(f);
	}
	for (i = 0; i <= LK_STORE_MAX_PER_USER; i++)
		lk_sshkey_free(k[i]);
}

/* The cap is per user: other users' keys do not count. */
static void
test_cap_is_per_user(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k;
	unsigned int i;

	for (i = 0; i < LK_STORE_MAX_PER_USER; i++) {
		k = mkkey(i);
		put(c, "alice", k, 1000 + i, 100000, NULL);
		put(c, "bob", k, 1000 + i, 100000, NULL);
		lk_sshkey_free(k);
	}
	k = mkkey(500);
	put(c, "carol", k, 2000, 100000, &res);
	assert_int_equal(res.evicted, 0);
	lk_sshkey_free(k);
}

/* ---- expiry and purge ---- */

static void
test_expired_removed_on_put(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *a = mkkey(1), *b = mkkey(2), *x = mkkey(3);
	char *fa = rpath(c, "alice", a), *fb = rpath(c, "alice", b);
	char *fx = rpath(c, "bob", x);

	put(c, "alice", a, 1000, 10, NULL);
	put(c, "bob", x, 1000, 10, NULL);
	put(c, "alice", b, 1005, 10, &res);
	assert_int_equal(res.expired, 0);
	assert_true(exists(fa));
	put(c, "alice", b, 2000, 10, &res);
	assert_int_equal(res.expired, 2);	/* a, and b's old record */
	assert_int_equal(res.renewed, 0);
	assert_false(exists(fa));
	assert_true(exists(fb));
	assert_true(exists(fx));		/* other users: untouched */
	/* Expired means not-after <= now. */
	put(c, "alice", a, 3000, 60, &res);
	assert_int_equal(res.expired, 1);	/* b */
	put(c, "alice", x, 3059, 60, &res);
	assert_int_equal(res.expired, 0);
	assert_true(exists(fa));
	put(c, "alice", x, 3060, 60, &res);
	assert_int_equal(res.expired, 1);	/* a */
	assert_int_equal(res.renewed, 1);
	assert_false(exists(fa));
	lk_sshkey_free(a);
	lk_sshkey_free(b);
	lk_sshkey_free(x);
	free(fa);
	free(fb);
	free(fx);
}

static void
test_purge(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *a = mkkey(1), *b = mkkey(2), *x = mkkey(3);
	struct lk_sshkey *junk = mkkey(4), *gw = mkkey(5), *sl = mkkey(6);
	char *fa = rpath(c, "alice", a), *fb = rpath(c, "alice", b);
	char *fx = rpath(c, "bob", x), *fj = rpath(c, "alice", junk);
	char *fg = rpath(c, "alice", gw), *fs = rpath(c, "alice", sl);
	char *other, *buf;
	size_t removed = 99, len;

	put(c, "alice", a, 1000, 10, NULL);
	put(c, "alice", b, 1000, 1000, NULL);
	put(c, "bob", x, 1000, 10, NULL);
	put(c, "alice", gw, 1000, 10, NULL);
	plant(fj, "garbage\n", 8, 0640);
	assert_int_equal(chmod(fg, 0660), 0);	/* unsafe: not ours */
	assert_int_equal(symlink(fb, fs), 0);
	assert_true(asprintf(&other, "%s/alice/README", c->path) > 0);
	plant(other, "hi\n", 3, 0640);

	assert_int_equal(lk_store_purge(c->store, 1500, &removed), 0);
	assert_int_equal(removed, 3);		/* a, x, junk */
	assert_false(exists(fa));
	assert_false(exists(fx));
	assert_false(exists(fj));
	assert_true(exists(fb));
	assert_true(exists(fg));
	assert_true(exists(fs));
	assert_true(exists(other));
	buf = t_read_file(fb, &len);
	assert_non_null(strstr(buf, "not-after 2000\n"));
	free(buf);

	/* Nothing left to do. */
	assert_int_equal(lk_store_purge(c->store, 1500, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(lk_store_purge(c->store, 3000, &removed), 0);
	assert_int_equal(removed, 1);		/* b */

	free(other);
	lk_sshkey_free(a);
	lk_sshkey_free(b);
	lk_sshkey_free(x);
	lk_sshkey_free(junk);
	lk_sshkey_free(gw);
	lk_sshkey_free(sl);
	free(fa);
	free(fb);
	free(fx);
	free(fj);
	free(fg);
	free(fs);
}

/* ---- what list skips ---- */

/* alice has a and b; the case then spoils b's file with spoil(). */
static void
check_list_skips(struct sctx *c, void (*spoil)(struct sctx *,
    const struct lk_sshkey *, const struct lk_sshkey *))
{
	struct lk_sshkey *a = mkkey(1), *b = mkkey(2);
	struct coll co = { 0 };

	put(c, "alice", a, 1000, TTL, NULL);
	put(c, "alice", b, 1000, TTL, NULL);
	spoil(c, a, b);
	assert_int_equal(list(c, "alice", NULL, 1000, &co), 0);
	assert_int_equal(co.n, 1);
	assert_true(coll_has(&co, a));
	assert_int_equal(list(c, "alice", b, 1000, &co), 0);
	assert_int_equal(co.n, 0);
	assert_int_equal(list(c, "alice", a, 1000, &co), 0);
	assert_int_equal(co.n, 1);
	coll_free(&co);
	lk_sshkey_free(a);
	lk_sshkey_free(b);
}

static void
spoil_corrupt(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b), *buf;
	size_t len;

	(void)a;
	buf = t_read_file(fb, &len);
	buf[len - 2] = '!';		/* the key's base64 */
	plant(fb, buf, len, 0640);
	free(buf);
	free(fb);
}

static void
spoil_truncate(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b), *buf;
	size_t len;

	(void)a;
	buf = t_read_file(fb, &len);
	plant(fb, buf, len - 1, 0640);	/* no final newline */
	free(buf);
	free(fb);
}

static void
spoil_wrong_user(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b), *fbob = rpath(c, "bob", b), *buf;
	size_t len;

	(void)a;
	/* b's record as bob wrote it, placed in alice's directory. */
	put(c, "bob", b, 1000, TTL, NULL);
	buf = t_read_file(fbob, &len);
	assert_non_null(strstr(buf, "\nuser bob\n"));
	plant(fb, buf, len, 0640);
	free(buf);
	free(fb);
	free(fbob);
}

static void
spoil_wrong_name(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fa = rpath(c, "alice", a), *fb = rpath(c, "alice", b), *buf;
	size_t len;

	/* b's file now holds a's record: its name is not its key's digest. */
	buf = t_read_file(fa, &len);
	plant(fb, buf, len, 0640);
	free(buf);
	free(fa);
	free(fb);
}

static void
spoil_symlink(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b), *elsewhere, *buf;
	size_t len;

	(void)a;
	/* A valid record of b, but reached through a symlink. */
	assert_true(asprintf(&elsewhere, "%s/elsewhere", c->root) > 0);
	buf = t_read_file(fb, &len);
	plant(elsewhere, buf, len, 0640);
	assert_int_equal(unlink(fb), 0);
	assert_int_equal(symlink(elsewhere, fb), 0);
	free(buf);
	free(elsewhere);
	free(fb);
}

static void
spoil_group_writable(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b);

	(void)a;
	assert_int_equal(chmod(fb, 0660), 0);
	free(fb);
}

static void
spoil_other_writable(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b);

	(void)a;
	assert_int_equal(chmod(fb, 0642), 0);
	free(fb);
}

static void
spoil_not_root_owned(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b);

	(void)a;
	assert_int_equal(chown(fb, 65534, 0), 0);
	free(fb);
}

static void
spoil_fifo(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b);

	(void)a;
	assert_int_equal(unlink(fb), 0);
	assert_int_equal(mkfifo(fb, 0600), 0);	/* must not block */
	free(fb);
}

static void
spoil_oversized(struct sctx *c, const struct lk_sshkey *a,
    const struct lk_sshkey *b)
{
	char *fb = rpath(c, "alice", b), *buf;
	size_t len;

	(void)a;
	/* A valid record followed by padding past LK_RECORD_MAX. */
	buf = t_read_file(fb, &len);
	assert_non_null(buf = realloc(buf, LK_RECORD_MAX + 10));
	memset(buf + len, '\n', LK_RECORD_MAX + 10 - len);
	plant(fb, buf, LK_RECORD_MAX + 10, 0640);
	free(buf);
	free(fb);
}

static void
test_list_skips_corrupt(void **state)
{
	check_list_skips(*state, spoil_corrupt);
	check_list_skips(*state, spoil_truncate);
	check_list_skips(*state, spoil_oversized);
}

static void
test_list_skips_wrong_user(void **state)
{
	check_list_skips(*state, spoil_wrong_user);
}

/*
 * The reader does not hash records (that would load OpenSSL into the sshd
 * helper): a record under another key's name still prints only the one
 * well-formed key it holds, and sshd compares it with the key offered.
 * The writer does hash: a purge removes such a record, and a put of the
 * key whose name it took replaces it.
 */
static void
test_wrong_name_reader_and_writer(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *a = mkkey(1), *b = mkkey(2);
	struct coll co = { 0 };
	size_t removed = 0;

	put(c, "alice", a, 1000, TTL, NULL);
	put(c, "alice", b, 1000, TTL, NULL);
	spoil_wrong_name(c, a, b);
	assert_int_equal(list(c, "alice", b, 1000, &co), 0);
	assert_int_equal(co.n, 1);
	assert_true(coll_has(&co, a));		/* a's key, not b's */
	assert_false(coll_has(&co, b));
	assert_int_equal(lk_store_purge(c->store, 1000, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(list(c, "alice", NULL, 1000, &co), 0);
	assert_int_equal(co.n, 1);
	assert_true(coll_has(&co, a));
	coll_free(&co);
	lk_sshkey_free(a);
	lk_sshkey_free(b);
}

/* A TTL past year 9999 is refused before anything happens (no overflow). */
static void
test_put_ttl_overflow(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *a = mkkey(1), *b = mkkey(2);
	struct lk_store_put_result res;
	struct coll co = { 0 };

	put(c, "alice", a, 1000, 10, NULL);
	assert_int_equal(lk_store_put(c->store, "alice", b, 1000, INT64_MAX,
	    &res), LK_ERR_RANGE);
	assert_int_equal(lk_store_put(c->store, "alice", b, 2000,
	    LK_RECORD_TIME_MAX, &res), LK_ERR_RANGE);
	/* The failed puts removed nothing: a's record, though expired at
	 * 2000, is still there (only a successful put tidies). */
	assert_int_equal(list(c, "alice", NULL, 1005, &co), 0);
	assert_int_equal(co.n, 1);
	assert_true(coll_has(&co, a));
	coll_free(&co);
	lk_sshkey_free(a);
	lk_sshkey_free(b);
}

static void
test_list_skips_symlink(void **state)
{
	check_list_skips(*state, spoil_symlink);
}

static void
test_list_skips_writable_by_others(void **state)
{
	check_list_skips(*state, spoil_group_writable);
	check_list_skips(*state, spoil_other_writable);
	check_list_skips(*state, spoil_not_root_owned);
}

static void
test_list_skips_special_files(void **state)
{
	check_list_skips(*state, spoil_fifo);
}

/* Names that are not 64 lower-case hex digits are not records. */
static void
test_list_ignores_other_names(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *a = mkkey(1);
	struct coll co = { 0 };
	char *fa = rpath(c, "alice", a), *buf, *copy;
	size_t len, i;

	put(c, "alice", a, 1000, TTL, NULL);
	buf = t_read_file(fa, &len);
	assert_non_null(copy = strdup(fa));
	for (i = strlen(copy) - 64; copy[i] != '\0'; i++)
		if (copy[i] >= 'a' && copy[i] <= 'f')
			copy[i] = (char)(copy[i] - 'a' + 'A');
	if (strcmp(copy, fa) != 0)
		plant(copy, buf, len, 0640);	/* upper case */
	copy[strlen(copy) - 1] = '\0';
	plant(copy, buf, len, 0640);		/* 63 digits */
	assert_int_equal(list(c, "alice", NULL, 1000, &co), 0);
	assert_int_equal(co.n, 1);
	coll_free(&co);
	free(copy);
	free(buf);
	free(fa);
	lk_sshkey_free(a);
}

/* ---- symlinks and unsafe directories ---- */

/* A symlink planted as the user's directory: refused, nothing written. */
static void
test_user_dir_symlink(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k = mkkey(1);
	struct coll co = { 0 };
	char *ud = rpath(c, "alice", NULL), *elsewhere;
	size_t removed;

	assert_true(asprintf(&elsewhere, "%s/elsewhere", c->root) > 0);
	assert_int_equal(mkdir(elsewhere, 0750), 0);
	assert_int_equal(symlink(elsewhere, ud), 0);
	assert_int_equal(lk_store_put(c->store, "alice", k, 1000, TTL, &res),
	    LK_ERR_UNSAFE);
	assert_int_equal(count_entries(elsewhere), 0);
	assert_int_equal(list(c, "alice", NULL, 1000, &co), LK_ERR_UNSAFE);
	assert_int_equal(co.n, 0);
	assert_int_equal(list(c, "alice", k, 1000, &co), LK_ERR_UNSAFE);
	assert_int_equal(lk_store_purge(c->store, 1000, &removed), 0);
	assert_int_equal(removed, 0);

	/* A dangling one is not "missing": nothing is created. */
	assert_int_equal(unlink(ud), 0);
	assert_int_equal(symlink("/nonexistent/lk-unit", ud), 0);
	assert_int_equal(lk_store_put(c->store, "alice", k, 1000, TTL, &res),
	    LK_ERR_UNSAFE);
	assert_false(exists("/nonexistent/lk-unit"));
	free(elsewhere);
	free(ud);
	coll_free(&co);
	lk_sshkey_free(k);
}

static void
test_user_dir_unsafe(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k = mkkey(1), *k2 = mkkey(2);
	struct coll co = { 0 };
	char *ud = rpath(c, "alice", NULL), *f2 = rpath(c, "alice", k2);

	put(c, "alice", k, 1000, TTL, NULL);
	assert_int_equal(chmod(ud, 0770), 0);
	assert_int_equal(lk_store_put(c->store, "alice", k2, 1000, TTL, &res),
	    LK_ERR_UNSAFE);
	assert_false(exists(f2));
	assert_int_equal(list(c, "alice", NULL, 1000, &co), LK_ERR_UNSAFE);
	assert_int_equal(co.n, 0);
	assert_int_equal(chmod(ud, 0750), 0);
	assert_int_equal(chown(ud, 65534, 0), 0);
	assert_int_equal(lk_store_put(c->store, "alice", k2, 1000, TTL, &res),
	    LK_ERR_UNSAFE);
	assert_false(exists(f2));
	assert_int_equal(list(c, "alice", NULL, 1000, &co), LK_ERR_UNSAFE);
	/* A file where the directory should be. */
	assert_int_equal(chown(ud, 0, 0), 0);
	t_rm_rf(ud);
	plant(ud, "x", 1, 0640);
	assert_int_equal(lk_store_put(c->store, "alice", k2, 1000, TTL, &res),
	    LK_ERR_UNSAFE);
	coll_free(&co);
	free(ud);
	free(f2);
	lk_sshkey_free(k);
	lk_sshkey_free(k2);
}

/* A symlink at the record's own name: refused, its target untouched. */
static void
test_target_symlink(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k = mkkey(1), *other = mkkey(2);
	char *f = rpath(c, "alice", k), *victim, *buf;
	struct stat st;
	size_t len;

	put(c, "alice", other, 1000, TTL, NULL);	/* makes the dir */
	assert_true(asprintf(&victim, "%s/victim", c->root) > 0);
	plant(victim, "precious\n", 9, 0644);
	assert_int_equal(symlink(victim, f), 0);
	assert_int_equal(lk_store_put(c->store, "alice", k, 1000, TTL, &res),
	    LK_ERR_UNSAFE);
	assert_int_equal(lstat(f, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	buf = t_read_file(victim, &len);
	assert_string_equal(buf, "precious\n");
	free(buf);
	assert_int_equal(lstat(victim, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* A directory or a FIFO there is refused too. */
	assert_int_equal(unlink(f), 0);
	assert_int_equal(mkdir(f, 0700), 0);
	assert_int_equal(lk_store_put(c->store, "alice", k, 1000, TTL, &res),
	    LK_ERR_UNSAFE);
	assert_int_equal(rmdir(f), 0);
	assert_int_equal(mkfifo(f, 0600), 0);
	assert_int_equal(lk_store_put(c->store, "alice", k, 1000, TTL, &res),
	    LK_ERR_UNSAFE);
	/* No temporary file was left behind. */
	buf = rpath(c, "alice", NULL);
	assert_int_equal(count_entries(buf), 2);	/* other, FIFO */
	free(buf);
	free(victim);
	free(f);
	lk_sshkey_free(k);
	lk_sshkey_free(other);
}

/* An unsafe record at the target name is replaced by a good one. */
static void
test_put_replaces_unsafe_record(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k = mkkey(1);
	char *f = rpath(c, "alice", k);
	struct stat st;

	put(c, "alice", k, 1000, TTL, NULL);
	assert_int_equal(chmod(f, 0666), 0);
	assert_int_equal(chown(f, 65534, 65534), 0);
	put(c, "alice", k, 1001, TTL, &res);
	assert_int_equal(res.renewed, 0);	/* the old one was not trusted */
	assert_int_equal(lstat(f, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 0);
	free(f);
	lk_sshkey_free(k);
}

static void
test_put_removes_leftover_temp(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *k = mkkey(1), *k2 = mkkey(2);
	char *ud = rpath(c, "alice", NULL), *tmp;

	put(c, "alice", k, 1000, TTL, NULL);
	assert_true(asprintf(&tmp, "%s/.tmp.deadbeef.1", ud) > 0);
	plant(tmp, "partial", 7, 0600);
	put(c, "alice", k2, 1000, TTL, NULL);
	assert_false(exists(tmp));
	assert_int_equal(count_entries(ud), 2);
	free(tmp);
	free(ud);
	lk_sshkey_free(k);
	lk_sshkey_free(k2);
}

/* ---- opening the store ---- */

static int
open_err(const char *path, int flags)
{
	struct lk_store *s = (struct lk_store *)1;
	int r = lk_store_open(path, flags, &s);

	if (r != 0)
		assert_null(s);
	lk_store_close(s);
	return r;
}

static void
test_store_dir_unsafe(void **state)
{
	struct sctx *c = *state;
	struct stat st;

	assert_int_equal(open_err(c->path, 0), 0);
	assert_int_equal(chown(c->path, 65534, 0), 0);
	assert_int_equal(open_err(c->path, 0), LK_ERR_UNSAFE);
	assert_int_equal(open_err(c->path, LK_STORE_WRITE), LK_ERR_UNSAFE);
	/* The writer did not "fix" a store it refused. */
	assert_int_equal(lstat(c->path, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(chown(c->path, 0, 0), 0);

	assert_int_equal(chmod(c->path, 0770), 0);
	assert_int_equal(open_err(c->path, 0), LK_ERR_UNSAFE);
	assert_int_equal(open_err(c->path, LK_STORE_WRITE), LK_ERR_UNSAFE);
	assert_int_equal(chmod(c->path, 0757), 0);
	assert_int_equal(open_err(c->path, 0), LK_ERR_UNSAFE);
	/* Sticky is fine for ancestors, not for the store itself. */
	assert_int_equal(chmod(c->path, 01777), 0);
	assert_int_equal(open_err(c->path, 0), LK_ERR_UNSAFE);
	assert_int_equal(chmod(c->path, 0755), 0);
	assert_int_equal(open_err(c->path, 0), 0);
	/* Opening for writing sets 0750. */
	assert_int_equal(open_err(c->path, LK_STORE_WRITE), 0);
	assert_int_equal(lstat(c->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
}

static void
test_store_ancestors_checked(void **state)
{
	struct sctx *c = *state;
	char *deep, *mid;

	assert_int_equal(chmod(c->root, 0775), 0);
	assert_int_equal(open_err(c->path, 0), LK_ERR_UNSAFE);
	assert_int_equal(chmod(c->root, 0757), 0);
	assert_int_equal(open_err(c->path, LK_STORE_WRITE), LK_ERR_UNSAFE);
	assert_int_equal(chmod(c->root, 0755), 0);
	assert_int_equal(chown(c->root, 65534, 0), 0);
	assert_int_equal(open_err(c->path, 0), LK_ERR_UNSAFE);
	assert_int_equal(chown(c->root, 0, 0), 0);
	/* A sticky, world-writable ancestor like /tmp is accepted. */
	assert_int_equal(chmod(c->root, 01777), 0);
	assert_int_equal(open_err(c->path, 0), 0);
	assert_int_equal(chmod(c->root, 0755), 0);

	/* Deeper down too, and with LK_STORE_CREATE. */
	assert_true(asprintf(&mid, "%s/a", c->root) > 0);
	assert_true(asprintf(&deep, "%s/a/b/keys", c->root) > 0);
	assert_int_equal(open_err(deep, LK_STORE_WRITE | LK_STORE_CREATE), 0);
	assert_int_equal(chmod(mid, 0777), 0);
	assert_int_equal(open_err(deep, 0), LK_ERR_UNSAFE);
	assert_int_equal(chmod(mid, 0755), 0);
	assert_int_equal(chown(mid, 65534, 65534), 0);
	assert_int_equal(open_err(deep, 0), LK_ERR_UNSAFE);
	free(mid);
	free(deep);
}

static void
test_store_path_symlinks(void **state)
{
	struct sctx *c = *state;
	char *alias, *via, *store_link, *file;

	assert_true(asprintf(&store_link, "%s/link", c->root) > 0);
	assert_int_equal(symlink(c->path, store_link), 0);
	assert_int_equal(open_err(store_link, 0), LK_ERR_UNSAFE);
	assert_int_equal(open_err(store_link, LK_STORE_WRITE |
	    LK_STORE_CREATE), LK_ERR_UNSAFE);

	assert_true(asprintf(&alias, "%s/alias", c->root) > 0);
	assert_int_equal(symlink(c->root, alias), 0);
	assert_true(asprintf(&via, "%s/keys", alias) > 0);
	assert_int_equal(open_err(via, 0), LK_ERR_UNSAFE);

	assert_true(asprintf(&file, "%s/file", c->root) > 0);
	plant(file, "x", 1, 0644);
	assert_int_equal(open_err(file, 0), LK_ERR_UNSAFE);
	free(via);
	assert_true(asprintf(&via, "%s/keys", file) > 0);
	assert_int_equal(open_err(via, LK_STORE_CREATE), LK_ERR_UNSAFE);
	free(via);
	free(file);
	free(alias);
	free(store_link);
}

static void
test_store_open_paths(void **state)
{
	struct sctx *c = *state;
	char *p;
	struct stat st;

	assert_int_equal(open_err("run/keys", 0), LK_ERR_INVALID_FORMAT);
	assert_int_equal(open_err("", 0), LK_ERR_INVALID_FORMAT);
	assert_true(asprintf(&p, "%s/../%s/keys", c->root,
	    strrchr(c->root, '/') + 1) > 0);
	assert_int_equal(open_err(p, 0), LK_ERR_INVALID_FORMAT);
	free(p);
	assert_true(asprintf(&p, "%s/./keys", c->root) > 0);
	assert_int_equal(open_err(p, 0), LK_ERR_INVALID_FORMAT);
	free(p);
	assert_true(asprintf(&p, "%s//keys/", c->root) > 0);
	assert_int_equal(open_err(p, 0), 0);
	free(p);

	assert_true(asprintf(&p, "%s/missing", c->root) > 0);
	assert_int_equal(open_err(p, 0), LK_ERR_NOT_FOUND);
	assert_int_equal(open_err(p, LK_STORE_WRITE), LK_ERR_NOT_FOUND);
	assert_false(exists(p));
	assert_int_equal(open_err(p, LK_STORE_WRITE | LK_STORE_CREATE), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	free(p);
}

/* ---- reading ---- */

static void
test_list_with_digest_reads_only_that_key(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *a = mkkey(1), *b = mkkey(2), *junk = mkkey(3);
	struct lk_sshkey *missing = mkkey(4);
	struct coll co = { 0 };
	struct tcatch tc;
	char *fj = rpath(c, "alice", junk), *out;

	put(c, "alice", a, 1000, TTL, NULL);
	put(c, "alice", b, 1000, TTL, NULL);
	plant(fj, "garbage\n", 8, 0640);

	/* With a digest only that file is opened: no complaint about junk. */
	t_stderr_begin(&tc);
	assert_int_equal(list(c, "alice", a, 1000, &co), 0);
	out = t_stderr_end(&tc);
	assert_int_equal(co.n, 1);
	assert_true(coll_has(&co, a));
	assert_string_equal(out, "");
	free(out);

	t_stderr_begin(&tc);
	assert_int_equal(list(c, "alice", missing, 1000, &co), 0);
	out = t_stderr_end(&tc);
	assert_int_equal(co.n, 0);
	assert_string_equal(out, "");
	free(out);

	/* Without one, every record is read and the junk is reported. */
	t_stderr_begin(&tc);
	assert_int_equal(list(c, "alice", NULL, 1000, &co), 0);
	out = t_stderr_end(&tc);
	assert_int_equal(co.n, 2);
	assert_non_null(strstr(out, "store skip user=alice"));
	free(out);

	coll_free(&co);
	free(fj);
	lk_sshkey_free(a);
	lk_sshkey_free(b);
	lk_sshkey_free(junk);
	lk_sshkey_free(missing);
}

/* Many keys of other users change nothing for alice. */
static void
test_other_users_do_not_matter(void **state)
{
	struct sctx *c = *state;
	struct lk_sshkey *a = mkkey(1), *k;
	struct coll one = { 0 }, many = { 0 };
	char user[16];
	unsigned int i;

	put(c, "alice", a, 1000, TTL, NULL);
	assert_int_equal(list(c, "alice", NULL, 1000, &one), 0);
	assert_int_equal(one.n, 1);

	for (i = 0; i < 300; i++) {
		snprintf(user, sizeof(user), "user%u", i % 150);
		k = mkkey(10 + i);
		put(c, user, k, 1000, TTL, NULL);
		lk_sshkey_free(k);
	}
	/* Including one that pushed alice's very key. */
	put(c, "bob", a, 1000, TTL, NULL);

	assert_int_equal(list(c, "alice", NULL, 1000, &many), 0);
	assert_int_equal(many.n, one.n);
	assert_string_equal(many.r[0].user, one.r[0].user);
	assert_string_equal(many.r[0].hex, one.r[0].hex);
	assert_string_equal(many.r[0].line, one.r[0].line);
	assert_true(many.r[0].created == one.r[0].created);
	assert_true(many.r[0].not_after == one.r[0].not_after);
	assert_int_equal(list(c, "alice", a, 1000, &many), 0);
	assert_int_equal(many.n, 1);
	assert_string_equal(many.r[0].line, one.r[0].line);
	coll_free(&one);
	coll_free(&many);
	lk_sshkey_free(a);
}

static void
test_list_callback_stops(void **state)
{
	struct sctx *c = *state;
	struct coll co = { 0 };
	struct lk_sshkey *k;
	unsigned int i;
	int r;

	for (i = 0; i < 5; i++) {
		k = mkkey(i);
		put(c, "alice", k, 1000, TTL, NULL);
		lk_sshkey_free(k);
	}
	co.stop_after = 2;
	r = lk_store_list(c->store, "alice", NULL, 1000, collect, &co);
	assert_int_equal(r, 7);
	assert_int_equal(co.n, 2);
	coll_free(&co);
}

static void
test_invalid_users(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_sshkey *k = mkkey(1);
	struct coll co = { 0 };
	static const char *bad[] = { "../etc", "..", ".", "", "-x", "a/b",
	    "a b", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(lk_store_put(c->store, bad[i], k, 1000, TTL,
		    &res), LK_ERR_USER_INVALID);
		assert_int_equal(list(c, bad[i], NULL, 1000, &co),
		    LK_ERR_USER_INVALID);
	}
	assert_int_equal(count_entries(c->path), 0);
	assert_int_equal(count_entries(c->root), 1);
	/* A valid user without a directory has no keys. */
	assert_int_equal(list(c, "nobody-here", NULL, 1000, &co), 0);
	assert_int_equal(co.n, 0);
	coll_free(&co);
	lk_sshkey_free(k);
}

static void
test_put_preconditions(void **state)
{
	struct sctx *c = *state;
	struct lk_store_put_result res;
	struct lk_store *ro;
	struct lk_sshkey *k = mkkey(1);
	size_t removed;

	assert_int_equal(lk_store_put(c->store, "alice", k, 1000, 0, &res),
	    LK_ERR_INTERNAL);
	assert_int_equal(lk_store_put(c->store, "alice", k, 1000, -5, &res),
	    LK_ERR_INTERNAL);
	assert_int_equal(lk_store_open(c->path, 0, &ro), 0);
	assert_int_equal(lk_store_put(ro, "alice", k, 1000, TTL, &res),
	    LK_ERR_INTERNAL);
	assert_int_equal(lk_store_purge(ro, 1000, &removed), LK_ERR_INTERNAL);
	lk_store_close(ro);
	assert_int_equal(count_entries(c->path), 0);
	lk_sshkey_free(k);
}

/* A reader opened without LK_STORE_WRITE sees what the writer put. */
static void
test_reader_handle(void **state)
{
	struct sctx *c = *state;
	struct lk_store *ro;
	struct lk_sshkey *k = mkkey(1);
	struct coll co = { 0 };
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];

	put(c, "alice", k, 1000, TTL, NULL);
	assert_int_equal(lk_store_open(c->path, 0, &ro), 0);
	assert_int_equal(lk_sshkey_digest(k, dig), 0);
	assert_int_equal(lk_store_list(ro, "alice", dig, 1000, collect, &co),
	    0);
	assert_int_equal(co.n, 1);
	lk_store_close(ro);
	lk_store_close(NULL);
	coll_free(&co);
	lk_sshkey_free(k);
}

/* The agent's clock-skew file beside the store: its form, or nothing. */
static void
test_skew_file(void **state)
{
	static const struct { const char *text; int r; int64_t skew; } v[] = {
		{ "skew_ms=120034\nmeasured=1\n", 0, 120034 },
		{ "skew_ms=-30000\n", 0, -30000 },
		{ "skew_ms=\n", LK_ERR_INVALID_FORMAT, 0 },
		{ "skew_ms=12x\n", LK_ERR_INVALID_FORMAT, 0 },
		{ "skew_ms=12", LK_ERR_INVALID_FORMAT, 0 },
		{ "skew_ms=99999999999999999999999\n", LK_ERR_INVALID_FORMAT, 0 },
		{ "skew=1\n", LK_ERR_INVALID_FORMAT, 0 },
		{ "", LK_ERR_INVALID_FORMAT, 0 },
	};
	struct sctx *c = *state;
	char file[192];
	int64_t skew;
	size_t i;
	int fd;

	assert_int_equal(lk_store_skew_read(c->path, &skew), LK_ERR_NOT_FOUND);
	snprintf(file, sizeof(file), "%s/%s", c->root, LK_CLOCK_FILE);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_true((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC,
		    0644)) >= 0);
		assert_int_equal(write(fd, v[i].text, strlen(v[i].text)),
		    (ssize_t)strlen(v[i].text));
		close(fd);
		skew = 7;
		assert_int_equal(lk_store_skew_read(c->path, &skew), v[i].r);
		assert_int_equal(skew, v[i].skew);
	}
	/* A symlink is not followed. */
	unlink(file);
	assert_int_equal(symlink("/etc/hostname", file), 0);
	assert_int_equal(lk_store_skew_read(c->path, &skew), LK_ERR_NOT_FOUND);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_put_then_list),
		T(test_skew_file),
		T(test_put_every_key_type),
		T(test_list_expiry_boundary),
		T(test_renew_same_key),
		T(test_cap_evicts_oldest),
		T(test_cap_evicts_by_created_time),
		T(test_cap_same_second_oldest_push),
		T(test_cap_is_per_user),
		T(test_expired_removed_on_put),
		T(test_purge),
		T(test_list_skips_corrupt),
		T(test_list_skips_wrong_user),
		T(test_wrong_name_reader_and_writer),
		T(test_put_ttl_overflow),
		T(test_list_skips_symlink),
		T(test_list_skips_writable_by_others),
		T(test_list_skips_special_files),
		T(test_list_ignores_other_names),
		T(test_user_dir_symlink),
		T(test_user_dir_unsafe),
		T(test_target_symlink),
		T(test_put_replaces_unsafe_record),
		T(test_put_removes_leftover_temp),
		T(test_store_dir_unsafe),
		T(test_store_ancestors_checked),
		T(test_store_path_symlinks),
		T(test_store_open_paths),
		T(test_list_with_digest_reads_only_that_key),
		T(test_other_users_do_not_matter),
		T(test_list_callback_stops),
		T(test_invalid_users),
		T(test_put_preconditions),
		T(test_reader_handle),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
