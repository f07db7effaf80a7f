/*
 * The audit trail (docs/audit.md): events built and stored, chained
 * (store_audit.c, audit_line.c); the JSON-lines file sink with its
 * persistent cursor; verify of the database or of a file.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "err.h"
#include "latchkeyd.h"
#include "log.h"
#include "store.h"

#define AUDIT_SINK_TICK_MS	200
#define AUDIT_EXPORT_BATCH	1000

int audit_off;

/* The client address of the request this thread runs. */
static __thread const char *audit_source;

static void audit_sink_wake(void);

void
audit_set_source(const char *addr)
{
	audit_source = addr;
}

const char *
audit_source_get(void)
{
	return audit_source != NULL ? audit_source : "-";
}

/* "2026-12-05T06:09:00.123Z" for now, on the database's clock. */
static void
audit_time(char *buf, size_t size, int64_t *secp)
{
	struct timespec ts;
	struct tm tm;
	int64_t ms;
	time_t t;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    store_clock_offset() * 1000;
	t = (time_t)(ms / 1000);
	*secp = (int64_t)t;
	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000));
}

static const char *
audit_actor_name(enum audit_actor a)
{
	switch (a) {
	case AUDIT_ACTOR_KEY:		return "access_key_id";
	case AUDIT_ACTOR_OPERATOR:	return "operator";
	case AUDIT_ACTOR_AGENT:		return "agent";
	case AUDIT_ACTOR_ADMIN:		return "admin";
	default:			return "anonymous";
	}
}

json_t *
audit_str(const char *s)
{
	char vis[4 * AUDIT_STR_MAX + 1];
	size_t n = strnlen(s, AUDIT_STR_MAX + 1);
	json_t *j;

	if (n <= AUDIT_STR_MAX && (j = json_string(s)) != NULL)
		return j;
	lk_vis(vis, sizeof(vis), s, n > AUDIT_STR_MAX ? AUDIT_STR_MAX : n);
	return json_string(vis);
}

/* The actor column's prefix (DescribeAuditEvents filters on it). */
const char *
audit_actor_column(enum audit_actor a)
{
	switch (a) {
	case AUDIT_ACTOR_KEY:		return "key";
	case AUDIT_ACTOR_OPERATOR:	return "operator";
	case AUDIT_ACTOR_AGENT:		return "agent";
	case AUDIT_ACTOR_ADMIN:		return "admin";
	default:			return "none";
	}
}

struct audit_make {
	const struct audit_ev	*ev;
	const char		*time;
	const char		*source;
};

/* The event's object, members in the documented order, "prev" last. */
static int
audit_make_cb(void *arg, int64_t seq, const char *prev, char **linep,
    char hash[65])
{
	struct audit_make *m = arg;
	const struct audit_ev *ev = m->ev;
	json_t *o, *actor, *target;
	int r = LK_ERR_ALLOC;

	o = json_object();
	actor = json_object();
	target = json_object();
	if (o == NULL || actor == NULL || target == NULL)
		goto out;
	if (json_object_set_new(actor, audit_actor_name(ev->actor_type),
	    audit_str(ev->actor ? ev->actor : "")) != 0 ||
	    (ev->instance != NULL && json_object_set_new(target, "instance",
	    audit_str(ev->instance)) != 0) ||
	    (ev->user != NULL && json_object_set_new(target, "user",
	    audit_str(ev->user)) != 0))
		goto out;
	if (json_object_set_new(o, "v", json_integer(AUDIT_VERSION)) != 0 ||
	    json_object_set_new(o, "seq", json_integer(seq)) != 0 ||
	    json_object_set_new(o, "time", json_string(m->time)) != 0 ||
	    json_object_set_new(o, "kind", json_string(ev->kind)) != 0 ||
	    json_object_set(o, "actor", actor) != 0 ||
	    json_object_set_new(o, "source", audit_str(m->source)) != 0 ||
	    json_object_set(o, "target", target) != 0 ||
	    json_object_set_new(o, "outcome", json_string(ev->code ?
	    "refused" : "ok")) != 0 ||
	    (ev->code != NULL && json_object_set_new(o, "code",
	    audit_str(ev->code)) != 0) ||
	    (ev->detail != NULL ? json_object_set(o, "detail", ev->detail) :
	    json_object_set_new(o, "detail", json_object())) != 0 ||
	    json_object_set_new(o, "prev", json_string(prev)) != 0)
		goto out;
	r = audit_line_make(o, linep, hash);
 out:
	json_decref(o);
	json_decref(actor);
	json_decref(target);
	return r;
}

