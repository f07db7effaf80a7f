/*
 * latchkey: the user's command. main() reads the global options, picks
 * the subcommand and exits with what it returns (see cli.h for the exit
 * statuses); the help texts of every subcommand live here, in one place,
 * so that --help, the man page and docs/cli.md can be compared.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cli.h"
#include "util.h"

volatile sig_atomic_t cli_interrupted;

struct cli_cmd {
	const char	*name;
	int		(*main)(struct cli *, int, char **);
	const char	*usage;		/* the synopsis lines */
	const char	*help;		/* the rest of --help */
};

static int	main_ssh(struct cli *, int, char **);
static int	main_scp(struct cli *, int, char **);
static int	main_sftp(struct cli *, int, char **);

static const char main_usage[] =
"usage: latchkey [--profile NAME] [--output text|json] [--verbose] COMMAND ...\n";

static const char main_help[] =
"\n"
"Log in to your servers with short-lived SSH keys and run commands on them,\n"
"through a latchkey control plane (an ECS OpenAPI compatible endpoint).\n"
"\n"
"Commands:\n"
"  configure     store an endpoint and access key in a profile\n"
"  send-key      let a public key log in to an instance for 60 seconds\n"
"  ssh           log in with a fresh key that lives for one login\n"
"  scp, sftp     copy files the same way\n"
"  run           run a shell script on instances and show the results\n"
"  send-file     push a small file to instances, as its owner\n"
"  instances     list the instances\n"
"  tag           add, remove or list tags of instances and commands\n"
"  invocations   list invocations, or show one's results\n"
"  commands      list the commands\n"
"  proxy         connect stdin/stdout to an instance's port by instance id\n"
"                (ssh ProxyCommand), through latchkeyd's session relay\n"
"  forward       forward a local port to an instance's port the same way\n"
"  session       a shell on an instance, run by its agent (no sshd needed)\n"
"  known-hosts   an instance's host keys for ssh (KnownHostsCommand)\n"
"  sessions      list sessions, or end one\n"
"\n"
"Global options (also accepted after the command):\n"
"  --profile NAME        the profile to use (default: the current one)\n"
"  --output text|json    how to print results (default text)\n"
"      --json            the same as --output json\n"
"  -v, --verbose         say what is being done, on stderr\n"
"  -h, --help            this help, or a command's: latchkey COMMAND --help\n"
"  -V, --version         print the version\n"
"\n"
"Environment: LATCHKEY_ENDPOINT, LATCHKEY_PROFILE, LATCHKEY_CONFIG,\n"
"LATCHKEY_CACERT, ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET\n"
"and ALIBABA_CLOUD_REGION_ID override the profile. See latchkey(1).\n";

