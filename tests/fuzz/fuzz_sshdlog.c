/*
 * sshd's "Accepted publickey" line (lib/sshdlog.c), read by the agent
 * from a log file other programs may write to. Contracts: a line accepted
 * has a valid user name, a numeric address, a port in 1..65535, a key
 * type of [A-Z0-9-] and a SHA256 fingerprint that parses; anything else
 * leaves the result zeroed.
 */
#include <arpa/inet.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sshdlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_sshdlog_login l;
	unsigned char dig[LK_SSHKEY_DIGEST_LEN], a[16];
	int r;

	r = lk_sshdlog_parse((const char *)data, size, &l);
	if (r == 0) {
		if (lk_user_valid(l.user) != 0 || l.port < 1 || l.port > 65535 ||
		    lk_sshkey_fp_parse(l.fp, dig) != 0 || l.keytype[0] == '\0' ||
		    strspn(l.keytype, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
		    strlen(l.keytype) || (inet_pton(AF_INET, l.addr, a) != 1 &&
		    inet_pton(AF_INET6, l.addr, a) != 1))
			abort();
	} else if (r != LK_ERR_NOT_FOUND && r != LK_ERR_INVALID_FORMAT)
		abort();
	else if (l.user[0] != '\0' || l.port != 0)
		abort();
	return 0;
}
