/*
 * agent_shell.c: a shell session's process under a pseudo-terminal or on
 * pipes, and the keeper that ends everything it started with the session
 * (docs/sessions.md, "Shell sessions").
 */
#ifndef LK_AGENT_SHELL_H
#define LK_AGENT_SHELL_H

#include <sys/types.h>

struct agent_shell_req {
	const char	*user;
	const char	*command;	/* NULL: the user's login shell */
	int		 tty;
	int		 cols, rows;	/* 1..LK_STREAM_WINSZ_MAX (tty) */
};

struct agent_shell {
	pid_t	keeper;
	pid_t	pid;		/* the shell, as the keeper forked it */
	int	tty;
	int	fd;		/* read: the pty master, or stdout+stderr */
	int	in_fd;		/* write: the pty master, or the stdin pipe */
	int	status_fd;	/* the keeper's pipe: readable, status due */
	int	status;		/* its wait status, once have_status */
	int	have_status;
};

/*
 * Starts q's process. 0 with *sh filled (its descriptors are *sh's, see
 * agent_shell_end), or an error with why saying it for the client.
 */
int	agent_shell_start(const struct agent_shell_req *q,
	    struct agent_shell *sh, char *why, size_t size);
/* A new window size (the terminal's; nothing without one). */
int	agent_shell_winch(struct agent_shell *sh, int cols, int rows);
/* sig to the terminal's foreground job, or the command's process group. */
int	agent_shell_signal(struct agent_shell *sh, int sig);
/*
 * The shell's wait status, without blocking: 0 with *statusp,
 * LK_ERR_BUSY while it runs, LK_ERR_NOT_FOUND when it will not come.
 */
int	agent_shell_status(struct agent_shell *sh, int *statusp);
/*
 * Ends everything the session started (the keeper's SIGHUP, grace, then
 * SIGKILL), reaps the keeper and closes the descriptors; in_fd only with
 * close_in (the tunnel may have closed it at the client's eof).
 */
void	agent_shell_end(struct agent_shell *sh, int close_in);

#endif
