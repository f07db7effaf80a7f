/*
 * lib/fsutil: bounded reads that refuse symlinks and special files,
 * atomic replacement, copy and mkdir -p. Each case gets a scratch
 * directory under /tmp.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "err.h"
#include "fsutil.h"

struct fsctx {
	char	dir[64];
	char	path[256];	/* scratch: p() fills it */
};

static int
setup(void **state)
{
	struct fsctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/lk-unit-fs.XXXXXX");
	if (mkdtemp(c->dir) == NULL) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct fsctx *c = *state;

	t_rm_rf(c->dir);
	free(c);
	return 0;
}

/* dir/name in a new string. */
static char *
p(struct fsctx *c, const char *name)
{
	char *s;

	assert_true(asprintf(&s, "%s/%s", c->dir, name) > 0);
	return s;
}

/* Number of entries in dir other than "." and "..". */
static int
count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
count_fds(void)
{
	return count_entries("/proc/self/fd");
}

static void
test_read_regular(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "f"), *buf;
	size_t len;

	t_write_file(f, "ab\0cd\n", 6, 0600);
	assert_int_equal(lk_fs_read(f, 100, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "ab\0cd\n", 6);
	assert_int_equal(buf[6], '\0');
	free(buf);
	free(f);
}

static void
test_read_empty(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "f"), *buf;
	size_t len = 9;

	t_write_file(f, "", 0, 0600);
	assert_int_equal(lk_fs_read(f, 100, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
	assert_int_equal(lk_fs_read(f, 0, &buf, &len), 0);
	free(buf);
	free(f);
}

static void
test_read_missing(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "nope"), *buf = (char *)1;
	size_t len = 9;

	assert_int_equal(lk_fs_read(f, 100, &buf, &len), LK_ERR_NOT_FOUND);
	assert_null(buf);
	assert_int_equal(len, 0);
	free(f);
}

static void
test_read_refuses_symlink(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "f"), *l = p(c, "l"), *d = p(c, "dangling"), *buf;
	size_t len;
	int fds = count_fds();

	t_write_file(f, "secret", 6, 0600);
	assert_int_equal(symlink(f, l), 0);
	assert_int_equal(lk_fs_read(l, 100, &buf, &len), LK_ERR_UNSAFE);
	assert_null(buf);
	assert_int_equal(symlink("/nonexistent/x", d), 0);
	assert_int_equal(lk_fs_read(d, 100, &buf, &len), LK_ERR_UNSAFE);
	assert_int_equal(count_fds(), fds);
	free(f);
	free(l);
	free(d);
}

static void
test_read_refuses_special_files(void **state)
{
	struct fsctx *c = *state;
	char *fifo = p(c, "fifo"), *buf;
	size_t len;
	int fds = count_fds();

	assert_int_equal(lk_fs_read(c->dir, 100, &buf, &len), LK_ERR_UNSAFE);
	/* A FIFO with no writer must not block the reader. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(lk_fs_read(fifo, 100, &buf, &len), LK_ERR_UNSAFE);
	assert_int_equal(lk_fs_read("/dev/null", 100, &buf, &len),
	    LK_ERR_UNSAFE);
	assert_int_equal(count_fds(), fds);
	free(fifo);
}

static void
test_read_size_limit(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "f"), *buf = (char *)1, data[5000];
	size_t len;

	memset(data, 'x', sizeof(data));
	t_write_file(f, data, 4096, 0600);
	assert_int_equal(lk_fs_read(f, 4096, &buf, &len), 0);
	assert_int_equal(len, 4096);
	free(buf);
	assert_int_equal(lk_fs_read(f, 4095, &buf, &len), LK_ERR_TOO_LONG);
	assert_null(buf);
	assert_int_equal(lk_fs_read(f, 0, &buf, &len), LK_ERR_TOO_LONG);
	t_write_file(f, data, 5000, 0600);
	assert_int_equal(lk_fs_read(f, 4096, &buf, &len), LK_ERR_TOO_LONG);
	free(f);
}

static void
test_write_atomic_new_file(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "new"), *buf;
	struct stat st;
	size_t len;
	mode_t old = umask(077);

	assert_int_equal(lk_fs_write_atomic(f, "hello\n", 6, 0644, 65534,
	    65534), 0);
	umask(old);
	assert_int_equal(lstat(f, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);	/* not the umask */
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	buf = t_read_file(f, &len);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "hello\n");
	free(buf);
	assert_int_equal(count_entries(c->dir), 1);	/* no temp left */

	assert_int_equal(lk_fs_write_atomic(f, "", 0, 0600, 0, 0), 0);
	assert_int_equal(lstat(f, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);
	free(f);
}

