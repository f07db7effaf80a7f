/*
 * Shell sessions' recordings (docs/sessions.md, "Recording"): with
 * --record-shells, each shell session's output (what went to its client)
 * and its resizes are written as asciicast v2 (lib/cast.h) to
 * <statedir>/recordings/<session>.part (0600, the directory 0700) while it
 * runs, at most --record-max bytes (the recording stops there and says
 * so; the session goes on). At the session's end the file becomes
 * <session>.cast, or <session>.truncated.cast, and the uploader thread
 * sends it to latchkeyd (POST /agent/v1/recording/<session>, the body the
 * recording, "?truncated=1" for a truncated one) and deletes it once
 * latchkeyd has it.
 *
 * An upload that fails (latchkeyd down, 5xx, no answer) is tried again,
 * 0.5 s doubling to 20 s (+-50 %), for as long as it takes, across
 * restarts of the agent: the spool is read again at start, and a .part
 * left by an agent that died is closed at its last whole line and sent
 * too (marked truncated). One that latchkeyd refuses for good (400, 403,
 * 404, 413) is renamed <name>.refused and kept: never dropped silently,
 * it is logged and stays for the operator.
 *
 * The session's thread alone writes its recording; the uploader has its
 * own libcurl handle and thread.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cast.h"
#include "err.h"
#include "fsutil.h"
#include "util.h"

#define REC_SUFFIX		".cast"
#define REC_TRUNC_SUFFIX	".truncated.cast"
#define REC_PART_SUFFIX		".part"
#define REC_REFUSED_SUFFIX	".refused"
#define REC_UPLOAD_TIMEOUT_MS	120000L
#define REC_ID_MAX		47	/* a session id, as agent_sess.c */

struct agent_rec {
	char		id[REC_ID_MAX + 1];
	int		fd;
	struct lk_cast	cast;
};

static int rec_on;
static uint64_t rec_max = LK_CAST_MAX_DEFAULT;
static char rec_dir[PATH_MAX];
static struct agent_state rec_st;
static pthread_mutex_t rec_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rec_cv;
static unsigned int rec_kick;
static atomic_int rec_quit;
static int rec_running;
static pthread_t rec_thread;

int
agent_rec_config(int on, const char *max)
{
	long long v;

	if (max != NULL && lk_parse_ll(max, LK_CAST_MAX_MIN, LK_CAST_MAX_MAX,
	    &v) != 0)
		return LK_ERR_RANGE;
	if (max != NULL)
		rec_max = (uint64_t)v;
	rec_on = on;
	return 0;
}

int
agent_rec_enabled(void)
{
	return rec_on;
}

/* A session id as agent_sess.c takes it: s- and [0-9a-z]. */
static int
rec_id_valid(const char *id, size_t len)
{
	return len >= 3 && len <= REC_ID_MAX && strncmp(id, "s-", 2) == 0 &&
	    strspn(id + 2, "0123456789abcdefghijklmnopqrstuvwxyz") == len - 2;
}

struct agent_rec *
agent_rec_begin(const char *sid, int cols, int rows, int tty)
{
	struct agent_rec *r;
	char path[PATH_MAX + 64];
	int fd, e;

	if (!rec_on || rec_dir[0] == '\0' || !rec_id_valid(sid, strlen(sid)))
		return NULL;
	snprintf(path, sizeof(path), "%s/%s" REC_PART_SUFFIX, rec_dir, sid);
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) < 0) {
		agent_log(LOG_ERR, "recording", "start-failed", "session=%s "
		    "error=\"%s\"", sid, strerror(errno));
		free(r);
		return NULL;
	}
	snprintf(r->id, sizeof(r->id), "%s", sid);
	r->fd = fd;
	if ((e = lk_cast_open(&r->cast, fd, rec_max, cols, rows, tty ?
	    "xterm-256color" : "dumb", (int64_t)time(NULL),
	    lk_now_ms())) != 0) {
		agent_log(LOG_ERR, "recording", "start-failed", "session=%s "
		    "error=\"%s\"", sid, lk_err(e));
		close(fd);
		(void)unlink(path);
		free(r);
		return NULL;
	}
	agent_log(LOG_INFO, "recording", "start", "session=%s max=%llu", sid,
	    (unsigned long long)rec_max);
	return r;
}

void
agent_rec_output(struct agent_rec *r, const void *p, size_t n)
{
	int was;

	if (r == NULL)
		return;
	was = r->cast.truncated;
	lk_cast_output(&r->cast, lk_now_ms(), p, n);
	if (!was && r->cast.truncated)
		agent_log(LOG_WARNING, "recording", "truncated", "session=%s "
		    "bytes=%llu max=%llu", r->id,
		    (unsigned long long)r->cast.size,
		    (unsigned long long)r->cast.max);
}

