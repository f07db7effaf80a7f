/*
 * asciicast v2: the writer of a session's recording and the check of one
 * (cast.h; docs/sessions.md, "Recording").
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cast.h"
#include "err.h"

/* The marker's line, and room kept for it below the limit. */
#define CAST_MARK_ROOM		256
/* One event's line: LK_CAST_CHUNK bytes escaped at most 6 each, and more. */
#define CAST_LINE_MAX		(LK_CAST_CHUNK * 6 + 128)
#define CAST_HEX		"0123456789abcdef"

/*
 * The length of the UTF-8 sequence at p (n > 0 bytes): 1..4 when valid,
 * 0 when p holds the start of a valid one cut short, -1 when p[0] starts
 * none (overlong forms, surrogates and code points past U+10FFFF are not
 * valid).
 */
static int
cast_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char b = p[0], lo = 0x80, hi = 0xbf;
	int len, i;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		len = 2;
	else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else
		return -1;
	for (i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return 0;
		if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
			return -1;
	}
	return len;
}

/* Appends JSON's form of the byte b < 0x80 to out; returns its length. */
static size_t
cast_esc_ascii(unsigned char b, char *out)
{
	switch (b) {
	case '"':  memcpy(out, "\\\"", 2); return 2;
	case '\\': memcpy(out, "\\\\", 2); return 2;
	case '\n': memcpy(out, "\\n", 2); return 2;
	case '\r': memcpy(out, "\\r", 2); return 2;
	case '\t': memcpy(out, "\\t", 2); return 2;
	case '\b': memcpy(out, "\\b", 2); return 2;
	case '\f': memcpy(out, "\\f", 2); return 2;
	default:
		break;
	}
	if (b < 0x20 || b == 0x7f) {
		memcpy(out, "\\u00", 4);
		out[4] = CAST_HEX[b >> 4];
		out[5] = CAST_HEX[b & 15];
		return 6;
	}
	out[0] = (char)b;
	return 1;
}

/* Writes all of buf; 0 or LK_ERR_SYSTEM. */
static int
cast_write(int fd, const char *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return LK_ERR_SYSTEM;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static double
cast_time(struct lk_cast *c, long long now_ms)
{
	double t = now_ms > c->t0_ms ? (double)(now_ms - c->t0_ms) / 1000.0 :
	    0.0;

	if (t < c->last_t)
		t = c->last_t;	/* never backwards */
	c->last_t = t;
	return t;
}

/* The marker, once, then nothing more. */
static void
cast_stop(struct lk_cast *c, long long now_ms, const char *why)
{
	char line[CAST_MARK_ROOM];
	int n;

	if (c->stopped)
		return;
	c->stopped = 1;
	c->truncated = 1;
	n = snprintf(line, sizeof(line), "[%.6f, \"m\", \"" LK_CAST_TRUNC_MARK
	    ": %s\"]\n", cast_time(c, now_ms), why);
	if (n > 0 && (size_t)n < sizeof(line) && cast_write(c->fd, line,
	    (size_t)n) == 0)
		c->size += (size_t)n;
}

/*
 * Writes one event's line (len bytes in c->line), or stops: the limit
 * (keeping room for the marker) or a write that failed.
 */
static void
cast_emit(struct lk_cast *c, long long now_ms, size_t len)
{
	char why[96];

	if (c->stopped)
		return;
	if (c->size + len + CAST_MARK_ROOM > c->max) {
		snprintf(why, sizeof(why), "limit of %llu bytes",
		    (unsigned long long)c->max);
		cast_stop(c, now_ms, why);
		return;
	}
	if (cast_write(c->fd, c->line, len) != 0) {
		snprintf(why, sizeof(why), "write failed: %s",
		    strerror(errno));
		/* The marker may not get through either: stopped all the same. */
		cast_stop(c, now_ms, why);
		return;
	}
	c->size += len;
}

int
lk_cast_open(struct lk_cast *c, int fd, uint64_t max, int cols, int rows,
    const char *term, int64_t timestamp, long long now_ms)
{
	json_t *h;
	char *text;
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (max < LK_CAST_MAX_MIN || max > LK_CAST_MAX_MAX || cols < 1 ||
	    rows < 1 || cols > LK_CAST_DIM_MAX || rows > LK_CAST_DIM_MAX)
		return LK_ERR_RANGE;
	if ((c->line = malloc(CAST_LINE_MAX)) == NULL)
		return LK_ERR_ALLOC;
	c->fd = fd;
	c->max = max;
	c->t0_ms = now_ms;
	h = json_pack("{s:i, s:i, s:i, s:I, s:{s:s}}", "version", 2, "width",
	    cols, "height", rows, "timestamp", (json_int_t)timestamp, "env",
	    "TERM", term);
	text = h != NULL ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) :
	    NULL;
	json_decref(h);
	if (text == NULL) {
		r = LK_ERR_ALLOC;
		goto fail;
	}
	r = cast_write(fd, text, strlen(text)) == 0 && cast_write(fd, "\n",
	    1) == 0 ? 0 : LK_ERR_SYSTEM;
	c->size = strlen(text) + 1;
	free(text);
	if (r == 0)
		return 0;
 fail:
	free(c->line);
	c->line = NULL;
	c->stopped = 1;
	return r;
}

