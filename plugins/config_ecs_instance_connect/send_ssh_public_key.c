/*
 * send_ssh_public_key: validates one OpenSSH public key and stores it in
 * the key store for one login user for a short time (60 s by default),
 * during which sshd accepts it through latchkey-authorized-keys.
 *
 * Every input is checked before anything is written; any invalid input
 * gives one line on stderr, a distinct exit status and an unchanged store.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "sshkey.h"
#include "keystore.h"
#include "util.h"

#define SEND_TTL_DEFAULT	60
#define SEND_TTL_MIN		1
#define SEND_TTL_MAX		3600
#define SEND_VERSION		"1.0.0"

/* Exit statuses; documented in send_ssh_public_key(8). */
#define EXIT_USAGE		2
#define EXIT_BAD_USER		3
#define EXIT_NO_USER		4
#define EXIT_BAD_KEY		5
#define EXIT_BAD_TTL		6
#define EXIT_NOT_ROOT		7
#define EXIT_STORE		8

static void
send_usage(FILE *f)
{
	fprintf(f,
"usage: send_ssh_public_key --username USER --ssh-public-key KEY\n"
"                           [--ttl SECONDS] [--store DIR]\n"
"       send_ssh_public_key --purge-expired [--store DIR]\n"
"\n"
"Stores an OpenSSH public key for USER for a short time (default %d s);\n"
"sshd accepts it through latchkey-authorized-keys(8) until it expires.\n"
"\n"
"  -u, --username USER        login user (existing account, portable name)\n"
"  -k, --ssh-public-key KEY   one line: \"type base64 [comment]\"; types\n"
"                             ssh-ed25519, ecdsa-sha2-nistp256/384/521,\n"
"                             sk-ssh-ed25519@openssh.com,\n"
"                             sk-ecdsa-sha2-nistp256@openssh.com,\n"
"                             ssh-rsa (2048 bits or more)\n"
"  -t, --ttl SECONDS          lifetime, %d to %d (default %d)\n"
"  -s, --store DIR            key store (default %s)\n"
"      --purge-expired        remove expired and corrupt records\n"
"  -h, --help                 this help\n"
"  -V, --version              version\n"
"\n"
"Exit status: 0 stored, 2 usage, 3 invalid user name, 4 no such user,\n"
"5 invalid key, 6 invalid TTL, 7 not root, 8 key store error.\n",
	    SEND_TTL_DEFAULT, SEND_TTL_MIN, SEND_TTL_MAX, SEND_TTL_DEFAULT,
	    LK_STORE_DEFAULT);
}

static void __attribute__((noreturn))
send_die(int status, const char *what, int r)
{
	log_warnx("%s: %s", what, lk_err(r));
	exit(status);
}

static int
send_purge(const char *storepath)
{
	struct lk_store *store = NULL;
	size_t removed = 0;
	int r;

	if (geteuid() != 0) {
		log_warnx("must be run as root");
		return EXIT_NOT_ROOT;
	}
	if ((r = lk_store_open(storepath, LK_STORE_WRITE, &store)) != 0) {
		if (r == LK_ERR_NOT_FOUND) {
			printf("key store %s does not exist: nothing to do\n",
			    storepath);
			return 0;
		}
		send_die(EXIT_STORE, "cannot open key store", r);
	}
	if ((r = lk_store_purge(store, (int64_t)time(NULL), &removed)) != 0)
		send_die(EXIT_STORE, "purge failed", r);
	lk_store_close(store);
	log_info("store purge removed=%zu", removed);
	printf("removed %zu expired or corrupt record%s\n", removed,
	    removed == 1 ? "" : "s");
	return 0;
}