void
agent_rec_resize(struct agent_rec *r, int cols, int rows)
{
	if (r != NULL)
		lk_cast_resize(&r->cast, lk_now_ms(), cols, rows);
}

/* Wakes the uploader. */
static void
rec_kick_uploader(void)
{
	pthread_mutex_lock(&rec_mtx);
	rec_kick++;
	pthread_cond_broadcast(&rec_cv);
	pthread_mutex_unlock(&rec_mtx);
}

void
agent_rec_end(struct agent_rec *r)
{
	char part[PATH_MAX + 64], done[PATH_MAX + 64];
	int trunc;

	if (r == NULL)
		return;
	lk_cast_close(&r->cast, lk_now_ms());
	trunc = r->cast.truncated;
	if (fsync(r->fd) != 0)
		agent_log(LOG_WARNING, "recording", "fsync-failed", "session=%s "
		    "error=\"%s\"", r->id, strerror(errno));
	close(r->fd);
	snprintf(part, sizeof(part), "%s/%s" REC_PART_SUFFIX, rec_dir, r->id);
	snprintf(done, sizeof(done), "%s/%s%s", rec_dir, r->id, trunc ?
	    REC_TRUNC_SUFFIX : REC_SUFFIX);
	if (rename(part, done) != 0)
		agent_log(LOG_ERR, "recording", "rename-failed", "session=%s "
		    "error=\"%s\"", r->id, strerror(errno));
	else
		agent_log(LOG_INFO, "recording", "done", "session=%s bytes=%llu "
		    "truncated=%d", r->id, (unsigned long long)r->cast.size,
		    trunc);
	free(r);
	rec_kick_uploader();
}

/* ---- the spool at start ------------------------------------------- */

/*
 * A .part left by an agent that died: cut after its last whole line and
 * renamed as a truncated recording (latchkeyd's check wants whole lines).
 */
static void
rec_recover(const char *name)
{
	char path[PATH_MAX + 64], done[PATH_MAX + 64], *buf = NULL;
	size_t len = 0, keep;
	char id[REC_ID_MAX + 1];
	size_t idlen = strlen(name) - strlen(REC_PART_SUFFIX);

	if (idlen > REC_ID_MAX)
		return;
	memcpy(id, name, idlen);
	id[idlen] = '\0';
	snprintf(path, sizeof(path), "%s/%s", rec_dir, name);
	snprintf(done, sizeof(done), "%s/%s" REC_TRUNC_SUFFIX, rec_dir, id);
	if (lk_fs_read(path, LK_CAST_MAX_MAX, &buf, &len) != 0) {
		agent_log(LOG_WARNING, "recording", "recover-failed", "file=%s",
		    name);
		return;
	}
	for (keep = len; keep > 0 && buf[keep - 1] != '\n'; keep--)
		;
	free(buf);
	if (keep == 0 || truncate(path, (off_t)keep) != 0 ||
	    rename(path, done) != 0) {
		agent_log(LOG_WARNING, "recording", "recover-failed", "file=%s",
		    name);
		return;
	}
	agent_log(LOG_WARNING, "recording", "recovered", "session=%s bytes=%zu",
	    id, keep);
}

static int
rec_has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

/* ---- the uploader ------------------------------------------------- */

/* The agent is stopping: an upload in progress ends (and stays spooled). */
static int
rec_abort(void)
{
	return atomic_load(&rec_quit);
}

/*
 * Sends the recording name (a file of the spool). Returns 0 when done
 * with (stored, or refused for good and kept aside), 1 to try again.
 */
