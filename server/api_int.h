/*
 * Internal to server/api_*.c: helpers the action files share.
 */
#ifndef LK_API_INT_H
#define LK_API_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"

struct store_cmd;

/* api_cmd.c */
#define CMD_QUOTA	1000		/* private commands per key */
/* DescribeCommands with Tag.N: candidates looked at (quota + public). */
#define CMD_TAG_SCAN_MAX	(CMD_QUOTA + 100)
int	 cmd_pager_get(struct api_req *, long long *, long long *);
void	 cmd_pager_put(json_t *, long long, long long, long long);
int	 cmd_encoding(struct api_req *, int, int *);
json_t	*cmd_text(const void *, size_t, int);
int	 cmd_utf8_valid(const void *, size_t);
int	 cmd_check_workdir(struct api_req *, const char *, const char *);
int	 cmd_from_request(struct api_req *, int, json_t **);
int	 cmd_to_store(json_t *, struct store_cmd *);
int	 cmd_store_error(struct api_req *, int, const char *);
int	 cmd_lookup(struct api_req *, const char *, json_t **);

/* api_fleet.c */
struct store_act;
struct store_minst;
json_t	*fleet_act_json(const struct store_act *, int);
json_t	*fleet_minst_json(const struct store_minst *, int, int64_t);

/* api_inst.c */
int	 inst_check(struct api_req *, const char *, int, char **);
int	 inst_supports_sessions(const char *);

/* api_tag.c */
struct store_tag;
/*
 * Tag.N.Key / Tag.N.Value (N 1..20, values may be absent: any value) into
 * f (STORE_TAG_MAX of them, strings borrowed from req) and *np; -1 after
 * api_error.
 */
int	 tag_filter_get(struct api_req *, struct store_tag *, size_t *);
/* The tags of resource id as [{TagKey, TagValue}], or NULL. */
json_t	*tag_json(const char *, const char *);

#endif
