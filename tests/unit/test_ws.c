/*
 * lib/ws_key.c: the opening handshake's key check and accept value (RFC
 * 6455, section 4.2.2), and the close codes' names. The accept value is
 * checked against the RFC's own example, another published pair, and an
 * independent computation (OpenSSL's SHA-1 and base64) for random keys.
 *
 * lib/wsframe.c: the RFC's own frame examples (section 5.7), every header
 * error, and the word-at-a-time masking against a byte-wise reference.
 * lib/wsconn.c: a client and a server lk_wsc over a non-blocking
 * socketpair (messages of every length class both ways, pieces, ping,
 * both close orders, close after data, references, held pieces, bytes read
 * before), and raw hostile frames written to one of them, each of which
 * must give its close code.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "b64.h"
#include "err.h"
#include "unit.h"
#include "ws.h"

#define GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static void
accept_is(const char *key, const char *want)
{
	char out[LK_WS_ACCEPT_LEN + 1];

	assert_true(lk_ws_key_valid(key));
	memset(out, 'x', sizeof(out));
	assert_int_equal(lk_ws_accept(key, out), 0);
	assert_int_equal(strlen(out), LK_WS_ACCEPT_LEN);
	assert_string_equal(out, want);
}

/* RFC 6455 section 1.3, and the pair of section 4.1's example exchange. */
static void
test_accept_known(void **state)
{
	(void)state;
	accept_is("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	accept_is("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
	/* All zero and all one bits (an accept with '+' and '/'). */
	accept_is("AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
	accept_is("/////////////////////w==", "XXpj4jYzLM2yUE0C7TIgMwTQh2g=");
}

/* Random keys against SHA-1 and base64 done here with OpenSSL alone. */
static void
test_accept_random(void **state)
{
	unsigned char raw[16], md[SHA_DIGEST_LENGTH];
	char key[LK_WS_KEY_LEN + 1], buf[LK_WS_KEY_LEN + sizeof(GUID)];
	char want[LK_WS_ACCEPT_LEN + 1], out[LK_WS_ACCEPT_LEN + 1];
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		assert_int_equal(RAND_bytes(raw, sizeof(raw)), 1);
		assert_int_equal(EVP_EncodeBlock((unsigned char *)key, raw,
		    sizeof(raw)), LK_WS_KEY_LEN);
		assert_true(lk_ws_key_valid(key));
		snprintf(buf, sizeof(buf), "%s%s", key, GUID);
		SHA1((const unsigned char *)buf, strlen(buf), md);
		assert_int_equal(EVP_EncodeBlock((unsigned char *)want, md,
		    sizeof(md)), LK_WS_ACCEPT_LEN);
		assert_int_equal(lk_ws_accept(key, out), 0);
		assert_string_equal(out, want);
	}
}

static void
invalid(const char *key)
{
	char out[LK_WS_ACCEPT_LEN + 1], was[LK_WS_ACCEPT_LEN + 1];

	assert_false(lk_ws_key_valid(key));
	memset(out, 'x', sizeof(out));
	memset(was, 'x', sizeof(was));
	assert_int_equal(lk_ws_accept(key, out), LK_ERR_INVALID_FORMAT);
	/* A refused key leaves out as it was. */
	assert_memory_equal(out, was, sizeof(out));
}

static void
test_key_invalid(void **state)
{
	char big[4096];

	(void)state;
	invalid(NULL);
	invalid("");
	/* Wrong lengths around the right one. */
	invalid("dGhlIHNhbXBsZSBub25jZQ=");
	invalid("dGhlIHNhbXBsZSBub25jZQ===");
	invalid("dGhlIHNhbXBsZSBub25jZQ== ");
	invalid(" dGhlIHNhbXBsZSBub25jZQ==");
	invalid("dGhlIHNhbXBsZSBub25jZQ");
	/* 15 bytes (20 characters), 17 bytes (one '='), 18 bytes (none). */
	invalid("AAAAAAAAAAAAAAAAAAAA");
	invalid("AAAAAAAAAAAAAAAAAAAAAAA=");
	invalid("AAAAAAAAAAAAAAAAAAAAAAAA");
	/* 24 characters padded like 15 bytes are not valid base64. */
	invalid("AAAAAAAAAAAAAAAAAAAA====");
	invalid("AAAAAAAAAAAAAAAAAAAAA===");
	/* Non-canonical: the unused low bits of the last digit are set. */
	invalid("dGhlIHNhbXBsZSBub25jZR==");
	invalid("dGhlIHNhbXBsZSBub25jZf==");
	/* Characters outside the alphabet, the URL-safe one included. */
	invalid("dGhlIHNhbXBsZSBub25jZQ=A");
	invalid("dGhl=HNhbXBsZSBub25jZQ==");
	invalid("dGhlIHNhbXBsZSBub25j\tQ==");
	invalid("dGhlIHNhbXBsZSBub25jZQ\r\n");
	invalid("_____________________w==");
	invalid("---------------------w==");
	invalid("dGhlIHNhbXBsZSBub25j\xc3\xa9==");
	/* A NUL inside: the string ends there, so the length is wrong. */
	invalid("dGhlIHNhbXBs\0ZSBub25jZQ==");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	invalid(big);
	/* Sanity: the same function accepts the canonical key. */
	assert_true(lk_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
}

/* Every 16-byte key encodes to a valid key; lk_b64 and OpenSSL agree. */
static void
test_key_roundtrip(void **state)
{
	unsigned char raw[16];
	char *k;
	int i;

	(void)state;
	for (i = 0; i < 256; i++) {
		memset(raw, i, sizeof(raw));
		raw[i % 16] ^= 0x5a;
		assert_non_null(k = lk_b64_encode(raw, sizeof(raw), 1));
		assert_int_equal(strlen(k), LK_WS_KEY_LEN);
		assert_true(lk_ws_key_valid(k));
		free(k);
	}
}

static void
test_code_names(void **state)
{
	static const struct {
		int		 code;
		const char	*word;
	} codes[] = {
		{ LK_WS_NORMAL,		"normal" },
		{ LK_WS_GOING_AWAY,	"going away" },
		{ LK_WS_PROTOCOL,	"protocol" },
		{ LK_WS_ABNORMAL,	"lost" },
		{ LK_WS_TOO_BIG,	"too big" },
		{ LK_WS_INTERNAL,	"internal" },
		{ LK_WS_IDLE,		"idle" },
		{ LK_WS_AGENT_LOST,	"agent" },
		{ LK_WS_PORT_REFUSED,	"port" },
		{ LK_WS_ENDED,		"ended" },
		{ LK_WS_NO_AGENT,	"agent" },
		{ LK_WS_CLIENT_LOST,	"client" },
		{ LK_WS_BAD_DATA,	"UTF-8" },
		{ LK_WS_POLICY,		"policy" },
		{ LK_WS_RESUME,		"resum" },
		{ LK_WS_RESUME_RANGE,	"out of range" },
		{ LK_WS_RESUME_GONE,	"no longer" },
		{ LK_WS_SHELL_REFUSED,	"shell" },
	};
	static const int unknown[] = { 0, -1, 999, 1003, 1005, 1010,
	    3000, 4010, 4999, 65535 };
	const char *dflt = lk_ws_code_name(0), *a, *b;
	size_t i, j;

	(void)state;
	assert_non_null(dflt);
	assert_string_equal(dflt, "closed");
	/* The numbers are the documented ones (docs/sessions.md). */
	assert_int_equal(LK_WS_NORMAL, 1000);
	assert_int_equal(LK_WS_GOING_AWAY, 1001);
	assert_int_equal(LK_WS_PROTOCOL, 1002);
	assert_int_equal(LK_WS_ABNORMAL, 1006);
	assert_int_equal(LK_WS_TOO_BIG, 1009);
	assert_int_equal(LK_WS_INTERNAL, 1011);
	assert_int_equal(LK_WS_IDLE, 4000);
	assert_int_equal(LK_WS_AGENT_LOST, 4001);
	assert_int_equal(LK_WS_PORT_REFUSED, 4002);
	assert_int_equal(LK_WS_ENDED, 4003);
	assert_int_equal(LK_WS_NO_AGENT, 4004);
	assert_int_equal(LK_WS_CLIENT_LOST, 4005);
	assert_int_equal(LK_WS_RESUME, 4006);
	assert_int_equal(LK_WS_RESUME_RANGE, 4007);
	assert_int_equal(LK_WS_RESUME_GONE, 4008);
	assert_int_equal(LK_WS_SHELL_REFUSED, 4009);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		a = lk_ws_code_name(codes[i].code);
		assert_non_null(a);
		if (strstr(a, codes[i].word) == NULL)
			fail_msg("code %d: \"%s\" lacks \"%s\"", codes[i].code,
			    a, codes[i].word);
		assert_string_not_equal(a, dflt);
		/* Fits a close frame's reason (123 bytes). */
		assert_true(strlen(a) <= 123);
		for (j = 0; j < i; j++) {
			b = lk_ws_code_name(codes[j].code);
			if (strcmp(a, b) == 0)
				fail_msg("codes %d and %d share \"%s\"",
				    codes[i].code, codes[j].code, a);
		}
	}
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_string_equal(lk_ws_code_name(unknown[i]), dflt);
}

static void
test_limits(void **state)
{
	(void)state;
	/* The bridges' chunks fit a message; the high water holds one. */
	assert_true(LK_WS_CHUNK <= LK_WS_MSG_MAX);
	assert_true(LK_WS_MSG_MAX <= LK_WS_HIGH_WATER);
	assert_int_equal(LK_WS_MSG_MAX, 256 * 1024);
	assert_int_equal(LK_WS_KEY_LEN, 24);
	assert_int_equal(LK_WS_ACCEPT_LEN, 28);
}

/* ---- wsframe.c ------------------------------------------------------ */

static void
parses_as(const uint8_t *p, size_t n, int is_server, int fin, int op,
    int masked, uint64_t len, size_t hlen)
{
	struct lk_ws_hdr h;
	size_t i;
	int code = 0;

	/* Every proper prefix asks for more. */
	for (i = 0; i < hlen; i++)
		assert_int_equal(lk_ws_hdr_parse(p, i, is_server, &h, &code), 0);
	assert_int_equal(lk_ws_hdr_parse(p, n, is_server, &h, &code),
	    (int)hlen);
	assert_int_equal(h.fin, fin);
	assert_int_equal(h.opcode, op);
	assert_int_equal(h.masked, masked);
	assert_true(h.len == len);
	assert_int_equal(h.hlen, hlen);
}

/* RFC 6455 section 5.7, each parsed and rebuilt. */
static void
test_frame_rfc_examples(void **state)
{
	static const uint8_t hello[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c,
	    0x6f };
	static const uint8_t mhello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const uint8_t frag1[] = { 0x01, 0x03, 0x48, 0x65, 0x6c };
	static const uint8_t frag2[] = { 0x80, 0x02, 0x6c, 0x6f };
	static const uint8_t ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c,
	    0x6f };
	static const uint8_t mpong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const uint8_t b256[] = { 0x82, 0x7e, 0x01, 0x00 };
	static const uint8_t b64k[] = { 0x82, 0x7f, 0x00, 0x00, 0x00, 0x00,
	    0x00, 0x01, 0x00, 0x00 };
	static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t out[LK_WS_HDR_MAX], pl[5];

	(void)state;
	parses_as(hello, sizeof(hello), 0, 1, LK_WS_OP_TEXT, 0, 5, 2);
	parses_as(mhello, sizeof(mhello), 1, 1, LK_WS_OP_TEXT, 1, 5, 6);
	parses_as(frag1, sizeof(frag1), 0, 0, LK_WS_OP_TEXT, 0, 3, 2);
	parses_as(frag2, sizeof(frag2), 0, 1, LK_WS_OP_CONT, 0, 2, 2);
	parses_as(ping, sizeof(ping), 0, 1, LK_WS_OP_PING, 0, 5, 2);
	parses_as(mpong, sizeof(mpong), 1, 1, LK_WS_OP_PONG, 1, 5, 6);
	parses_as(b256, sizeof(b256), 0, 1, LK_WS_OP_BINARY, 0, 256, 4);
	parses_as(b64k, sizeof(b64k), 0, 1, LK_WS_OP_BINARY, 0, 65536, 10);

	assert_int_equal(lk_ws_hdr_build(out, 1, LK_WS_OP_TEXT, 5, NULL), 2);
	assert_memory_equal(out, hello, 2);
	assert_int_equal(lk_ws_hdr_build(out, 1, LK_WS_OP_TEXT, 5, mask), 6);
	assert_memory_equal(out, mhello, 6);
	assert_int_equal(lk_ws_hdr_build(out, 0, LK_WS_OP_TEXT, 3, NULL), 2);
	assert_memory_equal(out, frag1, 2);
	assert_int_equal(lk_ws_hdr_build(out, 1, LK_WS_OP_CONT, 2, NULL), 2);
	assert_memory_equal(out, frag2, 2);
	assert_int_equal(lk_ws_hdr_build(out, 1, LK_WS_OP_PONG, 5, mask), 6);
	assert_memory_equal(out, mpong, 6);
	assert_int_equal(lk_ws_hdr_build(out, 1, LK_WS_OP_BINARY, 256, NULL),
	    4);
	assert_memory_equal(out, b256, 4);
	assert_int_equal(lk_ws_hdr_build(out, 1, LK_WS_OP_BINARY, 65536,
	    NULL), 10);
	assert_memory_equal(out, b64k, 10);
	/* The length classes' edges. */
	assert_int_equal(lk_ws_hdr_build(out, 1, 2, 125, NULL), 2);
	assert_int_equal(lk_ws_hdr_build(out, 1, 2, 126, NULL), 4);
	assert_int_equal(lk_ws_hdr_build(out, 1, 2, 65535, NULL), 4);
	assert_int_equal(lk_ws_hdr_build(out, 1, 2, 65536, mask), 14);

	/* The masked payload is "Hello" again. */
	memcpy(pl, mhello + 6, 5);
	lk_ws_mask(pl, 5, mask, 0);
	assert_memory_equal(pl, "Hello", 5);
	lk_ws_mask_copy(pl, hello + 2, 5, mask, 0);
	assert_memory_equal(pl, mhello + 6, 5);
}