/*
 * An event ready to be appended: the event (its strings borrowed from
 * the caller until it is written), its time, source and actor column.
 */
struct audit_pend {
	struct audit_ev		 ev;
	struct audit_make	 m;
	struct store_audit_new	 sn;
	char			 when[40];
	char			 actor[AUDIT_STR_MAX + 16];
};

static void
audit_pend_init(struct audit_pend *p, const struct audit_ev *ev)
{
	p->ev = *ev;
	audit_time(p->when, sizeof(p->when), &p->sn.time);
	p->m.time = p->when;
	p->m.source = audit_source != NULL ? audit_source : "-";
	snprintf(p->actor, sizeof(p->actor), "%s:%.*s", audit_actor_column(
	    ev->actor_type), AUDIT_STR_MAX, ev->actor ? ev->actor : "");
	p->sn.kind = ev->kind;
	p->sn.actor = p->actor;
	p->sn.instance_id = ev->instance;
	p->sn.username = ev->user;
}

static void
audit_lost(const struct audit_ev *ev, int r)
{
	char vis[160];

	lk_vis(vis, sizeof(vis), ev->actor ? ev->actor : "",
	    ev->actor ? strnlen(ev->actor, 128) : 0);
	log_warnx("audit lost kind=%s actor=%s instance=%.64s outcome=%s "
	    "error=\"%s\"", ev->kind, vis, ev->instance ? ev->instance : "-",
	    ev->code ? "refused" : "ok", lk_err(r));
}

int
audit_emit(const struct audit_ev *ev)
{
	struct audit_pend p;
	int r = 0;

	if (audit_off || lkd->db == NULL)
		goto out;
	audit_pend_init(&p, ev);
	p.m.ev = &p.ev;
	if ((r = store_audit_append(&p.sn, audit_make_cb, &p.m, NULL)) != 0) {
		audit_lost(ev, r);
		goto out;
	}
	audit_sink_wake();
 out:
	json_decref(ev->detail);
	return r;
}

int
audit_batch_add(struct audit_batch *b, const struct audit_ev *ev)
{
	struct audit_pend *v;

	if (audit_off || lkd->db == NULL) {
		json_decref(ev->detail);
		return 0;
	}
	if ((v = reallocarray(b->v, b->n + 1, sizeof(*v))) == NULL) {
		audit_lost(ev, LK_ERR_ALLOC);
		json_decref(ev->detail);
		return LK_ERR_ALLOC;
	}
	b->v = v;
	audit_pend_init(&b->v[b->n++], ev);
	return 0;
}

int
audit_batch_write_tx(void *arg)
{
	struct audit_batch *b = arg;
	size_t i;
	int r;

	for (i = 0; i < b->n; i++) {
		/* The array may have moved since: point into it anew. */
		b->v[i].m.ev = &b->v[i].ev;
		b->v[i].m.time = b->v[i].when;
		b->v[i].sn.actor = b->v[i].actor;
		if ((r = store_audit_append_tx(&b->v[i].sn, audit_make_cb,
		    &b->v[i].m, NULL)) != 0) {
			audit_lost(&b->v[i].ev, r);
			return r;
		}
	}
	return 0;
}

void
audit_batch_end(struct audit_batch *b, int committed)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		json_decref(b->v[i].ev.detail);
	if (committed && b->n > 0)
		audit_sink_wake();
	free(b->v);
	b->v = NULL;
	b->n = 0;
}

/* ------------------------------------------------------------------ */
/* The file sink                                                       */

struct audit_file {
	char	 path[PATH_MAX];
	char	 cursor[PATH_MAX + 80];	/* its name in audit_cursors */
	int	 fd;
	dev_t	 dev;
	ino_t	 ino;
	int64_t	 seq;			/* the last exported */
	int	 primed;		/* seq read from the store */
};