static const struct cli_cmd cli_cmds[] = {
	{ "configure", cli_configure_main,
"usage: latchkey [--profile NAME] configure [--endpoint URL]\n"
"                [--access-key-id ID] [--access-key-secret SECRET|-]\n"
"                [--region REGION] [--cacert FILE] [--no-check]\n"
"       latchkey configure list\n",
"\n"
"Stores a profile in ~/.latchkey/config.json (directory 0700, file 0600,\n"
"written atomically). What no option gives is asked on the terminal, the\n"
"secret without echo; with no option at all every field is asked, with the\n"
"current value as the default. \"--access-key-secret -\" reads the secret\n"
"from standard input. --cacert names the CA bundle that verifies an https\n"
"endpoint (\"\" removes it). The first profile saved becomes the current one.\n"
"The endpoint needs its scheme: https://HOST[:PORT], or http://HOST:PORT for\n"
"a latchkeyd run with --allow-plain-http. One call then checks the saved\n"
"profile (--no-check: none); if it fails, the profile stays saved and the\n"
"exit status says so.\n"
"\"configure list\" prints the profiles, without secrets.\n" },
	{ "send-key", cli_sendkey_main,
"usage: latchkey send-key [--user USER] [--key FILE.pub] [--timeout S]\n"
"                [--install-plugin] [--no-key-check] INSTANCE\n",
"\n"
"Sends a public key to INSTANCE (an id, a name or an address) with the\n"
"public command ACS-ECS-SendSshPublicKey-linux.sh; sshd on the instance\n"
"accepts it for USER (default root) for 60 seconds.\n"
"\n"
"  -l, --user USER       the login user (default root)\n"
"  -k, --key FILE.pub    the public key (default ~/.ssh/id_ed25519.pub,\n"
"                        id_ecdsa.pub or id_rsa.pub, the first found)\n"
"  -t, --timeout S       how long to wait for the result (default 30)\n"
"      --install-plugin  first install the config_ecs_instance_connect\n"
"                        plug-in on the instance (acs-plugin-manager)\n"
"      --no-key-check    send the key without checking it here first\n" },
	{ "ssh", main_ssh,
"usage: latchkey ssh [--user USER] [--address HOST | --tunnel] [--port N]\n"
"                [--install-plugin] [-o OPTION]... [USER@]INSTANCE\n"
"                [ssh arguments...] [-- command...]\n",
"\n"
"Makes an ed25519 key in a private temporary directory, sends its public\n"
"half to INSTANCE (as send-key does), and runs OpenSSH's ssh with it:\n"
"  ssh -i DIR/id -o IdentitiesOnly=yes -o HostKeyAlias=ID [-p N]\n"
"      -o StrictHostKeyChecking=yes\n"
"      -o KnownHostsCommand='latchkey known-hosts --instance ID %H %f'\n"
"      USER@ADDRESS\n"
"so the server's host key is checked against the keys its agent reported\n"
"to latchkey: no prompt, and a key that does not match is refused.\n"
"The key is removed when ssh ends, or when latchkey is interrupted, and\n"
"the server forgets it after 60 seconds. INSTANCE is an instance id, an\n"
"instance name, or one of its addresses; ADDRESS is the instance's first\n"
"private address unless --address says otherwise. Arguments after INSTANCE\n"
"go to ssh unchanged. The exit status is ssh's.\n"
"\n"
"  -l, --user USER       the login user (default root, or USER@)\n"
"      --address HOST    connect to HOST instead of the instance's address\n"
"      --tunnel          connect through latchkeyd's session relay (latchkey\n"
"                        proxy as ProxyCommand); the default when the\n"
"                        instance reports no address\n"
"  -p, --port N          the ssh port (default: ssh's)\n"
"  -o OPTION             an ssh option (repeatable); ssh's other options\n"
"                        pass through, before or after INSTANCE\n"
"      --timeout S       how long to wait for the key to be stored (30)\n"
"      --install-plugin  first install the config_ecs_instance_connect\n"
"                        plug-in on the instance\n"
"\n"
"LATCHKEY_SSH, LATCHKEY_SCP, LATCHKEY_SFTP and LATCHKEY_SSH_KEYGEN name\n"
"other programs to run instead of OpenSSH's.\n" },
	{ "scp", main_scp,
"usage: latchkey scp [--user USER] [--address HOST] [--port N]\n"
"                [--install-plugin] [scp options...] SOURCE... TARGET\n",
"\n"
"Copies files with OpenSSH's scp and an ephemeral key, as latchkey ssh\n"
"logs in. Exactly one instance is named, as [USER@]INSTANCE:PATH, on\n"
"either side. scp's own options (-P port, -r, -p, -o ...) pass through.\n"
"\n"
"  --user USER, --address HOST, --port N, --install-plugin, --timeout S\n"
"                        as for latchkey ssh (scp's and sftp's -l is theirs)\n" },
	{ "sftp", main_sftp,
"usage: latchkey sftp [--user USER] [--address HOST] [--port N]\n"
"                [--install-plugin] [sftp options...] [USER@]INSTANCE[:PATH]\n",
"\n"
"Starts OpenSSH's sftp with an ephemeral key, as latchkey ssh logs in.\n"
"sftp's own options (-P port, -b batchfile, -o ...) pass through.\n"
"\n"
"  --user USER, --address HOST, --port N, --install-plugin, --timeout S\n"
"                        as for latchkey ssh (scp's and sftp's -l is theirs)\n" },
	{ "run", cli_run_main,
"usage: latchkey run (--instance INSTANCE... | --all) [--user USER]\n"
"                [--timeout S] [--workdir DIR] [--name NAME] -- SCRIPT\n",
"\n"
"Runs a shell script on instances (RunCommand) and prints each instance's\n"
"exit code and output as it arrives; with more than one instance, a\n"
"progress line goes to stderr. Exits 0 only when every instance succeeded.\n"
"Interrupting it stops the invocation (StopInvocation).\n"
"\n"
"  -i, --instance I      an instance id, name or address (repeatable)\n"
"  -a, --all             every instance whose agent is online\n"
"  -l, --user USER       run as USER (default root)\n"
"  -t, --timeout S       the script's time limit in seconds (default 60;\n"
"                        10 to 86400)\n"
"  -w, --workdir DIR     the directory to run in\n"
"  -n, --name NAME       the command's name in invocation lists\n" },
	{ "send-file", cli_send_file_main,
"usage: latchkey send-file --instance INSTANCE... [--owner USER] [--group G]\n"
"                [--mode MODE] [--overwrite] [--timeout S]\n"
"                LOCAL_FILE TARGET_DIR/[NAME]\n",
"\n"
"Sends a local file of at most 24 KiB to instances (SendFile) and prints\n"
"each instance's outcome. The agent writes it atomically as its owner,\n"
"never through a symbolic link, making missing directories; a TARGET\n"
"ending in '/' keeps the local name. Exits 0 only when every instance\n"
"succeeded.\n"
"\n"
"  -i, --instance I      an instance id, name or address (repeatable, 50)\n"
"  -o, --owner USER      the file's owner, who writes it (default root)\n"
"  -g, --group G         its group (default the owner's primary group)\n"
"  -m, --mode MODE       its mode in octal, exactly (default 0644)\n"
"  -f, --overwrite       replace an existing file (default: refuse)\n"
"  -t, --timeout S       the time limit in seconds (default 60)\n" },
	{ "instances", cli_instances_main,
"usage: latchkey instances [--name PATTERN] [--status Running|Stopped]\n"
"                [--tag KEY[=VALUE]]... [--tags]\n"
"       latchkey instances --rename INSTANCE NEW_NAME\n"
"       latchkey instances --remove INSTANCE\n",
"\n"
"Lists the instances the access key may see: id, name, status (Running\n"
"when its agent is online), first address and operating system.\n"
"\n"
"  -n, --name PATTERN    only names matching PATTERN (* is a wildcard)\n"
"  -s, --status S        only Running or only Stopped instances\n"
"  -t, --tag KEY=VALUE   only instances with this tag (KEY alone: any\n"
"                        value); repeatable, all must match (at most 20)\n"
"  -T, --tags            a TAGS column (KEY=VALUE,...) before OS\n"
"      --rename I NAME   rename instance I (id, name or address):\n"
"                        ModifyManagedInstance\n"
"      --remove I        deregister instance I: its tasks fail and its\n"
"                        agent stops (DeregisterManagedInstance)\n" },
	{ "tag", cli_tag_main,
"usage: latchkey tag [--command] RESOURCE KEY=VALUE...\n"
"       latchkey tag --remove [--command] RESOURCE KEY...\n"
"       latchkey tag --remove --all [--command] RESOURCE\n"
"       latchkey tag --list [--command] [RESOURCE...]\n",
"\n"
"Adds tags to an instance, or replaces the values of keys it has\n"
"(TagResources), removes some or all of them (UntagResources), or lists\n"
"the tags of the instances named, or of every instance the access key may\n"
"see (ListTagResources). RESOURCE is an instance id, name or address; with\n"
"--command, one of your own command ids (c-...).\n"
"\n"
"A key is 1 to 128 characters and does not start with \"aliyun\" or\n"
"\"acs:\", a value 0 to 128 (KEY= is an empty value); neither holds a\n"
"control character, \"http://\" or \"https://\". A resource holds at most\n"
"20 tags. \"latchkey instances --tag KEY=VALUE\" lists the instances that\n"
"have a tag. An access key limited with --instances tag:env=prod sees\n"
"only the instances tagged env=prod, and only a key without an Instances\n"
"limit may set or remove a tag key that such a policy names.\n"
"\n"
"  -r, --remove          remove the keys given\n"
"  -a, --all             with --remove: every tag of RESOURCE\n"
"  -L, --list            list tags: a table of id, key and value\n"
"                        (--json: ListTagResources' answer)\n"
"  -c, --command         RESOURCE is a command, not an instance\n" },
	{ "activations", cli_activations_main,
"usage: latchkey activations\n"
"       latchkey activations --create [--count N] [--ttl-hours H]\n"
"                [--instance-name PREFIX] [--ip-range CIDR]\n"
"                [--description TEXT]\n"
"       latchkey activations --disable ID | --delete ID\n",
"\n"
"Lists the activations servers register with (DescribeActivations), or\n"
"creates one (CreateActivation: its code is shown only then), disables one\n"
"(no new registrations) or deletes one no instance uses. Needs an access\n"
"key without an Instances policy.\n"
"\n"
"  -c, --count N         registrations allowed (default 10; 1 to 1000)\n"
"  -t, --ttl-hours H     hours it stays usable (default 4)\n"
"  -n, --instance-name P its instances are named P-1, P-2 ...\n"
"  -r, --ip-range CIDR   only servers connecting from CIDR may use it\n"
"  -d, --description T   a description (at most 100 characters)\n" },
	{ "invocations", cli_invocations_main,
"usage: latchkey invocations [--instance INSTANCE] [--status S] [--max N]\n"
"       latchkey invocations INVOKE_ID\n",
"\n"
"Without an id, lists recent invocations (DescribeInvocations). With one,\n"
"shows each instance's status, exit code and output\n"
"(DescribeInvocationResults).\n"
"\n"
"  -i, --instance I      only invocations on this instance\n"
"  -s, --status S        only this InvokeStatus (Running, Finished,\n"
"                        Failed, PartialFailed, Stopped)\n"
"  -m, --max N           at most N invocations (default 20)\n" },
	{ "audit", cli_audit_main,
"usage: latchkey audit [--instance INSTANCE] [--user USER] [--since T]\n"
"                [--kind KIND] [--max N]\n",
"\n"
"Lists audit events, newest first (DescribeAuditEvents): key pushes, logins\n"
"to the console, API calls and refusals, invocation results, sessions. An\n"
"access key sees the events it caused, unless its policy grants\n"
"DescribeAuditEvents:all (docs/audit.md).\n"
"\n"
"  -i, --instance I      only events about this instance\n"
"  -u, --user U          only events about this login or run-as user\n"
"  -s, --since T         only events at or after T: a UTC time\n"
"                        (YYYY-MM-DDThh:mm:ssZ) or an age (30m, 2h, 7d)\n"
"  -k, --kind K          only events of this kind (key.push, api.call, ...)\n"
"  -m, --max N           at most N events (default 20, at most 50)\n" },
	{ "commands", cli_commands_main,
"usage: latchkey commands [--public | --private] [--name NAME]\n",
"\n"
"Lists the commands: your own and the public ones (provider AlibabaCloud).\n"
"\n"
"      --public          only the public commands\n"
"      --private         only your own commands\n"
"  -n, --name NAME       only commands with this name\n" },
	{ "proxy", cli_proxy_main,
"usage: latchkey proxy [--resume-wait S] [--keepalive S] INSTANCE [PORT]\n",
"\n"
"Connects standard input and output to PORT (default 22) on INSTANCE\n"
"through latchkeyd's session relay (StartTerminalSession): the agent on\n"
"the instance connects to 127.0.0.1:PORT there, so the instance needs no\n"
"address you can reach. Made for ssh's ProxyCommand; in ~/.ssh/config:\n"
"\n"
"  Host i-*\n"
"      ProxyCommand latchkey proxy %h %p\n"
"\n"
"Then \"ssh -i KEY USER@i-...\" logs in through the tunnel. The session\n"
"manager must be enabled (latchkeyd session-manager enable) and PORT be\n"
"one of the agent's --session-ports. Exits 0 when the connection ended\n"
"normally, 1 when the session broke (the reason goes to stderr).\n"
"\n"
"When its connection to latchkeyd is lost (latchkeyd restarted, a proxy\n"
"in between cut it), the session resumes: a new URL through\n"
"ResumeTerminalSession, and the stream carries on where it was, with no\n"
"byte lost or repeated; ssh sees only a pause.\n"
"\n"
"      --resume-wait S   how long to try to resume (default 60; 0: never)\n"
"      --keepalive S     ping latchkeyd after S seconds of silence, and\n"
"                        take 3 S of silence as a lost connection\n"
"                        (default 30)\n" },
	{ "known-hosts", cli_known_hosts_main,
"usage: latchkey known-hosts [--instance ID] HOST [FINGERPRINT]\n"
"       latchkey known-hosts --ca\n",
"\n"
"Prints the host keys that the agent on the instance HOST reported (the\n"
"keys sshd there uses) as known_hosts lines, \"HOST type key\", for ssh's\n"
"KnownHostsCommand. HOST is what ssh's %H gives: an instance id, a name,\n"
"an address or [address]:port. In ~/.ssh/config:\n"
"\n"
"  Host i-*\n"
"      ProxyCommand latchkey proxy %h %p\n"
"      KnownHostsCommand latchkey known-hosts %H %f\n"
"\n"
"Then ssh checks the server's key with StrictHostKeyChecking yes and no\n"
"prompt. With FINGERPRINT (ssh's %f, the key the server presented), a key\n"
"the agent did not report is explained on stderr before ssh refuses it;\n"
"\"NONE\" (ssh's first call, which only orders its algorithms) prints\n"
"nothing. An address that several instances share gives the keys of those\n"
"online. latchkey ssh, scp and sftp use this themselves.\n"
"\n"
"  -i, --instance ID     the keys of instance ID, whatever HOST is\n"
"  -s, --stamp FILE      create FILE when ssh checks a key (latchkey ssh\n"
"                        uses it to tell a login that came too late)\n"
"      --ca              print one line for ~/.ssh/known_hosts instead,\n"
"                        \"@cert-authority * ssh-ed25519 ... latchkey host\n"
"                        CA\", that trusts every instance whose sshd serves\n"
"                        a certificate of latchkeyd's host CA (when its\n"
"                        operator turned it on: latchkeyd --host-ca, agents\n"
"                        with --host-certificates)\n" },
	{ "forward", cli_forward_main,
"usage: latchkey forward [--bind ADDR] [--resume-wait S] [--keepalive S]\n"
"                        INSTANCE REMOTE_PORT LOCAL_PORT\n",
"\n"
"Listens on ADDR:LOCAL_PORT (default 127.0.0.1; LOCAL_PORT 0 picks a free\n"
"port) and carries each connection to REMOTE_PORT on INSTANCE through its\n"
"own session, as latchkey proxy does. Runs until interrupted.\n"
"\n"
"  -b, --bind ADDR       the local address to listen on\n"
"      --resume-wait S   as for proxy (default 60; 0: never)\n"
"      --keepalive S     as for proxy (default 30)\n" },
	{ "session", cli_session_main,
"usage: latchkey session [--user U] [--resume-wait S] [--keepalive S]\n"
"                        INSTANCE [-- COMMAND...]\n",
"\n"
"Opens a shell on INSTANCE as user U (default: your local user name),\n"
"started by its agent (latchkey-agent --shell-users must list U), through\n"
"latchkeyd's session relay as latchkey proxy goes: no sshd, no address\n"
"and no key on the instance. With COMMAND, runs that (sh -c) instead of\n"
"the login shell.\n"
"\n"
"With a terminal on stdin the shell gets a pseudo-terminal of your\n"
"terminal's size (resizes follow), and your terminal is in raw mode until\n"
"the session ends: every key, Ctrl-C too, goes to the remote side. Without\n"
"one, stdin is streamed to the command and its output (stdout and stderr\n"
"merged) comes back. Exits with the remote command's status (128 + N when\n"
"signal N ended it), 255 when the session broke (the reason goes to\n"
"stderr), or 4/5 when it could not start (refused, unreachable).\n"
"\n"
"  -u, --user U          the user to run the shell as\n"
"      --resume-wait S   as for proxy (default 60; 1 to 3600: a shell\n"
"                        session always resumes)\n"
"      --keepalive S     as for proxy (default 30)\n" },
	{ "sessions", cli_sessions_main,
"usage: latchkey sessions [--max N] [INSTANCE]\n"
"       latchkey sessions --end SESSION_ID\n"
"       latchkey sessions --recording SESSION_ID > FILE.cast\n",
"\n"
"Lists your recent sessions (DescribeTerminalSessions): instance, port,\n"
"status, bytes each way and why each ended. --end closes a session\n"
"(EndTerminalSession). --recording prints a recorded shell session as\n"
"asciicast v2 (DescribeTerminalSessionRecording; asciinema play FILE.cast\n"
"replays it).\n"
"\n"
"  -m, --max N           at most N sessions (default 20)\n"
"  -e, --end ID          end this session\n"
"  -R, --recording ID    print this session's recording\n" },
};

