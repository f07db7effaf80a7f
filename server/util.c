#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "err.h"
#include "latchkeyd.h"
#include "store.h"

/*
 * Seconds since the epoch by the database's clock: this machine's plus
 * the offset last measured (store_agent_clock_sync), so that replicas on one
 * PostgreSQL agree on expiry and time windows. 0 offset for SQLite.
 */
int64_t
lkd_now(void)
{
	return (int64_t)time(NULL) + store_clock_offset();
}

/* prefix + nchars characters drawn uniformly from alphabet. */
int
lkd_random_id(const char *prefix, size_t nchars, const char *alphabet,
    char *out, size_t outsize)
{
	size_t plen = strlen(prefix), alen = strlen(alphabet), i;
	unsigned char b;
	unsigned int limit;

	if (plen + nchars + 1 > outsize || alen == 0 || alen > 256)
		return LK_ERR_INTERNAL;
	memcpy(out, prefix, plen);
	limit = 256 - 256 % (unsigned int)alen;	/* no modulo bias */
	for (i = 0; i < nchars; ) {
		if (RAND_bytes(&b, 1) != 1)
			return LK_ERR_INTERNAL;
		if (b >= limit)
			continue;
		out[plen + i++] = alphabet[b % alen];
	}
	out[plen + nchars] = '\0';
	return 0;
}

void
lkd_request_id(char out[37])
{
	unsigned char b[16];
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0xf];
	}
	out[o] = '\0';
}

/*
 * Has the peer of socket fd closed its end (or reset it)? A socket whose
 * peer only sent data is not gone; a closed peer shows as POLLRDHUP even
 * with unread data before the end, as with TLS's close_notify.
 */
int
lkd_peer_gone(int fd)
{
	struct pollfd p;

	if (fd < 0)
		return 0;
	p.fd = fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) <= 0)
		return 0;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/*
 * The Recommend of an error body: the code's entry in the project's error
 * page, served with the console's assets. Absolute with --public-url,
 * else a path on this server. A code with characters outside
 * [A-Za-z0-9._-] (none of ours) gets no fragment. The text lives in a
 * per-thread buffer, valid until the thread's next call.
 */
const char *
lkd_recommend(const char *code)
{
	static __thread char buf[sizeof(lkd->public_url) + 160];
	size_t n = strlen(lkd->public_url), c = code ? strlen(code) : 0;

	while (n > 0 && lkd->public_url[n - 1] == '/')
		n--;
	if (c > 96 || (code != NULL && strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != c))
		c = 0;
	snprintf(buf, sizeof(buf), "%.*s%s%s%.*s", (int)n, lkd->public_url,
	    LKD_ERRORS_PAGE, c > 0 ? "#" : "", (int)c, code ? code : "");
	return buf;
}