/* The old file is replaced by rename, never rewritten in place. */
static void
test_write_atomic_replaces(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "f"), *hl = p(c, "hardlink"), *buf;
	struct stat st1, st2;

	t_write_file(f, "old contents\n", 13, 0644);
	assert_int_equal(link(f, hl), 0);
	assert_int_equal(lstat(f, &st1), 0);
	assert_int_equal(lk_fs_write_atomic(f, "new\n", 4, 0640, 0, 0), 0);
	assert_int_equal(lstat(f, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);
	buf = t_read_file(f, NULL);
	assert_string_equal(buf, "new\n");
	free(buf);
	buf = t_read_file(hl, NULL);
	assert_string_equal(buf, "old contents\n");
	free(buf);
	assert_int_equal(count_entries(c->dir), 2);
	free(f);
	free(hl);
}

/* A symlink at the target is replaced; what it points to is untouched. */
/*
 * A reader that keeps opening the path while it is replaced over and over
 * never finds it missing or half written.
 */
static void
test_write_atomic_never_missing(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "f"), big[8192];
	pid_t pid;
	int i, st, pfd[2];

	memset(big, 'z', sizeof(big));
	t_write_file(f, big, sizeof(big), 0644);
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		char buf[sizeof(big) + 1];
		ssize_t n;
		int fd, bad = 0;

		close(pfd[1]);
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		while (read(pfd[0], buf, 1) == -1 && errno == EAGAIN) {
			if ((fd = open(f, O_RDONLY)) == -1) {
				bad = 1;
				break;
			}
			n = read(fd, buf, sizeof(buf));
			close(fd);
			if (n != (ssize_t)sizeof(big)) {
				bad = 2;
				break;
			}
		}
		_exit(bad);
	}
	close(pfd[0]);
	for (i = 0; i < 400; i++) {
		big[0] = (char)('a' + i % 26);
		assert_int_equal(lk_fs_write_atomic(f, big, sizeof(big), 0644,
		    0, 0), 0);
	}
	close(pfd[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	free(f);
}

static void
test_write_atomic_symlink_target(void **state)
{
	struct fsctx *c = *state;
	char *victim = p(c, "victim"), *l = p(c, "l"), *buf;
	struct stat st;

	t_write_file(victim, "precious\n", 9, 0600);
	assert_int_equal(symlink(victim, l), 0);
	assert_int_equal(lk_fs_write_atomic(l, "x\n", 2, 0644, 0, 0), 0);
	assert_int_equal(lstat(l, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	buf = t_read_file(victim, NULL);
	assert_string_equal(buf, "precious\n");
	free(buf);
	free(victim);
	free(l);
}

/* A planted temporary name (file or symlink) makes the write fail safely. */
static void
test_write_atomic_planted_temp(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "f"), *victim = p(c, "victim"), *tmp, *buf;
	int fds = count_fds();

	t_write_file(f, "old\n", 4, 0644);
	t_write_file(victim, "precious\n", 9, 0600);
	assert_true(asprintf(&tmp, "%s.lk-tmp.%ld", f, (long)getpid()) > 0);
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(lk_fs_write_atomic(f, "new\n", 4, 0644, 0, 0),
	    LK_ERR_SYSTEM);
	buf = t_read_file(victim, NULL);
	assert_string_equal(buf, "precious\n");
	free(buf);
	buf = t_read_file(f, NULL);
	assert_string_equal(buf, "old\n");
	free(buf);
	assert_int_equal(count_fds(), fds);
	free(tmp);
	free(f);
	free(victim);
}

static void
test_write_atomic_missing_dir(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "no/such/file");

	assert_int_equal(lk_fs_write_atomic(f, "x", 1, 0644, 0, 0),
	    LK_ERR_SYSTEM);
	assert_int_equal(count_entries(c->dir), 0);
	free(f);
}

static void
test_write_atomic_path_too_long(void **state)
{
	char path[5000];

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(lk_fs_write_atomic(path, "x", 1, 0644, 0, 0),
	    LK_ERR_TOO_LONG);
}

/*
 * When the write itself fails (here: RLIMIT_FSIZE), the old file is
 * untouched, the temporary file is gone and no descriptor leaks. Runs in
 * a child so that the limit does not outlive the case.
 */
static void
test_write_atomic_failed_write(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "f"), *buf, data[4096];
	pid_t pid;
	int st;

	t_write_file(f, "old\n", 4, 0644);
	memset(data, 'n', sizeof(data));
	fflush(NULL);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		struct rlimit rl = { 100, 100 };
		int fds = count_fds(), r;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
			_exit(10);
		r = lk_fs_write_atomic(f, data, sizeof(data), 0644, 0, 0);
		if (r != LK_ERR_SYSTEM)
			_exit(11);
		if (count_fds() != fds)
			_exit(12);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	buf = t_read_file(f, NULL);
	assert_string_equal(buf, "old\n");
	free(buf);
	assert_int_equal(count_entries(c->dir), 1);
	free(f);
}

