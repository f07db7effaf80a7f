/*
 * Strict base64 (RFC 4648, standard alphabet) as OpenSSH writes it.
 */
#ifndef LK_B64_H
#define LK_B64_H

#include <stddef.h>

/*
 * Decodes exactly len characters of s. Only the canonical encoding is
 * accepted: a length that is a multiple of four, the standard alphabet,
 * at most two '=' and only at the end, and zero padding bits, so that
 * encoding the result gives back s. On success *outp is a new buffer the
 * caller frees and *outlenp its length. Returns 0 or LK_ERR_KEY_BASE64,
 * LK_ERR_TOO_LONG (over maxout decoded bytes), LK_ERR_ALLOC.
 */
int	lk_b64_decode(const char *s, size_t len, size_t maxout,
	    unsigned char **outp, size_t *outlenp);

/*
 * Encodes len bytes into a new NUL-terminated string the caller frees,
 * with '=' padding when pad is non-zero. Returns NULL when out of memory.
 */
char	*lk_b64_encode(const unsigned char *p, size_t len, int pad);

#endif
