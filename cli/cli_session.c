/*
 * latchkey session INSTANCE [--user U] [-- COMMAND...] (docs/sessions.md,
 * "Shell sessions"): a shell on the instance, run by its agent, through
 * the same StartTerminalSession, relay, resume and keep-alive as latchkey
 * proxy (cli_tunnel_open and cli_tunnel_run, with t.shell set).
 *
 * With a terminal on stdin the remote side gets a pseudo-terminal of the
 * same size, and ours is in raw mode (cfmakeraw) while the session runs:
 * every key, Ctrl-C included, goes to the remote shell. The saved settings
 * are put back on every way out: the normal end, an error, SIGINT, SIGTERM
 * or SIGHUP (they stop the tunnel, which returns here), and atexit. Window
 * changes (SIGWINCH) are sent as "winch C R". Without a terminal the
 * remote command gets pipes, stdin is streamed to it, and its exit status
 * is ours (128 + N for a signal N), as ssh does.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "stream.h"
#include "tunnel.h"
#include "util.h"
#include "ws.h"

#define SESSION_CMD_MAX		512	/* StartTerminalSession's CommandLine */
#define SESSION_EX_BROKEN	255	/* the session itself failed, as ssh */

static struct termios session_saved;
static int session_raw;			/* session_saved is to be put back */
static int session_winch_pipe[2] = { -1, -1 };

/* Puts the terminal back as it was (idempotent; atexit too). */
static void
session_restore(void)
{
	if (!session_raw)
		return;
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &session_saved);
	session_raw = 0;
}

static int
session_make_raw(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &session_saved) != 0)
		return -1;
	t = session_saved;
	cfmakeraw(&t);
	session_raw = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0) {
		session_restore();
		return -1;
	}
	return 0;
}

static void
session_on_winch(int sig)
{
	int e = errno;

	(void)sig;
	if (session_winch_pipe[1] >= 0)
		lk_fd_wake(session_winch_pipe[1], "w", 1);
	errno = e;
}

/* The terminal's size (80x24 when it cannot say), clamped to the wire's. */
static void
session_size(int *cols, int *rows)
{
	struct winsize ws;

	*cols = 80;
	*rows = 24;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0 ||
	    ws.ws_row == 0)
		return;
	*cols = ws.ws_col > LK_STREAM_WINSZ_MAX ? LK_STREAM_WINSZ_MAX :
	    ws.ws_col;
	*rows = ws.ws_row > LK_STREAM_WINSZ_MAX ? LK_STREAM_WINSZ_MAX :
	    ws.ws_row;
}

int
cli_session_on_ctl(struct cli_shell *sh, const struct lk_stream_ctl *c)
{
	if (c->type == LK_STREAM_EXIT)
		sh->exit_code = (int)c->n;
	else if (c->type == LK_STREAM_EXIT_SIGNAL)
		sh->exit_code = 128 + (int)c->n;
	else
		return LK_ERR_STATE;	/* winch, signal: the client's */
	return 0;
}

int
cli_session_next_ctl(struct cli_shell *sh, struct lk_stream_ctl *c)
{
	char buf[64];
	int cols, rows;

	if (sh->winch_fd < 0)
		return 0;
	while (read(sh->winch_fd, buf, sizeof(buf)) > 0)
		;
	session_size(&cols, &rows);
	if (cols == sh->cols && rows == sh->rows)
		return 0;
	sh->cols = cols;
	sh->rows = rows;
	memset(c, 0, sizeof(*c));
	c->type = LK_STREAM_WINCH;
	c->n = (uint64_t)cols;
	c->n2 = (uint64_t)rows;
	return 1;
}