#define CLI_NCMDS	(sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static int
main_ssh(struct cli *c, int argc, char **argv)
{
	return cli_ssh_main(c, "ssh", argc, argv);
}

static int
main_scp(struct cli *c, int argc, char **argv)
{
	return cli_ssh_main(c, "scp", argc, argv);
}

static int
main_sftp(struct cli *c, int argc, char **argv)
{
	return cli_ssh_main(c, "sftp", argc, argv);
}

static const struct cli_cmd *
cli_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < CLI_NCMDS; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	return NULL;
}

/*
 * A command's help on stdout, or, to_stderr, its synopsis as a usage
 * error. cmd NULL is latchkey's own.
 */
void
cli_usage_of(const char *cmd, int to_stderr)
{
	const struct cli_cmd *k = cmd != NULL ? cli_cmd_find(cmd) : NULL;
	FILE *f = to_stderr ? stderr : stdout;

	fputs(k != NULL ? k->usage : main_usage, f);
	if (to_stderr)
		fprintf(f, "Try 'latchkey %s%s--help' for more.\n",
		    k != NULL ? k->name : "", k != NULL ? " " : "");
	else
		fputs(k != NULL ? k->help : main_help, f);
}

static int
cli_output_opt(struct cli *c, const char *v)
{
	if (strcmp(v, "json") == 0)
		c->output = CLI_OUT_JSON;
	else if (strcmp(v, "text") == 0)
		c->output = CLI_OUT_TEXT;
	else {
		cli_warn("--output: text or json, not \"%s\"", v);
		return -1;
	}
	return 0;
}