static void
hdr_bad(const uint8_t *p, size_t n, int is_server)
{
	struct lk_ws_hdr h;
	int code = 0;

	assert_int_equal(lk_ws_hdr_parse(p, n, is_server, &h, &code), -1);
	assert_int_equal(code, LK_WS_PROTOCOL);
}

static void
test_frame_hdr_errors(void **state)
{
	uint8_t b[14] = { 0 };
	int op;

	(void)state;
	/* RSV1, RSV2, RSV3. */
	b[0] = 0xc2; b[1] = 0x80; hdr_bad(b, 6, 1);
	b[0] = 0xa2; hdr_bad(b, 6, 1);
	b[0] = 0x92; hdr_bad(b, 6, 1);
	/* Unknown opcodes. */
	for (op = 3; op <= 7; op++) {
		b[0] = (uint8_t)(0x80 | op); hdr_bad(b, 6, 1);
	}
	for (op = 0xb; op <= 0xf; op++) {
		b[0] = (uint8_t)(0x80 | op); hdr_bad(b, 6, 1);
	}
	/* A fragmented control frame, one over 125 bytes. */
	b[0] = 0x09; b[1] = 0x80; hdr_bad(b, 6, 1);
	b[0] = 0x88; b[1] = 0x80 | 126; b[2] = 0; b[3] = 126; hdr_bad(b, 8, 1);
	b[0] = 0x8a; b[1] = 0x80 | 127; hdr_bad(b, 14, 1);
	/* A 64-bit length with its top bit set. */
	b[0] = 0x82; b[1] = 0x80 | 127; b[2] = 0x80; hdr_bad(b, 14, 1);
	b[1] = 127; hdr_bad(b, 10, 0);
	/* The mask where the role forbids it, or none where it needs one. */
	b[0] = 0x82; b[1] = 0x00; hdr_bad(b, 2, 1);
	b[1] = 0x80; hdr_bad(b, 6, 0);
	/* A length not in its shortest form. */
	memset(b, 0, sizeof(b));
	b[0] = 0x82; b[1] = 0x80 | 126; b[2] = 0; b[3] = 125; hdr_bad(b, 8, 1);
	b[3] = 126;
	parses_as(b, 8, 1, 1, LK_WS_OP_BINARY, 1, 126, 8);
	b[1] = 0x80 | 127; memset(b + 2, 0, 8); b[9] = 5; hdr_bad(b, 14, 1);
	b[8] = 0xff; b[9] = 0xff; hdr_bad(b, 14, 1);
	b[7] = 1; b[8] = 0; b[9] = 0;
	parses_as(b, 14, 1, 1, LK_WS_OP_BINARY, 1, 65536, 14);
	/* A top bit clear is fine: 2^63 - 1. */
	b[1] = 127; b[2] = 0x7f; memset(b + 3, 0xff, 7);
	parses_as(b, 10, 0, 1, LK_WS_OP_BINARY, 0, UINT64_MAX >> 1, 10);
}

