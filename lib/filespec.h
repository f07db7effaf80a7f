/*
 * A file sent to instances (SendFile): the rules for its name, target
 * directory and mode that latchkeyd checks before it stores a send and the
 * agent checks again before it writes, and the task object the agent
 * receives (docs/agent-protocol.md, "SendFile tasks"):
 *
 *	{"name": "app.conf", "group": "", "mode": "0644",
 *	 "overwrite": false, "content": "<Base64>"}
 *
 * The owner and the target directory travel as the task's "username" and
 * "working_dir", as for commands.
 */
#ifndef LK_FILESPEC_H
#define LK_FILESPEC_H

#include <stddef.h>

#define LK_FILE_NAME_MAX	255		/* bytes of a file name */
#define LK_FILE_DIR_MAX		255		/* bytes of a target directory */
#define LK_FILE_B64_MAX		(32 * 1024)	/* content, Base64 (ECS's) */
#define LK_FILE_DATA_MAX	(LK_FILE_B64_MAX / 4 * 3)	/* 24 KiB */
#define LK_FILE_TASK_MAX	(LK_FILE_B64_MAX + 4096)	/* task JSON */

/*
 * One path component: 1..LK_FILE_NAME_MAX bytes, not "." or "..", no '/',
 * no control character (0x00-0x1f, 0x7f: newline, tab, escape). 1 or 0.
 */
int	lk_file_name_valid(const char *name);
/*
 * An absolute path of at most LK_FILE_DIR_MAX bytes without control
 * characters and without "." or ".." components. 1 or 0.
 */
int	lk_file_dir_valid(const char *dir);
/*
 * A mode as chmod(1) takes it in octal: 1 to 5 digits 0-7, at most 07777.
 * 0 and *modep, or LK_ERR_INVALID_FORMAT.
 */
int	lk_file_mode_parse(const char *s, unsigned int *modep);

struct lk_filespec {
	char		*name;
	char		*group;		/* "" for the owner's primary group */
	unsigned int	 mode;
	int		 overwrite;
	unsigned char	*data;		/* the bytes, NULL when empty */
	size_t		 len;
};

/*
 * The task object (at most LK_FILE_TASK_MAX bytes of JSON) into *spec,
 * every field checked by the rules above; group by lk_user_valid's rules
 * unless "". On error *whyp names the first bad member ("json", "name",
 * "group", "mode", "overwrite", "content") and nothing is left to free.
 * Returns 0, LK_ERR_INVALID_FORMAT, LK_ERR_TOO_LONG or LK_ERR_ALLOC.
 */
int	lk_filespec_parse(const char *text, size_t len, struct lk_filespec *spec,
	    const char **whyp);
void	lk_filespec_free(struct lk_filespec *spec);

#endif