static void
test_copy(void **state)
{
	struct fsctx *c = *state;
	char *src = p(c, "src"), *dst = p(c, "dst"), *buf;
	struct stat st;

	t_write_file(src, "payload\n", 8, 0600);
	assert_int_equal(lk_fs_copy(src, dst, 100, 0755, 65534, 0), 0);
	buf = t_read_file(dst, NULL);
	assert_string_equal(buf, "payload\n");
	free(buf);
	assert_int_equal(lstat(dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 0);
	free(src);
	free(dst);
}

static void
test_copy_refuses(void **state)
{
	struct fsctx *c = *state;
	char *src = p(c, "src"), *l = p(c, "l"), *dst = p(c, "dst"), *buf;
	struct stat st;

	t_write_file(src, "payload\n", 8, 0600);
	assert_int_equal(symlink(src, l), 0);
	assert_int_equal(lk_fs_copy(l, dst, 100, 0644, 0, 0), LK_ERR_UNSAFE);
	assert_int_equal(lstat(dst, &st), -1);
	t_write_file(dst, "keep\n", 5, 0644);
	assert_int_equal(lk_fs_copy(src, dst, 7, 0644, 0, 0),
	    LK_ERR_TOO_LONG);
	free(src);
	src = p(c, "missing");
	assert_int_equal(lk_fs_copy(src, dst, 100, 0644, 0, 0),
	    LK_ERR_NOT_FOUND);
	buf = t_read_file(dst, NULL);
	assert_string_equal(buf, "keep\n");
	free(buf);
	free(src);
	free(l);
	free(dst);
}

static void
test_mkdirs(void **state)
{
	struct fsctx *c = *state;
	char *d = p(c, "a/b/c"), *d2 = p(c, "x//y/"), *a = p(c, "a");
	struct stat st;
	mode_t old = umask(022);

	assert_int_equal(lk_fs_mkdirs(d, 0750), 0);
	umask(old);
	assert_int_equal(lstat(d, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(lstat(a, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	/* Existing directories are fine, and keep their mode. */
	assert_int_equal(chmod(a, 0700), 0);
	assert_int_equal(lk_fs_mkdirs(d, 0755), 0);
	assert_int_equal(lstat(a, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lk_fs_mkdirs(c->dir, 0755), 0);
	/* Repeated and trailing slashes. */
	assert_int_equal(lk_fs_mkdirs(d2, 0755), 0);
	free(d2);
	d2 = p(c, "x/y");
	assert_int_equal(lstat(d2, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(d);
	free(d2);
	free(a);
}

static void
test_mkdirs_errors(void **state)
{
	struct fsctx *c = *state;
	char *f = p(c, "file"), *under = p(c, "file/sub"), path[5000];

	t_write_file(f, "x", 1, 0644);
	assert_int_equal(lk_fs_mkdirs(under, 0755), LK_ERR_SYSTEM);
	/* An existing file is not a directory. */
	assert_int_equal(lk_fs_mkdirs(f, 0755), LK_ERR_SYSTEM);
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(lk_fs_mkdirs(path, 0755), LK_ERR_TOO_LONG);
	free(f);
	free(under);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_regular, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_symlink,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_special_files,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_size_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_new_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_replaces,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_never_missing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_symlink_target,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_planted_temp,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_missing_dir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_path_too_long,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_failed_write,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_refuses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs_errors, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
