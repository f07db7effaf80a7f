/*
 * The agent's state file and the facts it tells the server about its host.
 *
 * The state file (default /var/lib/latchkey/agent.json) is written once by
 * "register" and read by every other command:
 *
 *	{"server":"https://…","servers":["https://…",…],
 *	 "instance_id":"i-…","credential":"…"}
 *
 * plus "cacert" when register was given --cacert. "servers" lists every
 * --server of register (1..AGENT_SERVERS_MAX, in order); "server" is the
 * first of them, and all that a state file written before "servers"
 * existed has (it is read as a list of one). It holds the instance's
 * credential, so it is owned by the agent's user (root), mode 0600, and
 * replaced atomically; a state file that others could write is refused.
 * Pending result reports live beside it in <statedir>/spool/.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "fsutil.h"
#include "log.h"

#include "agent.h"

#define AGENT_ADDRS_MAX		64	/* addresses told to the server */
#define AGENT_OSNAME_MAX	128	/* longest PRETTY_NAME kept */

/*
 * An identifier from the server that ends up in a file name, a URL or a
 * log line: 1..max characters of [A-Za-z0-9._:-], not starting with '.'
 * or '-'. Returns 1 when it is one.
 */
int
agent_id_valid(const char *s, size_t max)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= max)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

/* The credential goes into an HTTP header: base64 (url) characters only. */
int
agent_cred_valid(const char *s)
{
	size_t i;

	if (s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= AGENT_CRED_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    c == '+' || c == '/' || c == '='))
			return 0;
	}
	return 1;
}

static int
agent_state_copy(char *dst, size_t len, const json_t *o, const char *key,
    int required)
{
	const char *v = json_string_value(json_object_get(o, key));

	if (v == NULL) {
		if (required)
			return LK_ERR_INVALID_FORMAT;
		dst[0] = '\0';
		return 0;
	}
	if ((size_t)snprintf(dst, len, "%s", v) >= len)
		return LK_ERR_TOO_LONG;
	return 0;
}

/*
 * The server URLs of the state file into st: "servers" when present, else
 * "server". Each is checked and normalized. Returns 0 or
 * LK_ERR_INVALID_FORMAT, LK_ERR_TOO_LONG.
 */
static int
agent_state_servers(const json_t *o, struct agent_state *st)
{
	const json_t *a = json_object_get(o, "servers"), *v;
	char why[128];
	const char *u;
	size_t i;
	int r;

	if (a == NULL) {
		if ((u = json_string_value(json_object_get(o, "server"))) ==
		    NULL)
			return LK_ERR_INVALID_FORMAT;
		if ((r = agent_url_normalize(u, st->servers[0],
		    sizeof(st->servers[0]), why, sizeof(why))) != 0)
			return r;
		st->nservers = 1;
	} else {
		if (!json_is_array(a) || json_array_size(a) == 0 ||
		    json_array_size(a) > AGENT_SERVERS_MAX)
			return LK_ERR_INVALID_FORMAT;
		json_array_foreach(a, i, v) {
			if ((u = json_string_value(v)) == NULL)
				return LK_ERR_INVALID_FORMAT;
			if ((r = agent_url_normalize(u, st->servers[i],
			    sizeof(st->servers[i]), why, sizeof(why))) != 0)
				return r;
		}
		st->nservers = json_array_size(a);
	}
	memcpy(st->server, st->servers[0], sizeof(st->server));
	return 0;
}

/*
 * Reads and checks the state file. Returns 0, LK_ERR_NOT_FOUND (not
 * registered), LK_ERR_UNSAFE (not ours, or writable by others),
 * LK_ERR_INVALID_FORMAT, LK_ERR_TOO_LONG, LK_ERR_SYSTEM, LK_ERR_ALLOC.
 */
int
agent_state_load(const char *path, struct agent_state *st)
{
	struct stat sb;
	json_t *o = NULL;
	char *buf = NULL;
	size_t len;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = lk_fs_read(path, AGENT_STATE_MAX, &buf, &len)) != 0)
		return r;
	if (stat(path, &sb) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	if (sb.st_uid != geteuid() || (sb.st_mode & 022) != 0) {
		r = LK_ERR_UNSAFE;
		goto out;
	}
	if ((o = json_loadb(buf, len, 0, NULL)) == NULL ||
	    !json_is_object(o)) {
		r = LK_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = agent_state_servers(o, st)) != 0 ||
	    (r = agent_state_copy(st->instance_id, sizeof(st->instance_id), o,
	    "instance_id", 1)) != 0 ||
	    (r = agent_state_copy(st->credential, sizeof(st->credential), o,
	    "credential", 1)) != 0 ||
	    (r = agent_state_copy(st->cacert, sizeof(st->cacert), o,
	    "cacert", 0)) != 0)
		goto out;
	if (!agent_id_valid(st->instance_id, AGENT_ID_MAX) ||
	    !agent_cred_valid(st->credential))
		r = LK_ERR_INVALID_FORMAT;
 out:
	json_decref(o);
	if (buf != NULL)
		explicit_bzero(buf, len);
	free(buf);
	if (r != 0)
		explicit_bzero(st, sizeof(*st));
	return r;
}