static int
rec_upload(struct agent_http *h, const char *name)
{
	char path[PATH_MAX + 64], aside[PATH_MAX + 80], url[128], why[256];
	char id[REC_ID_MAX + 1], *body = NULL;
	int trunc = rec_has_suffix(name, REC_TRUNC_SUFFIX), r;
	size_t idlen = strlen(name) - strlen(trunc ? REC_TRUNC_SUFFIX :
	    REC_SUFFIX), len = 0;
	struct agent_resp resp;
	long s;

	if (idlen > REC_ID_MAX || !rec_id_valid(name, idlen))
		return 0;
	memcpy(id, name, idlen);
	id[idlen] = '\0';
	snprintf(path, sizeof(path), "%s/%s", rec_dir, name);
	if (lk_fs_read(path, LK_CAST_MAX_MAX, &body, &len) != 0) {
		agent_log(LOG_ERR, "recording", "read-failed", "session=%s",
		    id);
		return 1;
	}
	snprintf(url, sizeof(url), "/agent/v1/recording/%s%s", id, trunc ?
	    "?truncated=1" : "");
	r = agent_http_do(h, "POST", url, body, REC_UPLOAD_TIMEOUT_MS,
	    rec_abort, &resp);
	free(body);
	s = resp.status;
	agent_resp_error(&resp, why, sizeof(why));
	if (agent_resp_failover(r, &resp))
		(void)agent_http_failover(h);
	agent_resp_free(&resp);
	if (s >= 200 && s <= 299) {
		agent_http_ok(h);
		(void)unlink(path);
		agent_log(LOG_INFO, "recording", "uploaded", "session=%s "
		    "bytes=%zu truncated=%d", id, len, trunc);
		return 0;
	}
	if (s == 400 || s == 403 || s == 404 || s == 413) {
		snprintf(aside, sizeof(aside), "%s" REC_REFUSED_SUFFIX, path);
		(void)rename(path, aside);
		agent_log(LOG_ERR, "recording", "refused", "session=%s http=%ld "
		    "error=\"%s\" kept=%s" REC_REFUSED_SUFFIX, id, s, why, name);
		return 0;
	}
	agent_log(LOG_WARNING, "recording", "upload-failed", "session=%s "
	    "http=%ld error=\"%s\" bytes=%zu", id, s, why, len);
	return 1;
}

/* One pass over the spool: 1 when something is left to try again. */
static int
rec_pass(struct agent_http *h)
{
	struct dirent **names = NULL;
	int n, i, again = 0;

	if ((n = scandir(rec_dir, &names, NULL, alphasort)) < 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (!again && !rec_abort() && rec_has_suffix(names[i]->d_name,
		    REC_SUFFIX))
			again = rec_upload(h, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return again;
}

static void *
rec_main(void *arg)
{
	struct agent_http *h = arg;
	long backoff = 0, wait;
	long long end;
	unsigned int kick;
	int again;

	for (;;) {
		pthread_mutex_lock(&rec_mtx);
		kick = rec_kick;
		pthread_mutex_unlock(&rec_mtx);
		again = rec_pass(h);
		wait = again ? agent_round_wait(&backoff) : 3600 * 1000L;
		if (!again)
			backoff = 0;
		end = lk_now_ms() + wait;
		pthread_mutex_lock(&rec_mtx);
		while (!rec_abort() && rec_kick == kick && lk_now_ms() < end)
			agent_cond_wait(&rec_cv, &rec_mtx, end);
		if (rec_abort()) {
			pthread_mutex_unlock(&rec_mtx);
			break;
		}
		pthread_mutex_unlock(&rec_mtx);
	}
	agent_http_free(h);
	return NULL;
}

int
agent_rec_init(const char *statepath, const struct agent_state *st)
{
	struct dirent **names = NULL;
	struct agent_http *h = NULL;
	char spool[PATH_MAX];
	size_t n;
	int i, k;

	agent_cond_init(&rec_cv);
	if (agent_state_spooldir(statepath, spool, sizeof(spool)) != 0)
		return LK_ERR_TOO_LONG;
	/* <statedir>/spool -> <statedir>/recordings */
	n = strlen(spool) - strlen("spool");
	if ((size_t)snprintf(rec_dir, sizeof(rec_dir), "%.*srecordings",
	    (int)n, spool) >= sizeof(rec_dir))
		return LK_ERR_TOO_LONG;
	if (lk_fs_mkdirs(rec_dir, 0700) != 0 || chmod(rec_dir, 0700) != 0)
		return LK_ERR_SYSTEM;
	if ((k = scandir(rec_dir, &names, NULL, alphasort)) >= 0) {
		for (i = 0; i < k; i++) {
			if (rec_has_suffix(names[i]->d_name, REC_PART_SUFFIX))
				rec_recover(names[i]->d_name);
			free(names[i]);
		}
		free(names);
	}
	rec_st = *st;
	if (agent_http_new(&rec_st, 1, &h) != 0)
		return LK_ERR_SYSTEM;
	if (pthread_create(&rec_thread, NULL, rec_main, h) != 0) {
		agent_http_free(h);
		return LK_ERR_SYSTEM;
	}
	rec_running = 1;
	return 0;
}

void
agent_rec_stop(void)
{
	if (!rec_running)
		return;
	pthread_mutex_lock(&rec_mtx);
	atomic_store(&rec_quit, 1);
	pthread_cond_broadcast(&rec_cv);
	pthread_mutex_unlock(&rec_mtx);
	pthread_join(rec_thread, NULL);
	rec_running = 0;
	explicit_bzero(&rec_st, sizeof(rec_st));
}