static int
audit_file_init(struct audit_file *f, const char *path)
{
	char dir[PATH_MAX], host[64], *slash;
	const char *base;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (strlen(path) >= sizeof(dir))
		return LK_ERR_TOO_LONG;
	/* The cursor is named after the absolute path (the file may not exist). */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		base = path + (slash - dir) + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
		base = path;
	}
	if (realpath(dir[0] != '\0' ? dir : "/", f->path) == NULL)
		return LK_ERR_SYSTEM;
	if (strlen(f->path) + strlen(base) + 2 > sizeof(f->path))
		return LK_ERR_TOO_LONG;
	if (strcmp(f->path, "/") != 0)
		strncat(f->path, "/", sizeof(f->path) - strlen(f->path) - 1);
	strncat(f->path, base, sizeof(f->path) - strlen(f->path) - 1);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(f->cursor, sizeof(f->cursor), "file:%s:%s", host, f->path);
	return 0;
}

/*
 * The file was just opened: a partial last line (a write cut by a crash)
 * is cut off, and the last complete line's seq, when past the cursor
 * (killed between the write and the cursor's update), becomes the cursor.
 */
static int
audit_file_recover(struct audit_file *f)
{
	struct audit_line l;
	struct stat st;
	char *buf = NULL, *nl, *start;
	size_t want;
	off_t from;
	ssize_t got;
	int r = 0;

	if (fstat(f->fd, &st) != 0)
		return LK_ERR_SYSTEM;
	if (st.st_size == 0)
		return 0;
	want = (size_t)st.st_size < AUDIT_LINE_MAX + 2 ? (size_t)st.st_size :
	    AUDIT_LINE_MAX + 2;
	from = st.st_size - (off_t)want;
	if ((buf = malloc(want + 1)) == NULL)
		return LK_ERR_ALLOC;
	if ((got = pread(f->fd, buf, want, from)) != (ssize_t)want) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	buf[want] = '\0';
	if (buf[want - 1] != '\n') {
		nl = memrchr(buf, '\n', want);
		log_warnx("audit file %s: cutting a partial last line",
		    f->path);
		if (ftruncate(f->fd, nl != NULL ? from + (nl - buf) + 1 :
		    from) != 0) {
			r = LK_ERR_SYSTEM;
			goto out;
		}
		if (nl == NULL)
			goto out;
		want = (size_t)(nl - buf) + 1;
	}
	buf[want - 1] = '\0';
	nl = memrchr(buf, '\n', want - 1);
	start = nl != NULL ? nl + 1 : buf;
	if (audit_line_check(start, strlen(start), &l) == 0 && l.seq > f->seq) {
		log_info("audit file %s: already has seq %lld (cursor %lld)",
		    f->path, (long long)l.seq, (long long)f->seq);
		f->seq = l.seq;
		r = store_audit_cursor_set(f->cursor, f->seq);
	}
 out:
	free(buf);
	return r;
}