/*
 * The global options inside a subcommand's getopt loop. Returns 1 when
 * ch was one of them, 0 when it is the subcommand's, and -1 when the
 * subcommand must return *exitp (help printed, or a usage error).
 */
int
cli_common_opt(struct cli *c, const char *cmd, int ch, int *exitp)
{
	switch (ch) {
	case CLI_OPT_PROFILE:
		c->profile_opt = optarg;
		return 1;
	case CLI_OPT_OUTPUT:
		if (cli_output_opt(c, optarg) != 0) {
			*exitp = CLI_EX_USAGE;
			return -1;
		}
		return 1;
	case CLI_OPT_JSON:
		c->output = CLI_OUT_JSON;
		return 1;
	case 'v':
		c->verbose = 1;
		return 1;
	case 'h':
		cli_usage_of(cmd, 0);
		*exitp = CLI_EX_OK;
		return -1;
	case '?':
	case ':':
		cli_usage_of(cmd, 1);
		*exitp = CLI_EX_USAGE;
		return -1;
	}
	return 0;
}

/* Sleeps ms milliseconds; -1 when a signal asked us to stop. */
int
cli_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (cli_interrupted)
		return -1;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		if (cli_interrupted)
			return -1;
	return cli_interrupted ? -1 : 0;
}

/* Readable once a signal came: for loops that wait in poll(2). */
static int cli_stop_pipe[2] = { -1, -1 };

