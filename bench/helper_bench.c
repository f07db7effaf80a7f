/*
 * helper_bench: the wall time of one latchkey-authorized-keys run, the
 * way sshd pays it on every login (at least twice): spawn the program,
 * read its standard output to EOF through a pipe, reap it.
 *
 *	helper_bench BUILD_BIN_DIR
 *
 * It builds three throw-away key stores under /run and times, for each
 * scenario, BENCH_N calls after BENCH_WARMUP discarded ones:
 *
 *	(a) the measured user's 1 key is the only key in the store;
 *	(b) the same key plus BENCH_OTHER_KEYS live keys of other users;
 *	(c) a user with LK_STORE_MAX_PER_USER live keys;
 *
 * with and without sshd's %f fingerprint argument, plus /bin/true spawned
 * the same way as the floor that no helper can go below, and the helper's
 * --version, which shows its start-up (exec, dynamic linking) alone, so
 * that the rest is what reading the store costs. Scenarios run
 * round-robin (one call of each in turn), so drift in the machine's load
 * spreads over all of them alike and (a) and (b) compare fairly.
 *
 * Every call is checked: exit status 0 and the expected number of key
 * lines, or the benchmark stops with exit status 1. Missing an aim is
 * reported, not an error. Must run as root (the store must be root-owned).
 * The stores are removed afterwards, also when a call fails.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "sshkey.h"
#include "keystore.h"

#define BENCH_N			1000	/* timed calls per scenario */
#define BENCH_WARMUP		100	/* discarded calls per scenario */
#define BENCH_OTHER_KEYS	10000	/* live keys of other users in (b) */
#define BENCH_OTHER_PER_USER	25	/* under LK_STORE_MAX_PER_USER */
#define BENCH_TTL		3600	/* longer than the whole run */
#define BENCH_OUT_MAX		(1024 * 1024)	/* output read per call */
#define BENCH_AIM_P50_MS	1.0	/* p50 aim for (a) and (b) */
#define BENCH_AIM_GROWTH	1.10	/* (b)/(a) p50 counted as no growth */
#define BENCH_USER		"lk-bench-a"
#define BENCH_USER_FULL		"lk-bench-c"
#define BENCH_HELPER		"latchkey-authorized-keys"
#define BENCH_TRUE		"/bin/true"
#define BENCH_ED25519_BLOB	51	/* string "ssh-ed25519" + string[32] */
#define BENCH_PATH_MAX		4096

/* The scenarios, in the order they run and print. */
enum bench_id {
	BENCH_FLOOR, BENCH_A_ALL, BENCH_A_FP, BENCH_B_ALL, BENCH_B_FP,
	BENCH_C_ALL, BENCH_C_FP, BENCH_VERSION, BENCH_NSCEN,
};

struct bench_scenario {
	const char	*label;
	char		*argv[6];
	size_t		 want_lines;	/* key lines the call must print */
	double		 ms[BENCH_N];
	double		 p50, p99, mean;
};

/* Everything main owns; freed by bench_free(). */
struct bench_ctx {
	char			 root[64];	/* /run/latchkey-bench.XXXXXX */
	char			 helper[BENCH_PATH_MAX];
	char			 store[3][BENCH_PATH_MAX];	/* a, b, c */
	char			 fp[LK_SSHKEY_FP_SIZE];	/* measured key */
	char			 fp_full[LK_SSHKEY_FP_SIZE];	/* one of (c) */
	struct bench_scenario	*scen;		/* BENCH_NSCEN of them */
};

/* A new ssh-ed25519 key with 32 random bytes: enough for our parser. */
static int
bench_random_key(struct lk_sshkey **keyp)
{
	static const unsigned char head[] = {
		0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1',
		'9', 0, 0, 0, 32,
	};
	unsigned char blob[BENCH_ED25519_BLOB];
	size_t off;
	ssize_t n;

	memcpy(blob, head, sizeof(head));
	for (off = sizeof(head); off < sizeof(blob); off += (size_t)n)
		if ((n = getrandom(blob + off, sizeof(blob) - off, 0)) <= 0)
			return LK_ERR_SYSTEM;
	return lk_sshkey_from_blob(blob, sizeof(blob), "ssh-ed25519", keyp);
}

/* Stores key for user; no key may be evicted (the counts must hold). */
static int
bench_put(struct lk_store *store, const char *user,
    const struct lk_sshkey *key, int64_t now)
{
	struct lk_store_put_result res;
	int r;

	if ((r = lk_store_put(store, user, key, now, BENCH_TTL, &res)) != 0)
		return r;
	return res.evicted == 0 && !res.renewed ? 0 : LK_ERR_INTERNAL;
}