/* Opens the file anew when it is not open, was moved or removed. */
static int
audit_file_open(struct audit_file *f, int force)
{
	struct stat st;
	int gone;

	gone = stat(f->path, &st) != 0 || st.st_dev != f->dev ||
	    st.st_ino != f->ino;
	if (f->fd >= 0 && !gone && !force)
		return 0;
	if (f->fd >= 0)
		close(f->fd);
	if ((f->fd = open(f->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1) {
		log_warn("audit file %s", f->path);
		return LK_ERR_SYSTEM;
	}
	if (fstat(f->fd, &st) != 0)
		return LK_ERR_SYSTEM;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	return audit_file_recover(f);
}

struct audit_xbatch {
	char	*buf;
	size_t	 len, cap;
	int64_t	 last, n;
};

static int
audit_batch_cb(void *arg, const struct store_audit_row *row)
{
	struct audit_xbatch *b = arg;
	size_t n = strlen(row->line), cap;
	char *p;

	if (b->len + n + 1 > b->cap) {
		cap = (b->len + n + 1) * 2;
		if ((p = realloc(b->buf, cap)) == NULL)
			return LK_ERR_ALLOC;
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, row->line, n);
	b->buf[b->len + n] = '\n';
	b->len += n + 1;
	b->last = row->seq;
	b->n++;
	return 0;
}

static int
audit_write_all(int fd, const char *p, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return LK_ERR_SYSTEM;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* One pass: everything after the cursor, in batches. */
static int
audit_file_export(struct audit_file *f, int reopen, int64_t *np)
{
	struct audit_xbatch b;
	int r;

	memset(&b, 0, sizeof(b));
	if (!f->primed) {
		if ((r = store_audit_cursor_get(f->cursor, &f->seq)) != 0)
			return r;
		f->primed = 1;
	}
	if ((r = audit_file_open(f, reopen)) != 0)
		return r;
	for (;;) {
		b.len = 0;
		b.n = 0;
		if ((r = store_audit_scan(f->seq, AUDIT_EXPORT_BATCH,
		    audit_batch_cb, &b)) != 0 || b.n == 0)
			break;
		if ((r = audit_write_all(f->fd, b.buf, b.len)) != 0 ||
		    (fdatasync(f->fd) != 0 && (r = LK_ERR_SYSTEM) != 0)) {
			log_warn("audit file %s: write", f->path);
			/* Reopen next time: recovery finds what got out. */
			close(f->fd);
			f->fd = -1;
			break;
		}
		if ((r = store_audit_cursor_set(f->cursor, b.last)) != 0)
			break;
		f->seq = b.last;
		if (np != NULL)
			*np += b.n;
		if (b.n < AUDIT_EXPORT_BATCH)
			break;
	}
	free(b.buf);
	return r;
}

int
audit_export_file(const char *path, int64_t *np)
{
	struct audit_file f;
	int r;

	if (np != NULL)
		*np = 0;
	if ((r = audit_file_init(&f, path)) != 0)
		return r;
	r = audit_file_export(&f, 0, np);
	if (f.fd >= 0)
		close(f.fd);
	return r;
}

int
audit_worker_start(struct audit_worker *w, void *(*fn)(void *))
{
	if (pthread_create(&w->th, NULL, fn, NULL) != 0)
		return LK_ERR_SYSTEM;
	__atomic_store_n(&w->running, 1, __ATOMIC_RELAXED);
	return 0;
}

void
audit_worker_wake(struct audit_worker *w)
{
	if (!__atomic_load_n(&w->running, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&w->lock);
	w->wake = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int
audit_worker_stopping(struct audit_worker *w)
{
	int stop;

	pthread_mutex_lock(&w->lock);
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

int
audit_worker_wait(struct audit_worker *w, long ms, int resting)
{
	struct timespec until;
	int stop;

	pthread_mutex_lock(&w->lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!w->stop && (resting || !w->wake))
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) != 0)
			break;
	w->wake = 0;
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

void
audit_worker_stop(struct audit_worker *w)
{
	if (!__atomic_load_n(&w->running, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->th, NULL);
	__atomic_store_n(&w->running, 0, __ATOMIC_RELAXED);
}

static struct {
	struct audit_worker w;
	int		 reopen;	/* atomic: SIGHUP asked for it */
	struct audit_file f;
} audit_sink = { .w = AUDIT_WORKER_INIT, .f = { .fd = -1 } };

static void
audit_sink_wake(void)
{
	audit_syslog_wake();
	audit_webhook_wake();
	audit_worker_wake(&audit_sink.w);
}

void
audit_sink_reopen(void)
{
	__atomic_store_n(&audit_sink.reopen, 1, __ATOMIC_RELAXED);
	audit_worker_wake(&audit_sink.w);
}

static void *
audit_sink_main(void *arg)
{
	int stop, reopen, r, last = 0;

	(void)arg;
	for (;;) {
		stop = audit_worker_wait(&audit_sink.w, AUDIT_SINK_TICK_MS, 0);
		reopen = __atomic_exchange_n(&audit_sink.reopen, 0,
		    __ATOMIC_RELAXED);
		/* One last pass after stop: nothing is left behind. */
		r = audit_file_export(&audit_sink.f, reopen, NULL);
		if (r != 0 && last == 0)
			log_warnx("audit file %s: export: %s (retrying)",
			    audit_sink.f.path, lk_err(r));
		last = r;
		if (stop)
			break;
	}
	return NULL;
}

int
audit_sink_start(const char *path)
{
	int r;

	if ((r = audit_file_init(&audit_sink.f, path)) != 0) {
		log_warnx("--audit-file %s: %s", path, lk_err(r));
		return r;
	}
	if ((r = audit_file_export(&audit_sink.f, 0, NULL)) != 0) {
		log_warnx("--audit-file %s: %s", path, lk_err(r));
		return r;
	}
	if ((r = audit_worker_start(&audit_sink.w, audit_sink_main)) != 0)
		return r;
	log_info("audit file sink path=%s seq=%lld", audit_sink.f.path,
	    (long long)audit_sink.f.seq);
	return 0;
}

void
audit_sink_stop(void)
{
	if (!__atomic_load_n(&audit_sink.w.running, __ATOMIC_RELAXED))
		return;
	audit_worker_stop(&audit_sink.w);
	if (audit_sink.f.fd >= 0)
		close(audit_sink.f.fd);
	audit_sink.f.fd = -1;
}

/* ------------------------------------------------------------------ */
/* Verify                                                              */

struct audit_vdb {
	struct audit_chain	 c;
	int64_t			 lineno;
	int			 bad;
};

static int
audit_vdb_cb(void *arg, const struct store_audit_row *row)
{
	struct audit_vdb *v = arg;

	v->lineno++;
	if (audit_chain_step(&v->c, row->line, strlen(row->line), v->lineno,
	    1) != 0) {
		v->bad = 1;
		return 1;
	}
	/* The columns must agree with the line they index. */
	if (row->seq != v->c.last || strcmp(row->hash, v->c.hash) != 0) {
		snprintf(v->c.why, sizeof(v->c.why), "row seq %lld holds the "
		    "line of event %lld: event reordered or replaced",
		    (long long)row->seq, (long long)v->c.last);
		v->bad = 1;
		return 1;
	}
	return 0;
}

int
audit_verify_db(void)
{
	struct audit_vdb v;
	char head[65];
	int64_t hseq;
	int r;

	memset(&v, 0, sizeof(v));
	audit_chain_init(&v.c);
	if ((r = store_audit_scan(0, 0, audit_vdb_cb, &v)) != 0 ||
	    (r = store_audit_head(&hseq, head)) != 0) {
		log_warnx("audit verify: cannot read the events: %s",
		    lk_err(r));
		return 2;
	}
	if (!v.bad && (hseq != v.c.last || strcmp(head, v.c.hash) != 0)) {
		snprintf(v.c.why, sizeof(v.c.why), "the chain ends at seq "
		    "%lld but its head names seq %lld: event %lld missing "
		    "(removed from the end) or the head altered",
		    (long long)v.c.last, (long long)hseq, (long long)v.c.last +
		    1);
		v.bad = 1;
	}
	if (v.bad) {
		printf("audit: %s\n", v.c.why);
		return 1;
	}
	printf("audit: %lld events intact (seq %lld..%lld)\n",
	    (long long)v.c.n, (long long)(v.c.n ? v.c.first : 0),
	    (long long)v.c.last);
	return 0;
}

int
audit_verify_file(const char *path)
{
	struct audit_chain c;
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int64_t lineno = 0;
	int bad = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		log_warn("audit verify: %s", path);
		return 2;
	}
	audit_chain_init(&c);
	while ((len = getline(&line, &cap, fp)) > 0) {
		lineno++;
		if (line[len - 1] == '\n')
			len--;
		else {
			snprintf(c.why, sizeof(c.why), "line %lld: cut short "
			    "(no newline at the end of the file)",
			    (long long)lineno);
			bad = 1;
			break;
		}
		if (audit_chain_step(&c, line, (size_t)len, lineno, 0) != 0) {
			bad = 1;
			break;
		}
	}
	if (!bad && ferror(fp)) {
		snprintf(c.why, sizeof(c.why), "read error");
		bad = 1;
	}
	free(line);
	fclose(fp);
	if (bad) {
		printf("audit: %s: %s\n", path, c.why);
		return 1;
	}
	printf("audit: %s: %lld events intact (seq %lld..%lld)\n", path,
	    (long long)c.n, (long long)(c.n ? c.first : 0), (long long)c.last);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Status                                                              */

static int
audit_status_cb(void *arg, const char *name, int64_t seq)
{
	int64_t head = *(int64_t *)arg;

	printf("sink %s seq=%lld backlog=%lld\n", name, (long long)seq,
	    (long long)(head - seq));
	return 0;
}

int
audit_status(void)
{
	char hash[AUDIT_HASH_SIZE];
	int64_t head;
	int r;

	if ((r = store_audit_head(&head, hash)) != 0) {
		log_warnx("audit status: %s", lk_err(r));
		return 2;
	}
	printf("events %lld head=%s\n", (long long)head, hash);
	if ((r = store_audit_cursor_list(audit_status_cb, &head)) != 0) {
		log_warnx("audit status: %s", lk_err(r));
		return 2;
	}
	return 0;
}
