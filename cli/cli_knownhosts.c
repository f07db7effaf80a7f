/*
 * known-hosts: the host keys an instance's agent reported
 * (DescribeInstanceHostKeys) as OpenSSH known_hosts lines, made to be
 * ssh's KnownHostsCommand:
 *
 *	KnownHostsCommand latchkey known-hosts %H %f
 *
 * ssh runs it twice per connection: first to order its host key
 * algorithms (%f is "NONE" then; we answer nothing at once), and again
 * with the key the server presented, before authentication. Every line
 * names the host exactly as ssh asked (%H), so ssh matches it whatever the
 * spelling. An exit status other than 0 makes ssh give up
 * ("KnownHostsCommand failed"), which is what a control plane that cannot
 * be asked should cause.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sshkey.h"
#include "util.h"

#define KH_HOST_MAX	1024	/* bytes of HOST */

/* One instance's keys, appended to out (an array of HostKey objects). */
static int
kh_keys_of(struct cli *c, const char *id, json_t *out)
{
	struct cli_req q;
	json_t *resp = NULL, *v;
	size_t i;
	int r;

	cli_req_init(&q);
	cli_req_add(&q, "InstanceId", id);
	r = cli_api_do(c, "DescribeInstanceHostKeys", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	json_array_foreach(cli_jlist(resp, "HostKeys", "HostKey"), i, v)
		json_array_append(out, v);
	json_decref(resp);
	return 0;
}

/*
 * The instances HOST (without brackets and port) may be: an id; else
 * the instances with that name; else those with that address or host
 * name. Of several, the ones online (their agents heard from lately): a
 * server made anew on a reused address is the online one, and two
 * online servers that share a private address in different networks
 * are both registered machines. Several offline ones are ambiguous.
 */
static int
kh_instances(struct cli *c, const char *host, json_t **idsp)
{
	json_t *list = NULL, *match, *ids, *v;
	const char *n, *st;
	size_t i, online = 0;
	int r, pass;

	*idsp = NULL;
	if ((ids = json_array()) == NULL)
		return CLI_EX_LOCAL;
	if (strncmp(host, "i-", 2) == 0) {
		json_array_append_new(ids, json_string(host));
		*idsp = ids;
		return 0;
	}
	if ((r = cli_inst_list(c, NULL, NULL, &list)) != 0) {
		json_decref(ids);
		return r;
	}
	for (pass = 0; pass < 2 && json_array_size(ids) == 0; pass++) {
		if ((match = json_array()) == NULL)
			break;
		json_array_foreach(list, i, v) {
			n = cli_jstr(v, "InstanceName");
			if (pass == 0 ? n != NULL && strcmp(n, host) == 0 :
			    cli_inst_has_address(v, host))
				json_array_append(match, v);
		}
		online = 0;
		json_array_foreach(match, i, v)
			if ((st = cli_jstr(v, "Status")) != NULL &&
			    strcmp(st, "Running") == 0)
				online++;
		json_array_foreach(match, i, v) {
			st = cli_jstr(v, "Status");
			if (online > 0 && (st == NULL ||
			    strcmp(st, "Running") != 0))
				continue;
			if (cli_jstr(v, "InstanceId") != NULL)
				json_array_append_new(ids, json_string(
				    cli_jstr(v, "InstanceId")));
		}
		json_decref(match);
	}
	json_decref(list);
	if (json_array_size(ids) > 1 && online == 0) {
		cli_warn("\"%s\" names %zu instances and none is online; "
		    "connect by instance id", host, json_array_size(ids));
		json_decref(ids);
		return CLI_EX_USAGE;
	}
	*idsp = ids;
	return 0;
}

/* Touches path (created 0600), for latchkey ssh: ssh got this far. */
static void
kh_stamp(const char *path)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) != -1)
		close(fd);
}

/*
 * "[address]:port" is ssh's spelling of a host on another port than 22;
 * the instance is the address. *hostp is a new string.
 */
static int
kh_bare_host(const char *arg, char **hostp)
{
	const char *end;
	long long port;

	*hostp = NULL;
	if (arg[0] == '[') {
		if ((end = strchr(arg, ']')) == NULL || end == arg + 1 ||
		    end[1] != ':' || lk_parse_ll(end + 2, 1, 65535, &port) != 0)
			return -1;
		*hostp = strndup(arg + 1, (size_t)(end - arg - 1));
	} else
		*hostp = strdup(arg);
	return *hostp == NULL ? -1 : 0;
}

/* Whether every byte of s may appear in a known_hosts host field. */
static int
kh_host_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KH_HOST_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == ',' ||
		    *s == '#' || *s == '|' || *s == '!' || *s == '*' ||
		    *s == '?' || *s == '@')
			return 0;
	return 1;
}

/* What ssh is told when the presented key is not one of keys. */
static void
kh_mismatch(const char *host, const char *ids_text, json_t *keys,
    const char *fp)
{
	char shost[256], sfp[128];
	const char *kfp;
	json_t *v;
	size_t i;

	cli_safe(shost, sizeof(shost), host);
	cli_safe(sfp, sizeof(sfp), fp);
	if (json_array_size(keys) == 0) {
		cli_warn("no host key of %s is known: the agent of %s has not "
		    "reported any (an agent older than 1.3.0, or sshd -T "
		    "failed there; see latchkey-agent(8)); ssh will refuse "
		    "the server's key %s", shost, ids_text, sfp);
		return;
	}
	cli_warn("the host key of %s (%s) does not match the keys its agent "
	    "reported to latchkey (%s):", shost, sfp, ids_text);
	json_array_foreach(keys, i, v)
		if ((kfp = cli_jstr(v, "Fingerprint")) != NULL) {
			cli_safe(sfp, sizeof(sfp), kfp);
			fprintf(stderr, "latchkey:   %s\n", sfp);
		}
	fprintf(stderr, "latchkey: another machine may be answering on that "
	    "address, or sshd's keys were changed behind the agent's back "
	    "('latchkey known-hosts %s' shows what latchkey knows)\n", shost);
}