static void
ref_mask(uint8_t *p, size_t n, const uint8_t m[4], uint64_t off)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] ^= m[(off + i) % 4];
}

/* Every length 0..70, offset 0..7, alignment 0..7 of source and target. */
static void
test_frame_mask(void **state)
{
	static const uint8_t m[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t src[96], a[96], b[96], c[96];
	size_t n, i;
	unsigned off, al, sal;

	(void)state;
	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 131 + 7);
	for (n = 0; n <= 70; n++)
		for (off = 0; off < 8; off++)
			for (al = 0; al < 8; al++) {
				memcpy(a, src, sizeof(a));
				memcpy(b, src, sizeof(b));
				lk_ws_mask(a + al, n, m, off);
				ref_mask(b + al, n, m, off);
				assert_memory_equal(a, b, sizeof(a));
				for (sal = 0; sal < 8; sal++) {
					memset(c, 0xee, sizeof(c));
					memcpy(a, c, sizeof(a));
					lk_ws_mask_copy(c + al, src + sal, n, m,
					    off);
					memcpy(a + al, src + sal, n);
					ref_mask(a + al, n, m, off);
					assert_memory_equal(a, c, sizeof(a));
				}
			}
	/* Masking twice gives the payload back; big, offset 3. */
	{
		size_t big = 1 << 20;
		uint8_t *x = malloc(big + 1), *y = malloc(big + 1);

		assert_non_null(x);
		assert_non_null(y);
		for (i = 0; i <= big; i++)
			x[i] = (uint8_t)(i ^ (i >> 8));
		memcpy(y, x, big + 1);
		lk_ws_mask(x + 1, big, m, 3);
		ref_mask(y + 1, big, m, 3);
		assert_memory_equal(x, y, big + 1);
		lk_ws_mask(x + 1, big, m, 3);
		ref_mask(y + 1, big, m, 3);
		assert_memory_equal(x, y, big + 1);
		free(x);
		free(y);
	}
}

