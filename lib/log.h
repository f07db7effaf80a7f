/*
 * Logging: one event per line, "<subsystem> <event> key=value ...".
 * Destinations are chosen once by log_init(): stderr, syslog, or both.
 * Values from outside must pass through lk_vis() so they cannot forge
 * log lines. Never log keys or secrets; log fingerprints.
 */
#ifndef LK_LOG_H
#define LK_LOG_H

#include <stddef.h>

#define LK_LOG_STDERR	0x01
#define LK_LOG_SYSLOG	0x02
#define LK_LOG_DEBUG	0x04

void	log_init(const char *progname, int flags, int facility);
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
