/*
 * The configuration file parser on hostile input: whatever it passes to
 * the callback is a well-formed key and a value without control bytes or
 * outer blanks, and the line it reports an error on exists.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check(void *arg, const char *key, const char *val, size_t dup, char *why,
    size_t whylen)
{
	size_t i, n = strlen(val), *count = arg;

	(void)dup;
	if (key[0] < 'a' || key[0] > 'z' || strlen(key) > LK_CONF_KEY_MAX ||
	    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	    strlen(key))
		abort();
	if (n == 0 || val[0] == ' ' || val[0] == '\t' || val[0] == '#' ||
	    val[n - 1] == ' ' || val[n - 1] == '\t' || n > LK_CONF_LINE_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (((unsigned char)val[i] < 0x20 && val[i] != '\t') ||
		    val[i] == 0x7f || (val[i] == '#' && (val[i - 1] == ' ' ||
		    val[i - 1] == '\t')))
			abort();
	(*count)++;
	/* Refuse some keys, as a program refuses unknown ones. */
	if (key[0] == 'z') {
		snprintf(why, whylen, "unknown key \"%s\"", key);
		return -1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, err[LK_CONF_ERR_SIZE];
	size_t count = 0;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	err[0] = '\0';
	if (lk_conf_parse("f", buf, size, check, &count, err,
	    sizeof(err)) != 0 && strncmp(err, "f:", 2) != 0)
		abort();
	free(buf);
	return 0;
}