/* COMMAND... as one CommandLine, words joined by spaces (as ssh does). */
static int
session_command(int argc, char **argv, char **cmdp)
{
	size_t n = 0, len;
	char *s;
	int i;

	*cmdp = NULL;
	if (argc == 0)
		return 0;
	for (i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	if (n > SESSION_CMD_MAX + 1) {
		cli_warn("COMMAND: at most %d bytes", SESSION_CMD_MAX);
		return CLI_EX_USAGE;
	}
	if ((s = malloc(n)) == NULL)
		return CLI_EX_LOCAL;
	for (i = 0, len = 0; i < argc; i++) {
		len += (size_t)snprintf(s + len, n - len, "%s%s", i ? " " : "",
		    argv[i]);
	}
	*cmdp = s;
	return 0;
}

/* The local login name: the default --user, as ssh's. */
static const char *
session_default_user(void)
{
	struct passwd *pw = getpwuid(getuid());

	return pw != NULL ? pw->pw_name : NULL;
}

/* SIGWINCH's pipe and handler; the terminal in raw mode. */
static int
session_terminal(struct cli_shell *sh)
{
	struct sigaction sa;

	if (pipe2(session_winch_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	sh->winch_fd = session_winch_pipe[0];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = session_on_winch;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, NULL);
	if (session_make_raw() != 0) {
		cli_warn("cannot put the terminal in raw mode: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The tunnel's end as latchkey session's exit status. */
static int
session_status(const struct cli_shell *sh, const char *sid, int r)
{
	if (r == CLI_EX_OK && sh->exit_code >= 0)
		return sh->exit_code;
	if (cli_interrupted)
		return 128 + (int)cli_interrupted;
	if (r == CLI_EX_OK)
		cli_warn("session %s ended without the command's exit status",
		    sid);
	return SESSION_EX_BROKEN;
}

int
cli_session_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		CLI_TUNNEL_OPTIONS,
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_shell sh;
	struct cli_tun t;
	struct lk_ws *ws = NULL;
	char *id = NULL, *cmd = NULL;
	const char *inst;
	int ch, k, r, pass;

	memset(&sh, 0, sizeof(sh));
	sh.winch_fd = -1;
	sh.exit_code = -1;
	sh.cols = 80;
	sh.rows = 24;
	cli_tun_defaults(&t);
	/*
	 * Options go before INSTANCE or after it, before "--" and the
	 * COMMAND (latchkey session INSTANCE --user U -- COMMAND): getopt
	 * stops at INSTANCE ("+"), and is run again after it.
	 */
	optind = 0;
	for (pass = 0; pass < 2; pass++) {
		while ((ch = getopt_long(argc, argv, "+vhu:", opts,
		    NULL)) != -1) {
			if ((k = cli_common_opt(c, "session", ch, &r)) < 0)
				return r;
			if (k == 0 && ch == 'u')
				sh.user = optarg;
			else if (k == 0 && cli_tun_opt(ch, optarg, &t, &r) < 0)
				return r;
		}
		if (pass == 0 && argc - optind < 1) {
			cli_usage_of("session", 1);
			return CLI_EX_USAGE;
		}
		if (pass == 0)
			inst = argv[optind++];
	}
	if (t.resume_wait == 0) {
		cli_warn("--resume-wait: shell sessions need resume (1 to "
		    "3600 seconds)");
		return CLI_EX_USAGE;
	}
	if (sh.user == NULL && (sh.user = session_default_user()) == NULL) {
		cli_warn("no local user name: give --user");
		return CLI_EX_USAGE;
	}
	/* The COMMAND: what follows INSTANCE's options (getopt ate "--"). */
	if ((r = session_command(argc - optind, argv + optind, &cmd)) != 0)
		return r;
	sh.command = cmd;
	sh.tty = isatty(STDIN_FILENO);
	if (sh.tty)
		session_size(&sh.cols, &sh.rows);
	t.shell = &sh;
	atexit(session_restore);
	if ((r = cli_config_load(c)) != 0 ||
	    (r = cli_inst_id(c, inst, &id)) != 0 ||
	    (r = cli_tunnel_open(c, id, 0, &t, &ws)) != 0)
		goto out;
	cli_api_cleanup(c);
	if (sh.tty && session_terminal(&sh) != 0) {
		r = CLI_EX_LOCAL;
		goto out;
	}
	r = cli_tunnel_run(c, &t, ws, STDIN_FILENO, STDOUT_FILENO);
	ws = NULL;	/* the tunnel's */
	session_restore();
	r = session_status(&sh, t.sid, r);
 out:
	session_restore();
	lk_ws_free(ws);
	free(id);
	free(cmd);
	return r;
}
