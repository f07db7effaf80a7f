/*
 * latchkey(1), the user's command: profiles, signed calls to the ECS
 * OpenAPI (2014-05-26, signature 1.0) of a latchkeyd control plane, and
 * the jobs built on them (send-key, ssh/scp/sftp with an ephemeral key,
 * run on a fleet, listings).
 *
 *	latchkey.c	main, global options, dispatch, help texts
 *	cli_config.c	~/.latchkey/config.json, environment, configure
 *	cli_api.c	signed POST requests with libcurl, error reports
 *	cli_out.c	text and JSON output helpers
 *	cli_inst.c	instance lookup (id, name or address), instances
 *	cli_sendkey.c	send-key, the plug-in install, invocation polling
 *	cli_ssh.c	ssh, scp and sftp with an ephemeral key
 *	cli_run.c	run, invocations, commands
 *	cli_proxy.c	proxy, forward, sessions: the session tunnel
 *	cli_session.c	session: a shell on an instance through the tunnel
 *	cli_knownhosts.c known-hosts: host keys for ssh's KnownHostsCommand
 *	cli_audit.c	audit: the audit trail's events
 *	cli_file.c	send-file: a file pushed to instances (SendFile)
 *	cli_tag.c	tag: tags of instances and commands, KEY=VALUE
 *
 * Nothing here is a library: functions print what went wrong themselves
 * and return one of the CLI_EX_* exit statuses, which main() exits with.
 */
#ifndef LK_CLI_H
#define LK_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "params.h"

struct lk_stream_ctl;

#define CLI_VERSION		"1.1.0"
#define CLI_API_VERSION		"2014-05-26"
#define CLI_REGION_DEFAULT	"cn-hangzhou"
#define CLI_SENDKEY_COMMAND	"ACS-ECS-SendSshPublicKey-linux.sh"
#define CLI_PLUGIN_INSTALL \
	"acs-plugin-manager -e -P config_ecs_instance_connect --params --install"
#define CLI_KEY_TTL		60	/* seconds a pushed key lives */
#define CLI_POLL_MS		200	/* between result polls, at most */
#define CLI_POLL_FIRST_MS	5	/* the first poll's wait; doubles */
#define CLI_REQ_PARAMS		(LK_PARAMS_MAX - 16)	/* action params */
#define CLI_INSTANCES_MAX	100	/* InstanceId.N per call */
#define CLI_PAGE_SIZE		50	/* the API's largest page */
#define CLI_ONLINE_WINDOW	60	/* s: an agent heard from since is online */
#define CLI_ONLINE_CHECK_MS	2000	/* while waiting: is the agent there? */

/* Exit statuses of latchkey's own failures (ssh's pass through). */
#define CLI_EX_OK	0
#define CLI_EX_FAIL	1	/* the job failed on the server */
#define CLI_EX_USAGE	2	/* bad command line */
#define CLI_EX_CONFIG	3	/* no usable profile, unsafe config file */
#define CLI_EX_API	4	/* the control plane refused a request */
#define CLI_EX_NET	5	/* the control plane could not be reached */
#define CLI_EX_LOCAL	6	/* a local failure (ssh-keygen, files) */

enum cli_output {
	CLI_OUT_TEXT,
	CLI_OUT_JSON,
};

/* The profile in use, after the environment's overrides. */
struct cli_profile {
	char	*name;
	char	*endpoint;		/* "http(s)://host[:port]", no path */
	char	*access_key_id;
	char	*access_key_secret;	/* freed with freezero-like care */
	char	*region_id;
	char	*cacert;		/* CA bundle for https, or NULL */
};

struct cli {
	const char		*profile_opt;	/* --profile, or NULL */
	enum cli_output		 output;
	int			 verbose;
	struct cli_profile	 prof;
	int			 loaded;	/* prof is filled */
	void			*curl;		/* CURL *, made on first use */
};

/* Action parameters, names and values copied; bounded by CLI_REQ_PARAMS. */
struct cli_req {
	struct lk_param	 v[CLI_REQ_PARAMS];
	size_t		 n;
	int		 err;		/* set when an add failed */
};

/* Why a request failed: the server's answer, or the transport's. */
struct cli_apierr {
	long	 http;			/* 0: no HTTP answer */
	char	 code[128];		/* Code, or "" */
	char	 message[1024];		/* Message, or the transport error */
	char	 request_id[80];
	int	 secret_wrong;		/* SignatureDoesNotMatch, same sts */
	int	 curl;			/* the transport's CURLcode, or 0 */
};

