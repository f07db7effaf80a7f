/*
 * The RFC 6455 frame codec (section 5.2): frame headers in and out, and
 * the payload mask. No I/O and no allocation; wsconn.c drives it.
 *
 * Masking runs over the payload in place (or while copying) a 64-bit word
 * at a time: the 4-byte mask, rotated to the payload offset the word
 * starts at, repeated twice. Loads and stores go through memcpy, which the
 * compiler turns into plain (unaligned-safe) moves, so UBSan has nothing
 * to say; only the unaligned head and the tail go byte by byte.
 */
#include <stdint.h>
#include <string.h>

#include "ws.h"

int
lk_ws_hdr_parse(const uint8_t *p, size_t n, int is_server,
    struct lk_ws_hdr *h, int *code)
{
	size_t hlen, i;
	uint64_t len;
	int op, len7;

	if (n < 2)
		return 0;
	op = p[0] & 0x0f;
	len7 = p[1] & 0x7f;
	/* No extension is negotiated: every RSV bit must be clear. */
	if ((p[0] & 0x70) != 0 ||
	    (op > LK_WS_OP_BINARY && op < LK_WS_OP_CLOSE) ||
	    op > LK_WS_OP_PONG)
		goto bad;
	/* Control frames: never fragmented, at most 125 bytes. */
	if (op >= LK_WS_OP_CLOSE && ((p[0] & 0x80) == 0 || len7 > 125))
		goto bad;
	/* A client masks every frame; a server masks none (5.1). */
	if (((p[1] & 0x80) != 0) != (is_server != 0))
		goto bad;
	hlen = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
	    ((p[1] & 0x80) ? 4 : 0);
	if (n < hlen)
		return 0;
	/* The length in its shortest form only (5.2: "MUST"). */
	if (len7 == 126) {
		len = (uint64_t)p[2] << 8 | p[3];
		if (len < 126)
			goto bad;
	} else if (len7 == 127) {
		if (p[2] & 0x80)
			goto bad;
		for (len = 0, i = 2; i < 10; i++)
			len = len << 8 | p[i];
		if (len <= 0xffff)
			goto bad;
	} else
		len = (uint64_t)len7;
	h->fin = (p[0] & 0x80) != 0;
	h->opcode = op;
	h->masked = (p[1] & 0x80) != 0;
	if (h->masked)
		memcpy(h->mask, p + hlen - 4, 4);
	else
		memset(h->mask, 0, 4);
	h->len = len;
	h->hlen = hlen;
	return (int)hlen;
 bad:
	*code = LK_WS_PROTOCOL;
	return -1;
}

size_t
lk_ws_hdr_build(uint8_t *out, int fin, int opcode, uint64_t len,
    const uint8_t mask[4])
{
	size_t n = 2;
	int i;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len <= 125)
		out[1] = (uint8_t)len;
	else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/* The mask as a word whose first byte is the payload's byte at off. */
static uint64_t
ws_mask_word(const uint8_t mask[4], uint64_t off)
{
	uint8_t b[8];
	uint64_t w;
	int i;

	for (i = 0; i < 8; i++)
		b[i] = mask[(off + (uint64_t)i) & 3];
	memcpy(&w, b, sizeof(w));
	return w;
}

void
lk_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off)
{
	/* The mask 0 (the agent's hop) changes nothing. */
	if ((mask[0] | mask[1] | mask[2] | mask[3]) == 0)
		return;
	lk_ws_mask_copy(p, p, n, mask, off);
}

void
lk_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n,
    const uint8_t mask[4], uint64_t off)
{
	uint64_t m, a, b, c, d;
	size_t i = 0;

	if ((mask[0] | mask[1] | mask[2] | mask[3]) == 0) {
		if (dst != src && n > 0)
			memcpy(dst, src, n);
		return;
	}
	/* Align the stores; the loads may stay unaligned. */
	while (i < n && ((uintptr_t)(dst + i) & 7) != 0) {
		dst[i] = src[i] ^ mask[(off + i) & 3];
		i++;
	}
	if (n - i >= 8) {
		m = ws_mask_word(mask, off + i);
		for (; n - i >= 32; i += 32) {
			memcpy(&a, src + i, 8);
			memcpy(&b, src + i + 8, 8);
			memcpy(&c, src + i + 16, 8);
			memcpy(&d, src + i + 24, 8);
			a ^= m;
			b ^= m;
			c ^= m;
			d ^= m;
			memcpy(dst + i, &a, 8);
			memcpy(dst + i + 8, &b, 8);
			memcpy(dst + i + 16, &c, 8);
			memcpy(dst + i + 24, &d, 8);
		}
		for (; n - i >= 8; i += 8) {
			memcpy(&a, src + i, 8);
			a ^= m;
			memcpy(dst + i, &a, 8);
		}
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ mask[(off + i) & 3];
}
