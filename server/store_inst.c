/*
 * Instances as the API lists them (store.h): one instance, the listing
 * behind DescribeInstances with its filters, and an agent's status with
 * its tasks' counts. The id and name filters run here in C, not in SQL,
 * so that both backends match alike (no json_each, no GLOB).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "store.h"

#define INST_COLUMNS	"id, name, hostname, os, version, addresses, " \
			"session_ports, registered, last_seen, goodbye"

void
store_inst_free(struct store_inst *inst)
{
	if (inst == NULL)
		return;
	free(inst->id);
	free(inst->name);
	free(inst->hostname);
	free(inst->os);
	free(inst->version);
	free(inst->addresses);
	free(inst->session_ports);
	memset(inst, 0, sizeof(*inst));
}

struct inst_one {
	int			 found;
	struct store_inst	*inst;
};

static int
inst_row_cb(const struct lkdb_row *row, void *arg)
{
	struct inst_one *x = arg;
	struct store_inst *i = x->inst;

	x->found = 1;
	if ((i->id = lkdb_col_str(row, 0)) == NULL ||
	    (i->name = lkdb_col_str(row, 1)) == NULL ||
	    (i->hostname = lkdb_col_str(row, 2)) == NULL ||
	    (i->os = lkdb_col_str(row, 3)) == NULL ||
	    (i->version = lkdb_col_str(row, 4)) == NULL ||
	    (i->addresses = lkdb_col_str(row, 5)) == NULL ||
	    (i->session_ports = lkdb_col_str(row, 6)) == NULL)
		return LK_ERR_ALLOC;
	i->registered = lkdb_int(row, 7);
	i->last_seen = lkdb_int(row, 8);
	i->goodbye = lkdb_int(row, 9);
	return 1;
}

int
store_inst_get(struct lkdb *db, const char *id, struct store_inst *inst)
{
	struct inst_one x = { 0, inst };
	int r;

	memset(inst, 0, sizeof(*inst));
	if ((r = lkdb_query(db, inst_row_cb, &x, "SELECT " INST_COLUMNS
	    " FROM instances WHERE id = ?", "s", id)) != 0) {
		store_inst_free(inst);
		return r;
	}
	return x.found ? 0 : LK_ERR_NOT_FOUND;
}

/*
 * One character of s as SQLite's GLOB reads it (its UTF-8 reader): a lead
 * byte and the continuation bytes after it; an overlong, surrogate or
 * non-character value reads as U+FFFD, a stray continuation byte as
 * itself. Matching on these keeps DescribeInstances' answers what they
 * were with GLOB, invalid UTF-8 included.
 */
static uint32_t
inst_utf8(const unsigned char **sp)
{
	static const unsigned char lead[64] = {
		0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
		0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
		0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
		0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
		0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x00, 0x01, 0x02, 0x03, 0x00, 0x01, 0x00, 0x00,
	};
	uint32_t c = *(*sp)++;

	if (c < 0xc0)
		return c;
	c = lead[c - 0xc0];
	while ((**sp & 0xc0) == 0x80)
		c = (c << 6) + (0x3f & *(*sp)++);
	if (c < 0x80 || (c & 0xfffff800) == 0xd800 ||
	    (c & 0xfffffffe) == 0xfffe)
		c = 0xfffd;
	return c;
}

/*
 * '*' matches any run of characters, every other character itself, case
 * counting: GLOB with '?' and '[' taken literally. Greedy with one
 * backtrack point (the last '*'), so never exponential, whatever the
 * pattern.
 */
