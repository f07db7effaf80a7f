/*
 * server/store_tag.c on both backends (dbtest.h): tags set and replaced,
 * the 20-tag limit and unknown resources leaving nothing changed, untag by
 * key and all, filters as id sets, commands only their owner's, and the
 * tags going with a deregistered instance and a deleted command; the
 * key and value rules against hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "dbtest.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

DBTEST_LKD_FIXTURE

static void
add_instance(const char *id)
{
	assert_int_equal(lkdb_run(lkd->db, NULL, "INSERT INTO instances(id, "
	    "name, cred_hash, activation_id, registered) VALUES(?, ?, 'h', "
	    "'act', 1)", "ss", id, id), 0);
}

static void
add_command(const char *id, const char *owner)
{
	assert_int_equal(lkdb_run(lkd->db, NULL, "INSERT INTO commands(id, "
	    "name, type, content, timeout, enable_parameter, owner, created) "
	    "VALUES(?, ?, 'RunShellScript', 'echo', 60, 0, ?, 1)", "sss", id,
	    id, owner), 0);
}

static int
join_cb(const char *id, const char *key, const char *value, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s%s:%s=%s", n ? "|" : "", id, key,
	    value);
	return 0;
}

/* The tags of type (of ids, or all) as "id:k=v|...". */
static const char *
tags(const char *type, const char *const *ids, size_t nids,
    const char *owner)
{
	static char out[512];

	out[0] = '\0';
	assert_int_equal(store_tag_list(type, ids, nids, owner, join_cb, out),
	    0);
	return out;
}