static int
send_store_key(const char *storepath, const char *user,
    const struct lk_sshkey *key, long long ttl)
{
	struct lk_store *store = NULL;
	struct lk_store_put_result res;
	char fp[LK_SSHKEY_FP_SIZE], when[64];
	int64_t now = (int64_t)time(NULL);
	int r;

	if ((r = lk_sshkey_fingerprint(key, fp)) != 0)
		send_die(EXIT_BAD_KEY, "invalid public key", r);
	if ((r = lk_store_open(storepath, LK_STORE_WRITE | LK_STORE_CREATE,
	    &store)) != 0)
		send_die(EXIT_STORE, "cannot open key store", r);
	if ((r = lk_store_put(store, user, key, now, ttl, &res)) != 0)
		send_die(EXIT_STORE, "cannot store key", r);
	lk_store_close(store);
	lk_time_iso(res.not_after, when, sizeof(when));
	/* syslog only: stdout gets the human line below. */
	log_init("send_ssh_public_key", LK_LOG_SYSLOG, LOG_AUTH);
	log_info("key stored user=%s type=%s fp=%s not_after=%s renewed=%d "
	    "expired_removed=%zu evicted=%zu", user, lk_sshkey_type_name(key),
	    fp, when, res.renewed, res.expired, res.evicted);
	printf("%s %s key %s for user %s until %s (%lld s)\n",
	    res.renewed ? "renewed" : "stored", lk_sshkey_type_name(key), fp,
	    user, when, ttl);
	if (res.evicted > 0)
		printf("removed %zu older key%s of %s (at most %d live keys "
		    "per user)\n", res.evicted, res.evicted == 1 ? "" : "s",
		    user, LK_STORE_MAX_PER_USER);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "username", required_argument, NULL, 'u' },
		{ "ssh-public-key", required_argument, NULL, 'k' },
		{ "ttl", required_argument, NULL, 't' },
		{ "store", required_argument, NULL, 's' },
		{ "purge-expired", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *keyarg = NULL, *ttlarg = NULL;
	const char *storepath = LK_STORE_DEFAULT, *root;
	char rootstore[4096];
	struct lk_sshkey *key = NULL;
	long long ttl = SEND_TTL_DEFAULT;
	int ch, purge = 0, r;

	log_init("send_ssh_public_key", LK_LOG_STDERR | LK_LOG_SYSLOG,
	    LOG_AUTH);
	/* The plug-in's scratch root (tests, demo): its store by default. */
	if ((root = getenv("LATCHKEY_ROOT")) != NULL && root[0] == '/' &&
	    strcmp(root, "/") != 0 && snprintf(rootstore, sizeof(rootstore),
	    "%s%s", root, LK_STORE_DEFAULT) < (int)sizeof(rootstore))
		storepath = rootstore;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+u:k:t:s:hV", opts,
	    NULL)) != -1) {
		const char **slot = NULL;

		switch (ch) {
		case 'u': slot = &user; break;
		case 'k': slot = &keyarg; break;
		case 't': slot = &ttlarg; break;
		case 's': storepath = optarg; break;
		case 'P': purge = 1; break;
		case 'h': send_usage(stdout); return 0;
		case 'V': printf("send_ssh_public_key %s\n", SEND_VERSION);
			return 0;
		default:
			log_warnx("unknown option or missing argument: %s "
			    "(see --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (slot != NULL) {
			if (*slot != NULL) {
				log_warnx("option %s given twice",
				    argv[optind - 2]);
				return EXIT_USAGE;
			}
			*slot = optarg;
		}
	}
	if (optind != argc) {
		log_warnx("unexpected argument (see --help)");
		return EXIT_USAGE;
	}
	if (purge) {
		if (user != NULL || keyarg != NULL || ttlarg != NULL) {
			log_warnx("--purge-expired takes only --store");
			return EXIT_USAGE;
		}
		return send_purge(storepath);
	}
	if (user == NULL || keyarg == NULL) {
		log_warnx("--username and --ssh-public-key are required "
		    "(see --help)");
		return EXIT_USAGE;
	}
	if (ttlarg != NULL && (r = lk_parse_ll(ttlarg, SEND_TTL_MIN,
	    SEND_TTL_MAX, &ttl)) != 0) {
		log_warnx("invalid --ttl: %s (whole seconds, %d to %d)",
		    lk_err(r), SEND_TTL_MIN, SEND_TTL_MAX);
		return EXIT_BAD_TTL;
	}
	if ((r = lk_user_lookup(user, NULL, NULL)) != 0) {
		char vis[4 * LK_USER_MAX + 8];

		lk_vis(vis, sizeof(vis), user, strlen(user));
		log_warnx("%s: \"%s\"", lk_err(r), vis);
		return r == LK_ERR_USER_INVALID ? EXIT_BAD_USER : EXIT_NO_USER;
	}
	if ((r = lk_sshkey_parse_line(keyarg, strlen(keyarg), &key)) != 0) {
		log_warnx("invalid public key: %s", lk_sshkey_why(keyarg, r));
		exit(EXIT_BAD_KEY);
	}
	if (geteuid() != 0) {
		log_warnx("must be run as root");
		lk_sshkey_free(key);
		return EXIT_NOT_ROOT;
	}
	r = send_store_key(storepath, user, key, ttl);
	lk_sshkey_free(key);
	return r;
}
