/*
 * lib/filespec: the rules of a file sent to instances (name, target
 * directory, mode) and the SendFile task object the agent reads.
 */
#include "unit.h"

#include "err.h"
#include "filespec.h"

static void
test_names(void **state)
{
	char longname[LK_FILE_NAME_MAX + 2];

	(void)state;
	assert_true(lk_file_name_valid("app.conf"));
	assert_true(lk_file_name_valid(".hidden"));
	assert_true(lk_file_name_valid("..."));
	assert_true(lk_file_name_valid("名前.txt"));
	assert_false(lk_file_name_valid(""));
	assert_false(lk_file_name_valid("."));
	assert_false(lk_file_name_valid(".."));
	assert_false(lk_file_name_valid("../x"));
	assert_false(lk_file_name_valid("a/b"));
	assert_false(lk_file_name_valid("/"));
	assert_false(lk_file_name_valid("a\nb"));
	assert_false(lk_file_name_valid("a\rb"));
	assert_false(lk_file_name_valid("tab\there"));
	assert_false(lk_file_name_valid("del\x7f"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(lk_file_name_valid(longname));
	longname[LK_FILE_NAME_MAX] = '\0';
	assert_true(lk_file_name_valid(longname));
}

static void
test_dirs(void **state)
{
	(void)state;
	assert_true(lk_file_dir_valid("/"));
	assert_true(lk_file_dir_valid("/etc/app"));
	assert_true(lk_file_dir_valid("//etc//app/"));
	assert_true(lk_file_dir_valid("/a/.b/..c/..."));
	assert_false(lk_file_dir_valid(""));
	assert_false(lk_file_dir_valid("etc/app"));
	assert_false(lk_file_dir_valid("./etc"));
	assert_false(lk_file_dir_valid("/etc/.."));
	assert_false(lk_file_dir_valid("/etc/../root"));
	assert_false(lk_file_dir_valid("/etc/./app"));
	assert_false(lk_file_dir_valid("/."));
	assert_false(lk_file_dir_valid("/a\nb"));
}

static void
test_modes(void **state)
{
	unsigned int m = 1;

	(void)state;
	assert_int_equal(lk_file_mode_parse("0644", &m), 0);
	assert_int_equal(m, 0644);
	assert_int_equal(lk_file_mode_parse("755", &m), 0);
	assert_int_equal(m, 0755);
	assert_int_equal(lk_file_mode_parse("4750", &m), 0);
	assert_int_equal(m, 04750);
	assert_int_equal(lk_file_mode_parse("07777", &m), 0);
	assert_int_equal(m, 07777);
	assert_int_equal(lk_file_mode_parse("0", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(lk_file_mode_parse("", &m), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_file_mode_parse("0999", &m), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_file_mode_parse("17777", &m), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_file_mode_parse("-644", &m), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_file_mode_parse("+644", &m), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_file_mode_parse("0x1ff", &m), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_file_mode_parse("u+x", &m), LK_ERR_INVALID_FORMAT);
	assert_int_equal(lk_file_mode_parse("000644", &m), LK_ERR_INVALID_FORMAT);
}

static int
parse(const char *json, struct lk_filespec *f, const char **why)
{
	return lk_filespec_parse(json, strlen(json), f, why);
}

static void
test_task_ok(void **state)
{
	struct lk_filespec f;
	const char *why = "x";

	(void)state;
	assert_int_equal(parse("{\"name\":\"a.bin\",\"group\":\"adm\","
	    "\"mode\":\"0640\",\"overwrite\":true,\"content\":\"AP8=\"}", &f,
	    &why), 0);
	assert_null(why);
	assert_string_equal(f.name, "a.bin");
	assert_string_equal(f.group, "adm");
	assert_int_equal(f.mode, 0640);
	assert_int_equal(f.overwrite, 1);
	assert_int_equal(f.len, 2);
	assert_int_equal(f.data[0], 0x00);
	assert_int_equal(f.data[1], 0xff);
	lk_filespec_free(&f);
	assert_int_equal(parse("{\"name\":\"e\",\"group\":\"\",\"mode\":\"644\","
	    "\"overwrite\":false,\"content\":\"\"}", &f, &why), 0);
	assert_int_equal(f.len, 0);
	assert_null(f.data);
	lk_filespec_free(&f);
}

static void
expect_bad(const char *json, const char *want)
{
	struct lk_filespec f;
	const char *why = NULL;

	assert_int_not_equal(parse(json, &f, &why), 0);
	assert_non_null(why);
	assert_string_equal(why, want);
	assert_null(f.name);
	assert_null(f.data);
}

static void
test_task_hostile(void **state)
{
	(void)state;
	expect_bad("", "json");
	expect_bad("[]", "json");
	expect_bad("{\"name\":\"a\",\"name\":\"b\"}", "json");
	expect_bad("{\"name\":\"../x\",\"group\":\"\",\"mode\":\"0644\","
	    "\"overwrite\":false,\"content\":\"\"}", "name");
	expect_bad("{\"name\":\"a\\u0000b\",\"group\":\"\",\"mode\":\"0644\","
	    "\"overwrite\":false,\"content\":\"\"}", "json");
	expect_bad("{\"name\":\"a\\nb\",\"group\":\"\",\"mode\":\"0644\","
	    "\"overwrite\":false,\"content\":\"\"}", "name");
	expect_bad("{\"name\":\"a/b\",\"group\":\"\",\"mode\":\"0644\","
	    "\"overwrite\":false,\"content\":\"\"}", "name");
	expect_bad("{\"name\":7,\"group\":\"\",\"mode\":\"0644\","
	    "\"overwrite\":false,\"content\":\"\"}", "name");
	expect_bad("{\"name\":\"a\",\"group\":\"root;id\",\"mode\":\"0644\","
	    "\"overwrite\":false,\"content\":\"\"}", "group");
	expect_bad("{\"name\":\"a\",\"group\":\"\",\"mode\":\"0999\","
	    "\"overwrite\":false,\"content\":\"\"}", "mode");
	expect_bad("{\"name\":\"a\",\"group\":\"\",\"mode\":420,"
	    "\"overwrite\":false,\"content\":\"\"}", "mode");
	expect_bad("{\"name\":\"a\",\"group\":\"\",\"mode\":\"0644\","
	    "\"overwrite\":\"yes\",\"content\":\"\"}", "overwrite");
	expect_bad("{\"name\":\"a\",\"group\":\"\",\"mode\":\"0644\","
	    "\"overwrite\":false,\"content\":\"@@@@\"}", "content");
	expect_bad("{\"name\":\"a\",\"group\":\"\",\"mode\":\"0644\","
	    "\"overwrite\":false}", "content");
}

static void
test_task_too_big(void **state)
{
	struct lk_filespec f;
	const char *why = NULL;
	size_t n = LK_FILE_DATA_MAX + 3, b = (n + 2) / 3 * 4, i;
	char *json;

	(void)state;
	assert_non_null(json = malloc(b + 200));
	i = (size_t)snprintf(json, 200, "{\"name\":\"a\",\"group\":\"\","
	    "\"mode\":\"0644\",\"overwrite\":false,\"content\":\"");
	memset(json + i, 'A', b);
	memcpy(json + i + b, "\"}", 3);
	assert_int_not_equal(lk_filespec_parse(json, strlen(json), &f, &why),
	    0);
	assert_string_equal(why, "content");
	free(json);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_dirs),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_task_ok),
		cmocka_unit_test(test_task_hostile),
		cmocka_unit_test(test_task_too_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