/* One "o" event of the bytes p[0..n) (whole sequences, or invalid ones). */
static void
cast_event(struct lk_cast *c, long long now_ms, const unsigned char *p,
    size_t n)
{
	size_t len, i = 0;
	int k;

	len = (size_t)snprintf(c->line, CAST_LINE_MAX, "[%.6f, \"o\", \"",
	    cast_time(c, now_ms));
	while (i < n) {
		k = cast_utf8_len(p + i, n - i);
		if (k <= 0) {
			memcpy(c->line + len, "\\ufffd", 6);	/* U+FFFD */
			len += 6;
			i++;
		} else if (k == 1)
			len += cast_esc_ascii(p[i++], c->line + len);
		else {
			memcpy(c->line + len, p + i, (size_t)k);
			len += (size_t)k;
			i += (size_t)k;
		}
	}
	memcpy(c->line + len, "\"]\n", 3);
	cast_emit(c, now_ms, len + 3);
}

void
lk_cast_output(struct lk_cast *c, long long now_ms, const void *buf,
    size_t n)
{
	const unsigned char *p = buf;
	unsigned char join[8];
	size_t take, jl, i;
	int k;

	if (c->stopped || n == 0)
		return;
	/* A sequence a read split: joined with what follows. */
	if (c->ncarry > 0) {
		memcpy(join, c->carry, c->ncarry);
		take = n < 4 - c->ncarry ? n : 4 - c->ncarry;
		memcpy(join + c->ncarry, p, take);
		jl = c->ncarry + take;
		if ((k = cast_utf8_len(join, jl)) == 0) {
			memcpy(c->carry, join, jl);	/* still short */
			c->ncarry = jl;
			return;
		}
		if (k < 0) {
			/* Its first byte alone is U+FFFD; the rest again. */
			cast_event(c, now_ms, join, 1);
			memmove(c->carry, c->carry + 1, --c->ncarry);
			lk_cast_output(c, now_ms, p, n);
			return;
		}
		cast_event(c, now_ms, join, (size_t)k);
		p += (size_t)k - c->ncarry;
		n -= (size_t)k - c->ncarry;
		c->ncarry = 0;
	}
	while (n > 0) {
		take = n < LK_CAST_CHUNK ? n : LK_CAST_CHUNK;
		/* Whole sequences up to the chunk's size. */
		for (i = 0; i < take; i += (size_t)k) {
			if ((k = cast_utf8_len(p + i, n - i)) == 0)
				break;		/* cut short by the end of p */
			if (k < 0)
				k = 1;		/* U+FFFD */
			if (i + (size_t)k > take && i > 0)
				break;		/* the next chunk's */
		}
		if (i > 0)
			cast_event(c, now_ms, p, i);
		if (i < n && i < take && cast_utf8_len(p + i, n - i) == 0) {
			memcpy(c->carry, p + i, n - i);	/* at most 3 bytes */
			c->ncarry = n - i;
			return;
		}
		p += i;
		n -= i;
	}
}

void
lk_cast_resize(struct lk_cast *c, long long now_ms, int cols, int rows)
{
	int n;

	if (c->stopped)
		return;
	n = snprintf(c->line, CAST_LINE_MAX, "[%.6f, \"r\", \"%dx%d\"]\n",
	    cast_time(c, now_ms), cols, rows);
	if (n > 0)
		cast_emit(c, now_ms, (size_t)n);
}

