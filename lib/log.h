/*
 * Logging: one event per line, "<subsystem> <event> key=value ...".
 * Destinations are chosen once by log_init(): stderr, syslog, or both.
 * Values from outside must pass through lk_vis() so they cannot forge
 * log lines. Never log keys or secrets; log fingerprints.
 *
 * On stderr, a daemon chooses a format with log_format():
 *   LK_LOG_FMT_PLAIN  "prog: message" (the default: commands, errors)
 *   LK_LOG_FMT_TEXT   "time=... level=info prog=P msg=\"subsystem event\"
 *                     key=value ..." (logfmt; docs/operations.md)
 *   LK_LOG_FMT_JSON   the same fields as one JSON object a line
 * time is RFC 3339 in UTC with milliseconds; it is left out when stderr
 * is the journal (JOURNAL_STREAM names it), which stamps lines itself.
 * The message's leading words become msg, its key=value pairs the
 * following fields; a message that does not end in well-formed pairs is
 * msg as a whole. Syslog gets the message as it was written.
 */
#ifndef LK_LOG_H
#define LK_LOG_H

#include <stddef.h>

#define LK_LOG_STDERR	0x01
#define LK_LOG_SYSLOG	0x02
#define LK_LOG_DEBUG	0x04

#define LK_LOG_FMT_PLAIN	0
#define LK_LOG_FMT_TEXT		1
#define LK_LOG_FMT_JSON		2

void	log_init(const char *progname, int flags, int facility);
void	log_format(int fmt);
/* "text" or "json" into *fmtp; -1 for another name. */
int	log_format_parse(const char *name, int *fmtp);
/*
 * Formats one event as log_format() would on stderr into dst (always
 * NUL-terminated, no newline); ts NULL leaves the time out, errstr NULL
 * the error. For tests.
 */
void	log_fmt_line(char *dst, size_t dstlen, int fmt, const char *ts,
	    const char *level, const char *msg, const char *errstr);
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copies src (srclen bytes, NULs allowed) into dst as printable ASCII:
 * bytes outside 0x21..0x7e, and backslash, become \xNN. dst is always
 * NUL-terminated; output that does not fit is cut at a whole escape.
 * Returns dst.
 */
char	*lk_vis(char *dst, size_t dstlen, const void *src, size_t srclen);

#endif