/*
 * --ca: the one "@cert-authority * KEY latchkey host CA" line for
 * ~/.ssh/known_hosts, from DescribeHostCertificateAuthority. The key is
 * checked (lib/sshkey.c: an ssh-ed25519 key in canonical form) before it
 * is printed.
 */
static int
kh_ca(struct cli *c)
{
	struct cli_req q;
	struct lk_sshkey *k = NULL;
	json_t *resp = NULL;
	const char *pk;
	char *line = NULL;
	int r;

	if ((r = cli_config_load(c)) != 0)
		return r;
	cli_req_init(&q);
	r = cli_api_do(c, "DescribeHostCertificateAuthority", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	if ((pk = cli_jstr(resp, "PublicKey")) == NULL ||
	    lk_sshkey_parse_line(pk, strlen(pk), &k) != 0 ||
	    k->type != LK_KEY_ED25519 || lk_sshkey_to_line(k, 0, &line) != 0) {
		cli_warn("known-hosts --ca: latchkeyd's answer is not an "
		    "ssh-ed25519 key");
		r = CLI_EX_API;
	} else {
		printf("@cert-authority * %s latchkey host CA\n", line);
		r = fflush(stdout) != 0 ? CLI_EX_LOCAL : 0;
	}
	free(line);
	lk_sshkey_free(k);
	json_decref(resp);
	return r;
}

int
cli_known_hosts_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "instance", required_argument, NULL, 'i' },
		{ "stamp", required_argument, NULL, 's' },
		{ "ca", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *ids = NULL, *keys = NULL, *v;
	const char *arg, *fp = NULL, *id_opt = NULL, *stamp = NULL, *t, *pk,
	    *kfp;
	char *host = NULL, ids_text[512] = "";
	size_t i, off = 0;
	int ch, k, r, found = 0, ca = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhi:s:", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "known-hosts", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		if (ch == 'i')
			id_opt = optarg;
		else if (ch == 's')
			stamp = optarg;
		else if (ch == 'C')
			ca = 1;
	}
	if (ca) {
		if (argc != optind) {
			cli_usage_of("known-hosts", 1);
			return CLI_EX_USAGE;
		}
		return kh_ca(c);
	}
	if (argc - optind < 1 || argc - optind > 2) {
		cli_usage_of("known-hosts", 1);
		return CLI_EX_USAGE;
	}
	arg = argv[optind];
	if (argc - optind == 2)
		fp = argv[optind + 1];
	/*
	 * ssh's first call only orders its host key algorithms. Nothing is
	 * printed then: ssh offers its default order, the server picks one
	 * of its keys, and the second call has them all. That saves a
	 * request on every connection.
	 */
	if (fp != NULL && strcmp(fp, "NONE") == 0)
		return CLI_EX_OK;
	if (!kh_host_ok(arg) || kh_bare_host(arg, &host) != 0 ||
	    (id_opt != NULL && strncmp(id_opt, "i-", 2) != 0)) {
		cli_warn("known-hosts: \"%.*s\" is not a host as ssh's %%H "
		    "gives it (i-..., a name, an address or [address]:port)",
		    64, arg);
		r = CLI_EX_USAGE;
		goto out;
	}
	if (stamp != NULL)
		kh_stamp(stamp);
	if ((r = cli_config_load(c)) != 0)
		goto out;
	if (id_opt != NULL) {
		if ((ids = json_array()) == NULL) {
			r = CLI_EX_LOCAL;
			goto out;
		}
		json_array_append_new(ids, json_string(id_opt));
	} else if ((r = kh_instances(c, host, &ids)) != 0)
		goto out;
	if ((keys = json_array()) == NULL) {
		r = CLI_EX_LOCAL;
		goto out;
	}
	json_array_foreach(ids, i, v) {
		if ((r = kh_keys_of(c, json_string_value(v), keys)) != 0)
			goto out;
		if (off < sizeof(ids_text))
			off += (size_t)snprintf(ids_text + off,
			    sizeof(ids_text) - off, "%s%s", i ? ", " : "",
			    json_string_value(v));
	}
	if (json_array_size(ids) == 0)
		cli_warn("no instance is known as \"%s\"", host);
	json_array_foreach(keys, i, v) {
		t = cli_jstr(v, "KeyType");
		pk = cli_jstr(v, "PublicKey");
		kfp = cli_jstr(v, "Fingerprint");
		/* "type base64", checked by latchkeyd; printed as given. */
		if (t == NULL || pk == NULL || strchr(pk, '\n') != NULL ||
		    strncmp(pk, t, strlen(t)) != 0)
			continue;
		printf("%s %s\n", arg, pk);
		if (fp != NULL && kfp != NULL && strcmp(fp, kfp) == 0)
			found = 1;
	}
	if (fflush(stdout) != 0) {
		r = CLI_EX_LOCAL;
		goto out;
	}
	if (fp != NULL && !found && json_array_size(ids) > 0)
		kh_mismatch(arg, ids_text, keys, fp);
	r = 0;
 out:
	free(host);
	json_decref(ids);
	json_decref(keys);
	return r;
}
