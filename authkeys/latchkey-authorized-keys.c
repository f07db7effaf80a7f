/*
 * latchkey-authorized-keys: sshd's AuthorizedKeysCommand.
 *
 *	AuthorizedKeysCommand /usr/local/libexec/latchkey/latchkey-authorized-keys %u %f
 *	AuthorizedKeysCommandUser latchkey-authkeys
 *
 * Prints the user's unexpired keys from the key store, one per line, as
 * expiry-time="YYYYMMDDHHMMSSZ" <type> <base64>, so that sshd enforces
 * the lifetime a second time. With a SHA256 fingerprint (sshd's %f) it
 * opens only that key's record. It reads only, needs no network, keeps no
 * state and may run any number of times. Damaged or foreign records are
 * skipped and logged to syslog; any other error prints no key at all and
 * exits non-zero.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "sshkey.h"
#include "keystore.h"
#include "util.h"

#define AUTHKEYS_VERSION	"1.0.0"
/* Output for LK_STORE_MAX_PER_USER keys of the largest size fits easily. */
#define AUTHKEYS_OUT_MAX	(LK_STORE_MAX_PER_USER * (LK_SSHKEY_MAX_LINE + 64))

struct authkeys_out {
	char	*buf;
	size_t	 len;
	size_t	 count;
};

static int
authkeys_emit(const struct lk_record *rec, void *arg)
{
	struct authkeys_out *out = arg;
	char *line = NULL, when[32];
	struct tm tm;
	time_t t = (time_t)rec->not_after;
	size_t need;
	int r, n;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y%m%d%H%M%SZ", &tm) != 15)
		return LK_ERR_RANGE;
	if ((r = lk_sshkey_to_line(rec->key, 0, &line)) != 0)
		return r;
	need = strlen(line) + 32;
	if (out->len + need > AUTHKEYS_OUT_MAX) {
		free(line);
		return LK_ERR_TOO_LONG;
	}
	n = snprintf(out->buf + out->len, AUTHKEYS_OUT_MAX - out->len,
	    "expiry-time=\"%s\" %s\n", when, line);
	free(line);
	if (n < 0 || (size_t)n >= AUTHKEYS_OUT_MAX - out->len)
		return LK_ERR_TOO_LONG;
	out->len += (size_t)n;
	out->count++;
	return 0;
}

static int
authkeys_latest(const struct lk_record *rec, void *arg)
{
	int64_t *na = arg;

	if (rec->not_after > *na)
		*na = rec->not_after;
	return 0;
}

/*
 * The key looked up is in the store but expired by this clock: sshd is
 * told nothing, syslog why, with this clock's skew against latchkeyd's
 * when the agent wrote one (a skewed clock is the usual cause).
 */
static void
authkeys_expired(struct lk_store *store, const char *storepath,
    const char *user, const char *vuser, const char *fp,
    const unsigned char *dig, int64_t now)
{
	int64_t na = 0, skew;
	char sk[64] = "";

	if (lk_store_list(store, user, dig, 0, authkeys_latest, &na) != 0 ||
	    na == 0 || na > now)
		return;
	if (lk_store_skew_read(storepath, &skew) == 0)
		snprintf(sk, sizeof(sk), " clock_skew_s=%+lld%s",
		    (long long)(skew / 1000), skew / 1000 > 5 ||
		    skew / 1000 < -5 ? " cause=\"clock skew\"" : "");
	log_warnx("authkeys refuse user=%s fp=%s error=\"key expired by this "
	    "server's clock\" expired_s_ago=%lld%s", vuser, fp,
	    (long long)(now - na), sk);
}

static void
authkeys_usage(FILE *f)
{
	fprintf(f,
"usage: latchkey-authorized-keys [--store DIR] USER [FINGERPRINT]\n"
"\n"
"sshd's AuthorizedKeysCommand: prints USER's unexpired keys from the key\n"
"store (default %s) with their expiry-time. With a SHA256 fingerprint\n"
"(sshd's %%f) only that key is looked up.\n", LK_STORE_DEFAULT);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct authkeys_out out = { NULL, 0, 0 };
	struct lk_store *store = NULL;
	unsigned char dig[LK_SSHKEY_DIGEST_LEN], *digp = NULL;
	const char *storepath = LK_STORE_DEFAULT, *user;
	char vuser[4 * LK_USER_MAX + 8];
	int64_t now = (int64_t)time(NULL) + lk_test_clock_offset();
	int ch, r, status = 1;

	/* sshd discards stderr: syslog is where the reasons go. */
	log_init("latchkey-authorized-keys", LK_LOG_SYSLOG | LK_LOG_STDERR,
	    LOG_AUTH);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 's': storepath = optarg; break;
		case 'h': authkeys_usage(stdout); return 0;
		case 'V': printf("latchkey-authorized-keys %s\n",
			AUTHKEYS_VERSION); return 0;
		default: authkeys_usage(stderr); return 2;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		authkeys_usage(stderr);
		return 2;
	}
	user = argv[optind];
	lk_vis(vuser, sizeof(vuser), user, strlen(user));
	if (lk_user_valid(user) != 0) {
		log_warnx("authkeys refuse user=%s error=\"invalid user name\"",
		    vuser);
		return 1;
	}
	/* Other hash names (FingerprintHash md5) fall back to all keys. */
	if (argc - optind == 2 && lk_sshkey_fp_parse(argv[optind + 1], dig) == 0)
		digp = dig;
	if ((out.buf = malloc(AUTHKEYS_OUT_MAX)) == NULL)
		fatalx("out of memory");
	if ((r = lk_store_open(storepath, 0, &store)) != 0) {
		if (r == LK_ERR_NOT_FOUND) {
			status = 0;	/* no store yet: no keys */
			goto out;
		}
		log_warnx("authkeys store=%s error=\"%s\"", storepath, lk_err(r));
		goto out;
	}
	if ((r = lk_store_list(store, user, digp, now, authkeys_emit,
	    &out)) != 0) {
		log_warnx("authkeys user=%s error=\"%s\"", vuser, lk_err(r));
		goto out;
	}
	if (out.count == 0 && digp != NULL)
		authkeys_expired(store, storepath, user, vuser, argv[optind + 1],
		    digp, now);
	/* All or nothing: a partial write would be worse than none. */
	if (out.len > 0 && (fwrite(out.buf, 1, out.len, stdout) != out.len ||
	    fflush(stdout) != 0))
		goto out;
	status = 0;
 out:
	lk_store_close(store);
	free(out.buf);
	return status;
}
