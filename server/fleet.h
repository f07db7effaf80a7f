/*
 * The managed-instance lifecycle's pure parts (fleet.c): the checks of
 * what callers and agents send (an activation's IpAddressRange, instance
 * names, machine ids) and the names an activation gives. No I/O, no
 * storage: the API (api_fleet.c), the agents' endpoint (agentd.c) and the
 * store (store_fleet.c, store_agent.c) share them.
 */
#ifndef LK_SERVER_FLEET_H
#define LK_SERVER_FLEET_H

#include <stddef.h>
#include <stdint.h>

#define FLEET_RANGE_MAX		64	/* bytes of an IpAddressRange */
#define FLEET_MACHINE_ID_MAX	64	/* bytes of a machine id */
#define FLEET_NAME_MAX		128	/* bytes of an instance name */
#define FLEET_PREFIX_MAX	50	/* bytes of an activation's InstanceName */
#define FLEET_DESC_MAX		100	/* bytes of an activation's Description */

/*
 * An IpAddressRange: "" (any address), one IPv4 or IPv6 address, or a
 * CIDR block ("10.0.0.0/8", "fd00::/8"; the bits after the prefix must be
 * zero). 0, or LK_ERR_INVALID_FORMAT.
 */
int	fleet_range_valid(const char *range);
/*
 * 1 when addr (an address as inet_ntop writes it; an IPv4-mapped IPv6
 * address counts as its IPv4 address) lies in range, which must be valid;
 * 0 when it does not or addr is not an address.
 */
int	fleet_addr_in_range(const char *addr, const char *range);
/* A machine id: 1..FLEET_MACHINE_ID_MAX of [A-Za-z0-9._:-]. 1 if so. */
int	fleet_machine_id_valid(const char *s);
/*
 * An instance name a caller gives (ModifyManagedInstance, and an
 * activation's InstanceName with max FLEET_PREFIX_MAX): 2..max bytes, a
 * letter first, then letters, digits and ". _ - :". 1 if so.
 */
int	fleet_name_valid(const char *s, size_t max);
/* A Description: at most FLEET_DESC_MAX bytes, no control character. */
int	fleet_desc_valid(const char *s);
/*
 * The name of the n-th instance (1-based) an activation of count uses
 * with name prefix registers: "<prefix>-<n>", n zero-padded to as many
 * digits as count has ("web-01" of 10). Returns 0 or LK_ERR_TOO_LONG.
 */
int	fleet_seq_name(const char *prefix, int64_t count, int64_t n, char *out,
	    size_t outsize);

#endif