int
store_inst_match(const char *pattern, const char *name)
{
	const unsigned char *p = (const unsigned char *)pattern;
	const unsigned char *n = (const unsigned char *)name;
	const unsigned char *star = NULL, *resume = NULL, *pp, *nn;

	while (*n != '\0') {
		if (*p == '*') {
			star = ++p;
			resume = n;
			continue;
		}
		if (*p != '\0') {
			pp = p;
			nn = n;
			if (inst_utf8(&pp) == inst_utf8(&nn)) {
				p = pp;
				n = nn;
				continue;
			}
		}
		if (star == NULL)
			return 0;
		p = star;
		(void)inst_utf8(&resume);
		n = resume;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static int
inst_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct inst_scan {
	const struct store_inst_filter	*f;
	const char			**ids;	/* sorted copy of f->ids */
	store_inst_cb			 cb;
	void				*arg;
};

static int
inst_scan_cb(const struct lkdb_row *row, void *arg)
{
	struct inst_scan *x = arg;
	const struct store_inst_filter *f = x->f;
	const char *id = lkdb_text(row, 0), *name = lkdb_text(row, 1);
	int64_t seen = lkdb_int(row, 2);
	int running;

	if (id == NULL)
		id = "";
	if (name == NULL)
		name = "";
	if (f->ids != NULL && (f->nids == 0 || bsearch(&id, x->ids, f->nids,
	    sizeof(*x->ids), inst_cmp_str) == NULL))
		return 0;
	if (f->pattern != NULL && !store_inst_match(f->pattern, name))
		return 0;
	if (f->status != NULL && *f->status != '\0') {
		running = seen > 0 && seen >= f->online_since;
		if (strcmp(f->status, running ? "Running" : "Stopped") != 0)
			return 0;
	}
	return x->cb(id, name, x->arg);
}

int
store_inst_list(struct lkdb *db, const struct store_inst_filter *f,
    store_inst_cb cb, void *arg)
{
	struct inst_scan x = { f, NULL, cb, arg };
	int r;

	if (f->ids != NULL && f->nids > 0) {
		if ((x.ids = calloc(f->nids, sizeof(*x.ids))) == NULL)
			return LK_ERR_ALLOC;
		memcpy(x.ids, f->ids, f->nids * sizeof(*x.ids));
		qsort(x.ids, f->nids, sizeof(*x.ids), inst_cmp_str);
	}
	r = lkdb_query(db, inst_scan_cb, &x, "SELECT id, name, last_seen FROM "
	    "instances ORDER BY registered, id", "");
	free(x.ids);
	return r;
}

void
store_inst_status_free(struct store_inst_status *st)
{
	if (st == NULL)
		return;
	free(st->version);
	memset(st, 0, sizeof(*st));
}

struct inst_status {
	int			 found;
	struct store_inst_status *st;
};

static int
inst_status_cb(const struct lkdb_row *row, void *arg)
{
	struct inst_status *x = arg;

	x->found = 1;
	if ((x->st->version = lkdb_col_str(row, 0)) == NULL)
		return LK_ERR_ALLOC;
	x->st->last_seen = lkdb_int(row, 1);
	x->st->goodbye = lkdb_int(row, 2);
	x->st->active_tasks = lkdb_int(row, 3);
	x->st->tasks = lkdb_int(row, 4);
	x->st->last_task = lkdb_int(row, 5);
	return 1;
}

int
store_inst_status(struct lkdb *db, const char *id,
    struct store_inst_status *st)
{
	struct inst_status x = { 0, st };
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = lkdb_query(db, inst_status_cb, &x, "SELECT i.version, "
	    "i.last_seen, i.goodbye, (SELECT COUNT(*) FROM tasks t WHERE "
	    "t.instance_id = i.id AND t.status IN ('Pending', 'Running', "
	    "'Stopping')), (SELECT COUNT(*) FROM tasks t WHERE t.instance_id = "
	    "i.id), (SELECT COALESCE(MAX(t.created), 0) FROM tasks t WHERE "
	    "t.instance_id = i.id) FROM instances i WHERE i.id = ?", "s",
	    id)) != 0) {
		store_inst_status_free(st);
		return r;
	}
	return x.found ? 0 : LK_ERR_NOT_FOUND;
}