/* ---- wsconn.c ---------------------------------------------------------- */

struct end {
	struct lk_wsc	w;
	struct tbuf	got;		/* data payload, all messages */
	int		in_msg;
	int		nmsg;		/* messages completed */
	int		npieces;
	int		nclosed;
	int		nerr;
	size_t		got_at_close;
	int		hold;		/* count pieces as held (iref) */
};

static int fds[2];

static void
pair(struct end *c, struct end *s)
{
	if (c != NULL)
		memset(c, 0, sizeof(*c));
	if (s != NULL)
		memset(s, 0, sizeof(*s));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	if (c != NULL)
		assert_int_equal(lk_wsc_init(&c->w, fds[0], LK_WSC_CLIENT,
		    NULL, NULL, 0), 0);
	if (s != NULL)
		assert_int_equal(lk_wsc_init(&s->w, fds[1], LK_WSC_SERVER,
		    NULL, NULL, 0), 0);
}

static void
unpair(struct end *c, struct end *s)
{
	if (c != NULL) {
		lk_wsc_free(&c->w);
		tbuf_free(&c->got);
	}
	if (s != NULL) {
		lk_wsc_free(&s->w);
		tbuf_free(&s->got);
	}
	close(fds[0]);
	close(fds[1]);
}

/* Reads and takes every event; returns what the read gave. */
static ssize_t
end_read(struct end *e)
{
	struct lk_wsc_ev ev;
	ssize_t n = 0;
	int r;

	if (lk_wsc_want_read(&e->w))
		n = lk_wsc_fill(&e->w);
	for (;;) {
		r = lk_wsc_peek(&e->w, &ev);
		if (r == LK_WSC_DATA) {
			assert_int_equal(ev.first, !e->in_msg);
			tbuf_put(&e->got, ev.p, ev.n);
			e->in_msg = !ev.fin;
			e->npieces++;
			if (ev.fin)
				e->nmsg++;
			if (e->hold)
				e->w.iref++;
			lk_wsc_consume(&e->w, ev.n);
			continue;
		}
		if (r == LK_WSC_CLOSED) {
			assert_int_equal(e->nclosed, 0);
			e->nclosed++;
			e->got_at_close = e->got.len;
			continue;
		}
		if (r == LK_WSC_ERROR)
			e->nerr++;
		break;
	}
	return n;
}

/* Moves bytes both ways until nothing moves. */
static void
pump(struct end *a, struct end *b)
{
	int idle = 0, i;
	ssize_t ra, rb;

	for (i = 0; i < 200000 && idle < 3; i++) {
		(void)lk_wsc_flush(&a->w);
		(void)lk_wsc_flush(&b->w);
		ra = end_read(a);
		rb = end_read(b);
		if (ra <= 0 && rb <= 0 && !lk_wsc_want_write(&a->w) &&
		    !lk_wsc_want_write(&b->w))
			idle++;
		else
			idle = 0;
	}
}

