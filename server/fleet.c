/*
 * The managed-instance lifecycle's pure checks (fleet.h). Everything here
 * reads strings from callers or agents, so every function bounds its input
 * and accepts only what it can name; tests/unit/test_fleet.c and
 * tests/fuzz/fuzz_fleet.c feed it hostile input.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fleet.h"
#include "util.h"

/* An address or block: family, 16 bytes (IPv4 in the first 4), prefix. */
struct fleet_net {
	int		 v6;
	unsigned char	 a[16];
	int		 bits;
};

static int
fleet_addr_parse(const char *s, struct fleet_net *n)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };

	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, s, n->a) == 1) {
		n->bits = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, n->a) != 1)
		return LK_ERR_INVALID_FORMAT;
	if (memcmp(n->a, mapped, sizeof(mapped)) == 0) {
		memmove(n->a, n->a + 12, 4);
		memset(n->a + 4, 0, 12);
		n->bits = 32;
		return 0;
	}
	n->v6 = 1;
	n->bits = 128;
	return 0;
}

/* range into *n; "" is not handled here. */
static int
fleet_range_parse(const char *range, struct fleet_net *n)
{
	char buf[FLEET_RANGE_MAX + 1];
	const char *slash;
	long long bits;
	int i, max;

	if (strnlen(range, FLEET_RANGE_MAX + 1) > FLEET_RANGE_MAX)
		return LK_ERR_TOO_LONG;
	snprintf(buf, sizeof(buf), "%s", range);
	if ((slash = strchr(buf, '/')) != NULL)
		buf[slash - buf] = '\0';
	if (fleet_addr_parse(buf, n) != 0)
		return LK_ERR_INVALID_FORMAT;
	/* "::ffff:10.0.0.0/104" is not taken: say the IPv4 block instead. */
	if (!n->v6 && strchr(buf, ':') != NULL && slash != NULL)
		return LK_ERR_INVALID_FORMAT;
	if (slash == NULL)
		return 0;
	max = n->v6 ? 128 : 32;
	if (slash[1] < '0' || slash[1] > '9' ||
	    lk_parse_ll(slash + 1, 0, max, &bits) != 0)
		return LK_ERR_INVALID_FORMAT;
	n->bits = (int)bits;
	for (i = n->bits; i < max; i++)
		if (n->a[i / 8] & (0x80 >> (i % 8)))
			return LK_ERR_INVALID_FORMAT;	/* host bits set */
	return 0;
}

int
fleet_range_valid(const char *range)
{
	struct fleet_net n;

	if (range == NULL || *range == '\0')
		return 0;
	return fleet_range_parse(range, &n) == 0 ? 0 : LK_ERR_INVALID_FORMAT;
}

int
fleet_addr_in_range(const char *addr, const char *range)
{
	struct fleet_net a, n;
	int i;

	if (range == NULL || *range == '\0')
		return 1;
	if (addr == NULL || strnlen(addr, 64) >= 64 ||
	    fleet_addr_parse(addr, &a) != 0 ||
	    fleet_range_parse(range, &n) != 0 || a.v6 != n.v6)
		return 0;
	for (i = 0; i < n.bits; i++)
		if ((a.a[i / 8] ^ n.a[i / 8]) & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

int
fleet_machine_id_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, FLEET_MACHINE_ID_MAX + 1);
	return n > 0 && n <= FLEET_MACHINE_ID_MAX && strspn(s,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	    "._:-") == n;
}

int
fleet_name_valid(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, max + 1);
	if (n < 2 || n > max || !((s[0] >= 'A' && s[0] <= 'Z') ||
	    (s[0] >= 'a' && s[0] <= 'z')))
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._:-") == n;
}

int
fleet_desc_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return 1;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= FLEET_DESC_MAX || (unsigned char)s[i] < 0x20 ||
		    s[i] == 0x7f)
			return 0;
	return 1;
}

int
fleet_seq_name(const char *prefix, int64_t count, int64_t n, char *out,
    size_t outsize)
{
	int digits = 1, w;

	for (; count >= 10; count /= 10)
		digits++;
	w = snprintf(out, outsize, "%s-%0*lld", prefix, digits, (long long)n);
	return w < 0 || (size_t)w >= outsize ? LK_ERR_TOO_LONG : 0;
}
