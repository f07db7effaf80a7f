/*
 * send-file: a local file pushed to instances (SendFile), then each
 * instance's outcome as DescribeSendFileResults tells it, as "run" waits
 * for a command's.
 *
 *	latchkey send-file --instance I [--instance I2 ...] [--owner U]
 *	    [--group G] [--mode 0644] [--overwrite] [--timeout S]
 *	    LOCAL_FILE TARGET_DIR[/NAME]
 *
 * A TARGET ending in '/' keeps the local file's name. The file must fit
 * SendFile's limit (32 KiB in Base64: LK_FILE_DATA_MAX bytes).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "filespec.h"

#include "cli.h"

#define FILE_INSTANCES_MAX	50	/* SendFile's InstanceId.N */
#define FILE_TIMEOUT_DEFAULT	60

struct file_opts {
	const char	*ids[FILE_INSTANCES_MAX];
	size_t		 n;
	const char	*owner, *group, *mode;
	int		 overwrite;
	long		 timeout;
	const char	*local;
	char		 dir[LK_FILE_DIR_MAX + 2];
	char		 name[LK_FILE_NAME_MAX + 1];
};

/* LOCAL_FILE's bytes, at most LK_FILE_DATA_MAX, as Base64 in *b64p. */
static int
file_read_local(const char *path, char **b64p, size_t *lenp)
{
	unsigned char buf[LK_FILE_DATA_MAX + 1];
	size_t len = 0;
	ssize_t n;
	int fd;

	*b64p = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		cli_warn("%s: %s", path, strerror(errno));
		return CLI_EX_LOCAL;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len,
	    sizeof(buf) - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			cli_warn("%s: %s", path, strerror(errno));
			close(fd);
			return CLI_EX_LOCAL;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len > LK_FILE_DATA_MAX) {
		cli_warn("%s: larger than %d bytes, SendFile's limit (32 KiB "
		    "in Base64); copy it with latchkey scp", path,
		    LK_FILE_DATA_MAX);
		return CLI_EX_USAGE;
	}
	if ((*b64p = lk_b64_encode(buf, len, 1)) == NULL) {
		cli_warn("out of memory");
		return CLI_EX_LOCAL;
	}
	*lenp = len;
	return 0;
}

/* TARGET as a directory and a name (the local file's when TARGET/ ). */
static int
file_target(struct file_opts *o, const char *target)
{
	const char *slash, *base;
	size_t n = strlen(target);

	if (target[0] != '/' || n >= sizeof(o->dir)) {
		cli_warn("%s: the target must be an absolute path, "
		    "DIR/NAME or DIR/", target);
		return CLI_EX_USAGE;
	}
	slash = strrchr(target, '/');
	if (slash[1] == '\0') {
		base = strrchr(o->local, '/');
		base = base != NULL ? base + 1 : o->local;
	} else
		base = slash + 1;
	snprintf(o->dir, sizeof(o->dir), "%.*s", (int)(slash - target),
	    target);
	if (o->dir[0] == '\0')
		snprintf(o->dir, sizeof(o->dir), "/");
	snprintf(o->name, sizeof(o->name), "%s", base);
	if (!lk_file_dir_valid(o->dir) || strlen(base) >= sizeof(o->name) ||
	    !lk_file_name_valid(o->name)) {
		cli_warn("%s: not a valid target (an absolute directory "
		    "without . or .. and a file name without control "
		    "characters)", target);
		return CLI_EX_USAGE;
	}
	return 0;
}

/* The options and operands; -1 with *exitp when the command ends here. */
static int
file_opts(struct cli *c, int argc, char **argv, struct file_opts *o,
    int *exitp)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "instance", required_argument, NULL, 'i' },
		{ "owner", required_argument, NULL, 'o' },
		{ "group", required_argument, NULL, 'g' },
		{ "mode", required_argument, NULL, 'm' },
		{ "overwrite", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned int mode;
	long long v;
	int ch, k;

	o->timeout = FILE_TIMEOUT_DEFAULT;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhi:o:g:m:ft:", opts,
	    NULL)) != -1) {
		if ((k = cli_common_opt(c, "send-file", ch, exitp)) < 0)
			return -1;
		if (k > 0)
			continue;
		switch (ch) {
		case 'i':
			if (o->n == FILE_INSTANCES_MAX) {
				cli_warn("at most %d instances per send",
				    FILE_INSTANCES_MAX);
				*exitp = CLI_EX_USAGE;
				return -1;
			}
			o->ids[o->n++] = optarg;
			break;
		case 'o': o->owner = optarg; break;
		case 'g': o->group = optarg; break;
		case 'm':
			if (lk_file_mode_parse(optarg, &mode) != 0) {
				cli_warn("--mode %s: octal, at most 07777",
				    optarg);
				*exitp = CLI_EX_USAGE;
				return -1;
			}
			o->mode = optarg;
			break;
		case 'f': o->overwrite = 1; break;
		case 't':
			v = strtoll(optarg, NULL, 10);
			if (v < 10 || v > 86400) {
				cli_warn("--timeout: 10 to 86400 seconds");
				*exitp = CLI_EX_USAGE;
				return -1;
			}
			o->timeout = (long)v;
			break;
		}
	}
	if (o->n == 0 || argc - optind != 2) {
		cli_usage_of("send-file", 1);
		*exitp = CLI_EX_USAGE;
				return -1;
	}
	o->local = argv[optind];
	if ((*exitp = file_target(o, argv[optind + 1])) != 0)
		return -1;
	return 0;
}