static uint8_t *
pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n + 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
	return p;
}

static void
test_conn_messages(void **state)
{
	static const size_t sizes[] = { 0, 1, 125, 126, 65535, 65536,
	    1 << 20 };
	struct end c, s;
	unsigned cnt = 0;
	uint8_t *p;
	size_t i;

	(void)state;
	pair(&c, &s);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = pattern(sizes[i], (unsigned)i);
		/* client → server (masked), server → client, copy and ref. */
		assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 1, 1,
		    p, sizes[i]), 0);
		assert_int_equal(lk_wsc_queue_copy(&s.w, LK_WS_OP_BINARY, 1, 1,
		    p, sizes[i]), 0);
		assert_int_equal(lk_wsc_queue_ref(&s.w, LK_WS_OP_BINARY, 1, 1,
		    p, sizes[i], &cnt), 0);
		assert_int_equal(cnt, 1);
		assert_true(lk_wsc_queued(&s.w) >= 2 * sizes[i] + 4);
		pump(&c, &s);
		assert_int_equal(cnt, 0);
		assert_int_equal(lk_wsc_queued(&c.w), 0);
		assert_int_equal(lk_wsc_queued(&s.w), 0);
		assert_int_equal(s.nmsg, 1);
		assert_int_equal(c.nmsg, 2);
		assert_int_equal(s.got.len, sizes[i]);
		assert_int_equal(c.got.len, 2 * sizes[i]);
		if (sizes[i] > 0) {
			assert_memory_equal(s.got.p, p, sizes[i]);
			assert_memory_equal(c.got.p, p, sizes[i]);
			assert_memory_equal(c.got.p + sizes[i], p, sizes[i]);
		}
		s.got.len = c.got.len = 0;
		s.nmsg = c.nmsg = s.npieces = c.npieces = 0;
		free(p);
		/* Idle: trim gives every buffer back. */
		lk_wsc_trim(&c.w);
		lk_wsc_trim(&s.w);
		assert_null(c.w.ibuf);
		assert_null(s.w.ibuf);
		assert_null(c.w.obuf);
		assert_null(s.w.obuf);
	}
	assert_int_equal(c.nerr + s.nerr + c.nclosed + s.nclosed, 0);
	/* Text, gathered whole; an empty message once, first and fin. */
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_TEXT, 1, 0, "ack ",
	    4), 0);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_TEXT, 0, 1,
	    "12\xc3\xa9", 4), 0);
	pump(&c, &s);
	assert_int_equal(s.nmsg, 1);
	assert_int_equal(s.npieces, 1);
	assert_int_equal(s.got.len, 8);
	assert_memory_equal(s.got.p, "ack 12\xc3\xa9", 8);
	assert_true(sizeof(struct lk_wsc) < 1024);
	unpair(&c, &s);
}

static void
test_conn_pieces(void **state)
{
	struct end c, s;
	uint8_t *p = pattern(300000, 9);

	(void)state;
	pair(&c, &s);
	/* A piece out of its message is refused. */
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 0, 1, p, 1),
	    LK_ERR_STATE);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 1, 0, p,
	    100000), 0);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 1, 0, p, 1),
	    LK_ERR_STATE);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 0, 0,
	    p + 100000, 0), 0);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 0, 0,
	    p + 100000, 150000), 0);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 0, 1,
	    p + 250000, 50000), 0);
	/* An empty message after it. */
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 1, 1, p, 0),
	    0);
	pump(&c, &s);
	assert_int_equal(s.nmsg, 2);
	assert_int_equal(s.got.len, 300000);
	assert_memory_equal(s.got.p, p, 300000);
	assert_int_equal(s.nerr, 0);
	free(p);
	unpair(&c, &s);
}

static void
test_conn_ping(void **state)
{
	struct end c, s;
	uint8_t *p = pattern(600000, 3);

	(void)state;
	pair(&c, &s);
	assert_int_equal(lk_wsc_ping(&c.w, "hi", 2), 0);
	assert_int_equal(lk_wsc_ping(&s.w, NULL, 0), 0);
	assert_int_equal(c.w.pings_out, 1);
	assert_int_equal(lk_wsc_ping(&c.w, p, 126), LK_ERR_TOO_LONG);
	pump(&c, &s);
	assert_int_equal(c.w.pings_out, 0);
	assert_int_equal(s.w.pings_out, 0);
	assert_int_equal(s.nmsg + c.nmsg, 0);
	/* A ping behind queued data is answered and the data is intact. */
	assert_int_equal(lk_wsc_queue_copy(&s.w, LK_WS_OP_BINARY, 1, 1, p,
	    600000), 0);
	(void)lk_wsc_flush(&s.w);
	assert_int_equal(lk_wsc_ping(&s.w, "x", 1), 0);
	assert_int_equal(lk_wsc_ping(&c.w, "y", 1), 0);
	pump(&c, &s);
	assert_int_equal(c.w.pings_out, 0);
	assert_int_equal(s.w.pings_out, 0);
	assert_int_equal(c.got.len, 600000);
	assert_memory_equal(c.got.p, p, 600000);
	assert_true(c.w.last_rx_ms > 0 && s.w.last_tx_ms > 0);
	free(p);
	unpair(&c, &s);
}

