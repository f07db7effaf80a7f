/*
 * sshd's log line of an accepted public-key login, as latchkey-agent
 * reads it to tell latchkeyd which pushed key logged in (docs/audit.md,
 * "The login"):
 *
 *	Accepted publickey for alice from 10.0.0.9 port 50022 ssh2: ED25519 SHA256:...
 *
 * The line comes from a log file other programs may write to, so it is
 * untrusted input: parsed through bounds, every field checked.
 */
#ifndef LK_SSHDLOG_H
#define LK_SSHDLOG_H

#include <stddef.h>

#include "sshkey.h"
#include "util.h"

#define LK_SSHDLOG_LINE_MAX	2048	/* longer lines are not sshd's */
#define LK_SSHDLOG_ADDR_MAX	46	/* INET6_ADDRSTRLEN */
#define LK_SSHDLOG_TYPE_MAX	31	/* "ECDSA", "ED25519", "RSA", ... */

struct lk_sshdlog_login {
	char	 user[LK_USER_MAX + 1];
	char	 addr[LK_SSHDLOG_ADDR_MAX];	/* numeric IPv4 or IPv6 */
	int	 port;				/* 1..65535 */
	char	 keytype[LK_SSHDLOG_TYPE_MAX + 1];
	char	 fp[LK_SSHKEY_FP_SIZE];		/* "SHA256:" + 43 */
};

/*
 * Parses one line of len bytes (a trailing "\r" or "\n" is ignored; need
 * not be NUL-terminated). The message must start the line (sshd -E) or
 * follow a syslog tag "sshd[PID]: " or "sshd-session[PID]: " (a syslog
 * file). Returns 0 with *l filled for an accepted login with a plain
 * key; LK_ERR_NOT_FOUND for any other line (other messages, certificates,
 * another program's tag); LK_ERR_INVALID_FORMAT for a line that claims
 * an accepted public key but has a field that is not what sshd writes.
 */
int	lk_sshdlog_parse(const char *line, size_t len,
	    struct lk_sshdlog_login *l);

#endif
