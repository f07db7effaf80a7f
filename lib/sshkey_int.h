/*
 * Internal to lib/sshkey*.c: the table of supported key types.
 */
#ifndef LK_SSHKEY_INT_H
#define LK_SSHKEY_INT_H

#include <stddef.h>

#include "sshkey.h"

#define LK__CURVE_P256	1
#define LK__CURVE_P384	2
#define LK__CURVE_P521	3

struct sshkey_info {
	enum lk_keytype	 type;
	const char	*name;
	const char	*curve;		/* ECDSA curve id in the blob */
	int		 curve_id;	/* LK__CURVE_*, 0 for none */
	size_t		 fieldlen;	/* bytes per coordinate */
};

const struct sshkey_info *lk__sshkey_info(enum lk_keytype type);

#endif