static void
close_order(int client_first)
{
	struct end c, s, *a, *b;

	pair(&c, &s);
	a = client_first ? &c : &s;
	b = client_first ? &s : &c;
	lk_wsc_close(&a->w, LK_WS_ENDED, "ended by test");
	lk_wsc_close(&a->w, LK_WS_NORMAL, "second: ignored");
	assert_int_equal(lk_wsc_queue_copy(&a->w, LK_WS_OP_BINARY, 1, 1, "x",
	    1), LK_ERR_STATE);
	pump(&c, &s);
	assert_int_equal(b->nclosed, 1);
	assert_int_equal(b->w.close_code, LK_WS_ENDED);
	assert_string_equal(b->w.close_reason, "ended by test");
	assert_int_equal(a->nclosed, 1);
	assert_int_equal(a->w.close_code, LK_WS_ENDED);
	assert_true(lk_wsc_done(&a->w));
	assert_true(lk_wsc_done(&b->w));
	assert_false(lk_wsc_want_read(&a->w));
	assert_int_equal(a->nerr + b->nerr, 0);
	unpair(&c, &s);
}

static void
test_conn_close(void **state)
{
	struct end c, s;
	uint8_t *p = pattern(1 << 20, 5);

	(void)state;
	close_order(1);
	close_order(0);
	/* Close after queued data: the data first. */
	pair(&c, &s);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 1, 1, p,
	    1 << 20), 0);
	lk_wsc_close(&c.w, LK_WS_NORMAL, NULL);
	assert_false(c.w.close_sent);
	pump(&c, &s);
	assert_int_equal(s.nclosed, 1);
	assert_int_equal(s.got_at_close, 1 << 20);
	assert_memory_equal(s.got.p, p, 1 << 20);
	assert_int_equal(s.w.close_code, LK_WS_NORMAL);
	assert_true(lk_wsc_done(&c.w) && lk_wsc_done(&s.w));
	unpair(&c, &s);
	/* The same from the server, which passes it by reference. */
	{
		unsigned cnt = 0;

		pair(&c, &s);
		assert_int_equal(lk_wsc_queue_ref(&s.w, LK_WS_OP_BINARY, 1, 1,
		    p, 1 << 20, &cnt), 0);
		lk_wsc_close(&s.w, LK_WS_RESUME, "resume");
		pump(&c, &s);
		assert_int_equal(cnt, 0);
		assert_int_equal(c.nclosed, 1);
		assert_int_equal(c.got_at_close, 1 << 20);
		assert_int_equal(c.w.close_code, LK_WS_RESUME);
		assert_string_equal(c.w.close_reason, "resume");
		unpair(&c, &s);
	}
	free(p);
}

static void
test_conn_ref(void **state)
{
	struct end c, s;
	unsigned cnt = 0;
	uint8_t *p = pattern(1 << 20, 1);

	(void)state;
	pair(&c, &s);
	assert_int_equal(lk_wsc_queue_ref(&c.w, LK_WS_OP_BINARY, 1, 1, p, 10,
	    &cnt), LK_ERR_STATE);
	assert_int_equal(cnt, 0);
	assert_int_equal(lk_wsc_queue_ref(&s.w, LK_WS_OP_BINARY, 1, 1, p,
	    1 << 20, &cnt), 0);
	assert_int_equal(lk_wsc_queue_ref(&s.w, LK_WS_OP_BINARY, 1, 1, p, 5,
	    &cnt), 0);
	assert_int_equal(cnt, 2);
	(void)lk_wsc_flush(&s.w);	/* part of the first goes */
	assert_true(lk_wsc_queued(&s.w) > 0);
	lk_wsc_free(&s.w);
	assert_int_equal(cnt, 0);
	assert_int_equal(lk_wsc_queued(&s.w), 0);
	assert_int_equal(lk_wsc_init(&s.w, fds[1], LK_WSC_SERVER, NULL, NULL,
	    0), 0);
	free(p);
	unpair(&c, &s);
}

/* Held pieces (iref) keep their place while the buffer fills. */
static void
test_conn_held(void **state)
{
	struct end c, s;
	size_t total = 3 * LK_WSC_IBUF / 2, i;
	uint8_t *p = pattern(total, 7);
	const uint8_t *first;

	(void)state;
	pair(&c, &s);
	for (i = 0; i < total; i += total / 6)
		assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 1, 1,
		    p + i, total / 6), 0);
	s.hold = 1;
	for (i = 0; i < 100000 && lk_wsc_room(&s.w); i++) {
		(void)lk_wsc_flush(&c.w);
		(void)end_read(&s);
	}
	assert_false(lk_wsc_room(&s.w));
	assert_true(s.w.iref > 0);
	assert_int_equal(s.w.ilen, LK_WSC_IBUF);
	assert_true(s.got.len < total);
	/*
	 * Nothing moved: the first piece (after a 14-byte header) is still
	 * at the buffer's start, unmasked, and a fill changes nothing.
	 */
	first = s.w.ibuf;
	assert_memory_equal(first + 14, p, total / 6);
	assert_int_equal(lk_wsc_fill(&s.w), 0);
	assert_ptr_equal(s.w.ibuf, first);
	assert_memory_equal(first + 14, p, total / 6);
	lk_wsc_trim(&s.w);
	assert_non_null(s.w.ibuf);	/* held: not given back */
	/* Released: the rest comes. */
	s.hold = 0;
	s.w.iref = 0;
	pump(&c, &s);
	assert_int_equal(s.got.len, total);
	assert_memory_equal(s.got.p, p, total);
	assert_int_equal(s.nmsg, 6);
	free(p);
	unpair(&c, &s);
}

