/*
 * A key-store record: one file per (user, key), written only by root.
 *
 *	latchkey-key-record 1
 *	user alice
 *	created 1764092400
 *	not-after 1764092460
 *	key ssh-ed25519 AAAA... [comment]
 *
 * Every line ends in '\n', fields come in exactly this order, times are
 * seconds since the epoch, and the key line goes through the key parser
 * again whenever a record is read (for shape: types, lengths, canonical
 * base64, RSA size; EC points are checked on curve by the writer), so a
 * damaged or hostile record can never put anything but one well-formed
 * key in front of sshd.
 */
#ifndef LK_RECORD_H
#define LK_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "sshkey.h"
#include "util.h"

#define LK_RECORD_MAX		(LK_SSHKEY_MAX_LINE + 256)
#define LK_RECORD_MAGIC		"latchkey-key-record 1"
#define LK_RECORD_TIME_MAX	253402300799LL	/* 9999-12-31T23:59:59Z */

struct lk_record {
	char		 user[LK_USER_MAX + 1];
	int64_t		 created;
	int64_t		 not_after;
	struct lk_sshkey *key;		/* owned by the record */
};

/*
 * Parses len bytes. On success *recp is a new record the caller frees
 * with lk_record_free(). Returns 0, LK_ERR_RECORD, LK_ERR_TOO_LONG or
 * LK_ERR_ALLOC.
 */
int	lk_record_parse(const char *buf, size_t len, struct lk_record **recp);

/* Formats rec into a new buffer (*bufp, *lenp) the caller frees. */
int	lk_record_format(const struct lk_record *rec, char **bufp,
	    size_t *lenp);

void	lk_record_free(struct lk_record *rec);

#endif
