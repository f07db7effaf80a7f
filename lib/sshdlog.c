/*
 * sshd's "Accepted publickey" log line (sshdlog.h). OpenSSH writes it in
 * auth.c (auth_log) as
 *
 *	"Accepted publickey for %s from %s port %d ssh2: %s %s"
 *
 * the last two being the key's type and SHA256 fingerprint; a certificate
 * has more words after them and is not a key latchkey pushes. A user name
 * holds no space (lk_user_valid), so the message splits into exactly
 * eight words after "for ".
 */
#include <arpa/inet.h>

#include <string.h>

#include "err.h"
#include "sshdlog.h"

#define SSHDLOG_MSG	"Accepted publickey for "
#define SSHDLOG_WORDS	8

/* Whether the prefix before the message is "" or ends in a sshd tag. */
static int
sshdlog_prefix_ok(const char *p, size_t n)
{
	static const char *const tags[] = { "sshd[", "sshd-session[" };
	size_t i, j, tl;

	if (n == 0)
		return 1;
	if (n < 4 || p[n - 1] != ' ' || p[n - 2] != ':' || p[n - 3] != ']')
		return 0;
	/* The PID: digits back to the '['. */
	for (j = n - 3; j > 0 && p[j - 1] >= '0' && p[j - 1] <= '9'; j--)
		;
	if (j == n - 3)
		return 0;
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		tl = strlen(tags[i]);
		if (j >= tl && memcmp(p + j - tl, tags[i], tl) == 0 &&
		    (j == tl || p[j - tl - 1] == ' '))
			return 1;
	}
	return 0;
}

static int
sshdlog_copy(char *dst, size_t size, const char *src, size_t n)
{
	if (n == 0 || n >= size || memchr(src, '\0', n) != NULL)
		return LK_ERR_INVALID_FORMAT;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static int
sshdlog_fields(const char *w[SSHDLOG_WORDS], const size_t wl[SSHDLOG_WORDS],
    struct lk_sshdlog_login *l)
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN], a[16];
	char port[8];
	long long pn;
	size_t i;

	if (wl[1] != 4 || memcmp(w[1], "from", 4) != 0 || wl[3] != 4 ||
	    memcmp(w[3], "port", 4) != 0 || wl[5] != 5 ||
	    memcmp(w[5], "ssh2:", 5) != 0)
		return LK_ERR_INVALID_FORMAT;
	if (sshdlog_copy(l->user, sizeof(l->user), w[0], wl[0]) != 0 ||
	    lk_user_valid(l->user) != 0 ||
	    sshdlog_copy(l->addr, sizeof(l->addr), w[2], wl[2]) != 0 ||
	    (inet_pton(AF_INET, l->addr, a) != 1 &&
	    inet_pton(AF_INET6, l->addr, a) != 1) ||
	    sshdlog_copy(port, sizeof(port), w[4], wl[4]) != 0 ||
	    lk_parse_ll(port, 1, 65535, &pn) != 0 ||
	    sshdlog_copy(l->keytype, sizeof(l->keytype), w[6], wl[6]) != 0 ||
	    sshdlog_copy(l->fp, sizeof(l->fp), w[7], wl[7]) != 0 ||
	    lk_sshkey_fp_parse(l->fp, dig) != 0)
		return LK_ERR_INVALID_FORMAT;
	for (i = 0; i < wl[6]; i++)
		if (!((w[6][i] >= 'A' && w[6][i] <= 'Z') ||
		    (w[6][i] >= '0' && w[6][i] <= '9') || w[6][i] == '-'))
			return LK_ERR_INVALID_FORMAT;
	l->port = (int)pn;
	return 0;
}

int
lk_sshdlog_parse(const char *line, size_t len, struct lk_sshdlog_login *l)
{
	const char *msg, *p, *end, *w[SSHDLOG_WORDS];
	size_t wl[SSHDLOG_WORDS], n = 0, ml = strlen(SSHDLOG_MSG);

	memset(l, 0, sizeof(*l));
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > LK_SSHDLOG_LINE_MAX ||
	    (msg = memmem(line, len, SSHDLOG_MSG, ml)) == NULL ||
	    !sshdlog_prefix_ok(line, (size_t)(msg - line)))
		return LK_ERR_NOT_FOUND;
	p = msg + ml;
	end = line + len;
	/* Words separated by exactly one space, as sshd writes them. */
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *we = sp != NULL ? sp : end;

		if (we == p)
			return LK_ERR_INVALID_FORMAT;	/* two spaces */
		if (n == SSHDLOG_WORDS)
			return LK_ERR_NOT_FOUND;	/* a certificate's */
		w[n] = p;
		wl[n++] = (size_t)(we - p);
		p = sp != NULL ? sp + 1 : end;
		if (sp != NULL && p == end)
			return LK_ERR_INVALID_FORMAT;
	}
	if (n != SSHDLOG_WORDS)
		return LK_ERR_INVALID_FORMAT;
	if (sshdlog_fields(w, wl, l) != 0) {
		memset(l, 0, sizeof(*l));
		return LK_ERR_INVALID_FORMAT;
	}
	return 0;
}