static void
test_tag_set_unset(void **state)
{
	const char *ab[] = { "i-a", "i-b" }, *nope[] = { "i-a", "i-x" };
	struct store_tag t[2] = { { "env", "prod" }, { "team", "" } };
	struct store_tag_target tg = { STORE_TAG_INSTANCE, ab, 2, NULL };
	struct store_tag many[STORE_TAG_MAX];
	const char *keys[] = { "team", "absent" };
	char names[STORE_TAG_MAX][8];
	size_t bad = 99, i;

	(void)state;
	add_instance("i-a");
	add_instance("i-b");
	assert_int_equal(store_tag_set(&tg, t, 2, &bad, NULL, NULL), 0);
	assert_string_equal(tags(STORE_TAG_INSTANCE, NULL, 0, NULL),
	    "i-a:env=prod|i-a:team=|i-b:env=prod|i-b:team=");
	/* A new value replaces the old. */
	t[0].value = "dev";
	tg.nids = 1;
	assert_int_equal(store_tag_set(&tg, t, 1, &bad, NULL, NULL), 0);
	assert_string_equal(tags(STORE_TAG_INSTANCE, ab, 1, NULL),
	    "i-a:env=dev|i-a:team=");
	/* An unknown id: nothing changes, and which one is said. */
	tg.ids = nope;
	tg.nids = 2;
	t[0].value = "x";
	assert_int_equal(store_tag_set(&tg, t, 1, &bad, NULL, NULL),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(bad, 1);
	assert_string_equal(tags(STORE_TAG_INSTANCE, ab, 1, NULL),
	    "i-a:env=dev|i-a:team=");
	/* 2 there + 19 new > 20: refused whole. */
	for (i = 0; i < 19; i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		many[i].key = names[i];
		many[i].value = "v";
	}
	tg.ids = ab;
	tg.nids = 1;
	assert_int_equal(store_tag_set(&tg, many, 19, &bad, NULL, NULL),
	    LK_ERR_RANGE);
	assert_string_equal(tags(STORE_TAG_INSTANCE, ab, 1, NULL),
	    "i-a:env=dev|i-a:team=");
	assert_int_equal(store_tag_set(&tg, many, 18, &bad, NULL, NULL), 0);
	/* Untag by key (an absent key is no error), then all. */
	tg.ids = ab + 1;
	assert_int_equal(store_tag_unset(&tg, keys, 2, &bad, NULL, NULL), 0);
	assert_string_equal(tags(STORE_TAG_INSTANCE, ab + 1, 1, NULL),
	    "i-b:env=prod");
	tg.ids = ab;
	assert_int_equal(store_tag_unset(&tg, NULL, 0, &bad, NULL, NULL), 0);
	assert_string_equal(tags(STORE_TAG_INSTANCE, ab, 1, NULL), "");
}

static void
test_tag_filter_and_lifecycle(void **state)
{
	const char *abc[] = { "i-a", "i-b", "i-c" }, *cmd[] = { "c-1" };
	struct store_tag prod = { "env", "prod" }, t2[2] = {
	    { "env", "prod" }, { "team", "ops" } }, anyenv = { "env", NULL };
	struct store_tag_target tg = { STORE_TAG_INSTANCE, abc, 2, NULL };
	struct store_tag_target tc = { STORE_TAG_COMMAND, cmd, 1, "k1" };
	char **ids = NULL;
	size_t n = 0, bad;

	(void)state;
	add_instance("i-a");
	add_instance("i-b");
	add_instance("i-c");
	assert_int_equal(store_tag_set(&tg, &prod, 1, &bad, NULL, NULL), 0);
	tg.ids = abc + 2;
	tg.nids = 1;
	prod.value = "dev";
	assert_int_equal(store_tag_set(&tg, &prod, 1, &bad, NULL, NULL), 0);
	tg.ids = abc;
	assert_int_equal(store_tag_set(&tg, t2 + 1, 1, &bad, NULL, NULL), 0);
	assert_int_equal(store_tag_ids(STORE_TAG_INSTANCE, t2, 2, &ids, &n),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "i-a");
	assert_null(ids[1]);
	assert_true(store_tag_ids_has(ids, "i-a"));
	assert_false(store_tag_ids_has(ids, "i-b"));
	store_tag_ids_free(ids);
	assert_int_equal(store_tag_ids(STORE_TAG_INSTANCE, &anyenv, 1, &ids,
	    &n), 0);
	assert_int_equal(n, 3);
	store_tag_ids_free(ids);
	assert_int_equal(store_tag_match(STORE_TAG_INSTANCE, "i-b", t2, 2), 0);
	assert_int_equal(store_tag_match(STORE_TAG_INSTANCE, "i-a", t2, 2), 1);
	/* Deregistering takes the instance's tags with it. */
	assert_int_equal(store_minst_deregister("i-a", 5, NULL, NULL), 0);
	assert_string_equal(tags(STORE_TAG_INSTANCE, abc, 1, NULL), "");
	/* Commands: their owner's only; tags go with DeleteCommand. */
	add_command("c-1", "k1");
	tc.owner = "k2";
	assert_int_equal(store_tag_set(&tc, t2, 1, &bad, NULL, NULL),
	    LK_ERR_NOT_FOUND);
	tc.owner = "k1";
	assert_int_equal(store_tag_set(&tc, t2, 1, &bad, NULL, NULL), 0);
	assert_string_equal(tags(STORE_TAG_COMMAND, cmd, 1, "k2"), "");
	assert_string_equal(tags(STORE_TAG_COMMAND, NULL, 0, "k2"), "");
	assert_string_equal(tags(STORE_TAG_COMMAND, cmd, 1, "k1"),
	    "c-1:env=prod");
	assert_int_equal(store_cmd_delete("c-1", "k1"), 0);
	assert_string_equal(tags(STORE_TAG_COMMAND, NULL, 0, NULL), "");
}

static void
test_tag_rules(void **state)
{
	char k128[130], k129[131];

	(void)state;
	memset(k128, 'k', 128);
	k128[128] = '\0';
	memset(k129, 'k', 129);
	k129[129] = '\0';
	assert_true(store_tag_key_valid("env"));
	assert_true(store_tag_key_valid(k128));
	assert_false(store_tag_key_valid(k129));
	assert_false(store_tag_key_valid(""));
	assert_false(store_tag_key_valid(NULL));
	assert_false(store_tag_key_valid("aliyun"));
	assert_false(store_tag_key_valid("aliyunx"));
	assert_false(store_tag_key_valid("acs:x"));
	assert_true(store_tag_key_valid("xacs:"));
	assert_false(store_tag_key_valid("a\nb"));
	assert_false(store_tag_key_valid("a\x7f"));
	assert_false(store_tag_key_valid("see http://x"));
	assert_false(store_tag_key_valid("https://x"));
	assert_true(store_tag_value_valid(""));
	assert_true(store_tag_value_valid(k128));
	assert_false(store_tag_value_valid(k129));
	assert_false(store_tag_value_valid("a\tb"));
	assert_false(store_tag_value_valid("http://x"));
	assert_true(store_tag_value_valid("aliyun"));
}

#define BOTH(f) \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, \
	    &backend_sqlite), \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, \
	    &backend_pg)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_tag_set_unset),
		BOTH(test_tag_filter_and_lifecycle),
		cmocka_unit_test(test_tag_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
