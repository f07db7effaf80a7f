/*
 * Helpers shared by the unit tests: a growable byte buffer for building
 * SSH wire blobs by hand, base64 helpers for key lines, a recursive
 * remove for scratch directories, a command runner and a stderr catcher.
 * Everything is static inline so that a test file pays only for what it
 * uses and -Wunused-function stays quiet.
 */
#ifndef LK_UNIT_H
#define LK_UNIT_H

#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "b64.h"

/* A growable byte buffer; aborts the test when out of memory. */
struct tbuf {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
};

static inline void
tbuf_put(struct tbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;

		assert_non_null(b->p = realloc(b->p, cap));
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void
tbuf_u32(struct tbuf *b, uint32_t v)
{
	unsigned char x[4];

	x[0] = (unsigned char)(v >> 24);
	x[1] = (unsigned char)(v >> 16);
	x[2] = (unsigned char)(v >> 8);
	x[3] = (unsigned char)v;
	tbuf_put(b, x, 4);
}

/* An SSH "string": 32-bit big-endian length, then the bytes. */
static inline void
tbuf_string(struct tbuf *b, const void *p, size_t n)
{
	tbuf_u32(b, (uint32_t)n);
	tbuf_put(b, p, n);
}

static inline void
tbuf_cstring(struct tbuf *b, const char *s)
{
	tbuf_string(b, s, strlen(s));
}

static inline void
tbuf_free(struct tbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Decodes the second blank-separated word of a key line into a new blob. */
static inline void
t_line_blob(const char *line, unsigned char **blobp, size_t *lenp)
{
	const char *b0, *b1;

	assert_non_null(b0 = strchr(line, ' '));
	b0++;
	if ((b1 = strchr(b0, ' ')) == NULL)
		b1 = b0 + strlen(b0);
	assert_int_equal(lk_b64_decode(b0, (size_t)(b1 - b0), 1 << 20,
	    blobp, lenp), 0);
}

/* "type base64(blob)[ comment]" in a new string. */
static inline char *
t_mkline(const char *type, const unsigned char *blob, size_t len,
    const char *comment)
{
	struct tbuf b = { NULL, 0, 0 };
	char *b64;

	assert_non_null(b64 = lk_b64_encode(blob, len, 1));
	tbuf_put(&b, type, strlen(type));
	tbuf_put(&b, " ", 1);
	tbuf_put(&b, b64, strlen(b64));
	if (comment != NULL) {
		tbuf_put(&b, " ", 1);
		tbuf_put(&b, comment, strlen(comment));
	}
	free(b64);
	return (char *)b.p;
}

static inline int
t_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) == -1 ? -1 : 0;
	return unlink(path) == -1 ? -1 : 0;
}

/* rm -rf path, never following symbolic links. */
static inline void
t_rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return;
	nftw(path, t_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs a shell command and returns its standard output (new string). */
static inline char *
t_run(const char *cmd, int *statusp)
{
	struct tbuf b = { NULL, 0, 0 };
	char chunk[4096];
	size_t n;
	FILE *f;
	int st;

	assert_non_null(f = popen(cmd, "r"));
	tbuf_put(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		tbuf_put(&b, chunk, n);
	st = pclose(f);
	if (statusp != NULL)
		*statusp = st;
	return (char *)b.p;
}

/* Writes a whole file with the given mode (after umask is cleared). */
static inline void
t_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW, mode)) != -1);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* Reads a whole file into a new NUL-terminated string. */
static inline char *
t_read_file(const char *path, size_t *lenp)
{
	struct tbuf b = { NULL, 0, 0 };
	char chunk[4096];
	ssize_t n;
	int fd;

	assert_true((fd = open(path, O_RDONLY)) != -1);
	tbuf_put(&b, "", 0);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		tbuf_put(&b, chunk, (size_t)n);
	assert_true(n == 0);
	close(fd);
	if (lenp != NULL)
		*lenp = b.len;
	return (char *)b.p;
}

/*
 * Catches what the code under test writes to stderr: t_stderr_begin()
 * points fd 2 at a scratch file, t_stderr_end() restores it and returns
 * what was written.
 */
struct tcatch {
	int	 saved;
	FILE	*f;
};

static inline void
t_stderr_begin(struct tcatch *c)
{
	fflush(stderr);
	assert_non_null(c->f = tmpfile());
	assert_true((c->saved = dup(2)) != -1);
	assert_true(dup2(fileno(c->f), 2) != -1);
}

static inline char *
t_stderr_end(struct tcatch *c)
{
	struct tbuf b = { NULL, 0, 0 };
	char chunk[4096];
	size_t n;

	fflush(stderr);
	assert_true(dup2(c->saved, 2) != -1);
	close(c->saved);
	rewind(c->f);
	tbuf_put(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), c->f)) > 0)
		tbuf_put(&b, chunk, n);
	fclose(c->f);
	return (char *)b.p;
}

#endif
