#include <errno.h>
#include <string.h>

#include "err.h"

const char *
lk_err(int r)
{
	switch (r) {
	case LK_ERR_SUCCESS:
		return "success";
	case LK_ERR_INTERNAL:
		return "internal error";
	case LK_ERR_ALLOC:
		return "out of memory";
	case LK_ERR_SYSTEM:
		return strerror(errno);
	case LK_ERR_INVALID_FORMAT:
		return "invalid format";
	case LK_ERR_TOO_LONG:
		return "input too long";
	case LK_ERR_BAD_CHAR:
		return "control character, NUL or line break in input";
	case LK_ERR_KEY_OPTIONS:
		return "key options are not allowed; give only \"type base64 [comment]\"";
	case LK_ERR_KEY_TYPE:
		return "unsupported key type";
	case LK_ERR_KEY_MISMATCH:
		return "key type does not match the type inside the key data";
	case LK_ERR_KEY_BASE64:
		return "key data is not valid base64";
	case LK_ERR_KEY_TRAILING:
		return "unexpected bytes after the key data";
	case LK_ERR_KEY_BLOB:
		return "malformed key data";
	case LK_ERR_KEY_SMALL:
		return "RSA key too small (at least 2048 bits)";
	case LK_ERR_KEY_LARGE:
		return "RSA key too large (at most 16384 bits)";
	case LK_ERR_KEY_POINT:
		return "invalid elliptic-curve public key";
	case LK_ERR_USER_INVALID:
		return "invalid user name";
	case LK_ERR_USER_UNKNOWN:
		return "no such user";
	case LK_ERR_RANGE:
		return "number out of range";
	case LK_ERR_UNSAFE:
		return "unsafe ownership, permissions or symbolic link";
	case LK_ERR_NOT_FOUND:
		return "not found";
	case LK_ERR_RECORD:
		return "corrupt record";
	case LK_ERR_BUSY:
		return "busy, try again later";
	case LK_ERR_UNAVAILABLE:
		return "the database is unavailable, try again later";
	case LK_ERR_STATE:
		return "not allowed in this state";
	default:
		return "unknown error";
	}
}
