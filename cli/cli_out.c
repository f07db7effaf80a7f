/*
 * Output: messages on stderr ("latchkey: ..."), text made safe for a
 * terminal, JSON on stdout, and small readers of the API's JSON shapes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "cli.h"
#include "err.h"

#define OUT_B64_MAX	(4 * 1024 * 1024)	/* decoded Output bytes */

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("latchkey: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A message for --verbose only. */
void
cli_info(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->verbose)
		return;
	fputs("latchkey: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Copies src into dst with control characters (which could move a
 * terminal's cursor or forge lines) replaced by '?'. Text from the server
 * passes through here before it is shown in a message.
 */
void
cli_safe(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	if (dstlen == 0)
		return;
	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	dst[i] = '\0';
}

void
cli_json_print(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	fflush(stdout);
}

/*
 * With --output json, a failure is also an object on stdout:
 * {"Error": {"Code": ..., "Message": ...}}. Returns 0.
 */
int
cli_json_error(struct cli *c, const char *code, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];
	json_t *o;

	if (c->output != CLI_OUT_JSON)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((o = json_pack("{s:{s:s, s:s}}", "Error", "Code", code,
	    "Message", msg)) != NULL)
		cli_json_print(o);
	json_decref(o);
	return 0;
}

/*
 * What latchkey is waiting for, on stderr, when stderr is a terminal (one
 * line redrawn, with the seconds waited, at most once a second or when it
 * changes) or with --verbose (a line each time it changes); otherwise
 * nothing, so that scripts' output stays clean. cli_waiting_end() clears
 * the terminal's line; call it before saying anything else.
 */
static struct {
	int		 active;
	int		 drawn;
	int		 tty;
	struct timespec	 start;
	long		 secs;
	char		 last[256];
} out_wait;

void
cli_waiting(struct cli *c, const char *fmt, ...)
{
	struct timespec now;
	va_list ap;
	char line[256];
	long secs;

	if (!out_wait.active) {
		memset(&out_wait, 0, sizeof(out_wait));
		out_wait.active = 1;
		out_wait.tty = isatty(STDERR_FILENO);
		clock_gettime(CLOCK_MONOTONIC, &out_wait.start);
	}
	if (!out_wait.tty && !c->verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (long)(now.tv_sec - out_wait.start.tv_sec);
	if (out_wait.tty) {
		if (out_wait.drawn && secs == out_wait.secs &&
		    strcmp(line, out_wait.last) == 0)
			return;
		fprintf(stderr, "\r\033[Klatchkey: %s, %ld s...", line, secs);
		fflush(stderr);
		out_wait.drawn = 1;
	} else if (strcmp(line, out_wait.last) != 0)
		fprintf(stderr, "latchkey: %s\n", line);
	out_wait.secs = secs;
	snprintf(out_wait.last, sizeof(out_wait.last), "%s", line);
}

void
cli_waiting_end(void)
{
	if (out_wait.active && out_wait.tty && out_wait.drawn)
		fputs("\r\033[K", stderr);
	out_wait.active = 0;
}

/* A string member, or NULL. */
const char *
cli_jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* An integer member, or def. */
json_int_t
cli_jint(json_t *obj, const char *key, json_int_t def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

/* obj.outer.inner when it is an array (the API's list wrappers), or NULL. */
json_t *
cli_jlist(json_t *obj, const char *outer, const char *inner)
{
	json_t *v = json_object_get(json_object_get(obj, outer), inner);

	return json_is_array(v) ? v : NULL;
}

/*
 * Decodes a Base64 Output into a new NUL-terminated buffer (the output
 * may hold NULs; *lenp is its length). Returns 0 or an LK_ERR_*.
 */
int
cli_b64_text(const char *b64, char **outp, size_t *lenp)
{
	unsigned char *p = NULL;
	size_t len = 0;
	char *s;
	int r;

	*outp = NULL;
	*lenp = 0;
	if (b64 != NULL && *b64 != '\0' &&
	    (r = lk_b64_decode(b64, strlen(b64), OUT_B64_MAX, &p, &len)) != 0)
		return r;
	if ((s = malloc(len + 1)) == NULL) {
		free(p);
		return LK_ERR_ALLOC;
	}
	if (len > 0)
		memcpy(s, p, len);
	s[len] = '\0';
	free(p);
	*outp = s;
	*lenp = len;
	return 0;
}

/* Writes everything, retrying short writes; errors are dropped. */
void
cli_write_all(int fd, const void *p, size_t len)
{
	const char *s = p;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, s, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += n;
		len -= (size_t)n;
	}
}