/* A masked client frame, masked byte by byte here. */
static size_t
raw(uint8_t *out, uint8_t b0, const void *pl, size_t n, int masked)
{
	static const uint8_t m[4] = { 0xa1, 0x02, 0xb3, 0x04 };
	size_t hl = lk_ws_hdr_build(out, 0, 0, n, masked ? m : NULL);

	out[0] = b0;
	memcpy(out + hl, pl, n);
	if (masked)
		ref_mask(out + hl, n, m, 0);
	return hl + n;
}

static void
test_conn_pre(void **state)
{
	struct end c, s;
	uint8_t b[64];
	size_t n;

	(void)state;
	pair(&c, NULL);
	n = raw(b, 0x82, "pre", 3, 1);
	n += raw(b + n, 0x01, "a", 1, 1);	/* a text message begins */
	memset(&s, 0, sizeof(s));
	assert_int_equal(lk_wsc_init(&s.w, fds[1], LK_WSC_SERVER, NULL, b, n),
	    0);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 1, 1, "post",
	    4), 0);
	pump(&c, &s);
	/* "post" came as a new message inside the text one: 1002. */
	assert_int_equal(s.got.len, 3);
	assert_memory_equal(s.got.p, "pre", 3);
	assert_int_equal(s.w.error_code, LK_WS_PROTOCOL);
	unpair(&c, &s);
	/* And a clean one. */
	pair(&c, NULL);
	n = raw(b, 0x82, "pre", 3, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(lk_wsc_init(&s.w, fds[1], LK_WSC_SERVER, NULL, b, n),
	    0);
	assert_int_equal(lk_wsc_queue_copy(&c.w, LK_WS_OP_BINARY, 1, 1, "post",
	    4), 0);
	pump(&c, &s);
	assert_int_equal(s.nmsg, 2);
	assert_int_equal(s.got.len, 7);
	assert_memory_equal(s.got.p, "prepost", 7);
	unpair(&c, &s);
}

/*
 * Raw bytes to an lk_wsc of role is_server; it must report an error (or a
 * close) and send a close frame with code.
 */
static void
hostile(int is_server, const uint8_t *b, size_t n, int code)
{
	struct end e;
	uint8_t in[64];
	int i, mine;
	ssize_t r;
	size_t hl = 0;

	memset(&e, 0, sizeof(e));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	mine = is_server ? fds[0] : fds[1];
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(lk_wsc_init(&e.w, is_server ? fds[1] : fds[0],
	    is_server ? LK_WSC_SERVER : LK_WSC_CLIENT, NULL, NULL, 0), 0);
	assert_int_equal(write(mine, b, n), (ssize_t)n);
	for (i = 0; i < 10; i++) {
		(void)end_read(&e);
		(void)lk_wsc_flush(&e.w);
	}
	if (e.nerr == 0)
		fail_msg("no error for code %d", code);
	assert_int_equal(e.w.error_code, code);
	assert_false(lk_wsc_want_read(&e.w));
	assert_true(lk_wsc_done(&e.w));
	r = read(mine, in, sizeof(in));
	assert_true(r >= 4);
	assert_int_equal(in[0], 0x88);
	assert_int_equal(in[1] & 0x7f, 2);
	if (!is_server) {
		assert_int_equal(in[1], 0x82);
		ref_mask(in + 6, 2, in + 2, 0);
		hl = 4;
	}
	assert_int_equal(in[2 + hl] << 8 | in[3 + hl], code);
	lk_wsc_free(&e.w);
	tbuf_free(&e.got);
	close(fds[0]);
	close(fds[1]);
}

static void
hostile_close(const uint8_t *pl, size_t n)
{
	uint8_t b[200];

	hostile(1, b, raw(b, 0x88, pl, n, 1), LK_WS_PROTOCOL);
	hostile(0, b, raw(b, 0x88, pl, n, 0), LK_WS_PROTOCOL);
}