int
cli_stop_fd(void)
{
	return cli_stop_pipe[0];
}

static void
cli_on_signal(int sig)
{
	int e = errno;

	cli_interrupted = sig;
	if (cli_stop_pipe[1] >= 0)
		lk_fd_wake(cli_stop_pipe[1], "x", 1);
	errno = e;
}

/*
 * INT, TERM and HUP only set a flag (and make cli_stop_fd() readable), so
 * that loops can stop cleanly (and stop what they started); no SA_RESTART,
 * so a blocked read returns.
 */
static void
cli_signals(void)
{
	struct sigaction sa;

	if (pipe2(cli_stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		cli_stop_pipe[0] = cli_stop_pipe[1] = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli c;
	const struct cli_cmd *k;
	int ch, r, ex;

	memset(&c, 0, sizeof(c));
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "+vhV", opts, NULL)) != -1) {
		if (ch == 'V') {
			printf("latchkey %s\n", CLI_VERSION);
			return 0;
		}
		if (cli_common_opt(&c, NULL, ch, &ex) < 0)
			return ex;
	}
	if (optind >= argc) {
		cli_usage_of(NULL, 1);
		return CLI_EX_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		cli_usage_of(optind + 1 < argc ? argv[optind + 1] : NULL, 0);
		return 0;
	}
	if (strcmp(argv[optind], "version") == 0) {
		printf("latchkey %s\n", CLI_VERSION);
		return 0;
	}
	if ((k = cli_cmd_find(argv[optind])) == NULL) {
		cli_warn("unknown command \"%s\"", argv[optind]);
		cli_usage_of(NULL, 1);
		return CLI_EX_USAGE;
	}
	cli_signals();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		cli_warn("cannot start libcurl");
		return CLI_EX_LOCAL;
	}
	r = k->main(&c, argc - optind, argv + optind);
	cli_api_cleanup(&c);
	cli_config_free(&c);
	curl_global_cleanup();
	return r;
}
