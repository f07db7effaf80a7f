/*
 * The WebSocket opening handshake's key: Sec-WebSocket-Key is base64 of 16
 * bytes, and Sec-WebSocket-Accept is base64(SHA-1(key + GUID)) (RFC 6455,
 * section 4.2.2).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "b64.h"
#include "err.h"
#include "ws.h"

#define WS_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int
lk_ws_key_valid(const char *key)
{
	unsigned char *raw = NULL;
	size_t n = 0;
	int ok;

	if (key == NULL || strlen(key) != LK_WS_KEY_LEN)
		return 0;
	ok = lk_b64_decode(key, LK_WS_KEY_LEN, 16, &raw, &n) == 0 && n == 16;
	free(raw);
	return ok;
}

int
lk_ws_accept(const char *key, char out[LK_WS_ACCEPT_LEN + 1])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[LK_WS_KEY_LEN + sizeof(WS_GUID)];
	char *b;

	if (!lk_ws_key_valid(key))
		return LK_ERR_INVALID_FORMAT;
	memcpy(buf, key, LK_WS_KEY_LEN);
	memcpy(buf + LK_WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
	SHA1((const unsigned char *)buf, LK_WS_KEY_LEN + sizeof(WS_GUID) - 1,
	    md);
	if ((b = lk_b64_encode(md, sizeof(md), 1)) == NULL)
		return LK_ERR_ALLOC;
	if (strlen(b) != LK_WS_ACCEPT_LEN) {
		free(b);
		return LK_ERR_INTERNAL;
	}
	memcpy(out, b, LK_WS_ACCEPT_LEN + 1);
	free(b);
	return 0;
}

const char *
lk_ws_code_name(int code)
{
	switch (code) {
	case LK_WS_NORMAL:	return "closed normally";
	case LK_WS_GOING_AWAY:	return "going away";
	case LK_WS_PROTOCOL:	return "protocol error";
	case LK_WS_ABNORMAL:	return "connection lost";
	case LK_WS_TOO_BIG:	return "message too big";
	case LK_WS_INTERNAL:	return "internal error";
	case LK_WS_IDLE:	return "idle timeout";
	case LK_WS_AGENT_LOST:	return "the agent's connection was lost";
	case LK_WS_PORT_REFUSED: return "the agent could not connect to the port";
	case LK_WS_ENDED:	return "the session was ended";
	case LK_WS_NO_AGENT:	return "the agent did not answer";
	case LK_WS_CLIENT_LOST:	return "the client's connection was lost";
	case LK_WS_BAD_DATA:	return "text that is not UTF-8";
	case LK_WS_POLICY:	return "policy violation";
	case LK_WS_RESUME:	return "connection lost, resuming";
	case LK_WS_RESUME_RANGE: return "resume refused: offset out of range";
	case LK_WS_RESUME_GONE:	return "the agent no longer has the session";
	case LK_WS_SHELL_REFUSED: return "the agent refused the shell session";
	default:		return "closed";
	}
}