void
lk_cast_close(struct lk_cast *c, long long now_ms)
{
	if (c->ncarry > 0 && c->line != NULL && !c->stopped)
		cast_event(c, now_ms, c->carry, c->ncarry);	/* U+FFFD */
	c->ncarry = 0;
	free(c->line);
	c->line = NULL;
	c->stopped = 1;
}

/* ---- the check ------------------------------------------------------ */

/* "CxR" with C and R decimal, 1..LK_CAST_DIM_MAX, no sign or leading 0. */
static int
cast_size_ok(const char *s)
{
	int v, i;

	for (i = 0; i < 2; i++) {
		if (*s < '1' || *s > '9')
			return 0;
		for (v = 0; *s >= '0' && *s <= '9'; s++)
			if ((v = v * 10 + (*s - '0')) > LK_CAST_DIM_MAX)
				return 0;
		if (*s++ != (i == 0 ? 'x' : '\0'))
			return 0;
	}
	return 1;
}

static int
cast_dim_ok(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 1 &&
	    json_integer_value(v) <= LK_CAST_DIM_MAX;
}

static int
cast_check_header(const json_t *h, struct lk_cast_info *info)
{
	const json_t *ts = json_object_get(h, "timestamp"),
	    *env = json_object_get(h, "env");

	if (!json_is_object(h) || !json_is_integer(json_object_get(h,
	    "version")) || json_integer_value(json_object_get(h,
	    "version")) != 2 || !cast_dim_ok(json_object_get(h, "width")) ||
	    !cast_dim_ok(json_object_get(h, "height")) || (ts != NULL &&
	    (!json_is_integer(ts) || json_integer_value(ts) < 0)) ||
	    (env != NULL && !json_is_object(env)))
		return -1;
	info->width = (int)json_integer_value(json_object_get(h, "width"));
	info->height = (int)json_integer_value(json_object_get(h, "height"));
	return 0;
}

static int
cast_check_event(const json_t *e, double *last, struct lk_cast_info *info)
{
	const json_t *tv = json_array_get(e, 0);
	const char *code = json_string_value(json_array_get(e, 1));
	const char *data = json_string_value(json_array_get(e, 2));
	double t;

	if (!json_is_array(e) || json_array_size(e) != 3 ||
	    !json_is_number(tv) || code == NULL || data == NULL ||
	    json_string_length(json_array_get(e, 1)) != 1)
		return -1;
	t = json_number_value(tv);
	if (!isfinite(t) || t < 0 || t < *last)
		return -1;
	*last = t;
	if (strcmp(code, "o") == 0)
		info->output += json_string_length(json_array_get(e, 2));
	else if (strcmp(code, "r") == 0) {
		if (strlen(data) != json_string_length(json_array_get(e, 2)) ||
		    !cast_size_ok(data))
			return -1;
	} else if (strcmp(code, "m") == 0) {
		if (strncmp(data, LK_CAST_TRUNC_MARK,
		    strlen(LK_CAST_TRUNC_MARK)) == 0)
			info->truncated = 1;
	} else if (strcmp(code, "i") != 0)
		return -1;
	info->events++;
	return 0;
}

int
lk_cast_check(const char *p, size_t n, struct lk_cast_info *info,
    char *why, size_t whysize)
{
	const char *nl, *end = p + n;
	json_error_t jerr;
	json_t *v;
	double last = 0;
	uint64_t line = 0;
	int bad;

	memset(info, 0, sizeof(*info));
	if (n == 0 || memchr(p, '\0', n) != NULL || p[n - 1] != '\n') {
		snprintf(why, whysize, "%s", n == 0 ? "empty" : p[n - 1] !=
		    '\n' ? "the last line does not end" : "a NUL byte");
		return LK_ERR_INVALID_FORMAT;
	}
	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));	/* found: ends in \n */
		v = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES |
		    JSON_ALLOW_NUL, &jerr);
		if (v == NULL)
			bad = 1;
		else if (line == 1)
			bad = cast_check_header(v, info) != 0;
		else
			bad = cast_check_event(v, &last, info) != 0;
		json_decref(v);
		if (bad) {
			snprintf(why, whysize, "line %llu: not %s",
			    (unsigned long long)line, line == 1 ?
			    "an asciicast v2 header" : "an asciicast v2 event");
			return LK_ERR_INVALID_FORMAT;
		}
		p = nl + 1;
	}
	return 0;
}
