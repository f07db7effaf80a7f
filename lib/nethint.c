/*
 * Server URLs and request failures in latchkey's words (nethint.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "nethint.h"
#include "log.h"

#define URL_MAX	1024

/* src into dst with control characters and non-ASCII as '?'. */
static void
hint_safe(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = (unsigned char)src[i] < 0x20 ||
		    (unsigned char)src[i] >= 0x7f ? '?' : src[i];
	dst[i] = '\0';
}

char *
lk_net_hint(int curlcode, const char *errbuf, const char *url, char *out,
    size_t size)
{
	const char *curl = errbuf != NULL && *errbuf != '\0' ? errbuf :
	    curl_easy_strerror((CURLcode)curlcode);
	const char *why;
	char safe[400];
	int https = url != NULL && strncasecmp(url, "https://", 8) == 0;

	hint_safe(safe, sizeof(safe), curl);
	switch (curlcode) {
	case CURLE_COULDNT_RESOLVE_HOST:
		why = "its host name does not resolve";
		break;
	case CURLE_COULDNT_CONNECT:
		why = "nothing accepts connections there (is latchkeyd "
		    "running, and is this its --listen port?)";
		break;
	case CURLE_OPERATION_TIMEDOUT:
		why = "it did not answer in time (a firewall, or a "
		    "wrong address?)";
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		why = "its TLS certificate is not trusted here: give the CA "
		    "that signed it (latchkey configure --cacert FILE, "
		    "latchkey-agent register --cacert FILE)";
		break;
	case CURLE_SSL_CONNECT_ERROR:
		if (strstr(curl, "wrong version number") != NULL ||
		    strstr(curl, "packet length too long") != NULL)
			why = "it does not speak TLS on that port: for a "
			    "latchkeyd run with --allow-plain-http, use an "
			    "http:// URL";
		else if (strstr(curl, "SSL_ERROR_SYSCALL") != NULL ||
		    strstr(curl, "unexpected eof") != NULL)
			why = "it closed the connection during the TLS "
			    "handshake; it may not speak TLS on that port (for "
			    "a latchkeyd run with --allow-plain-http, use an "
			    "http:// URL)";
		else
			why = "the TLS handshake failed";
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		why = https ? "what answered is not a latchkey server over "
		    "TLS (a wrong port?)" : "what answered is not an HTTP "
		    "server (a wrong port, or one that wants https://?)";
		if (curlcode == CURLE_RECV_ERROR || curlcode ==
		    CURLE_GOT_NOTHING)
			why = "the connection closed without an answer (a "
			    "wrong port, or a server that wants https://?)";
		break;
	default:
		why = NULL;
	}
	if (why != NULL)
		snprintf(out, size, "%s (%s)", why, safe);
	else
		snprintf(out, size, "%s", safe);
	return out;
}

/* Whether s (n bytes) is a decimal port 1..65535. */
static int
url_port_ok(const char *s, size_t n)
{
	long long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535 && s[0] != '0';
}

int
lk_url_check(const char *in, char *out, size_t outsize, char *why,
    size_t whysize)
{
	const char *host, *end, *colon;
	char safe[128];
	size_t len, i, hlen;

	len = strlen(in);
	lk_vis(safe, sizeof(safe), in, len > 100 ? 100 : len);
	if (len == 0 || len > URL_MAX) {
		snprintf(why, whysize, "a URL like https://latchkey.example.com"
		    " is needed");
		return -1;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)in[i] <= ' ' || (unsigned char)in[i] >= 0x7f) {
			snprintf(why, whysize, "\"%s\" has a space or a control "
			    "character", safe);
			return -1;
		}
	if (strncasecmp(in, "https://", 8) == 0)
		host = in + 8;
	else if (strncasecmp(in, "http://", 7) == 0)
		host = in + 7;
	else if (strstr(in, "://") != NULL) {
		snprintf(why, whysize, "\"%s\": the URL must start with "
		    "https:// or http://", safe);
		return -1;
	} else {
		snprintf(why, whysize, "\"%s\" has no scheme: write "
		    "https://%s (latchkeyd with TLS) or http://%s (latchkeyd "
		    "--allow-plain-http)", safe, safe, safe);
		return -1;
	}
	end = host + strcspn(host, "/?#");
	hlen = (size_t)(end - host);
	if (hlen == 0 || memchr(host, '@', hlen) != NULL) {
		snprintf(why, whysize, "\"%s\": the URL needs a host (and no "
		    "user name)", safe);
		return -1;
	}
	if (*end != '\0' && strcmp(end, "/") != 0) {
		snprintf(why, whysize, "\"%s\": give the server's URL without "
		    "a path, query or fragment (the API is at /)", safe);
		return -1;
	}
	/* host, [v6], host:port or [v6]:port */
	if (host[0] == '[') {
		const char *rb = memchr(host, ']', hlen);

		if (rb == NULL || rb == host + 1 || (rb + 1 != end &&
		    (rb[1] != ':' || !url_port_ok(rb + 2,
		    (size_t)(end - rb - 2))))) {
			snprintf(why, whysize, "\"%s\": a bad [IPv6]:port",
			    safe);
			return -1;
		}
	} else if ((colon = memchr(host, ':', hlen)) != NULL &&
	    (colon == host || !url_port_ok(colon + 1,
	    (size_t)(end - colon - 1)))) {
		snprintf(why, whysize, "\"%s\": the port must be a number "
		    "from 1 to 65535", safe);
		return -1;
	}
	len = (size_t)(end - in);
	if (len + 1 > outsize) {
		snprintf(why, whysize, "the URL is too long");
		return -1;
	}
	memcpy(out, in, len);
	out[len] = '\0';
	return 0;
}
