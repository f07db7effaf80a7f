/*
 * Configuration files of latchkeyd and latchkey-agent (latchkeyd.conf(5)):
 * one "key = value" a line, the keys being the programs' long options.
 *
 * Grammar (bytes; the whole file at most LK_CONF_MAX, a line at most
 * LK_CONF_LINE_MAX without its newline):
 *	line    = blank* [ key blank* "=" blank* value blank* ] [ comment ]
 *	key     = 1 to LK_CONF_KEY_MAX of a-z 0-9 "-", starting with a-z
 *	value   = one or more printable bytes (not starting or ending in a
 *	          blank); a "#" after a blank starts a comment
 *	comment = "#" anything to the end of the line
 *	blank   = space or tab
 * Lines end in LF; one CR before it is dropped. A NUL or another control
 * byte anywhere, a line without "=", an empty value or a line too long
 * is an error. Whether a key exists, whether it may repeat and what its
 * value means is the caller's to say (its callback).
 */
#ifndef LK_CONF_H
#define LK_CONF_H

#include <stddef.h>

#define LK_CONF_MAX		(256 * 1024)
#define LK_CONF_LINE_MAX	4096
#define LK_CONF_KEY_MAX		64
#define LK_CONF_ERR_SIZE	512

/*
 * Called for each setting in file order. dup is the line of the key's
 * first setting when it was set before, else 0. Returns 0 to accept, or
 * -1 with the reason in why (whylen bytes, no file or line: the parser
 * adds them). key and val stay valid as long as the buffer they came from.
 */
typedef int (*lk_conf_fn)(void *arg, const char *key, const char *val,
    size_t dup, char *why, size_t whylen);

/*
 * Parses buf (len bytes, with room for one more: buf[len] may be
 * written) in place: keys and values are NUL-terminated inside it, so
 * buf must outlive their use. On failure returns
 * LK_ERR_INVALID_FORMAT (or LK_ERR_TOO_LONG, LK_ERR_BAD_CHAR) and writes
 * "NAME:LINE: reason" into err (errlen bytes); settings before the bad
 * line have been passed to fn.
 */
int	lk_conf_parse(const char *name, char *buf, size_t len, lk_conf_fn fn,
	    void *arg, char *err, size_t errlen);

/*
 * Reads the file at path and parses it. *bufp receives the file's
 * contents, owned by the caller (free() it once the values are no longer
 * used), also on a parse error; NULL when nothing was read. A missing
 * file returns LK_ERR_NOT_FOUND (with err filled) so that a caller may
 * accept an absent default file.
 */
int	lk_conf_load(const char *path, char **bufp, lk_conf_fn fn, void *arg,
	    char *err, size_t errlen);

/* "yes/no", "true/false", "on/off", "1/0": 1 or 0; -1 for anything else. */
int	lk_conf_bool(const char *val);

#endif
