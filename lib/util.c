#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

int
lk_user_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > LK_USER_MAX || name[0] == '-')
		return LK_ERR_USER_INVALID;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return LK_ERR_USER_INVALID;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return LK_ERR_USER_INVALID;
	}
	return 0;
}

int
lk_user_lookup(const char *name, uid_t *uidp, gid_t *gidp)
{
	struct passwd *pw;
	int r;

	if ((r = lk_user_valid(name)) != 0)
		return r;
	errno = 0;
	if ((pw = getpwnam(name)) == NULL)
		return LK_ERR_USER_UNKNOWN;
	if (uidp != NULL)
		*uidp = pw->pw_uid;
	if (gidp != NULL)
		*gidp = pw->pw_gid;
	return 0;
}

int
lk_parse_ll(const char *s, long long min, long long max, long long *outp)
{
	const char *p = s;
	char *end;
	long long v;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return LK_ERR_INVALID_FORMAT;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return LK_ERR_INVALID_FORMAT;
	if (errno == ERANGE || v < min || v > max)
		return LK_ERR_RANGE;
	*outp = v;
	return 0;
}

int64_t
lk_test_clock_offset(void)
{
	const char *s = getenv("LATCHKEY_TEST_CLOCK_OFFSET");
	long long v;

	if (s == NULL || lk_parse_ll(s, -86400, 86400, &v) != 0)
		return 0;
	return (int64_t)v;
}

long long
lk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
lk_time_iso(int64_t t, char *buf, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (size == 0)
		return;
	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}

int
lk_time_parse(const char *s, int64_t *tp)
{
	struct tm tm;
	const char *end;
	time_t t;

	if (strlen(s) != 20)
		return LK_ERR_INVALID_FORMAT;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0' || (t = timegm(&tm)) == (time_t)-1)
		return LK_ERR_INVALID_FORMAT;
	*tp = (int64_t)t;
	return 0;
}

void
lk_fd_wake(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = write(fd, buf, len);
	while (n == -1 && errno == EINTR);
}

void
lk_fd_drain(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n == -1 && errno == EINTR);
}