/* Sends; the InvokeId into id. */
static int
file_send(struct cli *c, const struct file_opts *o, const char *b64,
    char *id, size_t idsize)
{
	struct cli_req q;
	json_t *resp = NULL;
	char *iid, key[32];
	size_t i;
	int r;

	cli_req_init(&q);
	for (i = 0; i < o->n; i++) {
		if ((r = cli_inst_id(c, o->ids[i], &iid)) != 0) {
			cli_req_free(&q);
			return r;
		}
		snprintf(key, sizeof(key), "InstanceId.%zu", i + 1);
		cli_req_add(&q, key, iid);
		free(iid);
	}
	cli_req_add(&q, "TargetDir", o->dir);
	cli_req_add(&q, "Name", o->name);
	cli_req_add(&q, "ContentType", "Base64");
	cli_req_add(&q, "Content", b64);
	if (o->owner != NULL)
		cli_req_add(&q, "FileOwner", o->owner);
	if (o->group != NULL)
		cli_req_add(&q, "FileGroup", o->group);
	if (o->mode != NULL)
		cli_req_add(&q, "FileMode", o->mode);
	cli_req_add(&q, "Overwrite", o->overwrite ? "true" : "false");
	cli_req_addf(&q, "Timeout", "%ld", o->timeout);
	r = cli_api_do(c, "SendFile", &q, &resp);
	cli_req_free(&q);
	if (r == 0)
		snprintf(id, idsize, "%s", cli_jstr(resp, "InvokeId"));
	json_decref(resp);
	return r;
}

/* The invocation id as DescribeSendFileResults gives it, or NULL. */
static int
file_describe(struct cli *c, const char *id, json_t **invp)
{
	struct cli_req q;
	json_t *resp = NULL, *list;
	int r;

	*invp = NULL;
	cli_req_init(&q);
	cli_req_add(&q, "InvokeId", id);
	r = cli_api_do(c, "DescribeSendFileResults", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	list = cli_jlist(resp, "Invocations", "Invocation");
	if (json_array_size(list) > 0)
		*invp = json_incref(json_array_get(list, 0));
	json_decref(resp);
	return 0;
}

/* Each instance's outcome; 0 when all succeeded. */
static int
file_print(struct cli *c, json_t *inv)
{
	json_t *list = cli_jlist(inv, "InvokeInstances", "InvokeInstance"), *t;
	char s[4][512];
	size_t i;
	int bad = 0;

	if (c->output == CLI_OUT_JSON)
		cli_json_print(inv);
	json_array_foreach(list, i, t) {
		cli_safe(s[0], sizeof(s[0]), cli_jstr(t, "InstanceId"));
		cli_safe(s[1], sizeof(s[1]), cli_jstr(t, "InvocationStatus"));
		cli_safe(s[2], sizeof(s[2]), cli_jstr(t, "ErrorCode"));
		cli_safe(s[3], sizeof(s[3]), cli_jstr(t, "ErrorInfo"));
		if (strcmp(s[1], "Success") != 0)
			bad = 1;
		if (c->output == CLI_OUT_JSON)
			continue;
		if (s[2][0] == '\0')
			printf("%s  %s\n", s[0], s[1]);
		else
			printf("%s  %s  %s: %s\n", s[0], s[1], s[2], s[3]);
	}
	return bad || json_array_size(list) == 0 ? CLI_EX_FAIL : CLI_EX_OK;
}

int
cli_send_file_main(struct cli *c, int argc, char **argv)
{
	struct file_opts o;
	json_t *inv = NULL;
	const char *st;
	char *b64 = NULL, id[80] = "";
	size_t len = 0;
	time_t end;
	long ms = CLI_POLL_FIRST_MS;
	int r;

	memset(&o, 0, sizeof(o));
	if (file_opts(c, argc, argv, &o, &r) != 0)
		return r;
	if ((r = cli_config_load(c)) != 0 ||
	    (r = file_read_local(o.local, &b64, &len)) != 0 ||
	    (r = file_send(c, &o, b64, id, sizeof(id))) != 0)
		goto out;
	cli_info(c, "sent %s (%zu bytes) as %s/%s: %s", o.local, len, o.dir,
	    o.name, id);
	end = time(NULL) + o.timeout + 30;
	for (;;) {
		json_decref(inv);
		if ((r = file_describe(c, id, &inv)) != 0)
			goto out;
		st = cli_jstr(inv, "InvocationStatus");
		if (inv != NULL && strcmp(st, "Pending") != 0 &&
		    strcmp(st, "Running") != 0)
			break;
		if (time(NULL) > end || cli_sleep_ms(ms) != 0) {
			cli_warn("%s: not finished; see latchkey send-file's "
			    "results later with DescribeSendFileResults "
			    "InvokeId=%s", id, id);
			r = CLI_EX_FAIL;
			goto out;
		}
		if ((ms *= 2) > CLI_POLL_MS)
			ms = CLI_POLL_MS;
	}
	r = file_print(c, inv);
 out:
	json_decref(inv);
	free(b64);
	return r;
}
