/*
 * The store as a whole: opening the database --db names, what it is, its
 * schema, backups and the clock. The operations on records are in the
 * other store_*.c files.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

int64_t
store_clock_offset(void)
{
	return lkd->db != NULL ? lkdb_clock_offset(lkd->db) : 0;
}
