/*
 * The managed-instance lifecycle's checks (server/fleet.c): address
 * ranges, names, machine ids, descriptions, sequential names; hostile
 * input included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "fleet.h"

static void
test_range(void **state)
{
	(void)state;
	assert_int_equal(fleet_range_valid(""), 0);
	assert_int_equal(fleet_range_valid("10.0.0.0/8"), 0);
	assert_int_equal(fleet_range_valid("0.0.0.0/0"), 0);
	assert_int_equal(fleet_range_valid("192.168.1.7"), 0);
	assert_int_equal(fleet_range_valid("fd00::/8"), 0);
	assert_int_equal(fleet_range_valid("::1"), 0);
	/* Host bits, bad prefixes, garbage, hostile bytes. */
	assert_int_equal(fleet_range_valid("10.0.0.1/8"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("10.0.0.0/33"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("10.0.0.0/-1"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("10.0.0.0/"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("10.0.0.0/+8"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("10.0.0.0/8 "), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("10.0.0.0\n/8"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("host.example"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("fd00::/129"), LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid("::ffff:10.0.0.0/104"),
	    LK_ERR_INVALID_FORMAT);
	assert_int_equal(fleet_range_valid(
	    "1111:2222:3333:4444:5555:6666:7777:8888/128/128/128/128/128/1"),
	    LK_ERR_INVALID_FORMAT);
}

static void
test_in_range(void **state)
{
	(void)state;
	assert_true(fleet_addr_in_range("10.1.2.3", "10.0.0.0/8"));
	assert_true(fleet_addr_in_range("10.1.2.3", ""));
	assert_true(fleet_addr_in_range("10.1.2.3", "0.0.0.0/0"));
	assert_true(fleet_addr_in_range("::ffff:10.1.2.3", "10.0.0.0/8"));
	assert_true(fleet_addr_in_range("192.168.1.7", "192.168.1.7"));
	assert_true(fleet_addr_in_range("fd00::5", "fd00::/8"));
	assert_false(fleet_addr_in_range("11.1.2.3", "10.0.0.0/8"));
	assert_false(fleet_addr_in_range("192.168.1.8", "192.168.1.7"));
	assert_false(fleet_addr_in_range("fd00::5", "10.0.0.0/8"));
	assert_false(fleet_addr_in_range("10.1.2.3", "fd00::/8"));
	assert_false(fleet_addr_in_range("-", "10.0.0.0/8"));
	assert_false(fleet_addr_in_range(NULL, "10.0.0.0/8"));
	assert_false(fleet_addr_in_range("10.1.2.3", "10.0.0.1/8"));
}

static void
test_names(void **state)
{
	char out[64];

	(void)state;
	assert_true(fleet_name_valid("web-1", 128));
	assert_true(fleet_name_valid("a.b_c:d-e", 128));
	assert_false(fleet_name_valid("a", 128));
	assert_false(fleet_name_valid("1web", 128));
	assert_false(fleet_name_valid("web 1", 128));
	assert_false(fleet_name_valid("web*", 128));
	assert_false(fleet_name_valid("web\n1", 128));
	assert_false(fleet_name_valid("web/../x", 128));
	assert_false(fleet_name_valid("abc", 2));
	assert_false(fleet_name_valid(NULL, 128));
	assert_true(fleet_machine_id_valid("0123456789abcdef0123456789abcdef"));
	assert_false(fleet_machine_id_valid(""));
	assert_false(fleet_machine_id_valid("a b"));
	assert_false(fleet_machine_id_valid("a\"b"));
	assert_false(fleet_machine_id_valid(
	    "0123456789012345678901234567890123456789012345678901234567890123X"));
	assert_true(fleet_desc_valid("a description"));
	assert_true(fleet_desc_valid(NULL));
	assert_false(fleet_desc_valid("line\nbreak"));
	assert_int_equal(fleet_seq_name("web", 10, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "web-03");
	assert_int_equal(fleet_seq_name("web", 9, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "web-3");
	assert_int_equal(fleet_seq_name("web", 1000, 12, out, sizeof(out)), 0);
	assert_string_equal(out, "web-0012");
	assert_int_equal(fleet_seq_name("web", 10, 3, out, 4), LK_ERR_TOO_LONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_in_range),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("fleet", tests, NULL, NULL);
}
