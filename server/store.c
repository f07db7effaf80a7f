/*
 * The store as a whole: opening the database --db names, what it is, its
 * schema, backups and the clock. The operations on records are in the
 * other store_*.c files.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "err.h"
#include "latchkeyd.h"
#include "store.h"

int
store_open(const char *spec)
{
	return lkdb_open(spec, &lkd->db);
}

void
store_close(void)
{
	lkdb_close(lkd->db);
	lkd->db = NULL;
}

const char *
store_kind(void)
{
	return lkd->db != NULL ? lkdb_kind(lkd->db) : "none";
}

void
store_describe(const char *spec, char *out, size_t outsize)
{
	lkdb_describe(spec, out, outsize);
}

int
store_schema_version(int *vp, int *wantp)
{
	return lkdb_schema_version(lkd->db, vp, wantp);
}

int
store_backup(const char *dest)
{
	return lkdb_backup(lkd->db, dest);
}

/*
 * Whether the database answers, asked at most once a second (the last
 * answer is kept): health checks from a load balancer cost it nothing.
 */
int
store_ping(void)
{
	static int64_t asked;
	static int last = LK_ERR_UNAVAILABLE;
	int64_t now = (int64_t)time(NULL);

	if (__atomic_load_n(&asked, __ATOMIC_RELAXED) == now)
		return __atomic_load_n(&last, __ATOMIC_RELAXED);
	__atomic_store_n(&asked, now, __ATOMIC_RELAXED);
	__atomic_store_n(&last, lkdb_run(lkd->db, NULL, "SELECT 1", ""),
	    __ATOMIC_RELAXED);
	return __atomic_load_n(&last, __ATOMIC_RELAXED);
}

int64_t
store_clock_offset(void)
{
	return lkd->db != NULL ? lkdb_clock_offset(lkd->db) : 0;
}