/* Adds n random keys for user; *fp gets the last one's fingerprint. */
static int
bench_put_random(struct lk_store *store, const char *user, size_t n,
    int64_t now, char fp[LK_SSHKEY_FP_SIZE])
{
	struct lk_sshkey *key = NULL;
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		if ((r = bench_random_key(&key)) == 0 &&
		    (r = bench_put(store, user, key, now)) == 0 && fp != NULL)
			r = lk_sshkey_fingerprint(key, fp);
		lk_sshkey_free(key);
		key = NULL;
	}
	return r;
}

/*
 * Makes the three stores: (a) key alone, (b) key plus BENCH_OTHER_KEYS
 * keys of other users, (c) LK_STORE_MAX_PER_USER keys of one user.
 */
static int
bench_fill(struct bench_ctx *ctx)
{
	struct lk_store *st[3] = { NULL, NULL, NULL };
	struct lk_sshkey *key = NULL;
	int64_t now = (int64_t)time(NULL);
	char user[LK_USER_MAX + 1];
	size_t i;
	int r;

	for (i = 0; i < 3; i++)
		if ((r = lk_store_open(ctx->store[i],
		    LK_STORE_WRITE | LK_STORE_CREATE, &st[i])) != 0)
			goto out;
	if ((r = bench_random_key(&key)) != 0 ||
	    (r = lk_sshkey_fingerprint(key, ctx->fp)) != 0 ||
	    (r = bench_put(st[0], BENCH_USER, key, now)) != 0 ||
	    (r = bench_put(st[1], BENCH_USER, key, now)) != 0)
		goto out;
	for (i = 0; i < BENCH_OTHER_KEYS; i += BENCH_OTHER_PER_USER) {
		snprintf(user, sizeof(user), "lk-other-%05zu",
		    i / BENCH_OTHER_PER_USER);
		if ((r = bench_put_random(st[1], user, BENCH_OTHER_KEYS - i <
		    BENCH_OTHER_PER_USER ? BENCH_OTHER_KEYS - i :
		    BENCH_OTHER_PER_USER, now, NULL)) != 0)
			goto out;
	}
	r = bench_put_random(st[2], BENCH_USER_FULL, LK_STORE_MAX_PER_USER,
	    now, ctx->fp_full);
 out:
	lk_sshkey_free(key);
	for (i = 0; i < 3; i++)
		lk_store_close(st[i]);
	return r;
}

static double
bench_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Reads fd to EOF (at most BENCH_OUT_MAX bytes); counts newlines. */
static int
bench_drain(int fd, size_t *linesp)
{
	char buf[8192];
	size_t total = 0;
	ssize_t n, i;

	*linesp = 0;
	while (total <= BENCH_OUT_MAX) {
		if ((n = read(fd, buf, sizeof(buf))) == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return LK_ERR_SYSTEM;
		if (n == 0)
			return 0;
		total += (size_t)n;
		for (i = 0; i < n; i++)
			*linesp += buf[i] == '\n';
	}
	return LK_ERR_TOO_LONG;
}

/*
 * One call as sshd makes it: stdin and stderr on /dev/null, stdout to a
 * pipe read to EOF, a minimal environment. *msp is the wall time from
 * before the pipe is made until the child is reaped.
 */
static int
bench_call(struct bench_scenario *s, double *msp)
{
	static char *envp[] = { "PATH=/usr/bin:/bin", "LANG=C", NULL };
	posix_spawn_file_actions_t fa;
	struct timespec t0;
	size_t lines = 0;
	pid_t pid = -1;
	int p[2] = { -1, -1 }, status, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pipe2(p, O_CLOEXEC) == -1)
		return LK_ERR_SYSTEM;
	posix_spawn_file_actions_init(&fa);
	if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, p[1], 1) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
	    O_WRONLY, 0) != 0 ||
	    (errno = posix_spawn(&pid, s->argv[0], &fa, NULL, s->argv,
	    envp)) != 0) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	close(p[1]);
	p[1] = -1;
	r = bench_drain(p[0], &lines);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			r = LK_ERR_SYSTEM;
			goto out;
		}
	*msp = bench_ms_since(&t0);
	if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    lines != s->want_lines)) {
		fprintf(stderr, "helper_bench: %s: %s exited with status %d "
		    "and printed %zu lines, wanted status 0 and %zu lines\n",
		    s->label, s->argv[0], WIFEXITED(status) ?
		    WEXITSTATUS(status) : 128 + WTERMSIG(status), lines,
		    s->want_lines);
		r = LK_ERR_INTERNAL;
	}
 out:
	posix_spawn_file_actions_destroy(&fa);
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	return r;
}