/* latchkey.c */
#define CLI_OPT_PROFILE		0x1001
#define CLI_OPT_OUTPUT		0x1002
#define CLI_OPT_RESUME_WAIT	0x1003
#define CLI_OPT_KEEPALIVE	0x1004
#define CLI_OPT_JSON		0x1005
/* proxy and forward's options of the tunnel (cli_proxy.c). */
#define CLI_TUNNEL_OPTIONS \
	{ "resume-wait", required_argument, NULL, CLI_OPT_RESUME_WAIT }, \
	{ "keepalive", required_argument, NULL, CLI_OPT_KEEPALIVE }
/* The global options every subcommand accepts, too. */
#define CLI_COMMON_OPTIONS \
	{ "profile", required_argument, NULL, CLI_OPT_PROFILE }, \
	{ "output", required_argument, NULL, CLI_OPT_OUTPUT }, \
	{ "json", no_argument, NULL, CLI_OPT_JSON }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }

extern volatile sig_atomic_t cli_interrupted;	/* the signal, or 0 */
int	 cli_stop_fd(void);	/* readable after INT, TERM or HUP; or -1 */
int	 cli_sleep_ms(long ms);		/* -1 when interrupted */
int	 cli_common_opt(struct cli *c, const char *cmd, int ch, int *exitp);
void	 cli_usage_of(const char *cmd, int to_stderr);

/* cli_config.c */
int	 cli_config_load(struct cli *c);
void	 cli_config_free(struct cli *c);
int	 cli_configure_main(struct cli *c, int argc, char **argv);

