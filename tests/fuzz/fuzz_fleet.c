/*
 * libFuzzer target: server/fleet.c's checks of what API callers
 * (IpAddressRange, InstanceName, Description) and agents (machine_id,
 * their address) send. The input is split at its first NUL: a range and
 * an address; every check must return without reading past its string,
 * and what fleet_range_valid accepts must also be usable for a match.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a, *b, out[64];
	size_t n;

	if ((a = calloc(1, size + 2)) == NULL)
		return 0;
	memcpy(a, data, size);
	n = strlen(a);
	b = a + n + 1 <= a + size ? a + n + 1 : a + size + 1;
	(void)fleet_range_valid(a);
	if (fleet_range_valid(a) == 0)
		(void)fleet_addr_in_range(b, a);
	(void)fleet_machine_id_valid(a);
	(void)fleet_name_valid(a, 128);
	(void)fleet_desc_valid(a);
	if (fleet_name_valid(a, 50))
		(void)fleet_seq_name(a, (int64_t)size, 7, out, sizeof(out));
	free(a);
	return 0;
}