/* A call of prog with at most one argument (arg may be NULL). */
static void
bench_add_prog(struct bench_ctx *ctx, enum bench_id id, const char *label,
    const char *prog, const char *arg, size_t want_lines)
{
	struct bench_scenario *s = &ctx->scen[id];

	s->label = label;
	s->want_lines = want_lines;
	s->argv[0] = (char *)(uintptr_t)prog;
	s->argv[1] = (char *)(uintptr_t)arg;
	s->argv[2] = NULL;
}

/* A helper call as sshd makes it: --store STORE USER [FINGERPRINT]. */
static void
bench_add(struct bench_ctx *ctx, enum bench_id id, const char *label,
    const char *store, const char *user, const char *fp, size_t want_lines)
{
	struct bench_scenario *s = &ctx->scen[id];

	s->label = label;
	s->want_lines = want_lines;
	s->argv[0] = ctx->helper;
	s->argv[1] = (char *)(uintptr_t)"--store";
	s->argv[2] = (char *)(uintptr_t)store;
	s->argv[3] = (char *)(uintptr_t)user;
	s->argv[4] = (char *)(uintptr_t)fp;
	s->argv[5] = NULL;
}

static void
bench_scenarios(struct bench_ctx *ctx)
{
	bench_add_prog(ctx, BENCH_FLOOR, "/bin/true (process-spawn floor)",
	    BENCH_TRUE, NULL, 0);
	bench_add(ctx, BENCH_A_ALL, "(a) 1 key in store, all keys",
	    ctx->store[0], BENCH_USER, NULL, 1);
	bench_add(ctx, BENCH_A_FP, "(a) 1 key in store, by fingerprint",
	    ctx->store[0], BENCH_USER, ctx->fp, 1);
	bench_add(ctx, BENCH_B_ALL, "(b) 10,000 others + 1, all keys",
	    ctx->store[1], BENCH_USER, NULL, 1);
	bench_add(ctx, BENCH_B_FP, "(b) 10,000 others + 1, by fingerprint",
	    ctx->store[1], BENCH_USER, ctx->fp, 1);
	bench_add(ctx, BENCH_C_ALL, "(c) user with 32 keys, all keys",
	    ctx->store[2], BENCH_USER_FULL, NULL, LK_STORE_MAX_PER_USER);
	bench_add(ctx, BENCH_C_FP, "(c) user with 32 keys, by fingerprint*",
	    ctx->store[2], BENCH_USER_FULL, ctx->fp_full, 1);
	bench_add_prog(ctx, BENCH_VERSION, "helper --version (start-up only)*",
	    ctx->helper, "--version", 1);
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles and the mean of s->ms (sorted in place). */
static void
bench_stats(struct bench_scenario *s)
{
	double sum = 0;
	size_t i;

	qsort(s->ms, BENCH_N, sizeof(s->ms[0]), bench_cmp_double);
	for (i = 0; i < BENCH_N; i++)
		sum += s->ms[i];
	s->p50 = s->ms[(size_t)ceil(0.50 * BENCH_N) - 1];
	s->p99 = s->ms[(size_t)ceil(0.99 * BENCH_N) - 1];
	s->mean = sum / BENCH_N;
}

/* Warm-up, then BENCH_N rounds of one call per scenario. */
static int
bench_measure(struct bench_ctx *ctx)
{
	double ms;
	size_t round, i;
	int r;

	for (round = 0; round < BENCH_WARMUP + BENCH_N; round++) {
		for (i = 0; i < BENCH_NSCEN; i++) {
			if ((r = bench_call(&ctx->scen[i], &ms)) != 0)
				return r;
			if (round >= BENCH_WARMUP)
				ctx->scen[i].ms[round - BENCH_WARMUP] = ms;
		}
	}
	for (i = 0; i < BENCH_NSCEN; i++)
		bench_stats(&ctx->scen[i]);
	return 0;
}

static const char *
bench_verdict(int met)
{
	return met ? "aim met" : "aim missed";
}

static void
bench_report(const struct bench_ctx *ctx)
{
	const struct bench_scenario *s = ctx->scen;
	double floor = s[BENCH_FLOOR].p50, worst = 0, g_all, g_fp;
	size_t i;

	printf("%-42s %6s %9s %9s %9s\n", "scenario", "calls", "p50 ms",
	    "p99 ms", "mean ms");
	for (i = 0; i < BENCH_NSCEN; i++)
		printf("%-42s %6d %9.3f %9.3f %9.3f\n", s[i].label, BENCH_N,
		    s[i].p50, s[i].p99, s[i].mean);
	printf("* extra rows: the fingerprint path with a full user; the "
	    "helper's start-up\n  (exec, dynamic linking) without opening "
	    "the store.\n\n");
	for (i = BENCH_A_ALL; i <= BENCH_B_FP; i++)
		worst = s[i].p50 > worst ? s[i].p50 : worst;
	printf("helper p50 above spawn floor: (a) %+.3f ms, (b) %+.3f ms, "
	    "(c) %+.3f ms\n", s[BENCH_A_ALL].p50 - floor,
	    s[BENCH_B_ALL].p50 - floor, s[BENCH_C_ALL].p50 - floor);
	printf("  of which start-up (--version - floor) %+.3f ms, reading the "
	    "store ((a) - --version) %+.3f ms\n",
	    s[BENCH_VERSION].p50 - floor,
	    s[BENCH_A_ALL].p50 - s[BENCH_VERSION].p50);
	printf("p50 < %.1f ms for (a) and (b): worst %.3f ms: %s\n",
	    BENCH_AIM_P50_MS, worst, bench_verdict(worst < BENCH_AIM_P50_MS));
	g_all = s[BENCH_B_ALL].p50 / s[BENCH_A_ALL].p50;
	g_fp = s[BENCH_B_FP].p50 / s[BENCH_A_FP].p50;
	printf("no growth (a) -> (b), p50 ratio <= %.2f: all keys %.3f, "
	    "by fingerprint %.3f: %s\n", BENCH_AIM_GROWTH, g_all, g_fp,
	    bench_verdict(g_all <= BENCH_AIM_GROWTH &&
	    g_fp <= BENCH_AIM_GROWTH));
}

static int
bench_rm_one(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) == -1 ? -1 : 0;
	return unlink(path) == -1 ? -1 : 0;
}