/*
 * agent_state_load() for a command: says what is wrong on stderr and
 * returns the exit status to use, 0 when st is loaded.
 */
int
agent_state_open(const char *path, struct agent_state *st)
{
	int r;

	if ((r = agent_state_load(path, st)) == 0)
		return AGENT_EXIT_OK;
	switch (r) {
	case LK_ERR_NOT_FOUND:
		log_warnx("not registered: no state file %s (run "
		    "\"%s register\" first)", path, AGENT_PROGNAME);
		return AGENT_EXIT_CONFIG;
	case LK_ERR_UNSAFE:
		log_warnx("state file %s must be a regular file owned by uid "
		    "%ld and not writable by group or others", path,
		    (long)geteuid());
		return AGENT_EXIT_CONFIG;
	case LK_ERR_INVALID_FORMAT:
	case LK_ERR_TOO_LONG:
		log_warnx("state file %s is malformed (register again)", path);
		return AGENT_EXIT_CONFIG;
	default:
		log_warnx("cannot read state file %s: %s%s%s", path, lk_err(r),
		    r == LK_ERR_SYSTEM ? ": " : "", r == LK_ERR_SYSTEM ?
		    strerror(errno) : "");
		return AGENT_EXIT_IO;
	}
}

/*
 * Writes the state file atomically, mode 0600, owned by the effective
 * user, creating its directory (0755) when needed.
 */
