/*
 * The rules of a file sent to instances, and its task object (filespec.h).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "b64.h"
#include "err.h"
#include "filespec.h"
#include "util.h"

static int
filespec_no_controls(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int
lk_file_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= LK_FILE_NAME_MAX && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 && strchr(name, '/') == NULL &&
	    filespec_no_controls(name);
}

int
lk_file_dir_valid(const char *dir)
{
	const char *p, *e;
	size_t n = strlen(dir), len;

	if (n == 0 || n > LK_FILE_DIR_MAX || dir[0] != '/' ||
	    !filespec_no_controls(dir))
		return 0;
	for (p = dir; *p != '\0'; p = e) {
		while (*p == '/')
			p++;
		if ((e = strchr(p, '/')) == NULL)
			e = p + strlen(p);
		len = (size_t)(e - p);
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
	}
	return 1;
}

int
lk_file_mode_parse(const char *s, unsigned int *modep)
{
	unsigned int v = 0;
	size_t n = strlen(s), i;

	if (n == 0 || n > 5)
		return LK_ERR_INVALID_FORMAT;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return LK_ERR_INVALID_FORMAT;
		v = v * 8 + (unsigned int)(s[i] - '0');
	}
	if (v > 07777)
		return LK_ERR_INVALID_FORMAT;
	*modep = v;
	return 0;
}

void
lk_filespec_free(struct lk_filespec *spec)
{
	if (spec == NULL)
		return;
	free(spec->name);
	free(spec->group);
	free(spec->data);
	memset(spec, 0, sizeof(*spec));
}

/* A string member without NUL bytes, or NULL. */
static const char *
filespec_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);

	if (s == NULL || strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

static int
filespec_fields(json_t *o, struct lk_filespec *spec, const char **whyp)
{
	const char *name, *group, *mode, *content;
	json_t *ow;
	int r;

	if ((name = filespec_str(o, "name")) == NULL ||
	    !lk_file_name_valid(name)) {
		*whyp = "name";
		return LK_ERR_INVALID_FORMAT;
	}
	if ((group = filespec_str(o, "group")) == NULL ||
	    (*group != '\0' && lk_user_valid(group) != 0)) {
		*whyp = "group";
		return LK_ERR_INVALID_FORMAT;
	}
	if ((mode = filespec_str(o, "mode")) == NULL ||
	    lk_file_mode_parse(mode, &spec->mode) != 0) {
		*whyp = "mode";
		return LK_ERR_INVALID_FORMAT;
	}
	if (!json_is_boolean(ow = json_object_get(o, "overwrite"))) {
		*whyp = "overwrite";
		return LK_ERR_INVALID_FORMAT;
	}
	spec->overwrite = json_is_true(ow);
	*whyp = "content";
	if ((content = filespec_str(o, "content")) == NULL)
		return LK_ERR_INVALID_FORMAT;
	if (*content != '\0' && (r = lk_b64_decode(content, strlen(content),
	    LK_FILE_DATA_MAX, &spec->data, &spec->len)) != 0)
		return r == LK_ERR_ALLOC || r == LK_ERR_TOO_LONG ? r :
		    LK_ERR_INVALID_FORMAT;
	*whyp = "name";
	if ((spec->name = strdup(name)) == NULL ||
	    (spec->group = strdup(group)) == NULL)
		return LK_ERR_ALLOC;
	*whyp = NULL;
	return 0;
}

int
lk_filespec_parse(const char *text, size_t len, struct lk_filespec *spec,
    const char **whyp)
{
	json_t *o = NULL;
	int r;

	memset(spec, 0, sizeof(*spec));
	*whyp = "json";
	if (len > LK_FILE_TASK_MAX)
		return LK_ERR_TOO_LONG;
	if ((o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(o)) {
		json_decref(o);
		return LK_ERR_INVALID_FORMAT;
	}
	r = filespec_fields(o, spec, whyp);
	json_decref(o);
	if (r != 0)
		lk_filespec_free(spec);
	return r;
}
