/*
 * The ECS OpenAPI front door: parameters, signature checks (1.0 and V3),
 * replay protection, policy, dispatch to an action, and the response or
 * error body in the shapes the official SDKs expect.
 */
#ifndef LK_API_H
#define LK_API_H

#include <stddef.h>

#include <jansson.h>

#include "latchkeyd.h"
#include "params.h"
#include "sig.h"

struct api_req {
	/* set by http.c */
	const char		*method;
	const char		*raw_query;	/* after '?', may be "" */
	const char		*body;
	size_t			 bodylen;
	const char		*content_type;
	const struct lk_sig_header *headers;	/* lower-case names */
	size_t			 nheaders;
	/* set by api.c */
	struct lk_params	 params;
	char			 request_id[37];
	const char		*action;
	char			*key_id;
	struct lkd_policy	 policy;
	json_t			*resp;		/* the action fills it */
	int			 status;	/* HTTP status of an error */
	char			 code[96];
	char			*message;
	/*
	 * For the audit event (docs/audit.md): detail members the action
	 * adds (a new object or NULL), and its target (borrowed strings
	 * that live until the request is freed).
	 */
	json_t			*audit;
	const char		*audit_instance;
	const char		*audit_user;
	int			 audited;	/* the action wrote its event */
};

/* Runs the request; returns the HTTP status and a new JSON body. */
int		 api_handle(struct api_req *req, char **bodyp);
void		 api_req_free(struct api_req *req);
/*
 * Runs action for a caller authenticated by other means (the console's
 * session) with the same dispatch as a signed request: the action table,
 * the policy's action list, RegionId, the action's own checks. params and
 * pol stay the caller's. *statusp gets the HTTP status and *respp a new
 * JSON body: the action's answer, or the API's error object. Returns 0 or
 * LK_ERR_ALLOC.
 */
/* key_id of latchkeyd's own subcommands: "admin:<unix user>". */
#define API_ADMIN_PREFIX	"admin:"
int		 api_call_internal(const char *action, struct lk_params *params,
		    const char *key_id, const struct lkd_policy *pol,
		    int *statusp, json_t **respp);

/* For actions. Each returns -1 after api_error(), so "return api_error()". */
int		 api_error(struct api_req *req, int status, const char *code,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * The API's answer to a failed store operation r (store.h): 503
 * ServiceUnavailable when the database cannot be reached, else 500
 * InternalError; what names the operation. Returns -1.
 */
int		 api_store_error(struct api_req *req, int r, const char *what);
const char	*api_param(struct api_req *req, const char *name);
int		 api_owner(struct api_req *req, const char *all,
		    const char **ownerp);
/* A required parameter; on absence the documented MissingParameter error. */
int		 api_param_req(struct api_req *req, const char *name,
		    const char **vp);
int		 api_param_int(struct api_req *req, const char *name,
		    long long def, long long min, long long max, long long *vp);
int		 api_param_bool(struct api_req *req, const char *name, int def,
		    int *vp);
/* name.1 .. name.N into a new NULL-terminated array of borrowed strings. */
int		 api_param_list(struct api_req *req, const char *name,
		    size_t max, const char ***vp, size_t *np);
int		 api_allowed_instance(struct api_req *req, const char *id,
		    const char *name);
/* Adds member name to the request's audit detail (value taken). */
void		 api_audit_set(struct api_req *req, const char *name,
		    json_t *value);
/*
 * The event of the call's outcome r (0: success) into *ev, its detail
 * taken from req: 0, or 1 when the outcome makes none. An action that
 * writes it in its own transaction (audit_batch_add) sets req->audited.
 */
struct audit_ev;
int		 api_audit_event(struct api_req *req, int r,
		    struct audit_ev *ev);

typedef int (*api_action_fn)(struct api_req *req);

/* api_cmd.c */
int	api_describe_commands(struct api_req *);
int	api_create_command(struct api_req *);
int	api_modify_command(struct api_req *);
int	api_delete_command(struct api_req *);
int	api_cmd_seed_public(void);
/* api_inv.c */
int	api_invoke_command(struct api_req *);
int	api_run_command(struct api_req *);
int	api_describe_invocations(struct api_req *);
int	api_describe_invocation_results(struct api_req *);
int	api_stop_invocation(struct api_req *);
/* api_file.c */
int	api_send_file(struct api_req *);
int	api_describe_send_file_results(struct api_req *);
/* api_inst.c */
int	api_describe_instances(struct api_req *);
int	api_describe_cloud_assistant_status(struct api_req *);
int	api_describe_instance_host_keys(struct api_req *);
int	api_describe_host_certificate_authority(struct api_req *);
/* api_sess.c */
int	api_start_terminal_session(struct api_req *);
int	api_resume_terminal_session(struct api_req *);
int	api_end_terminal_session(struct api_req *);
int	api_describe_terminal_sessions(struct api_req *);
int	api_describe_terminal_session_recording(struct api_req *);
int	api_modify_cloud_assistant_settings(struct api_req *);
int	api_describe_cloud_assistant_settings(struct api_req *);
/* api_audit.c */
int	api_describe_audit_events(struct api_req *);
/* api_fleet.c */
int	api_create_activation(struct api_req *);
int	api_describe_activations(struct api_req *);
int	api_disable_activation(struct api_req *);
int	api_delete_activation(struct api_req *);
int	api_describe_managed_instances(struct api_req *);
int	api_modify_managed_instance(struct api_req *);
int	api_deregister_managed_instance(struct api_req *);
/* api_tag.c */
int	api_tag_resources(struct api_req *);
int	api_untag_resources(struct api_req *);
int	api_list_tag_resources(struct api_req *);

#endif