/* cli_api.c */
void	 cli_req_init(struct cli_req *q);
void	 cli_req_add(struct cli_req *q, const char *name, const char *value);
void	 cli_req_addf(struct cli_req *q, const char *name, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
void	 cli_req_free(struct cli_req *q);
int	 cli_api_call(struct cli *c, const char *action, struct cli_req *q,
	    json_t **respp, struct cli_apierr *e);
int	 cli_api_fail(struct cli *c, const char *action,
	    const struct cli_apierr *e);
int	 cli_api_do(struct cli *c, const char *action, struct cli_req *q,
	    json_t **respp);
void	 cli_api_cleanup(struct cli *c);

/* cli_out.c */
void	 cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 cli_info(struct cli *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 cli_safe(char *dst, size_t dstlen, const char *src);
void	 cli_json_print(json_t *v);
const char *cli_jstr(json_t *obj, const char *key);
json_int_t cli_jint(json_t *obj, const char *key, json_int_t def);
json_t	*cli_jlist(json_t *obj, const char *outer, const char *inner);
int	 cli_b64_text(const char *b64, char **outp, size_t *lenp);
void	 cli_write_all(int fd, const void *p, size_t len);
int	 cli_json_error(struct cli *c, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 cli_waiting(struct cli *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 cli_waiting_end(void);

/* cli_inst.c */
struct cli_inst {
	char	*id;
	char	*name;
	char	*address;	/* first private address, else public, or NULL */
	char	*status;
};
int	 cli_inst_resolve(struct cli *c, const char *what, struct cli_inst *ip);
int	 cli_inst_from(json_t *inst, const char *address, struct cli_inst *ip);
void	 cli_inst_free(struct cli_inst *ip);
int	 cli_inst_has_address(json_t *inst, const char *addr);
int	 cli_inst_list(struct cli *c, const char *name, const char *status,
	    json_t **listp);
struct cli_tags;
int	 cli_inst_list_tagged(struct cli *c, const char *name,
	    const char *status, const struct cli_tags *tags, json_t **listp);
int	 cli_inst_online(struct cli *c, const char *id, int *onlinep,
	    char *seen, size_t seensize);
void	 cli_offline_why(const char *seen, char *buf, size_t size);
void	 cli_say_offline(struct cli *c, const char *id, const char *seen);
int	 cli_instances_main(struct cli *c, int argc, char **argv);
/* cli_fleet.c */
int	 cli_activations_main(struct cli *c, int argc, char **argv);
int	 cli_fleet_instance(struct cli *c, const char *what,
	    const char *new_name);

/* cli_sendkey.c */
struct cli_sendkey {
	const char	*instance;	/* resolved id */
	const char	*user;		/* login user */
	const char	*key_line;	/* the public key, one line */
	int		 timeout;	/* seconds to wait for the result */
	int		 install_plugin;
	char		 invoke_id[80];
	char		 expires[32];	/* ISO time, after success */
	char		 fingerprint[64];
	int		 skew_known;	/* latchkeyd warned of the clock */
	long long	 skew_s;	/* the server's clock ahead (< 0 behind) */
};
enum cli_wait {
	CLI_WAIT_DONE,		/* the result is final */
	CLI_WAIT_TIMEOUT,	/* still Pending or Running at the deadline */
	CLI_WAIT_OFFLINE,	/* Pending, and the agent is offline */
	CLI_WAIT_INTERRUPTED,	/* a signal */
};
int	 cli_sendkey_push(struct cli *c, struct cli_sendkey *sk);
int	 cli_sendkey_main(struct cli *c, int argc, char **argv);
int	 cli_invoke_wait(struct cli *c, const char *invoke_id,
	    const char *instance, int timeout, json_t **resultp,
	    enum cli_wait *whyp);
int	 cli_invoke_stop(struct cli *c, const char *invoke_id,
	    const char *instance);
int	 cli_status_final(const char *status);

/* cli_knownhosts.c */
int	 cli_known_hosts_main(struct cli *c, int argc, char **argv);

/* cli_ssh.c */
int	 cli_ssh_main(struct cli *c, const char *prog, int argc, char **argv);

/* cli_proxy.c */
struct lk_ws;
/* One session's tunnel from this side: its options and what it got. */
/* A shell session's side (cli_session.c); NULL in a port session. */
struct cli_shell {
	const char	*user;
	const char	*command;	/* NULL: the user's login shell */
	int		 tty;		/* stdin is a terminal, in raw mode */
	int		 cols, rows;	/* the size last told the agent */
	int		 winch_fd;	/* readable after SIGWINCH; -1 */
	int		 exit_code;	/* the agent's "exit": -1 until then */
};
struct cli_tun {
	int	resume_wait;	/* --resume-wait, seconds; 0: never */
	int	keepalive;	/* --keepalive, seconds */
	int	resumable;	/* latchkeyd said it resumes */
	char	sid[64];
	char	iid[64];	/* the instance, for messages */
	struct cli_shell *shell;	/* a shell session, or NULL */
};
int	 cli_tunnel_open(struct cli *c, const char *id, int port,
	    struct cli_tun *t, struct lk_ws **wsp);
/* Takes ws; the exit status. */
int	 cli_tunnel_run(struct cli *c, struct cli_tun *t, struct lk_ws *ws,
	    int in_fd, int out_fd);
int	 cli_proxy_main(struct cli *c, int argc, char **argv);
void	 cli_tun_defaults(struct cli_tun *t);
/* INSTANCE (an id, a name or an address) as an instance id, *idp new. */
int	 cli_inst_id(struct cli *c, const char *what, char **idp);
/* --resume-wait, --keepalive: 1 taken, 0 not one, -1 bad (*rp set). */
int	 cli_tun_opt(int ch, const char *arg, struct cli_tun *t, int *rp);
int	 cli_forward_main(struct cli *c, int argc, char **argv);
int	 cli_sessions_main(struct cli *c, int argc, char **argv);

/* cli_session.c */
int	 cli_session_main(struct cli *c, int argc, char **argv);
/*
 * The tunnel's hooks for a shell: the agent's exit (anything else it
 * sends is refused), and a new window size to tell it (1 with *c).
 */
int	 cli_session_on_ctl(struct cli_shell *sh, const struct lk_stream_ctl *c);
int	 cli_session_next_ctl(struct cli_shell *sh, struct lk_stream_ctl *c);

/* cli_run.c */
int	 cli_run_main(struct cli *c, int argc, char **argv);
int	 cli_invocations_main(struct cli *c, int argc, char **argv);
/* cli_file.c */
int	 cli_send_file_main(struct cli *c, int argc, char **argv);
/* cli_tag.c */
#define CLI_TAGS_MAX		20	/* the API's tags a resource (a call) */
#define CLI_TAG_TEXT_MAX	128	/* a key's or a value's bytes */
#define CLI_TAG_IDS_MAX		50	/* ResourceId.N */
/* Tags from the command line, pointing into argv. */
struct cli_tags {
	struct {
		const char	*key;
		const char	*value;	/* NULL: a filter's "any value" */
	}	 v[CLI_TAGS_MAX];
	size_t	 n;
};
int	 cli_tag_parse(struct cli_tags *t, const char *what, char *arg,
	    int need_value);
void	 cli_tag_params(struct cli_req *q, const struct cli_tags *t);
void	 cli_tag_summary(json_t *obj, char *buf, size_t size);
int	 cli_tag_main(struct cli *c, int argc, char **argv);
/* cli_audit.c */
int	 cli_audit_main(struct cli *c, int argc, char **argv);
int	 cli_commands_main(struct cli *c, int argc, char **argv);

#endif
