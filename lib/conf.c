/*
 * The configuration file parser (grammar in conf.h, latchkeyd.conf(5)).
 * It knows no key: the program's callback looks each one up in the
 * program's own option table, so the command line and the file share
 * one list of names.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"

/* Distinct keys remembered for the duplicate check. */
#define CONF_KEYS_MAX	256

struct conf_seen {
	const char	*key[CONF_KEYS_MAX];
	size_t		 line[CONF_KEYS_MAX];
	size_t		 n;
};

static int
conf_fail(int r, char *err, size_t errlen, const char *name, size_t line,
    const char *fmt, ...)
{
	char why[LK_CONF_ERR_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0) {
		if (line > 0)
			snprintf(err, errlen, "%s:%zu: %s", name, line, why);
		else
			snprintf(err, errlen, "%s: %s", name, why);
	}
	return r;
}

static int
conf_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
conf_keychar(char c, int first)
{
	return (c >= 'a' && c <= 'z') ||
	    (!first && ((c >= '0' && c <= '9') || c == '-'));
}

/* The line of key's earlier setting, or 0; remembers it otherwise. */
static int
conf_seen_check(struct conf_seen *s, const char *key, size_t line,
    size_t *dup)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->key[i], key) == 0) {
			*dup = s->line[i];
			return 0;
		}
	*dup = 0;
	if (s->n == CONF_KEYS_MAX)
		return -1;
	s->key[s->n] = key;
	s->line[s->n++] = line;
	return 0;
}

/*
 * Splits one line (NUL-terminated, no newline, no control byte but tab)
 * into *keyp and *valp, in place; NULL key for a blank or comment line.
 * Returns 0 or -1 with the reason in why.
 */
static int
conf_split(char *s, char **keyp, char **valp, char *why, size_t whylen)
{
	char *k, *v, *e;

	*keyp = *valp = NULL;
	while (conf_blank(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	k = s;
	if (!conf_keychar(*s, 1)) {
		snprintf(why, whylen, "a key begins with a-z");
		return -1;
	}
	while (conf_keychar(*s, 0))
		s++;
	if (s - k > LK_CONF_KEY_MAX) {
		snprintf(why, whylen, "key longer than %d", LK_CONF_KEY_MAX);
		return -1;
	}
	e = s;
	while (conf_blank(*s))
		s++;
	if (*s != '=') {
		snprintf(why, whylen, "expected \"key = value\" (keys are "
		    "a-z 0-9 -)");
		return -1;
	}
	*e = '\0';
	s++;
	while (conf_blank(*s))
		s++;
	v = s;
	/* A "#" after a blank starts a comment. */
	for (; *s != '\0'; s++)
		if (*s == '#' && s > v && conf_blank(s[-1]))
			break;
	*s = '\0';
	while (s > v && conf_blank(s[-1]))
		*--s = '\0';
	if (*v == '\0' || *v == '#') {
		snprintf(why, whylen, "%s: no value", k);
		return -1;
	}
	*keyp = k;
	*valp = v;
	return 0;
}

int
lk_conf_parse(const char *name, char *buf, size_t len, lk_conf_fn fn,
    void *arg, char *err, size_t errlen)
{
	struct conf_seen seen;
	char why[LK_CONF_ERR_SIZE], *line, *nl, *key, *val;
	size_t lineno = 0, n, i, dup;

	seen.n = 0;
	if (len > LK_CONF_MAX)
		return conf_fail(LK_ERR_TOO_LONG, err, errlen, name, 0,
		    "larger than %d bytes", LK_CONF_MAX);
	for (line = buf; line < buf + len; line = nl + 1) {
		lineno++;
		nl = memchr(line, '\n', (size_t)(buf + len - line));
		if (nl == NULL)
			nl = buf + len;	/* the last line, without newline */
		n = (size_t)(nl - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > LK_CONF_LINE_MAX)
			return conf_fail(LK_ERR_TOO_LONG, err, errlen, name,
			    lineno, "line longer than %d bytes",
			    LK_CONF_LINE_MAX);
		for (i = 0; i < n; i++)
			if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
			    line[i] == 0x7f)
				return conf_fail(LK_ERR_BAD_CHAR, err, errlen,
				    name, lineno, "%s byte 0x%02x",
				    line[i] == '\0' ? "NUL" : "control",
				    (unsigned char)line[i]);
		line[n] = '\0';	/* at most buf[len]: see conf.h */
		if (conf_split(line, &key, &val, why, sizeof(why)) != 0)
			return conf_fail(LK_ERR_INVALID_FORMAT, err, errlen,
			    name, lineno, "%s", why);
		if (key == NULL)
			continue;
		if (conf_seen_check(&seen, key, lineno, &dup) != 0)
			return conf_fail(LK_ERR_TOO_LONG, err, errlen, name,
			    lineno, "more than %d different keys",
			    CONF_KEYS_MAX);
		why[0] = '\0';
		if (fn(arg, key, val, dup, why, sizeof(why)) != 0)
			return conf_fail(LK_ERR_INVALID_FORMAT, err, errlen,
			    name, lineno, "%s", why[0] != '\0' ? why :
			    "refused");
	}
	return 0;
}

int
lk_conf_load(const char *path, char **bufp, lk_conf_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	*bufp = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return conf_fail(errno == ENOENT ? LK_ERR_NOT_FOUND :
		    LK_ERR_SYSTEM, err, errlen, path, 0, "%s",
		    strerror(errno));
	/* A character device for --config /dev/null. */
	if (fstat(fd, &st) == -1 || (!S_ISREG(st.st_mode) &&
	    !S_ISCHR(st.st_mode))) {
		r = conf_fail(LK_ERR_UNSAFE, err, errlen, path, 0,
		    "not a regular file");
		goto out;
	}
	/* One byte more than allowed, to tell "too large". */
	if ((buf = malloc(LK_CONF_MAX + 2)) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	while (len < LK_CONF_MAX + 1 && (n = read(fd, buf + len,
	    LK_CONF_MAX + 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = conf_fail(LK_ERR_SYSTEM, err, errlen, path, 0,
			    "%s", strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	r = lk_conf_parse(path, buf, len, fn, arg, err, errlen);
 out:
	close(fd);
	*bufp = buf;
	return r;
}

int
lk_conf_bool(const char *val)
{
	if (strcmp(val, "yes") == 0 || strcmp(val, "true") == 0 ||
	    strcmp(val, "on") == 0 || strcmp(val, "1") == 0)
		return 1;
	if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0 ||
	    strcmp(val, "off") == 0 || strcmp(val, "0") == 0)
		return 0;
	return -1;
}