static void
test_conn_hostile(void **state)
{
	static const int badcodes[] = { 0, 999, 1004, 1005, 1006, 1015, 1016,
	    2999, 5000, 65535 };
	uint8_t b[2048], t[1100];
	size_t n, i;

	(void)state;
	hostile(1, b, raw(b, 0xc2, "x", 1, 1), LK_WS_PROTOCOL);	/* RSV1 */
	hostile(1, b, raw(b, 0x83, "x", 1, 1), LK_WS_PROTOCOL);	/* op 3 */
	hostile(1, b, raw(b, 0x8b, "x", 1, 1), LK_WS_PROTOCOL);	/* op b */
	hostile(1, b, raw(b, 0x09, "x", 1, 1), LK_WS_PROTOCOL);	/* !fin */
	memset(t, 'a', sizeof(t));
	hostile(1, b, raw(b, 0x89, t, 126, 1), LK_WS_PROTOCOL);	/* > 125 */
	hostile(1, b, raw(b, 0x82, "x", 1, 0), LK_WS_PROTOCOL);	/* unmasked */
	hostile(0, b, raw(b, 0x82, "x", 1, 1), LK_WS_PROTOCOL);	/* masked */
	n = raw(b, 0x82, "", 0, 1);
	b[1] = 0x80 | 127;
	memset(b + 2, 0x80, 12);
	hostile(1, b, 14, LK_WS_PROTOCOL);		/* 64-bit top bit */
	/* A continuation without a message; a message inside a message. */
	hostile(1, b, raw(b, 0x80, "x", 1, 1), LK_WS_PROTOCOL);
	n = raw(b, 0x02, "x", 1, 1);
	hostile(1, b, n + raw(b + n, 0x82, "y", 1, 1), LK_WS_PROTOCOL);
	n = raw(b, 0x01, "x", 1, 1);
	hostile(1, b, n + raw(b + n, 0x81, "y", 1, 1), LK_WS_PROTOCOL);
	/* Text: too big (one frame, or in pieces), not UTF-8. */
	hostile(1, b, raw(b, 0x81, t, LK_WS_TEXT_MAX + 1, 1), LK_WS_TOO_BIG);
	n = raw(b, 0x01, t, 1000, 0);
	hostile(0, b, n + raw(b + n, 0x80, t, 25, 0), LK_WS_TOO_BIG);
	hostile(1, b, raw(b, 0x81, "\xff", 1, 1), LK_WS_BAD_DATA);
	hostile(1, b, raw(b, 0x81, "a\xc3", 2, 1), LK_WS_BAD_DATA);
	hostile(0, b, raw(b, 0x81, "\xed\xa0\x80", 3, 0), LK_WS_BAD_DATA);
	hostile(0, b, raw(b, 0x81, "\xc0\xaf", 2, 0), LK_WS_BAD_DATA);
	/* A text message split inside a code point is fine. */
	{
		struct end c, s;

		pair(&c, &s);
		n = raw(b, 0x01, "\xc3", 1, 1);
		n += raw(b + n, 0x89, "p", 1, 1);	/* a ping between */
		n += raw(b + n, 0x80, "\xa9", 1, 1);
		assert_int_equal(write(fds[0], b, n), (ssize_t)n);
		pump(&c, &s);
		assert_int_equal(s.nerr, 0);
		assert_int_equal(s.nmsg, 1);
		assert_memory_equal(s.got.p, "\xc3\xa9", 2);
		/* The pong reached the client (it ignores it). */
		assert_int_equal(c.nerr, 0);
		unpair(&c, &s);
	}
	/* Close frames. */
	hostile_close((const uint8_t *)"\x03", 1);
	for (i = 0; i < sizeof(badcodes) / sizeof(badcodes[0]); i++) {
		uint8_t pl[2] = { (uint8_t)(badcodes[i] >> 8),
		    (uint8_t)badcodes[i] };

		hostile_close(pl, 2);
	}
	hostile_close((const uint8_t *)"\x03\xe8\xff", 3);
	hostile_close((const uint8_t *)"\x03\xe8" "a\xe2\x82", 5);
}

/* Good closes: no code (answered with none), 3000, 4999, a reason. */
static void
test_conn_close_codes(void **state)
{
	static const int good[] = { 1000, 1001, 1011, 1012, 1014, 3000, 4999 };
	struct end s;
	uint8_t b[64], in[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint8_t pl[4] = { (uint8_t)(good[i] >> 8), (uint8_t)good[i],
		    0xc3, 0xa9 };

		pair(NULL, &s);
		assert_int_equal(write(fds[0], b, raw(b, 0x88, pl, 4, 1)), 10);
		(void)end_read(&s);
		assert_int_equal(s.nclosed, 1);
		assert_int_equal(s.w.close_code, good[i]);
		assert_string_equal(s.w.close_reason, "\xc3\xa9");
		(void)lk_wsc_flush(&s.w);
		assert_true(lk_wsc_done(&s.w));
		assert_int_equal(read(fds[0], in, sizeof(in)), 4);
		assert_int_equal(in[2] << 8 | in[3], good[i]);
		/* Nothing after the close is reported. */
		assert_int_equal(write(fds[0], b, raw(b, 0x82, "x", 1, 1)), 7);
		assert_int_equal(lk_wsc_fill(&s.w), 7);
		(void)end_read(&s);
		assert_int_equal(s.got.len, 0);
		assert_int_equal(s.nclosed, 1);
		unpair(NULL, &s);
	}
	/* No code: reported as 1005 and answered with an empty close. */
	pair(NULL, &s);
	assert_int_equal(write(fds[0], b, raw(b, 0x88, "", 0, 1)), 6);
	(void)end_read(&s);
	assert_int_equal(s.w.close_code, 1005);
	(void)lk_wsc_flush(&s.w);
	assert_int_equal(read(fds[0], in, sizeof(in)), 2);
	assert_int_equal(in[0], 0x88);
	assert_int_equal(in[1], 0);
	unpair(NULL, &s);
	/* The peer hangs up mid-frame: an error, the connection broken. */
	pair(NULL, &s);
	assert_int_equal(write(fds[0], b, raw(b, 0x82, "0123456789", 10, 1) -
	    5), 11);
	close(fds[0]);
	(void)end_read(&s);
	assert_int_equal(s.got.len, 5);	/* what came is handed out */
	(void)end_read(&s);
	assert_true(s.nerr > 0);
	assert_true(s.w.broken);
	assert_true(lk_wsc_done(&s.w));
	assert_int_equal(lk_wsc_flush(&s.w), -1);
	lk_wsc_free(&s.w);
	tbuf_free(&s.got);
	close(fds[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_known),
		cmocka_unit_test(test_accept_random),
		cmocka_unit_test(test_key_invalid),
		cmocka_unit_test(test_key_roundtrip),
		cmocka_unit_test(test_code_names),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_frame_rfc_examples),
		cmocka_unit_test(test_frame_hdr_errors),
		cmocka_unit_test(test_frame_mask),
		cmocka_unit_test(test_conn_messages),
		cmocka_unit_test(test_conn_pieces),
		cmocka_unit_test(test_conn_ping),
		cmocka_unit_test(test_conn_close),
		cmocka_unit_test(test_conn_close_codes),
		cmocka_unit_test(test_conn_ref),
		cmocka_unit_test(test_conn_held),
		cmocka_unit_test(test_conn_pre),
		cmocka_unit_test(test_conn_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