int
agent_state_save(const char *path, const struct agent_state *st)
{
	char dir[PATH_MAX], *text = NULL, *line;
	json_t *o, *a;
	size_t i;
	int r;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return LK_ERR_TOO_LONG;
	if (lk_fs_mkdirs(dirname(dir), 0755) != 0)
		return LK_ERR_SYSTEM;
	if ((a = json_array()) == NULL)
		return LK_ERR_ALLOC;
	for (i = 0; i < st->nservers; i++)
		if (json_array_append_new(a, json_string(st->servers[i])) !=
		    0) {
			json_decref(a);
			return LK_ERR_ALLOC;
		}
	if ((o = json_pack("{s:s, s:o, s:s, s:s}", "server", st->servers[0],
	    "servers", a, "instance_id", st->instance_id, "credential",
	    st->credential)) == NULL)
		return LK_ERR_ALLOC;
	if (st->cacert[0] != '\0' &&
	    json_object_set_new(o, "cacert", json_string(st->cacert)) != 0) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	if ((text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	if ((line = realloc(text, strlen(text) + 2)) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	text = line;
	memcpy(text + strlen(text), "\n", 2);
	r = lk_fs_write_atomic(path, text, strlen(text), 0600, geteuid(),
	    getegid());
 out:
	if (text != NULL)
		explicit_bzero(text, strlen(text));
	free(text);
	json_decref(o);
	return r;
}

/* "<directory of the state file>/spool" into buf. */
int
agent_state_spooldir(const char *statepath, char *buf, size_t len)
{
	char dir[PATH_MAX];

	if ((size_t)snprintf(dir, sizeof(dir), "%s", statepath) >= sizeof(dir))
		return LK_ERR_TOO_LONG;
	if ((size_t)snprintf(buf, len, "%s/spool", dirname(dir)) >= len)
		return LK_ERR_TOO_LONG;
	return 0;
}

/* Unquotes an os-release value in place (shell-like quoting). */
static void
agent_osrel_unquote(char *v)
{
	char q = v[0], *r = v + 1, *w = v;

	if (q != '"' && q != '\'') {
		v[strcspn(v, "\n")] = '\0';
		return;
	}
	for (; *r != '\0' && *r != q; r++) {
		if (q == '"' && *r == '\\' && r[1] != '\0')
			r++;
		*w++ = *r;
	}
	*w = '\0';
}

/* PRETTY_NAME from os-release(5), or "<sysname> <release>". */
static void
agent_os_name(char *buf, size_t len)
{
	static const char *files[] = { "/etc/os-release",
	    "/usr/lib/os-release" };
	struct utsname u;
	char *line = NULL;
	size_t cap = 0, i;
	FILE *fp;

	buf[0] = '\0';
	for (i = 0; i < 2 && buf[0] == '\0'; i++) {
		if ((fp = fopen(files[i], "re")) == NULL)
			continue;
		while (getline(&line, &cap, fp) != -1) {
			if (strncmp(line, "PRETTY_NAME=", 12) != 0)
				continue;
			agent_osrel_unquote(line + 12);
			snprintf(buf, len, "%s", line + 12);
			break;
		}
		fclose(fp);
	}
	free(line);
	if (buf[0] == '\0' && uname(&u) == 0 &&
	    (size_t)snprintf(buf, len, "%s %s", u.sysname, u.release) >= len)
		buf[len - 1] = '\0';	/* cut: only a description */
}

static int
agent_addr_has(json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/*
 * The host's addresses: those of interfaces that are up, without IPv6
 * link-local ones (useless without a zone); loopback addresses only when
 * there is no other.
 */
static json_t *
agent_addresses(void)
{
	struct ifaddrs *ifa, *p;
	json_t *other = json_array(), *loop = json_array(), *a;
	char s[INET6_ADDRSTRLEN];
	const void *in;

	if (other == NULL || loop == NULL || getifaddrs(&ifa) == -1)
		goto out;
	for (p = ifa; p != NULL; p = p->ifa_next) {
		if (p->ifa_addr == NULL || !(p->ifa_flags & IFF_UP))
			continue;
		if (p->ifa_addr->sa_family == AF_INET)
			in = &((struct sockaddr_in *)(void *)p->ifa_addr)->
			    sin_addr;
		else if (p->ifa_addr->sa_family == AF_INET6) {
			in = &((struct sockaddr_in6 *)(void *)p->ifa_addr)->
			    sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(
			    (const struct in6_addr *)in))
				continue;
		} else
			continue;
		if (inet_ntop(p->ifa_addr->sa_family, in, s, sizeof(s)) ==
		    NULL)
			continue;
		a = (p->ifa_flags & IFF_LOOPBACK) ? loop : other;
		if (json_array_size(a) < AGENT_ADDRS_MAX &&
		    !agent_addr_has(a, s))
			json_array_append_new(a, json_string(s));
	}
	freeifaddrs(ifa);
 out:
	if (other != NULL && json_array_size(other) == 0) {
		json_decref(other);
		return loop;
	}
	json_decref(loop);
	return other;
}

/* A JSON string, or fallback when s is not valid UTF-8. */
static json_t *
agent_json_str(const char *s, const char *fallback)
{
	json_t *j;

	if ((j = json_string(s)) == NULL)
		j = json_string(fallback);
	return j;
}

/*
 * {"hostname","os","version","addresses","session_ports","host_keys"} for
 * register and hello. host_keys is the list given (agent_hostkeys()), or,
 * when NULL, read now.
 */
json_t *
agent_facts(const json_t *hostkeys)
{
	char host[256], os[AGENT_OSNAME_MAX];
	json_t *addrs, *keys;

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	agent_os_name(os, sizeof(os));
	if ((addrs = agent_addresses()) == NULL)
		return NULL;
	keys = hostkeys != NULL ? json_deep_copy(hostkeys) : agent_hostkeys();
	if (keys == NULL) {
		json_decref(addrs);
		return NULL;
	}
	return json_pack("{s:o, s:o, s:s, s:o, s:o, s:o}",
	    "hostname", agent_json_str(host, "localhost"),
	    "os", agent_json_str(os, "Linux"),
	    "version", AGENT_VERSION, "addresses", addrs,
	    "session_ports", agent_sess_ports_json(), "host_keys", keys);
}

/*
 * The machine id the agent registers with (docs/agent-protocol.md): the
 * first line of $LATCHKEY_ROOT/etc/machine-id when LATCHKEY_ROOT names a
 * scratch root, else of /etc/machine-id; at most AGENT_MACHINE_ID_MAX of
 * [A-Za-z0-9._:-]. Anything else (no file, empty, odd characters) is no
 * machine id: buf is "" and the server adds a new instance as before.
 */
const char *
agent_machine_id(char *buf, size_t len)
{
	char path[PATH_MAX], *data = NULL;
	size_t n = 0, k;

	buf[0] = '\0';
	if (agent_rooted(path, sizeof(path), "/etc/machine-id") != 0 ||
	    lk_fs_read(path, 4096, &data, &n) != 0)
		return buf;
	k = strcspn(data, "\r\n");
	if (k > 0 && k <= AGENT_MACHINE_ID_MAX && k < len && strspn(data,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	    "._:-") == k) {
		memcpy(buf, data, k);
		buf[k] = '\0';
	}
	free(data);
	return buf;
}