/* Removes the scratch root and everything in it; no symlinks followed. */
static void
bench_free(struct bench_ctx *ctx)
{
	if (ctx->root[0] != '\0' && nftw(ctx->root, bench_rm_one, 16,
	    FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "helper_bench: cannot remove %s: %s\n",
		    ctx->root, strerror(errno));
	free(ctx->scen);
}

static int
bench_setup(struct bench_ctx *ctx, const char *bindir)
{
	static const char *names[3] = { "a", "b", "c" };
	size_t i;
	int n;

	n = snprintf(ctx->helper, sizeof(ctx->helper), "%s/%s", bindir,
	    BENCH_HELPER);
	if (n < 0 || (size_t)n >= sizeof(ctx->helper))
		return LK_ERR_TOO_LONG;
	if (access(ctx->helper, X_OK) == -1) {
		fprintf(stderr, "helper_bench: %s: %s\n", ctx->helper,
		    strerror(errno));
		return LK_ERR_NOT_FOUND;
	}
	snprintf(ctx->root, sizeof(ctx->root), "/run/latchkey-bench.XXXXXX");
	if (mkdtemp(ctx->root) == NULL) {
		ctx->root[0] = '\0';
		return LK_ERR_SYSTEM;
	}
	if (chmod(ctx->root, 0755) == -1)
		return LK_ERR_SYSTEM;
	for (i = 0; i < 3; i++)
		snprintf(ctx->store[i], sizeof(ctx->store[i]), "%s/%s",
		    ctx->root, names[i]);
	if ((ctx->scen = calloc(BENCH_NSCEN, sizeof(*ctx->scen))) == NULL)
		return LK_ERR_ALLOC;
	return 0;
}

int
main(int argc, char **argv)
{
	struct bench_ctx ctx;
	struct timespec t0;
	int r;

	memset(&ctx, 0, sizeof(ctx));
	if (argc != 2) {
		fprintf(stderr, "usage: helper_bench BUILD_BIN_DIR\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "helper_bench: must run as root\n");
		return 2;
	}
	if ((r = bench_setup(&ctx, argv[1])) != 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = bench_fill(&ctx)) != 0)
		goto out;
	printf("helper_bench: %s\nstores filled in %.1f s under %s; "
	    "%d warm-up + %d timed calls per scenario, round-robin\n\n",
	    ctx.helper, bench_ms_since(&t0) / 1e3, ctx.root, BENCH_WARMUP,
	    BENCH_N);
	bench_scenarios(&ctx);
	if ((r = bench_measure(&ctx)) != 0)
		goto out;
	bench_report(&ctx);
 out:
	if (r != 0)
		fprintf(stderr, "helper_bench: failed: %s\n", lk_err(r));
	bench_free(&ctx);
	return r == 0 ? 0 : 1;
}
