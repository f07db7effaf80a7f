/*
 * What a failed request to a latchkey server means, in latchkey's words:
 * libcurl's error for a wrong port, a TLS client talking to a plain-HTTP
 * server, an untrusted certificate and the like becomes a sentence that
 * says what to change. Used by latchkey(1) and latchkey-agent(8).
 */
#ifndef LK_NETHINT_H
#define LK_NETHINT_H

#include <stddef.h>

/*
 * Writes into out a short explanation of curl error code curlcode (a
 * CURLcode) with libcurl's own message errbuf (may be NULL or empty) for
 * a request to url (may be NULL; only its scheme is used), followed by
 * the libcurl text in parentheses. Returns out.
 */
char	*lk_net_hint(int curlcode, const char *errbuf, const char *url,
	    char *out, size_t size);

/*
 * The one rule for a server URL typed by a user (latchkey configure,
 * latchkey-agent register): "http://" or "https://", a host, an optional
 * port, nothing after but one "/". A bare "host:port" is refused with the
 * two URLs it may have meant. On success out holds the URL without the
 * trailing "/" and 0 is returned; otherwise why says why and -1 is
 * returned.
 */
int	 lk_url_check(const char *in, char *out, size_t outsize, char *why,
	    size_t whysize);

#endif
